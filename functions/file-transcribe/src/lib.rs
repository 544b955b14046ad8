//! `file-transcribe`: the transcribe queue's consumer. A message announces staged uploads (S3's
//! notification of a new object, or a retry); each becomes a recording. Messages are reported
//! with `batchItemFailures`: a transient failure (the transcription API still failing after its
//! retries, storage unavailable) fails the item so the queue delivers it again; a failure no
//! retry can fix, or a transient one on the last delivery before the dead-letter queue, marks
//! the upload failed with the reason and acknowledges the message.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, TimeZone, Utc};
use pipeline::pipeline::upload_import::{
    transcribe_upload, uploads_in_message, Delivery, UploadTranscription,
};
use pipeline::services::Services;

#[cfg(any(test, feature = "testing"))]
pub mod tone_audio;

/// The invocation's deadline from the Lambda context's milliseconds since the epoch.
pub fn deadline(epoch_millis: u64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(epoch_millis as i64)
        .single()
        .unwrap_or_else(Utc::now)
}

/// Handles a batch; `deadline` is when the invocation is stopped.
pub async fn handle(
    services: &Services,
    event: SqsEvent,
    deadline: DateTime<Utc>,
) -> SqsBatchResponse {
    let settings = UploadTranscription::from_config(&services.config);
    handle_with(services, &settings, event, deadline).await
}

