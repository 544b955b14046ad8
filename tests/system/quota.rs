//! The monthly import limit: meetings it stops are reported as such (not as duplicates),
//! stay retryable, and are imported by the first sync after the limit resets; a webhook
//! delivery that meets it is kept for then.

use chrono::{Datelike, TimeZone, Utc};
use pipeline::ports::{Clock, ManualClock};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use system_tests::fathom_world::{counts, deliver, fake_options, new_meeting, world_with, World};
use system_tests::{eventually, Settings};

/// The first instant of the month after `now`'s.
fn next_month(now: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    Utc.with_ymd_and_hms(year, month, 1, 0, 10, 0).unwrap()
}

async fn scheduled_jobs(w: &World) -> Vec<Value> {
    w.jobs("alice")
        .await
        .into_iter()
        .filter(|j| j["kind"] == "scheduled")
        .collect()
}

#[tokio::test]
async fn meetings_over_the_limit_are_left_for_later_retryable_and_imported_after_it_resets() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let w = world_with(
        fake_options(),
        8,
        Settings::default()
            .set("IMPORTS_PER_MONTH", "5")
            .clock(clock.clone()),
        |s| s,
    )
    .await;
    let initial = w.connect_and_sync("alice").await;
    assert_eq!(initial["status"], "completed", "{initial}");
    assert_eq!(initial["counts"]["imported"], 5);
    assert_eq!(
        initial["counts"]["skipped"], 0,
        "none of them is a duplicate"
    );
    assert_eq!(initial["counts"]["not_imported"], 3);
    assert_eq!(
        initial["summary"],
        "5 new calls imported, 3 not imported: monthly import limit reached"
    );
    let left = initial["not_imported_items"].as_array().unwrap();
    assert_eq!(left.len(), 3);
    assert!(left
        .iter()
        .all(|item| item["reason"] == "monthly import limit reached"));

    // Retryable: a retry names the job it retries, and meets the limit again this month.
    let (status, answer) = w
        .app
        .send_json(
            Method::POST,
            &format!("/jobs/{}/retry", initial["id"].as_str().unwrap()),
            "alice",
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let retry = w
        .finished("alice", answer["job_id"].as_str().unwrap())
        .await;
    assert_eq!(retry["retry_of"], initial["id"]);
    assert_eq!(retry["counts"]["not_imported"], 3, "{retry}");
    assert_eq!(w.recordings("alice").await.len(), 5);

    // The month turns: the next scheduled sync imports what was left, once.
    clock.set(next_month(clock.now()));
    cron_sync::handle(w.app.services(), dev_server::scheduled_event())
        .await
        .unwrap();
    eventually(30, "the scheduled sync finishes", || async {
        scheduled_jobs(&w)
            .await
            .first()
            .is_some_and(|j| j["status"] == "completed")
    })
    .await;
    let scheduled = scheduled_jobs(&w).await.remove(0);
    assert_eq!(counts(&scheduled).0, 3, "{scheduled}");
    let recordings = w.recordings("alice").await;
    assert_eq!(recordings.len(), 8);
    let distinct: std::collections::HashSet<_> = recordings
        .iter()
        .map(|r| r["external_id"].clone())
        .collect();
    assert_eq!(distinct.len(), 8, "each meeting once");
}

async fn completed_webhook_jobs(w: &World) -> Vec<Value> {
    w.jobs("alice")
        .await
        .into_iter()
        .filter(|j| j["kind"] == "webhook" && j["status"] == "completed")
        .collect()
}

#[tokio::test]
async fn a_delivery_that_meets_the_limit_is_kept_and_imported_after_it_resets() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let w = world_with(
        fake_options(),
        2,
        Settings::default()
            .set("IMPORTS_PER_MONTH", "2")
            .clock(clock.clone()),
        |s| s,
    )
    .await;
    let alice = w.connect_endpoint("alice", &w.account).await;
    let (recording_id, body) = new_meeting(&w, &w.account);
    let answer = deliver(
        &w,
        &alice.path(),
        &alice.secret,
        "msg_late",
        clock.now(),
        &body,
    )
    .await;
    assert_eq!(answer.0, StatusCode::ACCEPTED, "{}", answer.1);
    eventually(30, "the delivery's job ends", || async {
        completed_webhook_jobs(&w).await.len() == 1
    })
    .await;
    let first = completed_webhook_jobs(&w).await.remove(0);
    assert_eq!(first["counts"]["not_imported"], 1, "{first}");
    assert_eq!(w.recordings("alice").await.len(), 2);

    // Next month, the first sync of the connection queues the kept delivery again.
    clock.set(next_month(clock.now()));
    let (status, _) = w
        .app
        .send_json(
            Method::POST,
            "/sync",
            "alice",
            &json!({"source": "fathom", "external_ids": ["1"]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    eventually(30, "the kept delivery is imported", || async {
        w.recordings("alice")
            .await
            .iter()
            .any(|r| r["external_id"] == recording_id.to_string().as_str())
    })
    .await;
    eventually(30, "its new round's job ends", || async {
        completed_webhook_jobs(&w).await.len() == 2
    })
    .await;
    assert_eq!(w.recordings("alice").await.len(), 3);
}
