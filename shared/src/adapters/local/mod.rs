//! The embedded backend: SQLite, the filesystem, a SQLite-backed queue.

mod blobs;
mod db;
mod deliveries;
mod kv;
mod queue;
mod records;

pub use blobs::{LocalBlobs, ReceiveError, ReceivedBlob, UploadUrlError, UPLOAD_ROUTE};
pub use db::Db;
pub use deliveries::LocalDeliveries;
pub use kv::{purge_expired, LocalCounters, LocalLeases, LocalOnce};
pub use queue::LocalQueue;
pub use records::{LocalConnections, LocalJobs, LocalRecordings, LocalUploads};

use crate::config::Config;
use crate::crypto::SealingKey;
use crate::ports::{Clock, SystemClock};
use crate::secrets::{Secrets, TOKEN_SEALING_KEY};
use crate::services::Services;
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;

/// How many times a local message is received before it is dead-lettered (as the template's
/// `maxReceiveCount`).
pub const MAX_RECEIVES: u32 = 5;

pub const SYNC_QUEUE: &str = "sync";
pub const TRANSCRIBE_QUEUE: &str = "transcribe";

/// The local backend's services plus the handles only the dev server needs.
#[derive(Clone)]
pub struct LocalBackend {
    pub services: Services,
    pub db: Db,
    pub blobs: LocalBlobs,
    pub sync_queue: LocalQueue,
    pub transcribe_queue: LocalQueue,
}

/// Reads a key file from the data directory, creating it on first use.
fn key_file(dir: &Path, name: &str, make: impl FnOnce() -> String) -> Result<String> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(existing) => Ok(existing.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let fresh = make();
            std::fs::write(&path, &fresh).with_context(|| format!("writing {}", path.display()))?;
            Ok(fresh)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Secrets for the local backend: environment variables, with the sealing key generated into
/// the data directory when `TOKEN_SEALING_KEY` is not set.
pub fn load_secrets(config: &Config) -> Result<Secrets> {
    let encoded = match std::env::var(TOKEN_SEALING_KEY)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(key) => key,
        None => key_file(
            &config.local_data_dir,
            "sealing.key",
            SealingKey::generate_base64,
        )?,
    };
    let key = SealingKey::from_base64(&encoded)
        .context("configuration: TOKEN_SEALING_KEY must be 32 bytes of base64")?;
    Ok(Secrets::from_lookup(key, |name| std::env::var(name).ok()))
}

impl LocalBackend {
    pub fn open(config: Arc<Config>) -> Result<Self> {
        Self::open_with(config, Arc::new(SystemClock), None)
    }

    /// Opens the backend in `config.local_data_dir` with an injected clock and, for tests,
    /// given secrets instead of the environment.
    pub fn open_with(
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
        secrets: Option<Secrets>,
    ) -> Result<Self> {
        let dir = &config.local_data_dir;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating LOCAL_DATA_DIR {}", dir.display()))?;
        let db = Db::open(&dir.join("callsync.db"))?;
        let secrets = match secrets {
            Some(s) => s,
            None => load_secrets(&config)?,
        };
        let url_key = key_file(dir, "upload-url.key", SealingKey::generate_base64)?;
        let blobs = LocalBlobs::new(
            dir.join("blobs"),
            config.public_base_url.clone(),
            url_key.into_bytes(),
        );
        let sync_queue = LocalQueue::new(db.clone(), SYNC_QUEUE, MAX_RECEIVES);
        let transcribe_queue = LocalQueue::new(db.clone(), TRANSCRIBE_QUEUE, MAX_RECEIVES);
        let providers = Arc::new(crate::providers::Providers::new(&config, &secrets)?);
        let services = Services {
            config,
            secrets: Arc::new(secrets),
            providers,
            clock,
            recordings: Arc::new(LocalRecordings(db.clone())),
            connections: Arc::new(LocalConnections(db.clone())),
            jobs: Arc::new(LocalJobs(db.clone())),
            uploads: Arc::new(LocalUploads(db.clone())),
            once: Arc::new(LocalOnce(db.clone())),
            leases: Arc::new(LocalLeases(db.clone())),
            counters: Arc::new(LocalCounters(db.clone())),
            deliveries: Arc::new(LocalDeliveries(db.clone())),
            blobs: Arc::new(blobs.clone()),
            sync_queue: Arc::new(sync_queue.clone()),
            transcribe_queue: Arc::new(transcribe_queue.clone()),
        };
        Ok(LocalBackend {
            services,
            db,
            blobs,
            sync_queue,
            transcribe_queue,
        })
    }
}
