//! Outbound webhooks as an integrating team sees them: endpoints registered over the API,
//! deliveries verified by a receiver built on the reference `standardwebhooks` library.

use chrono::Utc;
use pipeline::crypto::SecretString;
use pipeline::domain::{EndpointId, EndpointSecret, EventType, WebhookEndpoint};
use pipeline::pipeline::outbound;
use pipeline::ports::{Clock, ManualClock};
use pipeline::webhook::WebhookSecret;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use system_tests::fathom_world::{fake_options, world_with, World};
use system_tests::receiver::Receiver;
use system_tests::{assert_error, Settings, TestApp};

/// Retries 200 ms apart, so a test sees the whole schedule.
const QUICK_RETRIES: &str = "0.2,0.2,0.2,0.2,0.2,0.2,0.2";
/// How long a test waits for deliveries that should take well under a second.
const WAIT: Duration = Duration::from_secs(30);

async fn quick_world(meetings: usize, clock: Option<Arc<dyn Clock>>) -> World {
    let mut settings = Settings::default().set("WEBHOOK_RETRY_SCHEDULE_SECS", QUICK_RETRIES);
    if let Some(clock) = clock {
        settings = settings.clock(clock);
    }
    world_with(fake_options(), meetings, settings, |s| s).await
}

/// Registers an endpoint of `user` for `receiver` (`events`: `None` for all) and makes the
/// receiver verify with its secret; the endpoint as created.
async fn register(
    app: &TestApp,
    user: &str,
    receiver: &Receiver,
    events: Option<&[&str]>,
) -> Value {
    let mut body = json!({ "url": receiver.url, "description": "our CRM" });
    if let Some(events) = events {
        body["events"] = json!(events);
    }
    let (status, created) = app
        .send_json(Method::POST, "/webhook-endpoints", user, &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().expect("the secret, shown once");
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.set_secrets(&[secret]).await.unwrap();
    created
}

fn of_type<'a>(deliveries: &'a [Value], kind: &str) -> Vec<&'a Value> {
    deliveries
        .iter()
        .filter(|d| d["body"]["type"] == kind)
        .collect()
}

/// `path` below the endpoint's own (`""` for the endpoint).
fn endpoint_path(endpoint: &Value, path: &str) -> String {
    format!(
        "/webhook-endpoints/{}{path}",
        endpoint["id"].as_str().unwrap()
    )
}

/// The endpoint as its owner reads it now.
async fn endpoint_now(app: &TestApp, user: &str, endpoint: &Value) -> Value {
    app.get(&endpoint_path(endpoint, ""), Some(user)).await.1
}

