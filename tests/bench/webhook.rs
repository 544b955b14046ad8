//! `bench-webhook`: signed 50 KB Fathom deliveries sent by concurrent clients to the dev
//! server (the whole app in-process on loopback, with a fresh data directory). Prints accepted
//! deliveries per second and p50/p99 latency, beside the in-process cost of verifying and
//! parsing the same payload alone (the floor). Two runs share the machine's cores
//! differently: while the consumer imports each delivery as it arrives, and while the
//! connection is paused, so the consumer only sets deliveries aside (then the resume imports
//! them all). Prints; never asserts.
//!
//! cargo run --release -p system-tests --bin bench-webhook [-- REQUESTS CONCURRENCY]
//!
//! `BENCH_WEBHOOK_ONLY=paused` (or `importing`) measures that run alone, to profile it.

use fakes::fathom::{FakeFathom, FakeFathomOptions};
use pipeline::connectors::fathom::parse_webhook_meeting;
use pipeline::crypto::SecretString;
use pipeline::domain::{Connection, Source, WebhookRegistration};
use pipeline::testing::member;
use pipeline::webhook::{self, WebhookSecret};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use system_tests::TestApp;

const REQUESTS: usize = 5_000;
const CONCURRENCY: usize = 32;
const PAYLOAD_BYTES: usize = 50 * 1024;
/// Deliveries sent before measuring, so connections are open and caches warm.
const WARM_UP: usize = 256;
/// Rounds of verify + parse timed for the floor.
const FLOOR_ROUNDS: u32 = 2_000;

