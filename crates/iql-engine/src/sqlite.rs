//! The embedded SQLite that runs everything SQL does after the API calls: one in-memory database
//! per statement, a table per provider table reference, and the user's query as written (after the
//! rewrite in `iql-sql`).

use iql_provider::{Column, ValueKind};
use iql_sql::Literal;
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::Connection;
use serde_json::Value;

use crate::error::EngineError;
use crate::value::{Cell, ColumnType, ResultColumn};

fn sql_error(e: rusqlite::Error) -> EngineError {
    EngineError::Sqlite {
        // The message alone: the SQL SQLite saw names iql's internal tables, not the user's.
        message: match e {
            rusqlite::Error::SqliteFailure(_, Some(m)) => m,
            rusqlite::Error::SqlInputError { msg, .. } => msg,
            other => other.to_string(),
        },
    }
}

/// Opens an in-memory database set as every database iql opens is set: see [`make_strict`].
pub(crate) fn open_in_memory() -> Result<Connection, EngineError> {
    let conn = Connection::open_in_memory().map_err(sql_error)?;
    make_strict(&conn)?;
    Ok(conn)
}

/// Turns off SQLite's leniencies that turn a user's mistake into a plausible answer. Left on,
/// a double-quoted name that is no column (`SELECT "nmae"`, `WHERE "stauts" = 'x'`) is read as a
/// string: every row says `nmae`, the count is 0, and nothing tells the user. PostgreSQL refuses
/// it, and so does iql: with the DQS settings off it is "no such column", with its position.
pub(crate) fn make_strict(conn: &Connection) -> Result<(), EngineError> {
    use rusqlite::config::DbConfig;
    for setting in [
        DbConfig::SQLITE_DBCONFIG_DQS_DML,
        DbConfig::SQLITE_DBCONFIG_DQS_DDL,
    ] {
        conn.set_db_config(setting, false).map_err(sql_error)?;
    }
    Ok(())
}

pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// In-memory databases kept from one statement to the next. Opening a database, creating its
/// tables and compiling the query cost more than the HTTP round trip of a one-object query, and a
/// repeated query (a dashboard, a script in a loop) needs the same tables: a database taken from
/// here still has the tables of the statements before (emptied), and compiled statements in its
/// cache. What a statement put in its tables is deleted when it gives the database back.
#[derive(Debug, Default)]
pub(crate) struct LocalDbs {
    idle: std::sync::Mutex<Vec<LocalDb>>,
    /// What the session's PostgreSQL functions read (`current_database()`, settings).
    pub context: crate::functions::SharedContext,
}

/// Databases kept idle at most; more are closed when given back.
const IDLE_DATABASES: usize = 4;

#[derive(Debug)]
pub(crate) struct LocalDb {
    pub conn: Connection,
    /// Each table's `CREATE TABLE` text, to know when an existing one can serve again.
    tables: std::collections::HashMap<String, String>,
    /// Tables and views this statement filled or made, to empty or drop when it is given back.
    used: Vec<String>,
    views: Vec<String>,
    /// Tables copied in for this statement alone (a store's materialized views), dropped after.
    copied: Vec<String>,
    /// The store file attached as `store` (its materialized views are read in place).
    attached: Option<std::path::PathBuf>,
}

impl LocalDbs {
    /// A database for one statement. Give it back with [`LocalDbs::give_back`] when the statement
    /// is done; one dropped instead (a statement that failed half way) is simply closed.
    pub fn take(&self) -> Result<LocalDb, EngineError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let db = match idle {
            Some(db) => db,
            None => {
                let conn = open_in_memory()?;
                crate::functions::register(&conn, &self.context).map_err(sql_error)?;
                LocalDb {
                    conn,
                    tables: Default::default(),
                    used: Vec::new(),
                    views: Vec::new(),
                    copied: Vec::new(),
                    attached: None,
                }
            }
        };
        let case_sensitive = self
            .context
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .case_sensitive_like;
        db.conn
            .pragma_update(None, "case_sensitive_like", case_sensitive)
            .map_err(sql_error)?;
        Ok(db)
    }

    /// Empties what the statement put in `db` (its rows never outlive it) and keeps the database
    /// for the next statement; one that cannot be cleaned is closed.
    pub fn give_back(&self, mut db: LocalDb) {
        let mut clean = true;
        for table in std::mem::take(&mut db.copied) {
            clean &= db
                .conn
                .execute_batch(&format!("DROP TABLE IF EXISTS temp.{};", quote(&table)))
                .is_ok();
        }
        for view in std::mem::take(&mut db.views) {
            clean &= db
                .conn
                .execute_batch(&format!("DROP VIEW IF EXISTS {};", quote(&view)))
                .is_ok();
        }
        for table in std::mem::take(&mut db.used) {
            clean &= db
                .conn
                .prepare_cached(&format!("DELETE FROM {}", quote(&table)))
                .and_then(|mut stmt| stmt.execute([]))
                .is_ok();
        }
        if !clean {
            return;
        }
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < IDLE_DATABASES {
            idle.push(db);
        }
    }
}

