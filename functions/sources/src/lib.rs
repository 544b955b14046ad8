//! `sources`: what a dashboard shows about each source the user can import from, the
//! switches that manage a connection (pause, resume, disconnect, API key), and the health
//! check.

use pipeline::crypto::SecretString;
use pipeline::domain::{Connection, ConnectionStatus, Source, SyncJob, UserId};
use pipeline::http::{self, ApiError, ApiResult, Body, Request, Response, Route};
use pipeline::pipeline::connect::{connect, disconnect, NewCredential};
use pipeline::pipeline::connections::update_connection;
use pipeline::pipeline::deliveries::release_held_deliveries;
use pipeline::ports::{DeliveryRecord, DeliveryStatus};
use pipeline::services::Services;
use pipeline::views::JobView;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const ROUTES: &[Route] = &[
    Route::public("GET", "/health"),
    Route::user("GET", "/sources"),
    Route::user("PATCH", "/sources/{source}"),
    Route::user("DELETE", "/sources/{source}"),
    Route::user("POST", "/sources/{source}/api-key"),
    Route::user("GET", "/sources/{source}/deliveries"),
];

pub async fn handle(services: &Services, req: Request) -> Response<Body> {
    http::respond(route(services, &req)).await
}

async fn route(services: &Services, req: &Request) -> ApiResult {
    match (req.method().as_str(), http::segments(req).as_slice()) {
        ("GET", ["health"]) => http::ok(&json!({"status": "ok"})),
        ("GET", ["sources"]) => list_sources(services, &http::user_id(req)?).await,
        ("PATCH", ["sources", source]) => {
            set_active(
                services,
                &http::user_id(req)?,
                source,
                http::json_body(req)?,
            )
            .await
        }
        ("DELETE", ["sources", source]) => remove(services, &http::user_id(req)?, source).await,
        ("POST", ["sources", source, "api-key"]) => {
            add_api_key(
                services,
                &http::user_id(req)?,
                source,
                http::json_body(req)?,
            )
            .await
        }
        ("GET", ["sources", source, "deliveries"]) => {
            list_deliveries(services, &http::user_id(req)?, source, req).await
        }
        _ => Err(ApiError::no_route(req)),
    }
}

#[derive(Serialize)]
struct SourceItem<'a> {
    source: Source,
    connection_id: Option<&'a str>,
    /// A connection's status; `not_connected` when the user has none, `available` for
    /// uploads, which need no connection.
    status: &'static str,
    active: bool,
    account_email: Option<&'a str>,
    last_sync_at: Option<chrono::DateTime<chrono::Utc>>,
    last_error: Option<&'a str>,
    recording_count: u64,
    current_job: Option<JobView<'a>>,
}

fn source_item<'a>(
    source: Source,
    connection: Option<&'a Connection>,
    recording_count: u64,
    jobs: &'a [SyncJob],
) -> SourceItem<'a> {
    let current_job = jobs
        .iter()
        .find(|j| j.source == source && !j.status.is_finished())
        .map(JobView::from);
    let (status, active) = match (source, connection) {
        (Source::Upload, _) => ("available", true),
        (_, None) => ("not_connected", false),
        (_, Some(c)) => (c.status.as_str(), c.status == ConnectionStatus::Active),
    };
    SourceItem {
        source,
        connection_id: connection.map(|c| c.id.as_str()),
        status,
        active,
        account_email: connection.and_then(|c| c.account_email.as_deref()),
        last_sync_at: connection.and_then(|c| c.last_sync_at),
        last_error: connection.and_then(|c| c.last_error.as_deref()),
        recording_count,
        current_job,
    }
}

async fn list_sources(services: &Services, user: &UserId) -> ApiResult {
    let connections = services.connections.list_for_user(user).await?;
    let jobs = services.jobs.list(user, None, 50).await?;
    let mut items = Vec::with_capacity(Source::ALL.len());
    for source in Source::ALL {
        let count = services.recordings.count(user, source).await?;
        items.push(source_item(
            source,
            connections.iter().find(|c| c.source == source),
            count,
            &jobs,
        ));
    }
    http::ok(&json!({ "items": items }))
}

/// One source's item, as `GET /sources` shows it.
async fn one_source(services: &Services, user: &UserId, connection: &Connection) -> ApiResult {
    let jobs = services
        .jobs
        .list(user, Some(connection.source), 10)
        .await?;
    let count = services.recordings.count(user, connection.source).await?;
    http::ok(&source_item(
        connection.source,
        Some(connection),
        count,
        &jobs,
    ))
}

