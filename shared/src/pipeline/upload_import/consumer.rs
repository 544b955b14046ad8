//! The transcribe queue's work for one upload: dedup by content, transcription, storing the
//! recording, and keeping the upload and its job current.
//!
//! A file's format is read from its bytes, not its name or declared type: a WAV recording named
//! `.mp3` is transcribed, a document named `.mp3` fails saying what it looks like.
//!
//! The same file uploaded again (the same bytes, whatever its name) is not transcribed again:
//! the new upload ends `duplicate`, points to the recording the first one made, and counts
//! nothing against the monthly quota.
//!
//! An upload that carries a provider's meeting (its recording came without a transcript, see
//! `pipeline::media`) is imported as that meeting, under the provider's key and version.

use super::keys::{generic_title, recording_title, StagedUpload};
use super::messages::Announced;
use super::quota::quota_message;
use super::retry::{attempt_message, wait_after};
use crate::config::Config;
use crate::connectors::upload::sniff::SNIFF_LEN;
use crate::connectors::upload::{
    sniff, spool_to_temp_file, transcribe_media, MediaError, MediaFormat, SpoolError,
    TranscribeClient, TranscribeError, Transcription, TranscriptionOptions,
};
use crate::domain::{
    Attempt, Counts, ExternalId, FailedItem, JobId, JobKind, JobStatus, MeetingContent, Progress,
    RecordingId, Source, SyncJob, Upload, UploadId, UploadStatus,
};
use crate::pipeline::derive;
use crate::pipeline::persist::{import_meeting, quota_resets_at, ImportOutcome};
use crate::services::Services;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

/// How the consumer transcribes.
#[derive(Debug, Clone)]
pub struct UploadTranscription {
    pub options: TranscriptionOptions,
    /// Where the file is copied while it is transcribed (Lambda's `/tmp`).
    pub temp_dir: PathBuf,
}

impl Default for UploadTranscription {
    fn default() -> Self {
        Self {
            options: TranscriptionOptions::default(),
            temp_dir: std::env::temp_dir(),
        }
    }
}

impl UploadTranscription {
    /// The defaults, with the configured limits and concurrency.
    pub fn from_config(config: &Config) -> Self {
        let mut settings = Self::default();
        settings.options.max_audio_seconds = config.max_audio_seconds as f64;
        settings.options.parallelism = config.transcribe_concurrency;
        settings
    }
}

/// How one attempt at an upload ended.
enum Done {
    Imported(RecordingId),
    Duplicate(RecordingId),
    Failed(String),
}

/// Why an attempt stopped short of a recording.
enum Stop {
    /// No attempt can succeed with this file or this configuration.
    Fail(String),
    /// Worth another attempt later; `reason` is what the user sees if none is left.
    Retry {
        reason: String,
        cause: anyhow::Error,
    },
}

/// A store or blob failure: the backend, not the file, so the queue retries it.
impl From<anyhow::Error> for Stop {
    fn from(cause: anyhow::Error) -> Self {
        Stop::Retry {
            reason: "storage was unavailable while the file was transcribed".into(),
            cause,
        }
    }
}

/// Failures of the service or of this machine are retried; the file's own problems and the
/// API's refusals (bad key, bad request) are not.
fn media_stop(err: MediaError) -> Stop {
    let reason = err.to_string();
    match err {
        MediaError::Transcribe(TranscribeError::GaveUp { .. })
        | MediaError::Io(_)
        | MediaError::Internal(_) => Stop::Retry {
            cause: anyhow::Error::new(err),
            reason,
        },
        _ => Stop::Fail(reason),
    }
}

/// What the queue tells the consumer about the delivery of a message.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// The queue dead-letters the message if this delivery fails too.
    pub last: bool,
    /// When the invocation is stopped: an upload's claim lasts until then.
    pub deadline: DateTime<Utc>,
}

