//! Rows between iql and PostgreSQL: a materialized view's columns get real types (bigint, double
//! precision, boolean, text, jsonb), so the tools that read the table directly sort and sum them
//! as numbers, and rows come back as the cells they went in as.
//!
//! A column's type is the one iql gave it when every value fits; SQLite lets a column hold
//! values of several kinds, and such a column becomes jsonb, which holds any of them, rather
//! than lose one.

use iql_engine::{Cell, ColumnType, ResultColumn};
use postgres::types::{ToSql, Type};

/// The PostgreSQL type of result column `index`, from its declared type and its values.
pub fn column_type(column: &ResultColumn, rows: &[Vec<Cell>], index: usize) -> Type {
    let values = || {
        rows.iter()
            .filter_map(|r| r.get(index))
            .filter(|c| !matches!(c, Cell::Null))
    };
    let all = |ok: &dyn Fn(&Cell) -> bool| values().all(ok);
    let integers = || all(&|c| matches!(c, Cell::Integer(_)));
    let numbers = || all(&|c| matches!(c, Cell::Integer(_) | Cell::Real(_)));
    let booleans = || all(&|c| matches!(c, Cell::Bool(_) | Cell::Integer(0) | Cell::Integer(1)));
    let texts = || all(&|c| matches!(c, Cell::Text(_)));
    match column.column_type {
        ColumnType::Json => Type::JSONB,
        ColumnType::Integer if integers() => Type::INT8,
        ColumnType::Integer | ColumnType::Real if numbers() => Type::FLOAT8,
        ColumnType::Boolean if booleans() => Type::BOOL,
        ColumnType::Text if texts() => Type::TEXT,
        ColumnType::Any if values().next().is_none() => Type::TEXT,
        ColumnType::Any if all(&|c| matches!(c, Cell::Bool(_))) => Type::BOOL,
        ColumnType::Any if integers() => Type::INT8,
        ColumnType::Any if numbers() => Type::FLOAT8,
        ColumnType::Any if texts() => Type::TEXT,
        _ => Type::JSONB,
    }
}

/// The SQL name of a type [`column_type`] gives.
pub fn type_name(t: &Type) -> &'static str {
    match *t {
        Type::INT8 => "bigint",
        Type::FLOAT8 => "double precision",
        Type::BOOL => "boolean",
        Type::TEXT => "text",
        _ => "jsonb",
    }
}

/// A cell as a value of type `t` (chosen by [`column_type`], so it fits).
pub fn to_sql(cell: &Cell, t: &Type) -> Box<dyn ToSql + Sync + Send> {
    match (t, cell) {
        (_, Cell::Null) => match *t {
            Type::INT8 => Box::new(None::<i64>),
            Type::FLOAT8 => Box::new(None::<f64>),
            Type::BOOL => Box::new(None::<bool>),
            Type::TEXT => Box::new(None::<String>),
            _ => Box::new(None::<serde_json::Value>),
        },
        (&Type::INT8, Cell::Integer(i)) => Box::new(*i),
        (&Type::FLOAT8, Cell::Integer(i)) => Box::new(*i as f64),
        (&Type::FLOAT8, Cell::Real(f)) => Box::new(*f),
        (&Type::BOOL, Cell::Bool(b)) => Box::new(*b),
        (&Type::BOOL, Cell::Integer(i)) => Box::new(*i != 0),
        (&Type::TEXT, Cell::Text(s)) => Box::new(s.clone()),
        (_, Cell::Json(v)) => Box::new(v.clone()),
        (_, other) => Box::new(other.to_json()),
    }
}

/// What iql calls a column of PostgreSQL type `t`.
pub fn column_type_of(t: &Type) -> ColumnType {
    match *t {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => ColumnType::Integer,
        Type::FLOAT4 | Type::FLOAT8 => ColumnType::Real,
        Type::BOOL => ColumnType::Boolean,
        Type::JSON | Type::JSONB => ColumnType::Json,
        _ => ColumnType::Text,
    }
}

/// Cell `i` of a row read back.
pub fn cell(row: &postgres::Row, i: usize) -> Result<Cell, postgres::Error> {
    let t = row.columns()[i].type_().clone();
    Ok(match t {
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)?
            .map(|v| Cell::Integer(v.into())),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)?
            .map(|v| Cell::Integer(v.into())),
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Cell::Integer),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)?
            .map(|v| Cell::Real(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Cell::Real),
        Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(Cell::Bool),
        Type::JSON | Type::JSONB => {
            row.try_get::<_, Option<serde_json::Value>>(i)?
                .map(|v| match v {
                    serde_json::Value::String(s) => Cell::Text(s),
                    serde_json::Value::Bool(b) => Cell::Bool(b),
                    serde_json::Value::Number(n) => match n.as_i64() {
                        Some(i) => Cell::Integer(i),
                        None => n.as_f64().map(Cell::Real).unwrap_or(Cell::Null),
                    },
                    serde_json::Value::Null => Cell::Null,
                    other => Cell::Json(other),
                })
        }
        _ => row.try_get::<_, Option<String>>(i)?.map(Cell::Text),
    }
    .unwrap_or(Cell::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(t: ColumnType) -> ResultColumn {
        ResultColumn {
            name: "c".into(),
            column_type: t,
        }
    }

    #[test]
    fn a_column_keeps_its_type_while_every_value_fits() {
        let rows = |cells: Vec<Cell>| cells.into_iter().map(|c| vec![c]).collect::<Vec<_>>();
        let ints = rows(vec![Cell::Integer(1), Cell::Null]);
        assert_eq!(column_type(&col(ColumnType::Integer), &ints, 0), Type::INT8);
        let mixed = rows(vec![Cell::Integer(1), Cell::Real(1.5)]);
        assert_eq!(
            column_type(&col(ColumnType::Integer), &mixed, 0),
            Type::FLOAT8
        );
        let bools = rows(vec![Cell::Integer(0), Cell::Bool(true)]);
        assert_eq!(
            column_type(&col(ColumnType::Boolean), &bools, 0),
            Type::BOOL
        );
        let odd = rows(vec![Cell::Text("x".into()), Cell::Integer(2)]);
        assert_eq!(column_type(&col(ColumnType::Text), &odd, 0), Type::JSONB);
        assert_eq!(column_type(&col(ColumnType::Any), &odd, 0), Type::JSONB);
        assert_eq!(column_type(&col(ColumnType::Any), &[], 0), Type::TEXT);
        assert_eq!(column_type(&col(ColumnType::Json), &ints, 0), Type::JSONB);
    }
}
