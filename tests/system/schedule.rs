//! The hourly schedule: fan-out to every due connection, one sync per connection per tick,
//! incremental syncs that resume after a crash, and connection health with back-off.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use pipeline::domain::{Connection, ConnectionStatus, Source};
use pipeline::pipeline::connections::update_connection;
use pipeline::pipeline::schedule::run_scheduled;
use pipeline::ports::{Clock, ManualClock, QueueMessage};
use pipeline::services::Services;
use pipeline::testing::{local_backend, member};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use system_tests::counting_queue::CountingQueue;
use system_tests::eventually;
use system_tests::fathom_world::{counts, fake_options, world_on, world_with, World};
use system_tests::Settings;

fn scheduled_event(time: chrono::DateTime<chrono::Utc>) -> EventBridgeEvent {
    let mut event = dev_server::scheduled_event();
    event.time = Some(time);
    event
}

#[tokio::test]
async fn fan_out_sends_one_message_per_due_connection_in_batches_of_ten() {
    let backend = local_backend().await;
    let now = backend.clock.now();
    let mut due = HashSet::new();
    for i in 0..1_000 {
        let connection = Connection::new(member(&format!("user-{i}")), Source::Fathom, now);
        backend
            .services
            .connections
            .insert_if_absent(&connection)
            .await
            .unwrap();
        due.insert(connection.id.to_string());
    }
    let not_due = [
        (ConnectionStatus::Paused, None),
        (ConnectionStatus::NeedsReauth, None),
        (ConnectionStatus::Disconnected, None),
        (
            ConnectionStatus::Error,
            Some(now + chrono::Duration::hours(2)),
        ),
    ];
    for (i, (status, backoff)) in not_due.into_iter().enumerate() {
        let mut connection = Connection::new(member(&format!("skipped-{i}")), Source::Fathom, now);
        connection.status = status;
        connection.next_sync_after = backoff;
        backend
            .services
            .connections
            .insert_if_absent(&connection)
            .await
            .unwrap();
    }
    let counting = Arc::new(CountingQueue::new(backend.services.sync_queue.clone()));
    let services = Services {
        sync_queue: counting.clone(),
        ..backend.services.clone()
    };

    let result = cron_sync::handle(&services, scheduled_event(now))
        .await
        .unwrap();
    assert_eq!(result.queued, 1_000);
    assert_eq!(
        result.skipped, 3,
        "paused, needs_reauth and backed-off (disconnected are not listed)"
    );
    assert!(
        counting.batch_calls.load(Ordering::SeqCst) <= 100,
        "at most 100 batch calls"
    );
    assert!(counting.largest_batch.load(Ordering::SeqCst) <= 10);
    let queued: HashSet<String> = counting
        .bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            serde_json::from_str::<Value>(b).unwrap()["connection_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(queued, due, "exactly the due connections, each once");
}

/// Messages waiting on the sync queue, read from the local backend's table.
async fn queued_messages(w: &World) -> i64 {
    w.app
        .backend
        .db
        .call(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM queue_messages WHERE queue = 'sync' AND dead = 0",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap()
}

async fn scheduled_jobs(w: &World, who: &str) -> Vec<Value> {
    w.jobs(who)
        .await
        .into_iter()
        .filter(|j| j["kind"] == "scheduled")
        .collect()
}

#[tokio::test]
async fn a_doubled_tick_syncs_each_connection_once() {
    let w = world_with(fake_options(), 5, Settings::default(), |s| s).await;
    for who in ["alice", "bob"] {
        w.connect_and_sync(who).await;
    }
    w.fake.add_meetings(&w.account, 3);
    let services = w.app.services();
    let tick = scheduled_event(services.clock.now());
    cron_sync::handle(services, tick.clone()).await.unwrap();
    cron_sync::handle(services, tick).await.unwrap();
    eventually(30, "every scheduled message is handled", || async {
        queued_messages(&w).await == 0
    })
    .await;
    for who in ["alice", "bob"] {
        let jobs = scheduled_jobs(&w, who).await;
        assert_eq!(
            jobs.len(),
            1,
            "{who}: one scheduled sync for the doubled tick: {jobs:?}"
        );
        let job = w.finished(who, jobs[0]["id"].as_str().unwrap()).await;
        let (imported, updated, _overlap_skipped, failed) = counts(&job);
        assert_eq!((imported, updated, failed), (3, 0, 0), "{job}");
        assert_eq!(w.recordings(who).await.len(), 8);
    }
}

#[tokio::test]
async fn new_meetings_arrive_on_the_next_tick_without_a_manual_call() {
    let w = world_with(fake_options(), 4, Settings::default(), |s| {
        s.cron_interval(Duration::from_millis(300))
    })
    .await;
    w.connect_and_sync("alice").await;
    w.fake.add_meetings(&w.account, 6);
    eventually(30, "the new meetings are imported", || async {
        w.recordings("alice").await.len() == 10
    })
    .await;
    // A job's counts are written after its last recording commits, so they are read once
    // each scheduled job seen now has ended.
    let mut imported = 0;
    for job in scheduled_jobs(&w, "alice").await {
        let job = w.finished("alice", job["id"].as_str().unwrap()).await;
        imported += counts(&job).0;
    }
    assert_eq!(imported, 6, "the scheduled syncs imported them");
}

#[tokio::test]
async fn a_sync_killed_mid_way_resumes_from_its_checkpoint_on_the_next_tick() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let w = world_on(5, clock.clone()).await;
    w.connect_and_sync("alice").await;
    w.fake.add_meetings(&w.account, 25);
    let services = w.app.services().clone();
    let connection = w.connection("alice").await;

    // The first list call goes through; the second hangs, and the worker is killed there.
    w.fake.hold_list_calls_after(1);
    let worker = {
        let services = services.clone();
        let id = connection.id.clone();
        let deadline = clock.now() + chrono::Duration::minutes(15);
        tokio::spawn(async move { run_scheduled(&services, &id, "tick-1", deadline).await })
    };
    eventually(30, "the first page is committed", || async {
        services
            .connections
            .get(&connection.id)
            .await
            .unwrap()
            .unwrap()
            .sync_checkpoint
            .is_some()
    })
    .await;
    worker.abort();
    let _ = worker.await;
    w.fake.release_held_calls();
    assert_eq!(
        w.recordings("alice").await.len(),
        15,
        "the first page of new meetings was stored"
    );

    // Time passes: the dead worker's lease expires; the next tick resumes after page one.
    clock.advance(chrono::Duration::minutes(61));
    cron_sync::handle(&services, scheduled_event(clock.now()))
        .await
        .unwrap();
    eventually(30, "the resumed sync finishes", || async {
        let jobs = scheduled_jobs(&w, "alice").await;
        jobs.iter().any(|j| j["status"] == "completed")
    })
    .await;
    let jobs = scheduled_jobs(&w, "alice").await;
    let resumed = jobs.iter().find(|j| j["status"] == "completed").unwrap();
    let (imported, updated, _overlap_skipped, failed) = counts(resumed);
    assert_eq!(
        (imported, updated, failed),
        (15, 0, 0),
        "only what the dead worker had not stored: {resumed}"
    );
    let interrupted = jobs
        .iter()
        .find(|j| j["status"] == "failed")
        .expect("the killed run's job is closed");
    assert!(interrupted["summary"]
        .as_str()
        .unwrap()
        .contains("interrupted"));
    let recordings = w.recordings("alice").await;
    let ids: HashSet<_> = recordings
        .iter()
        .map(|r| r["external_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        (recordings.len(), ids.len()),
        (30, 30),
        "every meeting exactly once"
    );
    assert!(services
        .connections
        .get(&connection.id)
        .await
        .unwrap()
        .unwrap()
        .sync_checkpoint
        .is_none());
}

#[tokio::test]
async fn three_failures_mark_the_connection_error_and_back_off_until_a_success_resets_it() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let w = world_on(2, clock.clone()).await;
    w.connect_and_sync("alice").await;
    let services = w.app.services().clone();
    let id = w.connection("alice").await.id;

    w.fake.fail_next(10_000, 500);
    for tick in ["t1", "t2", "t3"] {
        let deadline = clock.now() + chrono::Duration::minutes(15);
        assert!(
            run_scheduled(&services, &id, tick, deadline).await.is_err(),
            "{tick} fails"
        );
    }
    let source = w.fathom_source("alice").await;
    assert_eq!(source["status"], "error");
    assert!(
        source["last_error"].as_str().unwrap().contains("Fathom"),
        "{source}"
    );
    let backed_off = services.connections.get(&id).await.unwrap().unwrap();
    assert_eq!(backed_off.consecutive_failures, 3);
    assert_eq!(
        backed_off.next_sync_after,
        Some(clock.now() + chrono::Duration::hours(1))
    );

    // Inside the back-off the schedule leaves it alone.
    let skipped = cron_sync::handle(&services, scheduled_event(clock.now()))
        .await
        .unwrap();
    assert_eq!((skipped.queued, skipped.skipped), (0, 1));

    // After it, with Fathom healthy again, one sync succeeds and resets the health.
    w.fake.fail_next(0, 500);
    w.fake.add_meetings(&w.account, 1);
    clock.advance(chrono::Duration::minutes(61));
    let deadline = clock.now() + chrono::Duration::minutes(15);
    run_scheduled(&services, &id, "t4", deadline).await.unwrap();
    let healed = services.connections.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (
            healed.status,
            healed.consecutive_failures,
            healed.next_sync_after
        ),
        (ConnectionStatus::Active, 0, None)
    );
    assert_eq!(w.fathom_source("alice").await["last_error"], Value::Null);
    assert_eq!(w.recordings("alice").await.len(), 3);
}

