//! iql's store on PostgreSQL, for a team: `--store postgres://user@host:port/db`.
//!
//! When several people and several `iql serve` processes work on one cloud account, two things are
//! worth sharing: what was defined (views) and what was fetched (materialized views' rows, and
//! optionally the response cache), so the API's per-token rate is spent once. PostgreSQL is what
//! teams already run and what their tools already read, so the store is there rather than in a
//! home-made cluster:
//!
//! - a materialized view is a real table `iql.<name>` with typed columns (`cells.rs`), which psql,
//!   Grafana or Metabase read without iql; a refresh replaces its rows in one transaction (a
//!   reader sees the old rows or the new ones, never half, and never waits);
//! - a refresh holds a PostgreSQL advisory lock for the view, so two servers refreshing one view
//!   do it once (the engine's second caller waits and reuses the rows), and the scheduled refresh
//!   of `WITH (refresh_interval = …)` runs on exactly one server each time;
//! - iql's own tables (`schema.rs`) carry a version, and a newer iql migrates an older store.
//!
//! The engine's [`Store`] calls are synchronous, and the engine makes them from its async tasks;
//! so the connections live on threads of their own: [`POOL_SIZE`] for calls (each runs one call
//! at a time, and reconnects when its connection was lost) and one that holds the refresh locks. A store that cannot be reached fails the call that needed it,
//! naming the host and port (never the password); the process goes on, and the next call tries
//! again.
//!
//! Statements read a materialized view by copying its rows into their own SQLite database
//! (`Store::local_file` is `None`): only the columns the query names, and only the rows meeting
//! its simple conditions (`column = literal`, `IN (literals)`), which PostgreSQL filters. Queries
//! on provider tables still run in SQLite.

mod cells;
mod schema;
pub mod settings;
mod tls;

use std::collections::HashSet;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use iql_engine::{
    Cell, EngineError, LocalLocks, RefreshLock, ResultColumn, Store, StoredAnswer, ViewRecord,
};
use iql_sql::{Literal, StoredFilter};
use postgres::types::Type;
use postgres::{Client, GenericClient};

pub use settings::{is_postgres_url, Environment, Settings, SslMode};

/// The version of the store's own tables this iql writes (the SQLite store's numbering).
pub const STORE_VERSION: i64 = iql_engine::STORE_SCHEMA_VERSION;

/// The schema of the materialized views' tables.
pub const VIEW_SCHEMA: &str = "iql";

/// `ViewRecord`'s columns, times as the SQLite store writes them (`2026-11-23T10:00:00.000Z`).
const VIEW_COLUMNS: &str = "name, materialized, definition, \
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
    to_char(refreshed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
    row_count, refresh_interval, last_error";

/// Why a call failed: PostgreSQL's error, or the engine's own (a view that exists already…).
enum Failure {
    Postgres(postgres::Error),
    Engine(EngineError),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Postgres(e)
    }
}

type Job = Box<dyn FnOnce(&mut Link) + Send>;

/// The connection, on the store's thread.
struct Link {
    settings: Settings,
    tls: Option<rustls::ClientConfig>,
    client: Option<Client>,
}

impl Link {
    /// The connection, made again if it was lost.
    fn client(&mut self) -> Result<&mut Client, Failure> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            let client = connect(&self.settings, self.tls.clone())?;
            self.client = Some(client);
        }
        match self.client.as_mut() {
            Some(c) => Ok(c),
            None => Err(Failure::Engine(EngineError::Store {
                path: self.settings.location(),
                message: "no connection".to_string(),
            })),
        }
    }
}

fn connect(s: &Settings, tls: Option<rustls::ClientConfig>) -> Result<Client, postgres::Error> {
    let mut config = postgres::Config::new();
    config
        .host(&s.host)
        .port(s.port)
        .user(&s.user)
        .dbname(&s.dbname)
        .application_name(&s.application_name)
        .connect_timeout(s.connect_timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .ssl_mode(match s.ssl_mode {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            _ => postgres::config::SslMode::Require,
        });
    if let Some(p) = &s.password {
        config.password(p);
    }
    match tls {
        Some(tls) => config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls)),
        None => config.connect(postgres::NoTls),
    }
}