/// The user's connection to a connectable source named in the path.
async fn connection(
    services: &Services,
    user: &UserId,
    raw_source: &str,
) -> Result<Connection, ApiError> {
    let source = Source::parse(raw_source).map_err(|e| ApiError::not_found(e.to_string()))?;
    if !source.is_connectable() {
        return Err(ApiError::bad_request(
            "not_connectable",
            format!("{source} needs no connection"),
        ));
    }
    services
        .connections
        .find(user, source)
        .await?
        .filter(|c| c.status != ConnectionStatus::Disconnected)
        .ok_or_else(|| ApiError::not_found(format!("{source} is not connected")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActiveBody {
    active: bool,
}

/// Pauses or resumes syncing. A connection that needs the user (`needs_reauth`) can only be
/// fixed by connecting again.
async fn set_active(
    services: &Services,
    user: &UserId,
    source: &str,
    body: ActiveBody,
) -> ApiResult {
    let current = connection(services, user, source).await?;
    if current.status == ConnectionStatus::NeedsReauth {
        return Err(ApiError::conflict(
            "needs_reauth",
            format!("connect {} again before resuming it", current.source),
        ));
    }
    let now = services.clock.now();
    let updated = update_connection(services.connections.as_ref(), &current.id, |c| {
        c.status = match (body.active, c.status) {
            (false, ConnectionStatus::Active | ConnectionStatus::Error) => ConnectionStatus::Paused,
            (true, ConnectionStatus::Paused) => ConnectionStatus::Active,
            (_, unchanged) => unchanged,
        };
        c.updated_at = now;
    })
    .await?;
    if body.active {
        // Deliveries that arrived while paused are imported now.
        release_held_deliveries(services, &updated)
            .await
            .map_err(|e| {
                tracing::error!(
                    error = format!("{e:#}"),
                    "held deliveries not queued on resume"
                );
                ApiError::unavailable(
                    "resumed, but what arrived while paused could not be queued yet; resume again",
                )
            })?;
    }
    one_source(services, user, &updated).await
}

/// Disconnects: the provider webhook is deleted (best effort), credentials are wiped, and
/// every imported recording stays.
async fn remove(services: &Services, user: &UserId, source: &str) -> ApiResult {
    let current = connection(services, user, source).await?;
    let updated = disconnect(services, &current).await?;
    one_source(services, user, &updated).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyBody {
    api_key: String,
}

/// Connects (or adds a fallback to) a source with a personal API key, checked with one cheap
/// call first so a wrong key is refused before anything is stored.
async fn add_api_key(
    services: &Services,
    user: &UserId,
    source: &str,
    body: ApiKeyBody,
) -> ApiResult {
    let connector = Source::parse(source)
        .ok()
        .and_then(|source| services.providers.connector(source))
        .filter(|connector| connector.accepts_api_key())
        .ok_or_else(|| ApiError::not_found(format!("`{source}` does not take an API key")))?;
    let name = connector.name();
    let key = body.api_key.trim();
    // A header cannot carry control characters: refuse them here, not as a provider fault.
    if key.is_empty() || key.len() > 512 || key.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_api_key",
            format!(
                "api_key must be a {name} API key: 1 to 512 characters, without control characters"
            ),
        ));
    }
    let key = SecretString::new(key);
    match connector.check_api_key(&key).await {
        Ok(()) => {}
        Err(e) if e.needs_reauth() => {
            return Err(ApiError::bad_request(
                "invalid_api_key",
                format!("{name} did not accept this API key; copy it again from {name}'s settings"),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    let connected = connect(
        services,
        user,
        connector.source(),
        NewCredential::ApiKey(key),
    )
    .await?;
    one_source(services, user, &connected.connection).await
}

/// One attempt of the delivery log, as its owner sees it.
#[derive(Serialize)]
struct DeliveryItem<'a> {
    id: &'a str,
    received_at: chrono::DateTime<chrono::Utc>,
    webhook_id: Option<&'a str>,
    connection_id: Option<&'a str>,
    status: DeliveryStatus,
    http_status: u16,
    signature_valid: bool,
    error: Option<&'a str>,
    header_names: &'a [String],
    body_bytes: u64,
}

impl<'a> From<&'a DeliveryRecord> for DeliveryItem<'a> {
    fn from(d: &'a DeliveryRecord) -> Self {
        DeliveryItem {
            id: &d.id,
            received_at: d.received_at,
            webhook_id: d.webhook_id.as_deref(),
            connection_id: d.connection_id.as_ref().map(|c| c.as_str()),
            status: d.status,
            http_status: d.http_status,
            signature_valid: d.signature_valid,
            error: d.error.as_deref(),
            header_names: &d.header_names,
            body_bytes: d.body_bytes,
        }
    }
}

/// The source's webhook delivery log, newest first: every attempt of the last 30 days,
/// including those refused, whatever the connection's state now.
async fn list_deliveries(
    services: &Services,
    user: &UserId,
    raw_source: &str,
    req: &Request,
) -> ApiResult {
    let source = Source::parse(raw_source).map_err(|e| ApiError::not_found(e.to_string()))?;
    let limit = http::limit(req, 50, 200)?;
    let logged = services
        .deliveries
        .list(Some(user), source, limit, services.clock.now())
        .await?;
    let items: Vec<DeliveryItem> = logged.iter().map(DeliveryItem::from).collect();
    http::ok(&json!({ "items": items }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::request::LambdaRequest;

    #[tokio::test]
    async fn the_sample_event_lists_every_source_for_a_new_user() {
        let event: LambdaRequest =
            serde_json::from_str(include_str!("../../../events/sources.json")).unwrap();
        let backend = pipeline::testing::local_backend().await;
        let response = handle(&backend.services, Request::from(event)).await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        let statuses: Vec<(&str, &str)> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                (
                    item["source"].as_str().unwrap(),
                    item["status"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            statuses,
            [
                ("fathom", "not_connected"),
                ("zoom", "not_connected"),
                ("upload", "available")
            ]
        );
    }
}
