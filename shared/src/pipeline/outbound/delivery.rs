//! Sending one delivery: sign it with every active secret of the endpoint, send it to the
//! checked addresses, log the attempt, and queue the next one on the retry schedule.

use super::{destination, Delivery, Event, Message, Subject, REMEMBER};
use crate::domain::{
    AttemptOutcome, DeliveryAttempt, EventType, Tenant, WebhookEndpoint, ATTEMPT_RETENTION,
};
use crate::pipeline::claims::{self, Claimed};
use crate::retry;
use crate::services::Services;
use crate::webhook::{self, WebhookSecret};
use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use rand::RngExt;
use serde_json::json;
use std::time::{Duration, Instant};
use url::{Host, Url};

/// The longest a receiver is waited for.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);
/// An endpoint that has failed every delivery for this long is disabled.
const FAILING_LIMIT: chrono::Duration = chrono::Duration::days(5);
/// The longest a queue delays a message (SQS's limit); longer waits take several hops.
const MAX_QUEUE_DELAY: Duration = Duration::from_secs(900);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How much of a receiver's answer an attempt keeps.
const EXCERPT_BYTES: usize = 300;
/// Events a replay queues at most.
pub const MAX_REPLAY: usize = 10_000;

/// What came back from one send.
#[derive(Debug, Default)]
struct Answer {
    status: Option<u16>,
    latency_ms: u64,
    excerpt: Option<String>,
    error: Option<String>,
    retry_after: Option<Duration>,
}

/// Sends `delivery` when it is due, once: a redelivered message finds the attempt claimed.
pub async fn deliver(services: &Services, delivery: Delivery) -> Result<()> {
    let now = services.clock.now();
    if let Some(at) = delivery.not_before.filter(|at| *at > now) {
        let wait = (at - now).to_std().unwrap_or_default();
        return queue(services, &delivery, wait).await;
    }
    let workspace = &delivery.event.owner.workspace;
    let Some(endpoint) = services
        .endpoints
        .get(workspace, &delivery.endpoint_id)
        .await?
    else {
        return Ok(()); // deleted since
    };
    if !endpoint.wants(delivery.event.kind) {
        return Ok(()); // disabled, or no longer subscribed
    }
    let key = format!(
        "outbound:send:{}:{}:{}:{}",
        endpoint.id,
        delivery.event.id,
        delivery.attempt,
        delivery.replay.as_deref().unwrap_or("-")
    );
    let once = services.once.as_ref();
    match claims::claim(once, &key, chrono::Duration::minutes(2), now).await? {
        Claimed::Done => return Ok(()),
        Claimed::InProgress => bail!("attempt {key} is being sent by another worker"),
        Claimed::Ours => {}
    }
    match attempt(services, &endpoint, &delivery, now).await {
        Ok(()) => claims::confirm(once, &key, REMEMBER, now).await,
        Err(e) => {
            claims::release(once, &key).await?;
            Err(e)
        }
    }
}

