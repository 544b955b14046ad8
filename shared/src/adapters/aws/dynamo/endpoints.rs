//! Outbound webhook endpoints and the attempts to deliver to them.

use super::expiring::live;
use super::keys::{self, expiry, Key, ENDPOINT_PREFIX, VERSION};
use super::{DynamoStore, Expr, Item, Query, TABLE};
use crate::domain::{DeliveryAttempt, EndpointId, WebhookEndpoint, WorkspaceId};
use crate::ports::EndpointStore;
use anyhow::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

fn endpoint_item(endpoint: &WebhookEndpoint) -> Result<Item> {
    let key = Key::endpoint(&endpoint.owner.workspace, &endpoint.id);
    let mut item = super::items::with_body(key, endpoint, "webhook endpoint")?;
    item.insert(VERSION.into(), keys::number(endpoint.version));
    Ok(item)
}

fn attempt_item(attempt: &DeliveryAttempt) -> Result<Item> {
    let key = Key::endpoint_attempt(
        &attempt.owner.workspace,
        &attempt.endpoint_id,
        attempt.at,
        &attempt.id,
    );
    let mut item = super::items::with_body(key, attempt, "delivery attempt")?;
    expiry(&mut item, attempt.expires_at);
    Ok(item)
}

#[async_trait]
impl EndpointStore for DynamoStore {
    async fn insert(&self, endpoint: &WebhookEndpoint) -> Result<()> {
        self.put_item(endpoint_item(endpoint)?, None).await?;
        Ok(())
    }

    async fn get(
        &self,
        workspace: &WorkspaceId,
        id: &EndpointId,
    ) -> Result<Option<WebhookEndpoint>> {
        self.get_item(Key::endpoint(workspace, id))
            .await?
            .map(|item| super::items::body(&item, "webhook endpoint"))
            .transpose()
    }

    async fn list(&self, workspace: &WorkspaceId) -> Result<Vec<WebhookEndpoint>> {
        let mut endpoints = Query::new(&TABLE, keys::webhooks_partition(workspace));
        endpoints.sort_prefix = Some(ENDPOINT_PREFIX.to_owned());
        let mut all: Vec<WebhookEndpoint> = self
            .query_all(&endpoints)
            .await?
            .iter()
            .map(|item| super::items::body(item, "webhook endpoint"))
            .collect::<Result<_>>()?;
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    async fn replace(&self, endpoint: &WebhookEndpoint) -> Result<bool> {
        let bumped = WebhookEndpoint {
            version: endpoint.version + 1,
            ..endpoint.clone()
        };
        let unchanged = Expr::new(format!("#{VERSION} = :version"))
            .name(VERSION)
            .value(":version", keys::number(endpoint.version));
        self.put_item(endpoint_item(&bumped)?, Some(unchanged))
            .await
    }

    async fn delete(&self, workspace: &WorkspaceId, id: &EndpointId) -> Result<()> {
        self.delete_item(Key::endpoint(workspace, id), None).await?;
        Ok(())
    }

    async fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<()> {
        self.put_item(attempt_item(attempt)?, None).await?;
        Ok(())
    }

    async fn attempts(
        &self,
        workspace: &WorkspaceId,
        id: &EndpointId,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryAttempt>> {
        let mut log = Query::new(&TABLE, keys::webhooks_partition(workspace));
        log.sort_prefix = Some(Key::attempts_of(id));
        log.newest_first = true;
        log.filter = Some(live(now));
        self.query_page(&log, limit, None)
            .await?
            .items
            .iter()
            .map(|item| super::items::body(item, "delivery attempt"))
            .collect()
    }
}
