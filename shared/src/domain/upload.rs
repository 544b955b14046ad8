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
