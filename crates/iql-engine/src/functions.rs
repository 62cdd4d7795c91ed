//! The PostgreSQL functions SQLite lacks, registered in every database a statement runs in: what
//! `iql-sql`'s rewrite of PostgreSQL syntax calls (`iql_pg_integer` for `::int`, `iql_pg_regex`
//! for `~`, …), and what PostgreSQL's tools call (`version()`, `current_schemas(true)`,
//! `format_type`, `pg_table_is_visible`, `now()`, `date_trunc`, …).
//!
//! Each follows PostgreSQL's rules where SQLite's would give a different answer without a word:
//! `'abc'::int` is an error, not 0; `'t'::boolean` is true. Date-times are written as
//! DigitalOcean writes them (`2025-02-21T00:00:00Z`), so they compare with the API's values.
//! Arrays are JSON arrays (SQLite has no arrays): `string_to_array` gives one, `array_upper`
//! reads one.
//!
//! What differs per session (the database a client connected to, its user, its settings) is read
//! from the session's [`SqlContext`] when a function runs.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;

/// The PostgreSQL version iql answers as, outside `iql serve` (which says what its protocol
/// library announces).
pub const SERVER_VERSION: &str = "16.6";

/// What a session's functions read: who and where the client is, and its settings.
#[derive(Debug, Clone)]
pub struct SqlContext {
    /// The database the client connected to (`current_database()`).
    pub database: String,
    pub user: String,
    /// Settings by lower-case name (`server_version`, `search_path`, `timezone`, …).
    pub settings: BTreeMap<String, String>,
    /// A number for this session (`pg_backend_pid()`).
    pub backend_pid: i64,
    /// Relations by oid and by name, once a statement has attached pg_catalog.
    pub relations: Option<Arc<Relations>>,
    /// `LIKE` tells case apart, as PostgreSQL's does: a PostgreSQL client's connection. The CLI
    /// and the library keep SQLite's LIKE (and StackQL's), which ignores ASCII case.
    pub case_sensitive_like: bool,
}

/// Every relation pg_catalog lists, for `::regclass` and `obj_description`.
#[derive(Debug, Default)]
pub struct Relations {
    /// oid → (schema, name, description)
    pub by_oid: std::collections::HashMap<i64, (String, String, Option<String>)>,
    /// `schema.name` and, when it is unique, `name` → oid
    pub by_name: std::collections::HashMap<String, i64>,
    /// (table oid, column number) → description
    pub column_descriptions: std::collections::HashMap<(i64, i64), String>,
}

impl Default for SqlContext {
    fn default() -> Self {
        SqlContext {
            database: "iql".to_string(),
            user: "iql".to_string(),
            settings: default_settings(),
            backend_pid: i64::from(std::process::id()),
            relations: None,
            case_sensitive_like: false,
        }
    }
}

