//! Fake Fathom External API and OAuth server.
//!
//! Serves, under `/external/v1`: `GET /meetings` (pages of 10, opaque cursors, date and
//! `recorded_by[]` filters, include flags, refused to OAuth tokens for transcripts and
//! summaries), `GET /recordings/{id}/transcript|summary`, `POST /webhooks`,
//! `DELETE /webhooks/{id}`, and `/oauth2/authorize` + `/oauth2/token`.
//!
//! Rate limits follow the documented ones (60 requests and 30 heavy ones per window, per API
//! key or per OAuth account), with `RateLimit-*` headers on every authenticated answer and
//! `Retry-After` on 429. `RateLimit-Reset` and `Retry-After` are whole seconds rounded up,
//! as Fathom sends them; with `fractional_seconds` they carry milliseconds (`"0.250"`), which
//! shortened windows in benchmarks need.

// Handlers stop early with the `Response` to send, axum's idiom; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

mod api;
mod cursor;
mod limits;
mod meetings;
mod oauth;
mod state;

pub use meetings::{FakeActionItem, FakeInvitee, FakeMeeting, FakePerson, FakeUtterance, Includes};
pub use state::{AuthKind, FakeAccount, FakeFathomCalls, FakeTokens, FakeWebhook, RecordedRequest};

use axum::routing::{delete, get, post};
use axum::Router;
use state::State;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct FakeFathomOptions {
    pub client_id: String,
    pub client_secret: String,
    /// Redirect URIs the OAuth app registered; empty accepts any http(s) URI.
    pub redirect_uris: Vec<String>,
    pub access_token_lifetime: Duration,
    /// Length of a rate-limit window (60 s at Fathom).
    pub rate_limit_window: Duration,
    pub overall_limit: u32,
    pub heavy_limit: u32,
    /// Token calls per window for the app.
    pub token_limit: u32,
    /// `RateLimit-Reset` and `Retry-After` with millisecond precision instead of whole seconds.
    pub fractional_seconds: bool,
    /// The authorize endpoint answers `error=access_denied` instead of consenting.
    pub deny_consent: bool,
    /// Seeds the meeting generator and the credentials, so runs are reproducible.
    pub seed: u64,
}

impl Default for FakeFathomOptions {
    fn default() -> Self {
        FakeFathomOptions {
            client_id: "fake-fathom-client".into(),
            client_secret: "fake-fathom-client-secret".into(),
            redirect_uris: Vec::new(),
            access_token_lifetime: Duration::from_secs(3600),
            rate_limit_window: Duration::from_secs(60),
            overall_limit: 60,
            heavy_limit: 30,
            token_limit: 60,
            fractional_seconds: false,
            deny_consent: false,
            seed: 7,
        }
    }
}

