//! The SQLite file every local port shares, and the schema.

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

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
    // A queue's next messages are read in order and a received one is deleted by its receipt,
    // without reading the whole backlog (it was read, and sorted, on every receive and delete).
    "DROP INDEX queue_visible;
     CREATE INDEX queue_in_order ON queue_messages (queue, dead, seq);
     CREATE INDEX queue_by_receipt ON queue_messages (receipt) WHERE receipt IS NOT NULL;",
    // Small blobs keyed by their key alone (no rowid and second index): a row of a table
    // keyed so keeps at most about 2 KB in its leaf page and the rest in overflow pages, where
    // a rowid row of 10-30 KB kept up to a whole page's worth there, one row a leaf. Each says
    // how its body is stored: compressed ('lz4') or as it came (''), as every row before was.
    "CREATE TABLE small_blobs_by_key (
         key TEXT PRIMARY KEY,
         body BLOB NOT NULL,
         encoding TEXT NOT NULL DEFAULT ''
     ) WITHOUT ROWID;
     INSERT INTO small_blobs_by_key (key, body) SELECT key, body FROM small_blobs;
     DROP TABLE small_blobs;
     ALTER TABLE small_blobs_by_key RENAME TO small_blobs;",
    // The tables every webhook delivery writes keep fewer b-trees: once-items, the delivery
    // log and held deliveries are keyed by their keys alone (no rowid table beside the key's
    // index), and the queue keeps neither a unique index on message ids (made here, unique
    // by construction) nor AUTOINCREMENT, whose counter row was one more page a commit.
    // A commit writes every page it touches whole, so each b-tree a write touches is a page
    // of log, and of checkpoint, per commit.
    "CREATE TABLE once_items_by_key (
         key TEXT PRIMARY KEY,
         value TEXT NOT NULL,
         expires_at INTEGER NOT NULL
     ) WITHOUT ROWID;
     INSERT INTO once_items_by_key SELECT key, value, expires_at FROM once_items;
     DROP TABLE once_items;
     ALTER TABLE once_items_by_key RENAME TO once_items;
     CREATE TABLE webhook_deliveries_by_id (
         id TEXT PRIMARY KEY,
         owner TEXT NOT NULL,
         source TEXT NOT NULL,
         received_at INTEGER NOT NULL,
         expires_at INTEGER NOT NULL,
         body TEXT NOT NULL
     ) WITHOUT ROWID;
     INSERT INTO webhook_deliveries_by_id
         SELECT id, owner, source, received_at, expires_at, body FROM webhook_deliveries;
     DROP TABLE webhook_deliveries;
     ALTER TABLE webhook_deliveries_by_id RENAME TO webhook_deliveries;
     CREATE INDEX webhook_deliveries_by_owner
         ON webhook_deliveries (owner, source, received_at DESC, id DESC);
     CREATE INDEX webhook_deliveries_by_expiry ON webhook_deliveries (expires_at);
     CREATE TABLE held_deliveries_by_key (
         holder TEXT NOT NULL,
         key TEXT NOT NULL,
         value TEXT NOT NULL,
         expires_at INTEGER NOT NULL,
         PRIMARY KEY (holder, key)
     ) WITHOUT ROWID;
     INSERT INTO held_deliveries_by_key SELECT holder, key, value, expires_at FROM held_deliveries;
     DROP TABLE held_deliveries;
     ALTER TABLE held_deliveries_by_key RENAME TO held_deliveries;
     CREATE TABLE queue_messages_in_order (
         seq INTEGER PRIMARY KEY,
         id TEXT NOT NULL,
         queue TEXT NOT NULL,
         body TEXT NOT NULL,
         visible_at INTEGER NOT NULL,
         receive_count INTEGER NOT NULL DEFAULT 0,
         receipt TEXT,
         dead INTEGER NOT NULL DEFAULT 0
     );
     INSERT INTO queue_messages_in_order
         SELECT seq, id, queue, body, visible_at, receive_count, receipt, dead FROM queue_messages;
     DROP TABLE queue_messages;
     ALTER TABLE queue_messages_in_order RENAME TO queue_messages;
     CREATE INDEX queue_in_order ON queue_messages (queue, dead, seq);
     CREATE INDEX queue_by_receipt ON queue_messages (receipt) WHERE receipt IS NOT NULL;",
    // Every unfinished job is indexed by its last save, queued ones too (the code indexes
    // them as it saves them; this covers those saved before).
    "UPDATE jobs
         SET running_updated_at =
             CAST(unixepoch(json_extract(body, '$.updated_at'), 'subsec') * 1000 AS INTEGER)
         WHERE running_updated_at IS NULL AND json_extract(body, '$.status') = 'queued';",
];

