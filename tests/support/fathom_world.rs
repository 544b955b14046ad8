//! A fake Fathom on loopback and the app configured to talk to it, with the steps a user
//! takes (connect, sync, browse) as helpers.

use crate::{eventually, Settings, TestApp};
use dev_server::DevServer;
use fakes::fathom::{FakeAccount, FakeFathom, FakeFathomOptions};
use pipeline::webhook::{sign, WebhookSecret};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub const APP: &str = "http://app.callsync.test/";

pub struct World {
    pub fake: FakeFathom,
    pub app: TestApp,
    /// The Fathom account the user connects, with generated meetings.
    pub account: FakeAccount,
    /// A client that does not follow redirects, as a test of where the browser is sent.
    pub browser: reqwest::Client,
}

pub fn fake_options() -> FakeFathomOptions {
    FakeFathomOptions {
        rate_limit_window: Duration::from_millis(200),
        fractional_seconds: true,
        ..FakeFathomOptions::default()
    }
}

/// A fake Fathom with one account and `meetings` meetings, and the app configured to use it;
/// `customize` adjusts the dev server (intervals, extra functions).
pub async fn world_with(
    options: FakeFathomOptions,
    meetings: usize,
    settings: Settings,
    customize: impl FnOnce(DevServer) -> DevServer,
) -> World {
    let fake = FakeFathom::start(options).await.expect("fake Fathom");
    let account = fake.add_account("Ada Lovelace", "ada@acme.test");
    fake.add_meetings(&account, meetings);
    let settings = settings
        .set("FATHOM_API_BASE_URL", fake.api_base_url())
        .set("FATHOM_OAUTH_BASE_URL", fake.oauth_base_url())
        .set("FATHOM_CLIENT_ID", fake.options().client_id.clone())
        .set("FATHOM_CLIENT_SECRET", fake.options().client_secret.clone())
        .set("FATHOM_RATE_WINDOW_MS", "200")
        .set("FATHOM_RETRY_BASE_MS", "10")
        .set_default("APP_BASE_URL", APP);
    let app = TestApp::start_with(settings, customize).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    World {
        fake,
        app,
        account,
        browser,
    }
}

/// A world whose app runs on `clock` (a manual clock to move time in a test).
pub async fn world_on(meetings: usize, clock: Arc<dyn pipeline::ports::Clock>) -> World {
    world_with(
        fake_options(),
        meetings,
        Settings::default().clock(clock),
        |s| s,
    )
    .await
}

pub async fn world(meetings: usize) -> World {
    world_with(fake_options(), meetings, Settings::default(), |server| {
        server
    })
    .await
}

impl World {
    pub async fn connect_with_api_key(&self, user: &str) -> (StatusCode, Value) {
        let body = json!({ "api_key": self.account.api_key });
        self.app
            .send_json(Method::POST, "/sources/fathom/api-key", user, &body)
            .await
    }

    /// `user`'s stored Fathom connection.
    pub async fn connection(&self, user: &str) -> pipeline::domain::Connection {
        let owner = self.app.tenant(user);
        let found = self
            .app
            .services()
            .connections
            .find(&owner, pipeline::domain::Source::Fathom)
            .await;
        found
            .expect("read the connection")
            .expect("the user has a Fathom connection")
    }

    /// Connects `user` with the account's API key and waits for the initial sync.
    pub async fn connect_and_sync(&self, user: &str) -> Value {
        let (status, body) = self.connect_with_api_key(user).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        self.initial_job(user).await
    }

