//! A usable Fathom credential for a connection: the OAuth access token, refreshed about five
//! minutes before it expires by exactly one worker at a time (refresh tokens are single-use),
//! with the stored API key as the fallback.

use super::connections::update_connection;
use crate::connectors::fathom::{FathomCredential, FathomError, TokenSet};
use crate::crypto::{SealingKey, SecretString};
use crate::domain::{Connection, ConnectionId, ConnectionStatus, OAuthTokens};
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

fn open(key: &SealingKey, sealed: &crate::crypto::Sealed) -> Result<SecretString, CredentialError> {
    key.open(sealed)
        .map_err(|e| CredentialError::Transient(e.into()))
}

fn is_fresh(tokens: &OAuthTokens, now: DateTime<Utc>) -> bool {
    tokens
        .expires_at
        .is_none_or(|expires| expires - REFRESH_AHEAD > now)
}

/// Seals a token response for storage; the old refresh token is kept when none came back.
pub fn seal_tokens(
    key: &SealingKey,
    tokens: &TokenSet,
    previous_refresh: Option<&crate::crypto::Sealed>,
    now: DateTime<Utc>,
) -> OAuthTokens {
    OAuthTokens {
        access_token: key.seal(&tokens.access_token),
        refresh_token: tokens
            .refresh_token
            .as_ref()
            .map(|t| key.seal(t))
            .or_else(|| previous_refresh.cloned()),
        expires_at: tokens.expires_at(now),
    }
}

/// The credential to call Fathom with for `connection_id`, refreshing the OAuth token first
/// when it is about to expire.
pub async fn fathom_credential(
    services: &Services,
    connection_id: &ConnectionId,
) -> Result<FathomCredential, CredentialError> {
    let key = &services.secrets.sealing_key;
    let connection = load(services, connection_id).await?;
    let Some(tokens) = &connection.credentials.oauth else {
        return api_key(key, &connection);
    };
    if is_fresh(tokens, services.clock.now()) {
        return Ok(FathomCredential::Bearer(open(key, &tokens.access_token)?));
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
                return Ok(FathomCredential::Bearer(open(key, &tokens.access_token)?))
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

fn api_key(key: &SealingKey, connection: &Connection) -> Result<FathomCredential, CredentialError> {
    match &connection.credentials.api_key {
        Some(sealed) => Ok(FathomCredential::ApiKey(open(key, sealed)?)),
        None => Err(CredentialError::NeedsReauth(
            "Fathom is not connected: connect it again".into(),
        )),
    }
}

async fn refresh_holding_lease(
    services: &Services,
    connection_id: &ConnectionId,
) -> Result<FathomCredential, CredentialError> {
    let key = &services.secrets.sealing_key;
    // Re-read under the lease: the previous holder may have rotated the tokens already.
    let connection = load(services, connection_id).await?;
    let Some(tokens) = connection.credentials.oauth.clone() else {
        return api_key(key, &connection);
    };
    if is_fresh(&tokens, services.clock.now()) {
        return Ok(FathomCredential::Bearer(open(key, &tokens.access_token)?));
    }
    let (Some(oauth), Some(refresh_token)) =
        (&services.providers.fathom_oauth, &tokens.refresh_token)
    else {
        return give_up_oauth(
            services,
            &connection,
            "the Fathom access token expired and cannot be refreshed",
        )
        .await;
    };
    let refresh_token = open(key, refresh_token)?;
    match oauth.refresh(&refresh_token).await {
        Ok(fresh) => {
            let now = services.clock.now();
            let sealed = seal_tokens(key, &fresh, tokens.refresh_token.as_ref(), now);
            // Persist the rotated pair before using it: the old refresh token is dead now.
            update_connection(services.connections.as_ref(), connection_id, |c| {
                c.credentials.oauth = Some(sealed.clone());
                c.updated_at = now;
            })
            .await?;
            Ok(FathomCredential::Bearer(fresh.access_token))
        }
        Err(FathomError::InvalidGrant) => {
            give_up_oauth(
                services,
                &connection,
                "Fathom no longer accepts this connection's authorization; connect Fathom again",
            )
            .await
        }
        Err(e) => Err(CredentialError::Transient(
            anyhow::Error::new(e).context("refreshing the Fathom token"),
        )),
    }
}

/// The OAuth grant is dead: fall back to the API key when there is one, otherwise mark the
/// connection `needs_reauth` so the dashboard asks the user to connect again.
async fn give_up_oauth(
    services: &Services,
    connection: &Connection,
    reason: &str,
) -> Result<FathomCredential, CredentialError> {
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
    tracing::warn!(connection = %connection.id, fallback_to_api_key = has_key, "Fathom OAuth grant is no longer valid");
    api_key(&services.secrets.sealing_key, &updated)
        .map_err(|_| CredentialError::NeedsReauth(reason.to_owned()))
}
