//! Outbound webhooks: events about a member's data, pushed to the endpoints they registered,
//! signed with Standard Webhooks.
//!
//! Nothing is sent from the request or import that caused an event: it is queued on the
//! events queue (`publish`), fanned out there to one delivery per endpoint that wants it
//! (`fan_out`), and each delivery is sent, logged and, when it fails, queued again on the
//! retry schedule (`delivery`). Both steps are claimed, so a redelivered message never sends
//! an event twice. A recording's data is read when it is sent, as the endpoint's owner may
//! read it then, so a queued message stays small and a push never shows what its receiver
//! may not read.

mod delivery;
pub mod destination;

pub use delivery::{deliver, replay_changes, update_endpoint};

use super::claims::{self, Claimed};
use crate::domain::{
    Change, ChangeKind, Connection, EndpointId, EventType, ExternalId, Recording, RecordingId,
    Sharing, Source, SyncJob, Tenant, Upload, UploadStatus, WebhookEndpoint,
};
use crate::services::Services;
use crate::views::JobView;
use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// How long a fanned-out event or a sent attempt is remembered, so a redelivered message
/// does not send it again: past the longest the events queue keeps a message.
const REMEMBER: chrono::Duration = chrono::Duration::days(8);

/// Something that happened to a member's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Sent as `webhook-id`: the same for every attempt and every endpoint, and derived from
    /// what happened, so publishing it again (a retried import) makes the same event.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub timestamp: DateTime<Utc>,
    /// Whose data it is about.
    pub owner: Tenant,
    pub subject: Subject,
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// A recording: its data is read when sent.
    Recording {
        recording_id: RecordingId,
        source: Source,
        external_id: ExternalId,
        /// Who could read it when the event happened (a deleted one can no longer be read).
        sharing: Sharing,
    },
    /// Anything else, with the data to send.
    Data { data: Value },
}

/// A message of the events queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// An event to fan out to the endpoints that want it.
    Event { event: Event },
    /// One endpoint's attempt at an event.
    Delivery(Delivery),
    /// A task to analyse (`derive::analysis`): work that follows an import, like an event.
    AnalyzeTask { owner: Tenant, task_id: String },
    /// An upload's recording to title from its transcript (`derive::analysis`).
    TitleRecording {
        owner: Tenant,
        recording_id: RecordingId,
    },
}

/// One endpoint's delivery of an event, as queued for its next attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub endpoint_id: EndpointId,
    pub event: Event,
    /// 1 for the first.
    pub attempt: u32,
    /// Not sent before then (a retry waits longer than a queue can delay a message).
    pub not_before: Option<DateTime<Utc>>,
    /// Set when the owner asked for a replay: the replay's id, so events delivered before are
    /// sent again.
    #[serde(default)]
    pub replay: Option<String>,
}

/// A stable id for what happened: `evt_` and 32 hex digits of a digest of `parts`.
fn event_id(parts: &[&str]) -> String {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    format!("evt_{}", crate::crypto::hex(&digest.finalize()[..16]))
}

impl Event {
    /// `kind` happened to `recording` at `at`.
    fn about_recording(
        kind: EventType,
        recording_id: &RecordingId,
        source: Source,
        external_id: &ExternalId,
        owner: Tenant,
        sharing: Sharing,
        at: DateTime<Utc>,
    ) -> Event {
        // A recording is created once; it is updated (or deleted) at a given time.
        let at_text = at.timestamp_micros().to_string();
        let parts: &[&str] = match kind {
            EventType::RecordingCreated => &[kind.as_str(), recording_id.as_str()],
            _ => &[kind.as_str(), recording_id.as_str(), &at_text],
        };
        Event {
            id: event_id(parts),
            kind,
            timestamp: at,
            owner,
            subject: Subject::Recording {
                recording_id: recording_id.clone(),
                source,
                external_id: external_id.clone(),
                sharing,
            },
        }
    }

    /// `recording` was created (`created`) or updated.
    pub fn recording(recording: &Recording, created: bool) -> Event {
        let kind = if created {
            EventType::RecordingCreated
        } else {
            EventType::RecordingUpdated
        };
        Event::about_recording(
            kind,
            &recording.id,
            recording.source,
            &recording.external_id,
            recording.owner(),
            recording.sharing,
            recording.updated_at,
        )
    }

    /// The event of a change of the feed (a replay), the same as the one published then.
    pub fn of_change(change: &Change, workspace: &crate::domain::WorkspaceId) -> Event {
        let kind = match change.kind {
            ChangeKind::RecordingCreated => EventType::RecordingCreated,
            ChangeKind::RecordingUpdated => EventType::RecordingUpdated,
            ChangeKind::RecordingDeleted => EventType::RecordingDeleted,
        };
        Event::about_recording(
            kind,
            &change.recording_id,
            change.source,
            &change.external_id,
            Tenant::new(workspace.clone(), change.user_id.clone()),
            change.sharing,
            change.at,
        )
    }

    /// `kind` happened to `owner`'s data (a sync, an upload, a connection), once: `key` names
    /// the occurrence (a job id and its end, say), so publishing it again makes the same event.
    pub fn about(
        kind: EventType,
        owner: Tenant,
        key: &str,
        at: DateTime<Utc>,
        data: Value,
    ) -> Event {
        Event {
            id: event_id(&[kind.as_str(), &owner.to_string(), key]),
            kind,
            timestamp: at,
            owner,
            subject: Subject::Data { data },
        }
    }