pub(crate) struct Shared {
    options: FakeFathomOptions,
    state: Mutex<State>,
    /// Opens the gate for list calls held by `hold_list_calls_after`.
    released: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake; the server stops when this is dropped.
pub struct FakeFathom {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for FakeFathom {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeFathom {
    /// Binds a free loopback port and serves until dropped.
    pub async fn start(options: FakeFathomOptions) -> anyhow::Result<FakeFathom> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(&options)),
            options,
            released: tokio::sync::watch::channel(true).0,
        });
        let router = Router::new()
            .route("/external/v1/meetings", get(api::list_meetings))
            .route(
                "/external/v1/recordings/{id}/transcript",
                get(api::transcript),
            )
            .route("/external/v1/recordings/{id}/summary", get(api::summary))
            .route("/external/v1/webhooks", post(api::create_webhook))
            .route("/external/v1/webhooks/{id}", delete(api::delete_webhook))
            .route("/external/v1/oauth2/authorize", get(oauth::authorize))
            .route("/external/v1/oauth2/token", post(oauth::token))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::warn!(%error, "fake Fathom stopped");
            }
        });
        Ok(FakeFathom {
            addr,
            shared,
            server,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What `FATHOM_API_BASE_URL` should be.
    pub fn api_base_url(&self) -> String {
        format!("{}/external/v1", self.base_url())
    }

    /// What `FATHOM_OAUTH_BASE_URL` should be.
    pub fn oauth_base_url(&self) -> String {
        format!("{}/external/v1/oauth2", self.base_url())
    }

    pub fn options(&self) -> &FakeFathomOptions {
        &self.shared.options
    }

    /// A user with a fresh API key. The first account added is the one that signs in at the
    /// authorize endpoint, unless `sign_in` says otherwise.
    pub fn add_account(&self, name: &str, email: &str) -> FakeAccount {
        self.state().add_account(name, email)
    }

    /// Who consents at the authorize endpoint from now on.
    pub fn sign_in(&self, account: &FakeAccount) {
        self.state().signed_in = Some(account.id);
    }

    /// Tokens for `account`, as if it had gone through the OAuth flow.
    pub fn issue_tokens(&self, account: &FakeAccount) -> FakeTokens {
        let lifetime = self.shared.options.access_token_lifetime;
        self.state().issue_tokens(account.id, lifetime)
    }

    /// `n` generated meetings owned by `owner`, each created after every earlier one.
    pub fn add_meetings(&self, owner: &FakeAccount, n: usize) -> Vec<FakeMeeting> {
        let mut state = self.state();
        (0..n).filter_map(|_| state.add_meeting(owner.id)).collect()
    }

    /// One generated meeting, adjusted by `edit` before it is stored.
    pub fn add_meeting(
        &self,
        owner: &FakeAccount,
        edit: impl FnOnce(&mut FakeMeeting),
    ) -> Option<FakeMeeting> {
        let mut state = self.state();
        let mut meeting = state.add_meeting(owner.id)?;
        edit(&mut meeting);
        let stored = state.meetings.last_mut()?;
        *stored = meeting.clone();
        Some(meeting)
    }

    /// Renames a meeting (a changed meeting for a sync to pick up); false when unknown.
    pub fn update_meeting_title(&self, recording_id: u64, title: &str) -> bool {
        let mut state = self.state();
        match state
            .meetings
            .iter_mut()
            .find(|m| m.recording_id == recording_id)
        {
            Some(meeting) => {
                meeting.title = title.to_owned();
                true
            }
            None => false,
        }
    }

    /// Every meeting, in the order added.
    pub fn meetings(&self) -> Vec<FakeMeeting> {
        self.state().meetings.clone()
    }

    /// The JSON of a meeting with everything included: the body of a webhook delivery.
    pub fn meeting_payload(&self, recording_id: u64) -> Option<serde_json::Value> {
        let state = self.state();
        let meeting = state
            .meetings
            .iter()
            .find(|m| m.recording_id == recording_id)?;
        Some(meeting.to_json(Includes::ALL))
    }

    /// Webhooks registered and not deleted.
    pub fn webhooks(&self) -> Vec<FakeWebhook> {
        self.state().webhooks.clone()
    }

    /// The next `n` authenticated requests (API or token) answer `status`.
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut state = self.state();
        state.faults.fail_next = n;
        state.faults.fail_status = status;
    }

    /// The next `n` requests answer 429 with `Retry-After: retry_after`, whatever the budget.
    pub fn throttle_next(&self, n: u32, retry_after: Duration) {
        let mut state = self.state();
        state.faults.throttle_next = n;
        state.faults.throttle_for = retry_after;
    }

    /// Every request waits this long before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.state().faults.latency = latency;
    }

    /// The next `n` requests wait `latency` before they are handled.
    pub fn slow_next(&self, n: u32, latency: Duration) {
        let mut state = self.state();
        state.faults.slow_next = n;
        state.faults.slow_for = latency;
    }

    /// This recording's transcript answers 500 from now on.
    pub fn fail_recording(&self, recording_id: u64) {
        self.state().faults.failing_recordings.insert(recording_id);
    }

    /// List calls after the next `n` wait until `release_held_calls` (a worker stuck mid-sync).
    pub fn hold_list_calls_after(&self, n: u32) {
        self.shared.released.send_replace(false);
        self.state().faults.hold_lists_after = Some(n);
    }

    /// Lets held list calls (and later ones) through.
    pub fn release_held_calls(&self) {
        self.state().faults.hold_lists_after = None;
        self.shared.released.send_replace(true);
    }

    /// This recording's transcript answers normally again.
    pub fn heal_recording(&self, recording_id: u64) {
        self.state().faults.failing_recordings.remove(&recording_id);
    }

    /// Changes the budgets per window, as Fathom may lower the heavy one under load.
    pub fn set_limits(&self, overall: u32, heavy: u32) {
        let mut state = self.state();
        state.overall_limit = overall;
        state.heavy_limit = heavy;
    }

    pub fn calls(&self) -> FakeFathomCalls {
        self.state().calls.clone()
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }
}
