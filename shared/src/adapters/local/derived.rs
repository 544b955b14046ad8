//! Derived documents in SQLite, one row each.

use super::db::Db;
use crate::domain::Tenant;
use crate::ports::{DerivedStore, DerivedWrite, Versioned};
use anyhow::Result;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

#[derive(Clone)]
pub struct LocalDerived(pub Db);

#[async_trait]
impl DerivedStore for LocalDerived {
    async fn get(&self, owner: &Tenant, kind: &str, id: &str) -> Result<Option<Versioned>> {
        let (workspace, user) = (owner.workspace.to_string(), owner.user.to_string());
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.0
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT body, version FROM derived
                     WHERE workspace_id = ?1 AND user_id = ?2 AND kind = ?3 AND id = ?4",
                )?
                .query_row(params![workspace, user, kind, id], |r| {
                    Ok(Versioned {
                        body: r.get(0)?,
                        version: r.get::<_, i64>(1)? as u64,
                    })
                })
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
        let write = DerivedWrite {
            kind: kind.to_owned(),
            id: id.to_owned(),
            body: Some(body.to_owned()),
            expected,
        };
        self.0
            .call(move |c| write_one(c, &workspace, &user, &write))
            .await
    }

    async fn write_together(&self, owner: &Tenant, writes: &[DerivedWrite]) -> Result<bool> {
        let (workspace, user) = (owner.workspace.to_string(), owner.user.to_string());
        let writes = writes.to_vec();
        self.0
            .call(move |c| {
                // Undone on drop unless every write held.
                let together = c.savepoint()?;
                for write in &writes {
                    if !write_one(&together, &workspace, &user, write)? {
                        return Ok(false);
                    }
                }
                together.commit()?;
                Ok(true)
            })
            .await
    }

    async fn list_prefixed(
        &self,
        owner: &Tenant,
        kind: &str,
        prefix: &str,
    ) -> Result<Vec<(String, Versioned)>> {
        let (workspace, user) = (owner.workspace.to_string(), owner.user.to_string());
        let kind = kind.to_owned();
        // Ids sort as bytes: those starting with `prefix` lie between it and it followed by
        // the highest character.
        let (from, to) = (prefix.to_owned(), format!("{prefix}\u{10FFFF}"));
        self.0
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT id, body, version FROM derived
                     WHERE workspace_id = ?1 AND user_id = ?2 AND kind = ?3
                       AND id >= ?4 AND id < ?5
                     ORDER BY id",
                )?;
                let rows = stmt.query_map(params![workspace, user, kind, from, to], |r| {
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
                c.prepare_cached(
                    "DELETE FROM derived WHERE workspace_id = ?1 AND user_id = ?2 AND kind = ?3",
                )?
                .execute(params![workspace, user, kind])?;
                Ok(())
            })
            .await
    }
}

/// Applies `write` if its expected version holds; `false` when it did not.
fn write_one(c: &Connection, workspace: &str, user: &str, write: &DerivedWrite) -> Result<bool> {
    let DerivedWrite {
        kind,
        id,
        body,
        expected,
    } = write;
    let changed = match (body, expected) {
        (Some(body), None) => c
            .prepare_cached(
                "INSERT OR IGNORE INTO derived (workspace_id, user_id, kind, id, version, body)
                 VALUES (?1, ?2, ?3, ?4, 1, ?5)",
            )?
            .execute(params![workspace, user, kind, id, body])?,
        (Some(body), Some(version)) => c
            .prepare_cached(
                "UPDATE derived SET version = ?5, body = ?6
                 WHERE workspace_id = ?1 AND user_id = ?2 AND kind = ?3 AND id = ?4
                   AND version = ?7",
            )?
            .execute(params![
                workspace,
                user,
                kind,
                id,
                (version + 1) as i64,
                body,
                *version as i64
            ])?,
        (None, Some(version)) => c
            .prepare_cached(
                "DELETE FROM derived
                 WHERE workspace_id = ?1 AND user_id = ?2 AND kind = ?3 AND id = ?4
                   AND version = ?5",
            )?
            .execute(params![workspace, user, kind, id, *version as i64])?,
        // Removing what is expected absent: it holds if nothing is there.
        (None, None) => {
            let stored: bool = c
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM derived
                     WHERE workspace_id = ?1 AND user_id = ?2 AND kind = ?3 AND id = ?4)",
                )?
                .query_row(params![workspace, user, kind, id], |r| r.get(0))?;
            usize::from(!stored)
        }
    };
    Ok(changed == 1)
}
