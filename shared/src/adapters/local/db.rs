//! The SQLite file every local port shares, and the schema.

use anyhow::{Context, Result};
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS recordings (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    sort_time INTEGER NOT NULL,
    search_text TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (user_id, source, external_id)
);
CREATE INDEX IF NOT EXISTS recordings_by_time ON recordings (user_id, sort_time DESC, id DESC);
CREATE TABLE IF NOT EXISTS connections (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    account_email TEXT,
    created_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (user_id, source)
);
CREATE INDEX IF NOT EXISTS connections_by_email ON connections (source, account_email);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs (user_id, created_at DESC);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS once_items (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS queue_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    dead INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_visible ON queue_messages (queue, dead, visible_at, seq);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    source TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_owner ON webhook_deliveries (owner, source, received_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_expiry ON webhook_deliveries (expires_at);
CREATE TABLE IF NOT EXISTS held_deliveries (
    holder TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (holder, key)
);
"#;

/// Changes to the schema since its first version, applied in order once each; the
/// database's `user_version` says how many are applied.
pub(super) const MIGRATIONS: &[&str] = &[
    // Running jobs are found across users without reading every job.
    "ALTER TABLE jobs ADD COLUMN running_updated_at INTEGER;
     CREATE INDEX IF NOT EXISTS jobs_running ON jobs (running_updated_at)
         WHERE running_updated_at IS NOT NULL;",
    // App-level deliveries find their connection by the provider's route key (Fathom: the
    // account email, lower-cased), not by the email alone.
    "ALTER TABLE connections ADD COLUMN route_key TEXT;
     UPDATE connections SET route_key = lower(account_email) WHERE account_email IS NOT NULL;
     UPDATE connections SET body = json_set(body, '$.route_key', route_key)
         WHERE route_key IS NOT NULL;
     CREATE INDEX IF NOT EXISTS connections_by_route ON connections (source, route_key);",
    // Workspaces: every row is a member's of a workspace. Rows from before move into their
    // user's personal workspace, private, as they were readable by that user alone; keys that
    // were unique per user become unique per member.
    "CREATE TABLE recordings_v3 (
         id TEXT PRIMARY KEY,
         workspace_id TEXT NOT NULL,
         user_id TEXT NOT NULL,
         sharing TEXT NOT NULL,
         source TEXT NOT NULL,
         external_id TEXT NOT NULL,
         sort_time INTEGER NOT NULL,
         search_text TEXT NOT NULL,
         body TEXT NOT NULL,
         UNIQUE (workspace_id, user_id, source, external_id)
     );
     INSERT INTO recordings_v3
         SELECT id, 'personal:' || user_id, user_id, 'private', source, external_id, sort_time,
                search_text,
                json_set(body, '$.workspace_id', 'personal:' || user_id, '$.sharing', 'private')
         FROM recordings;
     DROP TABLE recordings;
     ALTER TABLE recordings_v3 RENAME TO recordings;
     CREATE INDEX recordings_by_time ON recordings (workspace_id, sort_time DESC, id DESC);
     CREATE INDEX recordings_by_owner ON recordings (workspace_id, user_id, source);
     CREATE TABLE connections_v3 (
         id TEXT PRIMARY KEY,
         workspace_id TEXT NOT NULL,
         user_id TEXT NOT NULL,
         source TEXT NOT NULL,
         status TEXT NOT NULL,
         route_key TEXT,
         created_at INTEGER NOT NULL,
         version INTEGER NOT NULL,
         body TEXT NOT NULL,
         UNIQUE (workspace_id, user_id, source)
     );
     INSERT INTO connections_v3
         SELECT id, 'personal:' || user_id, user_id, source, status, route_key, created_at,
                version,
                json_set(body, '$.workspace_id', 'personal:' || user_id, '$.sharing', 'private')
         FROM connections;
     DROP TABLE connections;
     ALTER TABLE connections_v3 RENAME TO connections;
     CREATE INDEX connections_by_route ON connections (source, route_key);
     CREATE INDEX connections_by_workspace ON connections (workspace_id, created_at);
     ALTER TABLE jobs ADD COLUMN workspace_id TEXT NOT NULL DEFAULT '';
     UPDATE jobs SET workspace_id = 'personal:' || user_id,
         body = json_set(body, '$.workspace_id', 'personal:' || user_id);
     DROP INDEX IF EXISTS jobs_by_user;
     CREATE INDEX jobs_by_owner ON jobs (workspace_id, user_id, created_at DESC);
     ALTER TABLE uploads ADD COLUMN workspace_id TEXT NOT NULL DEFAULT '';
     ALTER TABLE uploads ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
     UPDATE uploads SET workspace_id = 'personal:' || user_id,
         created_at = COALESCE(
             CAST(strftime('%s', json_extract(body, '$.created_at')) AS INTEGER) * 1000, 0),
         body = json_set(body, '$.workspace_id', 'personal:' || user_id, '$.sharing', 'private');
     CREATE INDEX uploads_by_owner ON uploads (workspace_id, user_id, created_at DESC);
     UPDATE webhook_deliveries SET owner = 'personal:' || owner || ' ' || owner,
         body = json_set(body, '$.owner',
             json_object('workspace', 'personal:' || owner, 'user', owner))
         WHERE owner != '';
     CREATE TABLE activity (
         id TEXT PRIMARY KEY,
         workspace_id TEXT NOT NULL,
         user_id TEXT NOT NULL,
         source TEXT NOT NULL,
         at INTEGER NOT NULL,
         expires_at INTEGER NOT NULL,
         body TEXT NOT NULL
     );
     CREATE INDEX activity_by_workspace ON activity (workspace_id, at DESC, id DESC);",
    // The change feed: each workspace's last number, and its numbered changes.
    "CREATE TABLE change_seq (workspace_id TEXT PRIMARY KEY, last INTEGER NOT NULL);
     CREATE TABLE changes (
         workspace_id TEXT NOT NULL,
         seq INTEGER NOT NULL,
         expires_at INTEGER NOT NULL,
         body TEXT NOT NULL,
         PRIMARY KEY (workspace_id, seq)
     );
     CREATE INDEX changes_expiry ON changes (expires_at);",
];

fn migrate(conn: &mut Connection) -> Result<()> {
    let applied: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(migration)
            .with_context(|| format!("migrating the local schema to version {}", index + 1))?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// One SQLite connection shared by every local port; calls run on the blocking pool so
/// the async runtime never waits on disk.
#[derive(Clone)]
pub struct Db(Arc<Mutex<Connection>>);

impl Db {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening SQLite database {}", path.display()))?;
        Self::init(conn)
    }

    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // The first version of the schema, then every change since, in order.
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version == 0 {
            conn.execute_batch(SCHEMA)
                .context("creating the local schema")?;
        }
        migrate(&mut conn)?;
        Ok(Db(Arc::new(Mutex::new(conn))))
    }

    /// Runs `f` with the connection, off the async threads.
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let db = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut conn)
        })
        .await
        .context("local database task failed")?
    }
}

/// Milliseconds since the epoch, the time unit of every local table.
pub fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_json<T: serde::de::DeserializeOwned>(body: &str) -> Result<T> {
    serde_json::from_str(body).context("a stored item could not be read")
}
