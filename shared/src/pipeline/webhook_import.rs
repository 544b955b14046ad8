//! The consumer's side of a webhook delivery: its stored payload becomes a recording through
//! the same import as a sync, keyed the same way, so a meeting that arrives by webhook and by
//! sync is stored once. Each import shows as a job of kind `webhook`; its id is derived from
//! the delivery, so a redelivered message finds the job and does not import twice.

use super::credentials::{connector_of, credential, CredentialError};
use super::deliveries::{hold_unmatched, hold_until_limit_resets, hold_while_paused};
use super::media::{prepare, Prepared};
use super::messages::{SyncMessage, WebhookDelivery};
use super::persist::{import_meeting, ImportOutcome};
use crate::connectors::{ConnectorError, Credential, CredentialSource, Fetched, WebhookEvent};
use crate::domain::{
    Connection, ConnectionStatus, ExternalId, FailedItem, JobId, JobKind, JobStatus, Source,
    SyncJob, Tenant, MONTHLY_LIMIT_REACHED,
};
use crate::services::Services;
use anyhow::Context;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookImport {
    /// The delivery was handled; its job tells how (imported, unchanged, failed for good).
    Finished(JobId),
    /// An earlier receipt of this message finished it already.
    AlreadyFinished(JobId),
    /// The connection is paused: held until it is resumed.
    Held,
    /// No recorder email matched a connection: held until one does.
    Unmatched,
    /// Nobody to import it for: the connection is gone or disconnected.
    Dropped,
}

/// A failure worth retrying the message for (the store, the blob store, or the provider is
/// unavailable); permanent failures are recorded on the job instead.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct TransientImportError(#[from] anyhow::Error);

/// The job of one delivery (one round of it) for one member: the same id every time the
/// message is received.
pub fn webhook_job_id(owner: &Tenant, delivery: &WebhookDelivery) -> JobId {
    let (source, id) = (delivery.source, &delivery.webhook_id);
    let (workspace, user) = (&owner.workspace, &owner.user);
    let name = match delivery.round {
        0 => format!("webhook:{workspace} {user}:{source}:{id}"),
        round => format!("webhook:{workspace} {user}:{source}:{id}:{round}"),
    };
    JobId::derived_from(&name)
}

/// Ends the job of a delivery whose message is about to be dead-lettered as failed with
/// `reason` (creating it when no attempt got that far), so the failure shows.
pub async fn give_up_webhook(
    services: &Services,
    delivery: &WebhookDelivery,
    reason: &str,
) -> anyhow::Result<()> {
    let Some(connection_id) = &delivery.connection_id else {
        return Ok(());
    };
    let Some(connection) = services.connections.get(connection_id).await? else {
        return Ok(());
    };
    let owner = connection.owner();
    let job_id = webhook_job_id(&owner, delivery);
    let now = services.clock.now();
    let mut job = match services.jobs.get(&owner, &job_id).await? {
        Some(job) if job.status.is_finished() => return Ok(()),
        Some(job) => job,
        None => {
            let mut job = SyncJob::new(owner, delivery.source, JobKind::Webhook, now);
            job.id = job_id;
            job
        }
    };
    job.fail(reason, now);
    // The meeting shows among the failed imports, to be retried, as a sync's failed item does.
    if job.failed_items.is_empty() {
        let external_id = match job.scope.external_ids.first() {
            Some(id) => Some(id.clone()),
            None => delivered_external_id(services, &connection, &delivery.blob_key).await,
        };
        if let Some(external_id) = external_id {
            job.counts.failed += 1;
            job.failed_items
                .push(FailedItem::new(external_id, None, reason));
        }
    }
    services.jobs.put(&job).await
}

/// The meeting a stored delivery names, when it can be read.
async fn delivered_external_id(
    services: &Services,
    connection: &Connection,
    blob_key: &str,
) -> Option<ExternalId> {
    let connector = connector_of(services, connection).await.ok()?;
    let payload = services.blobs.get_bytes(blob_key).await.ok()??;
    match connector.parse_delivery(&payload) {
        Ok(WebhookEvent::Meeting { external_id, .. }) => external_id,
        _ => None,
    }
}

