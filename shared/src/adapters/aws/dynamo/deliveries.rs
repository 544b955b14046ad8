//! The logs: webhook delivery attempts, held deliveries and the activity log.

use super::expiring::live;
use super::keys::{self, expiry, Key, HELD_PREFIX, SK, USER, VALUE};
use super::{source_filter, Expr};
use super::{DynamoStore, Item, Query, TABLE};
use crate::domain::{ActivityEntry, Source, Tenant, UserId, WorkspaceId};
use crate::ports::{ActivityLog, DeliveryLog, DeliveryRecord, HeldItem, Page};
use anyhow::{Context, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

fn held_value(item: &Item) -> Result<String> {
    item.get(VALUE)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .context("a held item has no value")
}

#[async_trait]
impl DeliveryLog for DynamoStore {
    async fn record(&self, delivery: &DeliveryRecord) -> Result<()> {
        self.put_item(Item::try_from(delivery)?, None).await?;
        Ok(())
    }

    async fn list(
        &self,
        owner: Option<&Tenant>,
        source: Source,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryRecord>> {
        let mut log = Query::new(&TABLE, keys::delivery_log_partition(owner));
        log.sort_prefix = Some(Key::deliveries_of(source));
        log.newest_first = true;
        log.filter = Some(live(now));
        self.query_page(&log, limit, None)
            .await?
            .items
            .into_iter()
            .map(DeliveryRecord::try_from)
            .collect()
    }

    async fn hold(
        &self,
        holder: &str,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let mut item = Key::held(holder, key).into_item();
        item.insert(VALUE.into(), keys::text(value));
        expiry(&mut item, expires_at);
        self.put_item(item, None).await?;
        Ok(())
    }

    async fn held(&self, holder: &str, now: DateTime<Utc>) -> Result<Vec<HeldItem>> {
        let mut items = Query::new(&TABLE, keys::held_partition(holder));
        items.sort_prefix = Some(HELD_PREFIX.to_owned());
        items.filter = Some(live(now));
        self.query_all(&items)
            .await?
            .iter()
            .map(|item| {
                let key = item
                    .get(SK)
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| sk.strip_prefix(HELD_PREFIX))
                    .context("a held item has no key")?;
                Ok(HeldItem {
                    key: key.to_owned(),
                    value: held_value(item)?,
                })
            })
            .collect()
    }

    async fn take_held(
        &self,
        holder: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        self.delete_item(Key::held(holder, key), Some(live(now)))
            .await?
            .as_ref()
            .map(held_value)
            .transpose()
    }
}

#[async_trait]
impl ActivityLog for DynamoStore {
    async fn record(&self, entry: &ActivityEntry) -> Result<()> {
        self.put_item(Item::try_from(entry)?, None).await?;
        Ok(())
    }

    async fn list(
        &self,
        workspace: &WorkspaceId,
        user: Option<&UserId>,
        source: Option<Source>,
        cursor: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Page<ActivityEntry>> {
        let mut log = Query::new(&TABLE, keys::activity_partition(workspace));
        log.newest_first = true;
        let mut filter = live(now);
        if let Some(user) = user {
            filter = filter.and(
                Expr::new(format!("#{USER} = :user"))
                    .name(USER)
                    .value(":user", keys::text(user.as_str())),
            );
        }
        if let Some(source) = source {
            filter = filter.and(source_filter(source));
        }
        log.filter = Some(filter);
        let page = self.query_page(&log, limit, cursor).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(ActivityEntry::try_from)
                .collect::<Result<_>>()?,
            next_cursor: page.next_cursor,
        })
    }
}
