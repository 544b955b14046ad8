//! Zoom on the connector interface: a user-managed OAuth app (PKCE, Basic client auth,
//! rotating refresh tokens), the account from `/users/me`, cloud recordings listed in date
//! windows of at most a month, newest first, transcripts from the `TRANSCRIPT` file (WebVTT)
//! or, without one, the audio to transcribe, and the app's event notifications (signed with
//! the app's secret token) found a connection by account and host.

use super::super::oauth::{ClientAuth, OAuthApp, OAuthClient};
use super::super::rate_limit::{BucketBudget, Budget, Budgets, RateLimiterRegistry, RequestClass};
use super::super::transport::RetryPolicy;
use super::super::{
    AccountIdentity, ByteStream, Connector, ConnectorError, Credential, CredentialSource, Fetched,
    ListRequest, ListedMeeting, MediaRef, MeetingPage, Unreadable, WebhookEvent, WebhookRefusal,
};
use super::client::{DownloadAuth, ZoomClient};
use super::webhook::{
    event_id, parse_event, url_validation_response, verify, ZoomEvent, ZoomSecretToken,
    ZoomVerifyError,
};
use super::windows::{windows, DateWindow};
use super::wire::{ZoomMeeting, ZoomRecordingFile};
use super::{normalize, parse_vtt};
use crate::crypto::SecretString;
use crate::domain::{hex_digest, ExternalId, Source};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Largest transcript file read (a day of speech is well under it).
const MAX_TRANSCRIPT_BYTES: usize = 20 * 1024 * 1024;

pub struct ZoomConnector {
    client: ZoomClient,
    oauth: Option<OAuthClient>,
    secret_token: Option<ZoomSecretToken>,
    backfill: chrono::Duration,
}

/// Where a listing is: the date windows it covers, which one, and the page within it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Position {
    windows: Vec<DateWindow>,
    window: usize,
    page_token: Option<String>,
    /// Entries listed on earlier pages of the current window.
    #[serde(default)]
    seen_in_window: u64,
}

/// What a media file needs to be downloaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MediaEntry {
    download_url: String,
    /// An event's download token, tried before the user's OAuth token.
    #[serde(default)]
    download_token: Option<String>,
}

impl ZoomConnector {
    /// Zoom as configured: its API, its OAuth app when one is set up, its secret token.
    pub fn from_config(
        config: &crate::config::Config,
        secrets: &crate::secrets::Secrets,
        http: reqwest::Client,
    ) -> Self {
        let settings = &config.zoom;
        let [light, medium, heavy] = settings.rate_per_second;
        let limits = Arc::new(RateLimiterRegistry::new(Budgets(vec![
            BucketBudget {
                budget: Budget::per_second(light),
                spent_by: &[RequestClass::Light],
            },
            BucketBudget {
                budget: Budget::per_second(medium),
                spent_by: &[RequestClass::Medium],
            },
            BucketBudget {
                budget: Budget::per_second(heavy),
                spent_by: &[RequestClass::Heavy],
            },
        ])));
        let retry = RetryPolicy::default().with_first_delay(settings.retry_base);
        let oauth = match (&settings.client_id, &secrets.zoom_client_secret) {
            (Some(client_id), Some(client_secret)) => Some(
                OAuthClient::new(
                    OAuthApp {
                        oauth_base: settings.oauth_base_url.clone(),
                        client_id: client_id.clone(),
                        client_secret: client_secret.clone(),
                        client_auth: ClientAuth::Basic,
                        scope: None,
                    },
                    http.clone(),
                    limits.clone(),
                )
                .with_retry_policy(retry),
            ),
            _ => None,
        };
        ZoomConnector {
            client: ZoomClient::new(settings.api_base_url.clone(), http, limits, retry),
            oauth,
            secret_token: secrets.zoom_webhook_secret_token.clone(),
            backfill: chrono::Duration::days(i64::from(settings.backfill_days)),
        }
    }

