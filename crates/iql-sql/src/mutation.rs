//! INSERT, UPDATE (StackQL's `REPLACE … SET … WHERE`), DELETE and EXEC, translated into a small model.
//!
//! Values come from literals (and, for INSERT, from any query: its rows are computed by SQLite like
//! any SELECT). `WHERE` of UPDATE and DELETE takes only `param = literal` / `param IN (…)`
//! conditions: a mutation never turns into "list everything, then act on each".

use sqlparser::ast::{self, AssignmentTarget, Expr, FromTable, SelectItem, SetExpr, TableObject};
use sqlparser::tokenizer::{Token, Whitespace};

use crate::error::SqlError;
use crate::query::{literal_of, QueryStatement};
use crate::split::StatementText;
use crate::Literal;

/// What `RETURNING` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Returning {
    /// `RETURNING *`
    All,
    Columns(Vec<String>),
}

/// `name = value` for a parameter or body field.
#[derive(Debug, Clone)]
pub struct Binding {
    pub name: String,
    /// More than one value (`IN`) means one request per value.
    pub values: Vec<Literal>,
    /// `name IN (SELECT …)` / `name = (SELECT …)`: the values are the first column of this query,
    /// which the user wrote out, so the set acted on is always explicit.
    pub subquery: Option<Box<QueryStatement>>,
}

#[derive(Debug, Clone)]
pub struct InsertStatement {
    pub table: Vec<String>,
    pub columns: Vec<String>,
    /// `VALUES …` or `SELECT …`, run by SQLite to give the rows to insert.
    pub source: Box<QueryStatement>,
    pub returning: Option<Returning>,
    pub wait: bool,
}

#[derive(Debug, Clone)]
pub struct UpdateStatement {
    pub table: Vec<String>,
    pub set: Vec<(String, Literal)>,
    pub filter: Vec<Binding>,
    pub returning: Option<Returning>,
    pub wait: bool,
    /// Written as StackQL's `REPLACE … SET`.
    pub replace: bool,
}

#[derive(Debug, Clone)]
pub struct DeleteStatement {
    pub table: Vec<String>,
    pub filter: Vec<Binding>,
    pub returning: Option<Returning>,
}

/// `EXEC provider.service.resource.method @p='v' … @@json='{…}'`
#[derive(Debug, Clone, PartialEq)]
pub struct ExecStatement {
    pub resource: Vec<String>,
    pub method: String,
    pub params: Vec<(String, Literal)>,
    /// `@@json`: the request body, as JSON text.
    pub json: Option<String>,
    pub wait: bool,
}

