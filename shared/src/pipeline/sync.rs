//! Running a sync job: take the connection's lease, get a fresh credential, page through the
//! provider from the job's cursor, import each meeting, commit the cursor after each page, and
//! hand the rest to a continuation message when the invocation's deadline nears.

use super::activity;
use super::connect::learn_identity;
use super::connections::update_connection;
use super::credentials::{connector_of, credential, CredentialError};
use super::deliveries::{release_after_limit, release_unmatched_deliveries};
use super::media::{prepare, Prepared};
use super::messages::SyncMessage;
use super::persist::{import_meeting, ImportOutcome};
use super::upload_import::quota_exhausted;
use crate::connectors::{
    AccountIdentity, Connector, ConnectorError, Credential, ListPurpose, ListRequest,
    ListedMeeting, MeetingPage,
};
use crate::domain::{
    ActivityAction, Connection, ConnectionId, ConnectionStatus, ExternalId, FailedItem, JobId,
    JobKind, JobStatus, SyncCheckpoint, SyncJob, Tenant, MONTHLY_LIMIT_REACHED,
};
use crate::services::Services;
use anyhow::{Context, Result};
use chrono::{DateTime, Duration as Span, Utc};
use std::collections::HashSet;
use std::time::Duration;

/// How far before the watermark an incremental sync starts, for meetings that appear late.
pub const OVERLAP: Span = Span::hours(2);
/// A sync's hold on its connection by default (`Config::sync_lease`); renewed before every page.
pub const SYNC_LEASE: Span = Span::minutes(5);
/// Stop starting pages this long before the invocation's deadline.
pub const DEADLINE_MARGIN: Span = Span::seconds(60);
/// When another sync holds the connection, look again after this (or after the lease, if
/// shorter: by then a stopped worker's hold has expired).
const BUSY_RETRY: Duration = Duration::from_secs(30);
/// Failures in a row after which a connection shows `error` and scheduled syncs back off.
pub const FAILURES_BEFORE_ERROR: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// The job reached an end (completed, with errors, or failed for good).
    Finished,
    /// The deadline neared: the rest is queued as a continuation.
    Continued,
    /// Another sync holds the connection: the job is queued again for later.
    Requeued,
    /// Nothing to do (unknown or already finished job).
    Ignored,
}

/// Whether a failure is worth retrying the message for.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct TransientSyncError(#[from] pub anyhow::Error);

/// Runs (or continues) `job_id` until it finishes or `deadline` nears. `Err` means the
/// message should be retried by the queue; permanent failures are recorded on the job. Every
/// log line of the run names the job.
#[tracing::instrument(name = "job", skip_all, fields(job_id = %job_id))]
pub async fn run_sync_job(
    services: &Services,
    member: &Tenant,
    job_id: &JobId,
    deadline: DateTime<Utc>,
) -> Result<RunOutcome, TransientSyncError> {
    run_sync_job_as(services, member, job_id, deadline, run_owner(job_id)).await
}

/// The sync lease's owner for one run of `job`: the job id plus a fresh id. A message comes
/// back after its visibility timeout while its first worker may still be on the job; with
/// the job id alone it would take the lease as its own and run the job a second time (the
/// stale run's saves then overwrite the finished job). Unique per run, a second delivery finds
/// the connection busy and is queued again, and a crashed run's lease simply expires.
pub fn run_owner(job_id: &JobId) -> String {
    format!("{job_id}:{}", uuid::Uuid::new_v4().simple())
}