impl LocalDb {
    /// A temporary table `name` holding `rows` (a materialized view of a store that cannot be
    /// attached), dropped when the database is given back.
    pub fn copy_table(
        &mut self,
        name: &str,
        columns: &[ResultColumn],
        rows: &[Vec<Cell>],
    ) -> Result<(), EngineError> {
        create_filled_table(&self.conn, "temp", name, columns, rows).map_err(sql_error)?;
        self.copied.push(name.to_string());
        Ok(())
    }

    /// Attaches the store's file as `store`, so the query reads its materialized views by name.
    pub fn attach_store(&mut self, path: &std::path::Path) -> Result<(), EngineError> {
        if self.attached.as_deref() == Some(path) {
            return Ok(());
        }
        if self.attached.is_some() {
            self.conn
                .execute_batch("DETACH DATABASE store;")
                .map_err(sql_error)?;
        }
        self.conn
            .busy_timeout(crate::store::BUSY_TIMEOUT)
            .map_err(sql_error)?;
        self.conn
            .execute(
                "ATTACH DATABASE ?1 AS store",
                [path.to_string_lossy().as_ref()],
            )
            .map_err(sql_error)?;
        self.attached = Some(path.to_path_buf());
        Ok(())
    }

    /// An empty table `name` with these columns: the one already there when it has them, else a
    /// new one.
    pub fn table(&mut self, name: &str, columns: &[Column]) -> Result<(), EngineError> {
        let cols: Vec<String> = columns
            .iter()
            .map(|c| format!("{} {}", quote(&c.name), c.schema.kind().sqlite_type()))
            .collect();
        let create = format!("CREATE TABLE {} ({});", quote(name), cols.join(", "));
        self.used.push(name.to_string());
        if self.tables.get(name) == Some(&create) {
            return Ok(());
        }
        if self.tables.remove(name).is_some() {
            // Statements compiled against the old columns would read the new table by the old
            // column count (`SELECT * FROM t0_regions` of another `regions`): forget them.
            self.conn.flush_prepared_statement_cache();
            self.conn
                .execute_batch(&format!("DROP TABLE {};", quote(name)))
                .map_err(sql_error)?;
        }
        self.conn.execute_batch(&create).map_err(sql_error)?;
        self.tables.insert(name.to_string(), create);
        Ok(())
    }
}

/// The tables of a provider table whose name is used in both meanings (`plan::Split`): rows of
/// the calls that sent the parameter go into `{name}__sent`, those of the call without it into
/// `{name}__field`, and `{name}` is a view of the first, plus those of the second whose column holds
/// one of `field_values` (all of them when it is empty) and that the first lacks (by `id` when the rows have one; otherwise
/// identical rows count once).
pub(crate) fn create_split_tables(
    db: &mut LocalDb,
    name: &str,
    columns: &[Column],
    split_column: &str,
    field_values: &[Literal],
) -> Result<(), EngineError> {
    let (sent, field) = split_names(name);
    db.table(&sent, columns)?;
    db.table(&field, columns)?;
    // A plain table of the same name from an earlier statement gives way to the view.
    if db.tables.remove(name).is_some() {
        db.conn.flush_prepared_statement_cache();
        db.conn
            .execute_batch(&format!("DROP TABLE {};", quote(name)))
            .map_err(sql_error)?;
    }
    db.views.push(name.to_string());
    let values: Vec<String> = field_values.iter().map(literal_sql).collect();
    let has_id = columns.iter().any(|c| c.name == "id");
    let (union, not_sent) = if has_id {
        (
            "UNION ALL",
            format!(
                " AND \"id\" NOT IN (SELECT \"id\" FROM {} WHERE \"id\" IS NOT NULL)",
                quote(&sent)
            ),
        )
    } else {
        ("UNION", String::new())
    };
    db.conn.execute_batch(&format!(
        "CREATE VIEW {view} AS SELECT * FROM {sent} {union} SELECT * FROM {field} WHERE {keep}{not_sent};",
        view = quote(name),
        sent = quote(&sent),
        field = quote(&field),
        keep = if values.is_empty() {
            "true".to_string()
        } else {
            format!("{} IN ({})", quote(split_column), values.join(", "))
        },
    ))
    .map_err(sql_error)
}

