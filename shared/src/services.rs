//! Everything a handler needs, built once per process by the chosen backend.

use crate::config::Config;
use crate::ports::{
    ActivityLog, BlobStore, ChangeFeed, Clock, ConnectionStore, CounterStore, DeliveryLog,
    JobStore, LeaseStore, OnceStore, Queue, RecordingStore, UploadStore,
};
use crate::providers::Providers;
use crate::secrets::Secrets;
use std::sync::Arc;

#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub secrets: Arc<Secrets>,
    /// Clients of Fathom and the other third-party APIs.
    pub providers: Arc<Providers>,
    pub clock: Arc<dyn Clock>,
    pub recordings: Arc<dyn RecordingStore>,
    pub connections: Arc<dyn ConnectionStore>,
    pub jobs: Arc<dyn JobStore>,
    pub uploads: Arc<dyn UploadStore>,
    pub once: Arc<dyn OnceStore>,
    pub leases: Arc<dyn LeaseStore>,
    pub counters: Arc<dyn CounterStore>,
    /// Webhook delivery attempts, and deliveries held until they can be imported.
    pub deliveries: Arc<dyn DeliveryLog>,
    /// Each workspace's integration history.
    pub activity: Arc<dyn ActivityLog>,
    pub changes: Arc<dyn ChangeFeed>,
    pub blobs: Arc<dyn BlobStore>,
    pub sync_queue: Arc<dyn Queue>,
    pub transcribe_queue: Arc<dyn Queue>,
}
