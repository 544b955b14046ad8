//! The OAuth routes: `/oauth2/authorize` (consents at once, or denies when told to) and
//! `/oauth2/token` (form-encoded only; single-use codes; single-use, rotating refresh tokens;
//! PKCE checked when the authorization asked for it).

use super::api::arrive;
use super::limits::Class;
use super::state::{with_quota, Code, Endpoint, FakeTokens};
use super::Shared;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CODE_LIFETIME: Duration = Duration::from_secs(600);

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

fn redirect(location: &url::Url) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.as_str().to_owned())],
    )
        .into_response()
}

pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    arrive(&shared, Endpoint::Authorize, &method, &uri, &headers).await;
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let get = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
    let options = &shared.options;
    if get("client_id") != options.client_id {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "unknown client_id",
        );
    }
    let redirect_uri = get("redirect_uri");
    let allowed =
        options.redirect_uris.is_empty() || options.redirect_uris.iter().any(|r| r == redirect_uri);
    let mut location = match url::Url::parse(redirect_uri) {
        Ok(url) if allowed && matches!(url.scheme(), "http" | "https") => url,
        // Never redirect to an address the app did not register.
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "redirect_uri is not registered",
            )
        }
    };

    let challenge = params.get("code_challenge").map(|challenge| {
        let method = params
            .get("code_challenge_method")
            .cloned()
            .unwrap_or_else(|| "plain".into());
        (method, challenge.clone())
    });
    let mut state = shared.lock();
    let account = state
        .signed_in
        .or_else(|| state.accounts.first().map(|a| a.id));
    let outcome = if get("response_type") != "code" {
        Err("unsupported_response_type")
    } else if get("scope") != "public_api" {
        Err("invalid_scope")
    } else if challenge
        .as_ref()
        .is_some_and(|(m, _)| m != "S256" && m != "plain")
    {
        Err("invalid_request")
    } else if options.deny_consent {
        Err("access_denied")
    } else {
        account.ok_or("access_denied")
    };
    {
        let mut query = location.query_pairs_mut();
        match outcome {
            Ok(account) => {
                let code = state.random_token("fc_", 32);
                query.append_pair("code", &code);
                state.codes.insert(
                    code,
                    Code {
                        account,
                        redirect_uri: redirect_uri.to_owned(),
                        challenge,
                        expires_at: Instant::now() + CODE_LIFETIME,
                    },
                );
            }
            Err(error) => {
                query.append_pair("error", error);
            }
        }
        if let Some(state_param) = params.get("state") {
            query.append_pair("state", state_param);
        }
    }
    redirect(&location)
}

fn pkce_matches(challenge: &Option<(String, String)>, verifier: Option<&str>) -> bool {
    match (challenge, verifier) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((method, challenge)), Some(verifier)) => {
            let derived = if method == "S256" {
                URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
            } else {
                verifier.to_owned()
            };
            derived == *challenge
        }
    }
}

fn tokens_response(tokens: &FakeTokens, lifetime: Duration) -> Response {
    Json(json!({
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "refresh_token": tokens.refresh_token,
        "scope": "public_api",
        "created_at": chrono::Utc::now().timestamp(),
    }))
    .into_response()
}

pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    arrive(&shared, Endpoint::Token, &method, &uri, &headers).await;
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| form.get(name).map(String::as_str);
    let options = &shared.options;
    let mut state = shared.lock();
    match get("grant_type") {
        Some("authorization_code") => state.calls.token_authorization_code += 1,
        Some("refresh_token") => state.calls.token_refresh += 1,
        _ => {}
    }
    let quota = match state.gate(
        options,
        "oauth_app",
        Class::Light,
        Some(options.token_limit),
    ) {
        Ok(quota) => quota,
        Err(response) => return response,
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let response = if !is_form {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )
    } else if get("client_id") != Some(options.client_id.as_str())
        || get("client_secret") != Some(options.client_secret.as_str())
    {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        )
    } else {
        let lifetime = options.access_token_lifetime;
        match get("grant_type") {
            Some("authorization_code") => {
                // A code is spent by its first use, whether that use succeeds or not.
                let code = get("code").and_then(|c| state.codes.remove(c));
                match code {
                    Some(code)
                        if Instant::now() < code.expires_at
                            && get("redirect_uri") == Some(code.redirect_uri.as_str())
                            && pkce_matches(&code.challenge, get("code_verifier")) =>
                    {
                        tokens_response(&state.issue_tokens(code.account, lifetime), lifetime)
                    }
                    _ => oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "the code is unknown, used, expired or does not match",
                    ),
                }
            }
            Some("refresh_token") => match get("refresh_token")
                .and_then(|t| state.redeem_refresh_token(t))
            {
                Some(account) => tokens_response(&state.issue_tokens(account, lifetime), lifetime),
                None => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the refresh token is unknown or was already used",
                ),
            },
            _ => oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            ),
        }
    };
    with_quota(response, &quota, options.fractional_seconds)
}