/// The two tables behind a split table's view.
pub(crate) fn split_names(name: &str) -> (String, String) {
    (format!("{name}__sent"), format!("{name}__field"))
}

/// A literal as SQL text, for SQL iql writes itself.
fn literal_sql(l: &Literal) -> String {
    match literal_value(l) {
        SqlValue::Integer(i) => i.to_string(),
        SqlValue::Real(f) => f.to_string(),
        SqlValue::Text(t) => format!("'{}'", t.replace('\'', "''")),
        _ => "NULL".to_string(),
    }
}

/// A JSON value as SQLite stores it; text is bound from the row without a copy.
fn to_sql(kind: ValueKind, v: &Value) -> ToSqlOutput<'_> {
    match v {
        Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        Value::Bool(b) => ToSqlOutput::Owned(SqlValue::Integer(i64::from(*b))),
        Value::Number(n) => ToSqlOutput::Owned(match (kind, n.as_i64()) {
            (ValueKind::Real, _) | (_, None) => {
                n.as_f64().map(SqlValue::Real).unwrap_or(SqlValue::Null)
            }
            (_, Some(i)) => SqlValue::Integer(i),
        }),
        Value::String(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        other => ToSqlOutput::Owned(SqlValue::Text(other.to_string())),
    }
}

/// Inserts one page of rows with row ids `first_rowid..`, so that a table scan returns rows in the
/// API's order even when pages arrive out of order.
pub(crate) fn insert_rows(
    conn: &Connection,
    name: &str,
    columns: &[Column],
    first_rowid: i64,
    rows: &[Vec<Value>],
) -> Result<(), EngineError> {
    if rows.is_empty() {
        return Ok(());
    }
    // One row needs no transaction of its own (a one-object GET is the common case); many rows go
    // in one, which is much faster than one each.
    let tx = if rows.len() > 1 {
        Some(conn.unchecked_transaction().map_err(sql_error)?)
    } else {
        None
    };
    {
        let names: Vec<String> = columns.iter().map(|c| quote(&c.name)).collect();
        let placeholders = vec!["?"; columns.len() + 1].join(", ");
        let mut stmt = conn
            .prepare_cached(&format!(
                "INSERT INTO {} (rowid, {}) VALUES ({placeholders})",
                quote(name),
                names.join(", ")
            ))
            .map_err(sql_error)?;
        let kinds: Vec<ValueKind> = columns.iter().map(|c| c.schema.kind()).collect();
        for (i, row) in rows.iter().enumerate() {
            let id = std::iter::once(ToSqlOutput::Owned(SqlValue::Integer(
                first_rowid + i as i64,
            )));
            let values = id.chain(row.iter().zip(&kinds).map(|(v, k)| to_sql(*k, v)));
            stmt.execute(rusqlite::params_from_iter(values))
                .map_err(sql_error)?;
        }
    }
    match tx {
        Some(tx) => tx.commit().map_err(sql_error),
        None => Ok(()),
    }
}

fn literal_value(l: &Literal) -> SqlValue {
    match l {
        Literal::Text(s) => SqlValue::Text(s.clone()),
        Literal::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Literal::Number(n) => n
            .parse::<i64>()
            .map(SqlValue::Integer)
            .or_else(|_| n.parse::<f64>().map(SqlValue::Real))
            .unwrap_or_else(|_| SqlValue::Text(n.clone())),
    }
}

/// Distinct non-null values of a column, for the dependent side of a join, among the rows that pass
/// the table's own `col = literal` filters (rows the query drops need no dependent requests).
pub(crate) fn distinct_values(
    conn: &Connection,
    table: &str,
    column: &str,
    filters: &[(usize, String, Vec<Literal>)],
) -> Result<Vec<Value>, EngineError> {
    let mut sql = format!(
        "SELECT DISTINCT {c} FROM {t} WHERE {c} IS NOT NULL",
        c = quote(column),
        t = quote(table)
    );
    let mut args: Vec<SqlValue> = Vec::new();
    for (_, col, values) in filters {
        let marks = vec!["?"; values.len()].join(", ");
        sql.push_str(&format!(" AND {} IN ({marks})", quote(col)));
        args.extend(values.iter().map(literal_value));
    }
    column_values(conn, &sql, args)
}

