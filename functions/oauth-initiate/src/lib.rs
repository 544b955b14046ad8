//! `oauth-initiate`: starts connecting a source with OAuth 2.0. Stores a single-use state
//! (the user, the PKCE verifier, where to return, the browser binding) for ten minutes,
//! answers the provider's authorization URL, and sets the binding cookie on the browser
//! that asked, so the callback can tell it finished in the same browser.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use lambda_http::http::StatusCode;
use pipeline::domain::{Source, Tenant};
use pipeline::http::{self, ApiError, ApiResult, Body, Request, Response, Route};
use pipeline::pipeline::oauth_state::{
    self, app_return_url, binding_hash, binding_set_cookie, random_token, OAuthState, STATE_TTL,
};
use pipeline::services::Services;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

pub const ROUTES: &[Route] = &[Route::user("POST", "/oauth/{source}/initiate")];

pub async fn handle(services: &Services, req: Request) -> Response<Body> {
    http::respond(route(services, &req)).await
}

async fn route(services: &Services, req: &Request) -> ApiResult {
    match (req.method().as_str(), http::segments(req).as_slice()) {
        ("POST", ["oauth", source, "initiate"]) => {
            initiate(services, &http::tenant(req, services)?, source, req).await
        }
        _ => Err(ApiError::no_route(req)),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InitiateBody {
    /// Path in the app to return to after connecting (default `/`).
    return_path: Option<String>,
}

async fn initiate(services: &Services, owner: &Tenant, source: &str, req: &Request) -> ApiResult {
    let source = Source::parse(source).map_err(|e| ApiError::not_found(e.to_string()))?;
    let connector = services
        .providers()
        .await?
        .connector(source)
        .ok_or_else(|| {
            ApiError::bad_request("not_connectable", format!("{source} needs no connection"))
        })?;
    let body: InitiateBody = if http::body_bytes(req).is_empty() {
        InitiateBody::default()
    } else {
        http::json_body(req)?
    };
    let return_path = body.return_path.unwrap_or_else(|| "/".into());
    // Only paths inside the app: never an open redirect.
    app_return_url(&services.config.app_base_url, &return_path)
        .map_err(|e| ApiError::bad_request("invalid_return_path", e.to_string()))?;
    let Some(oauth) = connector.oauth() else {
        return Err(ApiError::unavailable(format!(
            "{} OAuth is not configured: {}",
            connector.name(),
            connector.oauth_setup()
        )));
    };
    let state = random_token(32);
    let verifier = connector.uses_pkce().then(|| random_token(48));
    let challenge = verifier
        .as_ref()
        .map(|v| B64.encode(Sha256::digest(v.as_bytes())));
    let binding = random_token(32);
    let now = services.clock.now();
    let record = OAuthState {
        workspace_id: Some(owner.workspace.clone()),
        user_id: owner.user.clone(),
        source,
        code_verifier: verifier,
        return_path,
        browser_binding: Some(binding_hash(&binding)),
    };
    services
        .once
        .insert_if_absent(
            &OAuthState::key(&state),
            &record.to_json(),
            now + STATE_TTL,
            now,
        )
        .await?;
    let redirect_uri = oauth_state::redirect_uri(&services.config, source)?;
    let url = oauth
        .authorize_url(redirect_uri.as_str(), &state, challenge.as_deref())
        .map_err(anyhow::Error::from)?;
    // The browser that asked is the one the callback will expect back.
    Ok(http::with_header(
        http::json(
            StatusCode::OK,
            &json!({ "authorization_url": url.as_str() }),
        ),
        "set-cookie",
        &binding_set_cookie(&services.config, source, &binding),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sample_event_without_an_oauth_app_says_which_settings_are_missing() {
        let backend = pipeline::testing::local_backend().await;
        let request =
            pipeline::testing::api_request(include_str!("../../../events/oauth-initiate.json"));
        let response = handle(&backend.services, request).await;
        assert_eq!(response.status(), 503);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("FATHOM_CLIENT_ID"),
            "{body}"
        );
    }
}