/// Makes one attempt at a staged upload and records the outcome on the upload and its job; the
/// upload's status afterwards, or `None` for an upload that does not exist.
///
/// The upload is claimed first (a lease until the invocation's deadline), so a notification
/// delivered twice, or a retry while an attempt runs, does nothing: the claimant finishes the
/// upload, and if it dies its claim expires and the queue's redelivery takes over. An upload
/// already completed, duplicate or failed is left alone, and so is a message for an attempt
/// that a later one has overtaken.
///
/// A transient failure schedules the next attempt (see `retry`), unless this is the round's
/// last attempt or the message's last delivery, which fail the upload with the reason. `Err`
/// is left for failures to record any of that (storage, the queue), for the queue to retry.
#[tracing::instrument(name = "upload", skip_all, fields(upload_id = %announced.upload.upload_id))]
pub async fn transcribe_upload(
    services: &Services,
    settings: &UploadTranscription,
    announced: &Announced,
    delivery: Delivery,
) -> Result<Option<UploadStatus>> {
    let staged = &announced.upload;
    let Some((upload, due)) = current(services, staged, announced.attempt).await? else {
        return Ok(None);
    };
    if !due {
        return Ok(Some(upload.status));
    }
    let claim = format!("upload:{}", staged.upload_id);
    let owner = uuid::Uuid::new_v4().to_string();
    let claimed = services
        .leases
        .acquire(&claim, &owner, delivery.deadline, services.clock.now())
        .await?;
    if !claimed {
        tracing::info!(upload = %staged.upload_id, "upload is being transcribed by another worker");
        return Ok(Some(upload.status));
    }
    let outcome = attempt_claimed(services, settings, announced, delivery).await;
    if let Err(e) = services.leases.release(&claim, &owner).await {
        // The claim expires at the deadline in any case.
        tracing::warn!(upload = %staged.upload_id, error = format!("{e:#}"), "upload claim not released");
    }
    outcome
}

/// The upload, and whether `attempt` at it is still to be made; `None` when there is no such
/// upload.
async fn current(
    services: &Services,
    staged: &StagedUpload,
    attempt: Attempt,
) -> Result<Option<(Upload, bool)>> {
    let Some(upload) = services
        .uploads
        .get(&staged.owner, &staged.upload_id)
        .await?
    else {
        tracing::warn!(upload = %staged.upload_id, "no such upload; message dropped");
        return Ok(None);
    };
    let finished = matches!(
        upload.status,
        UploadStatus::Completed | UploadStatus::Duplicate | UploadStatus::Failed
    );
    if finished {
        tracing::info!(upload = %upload.id, status = ?upload.status, "upload already handled");
    } else if attempt < upload.attempt {
        tracing::info!(upload = %upload.id, ?attempt, latest = ?upload.attempt, "attempt overtaken; message dropped");
    }
    let due = !finished && attempt >= upload.attempt;
    Ok(Some((upload, due)))
}

async fn attempt_claimed(
    services: &Services,
    settings: &UploadTranscription,
    announced: &Announced,
    delivery: Delivery,
) -> Result<Option<UploadStatus>> {
    // Read again under the claim: the previous claimant may have just finished it.
    let Some((mut upload, due)) = current(services, &announced.upload, announced.attempt).await?
    else {
        return Ok(None);
    };
    if !due {
        return Ok(Some(upload.status));
    }
    upload.attempt = announced.attempt;
    upload.next_attempt_at = None;
    let mut job = start_job(services, &upload).await?;
    set_status(services, &mut upload, UploadStatus::Uploaded).await?;
    let done = match import_upload(services, settings, &mut upload, &mut job).await {
        Ok(done) => done,
        Err(Stop::Fail(reason)) => Done::Failed(reason),
        Err(Stop::Retry { reason, cause }) => {
            let next = announced.attempt.next();
            match wait_after(announced.attempt) {
                Some(wait) if !delivery.last => {
                    return schedule(services, upload, job, next, wait, reason, cause)
                        .await
                        .map(Some);
                }
                _ => {
                    tracing::error!(upload = %upload.id, error = format!("{cause:#}"), "upload failed on its last attempt");
                    Done::Failed(format!("{reason}; retry the upload later"))
                }
            }
        }
    };
    finish(services, upload, job, done).await.map(Some)
}

/// Queues the next attempt after a transient failure and records the reason and the time on
/// the upload and its job. When the message cannot be queued, `Err` leaves the retry to the
/// queue's redelivery of the current message.
async fn schedule(
    services: &Services,
    mut upload: Upload,
    mut job: SyncJob,
    next: Attempt,
    wait: std::time::Duration,
    reason: String,
    cause: anyhow::Error,
) -> Result<UploadStatus> {
    tracing::warn!(upload = %upload.id, attempt = ?upload.attempt, ?wait, error = format!("{cause:#}"), "upload attempt failed; another is scheduled");
    services
        .transcribe_queue
        .send_delayed(&attempt_message(&upload, next).to_body(), wait)
        .await
        .with_context(|| format!("scheduling the next attempt after: {reason}"))?;
    let now = services.clock.now();
    let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
    upload.attempt = next;
    upload.next_attempt_at = Some(at);
    upload.error = Some(reason.clone());
    upload.updated_at = now;
    job.summary = Some(format!(
        "{}: {reason}; trying again at {}",
        upload.filename,
        at.format("%H:%M UTC")
    ));
    job.updated_at = now;
    services.uploads.put(&upload).await?;
    services.jobs.put(&job).await?;
    Ok(upload.status)
}

async fn set_status(services: &Services, upload: &mut Upload, status: UploadStatus) -> Result<()> {
    upload.status = status;
    upload.updated_at = services.clock.now();
    services.uploads.put(upload).await
}

