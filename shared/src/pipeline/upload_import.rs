//! Uploaded files become recordings. What the two upload functions share: where a staged file
//! lives in the blob store, what announces it on the transcribe queue (S3's notification of the
//! new object, or our own retry message), and the consumer's work for one upload: dedup by
//! content, transcription, storing the recording, and keeping the upload and its job current.
//!
//! A file's format is read from its bytes, not its name or declared type: a WAV recording named
//! `.mp3` is transcribed, a document named `.mp3` fails saying what it looks like.
//!
//! The same file uploaded again (the same bytes, whatever its name) is not transcribed again:
//! the new upload ends `duplicate`, points to the recording the first one made, and counts
//! nothing against the monthly quota.

use super::persist::{import_meeting, quota_counter, quota_resets_at, ImportOutcome};
use crate::connectors::upload::sniff::SNIFF_LEN;
use crate::connectors::upload::{
    sniff, spool_to_temp_file, transcribe_media, MediaError, MediaFormat, SpoolError,
    TranscribeClient, TranscribeError, TranscribeSettings, Transcription, TranscriptionOptions,
};
use crate::domain::{
    Counts, ExternalId, FailedItem, JobId, JobKind, JobStatus, MeetingContent, Progress,
    RecordingId, Source, SyncJob, Upload, UploadId, UploadStatus, UserId,
};
use crate::services::Services;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

/// How long a presigned upload URL stays valid.
pub const UPLOAD_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Staged uploads live under this prefix: the bucket notifies the transcribe queue of new
/// objects under it, and expires them.
pub const STAGED_PREFIX: &str = "uploads/";

/// Longest file name kept in a staged key.
const KEY_FILENAME_MAX: usize = 100;

/// An upload named by a queue message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedUpload {
    pub user_id: UserId,
    pub upload_id: UploadId,
}

/// Where an upload's file is staged: `uploads/{user}/{upload id}/{file name}`. The user id is
/// escaped and the file name reduced to `[A-Za-z0-9._-]`, so the key reads the same in a URL,
/// in a local path and in an S3 notification, which URL-encodes keys.
pub fn staged_key(user: &UserId, upload: &UploadId, filename: &str) -> String {
    format!(
        "{STAGED_PREFIX}{}/{upload}/{}",
        escape_user(user.as_str()),
        key_filename(filename)
    )
}

/// The upload a staged key names; `None` for any other key.
pub fn staged_upload(key: &str) -> Option<StagedUpload> {
    let mut parts = key.strip_prefix(STAGED_PREFIX)?.splitn(3, '/');
    let (user, upload, filename) = (parts.next()?, parts.next()?, parts.next()?);
    if filename.is_empty() || filename.contains('/') {
        return None;
    }
    Some(StagedUpload {
        user_id: UserId::parse(&unescape_user(user)?).ok()?,
        upload_id: UploadId::parse(upload).ok()?,
    })
}

/// Letters, digits and `-` stay; every other byte becomes `_` and two hex digits.
fn escape_user(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("_{byte:02X}"));
        }
    }
    out
}

fn unescape_user(escaped: &str) -> Option<String> {
    decode_escapes(escaped, b'_', None)
}

/// A key as S3 notifications carry it: URL-encoded, with spaces as `+`.
pub fn decode_s3_key(raw: &str) -> Option<String> {
    decode_escapes(raw, b'%', Some(b' '))
}

/// Replaces `{marker}XX` (two hex digits) by that byte, and `+` by `plus` when given.
fn decode_escapes(raw: &str, marker: u8, plus: Option<u8>) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b if b == marker => {
                let hex = bytes.get(at + 1..at + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                at += 3;
            }
            b'+' if plus.is_some() => {
                out.extend(plus);
                at += 1;
            }
            b => {
                out.push(b);
                at += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The file name as the key carries it: safe characters only, runs of others as one `-`, no
/// leading dot, at most `KEY_FILENAME_MAX` characters with the extension kept.
fn key_filename(filename: &str) -> String {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut safe = String::with_capacity(base.len());
    for c in base.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            c
        } else {
            '-'
        };
        if !(c == '-' && safe.ends_with('-')) {
            safe.push(c);
        }
    }
    let safe = safe.trim_start_matches(['.', '-']);
    if safe.is_empty() {
        return "upload".into();
    }
    if safe.len() <= KEY_FILENAME_MAX {
        return safe.to_owned();
    }
    // Only ASCII is left, so byte offsets are character offsets.
    match safe.rsplit_once('.') {
        Some((stem, extension)) if extension.len() < 16 => {
            let keep = KEY_FILENAME_MAX - extension.len() - 1;
            format!("{}.{extension}", &stem[..keep.min(stem.len())])
        }
        _ => safe[..KEY_FILENAME_MAX].to_owned(),
    }
}

