//! What travels on the sync queue. Messages carry ids and pointers, never content: the
//! content is in the store or the blob store.

use crate::domain::{ConnectionId, JobId, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SyncMessage {
    /// Run a sync job, or continue it from its saved cursor.
    Sync { job_id: JobId, user_id: UserId },
    /// The schedule asks for an incremental sync of one connection; `tick` names the run,
    /// so a tick delivered twice syncs once.
    Scheduled {
        connection_id: ConnectionId,
        tick: String,
    },
    /// A verified webhook delivery whose raw body is in the blob store at `blob_key`.
    Webhook {
        connection_id: Option<ConnectionId>,
        source: crate::domain::Source,
        webhook_id: String,
        blob_key: String,
    },
}

impl SyncMessage {
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}
