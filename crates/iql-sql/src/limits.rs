//! How deeply a statement may nest, and enough stack to work on one that nests deeply.
//!
//! Why: a statement's syntax tree is walked recursively, by sqlparser (parsing, printing,
//! visiting) and by iql's analysis and rewriting. Generated SQL easily holds a `WHERE` of
//! thousands of `AND` terms, which is a tree thousands of levels deep: walked on an ordinary
//! thread it overflows the stack, and Rust then aborts the whole process (a shell session, or
//! later a server with every connection on it). So:
//! 1. Before parsing, the statement's tokens give an upper bound of its depth ([`check`]). A
//!    statement deeper than [`MAX_EXPRESSION_DEPTH`] (SQLite's own limit, so nothing SQLite could
//!    run is refused) or with parentheses and subqueries nested deeper than [`MAX_NESTING`] is a
//!    syntax error at the token where it crossed the limit, saying which limit.
//! 2. Work on a statement runs with stack for its depth ([`with_stack`]): on a new stack segment
//!    when the calling thread has too little left, whatever thread that is (a tokio worker has
//!    2 MiB).

use crate::dialect::IqlDialect;
use sqlparser::ast;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::SqlError;

/// Operators chained in one expression (`a AND b AND …`), plus its parentheses: SQLite's
/// `SQLITE_MAX_EXPR_DEPTH`.
pub const MAX_EXPRESSION_DEPTH: usize = 1000;

/// Parentheses and subqueries inside each other.
pub const MAX_NESTING: usize = 100;

/// Stack a walk of the tree needs per level, with room to spare for unoptimized builds.
const STACK_PER_LEVEL: usize = 24 * 1024;

/// Stack every statement gets, whatever its depth.
const BASE_STACK: usize = 512 * 1024;

/// Parses a statement's tokens with sqlparser, allowing the nesting iql allows (sqlparser's own
/// default is lower).
pub(crate) fn parse_tokens(tokens: &[TokenWithSpan]) -> Result<Vec<ast::Statement>, ParserError> {
    Parser::new(&IqlDialect::default())
        .with_recursion_limit(MAX_NESTING * 2 + 10)
        .with_tokens_with_locations(tokens.to_vec())
        .parse_statements()
}

/// Runs `f` with stack for a statement `depth` levels deep.
pub fn with_stack<R>(depth: usize, f: impl FnOnce() -> R) -> R {
    let need = BASE_STACK + depth.saturating_mul(STACK_PER_LEVEL);
    stacker::maybe_grow(need, need + BASE_STACK, f)
}

/// Keywords that start a new expression at the same level, as a comma does.
fn starts_expression(k: Keyword) -> bool {
    matches!(
        k,
        Keyword::SELECT
            | Keyword::FROM
            | Keyword::WHERE
            | Keyword::GROUP
            | Keyword::HAVING
            | Keyword::ORDER
            | Keyword::LIMIT
            | Keyword::OFFSET
            | Keyword::UNION
            | Keyword::EXCEPT
            | Keyword::INTERSECT
            | Keyword::ON
            | Keyword::JOIN
            | Keyword::WHEN
            | Keyword::THEN
            | Keyword::ELSE
            | Keyword::SET
            | Keyword::VALUES
            | Keyword::RETURNING
    )
}

/// Tokens that join two operands into one deeper expression.
fn is_operator(t: &Token) -> bool {
    match t {
        Token::Word(w) => matches!(
            w.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::LIKE
                | Keyword::GLOB
                | Keyword::REGEXP
                | Keyword::MATCH
                | Keyword::IS
                | Keyword::IN
                | Keyword::BETWEEN
                | Keyword::NOT
                | Keyword::COLLATE
        ),
        Token::Eq
        | Token::DoubleEq
        | Token::Neq
        | Token::Lt
        | Token::Gt
        | Token::LtEq
        | Token::GtEq
        | Token::Plus
        | Token::Minus
        | Token::Mul
        | Token::Div
        | Token::Mod
        | Token::StringConcat
        | Token::Ampersand
        | Token::Pipe
        | Token::ShiftLeft
        | Token::ShiftRight
        | Token::Arrow
        | Token::LongArrow => true,
        _ => false,
    }
}

/// An upper bound of the depth of the statement made of `tokens`, or the error at the token where
/// it crosses a limit.
pub(crate) fn check(tokens: &[TokenWithSpan]) -> Result<usize, SqlError> {
    // Per open parenthesis: the operators chained so far in the current expression at that level.
    let mut levels: Vec<usize> = vec![0];
    let mut deepest = 0;
    for t in tokens {
        let at = || (t.span.start.line, t.span.start.column);
        match &t.token {
            Token::LParen => {
                levels.push(0);
                if levels.len() - 1 > MAX_NESTING {
                    let (line, column) = at();
                    return Err(SqlError::new(
                        line,
                        column,
                        format!("parentheses and subqueries are nested more than {MAX_NESTING} levels deep here; iql's limit is {MAX_NESTING}"),
                    ));
                }
            }
            Token::RParen if levels.len() > 1 => {
                levels.pop();
            }
            Token::Comma | Token::SemiColon => {
                if let Some(l) = levels.last_mut() {
                    *l = 0;
                }
            }
            Token::Word(w) if starts_expression(w.keyword) => {
                if let Some(l) = levels.last_mut() {
                    *l = 0;
                }
            }
            other if is_operator(other) => {
                if let Some(l) = levels.last_mut() {
                    *l += 1;
                }
            }
            _ => {}
        }
        let depth = levels.len() + levels.iter().sum::<usize>();
        if depth > MAX_EXPRESSION_DEPTH {
            let (line, column) = at();
            return Err(SqlError::new(
                line,
                column,
                format!(
                    "this expression is more than {MAX_EXPRESSION_DEPTH} levels deep here (operators such as AND or OR chained, and parentheses); the limit is {MAX_EXPRESSION_DEPTH}, SQLite's own: split it, or give a list of values with IN (…)"
                ),
            ));
        }
        deepest = deepest.max(depth);
    }
    Ok(deepest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_script;

    fn and_chain(n: usize) -> String {
        let terms: Vec<String> = (0..n).map(|i| format!("id = {i}")).collect();
        format!("SELECT 1 FROM p.s.r WHERE {}", terms.join(" AND "))
    }

    #[test]
    fn a_chain_within_sqlites_limit_parses_even_on_a_small_stack() {
        // 490 terms: 979 operators plus the statement's own level, just under the limit.
        let sql = and_chain(490);
        let parsed = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let statements = parse_script(&sql).map_err(|e| e.to_string())?;
                let crate::Statement::Query(q) = &statements[0].statement else {
                    return Err("not a query".to_string());
                };
                let sql = q.render(&Default::default(), &Default::default());
                Ok(sql.len())
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn a_chain_beyond_it_is_an_error_that_names_the_limit() {
        let err = parse_script(&and_chain(10_000)).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.column > 1, "{err}");
        assert!(err.message.contains("more than 1000 levels deep"), "{err}");
    }

    #[test]
    fn deep_parentheses_are_an_error_with_their_position() {
        let sql = format!("SELECT\n{}1{}", "(".repeat(3000), ")".repeat(3000));
        let err = parse_script(&sql).unwrap_err();
        assert_eq!((err.line, err.column), (2, MAX_NESTING as u64 + 1), "{err}");
        assert!(err.message.contains("nested more than 100 levels"), "{err}");
        // Within the limit, they parse.
        let sql = format!("SELECT {}1{}", "(".repeat(90), ")".repeat(90));
        assert!(parse_script(&sql).is_ok());
    }
}
