//! The statements PostgreSQL's clients send about the session rather than data: `SET`, `RESET`,
//! `SHOW setting`, and the transaction statements (`BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`,
//! `RELEASE`, `ROLLBACK TO`), `DISCARD`, `DEALLOCATE`. Drivers send them on their own (psycopg
//! wraps every statement in `BEGIN`, SQLAlchemy asks `SHOW TRANSACTION ISOLATION LEVEL`, pgcli
//! `SHOW TIME ZONE`); they are read here from the tokens, the same way in every way in.
//!
//! StackQL's `SHOW SERVICES`/`RESOURCES`/… stay meta statements (`meta`): a `SHOW` of anything
//! else is a setting.

use sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::SqlError;
use crate::split::StatementText;

#[derive(Debug, Clone, PartialEq)]
pub enum SessionStatement {
    /// `SET [SESSION | LOCAL] name { TO | = } value` (`None`: `DEFAULT`); `SET TIME ZONE …` is
    /// `timezone`, `SET SESSION CHARACTERISTICS AS TRANSACTION …` and `SET TRANSACTION …` set
    /// `transaction_isolation`.
    Set {
        name: String,
        value: Option<String>,
    },
    /// `RESET name` (`None`: `RESET ALL`).
    Reset(Option<String>),
    /// `SHOW name`, `SHOW ALL` (`all`), `SHOW TIME ZONE`, `SHOW TRANSACTION ISOLATION LEVEL`.
    Show(String),
    Begin,
    Commit,
    Rollback,
    Savepoint(String),
    Release(String),
    RollbackTo(String),
    /// `DISCARD ALL | PLANS | …`.
    Discard,
    /// `DEALLOCATE [PREPARE] name | ALL` (`None`).
    Deallocate(Option<String>),
    /// `PREPARE name [(types)] AS statement`: the statement's text, with its `$1`, `$2`, ….
    Prepare {
        name: String,
        text: String,
    },
    /// `EXECUTE name [(values)]`: the values are literals.
    Execute {
        name: String,
        values: Vec<crate::BindValue>,
    },
}

impl SessionStatement {
    /// The command tag PostgreSQL answers with.
    pub fn tag(&self) -> &'static str {
        match self {
            SessionStatement::Set { .. } => "SET",
            SessionStatement::Reset(_) => "RESET",
            SessionStatement::Show(_) => "SHOW",
            SessionStatement::Begin => "BEGIN",
            SessionStatement::Commit => "COMMIT",
            SessionStatement::Rollback | SessionStatement::RollbackTo(_) => "ROLLBACK",
            SessionStatement::Savepoint(_) => "SAVEPOINT",
            SessionStatement::Release(_) => "RELEASE",
            SessionStatement::Discard => "DISCARD ALL",
            SessionStatement::Deallocate(_) => "DEALLOCATE",
            SessionStatement::Prepare { .. } => "PREPARE",
            SessionStatement::Execute { .. } => "EXECUTE",
        }
    }
}

/// Words that begin a session statement.
pub(crate) fn starts_session_statement(word: &str) -> bool {
    matches!(
        word,
        "SET"
            | "RESET"
            | "BEGIN"
            | "START"
            | "COMMIT"
            | "END"
            | "ROLLBACK"
            | "ABORT"
            | "SAVEPOINT"
            | "RELEASE"
            | "DISCARD"
            | "DEALLOCATE"
            | "PREPARE"
    )
}

/// `EXECUTE name [(…)]`, PostgreSQL's, rather than StackQL's `EXECUTE provider.service.resource.
/// method @param=…`: the name is one word.
pub(crate) fn is_execute_prepared(source: &StatementText) -> bool {
    let tokens = meaningful(source);
    matches!(tokens.first().map(|t| &t.token), Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("EXECUTE"))
        && matches!(tokens.get(1).map(|t| &t.token), Some(Token::Word(_)))
        && matches!(tokens.get(2).map(|t| &t.token), None | Some(Token::LParen))
}

/// StackQL's `SHOW` kinds; a `SHOW` of another word is a setting.
pub(crate) fn is_setting_show(source: &StatementText) -> bool {
    let words = words(source);
    match words.as_slice() {
        [show, rest @ ..] if show.eq_ignore_ascii_case("SHOW") => {
            let next = rest
                .iter()
                .find(|w| !w.eq_ignore_ascii_case("EXTENDED"))
                .map(|w| w.to_ascii_uppercase());
            !matches!(
                next.as_deref(),
                Some("PROVIDERS" | "SERVICES" | "RESOURCES" | "METHODS" | "VIEWS")
            )
        }
        _ => false,
    }
}

