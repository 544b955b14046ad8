//! The SQLite file every local port shares, and the schema.

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
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
    // Outbound webhooks: each workspace's endpoints, and the attempts to deliver to them.
    "CREATE TABLE webhook_endpoints (
         workspace_id TEXT NOT NULL,
         id TEXT NOT NULL,
         created_at INTEGER NOT NULL,
         version INTEGER NOT NULL,
         body TEXT NOT NULL,
         PRIMARY KEY (workspace_id, id)
     );
     CREATE TABLE webhook_attempts (
         id TEXT PRIMARY KEY,
         workspace_id TEXT NOT NULL,
         endpoint_id TEXT NOT NULL,
         at INTEGER NOT NULL,
         expires_at INTEGER NOT NULL,
         body TEXT NOT NULL
     );
     CREATE INDEX webhook_attempts_by_endpoint
         ON webhook_attempts (workspace_id, endpoint_id, at DESC, id DESC);
     CREATE INDEX webhook_attempts_expiry ON webhook_attempts (expires_at);",
    // What is derived from each member's recordings, and what they set themselves.
    "CREATE TABLE derived (
         workspace_id TEXT NOT NULL,
         user_id TEXT NOT NULL,
         kind TEXT NOT NULL,
         id TEXT NOT NULL,
         version INTEGER NOT NULL,
         body TEXT NOT NULL,
         PRIMARY KEY (workspace_id, user_id, kind, id)
     );",
    // Small blobs (webhook payloads, transcripts) as rows, not one file each.
    "CREATE TABLE small_blobs (key TEXT PRIMARY KEY, body BLOB NOT NULL);",
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

/// The SQLite file every local port shares: one connection that writes (SQLite takes one
/// writer at a time), and read-only connections for reads, which in WAL mode run beside the
/// writer and each other instead of queueing behind it. Calls run on the blocking pool so
/// the async runtime never waits on disk.
#[derive(Clone)]
pub struct Db {
    writer: Arc<Mutex<Connection>>,
    /// `None` for an in-memory database, which other connections cannot open: its reads go
    /// through the writer.
    readers: Option<Arc<Readers>>,
}

/// Idle read-only connections, opened as needed and kept up to `MAX_IDLE_READERS`.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// Read connections kept open between calls: enough for the blocking pool's usual work.
const MAX_IDLE_READERS: usize = 8;

impl Readers {
    fn take(&self) -> Result<Connection> {
        if let Some(conn) = lock(&self.idle).pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening SQLite database {} to read", self.path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// A poisoned lock still guards a usable connection: a panic inside a call rolls back its
/// transaction when the transaction is dropped.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Db {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening SQLite database {}", path.display()))?;
        let mut db = Self::init(conn)?;
        db.readers = Some(Arc::new(Readers {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }));
        Ok(db)
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
        Ok(Db {
            writer: Arc::new(Mutex::new(conn)),
            readers: None,
        })
    }

    /// Runs `f` with the writing connection, off the async threads.
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let db = self.writer.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&db)))
            .await
            .context("local database task failed")?
    }

    /// Runs `f`, which only reads, with a read-only connection: it sees every write committed
    /// before it starts. A write in `f` fails ("attempt to write a readonly database").
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let Some(readers) = self.readers.clone() else {
            return self.call(f).await;
        };
        tokio::task::spawn_blocking(move || {
            let mut conn = readers.take()?;
            let result = f(&mut conn);
            readers.give_back(conn);
            result
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    async fn count(db: &Db) -> i64 {
        db.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM probe", [], |r| r.get(0))?))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_run_beside_an_open_write_and_see_what_was_committed_before_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("callsync.db")).unwrap();
        let insert = "INSERT INTO probe (id) VALUES (?1)";
        db.call(move |c| {
            c.execute_batch("CREATE TABLE probe (id TEXT PRIMARY KEY)")?;
            Ok(c.execute(insert, ["r1"])?)
        })
        .await
        .unwrap();
        assert_eq!(count(&db).await, 1, "a committed write is read");

        // The writer holds a transaction with a second row until told to commit.
        let (holding_tx, holding) = mpsc::channel();
        let (commit_tx, commit) = mpsc::channel::<()>();
        let writer = tokio::spawn({
            let db = db.clone();
            async move {
                db.call(move |c| {
                    let tx = c.transaction()?;
                    tx.execute(insert, ["r2"])?;
                    holding_tx.send(()).unwrap();
                    commit.recv().unwrap();
                    tx.commit()?;
                    Ok(())
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || holding.recv().unwrap())
            .await
            .unwrap();
        // Queued behind the writer this read would never return (the writer waits for it).
        let during = tokio::time::timeout(Duration::from_secs(30), count(&db))
            .await
            .expect("a read does not wait for the writer");
        assert_eq!(during, 1, "an uncommitted write is not read");
        commit_tx.send(()).unwrap();
        writer.await.unwrap().unwrap();
        assert_eq!(count(&db).await, 2, "the committed write is read");
    }

    #[tokio::test]
    async fn a_read_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("callsync.db")).unwrap();
        let attempt = db
            .read(|c| Ok(c.execute("DELETE FROM recordings", [])?))
            .await;
        assert!(attempt.is_err(), "a read-only connection refuses writes");
    }
}
