//! The hourly schedule: fan one message out per connection that is due, and run each as an
//! incremental sync at most once per tick.

use super::claims::{self, Claimed};
use super::messages::SyncMessage;
use super::sync::{run_owner, run_sync_job_as, sync_lease, RunOutcome, TransientSyncError};
use crate::domain::{ConnectionId, JobKind, JobStatus, Source, SyncJob, Tenant};
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

/// How long an unfinished job may go without saving before the hourly sweep asks whether its
/// worker died: an invocation stops within 15 minutes and a retried message comes back within
/// its visibility timeout, each saving the job, so an hour of silence means no one is on it.
pub const STALE_JOB: Span = Span::hours(1);
/// Jobs read per page by the sweeps.
pub const SWEEP_PAGE: usize = 100;

/// Fails every job a worker that died left unfinished (running, a scheduled job it never
/// started, a job it stored but never sent the message of), whatever its connection's state
/// (paused, disconnected, backing off): no job shows as current for ever. Uploads are left
/// to their own retries, which end them, and queued jobs whose message was sent to their
/// worker. The number failed.
pub async fn sweep_stuck_jobs(services: &Services) -> Result<usize> {
    let now = services.clock.now();
    let mut failed = 0;
    let mut cursor = None;
    loop {
        let page = services
            .jobs
            .list_unfinished_before(now - STALE_JOB, cursor.as_deref(), SWEEP_PAGE)
            .await?;
        for mut job in page.items {
            if job.kind == JobKind::Upload || !is_abandoned(services, &job, now).await? {
                continue;
            }
            job.fail(&interrupted(&job), now);
            services.jobs.put(&job).await?;
            failed += 1;
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(failed),
        }
    }
}

/// Whether no worker will finish `job`, saved past the time a live one saves in: a worker
/// had it in hand (`SyncJob::is_in_hand`), or it is queued without the mark its message's
/// sending leaves (its worker stopped before sending it).
async fn is_abandoned(services: &Services, job: &SyncJob, now: DateTime<Utc>) -> Result<bool> {
    if job.is_in_hand() {
        return Ok(true);
    }
    Ok(job.status == JobStatus::Queued
        && services
            .once
            .get(&super::jobs::sent_mark(&job.id), now)
            .await?
            .is_none())
}

/// Why a job whose worker stopped ended.
fn interrupted(job: &SyncJob) -> String {
    format!(
        "interrupted: the worker stopped (last progress {}); the next sync resumes where it stopped",
        job.updated_at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// How many of a connection's newest jobs its scheduled run looks at for one whose worker
/// died; older ones it finds among the first page of unfinished jobs of every user, and the
/// hourly sweep among all of them.
pub const RECENT_JOBS_SWEPT: usize = 100;

/// Jobs a worker that died left unfinished (their lease long expired) end as failed; the
/// sync that follows resumes from the connection's checkpoint.
async fn fail_interrupted_jobs(
    services: &Services,
    owner: &Tenant,
    source: Source,
    now: DateTime<Utc>,
) -> Result<()> {
    let cutoff = now - services.config.sync_lease;
    // The owner's newest jobs alone miss a dead one behind many newer (a webhook delivery is a
    // job each): the unfinished jobs silent past the lease, of every user, are few (dead
    // workers, and messages waiting their turn), so they are read too and this connection's
    // taken from them.
    let newest = services
        .jobs
        .list(owner, Some(source), RECENT_JOBS_SWEPT)
        .await?;
    let stale = services
        .jobs
        .list_unfinished_before(cutoff, None, SWEEP_PAGE)
        .await?;
    let behind: Vec<SyncJob> = stale
        .items
        .into_iter()
        .filter(|job| &job.owner() == owner && job.source == source)
        .filter(|job| !newest.iter().any(|j| j.id == job.id))
        .collect();
    for mut job in newest.into_iter().chain(behind) {
        if job.updated_at >= cutoff || !is_abandoned(services, &job, now).await? {
            continue;
        }
        job.fail(&interrupted(&job), now);
        services.jobs.put(&job).await?;
    }
    Ok(())
}

/// Runs the scheduled sync of one connection for `tick`, once: a tick delivered twice finds
/// its claim taken. The claim is provisional until the run ends (a worker that dies leaves
/// one that expires with its invocation, so the redelivered message runs the tick), and a
/// transient failure gives it back so the queue's retry runs it.
pub async fn run_scheduled(
    services: &Services,
    connection_id: &ConnectionId,
    tick: &str,
    deadline: DateTime<Utc>,
) -> Result<RunOutcome, TransientSyncError> {
    let now = services.clock.now();
    let claim_key = format!("tick:{connection_id}:{tick}");
    let Some(connection) = services.connections.get(connection_id).await? else {
        return Ok(RunOutcome::Ignored);
    };
    if !connection.is_due(now) {
        return Ok(RunOutcome::Ignored);
    }
    let once = services.once.as_ref();
    let hold = (deadline - now).max(services.config.sync_lease) + Span::minutes(1);
    match claims::claim(once, &claim_key, hold, now).await? {
        Claimed::Ours => {}
        Claimed::Done | Claimed::InProgress => {
            tracing::info!(connection = %connection_id, tick, "tick already handled");
            return Ok(RunOutcome::Ignored);
        }
    }
    let owner = connection.owner();
    let mut job = SyncJob::new(owner.clone(), connection.source, JobKind::Scheduled, now);
    // A sync of this connection is under way: it brings the new meetings in; skip the tick.
    let lease = sync_lease(connection_id);
    // The run keeps this lease under the same owner, unique to this run.
    let lease_owner = run_owner(&job.id);
    if !services
        .leases
        .acquire(&lease, &lease_owner, now + services.config.sync_lease, now)
        .await?
    {
        tracing::info!(connection = %connection_id, tick, "a sync is already running");
        claims::confirm(once, &claim_key, TICK_CLAIM, now).await?;
        return Ok(RunOutcome::Ignored);
    }
    fail_interrupted_jobs(services, &owner, connection.source, now).await?;
    services.jobs.put(&job).await?;
    match run_sync_job_as(services, &owner, &job.id, deadline, lease_owner).await {
        Err(e) => {
            // This attempt's job ends here; the retry starts a new one from the checkpoint.
            job = services.jobs.get(&owner, &job.id).await?.unwrap_or(job);
            job.fail(&format!("interrupted: {:#}", e.0), services.clock.now());
            services.jobs.put(&job).await?;
            claims::release(once, &claim_key).await?;
            Err(e)
        }
        Ok(outcome) => {
            claims::confirm(once, &claim_key, TICK_CLAIM, services.clock.now()).await?;
            Ok(outcome)
        }
    }
}
