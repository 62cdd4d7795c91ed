//! The SQL front end: splits a script into statements, parses each with `sqlparser`, and translates
//! the parts iql acts on into a small model of its own.
//!
//! Two kinds of statement come out of here:
//! - **Meta statements** (`SHOW …`, `DESCRIBE …`) in StackQL's forms, which sqlparser does not know,
//!   parsed from the token stream.
//! - **Queries**, kept as sqlparser ASTs. [`QueryStatement`] lists every provider table the query
//!   reads (`digitalocean.compute.images`) and, per `SELECT`, the top-level `AND` conjuncts of its
//!   `WHERE` and `ON` clauses, classified as `column = literal` / `column IN (literals)` (candidate API
//!   parameters), `column = column` (links for dependent joins), or anything else. The planner decides
//!   which conjuncts the API answers; [`QueryStatement::render`] then writes the SQL that the embedded
//!   SQLite runs, with provider names replaced by local tables and the answered conjuncts replaced by
//!   `true`. Nothing else in the user's SQL is touched, so its meaning is SQLite's.
//!
//! Only this crate depends on sqlparser: an upgrade touches one place.

mod error;
mod meta;
mod query;
mod split;

pub use error::SqlError;
pub use meta::{Describe, Show, ShowKind};
pub use query::{
    ColumnRef, Conjunct, ConjunctKind, LimitHint, Literal, QueryStatement, Scope, TableRef,
};
pub use split::{split_statements, StatementText};

/// One statement of a script, parsed.
#[derive(Debug, Clone)]
pub enum Statement {
    Query(Box<QueryStatement>),
    Show(Show),
    Describe(Describe),
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
    split_statements(script)?
        .into_iter()
        .map(|source| {
            let statement = parse_one(&source)?;
            Ok(ParsedStatement { statement, source })
        })
        .collect()
}

fn parse_one(source: &StatementText) -> Result<Statement, SqlError> {
    if let Some(meta) = meta::parse_meta(source)? {
        return Ok(meta);
    }
    query::parse_query(source).map(|q| Statement::Query(Box::new(q)))
}
