//! A SQLite-backed queue with SQS semantics: visibility timeout, redelivery of what was not
//! deleted, and dead-lettering after a maximum number of receives. Time is the wall clock,
//! as in SQS.

use super::db::Db;
use crate::ports::{Queue, QueueMessage};
use anyhow::Result;
use async_trait::async_trait;
use rusqlite::params;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

#[derive(Clone)]
pub struct LocalQueue {
    db: Db,
    name: String,
    max_receives: u32,
    /// Wakes a waiting consumer (the dev server's drain loop) when a message arrives.
    arrivals: Arc<Notify>,
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl LocalQueue {
    pub fn new(db: Db, name: &str, max_receives: u32) -> Self {
        Self {
            db,
            name: name.to_owned(),
            max_receives,
            arrivals: Arc::new(Notify::new()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Resolves when a message is sent (or at once if one was sent since the last wait).
    pub async fn arrival(&self) {
        self.arrivals.notified().await
    }

    async fn insert(&self, bodies: Vec<String>, delay: Duration) -> Result<()> {
        let name = self.name.clone();
        self.db
            .call(move |c| {
                let tx = c.savepoint()?;
                let now = now_millis() + delay.as_millis() as i64;
                for body in bodies {
                    tx.execute(
                        "INSERT INTO queue_messages (id, queue, body, visible_at) VALUES (?1, ?2, ?3, ?4)",
                        params![uuid::Uuid::new_v4().to_string(), name, body, now],
                    )?;
                }
                tx.commit()?;
                Ok(())
            })
            .await?;
        self.arrivals.notify_one();
        Ok(())
    }

    fn receive_rows(
        &self,
        dead: bool,
        max: usize,
        visibility: Duration,
    ) -> impl FnOnce(&mut rusqlite::Connection) -> Result<Vec<QueueMessage>> {
        let (name, max_receives) = (self.name.clone(), self.max_receives as i64);
        move |c| {
            let tx = c.savepoint()?;
            let now = now_millis();
            if !dead {
                // A visible message already received the maximum number of times is dead-lettered
                // instead of delivered again.
                tx.execute(
                    "UPDATE queue_messages SET dead = 1 WHERE queue = ?1 AND dead = 0 AND visible_at <= ?2 AND receive_count >= ?3",
                    params![name, now, max_receives],
                )?;
            }
            let ids: Vec<(String, String, i64)> = {
                let mut stmt = tx.prepare(
                    "SELECT id, body, receive_count FROM queue_messages
                     WHERE queue = ?1 AND dead = ?2 AND visible_at <= ?3 ORDER BY seq LIMIT ?4",
                )?;
                let rows = stmt.query_map(params![name, dead, now, max as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut out = Vec::with_capacity(ids.len());
            for (id, body, count) in ids {
                let receipt = uuid::Uuid::new_v4().to_string();
                tx.execute(
                    "UPDATE queue_messages SET visible_at = ?2, receive_count = receive_count + 1, receipt = ?3 WHERE id = ?1",
                    params![id, now + visibility.as_millis() as i64, receipt],
                )?;
                out.push(QueueMessage {
                    message_id: id,
                    receipt,
                    body,
                    receive_count: count as u32 + 1,
                });
            }
            tx.commit()?;
            Ok(out)
        }
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send(&self, body: &str) -> Result<()> {
        self.insert(vec![body.to_owned()], Duration::ZERO).await
    }

    async fn send_delayed(&self, body: &str, delay: Duration) -> Result<()> {
        self.insert(vec![body.to_owned()], delay.min(Duration::from_secs(900)))
            .await
    }

    async fn send_batch(&self, bodies: &[String]) -> Result<()> {
        for batch in bodies.chunks(10) {
            self.insert(batch.to_vec(), Duration::ZERO).await?;
        }
        Ok(())
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<QueueMessage>> {
        self.db
            .call(self.receive_rows(false, max.clamp(1, 10), visibility))
            .await
    }

    async fn delete(&self, receipt: &str) -> Result<()> {
        let receipt = receipt.to_owned();
        self.db
            .call(move |c| {
                c.execute(
                    "DELETE FROM queue_messages WHERE receipt = ?1",
                    params![receipt],
                )?;
                Ok(())
            })
            .await
    }

    async fn receive_dead_letters(&self, max: usize) -> Result<Vec<QueueMessage>> {
        self.db
            .call(self.receive_rows(true, max.clamp(1, 10), Duration::from_secs(30)))
            .await
    }
}
