//! Every job ends in a state a person can read: a job whose message keeps failing ends as
//! failed with the last error on its final delivery, and one left unfinished by a worker that
//! stopped is swept by the hourly run, whatever its connection's state.

use chrono::Duration as Span;
use pipeline::domain::{Connection, ConnectionStatus, JobKind, JobStatus, Source, SyncJob, Tenant};
use pipeline::pipeline::jobs::{sent_mark, start_sync_job};
use pipeline::pipeline::schedule::{run_scheduled, RECENT_JOBS_SWEPT, SWEEP_PAGE};
use pipeline::pipeline::sync::{run_sync_job, RunOutcome};
use pipeline::ports::{Clock, ManualClock};
use pipeline::services::Services;
use pipeline::testing::member;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use system_tests::fathom_world::{fake_options, world_on, world_with};
use system_tests::{eventually, Settings, TestApp};

#[tokio::test]
async fn a_sync_whose_message_keeps_failing_ends_failed_with_the_reason() {
    let w = world_with(
        fake_options(),
        3,
        Settings::default().set("QUEUE_MAX_RECEIVES", "2"),
        |server| server.visibility(Duration::from_millis(200)),
    )
    .await;
    w.connect_and_sync("alice").await;
    // Fathom answers 503 to everything from now on.
    w.fake.fail_next(10_000, 503);
    let (status, answer) = w
        .app
        .send_json(Method::POST, "/sync", "alice", &json!({"source": "fathom"}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let job = w
        .finished("alice", answer["job_id"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    let summary = job["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("gave up after 2 attempts")
            && summary.contains("Fathom is unavailable"),
        "{summary}"
    );
    let source = w.fathom_source("alice").await;
    assert!(source["current_job"].is_null(), "{source}");
}

/// A job of `who`'s, running since `saved`.
fn running(
    who: &str,
    source: Source,
    kind: JobKind,
    saved: chrono::DateTime<chrono::Utc>,
) -> SyncJob {
    let mut job = SyncJob::new(member(who), source, kind, saved);
    job.status = JobStatus::Running;
    job
}

#[tokio::test]
async fn the_hourly_run_fails_jobs_dead_workers_left_unfinished_whatever_their_connections_state() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::start_with(Settings::default().clock(clock.clone()), |s| s).await;
    let services = app.services();
    let now = clock.now();
    let mut paused = Connection::new(member("alice"), Source::Fathom, now);
    paused.status = ConnectionStatus::Paused;
    services
        .connections
        .insert_if_absent(&paused)
        .await
        .unwrap();

    let alice = |kind, saved| running("alice", Source::Fathom, kind, saved);
    let abandoned = alice(JobKind::Manual, now - Span::hours(2));
    let webhook = alice(JobKind::Webhook, now - Span::hours(3));
    let recent = alice(JobKind::Scheduled, now - Span::minutes(10));
    let upload = alice(JobKind::Upload, now - Span::hours(2));
    // A scheduled job whose worker died before starting it.
    let mut never_started = SyncJob::new(
        member("alice"),
        Source::Fathom,
        JobKind::Scheduled,
        now - Span::hours(2),
    );
    never_started.updated_at = now - Span::hours(2);
    // Manual syncs queued as long ago: one whose worker died before sending its message, one
    // whose message waits behind others on the queue.
    let unsent = SyncJob::new(
        member("alice"),
        Source::Fathom,
        JobKind::Manual,
        now - Span::hours(2),
    );
    let sent = SyncJob::new(
        member("alice"),
        Source::Fathom,
        JobKind::Manual,
        now - Span::hours(2),
    );
    for job in [
        &abandoned,
        &webhook,
        &recent,
        &upload,
        &never_started,
        &unsent,
        &sent,
    ] {
        services.jobs.put(job).await.unwrap();
    }
    services
        .once
        .put(&sent_mark(&sent.id), "sent", now + Span::days(7))
        .await
        .unwrap();
    let event = dev_server::scheduled_event();
    cron_sync::handle(services, event).await.unwrap();

    let status = |job: &SyncJob| {
        let id = job.id.clone();
        async move {
            services
                .jobs
                .get(&member("alice"), &id)
                .await
                .unwrap()
                .unwrap()
        }
    };
    for job in [&abandoned, &webhook, &never_started, &unsent] {
        let after = status(job).await;
        assert_eq!(after.status, JobStatus::Failed);
        assert!(
            after
                .summary
                .as_deref()
                .unwrap()
                .starts_with("interrupted: the worker stopped"),
            "{:?}",
            after.summary
        );
    }
    assert_eq!(
        status(&recent).await.status,
        JobStatus::Running,
        "a live job stays"
    );
    assert_eq!(
        status(&upload).await.status,
        JobStatus::Running,
        "uploads end through their own retries"
    );
    assert_eq!(
        status(&sent).await.status,
        JobStatus::Queued,
        "its message will bring it to a worker"
    );
    let (_, sources) = app.get("/sources", Some("alice")).await;
    eventually(5, "no current job is shown", || async {
        let (_, sources) = app.get("/sources", Some("alice")).await;
        sources["items"][0]["current_job"]["id"] != abandoned.id.as_str()
    })
    .await;
    assert_eq!(sources["items"][0]["status"], "paused");
}

/// The hourly run reads unfinished jobs a page at a time: a dead worker's job behind more than
/// a page of jobs it leaves alone (uploads, which their own retries end) is still failed.
#[tokio::test]
async fn the_hourly_run_finds_a_dead_workers_job_behind_pages_of_jobs_it_leaves_alone() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::start_with(Settings::default().clock(clock.clone()), |s| s).await;
    let services = app.services();
    let now = clock.now();
    for _ in 0..=SWEEP_PAGE {
        let upload = running(
            "alice",
            Source::Upload,
            JobKind::Upload,
            now - Span::hours(3),
        );
        services.jobs.put(&upload).await.unwrap();
    }
    let abandoned = running("bob", Source::Fathom, JobKind::Manual, now - Span::hours(2));
    services.jobs.put(&abandoned).await.unwrap();

    cron_sync::handle(services, dev_server::scheduled_event())
        .await
        .unwrap();
    let after = services
        .jobs
        .get(&member("bob"), &abandoned.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.status, JobStatus::Failed, "{after:?}");
}

/// A sync message comes back after its visibility timeout while its first worker is still on
/// the job (a sync outlasts the timeout): the second delivery must wait its turn, not run the
/// same job alongside, and the job ends finished with every meeting stored once.
#[tokio::test]
async fn a_redelivered_message_of_a_running_sync_is_requeued_not_run_twice() {
    let w = world_with(fake_options(), 5, Settings::default(), |s| s).await;
    w.connect_and_sync("alice").await;
    w.fake.add_meetings(&w.account, 25);
    let services = w.app.services().clone();
    let alice = member("alice");
    let job = SyncJob::new(
        alice.clone(),
        Source::Fathom,
        JobKind::Manual,
        services.clock.now(),
    );
    services.jobs.put(&job).await.unwrap();
    let deadline = services.clock.now() + Span::minutes(15);

    // The first list call goes through; the second hangs: the first worker is mid-sync.
    w.fake.hold_list_calls_after(1);
    let first = tokio::spawn({
        let (services, alice, id) = (services.clone(), alice.clone(), job.id.clone());
        async move { run_sync_job(&services, &alice, &id, deadline).await }
    });
    eventually(30, "the first page is committed", || async {
        let saved = services.jobs.get(&alice, &job.id).await.unwrap().unwrap();
        saved.status == JobStatus::Running && saved.cursor.is_some()
    })
    .await;

    // The same message, delivered again.
    let second = tokio::time::timeout(
        Duration::from_secs(10),
        run_sync_job(&services, &alice, &job.id, deadline),
    )
    .await;
    w.fake.release_held_calls();
    let second = second
        .expect("the second delivery runs the job alongside the first (it waits on Fathom)")
        .unwrap();
    assert_eq!(second, RunOutcome::Requeued, "the job is busy");

    assert_eq!(first.await.unwrap().unwrap(), RunOutcome::Finished);
    let done = services.jobs.get(&alice, &job.id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    let recordings = w.recordings("alice").await;
    let ids: std::collections::HashSet<_> = recordings
        .iter()
        .map(|r| r["external_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!((recordings.len(), ids.len()), (30, 30));
}

/// Finished webhook jobs of `owner`, more than a scheduled run reads of a connection's newest.
async fn many_newer_jobs(services: &Services, owner: &Tenant, clock: &ManualClock) {
    clock.advance(Span::seconds(1));
    for _ in 0..=RECENT_JOBS_SWEPT {
        let mut delivery =
            SyncJob::new(owner.clone(), Source::Fathom, JobKind::Webhook, clock.now());
        delivery.finish(clock.now());
        services.jobs.put(&delivery).await.unwrap();
    }
}

/// A scheduled run killed mid-way leaves its job `running`; the connection's next scheduled
/// run ends it, however many jobs (webhook deliveries, other syncs) came after it.
#[tokio::test]
async fn the_next_scheduled_run_fails_an_interrupted_job_behind_many_newer_ones() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let w = world_on(3, clock.clone()).await;
    w.connect_and_sync("alice").await;
    let services = w.app.services().clone();
    let alice = member("alice");
    let mut killed = SyncJob::new(
        alice.clone(),
        Source::Fathom,
        JobKind::Scheduled,
        clock.now(),
    );
    killed.status = JobStatus::Running;
    services.jobs.put(&killed).await.unwrap();
    many_newer_jobs(&services, &alice, &clock).await;

    // Past the killed worker's lease, the next tick runs.
    clock.advance(Span::minutes(10));
    let connection = w.connection("alice").await;
    let deadline = clock.now() + Span::minutes(15);
    let outcome = run_scheduled(&services, &connection.id, "tick-2", deadline)
        .await
        .unwrap();
    assert_eq!(outcome, RunOutcome::Finished);
    let after = services
        .jobs
        .get(&alice, &killed.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.status, JobStatus::Failed, "{after:?}");
    assert!(
        after.summary.as_deref().unwrap().starts_with("interrupted"),
        "{:?}",
        after.summary
    );
}

/// A worker killed between creating its scheduled job and starting it leaves the job `queued`
/// with no message behind it; the connection's next scheduled run ends it, however many jobs
/// came after it.
#[tokio::test]
async fn the_next_scheduled_run_fails_a_scheduled_job_left_queued_by_a_killed_worker() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let w = world_on(3, clock.clone()).await;
    w.connect_and_sync("alice").await;
    let services = w.app.services().clone();
    let alice = member("alice");
    let orphan = SyncJob::new(
        alice.clone(),
        Source::Fathom,
        JobKind::Scheduled,
        clock.now(),
    );
    services.jobs.put(&orphan).await.unwrap();
    many_newer_jobs(&services, &alice, &clock).await;

    clock.advance(Span::minutes(10));
    let connection = w.connection("alice").await;
    let deadline = clock.now() + Span::minutes(15);
    run_scheduled(&services, &connection.id, "tick-2", deadline)
        .await
        .unwrap();
    let after = services
        .jobs
        .get(&alice, &orphan.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.status, JobStatus::Failed, "{after:?}");
}

/// A manual sync's job whose message was never sent (its worker stopped between storing the
/// job and queueing it) is failed by the connection's next scheduled run, however many jobs
/// came after it; one whose message was sent (and waits behind another sync, say) is left to
/// run.
#[tokio::test]
async fn the_next_scheduled_run_fails_a_job_whose_message_was_never_sent_and_only_that() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let w = world_on(3, clock.clone()).await;
    w.connect_and_sync("alice").await;
    let services = w.app.services().clone();
    let alice = member("alice");
    let connection = w.connection("alice").await;
    let unsent = SyncJob::new(alice.clone(), Source::Fathom, JobKind::Manual, clock.now());
    services.jobs.put(&unsent).await.unwrap();
    // As `start_job` leaves one whose message is on the queue.
    let sent = SyncJob::new(alice.clone(), Source::Fathom, JobKind::Manual, clock.now());
    services.jobs.put(&sent).await.unwrap();
    services
        .once
        .put(&sent_mark(&sent.id), "sent", clock.now() + Span::days(7))
        .await
        .unwrap();
    many_newer_jobs(&services, &alice, &clock).await;

    clock.advance(Span::minutes(10));
    let deadline = clock.now() + Span::minutes(15);
    run_scheduled(&services, &connection.id, "tick-2", deadline)
        .await
        .unwrap();
    let status = |id| {
        let services = services.clone();
        let alice = alice.clone();
        async move {
            services
                .jobs
                .get(&alice, &id)
                .await
                .unwrap()
                .unwrap()
                .status
        }
    };
    assert_eq!(status(unsent.id.clone()).await, JobStatus::Failed);
    assert_eq!(
        status(sent.id.clone()).await,
        JobStatus::Queued,
        "it waits its turn"
    );

    // Starting a job leaves the mark.
    let started = start_sync_job(
        &services,
        &alice,
        Source::Fathom,
        JobKind::Manual,
        Default::default(),
    )
    .await
    .unwrap();
    assert!(services
        .once
        .get(&sent_mark(&started.id), clock.now())
        .await
        .unwrap()
        .is_some());
}
