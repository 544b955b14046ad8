//! Webhook deliveries once verified. A delivery is claimed once by its id (every retry of one
//! event carries the same id), its raw payload stored, and a pointer queued for the consumer;
//! when storing or queueing fails the claim is released, so the sender's retry can succeed.
//!
//! Deliveries that cannot be imported yet are held, and queued again when they can:
//! - for a paused connection, until it is resumed (`release_held_deliveries`);
//! - for a recorder no connection's account email matches, until a connection with that
//!   email appears (`release_unmatched_deliveries`).
//!
//! Every attempt, whatever became of it, goes to the delivery log.

use super::claims::{self, Claimed};
use super::messages::{SyncMessage, WebhookDelivery};
use crate::domain::{hex_digest, Connection, ConnectionId, ConnectionStatus, Source};
use crate::ports::DeliveryRecord;
use crate::services::Services;
use anyhow::{Context, Result};
use bytes::Bytes;
use chrono::Duration as Span;

/// How long a delivery id stays claimed once it is kept: well past the sender's retry horizon
/// (about 27.5 h on Svix's default schedule), so a late retry is still recognised.
pub const RECEIPT_TTL: Span = Span::days(5);
/// How long a delivery id is held while its payload is stored and queued (milliseconds of
/// work): past it, the worker is taken for dead and the sender's retry takes the delivery
/// over. Short, so a crash delays a delivery little; a slow worker overtaken by a retry only
/// queues the delivery twice, which the import absorbs.
pub const RECEIPT_HOLD: Span = Span::seconds(15);
/// How long attempts stay in the delivery log.
pub const LOG_RETENTION: Span = Span::days(30);
/// How long a held delivery waits for its connection to resume or its user to connect; the
/// scheduled sync brings in anything older.
pub const HOLD_TTL: Span = Span::days(30);
/// Longest `webhook-id` taken in (it names the receipt and the stored payload).
pub const MAX_WEBHOOK_ID_LEN: usize = 128;

/// The endpoint a delivery came in through. Receipts and payloads are kept per endpoint, so a
/// delivery to one never makes another's delivery with the same id look like a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `/webhooks/{source}/{connection_id}`, verified with that connection's secret.
    Connection(&'a ConnectionId),
    /// `/webhooks/{source}`, verified with the app's secret.
    App,
}

impl Endpoint<'_> {
    fn scope(&self) -> String {
        match self {
            Endpoint::Connection(id) => id.to_string(),
            Endpoint::App => "app".into(),
        }
    }
}

/// The once-store key that claims a delivery id at an endpoint.
pub fn receipt_key(source: Source, endpoint: Endpoint<'_>, webhook_id: &str) -> String {
    format!("receipt:{source}:{}:{webhook_id}", endpoint.scope())
}

/// Where a delivery's raw payload is stored. The id is the sender's: used as is when it is
/// plain (`[A-Za-z0-9_-]`), hashed otherwise, so it can never form a path.
pub fn payload_key(source: Source, endpoint: Endpoint<'_>, webhook_id: &str) -> String {
    let plain = webhook_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let scope = endpoint.scope();
    if plain {
        format!("webhooks/{source}/{scope}/{webhook_id}.json")
    } else {
        format!(
            "webhooks/{source}/{scope}/sha256-{}.json",
            hex_digest(webhook_id.as_bytes())
        )
    }
}

/// The holder of deliveries that wait for `connection` to be resumed.
pub fn paused_holder(connection: &ConnectionId) -> String {
    format!("paused:{connection}")
}

/// The holder of deliveries that wait for a connection whose account the provider names
/// `route`.
pub fn unmatched_holder(source: Source, route: &str) -> String {
    format!("unmatched:{source}:{route}")
}

