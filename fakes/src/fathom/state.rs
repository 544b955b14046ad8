//! The fake's state: accounts and their credentials, meetings, webhooks, OAuth grants, rate
//! limit windows, injected faults, and what was called.

use super::limits::{Class, Decision, Limits, Quota, RateLimits};
use super::meetings::{generate, FakeMeeting, FakePerson, Seed};
use super::FakeFathomOptions;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration as TimeDelta, TimeZone, Utc};
use rand::distr::Alphanumeric;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// A Fathom user. Their API key and OAuth tokens see the meetings they own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeAccount {
    pub id: u64,
    pub person: FakePerson,
    pub api_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeTokens {
    pub access_token: String,
    pub refresh_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeWebhook {
    pub id: String,
    pub account: u64,
    pub destination_url: String,
    pub triggered_for: Vec<String>,
    pub include_transcript: bool,
    pub include_summary: bool,
    pub include_action_items: bool,
    pub include_crm_matches: bool,
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

/// Requests received, by endpoint, and what the fake answered that tests care about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeFathomCalls {
    pub list_meetings: u32,
    pub transcript: u32,
    pub summary: u32,
    pub create_webhook: u32,
    pub delete_webhook: u32,
    pub authorize: u32,
    pub token_authorization_code: u32,
    pub token_refresh: u32,
    /// 429 answers sent.
    pub rate_limited: u32,
    /// 401 answers sent.
    pub unauthorized: u32,
    /// Answers replaced by `fail_next` or `fail_recording`.
    pub injected_failures: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    None,
    ApiKey,
    Bearer,
}

/// One request as received, for assertions on what a client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, still URL-encoded.
    pub query: Option<String>,
    pub auth: AuthKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    ListMeetings,
    Transcript,
    Summary,
    CreateWebhook,
    DeleteWebhook,
    Authorize,
    Token,
}

/// Who a request is from.
pub(crate) struct Caller {
    pub account: u64,
    pub oauth: bool,
    /// Rate limits are kept per API key, and per account for OAuth tokens (so a refresh does
    /// not reset them).
    pub limit_key: String,
}

struct AccessToken {
    account: u64,
    expires_at: Instant,
}

struct RefreshToken {
    account: u64,
    used: bool,
}

pub(crate) struct Code {
    pub account: u64,
    pub redirect_uri: String,
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
    pub failing_recordings: HashSet<u64>,
    /// List calls still let through before the rest are held.
    pub hold_lists_after: Option<u32>,
}

pub(crate) struct State {
    pub accounts: Vec<FakeAccount>,
    pub signed_in: Option<u64>,
    pub meetings: Vec<FakeMeeting>,
    pub webhooks: Vec<FakeWebhook>,
    pub codes: HashMap<String, Code>,
    pub overall_limit: u32,
    pub heavy_limit: u32,
    pub faults: Faults,
    pub calls: FakeFathomCalls,
    pub requests: Vec<RecordedRequest>,
    access_tokens: HashMap<String, AccessToken>,
    refresh_tokens: HashMap<String, RefreshToken>,
    limits: RateLimits,
    meetings_per_account: HashMap<u64, u64>,
    next_recording_id: u64,
    next_call_number: u64,
    next_slot: DateTime<Utc>,
    pub rng: StdRng,
}

pub(crate) fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": code, "message": message}))).into_response()
}

impl State {
    pub fn new(options: &FakeFathomOptions) -> Self {
        State {
            accounts: Vec::new(),
            signed_in: None,
            meetings: Vec::new(),
            webhooks: Vec::new(),
            codes: HashMap::new(),
            overall_limit: options.overall_limit,
            heavy_limit: options.heavy_limit,
            faults: Faults::default(),
            calls: FakeFathomCalls::default(),
            requests: Vec::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            limits: RateLimits::default(),
            meetings_per_account: HashMap::new(),
            next_recording_id: 118_734_002,
            next_call_number: 40_210_117,
            next_slot: Utc
                .with_ymd_and_hms(2025, 1, 6, 9, 0, 0)
                .single()
                .unwrap_or_default(),
            rng: StdRng::seed_from_u64(options.seed),
        }
    }

    pub fn random_token(&mut self, prefix: &str, len: usize) -> String {
        let body: String = (0..len)
            .map(|_| char::from(self.rng.sample(Alphanumeric)))
            .collect();
        format!("{prefix}{body}")
    }

    pub fn add_account(&mut self, name: &str, email: &str) -> FakeAccount {
        let account = FakeAccount {
            id: self.accounts.len() as u64 + 1,
            person: FakePerson {
                name: name.to_owned(),
                email: email.to_owned(),
            },
            api_key: self.random_token("fk_", 32),
        };
        self.accounts.push(account.clone());
        account
    }

    pub fn issue_tokens(&mut self, account: u64, lifetime: Duration) -> FakeTokens {
        let tokens = FakeTokens {
            access_token: self.random_token("fat_", 40),
            refresh_token: self.random_token("frt_", 40),
        };
        self.access_tokens.insert(
            tokens.access_token.clone(),
            AccessToken {
                account,
                expires_at: Instant::now() + lifetime,
            },
        );
        self.refresh_tokens.insert(
            tokens.refresh_token.clone(),
            RefreshToken {
                account,
                used: false,
            },
        );
        tokens
    }

