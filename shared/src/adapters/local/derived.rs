//! Derived documents in SQLite, one row each.

use super::db::Db;
use crate::domain::Tenant;
use crate::ports::{DerivedStore, Versioned};
use anyhow::Result;
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

#[derive(Clone)]
pub struct LocalDerived(pub Db);

#[async_trait]
impl DerivedStore for LocalDerived {
    async fn get(&self, owner: &Tenant, kind: &str, id: &str) -> Result<Option<Versioned>> {
        let (workspace, user) = (owner.workspace.to_string(), owner.user.to_string());
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.0
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT body, version FROM derived
                     WHERE workspace_id = ?1 AND user_id = ?2 AND kind = ?3 AND id = ?4",
                    params![workspace, user, kind, id],
                    |r| {
                        Ok(Versioned {
                            body: r.get(0)?,
                            version: r.get::<_, i64>(1)? as u64,
                        })
                    },
                )
                .optional()?)
            })
            .await
    }

    async fn put(
        &self,
        owner: &Tenant,
        kind: &str,
        id: &str,
        body: &str,
        expected: Option<u64>,
    ) -> Result<bool> {
        let (workspace, user) = (owner.workspace.to_string(), owner.user.to_string());
        let (kind, id, body) = (kind.to_owned(), id.to_owned(), body.to_owned());
        self.0
            .call(move |c| {
                let written = match expected {
                    None => c.execute(
                        "INSERT OR IGNORE INTO derived (workspace_id, user_id, kind, id, version, body)
                         VALUES (?1, ?2, ?3, ?4, 1, ?5)",
                        params![workspace, user, kind, id, body],
                    )?,
                    Some(version) => c.execute(
                        "UPDATE derived SET version = ?5, body = ?6
                         WHERE workspace_id = ?1 AND user_id = ?2 AND kind = ?3 AND id = ?4
                           AND version = ?7",
                        params![
                            workspace,
                            user,
                            kind,
                            id,
                            (version + 1) as i64,
                            body,
                            version as i64
                        ],
                    )?,
                };
                Ok(written == 1)
            })
            .await
    }

    async fn list(&self, owner: &Tenant, kind: &str) -> Result<Vec<(String, Versioned)>> {
        let (workspace, user) = (owner.workspace.to_string(), owner.user.to_string());
        let kind = kind.to_owned();
        self.0
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT id, body, version FROM derived
                     WHERE workspace_id = ?1 AND user_id = ?2 AND kind = ?3 ORDER BY id",
                )?;
                let rows = stmt.query_map(params![workspace, user, kind], |r| {
                    Ok((
                        r.get(0)?,
                        Versioned {
                            body: r.get(1)?,
                            version: r.get::<_, i64>(2)? as u64,
                        },
                    ))
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn clear(&self, owner: &Tenant, kind: &str) -> Result<()> {
        let (workspace, user) = (owner.workspace.to_string(), owner.user.to_string());
        let kind = kind.to_owned();
        self.0
            .call(move |c| {
                c.execute(
                    "DELETE FROM derived WHERE workspace_id = ?1 AND user_id = ?2 AND kind = ?3",
                    params![workspace, user, kind],
                )?;
                Ok(())
            })
            .await
    }
}