fn meaningful(source: &StatementText) -> Vec<&TokenWithSpan> {
    source
        .tokens
        .iter()
        .filter(|t| {
            !matches!(
                t.token,
                Token::Whitespace(_) | Token::EOF | Token::SemiColon
            )
        })
        .collect()
}

fn words(source: &StatementText) -> Vec<String> {
    meaningful(source)
        .iter()
        .filter_map(|t| match &t.token {
            Token::Word(w) => Some(w.value.clone()),
            _ => None,
        })
        .collect()
}

/// A token as a setting's value: a string without its quotes, a name or a number as written.
fn value_text(t: &Token) -> String {
    match t {
        Token::SingleQuotedString(s)
        | Token::DoubleQuotedString(s)
        | Token::EscapedStringLiteral(s) => s.clone(),
        Token::Word(w) => w.value.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn parse(source: &StatementText) -> Result<SessionStatement, SqlError> {
    let tokens = meaningful(source);
    let upper: Vec<String> = tokens
        .iter()
        .map(|t| match &t.token {
            Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
            other => other.to_string(),
        })
        .collect();
    let at = |i: usize| {
        tokens
            .get(i)
            .or(tokens.last())
            .map(|t| (t.span.start.line, t.span.start.column))
            .unwrap_or((source.line, source.column))
    };
    let error = |i: usize, message: &str| {
        let (line, column) = at(i);
        SqlError::new(line, column, message)
    };
    let word = |i: usize| upper.get(i).map(String::as_str);
    // A dotted name: `search_path`, `iql.max_pages`; and the index after it.
    let name_at = |from: usize| -> (String, usize) {
        let mut name = String::new();
        let mut i = from;
        while let Some(Token::Word(w)) = tokens.get(i).map(|t| &t.token) {
            name.push_str(&w.value.to_lowercase());
            i += 1;
            if tokens.get(i).map(|t| &t.token) != Some(&Token::Period) {
                break;
            }
            name.push('.');
            i += 1;
        }
        (name, i)
    };
    let name_after = |i: usize| -> Result<String, SqlError> {
        match tokens.get(i).map(|t| &t.token) {
            Some(Token::Word(w)) if i + 1 == tokens.len() => Ok(w.value.clone()),
            _ => Err(error(i, "expected a name")),
        }
    };
    Ok(match word(0) {
        Some("SHOW") => match (word(1), word(2), word(3)) {
            (Some("TIME"), Some("ZONE"), None) => SessionStatement::Show("timezone".into()),
            (Some("TRANSACTION"), Some("ISOLATION"), Some("LEVEL")) => {
                SessionStatement::Show("transaction_isolation".into())
            }
            (Some("SESSION"), Some("AUTHORIZATION"), None) => {
                SessionStatement::Show("session_authorization".into())
            }
            (Some("TABLES" | "SCHEMAS" | "DATABASES" | "COLUMNS"), _, _) => {
                return Err(error(1, "expected PROVIDERS, SERVICES, RESOURCES, METHODS or VIEWS after SHOW (SHOW RESOURCES IN digitalocean.compute lists its tables; DESCRIBE a table for its columns), or a setting's name (SHOW search_path)"));
            }
            (Some(_), _, _) => {
                let (name, end) = name_at(1);
                if name.is_empty() || end != tokens.len() {
                    return Err(error(end.max(1), "SHOW takes one setting's name (SHOW search_path, SHOW ALL), or PROVIDERS, SERVICES, RESOURCES, METHODS or VIEWS"));
                }
                SessionStatement::Show(name)
            }
            (None, _, _) => return Err(error(1, "SHOW what? a setting's name (SHOW search_path, SHOW ALL), or PROVIDERS, SERVICES, RESOURCES, METHODS or VIEWS")),
        },
        Some("SET") => {
            let mut i = 1;
            if matches!(word(i), Some("SESSION" | "LOCAL")) && word(i + 1) != Some("AUTHORIZATION")
            {
                i += 1;
            }
            if word(i) == Some("CHARACTERISTICS") || word(i) == Some("TRANSACTION") {
                // `SET [SESSION CHARACTERISTICS AS] TRANSACTION ISOLATION LEVEL x [READ …]`
                let level = upper.iter().position(|w| w == "LEVEL").map(|p| {
                    let words = match upper.get(p + 1).map(String::as_str) {
                        Some("READ" | "REPEATABLE") => 2,
                        _ => 1,
                    };
                    upper[p + 1..]
                        .iter()
                        .take(words)
                        .map(|w| w.to_lowercase())
                        .collect::<Vec<_>>()
                        .join(" ")
                });
                return Ok(SessionStatement::Set {
                    name: "transaction_isolation".into(),
                    value: Some(level.unwrap_or_else(|| "read committed".into())),
                });
            }
            if word(i) == Some("TIME") && word(i + 1) == Some("ZONE") {
                let value: Vec<String> = tokens[i + 2..].iter().map(|t| value_text(&t.token)).collect();
                return Ok(SessionStatement::Set {
                    name: "timezone".into(),
                    value: match value.join(" ").as_str() {
                        "" => return Err(error(i + 2, "SET TIME ZONE needs a zone ('UTC')")),
                        v if v.eq_ignore_ascii_case("DEFAULT") || v.eq_ignore_ascii_case("LOCAL") => None,
                        v => Some(v.to_string()),
                    },
                });
            }
            if word(i) == Some("NAMES") {
                let value = tokens.get(i + 1).map(|t| value_text(&t.token));
                return Ok(SessionStatement::Set {
                    name: "client_encoding".into(),
                    value,
                });
            }
            if word(i) == Some("SESSION") && word(i + 1) == Some("AUTHORIZATION") {
                let value = tokens.get(i + 2).map(|t| value_text(&t.token));
                return Ok(SessionStatement::Set {
                    name: "session_authorization".into(),
                    value,
                });
            }
            let (name, mut j) = name_at(i);
            if name.is_empty() {
                return Err(error(i, "SET needs a setting's name: SET name TO value"));
            }
            match tokens.get(j).map(|t| &t.token) {
                Some(Token::Eq) => j += 1,
                Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("TO") => j += 1,
                _ => return Err(error(j, "expected TO or = after the setting's name")),
            }
            let rest = &tokens[j.min(tokens.len())..];
            if rest.is_empty() {
                return Err(error(j, "SET needs a value: SET name TO value (or DEFAULT)"));
            }
            let values: Vec<String> = rest
                .iter()
                .filter(|t| t.token != Token::Comma)
                .map(|t| value_text(&t.token))
                .collect();
            let value = values.join(", ");
            SessionStatement::Set {
                name,
                value: (!value.eq_ignore_ascii_case("DEFAULT")).then_some(value),
            }
        }
        Some("RESET") => match word(1) {
            Some("ALL") => SessionStatement::Reset(None),
            Some(_) => {
                let (name, _) = name_at(1);
                SessionStatement::Reset(Some(name))
            }
            None => return Err(error(1, "RESET needs a setting's name, or ALL")),
        },
        Some("BEGIN") | Some("START") => SessionStatement::Begin,
        Some("COMMIT") | Some("END") => SessionStatement::Commit,
        Some("ROLLBACK") | Some("ABORT") => match upper.iter().position(|w| w == "TO") {
            Some(p) => {
                let at = if word(p + 1) == Some("SAVEPOINT") { p + 2 } else { p + 1 };
                SessionStatement::RollbackTo(name_after(at)?)
            }
            None => SessionStatement::Rollback,
        },
        Some("SAVEPOINT") => SessionStatement::Savepoint(name_after(1)?),
        Some("RELEASE") => {
            let at = if word(1) == Some("SAVEPOINT") { 2 } else { 1 };
            SessionStatement::Release(name_after(at)?)
        }
        Some("DISCARD") => SessionStatement::Discard,
        Some("DEALLOCATE") => {
            let at = if word(1) == Some("PREPARE") { 2 } else { 1 };
            match word(at) {
                Some("ALL") if at + 1 == tokens.len() => SessionStatement::Deallocate(None),
                _ => SessionStatement::Deallocate(Some(name_after(at)?)),
            }
        }
        Some("PREPARE") => {
            let name = match tokens.get(1).map(|t| &t.token) {
                Some(Token::Word(w)) => w.value.clone(),
                _ => return Err(error(1, "PREPARE needs a name: PREPARE name AS SELECT …")),
            };
            let Some(as_at) = upper.iter().position(|w| w == "AS") else {
                return Err(error(2, "PREPARE name AS statement: AS is missing"));
            };
            // The statement as written after AS (its whitespace and comments kept).
            let first = tokens
                .get(as_at + 1)
                .ok_or_else(|| error(as_at, "PREPARE … AS needs a statement"))?;
            let start = source
                .tokens
                .iter()
                .position(|t| std::ptr::eq(t, *first))
                .unwrap_or(0);
            let text: String = source.tokens[start..]
                .iter()
                .filter(|t| !matches!(t.token, Token::EOF))
                .map(|t| t.token.to_string())
                .collect();
            SessionStatement::Prepare {
                name,
                text: text.trim().trim_end_matches(';').to_string(),
            }
        }
        Some("EXECUTE") => {
            let name = match tokens.get(1).map(|t| &t.token) {
                Some(Token::Word(w)) => w.value.clone(),
                _ => return Err(error(1, "EXECUTE needs a prepared statement's name")),
            };
            let mut values = Vec::new();
            if tokens.len() > 2 {
                let mut i = 3;
                let mut negative = false;
                while i < tokens.len() {
                    let value = match &tokens[i].token {
                        Token::RParen if i + 1 == tokens.len() => break,
                        Token::Comma => {
                            i += 1;
                            continue;
                        }
                        Token::Minus => {
                            negative = true;
                            i += 1;
                            continue;
                        }
                        Token::SingleQuotedString(s) => crate::BindValue::Text(s.clone()),
                        Token::Number(n, _) => {
                            let n = if negative { format!("-{n}") } else { n.clone() };
                            match n.parse::<i64>() {
                                Ok(i) => crate::BindValue::Integer(i),
                                Err(_) => crate::BindValue::Real(n.parse().map_err(|_| {
                                    error(i, "not a number")
                                })?),
                            }
                        }
                        Token::Word(w) if w.value.eq_ignore_ascii_case("NULL") => {
                            crate::BindValue::Null
                        }
                        Token::Word(w) if w.value.eq_ignore_ascii_case("TRUE") => {
                            crate::BindValue::Bool(true)
                        }
                        Token::Word(w) if w.value.eq_ignore_ascii_case("FALSE") => {
                            crate::BindValue::Bool(false)
                        }
                        _ => {
                            return Err(error(
                                i,
                                "EXECUTE's values are literals: 'text', numbers, true, false or NULL",
                            ))
                        }
                    };
                    negative = false;
                    values.push(value);
                    i += 1;
                }
            }
            SessionStatement::Execute { name, values }
        }
        _ => return Err(error(0, "not a session statement")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> Result<SessionStatement, String> {
        let sources = crate::split_statements(sql).map_err(|e| e.to_string())?;
        parse(&sources[0]).map_err(|e| e.to_string())
    }

    fn set(name: &str, value: Option<&str>) -> SessionStatement {
        SessionStatement::Set {
            name: name.into(),
            value: value.map(str::to_string),
        }
    }

    #[test]
    fn what_clients_send() {
        assert_eq!(
            parsed("SET extra_float_digits = 3"),
            Ok(set("extra_float_digits", Some("3")))
        );
        assert_eq!(
            parsed("SET DateStyle TO 'ISO'"),
            Ok(set("datestyle", Some("ISO")))
        );
        assert_eq!(
            parsed("set search_path to public, \"$user\""),
            Ok(set("search_path", Some("public, $user")))
        );
        assert_eq!(
            parsed("SET SESSION statement_timeout = DEFAULT"),
            Ok(set("statement_timeout", None))
        );
        assert_eq!(
            parsed("SET TIME ZONE 'UTC'"),
            Ok(set("timezone", Some("UTC")))
        );
        assert_eq!(
            parsed("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED"),
            Ok(set("transaction_isolation", Some("read committed")))
        );
        assert_eq!(
            parsed("SET iql.max_pages = 3"),
            Ok(set("iql.max_pages", Some("3")))
        );
        assert_eq!(
            parsed("show time zone"),
            Ok(SessionStatement::Show("timezone".into()))
        );
        assert_eq!(
            parsed("SHOW TRANSACTION ISOLATION LEVEL"),
            Ok(SessionStatement::Show("transaction_isolation".into()))
        );
        assert_eq!(parsed("SHOW ALL"), Ok(SessionStatement::Show("all".into())));
        assert_eq!(
            parsed("BEGIN ISOLATION LEVEL READ COMMITTED"),
            Ok(SessionStatement::Begin)
        );
        assert_eq!(
            parsed("ROLLBACK TO SAVEPOINT sa_1"),
            Ok(SessionStatement::RollbackTo("sa_1".into()))
        );
        assert_eq!(
            parsed("RELEASE SAVEPOINT sa_1"),
            Ok(SessionStatement::Release("sa_1".into()))
        );
        assert!(parsed("SET x").expect_err("no value").contains("TO or ="));
        assert_eq!(
            parsed("PREPARE q (text) AS SELECT id FROM t WHERE name = $1"),
            Ok(SessionStatement::Prepare {
                name: "q".into(),
                text: "SELECT id FROM t WHERE name = $1".into()
            })
        );
        assert_eq!(
            parsed("EXECUTE q ('a', -2, NULL)"),
            Ok(SessionStatement::Execute {
                name: "q".into(),
                values: vec![
                    crate::BindValue::Text("a".into()),
                    crate::BindValue::Integer(-2),
                    crate::BindValue::Null
                ]
            })
        );
        assert_eq!(
            parsed("DEALLOCATE PREPARE q"),
            Ok(SessionStatement::Deallocate(Some("q".into())))
        );
        assert!(parsed("SAVEPOINT").is_err());
    }
}