/// The store on PostgreSQL: see the crate's documentation.
#[derive(Debug)]
pub struct PostgresStore {
    location: String,
    host_port: String,
    /// Calls, taken by whichever of the [`POOL_SIZE`] connections is free.
    jobs: mpsc::Sender<Job>,
    /// Refresh locks: taken and released on one connection of their own, which holds them.
    locks: mpsc::Sender<Job>,
    refreshing: LocalLocks,
}

/// Connections for calls: sessions reading views do not wait for each other, nor for a refresh
/// writing its rows.
pub const POOL_SIZE: usize = 4;

impl PostgresStore {
    /// Connects to the store at `url` (reading the password as libpq does), creating or
    /// migrating its tables. Blocks while it connects: call it off an async runtime's threads
    /// (`tokio::task::spawn_blocking`).
    pub fn connect(url: &str) -> Result<PostgresStore, EngineError> {
        PostgresStore::connect_with(url, &Environment::current(), STORE_VERSION)
    }

    /// As [`PostgresStore::connect`], with the environment given, and the store's tables brought
    /// to `version` only (an older one makes a store as an older iql would; for tests).
    pub fn connect_with(
        url: &str,
        env: &Environment,
        version: i64,
    ) -> Result<PostgresStore, EngineError> {
        let settings = Settings::from_url(url, env).map_err(|message| EngineError::Store {
            path: settings::redact(url),
            message,
        })?;
        let location = settings.location();
        let host_port = format!("{}:{}", settings.host, settings.port);
        let tls = tls::client_config(&settings, env.home.clone()).map_err(|message| {
            EngineError::Store {
                path: location.clone(),
                message,
            }
        })?;
        let spawn = |name: String, inbox: Arc<Mutex<mpsc::Receiver<Job>>>| {
            let mut link = Link {
                settings: settings.clone(),
                tls: tls.clone(),
                client: None,
            };
            std::thread::Builder::new()
                .name(name)
                .spawn(move || loop {
                    // Ends when the store and its refresh locks are gone.
                    let job = inbox
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    match job {
                        Ok(job) => job(&mut link),
                        Err(_) => break,
                    }
                })
                .map(drop)
                .map_err(|e| EngineError::Store {
                    path: location.clone(),
                    message: format!("cannot start a connection's thread: {e}"),
                })
        };
        let (jobs, inbox) = mpsc::channel::<Job>();
        let inbox = Arc::new(Mutex::new(inbox));
        for i in 0..POOL_SIZE {
            spawn(format!("iql-store-postgres-{i}"), inbox.clone())?;
        }
        let (locks, lock_inbox) = mpsc::channel::<Job>();
        spawn(
            "iql-store-postgres-locks".to_string(),
            Arc::new(Mutex::new(lock_inbox)),
        )?;
        let store = PostgresStore {
            location,
            host_port,
            jobs,
            locks,
            refreshing: LocalLocks::default(),
        };
        store.call(move |c| match schema::migrate(c, version) {
            Ok(_) => Ok(()),
            Err(schema::SchemaError::Postgres(e)) => Err(Failure::Postgres(e)),
            Err(schema::SchemaError::Newer(v)) => Err(Failure::Engine(EngineError::Store {
                path: String::new(),
                message: format!(
                    "it was written by a newer iql (store version {v}; this iql knows up to {STORE_VERSION}): upgrade iql, or use another --store"
                ),
            })),
            Err(schema::SchemaError::Damaged(m)) => Err(Failure::Engine(EngineError::Store {
                path: String::new(),
                message: m,
            })),
        })?;
        Ok(store)
    }

    /// The version of the store's tables (after the migration that opening it ran).
    pub fn schema_version(&self) -> Result<i64, EngineError> {
        self.call(|c| {
            let row = c.query_one(
                "SELECT value FROM iql_store.meta WHERE key = 'schema_version'",
                &[],
            )?;
            let v: String = row.get(0);
            Ok(v.parse().unwrap_or(0))
        })
    }

