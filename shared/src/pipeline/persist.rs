//! The last stage: one meeting's content becomes a stored recording, once per
//! `(member, source, external id)`, counted against the workspace's monthly quota when new.

use super::derive;
use super::outbound::{self, Event};
use crate::domain::{
    JobId, MeetingContent, Recording, RecordingId, Sharing, Tenant, TranscriptRef, WorkspaceId,
};
use crate::ports::Inserted;
use crate::services::Services;
use anyhow::Result;
use chrono::{DateTime, Datelike, TimeZone, Utc};

/// Transcripts whose JSON is larger than this go to the blob store (DynamoDB items stop at
/// 400 KB, and the rest of the item needs room too).
pub const INLINE_TRANSCRIPT_LIMIT: usize = 100 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    Imported,
    Updated,
    /// Stored already with the same content.
    Unchanged,
    /// The user's monthly import quota is used up: nothing stored.
    QuotaReached,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportResult {
    pub outcome: ImportOutcome,
    pub recording_id: Option<RecordingId>,
}

/// The quota counter's name and expiry for `workspace` in the month of `now`: every member's
/// imports count against their workspace's quota.
pub fn quota_counter(workspace: &WorkspaceId, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
    let name = format!("imports:{workspace}:{:04}-{:02}", now.year(), now.month());
    // Kept a month past the month's end, then expired.
    let expires = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
        + chrono::Duration::days(62);
    (name, expires)
}

/// The first day of next month, when the quota resets.
pub fn quota_resets_at(now: DateTime<Utc>) -> DateTime<Utc> {
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

/// A workspace's imports this month, against its monthly limit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub imports_this_month: u64,
    /// `None`: no limit.
    pub limit: Option<u64>,
    pub resets_at: DateTime<Utc>,
}

/// `workspace`'s usage now. Imports are counted with or without a limit.
pub async fn usage(services: &Services, workspace: &WorkspaceId) -> Result<Usage> {
    let now = services.clock.now();
    let (counter, _) = quota_counter(workspace, now);
    let limit = services.config.imports_per_month;
    Ok(Usage {
        imports_this_month: services.counters.get(&counter).await?,
        limit: (limit > 0).then_some(limit),
        resets_at: quota_resets_at(now),
    })
}

/// Stores `content` for `owner` (readable as `sharing` says) as part of `job`: new -> imported (quota permitting); stored
/// with the same content -> unchanged; stored with other content -> updated in place. A
/// recording `job` itself stored earlier (its message redelivered, its page resumed after a
/// crash) counts as imported again, so a job's counts are exact however often it runs.
pub async fn import_meeting(
    services: &Services,
    owner: &Tenant,
    sharing: Sharing,
    content: MeetingContent,
    fingerprint: Option<String>,
    job: &JobId,
) -> Result<ImportResult> {
    let now = services.clock.now();
    if let Some(existing) = services
        .recordings
        .find_by_key(owner, content.source, &content.external_id)
        .await?
    {
        return refresh_existing(services, existing, content, fingerprint, job, now).await;
    }
    // Counted without a limit too, so usage is known before one is set.
    let limit = match services.config.imports_per_month {
        0 => u64::MAX,
        limit => limit,
    };
    let (counter, expires) = quota_counter(&owner.workspace, now);
    if services
        .counters
        .increment_below(&counter, limit, expires)
        .await?
        .is_none()
    {
        return Ok(ImportResult {
            outcome: ImportOutcome::QuotaReached,
            recording_id: None,
        });
    }
    let mut recording = Recording::from_content(owner.clone(), sharing, content.clone(), now);
    recording.source_fingerprint = fingerprint.clone();
    recording.imported_by = Some(job.clone());
    place_transcript(services, &mut recording).await?;
    match services.recordings.insert_if_absent(&recording).await {
        Ok(Inserted::New) => {
            derive::apply(services, &recording, None).await?;
            outbound::publish(services, &Event::recording(&recording, true)).await?;
            Ok(ImportResult {
                outcome: ImportOutcome::Imported,
                recording_id: Some(recording.id),
            })
        }
        other => {
            // Not stored after all: give the quota back and drop a transcript blob we wrote.
            services.counters.decrement(&counter).await?;
            if let TranscriptRef::Blob { key, .. } = &recording.transcript {
                services.blobs.delete(key).await?;
            }
            other?;
            // Another worker stored the same meeting in the meantime (webhook and sync racing).
            let existing = services
                .recordings
                .find_by_key(owner, content.source, &content.external_id)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!("recording {} vanished during import", content.external_id)
                })?;
            refresh_existing(services, existing, content, fingerprint, job, now).await
        }
    }
}

async fn refresh_existing(
    services: &Services,
    mut existing: Recording,
    content: MeetingContent,
    fingerprint: Option<String>,
    job: &JobId,
    now: DateTime<Utc>,
) -> Result<ImportResult> {
    let id = Some(existing.id.clone());
    if existing.content_hash == content.content_hash() {
        if fingerprint.is_some() && existing.source_fingerprint != fingerprint {
            existing.source_fingerprint = fingerprint;
            services.recordings.update(&existing).await?;
        }
        let outcome = if existing.imported_by_job(job) {
            // A retry of the import that stored it: what follows the commit may not have
            // happened. Both are idempotent.
            derive::apply(services, &existing, None).await?;
            outbound::publish(services, &Event::recording(&existing, true)).await?;
            ImportOutcome::Imported
        } else {
            ImportOutcome::Unchanged
        };
        return Ok(ImportResult {
            outcome,
            recording_id: id,
        });
    }
    let before = existing.clone();
    existing.apply(content, now);
    existing.source_fingerprint = fingerprint;
    place_transcript(services, &mut existing).await?;
    services.recordings.update(&existing).await?;
    derive::apply(services, &existing, Some(&before)).await?;
    outbound::publish(services, &Event::recording(&existing, false)).await?;
    Ok(ImportResult {
        outcome: ImportOutcome::Updated,
        recording_id: id,
    })
}

/// Moves a large inline transcript to the blob store, leaving a pointer.
async fn place_transcript(services: &Services, recording: &mut Recording) -> Result<()> {
    let TranscriptRef::Inline { segments } = &recording.transcript else {
        return Ok(());
    };
    let json = serde_json::to_vec(segments)?;
    if json.len() <= INLINE_TRANSCRIPT_LIMIT {
        return Ok(());
    }
    let key = format!("transcripts/{}/{}.json", recording.user_id, recording.id);
    let segment_count = segments.len();
    services
        .blobs
        .put(&key, json.into(), "application/json")
        .await?;
    recording.transcript = TranscriptRef::Blob { key, segment_count };
    Ok(())
}
