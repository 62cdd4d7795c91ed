//! The SQL front end: splits a script into statements, parses each with `sqlparser`, and translates
//! the parts iql acts on into a small model of its own.
//!
//! Two kinds of statement come out of here:
//! - **Meta statements** (`SHOW …`, `DESCRIBE …`) in StackQL's forms, which sqlparser does not know,
//!   parsed from the token stream.
//! - **View statements** (`CREATE [MATERIALIZED] VIEW`, `DROP VIEW`, `REFRESH MATERIALIZED VIEW`),
//!   and the rewrite of a query that names a view (`view`).
//! - **Queries**, kept as sqlparser ASTs. [`QueryStatement`] lists every provider table the query
//!   reads (`digitalocean.compute.images`) and, per `SELECT`, the top-level `AND` conjuncts of its
//!   `WHERE` and `ON` clauses, classified as `column = literal` / `column IN (literals)` (candidate API
//!   parameters), `column = column` (links for dependent joins), or anything else. The planner decides
//!   which conjuncts the API answers; [`QueryStatement::render`] then writes the SQL that the embedded
//!   SQLite runs, with provider names replaced by local tables and the answered conjuncts replaced by
//!   `true`. Nothing else in the user's SQL is touched, so its meaning is SQLite's.
//!
//! Only this crate depends on sqlparser: an upgrade touches one place.

mod bind;
mod cache;
mod copy;
mod cursor;
mod dialect;
mod error;
mod expression_types;
pub mod limits;
mod meaning;
mod meta;
mod mutation;
mod postgres;
mod query;
mod session;
mod split;
mod view;

pub use bind::{bind, placeholders, BindValue, Params};
pub use cache::StatementCache;
pub use copy::{CopyFormat, CopyStatement};
pub use cursor::CursorStatement;
pub use dialect::IqlDialect;
pub use error::SqlError;
pub use expression_types::ExpressionType;
pub use meaning::LiteralComparison;
pub use meta::{Describe, Show, ShowKind};
pub use mutation::{
    Binding, DeleteStatement, ExecStatement, InsertStatement, Returning, UpdateStatement,
};
pub use query::{
    ColumnRef, Conjunct, ConjunctKind, LimitHint, Literal, QueryStatement, Scope, TableRef,
};
pub use session::SessionStatement;
pub use split::{classify_tokens, is_complete, split_statements, StatementText, TokenClass};
pub use view::{
    format_interval, parse_interval, reserved_view_name, CreateView, DropView, RefreshView,
    StoredFilter, MAX_VIEW_DEPTH, MIN_REFRESH_INTERVAL,
};

/// One statement of a script, parsed.
#[derive(Debug, Clone)]
pub enum Statement {
    Query(Box<QueryStatement>),
    Show(Show),
    Describe(Describe),
    Insert(InsertStatement),
    /// `UPDATE … SET … WHERE …`, or StackQL's `REPLACE … SET … WHERE …`.
    Update(UpdateStatement),
    Delete(DeleteStatement),
    Exec(ExecStatement),
    /// `CREATE [OR REPLACE] [MATERIALIZED] VIEW name AS SELECT …`.
    CreateView(CreateView),
    /// `DROP [MATERIALIZED] VIEW [IF EXISTS] name`.
    DropView(DropView),
    /// `REFRESH MATERIALIZED VIEW name`.
    RefreshView(RefreshView),
    /// `SET`, `SHOW setting`, `BEGIN`, `COMMIT`, …: about the session, not data.
    Session(SessionStatement),
    /// `COPY (SELECT …) TO STDOUT [CSV HEADER]`: a query's rows as COPY data.
    Copy(CopyStatement),
    /// `DECLARE … CURSOR FOR`, `FETCH`, `MOVE`, `CLOSE`: served by `iql serve`.
    Cursor(CursorStatement),
    /// `EXPLAIN SELECT …`: the requests the query would send, sending none.
    Explain(Box<QueryStatement>),
}

impl Statement {
    /// The SQL verb, for messages: `SELECT`, `INSERT`, …
    pub fn verb(&self) -> &'static str {
        match self {
            Statement::Query(_) => "SELECT",
            Statement::Show(_) => "SHOW",
            Statement::Describe(_) => "DESCRIBE",
            Statement::Insert(_) => "INSERT",
            Statement::Update(u) if u.replace => "REPLACE",
            Statement::Update(_) => "UPDATE",
            Statement::Delete(_) => "DELETE",
            Statement::Exec(_) => "EXEC",
            Statement::CreateView(_) => "CREATE VIEW",
            Statement::DropView(_) => "DROP VIEW",
            Statement::RefreshView(_) => "REFRESH",
            Statement::Session(s) => s.tag(),
            Statement::Copy(_) => "COPY",
            Statement::Cursor(c) => c.tag(),
            Statement::Explain(_) => "EXPLAIN",
        }
    }
}

