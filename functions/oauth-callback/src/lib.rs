//! `oauth-callback`: where the provider sends the browser back. Takes the state once and,
//! when the browser carries the binding cookie set at initiate (it is the browser that
//! started the flow), exchanges the code, seals and stores the tokens, links the account
//! (webhook, first sync), and sends the browser to the app with `?connected=<source>` or
//! `?error=<code>`. Every failure stores nothing and names itself in the error code.
//!
//! A browser without the cookie (an app on another origin, whose cookies the API never saw,
//! or a victim sent someone else's authorization link) is sent to the app with
//! `?confirm=<source>&ticket=...`; the signed-in app then calls `POST /oauth/{source}/confirm`
//! with the ticket, and only the user who started the flow gets the account linked.

use lambda_http::http::StatusCode;
use pipeline::domain::Source;
use pipeline::http::{self, ApiError, ApiResult, Body, Request, Response, Route};
use pipeline::pipeline::connect::{connect, NewCredential};
use pipeline::pipeline::oauth_state::{
    app_return_url, binding_clear_cookie, binding_cookie_name, random_token, redirect_uri,
    OAuthState, PendingConfirmation, CONFIRM_TTL,
};
use pipeline::services::Services;
use serde::Deserialize;
use serde_json::json;

pub const ROUTES: &[Route] = &[
    Route::public("GET", "/oauth/{source}/callback"),
    Route::user("POST", "/oauth/{source}/confirm"),
];

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

/// How a callback ends for the browser.
enum Outcome {
    Connected(Source),
    Failed(Failure),
    /// The browser did not prove it started the flow: the app must confirm with the user's
    /// token, passing this ticket.
    Confirm {
        source: Source,
        ticket: String,
    },
}

pub async fn handle(services: &Services, req: Request) -> Response<Body> {
    let segments = http::segments(&req);
    match (req.method().as_str(), segments.as_slice()) {
        ("GET", ["oauth", source, "callback"]) => callback(services, source, &req).await,
        ("POST", ["oauth", source, "confirm"]) => {
            http::respond(confirm(services, source, &req)).await
        }
        _ => http::error_response(&http::ApiError::no_route(&req)),
    }
}

/// The app URL the browser returns to, with the outcome in the query.
fn app_url(services: &Services, return_path: &str, outcome: &Outcome) -> String {
    let base = &services.config.app_base_url;
    // The path was checked at initiate; a state stored before that check returns to the base.
    let mut url = app_return_url(base, return_path).unwrap_or_else(|_| base.clone());
    {
        let mut query = url.query_pairs_mut();
        match outcome {
            Outcome::Connected(source) => query.append_pair("connected", source.as_str()),
            Outcome::Failed(failure) => query.append_pair("error", failure.code()),
            Outcome::Confirm { source, ticket } => query
                .append_pair("confirm", source.as_str())
                .append_pair("ticket", ticket),
        };
    }
    url.to_string()
}

