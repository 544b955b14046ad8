//! The change feed: each change to a workspace's recordings, numbered in the order it was
//! committed, for the teams that keep their own copy in step.

use super::{ExternalId, Recording, RecordingId, Sharing, Source, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How long a change stays readable: a cursor keeps working for at least 30 days.
pub const CHANGE_RETENTION: chrono::Duration = chrono::Duration::days(35);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    #[serde(rename = "recording.created")]
    RecordingCreated,
    #[serde(rename = "recording.updated")]
    RecordingUpdated,
    #[serde(rename = "recording.deleted")]
    RecordingDeleted,
}

/// One committed change. `seq` is its place in its workspace's feed: 1, 2, 3... with no gaps,
/// assigned by the store in the transaction that writes the recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub seq: u64,
    pub kind: ChangeKind,
    pub recording_id: RecordingId,
    pub source: Source,
    pub external_id: ExternalId,
    /// Whose recording it is, and who could read it then.
    pub user_id: UserId,
    pub sharing: Sharing,
    pub at: DateTime<Utc>,
}

impl Change {
    /// The change `kind` to `recording`, before the store numbers it.
    pub fn of(kind: ChangeKind, recording: &Recording) -> Change {
        Change {
            seq: 0,
            kind,
            recording_id: recording.id.clone(),
            source: recording.source,
            external_id: recording.external_id.clone(),
            user_id: recording.user_id.clone(),
            sharing: recording.sharing,
            at: recording.updated_at,
        }
    }

    /// When the store may forget it.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.at + CHANGE_RETENTION
    }
}
