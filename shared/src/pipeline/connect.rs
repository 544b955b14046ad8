//! Linking and unlinking a user's account at a source: storing credentials (sealed for the
//! connection), learning who the account is, registering the provider webhook, queueing the
//! first sync; and the reverse.

use super::activity;
use super::connections::update_connection;
use super::credentials::{connector_of, credential, seal, seal_tokens, SecretField};
use super::deliveries::release_unmatched_deliveries;
use super::jobs::start_sync_job;
use crate::connectors::oauth::TokenSet;
use crate::connectors::{AccountIdentity, Connector, Credential};
use crate::crypto::SecretString;
use crate::domain::{
    ActivityAction, Connection, ConnectionStatus, JobKind, Source, StoredCredentials, SyncJob,
    SyncScope, Tenant, WebhookRegistration,
};
use crate::ports::Inserted;
use crate::services::Services;
use anyhow::{Context, Result};

/// What a user hands over to connect.
#[derive(Debug, Clone)]
pub enum NewCredential {
    /// The tokens of a finished OAuth flow.
    OAuth(TokenSet),
    /// A personal API key (kept beside OAuth tokens as their fallback).
    ApiKey(SecretString),
}

impl NewCredential {
    fn as_credential(&self) -> Credential {
        match self {
            NewCredential::OAuth(tokens) => Credential::Bearer(tokens.access_token.clone()),
            NewCredential::ApiKey(key) => Credential::ApiKey(key.clone()),
        }
    }
}

pub struct Connected {
    pub connection: Connection,
    /// The initial sync, when this call linked the account (not when it only added a key).
    pub initial_job: Option<SyncJob>,
}

/// Stores `new` on the user's connection to `source`, creating it or reviving one that was
/// disconnected or lost its authorization; learns the account when the provider can say who
/// it is, registers the webhook if none is, and queues the initial sync when the account was
/// not linked before.
pub async fn connect(
    services: &Services,
    owner: &Tenant,
    source: Source,
    new: NewCredential,
) -> Result<Connected> {
    let connector = services
        .providers()
        .await?
        .connector(source)
        .with_context(|| format!("{source} cannot be connected here"))?;
    let identity = match connector.identify(&new.as_credential()).await {
        Ok(identity) => identity,
        Err(e) => {
            // Learned again by the next sync; connecting does not fail for it.
            tracing::warn!(%source, error = %e, "the account could not be identified yet");
            None
        }
    };
    let now = services.clock.now();
    let key = &services.secrets().await?.sealing_key;
    let apply = |c: &mut Connection| {
        match &new {
            NewCredential::OAuth(tokens) => {
                c.credentials.oauth = Some(seal_tokens(key, &c.id, tokens, None, now))
            }
            NewCredential::ApiKey(api_key) => {
                c.credentials.api_key = Some(seal(key, &c.id, SecretField::ApiKey, api_key))
            }
        }
        if let Some(identity) = &identity {
            learn_identity(c, identity);
        }
    };
    let mut fresh = Connection::new(owner.clone(), source, now);
    apply(&mut fresh);
    let (connection, newly_linked) = match services.connections.insert_if_absent(&fresh).await? {
        Inserted::New => (fresh, true),
        Inserted::AlreadyExists => {
            let existing = services
                .connections
                .find(owner, source)
                .await?
                .context("connection vanished")?;
            let was_linked = !matches!(existing.status, ConnectionStatus::Disconnected);
            let updated = update_connection(services.connections.as_ref(), &existing.id, |c| {
                apply(c);
                if matches!(
                    c.status,
                    ConnectionStatus::Disconnected
                        | ConnectionStatus::NeedsReauth
                        | ConnectionStatus::Error
                ) {
                    c.status = ConnectionStatus::Active;
                    c.consecutive_failures = 0;
                    c.next_sync_after = None;
                }
                c.last_error = None;
                c.updated_at = now;
            })
            .await?;
            (updated, !was_linked)
        }
    };
    let connection = register_webhook(services, connector, connection).await?;
    let account = connection
        .account_email
        .as_deref()
        .map(|email| format!(" as {email}"))
        .unwrap_or_default();
    let message = if newly_linked {
        format!("{} connected{account}", connector.name())
    } else {
        format!("{} credentials renewed{account}", connector.name())
    };
    activity::record(
        services,
        &connection,
        ActivityAction::Connected,
        None,
        message,
    )
    .await;
    // App-level deliveries that arrived before anyone had this account are this user's now.
    release_unmatched_deliveries(services, &connection).await?;
    let initial_job = if newly_linked {
        Some(
            start_sync_job(
                services,
                owner,
                source,
                JobKind::Initial,
                SyncScope::default(),
            )
            .await?,
        )
    } else {
        None
    };
    Ok(Connected {
        connection,
        initial_job,
    })
}

