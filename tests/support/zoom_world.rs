//! A fake Zoom (and a fake transcription API) on loopback and the app configured to talk to
//! them, with the steps a user takes as helpers.

use crate::{eventually, read, Settings, TestApp};
use chrono::{Duration as Span, Utc};
use dev_server::DevServer;
use fakes::transcribe::FakeTranscribe;
use fakes::zoom::{FakeZoom, FakeZoomAccount, FakeZoomOptions, SignedZoomEvent, ZoomRateLimits};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const APP: &str = "http://app.callsync.test/";

pub struct ZoomWorld {
    pub zoom: FakeZoom,
    pub transcribe: FakeTranscribe,
    pub app: TestApp,
    /// The Zoom user who connects.
    pub account: FakeZoomAccount,
    /// A client that does not follow redirects, as a test of where the browser is sent.
    pub browser: reqwest::Client,
}

pub fn zoom_options() -> FakeZoomOptions {
    FakeZoomOptions {
        rate_limits: ZoomRateLimits {
            light: 50,
            medium: 50,
            heavy: 50,
        },
        fractional_seconds: true,
        ..FakeZoomOptions::default()
    }
}

/// A fake Zoom with one user, the app configured to use it; `customize` adjusts the dev
/// server.
pub async fn zoom_world_with(
    options: FakeZoomOptions,
    settings: Settings,
    customize: impl FnOnce(DevServer) -> DevServer,
) -> ZoomWorld {
    let zoom = FakeZoom::start(options).await.expect("fake Zoom");
    let transcribe = FakeTranscribe::start()
        .await
        .expect("fake transcription API");
    let account = zoom.add_account("Grace", "Hopper", "grace@navy.test");
    let settings = settings
        .set("ZOOM_API_BASE_URL", zoom.api_base_url())
        .set("ZOOM_OAUTH_BASE_URL", zoom.oauth_base_url())
        .set("ZOOM_CLIENT_ID", zoom.options().client_id.clone())
        .set("ZOOM_CLIENT_SECRET", zoom.options().client_secret.clone())
        .set(
            "ZOOM_WEBHOOK_SECRET_TOKEN",
            zoom.options().webhook_secret_token.clone(),
        )
        .set("ZOOM_RETRY_BASE_MS", "10")
        .set_default("ZOOM_RATE_LIGHT_PER_SECOND", "40")
        .set_default("ZOOM_RATE_MEDIUM_PER_SECOND", "40")
        .set_default("ZOOM_RATE_HEAVY_PER_SECOND", "40")
        .set("TRANSCRIBE_API_BASE_URL", transcribe.base_url())
        .set("TRANSCRIBE_API_KEY", transcribe.api_key())
        .set_default("APP_BASE_URL", APP);
    let app = TestApp::start_with(settings, customize).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    ZoomWorld {
        zoom,
        transcribe,
        app,
        account,
        browser,
    }
}

pub async fn zoom_world() -> ZoomWorld {
    zoom_world_with(zoom_options(), Settings::default(), |s| s).await
}

impl ZoomWorld {
    /// Adds `n` meetings of the user, the newest `days_ago_newest` days ago, one every
    /// `every` apart going back.
    pub fn add_meetings(&self, n: usize, newest_days_ago: i64, every: Span) {
        let newest = Utc::now() - Span::days(newest_days_ago);
        let oldest = newest - every * (n as i32 - 1).max(0);
        self.zoom.add_meetings(&self.account, n, oldest, every);
    }

    /// `POST /oauth/zoom/initiate` as `user`: the authorization URL and the binding cookie.
    pub async fn initiate(&self, user: &str) -> (String, String) {
        let response = self
            .app
            .client
            .post(self.app.url("/oauth/zoom/initiate"))
            .bearer_auth(self.app.token(user))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let cookie = pipeline::testing::set_cookie(response.headers());
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            body["authorization_url"].as_str().unwrap().to_owned(),
            cookie,
        )
    }

    /// GETs `url` (with `cookie`) and returns where it redirects.
    pub async fn follow(&self, url: &str, cookie: Option<&str>) -> String {
        let mut request = self.browser.get(url);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{url}");
        response.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Connects `user` through Zoom's consent screen; where the browser lands.
    pub async fn connect(&self, user: &str) -> String {
        let (authorization_url, cookie) = self.initiate(user).await;
        let callback = self.follow(&authorization_url, None).await;
        assert!(
            callback.starts_with(&self.app.url("/oauth/zoom/callback")),
            "{callback}"
        );
        self.follow(&callback, Some(&cookie)).await
    }

    pub async fn jobs(&self, user: &str) -> Vec<Value> {
        self.app
            .get("/jobs?source=zoom&limit=100", Some(user))
            .await
            .1["items"]
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

    /// Starts a sync of the member's Zoom connection and returns its job once finished.
    pub async fn sync_now(&self, user: &str) -> Value {
        let (status, answer) = self
            .app
            .send_json(Method::POST, "/sync", user, &json!({"source": "zoom"}))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        self.finished(user, answer["job_id"].as_str().unwrap())
            .await
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

    pub async fn recordings(&self, user: &str) -> Vec<Value> {
        self.app
            .get("/recordings?source=zoom&limit=100", Some(user))
            .await
            .1["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn zoom_source(&self, user: &str) -> Value {
        let (_, sources) = self.app.get("/sources", Some(user)).await;
        sources["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == "zoom")
            .cloned()
            .unwrap()
    }

    /// Posts a signed event to `/webhooks/zoom`.
    pub async fn send_event(&self, event: &SignedZoomEvent) -> (StatusCode, Value) {
        let mut request = self
            .app
            .client
            .post(self.app.url("/webhooks/zoom"))
            .body(event.body.clone());
        for (name, value) in &event.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        read(request.send().await.unwrap()).await
    }
}
