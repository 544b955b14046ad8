//! `webhook-endpoints`: a member registers endpoints to be told of changes as they happen,
//! rotates their signing secrets, reads the log of delivery attempts, and replays events
//! from the change feed. Each endpoint is its registering member's alone: another member
//! (an admin too) gets 404 for it.

use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use pipeline::crypto::SecretString;
use pipeline::domain::{
    DeliveryAttempt, EndpointId, EndpointSecret, EventType, Tenant, WebhookEndpoint,
};
use pipeline::http::{self, ApiError, ApiResult, Body, Request, Response, Route};
use pipeline::pipeline::outbound::{self, destination};
use pipeline::services::Services;
use pipeline::webhook::WebhookSecret;
use serde::Deserialize;
use serde_json::{json, Value};

pub const ROUTES: &[Route] = &[
    Route::user("GET", "/webhook-endpoints"),
    Route::user("POST", "/webhook-endpoints"),
    Route::user("GET", "/webhook-endpoints/{id}"),
    Route::user("PATCH", "/webhook-endpoints/{id}"),
    Route::user("DELETE", "/webhook-endpoints/{id}"),
    Route::user("POST", "/webhook-endpoints/{id}/rotate-secret"),
    Route::user("GET", "/webhook-endpoints/{id}/attempts"),
    Route::user("POST", "/webhook-endpoints/{id}/replay"),
];

/// Endpoints one member may have.
const MAX_ENDPOINTS: usize = 20;
/// Longest description accepted.
const MAX_DESCRIPTION_CHARS: usize = 500;
/// How long a rotated-out secret keeps signing beside the new one.
const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

pub async fn handle(services: &Services, req: Request) -> Response<Body> {
    http::respond(route(services, &req)).await
}