/// A database at `path` as version `version` of the schema left it, for tests of the
/// migrations after it: the first schema and the migrations before `version`, applied bare.
/// Migrations are only ever appended, so a version number names one schema for good.
#[cfg(test)]
pub(super) fn database_at_version(path: &Path, version: usize) -> Connection {
    let c = Connection::open(path).unwrap();
    c.execute_batch(SCHEMA).unwrap();
    for migration in &MIGRATIONS[..version] {
        c.execute_batch(migration).unwrap();
    }
    c.pragma_update(None, "user_version", version).unwrap();
    c
}

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
/// writer and each other instead of queueing behind it. Calls run off the async threads, so
/// the runtime never waits on disk.
///
/// Writes run on one thread that owns the writing connection, and writes that arrive
/// together share one transaction (group commit): each runs in its own savepoint, so one
/// that fails changes nothing and the others still commit, and every caller is answered
/// only after the commit. Under load this makes one commit and one hand-off per batch
/// instead of one per write, and no thread waits on a lock.
#[derive(Clone)]
pub struct Db {
    writes: mpsc::Sender<Box<dyn Write>>,
    /// `None` for an in-memory database, which other connections cannot open: its reads go
    /// through the writer.
    readers: Option<Arc<Readers>>,
}

/// The most writes committed together.
const MAX_BATCH: usize = 64;

/// One caller's write, queued for the writer thread.
trait Write: Send {
    /// Runs the write inside the open transaction; whether it succeeded (and is kept).
    fn run(&mut self, conn: &mut Connection) -> bool;
    /// Answers the caller once the transaction has ended, committed or not.
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct PendingWrite<T, F> {
    write: Option<F>,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Write for PendingWrite<T, F>
where
    T: Send,
    F: FnOnce(&mut Connection) -> Result<T> + Send,
{
    fn run(&mut self, conn: &mut Connection) -> bool {
        let Some(write) = self.write.take() else {
            return false;
        };
        // A panic fails this write alone: its savepoint is rolled back like an error's.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(conn)))
            .unwrap_or_else(|_| Err(anyhow::anyhow!("a local database write panicked")));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let answer = match (self.result, committed) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(e)) => Err(anyhow::anyhow!(
                "committing to the local database failed: {e}"
            )),
            (None, Ok(())) => Err(anyhow::anyhow!("a local database write did not run")),
        };
        // The caller may have stopped waiting; the write stands all the same.
        let _ = self.reply.send(answer);
    }
}

/// The writer thread: takes every write waiting, runs them in one transaction, answers, and
/// nudges the checkpointer (when there is one) after each commit.
fn write_batches(
    mut conn: Connection,
    writes: mpsc::Receiver<Box<dyn Write>>,
    committed_nudge: Option<mpsc::SyncSender<()>>,
) {
    while let Ok(first) = writes.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match writes.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        let committed = commit_batch(&mut conn, &mut batch).map_err(|e| e.to_string());
        if let (Ok(()), Some(nudge)) = (&committed, &committed_nudge) {
            // Full means a nudge is already waiting: the checkpoint will cover this commit too.
            let _ = nudge.try_send(());
        }
        for write in batch {
            write.finish(committed.clone());
        }
    }
}

fn commit_batch(conn: &mut Connection, batch: &mut [Box<dyn Write>]) -> rusqlite::Result<()> {
    run_cached(conn, "BEGIN IMMEDIATE")?;
    let mut run_all = || {
        for write in batch.iter_mut() {
            run_cached(conn, "SAVEPOINT write")?;
            if !write.run(conn) {
                run_cached(conn, "ROLLBACK TO write")?;
            }
            run_cached(conn, "RELEASE write")?;
        }
        run_cached(conn, "COMMIT")
    };
    let outcome = run_all();
    if outcome.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    outcome
}

/// Runs one of the writer's own statements, prepared once: they run several times a batch.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Pause after each background checkpoint: under load one runs about this often, each
/// copying everything committed since the last; an idle database costs none. At 1 ms the
/// writer's own checkpoints find less left to copy than at 5 ms (bench-webhook's paused run
/// took in 5-9% more, in alternating runs).
const CHECKPOINT_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);

/// The checkpointer thread: after commits, copies the write-ahead log into the database file
/// from its own connection. A passive checkpoint never blocks the writer, which keeps
/// committing meanwhile. The writer still checkpoints as SQLite does by default (every 1,000
/// pages), which is what lets the log start over instead of growing, but it finds most pages
/// already copied: done by the writer alone, checkpoints were over half its time under a
/// stream of 50 KB deliveries. Ends with the writer.
fn checkpoint_after_commits(conn: Connection, nudges: mpsc::Receiver<()>) {
    while nudges.recv().is_ok() {
        let checkpoint = conn
            .prepare_cached("PRAGMA wal_checkpoint(PASSIVE)")
            .and_then(|mut statement| statement.query_row([], |_| Ok(())));
        if let Err(e) = checkpoint {
            tracing::warn!(error = %e, "checkpointing the local database failed; retried after the next commit");
        }
        std::thread::sleep(CHECKPOINT_PAUSE);
    }
}

