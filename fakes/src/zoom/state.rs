//! The fake's state: users and their credentials, meetings, OAuth grants, page tokens, rate
//! limit windows, injected faults, and what was called.

use super::limits::{self, Category, RateWindows, ZoomRateLimits};
use super::meetings::{generate, FakeZoomMeeting};
use super::pages::Pages;
use super::FakeZoomOptions;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use rand::distr::Alphanumeric;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A Zoom user, alone in their own Zoom account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeZoomAccount {
    /// The user id (`host_id` of their meetings, `user_id` in events).
    pub id: String,
    /// The Zoom account the user belongs to; rate limits are kept per account.
    pub account_id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// Personal meeting id.
    pub pmi: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeZoomTokens {
    pub access_token: String,
    pub refresh_token: String,
}

/// One call to `GET /users/me/recordings`, with its query values as sent (decoded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListCall {
    pub from: Option<String>,
    pub to: Option<String>,
    pub page_size: Option<String>,
    pub next_page_token: Option<String>,
}

/// Requests received, by endpoint, and what the fake answered that tests care about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeZoomCalls {
    pub authorize: u32,
    /// Token requests by `grant_type`, counted whether they succeed or not.
    pub token_authorization_code: u32,
    pub token_refresh: u32,
    /// Token requests with another or no `grant_type`.
    pub token_other: u32,
    /// Token requests whose body carried `client_id` or `client_secret` (Zoom wants HTTP Basic).
    pub token_body_credentials: u32,
    pub revoke: u32,
    pub users_me: u32,
    pub list_recordings: Vec<ListCall>,
    pub meeting_recordings: u32,
    /// Requests to `/rec/download/{file_id}`.
    pub downloads: u32,
    /// Of those, the ones authenticated by a webhook's download token.
    pub downloads_with_download_token: u32,
    /// Requests the file host received.
    pub file_host: u32,
    /// Of those, the ones carrying an `Authorization` header (which should never reach it).
    pub file_host_with_authorization: u32,
    /// 429 answers sent.
    pub rate_limited: u32,
    /// 401 answers sent.
    pub unauthorized: u32,
    /// Answers replaced by `fail_next`.
    pub injected_failures: u32,
}

/// How a request authenticated, as far as its headers and query tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    None,
    Basic,
    Bearer,
    /// `?access_token=` on a download.
    DownloadToken,
}

/// One request as received, for assertions on what a client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path as sent, still percent-encoded.
    pub path: String,
    /// The raw query string, with the values of `access_token` and `token` replaced by `***`.
    pub query: Option<String>,
    pub auth: AuthKind,
}

/// Who a request is from.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user: String,
    pub account_id: String,
}

struct AccessToken {
    user: String,
    grant: u64,
    expires_at: Instant,
}

struct RefreshToken {
    user: String,
    grant: u64,
    used: bool,
}

struct DownloadToken {
    user: String,
    expires_at: Instant,
}

pub(crate) struct Code {
    pub user: String,
    pub redirect_uri: String,
    /// `(method, challenge)` when the authorization used PKCE.
    pub challenge: Option<(String, String)>,
    pub expires_at: Instant,
}

#[derive(Default)]
pub(crate) struct Faults {
    pub fail_next: u32,
    pub fail_status: u16,
    pub throttle_next: u32,
    pub throttle_for: Duration,
    pub slow_next: u32,
    pub slow_for: Duration,
    pub latency: Duration,
}

pub(crate) struct State {
    pub accounts: Vec<FakeZoomAccount>,
    pub signed_in: Option<String>,
    pub meetings: Vec<FakeZoomMeeting>,
    pub codes: HashMap<String, Code>,
    pub pages: Pages,
    pub rate_limits: ZoomRateLimits,
    pub faults: Faults,
    pub calls: FakeZoomCalls,
    pub requests: Vec<RecordedRequest>,
    access_tokens: HashMap<String, AccessToken>,
    refresh_tokens: HashMap<String, RefreshToken>,
    download_tokens: HashMap<String, DownloadToken>,
    windows: RateWindows,
    next_grant: u64,
    meetings_added: u64,
    pub rng: StdRng,
}

/// Zoom's API error body.
pub(crate) fn zoom_error(status: StatusCode, code: u32, message: &str) -> Response {
    (status, Json(json!({"code": code, "message": message}))).into_response()
}

pub(crate) fn invalid_token() -> Response {
    zoom_error(StatusCode::UNAUTHORIZED, 124, "Invalid access token.")
}

