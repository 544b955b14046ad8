//! `fetch-meetings`: browse the provider's meetings, each marked synced or not.

use chrono::{DateTime, Utc};
use pipeline::connectors::{ListPurpose, ListRequest, ListedMeeting};
use pipeline::domain::{Source, Tenant};
use pipeline::http::{self, ApiError, ApiResult, Body, Request, Response, Route};
use pipeline::pipeline::credentials::{credential, CredentialError};
use pipeline::services::Services;
use serde::Serialize;
use serde_json::json;

pub const ROUTES: &[Route] = &[Route::user("GET", "/meetings")];

pub async fn handle(services: &Services, req: Request) -> Response<Body> {
    http::respond(route(services, &req)).await
}

async fn route(services: &Services, req: &Request) -> ApiResult {
    match (req.method().as_str(), http::segments(req).as_slice()) {
        ("GET", ["meetings"]) => list(services, &http::tenant(req, services)?, req).await,
        _ => Err(ApiError::no_route(req)),
    }
}

fn timestamp(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{raw}` is not an ISO-8601 time such as 2026-01-31T09:00:00Z"))
}

#[derive(Serialize)]
struct MeetingItem<'a> {
    external_id: &'a str,
    title: &'a str,
    started_at: Option<DateTime<Utc>>,
    /// Seconds.
    duration: Option<f64>,
    recorded_by: Option<&'a str>,
    synced: bool,
}

async fn list(services: &Services, owner: &Tenant, req: &Request) -> ApiResult {
    let source = http::query_as(req, "source", Source::parse)?.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_parameter",
            "query parameter `source` is required: a source you connect",
        )
    })?;
    let connector = services
        .providers()
        .await?
        .connector(source)
        .ok_or_else(|| {
            ApiError::bad_request(
                "unsupported_source",
                format!("{source} has no meetings to browse"),
            )
        })?;
    let scope = format!("meetings:{source}:{owner}");
    let request = ListRequest {
        position: http::page_cursor(req, services, &scope).await?,
        created_after: http::query_as(req, "created_after", timestamp)?,
        created_before: http::query_as(req, "created_before", timestamp)?,
        purpose: ListPurpose::Browse,
    };
    let connection = services
        .connections
        .find(owner, source)
        .await?
        .filter(|c| c.status != pipeline::domain::ConnectionStatus::Disconnected)
        .ok_or_else(|| {
            ApiError::conflict(
                "not_connected",
                format!("connect {} first", connector.name()),
            )
        })?;
    let credential = match credential(services, &connection.id).await {
        Ok(c) => c,
        Err(CredentialError::NeedsReauth(reason)) => {
            return Err(ApiError::conflict("needs_reauth", reason))
        }
        Err(CredentialError::Transient(e)) => return Err(e.into()),
    };
    let page = connector
        .list(&credential, &request)
        .await
        .map_err(ApiError::from)?;
    let mut items = Vec::with_capacity(page.items.len());
    for meeting in &page.items {
        items.push(item(services, owner, source, meeting).await?);
    }
    let next_cursor = http::next_cursor(services, &scope, page.next_position).await?;
    http::ok(&json!({ "items": items, "next_cursor": next_cursor }))
}

async fn item<'a>(
    services: &Services,
    owner: &Tenant,
    source: Source,
    meeting: &'a ListedMeeting,
) -> Result<MeetingItem<'a>, ApiError> {
    let synced = services
        .recordings
        .find_by_key(owner, source, &meeting.external_id)
        .await?
        .is_some();
    Ok(MeetingItem {
        external_id: meeting.external_id.as_str(),
        title: &meeting.title,
        started_at: meeting.started_at,
        duration: meeting.duration_seconds,
        recorded_by: meeting.recorded_by.as_deref(),
        synced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sample_event_before_connecting_asks_to_connect_first() {
        let backend = pipeline::testing::local_backend().await;
        let request =
            pipeline::testing::api_request(include_str!("../../../events/fetch-meetings.json"));
        let response = handle(&backend.services, request).await;
        assert_eq!(response.status(), 409);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["error"]["code"], "not_connected");
    }
}
