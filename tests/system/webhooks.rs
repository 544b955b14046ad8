//! Fathom webhook deliveries end to end, over HTTP against the dev server and the fake
//! Fathom: verified, deduplicated, durable when storage fails, kept while paused or
//! unmatched, logged, and imported once however they arrive.

use anyhow::anyhow;
use async_trait::async_trait;
use fakes::fathom::FakeAccount;
use pipeline::domain::{ConnectionId, Source};
use pipeline::pipeline::deliveries::{
    paused_holder, payload_key, release_unmatched_deliveries, Endpoint,
};
use pipeline::ports::{DeliveryStatus, Queue, QueueMessage};
use pipeline::webhook::{sign, WebhookSecret};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use system_tests::fathom_world::{counts, fake_options, world_with, World};
use system_tests::{assert_error, eventually, read, Settings};

const APP_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Alice, connected to Fathom with an API key (so a webhook is registered for her
/// connection), her initial sync done.
struct Connected {
    w: World,
    connection_id: String,
    secret: WebhookSecret,
}

async fn connected(settings: Settings) -> Connected {
    let w = world_with(fake_options(), 3, settings, |server| server).await;
    let (status, source) = w.connect_with_api_key("alice").await;
    assert_eq!(status, StatusCode::OK, "{source}");
    assert_eq!(w.initial_job("alice").await["status"], "completed");
    let hooks = w.fake.webhooks();
    assert_eq!(hooks.len(), 1, "the connection registered its webhook");
    Connected {
        connection_id: source["connection_id"].as_str().unwrap().to_owned(),
        secret: WebhookSecret::parse(&hooks[0].secret).unwrap(),
        w,
    }
}

/// A delivery as a sender makes it: headers and raw body.
#[derive(Clone)]
struct Delivery {
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `body` signed with `secret` as `id` at `timestamp`.
fn signed(secret: &WebhookSecret, id: &str, timestamp: i64, body: Vec<u8>) -> Delivery {
    Delivery {
        headers: vec![
            ("content-type", "application/json".into()),
            ("webhook-id", id.into()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", sign(secret, id, timestamp, &body)),
        ],
        body,
    }
}

impl Delivery {
    fn without(mut self, header: &str) -> Self {
        self.headers.retain(|(name, _)| *name != header);
        self
    }

    async fn send(&self, w: &World, path: &str) -> (StatusCode, Value) {
        let mut request = w.app.client.post(w.app.url(path)).body(self.body.clone());
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        read(request.send().await.unwrap()).await
    }
}

impl Connected {
    fn path(&self) -> String {
        format!("/webhooks/fathom/{}", self.connection_id)
    }

    fn delivery(&self, id: &str, body: Vec<u8>) -> Delivery {
        signed(&self.secret, id, now(), body)
    }

    async fn deliver(&self, delivery: &Delivery) -> (StatusCode, Value) {
        delivery.send(&self.w, &self.path()).await
    }

    /// Pauses or resumes syncing, as the dashboard does.
    async fn set_active(&self, active: bool) -> (StatusCode, Value) {
        let body = json!({ "active": active });
        self.w
            .app
            .send_json(Method::PATCH, "/sources/fathom", "alice", &body)
            .await
    }
}

/// A meeting the fake has and the user has not imported yet: its id and webhook body.
fn new_meeting(w: &World, owner: &FakeAccount) -> (u64, Vec<u8>) {
    let meeting = w
        .fake
        .add_meeting(owner, |m| m.recorded_by = owner.person.clone())
        .unwrap();
    let payload = w.fake.meeting_payload(meeting.recording_id).unwrap();
    (meeting.recording_id, serde_json::to_vec(&payload).unwrap())
}

async fn webhook_jobs(w: &World, user: &str) -> Vec<Value> {
    w.jobs(user)
        .await
        .into_iter()
        .filter(|job| job["kind"] == "webhook")
        .collect()
}

/// Waits until `user` has `n` webhook jobs, all finished, and returns them.
async fn finished_webhook_jobs(w: &World, user: &str, n: usize) -> Vec<Value> {
    eventually(30, "the webhook imports finish", || async {
        let jobs = webhook_jobs(w, user).await;
        jobs.len() == n
            && jobs
                .iter()
                .all(|j| !matches!(j["status"].as_str(), Some("queued" | "running")))
    })
    .await;
    webhook_jobs(w, user).await
}

async fn stored_copies(w: &World, user: &str, recording_id: u64) -> usize {
    let external_id = recording_id.to_string();
    w.recordings(user)
        .await
        .iter()
        .filter(|r| r["external_id"] == external_id.as_str())
        .count()
}

async fn delivery_log(w: &World, user: &str) -> Vec<Value> {
    let (status, body) = w
        .app
        .get("/sources/fathom/deliveries?limit=100", Some(user))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().cloned().unwrap()
}

fn statuses(log: &[Value]) -> Vec<String> {
    let mut statuses: Vec<String> = log
        .iter()
        .map(|d| d["status"].as_str().unwrap().to_owned())
        .collect();
    statuses.sort();
    statuses
}

#[tokio::test]
async fn the_same_delivery_sent_ten_times_at_once_is_imported_once_without_calling_fathom() {
    let c = connected(Settings::default()).await;
    let (recording_id, body) = new_meeting(&c.w, &c.w.account);
    let delivery = c.delivery("msg_ten_at_once", body);
    let calls_before = c.w.fake.calls();

    let answers = futures::future::join_all((0..10).map(|_| c.deliver(&delivery))).await;
    let codes: Vec<u16> = answers.iter().map(|(status, _)| status.as_u16()).collect();
    assert_eq!(
        codes.iter().filter(|code| **code == 202).count(),
        1,
        "one copy is taken in: {answers:?}"
    );
    // The others are duplicates, or arrived while the first was being kept and are told to
    // come back (never "duplicate" before the delivery is safely kept).
    assert!(
        codes.iter().all(|code| matches!(code, 200 | 202 | 409)),
        "{answers:?}"
    );
    let retried = codes.iter().filter(|code| **code == 409).count();
    for _ in 0..retried {
        assert_eq!(c.deliver(&delivery).await.0, StatusCode::OK);
    }

    let jobs = finished_webhook_jobs(&c.w, "alice", 1).await;
    assert_eq!(jobs[0]["status"], "completed", "{}", jobs[0]);
    assert_eq!(counts(&jobs[0]), (1, 0, 0, 0));
    assert_eq!(jobs[0]["summary"], "1 new call imported");
    assert_eq!(stored_copies(&c.w, "alice", recording_id).await, 1);
    let calls = c.w.fake.calls();
    assert_eq!(
        (calls.transcript, calls.summary),
        (calls_before.transcript, calls_before.summary),
        "a delivery with transcript and summary needs no API call"
    );
    let log = delivery_log(&c.w, "alice").await;
    let expected: Vec<&str> = std::iter::once("accepted")
        .chain(std::iter::repeat_n("duplicate", 9))
        .chain(std::iter::repeat_n("in_progress", retried))
        .collect();
    let mut expected: Vec<String> = expected.into_iter().map(String::from).collect();
    expected.sort();
    assert_eq!(statuses(&log), expected);
    assert!(log
        .iter()
        .all(|d| d["signature_valid"] == true && d["webhook_id"] == "msg_ten_at_once"));
}

#[tokio::test]
async fn refused_deliveries_get_their_4xx_are_logged_and_import_nothing() {
    let c = connected(Settings::default()).await;
    let (_, body) = new_meeting(&c.w, &c.w.account);
    let jobs_before = c.w.jobs("alice").await.len();

    let mut tampered = c.delivery("msg_tampered", body.clone());
    let last = tampered.body.len() - 2;
    tampered.body[last] ^= 0x01;
    // A minute past the 300 s tolerance either way, so the second the server reads its clock
    // in cannot matter (the exact bounds are the verifier's unit tests).
    let stale = signed(&c.secret, "msg_stale", now() - 360, body.clone());
    let future = signed(&c.secret, "msg_future", now() + 360, body.clone());
    let unsigned = c
        .delivery("msg_unsigned", body.clone())
        .without("webhook-signature");
    let no_id = c.delivery("msg_no_id", body.clone()).without("webhook-id");
    let not_json = c.delivery("msg_not_json", b"recording 42 is ready".to_vec());
    let oversized = c.delivery("msg_oversized", vec![b' '; webhook::MAX_BODY_BYTES + 1]);

    let cases: [(&Delivery, StatusCode, &str); 7] = [
        (&tampered, StatusCode::UNAUTHORIZED, "invalid_signature"),
        (&stale, StatusCode::UNAUTHORIZED, "stale_timestamp"),
        (&future, StatusCode::UNAUTHORIZED, "future_timestamp"),
        (&unsigned, StatusCode::UNAUTHORIZED, "missing_header"),
        (&no_id, StatusCode::UNAUTHORIZED, "missing_header"),
        (&not_json, StatusCode::BAD_REQUEST, "invalid_json"),
        (
            &oversized,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (delivery, status, code) in cases {
        assert_error(&c.deliver(delivery).await, status, code);
    }
    let unknown = format!("/webhooks/fathom/{}", ConnectionId::new());
    let to_nobody = c.delivery("msg_to_nobody", body.clone());
    assert_error(
        &to_nobody.send(&c.w, &unknown).await,
        StatusCode::NOT_FOUND,
        "unknown_connection",
    );

    let log = delivery_log(&c.w, "alice").await;
    assert_eq!(
        statuses(&log),
        [
            "invalid_signature",
            "invalid_signature",
            "invalid_signature",
            "rejected",
            "rejected",
            "stale",
            "stale"
        ]
    );
    let not_json_entry = log
        .iter()
        .find(|d| d["webhook_id"] == "msg_not_json")
        .unwrap();
    assert_eq!(
        not_json_entry["signature_valid"], true,
        "refused after verifying"
    );
    assert_eq!(not_json_entry["http_status"], 400);
    let logged = serde_json::to_string(&log).unwrap();
    for (_, value) in tampered
        .headers
        .iter()
        .filter(|(name, _)| *name == "webhook-signature")
    {
        assert!(
            !logged.contains(value.trim_start_matches("v1,")),
            "no header value is logged"
        );
    }
    let services = c.w.app.services();
    let unowned = services
        .deliveries
        .list(None, Source::Fathom, 10, services.clock.now())
        .await
        .unwrap();
    assert!(
        unowned.is_empty(),
        "a request for an unknown connection writes nothing: {unowned:?}"
    );
    let endpoint = ConnectionId::parse(&c.connection_id).unwrap();

    for id in [
        "msg_tampered",
        "msg_stale",
        "msg_future",
        "msg_unsigned",
        "msg_not_json",
        "msg_oversized",
        "msg_to_nobody",
    ] {
        let stored = services
            .blobs
            .get_bytes(&payload_key(
                Source::Fathom,
                Endpoint::Connection(&endpoint),
                id,
            ))
            .await
            .unwrap();
        assert!(stored.is_none(), "{id}: nothing stored");
    }
    // Nothing was stored, so nothing can be imported. A genuine delivery sent last is: once
    // its import is done, it is the only one.
    let (status, _) = c.deliver(&c.delivery("msg_genuine", body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let jobs = finished_webhook_jobs(&c.w, "alice", 1).await;
    assert_eq!(counts(&jobs[0]), (1, 0, 0, 0));
    assert_eq!(c.w.jobs("alice").await.len(), jobs_before + 1);
}

/// The sync queue, failing the next sends it is told to fail.
#[derive(Default)]
struct FailingQueue {
    inner: OnceLock<Arc<dyn Queue>>,
    failures_left: AtomicU32,
}

impl FailingQueue {
    fn inner(&self) -> &dyn Queue {
        self.inner
            .get()
            .expect("wrapped before the server starts")
            .as_ref()
    }

    fn fail(&self) -> anyhow::Result<()> {
        let left = self.failures_left.load(Ordering::SeqCst);
        if left > 0
            && self
                .failures_left
                .compare_exchange(left, left - 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            return Err(anyhow!("injected queue failure"));
        }
        Ok(())
    }
}

#[async_trait]
impl Queue for FailingQueue {
    async fn send(&self, body: &str) -> anyhow::Result<()> {
        self.fail()?;
        self.inner().send(body).await
    }

    async fn send_delayed(&self, body: &str, delay: Duration) -> anyhow::Result<()> {
        self.fail()?;
        self.inner().send_delayed(body, delay).await
    }

    async fn send_batch(&self, bodies: &[String]) -> anyhow::Result<()> {
        self.fail()?;
        self.inner().send_batch(bodies).await
    }

    async fn receive(&self, max: usize, visibility: Duration) -> anyhow::Result<Vec<QueueMessage>> {
        self.inner().receive(max, visibility).await
    }

    async fn delete(&self, receipt: &str) -> anyhow::Result<()> {
        self.inner().delete(receipt).await
    }

    async fn receive_dead_letters(&self, max: usize) -> anyhow::Result<Vec<QueueMessage>> {
        self.inner().receive_dead_letters(max).await
    }
}

#[tokio::test]
async fn a_queue_failure_answers_503_and_the_retry_imports_once() {
    let queue = Arc::new(FailingQueue::default());
    let wrapper = queue.clone();
    let settings = Settings::default().override_services(move |services| {
        let _ = wrapper.inner.set(services.sync_queue.clone());
        services.sync_queue = wrapper.clone();
    });
    let c = connected(settings).await;
    let (recording_id, body) = new_meeting(&c.w, &c.w.account);
    let delivery = c.delivery("msg_queue_down", body);

    queue.failures_left.store(1, Ordering::SeqCst);
    assert_error(
        &c.deliver(&delivery).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    let (status, answer) = c.deliver(&delivery).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the claim was released, so the retry is taken in: {answer}"
    );
    let (status, _) = c.deliver(&delivery).await;
    assert_eq!(status, StatusCode::OK, "and a third is a duplicate");

    let jobs = finished_webhook_jobs(&c.w, "alice", 1).await;
    assert_eq!(counts(&jobs[0]), (1, 0, 0, 0));
    assert_eq!(stored_copies(&c.w, "alice", recording_id).await, 1);
    assert_eq!(
        statuses(&delivery_log(&c.w, "alice").await),
        ["accepted", "duplicate", "failed"]
    );
}

#[tokio::test]
async fn what_a_delivery_leaves_out_is_fetched_from_fathom() {
    let c = connected(Settings::default()).await;
    let meeting = c.w.fake.add_meetings(&c.w.account, 1).remove(0);
    let mut payload = c.w.fake.meeting_payload(meeting.recording_id).unwrap();
    payload["transcript"] = Value::Null;
    payload["default_summary"] = Value::Null;
    let calls_before = c.w.fake.calls();
    let delivery = c.delivery("msg_without_content", serde_json::to_vec(&payload).unwrap());
    assert_eq!(c.deliver(&delivery).await.0, StatusCode::ACCEPTED);
    assert_eq!(
        counts(&finished_webhook_jobs(&c.w, "alice", 1).await[0]),
        (1, 0, 0, 0)
    );

    let calls = c.w.fake.calls();
    assert_eq!(
        (
            calls.transcript - calls_before.transcript,
            calls.summary - calls_before.summary
        ),
        (1, 1)
    );
    let external_id = meeting.recording_id.to_string();
    let listed = c.w.recordings("alice").await;
    let item = listed
        .iter()
        .find(|r| r["external_id"] == external_id.as_str())
        .unwrap();
    let (_, recording) =
        c.w.app
            .get(
                &format!("/recordings/{}", item["id"].as_str().unwrap()),
                Some("alice"),
            )
            .await;
    assert_eq!(
        recording["transcript"].as_array().map(Vec::len),
        Some(meeting.transcript.len()),
        "{recording}"
    );
    assert_eq!(
        recording["summary_markdown"].as_str(),
        meeting.summary_markdown.as_deref()
    );
}

#[tokio::test]
async fn a_meeting_delivered_then_synced_is_stored_once() {
    let c = connected(Settings::default()).await;
    let before = c.w.recordings("alice").await.len();
    let (recording_id, body) = new_meeting(&c.w, &c.w.account);
    assert_eq!(
        c.deliver(&c.delivery("msg_then_sync", body)).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        counts(&finished_webhook_jobs(&c.w, "alice", 1).await[0]),
        (1, 0, 0, 0)
    );

    let sync = c.w.sync("alice", json!({ "source": "fathom" })).await;
    assert_eq!(sync["status"], "completed", "{sync}");
    assert_eq!(sync["counts"]["imported"], 0, "{sync}");
    assert_eq!(stored_copies(&c.w, "alice", recording_id).await, 1);
    assert_eq!(c.w.recordings("alice").await.len(), before + 1);
}

#[tokio::test]
async fn a_paused_connection_keeps_deliveries_and_imports_them_on_resume() {
    let c = connected(Settings::default()).await;
    assert_eq!(c.set_active(false).await.1["status"], "paused");
    let (recording_id, body) = new_meeting(&c.w, &c.w.account);
    let (status, answer) = c.deliver(&c.delivery("msg_while_paused", body)).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (StatusCode::ACCEPTED, Some("accepted"))
    );

    let services = c.w.app.services();
    let holder = paused_holder(&ConnectionId::parse(&c.connection_id).unwrap());
    eventually(30, "the delivery is held", || async {
        services
            .deliveries
            .held(&holder, services.clock.now())
            .await
            .unwrap()
            .len()
            == 1
    })
    .await;
    assert!(
        webhook_jobs(&c.w, "alice").await.is_empty(),
        "not imported while paused"
    );
    assert_eq!(stored_copies(&c.w, "alice", recording_id).await, 0);

    let (status, source) = c.set_active(true).await;
    assert_eq!(
        (status, source["status"].as_str()),
        (StatusCode::OK, Some("active"))
    );
    let jobs = finished_webhook_jobs(&c.w, "alice", 1).await;
    assert_eq!(counts(&jobs[0]), (1, 0, 0, 0));
    assert_eq!(stored_copies(&c.w, "alice", recording_id).await, 1);
    assert!(services
        .deliveries
        .held(&holder, services.clock.now())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_disconnected_connection_answers_410_so_the_sender_stops() {
    let c = connected(Settings::default()).await;
    let (status, source) =
        c.w.app
            .send_json(Method::DELETE, "/sources/fathom", "alice", &json!({}))
            .await;
    assert_eq!(
        (status, source["status"].as_str()),
        (StatusCode::OK, Some("disconnected"))
    );
    let (_, body) = new_meeting(&c.w, &c.w.account);
    assert_error(
        &c.deliver(&c.delivery("msg_after_disconnect", body)).await,
        StatusCode::GONE,
        "disconnected",
    );
    let log = delivery_log(&c.w, "alice").await;
    assert_eq!(
        log.iter()
            .map(|d| (
                d["status"].as_str().unwrap(),
                d["http_status"].as_u64().unwrap()
            ))
            .collect::<Vec<_>>(),
        [("rejected", 410)]
    );
}

#[tokio::test]
async fn app_deliveries_are_matched_by_recorder_or_kept_until_the_recorder_connects() {
    let c = connected(Settings::default().set("FATHOM_WEBHOOK_SECRET", APP_SECRET)).await;
    let app_secret = WebhookSecret::parse(APP_SECRET).unwrap();
    assert_eq!(
        c.w.fathom_source("alice").await["account_email"],
        "ada@acme.test"
    );

    let (ada_meeting, body) = new_meeting(&c.w, &c.w.account);
    let forged = signed(
        &WebhookSecret::generate(),
        "msg_app_forged",
        now(),
        body.clone(),
    );
    assert_error(
        &forged.send(&c.w, "/webhooks/fathom").await,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    );
    let (status, answer) = signed(&app_secret, "msg_app_ada", now(), body)
        .send(&c.w, "/webhooks/fathom")
        .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (StatusCode::ACCEPTED, Some("accepted"))
    );
    assert_eq!(
        counts(&finished_webhook_jobs(&c.w, "alice", 1).await[0]),
        (1, 0, 0, 0)
    );
    assert_eq!(stored_copies(&c.w, "alice", ada_meeting).await, 1);

    // Grace records a meeting before she has connected.
    let grace = c.w.fake.add_account("Grace Hopper", "grace@acme.test");
    let (grace_meeting, body) = new_meeting(&c.w, &grace);
    let (status, answer) = signed(&app_secret, "msg_app_grace", now(), body)
        .send(&c.w, "/webhooks/fathom")
        .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (StatusCode::ACCEPTED, Some("unmatched"))
    );
    let services = c.w.app.services();
    let unowned = services
        .deliveries
        .list(None, Source::Fathom, 10, services.clock.now())
        .await
        .unwrap();
    let mut unowned: Vec<(DeliveryStatus, bool)> = unowned
        .iter()
        .map(|d| (d.status, d.signature_valid))
        .collect();
    unowned.sort_by_key(|(status, _)| format!("{status:?}"));
    assert_eq!(
        unowned,
        [
            (DeliveryStatus::InvalidSignature, false),
            (DeliveryStatus::Unmatched, true)
        ]
    );

    let (status, source) =
        c.w.app
            .send_json(
                Method::POST,
                "/sources/fathom/api-key",
                "grace",
                &json!({ "api_key": grace.api_key }),
            )
            .await;
    assert_eq!(status, StatusCode::OK, "{source}");
    let initial =
        c.w.jobs("grace")
            .await
            .into_iter()
            .find(|j| j["kind"] == "initial")
            .unwrap();
    c.w.finished("grace", initial["id"].as_str().unwrap()).await;
    // The initial sync learned her account email and released what waited for it: releasing
    // again finds nothing.
    let connection = c.w.connection("grace").await;
    assert_eq!(connection.account_email.as_deref(), Some("grace@acme.test"));
    assert_eq!(
        release_unmatched_deliveries(services, &connection)
            .await
            .unwrap(),
        0
    );

    let jobs = finished_webhook_jobs(&c.w, "grace", 1).await;
    let (imported, _, skipped, failed) = counts(&jobs[0]);
    assert_eq!(
        (imported + skipped, failed),
        (1, 0),
        "the kept delivery is imported (or found stored by the sync)"
    );
    assert_eq!(stored_copies(&c.w, "grace", grace_meeting).await, 1);
}

#[tokio::test]
async fn a_delivery_signed_by_the_standardwebhooks_package_is_taken_in() {
    let c = connected(Settings::default()).await;
    let (recording_id, body) = new_meeting(&c.w, &c.w.account);
    let payload = String::from_utf8(body).unwrap();
    let timestamp = now();
    let request = json!({ "secret": c.secret.expose_str(), "id": "msg_python", "timestamp": timestamp, "payload": payload });
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let mut signer = std::process::Command::new(root.join(".venv/bin/python"))
        .current_dir(root)
        .arg("scripts/sign_standard_webhooks.py")
        .env("PYTHONUTF8", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the project's .venv (make venv) with the standardwebhooks package");
    {
        use std::io::Write;
        signer
            .stdin
            .take()
            .unwrap()
            .write_all(request.to_string().as_bytes())
            .unwrap();
    }
    let output = signer.wait_with_output().unwrap();
    assert!(output.status.success());
    let signature = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    let delivery = Delivery {
        headers: vec![
            ("content-type", "application/json".into()),
            ("webhook-id", "msg_python".into()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ],
        body: payload.into_bytes(),
    };
    let (status, answer) = c.deliver(&delivery).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        counts(&finished_webhook_jobs(&c.w, "alice", 1).await[0]),
        (1, 0, 0, 0)
    );
    assert_eq!(stored_copies(&c.w, "alice", recording_id).await, 1);
}
