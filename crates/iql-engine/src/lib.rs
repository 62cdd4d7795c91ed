//! The engine: plans a statement against provider methods, fetches what it needs concurrently, and
//! lets an embedded SQLite do all the SQL.
//!
//! What is shared and what belongs to one user are apart: an [`Engine`] (`engine.rs`) holds the
//! provider documents and the HTTP client; a [`Session`] (`session.rs`) holds one user's settings
//! and SQLite databases, and runs statements. The rooms of a statement's journey:
//!
//! - `plan.rs`: every provider table gets a method and parameter bindings (see its rules).
//! - `query.rs`: the `SELECT` path: tables and compiled query first, then fetch waves.
//! - `fetch.rs` and `page.rs`: the calls of one table, every page, concurrently under one bound,
//!   read straight into rows.
//! - `cache.rs`: the response cache the pages go through.
//! - `stream.rs`: rows as they come, page by page in flat memory where the query allows.
//! - `sqlite.rs`: the in-memory databases the rows go into, and the query as written.
//! - `explain.rs`: SQLite's errors told in the user's terms.
//! - `mutate.rs`: INSERT, REPLACE/UPDATE, DELETE and EXEC, and waiting for what they start.
//! - `meta.rs`: SHOW and DESCRIBE, from the documents alone (and the store's views).
//! - `views.rs`: CREATE/DROP/REFRESH of views, and a query's views replaced by their queries.
//! - `catalog.rs`: `information_schema.tables`/`columns`, for tools that list before they query.
//! - `store.rs`: the SQLite file that keeps views, materialized rows and, when asked, answers.
//! - `dry_run.rs`: what a statement would send.
//! - `params.rs`, `value.rs`: parameter values, and cells of results.

mod cache;
mod catalog;
mod dry_run;
mod engine;
mod error;
mod explain;
mod fetch;
pub mod functions;
mod math_functions;
mod meta;
mod mutate;
pub mod page;
mod params;
mod pg_catalog;
mod plan;
mod query;
mod resource_views;
mod session;
mod session_statements;
mod sqlite;
mod store;
mod stream;
mod value;
mod views;

pub use cache::{CacheConfig, DEFAULT_CACHE_BYTES, DEFAULT_CACHE_TTL};
pub use engine::{hex, random_bytes, Engine, EngineConfig};
pub use error::{EngineError, ErrorKind};
pub use functions::{SqlContext, SERVER_VERSION};
pub use iql_http::{check_url, HttpError, Secret as Credential};
pub use mutate::WaitPolicy;
pub use session::{Session, SessionSettings};
pub use store::exists as view_exists;
pub use store::{
    LocalLock, LocalLocks, RefreshLock, SqliteStore, Store, StoredAnswer, ViewRecord, BUSY_TIMEOUT,
    STORE_SCHEMA_VERSION,
};
pub use stream::{RowStream, StreamSummary};
pub use value::{Cell, ColumnType, FetchStats, FromCell, QueryResult, ResultColumn, Row};
pub use views::ScheduledRefresh;

/// The fan-out limit unless set: DigitalOcean allows 5,000 requests an hour per token.
pub const DEFAULT_MAX_FANOUT: usize = 1000;
