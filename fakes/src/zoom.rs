//! Fake Zoom: the OAuth server of a user-managed app, the REST API of cloud recordings,
//! recording downloads, and builders of signed webhook events.
//!
//! Serves `/oauth/authorize`, `/oauth/token` (form body, HTTP Basic client auth, single-use
//! codes, PKCE, rotating single-use refresh tokens) and `/oauth/revoke`; under `/v2`:
//! `GET /users/me`, `GET /users/me/recordings` (at most one month per call, opaque page
//! tokens) and `GET /meetings/{uuid}/recordings` (uuids with `/` double-encoded). Downloads,
//! `GET /rec/download/{file_id}` with a Bearer token or `?access_token=<download token>`,
//! answer 302 to a file host on a second loopback port, so a client that follows the
//! redirect meets a different origin, as with Zoom's own file hosts.
//!
//! Rate limits are per account and category with per-second budgets; a 429 carries
//! `Retry-After` in whole seconds, or with `fractional_seconds` in milliseconds (`"0.250"`).

// Handlers stop early with the `Response` to send, axum's idiom; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

mod api;
mod downloads;
mod events;
mod limits;
mod media;
mod meetings;
mod oauth;
mod pages;
mod state;
#[cfg(test)]
mod tests;

pub use events::{
    expected_validation_response, sign_event, url_validation_event, SignedZoomEvent, ZoomEvent,
};
pub use limits::ZoomRateLimits;
pub use meetings::{FakeZoomCue, FakeZoomFileIds, FakeZoomMeeting};
pub use state::{
    AuthKind, FakeZoomAccount, FakeZoomCalls, FakeZoomTokens, ListCall, RecordedRequest,
};

use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Duration as TimeDelta, DurationRound, Utc};
use rand::Rng;
use serde_json::Value;
use state::State;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct FakeZoomOptions {
    pub client_id: String,
    pub client_secret: String,
    /// Redirect URIs the app registered; empty accepts any http(s) URI.
    pub redirect_uris: Vec<String>,
    pub access_token_lifetime: Duration,
    /// How long a `next_page_token` stays valid (15 minutes at Zoom).
    pub page_token_lifetime: Duration,
    /// How long a webhook event's `download_token` stays valid (about a day at Zoom).
    pub download_token_lifetime: Duration,
    /// Budgets per window, per account.
    pub rate_limits: ZoomRateLimits,
    /// Length of a rate-limit window (one second at Zoom).
    pub rate_limit_window: Duration,
    /// `Retry-After` with millisecond precision instead of whole seconds.
    pub fractional_seconds: bool,
    /// The authorize endpoint answers `error=access_denied` instead of consenting.
    pub deny_consent: bool,
    /// The app's webhook secret token, which signs events.
    pub webhook_secret_token: String,
    /// Recording events carry `download_token` inside `payload` instead of beside it (both
    /// have been seen).
    pub download_token_in_payload: bool,
    /// Downloads redirect to the file host on the API's own port instead of a second one, so
    /// the redirect stays same-origin.
    pub file_host_on_api_port: bool,
    /// Audio length of new meetings, in seconds.
    pub audio_seconds: u32,
    /// Seeds the meeting generator and the credentials, so runs are reproducible.
    pub seed: u64,
}

impl Default for FakeZoomOptions {
    fn default() -> Self {
        FakeZoomOptions {
            client_id: "fake-zoom-client".into(),
            client_secret: "fake-zoom-client-secret".into(),
            redirect_uris: Vec::new(),
            access_token_lifetime: Duration::from_secs(3600),
            page_token_lifetime: Duration::from_secs(15 * 60),
            download_token_lifetime: Duration::from_secs(24 * 3600),
            rate_limits: ZoomRateLimits::default(),
            rate_limit_window: Duration::from_secs(1),
            fractional_seconds: false,
            deny_consent: false,
            webhook_secret_token: "fake-zoom-webhook-secret-token".into(),
            download_token_in_payload: false,
            file_host_on_api_port: false,
            audio_seconds: 3,
            seed: 11,
        }
    }
}

pub(crate) struct Shared {
    options: FakeZoomOptions,
    state: Mutex<State>,
    base_url: String,
    file_host_url: String,
    /// Signs file-host links, so only links the download endpoint handed out work.
    link_key: [u8; 32],
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake; its servers stop when this is dropped.
pub struct FakeZoom {
    shared: Arc<Shared>,
    servers: Vec<JoinHandle<()>>,
}

impl Drop for FakeZoom {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
    }
}

fn serve(listener: TcpListener, router: Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::warn!(%error, "fake Zoom stopped");
        }
    })
}