/// `run_sync_job` for a caller that holds (or is to take) the lease as `owner`.
pub async fn run_sync_job_as(
    services: &Services,
    member: &Tenant,
    job_id: &JobId,
    deadline: DateTime<Utc>,
    owner: String,
) -> Result<RunOutcome, TransientSyncError> {
    let Some(mut job) = services.jobs.get(member, job_id).await? else {
        tracing::warn!(job = %job_id, "sync message for an unknown job");
        return Ok(RunOutcome::Ignored);
    };
    if job.status.is_finished() {
        return Ok(RunOutcome::Ignored);
    }
    let connection = match services.connections.find(member, job.source).await? {
        Some(c) if c.status != ConnectionStatus::Disconnected => c,
        _ => return finish_failed(services, &mut job, "this source is not connected").await,
    };
    if connection.status == ConnectionStatus::Paused {
        return finish_failed(services, &mut job, "syncing is paused for this source").await;
    }
    let lease = sync_lease(&connection.id);
    let now = services.clock.now();
    if !services
        .leases
        .acquire(&lease, &owner, now + services.config.sync_lease, now)
        .await?
    {
        let retry = services
            .config
            .sync_lease
            .to_std()
            .map_or(BUSY_RETRY, |lease| lease.min(BUSY_RETRY));
        services
            .sync_queue
            .send_delayed(&SyncMessage::run(&job).to_body(), retry)
            .await?;
        return Ok(RunOutcome::Requeued);
    }
    // Deliveries that met the monthly limit go again once imports are possible.
    if quota_exhausted(services, &member.workspace)
        .await?
        .is_none()
    {
        release_after_limit(services, &connection.id).await?;
    }
    let mut run = SyncRun {
        services,
        job,
        connection,
        lease,
        owner,
        deadline,
    };
    let outcome = run.run().await;
    services.leases.release(&run.lease, &run.owner).await?;
    if let Err(e) = &outcome {
        record_failure(services, &run.connection, &format!("{:#}", e.0)).await?;
    }
    outcome
}

/// The lease that makes syncs of one connection take turns.
pub fn sync_lease(connection: &ConnectionId) -> String {
    format!("sync:{connection}")
}

async fn finish_failed(
    services: &Services,
    job: &mut SyncJob,
    reason: &str,
) -> Result<RunOutcome, TransientSyncError> {
    job.fail(reason, services.clock.now());
    services.jobs.put(job).await?;
    super::outbound::sync_completed(services, job).await?;
    Ok(RunOutcome::Finished)
}

/// Counts a failed sync on the connection: after `FAILURES_BEFORE_ERROR` in a row it shows
/// `error` and scheduled syncs back off 1 h, 2 h, 4 h, ... up to 24 h.
pub async fn record_failure(
    services: &Services,
    connection: &Connection,
    reason: &str,
) -> Result<()> {
    let now = services.clock.now();
    update_connection(services.connections.as_ref(), &connection.id, |c| {
        c.consecutive_failures += 1;
        c.last_error = Some(reason.to_owned());
        if c.consecutive_failures >= FAILURES_BEFORE_ERROR {
            if c.status == ConnectionStatus::Active {
                c.status = ConnectionStatus::Error;
            }
            let doublings = (c.consecutive_failures - FAILURES_BEFORE_ERROR).min(5);
            let backoff = Span::hours(1 << doublings).min(Span::hours(24));
            c.next_sync_after = Some(now + backoff);
        }
        c.updated_at = now;
    })
    .await?;
    let message = format!("sync failed: {reason}");
    activity::record(
        services,
        connection,
        ActivityAction::SyncFailed,
        None,
        message,
    )
    .await;
    Ok(())
}

/// How a provider failure stops the page loop: a dead credential asks for the user, a
/// transient one fails the message so the queue retries it, anything else ends the job.
fn stop_for(connector: &dyn Connector, error: ConnectorError) -> Result<Option<Stop>> {
    if error.needs_reauth() {
        let name = connector.name();
        Ok(Some(Stop::NeedsReauth(format!(
            "{name} refused the stored credential; connect {name} again"
        ))))
    } else if error.is_transient() {
        Err(anyhow::Error::new(error).context(format!("listing {} meetings", connector.name())))
    } else {
        Ok(Some(Stop::Permanent(error.to_string())))
    }
}

struct SyncRun<'a> {
    services: &'a Services,
    job: SyncJob,
    connection: Connection,
    lease: String,
    owner: String,
    deadline: DateTime<Utc>,
}

/// Why the page loop stopped early.
enum Stop {
    Deadline,
    NeedsReauth(String),
    Permanent(String),
}