async fn attempts(app: &TestApp, user: &str, endpoint: &Value) -> Vec<Value> {
    let path = endpoint_path(endpoint, "/attempts");
    let (status, page) = app.get(&path, Some(user)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn imported_recordings_arrive_signed_and_once_each() {
    let w = quick_world(5, None).await;
    let receiver = Receiver::start().await.unwrap();
    let endpoint = register(&w.app, "alice", &receiver, None).await;
    assert_eq!(endpoint["enabled"], true);
    assert_eq!(
        endpoint["events"].as_array().unwrap().len(),
        8,
        "every event"
    );

    w.connect_and_sync("alice").await;
    let received = receiver
        .wait_for(WAIT, |d| {
            of_type(d, "recording.created").len() >= 5 && !of_type(d, "sync.completed").is_empty()
        })
        .await
        .unwrap();
    assert!(
        received.iter().all(|d| d["verified"] == true),
        "{received:?}"
    );
    let created = of_type(&received, "recording.created");
    assert_eq!(created.len(), 5, "{received:?}");
    let recordings = w.recordings("alice").await;
    for delivery in &created {
        let data = &delivery["body"]["data"];
        let stored = recordings
            .iter()
            .find(|r| r["id"] == data["recording_id"])
            .expect("the event names a stored recording");
        assert_eq!(data["recording"]["title"], stored["title"]);
        assert!(
            data["recording"]["transcript"].is_array(),
            "the whole recording"
        );
        assert_eq!(delivery["body"]["type"], "recording.created");
    }
    let sync = of_type(&received, "sync.completed")[0];
    assert_eq!(sync["body"]["data"]["job"]["counts"]["imported"], 5);
    assert!(sync["body"]["data"]["job"]["summary"].is_string());

    // Nothing changed at the source: another sync pushes its completion, and no recording.
    w.sync("alice", json!({"source": "fathom"})).await;
    let received = receiver
        .wait_for(WAIT, |d| of_type(d, "sync.completed").len() >= 2)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received_now = receiver.received().await.unwrap();
    assert_eq!(received_now.len(), received.len(), "nothing more arrived");
    let ids: HashSet<&str> = received_now
        .iter()
        .map(|d| d["webhook_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        received_now.len(),
        "no event was delivered twice"
    );

    // Every attempt is in the log, delivered.
    let log = attempts(&w.app, "alice", &endpoint).await;
    assert_eq!(log.len(), received_now.len());
    assert!(log
        .iter()
        .all(|a| a["outcome"] == "delivered" && a["status"] == 200 && a["attempt"] == 1));

    // A replay from the feed sends the recording events again, with the same ids.
    let path = endpoint_path(&endpoint, "/replay");
    let (status, replay) = w
        .app
        .send_json(
            Method::POST,
            &path,
            "alice",
            &json!({"since": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replay}");
    assert_eq!(replay["queued"], 5);
    let replayed = receiver
        .wait_for(WAIT, |d| of_type(d, "recording.created").len() >= 10)
        .await
        .unwrap();
    let first: HashSet<&str> = created
        .iter()
        .map(|d| d["webhook_id"].as_str().unwrap())
        .collect();
    let again: HashSet<&str> = of_type(&replayed, "recording.created")[5..]
        .iter()
        .map(|d| d["webhook_id"].as_str().unwrap())
        .collect();
    assert_eq!(first, again, "a replay keeps each event's id");
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_answers_and_each_attempt_is_logged() {
    let w = quick_world(1, None).await;
    let receiver = Receiver::start().await.unwrap();
    receiver
        .respond_with(json!({"responses": [
            {"status": 500, "body": "database down"},
            {"status": 500, "body": "still down"},
            {"status": 200}
        ]}))
        .await
        .unwrap();
    let endpoint = register(&w.app, "alice", &receiver, Some(&["recording.created"])).await;
    w.connect_and_sync("alice").await;
    receiver.wait_for(WAIT, |d| d.len() >= 3).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let received = receiver.received().await.unwrap();
    assert_eq!(
        received.len(),
        3,
        "delivered once, after two failures: {received:?}"
    );
    assert!(received.iter().all(|d| d["verified"] == true));
    let ids: HashSet<&str> = received
        .iter()
        .map(|d| d["webhook_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "one event, its id kept across retries");

    let log = attempts(&w.app, "alice", &endpoint).await;
    let summary: Vec<(Value, Value, Value)> = log
        .iter()
        .map(|a| {
            (
                a["attempt"].clone(),
                a["status"].clone(),
                a["outcome"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (json!(3), json!(200), json!("delivered")),
            (json!(2), json!(500), json!("retrying")),
            (json!(1), json!(500), json!("retrying")),
        ],
        "newest first"
    );
    assert_eq!(log[2]["response_excerpt"], "database down");
    assert!(log[2]["next_attempt_at"].is_string());
    assert!(log[0]["next_attempt_at"].is_null());
    let after = endpoint_now(&w.app, "alice", &endpoint).await;
    assert!(
        after["failing_since"].is_null(),
        "a success clears it: {after}"
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let w = quick_world(1, None).await;
    let receiver = Receiver::start().await.unwrap();
    receiver
        .respond_with(json!({"responses": [
            {"status": 429, "headers": {"Retry-After": "2"}},
            {"status": 200}
        ]}))
        .await
        .unwrap();
    register(&w.app, "alice", &receiver, Some(&["recording.created"])).await;
    w.connect_and_sync("alice").await;
    let received = receiver.wait_for(WAIT, |d| d.len() >= 2).await.unwrap();
    assert_eq!(received.len(), 2);
    let gap = received[1]["received_at_ms"].as_i64().unwrap()
        - received[0]["received_at_ms"].as_i64().unwrap();
    assert!(gap >= 2_000, "retried {gap} ms after a Retry-After of 2 s");
}

#[tokio::test]
async fn an_endpoint_that_answers_gone_is_disabled_and_says_why() {
    let w = quick_world(1, None).await;
    let receiver = Receiver::start().await.unwrap();
    receiver
        .respond_with(json!({"default": {"status": 410}}))
        .await
        .unwrap();
    let endpoint = register(&w.app, "alice", &receiver, Some(&["recording.created"])).await;
    w.connect_and_sync("alice").await;
    let path = endpoint_path(&endpoint, "");
    system_tests::eventually(30, "the endpoint is disabled", || async {
        w.app.get(&path, Some("alice")).await.1["enabled"] == false
    })
    .await;
    let (_, after) = w.app.get(&path, Some("alice")).await;
    assert!(
        after["disabled_reason"].as_str().unwrap().contains("410"),
        "{after}"
    );
    // A meeting imported after it is not sent to it.
    w.fake.add_meetings(&w.account, 1);
    w.sync("alice", json!({"source": "fathom"})).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let received = receiver.received().await.unwrap();
    assert_eq!(
        received.len(),
        1,
        "nothing more is sent to it: {received:?}"
    );
    let log = attempts(&w.app, "alice", &endpoint).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["outcome"], "disabled");

    // Turned back on by its owner, it is a fresh start.
    let (status, enabled) = w
        .app
        .send_json(Method::PATCH, &path, "alice", &json!({"enabled": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert_eq!(enabled["enabled"], true);
    assert!(enabled["disabled_reason"].is_null());
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_until_the_overlap_ends() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let w = quick_world(1, Some(clock.clone())).await;
    let receiver = Receiver::start().await.unwrap();
    let endpoint = register(&w.app, "alice", &receiver, Some(&["sync.completed"])).await;
    let old = endpoint["secret"].as_str().unwrap().to_owned();
    let path = endpoint_path(&endpoint, "/rotate-secret");
    let (status, rotated) = w
        .app
        .send_json(Method::POST, &path, "alice", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    receiver.set_secrets(&[&old, &new]).await.unwrap();

    w.connect_and_sync("alice").await;
    let received = receiver.wait_for(WAIT, |d| !d.is_empty()).await.unwrap();
    assert_eq!(
        received[0]["verified_by"],
        json!([0, 1]),
        "{:?}",
        received[0]
    );

    // A day later the old secret no longer signs.
    clock.advance(chrono::Duration::hours(25));
    w.sync("alice", json!({"source": "fathom"})).await;
    let received = receiver.wait_for(WAIT, |d| d.len() >= 2).await.unwrap();
    let signatures = received[1]["signature_header"].as_str().unwrap();
    assert_eq!(signatures.split(' ').count(), 1, "{signatures}");
    let shown = endpoint_now(&w.app, "alice", &endpoint).await;
    assert!(
        shown.get("secret").is_none(),
        "a secret is shown once: {shown}"
    );
}

#[tokio::test]
async fn private_and_metadata_destinations_are_refused_in_aws_mode() {
    let app = TestApp::start_with(
        Settings::default()
            .set("WEBHOOK_ALLOW_LOOPBACK", "false")
            .set("WEBHOOK_RETRY_SCHEDULE_SECS", QUICK_RETRIES),
        |s| s,
    )
    .await;
    for url in [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/hooks",
        "http://127.0.0.1:9/hooks",
        "http://hooks.example.com/",
    ] {
        assert_error(
            &app.send_json(
                Method::POST,
                "/webhook-endpoints",
                "alice",
                &json!({"url": url}),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_url",
        );
    }

    // A destination is checked again when sent to: one whose name has come to resolve to a
    // private address is not connected to (stored here as that address), and says why.
    let tenant = app.tenant("alice");
    let now = Utc::now();
    let mut endpoint = WebhookEndpoint {
        id: EndpointId::new(),
        owner: tenant.clone(),
        url: "https://10.0.0.1/hooks".into(),
        events: vec![],
        description: None,
        enabled: true,
        disabled_reason: None,
        secrets: vec![],
        failing_since: None,
        created_at: now,
        updated_at: now,
        version: 0,
    };
    let secret = SecretString::new(WebhookSecret::generate().expose_str());
    let key = &app.services().secrets().await.unwrap().sealing_key;
    endpoint.secrets.push(EndpointSecret {
        sealed: key.seal(&secret, &endpoint.secret_context()),
        created_at: now,
        expires_at: None,
    });
    app.services().endpoints.insert(&endpoint).await.unwrap();
    let event = outbound::Event::about(
        EventType::SyncCompleted,
        tenant,
        "job_test",
        now,
        json!({"job": {}}),
    );
    outbound::publish(app.services(), &event).await.unwrap();
    let path = format!("/webhook-endpoints/{}/attempts", endpoint.id);
    system_tests::eventually(30, "the attempt is logged", || async {
        !app.get(&path, Some("alice")).await.1["items"]
            .as_array()
            .unwrap()
            .is_empty()
    })
    .await;
    let (_, log) = app.get(&path, Some("alice")).await;
    let attempt = &log["items"][0];
    assert!(attempt["status"].is_null(), "{attempt}");
    assert!(
        attempt["error"].as_str().unwrap().contains("private"),
        "{attempt}"
    );
    assert_eq!(attempt["outcome"], "retrying");
}

#[tokio::test]
async fn endpoints_and_their_attempts_are_their_owners_alone() {
    let app = TestApp::start().await;
    let (status, created) = app
        .send_json(
            Method::POST,
            "/webhook-endpoints",
            "alice",
            &json!({"url": "http://127.0.0.1:9/hooks", "events": ["recording.created"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let base = format!("/webhook-endpoints/{id}");
    for (method, path, body) in [
        (Method::GET, base.clone(), None),
        (Method::PATCH, base.clone(), Some(json!({"enabled": false}))),
        (Method::GET, format!("{base}/attempts"), None),
        (
            Method::POST,
            format!("{base}/rotate-secret"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("{base}/replay"),
            Some(json!({"since": "2020-01-01T00:00:00Z"})),
        ),
        (Method::DELETE, base.clone(), None),
    ] {
        let answer = match body {
            Some(body) => app.send_json(method.clone(), &path, "bob", &body).await,
            None if method == Method::GET => app.get(&path, Some("bob")).await,
            None => {
                app.send_json(method.clone(), &path, "bob", &Value::Null)
                    .await
            }
        };
        assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    }
    let (_, bobs) = app.get("/webhook-endpoints", Some("bob")).await;
    assert_eq!(bobs["items"], json!([]));
    let (_, alices) = app.get("/webhook-endpoints", Some("alice")).await;
    assert_eq!(alices["items"].as_array().unwrap().len(), 1);
    assert!(alices["items"][0].get("secret").is_none());

    // Refusals change nothing.
    assert_error(
        &app.send_json(
            Method::POST,
            "/webhook-endpoints",
            "alice",
            &json!({"url": "http://127.0.0.1:9/", "events": ["recording.exploded"]}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_event",
    );
    // The owner deletes it.
    let response = app
        .client
        .delete(app.url(&base))
        .bearer_auth(app.token("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, alices) = app.get("/webhook-endpoints", Some("alice")).await;
    assert_eq!(alices["items"], json!([]));
}

#[tokio::test]
async fn an_endpoint_failing_everything_for_five_days_is_disabled_and_says_so() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let w = quick_world(1, Some(clock.clone())).await;
    let receiver = Receiver::start().await.unwrap();
    receiver
        .respond_with(json!({"default": {"status": 503}}))
        .await
        .unwrap();
    let endpoint = register(&w.app, "alice", &receiver, Some(&["sync.completed"])).await;
    let path = endpoint_path(&endpoint, "");
    w.connect_and_sync("alice").await;
    receiver.wait_for(WAIT, |d| !d.is_empty()).await.unwrap();
    system_tests::eventually(30, "the failure is noted", || async {
        w.app.get(&path, Some("alice")).await.1["failing_since"].is_string()
    })
    .await;
    assert_eq!(w.app.get(&path, Some("alice")).await.1["enabled"], true);

    // The retry due next comes five days after the first failure, and fails too.
    clock.advance(chrono::Duration::days(5) + chrono::Duration::minutes(1));
    system_tests::eventually(30, "the endpoint is disabled", || async {
        w.app.get(&path, Some("alice")).await.1["enabled"] == false
    })
    .await;
    let (_, after) = w.app.get(&path, Some("alice")).await;
    assert!(
        after["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("5 days"),
        "{after}"
    );
    let log = attempts(&w.app, "alice", &endpoint).await;
    assert_eq!(log[0]["outcome"], "disabled", "{log:?}");
    assert!(log[1..].iter().all(|a| a["outcome"] == "retrying"));
}