    /// The first position of a listing of meetings started in the request's window (back to
    /// the backfill horizon when it has no start).
    fn start(&self, request: &ListRequest) -> Position {
        let now = Utc::now();
        let until = request.created_before.unwrap_or(now);
        let since = request.created_after.unwrap_or(now - self.backfill);
        Position {
            windows: windows(since, until),
            window: 0,
            page_token: None,
            seen_in_window: 0,
        }
    }

    /// The meeting's transcript, from its VTT file.
    async fn transcript(
        &self,
        file: &ZoomRecordingFile,
        auth: &[DownloadAuth],
    ) -> Result<Vec<crate::domain::TranscriptSegment>, ConnectorError> {
        let url = file
            .download_url
            .as_deref()
            .ok_or_else(|| ConnectorError::Permanent("the transcript has no address".into()))?;
        let stream = self.download_with(url, auth).await?;
        let bytes: Vec<u8> = stream
            .try_fold(Vec::new(), |mut all, chunk| async move {
                if all.len() + chunk.len() > MAX_TRANSCRIPT_BYTES {
                    return Err(std::io::Error::other("the transcript file is too large"));
                }
                all.extend_from_slice(&chunk);
                Ok(all)
            })
            .await
            .map_err(|e| ConnectorError::Unavailable {
                provider: "Zoom",
                attempts: 1,
                reason: e.to_string(),
            })?;
        parse_vtt(&String::from_utf8_lossy(&bytes)).map_err(|e| {
            ConnectorError::Permanent(format!("the Zoom transcript could not be read: {e}"))
        })
    }

    /// Downloads with each way in turn: an event's download token expires (events arrive days
    /// late), the user's token is the fallback.
    async fn download_with(
        &self,
        url: &str,
        auth: &[DownloadAuth],
    ) -> Result<ByteStream, ConnectorError> {
        let mut last = ConnectorError::NeedsReauth("no credential to download with".into());
        for way in auth {
            match self.client.download(url, way).await {
                Ok(stream) => return Ok(stream),
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The meeting's content, or its audio to transcribe.
    async fn content(
        &self,
        meeting: &ZoomMeeting,
        auth: &[DownloadAuth],
        download_token: Option<&SecretString>,
    ) -> Result<Fetched, ConnectorError> {
        let permanent = |e: super::ZoomWireError| ConnectorError::Permanent(e.to_string());
        if let Some(file) = meeting.transcript_file() {
            let transcript = self.transcript(file, auth).await?;
            return Ok(Fetched::Content(
                normalize(meeting, transcript).map_err(permanent)?,
            ));
        }
        let Some(audio) = meeting.audio_file() else {
            return Err(ConnectorError::Permanent(
                "the Zoom recording has no transcript or audio file ready yet".into(),
            ));
        };
        // Events and listings carry the same file id; a file without one is known by its
        // address.
        let file_version = format!(
            "{}:{}",
            audio
                .id
                .as_deref()
                .or(audio.download_url.as_deref())
                .unwrap_or_default(),
            audio.file_size.unwrap_or_default()
        );
        let entry = MediaEntry {
            download_url: audio.download_url.clone().unwrap_or_default(),
            download_token: download_token.map(|t| t.expose().to_owned()),
        };
        Ok(Fetched::Media {
            content: normalize(meeting, Vec::new()).map_err(permanent)?,
            media: MediaRef {
                entry: serde_json::to_value(entry).unwrap_or_default(),
                size_bytes: audio.file_size,
                file_version,
            },
        })
    }

    fn listed(meeting: &ZoomMeeting) -> Result<ListedMeeting, (Option<ExternalId>, String)> {
        let external_id = ExternalId::parse(&meeting.uuid).map_err(|e| (None, e.to_string()))?;
        Ok(ListedMeeting {
            title: meeting
                .topic
                .clone()
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| "Zoom meeting".into()),
            started_at: Some(meeting.start_time),
            duration_seconds: meeting.duration.map(|m| f64::from(m) * 60.0),
            recorded_by: meeting.host_email.clone(),
            created_at: meeting.start_time,
            fingerprint: hex_digest(&serde_json::to_vec(meeting).unwrap_or_default()),
            entry: serde_json::to_value(meeting).unwrap_or_default(),
            external_id,
        })
    }
}

/// The route an event finds a connection by: the account and the user (the host).
fn route(account_id: &str, user_id: &str) -> String {
    format!("{account_id}:{user_id}")
}

fn bearer_of(credential: &Credential) -> Vec<DownloadAuth> {
    match credential {
        Credential::Bearer(token) => vec![DownloadAuth::Bearer(token.clone())],
        Credential::ApiKey(_) => Vec::new(),
    }
}

#[async_trait]
impl Connector for ZoomConnector {
    fn source(&self) -> Source {
        Source::Zoom
    }

    fn name(&self) -> &'static str {
        "Zoom"
    }

    fn oauth(&self) -> Option<&OAuthClient> {
        self.oauth.as_ref()
    }

    fn uses_pkce(&self) -> bool {
        true
    }

    fn oauth_setup(&self) -> &'static str {
        "set ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET"
    }

