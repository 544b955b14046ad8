//! Outbound webhook endpoints and their delivery attempts in SQLite. Expired attempts are
//! deleted by the purge (DynamoDB's TTL in AWS) and never listed.

use super::db::{from_json, millis, Db};
use crate::domain::{DeliveryAttempt, EndpointId, WebhookEndpoint, WorkspaceId};
use crate::ports::EndpointStore;
use anyhow::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

#[derive(Clone)]
pub struct LocalEndpoints(pub Db);

#[async_trait]
impl EndpointStore for LocalEndpoints {
    async fn insert(&self, endpoint: &WebhookEndpoint) -> Result<()> {
        let body = serde_json::to_string(endpoint)?;
        let e = endpoint.clone();
        self.0
            .call(move |c| {
                c.prepare_cached(
                    "INSERT INTO webhook_endpoints (workspace_id, id, created_at, version, body)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    e.owner.workspace.as_str(),
                    e.id.as_str(),
                    millis(e.created_at),
                    e.version as i64,
                    body
                ])?;
                Ok(())
            })
            .await
    }

    async fn get(
        &self,
        workspace: &WorkspaceId,
        id: &EndpointId,
    ) -> Result<Option<WebhookEndpoint>> {
        let (workspace, id) = (workspace.to_string(), id.to_string());
        let body: Option<String> = self
            .0
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT body FROM webhook_endpoints WHERE workspace_id = ?1 AND id = ?2",
                )?
                .query_row(params![workspace, id], |r| r.get(0))
                .optional()?)
            })
            .await?;
        body.as_deref().map(from_json).transpose()
    }

    async fn list(&self, workspace: &WorkspaceId) -> Result<Vec<WebhookEndpoint>> {
        let workspace = workspace.to_string();
        let bodies: Vec<String> = self
            .0
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT body FROM webhook_endpoints WHERE workspace_id = ?1
                     ORDER BY created_at, id",
                )?;
                let rows = stmt.query_map(params![workspace], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        bodies.iter().map(|b| from_json(b)).collect()
    }

    async fn replace(&self, endpoint: &WebhookEndpoint) -> Result<bool> {
        let mut next = endpoint.clone();
        next.version += 1;
        let body = serde_json::to_string(&next)?;
        self.0
            .call(move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE webhook_endpoints SET version = ?3, body = ?4
                     WHERE workspace_id = ?1 AND id = ?2 AND version = ?5",
                    )?
                    .execute(params![
                        next.owner.workspace.as_str(),
                        next.id.as_str(),
                        next.version as i64,
                        body,
                        (next.version - 1) as i64
                    ])?;
                Ok(n == 1)
            })
            .await
    }

    async fn delete(&self, workspace: &WorkspaceId, id: &EndpointId) -> Result<()> {
        let (workspace, id) = (workspace.to_string(), id.to_string());
        self.0
            .call(move |c| {
                c.prepare_cached(
                    "DELETE FROM webhook_endpoints WHERE workspace_id = ?1 AND id = ?2",
                )?
                .execute(params![workspace, id])?;
                Ok(())
            })
            .await
    }

    async fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<()> {
        let body = serde_json::to_string(attempt)?;
        let a = attempt.clone();
        self.0
            .call(move |c| {
                c.prepare_cached(
                    "INSERT OR REPLACE INTO webhook_attempts
                         (id, workspace_id, endpoint_id, at, expires_at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    a.id,
                    a.owner.workspace.as_str(),
                    a.endpoint_id.as_str(),
                    millis(a.at),
                    millis(a.expires_at),
                    body
                ])?;
                Ok(())
            })
            .await
    }

    async fn attempts(
        &self,
        workspace: &WorkspaceId,
        id: &EndpointId,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryAttempt>> {
        let (workspace, id, now) = (workspace.to_string(), id.to_string(), millis(now));
        let bodies: Vec<String> = self
            .0
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT body FROM webhook_attempts
                     WHERE workspace_id = ?1 AND endpoint_id = ?2 AND expires_at > ?3
                     ORDER BY at DESC, id DESC LIMIT ?4",
                )?;
                let rows =
                    stmt.query_map(params![workspace, id, now, limit as i64], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        bodies.iter().map(|b| from_json(b)).collect()
    }
}
