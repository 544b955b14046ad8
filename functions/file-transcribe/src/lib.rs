//! `file-transcribe`: the transcribe queue's consumer. A message announces staged uploads (S3's
//! notification of a new object, or our own message for a retry); each becomes a recording.
//! Messages are reported with `batchItemFailures`. A transient failure (the transcription API
//! still failing after its retries, storage unavailable) schedules the upload's next attempt
//! with a message of our own and acknowledges this one, so the upload can say when it will be
//! tried again; its last attempt, or a message's last delivery before the dead-letter queue,
//! marks the upload failed with the reason instead. Only a failure to record any of that fails
//! the item, for the queue to deliver again.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, TimeZone, Utc};
use pipeline::pipeline::upload_import::{
    transcribe_upload, uploads_in_message, Delivery, UploadTranscription,
};
use pipeline::queue_events::handle_batch;
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
    let max_receives = services.config.queue_max_receives;
    handle_batch(&event, max_receives, "upload", |record, last| {
        handle_message(services, settings, record, Delivery { last, deadline })
    })
    .await
}

async fn handle_message(
    services: &Services,
    settings: &UploadTranscription,
    record: &SqsMessage,
    delivery: Delivery,
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
    let mut first_error = None;
    for upload in &uploads {
        if let Err(e) = transcribe_upload(services, settings, upload, delivery).await {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone_audio::ToneRecording;
    use fakes::transcribe::{FakeTranscribe, FakeTranscribeOptions};
    use pipeline::domain::{Attempt, Upload, UploadId, UploadStatus};
    use pipeline::pipeline::upload_import::{attempt_message, staged_key, MAX_ATTEMPTS};
    use pipeline::ports::{Clock, ManualClock, Queue, QueueMessage};
    use pipeline::testing::{local_backend, member, TestBackend};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    const SAMPLE_UPLOAD: &str = "upl_0123456789abcdef0123456789abcdef";

    fn sample_event() -> SqsEvent {
        serde_json::from_str(include_str!("../../../events/file-transcribe.json")).unwrap()
    }

    /// Alice's upload of the sample event, staged with `content`.
    async fn staged(backend: &TestBackend, content: &[u8]) -> Upload {
        let (alice, id) = (member("alice"), UploadId::parse(SAMPLE_UPLOAD).unwrap());
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
            .get(&upload.owner(), &upload.id)
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
            .list(&upload.owner(), None, 10)
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
        let max_receives = config.queue_max_receives;
        let key = pipeline::testing::test_secrets().sealing_key;
        let secrets = pipeline::secrets::Secrets::from_lookup(key, |name| {
            (name == "TRANSCRIBE_API_KEY").then(|| api_key.to_owned())
        })
        .unwrap();
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
            .get(&upload.owner(), &done.recording_id.unwrap())
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
            .list(&upload.owner(), None, 10)
            .await
            .unwrap()[0];
        assert_eq!(
            (job.status, job.counts.imported, job.progress.current),
            (pipeline::domain::JobStatus::Completed, 1, 1)
        );
    }

    /// The transcribe queue, holding back what is sent delayed so the test delivers it.
    struct HeldQueue {
        inner: Arc<dyn Queue>,
        delayed: Mutex<Vec<(String, Duration)>>,
    }

    #[async_trait::async_trait]
    impl Queue for HeldQueue {
        async fn send(&self, body: &str) -> anyhow::Result<()> {
            self.inner.send(body).await
        }
        async fn send_delayed(&self, body: &str, delay: Duration) -> anyhow::Result<()> {
            self.delayed.lock().unwrap().push((body.to_owned(), delay));
            Ok(())
        }
        async fn send_batch(&self, bodies: &[String]) -> anyhow::Result<()> {
            self.inner.send_batch(bodies).await
        }
        async fn receive(
            &self,
            max: usize,
            visibility: Duration,
        ) -> anyhow::Result<Vec<QueueMessage>> {
            self.inner.receive(max, visibility).await
        }
        async fn delete(&self, receipt: &str) -> anyhow::Result<()> {
            self.inner.delete(receipt).await
        }
        async fn receive_dead_letters(&self, max: usize) -> anyhow::Result<Vec<QueueMessage>> {
            self.inner.receive_dead_letters(max).await
        }
    }

    /// Replaces the backend's transcribe queue with one that holds delayed messages back.
    fn hold_delayed(backend: &mut TestBackend) -> Arc<HeldQueue> {
        let held = Arc::new(HeldQueue {
            inner: backend.services.transcribe_queue.clone(),
            delayed: Mutex::new(Vec::new()),
        });
        backend.services.transcribe_queue = held.clone();
        held
    }

    /// The sample event with `body` as its message, received `receive_count` times.
    fn event_with(body: &str, receive_count: u32) -> SqsEvent {
        let mut event = sample_event();
        event.records[0].body = Some(body.to_owned());
        event.records[0]
            .attributes
            .insert("ApproximateReceiveCount".into(), receive_count.to_string());
        event
    }

    #[tokio::test]
    async fn while_the_service_keeps_failing_each_attempt_schedules_the_next_until_the_last() {
        let fake = FakeTranscribe::start_with(FakeTranscribeOptions {
            retry_after_seconds: 0,
            ..Default::default()
        })
        .await
        .unwrap();
        let mut backend = backend_with_api(&fake);
        let held = hold_delayed(&mut backend);
        let (_, wav) = tone_wav(6.0, 2);
        let upload = staged(&backend, &wav).await;

        fake.fail_next(5 * MAX_ATTEMPTS as usize, 429);
        let mut event = sample_event();
        let mut waits = Vec::new();
        for attempt in 1..MAX_ATTEMPTS {
            let response = run(&backend, event).await;
            assert!(
                response.batch_item_failures.is_empty(),
                "the message is acknowledged: the next attempt has its own"
            );
            let waiting = reread(&backend, &upload).await;
            let error = waiting.error.clone().unwrap_or_default();
            assert!(error.contains("HTTP 429"), "{error}");
            assert!(!error.contains("retry the upload"), "{error}");
            assert_eq!(waiting.status, UploadStatus::Transcribing);
            assert_eq!(waiting.attempt.number, attempt + 1);
            let (body, wait) = held
                .delayed
                .lock()
                .unwrap()
                .pop()
                .expect("a delayed message");
            assert_eq!(
                waiting.next_attempt_at,
                Some(backend.clock.now() + chrono::Duration::from_std(wait).unwrap()),
                "the upload says when the queued attempt runs"
            );
            waits.push(wait.as_secs());
            event = event_with(&body, 1);
        }
        assert_eq!(waits, [60, 300, 900, 900]);

        let response = run(&backend, event).await;
        assert!(response.batch_item_failures.is_empty());
        let failed = reread(&backend, &upload).await;
        assert_eq!(failed.status, UploadStatus::Failed);
        assert_eq!(failed.next_attempt_at, None);
        let error = failed.error.unwrap();
        assert!(
            error.contains("429") && error.contains("retry the upload"),
            "{error}"
        );
        assert!(
            held.delayed.lock().unwrap().is_empty(),
            "no attempt after the last"
        );
        assert_eq!(fake.stats().requests, 5 * u64::from(MAX_ATTEMPTS));
    }

    #[tokio::test]
    async fn an_overtaken_attempt_does_nothing_and_a_later_one_completes_the_upload() {
        let fake = FakeTranscribe::start_with(FakeTranscribeOptions {
            retry_after_seconds: 0,
            ..Default::default()
        })
        .await
        .unwrap();
        let mut backend = backend_with_api(&fake);
        let held = hold_delayed(&mut backend);
        let (recording, wav) = tone_wav(6.0, 3);
        let upload = staged(&backend, &wav).await;
        fake.fail_next(5, 503);
        assert!(run(&backend, sample_event())
            .await
            .batch_item_failures
            .is_empty());
        let (second, _) = held.delayed.lock().unwrap().pop().unwrap();

        // S3 delivers its notification again: the first attempt is over, so it does nothing.
        run(&backend, sample_event()).await;
        assert_eq!(fake.stats().requests, 5);
        assert_eq!(reread(&backend, &upload).await.attempt.number, 2);

        run(&backend, event_with(&second, 1)).await;
        let done = reread(&backend, &upload).await;
        assert_eq!(
            (done.status, done.error.as_deref(), done.next_attempt_at),
            (UploadStatus::Completed, None, None)
        );
        let stored = backend
            .services
            .recordings
            .get(&upload.owner(), &done.recording_id.unwrap())
            .await
            .unwrap()
            .unwrap();
        let pipeline::domain::TranscriptRef::Inline { segments } = &stored.transcript else {
            panic!("a short transcript is kept inline")
        };
        let texts: Vec<String> = segments.iter().map(|s| s.text.clone()).collect();
        assert_eq!(texts, recording.texts());
    }

    #[tokio::test]
    async fn the_last_delivery_before_the_dead_letter_queue_fails_the_upload_as_configured() {
        let fake = FakeTranscribe::start_with(FakeTranscribeOptions {
            retry_after_seconds: 0,
            ..Default::default()
        })
        .await
        .unwrap();
        let mut backend = backend_with(
            &fake.base_url(),
            fake.api_key(),
            &[("QUEUE_MAX_RECEIVES", "2")],
        );
        let held = hold_delayed(&mut backend);
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
        assert!(held.delayed.lock().unwrap().is_empty());
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
            .get(&upload.owner(), &done.recording_id.unwrap())
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

    /// A server that takes connections and closes them without an answer.
    async fn hang_up_server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        format!("http://{addr}/v1")
    }

    #[tokio::test]
    async fn an_unreachable_service_fails_the_last_attempt_without_showing_its_address() {
        let base_url = hang_up_server().await;
        let mut backend = backend_with(&base_url, "sk-test", &[]);
        // Quick retries within an attempt: the API's client is built once, with its back-off.
        let mut providers = backend.services.providers().await.unwrap().clone();
        let mut settings = pipeline::connectors::upload::TranscribeSettings::new(
            base_url.parse().unwrap(),
            Some(pipeline::crypto::SecretString::new("sk-test")),
            "whisper-1",
        );
        settings.initial_backoff = Duration::from_millis(5);
        settings.max_backoff = Duration::from_millis(10);
        providers.transcribe =
            Some(pipeline::connectors::upload::TranscribeClient::new(settings).unwrap());
        backend.services.providers = Arc::new(providers.into());
        let (_, wav) = tone_wav(6.0, 7);
        let upload = staged(&backend, &wav).await;
        let last = attempt_message(
            &upload,
            Attempt {
                round: 0,
                number: MAX_ATTEMPTS,
            },
        );
        run(&backend, event_with(&last.to_body(), 1)).await;
        let failed = reread(&backend, &upload).await;
        assert_eq!(failed.status, UploadStatus::Failed);
        let error = failed.error.unwrap();
        assert!(
            !error.contains("http://") && !error.contains("127.0.0.1"),
            "{error}"
        );
        assert!(error.contains("transcription API"), "{error}");
    }
}
