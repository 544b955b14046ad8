//! The dev server's three mechanisms, with stand-in functions: queue draining with partial
//! batch failures and dead-lettering, the schedule, and local presigned uploads.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use dev_server::{HttpFunction, QueueHandler};
use pipeline::http::Route;
use reqwest::StatusCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use system_tests::{eventually, TestApp};

/// Records every message body it sees; fails the ones `fails` picks (body, receive count).
fn recording_consumer(seen: Arc<Mutex<Vec<String>>>, fails: fn(&str, u32) -> bool) -> QueueHandler {
    Arc::new(move |_services, event: SqsEvent| {
        let seen = seen.clone();
        Box::pin(async move {
            let mut failures = Vec::new();
            for record in event.records {
                let body = record.body.unwrap_or_default();
                let count: u32 = record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                seen.lock().unwrap().push(body.clone());
                if fails(&body, count) {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = record.message_id.unwrap_or_default();
                    failures.push(failure);
                }
            }
            let mut response = SqsBatchResponse::default();
            response.batch_item_failures = failures;
            response
        })
    })
}

fn count(seen: &Arc<Mutex<Vec<String>>>, body: &str) -> usize {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|b| b.as_str() == body)
        .count()
}

#[tokio::test]
async fn queue_messages_reach_consumers_and_failed_items_are_retried_alone() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let consumer = recording_consumer(seen.clone(), |body, receives| {
        body == "flaky" && receives == 1
    });
    let app = TestApp::start_bare(|server| {
        server
            .visibility(Duration::from_millis(300))
            .consume_sync(consumer)
    })
    .await;
    let queue = &app.services().sync_queue;
    queue
        .send_batch(&["a".into(), "flaky".into(), "b".into()])
        .await
        .unwrap();
    eventually(10, "the flaky message is retried", || async {
        count(&seen, "flaky") == 2
    })
    .await;
    eventually(5, "the queue is empty", || async {
        queue.receive(10, Duration::ZERO).await.unwrap().is_empty()
    })
    .await;
    assert_eq!(
        count(&seen, "a"),
        1,
        "succeeded items are deleted, not redelivered"
    );
    assert_eq!(count(&seen, "b"), 1);
}

#[tokio::test]
async fn a_poison_message_dead_letters_without_holding_back_the_rest() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let consumer = recording_consumer(seen.clone(), |body, _| body == "poison");
    let app = TestApp::start_bare(|server| {
        server
            .visibility(Duration::from_millis(50))
            .consume_sync(consumer)
    })
    .await;
    let queue = &app.services().sync_queue;
    queue
        .send_batch(&["poison".into(), "ok-1".into(), "ok-2".into()])
        .await
        .unwrap();
    eventually(10, "the poison message is dead-lettered", || async {
        !queue.receive_dead_letters(10).await.unwrap().is_empty()
    })
    .await;
    assert_eq!(
        count(&seen, "poison"),
        pipeline::adapters::local::MAX_RECEIVES as usize
    );
    assert_eq!(count(&seen, "ok-1"), 1);
    assert_eq!(count(&seen, "ok-2"), 1);
}

#[tokio::test]
async fn scheduled_functions_run_on_the_interval_with_a_scheduled_event() {
    let runs = Arc::new(Mutex::new(Vec::new()));
    let handler_runs = runs.clone();
    let app = TestApp::start_bare(move |server| {
        server.cron_interval(Duration::from_millis(100)).schedule(
            "test-cron",
            Arc::new(move |_services, event| {
                let runs = handler_runs.clone();
                Box::pin(async move {
                    runs.lock().unwrap().push(event.detail_type.clone());
                    anyhow::bail!("a failing run does not stop the schedule")
                })
            }),
        )
    })
    .await;
    eventually(10, "three scheduled runs", || async {
        runs.lock().unwrap().len() >= 3
    })
    .await;
    assert!(runs.lock().unwrap().iter().all(|t| t == "Scheduled Event"));
    drop(app);
}

#[tokio::test]
async fn a_panicking_function_answers_500_and_the_server_keeps_serving() {
    const ROUTES: &[Route] = &[Route::public("GET", "/boom")];
    let app = TestApp::start_bare(|server| {
        server.http(HttpFunction {
            name: "boom",
            routes: ROUTES,
            handler: Arc::new(|_, _| Box::pin(async { panic!("handler bug") })),
        })
    })
    .await;
    let (status, body) = app.get("/boom", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "internal_error");
    assert_eq!(app.get("/health", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn presigned_local_uploads_store_the_file_and_announce_it() {
    let app = TestApp::start_bare(|server| server).await;
    let blobs = &app.services().blobs;
    let presigned = blobs
        .presign_put(
            "uploads/alice/upl_1/call.wav",
            "audio/wav",
            1_000_000,
            Duration::from_secs(600),
        )
        .await
        .unwrap();
    assert!(
        presigned.url.starts_with(&app.url("/")),
        "the URL points at the dev server: {}",
        presigned.url
    );
    let body = vec![42u8; 1_000_000];
    let put = app
        .client
        .put(&presigned.url)
        .header("content-type", "audio/wav")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(
        blobs
            .get_bytes("uploads/alice/upl_1/call.wav")
            .await
            .unwrap(),
        Some(body)
    );
    let announced = app
        .services()
        .transcribe_queue
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(announced.len(), 1);
    let event: serde_json::Value = serde_json::from_str(&announced[0].body).unwrap();
    assert_eq!(event["Records"][0]["eventName"], "ObjectCreated:Put");
    assert_eq!(
        event["Records"][0]["s3"]["object"]["key"],
        "uploads/alice/upl_1/call.wav"
    );
    assert_eq!(event["Records"][0]["s3"]["object"]["size"], 1_000_000);

    let tampered = presigned.url.replace("upl_1", "upl_2");
    let put = app.client.put(&tampered).body("x").send().await.unwrap();
    assert_eq!(put.status(), StatusCode::FORBIDDEN);
    assert!(blobs
        .get_bytes("uploads/alice/upl_2/call.wav")
        .await
        .unwrap()
        .is_none());
}

/// Sends raw HTTP/1.1 on `stream` and reads one response: status line and body.
async fn raw_exchange(stream: &mut tokio::net::TcpStream, request: &[u8]) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "the connection closed before a full answer: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return (
                    head.lines().next().unwrap().to_owned(),
                    body[..length].to_owned(),
                );
            }
        }
    }
}

#[tokio::test]
async fn a_refused_request_with_a_body_leaves_the_connection_usable() {
    let app = TestApp::start().await;
    let mut stream = tokio::net::TcpStream::connect(app.running.addr)
        .await
        .unwrap();
    let (status, body) = raw_exchange(
        &mut stream,
        b"POST /no/such/route HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n{\"some\": \"body\"}\n",
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 404"), "{status}");
    assert!(body.contains("\"not_found\""), "{body}");
    // The same connection serves the next request.
    let (status, body) =
        raw_exchange(&mut stream, b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(body.contains("ok"), "{body}");
}

#[tokio::test]
async fn a_uri_over_64_kb_is_refused_with_a_json_error() {
    let app = TestApp::start().await;
    let mut stream = tokio::net::TcpStream::connect(app.running.addr)
        .await
        .unwrap();
    let request = format!(
        "GET /recordings?q={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let (status, body) = raw_exchange(&mut stream, request.as_bytes()).await;
    assert!(status.starts_with("HTTP/1.1 414"), "{status}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "uri_too_long");
}