async fn attempt(
    services: &Services,
    endpoint: &WebhookEndpoint,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> Result<()> {
    let event = &delivery.event;
    let Some(data) = event_data(services, &endpoint.owner, event).await? else {
        return Ok(()); // its owner can no longer read it
    };
    let body = serde_json::to_vec(&json!({
        "type": event.kind,
        "timestamp": event.timestamp,
        "data": data,
    }))?;
    let answer = send(services, endpoint, &event.id, &body, now).await?;
    let failing_since = endpoint.failing_since.unwrap_or(now);
    let schedule = &services.config.outbound.retry_schedule;
    let (outcome, wait, disabled_because) = match answer.status {
        Some(200..=299) => (AttemptOutcome::Delivered, None, None),
        Some(410) => (
            AttemptOutcome::Disabled,
            None,
            Some("the endpoint answered 410 Gone".to_owned()),
        ),
        _ if now - failing_since >= FAILING_LIMIT => (
            AttemptOutcome::Disabled,
            None,
            Some(format!(
                "every delivery failed for {} days",
                FAILING_LIMIT.num_days()
            )),
        ),
        _ => match schedule.get(delivery.attempt as usize - 1) {
            Some(planned) => {
                let asked = answer.retry_after.unwrap_or_default().min(MAX_RETRY_AFTER);
                (
                    AttemptOutcome::Retrying,
                    Some(jittered(*planned).max(asked)),
                    None,
                )
            }
            None => (AttemptOutcome::GaveUp, None, None),
        },
    };
    let next_attempt_at = wait.map(|w| now + chrono::Duration::from_std(w).unwrap_or_default());
    if let Some(wait) = wait {
        let next = Delivery {
            attempt: delivery.attempt + 1,
            not_before: next_attempt_at,
            ..delivery.clone()
        };
        queue(services, &next, wait).await?;
    }
    services
        .endpoints
        .record_attempt(&DeliveryAttempt {
            id: uuid::Uuid::new_v4().simple().to_string(),
            owner: endpoint.owner.clone(),
            endpoint_id: endpoint.id.clone(),
            event_id: event.id.clone(),
            event_type: event.kind,
            attempt: delivery.attempt,
            at: now,
            status: answer.status,
            latency_ms: answer.latency_ms,
            outcome,
            error: answer.error,
            response_excerpt: answer.excerpt,
            next_attempt_at,
            expires_at: now + ATTEMPT_RETENTION,
        })
        .await?;
    let delivered = outcome == AttemptOutcome::Delivered;
    if delivered == endpoint.failing_since.is_none() && disabled_because.is_none() {
        return Ok(()); // nothing about the endpoint changed
    }
    update_endpoint(services, endpoint, |e| {
        e.failing_since = if delivered {
            None
        } else {
            e.failing_since.or(Some(now))
        };
        if let Some(reason) = &disabled_because {
            e.enabled = false;
            e.disabled_reason = Some(reason.clone());
        }
        e.updated_at = now;
    })
    .await
}

/// The planned wait, give or take a tenth, so endpoints that failed together are not all
/// retried at once.
fn jittered(planned: Duration) -> Duration {
    planned.mul_f64(rand::rng().random_range(0.9..=1.1))
}

/// Queues `delivery` to be handled after `wait` (or after the longest delay a queue allows,
/// when it then waits again).
async fn queue(services: &Services, delivery: &Delivery, wait: Duration) -> Result<()> {
    let body = Message::Delivery(delivery.clone()).to_body()?;
    services
        .events_queue
        .send_delayed(&body, wait.min(MAX_QUEUE_DELAY))
        .await
}

/// The event's `data` as `viewer` may read it now; `None` when they may not.
async fn event_data(
    services: &Services,
    viewer: &Tenant,
    event: &Event,
) -> Result<Option<serde_json::Value>> {
    let (recording_id, source, external_id) = match &event.subject {
        Subject::Data { data } => return Ok(Some(data.clone())),
        Subject::Recording {
            recording_id,
            source,
            external_id,
            ..
        } => (recording_id, source, external_id),
    };
    let mut data = json!({
        "recording_id": recording_id,
        "source": source,
        "external_id": external_id,
    });
    if event.kind != EventType::RecordingDeleted {
        let Some(recording) = services.recordings.get(viewer, recording_id).await? else {
            return Ok(None);
        };
        data["recording"] = crate::views::recording_detail_json(services, &recording).await?;
    }
    Ok(Some(data))
}

/// Sends `body` to the endpoint, signed with each of its active secrets. A destination that
/// is not allowed (or does not resolve) is an answer with an error, not a fault.
async fn send(
    services: &Services,
    endpoint: &WebhookEndpoint,
    event_id: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Answer> {
    let key = &services.secrets().await?.sealing_key;
    let timestamp = now.timestamp();
    let mut signatures = Vec::new();
    for secret in endpoint.secrets.iter().filter(|s| s.active_at(now)) {
        let text = key
            .open(&secret.sealed, &endpoint.secret_context())
            .context("opening an endpoint's signing secret")?;
        let secret = WebhookSecret::parse(text.expose())
            .context("an endpoint's signing secret is not a webhook secret")?;
        signatures.push(webhook::sign(&secret, event_id, timestamp, body));
    }
    let url = Url::parse(&endpoint.url).context("a stored endpoint url does not parse")?;
    let addrs = match destination::resolve(&url, services.config.outbound.allow_loopback).await {
        Ok(addrs) => addrs,
        Err(refused) => {
            return Ok(Answer {
                error: Some(format!("not sent: {refused}")),
                ..Answer::default()
            })
        }
    };
    let mut client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(SEND_TIMEOUT)
        .no_proxy();
    if let Some(Host::Domain(name)) = url.host() {
        // Connect only to the addresses just checked.
        client = client.resolve_to_addrs(name, &addrs);
    }
    let request = client
        .build()?
        .post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "callsync-webhooks/1")
        .header(webhook::ID_HEADER, event_id)
        .header(webhook::TIMESTAMP_HEADER, timestamp.to_string())
        .header(webhook::SIGNATURE_HEADER, signatures.join(" "))
        .body(body.to_vec());
    let started = Instant::now();
    let mut answer = Answer::default();
    match request.send().await {
        Err(e) => answer.error = Some(retry::cut(&crate::connectors::transport::describe(&e), 200)),
        Ok(mut response) => {
            answer.status = Some(response.status().as_u16());
            answer.retry_after = retry::retry_after(response.headers());
            let mut excerpt = Vec::new();
            while excerpt.len() < EXCERPT_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                    Ok(None) => break,
                    Err(e) => {
                        answer.error = Some(crate::connectors::transport::describe(&e));
                        break;
                    }
                }
            }
            let text = String::from_utf8_lossy(&excerpt);
            answer.excerpt = Some(retry::cut(&text, EXCERPT_BYTES)).filter(|t| !t.is_empty());
            if !response.status().is_success() && answer.error.is_none() {
                answer.error = Some(format!("the endpoint answered {}", response.status()));
            }
        }
    }
    answer.latency_ms = started.elapsed().as_millis() as u64;
    Ok(answer)
}