/// A `--` comment that ends with a comma takes the comma with it (`'x' --required,`): say so, since
/// the values around it then run together.
pub(crate) fn swallowed_comma_hint(source: &StatementText) -> Option<String> {
    let toks = &source.tokens;
    let lines: Vec<u64> = toks
        .iter()
        .filter_map(|t| match &t.token {
            Token::Whitespace(Whitespace::SingleLineComment { comment, .. })
                if comment.trim_end().ends_with(',') =>
            {
                Some(t.span.start.line)
            }
            _ => None,
        })
        .collect();
    let where_ = match lines.as_slice() {
        [] => return None,
        [one] => format!("the -- comment on line {one} ends"),
        [rest @ .., last] => format!(
            "the -- comments on lines {} and {last} end",
            rest.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let counts = match insert_counts(toks) {
        Some((columns, values)) if columns != values => {
            format!("{columns} columns but {values} values: ")
        }
        _ => String::new(),
    };
    Some(format!(
        "{counts}values run together: {where_} with a comma, which belongs to the comment, so the values around it have no comma between them; put each comma before its comment"
    ))
}

/// For `INSERT INTO t (a, b, …) SELECT x, y, …` or `… VALUES (x, y, …)`: how many columns are
/// named and how many values the first row gives, counting top-level commas. Read from tokens, so it
/// works on text the parser rejects.
fn insert_counts(toks: &[sqlparser::tokenizer::TokenWithSpan]) -> Option<(usize, usize)> {
    use sqlparser::keywords::Keyword;
    let mut it = toks
        .iter()
        .map(|t| &t.token)
        .filter(|t| !matches!(t, Token::Whitespace(_)));
    match it.next()? {
        Token::Word(w) if w.keyword == Keyword::INSERT => {}
        _ => return None,
    }
    // Up to the column list's "(".
    it.by_ref().find(|t| matches!(t, Token::LParen))?;
    let columns = count_items(&mut it, true)?;
    let values = match it.next()? {
        Token::Word(w) if w.keyword == Keyword::SELECT => count_items(&mut it, false)?,
        Token::Word(w) if w.keyword == Keyword::VALUES => match it.next()? {
            Token::LParen => count_items(&mut it, true)?,
            _ => return None,
        },
        _ => return None,
    };
    Some((columns, values))
}

/// Counts comma-separated items at the current nesting level: up to the closing ")" when `in_parens`,
/// else up to a clause keyword (FROM, WHERE, RETURNING, …), ";" or the end.
fn count_items<'a>(it: &mut impl Iterator<Item = &'a Token>, in_parens: bool) -> Option<usize> {
    use sqlparser::keywords::Keyword;
    let (mut depth, mut items, mut seen) = (0usize, 1usize, false);
    for t in it {
        match t {
            Token::LParen => depth += 1,
            Token::RParen if depth == 0 => return (in_parens && seen).then_some(items),
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => items += 1,
            Token::SemiColon if !in_parens => return seen.then_some(items),
            Token::Word(w)
                if !in_parens
                    && depth == 0
                    && matches!(
                        w.keyword,
                        Keyword::FROM
                            | Keyword::WHERE
                            | Keyword::RETURNING
                            | Keyword::UNION
                            | Keyword::GROUP
                            | Keyword::ORDER
                            | Keyword::LIMIT
                    ) =>
            {
                return seen.then_some(items);
            }
            _ => {}
        }
        seen = true;
    }
    (!in_parens && seen).then_some(items)
}

/// `/*+ AWAIT */` anywhere in the statement.
pub(crate) fn has_await_hint(source: &StatementText) -> Result<bool, SqlError> {
    Ok(source.tokens.iter().any(|t| match &t.token {
        Token::Whitespace(Whitespace::MultiLineComment(c)) => {
            c.trim_start().starts_with('+') && c.to_ascii_uppercase().contains("AWAIT")
        }
        _ => false,
    }))
}

/// The first keyword, ignoring comments: decides how the statement is read.
pub(crate) fn first_word(source: &StatementText) -> Result<Option<(String, u64, u64)>, SqlError> {
    Ok(source.tokens.iter().find_map(|t| match &t.token {
        Token::Word(w) => Some((
            w.value.to_ascii_uppercase(),
            t.span.start.line,
            t.span.start.column,
        )),
        Token::Whitespace(_) => None,
        _ => Some((String::new(), t.span.start.line, t.span.start.column)),
    }))
}

/// StackQL writes `REPLACE x SET … WHERE …`; sqlparser reads the same statement as `UPDATE`.
/// The keyword is swapped in place (same length), so positions stay right.
pub(crate) fn replace_as_update(source: &StatementText, line: u64, column: u64) -> StatementText {
    let mut tokens = source.tokens.clone();
    if let Some(t) = tokens
        .iter_mut()
        .find(|t| t.span.start.line == line && t.span.start.column == column)
    {
        t.token = Token::make_keyword("UPDATE");
    }
    let mut padded = String::with_capacity(source.padded.len());
    let (mut l, mut c) = (1u64, 1u64);
    let mut skip = 0;
    for ch in source.padded.chars() {
        if l == line && c == column {
            padded.push_str("UPDATE ");
            skip = 7;
        }
        if skip > 0 {
            skip -= 1;
        } else {
            padded.push(ch);
        }
        if ch == '\n' {
            l += 1;
            c = 1;
        } else {
            c += 1;
        }
    }
    StatementText {
        padded,
        tokens,
        ..source.clone()
    }
}

fn table_name(name: &ast::ObjectName) -> Vec<String> {
    if let Some(parts) = crate::query::name_parts(name) {
        return parts;
    }
    name.0
        .iter()
        .map(|p| match p {
            ast::ObjectNamePart::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn position(span: sqlparser::tokenizer::Span, source: &StatementText) -> (u64, u64) {
    if span.start.line == 0 {
        (source.line, source.column)
    } else {
        (span.start.line, span.start.column)
    }
}

fn returning(
    items: &Option<Vec<SelectItem>>,
    source: &StatementText,
) -> Result<Option<Returning>, SqlError> {
    let Some(items) = items else {
        return Ok(None);
    };
    let mut names = Vec::new();
    for item in items {
        match item {
            SelectItem::Wildcard(_) => return Ok(Some(Returning::All)),
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => names.push(i.value.clone()),
            other => {
                return Err(SqlError::new(
                    source.line,
                    source.column,
                    format!("RETURNING takes * or column names, not '{other}'"),
                ))
            }
        }
    }
    Ok(Some(Returning::Columns(names)))
}

/// The conjuncts of a mutation's WHERE: each must be `name = literal` or `name IN (literals)`.
fn bindings(
    expr: &Option<Expr>,
    verb: &str,
    source: &StatementText,
) -> Result<Vec<Binding>, SqlError> {
    let mut out = Vec::new();
    let Some(expr) = expr else {
        return Ok(out);
    };
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        match e {
            Expr::BinaryOp {
                left,
                op: ast::BinaryOperator::And,
                right,
            } => {
                stack.push(right);
                stack.push(left);
            }
            Expr::Nested(inner) => stack.push(inner),
            Expr::BinaryOp {
                left,
                op: ast::BinaryOperator::Eq,
                right,
            } => match (left.as_ref(), literal_of(right)) {
                (Expr::Identifier(i), Some(v)) => out.push(Binding {
                    name: i.value.clone(),
                    values: vec![v],
                    subquery: None,
                }),
                (Expr::Identifier(i), None) => match right.as_ref() {
                    Expr::Subquery(q) => out.push(Binding {
                        name: i.value.clone(),
                        values: Vec::new(),
                        subquery: Some(Box::new(crate::query::from_query(q.clone(), source)?)),
                    }),
                    _ => return Err(not_a_binding(e, verb, source)),
                },
                _ => return Err(not_a_binding(e, verb, source)),
            },
            Expr::InSubquery {
                expr,
                subquery,
                negated: false,
            } => match expr.as_ref() {
                Expr::Identifier(i) => out.push(Binding {
                    name: i.value.clone(),
                    values: Vec::new(),
                    subquery: Some(Box::new(crate::query::from_query(
                        subquery.clone(),
                        source,
                    )?)),
                }),
                _ => return Err(not_a_binding(e, verb, source)),
            },
            Expr::InList {
                expr,
                list,
                negated: false,
            } => match (
                expr.as_ref(),
                list.iter().map(literal_of).collect::<Option<Vec<_>>>(),
            ) {
                (Expr::Identifier(i), Some(values)) if !values.is_empty() => out.push(Binding {
                    name: i.value.clone(),
                    values,
                    subquery: None,
                }),
                _ => return Err(not_a_binding(e, verb, source)),
            },
            other => return Err(not_a_binding(other, verb, source)),
        }
    }
    Ok(out)
}

fn not_a_binding(e: &Expr, verb: &str, source: &StatementText) -> SqlError {
    let (line, column) = position(sqlparser::ast::Spanned::span(e), source);
    SqlError::new(
        line,
        column,
        format!("the WHERE of {verb} takes only parameter = value, IN (values) or IN (SELECT …) conditions joined by AND, not '{e}'"),
    )
}

pub(crate) fn parse_insert(
    statement: ast::Statement,
    source: &StatementText,
    wait: bool,
) -> Result<InsertStatement, SqlError> {
    let ast::Statement::Insert(insert) = statement else {
        return Err(SqlError::new(source.line, source.column, "expected INSERT"));
    };
    let TableObject::TableName(name) = &insert.table else {
        return Err(SqlError::new(
            source.line,
            source.column,
            "INSERT INTO needs a table name",
        ));
    };
    let columns: Vec<String> = insert
        .columns
        .iter()
        .map(|c| {
            c.0.last()
                .map(|p| match p {
                    ast::ObjectNamePart::Identifier(i) => i.value.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default()
        })
        .collect();
    if columns.is_empty() {
        // Provider tables have no column order to fill: each value must say which field it is.
        return Err(SqlError::new(
            source.line,
            source.column,
            "INSERT into a provider table needs its column list, e.g. INSERT INTO digitalocean.compute.images (name, url, region) VALUES (…)",
        ));
    }
    let Some(query) = insert.source else {
        return Err(SqlError::new(
            source.line,
            source.column,
            "INSERT needs VALUES or SELECT",
        ));
    };
    // Count check, with the position of the offending row: a `--` comment before a comma swallows it,
    // and two adjacent strings then read as a value and its alias.
    match query.body.as_ref() {
        SetExpr::Values(v) => {
            for row in &v.rows {
                if row.len() != columns.len() {
                    let (line, column) = row
                        .first()
                        .map(|e| position(sqlparser::ast::Spanned::span(e), source))
                        .unwrap_or((source.line, source.column));
                    return Err(SqlError::new(
                        line,
                        column,
                        format!(
                            "INSERT names {} columns but this row has {} values",
                            columns.len(),
                            row.len()
                        ),
                    ));
                }
            }
        }
        SetExpr::Select(sel)
            if !sel.projection.iter().any(|p| {
                matches!(
                    p,
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                )
            }) && sel.projection.len() != columns.len() =>
        {
            let swallowed = sel.projection.iter().find_map(|p| match p {
                SelectItem::ExprWithAlias { expr, alias } if alias.quote_style == Some('\'') => {
                    Some((expr, alias))
                }
                _ => None,
            });
            let (line, column) = match swallowed {
                Some((e, _)) => position(sqlparser::ast::Spanned::span(e), source),
                None => (source.line, source.column),
            };
            let mut message = format!(
                "INSERT names {} columns but the SELECT gives {} values",
                columns.len(),
                sel.projection.len()
            );
            if let Some((e, alias)) = swallowed {
                message.push_str(&format!(
                        "; {e} and '{}' have no comma between them (a -- comment placed before the comma swallows it: move the comma before the comment)",
                        alias.value
                    ));
            }
            return Err(SqlError::new(line, column, message));
        }
        _ => {}
    }
    let source_query = crate::query::from_query(query, source)?;
    Ok(InsertStatement {
        table: table_name(name),
        columns,
        source: Box::new(source_query),
        returning: returning(&insert.returning, source)?,
        wait,
    })
}

pub(crate) fn parse_update(
    statement: ast::Statement,
    source: &StatementText,
    wait: bool,
    replace: bool,
) -> Result<UpdateStatement, SqlError> {
    let ast::Statement::Update(ast::Update {
        table,
        assignments,
        selection,
        returning: ret,
        from,
        ..
    }) = statement
    else {
        return Err(SqlError::new(source.line, source.column, "expected UPDATE"));
    };
    if from.is_some() || !table.joins.is_empty() {
        return Err(SqlError::new(
            source.line,
            source.column,
            "UPDATE/REPLACE takes one table",
        ));
    }
    let ast::TableFactor::Table { name, .. } = &table.relation else {
        return Err(SqlError::new(
            source.line,
            source.column,
            "UPDATE/REPLACE needs a table name",
        ));
    };
    let mut set = Vec::new();
    for a in &assignments {
        let AssignmentTarget::ColumnName(col) = &a.target else {
            return Err(SqlError::new(
                source.line,
                source.column,
                "SET takes column = value",
            ));
        };
        let Some(v) = literal_of(&a.value) else {
            let (line, column) = position(sqlparser::ast::Spanned::span(&a.value), source);
            return Err(SqlError::new(
                line,
                column,
                format!("SET {col} takes a literal value, not '{}'", a.value),
            ));
        };
        // The name as written, without its quotes: `SET "name" = …` sets `name`.
        let name = col
            .0
            .last()
            .map(|p| match p {
                ast::ObjectNamePart::Identifier(i) => i.value.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        set.push((name, v));
    }
    let verb = if replace { "REPLACE" } else { "UPDATE" };
    Ok(UpdateStatement {
        table: table_name(name),
        set,
        filter: bindings(&selection, verb, source)?,
        returning: returning(&ret, source)?,
        wait,
        replace,
    })
}

pub(crate) fn parse_delete(
    statement: ast::Statement,
    source: &StatementText,
) -> Result<DeleteStatement, SqlError> {
    let ast::Statement::Delete(delete) = statement else {
        return Err(SqlError::new(source.line, source.column, "expected DELETE"));
    };
    let tables = match &delete.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    let [twj] = tables.as_slice() else {
        return Err(SqlError::new(
            source.line,
            source.column,
            "DELETE takes one table",
        ));
    };
    let ast::TableFactor::Table { name, .. } = &twj.relation else {
        return Err(SqlError::new(
            source.line,
            source.column,
            "DELETE needs a table name",
        ));
    };
    Ok(DeleteStatement {
        table: table_name(name),
        filter: bindings(&delete.selection, "DELETE", source)?,
        returning: returning(&delete.returning, source)?,
    })
}

/// `EXEC a.b.c.method @x = 'v' [,] @y = 1 @@json = '{…}'`, read from tokens.
pub(crate) fn parse_exec(source: &StatementText) -> Result<ExecStatement, SqlError> {
    let wait = has_await_hint(source)?;
    let toks: Vec<_> = source
        .tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .collect();
    let err = |i: usize, msg: &str| {
        let (line, column) = toks
            .get(i)
            .map(|t| (t.span.start.line, t.span.start.column))
            .or_else(|| toks.last().map(|t| (t.span.end.line, t.span.end.column)))
            .unwrap_or((source.line, source.column));
        SqlError::new(line, column, msg)
    };
    let mut i = 1; // past EXEC
    let mut name = Vec::new();
    loop {
        match toks.get(i).map(|t| &t.token) {
            Some(Token::Word(w)) => name.push(w.value.clone()),
            _ => return Err(err(i, "EXEC needs provider.service.resource.method")),
        }
        i += 1;
        if toks.get(i).map(|t| &t.token) == Some(&Token::Period) {
            i += 1;
        } else {
            break;
        }
    }
    if name.len() != 4 {
        return Err(err(1, "EXEC needs provider.service.resource.method, e.g. EXEC digitalocean.compute.images.convert @image_id='…'"));
    }
    let method = name.pop().unwrap_or_default();
    let mut params = Vec::new();
    let mut json = None;
    while i < toks.len() {
        if toks[i].token == Token::Comma {
            i += 1;
            continue;
        }
        // The tokenizer reads `@name` (and `@@name`) as one word or as `@` followed by a word.
        let (is_json, pname, next) = match &toks[i].token {
            Token::Word(w) if w.value.starts_with("@@") => (true, w.value[2..].to_string(), i + 1),
            Token::Word(w) if w.value.starts_with('@') => (false, w.value[1..].to_string(), i + 1),
            Token::AtAt => match toks.get(i + 1).map(|t| &t.token) {
                Some(Token::Word(w)) => (true, w.value.clone(), i + 2),
                _ => return Err(err(i, "expected @@json = '{…}'")),
            },
            Token::Placeholder(p) if p.starts_with('@') => (
                p.starts_with("@@"),
                p.trim_start_matches('@').to_string(),
                i + 1,
            ),
            Token::AtSign => match (
                toks.get(i + 1).map(|t| &t.token),
                toks.get(i + 2).map(|t| &t.token),
            ) {
                (Some(Token::AtSign), Some(Token::Word(w))) => (true, w.value.clone(), i + 3),
                (Some(Token::Word(w)), _) => (false, w.value.clone(), i + 2),
                _ => return Err(err(i, "expected @name = value")),
            },
            _ => return Err(err(i, "expected @name = value or @@json = '{…}'")),
        };
        i = next;
        // A name with dashes, written without spaces (`@X-Dangerous`, a header parameter).
        let mut pname = pname;
        while let (Some(dash), Some(word)) = (toks.get(i), toks.get(i + 1)) {
            let adjacent = |a: &sqlparser::tokenizer::TokenWithSpan,
                            b: &sqlparser::tokenizer::TokenWithSpan| {
                a.span.end == b.span.start
            };
            match (&dash.token, &word.token) {
                (Token::Minus, Token::Word(w))
                    if adjacent(toks[i - 1], dash) && adjacent(dash, word) =>
                {
                    pname.push('-');
                    pname.push_str(&w.value);
                    i += 2;
                }
                _ => break,
            }
        }
        if toks.get(i).map(|t| &t.token) != Some(&Token::Eq) {
            return Err(err(i, &format!("expected = after @{pname}")));
        }
        i += 1;
        let value = match toks.get(i).map(|t| &t.token) {
            Some(Token::SingleQuotedString(s)) => Literal::Text(s.clone()),
            Some(Token::Number(n, _)) => Literal::Number(n.clone()),
            Some(Token::Minus) => match toks.get(i + 1).map(|t| &t.token) {
                Some(Token::Number(n, _)) => {
                    i += 1;
                    Literal::Number(format!("-{n}"))
                }
                _ => return Err(err(i, "expected a number after -")),
            },
            Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("false") => Literal::Bool(false),
            _ => {
                return Err(err(
                    i,
                    &format!("@{pname} needs a quoted string, a number, true or false"),
                ))
            }
        };
        i += 1;
        if is_json {
            if !pname.eq_ignore_ascii_case("json") {
                return Err(err(
                    i - 3,
                    &format!("unknown @@{pname}: the request body is given as @@json='{{…}}'"),
                ));
            }
            json = Some(value.as_text());
        } else {
            params.push((pname, value));
        }
    }
    Ok(ExecStatement {
        resource: name,
        method,
        params,
        json,
        wait,
    })
}

/// Parses the statement as sqlparser sees it (for INSERT/UPDATE/DELETE).
pub(crate) fn sqlparser_statement(source: &StatementText) -> Result<ast::Statement, SqlError> {
    let mut statements = crate::limits::parse_tokens(&source.tokens).map_err(|e| {
        let mut err = SqlError::in_statement(&e.to_string(), source);
        if let Some(hint) = swallowed_comma_hint(source) {
            err.message = format!("{hint} (the parser says: {})", err.message);
        }
        err
    })?;
    crate::postgres::statements_to_sqlite(&mut statements, source)?;
    statements
        .pop()
        .ok_or_else(|| SqlError::new(source.line, source.column, "empty statement"))
}

#[cfg(test)]
mod tests {
    use crate::parse_script;

    fn error_of(sql: &str) -> String {
        match parse_script(sql) {
            Ok(_) => panic!("parsed: {sql}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn swallowed_commas_in_insert_select_are_counted() {
        let err = error_of(
            "INSERT INTO p.s.r (a, b, c, d, e)\nSELECT\n'x' --required,\n'y',\nlower('z', 1) --required,\n'w' --required,\n'v'",
        );
        assert!(
            err.contains("5 columns but 2 values: values run together: the -- comments on lines 3, 5 and 6 end with a comma"),
            "{err}"
        );
    }

    #[test]
    fn swallowed_comma_in_values_is_counted_and_nested_commas_are_not() {
        let err =
            error_of("INSERT INTO p.s.r (a, b, c)\nVALUES (coalesce(null, 'x') --note,\n'y', 'z')");
        assert!(err.contains("3 columns but 2 values: "), "{err}");
    }

    #[test]
    fn a_comment_comma_elsewhere_gets_no_count() {
        // Three values for three columns, though two of them run together.
        let err = error_of("INSERT INTO p.s.r (a, b, c)\nSELECT 'x' --first,\n'y' 'z', 'w', 'v'");
        assert!(!err.contains("columns but"), "{err}");
        assert!(err.contains("values run together"), "{err}");
    }
}
