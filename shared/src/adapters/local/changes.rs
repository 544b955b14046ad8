//! The change feed in SQLite. The recording writers append in the savepoint that writes the
//! recording; one connection serves every write, so numbers follow commit order.

use super::db::{from_json, millis, Db};
use crate::domain::{Change, WorkspaceId};
use crate::ports::ChangeFeed;
use anyhow::Result;
use async_trait::async_trait;
use rusqlite::params;

/// Numbers `change` as its workspace's next and stores it, inside the caller's savepoint.
pub(super) fn append(
    tx: &rusqlite::Savepoint<'_>,
    workspace: &WorkspaceId,
    mut change: Change,
) -> Result<()> {
    let seq: i64 = tx
        .prepare_cached(
            "INSERT INTO change_seq (workspace_id, last) VALUES (?1, 1)
         ON CONFLICT (workspace_id) DO UPDATE SET last = last + 1
         RETURNING last",
        )?
        .query_row(params![workspace.as_str()], |r| r.get(0))?;
    change.seq = seq as u64;
    tx.prepare_cached(
        "INSERT INTO changes (workspace_id, seq, expires_at, body) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        workspace.as_str(),
        seq,
        millis(change.expires_at()),
        serde_json::to_string(&change)?
    ])?;
    Ok(())
}

#[derive(Clone)]
pub struct LocalChanges(pub Db);

#[async_trait]
impl ChangeFeed for LocalChanges {
    async fn read(&self, workspace: &WorkspaceId, after: u64, limit: usize) -> Result<Vec<Change>> {
        let workspace = workspace.to_string();
        self.0
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT body FROM changes WHERE workspace_id = ?1 AND seq > ?2
                     ORDER BY seq LIMIT ?3",
                )?;
                let bodies = stmt
                    .query_map(
                        params![
                            workspace,
                            i64::try_from(after).unwrap_or(i64::MAX),
                            limit as i64
                        ],
                        |r| r.get::<_, String>(0),
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                bodies.iter().map(|b| from_json(b)).collect()
            })
            .await
    }
}
