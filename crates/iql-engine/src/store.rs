//! The store: what outlives a statement and a process. Views (their names and query texts), the
//! rows of materialized views, and, when the user asks for it, the response cache's answers.
//!
//! It is one SQLite file (the CLI's default is `$XDG_DATA_HOME/iql/store.sqlite`; an engine built
//! without a path gets a temporary file, deleted when the engine goes). SQLite because it is already
//! here, and because a materialized view's rows then sit in a real table that statements read
//! directly: the databases statements run in attach the file as `store`, so
//! `SELECT count(*) FROM snaps` reads the stored rows with no copy and no request. Another
//! program (sqlite3, a BI tool) can read the same tables.
//!
//! Several processes may use one file at once: it is in WAL mode (readers never wait for a
//! writer), writers wait for each other up to [`BUSY_TIMEOUT`], and a refresh replaces a view's
//! rows in one transaction, so a reader sees the old rows or the new ones, never half.
//!
//! The file is created readable by its owner alone: stored rows and answers may hold secrets (a
//! database's password, an SSH key's fingerprint).
//!
//! Its own tables (`iql_meta`, `iql_views`, `iql_cache`) carry a schema version in `iql_meta`; a
//! newer iql migrates an older file, an older iql refuses a newer one rather than misread it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::EngineError;
use crate::sqlite::quote;
use crate::value::{Cell, ColumnType, ResultColumn};

/// The version of the store's own tables this iql writes.
pub const STORE_SCHEMA_VERSION: i64 = 2;

/// How long a write waits for another process's write to finish.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A view as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewRecord {
    pub name: String,
    pub materialized: bool,
    /// The query, as the user wrote it.
    pub definition: String,
    /// UTC, `2026-11-23T10:00:00.000Z`.
    pub created_at: String,
    /// For a materialized view: when its rows were fetched, and how many there are.
    pub refreshed_at: Option<String>,
    pub row_count: Option<i64>,
    /// For a materialized view created `WITH (refresh_interval = …)`: seconds between refreshes.
    pub refresh_interval: Option<i64>,
    /// Why the last scheduled refresh failed (cleared by the next one that works).
    pub last_error: Option<String>,
}

/// Held while a materialized view is refreshed: other refreshes of that view, in this process and
/// in every other process on the same store, wait until it is dropped.
pub struct RefreshLock(Box<dyn Send>);

impl RefreshLock {
    /// A lock that lasts as long as `held` (whose drop releases it).
    pub fn new(held: impl Send + 'static) -> RefreshLock {
        RefreshLock(Box::new(held))
    }

    /// Releases it now.
    pub fn release(self) {
        drop(self.0)
    }
}

impl std::fmt::Debug for RefreshLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshLock")
    }
}

/// The names being refreshed in this process: the first half of every store's refresh lock (the
/// other half is the store's own, across processes).
#[derive(Debug, Default, Clone)]
pub struct LocalLocks(Arc<Mutex<HashSet<String>>>);

/// One name of [`LocalLocks`], taken until dropped.
#[derive(Debug)]
pub struct LocalLock {
    held: Arc<Mutex<HashSet<String>>>,
    name: String,
}

impl LocalLocks {
    /// Takes `name` (any case), unless it is taken.
    pub fn try_take(&self, name: &str) -> Option<LocalLock> {
        let name = name.to_ascii_lowercase();
        let mut held = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.insert(name.clone()).then(|| LocalLock {
            held: self.0.clone(),
            name,
        })
    }
}

impl Drop for LocalLock {
    fn drop(&mut self) {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.name);
    }
}

/// An answer of the response cache, kept in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: Vec<u8>,
    /// Seconds since the Unix epoch when it was received.
    pub received_at: f64,
}

