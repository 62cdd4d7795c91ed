//! Statements SQLite runs but that cannot mean what their writer meant. SQLite forgives a great
//! deal: `ORDER BY 'name'` sorts by a constant (the rows stay in whatever order they came),
//! `GROUP BY 'status'` makes one group of everything, `name + ' x64'` adds two numbers (0). Each
//! answers a plausible result with exit 0; PostgreSQL refuses all three, and so does iql, saying
//! what to write instead. Comparisons of a column with a string it can never equal (a boolean
//! with `'true'`, a number with `'abc'`) need the columns' types, so they are collected here
//! ([`literal_comparisons`]) and judged by the engine, which knows them.

use std::ops::ControlFlow;

use sqlparser::ast::{
    self, BinaryOperator, Expr, GroupByExpr, OrderByKind, Query, SetExpr, Value, Visit, Visitor,
};

use crate::error::SqlError;
use crate::split::StatementText;

/// Refuses what cannot mean what was written, at the position it was written.
pub(crate) fn check(query: &Query, source: &StatementText) -> Result<(), SqlError> {
    let mut finder = Finder {
        source,
        found: None,
    };
    let _ = query.visit(&mut finder);
    match finder.found {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

struct Finder<'a> {
    source: &'a StatementText,
    found: Option<SqlError>,
}

impl Finder<'_> {
    fn refuse(&mut self, at: &Expr, message: String) -> ControlFlow<()> {
        let span = ast::Spanned::span(at);
        let (line, column) = if span.start.line == 0 {
            (self.source.line, self.source.column)
        } else {
            (span.start.line, span.start.column)
        };
        self.found = Some(SqlError::new(line, column, message));
        ControlFlow::Break(())
    }
}

/// The text of a single-quoted string literal.
fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s),
            _ => None,
        },
        Expr::Nested(inner) => string_literal(inner),
        _ => None,
    }
}

