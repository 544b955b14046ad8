//! Fathom on the connector interface: API keys and OAuth, listings by cursor within a
//! creation window, content inline for API keys and fetched per meeting for OAuth, a webhook
//! registered per connection (Standard Webhooks), and the app's own deliveries matched to an
//! account by the recorder's email.

use super::super::{
    AccountIdentity, Connector, ConnectorError, CreatedWebhook, Credential, CredentialSource,
    Fetched, ListPurpose, ListRequest, ListedMeeting, MeetingPage, Unreadable, WebhookEvent,
    WebhookRefusal,
};
use super::client::{FathomClient, ListMeetingsQuery, TriggeredFor};
use super::normalize::normalize;
use super::oauth::FathomOAuth;
use super::wire::{parse_webhook_meeting, Meeting};
use crate::crypto::SecretString;
use crate::domain::{hex_digest, ExternalId, Source};
use crate::webhook::{self as standard_webhooks, VerifyError, WebhookSecret};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::HashMap;
use url::Url;

const UNTITLED: &str = "Untitled meeting";

pub struct FathomConnector {
    pub client: FathomClient,
    /// Present when the OAuth app is configured (client id and secret).
    pub oauth: Option<FathomOAuth>,
    pub pkce: bool,
    /// The OAuth app's webhook secret, for app-level deliveries.
    pub app_webhook_secret: Option<WebhookSecret>,
}

impl FathomConnector {
    /// Fathom as configured: its API, its OAuth app when one is set up, its app secret.
    pub fn from_config(
        config: &crate::config::Config,
        secrets: &crate::secrets::Secrets,
        http: reqwest::Client,
    ) -> Self {
        use super::oauth::OAuthApp;
        use super::{budgets_per_window, documented_budgets, RateLimiterRegistry, RetryPolicy};
        // One registry per process, so every client of a credential shares its pacing.
        let budgets = match config.fathom_rate_window {
            None => documented_budgets(),
            Some(window) => budgets_per_window(60, 30, window),
        };
        let limits = std::sync::Arc::new(RateLimiterRegistry::new(budgets));
        let retry = RetryPolicy::default().with_first_delay(config.fathom_retry_base);
        let client = FathomClient::new(
            config.fathom_api_base_url.clone(),
            http.clone(),
            limits.clone(),
        )
        .with_retry_policy(retry);
        let oauth = match (&config.fathom_client_id, &secrets.fathom_client_secret) {
            (Some(client_id), Some(client_secret)) => Some(
                FathomOAuth::new(
                    OAuthApp {
                        oauth_base: config.fathom_oauth_base_url.clone(),
                        client_id: client_id.clone(),
                        client_secret: client_secret.clone(),
                    },
                    http,
                    limits,
                )
                .with_retry_policy(retry),
            ),
            _ => None,
        };
        FathomConnector {
            client,
            oauth,
            pkce: config.fathom_oauth_pkce,
            app_webhook_secret: secrets.fathom_webhook_secret.clone(),
        }
    }

    fn listed(meeting: &Meeting) -> Result<ListedMeeting, (Option<ExternalId>, String)> {
        let external_id = ExternalId::parse(&meeting.recording_id.to_string())
            .map_err(|e| (None, e.to_string()))?;
        let started_at = meeting
            .recording_start_time
            .or(meeting.scheduled_start_time);
        let ended_at = meeting.recording_end_time.or(meeting.scheduled_end_time);
        Ok(ListedMeeting {
            title: [&meeting.title, &meeting.meeting_title]
                .into_iter()
                .flatten()
                .map(|t| t.trim())
                .find(|t| !t.is_empty())
                .unwrap_or(UNTITLED)
                .to_owned(),
            started_at,
            duration_seconds: started_at
                .zip(ended_at)
                .map(|(s, e)| (e - s).num_milliseconds() as f64 / 1000.0),
            recorded_by: meeting.recorded_by.as_ref().and_then(|r| r.email.clone()),
            created_at: meeting.created_at,
            // The listing entry as Fathom sent it: equal entries need no second look.
            fingerprint: hex_digest(&serde_json::to_vec(meeting).unwrap_or_default()),
            entry: serde_json::to_value(meeting).unwrap_or_default(),
            external_id,
        })
    }
}