async fn route(services: &Services, req: &Request) -> ApiResult {
    let owner = http::tenant(req, services)?;
    match (req.method().as_str(), http::segments(req).as_slice()) {
        ("GET", ["webhook-endpoints"]) => list(services, &owner).await,
        ("POST", ["webhook-endpoints"]) => create(services, &owner, http::json_body(req)?).await,
        ("GET", ["webhook-endpoints", id]) => http::ok(&view(&find(services, &owner, id).await?)),
        ("PATCH", ["webhook-endpoints", id]) => {
            let endpoint = find(services, &owner, id).await?;
            change(services, endpoint, http::json_body(req)?).await
        }
        ("DELETE", ["webhook-endpoints", id]) => {
            let endpoint = find(services, &owner, id).await?;
            services
                .endpoints
                .delete(&owner.workspace, &endpoint.id)
                .await?;
            http::ok(&json!({ "id": endpoint.id, "deleted": true }))
        }
        ("POST", ["webhook-endpoints", id, "rotate-secret"]) => {
            rotate(services, find(services, &owner, id).await?).await
        }
        ("GET", ["webhook-endpoints", id, "attempts"]) => {
            let endpoint = find(services, &owner, id).await?;
            let attempts = services
                .endpoints
                .attempts(
                    &owner.workspace,
                    &endpoint.id,
                    http::limit(req, 50, 200)?,
                    services.clock.now(),
                )
                .await?;
            let items: Vec<Value> = attempts.iter().map(attempt_view).collect();
            http::ok(&json!({ "items": items }))
        }
        ("POST", ["webhook-endpoints", id, "replay"]) => {
            let endpoint = find(services, &owner, id).await?;
            let Replay { since } = http::json_body(req)?;
            let queued = outbound::replay_changes(services, &endpoint, since).await?;
            Ok(http::json(
                StatusCode::ACCEPTED,
                &json!({ "queued": queued, "since": since }),
            ))
        }
        _ => Err(ApiError::no_route(req)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEndpoint {
    url: String,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointChange {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Replay {
    since: DateTime<Utc>,
}

/// The caller's endpoint `raw_id`; 404 for any other (another member's, a malformed id).
async fn find(
    services: &Services,
    owner: &Tenant,
    raw_id: &str,
) -> Result<WebhookEndpoint, ApiError> {
    let not_found = || ApiError::not_found(format!("no webhook endpoint `{raw_id}`"));
    let id = EndpointId::parse(raw_id).map_err(|_| not_found())?;
    services
        .endpoints
        .get(&owner.workspace, &id)
        .await?
        .filter(|endpoint| endpoint.owner == *owner)
        .ok_or_else(not_found)
}

async fn list(services: &Services, owner: &Tenant) -> ApiResult {
    let endpoints = services.endpoints.list(&owner.workspace).await?;
    let items: Vec<Value> = endpoints
        .iter()
        .filter(|endpoint| endpoint.owner == *owner)
        .map(view)
        .collect();
    http::ok(&json!({ "items": items }))
}

async fn create(services: &Services, owner: &Tenant, new: NewEndpoint) -> ApiResult {
    let url = checked_url(services, &new.url)?;
    let events = checked_events(new.events.unwrap_or_default())?;
    let description = checked_description(new.description)?;
    let mine = services
        .endpoints
        .list(&owner.workspace)
        .await?
        .iter()
        .filter(|endpoint| endpoint.owner == *owner)
        .count();
    if mine >= MAX_ENDPOINTS {
        return Err(ApiError::conflict(
            "endpoint_limit",
            format!(
                "a member may have at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
            ),
        ));
    }
    let now = services.clock.now();
    let mut endpoint = WebhookEndpoint {
        id: EndpointId::new(),
        owner: owner.clone(),
        url,
        events,
        description,
        enabled: true,
        disabled_reason: None,
        secrets: Vec::new(),
        failing_since: None,
        created_at: now,
        updated_at: now,
        version: 0,
    };
    let secret = new_secret(services, &mut endpoint, now).await?;
    services.endpoints.insert(&endpoint).await?;
    let mut body = view(&endpoint);
    // Shown once: only its sealed form is kept.
    body["secret"] = json!(secret.expose());
    Ok(http::json(StatusCode::CREATED, &body))
}

async fn change(
    services: &Services,
    endpoint: WebhookEndpoint,
    change: EndpointChange,
) -> ApiResult {
    let url = change
        .url
        .map(|raw| checked_url(services, &raw))
        .transpose()?;
    let events = change.events.map(checked_events).transpose()?;
    let description = change
        .description
        .map(|d| checked_description(Some(d)))
        .transpose()?;
    let now = services.clock.now();
    let apply = |e: &mut WebhookEndpoint| {
        if let Some(url) = &url {
            e.url = url.clone();
        }
        if let Some(events) = &events {
            e.events = events.clone();
        }
        if let Some(description) = &description {
            e.description = description.clone();
        }
        if let Some(enabled) = change.enabled {
            if enabled && !e.enabled {
                // Turned back on: a fresh start.
                e.disabled_reason = None;
                e.failing_since = None;
            }
            e.enabled = enabled;
        }
        e.updated_at = now;
    };
    outbound::update_endpoint(services, &endpoint, apply).await?;
    let owner = endpoint.owner.clone();
    http::ok(&view(&find(services, &owner, endpoint.id.as_str()).await?))
}

/// A new signing secret; the current ones keep signing for `ROTATION_OVERLAP`.
async fn rotate(services: &Services, endpoint: WebhookEndpoint) -> ApiResult {
    let now = services.clock.now();
    let mut rotated = endpoint.clone();
    let overlap_ends = now + ROTATION_OVERLAP;
    for old in &mut rotated.secrets {
        old.expires_at = Some(
            old.expires_at
                .map_or(overlap_ends, |at| at.min(overlap_ends)),
        );
    }
    rotated.secrets.retain(|s| s.active_at(now));
    let secret = new_secret(services, &mut rotated, now).await?;
    rotated.updated_at = now;
    if !services.endpoints.replace(&rotated).await? {
        return Err(ApiError::conflict(
            "changed",
            "the endpoint changed at the same moment; rotate again",
        ));
    }
    http::ok(&json!({
        "id": endpoint.id,
        "secret": secret.expose(),
        "previous_secrets_expire_at": overlap_ends,
    }))
}

/// Generates a signing secret, seals it onto `endpoint` (newest first) and returns it.
async fn new_secret(
    services: &Services,
    endpoint: &mut WebhookEndpoint,
    now: DateTime<Utc>,
) -> Result<SecretString, ApiError> {
    let secret = WebhookSecret::generate();
    let text = SecretString::new(secret.expose_str());
    let sealed = services
        .secrets()
        .await?
        .sealing_key
        .seal(&text, &endpoint.secret_context());
    endpoint.secrets.insert(
        0,
        EndpointSecret {
            sealed,
            created_at: now,
            expires_at: None,
        },
    );
    Ok(text)
}

fn checked_url(services: &Services, raw: &str) -> Result<String, ApiError> {
    destination::check_url(raw.trim(), services.config.outbound.allow_loopback)
        .map(|url| url.to_string())
        .map_err(|refused| ApiError::bad_request("invalid_url", refused.to_string()))
}

fn checked_events(raw: Vec<String>) -> Result<Vec<EventType>, ApiError> {
    let mut events = Vec::new();
    for name in raw {
        let event = EventType::parse(&name).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            ApiError::bad_request(
                "invalid_event",
                format!("unknown event `{name}`; events are {}", known.join(", ")),
            )
        })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    Ok(events)
}

fn checked_description(raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(text) = raw.map(|d| d.trim().to_owned()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::bad_request(
            "invalid_description",
            format!("the description is longer than {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(Some(text).filter(|t| !t.is_empty()))
}

/// The endpoint as its owner sees it: never a secret, only when each was made and expires.
fn view(endpoint: &WebhookEndpoint) -> Value {
    let events: Vec<&str> = if endpoint.events.is_empty() {
        EventType::ALL.iter().map(|t| t.as_str()).collect()
    } else {
        endpoint.events.iter().map(|t| t.as_str()).collect()
    };
    let secrets: Vec<Value> = endpoint
        .secrets
        .iter()
        .map(|s| json!({ "created_at": s.created_at, "expires_at": s.expires_at }))
        .collect();
    json!({
        "id": endpoint.id,
        "url": endpoint.url,
        "events": events,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since,
        "secrets": secrets,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    })
}

fn attempt_view(attempt: &DeliveryAttempt) -> Value {
    json!({
        "id": attempt.id,
        "event_id": attempt.event_id,
        "event_type": attempt.event_type,
        "attempt": attempt.attempt,
        "at": attempt.at,
        "status": attempt.status,
        "latency_ms": attempt.latency_ms,
        "outcome": attempt.outcome,
        "error": attempt.error,
        "response_excerpt": attempt.response_excerpt,
        "next_attempt_at": attempt.next_attempt_at,
    })
}
