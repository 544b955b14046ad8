//! A workspace's integration history: what happened to its connections, by whom, when.

use super::ids::{Source, UserId, WorkspaceId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How long entries are kept.
pub const ACTIVITY_RETENTION: Duration = Duration::days(90);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityAction {
    Connected,
    Disconnected,
    Paused,
    Resumed,
    TokenRefreshed,
    RefreshFailed,
    NeedsReauth,
    SharingChanged,
    SyncFailed,
    SyncRetried,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityEntry {
    pub id: String,
    pub workspace_id: WorkspaceId,
    /// Whose connection it concerns.
    pub user_id: UserId,
    /// Who did it, when it was not the connection's owner or the system (an admin's pause).
    #[serde(default)]
    pub actor_id: Option<UserId>,
    pub source: Source,
    pub action: ActivityAction,
    pub message: String,
    pub at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}