/// Page size of a new database. Payloads and transcripts of tens of KB are rows, and SQLite
/// writes its log, and copies it back, one page per call (two calls a log frame): a 50 KB
/// payload is 7 pages at 8 KB against 13 at 4 KB. At 8 KB bench-webhook's paused run took in
/// about a sixth more (medians of 12 and 10 full runs); at 16 and 32 KB every small change
/// writes a larger page, and imports slowed.
const PAGE_SIZE: u32 = 8192;

/// Idle read-only connections, opened as needed and kept up to `MAX_IDLE_READERS`.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// Statements each connection keeps prepared: every statement the adapters run by text
/// (about 60), so a busy path never parses its SQL again.
const STATEMENT_CACHE: usize = 128;

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
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// A poisoned lock still guards usable idle connections: a panic inside a read leaves no
/// transaction open once its statements are dropped.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The database at `path`, to write, never created: only the writer's own opening makes it
/// (owner-only). A database removed before the checkpointer opens it (its folder cleaned up
/// right after a short run) must not come back as an empty file, readable by all, in a
/// folder then left behind.
fn open_existing(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// Starts the checkpointer of the database at `path`; the sender to nudge it with after
/// each commit. It opens its connection on its own thread, so a function's cold start does
/// not wait for it; if it cannot, the writer's own checkpoints still keep the log in check.
fn start_checkpointer(path: &Path) -> Result<mpsc::SyncSender<()>> {
    let path = path.to_owned();
    let (nudge, nudges) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || match open_existing(&path) {
            Ok(conn) => checkpoint_after_commits(conn, nudges),
            Err(e) => tracing::warn!(error = %e, "the local database's checkpointer did not start"),
        })
        .context("starting the local database's checkpointer")?;
    Ok(nudge)
}

