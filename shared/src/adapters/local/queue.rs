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

/// A message id or receipt: unique, and later than every one made before by this process, so
/// the index on receipts takes each new one at its end rather than on a random page of it.
fn ordered_id() -> String {
    uuid::Uuid::now_v7().to_string()
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
        let messages: Vec<(String, String)> = bodies
            .into_iter()
            .map(|body| (ordered_id(), body))
            .collect();
        self.db
            .call(move |c| {
                let tx = c.savepoint()?;
                let now = now_millis() + delay.as_millis() as i64;
                for (id, body) in messages {
                    tx.prepare_cached(
                        "INSERT INTO queue_messages (id, queue, body, visible_at) VALUES (?1, ?2, ?3, ?4)")?.execute(
                        params![id, name, body, now],
                    )?;
                }
                tx.commit()?;
                Ok(())
            })
            .await?;
        self.arrivals.notify_one();
        Ok(())
    }

    /// Receives up to `max` visible messages (of the dead letters when `dead`), oldest first,
    /// each hidden for `visibility`. A message already received `max_receives` times is
    /// dead-lettered when it comes up instead of being delivered again, as SQS does.
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
            let mut out = Vec::with_capacity(max);
            let mut after = 0i64;
            while out.len() < max {
                let rows: Vec<(i64, String, String, i64)> = {
                    let mut stmt = tx.prepare_cached(NEXT_VISIBLE)?;
                    let wanted = (max - out.len()) as i64;
                    let rows = stmt.query_map(params![name, dead, now, after, wanted], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?;
                    rows.collect::<rusqlite::Result<_>>()?
                };
                if rows.is_empty() {
                    break;
                }
                for (seq, id, body, count) in rows {
                    after = seq;
                    if !dead && count >= max_receives {
                        tx.prepare_cached("UPDATE queue_messages SET dead = 1 WHERE seq = ?1")?
                            .execute(params![seq])?;
                        continue;
                    }
                    let receipt = ordered_id();
                    tx.prepare_cached(
                        "UPDATE queue_messages SET visible_at = ?2, receive_count = receive_count + 1, receipt = ?3 WHERE seq = ?1",
                    )?
                    .execute(params![seq, now + visibility.as_millis() as i64, receipt])?;
                    out.push(QueueMessage {
                        message_id: id,
                        receipt,
                        body,
                        receive_count: count as u32 + 1,
                    });
                }
            }
            tx.commit()?;
            Ok(out)
        }
    }
}

/// The next visible messages of a queue after a position, oldest first: read in the order of
/// `queue_in_order`, so a receive reads the messages in flight and what it takes, not the
/// whole backlog.
const NEXT_VISIBLE: &str = "SELECT seq, id, body, receive_count FROM queue_messages
     WHERE queue = ?1 AND dead = ?2 AND seq > ?4 AND visible_at <= ?3 ORDER BY seq LIMIT ?5";

/// Deletes a received message by its receipt, through `queue_by_receipt`.
const DELETE_RECEIVED: &str = "DELETE FROM queue_messages WHERE receipt = ?1";

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
                c.prepare_cached(DELETE_RECEIVED)?
                    .execute(params![receipt])?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// How SQLite runs `sql` on a fresh database: one line per step of its plan.
    fn plan(sql: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.db");
        // Creates the schema and runs every migration.
        drop(Db::open(&path).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = conn
            .prepare_cached(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let unbound = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
        let rows = stmt
            .query_map(rusqlite::params_from_iter(unbound), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }

    #[test]
    fn receiving_and_deleting_do_not_read_the_whole_backlog() {
        for sql in [NEXT_VISIBLE, DELETE_RECEIVED] {
            let plan = plan(sql);
            assert!(
                plan.iter().all(|step| step.starts_with("SEARCH")),
                "{sql}\nis planned as {plan:?}: a step that scans or sorts grows with the backlog"
            );
        }
    }
}
