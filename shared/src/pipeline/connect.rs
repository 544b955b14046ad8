//! Linking and unlinking a user's Fathom account: storing credentials, registering the
//! provider webhook, queueing the first sync; and the reverse.

use super::connections::update_connection;
use super::credentials::fathom_credential;
use super::jobs::start_sync_job;
use crate::connectors::fathom::TriggeredFor;
use crate::crypto::SecretString;
use crate::domain::{
    Connection, ConnectionStatus, JobKind, Source, StoredCredentials, SyncJob, SyncScope, UserId,
    WebhookRegistration,
};
use crate::ports::Inserted;
use crate::services::Services;
use anyhow::{Context, Result};

pub struct Connected {
    pub connection: Connection,
    /// The initial sync, when this call linked the account (not when it only added a key).
    pub initial_job: Option<SyncJob>,
}

/// Stores credentials on the user's Fathom connection — creating it, or reviving one that was
/// disconnected or lost its authorization — then registers the webhook if none is, and queues
/// the initial sync when the account was not linked before.
pub async fn connect_fathom(
    services: &Services,
    user: &UserId,
    apply: impl Fn(&mut StoredCredentials),
) -> Result<Connected> {
    let now = services.clock.now();
    let mut fresh = Connection::new(user.clone(), Source::Fathom, now);
    apply(&mut fresh.credentials);
    let (connection, newly_linked) = match services.connections.insert_if_absent(&fresh).await? {
        Inserted::New => (fresh, true),
        Inserted::AlreadyExists => {
            let existing = services
                .connections
                .find(user, Source::Fathom)
                .await?
                .context("connection vanished")?;
            let was_linked = !matches!(existing.status, ConnectionStatus::Disconnected);
            let updated = update_connection(services.connections.as_ref(), &existing.id, |c| {
                apply(&mut c.credentials);
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
    let connection = register_webhook(services, connection).await?;
    let initial_job = if newly_linked {
        Some(
            start_sync_job(
                services,
                user,
                Source::Fathom,
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

/// Registers the provider webhook for the connection's own destination URL, storing its id
/// and sealed secret. Failure is recorded on the connection, not fatal: the hourly sync still
/// brings every meeting in.
async fn register_webhook(services: &Services, connection: Connection) -> Result<Connection> {
    if connection.webhook.is_some() {
        return Ok(connection);
    }
    let destination = services
        .config
        .public_base_url
        .join(&format!("webhooks/fathom/{}", connection.id))
        .context("building the webhook destination URL")?;
    let created = match fathom_credential(services, &connection.id).await {
        Ok(credential) => services
            .providers
            .fathom
            .create_webhook(&credential, &destination, &[TriggeredFor::MyRecordings])
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(anyhow::Error::from(e)),
    };
    let now = services.clock.now();
    let key = &services.secrets.sealing_key;
    update_connection(services.connections.as_ref(), &connection.id, |c| {
        match &created {
            Ok(webhook) => {
                c.webhook = Some(WebhookRegistration {
                    provider_webhook_id: webhook.id.clone(),
                    secret: key.seal(&webhook.secret),
                });
            }
            Err(e) => {
                c.last_error = Some(format!(
                    "the Fathom webhook could not be registered ({e}); hourly syncs still run"
                ))
            }
        }
        c.updated_at = now;
    })
    .await
}

/// Unlinks the account: deletes the provider webhook (best effort, logged), wipes the
/// credentials and marks the connection `disconnected`. Imported recordings stay.
pub async fn disconnect(services: &Services, connection: &Connection) -> Result<Connection> {
    if let Some(webhook) = &connection.webhook {
        let deleted = match fathom_credential(services, &connection.id).await {
            Ok(credential) => services
                .providers
                .fathom
                .delete_webhook(&credential, &webhook.provider_webhook_id)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = deleted {
            tracing::warn!(connection = %connection.id, error = %e, "the Fathom webhook could not be deleted");
        }
    }
    let now = services.clock.now();
    update_connection(services.connections.as_ref(), &connection.id, |c| {
        c.status = ConnectionStatus::Disconnected;
        c.credentials = StoredCredentials::default();
        c.webhook = None;
        c.sync_checkpoint = None;
        c.last_error = None;
        c.updated_at = now;
    })
    .await
}

/// Seals an API key for storage.
pub fn seal_api_key(services: &Services, key: &SecretString) -> crate::crypto::Sealed {
    services.secrets.sealing_key.seal(key)
}