/// What iql keeps beyond a statement, wherever it is kept: the engine and the planner see this
/// alone, so another kind of store (PostgreSQL, for a team) follows without touching them.
///
/// Calls are synchronous and short (a row or a transaction on a local file); an implementation
/// over a network runs its client on a thread of its own rather than block the caller's runtime.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Where it is, for messages (a path, or a URL without its password).
    fn location(&self) -> String;
    /// A SQLite file statements can attach to read materialized views in place; `None` for a
    /// store that is not one (their rows are then copied in with [`Store::rows_for_query`]).
    fn local_file(&self) -> Option<&Path>;
    /// The view named `name` (any case).
    fn view(&self, name: &str) -> Result<Option<ViewRecord>, EngineError>;
    /// Every view, by name.
    fn views(&self) -> Result<Vec<ViewRecord>, EngineError>;
    /// Records a plain view; an existing one of that name is replaced when `replace`, else it is
    /// an error.
    fn create_view(&self, name: &str, definition: &str, replace: bool) -> Result<(), EngineError>;
    /// Stores a materialized view's rows in one transaction (see [`SqliteStore`]); a new view
    /// gets `refresh_interval` (seconds), a refreshed one keeps its own.
    fn materialize(
        &self,
        name: &str,
        definition: &str,
        columns: &[ResultColumn],
        rows: &[Vec<Cell>],
        create: Option<bool>,
        refresh_interval: Option<i64>,
    ) -> Result<ViewRecord, EngineError>;
    /// Takes the refresh lock of the view `name`, unless another refresh holds it (here or in
    /// another process on the store): then `None`, and the caller waits or leaves it.
    fn try_lock_refresh(&self, name: &str) -> Result<Option<RefreshLock>, EngineError>;
    /// The materialized views whose scheduled refresh is due, by the store's clock: a refresh
    /// interval has passed since their last refresh or last scheduled attempt.
    fn due_views(&self) -> Result<Vec<ViewRecord>, EngineError>;
    /// Records a scheduled refresh of `name` tried now, and why it failed (`None`: it is starting).
    fn note_attempt(&self, name: &str, error: Option<&str>) -> Result<(), EngineError>;
    /// Removes a view and its rows; what was removed.
    fn drop_view(&self, name: &str) -> Result<Option<ViewRecord>, EngineError>;
    /// A materialized view's stored columns.
    fn columns_of(&self, name: &str) -> Result<Vec<ResultColumn>, EngineError>;
    /// A materialized view's rows for a statement that cannot attach the store. The query names
    /// only `columns` (lower case; `None`: it may read every one) and keeps only rows meeting
    /// every filter: a store may send both where the rows are and copy less. What it returns is
    /// filtered again by the query, so it may also return more (every row and column).
    fn rows_for_query(
        &self,
        name: &str,
        columns: Option<&HashSet<String>>,
        filters: &[iql_sql::StoredFilter],
    ) -> Result<(Vec<ResultColumn>, Vec<Vec<Cell>>), EngineError>;
    /// The secret that keys credential identities of kept answers (made on first use).
    fn cache_secret(&self) -> Result<[u8; 32], EngineError>;
    /// A kept answer.
    fn cached_answer(&self, key: &[u8]) -> Result<Option<StoredAnswer>, EngineError>;
    /// Keeps an answer for the request to `url`, dropping those older than `max_age`.
    fn keep_answer(
        &self,
        key: &[u8],
        url: &str,
        answer: &StoredAnswer,
        max_age: Duration,
    ) -> Result<(), EngineError>;
    /// Forgets the answers of requests whose URL starts with `origin` (all with "").
    fn forget_answers(&self, origin: &str) -> Result<(), EngineError>;
}

/// The store in one SQLite file: see the module documentation.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    /// Deleted when the store is dropped.
    temporary: bool,
    conn: Mutex<Connection>,
    refreshing: LocalLocks,
}

fn now_sql() -> &'static str {
    "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
}

