//! Webhook intake under stress: a crash at any step loses nothing and doubles nothing,
//! receipts belong to the endpoint that took them, and unauthenticated requests cost no
//! storage beyond a bounded log.

use chrono::{DateTime, Utc};
use pipeline::domain::ConnectionId;
use pipeline::pipeline::deliveries::RECEIPT_HOLD;
use pipeline::ports::{Clock, ManualClock};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use system_tests::crash::{CrashingBlobs, CrashingOnce, CrashingQueue, Tripwire};
use system_tests::fathom_world::{deliver, fake_options, new_meeting, world_on, world_with, World};
use system_tests::{assert_error, eventually, read, Settings};

async fn copies(w: &World, user: &str, recording_id: u64) -> usize {
    let id = recording_id.to_string();
    w.recordings(user)
        .await
        .iter()
        .filter(|r| r["external_id"] == id.as_str())
        .count()
}

/// Where the worker dies: after claiming the id, after storing the payload, after queueing.
#[derive(Debug, Clone, Copy)]
enum CrashAfter {
    Claim,
    Store,
    Queue,
}

#[tokio::test]
async fn a_crash_at_any_step_of_intake_loses_nothing_and_doubles_nothing() {
    for step in [CrashAfter::Claim, CrashAfter::Store, CrashAfter::Queue] {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let wire = Tripwire::default();
        let injected = wire.clone();
        let settings =
            Settings::default()
                .clock(clock.clone())
                .override_services(move |services| {
                    let wire = injected.clone();
                    match step {
                        CrashAfter::Claim => {
                            services.blobs = Arc::new(CrashingBlobs {
                                inner: services.blobs.clone(),
                                wire,
                                prefix: "webhooks/",
                            })
                        }
                        CrashAfter::Store => {
                            services.sync_queue = Arc::new(CrashingQueue {
                                inner: services.sync_queue.clone(),
                                wire,
                            })
                        }
                        CrashAfter::Queue => {
                            services.once = Arc::new(CrashingOnce {
                                inner: services.once.clone(),
                                wire,
                            })
                        }
                    }
                });
        let w = world_with(fake_options(), 2, settings, |s| s).await;
        let alice = w.connect_endpoint("alice", &w.account).await;
        let path = format!("/webhooks/fathom/{}", alice.connection_id);
        let (recording_id, body) = new_meeting(&w, &w.account);

        wire.arm();
        let crashed = deliver(&w, &path, &alice.secret, "msg_crash", clock.now(), &body).await;
        assert_eq!(
            crashed.0,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{step:?}: {}",
            crashed.1
        );
        // The sender retries at once: the dead worker's claim still holds, so it is told to
        // come back rather than that the delivery is a duplicate.
        let early = deliver(&w, &path, &alice.secret, "msg_crash", clock.now(), &body).await;
        assert_error(&early, StatusCode::CONFLICT, "in_progress");
        // Later, the claim has expired and the retry takes the delivery over.
        clock.advance(RECEIPT_HOLD + chrono::Duration::seconds(1));
        let retried = deliver(&w, &path, &alice.secret, "msg_crash", clock.now(), &body).await;
        assert_eq!(retried.0, StatusCode::ACCEPTED, "{step:?}: {}", retried.1);
        let again = deliver(&w, &path, &alice.secret, "msg_crash", clock.now(), &body).await;
        assert_eq!(again.0, StatusCode::OK, "{step:?}: then a duplicate");

        eventually(30, "the delivery is imported", || async {
            copies(&w, "alice", recording_id).await == 1
        })
        .await;
        let webhook_jobs: Vec<Value> = w
            .jobs("alice")
            .await
            .into_iter()
            .filter(|j| j["kind"] == "webhook")
            .collect();
        assert_eq!(webhook_jobs.len(), 1, "{step:?}: one import job");
        let job = w
            .finished("alice", webhook_jobs[0]["id"].as_str().unwrap())
            .await;
        assert_eq!(job["counts"]["imported"], 1, "{step:?}: {job}");
        // Whatever else was queued twice finds its job done.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(copies(&w, "alice", recording_id).await, 1, "{step:?}");
    }
}

