//! The dev server's stand-in for API Gateway's JWT authorizer: HS256 bearer tokens signed
//! with `DEV_JWT_SECRET`, claim `sub` = user id.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// Clock difference tolerated on `iat`, for tokens minted by another process.
const CLOCK_SKEW_SECS: i64 = 5;

#[derive(Clone)]
pub struct JwtSecret(String);

impl JwtSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret([redacted])")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_role: Option<String>,
}

/// A signed token for `user`, valid for `ttl_secs`.
pub fn mint(secret: &JwtSecret, user: &str, ttl_secs: i64) -> anyhow::Result<String> {
    mint_with(secret, user, ttl_secs, None, None)
}

/// A signed token for `user` in a workspace (`org_id`) with a role there (`org_role`), as an
/// identity provider's organisation claims carry them.
pub fn mint_with(
    secret: &JwtSecret,
    user: &str,
    ttl_secs: i64,
    org_id: Option<&str>,
    org_role: Option<&str>,
) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: user.to_owned(),
        iat: now,
        exp: now + ttl_secs,
        org_id: org_id.map(str::to_owned),
        org_role: org_role.map(str::to_owned),
    };
    Ok(encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.0.as_bytes()),
    )?)
}

/// Verifies an `Authorization` header value and returns the claims as API Gateway passes
/// them (string values); the error is a message for the 401 body.
pub fn verify(
    secret: &JwtSecret,
    authorization: Option<&str>,
) -> Result<HashMap<String, String>, &'static str> {
    let token = authorization
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or("sign in: send `Authorization: Bearer <token>` (mint one with `dev-server token --user NAME`)")?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = 0;
    let data = decode::<serde_json::Map<String, serde_json::Value>>(
        token,
        &DecodingKey::from_secret(secret.0.as_bytes()),
        &validation,
    )
    .map_err(|_| "the bearer token is invalid, not yet valid or expired")?;
    // A token issued in the future was not issued by this server's clock.
    let issued_in_future = data
        .claims
        .get("iat")
        .and_then(serde_json::Value::as_i64)
        .is_some_and(|iat| iat > chrono::Utc::now().timestamp() + CLOCK_SKEW_SECS);
    if issued_in_future {
        return Err("the bearer token is issued in the future");
    }
    Ok(data
        .claims
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect())
}
