//! Recordings, connections, jobs and uploads in SQLite. Each row keeps the domain object as
//! JSON plus the columns its keys and indexes need.

use super::changes;
use super::db::{from_json, millis, Db};
use crate::domain::{
    Change, ChangeKind, Connection, ConnectionId, ExternalId, JobId, Recording, RecordingId,
    Sharing, Source, SyncJob, Tenant, Upload, UploadId, WorkspaceId, JOB_RETENTION,
};
use crate::ports::{
    ConnectionStore, Inserted, InvalidCursor, JobStore, Page, RecordingQuery, RecordingReader,
    RecordingWriter, UploadStore,
};
use anyhow::Result;
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use std::collections::BTreeMap;

fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::ConstraintViolation)
}

fn inserted(result: rusqlite::Result<usize>) -> Result<Inserted> {
    match result {
        Ok(_) => Ok(Inserted::New),
        Err(e) if is_unique_violation(&e) => Ok(Inserted::AlreadyExists),
        Err(e) => Err(e.into()),
    }
}

/// Keyset cursor over `(sort value, id)`, opaque to callers.
pub(super) fn encode_cursor(sort: i64, id: &str) -> String {
    B64.encode(format!("{sort}:{id}"))
}

pub(super) fn decode_cursor(cursor: &str) -> Result<(i64, String)> {
    let raw = B64
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let parsed = raw
        .as_deref()
        .and_then(|r| r.split_once(':'))
        .and_then(|(sort, id)| Some((sort.parse().ok()?, id.to_owned())));
    parsed.ok_or_else(|| InvalidCursor.into())
}

/// A recording as stored: its body without the search text, which has a column of its own
/// (what searches match), that text, and the recording without it (for its change entry).
fn stored_recording(recording: &Recording) -> Result<(String, String, Recording)> {
    let mut stored = recording.clone();
    let search_text = std::mem::take(&mut stored.search_text);
    Ok((serde_json::to_string(&stored)?, search_text, stored))
}

fn read_recording((body, search_text): (String, String)) -> Result<Recording> {
    let mut recording: Recording = from_json(&body)?;
    recording.search_text = search_text;
    Ok(recording)
}