    /// Whether `endpoint` may be told of it: its owner's own data, or a recording shared with
    /// their workspace (whether they may still read it is checked when it is sent).
    fn reaches(&self, endpoint: &WebhookEndpoint) -> bool {
        if !endpoint.wants(self.kind) || endpoint.owner.workspace != self.owner.workspace {
            return false;
        }
        endpoint.owner == self.owner
            || matches!(
                self.subject,
                Subject::Recording {
                    sharing: Sharing::Workspace,
                    ..
                }
            )
    }
}

/// Queues `event` for the endpoints that want it.
pub async fn publish(services: &Services, event: &Event) -> Result<()> {
    send(
        services,
        &Message::Event {
            event: event.clone(),
        },
    )
    .await
}

/// Puts `message` on the events queue.
pub async fn send(services: &Services, message: &Message) -> Result<()> {
    services.events_queue.send(&message.to_body()?).await
}

/// A sync job ended: `sync.completed`, with its status, counts and summary.
pub async fn sync_completed(services: &Services, job: &SyncJob) -> Result<()> {
    let at = job.finished_at.unwrap_or_else(|| services.clock.now());
    let data = json!({ "job": JobView::from(job) });
    let event = Event::about(
        EventType::SyncCompleted,
        job.owner(),
        job.id.as_str(),
        at,
        data,
    );
    publish(services, &event).await
}

/// An upload was handled: `upload.completed` (a recording, new or the same as before) or
/// `upload.failed` with the reason.
pub async fn upload_finished(services: &Services, upload: &Upload, job: &SyncJob) -> Result<()> {
    let kind = match upload.status {
        UploadStatus::Failed => EventType::UploadFailed,
        _ => EventType::UploadCompleted,
    };
    let data = json!({
        "upload": {
            "id": upload.id,
            "filename": upload.filename,
            "status": upload.status,
            "recording_id": upload.recording_id,
            "error": upload.error,
        },
        "job": JobView::from(job),
    });
    let key = format!("{}:{}", upload.id, upload.updated_at.timestamp_micros());
    let event = Event::about(kind, upload.owner(), &key, upload.updated_at, data);
    publish(services, &event).await
}

/// Something went wrong with a connection (`connection.needs_reauth`, `connection.error`);
/// `key` names the occurrence. Best effort, as the activity log it goes with: a failure is
/// reported in the process log and never fails what it tells of.
pub async fn connection_event(
    services: &Services,
    connection: &Connection,
    kind: EventType,
    key: &str,
    message: &str,
) {
    let at = services.clock.now();
    let data = json!({
        "connection": {
            "id": connection.id,
            "source": connection.source,
            "user_id": connection.user_id,
        },
        "message": message,
    });
    let event = Event::about(kind, connection.owner(), key, at, data);
    if let Err(e) = publish(services, &event).await {
        tracing::error!(
            connection = %connection.id,
            event = kind.as_str(),
            error = format!("{e:#}"),
            "an outbound event could not be queued"
        );
    }
}

impl Message {
    pub fn parse(body: &str) -> Result<Message, serde_json::Error> {
        serde_json::from_str(body)
    }

    pub fn to_body(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

impl Delivery {
    /// The first attempt of `event` at `endpoint` (`replay`: the replay that asks for it).
    fn first(endpoint: &WebhookEndpoint, event: Event, replay: Option<String>) -> Message {
        Message::Delivery(Delivery {
            endpoint_id: endpoint.id.clone(),
            event,
            attempt: 1,
            not_before: None,
            replay,
        })
    }
}

/// Handles one message of the events queue.
pub async fn handle(services: &Services, message: Message) -> Result<()> {
    match message {
        Message::Event { event } => fan_out(services, &event).await,
        Message::Delivery(delivery) => deliver(services, delivery).await,
        Message::AnalyzeTask { owner, task_id } => {
            super::derive::analysis::analyze(services, &owner, &task_id).await
        }
        Message::TitleRecording {
            owner,
            recording_id,
        } => super::derive::analysis::title_recording(services, &owner, &recording_id).await,
    }
}

/// Queues a first attempt of `event` for every endpoint it reaches, once. Most workspaces have
/// no endpoint: they cost one read.
async fn fan_out(services: &Services, event: &Event) -> Result<()> {
    let endpoints = services.endpoints.list(&event.owner.workspace).await?;
    let deliveries: Vec<String> = endpoints
        .iter()
        .filter(|endpoint| event.reaches(endpoint))
        .map(|endpoint| Delivery::first(endpoint, event.clone(), None).to_body())
        .collect::<Result<_, _>>()?;
    if deliveries.is_empty() {
        return Ok(());
    }
    let now = services.clock.now();
    let key = format!("outbound:event:{}:{}", event.owner.workspace, event.id);
    let once = services.once.as_ref();
    match claims::claim(once, &key, chrono::Duration::minutes(2), now).await? {
        Claimed::Done => return Ok(()),
        Claimed::InProgress => bail!("event {} is being fanned out by another worker", event.id),
        Claimed::Ours => {}
    }
    match services.events_queue.send_batch(&deliveries).await {
        Ok(()) => claims::confirm(once, &key, REMEMBER, now).await,
        Err(e) => {
            claims::release(once, &key).await?;
            Err(e)
        }
    }
}