impl SyncRun<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.services.clock.now()
    }

    /// A whole sync covers every meeting of its window (not a selection): it moves the
    /// connection's checkpoint and watermark.
    fn is_whole(&self) -> bool {
        self.job.scope.external_ids.is_empty()
    }

    async fn save_job(&mut self) -> Result<()> {
        self.job.updated_at = self.now();
        self.services.jobs.put(&self.job).await
    }

    async fn run(&mut self) -> Result<RunOutcome, TransientSyncError> {
        let connector = match connector_of(self.services, &self.connection).await {
            Ok(connector) => connector,
            Err(CredentialError::NeedsReauth(reason)) => return self.needs_reauth(&reason).await,
            Err(CredentialError::Transient(e)) => return Err(e.into()),
        };
        let credential = match credential(self.services, &self.connection.id).await {
            Ok(c) => c,
            Err(CredentialError::NeedsReauth(reason)) => return self.needs_reauth(&reason).await,
            Err(CredentialError::Transient(e)) => return Err(e.into()),
        };
        if self.connection.route_key.is_none() {
            match connector.identify(&credential).await {
                Ok(Some(identity)) => self.learn(&identity).await?,
                Ok(None) => {}
                Err(e) if e.needs_reauth() => return self.needs_reauth(&e.to_string()).await,
                Err(e) => {
                    tracing::warn!(connection = %self.connection.id, error = %e, "the account could not be identified")
                }
            }
        }
        if self.job.status == JobStatus::Queued {
            self.start_window();
            self.job.status = JobStatus::Running;
            self.save_job().await?;
        }
        match self.pages(connector, &credential).await? {
            None => self.finish().await,
            Some(Stop::Deadline) => {
                self.save_job().await?;
                self.services
                    .sync_queue
                    .send(&SyncMessage::run(&self.job).to_body())
                    .await
                    .context("queueing the continuation")?;
                tracing::info!(job = %self.job.id, "deadline near: continuation queued");
                Ok(RunOutcome::Continued)
            }
            Some(Stop::NeedsReauth(reason)) => self.needs_reauth(&reason).await,
            Some(Stop::Permanent(reason)) => {
                record_failure(self.services, &self.connection, &reason).await?;
                finish_failed(self.services, &mut self.job, &reason).await
            }
        }
    }

    /// Fixes the job's window on its first run: a scheduled or initial sync resumes an
    /// interrupted one from the connection's checkpoint; a scheduled one otherwise starts an
    /// overlap before the watermark.
    fn start_window(&mut self) {
        let resumable = matches!(self.job.kind, JobKind::Scheduled | JobKind::Initial);
        if let (true, Some(checkpoint)) = (resumable, &self.connection.sync_checkpoint) {
            self.job.cursor = Some(checkpoint.cursor.clone());
            self.job.scope.created_after = checkpoint.created_after;
            self.job.scope.created_before = checkpoint.created_before;
        } else if self.job.kind == JobKind::Scheduled && self.job.scope.created_after.is_none() {
            self.job.scope.created_after = self.connection.sync_watermark.map(|w| w - OVERLAP);
        }
    }

    /// Pages until the listing ends (`None`) or something stops it.
    async fn pages(
        &mut self,
        connector: &dyn Connector,
        credential: &Credential,
    ) -> Result<Option<Stop>> {
        let wanted: HashSet<ExternalId> = self.job.scope.external_ids.iter().cloned().collect();
        let mut found: HashSet<ExternalId> = HashSet::new();
        if !wanted.is_empty() {
            self.job.progress.total = Some(wanted.len() as u64);
        }
        loop {
            let now = self.now();
            if now + DEADLINE_MARGIN >= self.deadline {
                return Ok(Some(Stop::Deadline));
            }
            if !self
                .services
                .leases
                .acquire(
                    &self.lease,
                    &self.owner,
                    now + self.services.config.sync_lease,
                    now,
                )
                .await?
            {
                anyhow::bail!("lost the sync lease of connection {}", self.connection.id);
            }
            let request = ListRequest {
                position: self.job.cursor.clone(),
                created_after: self.job.scope.created_after,
                created_before: self.job.scope.created_before,
                purpose: ListPurpose::Sync,
            };
            let page = match connector.list(credential, &request).await {
                Ok(page) => page,
                Err(e) => return stop_for(connector, e),
            };
            if let (true, Some(remaining)) = (wanted.is_empty(), page.remaining) {
                // Entries of this page done before an interruption are counted already.
                let before_page = self
                    .job
                    .progress
                    .current
                    .saturating_sub(self.job.page_done.len() as u64);
                self.job.progress.total = Some(before_page + remaining);
            }
            if let Some(stop) = self
                .import_page(connector, credential, &page, &wanted, &mut found)
                .await?
            {
                return Ok(Some(stop));
            }
            self.commit_page(page.next_position.clone()).await?;
            let all_found = !wanted.is_empty() && found.len() == wanted.len();
            if page.next_position.is_none() || all_found {
                for missing in wanted.difference(&found) {
                    self.fail_item(missing, None, format!("not found in {}", connector.name()));
                }
                return Ok(None);
            }
        }
    }

    async fn import_page(
        &mut self,
        connector: &dyn Connector,
        credential: &Credential,
        page: &MeetingPage,
        wanted: &HashSet<ExternalId>,
        found: &mut HashSet<ExternalId>,
    ) -> Result<Option<Stop>> {
        if self.connection.route_key.is_none() {
            if let Some(identity) = connector.identify_from_page(page) {
                self.learn(&identity).await?;
            }
        }
        for meeting in &page.items {
            let external_id = &meeting.external_id;
            if !wanted.is_empty() && !wanted.contains(external_id) {
                continue;
            }
            found.insert(external_id.clone());
            if self.job.page_done.contains(external_id) {
                continue;
            }
            let left_for_later = self.job.counts.not_imported;
            if let Some(stop) = self.import_one(connector, credential, meeting).await? {
                return Ok(Some(stop));
            }
            // A meeting left for later (the monthly limit) must not move the watermark past it.
            if self.job.counts.not_imported == left_for_later {
                self.job.newest_created_at =
                    self.job.newest_created_at.max(Some(meeting.created_at));
            }
            self.job.page_done.push(external_id.clone());
            self.job.progress.current += 1;
            self.save_job().await?;
        }
        for (id, reason) in &page.undecodable {
            if let Some(external_id) = id {
                if wanted.is_empty() || wanted.contains(external_id) {
                    self.fail_item(external_id, None, reason.clone());
                }
            }
        }
        Ok(None)
    }

    async fn import_one(
        &mut self,
        connector: &dyn Connector,
        credential: &Credential,
        meeting: &ListedMeeting,
    ) -> Result<Option<Stop>> {
        let services = self.services;
        let external_id = &meeting.external_id;
        let stored = services
            .recordings
            .find_by_key(&self.job.owner(), connector.source(), external_id)
            .await?;
        if let Some(stored) =
            stored.filter(|r| r.source_fingerprint.as_deref() == Some(meeting.fingerprint.as_str()))
        {
            // Stored by this very job before a crash or redelivery: its own import.
            if stored.imported_by_job(&self.job.id) {
                self.job.counts.imported += 1;
            } else {
                self.job.counts.skipped += 1;
            }
            return Ok(None);
        }
        let prepared = match connector.fetch(credential, meeting).await {
            Ok(fetched) => {
                let (owner, sharing) = (self.job.owner(), self.connection.sharing);
                let fingerprint = Some(meeting.fingerprint.as_str());
                prepare(
                    services,
                    connector,
                    credential,
                    &owner,
                    sharing,
                    fetched,
                    fingerprint,
                )
                .await
            }
            Err(e) => Err(e),
        };
        let content = match prepared {
            Ok(Prepared::Content(content)) => *content,
            Ok(Prepared::Transcribing) => {
                self.job.counts.transcribing += 1;
                self.item_done(external_id);
                return Ok(None);
            }
            Ok(Prepared::Transcribed) => {
                self.job.counts.skipped += 1;
                self.item_done(external_id);
                return Ok(None);
            }
            Ok(Prepared::LimitReached { .. }) => {
                self.left_for_later(meeting);
                self.item_done(external_id);
                return Ok(None);
            }
            Err(e) if e.needs_reauth() => return stop_for(connector, e),
            Err(e) => {
                self.fail_item(external_id, Some(&meeting.title), e.to_string());
                return Ok(None);
            }
        };
        let result = import_meeting(
            services,
            &self.job.owner(),
            self.connection.sharing,
            content,
            Some(meeting.fingerprint.clone()),
            &self.job.id,
        )
        .await?;
        match result.outcome {
            ImportOutcome::Imported => self.job.counts.imported += 1,
            ImportOutcome::Updated => self.job.counts.updated += 1,
            ImportOutcome::Unchanged => self.job.counts.skipped += 1,
            ImportOutcome::QuotaReached => self.left_for_later(meeting),
        }
        self.item_done(external_id);
        Ok(None)
    }

    /// The monthly limit is reached: the meeting waits for the first sync after it resets.
    fn left_for_later(&mut self, meeting: &ListedMeeting) {
        self.job.counts.not_imported += 1;
        self.job.not_imported_items.push(FailedItem::new(
            meeting.external_id.clone(),
            Some(meeting.title.clone()),
            MONTHLY_LIMIT_REACHED,
        ));
        self.job.oldest_not_imported_at = Some(
            self.job
                .oldest_not_imported_at
                .map_or(meeting.created_at, |oldest| oldest.min(meeting.created_at)),
        );
    }

    /// The meeting is handled: a failure an earlier job recorded for it is gone.
    fn item_done(&mut self, external_id: &ExternalId) {
        self.job
            .failed_items
            .retain(|f| &f.external_id != external_id);
    }

    fn fail_item(&mut self, external_id: &ExternalId, title: Option<&str>, reason: String) {
        self.job.counts.failed += 1;
        self.job.failed_items.push(FailedItem::new(
            external_id.clone(),
            title.map(str::to_owned),
            reason,
        ));
    }

    /// Records who the account is, and queues app-level deliveries that waited for it.
    async fn learn(&mut self, identity: &AccountIdentity) -> Result<()> {
        let now = self.now();
        self.connection = update_connection(
            self.services.connections.as_ref(),
            &self.connection.id,
            |c| {
                learn_identity(c, identity);
                c.updated_at = now;
            },
        )
        .await?;
        let released = release_unmatched_deliveries(self.services, &self.connection).await?;
        if released > 0 {
            tracing::info!(connection = %self.connection.id, released, "unmatched webhook deliveries queued");
        }
        Ok(())
    }

    /// The page's meetings are stored: move the cursor, and for a whole sync the connection's
    /// checkpoint, so an interrupted run resumes after this page.
    async fn commit_page(&mut self, next_cursor: Option<String>) -> Result<()> {
        self.job.cursor = next_cursor.clone();
        self.job.page_done.clear();
        self.save_job().await?;
        if self.is_whole() && matches!(self.job.kind, JobKind::Scheduled | JobKind::Initial) {
            let checkpoint = next_cursor.map(|cursor| SyncCheckpoint {
                cursor,
                created_after: self.job.scope.created_after,
                created_before: self.job.scope.created_before,
            });
            let now = self.now();
            self.connection = update_connection(
                self.services.connections.as_ref(),
                &self.connection.id,
                |c| {
                    c.sync_checkpoint = checkpoint.clone();
                    c.updated_at = now;
                },
            )
            .await?;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<RunOutcome, TransientSyncError> {
        let now = self.now();
        self.job.progress.total = Some(self.job.progress.current);
        self.job.finish(now);
        self.save_job().await?;
        let whole = self.is_whole();
        let newest = self.job.newest_created_at;
        let left_for_later = self.job.oldest_not_imported_at;
        update_connection(
            self.services.connections.as_ref(),
            &self.connection.id,
            |c| {
                if whole {
                    c.sync_checkpoint = None;
                    let reached = c.sync_watermark.max(newest);
                    // Just before the oldest meeting left for later, even if that moves the
                    // watermark back: the next sync lists it again and imports it once the
                    // limit resets.
                    c.sync_watermark = match left_for_later {
                        Some(oldest) => reached.map(|w| w.min(oldest - Span::milliseconds(1))),
                        None => reached,
                    };
                }
                c.last_sync_at = Some(now);
                c.consecutive_failures = 0;
                c.next_sync_after = None;
                c.last_error = None;
                if c.status == ConnectionStatus::Error {
                    c.status = ConnectionStatus::Active;
                }
                c.updated_at = now;
            },
        )
        .await?;
        super::outbound::sync_completed(self.services, &self.job).await?;
        tracing::info!(job = %self.job.id, summary = self.job.summary.as_deref().unwrap_or(""), "sync finished");
        Ok(RunOutcome::Finished)
    }

    async fn needs_reauth(&mut self, reason: &str) -> Result<RunOutcome, TransientSyncError> {
        let now = self.now();
        update_connection(
            self.services.connections.as_ref(),
            &self.connection.id,
            |c| {
                c.status = ConnectionStatus::NeedsReauth;
                c.last_error = Some(reason.to_owned());
                c.updated_at = now;
            },
        )
        .await?;
        activity::record(
            self.services,
            &self.connection,
            ActivityAction::NeedsReauth,
            None,
            reason,
        )
        .await;
        finish_failed(self.services, &mut self.job, reason).await
    }
}
