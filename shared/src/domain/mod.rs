//! The domain model: what callsync stores, independent of any backend or source.

mod activity;
mod change;
mod connection;
mod ids;
mod job;
mod outbound;
mod recording;
mod tenant;
mod upload;

pub use activity::{ActivityAction, ActivityEntry, ACTIVITY_RETENTION};
pub use change::{Change, ChangeKind, CHANGE_RETENTION};
pub use connection::{
    Connection, ConnectionStatus, OAuthTokens, StoredCredentials, SyncCheckpoint,
    WebhookRegistration,
};
pub use ids::{
    ConnectionId, EndpointId, ExternalId, InvalidValue, JobId, RecordingId, Source, UploadId,
    UserId, WorkspaceId,
};
pub use job::{
    summarize, Counts, FailedItem, JobKind, JobStatus, Progress, SyncJob, SyncScope, JOB_RETENTION,
    MONTHLY_LIMIT_REACHED,
};
pub use outbound::{
    AttemptOutcome, DeliveryAttempt, EndpointSecret, EventType, WebhookEndpoint, ATTEMPT_RETENTION,
};
pub use recording::{
    hex_digest, ActionItem, MeetingContent, Participant, Recording, RecordingFile, TranscriptRef,
    TranscriptSegment,
};
pub use tenant::{personal_workspace, Role, Sharing, Tenant, PERSONAL_PREFIX};
pub use upload::{Attempt, Upload, UploadStatus};
