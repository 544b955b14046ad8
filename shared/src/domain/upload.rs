//! An audio or video file a user uploads for transcription.

use super::ids::{RecordingId, UploadId, UserId, WorkspaceId};
use super::recording::MeetingContent;
use super::tenant::{Sharing, Tenant};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    Pending,
    Uploaded,
    Transcribing,
    Completed,
    Failed,
    Duplicate,
}

/// Which try at transcribing an upload: `number` counts from 1 in each `round`, and a round
/// begins when the file arrives (round 0) and each time its user asks for a retry. Later
/// attempts order after earlier ones, so a message for an attempt already overtaken does
/// nothing.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Attempt {
    pub round: u32,
    pub number: u32,
}

impl Attempt {
    /// The attempt the file's arrival starts.
    pub const FIRST: Attempt = Attempt {
        round: 0,
        number: 1,
    };

    /// The next try in the same round.
    pub fn next(self) -> Attempt {
        Attempt {
            round: self.round,
            number: self.number.saturating_add(1),
        }
    }

    /// The first try of a new round (the user asked for it).
    pub fn next_round(self) -> Attempt {
        Attempt {
            round: self.round.saturating_add(1),
            number: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub id: UploadId,
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    /// Who reads the recording it makes besides its owner.
    #[serde(default)]
    pub sharing: Sharing,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    /// Blob key of the staged object.
    pub object_key: String,
    pub status: UploadStatus,
    pub chunks_done: u32,
    pub chunks_total: u32,
    pub recording_id: Option<RecordingId>,
    /// Why the upload failed, or, while another attempt is due, why the last one did not
    /// finish.
    pub error: Option<String>,
    /// The latest attempt started or scheduled; the default before the first.
    #[serde(default)]
    pub attempt: Attempt,
    /// When the next attempt runs, while one is scheduled after a transient failure.
    #[serde(default)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Set when the file is a provider's recording that came without a transcript: the
    /// meeting it is imported as once transcribed. `None` for a file a member uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting: Option<Box<RecordedMeeting>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A provider's meeting waiting for the transcript of its recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedMeeting {
    /// The meeting as the provider gave it, without a transcript.
    pub content: MeetingContent,
    /// The provider's version of it, stored with the recording so a later sync of the same
    /// version skips it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl Upload {
    /// The member it belongs to.
    pub fn owner(&self) -> Tenant {
        Tenant::new(self.workspace_id.clone(), self.user_id.clone())
    }

    /// An upload the member has announced and not yet sent, shared as their workspace shares
    /// by default (the caller may choose otherwise).
    pub fn pending(
        id: UploadId,
        owner: Tenant,
        filename: String,
        content_type: String,
        size_bytes: u64,
        object_key: String,
        now: DateTime<Utc>,
    ) -> Self {
        Upload {
            id,
            sharing: Sharing::default_for(&owner),
            workspace_id: owner.workspace,
            user_id: owner.user,
            filename,
            content_type,
            size_bytes,
            object_key,
            status: UploadStatus::Pending,
            chunks_done: 0,
            chunks_total: 0,
            recording_id: None,
            error: None,
            attempt: Attempt::default(),
            next_attempt_at: None,
            meeting: None,
            created_at: now,
            updated_at: now,
        }
    }
}
