//! The External API routes: `/meetings`, `/recordings/{id}/transcript|summary`, `/webhooks`.

use super::cursor::{self, Position};
use super::limits::{Class, Quota};
use super::meetings::{FakeMeeting, Includes};
use super::state::{
    auth_kind, error_response, with_quota, Caller, Endpoint, FakeWebhook, RecordedRequest,
};
use super::Shared;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Fathom's fixed page size.
pub(crate) const PAGE_SIZE: usize = 10;

type Answer = Result<Response, Response>;

/// Records the request and waits out any latency the test asked for.
pub(crate) async fn arrive(
    shared: &Shared,
    endpoint: Endpoint,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) {
    let held = shared.lock().held(endpoint);
    if held {
        let mut gate = shared.released.subscribe();
        let _ = gate.wait_for(|open| *open).await;
    }
    let delay = shared.lock().record(
        endpoint,
        RecordedRequest {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            auth: auth_kind(headers),
        },
    );
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// Authenticates and passes the rate limits and injected faults.
fn admit(shared: &Shared, headers: &HeaderMap, class: Class) -> Result<(Caller, Quota), Response> {
    let mut state = shared.lock();
    let caller = state.authenticate(headers)?;
    let quota = state.gate(&shared.options, &caller.limit_key, class, None)?;
    Ok((caller, quota))
}

fn bad_request(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, "invalid_request", message)
}

#[derive(Default)]
struct ListQuery {
    cursor: Option<Position>,
    created_after: Option<DateTime<Utc>>,
    created_before: Option<DateTime<Utc>>,
    recorded_by: Vec<String>,
    includes: Includes,
}

fn parse_list_query(raw: Option<&str>) -> Result<ListQuery, String> {
    let mut query = ListQuery::default();
    let time = |value: &str, name: &str| {
        DateTime::parse_from_rfc3339(value)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| format!("{name} must be an ISO-8601 date-time"))
    };
    let flag = |value: &str, name: &str| match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{name} must be true or false")),
    };
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "cursor" => query.cursor = Some(cursor::decode(&value).ok_or("cursor is not valid")?),
            "created_after" => query.created_after = Some(time(&value, "created_after")?),
            "created_before" => query.created_before = Some(time(&value, "created_before")?),
            "recorded_by[]" => query.recorded_by.push(value.to_lowercase()),
            "include_transcript" => query.includes.transcript = flag(&value, "include_transcript")?,
            "include_summary" => query.includes.summary = flag(&value, "include_summary")?,
            "include_action_items" => {
                query.includes.action_items = flag(&value, "include_action_items")?
            }
            "include_crm_matches" | "include_highlights" => {
                flag(&value, &name)?;
            }
            "recorded_by" | "teams" | "calendar_invitees_domains" => {
                return Err(format!(
                    "{name} is an array parameter: write it as {name}[]"
                ));
            }
            _ => {}
        }
    }
    Ok(query)
}

fn position(meeting: &FakeMeeting) -> Position {
    Position {
        created_at_millis: meeting.created_at.timestamp_millis(),
        recording_id: meeting.recording_id,
    }
}

/// Newest first; ties broken by recording id so the order is total and cursors are stable.
fn listing_key(meeting: &FakeMeeting) -> std::cmp::Reverse<(i64, u64)> {
    let p = position(meeting);
    std::cmp::Reverse((p.created_at_millis, p.recording_id))
}

pub(crate) async fn list_meetings(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    arrive(&shared, Endpoint::ListMeetings, &method, &uri, &headers).await;
    let parsed = parse_list_query(uri.query());
    let heavy = parsed
        .as_ref()
        .is_ok_and(|q| q.includes.transcript || q.includes.summary);
    let (caller, quota) = admit(
        &shared,
        &headers,
        if heavy { Class::Heavy } else { Class::Light },
    )?;
    let fractional = shared.options.fractional_seconds;
    let query = parsed.map_err(|message| with_quota(bad_request(&message), &quota, fractional))?;
    if caller.oauth && (query.includes.transcript || query.includes.summary) {
        let response = bad_request("OAuth apps may not use include_transcript or include_summary; use /recordings/{recording_id}/transcript and /summary");
        return Err(with_quota(response, &quota, fractional));
    }

    let state = shared.lock();
    let mut matching: Vec<&FakeMeeting> = state
        .meetings
        .iter()
        .filter(|m| m.owner == caller.account)
        .filter(|m| query.created_after.is_none_or(|after| m.created_at > after))
        .filter(|m| {
            query
                .created_before
                .is_none_or(|before| m.created_at < before)
        })
        .filter(|m| {
            query.recorded_by.is_empty()
                || query
                    .recorded_by
                    .contains(&m.recorded_by.email.to_lowercase())
        })
        .filter(|m| {
            query.cursor.is_none_or(|c| {
                let p = position(m);
                (p.created_at_millis, p.recording_id) < (c.created_at_millis, c.recording_id)
            })
        })
        .collect();
    matching.sort_by_key(|m| listing_key(m));
    let page: Vec<&FakeMeeting> = matching.iter().take(PAGE_SIZE).copied().collect();
    let next_cursor = if matching.len() > PAGE_SIZE {
        page.last().map(|m| cursor::encode(position(m)))
    } else {
        None
    };
    let body = json!({
        "limit": PAGE_SIZE,
        "next_cursor": next_cursor,
        "items": page.iter().map(|m| m.to_json(query.includes)).collect::<Vec<_>>(),
        "request_id": format!("req_{}", state.requests.len()),
    });
    Ok(with_quota(Json(body).into_response(), &quota, fractional))
}