/// The settings a new session has, as PostgreSQL names and shows them.
pub fn default_settings() -> BTreeMap<String, String> {
    [
        ("server_version", SERVER_VERSION),
        ("server_version_num", "160006"),
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("datestyle", "ISO, MDY"),
        ("timezone", "Etc/UTC"),
        ("intervalstyle", "postgres"),
        ("standard_conforming_strings", "on"),
        ("integer_datetimes", "on"),
        ("transaction_isolation", "read committed"),
        ("default_transaction_isolation", "read committed"),
        ("transaction_read_only", "off"),
        ("default_transaction_read_only", "off"),
        ("search_path", "\"$user\", public"),
        ("max_identifier_length", "63"),
        ("application_name", ""),
        ("is_superuser", "off"),
        ("lc_collate", "C"),
        ("lc_ctype", "C"),
        ("lc_messages", "C"),
        ("lc_monetary", "C"),
        ("lc_numeric", "C"),
        ("lc_time", "C"),
        ("block_size", "8192"),
        ("statement_timeout", "0"),
        ("bytea_output", "hex"),
        ("extra_float_digits", "1"),
        ("max_connections", "64"),
        ("default_text_search_config", "pg_catalog.simple"),
        ("default_table_access_method", "heap"),
        ("default_tablespace", ""),
        ("row_security", "on"),
        ("wal_level", "minimal"),
        ("work_mem", "4MB"),
        ("shared_buffers", "128MB"),
        ("max_index_keys", "32"),
        ("data_directory_mode", "0700"),
        ("ssl", "off"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub type SharedContext = Arc<RwLock<SqlContext>>;

fn read(context: &SharedContext) -> std::sync::RwLockReadGuard<'_, SqlContext> {
    context
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn user_error(message: String) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(message.into())
}

type FnResult<T> = rusqlite::Result<T>;

/// Registers every function in `conn`.
pub(crate) fn register(conn: &Connection, context: &SharedContext) -> FnResult<()> {
    crate::math_functions::register(conn)?;
    // `generate_series(start, stop[, step])`, as a table.
    rusqlite::vtab::series::load_module(conn)?;
    let pure = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let volatile = FunctionFlags::SQLITE_UTF8;

    // Conversions (`::type`).
    conn.create_scalar_function("iql_pg_integer", 1, pure, |ctx| to_integer(ctx.get_raw(0)))?;
    conn.create_scalar_function("iql_pg_real", 1, pure, |ctx| to_real(ctx.get_raw(0)))?;
    conn.create_scalar_function("iql_pg_numeric", 1, pure, |ctx| to_numeric(ctx.get_raw(0)))?;
    conn.create_scalar_function("iql_pg_boolean", 1, pure, |ctx| to_boolean(ctx.get_raw(0)))?;
    conn.create_scalar_function("iql_pg_date", 1, pure, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Null => None,
            v => Some(instant(v, "date")?.format("%Y-%m-%d").to_string()),
        })
    })?;
    conn.create_scalar_function("iql_pg_timestamp", 1, pure, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Null => None,
            v => Some(written(instant(v, "timestamp with time zone")?)),
        })
    })?;
    conn.create_scalar_function("iql_pg_regex", 3, pure, regex_match)?;
    // Comparisons of date-times (`created_at > '2025-02-21'`): one fixed-width form for both
    // sides; a value that is no date-time stays as it is.
    conn.create_scalar_function("iql_instant", 1, volatile, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Null => None,
            v => {
                let text = as_text(v);
                Some(match parse_instant_literal(&text) {
                    Some(at) => at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                    None => text,
                })
            }
        })
    })?;
    conn.create_scalar_function("iql_pg_extract", 2, pure, |ctx| {
        let field: String = ctx.get(0)?;
        match ctx.get_raw(1) {
            ValueRef::Null => Ok(Value::Null),
            v => extract(&field, instant(v, "timestamp with time zone")?),
        }
    })?;
    conn.create_scalar_function("iql_pg_add_interval", 3, pure, |ctx| {
        let sign: i64 = ctx.get(2)?;
        let interval: String = ctx.get(1)?;
        match ctx.get_raw(0) {
            ValueRef::Null => Ok(None),
            v => {
                let at = instant(v, "timestamp with time zone")?;
                Ok(Some(written(add_interval(at, &interval, sign)?)))
            }
        }
    })?;

    // Dates and times.
    conn.create_scalar_function("now", 0, volatile, |_| Ok(written(Utc::now())))?;
    conn.create_scalar_function("statement_timestamp", 0, volatile, |_| {
        Ok(written(Utc::now()))
    })?;
    conn.create_scalar_function("transaction_timestamp", 0, volatile, |_| {
        Ok(written(Utc::now()))
    })?;
    conn.create_scalar_function("clock_timestamp", 0, volatile, |_| Ok(written(Utc::now())))?;
    conn.create_scalar_function("date_trunc", 2, pure, |ctx| {
        let unit: String = ctx.get(0)?;
        match ctx.get_raw(1) {
            ValueRef::Null => Ok(None),
            v => Ok(Some(written(truncate(
                &unit,
                instant(v, "timestamp with time zone")?,
            )?))),
        }
    })?;
    conn.create_scalar_function("to_timestamp", 1, pure, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Null => None,
            ValueRef::Integer(i) => Some(written(from_epoch(i as f64)?)),
            ValueRef::Real(f) => Some(written(from_epoch(f)?)),
            v => {
                let text = as_text(v);
                let seconds: f64 = text.trim().parse().map_err(|_| {
                    user_error(format!(
                        "invalid input syntax for type double precision: \"{text}\""
                    ))
                })?;
                Some(written(from_epoch(seconds)?))
            }
        })
    })?;

    // Arrays, as JSON arrays.
    conn.create_scalar_function("string_to_array", 2, pure, |ctx| {
        let Some(s) = ctx.get::<Option<String>>(0)? else {
            return Ok(None);
        };
        let delimiter: Option<String> = ctx.get(1)?;
        let items: Vec<serde_json::Value> = match delimiter.as_deref() {
            None => s.chars().map(|c| c.to_string().into()).collect(),
            Some(_) if s.is_empty() => Vec::new(),
            Some("") => vec![s.clone().into()],
            Some(d) => s.split(d).map(|p| p.to_string().into()).collect(),
        };
        Ok(Some(serde_json::Value::Array(items).to_string()))
    })?;
    conn.create_scalar_function("array_to_string", 2, pure, |ctx| {
        let Some(items) = array(ctx.get_raw(0))? else {
            return Ok(None);
        };
        let delimiter: String = ctx.get(1)?;
        let parts: Vec<String> = items
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        Ok(Some(parts.join(&delimiter)))
    })?;
    for (name, upper) in [("array_lower", false), ("array_upper", true)] {
        conn.create_scalar_function(name, 2, pure, move |ctx| {
            let dimension: i64 = ctx.get(1)?;
            Ok(match array(ctx.get_raw(0))? {
                Some(items) if dimension == 1 && !items.is_empty() => {
                    Some(if upper { items.len() as i64 } else { 1 })
                }
                _ => None,
            })
        })?;
    }
    conn.create_scalar_function("array_length", 2, pure, |ctx| {
        let dimension: i64 = ctx.get(1)?;
        Ok(match array(ctx.get_raw(0))? {
            Some(items) if dimension == 1 && !items.is_empty() => Some(items.len() as i64),
            _ => None,
        })
    })?;
    // An array as a JSON array, from JSON or from PostgreSQL's text form (`{r,p}`, what drivers
    // send for a list bound to `= ANY($1)`).
    conn.create_scalar_function("iql_array", 1, pure, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Null => None,
            v => Some(serde_json::Value::Array(array(v)?.unwrap_or_default()).to_string()),
        })
    })?;
    conn.create_scalar_function("cardinality", 1, pure, |ctx| {
        Ok(array(ctx.get_raw(0))?.map(|items| items.len() as i64))
    })?;

    // Text.
    conn.create_scalar_function("quote_ident", 1, pure, |ctx| {
        Ok(ctx.get::<Option<String>>(0)?.map(|s| quote_ident(&s)))
    })?;
    // `parse_ident('"digitalocean.compute".images')`: a qualified name's parts, as an array.
    conn.create_scalar_function("parse_ident", 1, pure, |ctx| {
        Ok(ctx.get::<Option<String>>(0)?.map(|s| {
            serde_json::Value::Array(name_parts(&s).into_iter().map(Into::into).collect())
                .to_string()
        }))
    })?;
    conn.create_scalar_function("pg_encoding_to_char", 1, pure, |ctx| {
        let n: i64 = ctx.get(0)?;
        Ok(if n == 0 { "SQL_ASCII" } else { "UTF8" })
    })?;
    conn.create_scalar_function("pg_typeof", 1, pure, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Null => "unknown",
            ValueRef::Integer(_) => "bigint",
            ValueRef::Real(_) => "double precision",
            ValueRef::Text(_) => "text",
            ValueRef::Blob(_) => "bytea",
        })
    })?;
    conn.create_scalar_function("format_type", 2, pure, |ctx| {
        let oid: Option<i64> = ctx.get(0)?;
        Ok(oid.map(|o| type_name(o).unwrap_or("???").to_string()))
    })?;

    // Who and where.
    let c = context.clone();
    conn.create_scalar_function("version", 0, pure, move |_| {
        let version = read(&c)
            .settings
            .get("server_version")
            .cloned()
            .unwrap_or_default();
        Ok(format!(
            "PostgreSQL {version} (iql {}), compiled by rustc, 64-bit",
            env!("CARGO_PKG_VERSION")
        ))
    })?;
    for name in ["current_database", "current_catalog"] {
        let c = context.clone();
        conn.create_scalar_function(name, 0, pure, move |_| Ok(read(&c).database.clone()))?;
    }
    for name in ["current_user", "session_user", "current_role", "user"] {
        let c = context.clone();
        conn.create_scalar_function(name, 0, pure, move |_| Ok(read(&c).user.clone()))?;
    }
    conn.create_scalar_function("current_schema", 0, pure, |_| Ok("public"))?;
    conn.create_scalar_function("current_schemas", 1, pure, |ctx| {
        let implicit: bool = ctx.get(0)?;
        Ok(if implicit {
            r#"["pg_catalog","public"]"#
        } else {
            r#"["public"]"#
        })
    })?;
    for arity in [1, 2] {
        let c = context.clone();
        conn.create_scalar_function("current_setting", arity, pure, move |ctx| {
            let name: String = ctx.get(0)?;
            let missing_ok = arity == 2 && ctx.get::<bool>(1)?;
            match read(&c).settings.get(&name.to_lowercase()) {
                Some(v) => Ok(Some(v.clone())),
                None if missing_ok => Ok(None),
                None => Err(user_error(format!(
                    "unrecognized configuration parameter \"{name}\""
                ))),
            }
        })?;
    }
    let c = context.clone();
    conn.create_scalar_function("set_config", 3, volatile, move |ctx| {
        let name: String = ctx.get(0)?;
        let value: String = ctx.get(1)?;
        c.write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .settings
            .insert(name.to_lowercase(), value.clone());
        Ok(value)
    })?;
    let c = context.clone();
    conn.create_scalar_function("pg_backend_pid", 0, pure, move |_| Ok(read(&c).backend_pid))?;
    let c = context.clone();
    conn.create_scalar_function("pg_get_userbyid", 1, pure, move |_| {
        Ok(read(&c).user.clone())
    })?;
    conn.create_scalar_function("pg_is_in_recovery", 0, pure, |_| Ok(false))?;
    conn.create_scalar_function("pg_relation_is_publishable", 1, pure, |_| Ok(false))?;
    conn.create_scalar_function("pg_postmaster_start_time", 0, pure, |_| {
        Ok(written(*STARTED))
    })?;
    conn.create_scalar_function("txid_current", 0, volatile, |_| Ok(1_i64))?;
    conn.create_scalar_function("inet_server_addr", 0, pure, |_| Ok(None::<String>))?;
    conn.create_scalar_function("inet_server_port", 0, pure, |_| Ok(None::<i64>))?;

    // Privileges: a client of iql may read everything iql lists (what it may do is the token's).
    for name in [
        "has_table_privilege",
        "has_schema_privilege",
        "has_database_privilege",
        "has_function_privilege",
        "has_column_privilege",
        "has_any_column_privilege",
        "has_sequence_privilege",
        "has_type_privilege",
        "pg_has_role",
    ] {
        conn.create_scalar_function(name, -1, pure, |_| Ok(true))?;
    }
    for name in [
        "pg_table_is_visible",
        "pg_type_is_visible",
        "pg_function_is_visible",
        "pg_collation_is_visible",
        "pg_opclass_is_visible",
        "pg_operator_is_visible",
    ] {
        conn.create_scalar_function(name, 1, pure, |_| Ok(true))?;
    }
    // Definitions iql has none of (no indexes, constraints, defaults, triggers).
    for name in [
        "pg_get_expr",
        "pg_get_indexdef",
        "pg_get_constraintdef",
        "pg_get_triggerdef",
        "pg_get_ruledef",
        "pg_get_statisticsobjdef_columns",
        "pg_get_partkeydef",
        "pg_get_function_arguments",
        "pg_get_function_identity_arguments",
        "pg_get_function_result",
        "pg_tablespace_location",
        "shobj_description",
        "pg_get_serial_sequence",
    ] {
        conn.create_scalar_function(name, -1, pure, |_| Ok(None::<String>))?;
    }
    for name in [
        "pg_relation_size",
        "pg_total_relation_size",
        "pg_table_size",
        "pg_indexes_size",
        "pg_database_size",
    ] {
        conn.create_scalar_function(name, -1, pure, |_| Ok(0_i64))?;
    }
    conn.create_scalar_function("pg_size_pretty", 1, pure, |ctx| {
        let n: Option<i64> = ctx.get(0)?;
        Ok(n.map(|n| format!("{n} bytes")))
    })?;

    // Set-returning functions in a SELECT list: known (a catalog query that joins an empty table
    // compiles and gives no rows), refused where a row would need them.
    for (name, arity) in [
        ("unnest", 1),
        ("generate_subscripts", 2),
        ("generate_subscripts", 3),
        ("_pg_expandarray", 1),
    ] {
        conn.create_scalar_function(name, arity, pure, move |_| -> FnResult<Option<i64>> {
            Err(user_error(format!(
                "{name}() in a SELECT list is not supported: use it in FROM (SELECT … FROM {name}(…))"
            )))
        })?;
    }
    for (name, all) in [("bool_and", true), ("every", true), ("bool_or", false)] {
        conn.create_aggregate_function(name, 1, pure, Truth { all })?;
    }

    // Relations, from the pg_catalog a statement attached.
    let c = context.clone();
    conn.create_scalar_function("iql_pg_regclass", 1, pure, move |ctx| {
        let relations = read(&c).relations.clone();
        regclass(ctx.get_raw(0), relations.as_deref())
    })?;
    // `to_regclass('x')`, `to_regtype('hstore')`: the oid, or NULL when there is none (psycopg
    // and SQLAlchemy look up types they might adapt).
    let c = context.clone();
    conn.create_scalar_function("to_regclass", 1, pure, move |ctx| {
        let relations = read(&c).relations.clone();
        Ok(regclass(ctx.get_raw(0), relations.as_deref())
            .ok()
            .flatten())
    })?;
    conn.create_scalar_function("to_regtype", 1, pure, |ctx| {
        let name: Option<String> = ctx.get(0)?;
        Ok(name.and_then(|n| {
            let n = n.trim().trim_start_matches("pg_catalog.").to_lowercase();
            TYPES.iter().find(|t| t.1 == n || t.2 == n).map(|t| t.0)
        }))
    })?;
    conn.create_scalar_function("to_regnamespace", 1, pure, |ctx| {
        let name: Option<String> = ctx.get(0)?;
        Ok(name.and_then(|n| match n.as_str() {
            "pg_catalog" => Some(11_i64),
            "public" => Some(2200),
            _ => None,
        }))
    })?;
    let c = context.clone();
    conn.create_scalar_function("iql_pg_regclass_name", 1, pure, move |ctx| {
        let relations = read(&c).relations.clone();
        let oid = regclass(ctx.get_raw(0), relations.as_deref())?;
        Ok(oid.and_then(|o| {
            relations
                .as_deref()
                .and_then(|r| r.by_oid.get(&o))
                .map(|(_, name, _)| name.clone())
                .or_else(|| Some(o.to_string()))
        }))
    })?;
    for arity in [1, 2] {
        let c = context.clone();
        conn.create_scalar_function("obj_description", arity, pure, move |ctx| {
            let oid: Option<i64> = ctx.get(0)?;
            let relations = read(&c).relations.clone();
            Ok(oid.and_then(|o| {
                relations?
                    .by_oid
                    .get(&o)
                    .and_then(|(_, _, description)| description.clone())
            }))
        })?;
    }
    let c = context.clone();
    conn.create_scalar_function("col_description", 2, pure, move |ctx| {
        let oid: Option<i64> = ctx.get(0)?;
        let column: Option<i64> = ctx.get(1)?;
        let relations = read(&c).relations.clone();
        Ok(match (oid, column, relations) {
            (Some(o), Some(n), Some(r)) => r.column_descriptions.get(&(o, n)).cloned(),
            _ => None,
        })
    })?;
    Ok(())
}