#[tokio::test]
async fn one_poison_message_does_not_hold_back_the_rest_of_its_batch() {
    let w = world_with(fake_options(), 2, Settings::default(), |s| s).await;
    for who in ["alice", "bob"] {
        w.connect_and_sync(who).await;
    }
    w.fake.add_meetings(&w.account, 2);
    let services = w.app.services();
    let alice = w.connection("alice").await;
    let bob = w.connection("bob").await;
    // Alice's stored key was sealed under another key: every attempt fails.
    let foreign = pipeline::testing::test_secrets().sealing_key;
    update_connection(services.connections.as_ref(), &alice.id, |c| {
        c.credentials.api_key = Some(pipeline::pipeline::credentials::seal(
            &foreign,
            &c.id,
            pipeline::pipeline::credentials::SecretField::ApiKey,
            &pipeline::crypto::SecretString::new("key"),
        ));
    })
    .await
    .unwrap();
    let scheduled = |id: &pipeline::domain::ConnectionId| {
        pipeline::pipeline::messages::SyncMessage::Scheduled {
            connection_id: id.clone(),
            tick: "t-poison".into(),
        }
        .to_body()
    };
    let records = [
        ("m-alice", scheduled(&alice.id)),
        ("m-garbage", "{not json".to_owned()),
        ("m-bob", scheduled(&bob.id)),
    ];
    let messages: Vec<QueueMessage> = records
        .iter()
        .map(|(id, body)| QueueMessage {
            message_id: id.to_string(),
            receipt: id.to_string(),
            body: body.clone(),
            receive_count: 1,
        })
        .collect();
    let event = dev_server::sqs_event("sync", &messages);
    let deadline = services.clock.now() + chrono::Duration::minutes(15);
    let response = sync_meetings::handle(services, event, deadline).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        vec!["m-alice"],
        "only the poison message is retried"
    );
    assert_eq!(
        w.recordings("bob").await.len(),
        4,
        "the message after it was handled"
    );
    assert_eq!(w.recordings("alice").await.len(), 2);
}

