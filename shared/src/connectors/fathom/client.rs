//! Calls to the Fathom External API: meetings, transcripts, summaries, webhooks.

use super::super::rate_limit::{RateLimiterRegistry, RequestClass};
use super::super::transport::{provider_message, send, Answer, RetryPolicy};
use super::credential::{header, limiter_key, FathomCredential};
use super::error::FathomError;
use super::normalize::normalize;
use super::wire::{
    decode, decode_secret, parse_meetings_page, Meeting, MeetingsPage, Summary, SummaryResponse,
    TranscriptItem, TranscriptResponse, WebhookResponse,
};
use crate::crypto::SecretString;
use crate::domain::MeetingContent;
use chrono::{DateTime, SecondsFormat, Utc};
use http::StatusCode;
use reqwest::Method;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Timeouts of the HTTP client the Fathom calls share.
#[derive(Debug, Clone, Copy)]
pub struct HttpTimeouts {
    /// Whole request, body included.
    pub request: Duration,
    pub connect: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            request: Duration::from_secs(30),
            connect: Duration::from_secs(5),
        }
    }
}

/// The HTTP client to build once per process: bounded timeouts, and redirects not followed
/// (a redirect from an API call is an error to see, not a hop to take with credentials).
pub fn build_http_client(timeouts: HttpTimeouts) -> Result<reqwest::Client, FathomError> {
    reqwest::Client::builder()
        .timeout(timeouts.request)
        .connect_timeout(timeouts.connect)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("callsync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| FathomError::InvalidRequest("the HTTP client could not be built".into()))
}

/// What to list. Dates filter on `created_at`; the include flags ask for content inline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListMeetingsQuery {
    pub cursor: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Recorders' emails, sent as repeated `recorded_by[]`.
    pub recorded_by: Vec<String>,
    /// Ignored for OAuth credentials, which may not ask for it (see `fetch_meeting_content`).
    pub include_transcript: bool,
    /// Ignored for OAuth credentials, which may not ask for it (see `fetch_meeting_content`).
    pub include_summary: bool,
    pub include_action_items: bool,
}

impl ListMeetingsQuery {
    /// Everything a sync needs, in as few calls as the credential allows.
    pub fn with_content() -> Self {
        ListMeetingsQuery {
            include_transcript: true,
            include_summary: true,
            include_action_items: true,
            ..ListMeetingsQuery::default()
        }
    }
}

/// Which recordings a webhook fires for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggeredFor {
    MyRecordings,
    SharedExternalRecordings,
    MySharedWithTeamRecordings,
    SharedTeamRecordings,
}

/// A registered webhook: store both, Fathom cannot show them again.
#[derive(Debug, Clone)]
pub struct CreatedWebhook {
    pub id: String,
    /// `whsec_...`, the key deliveries are signed with.
    pub secret: SecretString,
    pub url: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct NewWebhook<'a> {
    destination_url: &'a str,
    triggered_for: &'a [TriggeredFor],
    include_transcript: bool,
    include_summary: bool,
    include_action_items: bool,
    include_crm_matches: bool,
}

/// A Fathom API client. Cheap to clone; clones share the HTTP client and the rate limiters.
#[derive(Debug, Clone)]
pub struct FathomClient {
    api_base: Url,
    http: reqwest::Client,
    limits: Arc<RateLimiterRegistry>,
    retry: RetryPolicy,
}

