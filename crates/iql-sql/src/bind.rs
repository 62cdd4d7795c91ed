//! Bind parameters: values given beside the SQL instead of inside it, so no caller needs `format!`
//! (and its quoting mistakes) to put a value into a statement.
//!
//! Positional: `$1`, `$2`, … (PostgreSQL's, what its drivers send), or `?` (each takes the next
//! value) and `?NNN`. Named: `:name` or `$name`. `@name` is not one: it is EXEC's parameter syntax.
//!
//! A value becomes one SQL literal in place of its placeholder before the statement is parsed: a
//! string is quoted (`'` doubled), a number written as a number, NULL as `NULL`. Placeholders are
//! found by the tokenizer, so a `$1` inside a string or a comment is left alone, and a value can
//! never become SQL: whatever it holds, it is one literal. The literal then means what a literal
//! means anywhere: a parameter sent to the API (`image_id = $1`) or a filter SQLite applies
//! (`name LIKE $2`).

use crate::dialect::IqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::SqlError;

/// A value for a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum BindValue {
    Null,
    Bool(bool),
    Integer(i64),
    Real(f64),
    /// Text; JSON objects and arrays are bound as their JSON text.
    Text(String),
}

impl BindValue {
    /// The value as a SQL literal.
    fn literal(&self) -> Result<String, String> {
        Ok(match self {
            BindValue::Null => "NULL".to_string(),
            BindValue::Bool(b) => b.to_string(),
            BindValue::Integer(i) => i.to_string(),
            // `{:?}` writes `1.0`, never `1`: the literal stays a real.
            BindValue::Real(f) if f.is_finite() => format!("{f:?}"),
            BindValue::Real(f) => {
                return Err(format!(
                    "{f} is not a number SQL can hold (NaN and infinities are not)"
                ))
            }
            BindValue::Text(s) => format!("'{}'", s.replace('\'', "''")),
        })
    }
}