async fn callback(services: &Services, raw_source: &str, req: &Request) -> Response<Body> {
    let (return_path, outcome) = match take_state(services, raw_source, req).await {
        Ok(state) => {
            let outcome = arrive(services, state.clone(), req).await;
            if let Outcome::Failed(failure) = &outcome {
                tracing::info!(user = %state.user_id, error = failure.code(), "OAuth connection failed");
            }
            (state.return_path, outcome)
        }
        Err(failure) => ("/".to_owned(), Outcome::Failed(failure)),
    };
    let response = http::redirect(&app_url(services, &return_path, &outcome));
    match Source::parse(raw_source) {
        // The binding is single-use, like the state.
        Ok(source) => http::with_header(
            response,
            "set-cookie",
            &binding_clear_cookie(&services.config, source),
        ),
        Err(_) => response,
    }
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

/// The provider sent the browser back: connect at once when it is the browser that started
/// the flow, otherwise park the code for the app to confirm.
async fn arrive(services: &Services, state: OAuthState, req: &Request) -> Outcome {
    if let Some(error) = http::query(req, "error") {
        return Outcome::Failed(if error == "access_denied" {
            Failure::AccessDenied
        } else {
            Failure::ExchangeFailed
        });
    }
    let Some(code) = http::query(req, "code") else {
        return Outcome::Failed(Failure::MissingCode);
    };
    let cookie = http::cookie(req, &binding_cookie_name(&services.config, state.source));
    if state.bound_to(cookie.as_deref()) {
        return match finish(services, &state, &code).await {
            Ok(()) => Outcome::Connected(state.source),
            Err(failure) => Outcome::Failed(failure),
        };
    }
    let source = state.source;
    let ticket = random_token(32);
    let now = services.clock.now();
    let pending = PendingConfirmation { state, code };
    match services
        .once
        .insert_if_absent(
            &PendingConfirmation::key(&ticket),
            &pending.to_json(),
            now + CONFIRM_TTL,
            now,
        )
        .await
    {
        Ok(_) => Outcome::Confirm { source, ticket },
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "parking an OAuth code failed");
            Outcome::Failed(Failure::Internal)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    ticket: String,
}

/// `POST /oauth/{source}/confirm {"ticket"}`: the signed-in app finishes a flow whose callback
/// could not prove its browser. Only the user who started the flow can: anyone else's
/// confirmation is refused and the ticket is used up, so nothing is linked.
async fn confirm(services: &Services, raw_source: &str, req: &Request) -> ApiResult {
    let caller = http::tenant(req, services)?;
    let source = Source::parse(raw_source).map_err(|e| ApiError::not_found(e.to_string()))?;
    let body: ConfirmBody = http::json_body(req)?;
    let unknown =
        || ApiError::not_found("this connection attempt is unknown or expired; connect again");
    if body.ticket.is_empty() || body.ticket.len() > 128 {
        return Err(unknown());
    }
    let pending = services
        .once
        .take(
            &PendingConfirmation::key(&body.ticket),
            services.clock.now(),
        )
        .await?
        .ok_or_else(unknown)?;
    let pending = PendingConfirmation::from_json(&pending).map_err(|_| unknown())?;
    if pending.state.source != source {
        return Err(unknown());
    }
    if pending.state.owner() != caller {
        tracing::warn!(user = %caller.user, "an OAuth flow started by another user was refused");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_user",
            "this connection was started by another account; nothing was connected",
        ));
    }
    match finish(services, &pending.state, &pending.code).await {
        Ok(()) => http::ok(&json!({ "connected": source })),
        Err(Failure::ExchangeFailed) => Err(ApiError::bad_request(
            "exchange_failed",
            format!("{source} did not accept the authorization; connect again"),
        )),
        Err(_) => Err(ApiError::from(anyhow::anyhow!(
            "storing the {source} connection failed"
        ))),
    }
}

/// Trades the code for tokens and links the account.
async fn finish(services: &Services, state: &OAuthState, code: &str) -> Result<(), Failure> {
    let oauth = services
        .providers()
        .await
        .map_err(|e| {
            tracing::error!(
                error = format!("{e:#}"),
                "loading the OAuth app's secrets failed"
            );
            Failure::Internal
        })?
        .connector(state.source)
        .and_then(|connector| connector.oauth())
        .ok_or(Failure::ExchangeFailed)?;
    let redirect = redirect_uri(&services.config, state.source).map_err(|_| Failure::Internal)?;
    let tokens = oauth
        .exchange_code(code, redirect.as_str(), state.code_verifier.as_deref())
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "OAuth code exchange failed");
            Failure::ExchangeFailed
        })?;
    connect(
        services,
        &state.owner(),
        state.source,
        NewCredential::OAuth(tokens),
    )
    .await
    .map_err(|e| {
        tracing::error!(error = format!("{e:#}"), source = %state.source, "storing the connection failed");
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