/// A parsed statement with the text it came from.
#[derive(Debug, Clone)]
pub struct ParsedStatement {
    pub statement: Statement,
    pub source: StatementText,
}

/// Parses every statement of `script`. Statements end at `;` outside quotes and comments, or at the
/// end of the text (so `… -- required;` with the `;` inside a comment still ends the statement).
pub fn parse_script(script: &str) -> Result<Vec<ParsedStatement>, SqlError> {
    parse_script_for(script, None)
}

/// [`parse_script`], with two-part table names (`compute.images`, `"compute"."images"`) read as
/// tables of `default_provider`: how a PostgreSQL client connected to the provider's database
/// (`psql -d digitalocean`) names them, as pg_catalog shows them there. `pg_catalog.…`,
/// `information_schema.…` and `store.…` keep their meaning.
pub fn parse_script_for(
    script: &str,
    default_provider: Option<&str>,
) -> Result<Vec<ParsedStatement>, SqlError> {
    // A byte-order mark some editors write is not SQL (and not a column on line 1).
    let script = script.strip_prefix('\u{feff}').unwrap_or(script);
    split_statements(script)?
        .into_iter()
        .map(|mut source| {
            source.default_provider = default_provider.map(str::to_string);
            let statement = limits::with_stack(source.depth, || parse_one(&source))?;
            Ok(ParsedStatement { statement, source })
        })
        .collect()
}

fn parse_one(source: &StatementText) -> Result<Statement, SqlError> {
    if let Some((word, _, _)) = mutation::first_word(source)? {
        if session::starts_session_statement(&word)
            || (word == "SHOW" && session::is_setting_show(source))
            || (word == "EXECUTE" && session::is_execute_prepared(source))
        {
            return session::parse(source).map(Statement::Session);
        }
    }
    if let Some(meta) = meta::parse_meta(source)? {
        return Ok(meta);
    }
    let (word, line, column) = mutation::first_word(source)?.unwrap_or_default();
    let wait = mutation::has_await_hint(source)?;
    match word.as_str() {
        "EXEC" | "EXECUTE" => mutation::parse_exec(source).map(Statement::Exec),
        "INSERT" => {
            let s = mutation::sqlparser_statement(source)?;
            mutation::parse_insert(s, source, wait).map(Statement::Insert)
        }
        "UPDATE" | "REPLACE" => {
            let replace = word == "REPLACE";
            let text = if replace {
                mutation::replace_as_update(source, line, column)
            } else {
                source.clone()
            };
            let s = mutation::sqlparser_statement(&text)?;
            mutation::parse_update(s, source, wait, replace).map(Statement::Update)
        }
        "CREATE" => {
            let s = mutation::sqlparser_statement(source)?;
            view::parse_create(s, source).map(Statement::CreateView)
        }
        "DROP" => {
            let s = mutation::sqlparser_statement(source)?;
            view::parse_drop(s, source).map(Statement::DropView)
        }
        "REFRESH" => view::parse_refresh(source).map(Statement::RefreshView),
        "COPY" => {
            let s = mutation::sqlparser_statement(source)?;
            copy::parse(s, source).map(Statement::Copy)
        }
        "DECLARE" => {
            let s = mutation::sqlparser_statement(source)?;
            cursor::parse_declare(s, source).map(Statement::Cursor)
        }
        "FETCH" | "MOVE" | "CLOSE" => cursor::parse_other(source).map(Statement::Cursor),
        "EXPLAIN" => {
            let s = mutation::sqlparser_statement(source)?;
            match s {
                sqlparser::ast::Statement::Explain { statement, .. } => match *statement {
                    sqlparser::ast::Statement::Query(q) => query::from_query(q, source)
                        .map(|q| Statement::Explain(Box::new(q))),
                    _ => Err(SqlError::new(
                        source.line,
                        source.column,
                        "iql explains queries (EXPLAIN SELECT …); for a change, run it with --dry-run to see what it would send",
                    )),
                },
                _ => Err(SqlError::new(source.line, source.column, "expected EXPLAIN SELECT …")),
            }
        }
        "DELETE" => {
            let s = mutation::sqlparser_statement(source)?;
            mutation::parse_delete(s, source).map(Statement::Delete)
        }
        _ => query::parse_query(source).map(|q| Statement::Query(Box::new(q))),
    }
}
