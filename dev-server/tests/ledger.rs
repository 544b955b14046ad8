//! The ledger: "nothing accepted is lost, nothing is doubled", checked on the dev-server
//! binary under everything at once.
//!
//! A seeded run (`LEDGER_SEED=` replays one) sends `DELIVERIES` Fathom app-level webhook
//! deliveries for two users, out of order, with repeats (the same `webhook-id` resent, and the
//! same meeting resent under a new id), each retried until answered 2xx as senders do. Alice
//! connects with an API key; Bob connects by OAuth with access tokens due for refresh every
//! few seconds, and his connection is paused for part of the run (his deliveries are held, then
//! released on resume). Meanwhile manual syncs and the schedule (every 3 s) import the same
//! meetings, the fake Fathom answers 429 with `Retry-After`, 5xx and slow answers, some of
//! Bob's meetings fail for good, and the server is killed with SIGKILL `KILLS` times and
//! restarted on the same data. Once everything has drained, the ledger is printed and
//! asserted: every meeting offered is stored once or visible as failed, every job finished,
//! no message is left in flight, and each dead letter shows as a failed job.
//!
//! It runs on the embedded backend, and shorter on the AWS backend against a moto server,
//! which keeps the data across the kills as the data directory does. The two runs go side by
//! side: each spends most of its time waiting (on kills, restarts, Retry-After and the
//! schedule), so together they take little longer than the longer one.

use fakes::fathom::{FakeAccount, FakeFathom, FakeFathomOptions, Includes};
use futures::StreamExt;
use pipeline::domain::{Connection, JobId};
use pipeline::pipeline::credentials::REFRESH_AHEAD;
use pipeline::pipeline::messages::SyncMessage;
use pipeline::pipeline::webhook_import::webhook_job_id;
use pipeline::testing::moto::{MotoBackend, MotoServer};
use pipeline::webhook::{sign, WebhookSecret};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const JWT_SECRET: &str = "ledger-test-secret";
const APP_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Concurrent senders.
const SENDERS: usize = 8;
/// Longest pause a sender takes before a delivery: spreads the run over about half a minute,
/// so syncs, the schedule, faults and kills fall between deliveries.
const MAX_GAP_MS: u64 = 900;
const USERS: [&str; 2] = ["alice", "bob"];

/// Most receives of a message before it is dead-lettered, on both backends.
const MAX_RECEIVES: u32 = 4;

/// One run's size.
struct Run {
    /// Deliveries sent, repeats included.
    deliveries: usize,
    /// SIGKILLs during the run.
    kills: usize,
    /// How long the final drain may take before the test gives up: queued syncs of one
    /// connection run one after another, each a full sync through the provider's faults.
    drain_deadline: Duration,
}

/// Where the server keeps its data across kills, and how the test reads it at rest.
enum Store {
    /// The embedded backend's data directory.
    Local(tempfile::TempDir),
    /// The AWS backend's resources on a moto server, which outlives the kills.
    Aws(Box<AwsStore>),
}

struct AwsStore {
    backend: MotoBackend,
    /// The secret the server reads: the sealing key and the Fathom secrets.
    secrets_arn: String,
    // Dropped last: the server behind the backend.
    _moto: MotoServer,
}

impl Store {
    async fn aws(client_secret: &str) -> Store {
        let moto = MotoServer::start().expect("start moto (`make venv` installs it)");
        let backend = moto.create_backend(MAX_RECEIVES).await.unwrap();
        let secret = json!({
            "TOKEN_SEALING_KEY": pipeline::crypto::SealingKey::generate_base64(),
            "FATHOM_CLIENT_SECRET": client_secret,
            "FATHOM_WEBHOOK_SECRET": APP_SECRET,
        });
        let secrets_arn = backend
            .clients
            .secrets
            .create_secret()
            .name(format!("{}-ledger", backend.resources.table_name))
            .secret_string(secret.to_string())
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        Store::Aws(Box::new(AwsStore {
            backend,
            secrets_arn,
            _moto: moto,
        }))
    }

