//! `recordings`: list, search and read the user's imported recordings, follow their changes;
//! and the API's contract, `GET /openapi.json`.

mod changes;

use pipeline::domain::{LinkedRecording, RecordingId, Source, Tenant};
use pipeline::http::{self, ApiError, ApiResult, Body, Request, Response, Route};
use pipeline::pipeline::derive;
use pipeline::ports::RecordingQuery;
use pipeline::services::Services;
use pipeline::views::{self, RecordingListItem};
use serde_json::json;

pub const ROUTES: &[Route] = &[
    Route::user("GET", "/recordings"),
    Route::user("GET", "/recordings/{id}"),
    Route::user("GET", "/changes"),
    Route::public("GET", "/openapi.json"),
];

/// The OpenAPI document of every function's routes, kept in YAML in the repository.
pub const OPENAPI_YAML: &str = include_str!("../../../openapi/openapi.yaml");
/// The same contract as JSON, converted when the function is built.
const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// Longest search text accepted.
const MAX_QUERY_CHARS: usize = 200;

pub async fn handle(services: &Services, req: Request) -> Response<Body> {
    http::respond(route(services, &req)).await
}

async fn route(services: &Services, req: &Request) -> ApiResult {
    match (req.method().as_str(), http::segments(req).as_slice()) {
        ("GET", ["recordings"]) => list(services, &http::tenant(req, services)?, req).await,
        ("GET", ["recordings", id]) => detail(services, &http::tenant(req, services)?, id).await,
        ("GET", ["changes"]) => changes::list(services, &http::tenant(req, services)?, req).await,
        ("GET", ["openapi.json"]) => openapi(),
        _ => Err(ApiError::no_route(req)),
    }
}

/// What the viewer may read: their own recordings and those shared with their workspace.
async fn list(services: &Services, viewer: &Tenant, req: &Request) -> ApiResult {
    let text = http::query(req, "q");
    if text
        .as_ref()
        .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS)
    {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("query parameter `q` is longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    let scope = format!("recordings:{viewer}");
    let query = RecordingQuery {
        source: http::query_as(req, "source", Source::parse)?,
        text,
        limit: http::limit(req, 20, 100)?,
        cursor: http::page_cursor(req, services, &scope).await?,
    };
    let group = match http::query(req, "group").as_deref() {
        None => false,
        Some("meeting") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("query parameter `group`: `{other}` is not `meeting`"),
            ))
        }
    };
    let page = services.recordings.list(viewer, &query).await?;
    let mut items = Vec::with_capacity(page.items.len());
    let priority = if group {
        derive::meetings::settings(services, viewer)
            .await?
            .source_priority
    } else {
        Vec::new()
    };
    for recording in &page.items {
        let mut item = serde_json::to_value(RecordingListItem::from(recording))
            .map_err(anyhow::Error::from)?;
        if group {
            let linked = linked_recordings(services, viewer, recording).await?;
            let rank = |source: Source| priority.iter().position(|s| *s == source);
            let leads = linked.iter().all(|other| {
                (rank(recording.source), recording.id.as_str())
                    < (rank(other.source), other.recording_id.as_str())
            });
            if !leads {
                continue; // listed under the recording that leads its meeting
            }
            item["linked_recording_ids"] = json!(linked
                .iter()
                .map(|r| r.recording_id.as_str())
                .collect::<Vec<_>>());
        }
        items.push(item);
    }
    let next_cursor = http::next_cursor(services, &scope, page.next_cursor).await?;
    http::ok(&json!({ "items": items, "next_cursor": next_cursor }))
}

/// The other recordings of the meeting `recording` is linked into that `viewer` may read.
async fn linked_recordings(
    services: &Services,
    viewer: &Tenant,
    recording: &pipeline::domain::Recording,
) -> Result<Vec<LinkedRecording>, ApiError> {
    let Some(meeting) =
        derive::meetings::meeting_of(services, &recording.owner(), recording).await?
    else {
        return Ok(Vec::new());
    };
    let mut linked = Vec::new();
    for other in meeting.recordings {
        if other.recording_id != recording.id
            && services
                .recordings
                .get(viewer, &other.recording_id)
                .await?
                .is_some()
        {
            linked.push(other);
        }
    }
    Ok(linked)
}

async fn detail(services: &Services, viewer: &Tenant, raw_id: &str) -> ApiResult {
    let not_found = || ApiError::not_found(format!("no recording `{raw_id}`"));
    // A malformed id names no recording: the same answer as one the viewer may not read.
    let id = RecordingId::parse(raw_id).map_err(|_| not_found())?;
    let recording = services
        .recordings
        .get(viewer, &id)
        .await?
        .ok_or_else(not_found)?;
    let mut detail = views::recording_detail_json(services, &recording).await?;
    detail["linked_recordings"] = json!(linked_recordings(services, viewer, &recording)
        .await?
        .iter()
        .map(|r| json!({
            "id": r.recording_id,
            "source": r.source,
            "title": r.title,
            "started_at": r.started_at,
        }))
        .collect::<Vec<_>>());
    http::ok(&detail)
}

/// The contract as JSON, converted from the YAML when the function was built (build.rs).
fn openapi() -> ApiResult {
    Ok(http::json_text(
        lambda_http::http::StatusCode::OK,
        OPENAPI_JSON.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::request::LambdaRequest;

    #[tokio::test]
    async fn the_sample_event_lists_no_recordings_for_a_new_user() {
        let event: LambdaRequest =
            serde_json::from_str(include_str!("../../../events/recordings.json")).unwrap();
        let backend = pipeline::testing::local_backend().await;
        let response = handle(&backend.services, Request::from(event)).await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["items"], serde_json::json!([]));
        assert_eq!(body["next_cursor"], serde_json::Value::Null);
    }

    #[tokio::test]
    async fn lists_on_aws_without_ever_reading_the_secret() {
        let event: LambdaRequest =
            serde_json::from_str(include_str!("../../../events/recordings.json")).unwrap();
        let backend = pipeline::testing::moto::MotoServer::shared()
            .create_backend(3)
            .await
            .unwrap();
        // The secret does not exist: a function that reads none starts and serves anyway.
        let missing = format!("{}-missing", backend.secrets_arn);
        let services = backend.services_with_secret(&missing).await.unwrap();
        let response = handle(&services, Request::from(event)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(services.secrets.loads(), 0, "no Secrets Manager call");
    }

    #[tokio::test]
    async fn the_contract_is_served_as_json_without_a_token() {
        let backend = pipeline::testing::local_backend().await;
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/recordings.json")).unwrap();
        event["rawPath"] = json!("/openapi.json");
        event["routeKey"] = json!("GET /openapi.json");
        event["requestContext"]["http"]["path"] = json!("/openapi.json");
        event["requestContext"]["routeKey"] = json!("GET /openapi.json");
        let context = event["requestContext"].as_object_mut().unwrap();
        context.remove("authorizer");
        let event: LambdaRequest = serde_json::from_value(event).unwrap();
        let response = handle(&backend.services, Request::from(event)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["openapi"], "3.1.0");
        assert_eq!(body["info"]["title"], "callsync API");
        assert!(body["paths"]["/openapi.json"]["get"].is_object());
    }
}