/// Where a verified delivery goes.
#[derive(Debug, Clone, Copy)]
pub enum Destination<'a> {
    /// Imported for each of these connections.
    Connections(&'a [ConnectionId]),
    /// No connection's account is the one the delivery names (`route`): held until one is.
    Unmatched { route: &'a str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// Claimed, stored, and queued or held.
    Accepted,
    /// Its id was taken in before: nothing was done.
    Duplicate,
    /// Another copy is being taken in right now: the sender should try again shortly.
    InProgress,
}

/// Takes in a verified delivery: claims its id at its endpoint (provisionally), stores
/// `body`, queues it for each destination connection or holds it as unmatched, and only then
/// confirms the claim. `Err` means it was not taken in and the claim is released: answer so
/// that the sender retries. A crash between the steps leaves a provisional claim that
/// expires after `RECEIPT_HOLD`, so the sender's retry takes the delivery over: "accepted"
/// always means kept.
pub async fn take_in(
    services: &Services,
    source: Source,
    endpoint: Endpoint<'_>,
    webhook_id: &str,
    body: Bytes,
    destination: Destination<'_>,
) -> Result<Intake> {
    let now = services.clock.now();
    let receipt = receipt_key(source, endpoint, webhook_id);
    match claims::claim(services.once.as_ref(), &receipt, RECEIPT_HOLD, now)
        .await
        .context("claiming the delivery id")?
    {
        Claimed::Done => return Ok(Intake::Duplicate),
        Claimed::InProgress => return Ok(Intake::InProgress),
        Claimed::Ours => {}
    }
    let blob_key = payload_key(source, endpoint, webhook_id);
    match store_and_dispatch(services, source, webhook_id, &blob_key, body, destination).await {
        Ok(()) => {
            let confirmed =
                claims::confirm(services.once.as_ref(), &receipt, RECEIPT_TTL, now).await;
            if let Err(e) = confirmed {
                // Kept and queued all the same; a retry after the hold queues it again, and
                // the import is idempotent.
                tracing::error!(
                    webhook = webhook_id,
                    error = format!("{e:#}"),
                    "confirming a delivery claim failed"
                );
            }
            Ok(Intake::Accepted)
        }
        Err(e) => {
            if let Err(release) = claims::release(services.once.as_ref(), &receipt).await {
                // The sender's retries are told to come back until the hold expires.
                tracing::error!(
                    webhook = webhook_id,
                    error = format!("{release:#}"),
                    "releasing a delivery claim failed"
                );
            }
            Err(e)
        }
    }
}

async fn store_and_dispatch(
    services: &Services,
    source: Source,
    webhook_id: &str,
    blob_key: &str,
    body: Bytes,
    destination: Destination<'_>,
) -> Result<()> {
    services
        .blobs
        .put(blob_key, body, "application/json")
        .await
        .context("storing the delivery's payload")?;
    let message = |connection_id: Option<ConnectionId>| {
        SyncMessage::Webhook(WebhookDelivery {
            connection_id,
            source,
            webhook_id: webhook_id.to_owned(),
            blob_key: blob_key.to_owned(),
            round: 0,
        })
    };
    match destination {
        Destination::Connections([only]) => services
            .sync_queue
            .send(&message(Some(only.clone())).to_body())
            .await
            .context("queueing the delivery"),
        Destination::Connections(many) => {
            let bodies: Vec<String> = many
                .iter()
                .map(|id| message(Some(id.clone())).to_body())
                .collect();
            services
                .sync_queue
                .send_batch(&bodies)
                .await
                .context("queueing the delivery")
        }
        Destination::Unmatched { route } => {
            hold_unmatched(services, source, route, &message(None)).await
        }
    }
}

/// Holds a webhook delivery (`message`) whose account (`route`) matches no connection. When a
/// connection with that route exists by the time it is held (it appeared meanwhile), it is
/// released to it at once: whichever of the two comes second sees the other.
pub async fn hold_unmatched(
    services: &Services,
    source: Source,
    route: &str,
    message: &SyncMessage,
) -> Result<()> {
    hold(services, &unmatched_holder(source, route), message).await?;
    let matching = services
        .connections
        .find_by_route_key(source, route)
        .await?;
    for connection in matching
        .iter()
        .filter(|c| c.status != ConnectionStatus::Disconnected)
    {
        release_unmatched_deliveries(services, connection).await?;
    }
    Ok(())
}

async fn hold(services: &Services, holder: &str, message: &SyncMessage) -> Result<()> {
    let SyncMessage::Webhook(delivery) = message else {
        anyhow::bail!("only webhook deliveries are held");
    };
    let expires_at = services.clock.now() + HOLD_TTL;
    services
        .deliveries
        .hold(holder, &delivery.webhook_id, &message.to_body(), expires_at)
        .await
        .context("holding the delivery")
}

/// Holds a webhook delivery (`message`) for a paused connection. When the connection is
/// no longer paused by the time it is held (resumed meanwhile), it is released at once:
/// whichever of the resume and this hold comes second sees the other.
pub async fn hold_while_paused(
    services: &Services,
    connection: &ConnectionId,
    message: &SyncMessage,
) -> Result<()> {
    hold(services, &paused_holder(connection), message).await?;
    let current = services.connections.get(connection).await?;
    if let Some(current) = current.filter(|c| c.status != ConnectionStatus::Paused) {
        release_held_deliveries(services, &current).await?;
    }
    Ok(())
}

/// Queues again every delivery held while `connection` was paused; call it when the
/// connection is resumed. The number queued.
pub async fn release_held_deliveries(
    services: &Services,
    connection: &Connection,
) -> Result<usize> {
    release(services, &paused_holder(&connection.id), &connection.id, 0).await
}

/// Queues, for `connection`, every delivery held because no connection's account was the one
/// it names; call it once the connection's route key is known (after connecting, or when a
/// sync learns it). The number queued; none without a route key.
pub async fn release_unmatched_deliveries(
    services: &Services,
    connection: &Connection,
) -> Result<usize> {
    let Some(route) = &connection.route_key else {
        return Ok(0);
    };
    release(
        services,
        &unmatched_holder(connection.source, route),
        &connection.id,
        0,
    )
    .await
}

/// The holder of deliveries that met the monthly import limit, kept for when it resets.
pub fn limit_holder(connection: &ConnectionId) -> String {
    format!("limit:{connection}")
}

/// How long a delivery left for later by the monthly limit is kept: past the next reset.
pub const LIMIT_HOLD_TTL: Span = Span::days(62);

/// Keeps a delivery (`message`) that met the monthly import limit, for `release_after_limit`.
pub async fn hold_until_limit_resets(
    services: &Services,
    connection: &ConnectionId,
    message: &SyncMessage,
) -> Result<()> {
    let SyncMessage::Webhook(delivery) = message else {
        anyhow::bail!("only webhook deliveries are held");
    };
    services
        .deliveries
        .hold(
            &limit_holder(connection),
            &delivery.webhook_id,
            &message.to_body(),
            services.clock.now() + LIMIT_HOLD_TTL,
        )
        .await
        .context("keeping the delivery for after the limit resets")
}

/// Queues again, each as a new round (its own job), the deliveries of `connection` that met
/// the monthly limit; call it when imports are possible again.
pub async fn release_after_limit(services: &Services, connection: &ConnectionId) -> Result<usize> {
    release(services, &limit_holder(connection), connection, 1).await
}

/// Takes each item held under `holder` (each is taken once, however many release at once)
/// and queues it for `target`, `next_round` rounds on; an item that cannot be queued is held
/// again.
async fn release(
    services: &Services,
    holder: &str,
    target: &ConnectionId,
    next_round: u32,
) -> Result<usize> {
    let now = services.clock.now();
    let mut queued = 0;
    for item in services.deliveries.held(holder, now).await? {
        let Some(value) = services
            .deliveries
            .take_held(holder, &item.key, now)
            .await?
        else {
            continue;
        };
        let message = match SyncMessage::parse(&value) {
            Ok(SyncMessage::Webhook(delivery)) => SyncMessage::Webhook(WebhookDelivery {
                connection_id: Some(target.clone()),
                round: delivery.round + next_round,
                ..delivery
            }),
            _ => {
                tracing::error!(
                    holder,
                    key = item.key,
                    "an unreadable held delivery was dropped"
                );
                continue;
            }
        };
        if let Err(e) = services.sync_queue.send(&message.to_body()).await {
            hold(services, holder, &message).await?;
            return Err(e).context("queueing a held delivery");
        }
        queued += 1;
    }
    if queued > 0 {
        tracing::info!(holder, connection = %target, queued, "held webhook deliveries queued");
    }
    Ok(queued)
}

/// The request's header names, lower-cased, sorted and without repeats: what the delivery
/// log keeps of the headers (values carry signatures).
pub fn header_names(headers: &http::HeaderMap) -> Vec<String> {
    let mut names: Vec<String> = headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Writes one attempt to the delivery log. A log write that fails must not turn a delivery
/// already taken in into a retry, so the failure is reported here, not returned.
pub async fn log_attempt(services: &Services, record: &DeliveryRecord) {
    if let Err(e) = services.deliveries.record(record).await {
        tracing::error!(
            webhook = record.webhook_id.as_deref().unwrap_or(""),
            status = ?record.status,
            error = format!("{e:#}"),
            "a webhook delivery could not be logged"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_name_their_payload_and_others_are_hashed_into_one_segment() {
        assert_eq!(
            payload_key(Source::Upload, Endpoint::App, "msg_2Kq8-Zk"),
            "webhooks/upload/app/msg_2Kq8-Zk.json"
        );
        let odd = ["../../etc/passwd", "a/b", "msg 1", "é", "msg.1"];
        let keys: std::collections::HashSet<String> = odd
            .iter()
            .map(|id| payload_key(Source::Upload, Endpoint::App, id))
            .collect();
        assert_eq!(keys.len(), odd.len(), "distinct ids, distinct keys");
        for key in &keys {
            let name = key.strip_prefix("webhooks/upload/app/sha256-").unwrap();
            assert!(!name.contains('/') && !name.contains(".."), "{key}");
        }
    }

    #[test]
    fn each_endpoint_keeps_its_own_receipts_and_payloads() {
        let (a, b) = (ConnectionId::new(), ConnectionId::new());
        let receipts: std::collections::HashSet<String> = [
            Endpoint::Connection(&a),
            Endpoint::Connection(&b),
            Endpoint::App,
        ]
        .into_iter()
        .map(|endpoint| receipt_key(Source::Upload, endpoint, "msg_1"))
        .collect();
        assert_eq!(receipts.len(), 3);
        assert_ne!(
            payload_key(Source::Upload, Endpoint::Connection(&a), "msg_1"),
            payload_key(Source::Upload, Endpoint::Connection(&b), "msg_1")
        );
    }

    #[test]
    fn unmatched_holders_are_per_route() {
        assert_ne!(
            unmatched_holder(Source::Upload, "ada@acme.test"),
            unmatched_holder(Source::Upload, "ada@acme.text")
        );
    }
}
