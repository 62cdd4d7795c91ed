//! The type of a computed column, read from its expression: what a PostgreSQL client is told
//! before the statement runs. SQLite declares no type for `count(*)` or `name LIKE 'a%'`, so
//! without this every computed column would be described as text, and a driver that decodes by
//! the description (asyncpg's `fetchval("SELECT count(*) …")`) would hand back the string `'60'`.
//!
//! Only what the expression settles is typed (a count, a comparison, a cast, a literal, a date
//! function); anything else (`max(x)` of a column) is left to the column's values.

use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    ObjectNamePart, Query, SelectItem, SetExpr, UnaryOperator, Value,
};

/// What an expression gives, as far as its form tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpressionType {
    Integer,
    Real,
    Boolean,
    Text,
    Timestamp,
}

/// One entry per column of the outermost SELECT; none when its columns cannot be told from the
/// text (`*`).
pub(crate) fn projection_types(query: &Query) -> Vec<Option<ExpressionType>> {
    let mut body = query.body.as_ref();
    loop {
        match body {
            SetExpr::Select(select) => {
                let mut out = Vec::new();
                for item in &select.projection {
                    match item {
                        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                            out.push(type_of(e))
                        }
                        _ => return Vec::new(),
                    }
                }
                return out;
            }
            SetExpr::Query(q) => body = q.body.as_ref(),
            SetExpr::SetOperation { left, .. } => body = left.as_ref(),
            _ => return Vec::new(),
        }
    }
}

/// The functions whose value is their first argument's, so of its type: `max(created_at)` is a
/// date-time as `created_at` is. SQLite declares no type for a function's column; a copy of the
/// query with each such call replaced by that argument lets SQLite say the column's type.
const TYPE_OF_FIRST_ARGUMENT: &[&str] = &[
    "max",
    "min",
    "any_value",
    "coalesce",
    "ifnull",
    "nullif",
    "first_value",
    "last_value",
];

/// The query with each outermost column that is a call of [`TYPE_OF_FIRST_ARGUMENT`] replaced by
/// its first argument (alias kept), when there is one; `None` when no column is such a call.
/// Only calls whose other arguments are literals are replaced, so the copy names the same
/// tables and subqueries in the same order as the query.
pub(crate) fn argument_probe(query: &Query) -> Option<Query> {
    let mut probe = query.clone();
    let mut body = probe.body.as_mut();
    loop {
        match body {
            SetExpr::Select(select) => {
                let mut changed = false;
                for item in &mut select.projection {
                    let expr = match item {
                        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                        _ => continue,
                    };
                    if let Some(first) = first_argument(expr) {
                        *expr = first;
                        changed = true;
                    }
                }
                return changed.then_some(probe);
            }
            SetExpr::Query(q) => body = q.body.as_mut(),
            SetExpr::SetOperation { left, .. } => body = left.as_mut(),
            _ => return None,
        }
    }
}

fn first_argument(e: &Expr) -> Option<Expr> {
    let name = function_name(e)?;
    if !TYPE_OF_FIRST_ARGUMENT.contains(&name.as_str()) {
        return None;
    }
    let Expr::Function(f) = e else { return None };
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    if f.over.is_some() && !name.ends_with("_value") {
        return None;
    }
    let mut args = list.args.iter().map(|a| match a {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
        _ => None,
    });
    let first = args.next()??.clone();
    args.all(|a| matches!(a, Some(Expr::Value(_))))
        .then_some(first)
}

fn function_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(ObjectNamePart::as_ident)
            .map(|i| i.value.to_lowercase()),
        _ => None,
    }
}