    async fn identify(
        &self,
        credential: &Credential,
    ) -> Result<Option<AccountIdentity>, ConnectorError> {
        let user = self.client.me(credential).await?;
        Ok(Some(AccountIdentity {
            email: user.email.clone(),
            route_key: user
                .account_id
                .as_deref()
                .map(|account| route(account, &user.id)),
        }))
    }

    async fn list(
        &self,
        credential: &Credential,
        request: &ListRequest,
    ) -> Result<MeetingPage, ConnectorError> {
        let mut position = match &request.position {
            Some(raw) => serde_json::from_str::<Position>(raw).map_err(|_| {
                ConnectorError::InvalidInput(
                    "the listing position is not one Zoom's listing made".into(),
                )
            })?,
            None => self.start(request),
        };
        let Some(window) = position.windows.get(position.window).cloned() else {
            return Ok(MeetingPage {
                items: Vec::new(),
                undecodable: Vec::new(),
                next_position: None,
                remaining: Some(0),
            });
        };
        let page = self
            .client
            .recordings(credential, &window, position.page_token.as_deref())
            .await?;
        let listed = (page.meetings.len() + page.undecodable.len()) as u64;
        let mut items = Vec::with_capacity(page.meetings.len());
        let mut undecodable: Vec<(Option<ExternalId>, String)> = page
            .undecodable
            .into_iter()
            .map(|odd| {
                let id = odd.uuid.and_then(|uuid| ExternalId::parse(&uuid).ok());
                (id, odd.reason)
            })
            .collect();
        for meeting in &page.meetings {
            match Self::listed(meeting) {
                Ok(listed) => items.push(listed),
                Err(odd) => undecodable.push(odd),
            }
        }
        // Zoom counts a window's recordings: in the listing's last window, that is its rest.
        let in_last_window = position.window + 1 == position.windows.len();
        let remaining = page
            .total_records
            .filter(|_| in_last_window)
            .map(|total| total.saturating_sub(position.seen_in_window));
        match page.next_page_token {
            Some(token) => {
                position.page_token = Some(token);
                position.seen_in_window += listed;
            }
            None => {
                position.window += 1;
                position.page_token = None;
                position.seen_in_window = 0;
            }
        }
        let next_position = (position.window < position.windows.len())
            .then(|| serde_json::to_string(&position).unwrap_or_default());
        Ok(MeetingPage {
            items,
            undecodable,
            next_position,
            remaining,
        })
    }

    async fn fetch(
        &self,
        credential: &Credential,
        meeting: &ListedMeeting,
    ) -> Result<Fetched, ConnectorError> {
        let meeting: ZoomMeeting = serde_json::from_value(meeting.entry.clone()).map_err(|e| {
            ConnectorError::Permanent(format!("a listed meeting could not be read back: {e}"))
        })?;
        self.content(&meeting, &bearer_of(credential), None).await
    }

