//! `sources`: what a dashboard shows about each source the user can import from, and the
//! health check.

use pipeline::domain::{Connection, ConnectionStatus, Source, UserId};
use pipeline::http::{self, ApiResult, Body, Request, Response, Route};
use pipeline::services::Services;
use pipeline::views::JobView;
use serde::Serialize;
use serde_json::json;

pub const ROUTES: &[Route] = &[
    Route::public("GET", "/health"),
    Route::user("GET", "/sources"),
];

pub async fn handle(services: &Services, req: Request) -> Response<Body> {
    http::respond(route(services, &req)).await
}

async fn route(services: &Services, req: &Request) -> ApiResult {
    match (req.method().as_str(), http::segments(req).as_slice()) {
        ("GET", ["health"]) => http::ok(&json!({"status": "ok"})),
        ("GET", ["sources"]) => list_sources(services, &http::user_id(req)?).await,
        _ => Err(http::ApiError::no_route(req)),
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

async fn list_sources(services: &Services, user: &UserId) -> ApiResult {
    let connections = services.connections.list_for_user(user).await?;
    let jobs = services.jobs.list(user, None, 50).await?;
    let mut counts = Vec::with_capacity(Source::ALL.len());
    for source in Source::ALL {
        counts.push(services.recordings.count(user, source).await?);
    }
    let items: Vec<SourceItem> = Source::ALL
        .iter()
        .zip(counts)
        .map(|(&source, recording_count)| {
            let connection: Option<&Connection> = connections.iter().find(|c| c.source == source);
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
        })
        .collect();
    http::ok(&json!({ "items": items }))
}
