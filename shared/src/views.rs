//! The JSON shapes the HTTP API returns, kept apart from the stored domain types so storage
//! can change without changing the API.

use crate::domain::{
    ActionItem, Counts, FailedItem, Participant, Progress, Recording, RecordingFile, SyncJob,
    TranscriptRef, TranscriptSegment,
};
use crate::services::Services;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct JobView<'a> {
    pub id: &'a str,
    pub kind: crate::domain::JobKind,
    pub source: crate::domain::Source,
    pub status: crate::domain::JobStatus,
    pub progress: &'a Progress,
    pub counts: &'a Counts,
    pub failed_items: &'a [FailedItem],
    pub not_imported_items: &'a [FailedItem],
    pub retry_of: Option<&'a str>,
    pub summary: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl<'a> From<&'a SyncJob> for JobView<'a> {
    fn from(job: &'a SyncJob) -> Self {
        JobView {
            id: job.id.as_str(),
            kind: job.kind,
            source: job.source,
            status: job.status,
            progress: &job.progress,
            counts: &job.counts,
            failed_items: &job.failed_items,
            not_imported_items: &job.not_imported_items,
            retry_of: job.retry_of.as_ref().map(|id| id.as_str()),
            summary: job.summary.as_deref(),
            created_at: job.created_at,
            finished_at: job.finished_at,
        }
    }
}

/// A recording in a listing: enough to show a row, without the transcript.
#[derive(Debug, Serialize)]
pub struct RecordingListItem<'a> {
    pub id: &'a str,
    pub source: crate::domain::Source,
    pub external_id: &'a str,
    pub title: &'a str,
    pub started_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    pub participant_count: usize,
    pub has_summary: bool,
    pub created_at: DateTime<Utc>,
}

impl<'a> From<&'a Recording> for RecordingListItem<'a> {
    fn from(r: &'a Recording) -> Self {
        RecordingListItem {
            id: r.id.as_str(),
            source: r.source,
            external_id: r.external_id.as_str(),
            title: &r.title,
            started_at: r.started_at,
            duration_seconds: r.duration_seconds,
            participant_count: r.participants.len(),
            has_summary: r.summary_markdown.is_some(),
            created_at: r.created_at,
        }
    }
}

/// The whole recording, transcript resolved from wherever it is stored.
#[derive(Debug, Serialize)]
pub struct RecordingDetail<'a> {
    pub id: &'a str,
    pub source: crate::domain::Source,
    pub external_id: &'a str,
    pub title: &'a str,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    pub participants: &'a [Participant],
    pub transcript: &'a [TranscriptSegment],
    pub summary_markdown: Option<&'a str>,
    pub action_items: &'a [ActionItem],
    pub url: Option<&'a str>,
    pub share_url: Option<&'a str>,
    /// The recording's files at its source (type and size), where it keeps several.
    pub files: &'a [RecordingFile],
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `recording` as `GET /recordings/{id}` shows it, transcript loaded from wherever it is.
pub async fn recording_detail_json(
    services: &Services,
    recording: &Recording,
) -> anyhow::Result<serde_json::Value> {
    let transcript = load_transcript(services, &recording.transcript).await?;
    Ok(serde_json::to_value(RecordingDetail::new(
        recording,
        &transcript,
    ))?)
}

/// A recording's transcript, from wherever it is stored.
pub async fn load_transcript(
    services: &Services,
    transcript: &TranscriptRef,
) -> anyhow::Result<Vec<TranscriptSegment>> {
    match transcript {
        TranscriptRef::Inline { segments } => Ok(segments.clone()),
        TranscriptRef::Blob { key, .. } => {
            let bytes = services
                .blobs
                .get_bytes(key)
                .await?
                .ok_or_else(|| anyhow::anyhow!("transcript blob {key} is missing"))?;
            Ok(serde_json::from_slice(&bytes)?)
        }
    }
}

impl<'a> RecordingDetail<'a> {
    pub fn new(r: &'a Recording, transcript: &'a [TranscriptSegment]) -> Self {
        RecordingDetail {
            id: r.id.as_str(),
            source: r.source,
            external_id: r.external_id.as_str(),
            title: &r.title,
            started_at: r.started_at,
            ended_at: r.ended_at,
            duration_seconds: r.duration_seconds,
            participants: &r.participants,
            transcript,
            summary_markdown: r.summary_markdown.as_deref(),
            action_items: &r.action_items,
            url: r.url.as_deref(),
            share_url: r.share_url.as_deref(),
            files: &r.files,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}