impl SqliteStore {
    /// Opens (creating when missing) the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, EngineError> {
        let err = |message: String| EngineError::Store {
            path: path.display().to_string(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| err(format!("cannot create its folder {}: {e}", dir.display())))?;
        }
        let existed = path.exists();
        let conn = Connection::open(path).map_err(|e| err(e.to_string()))?;
        crate::sqlite::make_strict(&conn).map_err(|e| err(e.to_string()))?;
        if !existed {
            restrict_to_owner(path);
        }
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| err(e.to_string()))?;
        // Turning WAL on takes the file for a moment, and SQLite does not wait for a busy file
        // here: two processes opening a new store at once retry until the other is done.
        let started = std::time::Instant::now();
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if matches!(
                        f.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) && started.elapsed() < BUSY_TIMEOUT =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(err(format!("cannot use it: {e}"))),
            }
        }
        migrate(&conn).map_err(|e| match e {
            EngineError::Store { message, .. } => err(message),
            other => other,
        })?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            temporary: false,
            conn: Mutex::new(conn),
            refreshing: LocalLocks::default(),
        })
    }

    /// A store in a temporary file, deleted when it is dropped (a library's engine, a test).
    pub fn temporary() -> Result<SqliteStore, EngineError> {
        let random: [u8; 8] = crate::engine::random_bytes()?;
        let name = format!(
            "iql-store-{}-{}.sqlite",
            std::process::id(),
            crate::engine::hex(&random)
        );
        let mut store = SqliteStore::open(&std::env::temp_dir().join(name))?;
        store.temporary = true;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store goes when the engine does.
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    fn err(&self, e: impl std::fmt::Display) -> EngineError {
        EngineError::Store {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    /// The views `condition` (a `WHERE …`, or nothing) keeps, by name.
    fn views_where(&self, condition: &str) -> Result<Vec<ViewRecord>, EngineError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {VIEW_COLUMNS} FROM iql_views {condition} ORDER BY name"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], view_of_row)
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// The folder of the refresh lock files, beside the store: `store.sqlite.locks`.
    fn lock_dir(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".locks");
        PathBuf::from(p)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn local_file(&self) -> Option<&Path> {
        Some(&self.path)
    }

    /// The view named `name` (any case).
    fn view(&self, name: &str) -> Result<Option<ViewRecord>, EngineError> {
        let conn = self.conn();
        view_in(&conn, name).map_err(|e| self.err(e))
    }

    /// Every view, by name.
    fn views(&self) -> Result<Vec<ViewRecord>, EngineError> {
        self.views_where("")
    }

    /// Records a plain view. An existing view of that name is replaced when `replace` (its rows
    /// dropped if it was materialized), else it is an error.
    fn create_view(&self, name: &str, definition: &str, replace: bool) -> Result<(), EngineError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let existing = view_in(&tx, name).map_err(|e| self.err(e))?;
        if let Some(old) = &existing {
            if !replace {
                return Err(exists(old, false));
            }
            if old.materialized {
                tx.execute_batch(&format!("DROP TABLE IF EXISTS {};", quote(&old.name)))
                    .map_err(|e| self.err(e))?;
            }
            tx.execute("DELETE FROM iql_views WHERE name = ?1", [name])
                .map_err(|e| self.err(e))?;
        }
        tx.execute(
            &format!(
                "INSERT INTO iql_views (name, materialized, definition, created_at) VALUES (?1, 0, ?2, {})",
                now_sql()
            ),
            params![name, definition],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))
    }

    /// Stores a materialized view's rows, in one transaction: its table is replaced and its record
    /// written together, so readers see the old rows or the new ones. `create` is how the view
    /// came: `Some(replace)` from CREATE (an existing view is an error unless `replace`), `None`
    /// from REFRESH (the view must still be there and still be materialized).
    fn materialize(
        &self,
        name: &str,
        definition: &str,
        columns: &[ResultColumn],
        rows: &[Vec<Cell>],
        create: Option<bool>,
        refresh_interval: Option<i64>,
    ) -> Result<ViewRecord, EngineError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let existing = view_in(&tx, name).map_err(|e| self.err(e))?;
        let name = match (&existing, create) {
            (Some(old), Some(false)) => return Err(exists(old, true)),
            (None, None) => {
                return Err(EngineError::View(format!(
                    "there is no view {name} any more (it was dropped while it was refreshed)"
                )))
            }
            (Some(old), _) => old.name.clone(),
            (None, Some(_)) => name.to_string(),
        };
        let kept = existing.as_ref().filter(|_| create.is_none());
        let created_at = kept.map(|v| v.created_at.clone());
        let refresh_interval = match kept {
            Some(v) => v.refresh_interval,
            None => refresh_interval,
        };
        tx.execute_batch(&format!("DROP TABLE IF EXISTS {};", quote(&name)))
            .map_err(|e| self.err(e))?;
        crate::sqlite::create_filled_table(&tx, "main", &name, columns, rows)
            .map_err(|e| self.err(e))?;
        tx.execute("DELETE FROM iql_views WHERE name = ?1", [&name])
            .map_err(|e| self.err(e))?;
        tx.execute(
            &format!(
                "INSERT INTO iql_views (name, materialized, definition, created_at, refreshed_at, row_count, refresh_interval) \
                 VALUES (?1, 1, ?2, coalesce(?3, {now}), {now}, ?4, ?5)",
                now = now_sql()
            ),
            params![name, definition, created_at, rows.len() as i64, refresh_interval],
        )
        .map_err(|e| self.err(e))?;
        let record = view_in(&tx, &name)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| self.err("the view just written is not there"))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(record)
    }

    /// The lock is this process's name for the view and an exclusive lock on a file beside the
    /// store (`store.sqlite.locks/<name>`), which the system releases if the process dies.
    fn try_lock_refresh(&self, name: &str) -> Result<Option<RefreshLock>, EngineError> {
        let Some(local) = self.refreshing.try_take(name) else {
            return Ok(None);
        };
        let dir = self.lock_dir();
        std::fs::create_dir_all(&dir).map_err(|e| {
            self.err(format!(
                "cannot create its lock folder {}: {e}",
                dir.display()
            ))
        })?;
        let file_name = crate::engine::hex(name.to_ascii_lowercase().as_bytes());
        let path = dir.join(file_name + ".lock");
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| self.err(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(RefreshLock::new((local, file)))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(self.err(format!("cannot lock {}: {e}", path.display())))
            }
        }
    }

    fn due_views(&self) -> Result<Vec<ViewRecord>, EngineError> {
        self.views_where(
            "WHERE materialized = 1 AND refresh_interval IS NOT NULL \
             AND julianday(max(coalesce(refreshed_at, created_at), coalesce(attempted_at, ''))) \
                 + refresh_interval / 86400.0 <= julianday('now')",
        )
    }

    fn note_attempt(&self, name: &str, error: Option<&str>) -> Result<(), EngineError> {
        self.conn()
            .execute(
                &format!(
                    "UPDATE iql_views SET attempted_at = {}, last_error = ?2 WHERE name = ?1",
                    now_sql()
                ),
                params![name, error],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Removes a view (and a materialized view's rows); the record removed, `None` if there was
    /// none.
    fn drop_view(&self, name: &str) -> Result<Option<ViewRecord>, EngineError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let Some(old) = view_in(&tx, name).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        if old.materialized {
            tx.execute_batch(&format!("DROP TABLE IF EXISTS {};", quote(&old.name)))
                .map_err(|e| self.err(e))?;
        }
        tx.execute("DELETE FROM iql_views WHERE name = ?1", [&old.name])
            .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Some(old))
    }

    /// A materialized view's columns as stored: names and types.
    fn columns_of(&self, name: &str) -> Result<Vec<ResultColumn>, EngineError> {
        let conn = self.conn();
        let stmt = conn
            .prepare(&format!("SELECT * FROM {} LIMIT 0", quote(name)))
            .map_err(|e| self.err(e))?;
        Ok(stmt
            .columns()
            .iter()
            .map(|c| ResultColumn {
                name: c.name().to_string(),
                column_type: ColumnType::from_decl(c.decl_type()),
            })
            .collect())
    }

    /// Every row and column: statements attach the file and read the table in place, so only a
    /// wrapper that hides the file comes here.
    fn rows_for_query(
        &self,
        name: &str,
        _columns: Option<&HashSet<String>>,
        _filters: &[iql_sql::StoredFilter],
    ) -> Result<(Vec<ResultColumn>, Vec<Vec<Cell>>), EngineError> {
        let conn = self.conn();
        crate::sqlite::run_query(&conn, &format!("SELECT * FROM {}", quote(name)))
    }

    /// The secret the persisted response cache keys its answers with (made on first use): an
    /// answer kept by one process is found by the next, for the same token only.
    fn cache_secret(&self) -> Result<[u8; 32], EngineError> {
        let conn = self.conn();
        let found: Option<Vec<u8>> = conn
            .query_row(
                "SELECT value FROM iql_meta WHERE key = 'cache_secret'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some(v) = found.filter(|v| v.len() == 32) {
            let mut key = [0u8; 32];
            key.copy_from_slice(&v);
            return Ok(key);
        }
        let mut key: [u8; 32] = crate::engine::random_bytes()?;
        // Another process may have made one meanwhile: the first one written wins.
        conn.execute(
            "INSERT OR IGNORE INTO iql_meta (key, value) VALUES ('cache_secret', ?1)",
            [key.to_vec()],
        )
        .map_err(|e| self.err(e))?;
        drop(conn);
        let conn = self.conn();
        let v: Vec<u8> = conn
            .query_row(
                "SELECT value FROM iql_meta WHERE key = 'cache_secret'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        key.copy_from_slice(
            v.get(..32)
                .ok_or_else(|| self.err("a damaged cache secret"))?,
        );
        Ok(key)
    }

    /// A kept answer for `key`, if there is one.
    fn cached_answer(&self, key: &[u8]) -> Result<Option<StoredAnswer>, EngineError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT status, body, received_at FROM iql_cache WHERE key = ?1")
            .map_err(|e| self.err(e))?;
        stmt.query_row([key], |r| {
            Ok(StoredAnswer {
                status: r.get::<_, i64>(0)? as u16,
                body: r.get(1)?,
                received_at: r.get(2)?,
            })
        })
        .optional()
        .map_err(|e| self.err(e))
    }

    /// Keeps an answer (for the request to `url`); answers older than `max_age` are removed on
    /// the way.
    fn keep_answer(
        &self,
        key: &[u8],
        url: &str,
        answer: &StoredAnswer,
        max_age: Duration,
    ) -> Result<(), EngineError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT OR REPLACE INTO iql_cache (key, url, status, body, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| {
            s.execute(params![
                key,
                url,
                answer.status as i64,
                answer.body,
                answer.received_at
            ])
        })
        .map_err(|e| self.err(e))?;
        conn.prepare_cached("DELETE FROM iql_cache WHERE received_at < ?1")
            .and_then(|mut s| s.execute([answer.received_at - max_age.as_secs_f64()]))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets the kept answers of requests whose URL starts with `origin` (all with "").
    fn forget_answers(&self, origin: &str) -> Result<(), EngineError> {
        self.conn()
            .execute(
                "DELETE FROM iql_cache WHERE substr(url, 1, length(?1)) = ?1",
                [origin],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if self.temporary {
            // Nothing to do if they are already gone; a file left behind is in the temp folder.
            for suffix in ["", "-wal", "-shm"] {
                let mut p = self.path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(p));
            }
            let _ = std::fs::remove_dir_all(self.lock_dir());
        }
    }
}