impl FakeZoom {
    /// Binds two free loopback ports (API and file host) and serves until dropped.
    pub async fn start(options: FakeZoomOptions) -> anyhow::Result<FakeZoom> {
        let api = TcpListener::bind(("127.0.0.1", 0)).await?;
        let files = TcpListener::bind(("127.0.0.1", 0)).await?;
        let base_url = format!("http://{}", api.local_addr()?);
        let file_host_url = if options.file_host_on_api_port {
            base_url.clone()
        } else {
            format!("http://{}", files.local_addr()?)
        };
        let mut state = State::new(&options);
        let mut link_key = [0u8; 32];
        state.rng.fill_bytes(&mut link_key);
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            options,
            base_url,
            file_host_url,
            link_key,
        });
        let file_host = Router::new()
            .route("/file-host/{file_id}", get(downloads::file_host))
            .with_state(shared.clone());
        let router = Router::new()
            .route("/oauth/authorize", get(oauth::authorize))
            .route("/oauth/token", post(oauth::token))
            .route("/oauth/revoke", post(oauth::revoke))
            .route("/v2/users/me", get(api::users_me))
            .route("/v2/users/me/recordings", get(api::list_recordings))
            .route(
                "/v2/meetings/{meeting_uuid}/recordings",
                get(api::meeting_recordings),
            )
            .route("/rec/download/{file_id}", get(downloads::download))
            .fallback(api::not_found)
            .with_state(shared.clone())
            .merge(file_host.clone());
        let servers = vec![serve(api, router), serve(files, file_host)];
        Ok(FakeZoom { shared, servers })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// What `ZOOM_API_BASE_URL` should be.
    pub fn api_base_url(&self) -> String {
        format!("{}/v2", self.shared.base_url)
    }

    /// What `ZOOM_OAUTH_BASE_URL` should be.
    pub fn oauth_base_url(&self) -> String {
        format!("{}/oauth", self.shared.base_url)
    }

    /// Where downloads redirect to.
    pub fn file_host_url(&self) -> String {
        self.shared.file_host_url.clone()
    }

    pub fn options(&self) -> &FakeZoomOptions {
        &self.shared.options
    }

    /// A user in an account of their own. The first user added is the one who consents at the
    /// authorize endpoint, unless `sign_in` says otherwise.
    pub fn add_account(&self, first_name: &str, last_name: &str, email: &str) -> FakeZoomAccount {
        self.state().add_account(first_name, last_name, email)
    }

    /// Who consents at the authorize endpoint from now on.
    pub fn sign_in(&self, account: &FakeZoomAccount) {
        self.state().signed_in = Some(account.id.clone());
    }

    /// Tokens of a new grant for `account`, as if it had gone through the OAuth flow.
    pub fn issue_tokens(&self, account: &FakeZoomAccount) -> FakeZoomTokens {
        let lifetime = self.shared.options.access_token_lifetime;
        self.state().issue_tokens(&account.id, lifetime)
    }

    /// A download token for `account`'s files, as a recording event carries.
    pub fn issue_download_token(&self, account: &FakeZoomAccount) -> String {
        let lifetime = self.shared.options.download_token_lifetime;
        self.state().issue_download_token(&account.id, lifetime)
    }

    /// One generated meeting hosted by `host`, adjusted by `edit` before it is stored. Unless
    /// `edit` moves it, it started an hour ago (each further one ten minutes earlier).
    pub fn add_meeting(
        &self,
        host: &FakeZoomAccount,
        edit: impl FnOnce(&mut FakeZoomMeeting),
    ) -> FakeZoomMeeting {
        let mut state = self.state();
        let earlier = TimeDelta::minutes(10 * state.meetings.len() as i64);
        let now = Utc::now();
        let start = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now)
            - TimeDelta::hours(1)
            - earlier;
        let mut meeting = state.add_meeting(host, start, self.shared.options.audio_seconds);
        let uuid = meeting.uuid.clone();
        edit(&mut meeting);
        if let Some(stored) = state.meeting_mut(&uuid) {
            *stored = meeting.clone();
        }
        meeting
    }

    /// `n` generated meetings hosted by `host`, the first at `start`, then every `spacing`.
    pub fn add_meetings(
        &self,
        host: &FakeZoomAccount,
        n: usize,
        start: DateTime<Utc>,
        spacing: TimeDelta,
    ) -> Vec<FakeZoomMeeting> {
        let mut state = self.state();
        let audio_seconds = self.shared.options.audio_seconds;
        (0..n)
            .map(|i| state.add_meeting(host, start + spacing * i as i32, audio_seconds))
            .collect()
    }

    /// Changes a stored meeting; false when unknown.
    pub fn update_meeting(&self, uuid: &str, edit: impl FnOnce(&mut FakeZoomMeeting)) -> bool {
        match self.state().meeting_mut(uuid) {
            Some(meeting) => {
                edit(meeting);
                true
            }
            None => false,
        }
    }

    /// Removes a meeting (moved to the trash at Zoom): no longer listed, found or downloadable.
    pub fn delete_meeting(&self, uuid: &str) -> bool {
        let mut state = self.state();
        let before = state.meetings.len();
        state.meetings.retain(|m| m.uuid != uuid);
        state.meetings.len() < before
    }

    /// Every meeting, in the order added.
    pub fn meetings(&self) -> Vec<FakeZoomMeeting> {
        self.state().meetings.clone()
    }

    /// A meeting as the list API shows it.
    pub fn meeting_json(&self, uuid: &str) -> Option<Value> {
        let state = self.state();
        let meeting = state.meetings.iter().find(|m| m.uuid == uuid)?;
        Some(meeting.to_json(&self.shared.base_url))
    }

    /// The `recording.completed` event for a meeting, with a fresh download token.
    pub fn recording_completed_event(&self, uuid: &str) -> Option<ZoomEvent> {
        self.recording_event(uuid, false)
    }

    /// The `recording.transcript_completed` event for a meeting: its `recording_files` list the
    /// transcript only, as Zoom's do. `None` when the meeting is unknown or has no transcript.
    pub fn transcript_completed_event(&self, uuid: &str) -> Option<ZoomEvent> {
        self.recording_event(uuid, true)
    }

    fn recording_event(&self, uuid: &str, transcript: bool) -> Option<ZoomEvent> {
        let options = &self.shared.options;
        let mut state = self.state();
        let meeting = state.meetings.iter().find(|m| m.uuid == uuid)?.clone();
        let object = if transcript {
            if !meeting.has_transcript {
                return None;
            }
            meeting.to_json_with_files(&self.shared.base_url, &[meetings::FileKind::Transcript])
        } else {
            meeting.to_json(&self.shared.base_url)
        };
        let token = state.issue_download_token(&meeting.host_id, options.download_token_lifetime);
        let name = if transcript {
            "recording.transcript_completed"
        } else {
            "recording.completed"
        };
        Some(events::recording_event(
            name,
            &meeting.account_id,
            object,
            &token,
            options.download_token_in_payload,
        ))
    }

    /// The user removes the app: every token of theirs stops working. Answers the
    /// `app_deauthorized` event Zoom then sends.
    pub fn deauthorize(&self, account: &FakeZoomAccount) -> ZoomEvent {
        let mut state = self.state();
        state.revoke_user(&account.id);
        let signature = state.random_token("", 64);
        events::app_deauthorized_event(account, &self.shared.options.client_id, &signature)
    }

    /// Signs `event` with the app's secret token, timestamped now.
    pub fn sign(&self, event: &ZoomEvent) -> SignedZoomEvent {
        event.sign(
            &self.shared.options.webhook_secret_token,
            Utc::now().timestamp(),
        )
    }

    /// The next `n` authenticated requests (API, downloads, token, revoke) answer `status`.
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut state = self.state();
        state.faults.fail_next = n;
        state.faults.fail_status = status;
    }

    /// The next `n` authenticated requests answer 429 with `Retry-After: retry_after`,
    /// whatever the budget.
    pub fn throttle_next(&self, n: u32, retry_after: Duration) {
        let mut state = self.state();
        state.faults.throttle_next = n;
        state.faults.throttle_for = retry_after;
    }

    /// Every request (file host included) waits this long before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.state().faults.latency = latency;
    }

    /// The next `n` requests wait `latency` before they are handled.
    pub fn slow_next(&self, n: u32, latency: Duration) {
        let mut state = self.state();
        state.faults.slow_next = n;
        state.faults.slow_for = latency;
    }

    /// Every access token issued so far is expired; refresh tokens still work.
    pub fn expire_access_tokens(&self) {
        self.state().expire_access_tokens();
    }

    /// Every download token issued so far is expired (an event delivered late).
    pub fn expire_download_tokens(&self) {
        self.state().expire_download_tokens();
    }

    /// Every `next_page_token` handed out so far is expired.
    pub fn expire_page_tokens(&self) {
        self.state().pages.expire_all(std::time::Instant::now());
    }

    /// Changes the per-account budgets, as an account's plan does.
    pub fn set_rate_limits(&self, limits: ZoomRateLimits) {
        self.state().rate_limits = limits;
    }

    pub fn calls(&self) -> FakeZoomCalls {
        self.state().calls.clone()
    }

    /// Every request received (file host included), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }
}