/// `handle` with chosen transcription settings (parallelism, temporary directory).
pub async fn handle_with(
    services: &Services,
    settings: &UploadTranscription,
    event: SqsEvent,
    deadline: DateTime<Utc>,
) -> SqsBatchResponse {
    let outcomes = futures::future::join_all(
        event
            .records
            .iter()
            .map(|record| handle_message(services, settings, record, deadline)),
    )
    .await;
    let mut response = SqsBatchResponse::default();
    for (record, outcome) in event.records.iter().zip(outcomes) {
        if let Err(e) = outcome {
            let id = record.message_id.clone().unwrap_or_default();
            tracing::warn!(
                message = id,
                error = format!("{e:#}"),
                "upload message will be retried"
            );
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

async fn handle_message(
    services: &Services,
    settings: &UploadTranscription,
    record: &SqsMessage,
    deadline: DateTime<Utc>,
) -> anyhow::Result<()> {
    let body = record.body.as_deref().unwrap_or_default();
    let uploads = match uploads_in_message(body) {
        Ok(uploads) => uploads,
        Err(e) => {
            // Retrying cannot fix a message we cannot read: drop it, loudly.
            tracing::error!(error = %e, "unreadable transcribe message dropped");
            return Ok(());
        }
    };
    let delivery = Delivery {
        last: receive_count(record) >= services.config.transcribe_queue_max_receives,
        deadline,
    };
    let mut first_error = None;
    for upload in &uploads {
        if let Err(e) = transcribe_upload(services, settings, upload, delivery).await {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone_audio::ToneRecording;
    use fakes::transcribe::{FakeTranscribe, FakeTranscribeOptions};
    use pipeline::domain::{Upload, UploadId, UploadStatus};
    use pipeline::pipeline::upload_import::staged_key;
    use pipeline::ports::{Clock, ManualClock};
    use pipeline::testing::{local_backend, user, TestBackend};
    use std::sync::Arc;
    use std::time::Duration;

    const SAMPLE_UPLOAD: &str = "upl_0123456789abcdef0123456789abcdef";

    fn sample_event() -> SqsEvent {
        serde_json::from_str(include_str!("../../../events/file-transcribe.json")).unwrap()
    }

    /// Alice's upload of the sample event, staged with `content`.
    async fn staged(backend: &TestBackend, content: &[u8]) -> Upload {
        let (alice, id) = (user("alice"), UploadId::parse(SAMPLE_UPLOAD).unwrap());
        let now = backend.clock.now();
        let key = staged_key(&alice, &id, "weekly-call.mp3");
        let upload = Upload::pending(
            id,
            alice,
            "weekly-call.mp3".into(),
            "audio/mpeg".into(),
            content.len() as u64,
            key,
            now,
        );
        backend.services.uploads.put(&upload).await.unwrap();
        let bytes = bytes::Bytes::copy_from_slice(content);
        backend
            .services
            .blobs
            .put(&upload.object_key, bytes, "audio/mpeg")
            .await
            .unwrap();
        upload
    }

    /// Handles `event` as an invocation that may run 15 minutes.
    async fn run(backend: &TestBackend, event: SqsEvent) -> SqsBatchResponse {
        let deadline = backend.clock.now() + chrono::Duration::minutes(15);
        handle(&backend.services, event, deadline).await
    }

    async fn reread(backend: &TestBackend, upload: &Upload) -> Upload {
        backend
            .services
            .uploads
            .get(&upload.user_id, &upload.id)
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn a_document_renamed_to_mp3_fails_with_what_it_is_and_the_message_is_acknowledged() {
        let backend = local_backend().await;
        let upload = staged(&backend, b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n").await;
        let response = run(&backend, sample_event()).await;
        assert!(response.batch_item_failures.is_empty());
        let failed = reread(&backend, &upload).await;
        assert_eq!(failed.status, UploadStatus::Failed);
        let error = failed.error.unwrap();
        assert!(error.contains("looks like a PDF document"), "{error}");
        assert!(
            backend
                .services
                .blobs
                .get(&upload.object_key)
                .await
                .unwrap()
                .is_some(),
            "a failed upload keeps its file for a retry"
        );
        let jobs = backend
            .services
            .jobs
            .list(&upload.user_id, None, 10)
            .await
            .unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].counts.failed, jobs[0].kind),
            (1, pipeline::domain::JobKind::Upload)
        );
        assert!(jobs[0]
            .summary
            .as_deref()
            .unwrap()
            .starts_with("weekly-call.mp3: "));
    }

    #[tokio::test]
    async fn without_a_transcription_key_the_upload_fails_naming_the_setting() {
        let backend = local_backend().await;
        // A real MP3 frame header, so the file gets as far as transcription.
        let upload = staged(&backend, &[0xFF, 0xFB, 0x90, 0x64, 0, 0, 0, 0]).await;
        let response = run(&backend, sample_event()).await;
        assert!(response.batch_item_failures.is_empty());
        let failed = reread(&backend, &upload).await;
        assert_eq!(failed.status, UploadStatus::Failed);
        assert!(failed.error.unwrap().contains("TRANSCRIBE_API_KEY"));
    }

    #[tokio::test]
    async fn unknown_uploads_and_unreadable_messages_are_acknowledged() {
        let backend = local_backend().await;
        assert!(run(&backend, sample_event())
            .await
            .batch_item_failures
            .is_empty());
        let mut garbage = sample_event();
        garbage.records[0].body = Some("{\"type\":\"nonsense\"}".into());
        assert!(run(&backend, garbage).await.batch_item_failures.is_empty());
    }

    #[tokio::test]
    async fn an_upload_whose_file_is_gone_fails_and_a_second_delivery_changes_nothing() {
        let backend = local_backend().await;
        let upload = staged(&backend, b"RIFF").await;
        backend
            .services
            .blobs
            .delete(&upload.object_key)
            .await
            .unwrap();
        run(&backend, sample_event()).await;
        let failed = reread(&backend, &upload).await;
        assert_eq!(failed.status, UploadStatus::Failed);
        assert!(failed
            .error
            .as_deref()
            .unwrap()
            .contains("no longer stored"));
        run(&backend, sample_event()).await;
        assert_eq!(reread(&backend, &upload).await, failed);
    }

    /// A local backend whose transcription API is `fake`.
    fn backend_with_api(fake: &FakeTranscribe) -> TestBackend {
        backend_with(&fake.base_url(), fake.api_key(), &[])
    }

    /// A local backend whose transcription API is at `base_url`, with more settings.
    fn backend_with(base_url: &str, api_key: &str, vars: &[(&str, &str)]) -> TestBackend {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_string_lossy().into_owned();
        let config = pipeline::config::Config::from_lookup(|name| match name {
            "LOCAL_DATA_DIR" => Some(data_dir.clone()),
            "TRANSCRIBE_API_BASE_URL" => Some(base_url.to_owned()),
            _ => vars
                .iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| value.to_string()),
        })
        .unwrap();
        let max_receives = config.transcribe_queue_max_receives;
        let key = pipeline::testing::test_secrets().sealing_key;
        let secrets = pipeline::secrets::Secrets::from_lookup(key, |name| {
            (name == "TRANSCRIBE_API_KEY").then(|| api_key.to_owned())
        });
        let clock = Arc::new(ManualClock::new(pipeline::testing::epoch()));
        let backend = pipeline::adapters::local::LocalBackend::open_with(
            Arc::new(config),
            clock.clone(),
            Some(secrets),
        )
        .unwrap();
        TestBackend {
            services: backend.services,
            clock,
            max_receives,
            guard: Box::new(dir),
        }
    }

    fn tone_wav(seconds: f64, seed: u64) -> (ToneRecording, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tones.wav");
        let recording = ToneRecording::new(seconds, seed);
        recording.write_wav(&path).unwrap();
        (recording, std::fs::read(path).unwrap())
    }

    #[tokio::test]
    async fn a_recording_is_transcribed_stored_under_its_hash_and_its_staged_file_removed() {
        let fake = FakeTranscribe::start().await.unwrap();
        let backend = backend_with_api(&fake);
        let (recording, wav) = tone_wav(20.0, 1);
        let upload = staged(&backend, &wav).await;
        assert!(run(&backend, sample_event())
            .await
            .batch_item_failures
            .is_empty());

        let done = reread(&backend, &upload).await;
        assert_eq!(
            (
                done.status,
                done.chunks_done,
                done.chunks_total,
                done.error.as_deref()
            ),
            (UploadStatus::Completed, 1, 1, None)
        );
        let stored = backend
            .services
            .recordings
            .get(&upload.user_id, &done.recording_id.unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.title, "weekly-call");
        assert_eq!(stored.source, pipeline::domain::Source::Upload);
        assert_eq!(
            stored.external_id.as_str(),
            pipeline::domain::hex_digest(&wav)
        );
        assert!((stored.duration_seconds.unwrap() - 20.0).abs() < 0.01);
        let pipeline::domain::TranscriptRef::Inline { segments } = &stored.transcript else {
            panic!("a short transcript is kept inline")
        };
        let texts: Vec<String> = segments.iter().map(|s| s.text.clone()).collect();
        assert_eq!(texts, recording.texts());
        assert!(backend
            .services
            .blobs
            .get(&upload.object_key)
            .await
            .unwrap()
            .is_none());
        let job = &backend
            .services
            .jobs
            .list(&upload.user_id, None, 10)
            .await
            .unwrap()[0];
        assert_eq!(
            (job.status, job.counts.imported, job.progress.current),
            (pipeline::domain::JobStatus::Completed, 1, 1)
        );
    }

    #[tokio::test]
    async fn a_service_that_keeps_failing_is_retried_by_the_queue_until_the_last_delivery() {
        let fake = FakeTranscribe::start_with(FakeTranscribeOptions {
            retry_after_seconds: 0,
            ..Default::default()
        })
        .await
        .unwrap();
        let backend = backend_with_api(&fake);
        let (_, wav) = tone_wav(6.0, 2);
        let upload = staged(&backend, &wav).await;

        fake.fail_next(5, 429);
        let response = run(&backend, sample_event()).await;
        assert_eq!(
            response.batch_item_failures.len(),
            1,
            "the queue delivers it again"
        );
        assert_eq!(
            reread(&backend, &upload).await.status,
            UploadStatus::Transcribing
        );

        fake.fail_next(5, 429);
        let mut last = sample_event();
        last.records[0].attributes.insert(
            "ApproximateReceiveCount".into(),
            backend.max_receives.to_string(),
        );
        assert!(run(&backend, last).await.batch_item_failures.is_empty());
        let failed = reread(&backend, &upload).await;
        assert_eq!(failed.status, UploadStatus::Failed);
        let error = failed.error.unwrap();
        assert!(
            error.contains("429") && error.contains("retry the upload"),
            "{error}"
        );
        assert_eq!(fake.stats().requests, 10);
    }

    #[tokio::test]
    async fn the_last_delivery_before_the_dead_letter_queue_is_as_configured() {
        let fake = FakeTranscribe::start_with(FakeTranscribeOptions {
            retry_after_seconds: 0,
            ..Default::default()
        })
        .await
        .unwrap();
        let backend = backend_with(
            &fake.base_url(),
            fake.api_key(),
            &[("TRANSCRIBE_QUEUE_MAX_RECEIVES", "2")],
        );
        let (_, wav) = tone_wav(6.0, 4);
        let upload = staged(&backend, &wav).await;
        fake.fail_next(5, 429);
        let mut second_delivery = sample_event();
        second_delivery.records[0]
            .attributes
            .insert("ApproximateReceiveCount".into(), "2".into());
        assert!(run(&backend, second_delivery)
            .await
            .batch_item_failures
            .is_empty());
        let failed = reread(&backend, &upload).await;
        assert_eq!(failed.status, UploadStatus::Failed);
        assert!(failed.error.unwrap().contains("retry the upload"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_notifications_of_one_upload_at_once_transcribe_it_once() {
        let fake = FakeTranscribe::start().await.unwrap();
        fake.set_latency_per_audio_second(Duration::from_millis(25));
        let backend = backend_with_api(&fake);
        let (recording, wav) = tone_wav(20.0, 5);
        let upload = staged(&backend, &wav).await;
        let mut twice = sample_event();
        let mut again = twice.records[0].clone();
        again.message_id = Some("a-second-delivery".into());
        twice.records.push(again);

        let response = run(&backend, twice).await;
        assert!(response.batch_item_failures.is_empty());
        let done = reread(&backend, &upload).await;
        assert_eq!(done.status, UploadStatus::Completed, "{done:?}");
        assert_eq!(fake.stats().transcribed, 1, "each chunk is sent once");
        assert_eq!(fake.stats().audio_seconds, 20.0);
        let stored = backend
            .services
            .recordings
            .get(&upload.user_id, &done.recording_id.unwrap())
            .await
            .unwrap()
            .unwrap();
        let pipeline::domain::TranscriptRef::Inline { segments } = &stored.transcript else {
            panic!("a short transcript is kept inline")
        };
        assert_eq!(segments.len(), recording.texts().len());
        let claim = format!("upload:{}", upload.id);
        assert!(
            backend
                .services
                .leases
                .acquire(
                    &claim,
                    "next",
                    backend.clock.now() + chrono::Duration::minutes(1),
                    backend.clock.now()
                )
                .await
                .unwrap(),
            "the claim is released when the upload is done"
        );
    }

    #[tokio::test]
    async fn a_claim_left_by_a_dead_worker_expires_and_the_redelivery_takes_over() {
        let fake = FakeTranscribe::start().await.unwrap();
        let backend = backend_with_api(&fake);
        let (_, wav) = tone_wav(6.0, 6);
        let upload = staged(&backend, &wav).await;
        let now = backend.clock.now();
        let claim = format!("upload:{}", upload.id);
        let dead_deadline = now + chrono::Duration::minutes(15);
        assert!(backend
            .services
            .leases
            .acquire(&claim, "a-worker-that-died", dead_deadline, now)
            .await
            .unwrap());
        run(&backend, sample_event()).await;
        assert_eq!(
            reread(&backend, &upload).await.status,
            UploadStatus::Pending,
            "the claimant is still within its time"
        );
        assert_eq!(fake.stats().requests, 0);

        backend.clock.advance(chrono::Duration::minutes(16));
        let mut redelivered = sample_event();
        redelivered.records[0]
            .attributes
            .insert("ApproximateReceiveCount".into(), "2".into());
        run(&backend, redelivered).await;
        assert_eq!(
            reread(&backend, &upload).await.status,
            UploadStatus::Completed
        );
    }
}
