//! The domain model: what callsync stores, independent of any backend or source.

mod connection;
mod ids;
mod job;
mod recording;
mod upload;

pub use connection::{
    Connection, ConnectionStatus, OAuthTokens, StoredCredentials, SyncCheckpoint,
    WebhookRegistration,
};
pub use ids::{
    ConnectionId, ExternalId, InvalidValue, JobId, RecordingId, Source, UploadId, UserId,
};
pub use job::{
    summarize, Counts, FailedItem, JobKind, JobStatus, Progress, SyncJob, SyncScope, JOB_RETENTION,
    MONTHLY_LIMIT_REACHED,
};
pub use recording::{
    hex_digest, ActionItem, MeetingContent, Participant, Recording, RecordingFile, TranscriptRef,
    TranscriptSegment,
};
pub use upload::{Attempt, Upload, UploadStatus};
