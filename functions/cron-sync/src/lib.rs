//! `cron-sync`: the hourly scheduled run. Pages through connections and sends one sync
//! message per connection that is due (active, not backing off), in batches of ten. The
//! consumer claims each (connection, tick) once, so a doubled or retried tick syncs nothing
//! twice. Each run first fails jobs left running by a worker that stopped.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use pipeline::pipeline::schedule::{fan_out, sweep_stuck_jobs, tick_name, FanOut};
use pipeline::services::Services;

/// Fans out the tick; an error makes the runtime report the failure so EventBridge retries.
pub async fn handle(services: &Services, event: EventBridgeEvent) -> anyhow::Result<FanOut> {
    let tick = tick_name(event.time.unwrap_or_else(|| services.clock.now()));
    let swept = sweep_stuck_jobs(services).await?;
    if swept > 0 {
        tracing::warn!(swept, "jobs left running by a stopped worker were failed");
    }
    let result = fan_out(services, &tick).await?;
    tracing::info!(
        tick,
        queued = result.queued,
        skipped = result.skipped,
        batches = result.batches,
        "scheduled syncs queued"
    );
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::domain::{Connection, Source};
    use pipeline::ports::Clock;

    #[tokio::test]
    async fn the_sample_event_queues_one_message_per_due_connection() {
        let event: EventBridgeEvent =
            serde_json::from_str(include_str!("../../../events/cron-sync.json")).unwrap();
        let backend = pipeline::testing::local_backend().await;
        let now = backend.clock.now();
        let connection = Connection::new(pipeline::testing::member("alice"), Source::Fathom, now);
        backend
            .services
            .connections
            .insert_if_absent(&connection)
            .await
            .unwrap();
        let result = handle(&backend.services, event).await.unwrap();
        assert_eq!((result.queued, result.skipped, result.batches), (1, 0, 1));
        let sent = backend
            .services
            .sync_queue
            .receive(10, std::time::Duration::from_secs(30))
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_str(&sent[0].body).unwrap();
        assert_eq!(body["type"], "scheduled");
        assert_eq!(body["connection_id"], connection.id.as_str());
        assert_eq!(
            body["tick"], "2026-01-05T09:00:00Z",
            "the tick is the scheduled time"
        );
    }
}