impl State {
    pub fn new(options: &FakeZoomOptions) -> Self {
        State {
            accounts: Vec::new(),
            signed_in: None,
            meetings: Vec::new(),
            codes: HashMap::new(),
            pages: Pages::default(),
            rate_limits: options.rate_limits,
            faults: Faults::default(),
            calls: FakeZoomCalls::default(),
            requests: Vec::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            download_tokens: HashMap::new(),
            windows: RateWindows::default(),
            next_grant: 1,
            meetings_added: 0,
            rng: StdRng::seed_from_u64(options.seed),
        }
    }

    pub fn random_token(&mut self, prefix: &str, len: usize) -> String {
        let body: String = (0..len)
            .map(|_| char::from(self.rng.sample(Alphanumeric)))
            .collect();
        format!("{prefix}{body}")
    }

    pub fn add_account(&mut self, first: &str, last: &str, email: &str) -> FakeZoomAccount {
        let account = FakeZoomAccount {
            id: self.random_token("", 22),
            account_id: self.random_token("", 22),
            email: email.to_owned(),
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            pmi: self.rng.random_range(2_000_000_000..9_999_999_999),
        };
        self.accounts.push(account.clone());
        account
    }

    pub fn account(&self, user: &str) -> Option<&FakeZoomAccount> {
        self.accounts.iter().find(|a| a.id == user)
    }

    /// A new grant, as if `user` had just authorized the app.
    pub fn issue_tokens(&mut self, user: &str, lifetime: Duration) -> FakeZoomTokens {
        let grant = self.next_grant;
        self.next_grant += 1;
        self.issue_in_grant(user, grant, lifetime)
    }

    fn issue_in_grant(&mut self, user: &str, grant: u64, lifetime: Duration) -> FakeZoomTokens {
        let tokens = FakeZoomTokens {
            access_token: self.random_token("eyJzv2.", 120),
            refresh_token: self.random_token("eyJzr2.", 120),
        };
        self.access_tokens.insert(
            tokens.access_token.clone(),
            AccessToken {
                user: user.to_owned(),
                grant,
                expires_at: Instant::now() + lifetime,
            },
        );
        self.refresh_tokens.insert(
            tokens.refresh_token.clone(),
            RefreshToken {
                user: user.to_owned(),
                grant,
                used: false,
            },
        );
        tokens
    }

    /// Spends a refresh token for a new pair in the same grant; `None` when it is unknown or
    /// already spent.
    pub fn refresh(&mut self, token: &str, lifetime: Duration) -> Option<FakeZoomTokens> {
        let entry = self.refresh_tokens.get_mut(token)?;
        if entry.used {
            return None;
        }
        entry.used = true;
        let (user, grant) = (entry.user.clone(), entry.grant);
        Some(self.issue_in_grant(&user, grant, lifetime))
    }

    /// Ends the grant `token` (an access or refresh token) belongs to, as Zoom removes the
    /// app's authorization; false when the token is unknown.
    pub fn revoke(&mut self, token: &str) -> bool {
        let grant = self
            .access_tokens
            .get(token)
            .map(|t| t.grant)
            .or_else(|| self.refresh_tokens.get(token).map(|t| t.grant));
        match grant {
            Some(grant) => {
                self.access_tokens.retain(|_, t| t.grant != grant);
                self.refresh_tokens.retain(|_, t| t.grant != grant);
                true
            }
            None => false,
        }
    }

    /// Ends every grant of `user`.
    pub fn revoke_user(&mut self, user: &str) {
        self.access_tokens.retain(|_, t| t.user != user);
        self.refresh_tokens.retain(|_, t| t.user != user);
        self.download_tokens.retain(|_, t| t.user != user);
    }

    pub fn expire_access_tokens(&mut self) {
        let now = Instant::now();
        for token in self.access_tokens.values_mut() {
            token.expires_at = now;
        }
    }

    pub fn issue_download_token(&mut self, user: &str, lifetime: Duration) -> String {
        let token = self.random_token("eyJzdl.", 160);
        self.download_tokens.insert(
            token.clone(),
            DownloadToken {
                user: user.to_owned(),
                expires_at: Instant::now() + lifetime,
            },
        );
        token
    }

    pub fn expire_download_tokens(&mut self) {
        let now = Instant::now();
        for token in self.download_tokens.values_mut() {
            token.expires_at = now;
        }
    }