fn type_of(e: &Expr) -> Option<ExpressionType> {
    use ExpressionType as T;
    Some(match e {
        Expr::Nested(inner) => return type_of(inner),
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) if n.parse::<i64>().is_ok() => T::Integer,
            Value::Number(..) => T::Real,
            Value::SingleQuotedString(_) => T::Text,
            Value::Boolean(_) => T::Boolean,
            _ => return None,
        },
        Expr::Cast {
            kind: CastKind::Cast,
            data_type: DataType::Text,
            ..
        } => T::Text,
        Expr::BinaryOp { op, left, right } => match op {
            BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq
            | BinaryOperator::And
            | BinaryOperator::Or => T::Boolean,
            BinaryOperator::StringConcat => T::Text,
            BinaryOperator::Plus
            | BinaryOperator::Minus
            | BinaryOperator::Multiply
            | BinaryOperator::Modulo => match (type_of(left)?, type_of(right)?) {
                (T::Integer, T::Integer) => T::Integer,
                (T::Integer | T::Real, T::Integer | T::Real) => T::Real,
                _ => return None,
            },
            _ => return None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            ..
        }
        | Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..)
        | Expr::Like { .. }
        | Expr::InList { .. }
        | Expr::InSubquery { .. }
        | Expr::Between { .. }
        | Expr::Exists { .. } => T::Boolean,
        Expr::Function(f) => {
            let name = function_name(e)?;
            let counts = matches!(f.args, FunctionArguments::List(_) | FunctionArguments::None);
            match name.as_str() {
                "count" if counts => T::Integer,
                "iql_pg_integer" | "length" | "octet_length" | "instr" | "unicode"
                | "json_array_length" | "array_length" | "array_upper" | "array_lower"
                | "cardinality" | "pg_backend_pid" | "random" | "changes" => T::Integer,
                "iql_pg_real" | "avg" => T::Real,
                "iql_pg_boolean"
                | "iql_pg_regex"
                | "pg_table_is_visible"
                | "has_table_privilege"
                | "pg_is_in_recovery" => T::Boolean,
                "iql_pg_timestamp"
                | "now"
                | "date_trunc"
                | "to_timestamp"
                | "iql_pg_add_interval"
                | "statement_timestamp"
                | "transaction_timestamp"
                | "clock_timestamp" => T::Timestamp,
                "lower" | "upper" | "trim" | "ltrim" | "rtrim" | "replace" | "substr"
                | "substring" | "group_concat" | "string_agg" | "version" | "current_database"
                | "current_user" | "session_user" | "current_schema" | "current_setting"
                | "quote_ident" | "format_type" | "iql_pg_date" | "typeof" | "pg_typeof"
                | "printf" | "format" | "hex" => T::Text,
                _ => return None,
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(sql: &str) -> Vec<Option<ExpressionType>> {
        let mut statements =
            sqlparser::parser::Parser::parse_sql(&crate::IqlDialect::default(), sql)
                .expect("parses");
        let Some(sqlparser::ast::Statement::Query(q)) = statements.pop() else {
            panic!("not a query")
        };
        projection_types(&q)
    }

    #[test]
    fn what_the_expression_settles_is_typed() {
        use ExpressionType as T;
        assert_eq!(
            types(
                "SELECT count(*), name LIKE 'a%', 1 + 2, 1.5 * 2, lower(name), now(), max(x), name"
            ),
            [
                Some(T::Integer),
                Some(T::Boolean),
                Some(T::Integer),
                Some(T::Real),
                Some(T::Text),
                Some(T::Timestamp),
                None,
                None
            ]
        );
        assert!(types("SELECT * FROM t").is_empty());
    }

    #[test]
    fn a_column_whose_value_is_an_argument_is_probed_as_that_argument() {
        let parse = |sql: &str| {
            let mut statements =
                sqlparser::parser::Parser::parse_sql(&crate::IqlDialect::default(), sql)
                    .expect("parses");
            let Some(sqlparser::ast::Statement::Query(q)) = statements.pop() else {
                panic!("not a query")
            };
            q
        };
        let probe = argument_probe(&parse(
            "SELECT max(created_at) AS latest, coalesce(name, 'x'), count(*) FROM t GROUP BY region",
        ))
        .expect("a probe");
        assert_eq!(
            probe.to_string(),
            "SELECT created_at AS latest, name, count(*) FROM t GROUP BY region"
        );
        assert!(argument_probe(&parse("SELECT coalesce(a, (SELECT b FROM u)) FROM t")).is_none());
        assert!(argument_probe(&parse("SELECT name, count(*) FROM t")).is_none());
    }
}
