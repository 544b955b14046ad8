//! The hourly schedule: fan one message out per connection that is due, and run each as an
//! incremental sync at most once per tick.

use super::messages::SyncMessage;
use super::sync::{run_sync_job, sync_lease, RunOutcome, TransientSyncError, SYNC_LEASE};
use crate::domain::{ConnectionId, JobKind, JobStatus, Source, SyncJob, UserId};
use crate::services::Services;
use anyhow::Result;
use chrono::{DateTime, Duration as Span, Utc};

/// Connections read per page while fanning out.
const PAGE: usize = 100;
/// SQS takes at most 10 messages per batch call.
const BATCH: usize = 10;
/// How long a tick's claim on a connection is remembered (well past any redelivery).
const TICK_CLAIM: Span = Span::days(2);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FanOut {
    /// Connections that are due and got a message.
    pub queued: usize,
    /// Connections skipped: paused, needing the user, or backing off after failures.
    pub skipped: usize,
    /// Batch sends made.
    pub batches: usize,
}

/// A tick's name: the schedule's time to the second, the same for every delivery of one
/// scheduled event.
pub fn tick_name(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Sends one `Scheduled` message per due connection, in batches of ten.
pub async fn fan_out(services: &Services, tick: &str) -> Result<FanOut> {
    let now = services.clock.now();
    let mut result = FanOut::default();
    let mut cursor: Option<String> = None;
    // Carried across pages so every batch but the last is full.
    let mut pending: Vec<String> = Vec::with_capacity(BATCH);
    loop {
        let page = services
            .connections
            .list_all(cursor.as_deref(), PAGE)
            .await?;
        for connection in &page.items {
            if !connection.is_due(now) {
                result.skipped += 1;
                continue;
            }
            pending.push(
                SyncMessage::Scheduled {
                    connection_id: connection.id.clone(),
                    tick: tick.to_owned(),
                }
                .to_body(),
            );
            if pending.len() == BATCH {
                send(services, &mut pending, &mut result).await?;
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if !pending.is_empty() {
        send(services, &mut pending, &mut result).await?;
    }
    Ok(result)
}

async fn send(services: &Services, batch: &mut Vec<String>, result: &mut FanOut) -> Result<()> {
    services.sync_queue.send_batch(batch).await?;
    result.batches += 1;
    result.queued += batch.len();
    batch.clear();
    Ok(())
}

/// Jobs left `running` by a worker that died (their lease long expired) end as failed; the
/// sync that follows resumes from the connection's checkpoint.
async fn fail_interrupted_jobs(
    services: &Services,
    user: &UserId,
    source: Source,
    now: DateTime<Utc>,
) -> Result<()> {
    for mut job in services.jobs.list(user, Some(source), 20).await? {
        if job.status == JobStatus::Running && job.updated_at + SYNC_LEASE < now {
            job.fail(
                "interrupted; the next sync resumed from where it stopped",
                now,
            );
            services.jobs.put(&job).await?;
        }
    }
    Ok(())
}

/// Runs the scheduled sync of one connection for `tick`, once: a tick delivered twice finds
/// its claim taken. A transient failure gives the claim back so the queue's retry runs it.
pub async fn run_scheduled(
    services: &Services,
    connection_id: &ConnectionId,
    tick: &str,
    deadline: DateTime<Utc>,
) -> Result<RunOutcome, TransientSyncError> {
    let now = services.clock.now();
    let claim = format!("tick:{connection_id}:{tick}");
    let Some(connection) = services.connections.get(connection_id).await? else {
        return Ok(RunOutcome::Ignored);
    };
    if !connection.is_due(now) {
        return Ok(RunOutcome::Ignored);
    }
    let mut job = SyncJob::new(
        connection.user_id.clone(),
        connection.source,
        JobKind::Scheduled,
        now,
    );
    if !services
        .once
        .insert_if_absent(&claim, job.id.as_str(), now + TICK_CLAIM, now)
        .await?
    {
        tracing::info!(connection = %connection_id, tick, "tick already handled");
        return Ok(RunOutcome::Ignored);
    }
    // A sync of this connection is under way: it brings the new meetings in; skip the tick.
    let lease = sync_lease(connection_id);
    if !services
        .leases
        .acquire(&lease, job.id.as_str(), now + SYNC_LEASE, now)
        .await?
    {
        tracing::info!(connection = %connection_id, tick, "a sync is already running");
        return Ok(RunOutcome::Ignored);
    }
    fail_interrupted_jobs(services, &connection.user_id, connection.source, now).await?;
    services.jobs.put(&job).await?;
    match run_sync_job(services, &connection.user_id, &job.id, deadline).await {
        Err(e) => {
            // This attempt's job ends here; the retry starts a new one from the checkpoint.
            job = services
                .jobs
                .get(&connection.user_id, &job.id)
                .await?
                .unwrap_or(job);
            job.fail(&format!("interrupted: {:#}", e.0), services.clock.now());
            services.jobs.put(&job).await?;
            services.once.remove(&claim).await?;
            Err(e)
        }
        ok => ok,
    }
}