/// `bool_and` / `every` (`all`) and `bool_or`: NULLs are skipped, no rows give NULL.
struct Truth {
    all: bool,
}

impl rusqlite::functions::Aggregate<Option<bool>, Option<bool>> for Truth {
    fn init(&self, _: &mut Context<'_>) -> FnResult<Option<bool>> {
        Ok(None)
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut Option<bool>) -> FnResult<()> {
        if let Some(v) = to_boolean(ctx.get_raw(0))? {
            *acc = Some(match *acc {
                None => v,
                Some(a) if self.all => a && v,
                Some(a) => a || v,
            });
        }
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, acc: Option<Option<bool>>) -> FnResult<Option<bool>> {
        Ok(acc.flatten())
    }
}

static STARTED: std::sync::LazyLock<DateTime<Utc>> = std::sync::LazyLock::new(Utc::now);

fn as_text(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => String::new(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
    }
}

fn invalid(type_name: &str, v: ValueRef<'_>) -> rusqlite::Error {
    user_error(format!(
        "invalid input syntax for type {type_name}: \"{}\"",
        as_text(v)
    ))
}

fn to_integer(v: ValueRef<'_>) -> FnResult<Option<i64>> {
    Ok(match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i),
        // PostgreSQL rounds a real to the nearest integer.
        ValueRef::Real(f) if f.is_finite() && f.abs() < 9.2e18 => Some(f.round() as i64),
        ValueRef::Real(_) => return Err(user_error("bigint out of range".to_string())),
        ValueRef::Text(_) | ValueRef::Blob(_) => Some(
            as_text(v)
                .trim()
                .parse()
                .map_err(|_| invalid("integer", v))?,
        ),
    })
}

