//! A usable credential for a connection, whatever its source: the OAuth access token,
//! refreshed about five minutes before it expires by exactly one worker at a time (refresh
//! tokens may be single-use and rotate), with the stored API key as the fallback. Secrets are
//! sealed for the connection and field they belong to.

use super::activity;
use super::connections::update_connection;
use crate::connectors::oauth::{OAuthError, TokenSet};
use crate::connectors::{Connector, ConnectorError, Credential};
use crate::crypto::{Sealed, SealingKey, SecretString};
use crate::domain::{ActivityAction, Connection, ConnectionId, ConnectionStatus, OAuthTokens};
use crate::services::Services;
use chrono::{DateTime, Duration as Span, Utc};
use std::time::Duration;

/// Refresh when the access token has less than this left.
pub const REFRESH_AHEAD: Span = Span::minutes(5);
/// How long a refreshing worker holds the refresh lease.
const REFRESH_LEASE: Span = Span::seconds(30);
/// How long a worker waits for another one's refresh before giving up for now.
const WAIT_FOR_OTHER_REFRESH: Duration = Duration::from_secs(35);
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Nothing stored can be used: the user must connect again.
    #[error("{0}")]
    NeedsReauth(String),
    /// Try again later (the token endpoint failed, or another worker's refresh is slow).
    #[error(transparent)]
    Transient(#[from] anyhow::Error),
}

impl From<CredentialError> for ConnectorError {
    fn from(error: CredentialError) -> Self {
        match error {
            CredentialError::NeedsReauth(reason) => ConnectorError::NeedsReauth(reason),
            CredentialError::Transient(e) => ConnectorError::Unavailable {
                provider: "the credential store",
                attempts: 1,
                reason: format!("{e:#}"),
            },
        }
    }
}

/// Which of a connection's secrets a sealed value is: sealed for it, it opens for it only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretField {
    AccessToken,
    RefreshToken,
    ApiKey,
    WebhookSecret,
}

fn context(connection: &ConnectionId, field: SecretField) -> String {
    let field = match field {
        SecretField::AccessToken => "oauth_access_token",
        SecretField::RefreshToken => "oauth_refresh_token",
        SecretField::ApiKey => "api_key",
        SecretField::WebhookSecret => "webhook_secret",
    };
    format!("connection:{connection}:{field}")
}

/// Seals one of a connection's secrets for storage.
pub fn seal(
    key: &SealingKey,
    connection: &ConnectionId,
    field: SecretField,
    value: &SecretString,
) -> Sealed {
    key.seal(value, &context(connection, field))
}

/// Opens one of a connection's stored secrets.
pub fn open(
    key: &SealingKey,
    connection: &ConnectionId,
    field: SecretField,
    sealed: &Sealed,
) -> Result<SecretString, CredentialError> {
    key.open(sealed, &context(connection, field))
        .map_err(|e| CredentialError::Transient(e.into()))
}

fn is_fresh(tokens: &OAuthTokens, now: DateTime<Utc>) -> bool {
    tokens
        .expires_at
        .is_none_or(|expires| expires - REFRESH_AHEAD > now)
}

/// Seals a token response for `connection`; the old refresh token is kept when none came back.
pub fn seal_tokens(
    key: &SealingKey,
    connection: &ConnectionId,
    tokens: &TokenSet,
    previous_refresh: Option<&Sealed>,
    now: DateTime<Utc>,
) -> OAuthTokens {
    OAuthTokens {
        access_token: seal(
            key,
            connection,
            SecretField::AccessToken,
            &tokens.access_token,
        ),
        refresh_token: tokens
            .refresh_token
            .as_ref()
            .map(|t| seal(key, connection, SecretField::RefreshToken, t))
            .or_else(|| previous_refresh.cloned()),
        expires_at: tokens.expires_at(now),
    }
}

/// The connector of a connection's source.
pub async fn connector_of<'a>(
    services: &'a Services,
    connection: &Connection,
) -> Result<&'a dyn Connector, CredentialError> {
    services
        .providers()
        .await?
        .connector(connection.source)
        .ok_or_else(|| {
            CredentialError::NeedsReauth(format!("{} cannot be connected here", connection.source))
        })
}

/// The credential to call the provider with for `connection_id`, refreshing the OAuth token
/// first when it is about to expire.
pub async fn credential(
    services: &Services,
    connection_id: &ConnectionId,
) -> Result<Credential, CredentialError> {
    let key = &services.secrets().await?.sealing_key;
    let connection = load(services, connection_id).await?;
    let Some(tokens) = &connection.credentials.oauth else {
        return api_key(key, &connection);
    };
    if is_fresh(tokens, services.clock.now()) {
        return bearer(key, &connection, tokens);
    }
    let owner = uuid::Uuid::new_v4().to_string();
    let lease = format!("refresh:{connection_id}");
    let started = tokio::time::Instant::now();
    loop {
        let now = services.clock.now();
        if services
            .leases
            .acquire(&lease, &owner, now + REFRESH_LEASE, now)
            .await?
        {
            let outcome = refresh_holding_lease(services, connection_id).await;
            services.leases.release(&lease, &owner).await?;
            return outcome;
        }
        // Another worker is refreshing: use its result once it is stored.
        tokio::time::sleep(POLL).await;
        let latest = load(services, connection_id).await?;
        match &latest.credentials.oauth {
            Some(tokens) if is_fresh(tokens, services.clock.now()) => {
                return bearer(key, &latest, tokens)
            }
            Some(_) => {}
            None => return api_key(key, &latest),
        }
        if started.elapsed() > WAIT_FOR_OTHER_REFRESH {
            return Err(anyhow::anyhow!(
                "another worker's token refresh for {connection_id} did not finish in time"
            )
            .into());
        }
    }
}