    /// Runs `job` on a free connection and waits for it. A job that found its connection dead
    /// (PostgreSQL restarted while it was idle) runs once more on a new one: only jobs that may
    /// run twice come here (reads, and writes that are the same done twice).
    fn call<R: Send + 'static>(
        &self,
        job: impl FnMut(&mut Client) -> Result<R, Failure> + Send + 'static,
    ) -> Result<R, EngineError> {
        self.call_on(&self.jobs, true, job)
    }

    /// As [`PostgresStore::call`], never run twice: a change whose outcome a lost connection
    /// leaves unknown is not sent again.
    fn call_once<R: Send + 'static>(
        &self,
        job: impl FnMut(&mut Client) -> Result<R, Failure> + Send + 'static,
    ) -> Result<R, EngineError> {
        self.call_on(&self.jobs, false, job)
    }

    /// Runs `job` on the connection that `queue` feeds and waits for it.
    fn call_on<R: Send + 'static>(
        &self,
        queue: &mpsc::Sender<Job>,
        repeatable: bool,
        mut job: impl FnMut(&mut Client) -> Result<R, Failure> + Send + 'static,
    ) -> Result<R, EngineError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let sent = queue.send(Box::new(move |link: &mut Link| {
            let reused = link.client.as_ref().is_some_and(|c| !c.is_closed());
            let mut result = link.client().and_then(&mut job);
            let dead = matches!(&result, Err(Failure::Postgres(e)) if e.as_db_error().is_none());
            if dead && reused && repeatable {
                link.client = None;
                result = link.client().and_then(&mut job);
            }
            let _ = reply.send(result);
        }));
        let gone = || EngineError::Store {
            path: self.location.clone(),
            message: "its connection's thread has stopped".to_string(),
        };
        sent.map_err(|_| gone())?;
        match answer.recv().map_err(|_| gone())? {
            Ok(r) => Ok(r),
            Err(Failure::Engine(EngineError::Store { path, message })) if path.is_empty() => {
                Err(EngineError::Store {
                    path: self.location.clone(),
                    message,
                })
            }
            Err(Failure::Engine(e)) => Err(e),
            Err(Failure::Postgres(e)) => Err(EngineError::Store {
                path: self.location.clone(),
                message: describe(&e, &self.host_port),
            }),
        }
    }
}

/// PostgreSQL's error in a sentence: the server's message (and detail and hint), or what
/// happened to the connection, with the host and port it was for.
fn describe(e: &postgres::Error, host_port: &str) -> String {
    if let Some(db) = e.as_db_error() {
        let mut m = db.message().to_string();
        if let Some(d) = db.detail() {
            m.push_str(&format!(" ({d})"));
        }
        if let Some(h) = db.hint() {
            m.push_str(&format!("; {h}"));
        }
        return m;
    }
    let mut m = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !m.contains(&text) {
            m.push_str(&format!(": {text}"));
        }
        source = s.source();
    }
    if e.is_closed() || m.contains("connect") || m.contains("closed") {
        format!("PostgreSQL at {host_port} cannot be reached ({m})")
    } else {
        m
    }
}

/// `iql."name"`: a materialized view's table (its name in lower case, so psql reads it
/// unquoted).
fn table_of(name: &str) -> String {
    format!("{VIEW_SCHEMA}.{}", quote(&name.to_lowercase()))
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn view_of_row(r: &postgres::Row) -> ViewRecord {
    ViewRecord {
        name: r.get(0),
        materialized: r.get(1),
        definition: r.get(2),
        created_at: r.get(3),
        refreshed_at: r.get(4),
        row_count: r.get(5),
        refresh_interval: r.get(6),
        last_error: r.get(7),
    }
}

fn view_in(
    c: &mut impl GenericClient,
    name: &str,
    for_update: bool,
) -> Result<Option<ViewRecord>, postgres::Error> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM iql_store.views WHERE lower(name) = lower($1){}",
        if for_update { " FOR UPDATE" } else { "" }
    );
    Ok(c.query_opt(sql.as_str(), &[&name])?
        .as_ref()
        .map(view_of_row))
}

/// Refresh locks are advisory locks on this pair of keys.
const LOCK_KEYS: &str = "hashtext('iql.refresh'), hashtext(lower($1))";

