//! Uploads end to end: start an upload, PUT the file to the presigned URL, and follow it to a
//! recording, against the fake transcription API on loopback. The recordings are generated
//! tone bursts (the fake hears each burst as `tone <Hz>`) or the audio engine's small
//! compressed fixtures.

use fakes::transcribe::{FakeTranscribe, FakeTranscribeOptions};
use file_transcribe::tone_audio::ToneRecording;
use pipeline::ports::{Clock, ManualClock, Queue, QueueMessage};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use system_tests::{assert_error, eventually, read, Settings, TestApp};

/// The transcription API's request limit.
const API_LIMIT: u64 = 25_000_000;

struct World {
    fake: FakeTranscribe,
    app: TestApp,
    files: tempfile::TempDir,
}

/// The app with the fake as its transcription API; `with_key: false` leaves the key unset.
async fn world_with(settings: Settings, with_key: bool) -> World {
    world_with_fake(settings, with_key, FakeTranscribeOptions::default()).await
}

async fn world_with_fake(
    settings: Settings,
    with_key: bool,
    options: FakeTranscribeOptions,
) -> World {
    let fake = FakeTranscribe::start_with(options)
        .await
        .expect("fake transcription API");
    let mut settings = settings
        .set("TRANSCRIBE_API_BASE_URL", fake.base_url())
        .set("TRANSCRIBE_MODEL", "whisper-1");
    if with_key {
        settings = settings.set("TRANSCRIBE_API_KEY", fake.api_key());
    }
    let app = TestApp::start_with(settings, |server| server).await;
    World {
        fake,
        app,
        files: tempfile::tempdir().unwrap(),
    }
}

async fn world() -> World {
    world_with(Settings::default(), true).await
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/fixtures/audio")
        .join(name)
}