/// Applies `change` to the stored endpoint, again on a fresh read when another writer got
/// there first; nothing when it was deleted.
pub async fn update_endpoint(
    services: &Services,
    endpoint: &WebhookEndpoint,
    change: impl Fn(&mut WebhookEndpoint),
) -> Result<()> {
    let mut current = endpoint.clone();
    for _ in 0..5 {
        change(&mut current);
        if services.endpoints.replace(&current).await? {
            return Ok(());
        }
        match services
            .endpoints
            .get(&endpoint.owner.workspace, &endpoint.id)
            .await?
        {
            Some(fresh) => current = fresh,
            None => return Ok(()),
        }
    }
    bail!("endpoint {} kept changing under an update", endpoint.id)
}

/// Queues, for `endpoint`, the recording events of the change feed from `since` (at most
/// `MAX_REPLAY`), sent again even when delivered before; how many.
pub async fn replay_changes(
    services: &Services,
    endpoint: &WebhookEndpoint,
    since: DateTime<Utc>,
) -> Result<usize> {
    let replay = uuid::Uuid::new_v4().simple().to_string();
    let workspace = &endpoint.owner.workspace;
    let (mut after, mut queued) = (0, 0);
    while queued < MAX_REPLAY {
        let changes = services.changes.read(workspace, after, 500).await?;
        let Some(last) = changes.last() else { break };
        after = last.seq;
        let deliveries: Vec<String> = changes
            .iter()
            .filter(|change| change.at >= since)
            .map(|change| Event::of_change(change, workspace))
            .filter(|event| event.reaches(endpoint))
            .take(MAX_REPLAY - queued)
            .map(|event| Delivery::first(endpoint, event, Some(replay.clone())).to_body())
            .collect::<Result<_, _>>()?;
        queued += deliveries.len();
        services.events_queue.send_batch(&deliveries).await?;
    }
    Ok(queued)
}