    /// `POST /oauth/{source}/initiate` as `user`: the authorization URL, and the binding
    /// cookie (`name=value`) the browser that asked was given.
    pub async fn initiate(&self, source: &str, user: &str, body: Value) -> (String, String) {
        let response = self
            .app
            .client
            .post(self.app.url(&format!("/oauth/{source}/initiate")))
            .bearer_auth(self.app.token(user))
            .json(&body)
            .send()
            .await
            .unwrap();
        let cookie = pipeline::testing::set_cookie(response.headers());
        let (status, body) = crate::read(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let url = body["authorization_url"].as_str().unwrap().to_owned();
        (url, cookie)
    }

    /// Sends the browser to the provider's consent screen; where the provider sends it back.
    pub async fn consent(&self, authorization_url: &str) -> String {
        let consent = self.browser.get(authorization_url).send().await.unwrap();
        assert_eq!(consent.status(), StatusCode::FOUND);
        location(&consent)
    }

    /// Initiates OAuth as `user`, follows the provider's consent redirect to the callback in
    /// the same browser, and returns where the callback sends the browser.
    pub async fn connect_with_oauth(&self, user: &str) -> String {
        let (authorization_url, cookie) = self.initiate("fathom", user, json!({})).await;
        let callback = self.consent(&authorization_url).await;
        assert!(
            callback.starts_with(&self.app.url("/oauth/fathom/callback")),
            "{callback}"
        );
        self.follow_with(&callback, Some(&cookie)).await
    }

    /// GETs `url` and returns its redirect target.
    pub async fn follow(&self, url: &str) -> String {
        self.follow_with(url, None).await
    }

    /// GETs `url` carrying `cookie` (`name=value`) and returns its redirect target.
    pub async fn follow_with(&self, url: &str, cookie: Option<&str>) -> String {
        let mut request = self.browser.get(url);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        location(&response)
    }

    pub async fn jobs(&self, user: &str) -> Vec<Value> {
        self.app.get("/jobs?source=fathom", Some(user)).await.1["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits for the job to finish and returns it.
    pub async fn finished(&self, user: &str, job_id: &str) -> Value {
        let path = format!("/jobs/{job_id}");
        eventually(60, "the job finishes", || async {
            let status = self.app.get(&path, Some(user)).await.1["status"].clone();
            !matches!(status.as_str(), Some("queued" | "running"))
        })
        .await;
        self.app.get(&path, Some(user)).await.1
    }

    pub async fn initial_job(&self, user: &str) -> Value {
        let initial = self
            .jobs(user)
            .await
            .into_iter()
            .find(|j| j["kind"] == "initial")
            .expect("an initial job");
        self.finished(user, initial["id"].as_str().unwrap()).await
    }

    pub async fn sync(&self, user: &str, body: Value) -> Value {
        let (status, answer) = self.app.send_json(Method::POST, "/sync", user, &body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        self.finished(user, answer["job_id"].as_str().unwrap())
            .await
    }

    pub async fn recordings(&self, user: &str) -> Vec<Value> {
        self.app.get("/recordings?limit=100", Some(user)).await.1["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn fathom_source(&self, user: &str) -> Value {
        self.app.get("/sources", Some(user)).await.1["items"][0].clone()
    }
}

/// A connection's webhook endpoint: where its deliveries go and the secret they are signed
/// with.
pub struct Endpoint {
    pub connection_id: String,
    pub secret: WebhookSecret,
}

impl Endpoint {
    pub fn path(&self) -> String {
        format!("/webhooks/fathom/{}", self.connection_id)
    }
}

impl World {
    /// Connects `user` to `account` with its API key (so a webhook is registered for the
    /// connection), waits for the initial sync, and returns the connection's endpoint.
    pub async fn connect_endpoint(&self, user: &str, account: &FakeAccount) -> Endpoint {
        let body = json!({ "api_key": account.api_key });
        let (status, source) = self
            .app
            .send_json(Method::POST, "/sources/fathom/api-key", user, &body)
            .await;
        assert_eq!(status, StatusCode::OK, "{source}");
        assert_eq!(self.initial_job(user).await["status"], "completed");
        let connection_id = source["connection_id"].as_str().unwrap().to_owned();
        let destination = self.app.url(&format!("/webhooks/fathom/{connection_id}"));
        let hook = self
            .fake
            .webhooks()
            .into_iter()
            .find(|h| h.destination_url == destination)
            .expect("the connection registered its webhook");
        Endpoint {
            connection_id,
            secret: WebhookSecret::parse(&hook.secret).unwrap(),
        }
    }
}

/// A new meeting of `owner` in the fake: its id and the body Fathom would deliver.
pub fn new_meeting(w: &World, owner: &FakeAccount) -> (u64, Vec<u8>) {
    let meeting = w
        .fake
        .add_meeting(owner, |m| m.recorded_by = owner.person.clone())
        .unwrap();
    let payload = w.fake.meeting_payload(meeting.recording_id).unwrap();
    (meeting.recording_id, serde_json::to_vec(&payload).unwrap())
}

/// Sends `body` to `path` as delivery `id`, signed at `at` (every retry is signed anew).
pub async fn deliver(
    w: &World,
    path: &str,
    secret: &WebhookSecret,
    id: &str,
    at: chrono::DateTime<chrono::Utc>,
    body: &[u8],
) -> (StatusCode, Value) {
    let timestamp = at.timestamp();
    let request = w
        .app
        .client
        .post(w.app.url(path))
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", sign(secret, id, timestamp, body))
        .body(body.to_vec());
    crate::read(request.send().await.unwrap()).await
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

pub fn counts(job: &Value) -> (u64, u64, u64, u64) {
    let c = &job["counts"];
    (
        c["imported"].as_u64().unwrap(),
        c["updated"].as_u64().unwrap(),
        c["skipped"].as_u64().unwrap(),
        c["failed"].as_u64().unwrap(),
    )
}

pub fn url_param(url: &str, name: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

pub fn urlencode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}