fn texts(recording: &Value) -> Vec<String> {
    recording["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_owned())
        .collect()
}

impl World {
    /// A generated recording of `seconds` written to a file of this test.
    fn tone_file(&self, name: &str, seconds: f64, seed: u64) -> (ToneRecording, PathBuf) {
        let recording = ToneRecording::new(seconds, seed);
        let path = self.files.path().join(name);
        recording.write_wav(&path).unwrap();
        (recording, path)
    }

    fn file_of(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.files.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    async fn start(&self, user: &str, body: Value) -> (StatusCode, Value) {
        self.app
            .send_json(Method::POST, "/uploads", user, &body)
            .await
    }

    /// PUTs the file at `path` where a started upload says, with the headers it names.
    async fn put(&self, started: &Value, path: &Path) {
        let mut request = self
            .app
            .client
            .put(started["upload_url"].as_str().unwrap())
            .body(tokio::fs::File::open(path).await.unwrap());
        for (name, value) in started["headers"].as_object().unwrap() {
            request = request.header(name, value.as_str().unwrap());
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{:?}",
            read(response).await
        );
    }

    /// Starts an upload of the file at `path` as `user`, named `filename`, and sends the file;
    /// the upload's id.
    async fn upload(&self, user: &str, filename: &str, content_type: &str, path: &Path) -> String {
        let size = std::fs::metadata(path).unwrap().len();
        let body = json!({"filename": filename, "content_type": content_type, "size_bytes": size});
        let (status, started) = self.start(user, body).await;
        assert_eq!(status, StatusCode::CREATED, "{started}");
        assert_eq!(started["method"], "PUT");
        self.put(&started, path).await;
        started["upload_id"].as_str().unwrap().to_owned()
    }

    /// PUTs `body` to `url` with `content_type`; the answer.
    async fn put_body(
        &self,
        url: &str,
        content_type: &str,
        body: reqwest::Body,
    ) -> (StatusCode, Value) {
        let request = self
            .app
            .client
            .put(url)
            .header("content-type", content_type)
            .body(body);
        read(request.send().await.unwrap()).await
    }

    async fn status(&self, user: &str, id: &str) -> (StatusCode, Value) {
        self.app.get(&format!("/uploads/{id}"), Some(user)).await
    }

    /// Waits until the upload is no longer on its way and returns it.
    async fn finished(&self, user: &str, id: &str, seconds: u64) -> Value {
        eventually(seconds, "the upload finishes", || async {
            let status = self.status(user, id).await.1["status"].clone();
            !matches!(
                status.as_str(),
                Some("pending" | "uploaded" | "transcribing")
            )
        })
        .await;
        self.status(user, id).await.1
    }

    async fn recording(&self, user: &str, upload: &Value) -> Value {
        let id = upload["recording_id"].as_str().expect("a recording id");
        let (status, recording) = self.app.get(&format!("/recordings/{id}"), Some(user)).await;
        assert_eq!(status, StatusCode::OK, "{recording}");
        recording
    }

    async fn upload_recordings(&self, user: &str) -> Vec<Value> {
        let (_, body) = self
            .app
            .get("/recordings?source=upload&limit=100", Some(user))
            .await;
        body["items"].as_array().unwrap().clone()
    }

    /// Staged files still in the local blob store.
    fn staged_files(&self) -> usize {
        fn count(dir: &Path) -> usize {
            std::fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .map(|e| e.unwrap().path())
                    .map(|p| if p.is_dir() { count(&p) } else { 1 })
                    .sum()
            })
        }
        let data_dir = &self.app.services().config.local_data_dir;
        count(&data_dir.join("blobs").join("uploads"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forty_minute_recording_becomes_one_ordered_transcript_from_several_chunks() {
    let w = world().await;
    let seconds = 40.0 * 60.0;
    let (played, path) = w.tone_file("all-hands.wav", seconds, 40);
    assert!(std::fs::metadata(&path).unwrap().len() > 3 * API_LIMIT);

    let id = w.upload("alice", "All hands.wav", "audio/wav", &path).await;
    let upload = w.finished("alice", &id, 600).await;
    assert_eq!(upload["status"], "completed", "{upload}");
    let (done, total) = (
        upload["progress"]["chunks_done"].as_u64().unwrap(),
        upload["progress"]["chunks_total"].as_u64().unwrap(),
    );
    assert!(total >= 4, "{total} chunks");
    assert_eq!(done, total);
    let stats = w.fake.stats();
    assert_eq!(stats.transcribed, total, "one request per chunk");
    assert!(
        stats.largest_request_bytes < API_LIMIT,
        "{} bytes",
        stats.largest_request_bytes
    );

    let recording = w.recording("alice", &upload).await;
    assert_eq!(recording["title"], "All hands");
    assert!((recording["duration_seconds"].as_f64().unwrap() - seconds).abs() < 0.01);
    assert_eq!(
        texts(&recording),
        played.texts(),
        "every burst once, in order, none doubled at the cuts"
    );
    let starts: Vec<f64> = recording["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start_seconds"].as_f64().unwrap())
        .collect();
    for (start, burst) in starts.iter().zip(&played.bursts) {
        assert!(
            (start - burst.start_seconds).abs() < 0.05,
            "{} heard at {start}",
            burst.text()
        );
    }
    assert!(
        starts.last().unwrap() > &(seconds - 10.0),
        "the transcript runs to the end"
    );
    assert_eq!(w.staged_files(), 0, "the staged file is deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recording_is_transcribed_with_as_many_requests_at_once_as_configured() {
    let w = world_with(Settings::default().set("TRANSCRIBE_CONCURRENCY", "3"), true).await;
    // The fake answers nothing until three requests are waiting at once.
    w.fake.hold_until_in_flight(3);
    let (played, path) = w.tone_file("planning.wav", 20.0 * 60.0, 20);

    let id = w.upload("alice", "Planning.wav", "audio/wav", &path).await;
    let upload = w.finished("alice", &id, 600).await;
    assert_eq!(upload["status"], "completed", "{upload}");
    // Three chunks, one per request slot, all in flight at once.
    assert_eq!(upload["progress"]["chunks_total"], 3);
    assert_eq!(w.fake.stats().peak_concurrent_requests, 3);
    let recording = w.recording("alice", &upload).await;
    assert_eq!(
        texts(&recording),
        played.texts(),
        "every burst once, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn small_compressed_files_uploaded_at_once_are_each_transcribed() {
    let w = world().await;
    let tones = vec!["tone 440".to_owned(), "tone 660".to_owned()];
    let files = [
        ("tones.mp3", "audio/mpeg", tones.clone()),
        ("tones.m4a", "audio/mp4", tones),
        // No Opus decoder here: a small WebM goes to the API as it is.
        (
            "tones.webm",
            "audio/webm",
            vec!["received webm audio".to_owned()],
        ),
    ];
    let paths: Vec<PathBuf> = files.iter().map(|(name, _, _)| fixture(name)).collect();
    let uploads = files
        .iter()
        .zip(&paths)
        .map(|((name, content_type, _), path)| w.upload("alice", name, content_type, path));
    let ids = futures::future::join_all(uploads).await;
    for ((name, _, expected), id) in files.iter().zip(&ids) {
        let upload = w.finished("alice", id, 60).await;
        assert_eq!(upload["status"], "completed", "{name}: {upload}");
        assert_eq!(upload["filename"], *name);
        let recording = w.recording("alice", &upload).await;
        assert_eq!(&texts(&recording), expected, "{name}");
        assert_eq!(recording["title"], "tones");
    }
    assert_eq!(
        w.upload_recordings("alice").await.len(),
        3,
        "each its own recording"
    );
}

#[tokio::test]
async fn a_document_renamed_to_mp3_fails_with_what_it_is() {
    let w = world().await;
    let path = w.file_of(
        "board.pdf",
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n",
    );
    let id = w
        .upload("alice", "board-meeting.mp3", "audio/mpeg", &path)
        .await;
    let upload = w.finished("alice", &id, 30).await;
    assert_eq!(upload["status"], "failed");
    assert_eq!(upload["recording_id"], Value::Null);
    let error = upload["error"].as_str().unwrap();
    assert!(
        error.contains("not audio or video") && error.contains("PDF"),
        "{error}"
    );
    assert_eq!(w.fake.stats().requests, 0);
    assert!(w.upload_recordings("alice").await.is_empty());

    // It is a failed import, named after its file, and "Retry all" tries it again.
    let (_, failed) = w.app.get("/failed-imports", Some("alice")).await;
    let items = failed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{failed}");
    assert_eq!(
        (
            &items[0]["kind"],
            &items[0]["upload_id"],
            &items[0]["title"]
        ),
        (&json!("upload"), &json!(id), &json!("board-meeting.mp3"))
    );
    assert!(items[0]["reason"].as_str().unwrap().contains("PDF"));
    let (status, answer) = w
        .app
        .send_json(Method::POST, "/failed-imports/retry", "alice", &json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["upload_ids"], json!([id]));
    assert_eq!(w.finished("alice", &id, 30).await["status"], "failed");
}

#[tokio::test]
async fn the_same_file_uploaded_twice_makes_one_recording() {
    let w = world().await;
    let (_, path) = w.tone_file("standup.wav", 30.0, 2);
    let first = w.upload("alice", "standup.wav", "audio/wav", &path).await;
    let first = w.finished("alice", &first, 60).await;
    assert_eq!(first["status"], "completed", "{first}");

    let second = w
        .upload("alice", "standup (copy).wav", "audio/wav", &path)
        .await;
    let second = w.finished("alice", &second, 60).await;
    assert_eq!(second["status"], "duplicate", "{second}");
    assert_eq!(second["recording_id"], first["recording_id"]);
    assert_eq!(w.fake.stats().transcribed, 1, "not transcribed again");
    assert_eq!(w.upload_recordings("alice").await.len(), 1);
    assert_eq!(w.staged_files(), 0, "both staged files are deleted");

    let (_, jobs) = w.app.get("/jobs?source=upload", Some("alice")).await;
    let counts: Vec<(u64, u64)> = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["counts"]["imported"].as_u64().unwrap(),
                j["counts"]["skipped"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [(0, 1), (1, 0)],
        "newest first: the duplicate, then the import"
    );
    let (_, sources) = w.app.get("/sources", Some("alice")).await;
    let upload_source = sources["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "upload")
        .unwrap()
        .clone();
    assert_eq!(upload_source["recording_count"], 1);
}

fn quota_of_one() -> Settings {
    let clock = Arc::new(ManualClock::new(pipeline::testing::epoch()));
    Settings::default()
        .set("IMPORTS_PER_MONTH", "1")
        .clock(clock)
}

#[tokio::test]
async fn once_the_monthly_quota_is_used_a_new_upload_is_refused_until_it_resets() {
    let w = world_with(quota_of_one(), true).await;
    let (_, path) = w.tone_file("one.wav", 8.0, 3);
    let id = w.upload("alice", "one.wav", "audio/wav", &path).await;
    assert_eq!(w.finished("alice", &id, 60).await["status"], "completed");

    let refused = w
        .start(
            "alice",
            json!({"filename": "two.wav", "content_type": "audio/wav", "size_bytes": 1000}),
        )
        .await;
    assert_error(&refused, StatusCode::TOO_MANY_REQUESTS, "quota_exceeded");
    assert_eq!(refused.1["error"]["resets_at"], "2026-02-01T00:00:00Z");
    assert!(refused.1["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2026-02-01"));
    let (status, _) = w
        .start(
            "bob",
            json!({"filename": "two.wav", "content_type": "audio/wav", "size_bytes": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "the quota is per user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_uploads_racing_for_the_last_import_store_one_and_fail_the_other_with_the_reason() {
    let w = world_with(quota_of_one(), true).await;
    let (_, first) = w.tone_file("first.wav", 8.0, 4);
    let (_, second) = w.tone_file("second.wav", 8.0, 5);
    let (a, b) = tokio::join!(
        w.upload("alice", "first.wav", "audio/wav", &first),
        w.upload("alice", "second.wav", "audio/wav", &second)
    );
    let (a, b) = tokio::join!(w.finished("alice", &a, 60), w.finished("alice", &b, 60));
    let mut statuses = [a["status"].as_str().unwrap(), b["status"].as_str().unwrap()];
    statuses.sort();
    assert_eq!(statuses, ["completed", "failed"]);
    let failed = if a["status"] == "failed" { &a } else { &b };
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("quota") && error.contains("2026-02-01"),
        "{error}"
    );
    assert_eq!(w.upload_recordings("alice").await.len(), 1);
}

#[tokio::test]
async fn server_errors_from_the_api_are_retried_until_the_upload_completes() {
    let w = world().await;
    let (played, path) = w.tone_file("retry.wav", 10.0, 6);
    w.fake.fail_next(2, 500);
    let id = w.upload("alice", "retry.wav", "audio/wav", &path).await;
    let upload = w.finished("alice", &id, 60).await;
    assert_eq!(upload["status"], "completed", "{upload}");
    assert_eq!(w.fake.stats().requests, 3);
    assert_eq!(texts(&w.recording("alice", &upload).await), played.texts());
}

#[tokio::test]
async fn without_a_transcription_key_the_upload_fails_naming_the_setting() {
    let w = world_with(Settings::default(), false).await;
    let (_, path) = w.tone_file("nokey.wav", 5.0, 7);
    let id = w.upload("alice", "nokey.wav", "audio/wav", &path).await;
    let upload = w.finished("alice", &id, 30).await;
    assert_eq!(upload["status"], "failed");
    assert!(
        upload["error"]
            .as_str()
            .unwrap()
            .contains("TRANSCRIBE_API_KEY"),
        "{upload}"
    );
    assert_eq!(w.fake.stats().requests, 0);
}

#[tokio::test]
async fn a_failed_upload_can_be_retried_and_only_a_failed_one() {
    let w = world().await;
    let (played, path) = w.tone_file("rejected.wav", 6.0, 8);
    w.fake.fail_next(1, 400);
    let id = w.upload("alice", "rejected.wav", "audio/wav", &path).await;
    let failed = w.finished("alice", &id, 30).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("HTTP 400"),
        "{failed}"
    );

    let retry = format!("/uploads/{id}/retry");
    let (status, queued) = w
        .app
        .send_json(Method::POST, &retry, "alice", &json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(
        (queued["status"].as_str(), &queued["error"]),
        (Some("uploaded"), &Value::Null)
    );
    let done = w.finished("alice", &id, 30).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(texts(&w.recording("alice", &done).await), played.texts());

    let again = w
        .app
        .send_json(Method::POST, &retry, "alice", &json!({}))
        .await;
    assert_error(&again, StatusCode::CONFLICT, "not_retryable");
    let (_, jobs) = w.app.get("/jobs?source=upload", Some("alice")).await;
    let jobs = jobs["items"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "a retry runs the upload's one job again");
    assert_eq!(
        (jobs[0]["kind"].as_str(), jobs[0]["status"].as_str()),
        (Some("upload"), Some("completed"))
    );
}

#[tokio::test]
async fn uploads_are_private_to_their_user() {
    let w = world().await;
    let (_, path) = w.tone_file("private.wav", 5.0, 9);
    let done = w.upload("alice", "private.wav", "audio/wav", &path).await;
    let done_view = w.finished("alice", &done, 30).await;
    let document = w.file_of("notes.pdf", b"%PDF-1.4 private notes");
    let failed = w
        .upload("alice", "notes.mp3", "audio/mpeg", &document)
        .await;
    assert_eq!(w.finished("alice", &failed, 30).await["status"], "failed");

    for id in [&done, &failed] {
        assert_error(
            &w.status("bob", id).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        let retry = w
            .app
            .send_json(
                Method::POST,
                &format!("/uploads/{id}/retry"),
                "bob",
                &json!({}),
            )
            .await;
        assert_error(&retry, StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(
        w.status("alice", &failed).await.1["status"],
        "failed",
        "bob's retry changed nothing"
    );
    let recording_id = done_view["recording_id"].as_str().unwrap();
    let (status, _) = w
        .app
        .get(&format!("/recordings/{recording_id}"), Some("bob"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(
        &w.status("alice", "upl_nope").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn starts_with_a_bad_type_size_or_body_are_refused() {
    let w = world_with(Settings::default().set("MAX_UPLOAD_BYTES", "1000000"), true).await;
    let start = |filename: &str, content_type: &str, size: u64| json!({"filename": filename, "content_type": content_type, "size_bytes": size});
    let pdf = w
        .start("alice", start("notes.pdf", "application/pdf", 100))
        .await;
    assert_error(
        &pdf,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unsupported_media_type",
    );
    assert!(pdf.1["error"]["message"]
        .as_str()
        .unwrap()
        .contains("MP3, WAV, M4A, MP4, MOV and WebM"));
    let large = w
        .start("alice", start("call.mp3", "audio/mpeg", 1_000_001))
        .await;
    assert_error(&large, StatusCode::PAYLOAD_TOO_LARGE, "file_too_large");
    assert_error(
        &w.start("alice", start("call.mp3", "audio/mpeg", 0)).await,
        StatusCode::BAD_REQUEST,
        "empty_file",
    );
    assert_error(
        &w.start("alice", start("  ", "audio/mpeg", 10)).await,
        StatusCode::BAD_REQUEST,
        "invalid_filename",
    );
    let long_type = format!("audio/{}", "x".repeat(10_000));
    for content_type in [
        long_type.as_str(),
        "audio/mpeg\r\nx-injected: 1",
        "audio/mpég",
    ] {
        assert_error(
            &w.start("alice", start("call.mp3", content_type, 10)).await,
            StatusCode::BAD_REQUEST,
            "invalid_content_type",
        );
    }
    let no_size = w
        .start(
            "alice",
            json!({"filename": "call.mp3", "content_type": "audio/mpeg"}),
        )
        .await;
    assert_error(&no_size, StatusCode::BAD_REQUEST, "invalid_json");
    let anonymous = read(
        w.app
            .client
            .post(w.app.url("/uploads"))
            .json(&start("call.mp3", "audio/mpeg", 10))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "unauthorized");

    // The name's extension or the declared type is enough; the content is checked on arrival.
    let (status, body) = w
        .start("alice", start("recording", "audio/mpeg", 1_000_000))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// `bytes` as a body sent in pieces, without a `Content-Length`.
fn streamed(bytes: &[u8]) -> reqwest::Body {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures::stream::iter(pieces))
}

#[tokio::test]
async fn an_upload_url_takes_only_the_declared_file_and_only_once() {
    let w = world().await;
    let (played, path) = w.tone_file("exact.wav", 8.0, 12);
    let file = std::fs::read(&path).unwrap();
    let start =
        json!({"filename": "exact.wav", "content_type": "audio/wav", "size_bytes": file.len()});
    let (status, started) = w.start("alice", start).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let headers = started["headers"].as_object().unwrap();
    assert_eq!(headers["content-type"], "audio/wav");
    assert!(
        !headers.contains_key("content-length") && !headers.contains_key("host"),
        "no header a browser may not set: {headers:?}"
    );
    let url = started["upload_url"].as_str().unwrap();
    let mut longer = file.clone();
    longer.extend(vec![0u8; 200_000]);

    assert_error(
        &w.put_body(url, "audio/mpeg", file.clone().into()).await,
        StatusCode::FORBIDDEN,
        "content_type_mismatch",
    );
    assert_error(
        &w.put_body(url, "audio/wav", longer.clone().into()).await,
        StatusCode::FORBIDDEN,
        "content_length_mismatch",
    );
    assert_error(
        &w.put_body(url, "audio/wav", streamed(&longer)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "upload_too_large",
    );
    assert_error(
        &w.put_body(url, "audio/wav", streamed(&file[..file.len() / 2]))
            .await,
        StatusCode::BAD_REQUEST,
        "incomplete_upload",
    );
    assert_eq!(w.staged_files(), 0, "nothing of a refused body is kept");
    let id = started["upload_id"].as_str().unwrap();
    assert_eq!(w.status("alice", id).await.1["status"], "pending");

    let (status, body) = w.put_body(url, "audio/wav", streamed(&file)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_error(
        &w.put_body(url, "audio/wav", file.clone().into()).await,
        StatusCode::PRECONDITION_FAILED,
        "already_uploaded",
    );
    let done = w.finished("alice", id, 60).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(!played.texts().is_empty());
    assert_eq!(texts(&w.recording("alice", &done).await), played.texts());
    assert_error(
        &w.put_body(url, "audio/wav", file.clone().into()).await,
        StatusCode::PRECONDITION_FAILED,
        "already_uploaded",
    );
    assert_eq!(
        w.staged_files(),
        0,
        "a refused PUT stores nothing, even after the import"
    );
    assert_eq!(w.fake.stats().transcribed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_puts_to_one_upload_url_at_once_store_one_file() {
    let w = world().await;
    let (_, path) = w.tone_file("twice.wav", 8.0, 13);
    let file = std::fs::read(&path).unwrap();
    let start =
        json!({"filename": "twice.wav", "content_type": "audio/wav", "size_bytes": file.len()});
    let (_, started) = w.start("alice", start).await;
    let url = started["upload_url"].as_str().unwrap();
    let (a, b) = tokio::join!(
        w.put_body(url, "audio/wav", streamed(&file)),
        w.put_body(url, "audio/wav", streamed(&file))
    );
    let mut statuses = [a.0.as_u16(), b.0.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 412], "{a:?} {b:?}");
    let id = started["upload_id"].as_str().unwrap();
    assert_eq!(w.finished("alice", id, 60).await["status"], "completed");
    assert_eq!(
        w.fake.stats().transcribed,
        1,
        "announced and transcribed once"
    );
}

/// A 16-bit mono PCM WAV declaring `rate`, with `data_bytes` of a square wave.
fn wav_declaring(rate: u32, data_bytes: u32) -> Vec<u8> {
    let mut wav = b"RIFF".to_vec();
    wav.extend((36 + data_bytes).to_le_bytes());
    wav.extend(b"WAVEfmt ");
    wav.extend(16u32.to_le_bytes());
    wav.extend(1u16.to_le_bytes());
    wav.extend(1u16.to_le_bytes());
    wav.extend(rate.to_le_bytes());
    wav.extend(rate.saturating_mul(2).to_le_bytes());
    wav.extend(2u16.to_le_bytes());
    wav.extend(16u16.to_le_bytes());
    wav.extend(b"data");
    wav.extend(data_bytes.to_le_bytes());
    for i in 0..data_bytes / 2 {
        let sample: i16 = if i % 2 == 0 { 12_000 } else { -12_000 };
        wav.extend(sample.to_le_bytes());
    }
    wav
}

#[tokio::test]
async fn recordings_that_would_bill_hours_or_break_the_decoder_fail_before_transcription() {
    let w = world_with(Settings::default().set("MAX_AUDIO_SECONDS", "10"), true).await;
    // 3 KB declaring 1 Hz: 25 minutes of audio once resampled. 0 Hz: the decoder gives up.
    let one_hertz = w.file_of("one-hertz.wav", &wav_declaring(1, 3_000));
    let zero_hertz = w.file_of("zero-hertz.wav", &wav_declaring(0, 3_000));
    let (_, long) = w.tone_file("long.wav", 30.0, 14);
    let cases = [
        ("one-hertz.wav", one_hertz, "sampled at 1 Hz"),
        ("zero-hertz.wav", zero_hertz, "sampled at 0 Hz"),
        (
            "long.wav",
            long,
            "runs 30 seconds; recordings over 10 seconds",
        ),
    ];
    for (name, path, reason) in cases {
        let id = w.upload("alice", name, "audio/wav", &path).await;
        let upload = w.finished("alice", &id, 30).await;
        assert_eq!(upload["status"], "failed", "{name}: {upload}");
        let error = upload["error"].as_str().unwrap();
        assert!(error.contains(reason), "{name}: {error}");
        assert!(!error.to_lowercase().contains("panic"), "{name}: {error}");
    }
    assert_eq!(w.fake.stats().requests, 0, "nothing was sent to be billed");
}

/// The transcribe queue, with the messages sent delayed (the consumer's next attempts) held
/// back for the test to deliver.
struct HeldQueue {
    inner: Arc<dyn Queue>,
    delayed: Arc<Mutex<Vec<(String, Duration)>>>,
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
    async fn receive(&self, max: usize, visibility: Duration) -> anyhow::Result<Vec<QueueMessage>> {
        self.inner.receive(max, visibility).await
    }
    async fn delete(&self, receipt: &str) -> anyhow::Result<()> {
        self.inner.delete(receipt).await
    }
    async fn receive_dead_letters(&self, max: usize) -> anyhow::Result<Vec<QueueMessage>> {
        self.inner.receive_dead_letters(max).await
    }
}

#[tokio::test]
async fn while_the_api_is_down_an_upload_says_why_and_when_and_a_stuck_one_can_be_retried() {
    let clock = Arc::new(ManualClock::new(pipeline::testing::epoch()));
    let delayed = Arc::new(Mutex::new(Vec::new()));
    let held = delayed.clone();
    let settings = Settings::default()
        .clock(clock.clone())
        .override_services(move |services| {
            services.transcribe_queue = Arc::new(HeldQueue {
                inner: services.transcribe_queue.clone(),
                delayed: held.clone(),
            })
        });
    let no_wait = FakeTranscribeOptions {
        retry_after_seconds: 0,
        ..Default::default()
    };
    let w = world_with_fake(settings, true, no_wait).await;
    let (played, path) = w.tone_file("outage.wav", 6.0, 15);
    // Every request of the first attempt is refused.
    w.fake.fail_next(5, 429);
    let id = w.upload("alice", "outage.wav", "audio/wav", &path).await;
    eventually(30, "the upload shows its next attempt", || async {
        !w.status("alice", &id).await.1["next_attempt_at"].is_null()
    })
    .await;
    let (_, waiting) = w.status("alice", &id).await;
    assert_eq!(waiting["status"], "transcribing", "{waiting}");
    assert_eq!(waiting["attempt"], 2, "{waiting}");
    let error = waiting["error"].as_str().unwrap();
    assert!(error.contains("HTTP 429"), "{error}");
    assert!(!error.contains("http://"), "{error}");
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(waiting["next_attempt_at"].clone()).unwrap();
    assert_eq!(
        next,
        pipeline::testing::epoch() + chrono::Duration::minutes(1)
    );
    let scheduled: Vec<u64> = delayed
        .lock()
        .unwrap()
        .iter()
        .map(|(_, d)| d.as_secs())
        .collect();
    assert_eq!(scheduled, [60], "the next attempt is queued for then");

    // On its way: not to be retried yet.
    let retry = format!("/uploads/{id}/retry");
    let refused = w
        .app
        .send_json(Method::POST, &retry, "alice", &json!({}))
        .await;
    assert_error(&refused, StatusCode::CONFLICT, "not_retryable");

    // The scheduled attempt never comes (its message lost): 15 minutes past it, it is stuck.
    clock.advance(chrono::Duration::minutes(17));
    let (status, queued) = w
        .app
        .send_json(Method::POST, &retry, "alice", &json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(
        (
            &queued["status"],
            &queued["error"],
            &queued["next_attempt_at"]
        ),
        (&json!("uploaded"), &Value::Null, &Value::Null)
    );
    let done = w.finished("alice", &id, 30).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(texts(&w.recording("alice", &done).await), played.texts());

    // The lost message turns up after all: the retry overtook it, so it does nothing.
    let (late, _) = delayed.lock().unwrap().pop().unwrap();
    let message = QueueMessage {
        message_id: "late".into(),
        receipt: "late".into(),
        body: late,
        receive_count: 1,
    };
    let event = dev_server::sqs_event("transcribe", &[message]);
    let deadline = clock.now() + chrono::Duration::minutes(15);
    let response = file_transcribe::handle(w.app.services(), event, deadline).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(w.fake.stats().transcribed, 1);
    assert_eq!(w.status("alice", &id).await.1["status"], "completed");
}

#[tokio::test]
async fn an_upload_whose_name_says_nothing_is_titled_from_its_transcript() {
    let chat = fakes::chat::FakeChat::start("sk-test-chat").await.unwrap();
    chat.reply_with(|request| {
        let asked = &request.messages.last().unwrap().1;
        assert!(asked.contains("tone"), "asked from the transcript: {asked}");
        r#"{"title": "Tuning fork calibration"}"#.to_owned()
    });
    let settings = Settings::default()
        .set("LLM_API_BASE_URL", chat.base_url())
        .set("LLM_MODEL", "gpt-test")
        .set("LLM_API_KEY", chat.api_key())
        .set("LLM_RETRY_BASE_MS", "10");
    let w = world_with(settings, true).await;
    let (_, generic) = w.tone_file("GMT20260302-100102_Recording.wav", 20.0, 7);
    let (_, named) = w.tone_file("named.wav", 20.0, 8);
    let generic = w
        .upload(
            "alice",
            "GMT20260302-100102_Recording.wav",
            "audio/wav",
            &generic,
        )
        .await;
    let named = w
        .upload("alice", "Acme pilot review.wav", "audio/wav", &named)
        .await;
    let generic = w.finished("alice", &generic, 60).await;
    let named = w.finished("alice", &named, 60).await;
    eventually(30, "the recording is titled", || async {
        w.recording("alice", &generic).await["title"] == "Tuning fork calibration"
    })
    .await;
    assert_eq!(
        w.recording("alice", &named).await["title"],
        "Acme pilot review"
    );
    assert_eq!(
        chat.request_count(),
        1,
        "a recording with a real name is not asked about"
    );
    let found = w
        .app
        .get("/recordings?q=calibration", Some("alice"))
        .await
        .1;
    assert_eq!(
        found["items"].as_array().unwrap().len(),
        1,
        "searchable by its new title"
    );
}
