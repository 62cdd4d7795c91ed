//! The store's own tables in PostgreSQL, by version, and the steps between versions.
//!
//! Two schemas: `iql` holds the materialized views, one real table each, for psql, Grafana or
//! Metabase to read without iql; `iql_store` holds iql's bookkeeping (the views' queries and
//! times, the kept answers, the version), out of the way of those tools' table lists.
//!
//! A new store is created at version 1 and then takes every step, so the path an old store takes
//! is the one every new store has taken. The steps run in one transaction under an advisory lock:
//! two servers starting on a new database at once create it once.

use postgres::Client;

/// Version 1, as an iql of that version created it.
const SCHEMA_V1: &str = "
    CREATE SCHEMA IF NOT EXISTS iql;
    CREATE TABLE IF NOT EXISTS iql_store.views (
        name text NOT NULL,
        materialized boolean NOT NULL,
        definition text NOT NULL,
        created_at timestamptz NOT NULL,
        refreshed_at timestamptz,
        row_count bigint);
    CREATE UNIQUE INDEX IF NOT EXISTS views_name ON iql_store.views (lower(name));
    CREATE TABLE IF NOT EXISTS iql_store.cache (
        key bytea PRIMARY KEY,
        url text NOT NULL,
        status integer NOT NULL,
        body bytea NOT NULL,
        received_at double precision NOT NULL);
    CREATE INDEX IF NOT EXISTS cache_received_at ON iql_store.cache (received_at);
    INSERT INTO iql_store.meta (key, value) VALUES ('schema_version', '1')
        ON CONFLICT (key) DO NOTHING;";

/// Each step takes the store from the version before it to its own.
const MIGRATIONS: &[(i64, &str)] = &[(
    // 2: scheduled refreshes (`WITH (refresh_interval = …)`).
    2,
    "ALTER TABLE iql_store.views
         ADD COLUMN refresh_interval bigint,
         ADD COLUMN attempted_at timestamptz,
         ADD COLUMN last_error text;",
)];

/// Why the store's tables cannot be used.
#[derive(Debug)]
pub enum SchemaError {
    Postgres(postgres::Error),
    /// Written by a newer iql.
    Newer(i64),
    Damaged(String),
}

impl From<postgres::Error> for SchemaError {
    fn from(e: postgres::Error) -> Self {
        SchemaError::Postgres(e)
    }
}

/// Creates or migrates the store's tables up to `target` (the version this iql writes, or an
/// older one for a test of the migration).
pub fn migrate(client: &mut Client, target: i64) -> Result<i64, SchemaError> {
    let mut tx = client.transaction()?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(hashtext('iql.store.migrate'));
         CREATE SCHEMA IF NOT EXISTS iql_store;
         CREATE TABLE IF NOT EXISTS iql_store.meta (key text PRIMARY KEY, value text NOT NULL);",
    )?;
    let version = |tx: &mut postgres::Transaction<'_>| -> Result<Option<i64>, SchemaError> {
        match tx.query_opt(
            "SELECT value FROM iql_store.meta WHERE key = 'schema_version'",
            &[],
        )? {
            None => Ok(None),
            Some(row) => {
                let text: String = row.get(0);
                text.parse()
                    .map(Some)
                    .map_err(|_| SchemaError::Damaged(format!("its schema version is '{text}'")))
            }
        }
    };
    let mut at = match version(&mut tx)? {
        Some(v) if v > crate::STORE_VERSION => return Err(SchemaError::Newer(v)),
        Some(v) => v,
        None => {
            tx.batch_execute(SCHEMA_V1)?;
            1
        }
    };
    for (to, step) in MIGRATIONS {
        if *to > at && *to <= target {
            tx.batch_execute(step)?;
            tx.execute(
                "UPDATE iql_store.meta SET value = $1 WHERE key = 'schema_version'",
                &[&to.to_string()],
            )?;
            at = *to;
        }
    }
    tx.commit()?;
    Ok(at)
}
