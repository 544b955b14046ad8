//! `oauth-callback`: where the provider sends the browser back. Takes the state once,
//! exchanges the code, seals and stores the tokens, links the account (webhook, first
//! sync), and sends the browser to the app with `?connected=<source>` or `?error=<code>`.
//! Every failure stores nothing and names itself in the error code.

use pipeline::domain::Source;
use pipeline::http::{self, Body, Request, Response, Route};
use pipeline::pipeline::connect::connect_fathom;
use pipeline::pipeline::credentials::seal_tokens;
use pipeline::pipeline::oauth_state::{redirect_uri, OAuthState};
use pipeline::services::Services;
use url::Url;

pub const ROUTES: &[Route] = &[Route::public("GET", "/oauth/{source}/callback")];

/// Why a connection attempt failed, as the `error` parameter the app receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The user declined on the provider's consent screen.
    AccessDenied,
    /// The state is unknown, expired or already used.
    InvalidState,
    MissingCode,
    /// The provider refused to trade the code for tokens.
    ExchangeFailed,
    /// A fault of ours while storing the connection.
    Internal,
}

impl Failure {
    fn code(self) -> &'static str {
        match self {
            Failure::AccessDenied => "access_denied",
            Failure::InvalidState => "invalid_state",
            Failure::MissingCode => "missing_code",
            Failure::ExchangeFailed => "exchange_failed",
            Failure::Internal => "internal_error",
        }
    }
}

pub async fn handle(services: &Services, req: Request) -> Response<Body> {
    let segments = http::segments(&req);
    match (req.method().as_str(), segments.as_slice()) {
        ("GET", ["oauth", source, "callback"]) => callback(services, source, &req).await,
        _ => http::error_response(&http::ApiError::no_route(&req)),
    }
}

fn app_url(services: &Services, return_path: &str, outcome: Result<Source, Failure>) -> String {
    let base = &services.config.app_base_url;
    let mut url: Url = base
        .join(return_path.trim_start_matches('/'))
        .unwrap_or_else(|_| base.clone());
    match outcome {
        Ok(source) => url
            .query_pairs_mut()
            .append_pair("connected", source.as_str()),
        Err(failure) => url.query_pairs_mut().append_pair("error", failure.code()),
    };
    url.to_string()
}

async fn callback(services: &Services, source: &str, req: &Request) -> Response<Body> {
    let state = match take_state(services, source, req).await {
        Ok(state) => state,
        Err(failure) => return http::redirect(&app_url(services, "/", Err(failure))),
    };
    let outcome = finish(services, &state, req).await;
    if let Err(failure) = outcome {
        tracing::info!(user = %state.user_id, error = failure.code(), "OAuth connection failed");
    }
    http::redirect(&app_url(
        services,
        &state.return_path,
        outcome.map(|()| state.source),
    ))
}

async fn take_state(
    services: &Services,
    source: &str,
    req: &Request,
) -> Result<OAuthState, Failure> {
    let raw = http::query(req, "state").ok_or(Failure::InvalidState)?;
    let taken = services
        .once
        .take(&OAuthState::key(&raw), services.clock.now())
        .await
        .map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "taking an OAuth state failed");
            Failure::Internal
        })?;
    let state = taken
        .as_deref()
        .map(OAuthState::from_json)
        .transpose()
        .map_err(|_| Failure::InvalidState)?;
    match state {
        Some(state) if state.source.as_str() == source => Ok(state),
        _ => Err(Failure::InvalidState),
    }
}

async fn finish(services: &Services, state: &OAuthState, req: &Request) -> Result<(), Failure> {
    if let Some(error) = http::query(req, "error") {
        return Err(if error == "access_denied" {
            Failure::AccessDenied
        } else {
            Failure::ExchangeFailed
        });
    }
    let code = http::query(req, "code").ok_or(Failure::MissingCode)?;
    let oauth = services
        .providers
        .fathom_oauth
        .as_ref()
        .ok_or(Failure::ExchangeFailed)?;
    let redirect = redirect_uri(&services.config, state.source).map_err(|_| Failure::Internal)?;
    let tokens = oauth
        .exchange_code(&code, redirect.as_str(), state.code_verifier.as_deref())
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "OAuth code exchange failed");
            Failure::ExchangeFailed
        })?;
    let sealed = seal_tokens(
        &services.secrets.sealing_key,
        &tokens,
        None,
        services.clock.now(),
    );
    connect_fathom(services, &state.user_id, |credentials| {
        credentials.oauth = Some(sealed.clone())
    })
    .await
    .map_err(|e| {
        tracing::error!(
            error = format!("{e:#}"),
            "storing the Fathom connection failed"
        );
        Failure::Internal
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sample_event_with_an_unknown_state_returns_to_the_app_with_invalid_state() {
        let backend = pipeline::testing::local_backend().await;
        let request =
            pipeline::testing::api_request(include_str!("../../../events/oauth-callback.json"));
        let response = handle(&backend.services, request).await;
        assert_eq!(response.status(), 302);
        let location = response.headers()["location"].to_str().unwrap();
        assert_eq!(
            location,
            format!(
                "{}?error=invalid_state",
                backend.services.config.app_base_url
            )
        );
    }
}