/// The one row's JSON body, decoded.
fn one<T: serde::de::DeserializeOwned>(
    c: &rusqlite::Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Option<T>> {
    let body: Option<String> = c
        .prepare_cached(sql)?
        .query_row(args, |r| r.get(0))
        .optional()?;
    body.as_deref().map(from_json).transpose()
}

/// The one recording `sql` selects (`body, search_text`), if any.
fn one_recording(
    c: &rusqlite::Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Option<Recording>> {
    c.prepare_cached(sql)?
        .query_row(args, |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .map(read_recording)
        .transpose()
}

/// Rows of `(row, sort value, id)` fetched with `limit + 1`, cut to a page with its cursor;
/// `decode` makes an item of a row.
pub(super) fn keyset_page<R, T>(
    rows: Vec<(R, i64, String)>,
    limit: usize,
    decode: impl Fn(R) -> Result<T>,
) -> Result<Page<T>> {
    let more = rows.len() > limit;
    let page: Vec<_> = rows.into_iter().take(limit).collect();
    let next_cursor = match page.last() {
        Some((_, sort, id)) if more => Some(encode_cursor(*sort, id)),
        _ => None,
    };
    let items = page
        .into_iter()
        .map(|(row, _, _)| decode(row))
        .collect::<Result<_>>()?;
    Ok(Page { items, next_cursor })
}

pub(super) fn keyset_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, i64, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn like_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[derive(Clone)]
pub struct LocalRecordings(pub Db);

#[async_trait]
impl RecordingReader for LocalRecordings {
    async fn get(&self, viewer: &Tenant, id: &RecordingId) -> Result<Option<Recording>> {
        let (workspace, user, id) = (
            viewer.workspace.to_string(),
            viewer.user.to_string(),
            id.to_string(),
        );
        self.0
            .read(move |c| {
                one_recording(
                    c,
                    "SELECT body, search_text FROM recordings WHERE id = ?1 AND workspace_id = ?2
                         AND (user_id = ?3 OR sharing = 'workspace')",
                    params![id, workspace, user],
                )
            })
            .await
    }

    async fn find_by_key(
        &self,
        owner: &Tenant,
        source: Source,
        external_id: &ExternalId,
    ) -> Result<Option<Recording>> {
        let (workspace, user, external_id) = (
            owner.workspace.to_string(),
            owner.user.to_string(),
            external_id.to_string(),
        );
        self.0
            .read(move |c| {
                one_recording(
                    c,
                    "SELECT body, search_text FROM recordings WHERE workspace_id = ?1 AND user_id = ?2
                         AND source = ?3 AND external_id = ?4",
                    params![workspace, user, source.as_str(), external_id],
                )
            })
            .await
    }

    async fn list(&self, viewer: &Tenant, query: &RecordingQuery) -> Result<Page<Recording>> {
        let (workspace, user) = (viewer.workspace.to_string(), viewer.user.to_string());
        let source = query.source.map(|s| s.as_str().to_owned());
        let text = query.text.as_deref().map(like_pattern);
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let limit = query.limit.max(1);
        self.0
            .read(move |c| {
                let (after_sort, after_id) =
                    after.unwrap_or((i64::MAX, String::from("\u{10FFFF}")));
                let mut stmt = c.prepare_cached(
                    "SELECT body, search_text, sort_time, id FROM recordings
                     WHERE workspace_id = ?1 AND (user_id = ?2 OR sharing = 'workspace')
                       AND (?3 IS NULL OR source = ?3)
                       AND (?4 IS NULL OR search_text LIKE ?4 ESCAPE '\\')
                       AND (sort_time < ?5 OR (sort_time = ?5 AND id < ?6))
                     ORDER BY sort_time DESC, id DESC
                     LIMIT ?7",
                )?;
                let rows = stmt
                    .query_map(
                        params![
                            workspace,
                            user,
                            source,
                            text,
                            after_sort,
                            after_id,
                            (limit + 1) as i64
                        ],
                        |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?, r.get(3)?)),
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                keyset_page(rows, limit, read_recording)
            })
            .await
    }

    async fn count(&self, owner: &Tenant, source: Source) -> Result<u64> {
        let (workspace, user) = (owner.workspace.to_string(), owner.user.to_string());
        self.0
            .read(move |c| {
                let n: i64 = c
                    .prepare_cached(
                        "SELECT COUNT(*) FROM recordings
                     WHERE workspace_id = ?1 AND user_id = ?2 AND source = ?3",
                    )?
                    .query_row(params![workspace, user, source.as_str()], |r| r.get(0))?;
                Ok(n as u64)
            })
            .await
    }

    async fn count_by_source(&self, owner: &Tenant) -> Result<BTreeMap<Source, u64>> {
        let (workspace, user) = (owner.workspace.to_string(), owner.user.to_string());
        self.0
            .read(move |c| {
                let mut counts: BTreeMap<Source, u64> =
                    Source::ALL.into_iter().map(|s| (s, 0)).collect();
                let mut stmt = c.prepare_cached(
                    "SELECT source, COUNT(*) FROM recordings
                     WHERE workspace_id = ?1 AND user_id = ?2 GROUP BY source",
                )?;
                let rows = stmt.query_map(params![workspace, user], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })?;
                for row in rows {
                    let (source, n) = row?;
                    counts.insert(Source::parse(&source)?, n as u64);
                }
                Ok(counts)
            })
            .await
    }
}

#[async_trait]
impl RecordingWriter for LocalRecordings {
    async fn insert_if_absent(&self, recording: &Recording) -> Result<Inserted> {
        let (body, search_text, rec) = stored_recording(recording)?;
        self.0
            .call(move |c| {
                let tx = c.savepoint()?;
                let result = inserted(tx.prepare_cached(
                    "INSERT INTO recordings (id, workspace_id, user_id, sharing, source, external_id,
                         sort_time, search_text, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?.execute(
                    params![
                        rec.id.as_str(),
                        rec.workspace_id.as_str(),
                        rec.user_id.as_str(),
                        rec.sharing.as_str(),
                        rec.source.as_str(),
                        rec.external_id.as_str(),
                        millis(rec.sort_time()),
                        search_text,
                        body
                    ],
                ))?;
                if result == Inserted::New {
                    let change = Change::of(ChangeKind::RecordingCreated, &rec);
                    changes::append(&tx, &rec.workspace_id, change)?;
                }
                tx.commit()?;
                Ok(result)
            })
            .await
    }

    async fn update(&self, recording: &Recording) -> Result<()> {
        let (body, search_text, rec) = stored_recording(recording)?;
        self.0
            .call(move |c| {
                let tx = c.savepoint()?;
                let n = tx.prepare_cached(
                    "UPDATE recordings SET sort_time = ?2, search_text = ?3, sharing = ?4, body = ?5
                     WHERE id = ?1 AND workspace_id = ?6 AND user_id = ?7")?.execute(
                    params![
                        rec.id.as_str(),
                        millis(rec.sort_time()),
                        search_text,
                        rec.sharing.as_str(),
                        body,
                        rec.workspace_id.as_str(),
                        rec.user_id.as_str()
                    ],
                )?;
                anyhow::ensure!(n == 1, "recording {} does not exist", rec.id);
                let change = Change::of(ChangeKind::RecordingUpdated, &rec);
                changes::append(&tx, &rec.workspace_id, change)?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn set_sharing(&self, owner: &Tenant, source: Source, sharing: Sharing) -> Result<u64> {
        let (workspace, user) = (owner.workspace.to_string(), owner.user.to_string());
        self.0
            .call(move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE recordings SET sharing = ?4, body = json_set(body, '$.sharing', ?4)
                     WHERE workspace_id = ?1 AND user_id = ?2 AND source = ?3 AND sharing != ?4",
                    )?
                    .execute(params![workspace, user, source.as_str(), sharing.as_str()])?;
                Ok(n as u64)
            })
            .await
    }
}

#[derive(Clone)]
pub struct LocalConnections(pub Db);

fn connections_where(
    c: &rusqlite::Connection,
    clause: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Connection>> {
    let mut stmt = c.prepare_cached(&format!("SELECT body FROM connections WHERE {clause}"))?;
    let bodies = stmt
        .query_map(args, |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    bodies.iter().map(|b| from_json(b)).collect()
}

#[async_trait]
impl ConnectionStore for LocalConnections {
    async fn insert_if_absent(&self, connection: &Connection) -> Result<Inserted> {
        let conn = connection.clone();
        let body = serde_json::to_string(connection)?;
        self.0
            .call(move |c| {
                inserted(c.prepare_cached(
                    "INSERT INTO connections (id, workspace_id, user_id, source, status, route_key,
                         created_at, version, body)
                     VALUES (?1, ?9, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?.execute(
                    params![
                        conn.id.as_str(),
                        conn.user_id.as_str(),
                        conn.source.as_str(),
                        conn.status.as_str(),
                        conn.route_key,
                        millis(conn.created_at),
                        conn.version as i64,
                        body,
                        conn.workspace_id.as_str()
                    ],
                ))
            })
            .await
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        let id = id.to_string();
        self.0
            .read(move |c| Ok(connections_where(c, "id = ?1", params![id])?.pop()))
            .await
    }

    async fn find(&self, owner: &Tenant, source: Source) -> Result<Option<Connection>> {
        let (workspace, user) = (owner.workspace.to_string(), owner.user.to_string());
        self.0
            .read(move |c| {
                Ok(connections_where(
                    c,
                    "workspace_id = ?1 AND user_id = ?2 AND source = ?3",
                    params![workspace, user, source.as_str()],
                )?
                .pop())
            })
            .await
    }

    async fn list_for_owner(&self, owner: &Tenant) -> Result<Vec<Connection>> {
        let (workspace, user) = (owner.workspace.to_string(), owner.user.to_string());
        self.0
            .read(move |c| {
                connections_where(
                    c,
                    "workspace_id = ?1 AND user_id = ?2 ORDER BY created_at",
                    params![workspace, user],
                )
            })
            .await
    }

    async fn list_for_workspace(&self, workspace: &WorkspaceId) -> Result<Vec<Connection>> {
        let workspace = workspace.to_string();
        self.0
            .read(move |c| {
                connections_where(
                    c,
                    "workspace_id = ?1 ORDER BY created_at, id",
                    params![workspace],
                )
            })
            .await
    }

    async fn find_by_route_key(&self, source: Source, key: &str) -> Result<Vec<Connection>> {
        let key = key.to_owned();
        self.0
            .read(move |c| {
                connections_where(
                    c,
                    "source = ?1 AND route_key = ?2",
                    params![source.as_str(), key],
                )
            })
            .await
    }

    async fn list_all(&self, cursor: Option<&str>, limit: usize) -> Result<Page<Connection>> {
        let after = cursor.map(decode_cursor).transpose()?;
        let limit = limit.max(1);
        self.0
            .read(move |c| {
                let (after_created, after_id) = after.unwrap_or((i64::MIN, String::new()));
                let mut stmt = c.prepare_cached(
                    "SELECT body, created_at, id FROM connections
                     WHERE status != 'disconnected' AND (created_at > ?1 OR (created_at = ?1 AND id > ?2))
                     ORDER BY created_at, id LIMIT ?3",
                )?;
                let rows = stmt
                    .query_map(params![after_created, after_id, (limit + 1) as i64], keyset_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                keyset_page(rows, limit, |body: String| from_json(&body))
            })
            .await
    }

    async fn replace(&self, connection: &Connection) -> Result<bool> {
        let mut next = connection.clone();
        next.version += 1;
        let body = serde_json::to_string(&next)?;
        self.0
            .call(move |c| {
                let n = c.prepare_cached(
                    "UPDATE connections SET status = ?2, route_key = ?3, version = ?4, body = ?5
                     WHERE id = ?1 AND version = ?6")?.execute(
                    params![
                        next.id.as_str(),
                        next.status.as_str(),
                        next.route_key,
                        next.version as i64,
                        body,
                        (next.version - 1) as i64
                    ],
                )?;
                Ok(n == 1)
            })
            .await
    }
}

#[derive(Clone)]
pub struct LocalJobs(pub Db);

#[async_trait]
impl JobStore for LocalJobs {
    async fn put(&self, job: &SyncJob) -> Result<()> {
        let job = job.clone();
        let body = serde_json::to_string(&job)?;
        self.0
            .call(move |c| {
                // Set until the job finishes; named for the first jobs it held: running ones.
                let unfinished = (!job.status.is_finished()).then(|| millis(job.updated_at));
                c.prepare_cached(
                    "INSERT INTO jobs (id, user_id, source, created_at, expires_at, running_updated_at, body,
                         workspace_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (id) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at,
                         running_updated_at = excluded.running_updated_at")?.execute(
                    params![
                        job.id.as_str(),
                        job.user_id.as_str(),
                        job.source.as_str(),
                        millis(job.created_at),
                        job.finished_at.map(|t| millis(t + JOB_RETENTION)),
                        unfinished,
                        body,
                        job.workspace_id.as_str()
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn get(&self, owner: &Tenant, id: &JobId) -> Result<Option<SyncJob>> {
        let (workspace, user, id) = (
            owner.workspace.to_string(),
            owner.user.to_string(),
            id.to_string(),
        );
        self.0
            .read(move |c| {
                one(
                    c,
                    "SELECT body FROM jobs WHERE id = ?1 AND workspace_id = ?2 AND user_id = ?3",
                    params![id, workspace, user],
                )
            })
            .await
    }

    async fn list(
        &self,
        owner: &Tenant,
        source: Option<Source>,
        limit: usize,
    ) -> Result<Vec<SyncJob>> {
        let (workspace, user) = (owner.workspace.to_string(), owner.user.to_string());
        let source = source.map(|s| s.as_str().to_owned());
        self.0
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT body FROM jobs WHERE workspace_id = ?1 AND user_id = ?2
                         AND (?3 IS NULL OR source = ?3)
                     ORDER BY created_at DESC, id DESC LIMIT ?4",
                )?;
                let bodies = stmt
                    .query_map(params![workspace, user, source, limit as i64], |r| {
                        r.get::<_, String>(0)
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                bodies.iter().map(|b| from_json(b)).collect()
            })
            .await
    }

    async fn list_unfinished_before(
        &self,
        cutoff: DateTime<Utc>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<SyncJob>> {
        let after = cursor.map(decode_cursor).transpose()?;
        let limit = limit.max(1);
        self.0
            .read(move |c| {
                let (after_saved, after_id) = after.unwrap_or((i64::MIN, String::new()));
                let mut stmt = c.prepare_cached(
                    "SELECT body, running_updated_at, id FROM jobs
                     WHERE running_updated_at IS NOT NULL AND running_updated_at < ?1
                         AND (running_updated_at > ?2 OR (running_updated_at = ?2 AND id > ?3))
                     ORDER BY running_updated_at, id LIMIT ?4",
                )?;
                let rows = stmt
                    .query_map(
                        params![millis(cutoff), after_saved, after_id, (limit + 1) as i64],
                        keyset_row,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                keyset_page(rows, limit, |body: String| from_json(&body))
            })
            .await
    }
}

#[derive(Clone)]
pub struct LocalUploads(pub Db);

#[async_trait]
impl UploadStore for LocalUploads {
    async fn put(&self, upload: &Upload) -> Result<()> {
        let upload = upload.clone();
        let body = serde_json::to_string(&upload)?;
        self.0
            .call(move |c| {
                c.prepare_cached(
                    "INSERT INTO uploads (id, workspace_id, user_id, created_at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                )?
                .execute(params![
                    upload.id.as_str(),
                    upload.workspace_id.as_str(),
                    upload.user_id.as_str(),
                    millis(upload.created_at),
                    body
                ])?;
                Ok(())
            })
            .await
    }

    async fn get(&self, owner: &Tenant, id: &UploadId) -> Result<Option<Upload>> {
        let (workspace, user, id) = (
            owner.workspace.to_string(),
            owner.user.to_string(),
            id.to_string(),
        );
        self.0
            .read(move |c| {
                one(
                    c,
                    "SELECT body FROM uploads WHERE id = ?1 AND workspace_id = ?2 AND user_id = ?3",
                    params![id, workspace, user],
                )
            })
            .await
    }

    async fn list(&self, owner: &Tenant, limit: usize) -> Result<Vec<Upload>> {
        let (workspace, user) = (owner.workspace.to_string(), owner.user.to_string());
        self.0
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT body FROM uploads WHERE workspace_id = ?1 AND user_id = ?2
                     ORDER BY created_at DESC, id DESC LIMIT ?3",
                )?;
                let bodies = stmt
                    .query_map(params![workspace, user, limit as i64], |r| {
                        r.get::<_, String>(0)
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                bodies.iter().map(|b| from_json(b)).collect()
            })
            .await
    }
}
