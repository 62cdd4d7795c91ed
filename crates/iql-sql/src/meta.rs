//! StackQL's meta statements: `SHOW PROVIDERS|SERVICES|RESOURCES|METHODS|VIEWS [IN x] [LIKE 'p']`
//! and `DESCRIBE [EXTENDED] provider.service.resource` (or a view's name). sqlparser has its own, different `SHOW`, so these
//! are read from the token stream.

use sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::SqlError;
use crate::split::StatementText;
use crate::Statement;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowKind {
    Providers,
    Services,
    Resources,
    Methods,
    /// The views and materialized views of iql's store.
    Views,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Show {
    pub kind: ShowKind,
    pub extended: bool,
    /// The dotted name after `IN`, split into parts.
    pub scope: Vec<String>,
    /// The `LIKE` pattern (SQL `%` and `_` wildcards).
    pub like: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Describe {
    pub extended: bool,
    /// `DESCRIBE METHOD provider.service.resource.method`: the method's parameters and body fields.
    pub method: bool,
    pub name: Vec<String>,
}

pub(crate) fn parse_meta(source: &StatementText) -> Result<Option<Statement>, SqlError> {
    let tokens: Vec<TokenWithSpan> = source
        .tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .cloned()
        .collect();
    let mut p = Cursor {
        tokens: &tokens,
        pos: 0,
        end: (source.line, source.column),
    };
    let Some(first) = p.word() else {
        return Ok(None);
    };
    match first.to_ascii_uppercase().as_str() {
        "SHOW" => {
            p.pos += 1;
            let extended = p.eat_keyword("EXTENDED");
            let kind = match p.word().map(|w| w.to_ascii_uppercase()).as_deref() {
                Some("PROVIDERS") => ShowKind::Providers,
                Some("SERVICES") => ShowKind::Services,
                Some("RESOURCES") => ShowKind::Resources,
                Some("METHODS") => ShowKind::Methods,
                Some("VIEWS") => ShowKind::Views,
                _ => {
                    return Err(p.error(
                        "expected PROVIDERS, SERVICES, RESOURCES, METHODS or VIEWS after SHOW",
                    ))
                }
            };
            p.pos += 1;
            let mut scope = Vec::new();
            if p.eat_keyword("IN") || p.eat_keyword("FROM") {
                scope = p.dotted_name()?;
            }
            let mut like = None;
            if p.eat_keyword("LIKE") {
                match p.peek() {
                    Some(Token::SingleQuotedString(s)) => {
                        like = Some(s.clone());
                        p.pos += 1;
                    }
                    _ => return Err(p.error("expected a quoted pattern after LIKE")),
                }
            }
            p.expect_end()?;
            if kind == ShowKind::Views && !scope.is_empty() {
                return Err(p.error("SHOW VIEWS takes no IN: views belong to no provider"));
            }
            if kind == ShowKind::Methods && scope.len() != 3 {
                return Err(p.error(
                    "SHOW METHODS needs a resource: SHOW METHODS IN provider.service.resource",
                ));
            }
            Ok(Some(Statement::Show(Show {
                kind,
                extended,
                scope,
                like,
            })))
        }
        "DESCRIBE" | "DESC" => {
            p.pos += 1;
            let extended = p.eat_keyword("EXTENDED");
            let method = p.eat_keyword("METHOD");
            let start = p.pos;
            let mut name = p.dotted_name()?;
            p.expect_end()?;
            // `DESCRIBE compute.images` in a provider's database.
            if let Some(provider) = &source.default_provider {
                if name.len() == (if method { 3 } else { 2 }) {
                    name.insert(0, provider.clone());
                }
            }
            let want = if method { 4 } else { 3 };
            // A one-word name is a view.
            if name.len() != want && (method || name.len() != 1) {
                p.pos = start;
                return Err(p.error(if method {
                    "DESCRIBE METHOD needs provider.service.resource.method"
                } else {
                    "DESCRIBE needs provider.service.resource, a view's name, or DESCRIBE METHOD provider.service.resource.method"
                }));
            }
            Ok(Some(Statement::Describe(Describe {
                extended,
                method,
                name,
            })))
        }
        _ => Ok(None),
    }
}

struct Cursor<'a> {
    tokens: &'a [TokenWithSpan],
    pos: usize,
    end: (u64, u64),
}

impl Cursor<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|t| &t.token)
    }

    fn word(&self) -> Option<String> {
        match self.peek() {
            Some(Token::Word(w)) => Some(w.value.clone()),
            _ => None,
        }
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        match self.word() {
            Some(w) if w.eq_ignore_ascii_case(kw) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn dotted_name(&mut self) -> Result<Vec<String>, SqlError> {
        let mut parts = Vec::new();
        loop {
            match self.peek() {
                // A quoted name's dots part it as they would unquoted: `DESCRIBE
                // "digitalocean.compute".images`, as information_schema names it.
                Some(Token::Word(w)) if w.quote_style.is_some() && w.value.contains('.') => {
                    parts.extend(w.value.split('.').map(str::to_string))
                }
                Some(Token::Word(w)) => parts.push(w.value.clone()),
                _ => return Err(self.error("expected a name such as digitalocean.compute.images")),
            }
            self.pos += 1;
            if self.peek() == Some(&Token::Period) {
                self.pos += 1;
            } else {
                return Ok(parts);
            }
        }
    }

    fn expect_end(&self) -> Result<(), SqlError> {
        match self.tokens.get(self.pos) {
            None => Ok(()),
            Some(t) => Err(SqlError::new(
                t.span.start.line,
                t.span.start.column,
                format!("unexpected '{}'", t.token),
            )),
        }
    }

    fn error(&self, message: &str) -> SqlError {
        let (line, column) = self
            .tokens
            .get(self.pos)
            .map(|t| (t.span.start.line, t.span.start.column))
            .or_else(|| {
                self.tokens
                    .last()
                    .map(|t| (t.span.end.line, t.span.end.column))
            })
            .unwrap_or(self.end);
        SqlError::new(line, column, message)
    }
}

#[cfg(test)]
mod tests {
    use crate::{parse_script, Statement};

    use super::*;

    fn one(sql: &str) -> Statement {
        parse_script(sql).unwrap().remove(0).statement
    }

    #[test]
    fn show_forms() {
        let Statement::Show(s) = one("SHOW RESOURCES IN digitalocean.compute LIKE '%image%'")
        else {
            panic!()
        };
        assert_eq!(s.kind, ShowKind::Resources);
        assert_eq!(s.scope, ["digitalocean", "compute"]);
        assert_eq!(s.like.as_deref(), Some("%image%"));
        let Statement::Show(s) = one("show extended methods in digitalocean.compute.images") else {
            panic!()
        };
        assert!(s.extended && s.kind == ShowKind::Methods);
    }

    #[test]
    fn describe_and_errors() {
        let Statement::Describe(d) = one("DESCRIBE EXTENDED digitalocean.compute.images") else {
            panic!()
        };
        assert!(d.extended);
        assert_eq!(d.name.len(), 3);
        let err = parse_script("SHOW TABLES").unwrap_err();
        assert_eq!((err.line, err.column), (1, 6));
        let err = parse_script("SELECT 1;\nSHOW METHODS IN digitalocean.compute").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("provider.service.resource"));
    }
}
