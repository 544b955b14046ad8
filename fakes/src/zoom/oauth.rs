//! The OAuth routes of a user-managed app: `/oauth/authorize` (the signed-in user consents at
//! once, or denies when told to), `/oauth/token` (form body, client in HTTP Basic only,
//! single-use codes that live 5 minutes, PKCE, single-use rotating refresh tokens) and
//! `/oauth/revoke`.

use super::api::arrive;
use super::state::{Code, FakeZoomTokens};
use super::Shared;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CODE_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// The granular scopes the fake's app was configured with.
pub(crate) const SCOPES: &str = "cloud_recording:read:list_user_recordings cloud_recording:read:list_recording_files user:read:user";

/// Zoom's OAuth error body.
fn oauth_error(status: StatusCode, error: &str, reason: &str) -> Response {
    (status, Json(json!({"reason": reason, "error": error}))).into_response()
}

fn invalid_client() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Invalid client_id or client_secret",
    )
}

fn invalid_grant(reason: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", reason)
}

fn query_params(uri: &Uri) -> HashMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    arrive(&shared, &method, &uri, &headers).await;
    shared.lock().calls.authorize += 1;
    let params = query_params(&uri);
    let get = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
    let options = &shared.options;
    if get("client_id") != options.client_id {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Invalid client_id",
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
                "Invalid redirect_uri",
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
    let user = state
        .signed_in
        .clone()
        .or_else(|| state.accounts.first().map(|a| a.id.clone()));
    let outcome = if get("response_type") != "code" {
        Err("unsupported_response_type")
    } else if challenge
        .as_ref()
        .is_some_and(|(m, _)| m != "S256" && m != "plain")
    {
        Err("invalid_request")
    } else if options.deny_consent {
        Err("access_denied")
    } else {
        user.ok_or("access_denied")
    };
    {
        let mut query = location.query_pairs_mut();
        match outcome {
            Ok(user) => {
                let code = state.random_token("", 32);
                query.append_pair("code", &code);
                state.codes.insert(
                    code,
                    Code {
                        user,
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
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.as_str().to_owned())],
    )
        .into_response()
}

/// The client of `Authorization: Basic base64(client_id:client_secret)`.
fn basic_client(headers: &HeaderMap) -> Option<(String, String)> {
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

fn client_ok(shared: &Shared, headers: &HeaderMap) -> bool {
    basic_client(headers).is_some_and(|(id, secret)| {
        id == shared.options.client_id && secret == shared.options.client_secret
    })
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

fn tokens_response(tokens: &FakeZoomTokens, lifetime: Duration) -> Response {
    Json(json!({
        "access_token": tokens.access_token,
        "token_type": "bearer",
        "refresh_token": tokens.refresh_token,
        "expires_in": lifetime.as_secs(),
        "scope": SCOPES,
    }))
    .into_response()
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    arrive(&shared, &method, &uri, &headers).await;
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| form.get(name).map(String::as_str);
    let options = &shared.options;
    let mut state = shared.lock();
    match get("grant_type") {
        Some("authorization_code") => state.calls.token_authorization_code += 1,
        Some("refresh_token") => state.calls.token_refresh += 1,
        _ => state.calls.token_other += 1,
    }
    if form.contains_key("client_id") || form.contains_key("client_secret") {
        state.calls.token_body_credentials += 1;
    }
    if let Err(response) = state.gate(options, "oauth", None) {
        return response;
    }
    if !is_form(&headers) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body must be application/x-www-form-urlencoded",
        );
    }
    // Credentials in the body do not authenticate the client; only HTTP Basic does.
    if !client_ok(&shared, &headers) {
        return invalid_client();
    }
    let lifetime = options.access_token_lifetime;
    match get("grant_type") {
        Some("authorization_code") => {
            // A code is spent by its first use, whether that use succeeds or not.
            let Some(code) = get("code").and_then(|c| state.codes.remove(c)) else {
                return invalid_grant("Invalid authorization code");
            };
            if Instant::now() >= code.expires_at {
                invalid_grant("Invalid authorization code")
            } else if get("redirect_uri") != Some(code.redirect_uri.as_str()) {
                invalid_grant("Redirect URI mismatch.")
            } else if !pkce_matches(&code.challenge, get("code_verifier")) {
                invalid_grant("Invalid authorization code")
            } else {
                tokens_response(&state.issue_tokens(&code.user, lifetime), lifetime)
            }
        }
        Some("refresh_token") => {
            match get("refresh_token").and_then(|t| state.refresh(t, lifetime)) {
                Some(tokens) => tokens_response(&tokens, lifetime),
                None => invalid_grant("Invalid Token!"),
            }
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant type",
        ),
    }
}

pub(crate) async fn revoke(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    arrive(&shared, &method, &uri, &headers).await;
    let mut state = shared.lock();
    state.calls.revoke += 1;
    if let Err(response) = state.gate(&shared.options, "oauth", None) {
        return response;
    }
    if !client_ok(&shared, &headers) {
        return invalid_client();
    }
    // Documented as a query parameter; a form body is accepted too.
    let token = query_params(&uri).remove("token").or_else(|| {
        url::form_urlencoded::parse(&body)
            .find(|(name, _)| name == "token")
            .map(|(_, value)| value.into_owned())
    });
    match token {
        Some(token) if state.revoke(&token) => Json(json!({"status": "success"})).into_response(),
        Some(_) => oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Invalid Token!"),
        None => oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Missing token"),
    }
}