struct Delivery {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

/// A Fathom meeting as a webhook delivers it, its transcript lengthened to about `bytes`
/// with speaker turns of generated prose: the meeting's own lines repeated would make a
/// payload far more compressible than speech.
async fn meeting_of_size(bytes: usize) -> Value {
    let fake = FakeFathom::start(FakeFathomOptions::default())
        .await
        .expect("fake Fathom");
    let account = fake.add_account("Ada Lovelace", "ada@acme.test");
    let meeting = fake.add_meetings(&account, 1).remove(0);
    let mut payload = fake.meeting_payload(meeting.recording_id).expect("payload");
    let utterances = payload["transcript"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut prose = Prose::new(PROSE_VOCABULARY);
    let mut transcript = Vec::new();
    while serde_json::to_vec(&payload).map_or(0, |b| b.len()) < bytes && !utterances.is_empty() {
        let mut utterance = utterances[transcript.len() % utterances.len()].clone();
        utterance["text"] = Value::from(prose.turn());
        transcript.push(utterance);
        payload["transcript"] = Value::Array(transcript.clone());
    }
    payload
}

/// Distinct words in the generated prose. With this many, LZ4 (what the embedded backend
/// stores payloads with) shrinks the prose about 1.6 times, less than English prose (the
/// GPL's text: 1.8 times), so compression does not flatter the figures; a whole delivery, its
/// JSON included, about 2.3 times.
const PROSE_VOCABULARY: usize = 2_000;

/// Sentences of made-up words whose frequencies follow Zipf's law, as a language's do, with
/// the most frequent words the shortest; the same every run.
struct Prose {
    rng: StdRng,
    words: Vec<String>,
    /// The running sum of the words' weights (1 / rank), to draw a word by its weight.
    cumulative: Vec<f64>,
}

impl Prose {
    fn new(vocabulary: usize) -> Self {
        const ONSETS: [&str; 20] = [
            "", "b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "w", "br", "st",
            "th", "ch", "pr",
        ];
        const VOWELS: [&str; 8] = ["a", "e", "i", "o", "u", "ea", "ou", "ai"];
        const CODAS: [&str; 9] = ["", "n", "r", "s", "t", "l", "nd", "ng", "ck"];
        let mut rng = StdRng::seed_from_u64(7);
        let mut words = Vec::with_capacity(vocabulary);
        let mut cumulative = Vec::with_capacity(vocabulary);
        let mut total = 0.0;
        for rank in 0..vocabulary {
            let syllables = match rank {
                0..50 => 1,
                50..800 => 2,
                _ => 3,
            };
            let mut word = String::new();
            for _ in 0..syllables {
                for part in [&ONSETS[..], &VOWELS, &CODAS] {
                    word.push_str(part.choose(&mut rng).copied().unwrap_or_default());
                }
            }
            words.push(word);
            total += 1.0 / (rank + 1) as f64;
            cumulative.push(total);
        }
        Prose {
            rng,
            words,
            cumulative,
        }
    }

    /// What a speaker says before the next one speaks: one to three sentences.
    fn turn(&mut self) -> String {
        let sentences: Vec<String> = (0..self.rng.random_range(1..4))
            .map(|_| self.sentence())
            .collect();
        sentences.join(" ")
    }

    /// A sentence of 6 to 25 words.
    fn sentence(&mut self) -> String {
        let total = self.cumulative.last().copied().unwrap_or_default();
        let mut sentence = String::new();
        for i in 0..self.rng.random_range(6..26) {
            let x = self.rng.random::<f64>() * total;
            let drawn = self.cumulative.partition_point(|&c| c < x);
            if i > 0 {
                sentence.push(' ');
            }
            sentence.push_str(&self.words[drawn.min(self.words.len() - 1)]);
        }
        sentence.push('.');
        sentence
    }
}

/// Meetings a day in the benchmark's calendar.
const MEETINGS_PER_DAY: i64 = 8;
/// Distinct guests the meetings are held with.
const GUESTS: usize = 1_000;

/// The template as the `n`th meeting: its own recording id, its own hour (`MEETINGS_PER_DAY`
/// a day, going back from the template's), and its own external guests (of `GUESTS`, from a
/// fifth as many companies); the host and their colleague are in every meeting. So the
/// import does the work of a member's real history, not of one meeting repeated.
fn nth_meeting(template: &Value, n: usize) -> Value {
    let mut meeting = template.clone();
    meeting["recording_id"] = Value::from(900_000_000 + n as u64);
    let n = n as i64;
    let shift = chrono::Duration::days(n / MEETINGS_PER_DAY)
        + chrono::Duration::hours(n % MEETINGS_PER_DAY);
    for field in [
        "created_at",
        "scheduled_start_time",
        "scheduled_end_time",
        "recording_start_time",
        "recording_end_time",
    ] {
        if let Some(at) = meeting[field]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        {
            meeting[field] = Value::from((at - shift).to_rfc3339());
        }
    }
    if let Some(invitees) = meeting["calendar_invitees"].as_array_mut() {
        let guests = invitees.iter_mut().filter(|i| i["is_external"] == true);
        for (i, invitee) in guests.enumerate() {
            let guest = (n as usize + i) % GUESTS;
            let company = guest % (GUESTS / 5);
            invitee["email"] = Value::from(format!("guest{guest}@customer{company}.test"));
            invitee["email_domain"] = Value::from(format!("customer{company}.test"));
            invitee["name"] = Value::from(format!("Guest {guest}"));
        }
    }
    meeting
}

/// `count` deliveries, each of its own meeting with its own id, signed now: sign them just
/// before they are sent, as receivers refuse timestamps more than 5 minutes off.
fn deliveries(
    template: &Value,
    secret: &WebhookSecret,
    count: usize,
    first: usize,
) -> Vec<Delivery> {
    let timestamp = chrono::Utc::now().timestamp();
    (first..first + count)
        .map(|n| {
            let body = serde_json::to_vec(&nth_meeting(template, n)).expect("JSON");
            let id = format!("msg_bench_{n}");
            Delivery {
                signature: webhook::sign(secret, &id, timestamp, &body),
                timestamp: timestamp.to_string(),
                id,
                body,
            }
        })
        .collect()
}

/// Sends every delivery from `concurrency` clients; the latency of each accepted one.
async fn send_all(
    app: &TestApp,
    url: &str,
    deliveries: Vec<Delivery>,
    concurrency: usize,
) -> (Vec<Duration>, usize) {
    let deliveries = Arc::new(deliveries);
    let next = Arc::new(AtomicUsize::new(0));
    let clients = (0..concurrency).map(|_| {
        let (deliveries, next, client, url) = (
            deliveries.clone(),
            next.clone(),
            app.client.clone(),
            url.to_owned(),
        );
        tokio::spawn(async move {
            let (mut accepted, mut refused) = (Vec::new(), 0usize);
            while let Some(d) = deliveries.get(next.fetch_add(1, Ordering::Relaxed)) {
                let started = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("webhook-id", &d.id)
                    .header("webhook-timestamp", &d.timestamp)
                    .header("webhook-signature", &d.signature)
                    .body(d.body.clone())
                    .send()
                    .await;
                let status = match response {
                    Ok(response) => {
                        let status = response.status();
                        let _ = response.bytes().await;
                        status
                    }
                    Err(_) => reqwest::StatusCode::INTERNAL_SERVER_ERROR,
                };
                if status == reqwest::StatusCode::ACCEPTED {
                    accepted.push(started.elapsed());
                } else {
                    refused += 1;
                }
            }
            (accepted, refused)
        })
    });
    let mut latencies = Vec::new();
    let mut refused = 0;
    for result in futures::future::join_all(clients).await {
        let (accepted, not) = result.expect("client task");
        latencies.extend(accepted);
        refused += not;
    }
    (latencies, refused)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Verifying and parsing one delivery in-process: (verify, verify + full meeting parse).
fn floor(secret: &WebhookSecret, delivery: &Delivery) -> (Duration, Duration) {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in [
        (webhook::ID_HEADER, &delivery.id),
        (webhook::TIMESTAMP_HEADER, &delivery.timestamp),
        (webhook::SIGNATURE_HEADER, &delivery.signature),
    ] {
        headers.insert(name, value.parse().expect("header value"));
    }
    let now = chrono::Utc::now();
    let started = Instant::now();
    for _ in 0..FLOOR_ROUNDS {
        webhook::verify(secret, &headers, &delivery.body, now).expect("verifies");
    }
    let verify = started.elapsed() / FLOOR_ROUNDS;
    let started = Instant::now();
    for _ in 0..FLOOR_ROUNDS {
        webhook::verify(secret, &headers, &delivery.body, now).expect("verifies");
        parse_webhook_meeting(&delivery.body).expect("parses");
    }
    (verify, started.elapsed() / FLOOR_ROUNDS)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One measured run.
struct Run {
    latencies: Vec<Duration>,
    refused: usize,
    wall: Duration,
}

impl Run {
    async fn measure(
        app: &TestApp,
        url: &str,
        deliveries: Vec<Delivery>,
        concurrency: usize,
    ) -> Run {
        let started = Instant::now();
        let (mut latencies, refused) = send_all(app, url, deliveries, concurrency).await;
        let wall = started.elapsed();
        latencies.sort();
        Run {
            latencies,
            refused,
            wall,
        }
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    fn p50(&self) -> Duration {
        percentile(&self.latencies, 0.50)
    }

    fn print(&self, label: &str) {
        let ms = |d: Duration| micros(d) / 1e3;
        println!(
            "  {label:<22} {:>6.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms  ({} accepted, {} not, {:.2} s)",
            self.rate(),
            ms(self.p50()),
            ms(percentile(&self.latencies, 0.99)),
            ms(self.latencies.last().copied().unwrap_or_default()),
            self.latencies.len(),
            self.refused,
            self.wall.as_secs_f64()
        );
    }
}

/// Waits until `count` recordings are stored for the bench user; the time it took.
async fn imported(app: &TestApp, count: u64) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(600) {
        let stored = app
            .services()
            .recordings
            .count(&member("bench"), Source::Fathom)
            .await
            .unwrap_or(0);
        if stored >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

async fn set_active(app: &TestApp, active: bool) {
    let body = serde_json::json!({ "active": active });
    let (status, answer) = app
        .send_json(reqwest::Method::PATCH, "/sources/fathom", "bench", &body)
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a whole number"));
    let requests = args.next().unwrap_or(REQUESTS);
    let concurrency = args.next().unwrap_or(CONCURRENCY);

    let app = TestApp::start().await;
    let services = app.services();
    let secret = WebhookSecret::generate();
    let mut connection = Connection::new(member("bench"), Source::Fathom, services.clock.now());
    connection.webhook = Some(WebhookRegistration {
        provider_webhook_id: "wh_bench".into(),
        secret: pipeline::pipeline::credentials::seal(
            &services.secrets().await.unwrap().sealing_key,
            &connection.id,
            pipeline::pipeline::credentials::SecretField::WebhookSecret,
            &SecretString::new(secret.expose_str()),
        ),
    });
    services
        .connections
        .insert_if_absent(&connection)
        .await
        .expect("connection stored");
    let url = app.url(&format!("/webhooks/fathom/{}", connection.id));

    let template = meeting_of_size(PAYLOAD_BYTES).await;
    send_all(
        &app,
        &url,
        deliveries(&template, &secret, WARM_UP, 0),
        concurrency,
    )
    .await;
    let only = std::env::var("BENCH_WEBHOOK_ONLY").unwrap_or_default();
    let importing = deliveries(&template, &secret, requests, WARM_UP);
    let body_bytes = importing.first().map_or(0, |d| d.body.len());
    let (verify, verify_and_parse) = floor(&secret, &importing[0]);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "webhook intake: {requests} signed {} KB Fathom deliveries per run, {concurrency} concurrent clients, {cores} cores, dev server in-process",
        body_bytes / 1024
    );
    let mut stored = WARM_UP as u64;
    // Each run measured, with how long its imports took after it.
    let mut while_importing = None;
    if only != "paused" {
        let run = Run::measure(&app, &url, importing, concurrency).await;
        run.print("while importing");
        stored += run.latencies.len() as u64;
        let import_tail = imported(&app, stored).await;
        while_importing = Some((run, import_tail));
    }

    let mut while_paused = None;
    if only != "importing" {
        // The warm-up's imports, when the paused run is measured alone.
        imported(&app, stored).await;
        set_active(&app, false).await;
        let paused = deliveries(&template, &secret, requests, WARM_UP + requests);
        eprintln!("bench-webhook: imports done; the paused run starts");
        let run = Run::measure(&app, &url, paused, concurrency).await;
        run.print("while paused");
        // The consumer sets each delivery aside; wait until it has, then resume.
        tokio::time::sleep(Duration::from_secs(2)).await;
        eprintln!("bench-webhook: the paused run is done; resuming");
        let resume_started = Instant::now();
        set_active(&app, true).await;
        stored += run.latencies.len() as u64;
        imported(&app, stored).await;
        while_paused = Some((run, resume_started.elapsed()));
    }

    let floor_rate = cores as f64 * 1e6 / micros(verify_and_parse);
    let runs = [
        (
            "while importing",
            while_importing.as_ref().map(|(run, _)| run),
        ),
        ("while paused", while_paused.as_ref().map(|(run, _)| run)),
    ];
    println!(
        "  target                 paused >= 3000/s with p99 <= 20 ms; while importing >= 2000/s"
    );
    println!(
        "  floor                  verify {:.0} us, verify + parse the meeting {:.0} us per delivery in-process (one core; {floor_rate:.0}/s on {cores})",
        micros(verify),
        micros(verify_and_parse)
    );
    for (label, run) in runs {
        let Some(run) = run else { continue };
        println!(
            "  vs floor, {label:<15} p50 {:.0}x the floor; {:.1}% of the floor's rate",
            micros(run.p50()) / micros(verify_and_parse),
            100.0 * run.rate() / floor_rate
        );
    }
    if let Some((_, import_tail)) = &while_importing {
        println!(
            "  imports                the first run's last ones {:.1} s after its last delivery",
            import_tail.as_secs_f64()
        );
    }
    if let Some((run, resume_import)) = &while_paused {
        println!(
            "  resume                 the paused run's {} imported in {:.1} s after resuming",
            run.latencies.len(),
            resume_import.as_secs_f64()
        );
    }
}