/// The upload's job id: the upload's own id under the job prefix, so a redelivered or retried
/// upload updates its one job rather than adding another.
fn job_id(upload: &UploadId) -> Result<JobId> {
    let hex = upload
        .as_str()
        .strip_prefix(UploadId::PREFIX)
        .unwrap_or_default();
    Ok(JobId::parse(&format!("{}{hex}", JobId::PREFIX))?)
}

/// The upload's job, running from a clean slate (a retry starts over).
async fn start_job(services: &Services, upload: &Upload) -> Result<SyncJob> {
    let id = job_id(&upload.id)?;
    let now = services.clock.now();
    let mut job = match services.jobs.get(&upload.owner(), &id).await? {
        Some(job) => job,
        None => {
            let source = upload
                .meeting
                .as_ref()
                .map_or(Source::Upload, |recorded| recorded.content.source);
            let mut job = SyncJob::new(upload.owner(), source, JobKind::Upload, now);
            job.id = id;
            job
        }
    };
    job.status = JobStatus::Running;
    job.progress = Progress::default();
    job.counts = Counts::default();
    job.failed_items.clear();
    job.not_imported_items.clear();
    job.summary = Some(format!("{}: transcribing", upload.filename));
    job.finished_at = None;
    job.updated_at = now;
    services.jobs.put(&job).await?;
    Ok(job)
}

async fn import_upload(
    services: &Services,
    settings: &UploadTranscription,
    upload: &mut Upload,
    job: &mut SyncJob,
) -> Result<Done, Stop> {
    let unreadable = |cause: anyhow::Error| Stop::Retry {
        reason: "the uploaded file could not be read".into(),
        cause,
    };
    let reader = services
        .blobs
        .get(&upload.object_key)
        .await
        .map_err(unreadable)?
        .ok_or_else(|| {
            Stop::Fail("the uploaded file is no longer stored; upload it again".into())
        })?;
    let spooled = spool_to_temp_file(reader, &settings.temp_dir, services.config.max_upload_bytes)
        .await
        .map_err(|e| match e {
            SpoolError::TooLarge { limit_bytes } => Stop::Fail(format!(
                "the file is larger than the {:.0} MB accepted",
                limit_bytes as f64 / 1e6
            )),
            SpoolError::Io(err) => unreadable(err.into()),
        })?;
    upload.size_bytes = spooled.size_bytes;
    // A file that is not media fails as such, whatever else is wrong (such as no API key).
    sniff_file(spooled.path()).await?;
    let content_id = ExternalId::parse(&spooled.sha256_hex).context("the content hash")?;
    if upload.meeting.is_none() {
        if let Some(existing) = services
            .recordings
            .find_by_key(&upload.owner(), Source::Upload, &content_id)
            .await?
        {
            return Ok(Done::Duplicate(existing.id));
        }
    }
    let client = services
        .providers()
        .await
        .map_err(|cause| Stop::Retry {
            reason: "the transcription service could not be set up".to_owned(),
            cause,
        })?
        .transcribe
        .as_ref()
        .ok_or_else(|| Stop::Fail(TranscribeError::NotConfigured.to_string()))?;
    set_status(services, upload, UploadStatus::Transcribing).await?;
    let transcription =
        transcribe_reporting_progress(services, settings, client, spooled.path(), upload, job)
            .await?;
    let (content, fingerprint) = match upload.meeting.as_deref() {
        // A provider's meeting: imported under its own key, with the transcript.
        Some(recorded) => {
            let mut content = recorded.content.clone();
            content.transcript = transcription.segments;
            content.duration_seconds = content.duration_seconds.or(transcription.duration_seconds);
            (content, recorded.fingerprint.clone())
        }
        None => (
            MeetingContent {
                source: Source::Upload,
                external_id: content_id,
                title: recording_title(&upload.filename),
                started_at: None,
                ended_at: None,
                duration_seconds: transcription.duration_seconds,
                participants: Vec::new(),
                transcript: transcription.segments,
                summary_markdown: None,
                action_items: Vec::new(),
                url: None,
                share_url: None,
                source_created_at: Some(upload.created_at),
                files: Vec::new(),
            },
            None,
        ),
    };
    let titled_by_its_name = upload.meeting.is_none() && generic_title(&content.title);
    let imported = import_meeting(
        services,
        &upload.owner(),
        upload.sharing,
        content,
        fingerprint,
        &job.id,
    )
    .await?;
    let recording = || {
        imported
            .recording_id
            .clone()
            .context("an import without its recording id")
    };
    if imported.outcome == ImportOutcome::Imported
        && derive::analysis::configured(services)
        && titled_by_its_name
    {
        // Its file name says nothing: the transcript gives it a title, after the import.
        derive::analysis::request_title(services, &upload.owner(), &recording()?).await?;
    }
    Ok(match imported.outcome {
        ImportOutcome::Imported => Done::Imported(recording()?),
        // A provider's meeting stored before without a transcript now has one.
        ImportOutcome::Updated if upload.meeting.is_some() => Done::Imported(recording()?),
        // The same file, uploaded twice at once, was stored by the other upload first.
        ImportOutcome::Updated | ImportOutcome::Unchanged => Done::Duplicate(recording()?),
        ImportOutcome::QuotaReached => {
            let limit = services.config.imports_per_month;
            Done::Failed(quota_message(limit, quota_resets_at(services.clock.now())))
        }
    })
}