/// Imports the delivery for its connection. A delivery without a connection is matched by
/// its recorder's email. One that meets the monthly import limit is kept, and queued again
/// (as a new round) once imports are possible.
#[tracing::instrument(name = "delivery", skip_all, fields(webhook_id = %delivery.webhook_id))]
pub async fn import_webhook(
    services: &Services,
    delivery: &WebhookDelivery,
) -> Result<WebhookImport, TransientImportError> {
    let message = SyncMessage::Webhook(delivery.clone());
    let webhook_id = delivery.webhook_id.as_str();
    let Some(connection_id) = &delivery.connection_id else {
        return match_recorder(services, delivery.source, &delivery.blob_key, &message).await;
    };
    let connection = match services.connections.get(connection_id).await? {
        Some(c) if c.status != ConnectionStatus::Disconnected => c,
        _ => {
            tracing::info!(connection = %connection_id, webhook = webhook_id, "delivery for a gone connection dropped");
            return Ok(WebhookImport::Dropped);
        }
    };
    if connection.status == ConnectionStatus::Paused {
        hold_while_paused(services, connection_id, &message).await?;
        return Ok(WebhookImport::Held);
    }
    let owner = connection.owner();
    let job_id = webhook_job_id(&owner, delivery);
    let mut job = match services.jobs.get(&owner, &job_id).await? {
        Some(job) if job.status.is_finished() => return Ok(WebhookImport::AlreadyFinished(job_id)),
        Some(job) => job,
        None => {
            let mut job = SyncJob::new(
                owner,
                delivery.source,
                JobKind::Webhook,
                services.clock.now(),
            );
            job.id = job_id.clone();
            job.status = JobStatus::Running;
            job.progress.total = Some(1);
            services.jobs.put(&job).await?;
            job
        }
    };
    match import_into(services, &connection, &delivery.blob_key, &mut job).await {
        Ok(()) => {
            if job.counts.not_imported > 0 {
                hold_until_limit_resets(services, connection_id, &message).await?;
            }
            job.progress.current = 1;
            job.finish(services.clock.now());
        }
        Err(Failure::Permanent(reason)) => job.fail(&reason, services.clock.now()),
        Err(Failure::Transient(e)) => {
            job.summary = Some(format!("will retry: {e:#}"));
            job.updated_at = services.clock.now();
            services.jobs.put(&job).await?;
            return Err(e.into());
        }
    }
    services.jobs.put(&job).await?;
    tracing::info!(job = %job.id, webhook = webhook_id, summary = job.summary.as_deref().unwrap_or(""), "webhook delivery imported");
    Ok(WebhookImport::Finished(job_id))
}

/// Why a delivery was not imported this time.
enum Failure {
    /// Nothing will change by trying again: recorded on the job.
    Permanent(String),
    Transient(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Transient(e)
    }
}

impl From<ConnectorError> for Failure {
    fn from(e: ConnectorError) -> Self {
        if e.is_transient() {
            Failure::Transient(anyhow::Error::new(e).context("fetching the delivered meeting"))
        } else {
            Failure::Permanent(e.to_string())
        }
    }
}

async fn load_payload(services: &Services, blob_key: &str) -> Result<Vec<u8>, Failure> {
    services
        .blobs
        .get_bytes(blob_key)
        .await
        .context("reading the delivered payload")?
        .ok_or_else(|| Failure::Permanent("the delivered payload is no longer stored".into()))
}

/// The connection's credential, asked for only when the delivery lacks something.
struct ConnectionCredential<'a> {
    services: &'a Services,
    connection: &'a Connection,
}

#[async_trait::async_trait]
impl CredentialSource for ConnectionCredential<'_> {
    async fn credential(&self) -> Result<Credential, ConnectorError> {
        Ok(credential(self.services, &self.connection.id).await?)
    }
}