impl FathomClient {
    pub fn new(api_base: Url, http: reqwest::Client, limits: Arc<RateLimiterRegistry>) -> Self {
        FathomClient {
            api_base,
            http,
            limits,
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// One page of meetings, newest first. For OAuth credentials `include_transcript` and
    /// `include_summary` are left out, as Fathom refuses them.
    pub async fn list_meetings(
        &self,
        credential: &FathomCredential,
        query: &ListMeetingsQuery,
    ) -> Result<MeetingsPage, FathomError> {
        let mut url = self.endpoint(&["meetings"])?;
        let include_transcript = query.include_transcript && !credential.is_oauth();
        let include_summary = query.include_summary && !credential.is_oauth();
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(cursor) = &query.cursor {
            params.push(("cursor", cursor.clone()));
        }
        if let Some(after) = query.created_after {
            params.push(("created_after", iso8601(after)));
        }
        if let Some(before) = query.created_before {
            params.push(("created_before", iso8601(before)));
        }
        for email in &query.recorded_by {
            params.push(("recorded_by[]", email.clone()));
        }
        for (flag, on) in [
            ("include_transcript", include_transcript),
            ("include_summary", include_summary),
            ("include_action_items", query.include_action_items),
        ] {
            if on {
                params.push((flag, "true".into()));
            }
        }
        if !params.is_empty() {
            // Form encoding escapes what an opaque cursor may hold (`+`, `/`, `=`).
            url.query_pairs_mut().extend_pairs(params);
        }
        let class = if include_transcript || include_summary {
            RequestClass::Heavy
        } else {
            RequestClass::Light
        };
        let answer = self.call(credential, Method::GET, url, class, None).await?;
        parse_meetings_page(&answer.body)
    }

    pub async fn transcript(
        &self,
        credential: &FathomCredential,
        recording_id: u64,
    ) -> Result<Vec<TranscriptItem>, FathomError> {
        let url = self.endpoint(&["recordings", &recording_id.to_string(), "transcript"])?;
        let answer = self
            .call(credential, Method::GET, url, RequestClass::Heavy, None)
            .await?;
        let response: TranscriptResponse = decode("transcript", &answer.body)?;
        Ok(response.transcript)
    }

    pub async fn summary(
        &self,
        credential: &FathomCredential,
        recording_id: u64,
    ) -> Result<Option<Summary>, FathomError> {
        let url = self.endpoint(&["recordings", &recording_id.to_string(), "summary"])?;
        let answer = self
            .call(credential, Method::GET, url, RequestClass::Heavy, None)
            .await?;
        let response: SummaryResponse = decode("summary", &answer.body)?;
        Ok(response.summary)
    }

    /// The meeting's full content. What the meeting lacks (always the transcript and summary
    /// for OAuth listings, nothing for an API-key listing with content included, whatever a
    /// webhook left out) is fetched from the recording endpoints, concurrently.
    pub async fn fetch_meeting_content(
        &self,
        credential: &FathomCredential,
        meeting: &Meeting,
    ) -> Result<MeetingContent, FathomError> {
        let id = meeting.recording_id;
        let transcript = async {
            match &meeting.transcript {
                Some(_) => Ok(None),
                None => self.transcript(credential, id).await.map(Some),
            }
        };
        let summary = async {
            match &meeting.default_summary {
                Some(_) => Ok(None),
                None => self.summary(credential, id).await.map(Some),
            }
        };
        let (transcript, summary) = futures::try_join!(transcript, summary)?;
        let mut full = meeting.clone();
        if let Some(transcript) = transcript {
            full.transcript = Some(transcript);
        }
        if let Some(summary) = summary {
            full.default_summary = summary;
        }
        normalize(&full)
    }

    /// Registers a webhook for `destination_url` that includes transcript, summary and action
    /// items in its deliveries.
    pub async fn create_webhook(
        &self,
        credential: &FathomCredential,
        destination_url: &Url,
        triggered_for: &[TriggeredFor],
    ) -> Result<CreatedWebhook, FathomError> {
        let body = serde_json::to_vec(&NewWebhook {
            destination_url: destination_url.as_str(),
            triggered_for,
            include_transcript: true,
            include_summary: true,
            include_action_items: true,
            include_crm_matches: false,
        })
        .map_err(|_| {
            FathomError::InvalidRequest("the webhook request could not be encoded".into())
        })?;
        let url = self.endpoint(&["webhooks"])?;
        let answer = self
            .call(
                credential,
                Method::POST,
                url,
                RequestClass::Light,
                Some(body),
            )
            .await?;
        let created: WebhookResponse = decode_secret("webhook registration", &answer.body)?;
        Ok(CreatedWebhook {
            id: created.id,
            secret: SecretString::new(created.secret),
            url: created.url,
            created_at: created.created_at,
        })
    }

    /// Removes a webhook. One that no longer exists counts as removed.
    pub async fn delete_webhook(
        &self,
        credential: &FathomCredential,
        id: &str,
    ) -> Result<(), FathomError> {
        let url = self.endpoint(&["webhooks", id])?;
        match self
            .call(credential, Method::DELETE, url, RequestClass::Light, None)
            .await
        {
            Ok(_) | Err(FathomError::Provider { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn endpoint(&self, segments: &[&str]) -> Result<Url, FathomError> {
        let mut url = self.api_base.clone();
        url.path_segments_mut()
            .map_err(|_| FathomError::InvalidRequest("the API base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Sends with pacing and retries; a 2xx comes back, anything else becomes an error.
    async fn call(
        &self,
        credential: &FathomCredential,
        method: Method,
        url: Url,
        class: RequestClass,
        json_body: Option<Vec<u8>>,
    ) -> Result<Answer, FathomError> {
        let (auth_name, auth_value) = header(credential)?;
        let limiter = self.limits.limiter(limiter_key(credential));
        let answer = send(&limiter, class, &self.retry, || {
            let request = self
                .http
                .request(method.clone(), url.clone())
                .header(auth_name.clone(), auth_value.clone())
                .header(http::header::ACCEPT, "application/json");
            match &json_body {
                Some(body) => request
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body.clone()),
                None => request,
            }
        })
        .await?;
        match answer.status {
            status if status.is_success() => Ok(answer),
            StatusCode::UNAUTHORIZED => Err(FathomError::Unauthorized),
            status => Err(FathomError::Provider {
                status: status.as_u16(),
                message: provider_message(&answer.body),
            }),
        }
    }
}

/// ISO-8601 in UTC, with as many fractional digits as the instant has, so a filter at a
/// watermark neither skips nor repeats a meeting because of rounding.
fn iso8601(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