#[tokio::test]
async fn a_delivery_id_taken_in_at_one_endpoint_is_no_duplicate_at_another() {
    let w = world_with(fake_options(), 1, Settings::default(), |s| s).await;
    let alice = w.connect_endpoint("alice", &w.account).await;
    let grace = w.fake.add_account("Grace Hopper", "grace@navy.test");
    let bob = w.connect_endpoint("bob", &grace).await;
    let (alices_meeting, alices_body) = new_meeting(&w, &w.account);
    let (bobs_meeting, bobs_body) = new_meeting(&w, &grace);

    for (endpoint, body) in [(&alice, &alices_body), (&bob, &bobs_body)] {
        let path = format!("/webhooks/fathom/{}", endpoint.connection_id);
        let answer = deliver(&w, &path, &endpoint.secret, "msg_same_id", Utc::now(), body).await;
        assert_eq!(answer.0, StatusCode::ACCEPTED, "{}", answer.1);
    }
    eventually(30, "both deliveries are imported", || async {
        copies(&w, "alice", alices_meeting).await == 1 && copies(&w, "bob", bobs_meeting).await == 1
    })
    .await;
}

/// Rows in every table of the embedded backend.
async fn stored_rows(w: &World) -> i64 {
    w.app
        .backend
        .db
        .call(|c| {
            let tables: Vec<String> = c
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut total = 0i64;
            for table in tables {
                total += c.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| r.get::<_, i64>(0))?;
            }
            Ok(total)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn unsigned_floods_write_nothing_for_unknown_connections_and_a_bounded_log_for_known_ones() {
    // The start of a minute, so every request below falls in the same one.
    let start = DateTime::from_timestamp(Utc::now().timestamp() / 60 * 60 + 5, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let w = world_on(1, clock.clone()).await;
    let alice = w.connect_endpoint("alice", &w.account).await;
    let unsigned = |path: String| {
        let request = w
            .app
            .client
            .post(w.app.url(&path))
            .body("{\"recording_id\": 1}");
        async move { read(request.send().await.unwrap()).await }
    };

    let before = stored_rows(&w).await;
    for _ in 0..40 {
        let unknown = format!("/webhooks/fathom/{}", ConnectionId::new());
        assert_error(
            &unsigned(unknown).await,
            StatusCode::NOT_FOUND,
            "unknown_connection",
        );
        let malformed = "/webhooks/fathom/not-a-connection".to_owned();
        assert_eq!(unsigned(malformed).await.0, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        stored_rows(&w).await,
        before,
        "requests naming no known connection write nothing"
    );

    let path = format!("/webhooks/fathom/{}", alice.connection_id);
    for _ in 0..30 {
        assert_error(
            &unsigned(path.clone()).await,
            StatusCode::UNAUTHORIZED,
            "missing_header",
        );
    }
    let (_, log) = w
        .app
        .get("/sources/fathom/deliveries?limit=200", Some("alice"))
        .await;
    let logged = log["items"].as_array().unwrap().len() as u64;
    assert_eq!(
        logged,
        webhook::REFUSED_LOGGED_PER_MINUTE,
        "refusals logged up to the cap"
    );
    // A new minute logs again; a verified delivery is always logged.
    clock.advance(chrono::Duration::minutes(1));
    assert_error(
        &unsigned(path.clone()).await,
        StatusCode::UNAUTHORIZED,
        "missing_header",
    );
    let (_, body) = new_meeting(&w, &w.account);
    let genuine = deliver(&w, &path, &alice.secret, "msg_genuine", clock.now(), &body).await;
    assert_eq!(genuine.0, StatusCode::ACCEPTED);
    let (_, log) = w
        .app
        .get("/sources/fathom/deliveries?limit=200", Some("alice"))
        .await;
    assert_eq!(log["items"].as_array().unwrap().len() as u64, logged + 2);
}
