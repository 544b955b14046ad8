//! The narrow capabilities the pipeline needs from the world. Each trait has a local
//! (SQLite, filesystem) and an AWS (DynamoDB, S3, SQS) implementation, and both pass the
//! contract suite in `contract`. Expected outcomes (already exists, taken, at ceiling) are
//! values; `Err` means the backend itself failed.

use crate::domain::{
    ActivityEntry, Connection, ConnectionId, DeliveryAttempt, EndpointId, ExternalId, JobId,
    Recording, RecordingId, Sharing, Source, SyncJob, Tenant, Upload, UploadId, WebhookEndpoint,
    WorkspaceId,
};
use anyhow::Result;
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::AsyncRead;

/// One page of a listing; `next_cursor` is opaque to callers and `None` on the last page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A listing cursor that this backend did not hand out (a client error, not a fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is not one this API returned; start again without it")]
pub struct InvalidCursor;

/// Result of an insert-if-absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New,
    AlreadyExists,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordingQuery {
    pub source: Option<Source>,
    /// Case-insensitive substring of the title or transcript.
    pub text: Option<String>,
    pub limit: usize,
    pub cursor: Option<String>,
}

/// Recordings are read by a member of a workspace (the viewer): they see their own, and the
/// ones other members share with the workspace.
#[async_trait]
pub trait RecordingReader: Send + Sync {
    /// The recording, when `viewer` may read it.
    async fn get(&self, viewer: &Tenant, id: &RecordingId) -> Result<Option<Recording>>;
    /// `owner`'s recording of `(source, external_id)`, whoever may read it.
    async fn find_by_key(
        &self,
        owner: &Tenant,
        source: Source,
        external_id: &ExternalId,
    ) -> Result<Option<Recording>>;
    /// What `viewer` may read, newest first by `Recording::sort_time`.
    async fn list(&self, viewer: &Tenant, query: &RecordingQuery) -> Result<Page<Recording>>;
    /// How many recordings of `source` `owner` has.
    async fn count(&self, owner: &Tenant, source: Source) -> Result<u64>;
    /// How many recordings of each source `owner` has, in one read (every source is there,
    /// zero when it has none).
    async fn count_by_source(&self, owner: &Tenant) -> Result<BTreeMap<Source, u64>>;
}

#[async_trait]
pub trait RecordingWriter: Send + Sync {
    /// Stores the recording unless its owner has one with the same `(source, external_id)`.
    async fn insert_if_absent(&self, recording: &Recording) -> Result<Inserted>;
    /// Replaces the stored recording with the same id.
    async fn update(&self, recording: &Recording) -> Result<()>;
    /// Gives every recording of `source` that `owner` has the sharing `sharing` (a
    /// connection's sharing changed); how many changed.
    async fn set_sharing(&self, owner: &Tenant, source: Source, sharing: Sharing) -> Result<u64>;
}

pub trait RecordingStore: RecordingReader + RecordingWriter {}
impl<T: RecordingReader + RecordingWriter> RecordingStore for T {}

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Stores a new connection unless its owner already has one for that source.
    async fn insert_if_absent(&self, connection: &Connection) -> Result<Inserted>;
    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>>;
    async fn find(&self, owner: &Tenant, source: Source) -> Result<Option<Connection>>;
    async fn list_for_owner(&self, owner: &Tenant) -> Result<Vec<Connection>>;
    /// Every member's connections in `workspace`, oldest first.
    async fn list_for_workspace(&self, workspace: &WorkspaceId) -> Result<Vec<Connection>>;
    /// Connections of `source` whose account the provider's app-level events name `key`.
    async fn find_by_route_key(&self, source: Source, key: &str) -> Result<Vec<Connection>>;
    /// Pages through every connection that is not disconnected, oldest first.
    async fn list_all(&self, cursor: Option<&str>, limit: usize) -> Result<Page<Connection>>;
    /// Writes `connection` if the stored version is still `connection.version`, bumping it;
    /// `false` when another writer got there first (re-read and try again).
    async fn replace(&self, connection: &Connection) -> Result<bool>;
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Creates or overwrites the job.
    async fn put(&self, job: &SyncJob) -> Result<()>;
    async fn get(&self, owner: &Tenant, id: &JobId) -> Result<Option<SyncJob>>;
    /// Newest first.
    async fn list(
        &self,
        owner: &Tenant,
        source: Option<Source>,
        limit: usize,
    ) -> Result<Vec<SyncJob>>;
    /// The jobs of every user not yet finished and last saved before `cutoff`, oldest first,
    /// a page at a time: among them are those whose worker died (the sweeps' to end).
    async fn list_unfinished_before(
        &self,
        cutoff: DateTime<Utc>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<SyncJob>>;
}