fn to_real(v: ValueRef<'_>) -> FnResult<Option<f64>> {
    Ok(match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Real(f) => Some(f),
        ValueRef::Text(_) | ValueRef::Blob(_) => Some(
            as_text(v)
                .trim()
                .parse()
                .map_err(|_| invalid("double precision", v))?,
        ),
    })
}

/// A numeric: an integer when it is one, else a real.
fn to_numeric(v: ValueRef<'_>) -> FnResult<Value> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(_) | ValueRef::Blob(_) => {
            let text = as_text(v);
            let text = text.trim();
            match text.parse::<i64>() {
                Ok(i) => Value::Integer(i),
                Err(_) => Value::Real(text.parse().map_err(|_| invalid("numeric", v))?),
            }
        }
    })
}

fn to_boolean(v: ValueRef<'_>) -> FnResult<Option<bool>> {
    Ok(match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i != 0),
        ValueRef::Real(f) => Some(f != 0.0),
        ValueRef::Text(_) | ValueRef::Blob(_) => {
            let text = as_text(v).trim().to_lowercase();
            match text.as_str() {
                "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
                "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
                _ => return Err(invalid("boolean", v)),
            }
        }
    })
}

/// A date-time as DigitalOcean writes one: `2025-02-21T10:00:00Z`, with a fraction of a second
/// only when it has one.
pub fn written(at: DateTime<Utc>) -> String {
    if at.nanosecond() == 0 {
        at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

/// A date-time from the forms people and tools write: `2025-02-21`, `2025-02-21 10:00`,
/// `2025-02-21 10:00:00.5`, with `T` or a space, with `Z`, `+02`, `+02:00` or nothing (UTC,
/// the session's time zone); an epoch in seconds.
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Some(at.with_timezone(&Utc));
    }
    let normalized = t.replacen(' ', "T", 1);
    for form in [
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%#z",
        "%Y-%m-%dT%H:%M%#z",
    ] {
        if let Ok(at) = DateTime::parse_from_str(&normalized, form) {
            return Some(at.with_timezone(&Utc));
        }
    }
    let bare = normalized
        .trim_end_matches('Z')
        .trim_end_matches("+00")
        .trim_end_matches("+00:00");
    for form in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(bare, form) {
            return Some(at.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(bare, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|at| at.and_utc());
    }
    None
}

/// A date-time as a comparison may write one: any form [`parse_instant`] reads, or one of
/// PostgreSQL's words (`now`, `today`, `yesterday`, `tomorrow`, `epoch`).
pub fn parse_instant_literal(text: &str) -> Option<DateTime<Utc>> {
    let today = || {
        Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "now" => Some(Utc::now()),
        "today" => today(),
        "yesterday" => today().map(|t| t - Duration::days(1)),
        "tomorrow" => today().map(|t| t + Duration::days(1)),
        "epoch" => DateTime::from_timestamp(0, 0),
        _ => parse_instant(text),
    }
}

fn instant(v: ValueRef<'_>, type_name: &str) -> FnResult<DateTime<Utc>> {
    match v {
        ValueRef::Integer(i) => from_epoch(i as f64),
        ValueRef::Real(f) => from_epoch(f),
        _ => parse_instant(&as_text(v)).ok_or_else(|| invalid(type_name, v)),
    }
}

fn from_epoch(seconds: f64) -> FnResult<DateTime<Utc>> {
    let whole = seconds.floor();
    let nanos = ((seconds - whole) * 1e9).round() as u32;
    DateTime::from_timestamp(whole as i64, nanos.min(999_999_999))
        .ok_or_else(|| user_error(format!("timestamp out of range: {seconds}")))
}

fn regex_match(ctx: &Context<'_>) -> FnResult<Option<bool>> {
    let text = match ctx.get_raw(0) {
        ValueRef::Null => return Ok(None),
        v => as_text(v),
    };
    if matches!(ctx.get_raw(1), ValueRef::Null) {
        return Ok(None);
    }
    let flags: String = ctx.get(2)?;
    // Compiled once per statement for a constant pattern.
    let pattern = ctx.get_or_create_aux(1, |v| -> Result<regex::Regex, rusqlite::Error> {
        let source = as_text(v);
        let source = if flags.contains('i') {
            format!("(?i){source}")
        } else {
            source
        };
        regex::Regex::new(&source).map_err(|e| {
            user_error(format!(
                "invalid regular expression: {}",
                e.to_string().lines().last().unwrap_or_default()
            ))
        })
    })?;
    Ok(Some(pattern.is_match(&text)))
}

fn extract(field: &str, at: DateTime<Utc>) -> FnResult<Value> {
    let seconds = f64::from(at.second()) + f64::from(at.nanosecond()) / 1e9;
    Ok(match field {
        "epoch" => {
            let epoch = at.timestamp() as f64 + f64::from(at.nanosecond()) / 1e9;
            if at.nanosecond() == 0 {
                Value::Integer(at.timestamp())
            } else {
                Value::Real(epoch)
            }
        }
        "year" | "years" => Value::Integer(i64::from(at.year())),
        "month" | "months" => Value::Integer(i64::from(at.month())),
        "day" | "days" => Value::Integer(i64::from(at.day())),
        "hour" | "hours" => Value::Integer(i64::from(at.hour())),
        "minute" | "minutes" => Value::Integer(i64::from(at.minute())),
        "second" | "seconds" if at.nanosecond() == 0 => Value::Integer(i64::from(at.second())),
        "second" | "seconds" => Value::Real(seconds),
        "milliseconds" => Value::Real(seconds * 1e3),
        "microseconds" => Value::Real(seconds * 1e6),
        "dow" => Value::Integer(i64::from(at.weekday().num_days_from_sunday())),
        "isodow" => Value::Integer(i64::from(at.weekday().number_from_monday())),
        "doy" => Value::Integer(i64::from(at.ordinal())),
        "week" => Value::Integer(i64::from(at.iso_week().week())),
        "isoyear" => Value::Integer(i64::from(at.iso_week().year())),
        "quarter" => Value::Integer(i64::from((at.month() - 1) / 3 + 1)),
        "decade" => Value::Integer(i64::from(at.year().div_euclid(10))),
        "century" => Value::Integer(i64::from((at.year() + 99).div_euclid(100))),
        other => {
            return Err(user_error(format!(
                "unit \"{other}\" not supported for type timestamp with time zone"
            )))
        }
    })
}

fn truncate(unit: &str, at: DateTime<Utc>) -> FnResult<DateTime<Utc>> {
    let date = at.date_naive();
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let out = match unit.to_lowercase().as_str() {
        "microseconds" => at.with_nanosecond(at.nanosecond() / 1000 * 1000),
        "milliseconds" => at.with_nanosecond(at.nanosecond() / 1_000_000 * 1_000_000),
        "second" => at.with_nanosecond(0),
        "minute" => at.with_nanosecond(0).and_then(|t| t.with_second(0)),
        "hour" => at
            .with_nanosecond(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_minute(0)),
        "day" => midnight(date),
        "week" => midnight(date - Duration::days(i64::from(date.weekday().num_days_from_monday()))),
        "month" => date.with_day(1).and_then(midnight),
        "quarter" => NaiveDate::from_ymd_opt(date.year(), (date.month() - 1) / 3 * 3 + 1, 1)
            .and_then(midnight),
        "year" => NaiveDate::from_ymd_opt(date.year(), 1, 1).and_then(midnight),
        "decade" => {
            NaiveDate::from_ymd_opt(date.year().div_euclid(10) * 10, 1, 1).and_then(midnight)
        }
        other => {
            return Err(user_error(format!(
                "unit \"{other}\" not recognized for type timestamp with time zone"
            )))
        }
    };
    out.ok_or_else(|| user_error("timestamp out of range".to_string()))
}

/// `at` plus `sign` times an interval written as PostgreSQL writes one: `1 day`, `2 hours 30
/// minutes`, `1 mon`, `-3 days`, `01:30:00`, `1 day 02:00:00`.
fn add_interval(at: DateTime<Utc>, interval: &str, sign: i64) -> FnResult<DateTime<Utc>> {
    let bad = || {
        user_error(format!(
            "invalid input syntax for type interval: \"{interval}\""
        ))
    };
    let mut months = 0i64;
    let mut micros = 0i64;
    let words: Vec<&str> = interval.split_whitespace().collect();
    let mut i = 0;
    if words.is_empty() {
        return Err(bad());
    }
    while i < words.len() {
        let word = words[i].trim_start_matches('@');
        if word.contains(':') {
            let negative = word.starts_with('-');
            let parts: Vec<f64> = word
                .trim_start_matches(['-', '+'])
                .split(':')
                .map(|p| p.parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| bad())?;
            let seconds = match parts.as_slice() {
                [h, m] => h * 3600.0 + m * 60.0,
                [h, m, s] => h * 3600.0 + m * 60.0 + s,
                _ => return Err(bad()),
            };
            let us = (seconds * 1e6).round() as i64;
            micros += if negative { -us } else { us };
            i += 1;
            continue;
        }
        let (number, unit) = match word.find(|c: char| c.is_ascii_alphabetic()) {
            Some(0) => return Err(bad()),
            Some(p) => (&word[..p], word[p..].to_string()),
            None => {
                i += 1;
                (
                    word,
                    words.get(i).map(|u| u.to_lowercase()).unwrap_or_default(),
                )
            }
        };
        let n: f64 = number.parse().map_err(|_| bad())?;
        let unit = unit.trim_end_matches(',').to_lowercase();
        let per = |us: f64| (n * us).round() as i64;
        match unit.trim_end_matches('s') {
            "microsecond" | "u" => micros += per(1.0),
            "millisecond" | "m" if unit.starts_with("ms") || unit.starts_with("milli") => {
                micros += per(1e3)
            }
            "second" | "sec" | "" => micros += per(1e6),
            "minute" | "min" | "m" => micros += per(60e6),
            "hour" | "hr" | "h" => micros += per(3600e6),
            "day" | "d" => micros += per(86_400e6),
            "week" | "w" => micros += per(7.0 * 86_400e6),
            "month" | "mon" => months += n as i64,
            "year" | "yr" | "y" => months += (n * 12.0) as i64,
            _ => return Err(bad()),
        }
        i += 1;
    }
    let months = months * sign;
    let shifted = if months >= 0 {
        at.checked_add_months(chrono::Months::new(months as u32))
    } else {
        at.checked_sub_months(chrono::Months::new((-months) as u32))
    };
    shifted
        .and_then(|t| t.checked_add_signed(Duration::microseconds(micros * sign)))
        .ok_or_else(|| user_error("timestamp out of range".to_string()))
}

fn array(v: ValueRef<'_>) -> FnResult<Option<Vec<serde_json::Value>>> {
    match v {
        ValueRef::Null => Ok(None),
        _ => {
            let text = as_text(v);
            if let Some(items) = postgres_array(&text) {
                return Ok(Some(items));
            }
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Array(items)) => Ok(Some(items)),
                _ => Err(user_error(format!("malformed array literal: \"{text}\""))),
            }
        }
    }
}

