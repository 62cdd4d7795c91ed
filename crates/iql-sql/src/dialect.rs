//! iql's SQL dialect: SQLite's (StackQL's statements are written for SQLite, and SQLite runs
//! them), with the PostgreSQL syntax that conflicts with none of SQLite's and that PostgreSQL's
//! tools send: `ARRAY[…]` and `= ANY(…)`, `OPERATOR(pg_catalog.~)`, `E'…'` strings and
//! `::text[]` casts. What it parses, [`crate::postgres`] rewrites into what SQLite runs.
//!
//! Why not sqlparser's PostgreSQL dialect: it refuses what SQLite's users write (backquoted
//! names, `?` placeholders). The one thing given up is SQLite's `[name]` quoting (a bracket
//! opens an array, as in PostgreSQL); `"name"` and `` `name` `` quote as before.
//!
//! The parser checks some features by the dialect's type: this one says it is SQLite's, so
//! SQLite's statements parse as they did.

use sqlparser::ast::{BinaryOperator, Expr};
use sqlparser::dialect::{Dialect, SQLiteDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

#[derive(Debug, Default, Clone, Copy)]
pub struct IqlDialect {
    sqlite: SQLiteDialect,
}

impl Dialect for IqlDialect {
    fn dialect(&self) -> std::any::TypeId {
        std::any::TypeId::of::<SQLiteDialect>()
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`' || ch == '"'
    }

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        self.sqlite.identifier_quote_style(identifier)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        self.sqlite.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.sqlite.is_identifier_part(ch)
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }

    fn supports_start_transaction_modifier(&self) -> bool {
        true
    }

    fn parse_statement(
        &self,
        parser: &mut Parser,
    ) -> Option<Result<sqlparser::ast::Statement, ParserError>> {
        self.sqlite.parse_statement(parser)
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        // `E'a\nb'`: the parser reads these only for its PostgreSQL dialect.
        if let Token::EscapedStringLiteral(s) = &parser.peek_token_ref().token {
            let value = sqlparser::ast::Value::EscapedStringLiteral(s.clone());
            let span = parser.next_token().span;
            return Some(Ok(Expr::Value(value.with_span(span))));
        }
        None
    }

    fn parse_infix(
        &self,
        parser: &mut Parser,
        expr: &Expr,
        precedence: u8,
    ) -> Option<Result<Expr, ParserError>> {
        if parser.parse_keyword(Keyword::OPERATOR) {
            return Some(operator(parser, expr, precedence));
        }
        self.sqlite.parse_infix(parser, expr, precedence)
    }

    fn supports_in_empty_list(&self) -> bool {
        true
    }

    fn supports_limit_comma(&self) -> bool {
        true
    }

    fn supports_asc_desc_in_column_definition(&self) -> bool {
        true
    }

    fn supports_dollar_placeholder(&self) -> bool {
        true
    }

    fn supports_notnull_operator(&self) -> bool {
        true
    }

    fn supports_comma_separated_trim(&self) -> bool {
        true
    }

    fn supports_numeric_literal_underscores(&self) -> bool {
        true
    }

    fn supports_string_escape_constant(&self) -> bool {
        true
    }

    fn supports_array_typedef_with_brackets(&self) -> bool {
        true
    }
}

/// `left OPERATOR(schema.op) right`, PostgreSQL's spelling of an operator by its qualified name
/// (psql writes `n.nspname OPERATOR(pg_catalog.~) '^(compute)$'`).
fn operator(parser: &mut Parser, left: &Expr, precedence: u8) -> Result<Expr, ParserError> {
    parser.expect_token(&Token::LParen)?;
    let mut parts = Vec::new();
    loop {
        let token = parser.next_token();
        match token.token {
            Token::RParen if !parts.is_empty() => break,
            Token::Period => continue,
            Token::EOF => return parser.expected("an operator name and )", token),
            other => parts.push(other.to_string()),
        }
    }
    let right = parser.parse_subexpr(precedence)?;
    Ok(Expr::BinaryOp {
        left: Box::new(left.clone()),
        op: BinaryOperator::PGCustomBinaryOperator(parts),
        right: Box::new(right),
    })
}
