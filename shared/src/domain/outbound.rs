//! Outbound webhooks: the endpoints a member registers to be told of changes as they happen,
//! and every attempt to deliver an event to one.

use super::{EndpointId, Tenant};
use crate::crypto::Sealed;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How long delivery attempts stay listed.
pub const ATTEMPT_RETENTION: chrono::Duration = chrono::Duration::days(30);

/// What an endpoint can be told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "recording.created")]
    RecordingCreated,
    #[serde(rename = "recording.updated")]
    RecordingUpdated,
    #[serde(rename = "recording.deleted")]
    RecordingDeleted,
    #[serde(rename = "sync.completed")]
    SyncCompleted,
    #[serde(rename = "upload.completed")]
    UploadCompleted,
    #[serde(rename = "upload.failed")]
    UploadFailed,
    #[serde(rename = "connection.needs_reauth")]
    ConnectionNeedsReauth,
    #[serde(rename = "connection.error")]
    ConnectionError,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::RecordingCreated,
        EventType::RecordingUpdated,
        EventType::RecordingDeleted,
        EventType::SyncCompleted,
        EventType::UploadCompleted,
        EventType::UploadFailed,
        EventType::ConnectionNeedsReauth,
        EventType::ConnectionError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::RecordingCreated => "recording.created",
            EventType::RecordingUpdated => "recording.updated",
            EventType::RecordingDeleted => "recording.deleted",
            EventType::SyncCompleted => "sync.completed",
            EventType::UploadCompleted => "upload.completed",
            EventType::UploadFailed => "upload.failed",
            EventType::ConnectionNeedsReauth => "connection.needs_reauth",
            EventType::ConnectionError => "connection.error",
        }
    }

    pub fn parse(raw: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

/// One signing secret of an endpoint, sealed. After a rotation the old one keeps signing
/// until `expires_at`, so a receiver can switch over without losing a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSecret {
    pub sealed: Sealed,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl EndpointSecret {
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// A destination a member registered for events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: EndpointId,
    /// Who registered it: events reach it only when this member may read what they are about.
    pub owner: Tenant,
    pub url: String,
    /// Empty: every event type.
    pub events: Vec<EventType>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why callsync disabled it (410 Gone, failing for days); `None` when the owner did.
    pub disabled_reason: Option<String>,
    /// Newest first.
    pub secrets: Vec<EndpointSecret>,
    /// Since when every delivery has failed; cleared by a success.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by each write; a write of a stale version is refused (see the port).
    pub version: u64,
}

impl WebhookEndpoint {
    pub fn wants(&self, event: EventType) -> bool {
        self.enabled && (self.events.is_empty() || self.events.contains(&event))
    }

    /// What its secrets are sealed for: this endpoint's signing secret.
    pub fn secret_context(&self) -> String {
        format!("webhook-endpoint:{}:secret", self.id)
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// A 2xx answer.
    Delivered,
    /// Failed; tried again at `next_attempt_at`.
    Retrying,
    /// Failed, and the schedule is used up.
    GaveUp,
    /// Failed, and the endpoint was disabled (410 Gone, or failing for too long).
    Disabled,
}

/// One attempt to deliver an event to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub id: String,
    pub owner: Tenant,
    pub endpoint_id: EndpointId,
    /// The event's id, sent as `webhook-id`: the same for every attempt of one event.
    pub event_id: String,
    pub event_type: EventType,
    /// 1 for the first.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status; `None` when none came (timeout, refused connection).
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub outcome: AttemptOutcome,
    pub error: Option<String>,
    /// The start of the receiver's answer, for the owner to see why it failed.
    pub response_excerpt: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}