/// PostgreSQL's text form of a one-dimensional array: `{a,"b c",NULL,3}`. Numbers become JSON
/// numbers (so `id = ANY('{1,2}')` compares numbers), `NULL` null, the rest strings.
fn postgres_array(text: &str) -> Option<Vec<serde_json::Value>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut items = Vec::new();
    if inner.trim().is_empty() {
        return Some(items);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' => item.push(chars.next()?),
                    '"' => break,
                    c => item.push(c),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' || c == '"' {
                    return None;
                }
                item.push(c);
                chars.next();
            }
            item = item.trim().to_string();
        }
        items.push(if quoted {
            serde_json::Value::String(item)
        } else if item.eq_ignore_ascii_case("null") {
            serde_json::Value::Null
        } else if let Ok(i) = item.parse::<i64>() {
            i.into()
        } else if let Some(n) = item
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            serde_json::Value::Number(n)
        } else {
            serde_json::Value::String(item)
        });
        match chars.next() {
            Some(',') => continue,
            None => return Some(items),
            Some(_) => return None,
        }
    }
}

/// PostgreSQL's `quote_ident`: quoted unless it is a lower-case name that is no keyword.
fn quote_ident(s: &str) -> String {
    const RESERVED: [&str; 24] = [
        "all", "and", "any", "as", "asc", "case", "desc", "distinct", "else", "end", "false",
        "from", "group", "having", "in", "limit", "not", "null", "offset", "or", "order", "select",
        "table", "where",
    ];
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !RESERVED.contains(&s);
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

fn regclass(v: ValueRef<'_>, relations: Option<&Relations>) -> FnResult<Option<i64>> {
    match v {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(i) => Ok(Some(i)),
        _ => {
            let written = as_text(v);
            let name = name_parts(&written).join(".");
            if let Ok(oid) = name.parse::<i64>() {
                return Ok(Some(oid));
            }
            relations
                .and_then(|r| r.by_name.get(&name).copied())
                .map(Some)
                .ok_or_else(|| user_error(format!("relation \"{written}\" does not exist")))
        }
    }
}

/// The parts of a name as PostgreSQL reads one: split at dots outside quotes, unquoted parts
/// in lower case (`"digitalocean.compute".Images` → `digitalocean.compute`, `images`).
fn name_parts(written: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut quoted = false;
    let mut chars = written.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                part.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut part)),
            c if quoted => part.push(c),
            c => part.extend(c.to_lowercase()),
        }
    }
    parts.push(part);
    parts
}

