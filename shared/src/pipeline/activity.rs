//! Writing a workspace's activity log: one entry per thing that happened to a connection;
//! the ones a member must act on are pushed to their webhook endpoints too.
//! Recording is best effort: a log write that fails is reported in the process log and never
//! fails (or repeats) what it records.

use super::outbound;
use crate::domain::{
    ActivityAction, ActivityEntry, Connection, EventType, UserId, ACTIVITY_RETENTION,
};
use crate::services::Services;

/// Records `action` on `connection`, done by `actor` when that was not its owner or the
/// system (an admin pausing a member's source), with `message` in words.
pub async fn record(
    services: &Services,
    connection: &Connection,
    action: ActivityAction,
    actor: Option<&UserId>,
    message: impl Into<String>,
) {
    let at = services.clock.now();
    let entry = ActivityEntry {
        id: format!("act_{}", uuid::Uuid::new_v4().simple()),
        workspace_id: connection.workspace_id.clone(),
        user_id: connection.user_id.clone(),
        actor_id: actor.filter(|a| **a != connection.user_id).cloned(),
        source: connection.source,
        action,
        message: message.into(),
        at,
        expires_at: at + ACTIVITY_RETENTION,
    };
    let event = match action {
        ActivityAction::NeedsReauth => Some(EventType::ConnectionNeedsReauth),
        ActivityAction::RefreshFailed | ActivityAction::SyncFailed => {
            Some(EventType::ConnectionError)
        }
        _ => None,
    };
    if let Some(kind) = event {
        outbound::connection_event(services, connection, kind, &entry.id, &entry.message).await;
    }
    if let Err(e) = services.activity.record(&entry).await {
        tracing::error!(
            connection = %connection.id,
            ?action,
            error = format!("{e:#}"),
            "an activity entry could not be recorded"
        );
    }
}