/// The app-level route of a recorder: their email, compared without case.
fn route_of(email: &str) -> String {
    email.trim().to_lowercase()
}

/// What the intake reads of a delivered meeting: enough to know it is one and whose it is.
/// The whole body is still parsed (so malformed JSON anywhere is refused), but the rest is
/// skipped, not built: the consumer reads the meeting in full.
#[derive(Deserialize)]
struct Envelope {
    recording_id: serde_json::Value,
    #[serde(default)]
    recorded_by: Option<Recorder>,
}

#[derive(Deserialize)]
struct Recorder {
    #[serde(default)]
    email: Option<String>,
}

/// A Standard Webhooks verification failure as the sender sees it.
fn refusal(error: VerifyError) -> WebhookRefusal {
    let code = match error {
        VerifyError::MissingHeader(_) => "missing_header",
        VerifyError::InvalidTimestamp => "invalid_timestamp",
        VerifyError::Stale => "stale_timestamp",
        VerifyError::Future => "future_timestamp",
        VerifyError::InvalidSignature | VerifyError::BadSecret => "invalid_signature",
    };
    WebhookRefusal {
        code,
        message: error.to_string(),
        stale: matches!(error, VerifyError::Stale | VerifyError::Future),
    }
}

#[async_trait]
impl Connector for FathomConnector {
    fn source(&self) -> Source {
        Source::Fathom
    }

