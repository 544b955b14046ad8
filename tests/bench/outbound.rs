//! `make bench` (outbound webhooks): 300 meetings imported from the fake Fathom while an
//! endpoint on loopback receives their `recording.created` events, then a replay of all of
//! them at once. Prints the delay from each recording's commit (its event's timestamp) to
//! its arrival, p50 and p99 against the 1 s target, and events delivered per second by the
//! replay. The receiver verifies every signature. Prints; never asserts.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use pipeline::webhook::{self, WebhookSecret};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use system_tests::eventually;
use system_tests::fathom_world::{fake_options, world_with};
use system_tests::Settings;

const MEETINGS: usize = 300;

/// One delivery: its event's timestamp, and when it arrived (wall clock and monotonic).
type Arrival = (DateTime<Utc>, DateTime<Utc>, Instant);

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    secret: OnceLock<WebhookSecret>,
    arrivals: Mutex<Vec<Arrival>>,
    bad_signatures: Mutex<u64>,
}

async fn receive(State(seen): State<Arc<Seen>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let (arrived, instant) = (Utc::now(), Instant::now());
    let verified = seen
        .secret
        .get()
        .is_some_and(|secret| webhook::verify(secret, &headers, &body, arrived).is_ok());
    if !verified {
        *seen.bad_signatures.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let event: Value = serde_json::from_slice(&body).unwrap_or_default();
    if let Some(at) = event["timestamp"]
        .as_str()
        .and_then(|t| t.parse::<DateTime<Utc>>().ok())
    {
        seen.arrivals.lock().unwrap().push((at, arrived, instant));
    }
    StatusCode::NO_CONTENT
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let seen = Arc::new(Seen::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let w = world_with(fake_options(), MEETINGS, Settings::default(), |s| s).await;
    let (status, endpoint) = w
        .app
        .send_json(
            Method::POST,
            "/webhook-endpoints",
            "alice",
            &json!({"url": url, "events": ["recording.created"]}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let secret = WebhookSecret::parse(endpoint["secret"].as_str().unwrap()).unwrap();
    let _ = seen.secret.set(secret);

    w.connect_and_sync("alice").await;
    let arrived = || seen.arrivals.lock().unwrap().len();
    eventually(120, "every event arrives", || async {
        arrived() >= MEETINGS
    })
    .await;
    let mut delays: Vec<f64> = seen
        .arrivals
        .lock()
        .unwrap()
        .iter()
        .map(|(at, arrived, _)| (*arrived - *at).num_microseconds().unwrap_or(0) as f64 / 1000.0)
        .collect();
    delays.sort_by(f64::total_cmp);
    println!(
        "outbound webhooks: {} recording.created events during the import, commit to arrival \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 < 1000 ms)",
        delays.len(),
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays.last().copied().unwrap_or_default()
    );

    let path = format!(
        "/webhook-endpoints/{}/replay",
        endpoint["id"].as_str().unwrap()
    );
    let started = Instant::now();
    let (status, replay) = w
        .app
        .send_json(
            Method::POST,
            &path,
            "alice",
            &json!({"since": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 202, "{replay}");
    eventually(120, "the replay arrives", || async {
        arrived() >= 2 * MEETINGS
    })
    .await;
    let last = seen
        .arrivals
        .lock()
        .unwrap()
        .iter()
        .map(|a| a.2)
        .max()
        .unwrap();
    let wall = last.duration_since(started).max(Duration::from_millis(1));
    println!(
        "outbound webhooks: replay of {MEETINGS} events delivered in {:.2} s: {:.0} events/s \
         (signatures rejected: {})",
        wall.as_secs_f64(),
        MEETINGS as f64 / wall.as_secs_f64(),
        seen.bad_signatures.lock().unwrap()
    );
}