#[tokio::test]
async fn the_embedded_backend_purges_what_has_expired() {
    let backend = local_backend().await;
    let alice = member("alice");
    let now = backend.clock.now();
    let mut old = pipeline::domain::SyncJob::new(
        alice.clone(),
        Source::Fathom,
        pipeline::domain::JobKind::Manual,
        now,
    );
    old.finish(now - chrono::Duration::days(31));
    let mut recent = pipeline::domain::SyncJob::new(
        alice.clone(),
        Source::Fathom,
        pipeline::domain::JobKind::Manual,
        now,
    );
    recent.finish(now - chrono::Duration::days(1));
    let running = pipeline::domain::SyncJob::new(
        alice.clone(),
        Source::Fathom,
        pipeline::domain::JobKind::Manual,
        now,
    );
    for job in [&old, &recent, &running] {
        backend.services.jobs.put(job).await.unwrap();
    }
    backend
        .services
        .once
        .insert_if_absent(
            "receipt:fathom:old",
            "x",
            now - chrono::Duration::seconds(1),
            now - chrono::Duration::days(5),
        )
        .await
        .unwrap();
    let db = pipeline::adapters::local::Db::open(
        &backend.services.config.local_data_dir.join("callsync.db"),
    )
    .unwrap();
    let purged = pipeline::adapters::local::purge_expired(&db, now)
        .await
        .unwrap();
    assert!(purged >= 2, "purged {purged}");
    let left: Vec<_> = backend
        .services
        .jobs
        .list(&alice, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(left.len(), 2);
    assert!(
        !left.contains(&old.id),
        "a job finished 31 days ago is gone"
    );
}
