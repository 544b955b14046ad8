//! Sources as plug-ins. Everything that differs between providers sits behind `Connector`,
//! one implementation per folder (`fathom/`, `zoom/`), registered in `Registry` by `Source`;
//! the pipeline, the functions and the dev server name no provider. Uploads need no
//! connection: `upload/` is the transcription engine every source can use.
//!
//! Adding a source: a folder implementing `Connector`, one line in `Registry::new`, its
//! settings and secrets, its routes in the template, and its fake in `fakes/`.

pub mod error;
pub mod fathom;
pub mod oauth;
pub mod rate_limit;
mod registry;
pub mod transport;
pub mod upload;
pub mod zoom;

pub use error::ConnectorError;
pub use registry::Registry;

use crate::crypto::SecretString;
use crate::domain::{ExternalId, MeetingContent, Source};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use oauth::OAuthClient;
use url::Url;

/// How a request proves who it is for. `Debug` prints only the kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A personal API key, sent the way the provider wants it.
    ApiKey(SecretString),
    /// An OAuth access token, sent as `Authorization: Bearer`.
    Bearer(SecretString),
}

impl Credential {
    pub fn is_oauth(&self) -> bool {
        matches!(self, Credential::Bearer(_))
    }

    /// The bearer header, marked sensitive so HTTP logging skips it.
    pub fn bearer_header(
        token: &SecretString,
    ) -> Result<(HeaderName, HeaderValue), ConnectorError> {
        sensitive(AUTHORIZATION, &format!("Bearer {}", token.expose()))
    }
}

/// A header carrying a secret, marked sensitive; refused when a header cannot carry it.
pub fn sensitive(
    name: HeaderName,
    value: &str,
) -> Result<(HeaderName, HeaderValue), ConnectorError> {
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        ConnectorError::InvalidInput(
            "the credential contains characters a header cannot carry".into(),
        )
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

/// Who a connected account is, as far as the provider says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountIdentity {
    pub email: Option<String>,
    /// What the provider's app-level events name this account by: how such an event finds
    /// its connection.
    pub route_key: Option<String>,
}

/// What a listing is for: a sync wants content where the listing can carry it cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListPurpose {
    Sync,
    Browse,
}

/// One page of a provider's meetings to ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct ListRequest {
    /// Where the previous page ended (opaque, the connector's own); `None` to start.
    pub position: Option<String>,
    /// Meetings created in this window (the connector widens `None` to its defaults).
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub purpose: ListPurpose,
}

/// A meeting as a listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedMeeting {
    pub external_id: ExternalId,
    pub title: String,
    pub started_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    /// Who recorded or hosted it, when the provider says (an email).
    pub recorded_by: Option<String>,
    /// When the provider says it was created: what sync watermarks measure.
    pub created_at: DateTime<Utc>,
    /// Equal fingerprints, equal listing entries: an entry unchanged since its import is
    /// skipped without fetching.
    pub fingerprint: String,
    /// The entry as the connector reads it back to fetch the content.
    pub entry: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MeetingPage {
    pub items: Vec<ListedMeeting>,
    /// Entries that could not be read: their id, when readable, and why.
    pub undecodable: Vec<(Option<ExternalId>, String)>,
    /// Where the next page starts; `None` on the last page.
    pub next_position: Option<String>,
    /// Entries from this page's first to the listing's end, when the provider counts them:
    /// what lets a running sync show its total.
    pub remaining: Option<u64>,
}

/// A meeting's content, or what it needs to become one.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    Content(MeetingContent),
    /// No transcript at the provider: everything else, and the recording to transcribe.
    Media {
        content: MeetingContent,
        media: MediaRef,
    },
}

/// A recording's media file at the provider (the connector's own description of it).
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRef {
    pub entry: serde_json::Value,
    /// Bytes, when the provider says.
    pub size_bytes: Option<u64>,
    /// Which file this is at the provider: the same however the meeting was found (a listing,
    /// a webhook event), another for a new recording. A meeting's recording is transcribed
    /// once per file.
    pub file_version: String,
}

/// A media file's bytes as they arrive.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// A provider webhook registered for one connection: store both, most providers cannot show
/// the secret again.
#[derive(Debug, Clone)]
pub struct CreatedWebhook {
    pub id: String,
    pub secret: SecretString,
}

/// Why a verified delivery cannot be read; `code` is the error code the sender sees with a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub code: &'static str,
    pub message: String,
}

/// What a verified delivery asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    /// Answer at once with this JSON (an endpoint validation challenge); nothing is kept.
    Challenge(serde_json::Value),
    /// A meeting to import. `route` names whose it is when the endpoint does not.
    Meeting {
        route: Option<String>,
        external_id: Option<ExternalId>,
    },
    /// The account removed the app: disconnect the connections `route` names.
    Deauthorized { route: String },
    /// Nothing callsync acts on.
    Ignored { event: String },
}