const VIEW_COLUMNS: &str =
    "name, materialized, definition, created_at, refreshed_at, row_count, refresh_interval, last_error";

fn view_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ViewRecord> {
    Ok(ViewRecord {
        name: r.get(0)?,
        materialized: r.get::<_, i64>(1)? != 0,
        definition: r.get(2)?,
        created_at: r.get(3)?,
        refreshed_at: r.get(4)?,
        row_count: r.get(5)?,
        refresh_interval: r.get(6)?,
        last_error: r.get(7)?,
    })
}

fn view_in(conn: &Connection, name: &str) -> rusqlite::Result<Option<ViewRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {VIEW_COLUMNS} FROM iql_views WHERE name = ?1"
    ))?
    .query_row([name], view_of_row)
    .optional()
}

/// `VIEW` or `MATERIALIZED VIEW`, as the statements name them.
pub(crate) fn kind_word(materialized: bool) -> &'static str {
    if materialized {
        "MATERIALIZED VIEW"
    } else {
        "VIEW"
    }
}

/// Creating a view of kind `materialized` where `old` is: what to write instead.
pub fn exists(old: &ViewRecord, materialized: bool) -> EngineError {
    EngineError::View(format!(
        "there is already a {} named {}: CREATE OR REPLACE {} replaces it, DROP {} removes it",
        kind_word(old.materialized).to_lowercase(),
        old.name,
        kind_word(materialized),
        kind_word(old.materialized)
    ))
}