    fn name(&self) -> &'static str {
        "Fathom"
    }

    fn oauth(&self) -> Option<&super::super::oauth::OAuthClient> {
        self.oauth.as_ref().map(FathomOAuth::client)
    }

    fn uses_pkce(&self) -> bool {
        self.pkce
    }

    fn oauth_setup(&self) -> &'static str {
        "set FATHOM_CLIENT_ID and FATHOM_CLIENT_SECRET"
    }

    fn accepts_api_key(&self) -> bool {
        true
    }

    async fn check_api_key(&self, key: &SecretString) -> Result<(), ConnectorError> {
        let probe = ListMeetingsQuery::default();
        self.client
            .list_meetings(&Credential::ApiKey(key.clone()), &probe)
            .await?;
        Ok(())
    }

    /// Fathom has no "who am I": the account is the recorder seen most on a page.
    fn identify_from_page(&self, page: &MeetingPage) -> Option<AccountIdentity> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for email in page.items.iter().filter_map(|m| m.recorded_by.as_ref()) {
            *counts.entry(route_of(email)).or_default() += 1;
        }
        let (email, _) = counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))?;
        Some(AccountIdentity {
            route_key: Some(email.clone()),
            email: Some(email),
        })
    }

    async fn register_webhook(
        &self,
        credential: &Credential,
        destination: &Url,
    ) -> Result<Option<CreatedWebhook>, ConnectorError> {
        let created = self
            .client
            .create_webhook(credential, destination, &[TriggeredFor::MyRecordings])
            .await?;
        Ok(Some(CreatedWebhook {
            id: created.id,
            secret: created.secret,
        }))
    }

    async fn delete_webhook(
        &self,
        credential: &Credential,
        id: &str,
    ) -> Result<(), ConnectorError> {
        Ok(self.client.delete_webhook(credential, id).await?)
    }

    async fn list(
        &self,
        credential: &Credential,
        request: &ListRequest,
    ) -> Result<MeetingPage, ConnectorError> {
        let base = match request.purpose {
            ListPurpose::Sync => ListMeetingsQuery::with_content(),
            ListPurpose::Browse => ListMeetingsQuery::default(),
        };
        let query = ListMeetingsQuery {
            cursor: request.position.clone(),
            created_after: request.created_after,
            created_before: request.created_before,
            ..base
        };
        let page = self.client.list_meetings(credential, &query).await?;
        let mut items = Vec::with_capacity(page.items.len());
        let mut undecodable: Vec<(Option<ExternalId>, String)> = page
            .undecodable
            .into_iter()
            .map(|odd| {
                let id = odd
                    .recording_id
                    .and_then(|id| ExternalId::parse(&id.to_string()).ok());
                (id, odd.reason)
            })
            .collect();
        for meeting in &page.items {
            match Self::listed(meeting) {
                Ok(listed) => items.push(listed),
                Err(odd) => undecodable.push(odd),
            }
        }
        Ok(MeetingPage {
            items,
            undecodable,
            next_position: page.next_cursor,
            // Fathom's listing does not count its meetings.
            remaining: None,
        })
    }

    async fn fetch(
        &self,
        credential: &Credential,
        meeting: &ListedMeeting,
    ) -> Result<Fetched, ConnectorError> {
        let meeting: Meeting = serde_json::from_value(meeting.entry.clone()).map_err(|e| {
            ConnectorError::Permanent(format!("a listed meeting could not be read back: {e}"))
        })?;
        Ok(Fetched::Content(
            self.client
                .fetch_meeting_content(credential, &meeting)
                .await?,
        ))
    }

    fn receives_webhooks(&self) -> bool {
        true
    }

    fn verify_delivery(
        &self,
        secret: Option<&SecretString>,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<String, WebhookRefusal> {
        let registered;
        let secret = match secret {
            Some(text) => {
                registered = WebhookSecret::parse(text.expose()).map_err(refusal)?;
                &registered
            }
            None => self.app_webhook_secret.as_ref().ok_or(WebhookRefusal {
                code: "no_webhook",
                message: "app-level deliveries are not configured here".into(),
                stale: false,
            })?,
        };
        standard_webhooks::verify(secret, headers, body, now)
            .map(|delivery| delivery.webhook_id)
            .map_err(refusal)
    }

    fn parse_delivery(&self, body: &[u8]) -> Result<WebhookEvent, Unreadable> {
        let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
            if e.is_data() {
                Unreadable {
                    code: "invalid_payload",
                    message: format!("the body is not a Fathom meeting: {e}"),
                }
            } else {
                Unreadable {
                    code: "invalid_json",
                    message: "the body is not JSON".into(),
                }
            }
        })?;
        let route = envelope
            .recorded_by
            .and_then(|r| r.email)
            .filter(|email| !email.trim().is_empty())
            .map(|email| route_of(&email));
        let external_id = match &envelope.recording_id {
            serde_json::Value::Number(n) => ExternalId::parse(&n.to_string()).ok(),
            serde_json::Value::String(s) => ExternalId::parse(s).ok(),
            _ => None,
        };
        Ok(WebhookEvent::Meeting { route, external_id })
    }

    async fn delivered_content(
        &self,
        body: &[u8],
        credential: &dyn CredentialSource,
    ) -> Result<Fetched, ConnectorError> {
        let meeting = parse_webhook_meeting(body).map_err(|e| {
            ConnectorError::Permanent(format!(
                "the delivery is not a meeting callsync can read ({e})"
            ))
        })?;
        // A delivery with transcript and summary needs no call (and no token refresh).
        if meeting.transcript.is_some() && meeting.default_summary.is_some() {
            return Ok(Fetched::Content(
                normalize(&meeting).map_err(|e| ConnectorError::Permanent(e.to_string()))?,
            ));
        }
        let credential = credential.credential().await?;
        Ok(Fetched::Content(
            self.client
                .fetch_meeting_content(&credential, &meeting)
                .await
                .map_err(ConnectorError::from)?,
        ))
    }
}