/// The distinct values of `expression` (over the table's columns, its alias as the query wrote
/// it) in the rows that pass `filters`: what `i.image_id = json_extract(d.image, '$.id')` gives
/// `image_id`.
pub(crate) fn distinct_expression_values(
    conn: &Connection,
    table: &str,
    alias: &str,
    expression: &str,
    filters: &[(usize, String, Vec<Literal>)],
) -> Result<Vec<Value>, EngineError> {
    let mut sql = format!(
        "SELECT DISTINCT {expression} FROM {t} AS {a} WHERE true",
        t = quote(table),
        a = quote(alias)
    );
    let mut args: Vec<SqlValue> = Vec::new();
    for (_, col, values) in filters {
        let marks = vec!["?"; values.len()].join(", ");
        sql.push_str(&format!(
            " AND {}.{} IN ({marks})",
            quote(alias),
            quote(col)
        ));
        args.extend(values.iter().map(literal_value));
    }
    column_values(conn, &sql, args)
}

/// The distinct values of the first column of `sql` (a subquery that binds a parameter), as JSON;
/// NULLs are left out.
pub(crate) fn first_column_values(conn: &Connection, sql: &str) -> Result<Vec<Value>, EngineError> {
    column_values(conn, sql, Vec::new())
}

/// The first column of `sql` run with `args`, distinct and without NULLs, as JSON values: the
/// values one table hands another's parameter.
fn column_values(
    conn: &Connection,
    sql: &str,
    args: Vec<SqlValue>,
) -> Result<Vec<Value>, EngineError> {
    let mut stmt = conn.prepare(sql).map_err(sql_error)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(args))
        .map_err(sql_error)?;
    let mut out: Vec<Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while let Some(row) = rows.next().map_err(sql_error)? {
        let v = match row.get_ref(0).map_err(sql_error)? {
            ValueRef::Null => continue,
            ValueRef::Integer(i) => Value::from(i),
            ValueRef::Real(f) => Value::from(f),
            ValueRef::Text(t) | ValueRef::Blob(t) => {
                Value::String(String::from_utf8_lossy(t).into_owned())
            }
        };
        if seen.insert(v.to_string()) {
            out.push(v);
        }
    }
    Ok(out)
}

