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
    /// A date-time (`format: date-time`): text as DigitalOcean writes it, compared as instants.
    Timestamp,
    /// A date (`format: date`, `2025-02-21`): text in SQLite, a `date` over the wire.
    Date,
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
            ColumnType::Timestamp => "timestamp",
            ColumnType::Date => "date",
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
    /// The declared type iql gives a SQLite column of this type (what [`ColumnType::from_decl`]
    /// reads back).
    pub(crate) fn decl(self) -> &'static str {
        match self {
            ColumnType::Integer => "INTEGER",
            ColumnType::Real => "REAL",
            ColumnType::Boolean => "BOOLEAN",
            ColumnType::Text => "TEXT",
            ColumnType::Timestamp => "TIMESTAMP_TEXT",
            ColumnType::Date => "DATE_TEXT",
            ColumnType::Json => "JSON_TEXT",
            ColumnType::Any => "",
        }
    }

    /// The type of a SQLite column from its declared type; `Any` for an expression.
    pub(crate) fn from_decl(decl: Option<&str>) -> ColumnType {
        match decl.map(str::to_ascii_uppercase).as_deref() {
            Some("INTEGER") => ColumnType::Integer,
            Some("REAL") => ColumnType::Real,
            Some("BOOLEAN") => ColumnType::Boolean,
            Some("TEXT") => ColumnType::Text,
            Some("TIMESTAMP_TEXT") => ColumnType::Timestamp,
            Some("DATE_TEXT") => ColumnType::Date,
            Some("JSON_TEXT") => ColumnType::Json,
            _ => ColumnType::Any,
        }
    }

    pub fn of(kind: iql_provider::ValueKind) -> ColumnType {
        use iql_provider::ValueKind;
        match kind {
            ValueKind::Integer => ColumnType::Integer,
            ValueKind::Real => ColumnType::Real,
            ValueKind::Boolean => ColumnType::Boolean,
            ValueKind::Text => ColumnType::Text,
            ValueKind::DateTime => ColumnType::Timestamp,
            ValueKind::Date => ColumnType::Date,
            ValueKind::Json => ColumnType::Json,
        }
    }
}

/// Values a caller binds (`$1`, `:name`) are cells: `Cell::from(5)`, `Cell::from("nyc3")`,
/// `Cell::from(None::<i64>)` (NULL), or the `iql::params!` macro.
macro_rules! cell_from {
    ($($t:ty => $v:ident($conv:expr)),* $(,)?) => {
        $(impl From<$t> for Cell {
            fn from(x: $t) -> Cell {
                Cell::$v($conv(x))
            }
        })*
    };
}

cell_from! {
    i64 => Integer(|x| x),
    i32 => Integer(i64::from),
    u32 => Integer(i64::from),
    i16 => Integer(i64::from),
    u16 => Integer(i64::from),
    bool => Bool(|x| x),
    f64 => Real(|x| x),
    f32 => Real(f64::from),
    String => Text(|x| x),
    &str => Text(str::to_string),
    &String => Text(String::clone),
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(x: Option<T>) -> Cell {
        x.map(Into::into).unwrap_or(Cell::Null)
    }
}

impl From<Value> for Cell {
    fn from(v: Value) -> Cell {
        match v {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Cell::Integer(i),
                None => n.as_f64().map(Cell::Real).unwrap_or(Cell::Null),
            },
            Value::String(s) => Cell::Text(s),
            other => Cell::Json(other),
        }
    }
}

impl Cell {
    /// The cell as a value for a placeholder (JSON as its text).
    pub fn to_bind(&self) -> iql_sql::BindValue {
        use iql_sql::BindValue;
        match self {
            Cell::Null => BindValue::Null,
            Cell::Bool(b) => BindValue::Bool(*b),
            Cell::Integer(i) => BindValue::Integer(*i),
            Cell::Real(f) => BindValue::Real(*f),
            Cell::Text(s) => BindValue::Text(s.clone()),
            Cell::Json(v) => BindValue::Text(v.to_string()),
        }
    }
}

/// A Rust type a cell converts to: `row.get::<i64>("id")`.
pub trait FromCell: Sized {
    /// The value, or why the cell is not one (`expected an integer, found text 'x'`).
    fn from_cell(cell: &Cell) -> Result<Self, String>;
}

