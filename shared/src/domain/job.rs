//! A unit of import work a user can watch.

use super::ids::{ExternalId, JobId, Source, UserId, WorkspaceId};
use super::tenant::Tenant;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How long a finished job stays listed before it expires (DynamoDB TTL in AWS; the dev
/// server purges the embedded backend).
pub const JOB_RETENTION: chrono::Duration = chrono::Duration::days(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Manual,
    Initial,
    Scheduled,
    Webhook,
    Upload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Completed,
    CompletedWithErrors,
    Failed,
}

impl JobStatus {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::CompletedWithErrors | JobStatus::Failed
        )
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub current: u64,
    pub total: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub imported: u64,
    pub updated: u64,
    /// Stored already and unchanged.
    pub skipped: u64,
    pub failed: u64,
    /// Left for later because the monthly import limit was reached: retryable, and picked up
    /// by the first sync after the limit resets.
    #[serde(default)]
    pub not_imported: u64,
    /// Recordings that came without a transcript and were handed to transcription: each is
    /// imported by its own upload job once its media is transcribed.
    #[serde(default)]
    pub transcribing: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedItem {
    pub external_id: ExternalId,
    /// The meeting's title when it was known (listed, or fetched before it failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub reason: String,
}

impl FailedItem {
    pub fn new(external_id: ExternalId, title: Option<String>, reason: impl Into<String>) -> Self {
        FailedItem {
            external_id,
            title,
            reason: reason.into(),
        }
    }
}

/// What a sync job covers: selected meetings, a creation-time window, or everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncScope {
    /// Only these meetings (empty: every meeting in the window).
    #[serde(default)]
    pub external_ids: Vec<ExternalId>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncJob {
    pub id: JobId,
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub source: Source,
    pub kind: JobKind,
    pub status: JobStatus,
    pub progress: Progress,
    pub counts: Counts,
    pub failed_items: Vec<FailedItem>,
    /// Meetings left for later because the monthly import limit was reached.
    #[serde(default, alias = "skipped_items")]
    pub not_imported_items: Vec<FailedItem>,
    /// Creation time of the oldest meeting left for later: the connection's watermark stays
    /// before it, so the next sync lists it again.
    #[serde(default)]
    pub oldest_not_imported_at: Option<DateTime<Utc>>,
    /// The job whose failed items this one retries.
    #[serde(default)]
    pub retry_of: Option<JobId>,
    pub summary: Option<String>,
    #[serde(default)]
    pub scope: SyncScope,
    /// Provider cursor of the next page to fetch; `None` before the first page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Meetings of the current page already handled, so a retried page counts nothing twice.
    #[serde(default)]
    pub page_done: Vec<ExternalId>,
    /// Newest source creation time among the meetings this job committed (the watermark the
    /// connection takes when the job finishes).
    #[serde(default)]
    pub newest_created_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl SyncJob {
    pub fn new(owner: Tenant, source: Source, kind: JobKind, now: DateTime<Utc>) -> Self {
        SyncJob {
            id: JobId::new(),
            workspace_id: owner.workspace,
            user_id: owner.user,
            source,
            kind,
            status: JobStatus::Queued,
            progress: Progress::default(),
            counts: Counts::default(),
            failed_items: Vec::new(),
            not_imported_items: Vec::new(),
            oldest_not_imported_at: None,
            retry_of: None,
            summary: None,
            scope: SyncScope::default(),
            cursor: None,
            page_done: Vec::new(),
            newest_created_at: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
        }
    }

    /// The member it works for.
    pub fn owner(&self) -> Tenant {
        Tenant::new(self.workspace_id.clone(), self.user_id.clone())
    }

    /// Whether a worker has the job in hand, with no message that would bring it to another: it
    /// is running, or it is a scheduled job not yet started (the invocation that creates a
    /// scheduled job runs it). A worker that dies leaves such a job to the sweeps, which find
    /// these across users by the time they were last saved.
    pub fn is_in_hand(&self) -> bool {
        match self.status {
            JobStatus::Running => true,
            JobStatus::Queued => self.kind == JobKind::Scheduled,
            _ => false,
        }
    }

    /// Ends the job, choosing the status from its counts and writing a summary a person can read.
    pub fn finish(&mut self, now: DateTime<Utc>) {
        self.status = if self.counts.failed == 0 {
            JobStatus::Completed
        } else if self.counts.imported
            + self.counts.updated
            + self.counts.skipped
            + self.counts.transcribing
            > 0
        {
            JobStatus::CompletedWithErrors
        } else {
            JobStatus::Failed
        };
        self.summary = Some(summarize(&self.counts));
        self.finished_at = Some(now);
        self.updated_at = now;
    }

    /// Ends the job as failed as a whole (nothing could be attempted).
    pub fn fail(&mut self, reason: &str, now: DateTime<Utc>) {
        self.status = JobStatus::Failed;
        self.summary = Some(reason.to_owned());
        self.finished_at = Some(now);
        self.updated_at = now;
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Why a meeting was left for later.
pub const MONTHLY_LIMIT_REACHED: &str = "monthly import limit reached";

/// "8 new calls imported, 1 updated, skipped 3 duplicates, 1 failed, 2 not imported: monthly
/// import limit reached".
pub fn summarize(counts: &Counts) -> String {
    let mut parts = vec![format!(
        "{} imported",
        plural(counts.imported, "new call", "new calls")
    )];
    if counts.updated > 0 {
        parts.push(format!("{} updated", counts.updated));
    }
    if counts.skipped > 0 {
        parts.push(format!(
            "skipped {}",
            plural(counts.skipped, "duplicate", "duplicates")
        ));
    }
    if counts.transcribing > 0 {
        parts.push(format!(
            "{} sent for transcription",
            plural(counts.transcribing, "recording", "recordings")
        ));
    }
    if counts.failed > 0 {
        parts.push(format!("{} failed", counts.failed));
    }
    if counts.not_imported > 0 {
        parts.push(format!(
            "{} not imported: {MONTHLY_LIMIT_REACHED}",
            counts.not_imported
        ));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reads_like_a_sentence() {
        let counts = Counts {
            imported: 8,
            updated: 0,
            skipped: 3,
            failed: 1,
            not_imported: 0,
            transcribing: 0,
        };
        assert_eq!(
            summarize(&counts),
            "8 new calls imported, skipped 3 duplicates, 1 failed"
        );
        let limited = Counts {
            imported: 2,
            not_imported: 3,
            ..Counts::default()
        };
        assert_eq!(
            summarize(&limited),
            "2 new calls imported, 3 not imported: monthly import limit reached"
        );
        let one = Counts {
            imported: 1,
            ..Counts::default()
        };
        assert_eq!(summarize(&one), "1 new call imported");
        let handed_off = Counts {
            imported: 1,
            transcribing: 2,
            ..Counts::default()
        };
        assert_eq!(
            summarize(&handed_off),
            "1 new call imported, 2 recordings sent for transcription"
        );
    }

    #[test]
    fn finish_picks_status_from_counts() {
        let now = Utc::now();
        let mut job = SyncJob::new(
            Tenant::personal(UserId::parse("u").unwrap()),
            Source::Fathom,
            JobKind::Manual,
            now,
        );
        job.counts.imported = 2;
        job.counts.failed = 1;
        job.finish(now);
        assert_eq!(job.status, JobStatus::CompletedWithErrors);
        job.counts.imported = 0;
        job.finish(now);
        assert_eq!(job.status, JobStatus::Failed);
        // A recording sent for transcription is work done, not a failure.
        job.counts.transcribing = 1;
        job.finish(now);
        assert_eq!(job.status, JobStatus::CompletedWithErrors);
    }
}