async fn load(services: &Services, id: &ConnectionId) -> Result<Connection, CredentialError> {
    services
        .connections
        .get(id)
        .await?
        .ok_or_else(|| CredentialError::NeedsReauth(format!("connection {id} no longer exists")))
}

fn bearer(
    key: &SealingKey,
    connection: &Connection,
    tokens: &OAuthTokens,
) -> Result<Credential, CredentialError> {
    let token = open(
        key,
        &connection.id,
        SecretField::AccessToken,
        &tokens.access_token,
    )?;
    Ok(Credential::Bearer(token))
}

fn api_key(key: &SealingKey, connection: &Connection) -> Result<Credential, CredentialError> {
    match &connection.credentials.api_key {
        Some(sealed) => Ok(Credential::ApiKey(open(
            key,
            &connection.id,
            SecretField::ApiKey,
            sealed,
        )?)),
        None => Err(CredentialError::NeedsReauth(format!(
            "{} is not connected: connect it again",
            connection.source
        ))),
    }
}

async fn refresh_holding_lease(
    services: &Services,
    connection_id: &ConnectionId,
) -> Result<Credential, CredentialError> {
    let key = &services.secrets().await?.sealing_key;
    // Re-read under the lease: the previous holder may have rotated the tokens already.
    let connection = load(services, connection_id).await?;
    let Some(tokens) = connection.credentials.oauth.clone() else {
        return api_key(key, &connection);
    };
    if is_fresh(&tokens, services.clock.now()) {
        return bearer(key, &connection, &tokens);
    }
    let connector = connector_of(services, &connection).await?;
    let name = connector.name();
    let (Some(oauth), Some(refresh_token)) = (connector.oauth(), &tokens.refresh_token) else {
        return give_up_oauth(
            services,
            &connection,
            &format!("the {name} access token expired and cannot be refreshed"),
        )
        .await;
    };
    let refresh_token = open(key, connection_id, SecretField::RefreshToken, refresh_token)?;
    match oauth.refresh(&refresh_token).await {
        Ok(fresh) => {
            let now = services.clock.now();
            let sealed = seal_tokens(
                key,
                connection_id,
                &fresh,
                tokens.refresh_token.as_ref(),
                now,
            );
            // Persist the rotated pair before using it: the old refresh token is dead now.
            update_connection(services.connections.as_ref(), connection_id, |c| {
                c.credentials.oauth = Some(sealed.clone());
                c.updated_at = now;
            })
            .await?;
            activity::record(
                services,
                &connection,
                ActivityAction::TokenRefreshed,
                None,
                format!("the {name} access token was refreshed"),
            )
            .await;
            Ok(Credential::Bearer(fresh.access_token))
        }
        Err(OAuthError::InvalidGrant) => {
            give_up_oauth(
                services,
                &connection,
                &format!(
                    "{name} no longer accepts this connection's authorization; connect {name} again"
                ),
            )
            .await
        }
        Err(e) => {
            activity::record(
                services,
                &connection,
                ActivityAction::RefreshFailed,
                None,
                format!("refreshing the {name} access token failed ({e}); it is tried again"),
            )
            .await;
            Err(CredentialError::Transient(
                anyhow::Error::new(e).context(format!("refreshing the {name} token")),
            ))
        }
    }
}

/// The OAuth grant is dead: fall back to the API key when there is one, otherwise mark the
/// connection `needs_reauth` so the dashboard asks the user to connect again.
async fn give_up_oauth(
    services: &Services,
    connection: &Connection,
    reason: &str,
) -> Result<Credential, CredentialError> {
    let now = services.clock.now();
    let has_key = connection.credentials.api_key.is_some();
    let updated = update_connection(services.connections.as_ref(), &connection.id, |c| {
        c.credentials.oauth = None;
        c.last_error = Some(reason.to_owned());
        if !has_key {
            c.status = ConnectionStatus::NeedsReauth;
        }
        c.updated_at = now;
    })
    .await?;
    tracing::warn!(connection = %connection.id, fallback_to_api_key = has_key, "OAuth grant is no longer valid");
    let (action, outcome) = if has_key {
        (
            ActivityAction::RefreshFailed,
            "; the API key is used instead",
        )
    } else {
        (ActivityAction::NeedsReauth, "")
    };
    activity::record(
        services,
        connection,
        action,
        None,
        format!("{reason}{outcome}"),
    )
    .await;
    api_key(&services.secrets().await?.sealing_key, &updated)
        .map_err(|_| CredentialError::NeedsReauth(reason.to_owned()))
}
