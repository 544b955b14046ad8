//! `sync-meetings`: the sync queue's consumer. Each message is handled on its own and
//! reported with `batchItemFailures`: transient failures fail the item so the queue retries
//! it; permanent ones are recorded on the job and connection and acknowledged. On the last
//! delivery before the dead-letter queue, a failure ends the message's job as failed with
//! the error, so no job stays `running` once its message is gone.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, TimeZone, Utc};
use pipeline::pipeline::jobs::give_up_job;
use pipeline::pipeline::messages::SyncMessage;
use pipeline::pipeline::schedule::run_scheduled;
use pipeline::pipeline::sync::run_sync_job;
use pipeline::pipeline::webhook_import::{give_up_webhook, import_webhook};
use pipeline::queue_events::handle_batch;
use pipeline::services::Services;

/// The invocation's deadline from the Lambda context's milliseconds since the epoch.
pub fn deadline(epoch_millis: u64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(epoch_millis as i64)
        .single()
        .unwrap_or_else(Utc::now)
}

/// Handles a batch's messages concurrently: they are mostly different connections, each
/// with its own rate budget, and syncs of one connection take turns through its lease.
pub async fn handle(
    services: &Services,
    event: SqsEvent,
    deadline: DateTime<Utc>,
) -> SqsBatchResponse {
    let max_receives = services.config.queue_max_receives;
    handle_batch(&event, max_receives, "sync", |record, final_attempt| {
        handle_message(services, record, deadline, final_attempt)
    })
    .await
}

async fn handle_message(
    services: &Services,
    record: &SqsMessage,
    deadline: DateTime<Utc>,
    final_attempt: bool,
) -> anyhow::Result<()> {
    let body = record.body.as_deref().unwrap_or_default();
    let message = match SyncMessage::parse(body) {
        Ok(message) => message,
        Err(e) => {
            // Retrying cannot fix a message we cannot read: drop it, loudly.
            tracing::error!(error = %e, "unreadable sync message dropped");
            return Ok(());
        }
    };
    match run(services, &message, deadline).await {
        Err(e) if final_attempt => {
            let reason = format!(
                "gave up after {} attempts: {e:#}",
                services.config.queue_max_receives
            );
            tracing::error!(reason, "sync message failed on its last delivery");
            give_up(services, &message, &reason).await
        }
        outcome => outcome,
    }
}

async fn run(
    services: &Services,
    message: &SyncMessage,
    deadline: DateTime<Utc>,
) -> anyhow::Result<()> {
    match message {
        SyncMessage::Sync {
            job_id,
            user_id,
            workspace_id,
        } => {
            let owner = SyncMessage::job_owner(user_id, workspace_id);
            let outcome = run_sync_job(services, &owner, job_id, deadline).await?;
            tracing::info!(job = %job_id, ?outcome, "sync message handled");
        }
        SyncMessage::Scheduled {
            connection_id,
            tick,
        } => {
            let outcome = run_scheduled(services, connection_id, tick, deadline).await?;
            tracing::info!(connection = %connection_id, tick, ?outcome, "scheduled sync handled");
        }
        SyncMessage::Webhook(delivery) => {
            let outcome = import_webhook(services, delivery).await?;
            tracing::info!(
                webhook = delivery.webhook_id,
                ?outcome,
                "webhook delivery handled"
            );
        }
    }
    Ok(())
}

/// Ends the message's job as failed with `reason`. A scheduled run has failed its own job
/// already; its tick is served by the next one.
async fn give_up(services: &Services, message: &SyncMessage, reason: &str) -> anyhow::Result<()> {
    match message {
        SyncMessage::Sync {
            job_id,
            user_id,
            workspace_id,
        } => {
            let owner = SyncMessage::job_owner(user_id, workspace_id);
            give_up_job(services, &owner, job_id, reason).await
        }
        SyncMessage::Scheduled { .. } => Ok(()),
        SyncMessage::Webhook(delivery) => give_up_webhook(services, delivery, reason).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::ports::Clock;

    #[tokio::test]
    async fn the_sample_event_for_an_unknown_job_is_acknowledged() {
        let event: SqsEvent =
            serde_json::from_str(include_str!("../../../events/sync-meetings.json")).unwrap();
        let backend = pipeline::testing::local_backend().await;
        let deadline = backend.clock.now() + chrono::Duration::minutes(15);
        let response = handle(&backend.services, event, deadline).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "nothing to retry for a job that does not exist"
        );
    }
}
