//! Crashes injected into the ports: while armed, the next call of the chosen kind panics, as a
//! process killed at that point stops mid-way (nothing after it runs, nothing is undone).

use anyhow::Result;
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use pipeline::ports::{BlobReader, BlobStore, OnceStore, PresignedUpload, Queue, QueueMessage};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Armed, it fires once.
#[derive(Clone, Default)]
pub struct Tripwire(Arc<AtomicBool>);

impl Tripwire {
    pub fn arm(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn trip(&self, what: &str) {
        if self.0.swap(false, Ordering::SeqCst) {
            panic!("crash injected {what}");
        }
    }
}

/// Blobs whose next `put` under `prefix` crashes.
pub struct CrashingBlobs {
    pub inner: Arc<dyn BlobStore>,
    pub wire: Tripwire,
    pub prefix: &'static str,
}

#[async_trait]
impl BlobStore for CrashingBlobs {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<()> {
        if key.starts_with(self.prefix) {
            self.wire.trip("before storing a blob");
        }
        self.inner.put(key, bytes, content_type).await
    }
    async fn put_file(&self, key: &str, path: &std::path::Path, content_type: &str) -> Result<()> {
        if key.starts_with(self.prefix) {
            self.wire.trip("before storing a blob");
        }
        self.inner.put_file(key, path, content_type).await
    }
    async fn get(&self, key: &str) -> Result<Option<BlobReader>> {
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(key).await
    }
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> Result<PresignedUpload> {
        self.inner
            .presign_put(key, content_type, content_length, expires_in)
            .await
    }
}

/// A queue whose next send crashes before the message is sent.
pub struct CrashingQueue {
    pub inner: Arc<dyn Queue>,
    pub wire: Tripwire,
}

#[async_trait]
impl Queue for CrashingQueue {
    async fn send(&self, body: &str) -> Result<()> {
        self.wire.trip("before sending a message");
        self.inner.send(body).await
    }
    async fn send_delayed(&self, body: &str, delay: Duration) -> Result<()> {
        self.wire.trip("before sending a message");
        self.inner.send_delayed(body, delay).await
    }
    async fn send_batch(&self, bodies: &[String]) -> Result<()> {
        self.wire.trip("before sending a batch");
        self.inner.send_batch(bodies).await
    }
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<QueueMessage>> {
        self.inner.receive(max, visibility).await
    }
    async fn delete(&self, receipt: &str) -> Result<()> {
        self.inner.delete(receipt).await
    }
    async fn receive_dead_letters(&self, max: usize) -> Result<Vec<QueueMessage>> {
        self.inner.receive_dead_letters(max).await
    }
}

/// A once-store whose next `put` (a claim being confirmed) crashes before it is written.
pub struct CrashingOnce {
    pub inner: Arc<dyn OnceStore>,
    pub wire: Tripwire,
}

#[async_trait]
impl OnceStore for CrashingOnce {
    async fn insert_if_absent(
        &self,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.inner
            .insert_if_absent(key, value, expires_at, now)
            .await
    }
    async fn take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        self.inner.take(key, now).await
    }
    async fn get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        self.inner.get(key, now).await
    }
    async fn put(&self, key: &str, value: &str, expires_at: DateTime<Utc>) -> Result<()> {
        self.wire.trip("before confirming a claim");
        self.inner.put(key, value, expires_at).await
    }
    async fn remove(&self, key: &str) -> Result<()> {
        self.inner.remove(key).await
    }
}