/// The title a recording takes from its file name: the name without folders or extension.
pub fn recording_title(filename: &str) -> String {
    let base = filename
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim();
    let stem = match base.rsplit_once('.') {
        Some((stem, _)) if !stem.trim().is_empty() => stem.trim(),
        _ => base,
    };
    if stem.is_empty() {
        "Uploaded recording".into()
    } else {
        stem.to_owned()
    }
}

/// Our own message on the transcribe queue, beside S3's notifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UploadMessage {
    /// Transcribe an upload whose file is already staged (a retry).
    Transcribe {
        user_id: UserId,
        upload_id: UploadId,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("not a transcribe queue message: {0}")]
pub struct UnreadableMessage(String);

#[derive(Deserialize)]
struct S3Notification {
    #[serde(rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Record {
    #[serde(default)]
    event_name: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    object: S3Object,
}

#[derive(Deserialize)]
struct S3Object {
    key: String,
}

/// The uploads a transcribe-queue message announces. Events other than object creation, keys
/// outside the staged uploads, and S3's test event announce none.
pub fn uploads_in_message(body: &str) -> Result<Vec<StagedUpload>, UnreadableMessage> {
    let unreadable = |e: serde_json::Error| UnreadableMessage(e.to_string());
    let value: serde_json::Value = serde_json::from_str(body).map_err(unreadable)?;
    if value.get("Records").is_some() {
        let notification: S3Notification = serde_json::from_value(value).map_err(unreadable)?;
        let created = notification
            .records
            .into_iter()
            .filter(|r| r.event_name.starts_with("ObjectCreated:"));
        let mut uploads = Vec::new();
        for record in created {
            match decode_s3_key(&record.s3.object.key).and_then(|key| staged_upload(&key)) {
                Some(upload) => uploads.push(upload),
                None => tracing::warn!(key = record.s3.object.key, "not a staged upload; ignored"),
            }
        }
        return Ok(uploads);
    }
    if value.get("Event").and_then(serde_json::Value::as_str) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    match serde_json::from_value(value).map_err(unreadable)? {
        UploadMessage::Transcribe { user_id, upload_id } => {
            Ok(vec![StagedUpload { user_id, upload_id }])
        }
    }
}

/// "the monthly import quota (10) is used up; it resets on 2026-02-01 (UTC)".
pub fn quota_message(limit: u64, resets_at: DateTime<Utc>) -> String {
    format!(
        "the monthly import quota ({limit}) is used up; it resets on {} (UTC)",
        resets_at.format("%Y-%m-%d")
    )
}

/// When the user's monthly import quota is used up, the instant it resets; `None` while
/// imports remain or when there is no quota. A check before work starts: the quota is
/// enforced again, atomically, when a recording is stored.
pub async fn quota_exhausted(services: &Services, user: &UserId) -> Result<Option<DateTime<Utc>>> {
    let limit = services.config.imports_per_month;
    if limit == 0 {
        return Ok(None);
    }
    let now = services.clock.now();
    let (counter, _) = quota_counter(user, now);
    let used = services.counters.get(&counter).await?;
    Ok((used >= limit).then(|| quota_resets_at(now)))
}