#[async_trait]
pub trait UploadStore: Send + Sync {
    async fn put(&self, upload: &Upload) -> Result<()>;
    async fn get(&self, owner: &Tenant, id: &UploadId) -> Result<Option<Upload>>;
    /// `owner`'s uploads, newest first.
    async fn list(&self, owner: &Tenant, limit: usize) -> Result<Vec<Upload>>;
}

/// The change feed. The recording writers append to it in the same transaction as the
/// recording itself (a new recording: `recording.created`; an update: `recording.updated`),
/// numbering each workspace's changes 1, 2, 3... in commit order; this port reads it.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// Up to `limit` unexpired changes of `workspace` numbered after `after`, in order. A
    /// change is readable once it is committed, and every lower number is committed before it.
    async fn read(
        &self,
        workspace: &WorkspaceId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<crate::domain::Change>>;
}

/// The activity log: a workspace's integration history, until each entry expires.
#[async_trait]
pub trait ActivityLog: Send + Sync {
    async fn record(&self, entry: &ActivityEntry) -> Result<()>;
    /// Unexpired entries of `workspace`, newest first: only `user`'s when given, only those of
    /// `source` when given.
    async fn list(
        &self,
        workspace: &WorkspaceId,
        user: Option<&crate::domain::UserId>,
        source: Option<Source>,
        cursor: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Page<ActivityEntry>>;
}

/// Outbound webhook endpoints, kept per workspace, and the log of delivery attempts to each.
#[async_trait]
pub trait EndpointStore: Send + Sync {
    /// Stores a new endpoint.
    async fn insert(&self, endpoint: &WebhookEndpoint) -> Result<()>;
    async fn get(
        &self,
        workspace: &WorkspaceId,
        id: &EndpointId,
    ) -> Result<Option<WebhookEndpoint>>;
    /// Every endpoint of `workspace`, oldest first.
    async fn list(&self, workspace: &WorkspaceId) -> Result<Vec<WebhookEndpoint>>;
    /// Writes `endpoint` if the stored version is still `endpoint.version`, bumping it;
    /// `false` when another writer got there first or it is gone.
    async fn replace(&self, endpoint: &WebhookEndpoint) -> Result<bool>;
    /// Removes the endpoint (its attempts expire on their own).
    async fn delete(&self, workspace: &WorkspaceId, id: &EndpointId) -> Result<()>;
    async fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<()>;
    /// Up to `limit` unexpired attempts to endpoint `id`, newest first.
    async fn attempts(
        &self,
        workspace: &WorkspaceId,
        id: &EndpointId,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryAttempt>>;
}

/// A stored document and the version that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub body: String,
    pub version: u64,
}

/// One change of `DerivedStore::write_together`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedWrite {
    pub kind: String,
    pub id: String,
    /// The document to store; `None` removes it.
    pub body: Option<String>,
    /// The version it expects stored; `None`: nothing stored.
    pub expected: Option<u64>,
}

