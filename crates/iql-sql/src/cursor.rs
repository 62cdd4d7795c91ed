//! Server-side cursors: `DECLARE name CURSOR FOR SELECT …`, `FETCH [FORWARD] n FROM name`,
//! `MOVE`, `CLOSE`. What psycopg's named cursors and other drivers send to read a big result a
//! slice at a time; `iql serve` answers them from iql's streaming path, so a cursor over 100,000
//! images holds one page at a time. Cursors go forward only (`NO SCROLL`): a backward fetch is
//! an error that says so.

use sqlparser::ast;
use sqlparser::tokenizer::Token;

use crate::error::SqlError;
use crate::query::QueryStatement;
use crate::split::StatementText;

#[derive(Debug, Clone)]
pub enum CursorStatement {
    Declare {
        name: String,
        /// `WITH HOLD`: the cursor outlives the transaction.
        hold: bool,
        query: Box<QueryStatement>,
    },
    /// `FETCH` (rows back) or `MOVE` (rows skipped, a count back).
    Fetch {
        name: String,
        /// `None`: every row left (`ALL`).
        count: Option<u64>,
        moving: bool,
    },
    /// `CLOSE name`; `None` for `CLOSE ALL`.
    Close { name: Option<String> },
}

impl CursorStatement {
    pub fn tag(&self) -> &'static str {
        match self {
            CursorStatement::Declare { .. } => "DECLARE CURSOR",
            CursorStatement::Fetch { moving: false, .. } => "FETCH",
            CursorStatement::Fetch { moving: true, .. } => "MOVE",
            CursorStatement::Close { .. } => "CLOSE CURSOR",
        }
    }
}

pub(crate) fn parse_declare(
    statement: ast::Statement,
    source: &StatementText,
) -> Result<CursorStatement, SqlError> {
    let refuse = |m: &str| SqlError::new(source.line, source.column, m);
    let ast::Statement::Declare { mut stmts } = statement else {
        return Err(refuse("not a DECLARE statement"));
    };
    let (Some(d), true) = (stmts.pop(), stmts.is_empty()) else {
        return Err(refuse("DECLARE declares one cursor"));
    };
    if d.scroll == Some(true) {
        return Err(refuse(
            "iql's cursors go forward only: declare it NO SCROLL (or without SCROLL)",
        ));
    }
    if d.binary == Some(true) {
        return Err(refuse("BINARY cursors are not supported"));
    }
    let name = d
        .names
        .first()
        .map(|n| n.value.clone())
        .ok_or_else(|| refuse("DECLARE needs the cursor's name"))?;
    let query = d
        .for_query
        .ok_or_else(|| refuse("DECLARE name CURSOR FOR SELECT …: the query is missing"))?;
    Ok(CursorStatement::Declare {
        name,
        hold: d.hold == Some(true),
        query: Box::new(crate::query::from_query(query, source)?),
    })
}