/// The caller's meeting with this id, or 404.
fn owned_meeting(shared: &Shared, caller: &Caller, raw_id: &str) -> Result<FakeMeeting, Response> {
    let not_found = || error_response(StatusCode::NOT_FOUND, "not_found", "no such recording");
    let id: u64 = raw_id.parse().map_err(|_| not_found())?;
    shared
        .lock()
        .meetings
        .iter()
        .find(|m| m.recording_id == id && m.owner == caller.account)
        .cloned()
        .ok_or_else(not_found)
}

pub(crate) async fn transcript(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    arrive(&shared, Endpoint::Transcript, &method, &uri, &headers).await;
    let (caller, quota) = admit(&shared, &headers, Class::Heavy)?;
    let fractional = shared.options.fractional_seconds;
    let meeting =
        owned_meeting(&shared, &caller, &id).map_err(|r| with_quota(r, &quota, fractional))?;
    {
        let mut state = shared.lock();
        if state
            .faults
            .failing_recordings
            .contains(&meeting.recording_id)
        {
            state.calls.injected_failures += 1;
            let response = error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "transcript unavailable",
            );
            return Err(with_quota(response, &quota, fractional));
        }
    }
    let body = json!({"transcript": meeting.transcript_json()});
    Ok(with_quota(Json(body).into_response(), &quota, fractional))
}

pub(crate) async fn summary(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    arrive(&shared, Endpoint::Summary, &method, &uri, &headers).await;
    let (caller, quota) = admit(&shared, &headers, Class::Heavy)?;
    let fractional = shared.options.fractional_seconds;
    let meeting =
        owned_meeting(&shared, &caller, &id).map_err(|r| with_quota(r, &quota, fractional))?;
    let body = json!({"summary": meeting.summary_json()});
    Ok(with_quota(Json(body).into_response(), &quota, fractional))
}

#[derive(Deserialize)]
struct NewWebhook {
    destination_url: String,
    #[serde(default)]
    triggered_for: Vec<String>,
    #[serde(default)]
    include_transcript: bool,
    #[serde(default)]
    include_summary: bool,
    #[serde(default)]
    include_action_items: bool,
    #[serde(default)]
    include_crm_matches: bool,
}

const TRIGGERS: &[&str] = &[
    "my_recordings",
    "shared_external_recordings",
    "my_shared_with_team_recordings",
    "shared_team_recordings",
];

fn validate_webhook(headers: &HeaderMap, body: &[u8]) -> Result<NewWebhook, String> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err("the body must be JSON".into());
    }
    let new: NewWebhook = serde_json::from_slice(body).map_err(|e| format!("invalid body: {e}"))?;
    let url = url::Url::parse(&new.destination_url).map_err(|_| "destination_url is not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("destination_url must be http or https".into());
    }
    if new.triggered_for.is_empty()
        || new
            .triggered_for
            .iter()
            .any(|t| !TRIGGERS.contains(&t.as_str()))
    {
        return Err(format!(
            "triggered_for must list one or more of {}",
            TRIGGERS.join(", ")
        ));
    }
    if !(new.include_transcript
        || new.include_summary
        || new.include_action_items
        || new.include_crm_matches)
    {
        return Err("at least one include flag must be true".into());
    }
    Ok(new)
}

pub(crate) async fn create_webhook(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    arrive(&shared, Endpoint::CreateWebhook, &method, &uri, &headers).await;
    let (caller, quota) = admit(&shared, &headers, Class::Light)?;
    let fractional = shared.options.fractional_seconds;
    let new = validate_webhook(&headers, &body)
        .map_err(|m| with_quota(bad_request(&m), &quota, fractional))?;
    let mut state = shared.lock();
    let mut key = [0u8; 24];
    state.rng.fill_bytes(&mut key);
    let webhook = FakeWebhook {
        id: state.random_token("", 22),
        account: caller.account,
        destination_url: new.destination_url,
        triggered_for: new.triggered_for,
        include_transcript: new.include_transcript,
        include_summary: new.include_summary,
        include_action_items: new.include_action_items,
        include_crm_matches: new.include_crm_matches,
        secret: format!("whsec_{}", STANDARD.encode(key)),
        created_at: Utc::now(),
    };
    state.webhooks.push(webhook.clone());
    let body = json!({
        "id": webhook.id,
        "url": webhook.destination_url,
        "secret": webhook.secret,
        "created_at": webhook.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "include_transcript": webhook.include_transcript,
        "include_summary": webhook.include_summary,
        "include_action_items": webhook.include_action_items,
        "include_crm_matches": webhook.include_crm_matches,
        "triggered_for": webhook.triggered_for,
    });
    Ok(with_quota(
        (StatusCode::CREATED, Json(body)).into_response(),
        &quota,
        fractional,
    ))
}

pub(crate) async fn delete_webhook(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    arrive(&shared, Endpoint::DeleteWebhook, &method, &uri, &headers).await;
    let (caller, quota) = admit(&shared, &headers, Class::Light)?;
    let fractional = shared.options.fractional_seconds;
    let mut state = shared.lock();
    let before = state.webhooks.len();
    state
        .webhooks
        .retain(|w| !(w.id == id && w.account == caller.account));
    let response = if state.webhooks.len() < before {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error_response(StatusCode::NOT_FOUND, "not_found", "no such webhook")
    };
    Ok(with_quota(response, &quota, fractional))
}
