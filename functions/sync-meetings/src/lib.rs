//! `sync-meetings`: the sync queue's consumer. Each message is handled on its own and
//! reported with `batchItemFailures`: transient failures fail the item so the queue retries
//! it (and dead-letters it after repeated failures); permanent ones are recorded on the job
//! and connection and acknowledged.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, TimeZone, Utc};
use pipeline::pipeline::messages::SyncMessage;
use pipeline::pipeline::schedule::run_scheduled;
use pipeline::pipeline::sync::run_sync_job;
use pipeline::pipeline::webhook_import::import_webhook;
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
    let outcomes = futures::future::join_all(event.records.iter().map(|record| async move {
        let outcome = handle_message(services, record, deadline).await;
        (record, outcome)
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for (record, outcome) in outcomes {
        if let Err(e) = outcome {
            tracing::warn!(
                message = record.message_id.as_deref().unwrap_or(""),
                error = format!("{e:#}"),
                "sync message will be retried"
            );
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

async fn handle_message(
    services: &Services,
    record: &SqsMessage,
    deadline: DateTime<Utc>,
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
    match message {
        SyncMessage::Sync { job_id, user_id } => {
            let outcome = run_sync_job(services, &user_id, &job_id, deadline).await?;
            tracing::info!(job = %job_id, ?outcome, "sync message handled");
            Ok(())
        }
        SyncMessage::Scheduled {
            connection_id,
            tick,
        } => {
            let outcome = run_scheduled(services, &connection_id, &tick, deadline).await?;
            tracing::info!(connection = %connection_id, tick, ?outcome, "scheduled sync handled");
            Ok(())
        }
        SyncMessage::Webhook {
            connection_id,
            source,
            webhook_id,
            blob_key,
        } => {
            let outcome = import_webhook(
                services,
                connection_id.as_ref(),
                source,
                &webhook_id,
                &blob_key,
            )
            .await?;
            tracing::info!(webhook = webhook_id, ?outcome, "webhook delivery handled");
            Ok(())
        }
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
