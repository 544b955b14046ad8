//! The embedded backend: SQLite, the filesystem, a SQLite-backed queue.

mod activity;
mod blobs;
mod changes;
mod db;
mod deliveries;
mod derived;
mod endpoints;
mod kv;
mod queue;
mod records;

#[cfg(test)]
mod migration_tests;

pub use activity::LocalActivity;
pub use blobs::{LocalBlobs, ReceiveError, ReceivedBlob, UploadUrlError, UPLOAD_ROUTE};
pub use changes::LocalChanges;
pub use db::Db;
pub use deliveries::LocalDeliveries;
pub use derived::LocalDerived;
pub use endpoints::LocalEndpoints;
pub use kv::{purge_expired, LocalCounters, LocalLeases, LocalOnce};
pub use queue::LocalQueue;
pub use records::{LocalConnections, LocalJobs, LocalRecordings, LocalUploads};

use crate::config::Config;
use crate::crypto::SealingKey;
use crate::ports::{Clock, SystemClock};
use crate::secrets::{Secrets, SharedSecrets, TOKEN_SEALING_KEY};
use crate::services::Services;
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;

/// How many times a local message is received before it is dead-lettered (as the template's
/// `maxReceiveCount`).
pub const MAX_RECEIVES: u32 = 5;

pub const SYNC_QUEUE: &str = "sync";
pub const TRANSCRIBE_QUEUE: &str = "transcribe";
/// The queue of outbound webhook events and their deliveries.
pub const EVENTS_QUEUE: &str = "events";

/// The local backend's services plus the handles only the dev server needs.
#[derive(Clone)]
pub struct LocalBackend {
    pub services: Services,
    pub db: Db,
    pub blobs: LocalBlobs,
    pub sync_queue: LocalQueue,
    pub transcribe_queue: LocalQueue,
    /// Outbound webhook events and their deliveries.
    pub events_queue: LocalQueue,
}

/// Files that hold keys or data are readable by their owner only.
const PRIVATE_FILE: u32 = 0o600;
const PRIVATE_DIR: u32 = 0o700;

/// Creates `path` empty and owner-only when it does not exist yet, and narrows an existing
/// one to owner-only.
pub(crate) fn private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_FILE))
                .with_context(|| format!("making {} private", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// Creates the data directory, owner-only, when it does not exist yet.
pub fn create_data_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(dir)
        .with_context(|| format!("creating LOCAL_DATA_DIR {}", dir.display()))
}

/// Reads a key file from the data directory, creating it (owner-only) on first use.
fn key_file(dir: &Path, name: &str, make: impl FnOnce() -> String) -> Result<String> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(existing) => {
            private_file(&path)?;
            Ok(existing.trim().to_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let fresh = make();
            private_file(&path)?;
            std::fs::write(&path, &fresh).with_context(|| format!("writing {}", path.display()))?;
            Ok(fresh)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Secrets for the local backend: environment variables, with the sealing key generated into
/// the data directory when `TOKEN_SEALING_KEY` is not set.
pub fn load_secrets(config: &Config) -> Result<Secrets> {
    load_secrets_from(config, |name| std::env::var(name).ok())
}

/// `load_secrets` reading variables through `lookup`.
pub fn load_secrets_from(
    config: &Config,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Secrets> {
    let encoded = match lookup(TOKEN_SEALING_KEY).filter(|v| !v.trim().is_empty()) {
        Some(key) => key,
        None => key_file(
            &config.local_data_dir,
            "sealing.key",
            SealingKey::generate_base64,
        )?,
    };
    let key = SealingKey::from_base64(&encoded)
        .context("configuration: TOKEN_SEALING_KEY must be 32 bytes of base64")?;
    Ok(Secrets::from_lookup(key, lookup)?)
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
        create_data_dir(dir)?;
        // SQLite gives its journal files the database file's permissions.
        let db_path = dir.join("callsync.db");
        private_file(&db_path)?;
        let db = Db::open(&db_path)?;
        let secrets = match secrets {
            Some(s) => s,
            None => load_secrets(&config)?,
        };
        let url_key = key_file(dir, "upload-url.key", SealingKey::generate_base64)?;
        let blobs = LocalBlobs::new(
            dir.join("blobs"),
            config.public_base_url.clone(),
            url_key.into_bytes(),
        )
        .with_small_blobs_in(db.clone());
        let sync_queue = LocalQueue::new(db.clone(), SYNC_QUEUE, MAX_RECEIVES);
        let transcribe_queue = LocalQueue::new(db.clone(), TRANSCRIBE_QUEUE, MAX_RECEIVES);
        let events_queue = LocalQueue::new(db.clone(), EVENTS_QUEUE, MAX_RECEIVES);
        let services = Services {
            config,
            secrets: Arc::new(SharedSecrets::ready(secrets)),
            providers: Arc::default(),
            clock,
            recordings: Arc::new(LocalRecordings(db.clone())),
            connections: Arc::new(LocalConnections(db.clone())),
            jobs: Arc::new(LocalJobs(db.clone())),
            uploads: Arc::new(LocalUploads(db.clone())),
            once: Arc::new(LocalOnce(db.clone())),
            leases: Arc::new(LocalLeases(db.clone())),
            counters: Arc::new(LocalCounters(db.clone())),
            deliveries: Arc::new(LocalDeliveries(db.clone())),
            activity: Arc::new(LocalActivity(db.clone())),
            changes: Arc::new(LocalChanges(db.clone())),
            endpoints: Arc::new(LocalEndpoints(db.clone())),
            derived: Arc::new(LocalDerived(db.clone())),
            blobs: Arc::new(blobs.clone()),
            sync_queue: Arc::new(sync_queue.clone()),
            transcribe_queue: Arc::new(transcribe_queue.clone()),
            events_queue: Arc::new(events_queue.clone()),
        };
        Ok(LocalBackend {
            services,
            db,
            blobs,
            sync_queue,
            transcribe_queue,
            events_queue,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn keys_database_and_data_directory_are_owner_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        let data_dir = dir.to_string_lossy().into_owned();
        let config =
            Config::from_lookup(|name| (name == "LOCAL_DATA_DIR").then(|| data_dir.clone()))
                .unwrap();
        let secrets = crate::testing::test_secrets();
        let backend =
            LocalBackend::open_with(Arc::new(config), Arc::new(SystemClock), Some(secrets))
                .unwrap();
        // A write, so SQLite creates its journal file.
        let expires = chrono::Utc::now() + chrono::Duration::minutes(1);
        backend.services.once.put("k", "v", expires).await.unwrap();
        assert_eq!(mode(&dir), 0o700);
        for file in ["callsync.db", "callsync.db-wal", "upload-url.key"] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
        // A key file that exists with looser permissions is narrowed; a new one starts private.
        let loose = dir.join("sealing.key");
        std::fs::write(&loose, "x").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            key_file(&dir, "sealing.key", || unreachable!()).unwrap(),
            "x"
        );
        assert_eq!(mode(&loose), 0o600);
        key_file(&dir, "new.key", || "fresh".into()).unwrap();
        assert_eq!(mode(&dir.join("new.key")), 0o600);
    }
}
