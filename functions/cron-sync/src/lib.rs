//! `cron-sync`: the hourly scheduled run. Pages through connections and sends one sync
//! message per connection that is due (active, not backing off), in batches of ten. The
//! consumer claims each (connection, tick) once, so a doubled or retried tick syncs nothing
//! twice.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use pipeline::pipeline::schedule::{fan_out, tick_name, FanOut};
use pipeline::services::Services;

/// Fans out the tick; an error makes the runtime report the failure so EventBridge retries.
pub async fn handle(services: &Services, event: EventBridgeEvent) -> anyhow::Result<FanOut> {
    let tick = tick_name(event.time.unwrap_or_else(|| services.clock.now()));
    let result = fan_out(services, &tick).await?;
    tracing::info!(tick, queued = result.queued, skipped = result.skipped, batches = result.batches, "scheduled syncs queued");
    Ok(result)
}
