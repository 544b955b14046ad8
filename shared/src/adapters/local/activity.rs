//! The activity log in SQLite. Expired entries are deleted whenever the log is read (DynamoDB's
//! TTL does this in AWS).

use super::db::{from_json, millis, Db};
use super::records::{decode_cursor, keyset_page, keyset_row};
use crate::domain::{ActivityEntry, Source, UserId, WorkspaceId};
use crate::ports::{ActivityLog, Page};
use anyhow::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

#[derive(Clone)]
pub struct LocalActivity(pub Db);

#[async_trait]
impl ActivityLog for LocalActivity {
    async fn record(&self, entry: &ActivityEntry) -> Result<()> {
        let body = serde_json::to_string(entry)?;
        let e = entry.clone();
        self.0
            .call(move |c| {
                c.prepare_cached(
                    "INSERT OR IGNORE INTO activity (id, workspace_id, user_id, source, at, expires_at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?.execute(
                    params![
                        e.id,
                        e.workspace_id.as_str(),
                        e.user_id.as_str(),
                        e.source.as_str(),
                        millis(e.at),
                        millis(e.expires_at),
                        body
                    ],
                )?;
                Ok(())
            })
            .await
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
        let workspace = workspace.to_string();
        let user = user.map(|u| u.to_string());
        let source = source.map(|s| s.as_str().to_owned());
        let after = cursor.map(decode_cursor).transpose()?;
        let (now, limit) = (millis(now), limit.max(1));
        self.0
            .call(move |c| {
                let tx = c.savepoint()?;
                tx.prepare_cached("DELETE FROM activity WHERE expires_at <= ?1")?
                    .execute(params![now])?;
                let (after_at, after_id) = after.unwrap_or((i64::MAX, String::from("\u{10FFFF}")));
                let rows = {
                    let mut stmt = tx.prepare_cached(
                        "SELECT body, at, id FROM activity
                         WHERE workspace_id = ?1
                           AND (?2 IS NULL OR user_id = ?2)
                           AND (?3 IS NULL OR source = ?3)
                           AND (at < ?4 OR (at = ?4 AND id < ?5))
                         ORDER BY at DESC, id DESC
                         LIMIT ?6",
                    )?;
                    let rows = stmt.query_map(
                        params![
                            workspace,
                            user,
                            source,
                            after_at,
                            after_id,
                            (limit + 1) as i64
                        ],
                        keyset_row,
                    )?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()?
                };
                tx.commit()?;
                keyset_page(rows, limit, |body: String| from_json(&body))
            })
            .await
    }
}
