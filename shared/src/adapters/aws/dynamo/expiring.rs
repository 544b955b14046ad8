//! Once items, leases and counters: small items that expire.

use super::keys::{self, expiry, Key, COUNT, EXPIRES_AT, EXPIRES_US, OWNER, PK, VALUE};
use super::{condition_failed, DynamoStore, Expr, Item};
use crate::adapters::aws::sdk_error;
use crate::ports::{CounterStore, LeaseStore, OnceStore};
use anyhow::{Context, Result};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

fn micros(at: DateTime<Utc>) -> aws_sdk_dynamodb::types::AttributeValue {
    keys::number(at.timestamp_micros())
}

/// No item, or one that has expired though TTL has not removed it yet.
fn absent_or_expired(now: DateTime<Utc>) -> Expr {
    Expr::new(format!(
        "attribute_not_exists(#{PK}) OR #{EXPIRES_US} <= :now"
    ))
    .name(PK)
    .name(EXPIRES_US)
    .value(":now", micros(now))
}

/// An item that has not expired by `now` (TTL may not have removed an expired one yet).
pub(super) fn live(now: DateTime<Utc>) -> Expr {
    Expr::new(format!("#{EXPIRES_US} > :now"))
        .name(EXPIRES_US)
        .value(":now", micros(now))
}

fn owned_by(owner: &str) -> Expr {
    Expr::new(format!("#{OWNER} = :owner"))
        .name(OWNER)
        .value(":owner", keys::text(owner))
}

fn count_of(item: &Item) -> Result<u64> {
    let Some(value) = item.get(COUNT) else {
        return Ok(0);
    };
    value
        .as_n()
        .ok()
        .and_then(|n| n.parse().ok())
        .context("a stored counter is not a whole number")
}

#[async_trait]
impl OnceStore for DynamoStore {
    async fn insert_if_absent(
        &self,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut item = Key::once(key).into_item();
        item.insert(VALUE.into(), keys::text(value));
        expiry(&mut item, expires_at);
        self.put_item(item, Some(absent_or_expired(now))).await
    }

    async fn take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        let Some(item) = self.delete_item(Key::once(key), Some(live(now))).await? else {
            return Ok(None);
        };
        let value = item
            .get(VALUE)
            .and_then(|v| v.as_s().ok())
            .context("a stored once item has no value")?;
        Ok(Some(value.clone()))
    }

    async fn get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        let Some(item) = self.get_item(Key::once(key)).await? else {
            return Ok(None);
        };
        // TTL removes expired items late: the expiry decides, not presence.
        let live = item
            .get(EXPIRES_US)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|expires| expires > now.timestamp_micros());
        if !live {
            return Ok(None);
        }
        let value = item
            .get(VALUE)
            .and_then(|v| v.as_s().ok())
            .context("a stored once item has no value")?;
        Ok(Some(value.clone()))
    }

    async fn put(&self, key: &str, value: &str, expires_at: DateTime<Utc>) -> Result<()> {
        let mut item = Key::once(key).into_item();
        item.insert(VALUE.into(), keys::text(value));
        expiry(&mut item, expires_at);
        self.put_item(item, None).await?;
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<()> {
        self.delete_item(Key::once(key), None).await?;
        Ok(())
    }
}

#[async_trait]
impl LeaseStore for DynamoStore {
    async fn acquire(
        &self,
        name: &str,
        owner: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut item = Key::lease(name).into_item();
        item.insert(OWNER.into(), keys::text(owner));
        expiry(&mut item, expires_at);
        self.put_item(item, Some(absent_or_expired(now).or(owned_by(owner))))
            .await
    }

    async fn release(&self, name: &str, owner: &str) -> Result<()> {
        self.delete_item(Key::lease(name), Some(owned_by(owner)))
            .await?;
        Ok(())
    }
}

impl DynamoStore {
    /// Adds `delta` to a counter when `condition` holds; the new value, or `None` when it did not.
    async fn add_to_counter(
        &self,
        name: &str,
        delta: i64,
        condition: Expr,
        ttl: Option<i64>,
    ) -> Result<Option<u64>> {
        let mut update = format!("ADD #{COUNT} :delta");
        let mut expr = condition.name(COUNT).value(":delta", keys::number(delta));
        if let Some(ttl) = ttl {
            update.push_str(&format!(" SET #{EXPIRES_AT} = :ttl"));
            expr = expr.name(EXPIRES_AT).value(":ttl", keys::number(ttl));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Key::counter(name).into_item()))
            .update_expression(update)
            .condition_expression(&expr.text)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(count_of(&output.attributes.unwrap_or_default())?)),
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(sdk_error("DynamoDB UpdateItem", e)),
        }
    }
}

#[async_trait]
impl CounterStore for DynamoStore {
    async fn increment_below(
        &self,
        name: &str,
        limit: u64,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<u64>> {
        if limit == 0 {
            return Ok(None);
        }
        let below = Expr::new(format!(
            "attribute_not_exists(#{COUNT}) OR #{COUNT} < :limit"
        ))
        .value(":limit", keys::number(limit));
        self.add_to_counter(name, 1, below, Some(keys::ttl_seconds(expires_at)))
            .await
    }

    async fn decrement(&self, name: &str) -> Result<()> {
        let positive = Expr::new(format!("#{COUNT} > :zero")).value(":zero", keys::number(0));
        self.add_to_counter(name, -1, positive, None).await?;
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<u64> {
        match self.get_item(Key::counter(name)).await? {
            Some(item) => count_of(&item),
            None => Ok(0),
        }
    }
}
