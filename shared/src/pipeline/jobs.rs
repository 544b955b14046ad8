//! Creating a job and handing it to the sync queue.

use super::messages::SyncMessage;
use crate::domain::{JobId, JobKind, Source, SyncJob, SyncScope, Tenant};
use crate::services::Services;
use anyhow::{Context, Result};

/// Stores a queued job and sends it to the sync queue. When the send fails the job is
/// marked failed (nothing will run it) and the error returned, so the caller can answer 503.
pub async fn start_sync_job(
    services: &Services,
    owner: &Tenant,
    source: Source,
    kind: JobKind,
    scope: SyncScope,
) -> Result<SyncJob> {
    start_job(services, owner, source, kind, scope, |_| {}).await
}

/// How long a job's sent mark is kept: past it, a job still queued is taken for lost.
const SENT_MARK_KEPT: chrono::Duration = chrono::Duration::days(7);

/// The once-store key saying job `id`'s message was queued.
pub fn sent_mark(id: &JobId) -> String {
    format!("job-sent:{id}")
}

/// `start_sync_job`, with `prepare` filling in more of the job before it is stored.
pub async fn start_job(
    services: &Services,
    owner: &Tenant,
    source: Source,
    kind: JobKind,
    scope: SyncScope,
    prepare: impl FnOnce(&mut SyncJob),
) -> Result<SyncJob> {
    let now = services.clock.now();
    let mut job = SyncJob::new(owner.clone(), source, kind, now);
    job.scope = scope;
    prepare(&mut job);
    services.jobs.put(&job).await?;
    let message = SyncMessage::run(&job);
    if let Err(e) = services.sync_queue.send(&message.to_body()).await {
        job.fail(
            "the job could not be queued; try again",
            services.clock.now(),
        );
        services.jobs.put(&job).await?;
        return Err(e).context("queueing a sync job");
    }
    // Kept apart from the job, which its worker may be saving already: a job still queued
    // without this mark was left by a worker that stopped before sending its message, and the
    // connection's next scheduled run fails it (`schedule`).
    let now = services.clock.now();
    if let Err(e) = services
        .once
        .put(&sent_mark(&job.id), "sent", now + SENT_MARK_KEPT)
        .await
    {
        tracing::warn!(job = %job.id, error = format!("{e:#}"), "a job's sent mark was not stored");
    }
    Ok(job)
}

/// Ends a job that cannot go on (its message is about to be dead-lettered) as failed with
/// `reason`; a finished or unknown job is left alone.
pub async fn give_up_job(
    services: &Services,
    owner: &Tenant,
    job_id: &JobId,
    reason: &str,
) -> Result<()> {
    let Some(mut job) = services.jobs.get(owner, job_id).await? else {
        return Ok(());
    };
    if job.status.is_finished() {
        return Ok(());
    }
    job.fail(reason, services.clock.now());
    services.jobs.put(&job).await
}
