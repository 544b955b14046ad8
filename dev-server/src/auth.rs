//! The dev server's stand-in for API Gateway's JWT authorizer: HS256 bearer tokens signed
//! with `DEV_JWT_SECRET`, claim `sub` = user id.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
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

/// A signed token for `user`, valid for `ttl_secs`.
pub fn mint(secret: &JwtSecret, user: &str, ttl_secs: i64) -> anyhow::Result<String> {
    mint_with(secret, user, ttl_secs, &[])
}

/// A signed token for `user` with `extra` claims, such as the workspace and role claims an
/// identity provider's organisations carry (`IdentityClaims` names them).
pub fn mint_with(
    secret: &JwtSecret,
    user: &str,
    ttl_secs: i64,
    extra: &[(&str, &str)],
) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let mut claims = serde_json::Map::new();
    for (name, value) in extra {
        claims.insert((*name).to_owned(), (*value).into());
    }
    claims.insert("sub".into(), user.into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + ttl_secs).into());
    Ok(encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.0.as_bytes()),
    )?)
}

/// Refuses a workspace the API would refuse (`personal:` ones are reached without the claim)
/// and a role other than `admin` or `member`: `(code, message)`.
pub fn check_membership(
    workspace: Option<&str>,
    role: Option<&str>,
) -> Result<(), (&'static str, &'static str)> {
    use pipeline::domain::{WorkspaceId, PERSONAL_PREFIX};
    if let Some(workspace) = workspace {
        if WorkspaceId::parse(workspace).is_err() || workspace.starts_with(PERSONAL_PREFIX) {
            return Err((
                "invalid_workspace",
                "workspace must be 1 to 265 characters without spaces, not starting `personal:` \
                 (leave it out for your personal workspace)",
            ));
        }
    }
    if role.is_some_and(|r| !matches!(r, "admin" | "member")) {
        return Err(("invalid_role", "role must be `admin` or `member`"));
    }
    Ok(())
}

/// The claims a token for a member of `workspace` with `role` carries, as `identity` names
/// them; none for the personal workspace.
pub fn membership_claims<'a>(
    identity: &'a pipeline::config::IdentityClaims,
    workspace: Option<&'a str>,
    role: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut claims = Vec::new();
    if let Some(workspace) = workspace {
        claims.push((identity.workspace.as_str(), workspace));
        if let Some(role) = role {
            claims.push((identity.role.as_str(), role));
        }
    }
    claims
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