    /// Spends a refresh token: its account the first time, `None` ever after.
    pub fn redeem_refresh_token(&mut self, token: &str) -> Option<u64> {
        let entry = self.refresh_tokens.get_mut(token)?;
        if entry.used {
            return None;
        }
        entry.used = true;
        Some(entry.account)
    }

    pub fn add_meeting(&mut self, owner: u64) -> Option<FakeMeeting> {
        let owner_person = self.accounts.iter().find(|a| a.id == owner)?.person.clone();
        let sequence = self.meetings_per_account.entry(owner).or_insert(0);
        let seed = Seed {
            owner,
            owner_person,
            recording_id: self.next_recording_id,
            call_number: self.next_call_number,
            scheduled_start: self.next_slot,
            sequence: *sequence,
        };
        *sequence += 1;
        self.next_recording_id += self.rng.random_range(1..40);
        self.next_call_number += self.rng.random_range(1..900);
        self.next_slot += TimeDelta::minutes(137);
        let meeting = generate(seed, &mut self.rng);
        self.meetings.push(meeting.clone());
        Some(meeting)
    }

    /// Whether this list call must wait for the gate.
    pub fn held(&mut self, endpoint: Endpoint) -> bool {
        match (endpoint, self.faults.hold_lists_after.as_mut()) {
            (Endpoint::ListMeetings, Some(0)) => true,
            (Endpoint::ListMeetings, Some(n)) => {
                *n -= 1;
                false
            }
            _ => false,
        }
    }

    pub fn record(&mut self, endpoint: Endpoint, request: RecordedRequest) -> Duration {
        let calls = &mut self.calls;
        match endpoint {
            Endpoint::ListMeetings => calls.list_meetings += 1,
            Endpoint::Transcript => calls.transcript += 1,
            Endpoint::Summary => calls.summary += 1,
            Endpoint::CreateWebhook => calls.create_webhook += 1,
            Endpoint::DeleteWebhook => calls.delete_webhook += 1,
            Endpoint::Authorize => calls.authorize += 1,
            Endpoint::Token => {}
        }
        self.requests.push(request);
        let mut delay = self.faults.latency;
        if self.faults.slow_next > 0 {
            self.faults.slow_next -= 1;
            delay = delay.max(self.faults.slow_for);
        }
        delay
    }

    pub fn authenticate(&mut self, headers: &HeaderMap) -> Result<Caller, Response> {
        if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
            if let Some(account) = self.accounts.iter().find(|a| a.api_key == key) {
                return Ok(Caller {
                    account: account.id,
                    oauth: false,
                    limit_key: format!("key:{key}"),
                });
            }
        } else if let Some(token) = bearer(headers) {
            if let Some(issued) = self.access_tokens.get(token) {
                if Instant::now() < issued.expires_at {
                    return Ok(Caller {
                        account: issued.account,
                        oauth: true,
                        limit_key: format!("oauth:{}", issued.account),
                    });
                }
            }
        }
        self.calls.unauthorized += 1;
        Err(error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing, unknown or expired API key or access token",
        ))
    }

    /// Rate limits and injected faults, in the order a real gateway meets them.
    pub fn gate(
        &mut self,
        options: &FakeFathomOptions,
        key: &str,
        class: Class,
        limit: Option<u32>,
    ) -> Result<Quota, Response> {
        let fractional = options.fractional_seconds;
        if self.faults.throttle_next > 0 {
            self.faults.throttle_next -= 1;
            let wait = self.faults.throttle_for;
            let quota = Quota {
                limit: self.overall_limit,
                remaining: 0,
                reset: wait,
            };
            return Err(self.too_many_requests(quota, wait, fractional));
        }
        let limits = Limits {
            overall: limit.unwrap_or(self.overall_limit),
            heavy: limit.unwrap_or(self.heavy_limit),
            window: options.rate_limit_window,
        };
        let quota = match self.limits.admit(key, class, &limits, Instant::now()) {
            Decision::Allowed(quota) => quota,
            Decision::Limited { quota, retry_after } => {
                return Err(self.too_many_requests(quota, retry_after, fractional));
            }
        };
        if self.faults.fail_next > 0 {
            self.faults.fail_next -= 1;
            self.calls.injected_failures += 1;
            let status = StatusCode::from_u16(self.faults.fail_status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let response = error_response(
                status,
                "injected_failure",
                "the fake was told to fail this request",
            );
            return Err(with_quota(response, &quota, fractional));
        }
        Ok(quota)
    }

    fn too_many_requests(&mut self, quota: Quota, wait: Duration, fractional: bool) -> Response {
        self.calls.rate_limited += 1;
        let mut response = with_quota(
            error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "rate limit exceeded",
            ),
            &quota,
            fractional,
        );
        if let Ok(value) = super::limits::seconds(wait, fractional).parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

pub(crate) fn with_quota(mut response: Response, quota: &Quota, fractional: bool) -> Response {
    super::limits::write_headers(response.headers_mut(), quota, fractional);
    response
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

pub(crate) fn auth_kind(headers: &HeaderMap) -> AuthKind {
    if headers.contains_key("x-api-key") {
        AuthKind::ApiKey
    } else if bearer(headers).is_some() {
        AuthKind::Bearer
    } else {
        AuthKind::None
    }
}