    pub fn add_meeting(
        &mut self,
        host: &FakeZoomAccount,
        start_time: DateTime<Utc>,
        audio_seconds: u32,
    ) -> FakeZoomMeeting {
        let sequence = self.meetings_added;
        self.meetings_added += 1;
        let meeting = generate(host, start_time, sequence, audio_seconds, &mut self.rng);
        self.meetings.push(meeting.clone());
        meeting
    }

    pub fn meeting_mut(&mut self, uuid: &str) -> Option<&mut FakeZoomMeeting> {
        self.meetings.iter_mut().find(|m| m.uuid == uuid)
    }

    /// Stores the request; answers how long to wait before handling it.
    pub fn record(&mut self, request: RecordedRequest) -> Duration {
        self.requests.push(request);
        let mut delay = self.faults.latency;
        if self.faults.slow_next > 0 {
            self.faults.slow_next -= 1;
            delay = delay.max(self.faults.slow_for);
        }
        delay
    }

    fn caller(&self, user: &str) -> Option<Caller> {
        let account = self.account(user)?;
        Some(Caller {
            user: account.id.clone(),
            account_id: account.account_id.clone(),
        })
    }

    /// The user of a live access token.
    pub fn authenticate(&mut self, headers: &HeaderMap) -> Result<Caller, Response> {
        let caller = bearer(headers)
            .and_then(|token| self.access_tokens.get(token))
            .filter(|issued| Instant::now() < issued.expires_at)
            .map(|issued| issued.user.clone())
            .and_then(|user| self.caller(&user));
        caller.ok_or_else(|| {
            self.calls.unauthorized += 1;
            invalid_token()
        })
    }

    /// The user of a live download token.
    pub fn authenticate_download_token(&mut self, token: &str) -> Option<Caller> {
        let issued = self.download_tokens.get(token)?;
        if Instant::now() >= issued.expires_at {
            return None;
        }
        let user = issued.user.clone();
        self.caller(&user)
    }

    /// Injected throttling, the account's rate limit, then injected failures, in the order a
    /// real gateway meets them. `category` is `None` for requests without a rate limit here.
    pub fn gate(
        &mut self,
        options: &FakeZoomOptions,
        account_id: &str,
        category: Option<Category>,
    ) -> Result<(), Response> {
        let fractional = options.fractional_seconds;
        if self.faults.throttle_next > 0 {
            self.faults.throttle_next -= 1;
            let wait = self.faults.throttle_for;
            return Err(self.too_many_requests(
                category.unwrap_or(Category::Light),
                wait,
                fractional,
            ));
        }
        if let Some(category) = category {
            let budget = category.budget(&self.rate_limits);
            let admitted = self.windows.admit(
                account_id,
                category,
                budget,
                options.rate_limit_window,
                Instant::now(),
            );
            if let Err(wait) = admitted {
                return Err(self.too_many_requests(category, wait, fractional));
            }
        }
        if self.faults.fail_next > 0 {
            self.faults.fail_next -= 1;
            self.calls.injected_failures += 1;
            let status = StatusCode::from_u16(self.faults.fail_status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(zoom_error(
                status,
                u32::from(status.as_u16()),
                "The fake was told to fail this request.",
            ));
        }
        Ok(())
    }

    fn too_many_requests(
        &mut self,
        category: Category,
        wait: Duration,
        fractional: bool,
    ) -> Response {
        self.calls.rate_limited += 1;
        let mut response = zoom_error(
            StatusCode::TOO_MANY_REQUESTS,
            429,
            "You have reached the maximum per-second rate limit for this API. Try again later.",
        );
        let headers = response.headers_mut();
        if let Ok(value) = limits::seconds(wait, fractional).parse() {
            headers.insert(header::RETRY_AFTER, value);
        }
        headers.insert(
            "x-ratelimit-category",
            HeaderValue::from_static(category.name()),
        );
        headers.insert("x-ratelimit-type", HeaderValue::from_static("QPS"));
        response
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

pub(crate) fn auth_kind(headers: &HeaderMap, query: Option<&str>) -> AuthKind {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if authorization.starts_with("Basic ") {
        AuthKind::Basic
    } else if bearer(headers).is_some() {
        AuthKind::Bearer
    } else if query.is_some_and(|q| q.split('&').any(|p| p.starts_with("access_token="))) {
        AuthKind::DownloadToken
    } else {
        AuthKind::None
    }
}

/// The query with secret values masked.
pub(crate) fn redact(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name @ ("access_token" | "token"), _)) => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}