/// The store's own tables as version 1 wrote them: a new store starts here and takes every
/// migration after, so the path an old store takes is the one every new store takes too.
const SCHEMA_V1: &str = "
    CREATE TABLE IF NOT EXISTS iql_views (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        materialized INTEGER NOT NULL,
        definition TEXT NOT NULL,
        created_at TEXT NOT NULL,
        refreshed_at TEXT,
        row_count INTEGER);
    CREATE TABLE IF NOT EXISTS iql_cache (
        key BLOB PRIMARY KEY,
        url TEXT NOT NULL,
        status INTEGER NOT NULL,
        body BLOB NOT NULL,
        received_at REAL NOT NULL);
    INSERT OR IGNORE INTO iql_meta (key, value) VALUES ('schema_version', 1);";

/// Each step takes the store from the version before it to its own.
const MIGRATIONS: &[(i64, &str)] = &[(
    // 2: scheduled refreshes (`WITH (refresh_interval = …)`).
    2,
    "ALTER TABLE iql_views ADD COLUMN refresh_interval INTEGER;
     ALTER TABLE iql_views ADD COLUMN attempted_at TEXT;
     ALTER TABLE iql_views ADD COLUMN last_error TEXT;",
)];

fn migrate(conn: &Connection) -> Result<(), EngineError> {
    let fail = |e: rusqlite::Error| EngineError::Store {
        path: String::new(),
        message: e.to_string(),
    };
    conn.execute_batch("CREATE TABLE IF NOT EXISTS iql_meta (key TEXT PRIMARY KEY, value);")
        .map_err(fail)?;
    let version = || -> rusqlite::Result<Option<i64>> {
        conn.query_row(
            "SELECT value FROM iql_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
    };
    let newer = |v: i64| {
        EngineError::Store {
        path: String::new(),
        message: format!(
            "it was written by a newer iql (store version {v}; this iql knows up to {STORE_SCHEMA_VERSION}): upgrade iql, or use another --store"
        ),
    }
    };
    match version().map_err(fail)? {
        Some(v) if v > STORE_SCHEMA_VERSION => return Err(newer(v)),
        Some(v) if v == STORE_SCHEMA_VERSION => return Ok(()),
        _ => {}
    }
    // One process migrates; another waiting on the write lock finds it done.
    conn.execute_batch("BEGIN IMMEDIATE").map_err(fail)?;
    let result = (|| {
        if version()?.is_none() {
            conn.execute_batch(SCHEMA_V1)?;
        }
        let mut at = version()?.unwrap_or(1);
        for (to, step) in MIGRATIONS {
            if *to > at {
                conn.execute_batch(step)?;
                conn.execute(
                    "UPDATE iql_meta SET value = ?1 WHERE key = 'schema_version'",
                    [to],
                )?;
                at = *to;
            }
        }
        Ok(at)
    })();
    match result {
        Ok(v) if v > STORE_SCHEMA_VERSION => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(newer(v))
        }
        Ok(_) => conn.execute_batch("COMMIT").map_err(fail),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(fail(e))
        }
    }
}

#[cfg(unix)]
fn restrict_to_owner(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // Best effort: a file system without modes (a mounted share) keeps what it has.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_to_owner(_path: &Path) {}
