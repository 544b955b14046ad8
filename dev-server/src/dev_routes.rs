//! Routes only the dev server has, never a Lambda: `POST /dev/token` signs in without an
//! identity provider, `GET /dev/demo` says whether the providers are demo fakes, and
//! `POST /dev/demo/faults` makes a demo provider fail (to see a failed import and retry it).

use crate::auth::{self, JwtSecret};
use axum::response::{IntoResponse, Response};
use fakes::demo::{Demo, Fault};
use pipeline::config::IdentityClaims;
use pipeline::domain::UserId;
use pipeline::http::{error_response, ApiError};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

/// How long a token from `POST /dev/token` is valid.
const DEV_TOKEN_TTL_SECS: i64 = 12 * 3600;
/// Largest body a dev route reads.
const MAX_BODY: usize = 16 * 1024;

fn error(err: ApiError) -> Response {
    crate::gateway::from_lambda_response(error_response(&err))
}

fn json(status: http::StatusCode, value: serde_json::Value) -> Response {
    (status, axum::Json(value)).into_response()
}

fn body_as<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.len() > MAX_BODY {
        return Err(ApiError::payload_too_large("the body is over 16 KiB"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("the body is not valid: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    name: String,
    workspace: Option<String>,
    role: Option<String>,
}

fn optional(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// `POST /dev/token {"name", "workspace"?, "role"?}` -> `{"token"}`: `sub` = name, and the
/// workspace and role claims (`WORKSPACE_CLAIM`, `WORKSPACE_ROLE_CLAIM`) when given.
async fn token(
    jwt: &JwtSecret,
    identity: &IdentityClaims,
    body: &[u8],
) -> Result<Response, ApiError> {
    let request: TokenRequest = body_as(body)?;
    let name = request.name.trim();
    UserId::parse(name).map_err(|_| {
        ApiError::bad_request(
            "invalid_name",
            "name must be 1 to 256 characters without spaces (it becomes your user id)",
        )
    })?;
    let workspace = optional(request.workspace);
    let role = optional(request.role);
    auth::check_membership(workspace.as_deref(), role.as_deref())
        .map_err(|(code, message)| ApiError::bad_request(code, message))?;
    let claims = auth::membership_claims(identity, workspace.as_deref(), role.as_deref());
    let token = auth::mint_with(jwt, name, DEV_TOKEN_TTL_SECS, &claims).map_err(ApiError::from)?;
    Ok(json(
        http::StatusCode::OK,
        json!({ "token": token, "expires_in": DEV_TOKEN_TTL_SECS }),
    ))
}

/// Answers a dev-only route, or `None` when the request is not one.
pub async fn handle(
    jwt: &JwtSecret,
    identity: &IdentityClaims,
    demo: Option<&Demo>,
    parts: &http::request::Parts,
    body: &[u8],
) -> Option<Response> {
    let method = parts.method.as_str();
    let answer = match (method, parts.uri.path().trim_end_matches('/')) {
        ("POST", "/dev/token") => token(jwt, identity, body).await,
        ("GET", "/dev/demo") => Ok(match demo {
            Some(demo) => json(http::StatusCode::OK, demo.describe()),
            None => json(http::StatusCode::OK, Demo::describe_none()),
        }),
        ("POST", "/dev/demo/faults") => match demo {
            None => Err(ApiError::conflict(
                "not_demo",
                "faults can only be injected into demo providers",
            )),
            Some(demo) => match body_as::<Fault>(body) {
                Ok(fault) => demo
                    .inject(&fault)
                    .map(|()| http::StatusCode::NO_CONTENT.into_response())
                    .map_err(|message| ApiError::bad_request("invalid_fault", message)),
                Err(e) => Err(e),
            },
        },
        _ => return None,
    };
    Some(answer.unwrap_or_else(error))
}
