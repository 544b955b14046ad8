//! The webhook delivery log and held deliveries in SQLite. Expired rows are deleted whenever
//! the log or the held items are read (DynamoDB's TTL does this in AWS), so no reader sees one.

use super::db::{from_json, millis, Db};
use crate::domain::{Source, Tenant};
use crate::ports::{DeliveryLog, DeliveryRecord, HeldItem};
use anyhow::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

#[derive(Clone)]
pub struct LocalDeliveries(pub Db);

/// The `owner` column: workspace and user, space-separated (neither id has whitespace), or
/// empty for attempts no member could be told.
fn owner(tenant: Option<&Tenant>) -> String {
    tenant.map(Tenant::to_string).unwrap_or_default()
}

#[async_trait]
impl DeliveryLog for LocalDeliveries {
    async fn record(&self, delivery: &DeliveryRecord) -> Result<()> {
        let body = serde_json::to_string(delivery)?;
        let (id, owner, source) = (
            delivery.id.clone(),
            owner(delivery.owner.as_ref()),
            delivery.source,
        );
        let (received_at, expires_at) = (millis(delivery.received_at), millis(delivery.expires_at));
        self.0
            .call(move |c| {
                // One insert per delivery attempt: worth a cached statement.
                c.prepare_cached(
                    "INSERT INTO webhook_deliveries (id, owner, source, received_at, expires_at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![id, owner, source.as_str(), received_at, expires_at, body])?;
                Ok(())
            })
            .await
    }

    async fn list(
        &self,
        tenant: Option<&Tenant>,
        source: Source,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryRecord>> {
        let owner = owner(tenant);
        let now = millis(now);
        self.0
            .call(move |c| {
                let tx = c.savepoint()?;
                tx.prepare_cached("DELETE FROM webhook_deliveries WHERE expires_at <= ?1")?
                    .execute(params![now])?;
                let bodies = {
                    let mut stmt = tx.prepare_cached(
                        "SELECT body FROM webhook_deliveries
                         WHERE owner = ?1 AND source = ?2 AND expires_at > ?3
                         ORDER BY received_at DESC, id DESC
                         LIMIT ?4",
                    )?;
                    let rows = stmt
                        .query_map(params![owner, source.as_str(), now, limit as i64], |r| {
                            r.get::<_, String>(0)
                        })?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()?
                };
                tx.commit()?;
                bodies.iter().map(|b| from_json(b)).collect()
            })
            .await
    }

    async fn hold(
        &self,
        holder: &str,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let (holder, key, value) = (holder.to_owned(), key.to_owned(), value.to_owned());
        self.0
            .call(move |c| {
                c.prepare_cached(
                    "INSERT INTO held_deliveries (holder, key, value, expires_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (holder, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at")?.execute(
                    params![holder, key, value, millis(expires_at)],
                )?;
                Ok(())
            })
            .await
    }

    async fn held(&self, holder: &str, now: DateTime<Utc>) -> Result<Vec<HeldItem>> {
        let holder = holder.to_owned();
        let now = millis(now);
        self.0
            .call(move |c| {
                let tx = c.savepoint()?;
                tx.prepare_cached("DELETE FROM held_deliveries WHERE expires_at <= ?1")?
                    .execute(params![now])?;
                let items = {
                    let mut stmt = tx.prepare_cached(
                        "SELECT key, value FROM held_deliveries WHERE holder = ?1 ORDER BY key",
                    )?;
                    let rows = stmt.query_map(params![holder], |r| {
                        Ok(HeldItem {
                            key: r.get(0)?,
                            value: r.get(1)?,
                        })
                    })?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()?
                };
                tx.commit()?;
                Ok(items)
            })
            .await
    }

    async fn take_held(
        &self,
        holder: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let (holder, key) = (holder.to_owned(), key.to_owned());
        self.0
            .call(move |c| {
                Ok(c.prepare_cached(
                    "DELETE FROM held_deliveries WHERE holder = ?1 AND key = ?2 AND expires_at > ?3
                     RETURNING value",
                )?
                .query_row(params![holder, key, millis(now)], |r| r.get(0))
                .optional()?)
            })
            .await
    }
}