/// Loads the delivery, completes what it lacks, and stores the meeting, counting the outcome
/// on `job`.
async fn import_into(
    services: &Services,
    connection: &Connection,
    blob_key: &str,
    job: &mut SyncJob,
) -> Result<(), Failure> {
    let connector = connector_of(services, connection)
        .await
        .map_err(|e| match e {
            CredentialError::NeedsReauth(reason) => Failure::Permanent(reason),
            CredentialError::Transient(e) => Failure::Transient(e),
        })?;
    let payload = load_payload(services, blob_key).await?;
    let delivered_id = match connector.parse_delivery(&payload) {
        Ok(WebhookEvent::Meeting { external_id, .. }) => external_id,
        _ => None,
    };
    if let Some(id) = &delivered_id {
        job.scope.external_ids = vec![id.clone()];
    }
    let source = ConnectionCredential {
        services,
        connection,
    };
    let prepared = match connector.delivered_content(&payload, &source).await {
        Ok(Fetched::Content(content)) => Ok(Prepared::Content(Box::new(content))),
        Ok(media) => match source.credential().await {
            Ok(credential) => {
                let owner = connection.owner();
                prepare(
                    services,
                    connector,
                    &credential,
                    &owner,
                    connection.sharing,
                    media,
                    None,
                )
                .await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let content = match prepared.map_err(Failure::from) {
        Ok(Prepared::Content(content)) => *content,
        Ok(Prepared::Transcribing) => {
            job.counts.transcribing += 1;
            return Ok(());
        }
        Ok(Prepared::Transcribed) => {
            job.counts.skipped += 1;
            return Ok(());
        }
        Ok(Prepared::LimitReached { external_id, title }) => {
            left_for_later(job, external_id, title);
            return Ok(());
        }
        Err(Failure::Permanent(reason)) => {
            job.counts.failed += 1;
            if let Some(external_id) = delivered_id {
                job.failed_items
                    .push(FailedItem::new(external_id, None, reason));
            }
            return Ok(());
        }
        Err(transient) => return Err(transient),
    };
    let external_id = content.external_id.clone();
    let title = content.title.clone();
    job.scope.external_ids = vec![external_id.clone()];
    let result = import_meeting(
        services,
        &connection.owner(),
        connection.sharing,
        content,
        None,
        &job.id,
    )
    .await?;
    match result.outcome {
        ImportOutcome::Imported => job.counts.imported += 1,
        ImportOutcome::Updated => job.counts.updated += 1,
        ImportOutcome::Unchanged => job.counts.skipped += 1,
        ImportOutcome::QuotaReached => left_for_later(job, external_id, title),
    }
    Ok(())
}

/// The monthly limit is reached: the delivery is held until it resets.
fn left_for_later(job: &mut SyncJob, external_id: ExternalId, title: String) {
    job.counts.not_imported += 1;
    job.not_imported_items.push(FailedItem::new(
        external_id,
        Some(title),
        MONTHLY_LIMIT_REACHED,
    ));
}

/// A delivery queued without a connection: held under the account it names, and released at
/// once to the connections that account matches.
async fn match_recorder(
    services: &Services,
    source: Source,
    blob_key: &str,
    message: &SyncMessage,
) -> Result<WebhookImport, TransientImportError> {
    let payload = match load_payload(services, blob_key).await {
        Ok(payload) => payload,
        Err(Failure::Transient(e)) => return Err(e.into()),
        Err(Failure::Permanent(reason)) => {
            tracing::warn!(blob_key, reason, "unmatched delivery dropped");
            return Ok(WebhookImport::Dropped);
        }
    };
    let route = services
        .providers()
        .await?
        .connector(source)
        .and_then(|connector| connector.parse_delivery(&payload).ok())
        .and_then(|event| match event {
            WebhookEvent::Meeting { route, .. } => route,
            _ => None,
        });
    let Some(route) = route else {
        tracing::warn!(
            blob_key,
            "delivery without a connection or an account it names dropped"
        );
        return Ok(WebhookImport::Dropped);
    };
    hold_unmatched(services, source, &route, message).await?;
    Ok(WebhookImport::Unmatched)
}