impl Store for PostgresStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn local_file(&self) -> Option<&std::path::Path> {
        None
    }

    fn view(&self, name: &str) -> Result<Option<ViewRecord>, EngineError> {
        let name = name.to_string();
        self.call(move |c| Ok(view_in(c, &name, false)?))
    }

    fn views(&self) -> Result<Vec<ViewRecord>, EngineError> {
        self.call(|c| {
            let sql = format!("SELECT {VIEW_COLUMNS} FROM iql_store.views ORDER BY lower(name)");
            Ok(c.query(sql.as_str(), &[])?
                .iter()
                .map(view_of_row)
                .collect())
        })
    }

    fn create_view(&self, name: &str, definition: &str, replace: bool) -> Result<(), EngineError> {
        let (name, definition) = (name.to_string(), definition.to_string());
        self.call_once(move |c| {
            let mut tx = c.transaction()?;
            if let Some(old) = view_in(&mut tx, &name, true)? {
                if !replace {
                    return Err(Failure::Engine(iql_engine::view_exists(&old, false)));
                }
                if old.materialized {
                    tx.batch_execute(&format!("DROP TABLE IF EXISTS {}", table_of(&old.name)))?;
                }
                tx.execute(
                    "DELETE FROM iql_store.views WHERE lower(name) = lower($1)",
                    &[&name],
                )?;
            }
            tx.execute(
                "INSERT INTO iql_store.views (name, materialized, definition, created_at) \
                 VALUES ($1, false, $2, now())",
                &[&name, &definition],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Stores a materialized view's rows in one transaction: the table keeps its identity (and
    /// the grants on it) when its columns are the same, its rows deleted and copied in anew;
    /// readers see the old rows until the commit.
    fn materialize(
        &self,
        name: &str,
        definition: &str,
        columns: &[ResultColumn],
        rows: &[Vec<Cell>],
        create: Option<bool>,
        refresh_interval: Option<i64>,
    ) -> Result<ViewRecord, EngineError> {
        let types: Vec<Type> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| cells::column_type(c, rows, i))
            .collect();
        // The values are made here, on the caller's thread; the store's thread only sends them.
        let values: Vec<Vec<Box<dyn postgres::types::ToSql + Sync + Send>>> = rows
            .iter()
            .map(|row| {
                types
                    .iter()
                    .enumerate()
                    .map(|(i, t)| cells::to_sql(row.get(i).unwrap_or(&Cell::Null), t))
                    .collect()
            })
            .collect();
        let wanted: Vec<(String, String)> = columns
            .iter()
            .zip(&types)
            .map(|(c, t)| (c.name.clone(), cells::type_name(t).to_string()))
            .collect();
        let (name, definition) = (name.to_string(), definition.to_string());
        self.call_once(move |c| {
            let mut tx = c.transaction()?;
            let existing = view_in(&mut tx, &name, true)?;
            let name = match (&existing, create) {
                (Some(old), Some(false)) => {
                    return Err(Failure::Engine(iql_engine::view_exists(old, true)))
                }
                (None, None) => {
                    return Err(Failure::Engine(EngineError::View(format!(
                        "there is no view {name} any more (it was dropped while it was refreshed)"
                    ))))
                }
                (Some(old), _) => old.name.clone(),
                (None, Some(_)) => name.clone(),
            };
            let table = table_of(&name);
            let present = table_columns(&mut tx, &table)?;
            if present == wanted {
                tx.batch_execute(&format!("DELETE FROM {table}"))?;
            } else {
                let defs: Vec<String> = wanted
                    .iter()
                    .map(|(n, t)| format!("{} {t}", quote(n)))
                    .collect();
                tx.batch_execute(&format!(
                    "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({})",
                    defs.join(", ")
                ))?;
            }
            if !values.is_empty() {
                let sink =
                    tx.copy_in(format!("COPY {table} FROM STDIN (FORMAT binary)").as_str())?;
                let mut writer = postgres::binary_copy::BinaryCopyInWriter::new(sink, &types);
                for row in &values {
                    let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = row
                        .iter()
                        .map(|v| v.as_ref() as &(dyn postgres::types::ToSql + Sync))
                        .collect();
                    writer.write(&refs)?;
                }
                writer.finish()?;
            }
            let count = values.len() as i64;
            match (&existing, create) {
                (Some(_), None) => {
                    tx.execute(
                        "UPDATE iql_store.views SET refreshed_at = now(), row_count = $2, \
                         definition = $3, last_error = NULL WHERE lower(name) = lower($1)",
                        &[&name, &count, &definition],
                    )?;
                }
                _ => {
                    tx.execute(
                        "DELETE FROM iql_store.views WHERE lower(name) = lower($1)",
                        &[&name],
                    )?;
                    tx.execute(
                        "INSERT INTO iql_store.views (name, materialized, definition, created_at, \
                         refreshed_at, row_count, refresh_interval) \
                         VALUES ($1, true, $2, now(), now(), $3, $4)",
                        &[&name, &definition, &count, &refresh_interval],
                    )?;
                }
            }
            let record = view_in(&mut tx, &name, false)?;
            tx.commit()?;
            record.ok_or_else(|| {
                Failure::Engine(EngineError::View(format!(
                    "the view {name} just written is not there"
                )))
            })
        })
    }

    /// This process's name for the view, then a PostgreSQL advisory lock (held by the store's
    /// connection, so released by PostgreSQL if the process or the connection dies).
    fn try_lock_refresh(&self, name: &str) -> Result<Option<RefreshLock>, EngineError> {
        let Some(local) = self.refreshing.try_take(name) else {
            return Ok(None);
        };
        let key = name.to_string();
        let taken = self.call_on(&self.locks, true, move |c| {
            let sql = format!("SELECT pg_try_advisory_lock({LOCK_KEYS})");
            Ok(c.query_one(sql.as_str(), &[&key])?.get::<_, bool>(0))
        })?;
        if !taken {
            return Ok(None);
        }
        Ok(Some(RefreshLock::new(AdvisoryLock {
            name: name.to_string(),
            jobs: self.locks.clone(),
            _local: local,
        })))
    }

    fn due_views(&self) -> Result<Vec<ViewRecord>, EngineError> {
        self.call(|c| {
            let sql = format!(
                "SELECT {VIEW_COLUMNS} FROM iql_store.views \
                 WHERE materialized AND refresh_interval IS NOT NULL \
                 AND greatest(coalesce(refreshed_at, created_at), attempted_at) \
                     + make_interval(secs => refresh_interval::double precision) <= now() \
                 ORDER BY lower(name)"
            );
            Ok(c.query(sql.as_str(), &[])?
                .iter()
                .map(view_of_row)
                .collect())
        })
    }

    fn note_attempt(&self, name: &str, error: Option<&str>) -> Result<(), EngineError> {
        let (name, error) = (name.to_string(), error.map(str::to_string));
        self.call(move |c| {
            c.execute(
                "UPDATE iql_store.views SET attempted_at = now(), last_error = $2 \
                 WHERE lower(name) = lower($1)",
                &[&name, &error],
            )?;
            Ok(())
        })
    }

    fn drop_view(&self, name: &str) -> Result<Option<ViewRecord>, EngineError> {
        let name = name.to_string();
        self.call_once(move |c| {
            let mut tx = c.transaction()?;
            let Some(old) = view_in(&mut tx, &name, true)? else {
                return Ok(None);
            };
            if old.materialized {
                tx.batch_execute(&format!("DROP TABLE IF EXISTS {}", table_of(&old.name)))?;
            }
            tx.execute(
                "DELETE FROM iql_store.views WHERE lower(name) = lower($1)",
                &[&old.name],
            )?;
            tx.commit()?;
            Ok(Some(old))
        })
    }

    fn columns_of(&self, name: &str) -> Result<Vec<ResultColumn>, EngineError> {
        let table = table_of(name);
        self.call(move |c| {
            let statement = c.prepare(&format!("SELECT * FROM {table} LIMIT 0"))?;
            Ok(statement
                .columns()
                .iter()
                .map(|col| ResultColumn {
                    name: col.name().to_string(),
                    column_type: cells::column_type_of(col.type_()),
                })
                .collect())
        })
    }

    /// Sends the query's columns and conditions to PostgreSQL, so only what the query can use
    /// is copied into its SQLite database (`SELECT count(*) FROM v WHERE type = 'snapshot'`
    /// copies one column of the snapshots).
    fn rows_for_query(
        &self,
        name: &str,
        columns: Option<&HashSet<String>>,
        filters: &[StoredFilter],
    ) -> Result<(Vec<ResultColumn>, Vec<Vec<Cell>>), EngineError> {
        let table = table_of(name);
        let columns = columns.cloned();
        let filters = filters.to_vec();
        self.call(move |c| {
            let present = table_columns(c, &table)?;
            let sql = select_for(&table, &present, columns.as_ref(), &filters);
            read_rows(c, &sql)
        })
    }

    fn cache_secret(&self) -> Result<[u8; 32], EngineError> {
        let fresh: [u8; 32] = iql_engine::random_bytes()?;
        let hex = iql_engine::hex(&fresh);
        let stored = self.call(move |c| {
            // The first one written wins: every server keys answers alike.
            c.execute(
                "INSERT INTO iql_store.meta (key, value) VALUES ('cache_secret', $1) \
                 ON CONFLICT (key) DO NOTHING",
                &[&hex],
            )?;
            let row = c.query_one(
                "SELECT value FROM iql_store.meta WHERE key = 'cache_secret'",
                &[],
            )?;
            Ok(row.get::<_, String>(0))
        })?;
        let mut key = [0u8; 32];
        for (i, slot) in key.iter_mut().enumerate() {
            *slot = stored
                .get(i * 2..i * 2 + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| EngineError::Store {
                    path: self.location.clone(),
                    message: "its cache secret is damaged".to_string(),
                })?;
        }
        Ok(key)
    }

    fn cached_answer(&self, key: &[u8]) -> Result<Option<StoredAnswer>, EngineError> {
        let key = key.to_vec();
        self.call(move |c| {
            Ok(c.query_opt(
                "SELECT status, body, received_at FROM iql_store.cache WHERE key = $1",
                &[&key],
            )?
            .map(|r| StoredAnswer {
                status: r.get::<_, i32>(0) as u16,
                body: r.get(1),
                received_at: r.get(2),
            }))
        })
    }

    fn keep_answer(
        &self,
        key: &[u8],
        url: &str,
        answer: &StoredAnswer,
        max_age: Duration,
    ) -> Result<(), EngineError> {
        let (key, url, answer) = (key.to_vec(), url.to_string(), answer.clone());
        self.call(move |c| {
            c.execute(
                "INSERT INTO iql_store.cache (key, url, status, body, received_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO UPDATE SET url = $2, \
                 status = $3, body = $4, received_at = $5",
                &[
                    &key,
                    &url,
                    &(answer.status as i32),
                    &answer.body,
                    &answer.received_at,
                ],
            )?;
            c.execute(
                "DELETE FROM iql_store.cache WHERE received_at < $1",
                &[&(answer.received_at - max_age.as_secs_f64())],
            )?;
            Ok(())
        })
    }

    fn forget_answers(&self, origin: &str) -> Result<(), EngineError> {
        let origin = origin.to_string();
        self.call(move |c| {
            c.execute(
                "DELETE FROM iql_store.cache WHERE starts_with(url, $1)",
                &[&origin],
            )?;
            Ok(())
        })
    }
}

/// A table's columns and their types as PostgreSQL writes them (`bigint`, `double precision`…);
/// none when there is no such table.
fn table_columns(
    c: &mut impl GenericClient,
    table: &str,
) -> Result<Vec<(String, String)>, postgres::Error> {
    Ok(c.query(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a WHERE a.attrelid = to_regclass($1) \
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        &[&table],
    )?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect())
}

/// Runs `sql` and reads its rows as cells.
fn read_rows(c: &mut Client, sql: &str) -> Result<(Vec<ResultColumn>, Vec<Vec<Cell>>), Failure> {
    let statement = c.prepare(sql)?;
    let columns: Vec<ResultColumn> = statement
        .columns()
        .iter()
        .map(|col| ResultColumn {
            name: col.name().to_string(),
            column_type: cells::column_type_of(col.type_()),
        })
        .collect();
    let mut rows = Vec::new();
    for row in c.query(&statement, &[])? {
        rows.push(
            (0..columns.len())
                .map(|i| cells::cell(&row, i))
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    Ok((columns, rows))
}

/// The `SELECT` of a stored table's rows a query reads: the columns it names (at least one, so
/// the rows are still counted), and the filters PostgreSQL compares as SQLite would. A filter
/// whose values could compare differently there (a boolean, JSON, a word against a number) is
/// left to SQLite.
fn select_for(
    table: &str,
    present: &[(String, String)],
    wanted: Option<&HashSet<String>>,
    filters: &[StoredFilter],
) -> String {
    let mut columns: Vec<&str> = present
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| wanted.is_none_or(|w| w.contains(&n.to_lowercase())))
        .collect();
    if columns.is_empty() {
        columns.extend(present.first().map(|(n, _)| n.as_str()));
    }
    let list = if columns.len() == present.len() || columns.is_empty() {
        "*".to_string()
    } else {
        columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut conditions = Vec::new();
    for f in filters {
        // SQLite compares names without case when they are columns.
        let Some((column, kind)) = present
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&f.column))
        else {
            continue;
        };
        let values: Option<Vec<String>> = f.values.iter().map(|v| sql_value(v, kind)).collect();
        if let Some(values) = values {
            conditions.push(format!("{} IN ({})", quote(column), values.join(", ")));
        }
    }
    let mut sql = format!("SELECT {list} FROM {table}");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql
}

/// `v` as a PostgreSQL literal of a column of type `kind`, when equality means the same there as
/// in SQLite.
fn sql_value(v: &Literal, kind: &str) -> Option<String> {
    match (kind, v) {
        ("bigint", Literal::Number(n)) => n.parse::<i64>().ok().map(|i| i.to_string()),
        ("bigint", Literal::Text(t)) => t.trim().parse::<i64>().ok().map(|i| i.to_string()),
        ("double precision", Literal::Number(n)) => n
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| format!("{f:?}")),
        ("text", Literal::Text(t)) => Some(format!("'{}'", t.replace('\'', "''"))),
        _ => None,
    }
}

/// A refresh lock's PostgreSQL half: unlocked on the store's connection when dropped.
struct AdvisoryLock {
    name: String,
    jobs: mpsc::Sender<Job>,
    _local: iql_engine::LocalLock,
}

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        // Not waited for: the next call on the connection runs after it. A lost connection has
        // released the lock already.
        let _ = self.jobs.send(Box::new(move |link: &mut Link| {
            if let Some(c) = link.client.as_mut().filter(|c| !c.is_closed()) {
                let sql = format!("SELECT pg_advisory_unlock({LOCK_KEYS})");
                let _ = c.query_one(sql.as_str(), &[&name]);
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<(String, String)> {
        [
            ("id", "bigint"),
            ("Name", "text"),
            ("size", "double precision"),
            ("public", "boolean"),
            ("regions", "jsonb"),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
    }

    fn filter(column: &str, values: Vec<Literal>) -> StoredFilter {
        StoredFilter {
            column: column.into(),
            values,
        }
    }

    #[test]
    fn only_what_the_query_can_use_is_selected() {
        let words: HashSet<String> = ["select", "name", "count", "from", "v"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            select_for("iql.\"v\"", &cols(), Some(&words), &[]),
            "SELECT \"Name\" FROM iql.\"v\""
        );
        let none: HashSet<String> = HashSet::new();
        assert_eq!(
            select_for("iql.\"v\"", &cols(), Some(&none), &[]),
            "SELECT \"id\" FROM iql.\"v\"",
            "one column keeps the count of rows"
        );
        assert_eq!(
            select_for("iql.\"v\"", &cols(), None, &[]),
            "SELECT * FROM iql.\"v\""
        );
    }

    #[test]
    fn filters_go_to_postgres_only_where_they_mean_the_same() {
        let sql = select_for(
            "t",
            &cols(),
            None,
            &[
                filter(
                    "ID",
                    vec![Literal::Number("7".into()), Literal::Text("8".into())],
                ),
                filter("name", vec![Literal::Text("it's".into())]),
                filter("size", vec![Literal::Number("2.5".into())]),
                filter("public", vec![Literal::Bool(true)]),
                filter("regions", vec![Literal::Text("nyc3".into())]),
                filter("id", vec![Literal::Text("seven".into())]),
                filter("missing", vec![Literal::Number("1".into())]),
            ],
        );
        assert_eq!(
            sql,
            "SELECT * FROM t WHERE \"id\" IN (7, 8) AND \"Name\" IN ('it''s') AND \"size\" IN (2.5)"
        );
    }
}