/// `FETCH` / `MOVE` / `CLOSE`, from the tokens.
pub(crate) fn parse_other(source: &StatementText) -> Result<CursorStatement, SqlError> {
    let tokens: Vec<&sqlparser::tokenizer::TokenWithSpan> = source
        .tokens
        .iter()
        .filter(|t| {
            !matches!(
                t.token,
                Token::Whitespace(_) | Token::EOF | Token::SemiColon
            )
        })
        .collect();
    let error = |i: usize, m: &str| {
        let at = tokens
            .get(i)
            .or(tokens.last())
            .map(|t| (t.span.start.line, t.span.start.column))
            .unwrap_or((source.line, source.column));
        SqlError::new(at.0, at.1, m)
    };
    let word = |i: usize| match tokens.get(i).map(|t| &t.token) {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    };
    let name_at = |i: usize| -> Result<String, SqlError> {
        match tokens.get(i).map(|t| &t.token) {
            Some(Token::Word(w)) if i + 1 == tokens.len() => Ok(w.value.clone()),
            _ => Err(error(i, "expected the cursor's name, and nothing after it")),
        }
    };
    match word(0).as_deref() {
        Some("CLOSE") => Ok(CursorStatement::Close {
            name: match word(1).as_deref() {
                Some("ALL") if tokens.len() == 2 => None,
                _ => Some(name_at(1)?),
            },
        }),
        Some(verb @ ("FETCH" | "MOVE")) => {
            let moving = verb == "MOVE";
            let mut i = 1;
            let number = |i: usize| match tokens.get(i).map(|t| &t.token) {
                Some(Token::Number(n, _)) => n.parse::<i64>().ok(),
                _ => None,
            };
            let backward = || {
                Err(error(
                    1,
                    "iql's cursors go forward only: FETCH [FORWARD] n, NEXT or ALL",
                ))
            };
            let count = match word(i).as_deref() {
                Some("NEXT") => {
                    i += 1;
                    Some(1)
                }
                Some("ALL") => {
                    i += 1;
                    None
                }
                Some("FORWARD") => {
                    i += 1;
                    match (word(i).as_deref(), number(i)) {
                        (Some("ALL"), _) => {
                            i += 1;
                            None
                        }
                        (_, Some(n)) if n >= 0 => {
                            i += 1;
                            Some(n as u64)
                        }
                        (_, Some(_)) => return backward(),
                        _ => Some(1),
                    }
                }
                Some("PRIOR" | "FIRST" | "LAST" | "ABSOLUTE" | "RELATIVE" | "BACKWARD") => {
                    return backward()
                }
                _ => match number(i) {
                    Some(n) if n >= 0 => {
                        i += 1;
                        Some(n as u64)
                    }
                    Some(_) => return backward(),
                    None => Some(1),
                },
            };
            if matches!(word(i).as_deref(), Some("FROM" | "IN")) {
                i += 1;
            }
            Ok(CursorStatement::Fetch {
                name: name_at(i)?,
                count,
                moving,
            })
        }
        _ => Err(error(0, "not a cursor statement")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(sql: &str) -> Result<CursorStatement, String> {
        match crate::parse_script(sql) {
            Ok(mut p) => match p.pop().map(|p| p.statement) {
                Some(crate::Statement::Cursor(c)) => Ok(c),
                other => Err(format!("{other:?}")),
            },
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn what_drivers_send() {
        let Ok(CursorStatement::Declare { name, hold, query }) = cursor(
            "DECLARE \"c_1\" NO SCROLL CURSOR WITHOUT HOLD FOR SELECT id FROM digitalocean.compute.images",
        ) else {
            panic!()
        };
        assert_eq!((name.as_str(), hold, query.tables.len()), ("c_1", false, 1));
        let fetch = |sql: &str| match cursor(sql) {
            Ok(CursorStatement::Fetch {
                name,
                count,
                moving,
            }) => (name, count, moving),
            other => panic!("{sql}: {other:?}"),
        };
        assert_eq!(
            fetch("FETCH FORWARD 2000 FROM \"c_1\""),
            ("c_1".into(), Some(2000), false)
        );
        assert_eq!(fetch("FETCH 10 IN c"), ("c".into(), Some(10), false));
        assert_eq!(fetch("FETCH ALL FROM c"), ("c".into(), None, false));
        assert_eq!(fetch("FETCH c"), ("c".into(), Some(1), false));
        assert_eq!(fetch("MOVE FORWARD 5 IN c"), ("c".into(), Some(5), true));
        assert!(matches!(
            cursor("CLOSE ALL"),
            Ok(CursorStatement::Close { name: None })
        ));
        assert!(cursor("FETCH BACKWARD 1 FROM c")
            .unwrap_err()
            .contains("forward only"));
        assert!(cursor("DECLARE c SCROLL CURSOR FOR SELECT 1")
            .unwrap_err()
            .contains("forward only"));
    }
}
