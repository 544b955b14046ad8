//! SQS event glue for the queue consumers: each message of a batch is handled on its own,
//! concurrently, and the failures are reported as `batchItemFailures`, so only they come back.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use std::future::Future;

/// How many times SQS has delivered the message, this delivery included.
pub fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.parse().ok())
        .unwrap_or(1)
}

/// Handles every record with `handle(record, final_attempt)`, where `final_attempt` says the
/// queue will dead-letter the message if this delivery fails too (after `max_receives`).
/// Records whose handling fails are reported for redelivery.
pub async fn handle_batch<'a, F, Fut>(
    event: &'a SqsEvent,
    max_receives: u32,
    kind: &str,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(&'a SqsMessage, bool) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let outcomes = futures::future::join_all(
        event
            .records
            .iter()
            .map(|record| handle(record, receive_count(record) >= max_receives)),
    )
    .await;
    let mut response = SqsBatchResponse::default();
    for (record, outcome) in event.records.iter().zip(outcomes) {
        if let Err(e) = outcome {
            let id = record.message_id.clone().unwrap_or_default();
            tracing::warn!(
                message = id,
                error = format!("{e:#}"),
                "{kind} message will be retried"
            );
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
