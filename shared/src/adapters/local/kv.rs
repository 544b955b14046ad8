//! Expiring once-items, leases and counters in SQLite. Each operation is one statement (or
//! one transaction), so concurrent callers see the semantics the ports promise.

use super::db::{millis, Db};
use crate::ports::{CounterStore, LeaseStore, OnceStore};
use anyhow::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

#[derive(Clone)]
pub struct LocalOnce(pub Db);

#[async_trait]
impl OnceStore for LocalOnce {
    async fn insert_if_absent(
        &self,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.0
            .call(move |c| {
                // An expired item counts as absent: overwrite it.
                let n = c.prepare_cached(
                    "INSERT INTO once_items (key, value, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
                     WHERE once_items.expires_at <= ?4")?.execute(
                    params![key, value, millis(expires_at), millis(now)],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        let key = key.to_owned();
        self.0
            .call(move |c| {
                Ok(c.prepare_cached(
                    "DELETE FROM once_items WHERE key = ?1 AND expires_at > ?2 RETURNING value",
                )?
                .query_row(params![key, millis(now)], |r| r.get(0))
                .optional()?)
            })
            .await
    }

    async fn get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        let key = key.to_owned();
        self.0
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT value FROM once_items WHERE key = ?1 AND expires_at > ?2",
                )?
                .query_row(params![key, millis(now)], |r| r.get(0))
                .optional()?)
            })
            .await
    }

    async fn put(&self, key: &str, value: &str, expires_at: DateTime<Utc>) -> Result<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.0
            .call(move |c| {
                c.prepare_cached(
                    "INSERT INTO once_items (key, value, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at")?.execute(
                    params![key, value, millis(expires_at)],
                )?;
                Ok(())
            })
            .await
    }

    async fn remove(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.0
            .call(move |c| {
                c.prepare_cached("DELETE FROM once_items WHERE key = ?1")?
                    .execute(params![key])?;
                Ok(())
            })
            .await
    }
}

#[derive(Clone)]
pub struct LocalLeases(pub Db);

#[async_trait]
impl LeaseStore for LocalLeases {
    async fn acquire(
        &self,
        name: &str,
        owner: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        self.0
            .call(move |c| {
                let n = c.prepare_cached(
                    "INSERT INTO leases (name, owner, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                     WHERE leases.expires_at <= ?4 OR leases.owner = excluded.owner")?.execute(
                    params![name, owner, millis(expires_at), millis(now)],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn release(&self, name: &str, owner: &str) -> Result<()> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        self.0
            .call(move |c| {
                c.prepare_cached("DELETE FROM leases WHERE name = ?1 AND owner = ?2")?
                    .execute(params![name, owner])?;
                Ok(())
            })
            .await
    }
}

#[derive(Clone)]
pub struct LocalCounters(pub Db);

#[async_trait]
impl CounterStore for LocalCounters {
    async fn increment_below(
        &self,
        name: &str,
        limit: u64,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<u64>> {
        let name = name.to_owned();
        self.0
            .call(move |c| {
                let value: Option<i64> = c
                    .query_row(
                        "INSERT INTO counters (name, value, expires_at) SELECT ?1, 1, ?3 WHERE ?2 > 0
                         ON CONFLICT (name) DO UPDATE SET value = value + 1 WHERE counters.value < ?2
                         RETURNING value",
                        params![name, i64::try_from(limit).unwrap_or(i64::MAX), millis(expires_at)],
                        |r| r.get(0),
                    )
                    .optional()?;
                Ok(value.map(|v| v as u64))
            })
            .await
    }

    async fn decrement(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.0
            .call(move |c| {
                c.prepare_cached(
                    "UPDATE counters SET value = value - 1 WHERE name = ?1 AND value > 0",
                )?
                .execute(params![name])?;
                Ok(())
            })
            .await
    }

    async fn get(&self, name: &str) -> Result<u64> {
        let name = name.to_owned();
        self.0
            .read(move |c| {
                let v: Option<i64> = c
                    .query_row(
                        "SELECT value FROM counters WHERE name = ?1",
                        params![name],
                        |r| r.get(0),
                    )
                    .optional()?;
                Ok(v.unwrap_or(0) as u64)
            })
            .await
    }
}

/// Deletes expired once-items, leases, counters, changes and finished jobs past their retention
/// (DynamoDB's TTL does this in AWS).
pub async fn purge_expired(db: &Db, now: DateTime<Utc>) -> Result<usize> {
    // The statements are whole literals, so each is prepared once and cached.
    const PURGES: [&str; 6] = [
        "DELETE FROM once_items WHERE expires_at <= ?1",
        "DELETE FROM leases WHERE expires_at <= ?1",
        "DELETE FROM counters WHERE expires_at <= ?1",
        "DELETE FROM jobs WHERE expires_at <= ?1",
        "DELETE FROM changes WHERE expires_at <= ?1",
        "DELETE FROM webhook_attempts WHERE expires_at <= ?1",
    ];
    db.call(move |c| {
        let now = millis(now);
        let mut n = 0;
        for sql in PURGES {
            n += c.prepare_cached(sql)?.execute(params![now])?;
        }
        Ok(n)
    })
    .await
}