/// The values a script is bound with.
#[derive(Debug, Clone, Copy)]
pub enum Params<'a> {
    /// `$1`, `$2`, …, or `?` in order.
    Positional(&'a [BindValue]),
    /// `:name` / `$name`.
    Named(&'a [(String, BindValue)]),
}

/// `script` with every placeholder replaced by its value's literal. An error names a placeholder
/// without a value, or values no placeholder uses.
pub fn bind(script: &str, params: Params<'_>) -> Result<String, SqlError> {
    let tokens = Tokenizer::new(&IqlDialect::default(), script)
        .tokenize_with_location()
        .map_err(|e| SqlError::from_parser(&e.to_string(), (1, 1)))?;
    let offsets = LineOffsets::new(script);
    // (start byte, end byte, literal)
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut used_positions = std::collections::BTreeSet::new();
    let mut used_names = std::collections::BTreeSet::new();
    let mut next_question = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let at = (t.span.start.line, t.span.start.column);
        let name: Option<(String, usize)> = match &t.token {
            Token::Placeholder(p) => Some((p.clone(), i + 1)),
            // `:name`, written together.
            Token::Colon => match tokens.get(i + 1) {
                Some(next)
                    if matches!(next.token, Token::Word(_))
                        && next.span.start.line == t.span.end.line
                        && next.span.start.column == t.span.end.column =>
                {
                    let Token::Word(w) = &next.token else {
                        unreachable!("matched above")
                    };
                    Some((format!(":{}", w.value), i + 2))
                }
                _ => None,
            },
            _ => None,
        };
        let Some((placeholder, after)) = name else {
            i += 1;
            continue;
        };
        let end_token = &tokens[after - 1];
        let value = match (params, placeholder.as_str()) {
            (Params::Positional(values), "?") => {
                next_question += 1;
                used_positions.insert(next_question);
                values.get(next_question - 1).ok_or_else(|| {
                    SqlError::new(
                        at.0,
                        at.1,
                        format!(
                            "no value for the {} ? ({} given)",
                            ordinal(next_question),
                            values.len()
                        ),
                    )
                })?
            }
            (Params::Positional(values), p)
                if (p.starts_with('$') || p.starts_with('?'))
                    && p.len() > 1
                    && p[1..].chars().all(|c| c.is_ascii_digit()) =>
            {
                let n: usize = p[1..].parse().unwrap_or(0);
                used_positions.insert(n);
                n.checked_sub(1)
                    .and_then(|k| values.get(k))
                    .ok_or_else(|| {
                        SqlError::new(
                            at.0,
                            at.1,
                            format!("no value for {p}: {} given ($1 is the first)", values.len()),
                        )
                    })?
            }
            (Params::Named(values), p) if p.starts_with(':') || p.starts_with('$') => {
                let key = &p[1..];
                used_names.insert(key.to_ascii_lowercase());
                values
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
                    .ok_or_else(|| {
                        SqlError::new(
                            at.0,
                            at.1,
                            format!(
                                "no value for {p}; values were given for: {}",
                                if values.is_empty() {
                                    "none".to_string()
                                } else {
                                    values
                                        .iter()
                                        .map(|(n, _)| n.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                }
                            ),
                        )
                    })?
            }
            (Params::Positional(_), p) => {
                return Err(SqlError::new(
                    at.0,
                    at.1,
                    format!(
                    "{p} is a named placeholder, but the values were given by position ($1, $2, …)"
                ),
                ))
            }
            (Params::Named(_), p) => {
                return Err(SqlError::new(
                    at.0,
                    at.1,
                    format!(
                    "{p} is a positional placeholder, but the values were given by name (:name)"
                ),
                ))
            }
        };
        let literal = value
            .literal()
            .map_err(|m| SqlError::new(at.0, at.1, format!("{placeholder}: {m}")))?;
        let start = offsets.byte(script, t.span.start.line, t.span.start.column);
        let end = offsets.byte(script, end_token.span.end.line, end_token.span.end.column);
        edits.push((start, end, literal));
        i = after;
    }
    match params {
        Params::Positional(values) => {
            let unused: Vec<String> = (1..=values.len())
                .filter(|n| !used_positions.contains(n))
                .map(|n| format!("${n}"))
                .collect();
            if !unused.is_empty() {
                return Err(SqlError::new(
                    1,
                    1,
                    format!(
                        "{} values were given but no placeholder takes {}",
                        values.len(),
                        unused.join(", ")
                    ),
                ));
            }
        }
        Params::Named(values) => {
            let unused: Vec<&str> = values
                .iter()
                .filter(|(n, _)| !used_names.contains(&n.to_ascii_lowercase()))
                .map(|(n, _)| n.as_str())
                .collect();
            if !unused.is_empty() {
                return Err(SqlError::new(
                    1,
                    1,
                    format!("no placeholder takes :{}", unused.join(", :")),
                ));
            }
        }
    }
    let mut out = String::with_capacity(script.len());
    let mut last = 0;
    for (start, end, literal) in edits {
        out.push_str(&script[last..start]);
        out.push_str(&literal);
        last = end;
    }
    out.push_str(&script[last..]);
    Ok(out)
}

/// The placeholders a script uses, in order of first appearance (`$1`, `:region`, `?`), for a
/// server describing a prepared statement.
pub fn placeholders(script: &str) -> Vec<String> {
    let Ok(tokens) = Tokenizer::new(&IqlDialect::default(), script).tokenize_with_location() else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let found = match &t.token {
            Token::Placeholder(p) => Some(p.clone()),
            Token::Colon => match tokens.get(i + 1).map(|n| (&n.token, n.span.start)) {
                Some((Token::Word(w), start))
                    if start.line == t.span.end.line && start.column == t.span.end.column =>
                {
                    Some(format!(":{}", w.value))
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(p) = found {
            if p == "?" || !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

fn ordinal(n: usize) -> String {
    match n {
        1 => "first".to_string(),
        2 => "second".to_string(),
        3 => "third".to_string(),
        n => format!("{n}th"),
    }
}

/// Byte offsets of line starts, to turn the tokenizer's (line, column) into byte positions.
struct LineOffsets(Vec<usize>);

impl LineOffsets {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                starts.push(i + 1);
            }
        }
        LineOffsets(starts)
    }

    /// Columns count characters.
    fn byte(&self, text: &str, line: u64, column: u64) -> usize {
        let Some(&start) = self.0.get(line.saturating_sub(1) as usize) else {
            return text.len();
        };
        let within: usize = text[start..]
            .chars()
            .take(column.saturating_sub(1) as usize)
            .map(char::len_utf8)
            .sum();
        start + within
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(sql: &str, values: &[BindValue]) -> Result<String, String> {
        bind(sql, Params::Positional(values)).map_err(|e| e.to_string())
    }

    #[test]
    fn values_become_one_literal_each() {
        let out = pos(
            "SELECT * FROM t WHERE a = $1 AND b = $2 AND c IS $3 AND d = $1 AND e = $4",
            &[
                BindValue::Text("it's; DROP VIEW x --".into()),
                BindValue::Integer(-7),
                BindValue::Null,
                BindValue::Real(1.5),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "SELECT * FROM t WHERE a = 'it''s; DROP VIEW x --' AND b = -7 AND c IS NULL AND d = 'it''s; DROP VIEW x --' AND e = 1.5"
        );
        // Question marks take the values in order; placeholders in strings and comments stay.
        let out = pos(
            "SELECT '$1', ? -- $2 ?\n, ?",
            &[BindValue::Bool(true), BindValue::Text("é".into())],
        )
        .unwrap();
        assert_eq!(out, "SELECT '$1', true -- $2 ?\n, 'é'");
    }

    #[test]
    fn named_values_and_mistakes() {
        let named = [("region".to_string(), BindValue::Text("nyc3".into()))];
        assert_eq!(
            bind("SELECT :region, $REGION", Params::Named(&named)).unwrap(),
            "SELECT 'nyc3', 'nyc3'"
        );
        let err = bind("SELECT :zone", Params::Named(&named)).unwrap_err();
        assert!(
            err.message
                .contains("no value for :zone; values were given for: region"),
            "{err}"
        );
        assert_eq!((err.line, err.column), (1, 8));
        assert!(pos("SELECT $2", &[BindValue::Null])
            .unwrap_err()
            .contains("no value for $2: 1 given"));
        assert!(pos("SELECT $1", &[BindValue::Null, BindValue::Null])
            .unwrap_err()
            .contains("no placeholder takes $2"));
        assert!(pos("SELECT :a", &[BindValue::Null])
            .unwrap_err()
            .contains("named placeholder"));
        assert!(pos("SELECT $1", &[BindValue::Real(f64::NAN)])
            .unwrap_err()
            .contains("not a number SQL can hold"));
        // EXEC's @name is not a placeholder.
        assert_eq!(
            pos("EXEC a.b.c.d @image_id = $1", &[BindValue::Integer(5)]).unwrap(),
            "EXEC a.b.c.d @image_id = 5"
        );
        assert_eq!(
            placeholders("SELECT $1, :a, ?, ?, $1"),
            ["$1", ":a", "?", "?"]
        );
    }
}
