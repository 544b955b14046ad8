//! What travels on the sync queue. Messages carry ids and pointers, never content: the
//! content is in the store or the blob store.

use crate::domain::{ConnectionId, JobId, SyncJob, Tenant, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SyncMessage {
    /// Run a sync job, or continue it from its saved cursor. (A message queued before
    /// workspaces has no `workspace_id`: the job is in the user's personal workspace.)
    Sync {
        job_id: JobId,
        user_id: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workspace_id: Option<WorkspaceId>,
    },
    /// The schedule asks for an incremental sync of one connection; `tick` names the run,
    /// so a tick delivered twice syncs once.
    Scheduled {
        connection_id: ConnectionId,
        tick: String,
    },
    /// A verified webhook delivery whose raw body is in the blob store.
    Webhook(WebhookDelivery),
}

/// A verified webhook delivery, as queued for import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// Whose import it is; `None` until the recorder is matched to a connection.
    pub connection_id: Option<ConnectionId>,
    pub source: crate::domain::Source,
    pub webhook_id: String,
    /// Where the raw body is stored.
    pub blob_key: String,
    /// How many times the delivery was left for later by the monthly limit and queued
    /// again: each round is its own job.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl SyncMessage {
    /// Run (or continue) `job`.
    pub fn run(job: &SyncJob) -> Self {
        SyncMessage::Sync {
            job_id: job.id.clone(),
            user_id: job.user_id.clone(),
            workspace_id: Some(job.workspace_id.clone()),
        }
    }

    /// The member a `Sync` message's job belongs to.
    pub fn job_owner(user_id: &UserId, workspace_id: &Option<WorkspaceId>) -> Tenant {
        Tenant::named(workspace_id.clone(), user_id.clone())
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_messages_keep_their_flat_shape() {
        let message = SyncMessage::Webhook(WebhookDelivery {
            connection_id: None,
            source: crate::domain::Source::Upload,
            webhook_id: "msg_1".into(),
            blob_key: "webhooks/upload/app/msg_1.json".into(),
            round: 0,
        });
        let body = message.to_body();
        assert_eq!(
            body,
            r#"{"type":"webhook","connection_id":null,"source":"upload","webhook_id":"msg_1","blob_key":"webhooks/upload/app/msg_1.json"}"#
        );
        assert_eq!(SyncMessage::parse(&body).unwrap(), message);
    }

    #[test]
    fn sync_messages_from_before_workspaces_run_in_the_personal_workspace() {
        let body = serde_json::json!({"type": "sync", "job_id": JobId::new(), "user_id": "alice"});
        let message = SyncMessage::parse(&body.to_string()).unwrap();
        let SyncMessage::Sync {
            user_id,
            workspace_id,
            ..
        } = message
        else {
            panic!("a sync message")
        };
        let owner = SyncMessage::job_owner(&user_id, &workspace_id);
        assert_eq!(owner, Tenant::personal(UserId::parse("alice").unwrap()));
    }
}
