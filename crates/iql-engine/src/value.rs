//! Typed results: what a statement gives back, independent of how it is printed.

use std::fmt;

use serde_json::Value;

/// The type of a result column, from the provider schema when the column is read straight from a
/// table, otherwise from the values SQLite returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Integer,
    Real,
    Boolean,
    Text,
    Json,
    /// An expression whose values decide their own type.
    Any,
}

impl ColumnType {
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Real => "real",
            ColumnType::Boolean => "boolean",
            ColumnType::Text => "text",
            ColumnType::Json => "json",
            ColumnType::Any => "any",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResultColumn {
    pub name: String,
    pub column_type: ColumnType,
}

/// One value of a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Integer(i64),
    Real(f64),
    Text(String),
    /// An object or array (from a JSON column).
    Json(Value),
}

impl Cell {
    /// The value as JSON: numbers as numbers, JSON columns as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Integer(i) => Value::from(*i),
            Cell::Real(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Cell::Text(s) => Value::String(s.clone()),
            Cell::Json(v) => v.clone(),
        }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Null => f.write_str("null"),
            Cell::Bool(b) => write!(f, "{b}"),
            Cell::Integer(i) => write!(f, "{i}"),
            Cell::Real(x) => write!(f, "{x}"),
            Cell::Text(s) => f.write_str(s),
            Cell::Json(v) => write!(f, "{v}"),
        }
    }
}

/// What fetching cost, for users (`--timing`) and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// HTTP requests that returned a page or an object.
    pub requests: u64,
    /// Rows the API returned before SQL filtered them.
    pub rows_fetched: u64,
    /// Pages the response cache answered: requests saved.
    pub from_cache: u64,
}

/// The outcome of one statement.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryResult {
    pub columns: Vec<ResultColumn>,
    pub rows: Vec<Vec<Cell>>,
    /// Things the user must know: a page cap reached, a list that changed while it was read, a
    /// condition that could not be sent to the API.
    pub notices: Vec<String>,
    pub stats: FetchStats,
    /// For a mutation without RETURNING: how many objects it changed, and what happened in words
    /// (`INSERT 2: images_create_custom answered 202 Accepted twice`).
    pub affected: Option<u64>,
    pub message: Option<String>,
}

impl QueryResult {
    /// The result of a `--dry-run`: one row per request that would be sent (never the token).
    pub(crate) fn dry_run(requests: Vec<(&str, String, Option<serde_json::Value>)>) -> QueryResult {
        let columns = ["method", "url", "body"]
            .iter()
            .map(|n| ResultColumn {
                name: n.to_string(),
                column_type: ColumnType::Text,
            })
            .collect();
        let rows = requests
            .into_iter()
            .map(|(method, url, body)| {
                vec![
                    Cell::Text(method.to_string()),
                    Cell::Text(url),
                    body.map(Cell::Json).unwrap_or(Cell::Null),
                ]
            })
            .collect();
        QueryResult {
            columns,
            rows,
            message: Some("dry run: nothing was sent".to_string()),
            ..QueryResult::default()
        }
    }
}

impl Cell {
    /// A JSON value as a cell of the given kind (objects and arrays stay JSON).
    pub fn from_json(kind: iql_provider::ValueKind, v: &serde_json::Value) -> Cell {
        use iql_provider::ValueKind;
        match (kind, v) {
            (_, Value::Null) => Cell::Null,
            (_, Value::Bool(b)) => Cell::Bool(*b),
            (ValueKind::Real, Value::Number(n)) => n.as_f64().map(Cell::Real).unwrap_or(Cell::Null),
            (_, Value::Number(n)) => match n.as_i64() {
                Some(i) => Cell::Integer(i),
                None => n.as_f64().map(Cell::Real).unwrap_or(Cell::Null),
            },
            (_, Value::String(s)) => Cell::Text(s.clone()),
            (_, other) => Cell::Json(other.clone()),
        }
    }
}

impl ColumnType {
    pub fn of(kind: iql_provider::ValueKind) -> ColumnType {
        use iql_provider::ValueKind;
        match kind {
            ValueKind::Integer => ColumnType::Integer,
            ValueKind::Real => ColumnType::Real,
            ValueKind::Boolean => ColumnType::Boolean,
            ValueKind::Text => ColumnType::Text,
            ValueKind::Json => ColumnType::Json,
        }
    }
}