/// PostgreSQL's types by oid, as `format_type` names them.
pub fn type_name(oid: i64) -> Option<&'static str> {
    TYPES.iter().find(|t| t.0 == oid).map(|t| t.2)
}

/// (oid, typname, format_type's name, typlen, typcategory, array oid)
pub const TYPES: [(i64, &str, &str, i64, &str, i64); 22] = [
    (16, "bool", "boolean", 1, "B", 1000),
    (17, "bytea", "bytea", -1, "U", 1001),
    (18, "char", "\"char\"", 1, "Z", 1002),
    (19, "name", "name", 64, "S", 1003),
    (20, "int8", "bigint", 8, "N", 1016),
    (21, "int2", "smallint", 2, "N", 1005),
    (23, "int4", "integer", 4, "N", 1007),
    (25, "text", "text", -1, "S", 1009),
    (26, "oid", "oid", 4, "N", 1028),
    (114, "json", "json", -1, "U", 199),
    (700, "float4", "real", 4, "N", 1021),
    (701, "float8", "double precision", 8, "N", 1022),
    (1009, "_text", "text[]", -1, "A", 0),
    (1043, "varchar", "character varying", -1, "S", 1015),
    (1082, "date", "date", 4, "D", 1182),
    (
        1114,
        "timestamp",
        "timestamp without time zone",
        8,
        "D",
        1115,
    ),
    (
        1184,
        "timestamptz",
        "timestamp with time zone",
        8,
        "D",
        1185,
    ),
    (1186, "interval", "interval", 16, "T", 1187),
    (1700, "numeric", "numeric", -1, "N", 1231),
    (2205, "regclass", "regclass", 4, "N", 2210),
    (2950, "uuid", "uuid", 16, "U", 2951),
    (3802, "jsonb", "jsonb", -1, "U", 3807),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().expect("opens");
        register(&conn, &Arc::new(RwLock::new(SqlContext::default()))).expect("registers");
        conn
    }

    fn one(conn: &Connection, sql: &str) -> Result<String, String> {
        conn.query_row(sql, [], |r| {
            Ok(match r.get_ref(0)? {
                ValueRef::Null => "NULL".to_string(),
                v => as_text(v),
            })
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn conversions_follow_postgresql() {
        let conn = db();
        assert_eq!(
            one(&conn, "SELECT iql_pg_integer(' 42 ')").as_deref(),
            Ok("42")
        );
        assert_eq!(one(&conn, "SELECT iql_pg_integer(2.5)").as_deref(), Ok("3"));
        let e = one(&conn, "SELECT iql_pg_integer('abc')").expect_err("not a number");
        assert!(
            e.contains("invalid input syntax for type integer: \"abc\""),
            "{e}"
        );
        assert_eq!(one(&conn, "SELECT iql_pg_boolean('t')").as_deref(), Ok("1"));
        assert!(one(&conn, "SELECT iql_pg_boolean('maybe')").is_err());
        assert_eq!(
            one(&conn, "SELECT iql_pg_timestamp('2025-02-21 10:00:00+02')").as_deref(),
            Ok("2025-02-21T08:00:00Z")
        );
        assert_eq!(
            one(&conn, "SELECT iql_pg_timestamp('2025-02-21')").as_deref(),
            Ok("2025-02-21T00:00:00Z")
        );
    }

    #[test]
    fn date_times_and_intervals() {
        let conn = db();
        assert_eq!(
            one(
                &conn,
                "SELECT iql_pg_add_interval('2025-01-31T00:00:00Z', '1 mon', 1)"
            )
            .as_deref(),
            Ok("2025-02-28T00:00:00Z")
        );
        assert_eq!(
            one(
                &conn,
                "SELECT iql_pg_add_interval('2025-02-21T00:00:00Z', '1 day 02:30:00', -1)"
            )
            .as_deref(),
            Ok("2025-02-19T21:30:00Z")
        );
        assert_eq!(
            one(
                &conn,
                "SELECT iql_pg_extract('epoch', '1970-01-02T00:00:00Z')"
            )
            .as_deref(),
            Ok("86400")
        );
        assert_eq!(
            one(&conn, "SELECT date_trunc('hour', '2025-02-21T10:59:59Z')").as_deref(),
            Ok("2025-02-21T10:00:00Z")
        );
        assert_eq!(
            one(&conn, "SELECT to_timestamp(0)").as_deref(),
            Ok("1970-01-01T00:00:00Z")
        );
        assert!(one(&conn, "SELECT iql_pg_add_interval(now(), 'soon', 1)").is_err());
    }

    #[test]
    fn regular_expressions_and_arrays() {
        let conn = db();
        assert_eq!(
            one(&conn, "SELECT iql_pg_regex('compute', '^(compute)$', '')").as_deref(),
            Ok("1")
        );
        assert_eq!(
            one(&conn, "SELECT iql_pg_regex('Compute', '^compute', '')").as_deref(),
            Ok("0")
        );
        assert_eq!(
            one(&conn, "SELECT iql_pg_regex('Compute', '^compute', 'i')").as_deref(),
            Ok("1")
        );
        assert!(one(&conn, "SELECT iql_pg_regex('x', '(', '')").is_err());
        assert_eq!(
            one(&conn, "SELECT string_to_array('a,b', ',')").as_deref(),
            Ok(r#"["a","b"]"#)
        );
        assert_eq!(
            one(&conn, "SELECT array_upper('[1,2,3]', 1)").as_deref(),
            Ok("3")
        );
        assert_eq!(
            one(&conn, r#"SELECT iql_array('{r, "p q",NULL,3}')"#).as_deref(),
            Ok(r#"["r","p q",null,3]"#)
        );
        assert!(one(&conn, "SELECT iql_array('{a')").is_err());
        assert_eq!(
            one(&conn, "SELECT quote_ident('Images')").as_deref(),
            Ok("\"Images\"")
        );
        assert_eq!(
            one(&conn, "SELECT quote_ident('images')").as_deref(),
            Ok("images")
        );
        assert_eq!(
            one(&conn, "SELECT format_type(1184, NULL)").as_deref(),
            Ok("timestamp with time zone")
        );
    }
}
