//! Everything a handler needs, built once per process by the chosen backend.

use crate::config::Config;
use crate::ports::{
    ActivityLog, BlobStore, ChangeFeed, Clock, ConnectionStore, CounterStore, DeliveryLog,
    DerivedStore, EndpointStore, JobStore, LeaseStore, OnceStore, Queue, RecordingStore,
    UploadStore,
};
use crate::providers::Providers;
use crate::secrets::{Secrets, SharedSecrets};
use std::sync::Arc;
use tokio::sync::OnceCell;

#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    /// Loaded on first use (see `Services::secrets`).
    pub secrets: Arc<SharedSecrets>,
    /// Clients of Fathom and the other third-party APIs, built on first use from the
    /// configuration and the secrets (see `Services::providers`).
    pub providers: Arc<OnceCell<Providers>>,
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
    /// Outbound webhook endpoints and their delivery attempts.
    pub endpoints: Arc<dyn EndpointStore>,
    /// Contacts, companies, tasks and meetings derived from each member's recordings.
    pub derived: Arc<dyn DerivedStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub sync_queue: Arc<dyn Queue>,
    pub transcribe_queue: Arc<dyn Queue>,
    /// Outbound webhook events, fanned out to endpoints, and each endpoint's deliveries.
    pub events_queue: Arc<dyn Queue>,
}

impl Services {
    /// The secrets, loaded by the first caller of the process (a function that needs none never
    /// fetches them).
    pub async fn secrets(&self) -> anyhow::Result<&Secrets> {
        self.secrets.get().await
    }

    /// The third-party API clients, built by the first caller of the process; they hold
    /// secrets (OAuth client secrets, webhook secrets, the transcription key), so building
    /// them loads the secrets.
    pub async fn providers(&self) -> anyhow::Result<&Providers> {
        self.providers
            .get_or_try_init(|| async {
                let secrets = self.secrets().await?;
                Providers::new(&self.config, secrets)
            })
            .await
    }
}
