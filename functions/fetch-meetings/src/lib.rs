//! `fetch-meetings`: browse the provider's meetings, each marked synced or not.

use chrono::{DateTime, Utc};
use pipeline::connectors::fathom::{ListMeetingsQuery, Meeting};
use pipeline::domain::{ExternalId, Source, UserId};
use pipeline::http::{self, ApiError, ApiResult, Body, Request, Response, Route};
use pipeline::pipeline::credentials::{fathom_credential, CredentialError};
use pipeline::services::Services;
use serde::Serialize;
use serde_json::json;

pub const ROUTES: &[Route] = &[Route::user("GET", "/meetings")];

pub async fn handle(services: &Services, req: Request) -> Response<Body> {
    http::respond(route(services, &req)).await
}

async fn route(services: &Services, req: &Request) -> ApiResult {
    match (req.method().as_str(), http::segments(req).as_slice()) {
        ("GET", ["meetings"]) => list(services, &http::user_id(req)?, req).await,
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
    external_id: String,
    title: &'a str,
    started_at: Option<DateTime<Utc>>,
    /// Seconds.
    duration: Option<f64>,
    recorded_by: Option<&'a str>,
    synced: bool,
}

async fn list(services: &Services, user: &UserId, req: &Request) -> ApiResult {
    match http::query_as(req, "source", Source::parse)? {
        Some(Source::Fathom) => {}
        Some(other) => {
            return Err(ApiError::bad_request(
                "unsupported_source",
                format!("browsing {other} meetings is not supported"),
            ))
        }
        None => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                "query parameter `source` is required (fathom)",
            ))
        }
    }
    let scope = format!("meetings:fathom:{user}");
    let cursors = &services.secrets.cursors;
    let query = ListMeetingsQuery {
        cursor: http::page_cursor(req, cursors, &scope)?,
        created_after: http::query_as(req, "created_after", timestamp)?,
        created_before: http::query_as(req, "created_before", timestamp)?,
        ..ListMeetingsQuery::default()
    };
    let connection = services
        .connections
        .find(user, Source::Fathom)
        .await?
        .filter(|c| c.status != pipeline::domain::ConnectionStatus::Disconnected)
        .ok_or_else(|| ApiError::conflict("not_connected", "connect Fathom first"))?;
    let credential = match fathom_credential(services, &connection.id).await {
        Ok(c) => c,
        Err(CredentialError::NeedsReauth(reason)) => {
            return Err(ApiError::conflict("needs_reauth", reason))
        }
        Err(CredentialError::Transient(e)) => return Err(e.into()),
    };
    let page = services
        .providers
        .fathom
        .list_meetings(&credential, &query)
        .await
        .map_err(ApiError::from)?;
    let mut items = Vec::with_capacity(page.items.len());
    for meeting in &page.items {
        items.push(item(services, user, meeting).await?);
    }
    let next_cursor = page.next_cursor.map(|raw| cursors.sign(&scope, &raw));
    http::ok(&json!({ "items": items, "next_cursor": next_cursor }))
}

async fn item<'a>(
    services: &Services,
    user: &UserId,
    meeting: &'a Meeting,
) -> Result<MeetingItem<'a>, ApiError> {
    let external_id = meeting.recording_id.to_string();
    let synced = match ExternalId::parse(&external_id) {
        Ok(id) => services
            .recordings
            .find_by_key(user, Source::Fathom, &id)
            .await?
            .is_some(),
        Err(_) => false,
    };
    let started = meeting
        .recording_start_time
        .or(meeting.scheduled_start_time);
    let ended = meeting.recording_end_time.or(meeting.scheduled_end_time);
    Ok(MeetingItem {
        external_id,
        title: meeting
            .title
            .as_deref()
            .or(meeting.meeting_title.as_deref())
            .unwrap_or("Untitled meeting"),
        started_at: started,
        duration: started
            .zip(ended)
            .map(|(s, e)| (e - s).num_milliseconds() as f64 / 1000.0),
        recorded_by: meeting
            .recorded_by
            .as_ref()
            .and_then(|r| r.email.as_deref()),
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