/// What is derived from a member's recordings (contacts, companies, tasks, meetings) and
/// what they set themselves, as JSON documents by kind and id, per member. Writes are
/// conditioned on the version read, so concurrent imports never lose each other's updates.
#[async_trait]
pub trait DerivedStore: Send + Sync {
    async fn get(&self, owner: &Tenant, kind: &str, id: &str) -> Result<Option<Versioned>>;
    /// Writes `body` if the stored version is `expected` (`None`: nothing stored); `false`
    /// when another writer got there first. The written version is `expected + 1` (or 1).
    async fn put(
        &self,
        owner: &Tenant,
        kind: &str,
        id: &str,
        body: &str,
        expected: Option<u64>,
    ) -> Result<bool>;
    /// Applies every write, each on its expected version, or none of them; `false` when one
    /// expectation did not hold (another writer got there first).
    async fn write_together(&self, owner: &Tenant, writes: &[DerivedWrite]) -> Result<bool>;
    /// The documents of `kind` of `owner` whose id starts with `prefix`, in id order.
    async fn list_prefixed(
        &self,
        owner: &Tenant,
        kind: &str,
        prefix: &str,
    ) -> Result<Vec<(String, Versioned)>>;
    /// Every document of `kind` of `owner`, in id order.
    async fn list(&self, owner: &Tenant, kind: &str) -> Result<Vec<(String, Versioned)>> {
        self.list_prefixed(owner, kind, "").await
    }
    /// Removes every document of `kind` of `owner` (a rebuild starts afresh).
    async fn clear(&self, owner: &Tenant, kind: &str) -> Result<()>;
}

/// Small keyed items that expire: OAuth states, webhook receipts, per-tick claims.
#[async_trait]
pub trait OnceStore: Send + Sync {
    /// Stores `value` under `key` unless a live (unexpired) item is there; `true` if stored.
    async fn insert_if_absent(
        &self,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Atomically removes and returns the live item; an expired one is never returned.
    async fn take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>>;
    /// The live item's value; an expired one reads as absent.
    async fn get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>>;
    /// Stores `value` under `key` until `expires_at`, whatever is there (confirming a claim).
    async fn put(&self, key: &str, value: &str, expires_at: DateTime<Utc>) -> Result<()>;
    /// Removes the item whatever its state (releasing a claim).
    async fn remove(&self, key: &str) -> Result<()>;
}

/// Exclusive, expiring ownership of a name (one sync or one token refresh per connection).
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes or renews the lease: succeeds when it is free, expired, or already `owner`'s.
    async fn acquire(
        &self,
        name: &str,
        owner: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Frees the lease if `owner` still holds it.
    async fn release(&self, name: &str, owner: &str) -> Result<()>;
}

/// Counters that never pass a ceiling (monthly import quota).
#[async_trait]
pub trait CounterStore: Send + Sync {
    /// Adds one while the counter is below `limit`; the new value, or `None` at the ceiling.
    async fn increment_below(
        &self,
        name: &str,
        limit: u64,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<u64>>;
    /// Gives one back (a reserved import that did not happen).
    async fn decrement(&self, name: &str) -> Result<()>;
    async fn get(&self, name: &str) -> Result<u64>;
}

/// One message as a consumer receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    pub receive_count: u32,
}

#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, body: &str) -> Result<()>;
    /// Sends a message that becomes visible only after `delay` (at most 15 minutes, as SQS).
    async fn send_delayed(&self, body: &str, delay: Duration) -> Result<()>;
    /// Sends every body, in batches of at most 10, retrying entries that failed.
    async fn send_batch(&self, bodies: &[String]) -> Result<()>;
    /// Up to `max` visible messages, hidden from other receivers for `visibility`. A message
    /// received more than the queue's maximum receive count goes to the dead-letter queue.
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<QueueMessage>>;
    async fn delete(&self, receipt: &str) -> Result<()>;
    /// Messages that reached the dead-letter queue (for inspection and tests).
    async fn receive_dead_letters(&self, max: usize) -> Result<Vec<QueueMessage>>;
}

/// A readable blob, streamed.
pub type BlobReader = Box<dyn AsyncRead + Send + Unpin>;