/// Records who the account is; the route an app-level event finds it by.
pub fn learn_identity(connection: &mut Connection, identity: &AccountIdentity) {
    if let Some(email) = &identity.email {
        connection.account_email = Some(email.clone());
    }
    if let Some(route) = &identity.route_key {
        connection.route_key = Some(route.clone());
    }
}

/// Registers the provider webhook for the connection's own destination URL, where the
/// provider has an API for it, storing its id and sealed secret. Failure is recorded on the
/// connection, not fatal: the hourly sync still brings every meeting in.
async fn register_webhook(
    services: &Services,
    connector: &dyn Connector,
    connection: Connection,
) -> Result<Connection> {
    if connection.webhook.is_some() {
        return Ok(connection);
    }
    let destination = services
        .config
        .public_base_url
        .join(&format!("webhooks/{}/{}", connection.source, connection.id))
        .context("building the webhook destination URL")?;
    let created = match credential(services, &connection.id).await {
        Ok(credential) => connector
            .register_webhook(&credential, &destination)
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(anyhow::Error::from(e)),
    };
    let created = match created {
        Ok(None) => return Ok(connection),
        Ok(Some(webhook)) => Ok(webhook),
        Err(e) => Err(e),
    };
    let now = services.clock.now();
    let key = &services.secrets().await?.sealing_key;
    let name = connector.name();
    update_connection(services.connections.as_ref(), &connection.id, |c| {
        match &created {
            Ok(webhook) => {
                c.webhook = Some(WebhookRegistration {
                    provider_webhook_id: webhook.id.clone(),
                    secret: seal(key, &c.id, SecretField::WebhookSecret, &webhook.secret),
                });
            }
            Err(e) => {
                c.last_error = Some(format!(
                    "the {name} webhook could not be registered ({e}); hourly syncs still run"
                ))
            }
        }
        c.updated_at = now;
    })
    .await
}

/// Unlinks the account: deletes the provider webhook (best effort, logged), wipes the
/// credentials and marks the connection `disconnected`, with `why` in the activity log.
/// Imported recordings stay.
pub async fn disconnect(
    services: &Services,
    connection: &Connection,
    why: &str,
) -> Result<Connection> {
    if let Some(webhook) = &connection.webhook {
        let deleted = match (
            connector_of(services, connection).await,
            credential(services, &connection.id).await,
        ) {
            (Ok(connector), Ok(credential)) => connector
                .delete_webhook(&credential, &webhook.provider_webhook_id)
                .await
                .map_err(anyhow::Error::from),
            (Err(e), _) | (_, Err(e)) => Err(e.into()),
        };
        if let Err(e) = deleted {
            tracing::warn!(connection = %connection.id, error = %e, "the provider webhook could not be deleted");
        }
    }
    let now = services.clock.now();
    let updated = update_connection(services.connections.as_ref(), &connection.id, |c| {
        c.status = ConnectionStatus::Disconnected;
        c.credentials = StoredCredentials::default();
        c.webhook = None;
        c.sync_checkpoint = None;
        c.last_error = None;
        c.updated_at = now;
    })
    .await?;
    activity::record(services, &updated, ActivityAction::Disconnected, None, why).await;
    Ok(updated)
}