impl Visitor for Finder<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some(OrderByKind::Expressions(items)) = q.order_by.as_ref().map(|o| &o.kind) {
            for item in items {
                if let Some(text) = string_literal(&item.expr) {
                    return self.refuse(
                        &item.expr,
                        format!("ORDER BY '{text}' sorts by a constant string, not by a column: write ORDER BY {} (double quotes, or none, name a column)", name_for(text)),
                    );
                }
            }
        }
        if let SetExpr::Select(select) = q.body.as_ref() {
            if let GroupByExpr::Expressions(items, _) = &select.group_by {
                for item in items {
                    if let Some(text) = string_literal(item) {
                        return self.refuse(
                            item,
                            format!("GROUP BY '{text}' groups every row into one, by a constant string: write GROUP BY {} (double quotes, or none, name a column)", name_for(text)),
                        );
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if let Expr::BinaryOp {
            left,
            op:
                op @ (BinaryOperator::Plus
                | BinaryOperator::Minus
                | BinaryOperator::Multiply
                | BinaryOperator::Divide
                | BinaryOperator::Modulo),
            right,
        } = e
        {
            for side in [left, right] {
                if let Some(text) = string_literal(side).filter(|t| !is_number(t)) {
                    let hint = if matches!(op, BinaryOperator::Plus) {
                        "; strings are joined with ||"
                    } else {
                        ""
                    };
                    return self.refuse(
                        side,
                        format!("'{text}' is not a number, so {op} cannot use it (SQLite would count it as 0){hint}"),
                    );
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// How to write `text` as a column name.
fn name_for(text: &str) -> String {
    let plain = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        text.to_string()
    } else {
        format!("\"{}\"", text.replace('"', "\"\""))
    }
}

/// Whether SQLite reads `text` as a number in arithmetic (so `'5' + 1` is 6, as in PostgreSQL).
fn is_number(text: &str) -> bool {
    text.trim().parse::<f64>().is_ok()
}

/// `column <op> 'text'` (or `'text' <op> column`, `column IN ('a', …)`, `column BETWEEN 'a' AND
/// …`) somewhere in a query: a comparison the engine checks against the column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteralComparison {
    /// The table alias written before the column, if any.
    pub qualifier: Option<String>,
    pub column: String,
    pub text: String,
    pub line: u64,
    pub column_at: u64,
}

/// Every comparison of a column with a string literal in `query`.
pub(crate) fn literal_comparisons(query: &Query) -> Vec<LiteralComparison> {
    let mut out = Vec::new();
    let _ = ast::visit_expressions(query, |e| {
        let mut push = |col: &Expr, lit: &Expr| {
            let (Some((qualifier, column)), Some(text)) = (column_of(col), string_literal(lit))
            else {
                return;
            };
            let at = ast::Spanned::span(lit).start;
            out.push(LiteralComparison {
                qualifier,
                column,
                text: text.to_string(),
                line: at.line,
                column_at: at.column,
            });
        };
        match e {
            Expr::BinaryOp {
                left,
                op:
                    BinaryOperator::Eq
                    | BinaryOperator::NotEq
                    | BinaryOperator::Lt
                    | BinaryOperator::LtEq
                    | BinaryOperator::Gt
                    | BinaryOperator::GtEq,
                right,
            } => {
                push(left, right);
                push(right, left);
            }
            Expr::InList { expr, list, .. } => {
                for item in list {
                    push(expr, item);
                }
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                push(expr, low);
                push(expr, high);
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

fn column_of(e: &Expr) -> Option<(Option<String>, String)> {
    match e {
        Expr::Identifier(i) => Some((None, i.value.clone())),
        Expr::CompoundIdentifier(parts) => {
            let (last, rest) = parts.split_last()?;
            Some((rest.last().map(|i| i.value.clone()), last.value.clone()))
        }
        Expr::Nested(inner) => column_of(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(sql: &str) -> Result<(), SqlError> {
        let texts = crate::split::split_statements(sql).expect("splits");
        let statements = crate::limits::parse_tokens(&texts[0].tokens).expect("parses");
        let ast::Statement::Query(q) = &statements[0] else {
            panic!("a query")
        };
        check(q, &texts[0])
    }

    #[test]
    fn constants_that_sort_or_group_nothing_are_refused() {
        let e = checked("SELECT name FROM t\nORDER BY 'name'").unwrap_err();
        assert_eq!((e.line, e.column), (2, 10));
        assert!(e.message.contains("write ORDER BY name"), "{}", e.message);
        let e = checked("SELECT count(*) FROM t GROUP BY 'size gb'").unwrap_err();
        assert!(e.message.contains("GROUP BY \"size gb\""), "{}", e.message);
        assert!(checked("SELECT name FROM t ORDER BY 1, name").is_ok());
        // Inside a subquery too.
        assert!(checked("SELECT * FROM (SELECT a FROM t ORDER BY 'a')").is_err());
    }

    #[test]
    fn arithmetic_on_words_is_refused_and_on_numbers_kept() {
        let e = checked("SELECT name + ' x64' FROM t").unwrap_err();
        assert!(e.message.contains("joined with ||"), "{}", e.message);
        assert!(checked("SELECT size * 'two' FROM t").is_err());
        assert!(checked("SELECT '5' + 1, size * 2 FROM t").is_ok());
    }

    #[test]
    fn comparisons_with_strings_are_listed_with_their_positions() {
        let texts = crate::split::split_statements(
            "SELECT 1 FROM t i WHERE i.public = 'true' AND 'x' <> size AND name IN ('a', 'b')",
        )
        .expect("splits");
        let statements = crate::limits::parse_tokens(&texts[0].tokens).expect("parses");
        let ast::Statement::Query(q) = &statements[0] else {
            panic!("a query")
        };
        let found = literal_comparisons(q);
        let brief: Vec<(Option<&str>, &str, &str)> = found
            .iter()
            .map(|c| (c.qualifier.as_deref(), c.column.as_str(), c.text.as_str()))
            .collect();
        assert_eq!(
            brief,
            vec![
                (Some("i"), "public", "true"),
                (None, "size", "x"),
                (None, "name", "a"),
                (None, "name", "b"),
            ]
        );
        assert_eq!((found[0].line, found[0].column_at), (1, 36));
    }
}
