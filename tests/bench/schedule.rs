//! `make bench` (schedule): the hourly fan-out over 10,000 connections (wall time, batch
//! calls), then a scheduled sync of 50 users with 40 new meetings each against the fake
//! Fathom, each user on its own OAuth token and so its own rate budget (the window shortened),
//! with aggregate meetings imported per minute against the floor the per-user limits set.
//! Prints; never asserts.

use fakes::fathom::FakeFathomOptions;
use pipeline::domain::{Connection, Source};
use pipeline::ports::Clock;
use pipeline::services::Services;
use std::sync::Arc;
use std::time::{Duration, Instant};
use system_tests::counting_queue::CountingQueue;
use system_tests::eventually;
use system_tests::fathom_world::world_with;
use system_tests::Settings;

const CONNECTIONS: usize = 10_000;
const USERS: usize = 50;
const NEW_MEETINGS: usize = 40;
const WINDOW: Duration = Duration::from_millis(1500);
const OVERALL_BUDGET: u64 = 60;
const HEAVY_BUDGET: u64 = 30;

async fn fan_out() {
    let backend = pipeline::testing::local_backend().await;
    let now = backend.clock.now();
    for i in 0..CONNECTIONS {
        let connection = Connection::new(
            pipeline::testing::member(&format!("user-{i}")),
            Source::Fathom,
            now,
        );
        backend
            .services
            .connections
            .insert_if_absent(&connection)
            .await
            .expect("insert connection");
    }
    let counting = Arc::new(CountingQueue::new(backend.services.sync_queue.clone()));
    let services = Services {
        sync_queue: counting.clone(),
        ..backend.services.clone()
    };
    let started = Instant::now();
    let result = cron_sync::handle(&services, dev_server::scheduled_event())
        .await
        .expect("fan-out");
    let wall = started.elapsed();
    println!(
        "fan-out (embedded backend): {} connections -> {} messages in {} batch calls, {:.0} ms ({:.0} connections/s)",
        CONNECTIONS,
        result.queued,
        counting.batch_calls(),
        wall.as_secs_f64() * 1000.0,
        CONNECTIONS as f64 / wall.as_secs_f64()
    );
}

async fn scheduled_sync() {
    let options = FakeFathomOptions {
        rate_limit_window: WINDOW,
        fractional_seconds: true,
        ..FakeFathomOptions::default()
    };
    let settings = Settings::default().set("FATHOM_RATE_WINDOW_MS", WINDOW.as_millis().to_string());
    let w = world_with(options, 0, settings, |s| s).await;
    let mut accounts = Vec::new();
    for i in 0..USERS {
        let account = w
            .fake
            .add_account(&format!("User {i}"), &format!("user{i}@acme.test"));
        w.fake.sign_in(&account);
        let user = format!("user-{i}");
        assert!(w
            .connect_with_oauth(&user)
            .await
            .contains("connected=fathom"));
        w.initial_job(&user).await;
        accounts.push(account);
    }
    for account in &accounts {
        w.fake.add_meetings(account, NEW_MEETINGS);
    }
    let services = w.app.services();
    let calls_before = w.fake.calls();
    let started = Instant::now();
    cron_sync::handle(services, dev_server::scheduled_event())
        .await
        .expect("tick");
    let total = (USERS * NEW_MEETINGS) as u64;
    eventually(600, "every user's new meetings are imported", || async {
        let mut imported = 0;
        for i in 0..USERS {
            let user = pipeline::testing::member(&format!("user-{i}"));
            imported += services
                .recordings
                .count(&user, Source::Fathom)
                .await
                .unwrap_or(0);
        }
        imported == total
    })
    .await;
    let wall = started.elapsed();
    let calls = w.fake.calls();
    // Per user: a list call per 10 meetings (light with OAuth) and two heavy calls per meeting.
    let per_user_calls = (NEW_MEETINGS as u64).div_ceil(10) + 2 * NEW_MEETINGS as u64;
    let per_user_heavy = 2 * NEW_MEETINGS as u64;
    let windows = per_user_calls
        .div_ceil(OVERALL_BUDGET)
        .max(per_user_heavy.div_ceil(HEAVY_BUDGET))
        - 1;
    let floor = WINDOW * windows as u32;
    let per_minute = total as f64 / wall.as_secs_f64() * 60.0;
    let floor_per_minute = total as f64 / floor.as_secs_f64() * 60.0;
    println!(
        "scheduled sync: {USERS} users x {NEW_MEETINGS} new meetings = {total} imported in {:.1} s; {} 429s; budgets {OVERALL_BUDGET}/{HEAVY_BUDGET} heavy per {} ms window per user",
        wall.as_secs_f64(),
        calls.rate_limited - calls_before.rate_limited,
        WINDOW.as_millis()
    );
    println!(
        "  {:.0} meetings/min against a floor of {:.0} meetings/min ({:.1} s, {windows} windows per user, users in parallel): {:.2}x the floor's time",
        per_minute,
        floor_per_minute,
        floor.as_secs_f64(),
        wall.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "  (at Fathom's real 60 s window the floor is {:.0} meetings/min)",
        total as f64 / (windows as f64 * 60.0) * 60.0
    );
}

#[tokio::main]
async fn main() {
    fan_out().await;
    scheduled_sync().await;
}
