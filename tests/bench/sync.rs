//! `make bench` (Fathom sync): 200 meetings synced from the fake Fathom with its documented
//! limits (60 requests and 30 heavy ones per window, the window shortened so the run takes
//! seconds), once per auth mode. Prints provider calls per meeting against the floor, the
//! 429s received, and wall time against the rate-limit floor. Prints; never asserts.

use fakes::fathom::FakeFathomOptions;
use std::time::{Duration, Instant};
use system_tests::fathom_world::{counts, world_with, World};
use system_tests::Settings;

const MEETINGS: usize = 200;
/// Fathom's 60 s window divided by 40.
const WINDOW: Duration = Duration::from_millis(1500);
const OVERALL_BUDGET: u64 = 60;
const HEAVY_BUDGET: u64 = 30;

#[derive(Clone, Copy)]
enum Mode {
    ApiKey,
    OAuth,
}

struct Figures {
    imported: u64,
    calls: u64,
    heavy: u64,
    rate_limited: u32,
    wall: Duration,
}

async fn start() -> World {
    let options = FakeFathomOptions {
        rate_limit_window: WINDOW,
        fractional_seconds: true,
        ..FakeFathomOptions::default()
    };
    let settings = Settings::default().set("FATHOM_RATE_WINDOW_MS", WINDOW.as_millis().to_string());
    world_with(options, MEETINGS, settings, |s| s).await
}

async fn run(mode: Mode) -> Figures {
    let w = start().await;
    let started = Instant::now();
    match mode {
        Mode::ApiKey => assert_eq!(
            w.connect_with_api_key("bench").await.0,
            reqwest::StatusCode::OK
        ),
        Mode::OAuth => assert!(w
            .connect_with_oauth("bench")
            .await
            .contains("connected=fathom")),
    }
    let job = w.initial_job("bench").await;
    let wall = started.elapsed();
    let calls = w.fake.calls();
    let list = u64::from(calls.list_meetings);
    let heavy_content = u64::from(calls.transcript + calls.summary);
    // With an API key the listing includes the content, which makes each list call heavy.
    let heavy = match mode {
        Mode::ApiKey => list,
        Mode::OAuth => heavy_content,
    };
    Figures {
        imported: counts(&job).0,
        calls: list + heavy_content,
        heavy,
        rate_limited: calls.rate_limited,
        wall,
    }
}

/// The least time the documented budgets allow for `calls` requests of which `heavy` are
/// heavy: every full budget after the first waits one window.
fn floor(calls: u64, heavy: u64) -> Duration {
    let windows = calls
        .div_ceil(OVERALL_BUDGET)
        .max(heavy.div_ceil(HEAVY_BUDGET))
        .saturating_sub(1);
    WINDOW * windows as u32
}

#[tokio::main]
async fn main() {
    println!("Fathom sync of {MEETINGS} meetings; budgets {OVERALL_BUDGET}/{HEAVY_BUDGET} heavy per {} ms window", WINDOW.as_millis());
    println!(
        "{:<8} {:>9} {:>8} {:>10} {:>12} {:>6} {:>9} {:>9} {:>6}",
        "mode", "imported", "calls", "calls/mtg", "floor/mtg", "429s", "wall s", "floor s", "ratio"
    );
    for (name, mode) in [("api key", Mode::ApiKey), ("oauth", Mode::OAuth)] {
        let f = run(mode).await;
        let meetings = f.imported.max(1) as f64;
        let list_floor = (MEETINGS as f64 / 10.0).ceil();
        let floor_calls = match mode {
            // One list call per 10 meetings (the key check is one more).
            Mode::ApiKey => list_floor + 1.0,
            Mode::OAuth => list_floor + 2.0 * MEETINGS as f64,
        };
        let floor_time = floor(f.calls, f.heavy);
        let ratio = f.wall.as_secs_f64() / floor_time.as_secs_f64().max(WINDOW.as_secs_f64());
        println!(
            "{:<8} {:>9} {:>8} {:>10.2} {:>12.2} {:>6} {:>9.2} {:>9.2} {:>6.2}",
            name,
            f.imported,
            f.calls,
            f.calls as f64 / meetings,
            floor_calls / meetings,
            f.rate_limited,
            f.wall.as_secs_f64(),
            floor_time.as_secs_f64(),
            ratio
        );
    }
    println!("targets: calls at the floor, no 429 after the first window, wall time within 1.1x of the floor");
    println!(
        "(ratio divides by at least one window: a run that fits in one window has a floor of ~0)"
    );
}