/// Queues a failed upload for another attempt, marked `uploaded` again. When the message cannot
/// be sent the upload is put back as it was and the error returned.
pub async fn retry_failed_upload(services: &Services, failed: Upload) -> Result<Upload> {
    let mut upload = failed.clone();
    upload.status = UploadStatus::Uploaded;
    upload.error = None;
    upload.chunks_done = 0;
    upload.chunks_total = 0;
    upload.updated_at = services.clock.now();
    services.uploads.put(&upload).await?;
    let message = UploadMessage::Transcribe {
        user_id: upload.user_id.clone(),
        upload_id: upload.id.clone(),
    };
    let sent = match serde_json::to_string(&message) {
        Ok(body) => services.transcribe_queue.send(&body).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = sent {
        services.uploads.put(&failed).await?;
        return Err(e).context("queueing an upload retry");
    }
    Ok(upload)
}

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

/// Transcribes one staged upload into a recording and records the outcome on the upload and
/// its job; the new status, or `None` for an upload that does not exist. `Err` is a transient
/// failure for the queue to retry, except on the `final_attempt`, where it fails the upload
/// instead so that no upload stays `transcribing` once its message is dead-lettered. An upload
/// already completed, duplicate or failed is left alone (a notification delivered twice).
pub async fn transcribe_upload(
    services: &Services,
    settings: &UploadTranscription,
    staged: &StagedUpload,
    final_attempt: bool,
) -> Result<Option<UploadStatus>> {
    let Some(mut upload) = services
        .uploads
        .get(&staged.user_id, &staged.upload_id)
        .await?
    else {
        tracing::warn!(upload = %staged.upload_id, "no such upload; message dropped");
        return Ok(None);
    };
    if matches!(
        upload.status,
        UploadStatus::Completed | UploadStatus::Duplicate | UploadStatus::Failed
    ) {
        tracing::info!(upload = %upload.id, status = ?upload.status, "upload already handled");
        return Ok(Some(upload.status));
    }
    let mut job = start_job(services, &upload).await?;
    set_status(services, &mut upload, UploadStatus::Uploaded).await?;
    let done = match import_upload(services, settings, &mut upload, &mut job).await {
        Ok(done) => done,
        Err(Stop::Fail(reason)) => Done::Failed(reason),
        Err(Stop::Retry { reason, cause }) if final_attempt => {
            tracing::error!(upload = %upload.id, error = format!("{cause:#}"), "upload failed on its last attempt");
            Done::Failed(format!("{reason}; retry the upload later"))
        }
        Err(Stop::Retry { reason, cause }) => return Err(cause.context(reason)),
    };
    finish(services, upload, job, done).await.map(Some)
}

async fn set_status(services: &Services, upload: &mut Upload, status: UploadStatus) -> Result<()> {
    upload.status = status;
    upload.error = None;
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
    let mut job = match services.jobs.get(&upload.user_id, &id).await? {
        Some(job) => job,
        None => {
            let mut job =
                SyncJob::new(upload.user_id.clone(), Source::Upload, JobKind::Upload, now);
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
    if let Some(existing) = services
        .recordings
        .find_by_key(&upload.user_id, Source::Upload, &content_id)
        .await?
    {
        return Ok(Done::Duplicate(existing.id));
    }
    let client = TranscribeClient::new(TranscribeSettings::from_config(
        &services.config,
        &services.secrets,
    ))
    .map_err(|e| Stop::Fail(e.to_string()))?;
    set_status(services, upload, UploadStatus::Transcribing).await?;
    let transcription =
        transcribe_reporting_progress(services, settings, &client, spooled.path(), upload, job)
            .await?;
    let content = MeetingContent {
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
    };
    let imported = import_meeting(services, &upload.user_id, content, None, &job.id).await?;
    let recording = || {
        imported
            .recording_id
            .clone()
            .context("an import without its recording id")
    };
    Ok(match imported.outcome {
        ImportOutcome::Imported => Done::Imported(recording()?),
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
            job.failed_items = vec![FailedItem {
                external_id: ExternalId::parse(upload.id.as_str())?,
                reason: reason.clone(),
            }];
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

    fn user(raw: &str) -> UserId {
        UserId::parse(raw).unwrap()
    }

    #[test]
    fn staged_keys_name_their_upload_whatever_the_user_id() {
        let upload = UploadId::new();
        for raw in ["alice", "auth0|5f1c_2", "ada@acme.test", "..", "Zoë/β"] {
            let key = staged_key(&user(raw), &upload, "call.mp3");
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b)),
                "{key}"
            );
            assert!(
                key.split('/').all(|part| !part.is_empty() && part != ".."),
                "{key}"
            );
            let found = staged_upload(&key).unwrap();
            assert_eq!((found.user_id.as_str(), &found.upload_id), (raw, &upload));
        }
        assert_eq!(
            staged_key(&user("alice"), &upload, "call.mp3"),
            format!("uploads/alice/{upload}/call.mp3")
        );
    }

    #[test]
    fn other_keys_name_no_upload() {
        let id = UploadId::new();
        for key in [
            format!("transcripts/alice/{id}/call.mp3"),
            format!("uploads/alice/{id}"),
            format!("uploads/alice/{id}/"),
            "uploads/alice/upl_123/call.mp3".into(),
            format!("uploads/al_zzice/{id}/call.mp3"),
        ] {
            assert_eq!(staged_upload(&key), None, "{key}");
        }
    }

    #[test]
    fn file_names_in_keys_keep_their_extension_and_only_safe_characters() {
        assert_eq!(
            key_filename("Weekly call (final).mp3"),
            "Weekly-call-final-.mp3"
        );
        assert_eq!(key_filename("C:\\Users\\ada\\réunion.m4a"), "r-union.m4a");
        assert_eq!(key_filename("../../etc/passwd"), "passwd");
        assert_eq!(key_filename("..."), "upload");
        let long = format!("{}.webm", "a".repeat(300));
        let cut = key_filename(&long);
        assert_eq!(cut.len(), KEY_FILENAME_MAX);
        assert!(cut.ends_with("a.webm"), "{cut}");
    }

    #[test]
    fn titles_drop_folders_and_the_extension() {
        assert_eq!(
            recording_title("Weekly call.final.mp3"),
            "Weekly call.final"
        );
        assert_eq!(recording_title("C:\\fakepath\\standup.wav"), "standup");
        assert_eq!(recording_title(".mp3"), ".mp3");
        assert_eq!(recording_title("  "), "Uploaded recording");
    }

    #[test]
    fn s3_keys_are_url_decoded_with_plus_as_space() {
        assert_eq!(
            decode_s3_key("uploads/a/my+call%281%29.mp3").unwrap(),
            "uploads/a/my call(1).mp3"
        );
        assert_eq!(decode_s3_key("r%C3%A9union.m4a").unwrap(), "réunion.m4a");
        assert_eq!(decode_s3_key("bad%2"), None);
        assert_eq!(decode_s3_key("bad%zz"), None);
    }

    #[test]
    fn messages_announce_uploads_from_s3_notifications_and_retries() {
        let id = UploadId::new();
        let key = staged_key(&user("auth0|x"), &id, "call.mp3");
        let notification = serde_json::json!({"Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"object": {"key": key, "size": 10}}},
            {"eventName": "ObjectRemoved:Delete", "s3": {"object": {"key": key}}},
            {"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "transcripts/x.json"}}},
        ]});
        let expected = StagedUpload {
            user_id: user("auth0|x"),
            upload_id: id.clone(),
        };
        assert_eq!(
            uploads_in_message(&notification.to_string()).unwrap(),
            vec![expected.clone()]
        );

        let retry = serde_json::to_string(&UploadMessage::Transcribe {
            user_id: user("auth0|x"),
            upload_id: id,
        })
        .unwrap();
        assert_eq!(uploads_in_message(&retry).unwrap(), vec![expected]);

        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#;
        assert_eq!(uploads_in_message(test_event).unwrap(), vec![]);
        assert!(uploads_in_message("{\"type\":\"sync\"}").is_err());
        assert!(uploads_in_message("not json").is_err());
    }

    #[test]
    fn the_sample_notification_names_alices_upload() {
        let event: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/file-transcribe.json")).unwrap();
        let body = event["Records"][0]["body"].as_str().unwrap();
        let uploads = uploads_in_message(body).unwrap();
        assert_eq!(uploads.len(), 1);
        assert_eq!(uploads[0].user_id.as_str(), "alice");
        assert_eq!(
            uploads[0].upload_id.as_str(),
            "upl_0123456789abcdef0123456789abcdef"
        );
    }

    #[test]
    fn each_upload_has_its_own_job_id() {
        let upload = UploadId::new();
        let job = job_id(&upload).unwrap();
        assert_eq!(job, job_id(&upload).unwrap());
        assert_eq!(&job.as_str()[4..], &upload.as_str()[4..]);
    }

    #[test]
    fn the_quota_message_says_when_it_resets() {
        let resets = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 2, 1, 0, 0, 0).unwrap();
        assert_eq!(
            quota_message(10, resets),
            "the monthly import quota (10) is used up; it resets on 2026-02-01 (UTC)"
        );
    }
}
