//! The dev server killed with SIGKILL while webhook deliveries pour in (each sent one to
//! three times and retried until answered 2xx, as senders do), restarted on the same data
//! each time: every meeting offered ends stored exactly once and every job ends.

use fakes::fathom::{FakeFathom, FakeFathomOptions, Includes};
use futures::StreamExt;
use pipeline::webhook::{sign, WebhookSecret};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

const JWT_SECRET: &str = "sigkill-test-secret";
const APP_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const MEETINGS: usize = 120;
const KILLS: usize = 3;

/// The dev-server binary on one port and one data directory, restartable.
struct Server {
    port: u16,
    data_dir: std::path::PathBuf,
    fathom_api: String,
    child: Option<Child>,
}

impl Server {
    fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_dev-server"))
            .env("PORT", self.port.to_string())
            .env("LOCAL_DATA_DIR", &self.data_dir)
            .env("DEV_JWT_SECRET", JWT_SECRET)
            .env("FATHOM_API_BASE_URL", &self.fathom_api)
            .env("FATHOM_WEBHOOK_SECRET", APP_SECRET)
            .env("FATHOM_RATE_WINDOW_MS", "200")
            .env("FATHOM_RETRY_BASE_MS", "10")
            .env("QUEUE_VISIBILITY_SECS", "2")
            .env("RUST_LOG", "error")
            .env_remove("TOKEN_SEALING_KEY")
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

async fn wait_healthy(client: &reqwest::Client, server: &Server) {
    for _ in 0..400 {
        if let Ok(response) = client.get(server.url("/health")).send().await {
            if response.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the dev server did not come up");
}

/// A token as `dev-server token` prints it.
fn token(user: &str) -> String {
    dev_server::auth::mint(&dev_server::auth::JwtSecret::new(JWT_SECRET), user, 3600)
        .expect("mint a token")
}

async fn get_json(client: &reqwest::Client, url: &str, user: &str) -> Option<Value> {
    let response = client.get(url).bearer_auth(token(user)).send().await.ok()?;
    response.json().await.ok()
}

/// Sends one delivery until it is answered 2xx; the attempts it took.
async fn deliver_until_taken(
    client: &reqwest::Client,
    url: &str,
    secret: &WebhookSecret,
    id: &str,
    body: &[u8],
) -> u32 {
    for attempt in 1.. {
        let timestamp = chrono::Utc::now().timestamp();
        let answer = client
            .post(url)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_survive_sigkill_stored_once_each() {
    let seed: u64 = std::env::var("SIGKILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("seed {seed} (replay with SIGKILL_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);

    let fake = FakeFathom::start(FakeFathomOptions {
        rate_limit_window: Duration::from_millis(200),
        fractional_seconds: true,
        ..FakeFathomOptions::default()
    })
    .await
    .unwrap();
    let account = fake.add_account("Ada Lovelace", "ada@acme.test");
    fake.add_meetings(&account, 1);
    let data = tempfile::tempdir().unwrap();
    let data_path = data.path().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Arc::new(Mutex::new(Server {
        port,
        data_dir: data_path.clone(),
        fathom_api: fake.api_base_url(),
        child: None,
    }));
    let client = reqwest::Client::new();
    server.lock().await.spawn();
    wait_healthy(&client, &*server.lock().await).await;

    // Alice connects with her API key; the initial sync learns her account's email, which
    // app-level deliveries are matched by.
    let url = server.lock().await.url("/sources/fathom/api-key");
    let connected = client
        .post(url)
        .bearer_auth(token("alice"))
        .json(&json!({"api_key": account.api_key}))
        .send()
        .await
        .unwrap();
    assert!(connected.status().is_success());
    let sources_url = server.lock().await.url("/sources");
    for _ in 0..400 {
        let sources = get_json(&client, &sources_url, "alice").await.unwrap();
        if sources["items"][0]["account_email"] == "ada@acme.test" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // Recorded by Alice's account, so each app-level delivery is matched to her.
    let meetings: Vec<_> = (0..MEETINGS)
        .filter_map(|_| fake.add_meeting(&account, |m| m.recorded_by = account.person.clone()))
        .collect();
    let secret = WebhookSecret::parse(APP_SECRET).unwrap();
    let webhook_url = server.lock().await.url("/webhooks/fathom");
    let copies: Vec<u32> = (0..MEETINGS).map(|_| rng.gen_range(1..=3)).collect();
    let kill_after: Vec<u32> = {
        let total: u32 = copies.iter().sum();
        let mut at: Vec<u32> = (0..KILLS).map(|_| rng.gen_range(1..total)).collect();
        at.sort();
        at
    };
    println!(
        "copies sent: {}, kills after deliveries {kill_after:?}",
        copies.iter().sum::<u32>()
    );

    let taken = Arc::new(AtomicU32::new(0));
    let killer = {
        let (server, client, taken) = (server.clone(), client.clone(), taken.clone());
        tokio::spawn(async move {
            for at in kill_after {
                while taken.load(Ordering::SeqCst) < at {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let mut server = server.lock().await;
                server.kill();
                server.spawn();
                wait_healthy(&client, &server).await;
            }
        })
    };
    let senders = futures::stream::iter(meetings.iter().zip(&copies).enumerate())
        .map(|(i, (meeting, copies))| {
            let body = serde_json::to_vec(&meeting.to_json(Includes::ALL)).unwrap();
            let (client, secret, url, taken) = (
                client.clone(),
                secret.clone(),
                webhook_url.clone(),
                taken.clone(),
            );
            async move {
                let id = format!("msg_{i}");
                for _ in 0..*copies {
                    deliver_until_taken(&client, &url, &secret, &id, &body).await;
                    taken.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
        .buffer_unordered(8);
    senders.collect::<Vec<()>>().await;
    killer.await.unwrap();

    // Drained: every meeting stored, each once, and every job finished.
    let recordings_url = server.lock().await.url("/recordings?limit=100");
    let jobs_url = server.lock().await.url("/jobs?limit=100");
    let offered: HashSet<String> = meetings
        .iter()
        .map(|m| m.recording_id.to_string())
        .collect();
    let mut stored = Vec::new();
    for _ in 0..1200 {
        stored = all_external_ids(&client, &recordings_url).await;
        let jobs = get_json(&client, &jobs_url, "alice").await.unwrap();
        let unfinished = jobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| matches!(j["status"].as_str(), Some("queued" | "running")));
        if !unfinished && offered.iter().all(|id| stored.contains(id)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let distinct: HashSet<&String> = stored.iter().collect();
    let missing: Vec<_> = offered.iter().filter(|id| !distinct.contains(id)).collect();
    println!(
        "ledger: offered {} meetings, stored {} recordings ({} distinct), missing {}",
        offered.len(),
        stored.len(),
        distinct.len(),
        missing.len()
    );
    if !missing.is_empty() {
        server.lock().await.kill();
        println!("data kept for inspection in {}", data.keep().display());
    }
    assert!(
        missing.is_empty(),
        "lost meetings {missing:?} (seed {seed})"
    );
    assert_eq!(
        stored.len(),
        distinct.len(),
        "no recording twice (seed {seed})"
    );
}

/// Every recording's external id, page by page.
async fn all_external_ids(client: &reqwest::Client, first_page: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut url = first_page.to_owned();
    loop {
        let page = get_json(client, &url, "alice").await.unwrap_or(Value::Null);
        for item in page["items"].as_array().into_iter().flatten() {
            ids.push(item["external_id"].as_str().unwrap_or_default().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("{first_page}&cursor={cursor}"),
            None => return ids,
        }
    }
}
