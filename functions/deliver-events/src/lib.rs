//! `deliver-events`: the events queue's consumer. An event is fanned out to one delivery per
//! webhook endpoint that wants it; a delivery is signed, sent, logged and, when it fails,
//! queued again on the retry schedule (`pipeline::pipeline::outbound`). A message whose
//! handling fails (a store or queue fault) comes back; one that cannot be read is dropped.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use pipeline::pipeline::outbound::{self, Message};
use pipeline::queue_events::handle_batch;
use pipeline::services::Services;

pub async fn handle(services: &Services, event: SqsEvent) -> SqsBatchResponse {
    let max_receives = services.config.queue_max_receives;
    handle_batch(
        &event,
        max_receives,
        "events",
        |record, _final_attempt| async move {
            let body = record.body.as_deref().unwrap_or_default();
            match Message::parse(body) {
                Ok(message) => outbound::handle(services, message).await,
                Err(_) => {
                    // Retrying cannot fix a message we cannot read: drop it, loudly.
                    tracing::error!("unreadable events message dropped");
                    Ok(())
                }
            }
        },
    )
    .await
}