/// Why a delivery was not verified; `code` is the error code the sender sees with a 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRefusal {
    pub code: &'static str,
    pub message: String,
    /// Signed too long ago or too far ahead (replay protection), rather than not signed.
    pub stale: bool,
}

/// The credential a delivery's import may need, asked for only when it is needed (a
/// delivery that carries everything costs no token refresh).
#[async_trait]
pub trait CredentialSource: Send + Sync {
    async fn credential(&self) -> Result<Credential, ConnectorError>;
}

/// Everything that differs between sources.
#[async_trait]
pub trait Connector: Send + Sync {
    fn source(&self) -> Source;

    /// The name people know the provider by ("Fathom").
    fn name(&self) -> &'static str;

    // --- Connecting ---

    /// The OAuth app, when one is configured.
    fn oauth(&self) -> Option<&OAuthClient>;

    /// Whether the authorization request carries a PKCE challenge.
    fn uses_pkce(&self) -> bool;

    /// What to set up when no OAuth app is configured.
    fn oauth_setup(&self) -> &'static str {
        "its OAuth app's client id and secret"
    }

    /// Whether the provider has personal API keys.
    fn accepts_api_key(&self) -> bool {
        false
    }

    /// Checks an API key with one cheap call: `NeedsReauth` when the provider refuses it.
    async fn check_api_key(&self, _key: &SecretString) -> Result<(), ConnectorError> {
        Err(ConnectorError::InvalidInput(format!(
            "{} does not take API keys",
            self.name()
        )))
    }

    /// The account a credential belongs to, when the provider can say.
    async fn identify(
        &self,
        _credential: &Credential,
    ) -> Result<Option<AccountIdentity>, ConnectorError> {
        Ok(None)
    }

    /// The account, learned from a page of its meetings (for providers with no "who am I").
    fn identify_from_page(&self, _page: &MeetingPage) -> Option<AccountIdentity> {
        None
    }

    /// Registers a webhook for one connection at `destination`, where the provider has an
    /// API for it; `None` where webhooks are configured for the whole app instead.
    async fn register_webhook(
        &self,
        _credential: &Credential,
        _destination: &Url,
    ) -> Result<Option<CreatedWebhook>, ConnectorError> {
        Ok(None)
    }

    /// Removes a registered webhook; one that no longer exists counts as removed.
    async fn delete_webhook(
        &self,
        _credential: &Credential,
        _id: &str,
    ) -> Result<(), ConnectorError> {
        Ok(())
    }

    // --- Importing ---

    /// One page of meetings.
    async fn list(
        &self,
        credential: &Credential,
        request: &ListRequest,
    ) -> Result<MeetingPage, ConnectorError>;

    /// A listed meeting's content, or its media to transcribe.
    async fn fetch(
        &self,
        credential: &Credential,
        meeting: &ListedMeeting,
    ) -> Result<Fetched, ConnectorError>;

    /// Streams a recording's media file.
    async fn download(
        &self,
        _credential: &Credential,
        _media: &MediaRef,
    ) -> Result<ByteStream, ConnectorError> {
        Err(ConnectorError::Permanent(format!(
            "{} recordings have no media to download",
            self.name()
        )))
    }

    // --- Webhooks ---

    /// Whether the provider sends webhooks callsync takes in.
    fn receives_webhooks(&self) -> bool {
        false
    }

    /// Checks a delivery's signature with `secret` (a connection's registered secret), or
    /// the app's own secret when `None`; the delivery's id (the same for every retry).
    fn verify_delivery(
        &self,
        _secret: Option<&SecretString>,
        _headers: &http::HeaderMap,
        _body: &[u8],
        _now: DateTime<Utc>,
    ) -> Result<String, WebhookRefusal> {
        Err(WebhookRefusal {
            code: "no_webhook",
            message: format!("{} deliveries are not received here", self.name()),
            stale: false,
        })
    }

    /// What a verified delivery asks for; `Err` when it is not one callsync can read.
    fn parse_delivery(&self, _body: &[u8]) -> Result<WebhookEvent, Unreadable> {
        Err(Unreadable {
            code: "invalid_payload",
            message: "no deliveries are expected from this source".into(),
        })
    }

    /// A stored delivery's meeting content (fetching what it lacks with the connection's
    /// credential, asked for only when needed).
    async fn delivered_content(
        &self,
        _body: &[u8],
        _credential: &dyn CredentialSource,
    ) -> Result<Fetched, ConnectorError> {
        Err(ConnectorError::Permanent(
            "no deliveries are expected from this source".into(),
        ))
    }
}