impl Db {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening SQLite database {}", path.display()))?;
        let readers = Readers {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        };
        Self::init(conn, Some(Arc::new(readers)))
    }

    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?, None)
    }

    fn init(mut conn: Connection, readers: Option<Arc<Readers>>) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Takes effect only on a database not yet written (a new one); an existing database
        // keeps the pages it was made with.
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // A write's savepoint keeps the pages it changes in a statement journal, which past
        // 64 KB went to a temporary file, created and deleted many times a second under a
        // stream of deliveries.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // The first version of the schema, then every change since, in order.
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version == 0 {
            conn.execute_batch(SCHEMA)
                .context("creating the local schema")?;
        }
        migrate(&mut conn)?;
        let committed_nudge = match &readers {
            Some(readers) => Some(start_checkpointer(&readers.path)?),
            None => None,
        };
        let (writes, queued) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_batches(conn, queued, committed_nudge))
            .context("starting the local database's writer")?;
        Ok(Db { writes, readers })
    }

    /// Runs `f` with the writing connection, inside a transaction it may share with other
    /// writes (so `f` groups statements with `savepoint()`, never `transaction()`). Its
    /// changes are kept when it returns `Ok` and the transaction commits; the answer comes
    /// after the commit, so what follows sees them.
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let write = PendingWrite {
            write: Some(f),
            result: None,
            reply,
        };
        self.writes
            .send(Box::new(write))
            .map_err(|_| anyhow::anyhow!("the local database's writer has stopped"))?;
        answer.await.context("local database task failed")?
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

    #[test]
    fn the_checkpointer_never_creates_a_database_removed_before_it_opened_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("callsync.db");
        let nudge = start_checkpointer(&path).unwrap();
        // The checkpointer ends when it cannot open the database: its end of the channel goes.
        let ended = (0..500).any(|_| match nudge.try_send(()) {
            Err(mpsc::TrySendError::Disconnected(())) => true,
            _ => {
                std::thread::sleep(std::time::Duration::from_millis(10));
                false
            }
        });
        assert!(
            ended,
            "the checkpointer opened a database that was not there"
        );
        assert!(!path.exists(), "an empty database was created");
    }

    /// A database in a fresh folder (kept while the folder is) with an empty `probe` table.
    async fn probe_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("callsync.db")).unwrap();
        db.call(|c| Ok(c.execute_batch("CREATE TABLE probe (id TEXT PRIMARY KEY)")?))
            .await
            .unwrap();
        (dir, db)
    }

    /// Starts a write that inserts `id` into `probe` and then waits, uncommitted, until the
    /// returned sender lets it go; returns once it is waiting. The handle answers the write.
    async fn hold_writer(
        db: &Db,
        id: &'static str,
    ) -> (tokio::task::JoinHandle<Result<()>>, mpsc::Sender<()>) {
        let (holding_tx, holding) = mpsc::channel();
        let (release_tx, release) = mpsc::channel::<()>();
        let writer = tokio::spawn({
            let db = db.clone();
            async move {
                db.call(move |c| {
                    let tx = c.savepoint()?;
                    tx.execute("INSERT INTO probe (id) VALUES (?1)", [id])?;
                    holding_tx.send(()).unwrap();
                    release.recv().unwrap();
                    tx.commit()?;
                    Ok(())
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || holding.recv().unwrap())
            .await
            .unwrap();
        (writer, release_tx)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_run_beside_an_open_write_and_see_what_was_committed_before_them() {
        let (_dir, db) = probe_db().await;
        let insert = "INSERT INTO probe (id) VALUES (?1)";
        db.call(move |c| Ok(c.execute(insert, ["r1"])?))
            .await
            .unwrap();
        assert_eq!(count(&db).await, 1, "a committed write is read");

        // The writer holds a savepoint with a second row until told to commit.
        let (writer, commit_tx) = hold_writer(&db, "r2").await;
        // Queued behind the writer this read would never return (the writer waits for it).
        let during = tokio::time::timeout(Duration::from_secs(30), count(&db))
            .await
            .expect("a read does not wait for the writer");
        assert_eq!(during, 1, "an uncommitted write is not read");
        commit_tx.send(()).unwrap();
        writer.await.unwrap().unwrap();
        assert_eq!(count(&db).await, 2, "the committed write is read");
    }

    /// Writes queued while the writer is busy commit together: one that fails, or panics,
    /// leaves nothing behind and fails alone; the others are kept, and each caller hears
    /// only after the commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_committed_together_fail_alone() {
        let (_dir, db) = probe_db().await;
        // The writer is held inside a write until the others are queued behind it.
        let (held, release_tx) = hold_writer(&db, "first").await;
        let insert = |id: &'static str, outcome: &'static str| {
            let db = db.clone();
            Box::pin(async move {
                db.call(move |c| {
                    c.execute("INSERT INTO probe (id) VALUES (?1)", [id])?;
                    match outcome {
                        "fails" => anyhow::bail!("refused after writing"),
                        "panics" => panic!("a write that panics"),
                        _ => Ok(()),
                    }
                })
                .await
            })
        };
        let mut queued = [
            insert("a", "ok"),
            insert("b", "fails"),
            insert("c", "ok"),
            insert("d", "panics"),
            insert("a", "ok"), // a second `a` breaks the key: fails alone
            insert("e", "ok"),
        ];
        // A write is queued when its call is first polled: all of them, in order, before
        // the writer is let go, so they run as one batch.
        for write in queued.iter_mut() {
            assert!(futures::poll!(write.as_mut()).is_pending());
        }
        release_tx.send(()).unwrap();
        held.await.unwrap().unwrap();
        let mut outcomes = Vec::new();
        for write in queued {
            outcomes.push(write.await.is_ok());
        }
        assert_eq!(
            outcomes,
            [true, false, true, false, false, true],
            "the failing, the panicking and the duplicate write fail alone"
        );
        let ids: Vec<String> = db
            .read(|c| {
                let mut rows = c.prepare("SELECT id FROM probe ORDER BY id")?;
                let ids = rows
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(ids)
            })
            .await
            .unwrap();
        assert_eq!(
            ids,
            ["a", "c", "e", "first"],
            "only the writes that succeeded are kept"
        );
    }

    #[tokio::test]
    async fn a_new_database_has_larger_pages_and_an_existing_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let page_size = |db: Db| async move {
            db.read(|c| Ok(c.pragma_query_value(None, "page_size", |r| r.get::<_, u32>(0))?))
                .await
                .unwrap()
        };
        let fresh = Db::open(&dir.path().join("new.db")).unwrap();
        assert_eq!(page_size(fresh).await, PAGE_SIZE);

        let made_before = dir.path().join("old.db");
        let old = Connection::open(&made_before).unwrap();
        old.pragma_update(None, "page_size", 4096).unwrap();
        old.execute_batch("CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('x');")
            .unwrap();
        drop(old);
        let reopened = Db::open(&made_before).unwrap();
        let kept: String = reopened
            .read(|c| Ok(c.query_row("SELECT v FROM kept", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(kept, "x", "its rows are read as before");
        assert_eq!(page_size(reopened).await, 4096);
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