    /// The server's environment for this store.
    fn configure(&self, command: &mut Command, client_secret: &str) {
        match self {
            Store::Local(dir) => {
                command
                    .env("LOCAL_DATA_DIR", dir.path())
                    .env("FATHOM_CLIENT_SECRET", client_secret)
                    .env("FATHOM_WEBHOOK_SECRET", APP_SECRET)
                    .env("QUEUE_MAX_RECEIVES", MAX_RECEIVES.to_string())
                    // A killed worker's messages come back in seconds.
                    .env("QUEUE_VISIBILITY_SECS", "2")
                    .env_remove("TOKEN_SEALING_KEY");
            }
            Store::Aws(aws) => {
                let resources = &aws.backend.resources;
                let endpoint = aws.backend.services.config.aws.as_ref().unwrap();
                command
                    .envs(resources.variables())
                    .env("BACKEND", "aws")
                    .env("SECRETS_ARN", &aws.secrets_arn)
                    .env(
                        "AWS_ENDPOINT_URL",
                        endpoint.endpoint_url.as_deref().unwrap(),
                    )
                    .env("AWS_ACCESS_KEY_ID", "testing")
                    .env("AWS_SECRET_ACCESS_KEY", "testing")
                    .env("AWS_REGION", "us-east-1")
                    // Above what a busy moto takes to answer a handler's calls, as AWS's is
                    // above the function timeout: a message that comes back while its handler
                    // still runs is handled twice, and a sync finding its connection busy
                    // queues a copy each time, so 2 s here let copies multiply. An import
                    // also writes its derived data (a few dozen calls on a busy moto), so 10 s
                    // let handled messages come back until they were dead-lettered.
                    .env("QUEUE_VISIBILITY_SECS", "45")
                    .env_remove("AWS_PROFILE")
                    .env_remove("AWS_SESSION_TOKEN");
            }
        }
    }

    /// Jobs, held deliveries and connections, and what the sync queue holds as far as can be
    /// told without taking messages from a running server.
    async fn records(&self) -> AtRest {
        match self {
            Store::Local(dir) => read_local(dir.path()),
            Store::Aws(aws) => read_aws(aws).await,
        }
    }