/// The SQL functions SQLite knows, for "did you mean" after a misspelt one.
pub(crate) fn function_names() -> Vec<String> {
    let names = || -> rusqlite::Result<Vec<String>> {
        let conn = Connection::open_in_memory()?;
        let mut stmt =
            conn.prepare("SELECT DISTINCT name FROM pragma_function_list ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    };
    names().unwrap_or_default()
}

/// Compiles the query without running it: on the still empty tables this finds a misspelt column
/// or bad SQL before any request is sent.
pub(crate) fn check(conn: &Connection, sql: &str) -> Result<(), EngineError> {
    conn.prepare_cached(sql).map(drop).map_err(sql_error)
}

/// The columns a query gives, typed as [`run_query`] types them, without running it.
pub(crate) fn columns_of(conn: &Connection, sql: &str) -> Result<Vec<ResultColumn>, EngineError> {
    let stmt = conn.prepare_cached(sql).map_err(sql_error)?;
    Ok(result_columns(&stmt))
}

/// [`columns_of`], with the columns SQLite declares no type for typed from `probe`: the same
/// query with each column that takes its argument's type (`max(created_at)`) made that argument
/// (`QueryStatement::type_probe`). A probe SQLite cannot compile changes nothing.
pub(crate) fn typed_columns(
    conn: &Connection,
    sql: &str,
    probe: Option<&str>,
) -> Result<Vec<ResultColumn>, EngineError> {
    let mut columns = columns_of(conn, sql)?;
    if let Some(probed) = probe.and_then(|p| columns_of(conn, p).ok()) {
        if probed.len() == columns.len() {
            for (c, p) in columns.iter_mut().zip(probed) {
                if c.column_type == ColumnType::Any {
                    c.column_type = p.column_type;
                }
            }
        }
    }
    Ok(columns)
}

fn result_columns(stmt: &rusqlite::Statement<'_>) -> Vec<ResultColumn> {
    stmt.columns()
        .iter()
        .map(|c| ResultColumn {
            name: c.name().to_string(),
            column_type: ColumnType::from_decl(c.decl_type()),
        })
        .collect()
}

/// A table `schema.name` with these columns (typed as `ColumnType::decl` says) holding `rows`:
/// a store's materialized view, or its copy in a statement's database. SQLite would refuse two
/// columns of one name (`SELECT a.id, b.id`): the second gets a suffix, as SQLite's own
/// CREATE TABLE … AS does.
pub(crate) fn create_filled_table(
    conn: &Connection,
    schema: &str,
    name: &str,
    columns: &[ResultColumn],
    rows: &[Vec<Cell>],
) -> rusqlite::Result<()> {
    let table = format!("{}.{}", quote(schema), quote(name));
    let mut seen = std::collections::HashSet::new();
    let defs: Vec<String> = columns
        .iter()
        .map(|c| {
            let mut col = c.name.clone();
            let mut n = 1;
            while !seen.insert(col.to_ascii_lowercase()) {
                col = format!("{}:{n}", c.name);
                n += 1;
            }
            format!("{} {}", quote(&col), c.column_type.decl())
        })
        .collect();
    conn.execute_batch(&format!("CREATE TABLE {table} ({});", defs.join(", ")))?;
    let placeholders = vec!["?"; columns.len()].join(", ");
    let mut insert = conn.prepare(&format!("INSERT INTO {table} VALUES ({placeholders})"))?;
    for row in rows {
        insert.execute(rusqlite::params_from_iter(row.iter().map(sql_value)))?;
    }
    Ok(())
}

/// A cell as SQLite stores it (booleans as 0/1, JSON as its text).
fn sql_value(c: &Cell) -> SqlValue {
    match c {
        Cell::Null => SqlValue::Null,
        Cell::Bool(b) => SqlValue::Integer(*b as i64),
        Cell::Integer(i) => SqlValue::Integer(*i),
        Cell::Real(f) => SqlValue::Real(*f),
        Cell::Text(s) => SqlValue::Text(s.clone()),
        Cell::Json(v) => SqlValue::Text(v.to_string()),
    }
}

/// Runs the query and converts its rows, typing each column from its declared type when the
/// column comes straight from a provider table.
pub(crate) fn run_query(
    conn: &Connection,
    sql: &str,
) -> Result<(Vec<ResultColumn>, Vec<Vec<Cell>>), EngineError> {
    run_typed_query(conn, sql, None)
}

/// [`run_query`], its columns typed as [`typed_columns`] types them.
pub(crate) fn run_typed_query(
    conn: &Connection,
    sql: &str,
    probe: Option<&str>,
) -> Result<(Vec<ResultColumn>, Vec<Vec<Cell>>), EngineError> {
    // Tests prove that a panic in a statement is contained; only builds made for them can do this.
    #[cfg(feature = "fault-injection")]
    if sql.contains("iql_injected_panic") {
        panic!("injected panic (a fault-injection build)");
    }
    let columns = match probe {
        Some(_) => typed_columns(conn, sql, probe)?,
        None => columns_of(conn, sql)?,
    };
    let mut stmt = conn.prepare_cached(sql).map_err(sql_error)?;
    let types: Vec<ColumnType> = columns.iter().map(|c| c.column_type).collect();
    let mut rows = stmt.query([]).map_err(sql_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sql_error)? {
        let mut cells = Vec::with_capacity(types.len());
        for (i, t) in types.iter().enumerate() {
            let cell = match (row.get_ref(i).map_err(sql_error)?, t) {
                (ValueRef::Null, _) => Cell::Null,
                (ValueRef::Integer(v), ColumnType::Boolean) => Cell::Bool(v != 0),
                (ValueRef::Integer(v), _) => Cell::Integer(v),
                (ValueRef::Real(v), _) => Cell::Real(v),
                (ValueRef::Text(b), ColumnType::Json) => {
                    let s = String::from_utf8_lossy(b);
                    serde_json::from_str(&s)
                        .map(Cell::Json)
                        .unwrap_or_else(|_| Cell::Text(s.into_owned()))
                }
                (ValueRef::Text(b), _) => Cell::Text(String::from_utf8_lossy(b).into_owned()),
                (ValueRef::Blob(b), _) => Cell::Text(format!("x'{}'", crate::engine::hex(b))),
            };
            cells.push(cell);
        }
        out.push(cells);
    }
    Ok((columns, out))
}