/// The format the file's first bytes show; the file fails when they show none we read.
async fn sniff_file(path: &Path) -> Result<MediaFormat, Stop> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    let file = tokio::fs::File::open(path)
        .await
        .context("opening the spooled upload")?;
    file.take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .await
        .context("reading the spooled upload")?;
    sniff(&head).map_err(|e| Stop::Fail(e.to_string()))
}

/// Runs the transcription while another task saves its progress on the upload and the job as
/// chunks finish (the engine reports progress through a plain callback).
async fn transcribe_reporting_progress(
    services: &Services,
    settings: &UploadTranscription,
    client: &TranscribeClient,
    path: &Path,
    upload: &mut Upload,
    job: &mut SyncJob,
) -> Result<Transcription, Stop> {
    let (sender, mut receiver) = watch::channel((0usize, 0usize));
    let transcribing = transcribe_media(path, client, &settings.options, move |done, total| {
        sender.send_replace((done, total));
    });
    let saving = async {
        let (mut upload, mut job) = (upload.clone(), job.clone());
        // Ends when the transcription finishes and drops the sender.
        while receiver.changed().await.is_ok() {
            let (done, total) = *receiver.borrow_and_update();
            let now = services.clock.now();
            upload.chunks_done = u32::try_from(done).unwrap_or(u32::MAX);
            upload.chunks_total = u32::try_from(total).unwrap_or(u32::MAX);
            upload.updated_at = now;
            job.progress = Progress {
                current: done as u64,
                total: Some(total as u64),
            };
            job.updated_at = now;
            let saved = async {
                services.uploads.put(&upload).await?;
                services.jobs.put(&job).await
            };
            if let Err(e) = saved.await {
                tracing::warn!(upload = %upload.id, error = format!("{e:#}"), "progress not saved");
            }
        }
        (upload, job)
    };
    let (transcribed, (latest_upload, latest_job)) = tokio::join!(transcribing, saving);
    *upload = latest_upload;
    *job = latest_job;
    transcribed.map_err(media_stop)
}

/// Records the outcome on the upload and the job, then removes the staged file once it is no
/// longer needed (a failed upload keeps it for a retry; the bucket expires it in any case).
async fn finish(
    services: &Services,
    mut upload: Upload,
    mut job: SyncJob,
    done: Done,
) -> Result<UploadStatus> {
    let now = services.clock.now();
    upload.next_attempt_at = None;
    upload.error = None;
    let summary = match done {
        Done::Imported(recording) => {
            upload.status = UploadStatus::Completed;
            upload.recording_id = Some(recording);
            job.counts.imported = 1;
            format!("{}: transcribed into a new recording", upload.filename)
        }
        Done::Duplicate(recording) => {
            upload.status = UploadStatus::Duplicate;
            upload.recording_id = Some(recording);
            job.counts.skipped = 1;
            format!(
                "{}: the same file was imported before; nothing new stored",
                upload.filename
            )
        }
        Done::Failed(reason) => {
            upload.status = UploadStatus::Failed;
            job.counts.failed = 1;
            job.failed_items = vec![FailedItem::new(
                ExternalId::parse(upload.id.as_str())?,
                Some(upload.filename.clone()),
                reason.clone(),
            )];
            let summary = format!("{}: {reason}", upload.filename);
            upload.error = Some(reason);
            summary
        }
    };
    upload.updated_at = now;
    job.finish(now);
    job.summary = Some(summary);
    services.uploads.put(&upload).await?;
    services.jobs.put(&job).await?;
    crate::pipeline::outbound::upload_finished(services, &upload, &job).await?;
    if upload.status != UploadStatus::Failed {
        if let Err(e) = services.blobs.delete(&upload.object_key).await {
            tracing::warn!(upload = %upload.id, error = format!("{e:#}"), "staged file not deleted");
        }
    }
    tracing::info!(upload = %upload.id, status = ?upload.status, "upload handled");
    Ok(upload.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_upload_has_its_own_job_id() {
        let upload = UploadId::new();
        let job = job_id(&upload).unwrap();
        assert_eq!(job, job_id(&upload).unwrap());
        assert_eq!(&job.as_str()[4..], &upload.as_str()[4..]);
    }
}