    async fn download(
        &self,
        credential: &Credential,
        media: &MediaRef,
    ) -> Result<ByteStream, ConnectorError> {
        let entry: MediaEntry = serde_json::from_value(media.entry.clone())
            .map_err(|_| ConnectorError::Permanent("a media file could not be read back".into()))?;
        let mut ways = Vec::new();
        if let Some(token) = &entry.download_token {
            ways.push(DownloadAuth::DownloadToken(SecretString::new(
                token.clone(),
            )));
        }
        ways.extend(bearer_of(credential));
        self.download_with(&entry.download_url, &ways).await
    }

    fn receives_webhooks(&self) -> bool {
        true
    }

    /// Zoom's events are the app's own (one secret token per app): a per-connection secret
    /// does not exist.
    fn verify_delivery(
        &self,
        _secret: Option<&SecretString>,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<String, WebhookRefusal> {
        let secret = self.secret_token.as_ref().ok_or(WebhookRefusal {
            code: "no_webhook",
            message: "Zoom events are not configured here: set ZOOM_WEBHOOK_SECRET_TOKEN".into(),
            stale: false,
        })?;
        verify(secret, headers, body, now).map_err(|e| WebhookRefusal {
            code: match e {
                ZoomVerifyError::MissingHeader(_) => "missing_header",
                ZoomVerifyError::InvalidTimestamp => "invalid_timestamp",
                ZoomVerifyError::Stale => "stale_timestamp",
                ZoomVerifyError::Future => "future_timestamp",
                ZoomVerifyError::InvalidSignature | ZoomVerifyError::BadSecret => {
                    "invalid_signature"
                }
            },
            stale: matches!(e, ZoomVerifyError::Stale | ZoomVerifyError::Future),
            message: e.to_string(),
        })?;
        Ok(event_id(body))
    }

    fn parse_delivery(&self, body: &[u8]) -> Result<WebhookEvent, Unreadable> {
        let event = parse_event(body).map_err(|e| Unreadable {
            code: if serde_json::from_slice::<serde_json::Value>(body).is_ok() {
                "invalid_payload"
            } else {
                "invalid_json"
            },
            message: format!("the body is not a Zoom event callsync can read: {e}"),
        })?;
        Ok(match event {
            ZoomEvent::UrlValidation { plain_token } => match &self.secret_token {
                Some(secret) => {
                    WebhookEvent::Challenge(url_validation_response(secret, &plain_token))
                }
                None => WebhookEvent::Ignored {
                    event: "endpoint.url_validation".into(),
                },
            },
            ZoomEvent::RecordingCompleted {
                account_id,
                meeting,
                ..
            } => WebhookEvent::Meeting {
                route: meeting
                    .host_id
                    .as_deref()
                    .map(|host| route(&account_id, host)),
                external_id: ExternalId::parse(&meeting.uuid).ok(),
            },
            ZoomEvent::AppDeauthorized {
                account_id,
                user_id,
                ..
            } => WebhookEvent::Deauthorized {
                route: route(&account_id, &user_id),
            },
            ZoomEvent::Other { event } => WebhookEvent::Ignored { event },
        })
    }

    async fn delivered_content(
        &self,
        body: &[u8],
        credential: &dyn CredentialSource,
    ) -> Result<Fetched, ConnectorError> {
        let ZoomEvent::RecordingCompleted {
            meeting,
            download_token,
            ..
        } = parse_event(body).map_err(|e| ConnectorError::Permanent(e.to_string()))?
        else {
            return Err(ConnectorError::Permanent(
                "the delivery is not a recording event".into(),
            ));
        };
        let mut ways = Vec::new();
        if let Some(token) = &download_token {
            ways.push(DownloadAuth::DownloadToken(token.clone()));
        }
        // Only asked for when there is a file to fetch and no download token, or it failed.
        if meeting.transcript_file().is_some() {
            if let Ok(fetched) = self.content(&meeting, &ways, download_token.as_ref()).await {
                return Ok(fetched);
            }
            ways.extend(bearer_of(&credential.credential().await?));
        }
        self.content(&meeting, &ways, download_token.as_ref()).await
    }
}