fn found(cell: &Cell) -> String {
    match cell {
        Cell::Null => "NULL".to_string(),
        Cell::Bool(b) => format!("boolean {b}"),
        Cell::Integer(i) => format!("integer {i}"),
        Cell::Real(f) => format!("real {f}"),
        Cell::Text(s) => format!("text '{s}'"),
        Cell::Json(v) => format!("JSON {v}"),
    }
}

impl FromCell for i64 {
    fn from_cell(cell: &Cell) -> Result<Self, String> {
        match cell {
            Cell::Integer(i) => Ok(*i),
            Cell::Bool(b) => Ok(i64::from(*b)),
            other => Err(format!("expected an integer, found {}", found(other))),
        }
    }
}

impl FromCell for i32 {
    fn from_cell(cell: &Cell) -> Result<Self, String> {
        let i = i64::from_cell(cell)?;
        i32::try_from(i).map_err(|_| format!("{i} does not fit in an i32"))
    }
}

impl FromCell for u64 {
    fn from_cell(cell: &Cell) -> Result<Self, String> {
        let i = i64::from_cell(cell)?;
        u64::try_from(i).map_err(|_| format!("{i} is negative"))
    }
}

impl FromCell for f64 {
    fn from_cell(cell: &Cell) -> Result<Self, String> {
        match cell {
            Cell::Real(f) => Ok(*f),
            Cell::Integer(i) => Ok(*i as f64),
            other => Err(format!("expected a number, found {}", found(other))),
        }
    }
}

impl FromCell for bool {
    fn from_cell(cell: &Cell) -> Result<Self, String> {
        match cell {
            Cell::Bool(b) => Ok(*b),
            Cell::Integer(0) => Ok(false),
            Cell::Integer(1) => Ok(true),
            other => Err(format!("expected a boolean, found {}", found(other))),
        }
    }
}

impl FromCell for String {
    fn from_cell(cell: &Cell) -> Result<Self, String> {
        match cell {
            Cell::Text(s) => Ok(s.clone()),
            Cell::Null => Err("expected text, found NULL (ask for an Option<String>)".to_string()),
            other => Ok(other.to_string()),
        }
    }
}

impl FromCell for Value {
    fn from_cell(cell: &Cell) -> Result<Self, String> {
        Ok(match cell {
            // A JSON column read as text by an expression is still JSON to the caller.
            Cell::Text(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
            other => other.to_json(),
        })
    }
}

impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(cell: &Cell) -> Result<Self, String> {
        match cell {
            Cell::Null => Ok(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

/// One row of a result, with its column names: see [`QueryResult::iter`].
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [ResultColumn],
    cells: &'a [Cell],
}

impl<'a> Row<'a> {
    /// The cell of column `name` (the first of that name, any case).
    pub fn cell(&self, name: &str) -> Option<&'a Cell> {
        let i = self
            .columns
            .iter()
            .position(|c| c.name == name)
            .or_else(|| {
                self.columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(name))
            })?;
        self.cells.get(i)
    }

    /// Column `name` as a `T`: `row.get::<i64>("id")`, `row.get::<Option<String>>("slug")`.
    pub fn get<T: FromCell>(&self, name: &str) -> Result<T, crate::EngineError> {
        let cell = self.cell(name).ok_or_else(|| {
            crate::EngineError::Conversion(format!(
                "the result has no column {name}; it has {}",
                self.columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        T::from_cell(cell)
            .map_err(|m| crate::EngineError::Conversion(format!("column {name}: {m}")))
    }

    /// The cells, in column order.
    pub fn cells(&self) -> &'a [Cell] {
        self.cells
    }

    /// The row as a JSON object (column name → value; JSON columns as JSON).
    pub fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        for (c, cell) in self.columns.iter().zip(self.cells) {
            map.entry(c.name.clone()).or_insert_with(|| cell.to_json());
        }
        Value::Object(map)
    }
}

impl QueryResult {
    /// The rows, each with access by column name.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|r| Row {
            columns: &self.columns,
            cells: r,
        })
    }

    /// The rows as `T`s (`#[derive(Deserialize)]`), by column name: each row is read as a JSON
    /// object (JSON columns as JSON), so a field may be a `Vec<String>` for `regions`.
    pub fn deserialize<T: serde::de::DeserializeOwned>(
        &self,
    ) -> Result<Vec<T>, crate::EngineError> {
        self.iter()
            .enumerate()
            .map(|(i, row)| {
                serde_json::from_value(row.to_json())
                    .map_err(|e| crate::EngineError::Conversion(format!("row {}: {e}", i + 1)))
            })
            .collect()
    }
}
