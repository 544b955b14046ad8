//! Trying an upload again: by itself after a transient failure (the transcription API down or
//! busy, storage unavailable), and when its user asks.
//!
//! A transient failure does not fail the queue message: the consumer acknowledges it and
//! queues its own message for the next attempt, delayed by the wait below, and records on the
//! upload why the attempt did not finish and when the next one runs. So the user sees the
//! reason and the time, and the time is exact. The last attempt of a round fails the upload
//! with the reason. A user may retry an upload that failed, or one that has made no progress
//! for `STALLED_AFTER` past when it was due (its worker died); a retry starts a new round,
//! which overtakes any message still queued for the old one.

use super::messages::UploadMessage;
use crate::domain::{Attempt, Upload, UploadStatus};
use crate::services::Services;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Attempts in a round, the first included.
pub const MAX_ATTEMPTS: u32 = 5;

/// The wait before each attempt after the first: growing, and within SQS's 15-minute limit on
/// a message's delay.
const WAITS: [Duration; (MAX_ATTEMPTS - 1) as usize] = [
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(15 * 60),
    Duration::from_secs(15 * 60),
];

/// How long an upload on its way may go without saving progress before it counts as stuck. A
/// worker runs at most 15 minutes (the function's timeout) and saves progress with every
/// chunk, so by then it is gone.
pub const STALLED_AFTER: chrono::Duration = chrono::Duration::minutes(15);

/// The wait before the attempt after `attempt`; `None` when `attempt` is its round's last.
pub fn wait_after(attempt: Attempt) -> Option<Duration> {
    let index = usize::try_from(attempt.number.checked_sub(1)?).ok()?;
    WAITS.get(index).copied()
}

/// The message that asks for `attempt` at `upload`.
pub fn attempt_message(upload: &Upload, attempt: Attempt) -> UploadMessage {
    UploadMessage::Transcribe {
        workspace_id: Some(upload.workspace_id.clone()),
        user_id: upload.user_id.clone(),
        upload_id: upload.id.clone(),
        attempt,
    }
}

/// Why the user may not retry `upload` now; `None` when they may.
pub fn retry_refusal(upload: &Upload, now: DateTime<Utc>) -> Option<String> {
    match upload.status {
        UploadStatus::Failed => None,
        UploadStatus::Uploaded | UploadStatus::Transcribing => {
            let due = upload
                .next_attempt_at
                .map_or(upload.updated_at, |next| next.max(upload.updated_at));
            let stuck_at = due + STALLED_AFTER;
            (now < stuck_at).then(|| {
                format!(
                    "the upload is on its way (last progress at {}); it can be retried if it \
                     makes none until {}",
                    minute(upload.updated_at),
                    minute(stuck_at)
                )
            })
        }
        UploadStatus::Pending => {
            Some("the file has not arrived yet; send it to the upload URL first".into())
        }
        UploadStatus::Completed | UploadStatus::Duplicate => {
            Some("the upload is already imported".into())
        }
    }
}

fn minute(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Starts a new round of attempts at an upload its user retries, marked `uploaded` again. When
/// the message cannot be sent the upload is put back as it was and the error returned.
pub async fn retry_upload(services: &Services, previous: Upload) -> Result<Upload> {
    let mut upload = previous.clone();
    upload.status = UploadStatus::Uploaded;
    upload.error = None;
    upload.chunks_done = 0;
    upload.chunks_total = 0;
    upload.attempt = previous.attempt.next_round();
    upload.next_attempt_at = None;
    upload.updated_at = services.clock.now();
    services.uploads.put(&upload).await?;
    let message = attempt_message(&upload, upload.attempt).to_body();
    if let Err(e) = services.transcribe_queue.send(&message).await {
        services.uploads.put(&previous).await?;
        return Err(e).context("queueing an upload retry");
    }
    Ok(upload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UploadId;
    use chrono::TimeZone;

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
    }

    fn upload(status: UploadStatus, updated_minute: i64, next: Option<i64>) -> Upload {
        let mut upload = Upload::pending(
            UploadId::new(),
            crate::testing::member("alice"),
            "call.mp3".into(),
            "audio/mpeg".into(),
            10,
            "uploads/alice/x/call.mp3".into(),
            at(0),
        );
        upload.status = status;
        upload.updated_at = at(updated_minute);
        upload.next_attempt_at = next.map(at);
        upload
    }

    #[test]
    fn waits_grow_to_the_queues_limit_and_the_fifth_attempt_is_the_last() {
        let waits: Vec<u64> = (1..=MAX_ATTEMPTS)
            .map_while(|number| wait_after(Attempt { round: 2, number }))
            .map(|wait| wait.as_secs())
            .collect();
        assert_eq!(waits, [60, 300, 900, 900]);
        assert!(waits.iter().all(|w| *w <= 900));
        assert_eq!(wait_after(Attempt::default()), None);
    }

    #[test]
    fn failed_and_stuck_uploads_may_be_retried_others_not() {
        use UploadStatus::*;
        assert_eq!(retry_refusal(&upload(Failed, 0, None), at(1)), None);
        // Progress a minute ago: on its way.
        let moving = retry_refusal(&upload(Transcribing, 10, None), at(11)).unwrap();
        assert!(moving.contains("09:25 UTC"), "{moving}");
        // No progress for 15 minutes: stuck.
        assert_eq!(retry_refusal(&upload(Transcribing, 10, None), at(25)), None);
        assert_eq!(retry_refusal(&upload(Uploaded, 10, None), at(40)), None);
        // Waiting for an attempt due at :25: stuck only 15 minutes after that.
        assert!(retry_refusal(&upload(Transcribing, 10, Some(25)), at(30)).is_some());
        assert_eq!(
            retry_refusal(&upload(Transcribing, 10, Some(25)), at(40)),
            None
        );
        for status in [Pending, Completed, Duplicate] {
            assert!(
                retry_refusal(&upload(status, 0, None), at(600)).is_some(),
                "{status:?}"
            );
        }
    }
}