/// Where and how a browser uploads a file directly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PresignedUpload {
    pub url: String,
    pub method: &'static str,
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<()>;
    /// Stores the file at `path` as `key`, streamed from disk (never whole in memory).
    async fn put_file(&self, key: &str, path: &std::path::Path, content_type: &str) -> Result<()>;
    /// `None` when there is no such blob.
    async fn get(&self, key: &str) -> Result<Option<BlobReader>>;
    async fn delete(&self, key: &str) -> Result<()>;
    /// Where an uploader PUTs the blob `key` itself: a URL signed for `content_type` and for
    /// exactly `content_length` bytes (another type or length is refused), valid for
    /// `expires_in` and once (a PUT to a key already stored is refused). The headers are the
    /// ones the uploader must send; the uploader's HTTP client adds `Content-Length`.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> Result<PresignedUpload>;

    /// Reads a whole (small) blob into memory.
    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        use tokio::io::AsyncReadExt;
        let Some(mut reader) = self.get(key).await? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await?;
        Ok(Some(out))
    }
}

/// The current time, injected so tests can move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves forward by `step` every time it is read, so a test can make a long
/// run reach its deadline without waiting.
#[derive(Debug)]
pub struct TickingClock {
    now: std::sync::Mutex<DateTime<Utc>>,
    step: chrono::Duration,
}

impl TickingClock {
    pub fn new(start: DateTime<Utc>, step: chrono::Duration) -> Self {
        Self {
            now: std::sync::Mutex::new(start),
            step,
        }
    }
}

impl Clock for TickingClock {
    fn now(&self) -> DateTime<Utc> {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += self.step;
        *now
    }
}

/// A clock tests set and advance by hand.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(std::sync::Mutex::new(start))
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What became of one webhook delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Verified, stored and queued for import (or kept until its connection resumes).
    Accepted,
    /// A retry of a delivery already accepted: nothing changed.
    Duplicate,
    /// Another copy was being taken in at that moment: the sender was told to retry.
    InProgress,
    /// Verified and answered at once, nothing queued: a validation challenge, a
    /// deauthorization, or an event callsync does not act on.
    Answered,
    /// Signature headers missing or malformed, or no signature matches.
    InvalidSignature,
    /// Signed too long ago or too far ahead (replay protection).
    Stale,
    /// Verified, but no connection's account matches the recorder yet: kept for later.
    Unmatched,
    /// Refused for what it is: too large, not a meeting, unknown or disconnected connection.
    Rejected,
    /// Our fault: it could not be stored or queued, so the sender was told to retry.
    Failed,
}

/// One attempt to deliver a webhook, as the delivery log keeps it. Header names only: their
/// values carry signatures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Unique per attempt (retries of one delivery share `webhook_id`, not this).
    pub id: String,
    pub source: Source,
    /// Whose log it is in; `None` when no member could be told (an app-level delivery that
    /// did not verify or matches nobody yet).
    pub owner: Option<Tenant>,
    pub connection_id: Option<ConnectionId>,
    /// The sender's `webhook-id`, when the request had a readable one.
    pub webhook_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub status: DeliveryStatus,
    /// The HTTP status the sender was answered with.
    pub http_status: u16,
    pub signature_valid: bool,
    pub error: Option<String>,
    pub header_names: Vec<String>,
    pub body_bytes: u64,
    pub expires_at: DateTime<Utc>,
}

/// An item held back by `DeliveryLog::hold`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldItem {
    pub key: String,
    pub value: String,
}

/// The webhook delivery log (every attempt, until it expires) and deliveries held back until
/// they can be imported (their connection is resumed, their user connects).
#[async_trait]
pub trait DeliveryLog: Send + Sync {
    async fn record(&self, delivery: &DeliveryRecord) -> Result<()>;
    /// Up to `limit` unexpired attempts of `source` in `owner`'s log (`None`: the log of
    /// attempts no member could be told), newest first.
    async fn list(
        &self,
        owner: Option<&Tenant>,
        source: Source,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryRecord>>;
    /// Holds `value` as `key` under `holder` until `expires_at`, replacing an item held
    /// there with the same key.
    async fn hold(
        &self,
        holder: &str,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    /// Every unexpired item held under `holder`, in key order.
    async fn held(&self, holder: &str, now: DateTime<Utc>) -> Result<Vec<HeldItem>>;
    /// Atomically removes and returns one unexpired held item's value; `None` when it is not
    /// there (taken by another caller, or expired).
    async fn take_held(
        &self,
        holder: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>>;
}
