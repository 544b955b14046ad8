//! A queue that counts the batch sends passing through it, for tests and benchmarks of the
//! fan-out.

use anyhow::Result;
use async_trait::async_trait;
use pipeline::ports::{Queue, QueueMessage};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Counts the batch sends that reach the queue and what they carry.
pub struct CountingQueue {
    inner: Arc<dyn Queue>,
    pub batch_calls: AtomicUsize,
    pub largest_batch: AtomicUsize,
    pub bodies: Mutex<Vec<String>>,
}

impl CountingQueue {
    pub fn new(inner: Arc<dyn Queue>) -> Self {
        CountingQueue {
            inner,
            batch_calls: AtomicUsize::new(0),
            largest_batch: AtomicUsize::new(0),
            bodies: Mutex::new(Vec::new()),
        }
    }

    pub fn batch_calls(&self) -> usize {
        self.batch_calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Queue for CountingQueue {
    async fn send(&self, body: &str) -> Result<()> {
        self.inner.send(body).await
    }
    async fn send_delayed(&self, body: &str, delay: Duration) -> Result<()> {
        self.inner.send_delayed(body, delay).await
    }
    async fn send_batch(&self, bodies: &[String]) -> Result<()> {
        self.batch_calls.fetch_add(1, Ordering::SeqCst);
        self.largest_batch.fetch_max(bodies.len(), Ordering::SeqCst);
        self.bodies.lock().unwrap().extend(bodies.iter().cloned());
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
