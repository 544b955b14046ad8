//! The domain model: what callsync stores, independent of any backend or source.

mod activity;
mod change;
mod connection;
mod derived;
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
pub use derived::{
    company_name, email_domain, normalize_email, split_name, AnalysisStatus, Company,
    CompanyMeeting, Contact, LinkedRecording, Meeting, MeetingRef, MemberSettings, SlotEntry, Task,
    TaskAnalysis, TaskCategory, TaskState, TaskStatus, FREE_MAIL_DOMAINS,
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
pub use upload::{Attempt, RecordedMeeting, Upload, UploadStatus};
