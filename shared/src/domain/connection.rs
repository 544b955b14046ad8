//! A user's link to one source account.

use super::ids::{ConnectionId, Source, UserId, WorkspaceId};
use super::tenant::{Sharing, Tenant};
use crate::crypto::Sealed;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    Paused,
    Error,
    NeedsReauth,
    Disconnected,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Active => "active",
            ConnectionStatus::Paused => "paused",
            ConnectionStatus::Error => "error",
            ConnectionStatus::NeedsReauth => "needs_reauth",
            ConnectionStatus::Disconnected => "disconnected",
        }
    }
}

/// Credentials as stored: every secret part sealed (see `crypto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredCredentials {
    pub oauth: Option<OAuthTokens>,
    pub api_key: Option<Sealed>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthTokens {
    pub access_token: Sealed,
    pub refresh_token: Option<Sealed>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCheckpoint {
    pub cursor: String,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// The provider webhook registered for this connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookRegistration {
    pub provider_webhook_id: String,
    pub secret: Sealed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnectionId,
    pub workspace_id: WorkspaceId,
    /// The member who connected it: only they manage its credentials.
    pub user_id: UserId,
    pub source: Source,
    /// Who reads what it imports.
    #[serde(default)]
    pub sharing: Sharing,
    pub status: ConnectionStatus,
    pub account_email: Option<String>,
    /// What the provider's app-level events name this account by (Fathom: the email,
    /// lower-cased; Zoom: account and user ids): how such an event finds its connection.
    #[serde(default)]
    pub route_key: Option<String>,
    pub credentials: StoredCredentials,
    pub webhook: Option<WebhookRegistration>,
    /// Newest source `created_at` committed by a sync.
    pub sync_watermark: Option<DateTime<Utc>>,
    /// Where an unfinished sync resumes: the provider cursor of the page after the last
    /// committed one, with the window it belongs to.
    pub sync_checkpoint: Option<SyncCheckpoint>,
    pub consecutive_failures: u32,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Scheduled syncs skip the connection until then (back-off after repeated failures).
    pub next_sync_after: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version: `ConnectionStore::replace` only writes over this one.
    pub version: u64,
}

impl Connection {
    pub fn new(owner: Tenant, source: Source, now: DateTime<Utc>) -> Self {
        Connection {
            id: ConnectionId::new(),
            sharing: Sharing::default_for(&owner),
            workspace_id: owner.workspace,
            user_id: owner.user,
            source,
            status: ConnectionStatus::Active,
            account_email: None,
            route_key: None,
            credentials: StoredCredentials::default(),
            webhook: None,
            sync_watermark: None,
            sync_checkpoint: None,
            consecutive_failures: 0,
            last_sync_at: None,
            last_error: None,
            next_sync_after: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// The member it belongs to.
    pub fn owner(&self) -> Tenant {
        Tenant::new(self.workspace_id.clone(), self.user_id.clone())
    }

    /// Whether the hourly schedule should sync this connection now.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        matches!(
            self.status,
            ConnectionStatus::Active | ConnectionStatus::Error
        ) && self.next_sync_after.is_none_or(|after| after <= now)
    }
}