    /// The sync queue and its dead letters, read once the server is stopped: taking the
    /// messages is harmless then.
    async fn queue(&self, at_rest: &mut AtRest) {
        match self {
            Store::Local(dir) => {
                let read = read_local(dir.path());
                at_rest.in_flight = read.in_flight;
                at_rest.ticks = read.ticks;
                at_rest.dead_letters = read.dead_letters;
            }
            Store::Aws(aws) => {
                let queue = &aws.backend.services.sync_queue;
                // The dead-letter queue first: taking from the queue may move a message there.
                at_rest.dead_letters.clear();
                loop {
                    let dead = queue.receive_dead_letters(10).await.unwrap();
                    if dead.is_empty() {
                        break;
                    }
                    at_rest
                        .dead_letters
                        .extend(dead.into_iter().map(|m| m.body));
                }
                at_rest.in_flight.clear();
                loop {
                    let taken = queue.receive(10, Duration::from_secs(600)).await.unwrap();
                    if taken.is_empty() {
                        // Delayed messages are not received until their delay ends.
                        if waiting_in_sync_queue(aws, false).await == 0 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    for message in taken {
                        at_rest.count_message(message.body);
                    }
                }
            }
        }
    }

    fn keep_for_inspection(self) {
        match self {
            Store::Local(dir) => println!("data kept for inspection in {}", dir.keep().display()),
            Store::Aws(_) => {}
        }
    }
}

/// The dev-server binary on one port and one store, restartable.
struct Server {
    port: u16,
    store: Arc<Store>,
    fake: Arc<FakeFathom>,
    child: Option<Child>,
}

impl Server {
    fn spawn(&mut self) {
        let options = self.fake.options();
        let mut command = Command::new(env!("CARGO_BIN_EXE_dev-server"));
        self.store.configure(&mut command, &options.client_secret);
        let child = command
            .env("PORT", self.port.to_string())
            .env("DEV_JWT_SECRET", JWT_SECRET)
            .env("DEMO", "0")
            .env("FATHOM_API_BASE_URL", self.fake.api_base_url())
            .env("FATHOM_OAUTH_BASE_URL", self.fake.oauth_base_url())
            .env("FATHOM_CLIENT_ID", &options.client_id)
            .env("FATHOM_RATE_WINDOW_MS", "200")
            .env("FATHOM_RETRY_BASE_MS", "10")
            // A killed worker's hold on its connection expires in seconds, not minutes.
            .env("SYNC_LEASE_SECS", "6")
            .env("CRON_INTERVAL_SECS", "3")
            .env("RUST_LOG", "error")
            .env_remove("PUBLIC_BASE_URL")
            .env_remove("APP_BASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the dev server");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL: nothing runs after it, nothing is flushed or released.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The server behind a lock, so the killer can restart it while others read its address.
type Shared = Arc<Mutex<Server>>;

async fn url(server: &Shared, path: &str) -> String {
    server.lock().await.url(path)
}

async fn wait_healthy(client: &reqwest::Client, server: &Server) {
    for _ in 0..800 {
        if let Ok(response) = client.get(server.url("/health")).send().await {
            if response.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the dev server did not come up");
}

async fn restart(client: &reqwest::Client, server: &Shared) {
    let mut server = server.lock().await;
    server.kill();
    server.spawn();
    wait_healthy(client, &server).await;
}

/// A token as `dev-server token` prints it.
fn token(user: &str) -> String {
    dev_server::auth::mint(&dev_server::auth::JwtSecret::new(JWT_SECRET), user, 3600)
        .expect("mint a token")
}

async fn get_json(client: &reqwest::Client, url: &str, user: &str) -> Option<Value> {
    let response = client.get(url).bearer_auth(token(user)).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// Sends a user's request until it is answered (the server may be down a moment); the status.
async fn send_until_answered(
    client: &reqwest::Client,
    server: &Shared,
    method: reqwest::Method,
    path: &str,
    user: &str,
    body: &Value,
) -> u16 {
    loop {
        let answer = client
            .request(method.clone(), url(server, path).await)
            .bearer_auth(token(user))
            .json(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match answer {
            Ok(response) if response.status().as_u16() < 500 => return response.status().as_u16(),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Sends one delivery until it is answered 2xx; the attempts it took.
async fn deliver_until_taken(
    client: &reqwest::Client,
    server: &Shared,
    secret: &WebhookSecret,
    id: &str,
    body: &[u8],
) -> u32 {
    for attempt in 1.. {
        let timestamp = chrono::Utc::now().timestamp();
        let answer = client
            .post(url(server, "/webhooks/fathom").await)
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", sign(secret, id, timestamp, body))
            .body(body.to_vec())
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if let Ok(response) = answer {
            if response.status().is_success() {
                return attempt;
            }
            assert!(
                matches!(response.status().as_u16(), 409 | 500..=599),
                "only a retry-later answer is expected: {}",
                response.status()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    unreachable!()
}

/// Waits until `user`'s Fathom connection knows its account's email (deliveries are matched
/// by it).
async fn wait_for_account_email(client: &reqwest::Client, server: &Shared, user: &str) {
    for _ in 0..800 {
        if let Some(sources) = get_json(client, &url(server, "/sources").await, user).await {
            let fathom = sources["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["source"] == "fathom");
            if fathom.is_some_and(|s| s["account_email"].is_string()) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{user}'s connection never learned its account");
}

/// Connects `user` by OAuth through the dev server: initiate, the fake's consent redirect,
/// and the callback in the same browser.
async fn connect_with_oauth(server: &Shared, user: &str) {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let initiated = browser
        .post(url(server, "/oauth/fathom/initiate").await)
        .bearer_auth(token(user))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let cookie = pipeline::testing::set_cookie(initiated.headers());
    let body: Value = initiated.json().await.unwrap();
    let authorization_url = body["authorization_url"]
        .as_str()
        .expect("an authorization URL");
    let consent = browser.get(authorization_url).send().await.unwrap();
    let callback = location(&consent);
    let done = browser
        .get(&callback)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let landing = location(&done);
    assert!(!landing.contains("error"), "OAuth ended in {landing}");
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), reqwest::StatusCode::FOUND);
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// One delivery to send.
struct Delivery {
    webhook_id: String,
    body: Vec<u8>,
    /// Pause before sending it.
    gap: Duration,
}

/// Meetings offered per user, and the deliveries offering them, shuffled.
struct Traffic {
    offered: BTreeMap<&'static str, Vec<String>>,
    failing: Vec<String>,
    deliveries: Vec<Delivery>,
    same_id_repeats: usize,
    new_id_repeats: usize,
}

/// Alice's deliveries carry the whole meeting; Bob's carry no transcript or summary, so each
/// import fetches them with his (often expired) OAuth token. About one in twelve of Bob's
/// meetings fails for good at Fathom.
fn traffic(
    rng: &mut StdRng,
    fake: &FakeFathom,
    accounts: &[FakeAccount; 2],
    total: usize,
) -> Traffic {
    let mut offered: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut failing = Vec::new();
    let mut deliveries = Vec::new();
    let (mut same_id_repeats, mut new_id_repeats) = (0, 0);
    let mut meeting = 0;
    while deliveries.len() < total {
        let who = usize::from(rng.random_bool(0.35));
        let account = &accounts[who];
        let created = fake
            .add_meeting(account, |m| m.recorded_by = account.person.clone())
            .expect("a generated meeting");
        let includes = if who == 0 {
            Includes::ALL
        } else {
            Includes {
                transcript: false,
                summary: false,
                action_items: true,
            }
        };
        let id = created.recording_id.to_string();
        if who == 1 && rng.random_ratio(1, 12) {
            fake.fail_recording(created.recording_id);
            failing.push(id.clone());
        }
        offered.entry(USERS[who]).or_default().push(id);
        let body = serde_json::to_vec(&created.to_json(includes)).unwrap();
        let copies = rng.random_range(1..=3usize).min(total - deliveries.len());
        let mut ids = vec![format!("msg_{meeting}")];
        for copy in 0..copies {
            let webhook_id = if copy == 0 {
                ids[0].clone()
            } else if rng.random_bool(0.5) {
                same_id_repeats += 1;
                ids.choose(rng).unwrap().clone()
            } else {
                new_id_repeats += 1;
                let fresh = format!("msg_{meeting}_again_{copy}");
                ids.push(fresh.clone());
                fresh
            };
            deliveries.push(Delivery {
                webhook_id,
                body: body.clone(),
                gap: Duration::from_millis(rng.random_range(0..MAX_GAP_MS)),
            });
        }
        meeting += 1;
    }
    // Out of order: shuffled within windows, so meetings still arrive over the whole run.
    for window in deliveries.chunks_mut(60) {
        window.shuffle(rng);
    }
    Traffic {
        offered,
        failing,
        deliveries,
        same_id_repeats,
        new_id_repeats,
    }
}

/// Provider trouble every second or so until `done`: throttling with `Retry-After`, 5xx, and
/// slow answers. The Fathom client's request timeout is fixed at 30 s (not configurable), so
/// the slow answers stay below it: they delay, they do not time out.
async fn trouble(fake: Arc<FakeFathom>, mut rng: StdRng, done: Arc<AtomicBool>) -> [u32; 3] {
    let mut injected = [0; 3];
    while !done.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(400..1400))).await;
        match rng.random_range(0..3) {
            0 => {
                let retry_after = Duration::from_millis(rng.random_range(200..1500));
                fake.throttle_next(rng.random_range(1..4), retry_after);
                injected[0] += 1;
            }
            1 => {
                let status = *[500, 502, 503].choose(&mut rng).unwrap();
                fake.fail_next(rng.random_range(1..4), status);
                injected[1] += 1;
            }
            _ => {
                fake.slow_next(
                    rng.random_range(1..4),
                    Duration::from_millis(rng.random_range(500..3000)),
                );
                injected[2] += 1;
            }
        }
    }
    injected
}

/// Manual syncs by either user every second or two until `done`; (asked, accepted).
async fn manual_syncs(
    client: reqwest::Client,
    server: Shared,
    mut rng: StdRng,
    done: Arc<AtomicBool>,
) -> (u32, u32) {
    let (mut asked, mut accepted) = (0, 0);
    while !done.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(800..2500))).await;
        let user = *USERS.choose(&mut rng).unwrap();
        let body = json!({"source": "fathom"});
        let status = send_until_answered(
            &client,
            &server,
            reqwest::Method::POST,
            "/sync",
            user,
            &body,
        )
        .await;
        asked += 1;
        // 409 when the connection is paused or a sync of it is already running.
        assert!(matches!(status, 202 | 409), "POST /sync answered {status}");
        if status == 202 {
            accepted += 1;
        }
    }
    (asked, accepted)
}

/// Every recording's external id for `user`, page by page.
async fn stored_ids(client: &reqwest::Client, server: &Shared, user: &str) -> Option<Vec<String>> {
    let first_page = url(server, "/recordings?limit=100").await;
    let mut ids = Vec::new();
    let mut next = first_page.clone();
    loop {
        let page = get_json(client, &next, user).await?;
        for item in page["items"].as_array().into_iter().flatten() {
            ids.push(item["external_id"].as_str().unwrap_or_default().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => next = format!("{first_page}&cursor={cursor}"),
            None => return Some(ids),
        }
    }
}

/// The Fathom meetings `user` can see as failed: `GET /failed-imports` and the failed items
/// of the jobs `GET /jobs` lists.
async fn visible_failures(
    client: &reqwest::Client,
    server: &Shared,
    user: &str,
) -> Option<HashSet<String>> {
    let failed = get_json(client, &url(server, "/failed-imports").await, user).await?;
    let jobs = get_json(client, &url(server, "/jobs?limit=100").await, user).await?;
    let listed = failed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["source"] == "fathom")
        .filter_map(|item| item["external_id"].as_str());
    let on_jobs = jobs["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|job| job["source"] == "fathom")
        .flat_map(|job| job["failed_items"].as_array().cloned().unwrap_or_default())
        .filter_map(|item| item["external_id"].as_str().map(str::to_owned));
    Some(listed.map(str::to_owned).chain(on_jobs).collect())
}

/// What the store holds, read beside the server (or after it).
#[derive(Debug, Default)]
struct AtRest {
    jobs_by_status: BTreeMap<String, usize>,
    job_status: HashMap<String, String>,
    /// The jobs not finished, whole, to say what they are when the ledger does not balance.
    unfinished: Vec<Value>,
    /// Messages other than the schedule's ticks not yet handled.
    in_flight: Vec<String>,
    /// The schedule's ticks not yet handled.
    ticks: usize,
    dead_letters: Vec<String>,
    held: Vec<String>,
    connections: Vec<Connection>,
}

impl AtRest {
    fn count_job(&mut self, id: String, body: &str) {
        let body: Value = serde_json::from_str(body).unwrap();
        let status = body["status"].as_str().unwrap_or("?").to_owned();
        *self.jobs_by_status.entry(status.clone()).or_default() += 1;
        if matches!(status.as_str(), "queued" | "running") {
            let mut summary = body.clone();
            for bulky in ["page_done", "failed_items", "not_imported_items"] {
                summary.as_object_mut().map(|o| o.remove(bulky));
            }
            self.unfinished.push(summary);
        }
        self.job_status.insert(id, status);
    }

    /// A message not yet handled: a tick, or one in flight.
    fn count_message(&mut self, body: String) {
        if matches!(SyncMessage::parse(&body), Ok(SyncMessage::Scheduled { .. })) {
            self.ticks += 1;
        } else {
            self.in_flight.push(body);
        }
    }
}

/// The data directory, read straight from SQLite (read-only, beside the server).
fn read_local(data_dir: &Path) -> AtRest {
    let db = rusqlite::Connection::open_with_flags(
        data_dir.join("callsync.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the data read-only");
    let mut at_rest = AtRest::default();
    let mut jobs = db.prepare("SELECT id, body FROM jobs").unwrap();
    let rows = jobs
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    for row in rows {
        let (id, body) = row.unwrap();
        at_rest.count_job(id, &body);
    }
    let mut messages = db.prepare("SELECT body, dead FROM queue_messages").unwrap();
    let rows = messages
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .unwrap();
    for row in rows {
        let (body, dead) = row.unwrap();
        if dead == 1 {
            at_rest.dead_letters.push(body);
        } else {
            at_rest.count_message(body);
        }
    }
    let mut held = db
        .prepare("SELECT holder, key FROM held_deliveries")
        .unwrap();
    let rows = held
        .query_map([], |r| {
            Ok(format!(
                "{} {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?
            ))
        })
        .unwrap();
    at_rest.held = rows.map(Result::unwrap).collect();
    let mut connections = db.prepare("SELECT body FROM connections").unwrap();
    let rows = connections
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap();
    at_rest.connections = rows
        .map(|body| serde_json::from_str(&body.unwrap()).expect("a stored connection"))
        .collect();
    at_rest
}

/// The table, scanned (its key design is in the DynamoDB adapter), and the sync queue's
/// message counts: messages cannot be looked at without taking them, so while the server
/// runs each one counts as in flight, a tick or not.
async fn read_aws(aws: &AwsStore) -> AtRest {
    use aws_sdk_dynamodb::types::AttributeValue;
    let text = |item: &HashMap<String, AttributeValue>, name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let mut at_rest = AtRest::default();
    let mut start = None;
    loop {
        let page = aws
            .backend
            .clients
            .dynamodb
            .scan()
            .table_name(&aws.backend.resources.table_name)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan the table");
        for item in page.items() {
            let (pk, sk) = (text(item, "PK"), text(item, "SK"));
            if let Some(id) = sk.strip_prefix("JOB#") {
                at_rest.count_job(id.to_owned(), &text(item, "data"));
            } else if sk.starts_with("HELD#") {
                at_rest.held.push(format!("{pk} {sk}"));
            } else if sk.starts_with("CONN#") {
                let connection = serde_json::from_str(&text(item, "data"));
                at_rest
                    .connections
                    .push(connection.expect("a stored connection"));
            }
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    let waiting = waiting_in_sync_queue(aws, true).await;
    if waiting > 0 {
        at_rest
            .in_flight
            .push(format!("{waiting} messages in the sync queue"));
    }
    at_rest
}

/// Messages in the sync queue: visible, delayed and, with `taken`, received and not yet deleted.
async fn waiting_in_sync_queue(aws: &AwsStore, taken: bool) -> usize {
    use aws_sdk_sqs::types::QueueAttributeName;
    let counts = aws
        .backend
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(&aws.backend.resources.sync_queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("read the sync queue's counts");
    let mut names = vec![
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesDelayed,
    ];
    if taken {
        names.push(QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
    }
    names
        .iter()
        .filter_map(|name| counts.attributes()?.get(name)?.parse::<usize>().ok())
        .sum()
}

/// The job a dead-lettered message should have ended as failed, if it has one.
fn job_of_dead_letter(body: &str, connections: &[Connection]) -> Option<JobId> {
    match SyncMessage::parse(body).ok()? {
        SyncMessage::Sync { job_id, .. } => Some(job_id),
        // A scheduled run fails its own job; its tick is served by the next one.
        SyncMessage::Scheduled { .. } => None,
        SyncMessage::Webhook(delivery) => {
            let connection_id = delivery.connection_id.as_ref()?;
            let connection = connections.iter().find(|c| &c.id == connection_id)?;
            Some(webhook_job_id(&connection.owner(), &delivery))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ledger_balances_under_repeats_pauses_syncs_faults_and_sigkills() {
    let run = Run {
        deliveries: 500,
        kills: 5,
        drain_deadline: Duration::from_secs(150),
    };
    let store = Store::Local(tempfile::tempdir().unwrap());
    the_ledger_balances(run, move |_| async move { store }).await;
}

/// The same on the AWS backend (DynamoDB, SQS, S3 and Secrets Manager on moto), shorter.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ledger_balances_on_the_aws_backend_against_moto() {
    let run = Run {
        // Each import there also writes its derived data (contacts, companies, tasks, the
        // meeting index): about 20 calls that moto answers in milliseconds each.
        deliveries: 100,
        kills: 2,
        // Moto answers each call in milliseconds, not microseconds: syncs take longer.
        drain_deadline: Duration::from_secs(480),
    };
    the_ledger_balances(run, |client_secret| async move {
        Store::aws(&client_secret).await
    })
    .await;
}

async fn the_ledger_balances<F, Fut>(run: Run, store: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Store>,
{
    let started = Instant::now();
    let seed: u64 = std::env::var("LEDGER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("seed {seed} (replay with LEDGER_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);

    let fake = Arc::new(
        FakeFathom::start(FakeFathomOptions {
            rate_limit_window: Duration::from_millis(200),
            fractional_seconds: true,
            // Bob's access token is due for refresh (REFRESH_AHEAD before it expires) every
            // 8 s: refreshed several times over the run, single-flight, while it is used.
            access_token_lifetime: (REFRESH_AHEAD + chrono::Duration::seconds(8))
                .to_std()
                .unwrap(),
            seed,
            ..FakeFathomOptions::default()
        })
        .await
        .unwrap(),
    );
    let accounts = [
        fake.add_account("Ada Lovelace", "ada@acme.test"),
        fake.add_account("Bob Babbage", "bob@engine.test"),
    ];
    // One meeting each before connecting: the initial syncs offer them.
    let initial: Vec<String> = accounts
        .iter()
        .flat_map(|account| fake.add_meetings(account, 1))
        .map(|meeting| meeting.recording_id.to_string())
        .collect();
    let store = Arc::new(store(fake.options().client_secret.clone()).await);
    let backend = match *store {
        Store::Local(_) => "embedded",
        Store::Aws(_) => "aws (moto)",
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server: Shared = Arc::new(Mutex::new(Server {
        port,
        store: store.clone(),
        fake: fake.clone(),
        child: None,
    }));
    let client = reqwest::Client::new();
    server.lock().await.spawn();
    wait_healthy(&client, &*server.lock().await).await;

    // Alice connects with her API key, Bob by OAuth; each initial sync learns the account's
    // email, which app-level deliveries are matched by.
    let status = send_until_answered(
        &client,
        &server,
        reqwest::Method::POST,
        "/sources/fathom/api-key",
        "alice",
        &json!({"api_key": accounts[0].api_key}),
    )
    .await;
    assert_eq!(status, 200, "Alice connects");
    fake.sign_in(&accounts[1]);
    connect_with_oauth(&server, "bob").await;
    for user in USERS {
        wait_for_account_email(&client, &server, user).await;
    }

    let mut plan = traffic(&mut rng, &fake, &accounts, run.deliveries);
    for (user, id) in USERS.iter().zip(initial) {
        plan.offered.get_mut(user).unwrap().push(id);
    }
    let kill_after: Vec<u32> = {
        let mut at: Vec<u32> = (0..run.kills)
            .map(|_| rng.random_range(1..run.deliveries as u32))
            .collect();
        at.sort();
        at
    };
    let n = run.deliveries as u32;
    let pause_at = rng.random_range(n / 10..n / 3);
    let resume_at = rng.random_range(n / 2..n * 9 / 10);
    println!(
        "plan: {} deliveries of {} meetings ({} resent with the same id, {} under a new id), \
         {} failing for good; Bob paused after {pause_at} deliveries and resumed after \
         {resume_at}; SIGKILL after deliveries {kill_after:?}",
        plan.deliveries.len(),
        plan.offered.values().map(Vec::len).sum::<usize>(),
        plan.same_id_repeats,
        plan.new_id_repeats,
        plan.failing.len(),
    );

    let taken = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let (server, client, taken) = (server.clone(), client.clone(), taken.clone());
        tokio::spawn(async move {
            for at in kill_after {
                while taken.load(Ordering::SeqCst) < at {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                restart(&client, &server).await;
            }
        })
    };
    let pauser = {
        let (server, client, taken) = (server.clone(), client.clone(), taken.clone());
        tokio::spawn(async move {
            for (at, active) in [(pause_at, false), (resume_at, true)] {
                while taken.load(Ordering::SeqCst) < at {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let body = json!({"active": active});
                let status = send_until_answered(
                    &client,
                    &server,
                    reqwest::Method::PATCH,
                    "/sources/fathom",
                    "bob",
                    &body,
                )
                .await;
                assert_eq!(status, 200, "PATCH /sources/fathom {body}");
            }
        })
    };
    let syncs = tokio::spawn(manual_syncs(
        client.clone(),
        server.clone(),
        StdRng::seed_from_u64(rng.random()),
        done.clone(),
    ));
    let faults = tokio::spawn(trouble(
        fake.clone(),
        StdRng::seed_from_u64(rng.random()),
        done.clone(),
    ));

    let secret = WebhookSecret::parse(APP_SECRET).unwrap();
    let attempts: u32 = futures::stream::iter(plan.deliveries.iter())
        .map(|delivery| {
            let (client, server, secret, taken) = (
                client.clone(),
                server.clone(),
                secret.clone(),
                taken.clone(),
            );
            async move {
                tokio::time::sleep(delivery.gap).await;
                let attempts = deliver_until_taken(
                    &client,
                    &server,
                    &secret,
                    &delivery.webhook_id,
                    &delivery.body,
                )
                .await;
                taken.fetch_add(1, Ordering::SeqCst);
                attempts
            }
        })
        .buffer_unordered(SENDERS)
        .fold(0, |sum, attempts| async move { sum + attempts })
        .await;
    killer.await.unwrap();
    pauser.await.unwrap();
    done.store(true, Ordering::SeqCst);
    let (asked, accepted) = syncs.await.unwrap();
    let injected = faults.await.unwrap();
    let sending_took = started.elapsed();
    println!(
        "sent in {:.1}s (until {}): {attempts} attempts for {} deliveries; {asked} manual syncs \
         asked, {accepted} accepted; faults injected: {} throttles, {} 5xx runs, {} slow runs",
        sending_took.as_secs_f64(),
        // Wall time, to place the jobs' own times in the run.
        chrono::Utc::now().format("%H:%M:%S%.3f"),
        plan.deliveries.len(),
        injected[0],
        injected[1],
        injected[2],
    );

    // Drained: every job finished, nothing left in the queue (but the schedule's own next
    // tick, which keeps running) or held, and every meeting offered stored or visible as
    // failed. Jobs a killed worker left running end when its lease has expired, at the next
    // scheduled run of the connection.
    let deadline = Instant::now() + run.drain_deadline;
    let (mut stored, mut failed) = (BTreeMap::new(), BTreeMap::new());
    let mut at_rest;
    loop {
        at_rest = store.records().await;
        let mut settled = at_rest.in_flight.is_empty()
            && at_rest.held.is_empty()
            && !at_rest.jobs_by_status.contains_key("queued")
            && !at_rest.jobs_by_status.contains_key("running");
        for user in USERS {
            let (Some(ids), Some(failures)) = (
                stored_ids(&client, &server, user).await,
                visible_failures(&client, &server, user).await,
            ) else {
                settled = false;
                continue;
            };
            let accounted: HashSet<&String> = ids.iter().chain(&failures).collect();
            settled &= plan.offered[user].iter().all(|id| accounted.contains(id));
            stored.insert(user, ids);
            failed.insert(user, failures);
        }
        if settled || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    server.lock().await.kill();
    store.queue(&mut at_rest).await;
    let ticks = at_rest.ticks;

    // The ledger.
    let mut problems = Vec::new();
    let (mut offered_total, mut stored_total, mut failed_total, mut duplicates) = (0, 0, 0, 0);
    for user in USERS {
        let offered: HashSet<&String> = plan.offered[user].iter().collect();
        let ids = &stored[user];
        let distinct: HashSet<&String> = ids.iter().collect();
        let failures: HashSet<&String> = failed[user]
            .iter()
            .filter(|id| !distinct.contains(id))
            .collect();
        let missing: Vec<_> = offered
            .iter()
            .filter(|id| !distinct.contains(*id) && !failures.contains(*id))
            .collect();
        let unexpected: Vec<_> = distinct
            .iter()
            .chain(&failures)
            .filter(|id| !offered.contains(*id))
            .collect();
        println!(
            "ledger {user}: offered {} = stored {} + failed {}; {} recordings ({} duplicates), \
             {} missing, {} not offered",
            offered.len(),
            distinct.len(),
            failures.len(),
            ids.len(),
            ids.len() - distinct.len(),
            missing.len(),
            unexpected.len(),
        );
        offered_total += offered.len();
        stored_total += distinct.len();
        failed_total += failures.len();
        duplicates += ids.len() - distinct.len();
        if !missing.is_empty() {
            problems.push(format!("{user}: lost meetings {missing:?}"));
        }
        if ids.len() != distinct.len() {
            problems.push(format!("{user}: a recording stored twice"));
        }
        if !unexpected.is_empty() {
            problems.push(format!("{user}: meetings never offered {unexpected:?}"));
        }
    }
    let mut dead_without_failed_job = Vec::new();
    for body in &at_rest.dead_letters {
        if let Some(job) = job_of_dead_letter(body, &at_rest.connections) {
            let status = at_rest.job_status.get(job.as_str()).map(String::as_str);
            if status != Some("failed") {
                dead_without_failed_job.push(format!("{body} (job {job}: {status:?})"));
            }
        }
    }
    let jobs_total: usize = at_rest.jobs_by_status.values().sum();
    println!(
        "LEDGER {backend} seed {seed}: offered {offered_total} / stored {stored_total} / failed \
         {failed_total} / duplicates {duplicates} / jobs {jobs_total} {:?} / in flight {} \
         (+{ticks} schedule ticks) / held {} / dead letters {} / time taken {:.1}s",
        at_rest.jobs_by_status,
        at_rest.in_flight.len(),
        at_rest.held.len(),
        at_rest.dead_letters.len(),
        started.elapsed().as_secs_f64(),
    );
    for (status, problem) in [
        ("queued", "jobs still queued"),
        ("running", "jobs still running"),
    ] {
        if let Some(n) = at_rest.jobs_by_status.get(status) {
            // Whether the connections were due says whether the schedule could have ended them.
            let connections: Vec<_> = at_rest
                .connections
                .iter()
                .map(|c| (&c.user_id, c.status, c.next_sync_after, &c.last_error))
                .collect();
            problems.push(format!(
                "{n} {problem}: {:?}; connections: {connections:?}",
                at_rest.unfinished
            ));
        }
    }
    if !at_rest.in_flight.is_empty() {
        problems.push(format!("messages left in flight: {:?}", at_rest.in_flight));
    }
    if !at_rest.held.is_empty() {
        problems.push(format!("deliveries still held: {:?}", at_rest.held));
    }
    if !dead_without_failed_job.is_empty() {
        problems.push(format!(
            "dead letters whose job did not fail: {dead_without_failed_job:?}"
        ));
    }
    if !problems.is_empty() {
        drop(server);
        if let Ok(store) = Arc::try_unwrap(store) {
            store.keep_for_inspection();
        }
    }
    assert!(
        problems.is_empty(),
        "the ledger does not balance (seed {seed}): {problems:#?}"
    );
}
