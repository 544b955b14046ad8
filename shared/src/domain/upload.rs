//! An audio or video file a user uploads for transcription.

use super::ids::{RecordingId, UploadId, UserId};
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub id: UploadId,
    pub user_id: UserId,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    /// Blob key of the staged object.
    pub object_key: String,
    pub status: UploadStatus,
    pub chunks_done: u32,
    pub chunks_total: u32,
    pub recording_id: Option<RecordingId>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Upload {
    /// An upload the user has announced and not yet sent.
    pub fn pending(
        id: UploadId,
        user_id: UserId,
        filename: String,
        content_type: String,
        size_bytes: u64,
        object_key: String,
        now: DateTime<Utc>,
    ) -> Self {
        Upload {
            id,
            user_id,
            filename,
            content_type,
            size_bytes,
            object_key,
            status: UploadStatus::Pending,
            chunks_done: 0,
            chunks_total: 0,
            recording_id: None,
            error: None,
            created_at: now,
            updated_at: now,
        }
    }
}
