//! PostgreSQL's syntax, rewritten into what SQLite runs: the one place where a PostgreSQL
//! spelling becomes SQLite's, on the syntax tree (never on the text), for every way in (exec,
//! shell, library, serve).
//!
//! Why: the tools people point at `iql serve` (psql, pgcli, SQLAlchemy, pgjdbc, Grafana) write
//! PostgreSQL, and people who know PostgreSQL write it in `iql exec` too. None of it means
//! anything else in SQLite, so accepting it everywhere changes no StackQL statement.
//!
//! What is rewritten, and into what:
//! - `x::type` and `CAST(x AS type)` into a conversion with PostgreSQL's rules: `'abc'::int` is an
//!   error, as in PostgreSQL, where SQLite's `CAST` would give 0; `'t'::boolean` is true;
//!   `::timestamptz` gives DigitalOcean's form (`2025-02-21T00:00:00Z`), so it compares with the
//!   API's date-times; `::regclass` finds a table's oid in pg_catalog. Arrays are JSON arrays.
//! - `~ ~* !~ !~*` (and `OPERATOR(pg_catalog.~)`) into a regular-expression match; `ILIKE` into
//!   `lower(x) LIKE lower(p)` (a PostgreSQL client's LIKE tells case apart); `~~` into `LIKE`.
//! - `x = ANY(ARRAY[…])` into `x IN (…)`, `x <> ALL(ARRAY[…])` into `NOT IN`, `x op ANY(array)`
//!   over a JSON array into a subquery over its elements; `ARRAY[…]` into `json_array(…)`;
//!   `a[1]` into the array's first element (PostgreSQL counts from 1).
//! - `COLLATE pg_catalog.default` (and `"C"`, `"POSIX"`: byte order, SQLite's own) dropped;
//!   `pg_catalog.f(…)` calls `f`; `current_user` and friends are calls; `E'…'` strings are strings.
//! - `extract(field FROM x)`, `x ± interval '…'` into functions that read date-times.
//! - `FROM unnest(array)` into the array's elements; `FROM string_to_array(…) s` (any function
//!   that gives a value) into one row whose column is `s`.
//! - A bare `user`, in a statement that reads only the catalogs, into `current_user`.
//!
//! The functions these rewrites call are registered in every SQLite database the engine opens.

use std::ops::ControlFlow;

use sqlparser::ast::{
    self, BinaryOperator, CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, ObjectName, ObjectNamePart, Query, TableAlias,
    TableFactor, UnaryOperator, Value, ValueWithSpan, VisitMut, VisitorMut,
};

use crate::error::SqlError;

/// Rewrites every PostgreSQL form in freshly parsed statements into SQLite's, with stack for a
/// statement `depth` levels deep.
pub(crate) fn statements_to_sqlite(
    statements: &mut [ast::Statement],
    source: &crate::split::StatementText,
) -> Result<(), SqlError> {
    crate::limits::with_stack(source.depth, || {
        let mut rewriter = Rewriter {
            default_provider: source.default_provider.clone(),
            ..Rewriter::default()
        };
        for s in statements.iter_mut() {
            rewriter.bare_user = reads_only_catalogs(s);
            if let ControlFlow::Break(e) = s.visit(&mut rewriter) {
                return Err(e);
            }
        }
        Ok(())
    })
}

/// Rewrites every PostgreSQL form in `query` (and its subqueries) into SQLite's.
#[cfg(test)]
fn to_sqlite(query: &mut Query) -> Result<(), SqlError> {
    let mut rewriter = Rewriter::default();
    match query.visit(&mut rewriter) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

/// Keeps the names SQLite would give the columns as written: an unaliased `'42'::int + 1` is
/// still named `'42'::INT + 1` once rewritten, not after the function it became.
#[derive(Default)]
struct Rewriter {
    /// Per query being rewritten (innermost last): its projection's unaliased items as written.
    written: Vec<Vec<Option<String>>>,
    /// The provider of two-part table names (see [`crate::parse_script_for`]).
    default_provider: Option<String>,
    /// A bare `user` is PostgreSQL's current user (Grafana's table list compares schemas with
    /// it), in a statement that reads only the catalogs; among provider tables it stays a column
    /// (GitHub's pulls have one), as StackQL reads it.
    bare_user: bool,
}

/// Whether every table `statement` reads is pg_catalog's or information_schema's (functions in
/// FROM read none).
fn reads_only_catalogs(statement: &ast::Statement) -> bool {
    struct Tables {
        only_catalogs: bool,
    }
    impl ast::Visitor for Tables {
        type Break = ();
        fn pre_visit_table_factor(&mut self, table: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table {
                name, args: None, ..
            } = table
            {
                let first = name.0.first().and_then(ObjectNamePart::as_ident);
                self.only_catalogs &= match (name.0.len(), first) {
                    (2, Some(i)) => {
                        i.value.eq_ignore_ascii_case("pg_catalog")
                            || i.value.eq_ignore_ascii_case("information_schema")
                    }
                    (1, Some(i)) => i.value.to_ascii_lowercase().starts_with("pg_"),
                    _ => false,
                };
            }
            ControlFlow::Continue(())
        }
    }
    let mut tables = Tables {
        only_catalogs: true,
    };
    let _ = ast::Visit::visit(statement, &mut tables);
    tables.only_catalogs
}

/// Functions a FROM list may name that give rows of their own (SQLite's table-valued functions
/// and PostgreSQL's set-returning ones); any other function in FROM gives one row, its value.
const ROW_FUNCTIONS: [&str; 5] = [
    "generate_series",
    "unnest",
    "json_each",
    "json_tree",
    "regexp_split_to_table",
];

/// Schemas whose two-part names are not a provider's service.
const OWN_SCHEMAS: [&str; 5] = ["pg_catalog", "information_schema", "store", "main", "temp"];

fn projection(query: &mut Query) -> Option<&mut Vec<ast::SelectItem>> {
    match query.body.as_mut() {
        ast::SetExpr::Select(select) => Some(&mut select.projection),
        _ => None,
    }
}

impl VisitorMut for Rewriter {
    type Break = SqlError;

    fn pre_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<SqlError> {
        if let Some(provider) = &self.default_provider {
            let own = name.0[0]
                .as_ident()
                .is_some_and(|i| OWN_SCHEMAS.iter().any(|s| i.value.eq_ignore_ascii_case(s)));
            if name.0.len() == 2 && !own {
                name.0
                    .insert(0, ObjectNamePart::Identifier(Ident::new(provider.clone())));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<SqlError> {
        let written = projection(query)
            .map(|items| {
                items
                    .iter()
                    .map(|item| match item {
                        // A function keeps PostgreSQL's name for it: `pg_catalog.version()`
                        // is `version`.
                        ast::SelectItem::UnnamedExpr(Expr::Function(f)) if f.name.0.len() > 1 => f
                            .name
                            .0
                            .last()
                            .and_then(ObjectNamePart::as_ident)
                            .map(|i| i.value.to_lowercase()),
                        ast::SelectItem::UnnamedExpr(e) => Some(e.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.written.push(written);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<SqlError> {
        let written = self.written.pop().unwrap_or_default();
        if let Some(items) = projection(query) {
            for (item, before) in items.iter_mut().zip(written) {
                let Some(before) = before else { continue };
                if let ast::SelectItem::UnnamedExpr(e) = item {
                    if e.to_string() != before {
                        *item = ast::SelectItem::ExprWithAlias {
                            expr: take(e),
                            alias: Ident::with_quote('"', before),
                        };
                    }
                }
            }
        }
        // After the names are kept: `images.id` is named `id`, in SQLite as in PostgreSQL.
        qualified_columns(query, self.default_provider.as_deref());
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SqlError> {
        rewrite_interval_arithmetic(expr);
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SqlError> {
        if let Expr::Identifier(i) = expr {
            if self.bare_user && i.quote_style.is_none() && i.value.eq_ignore_ascii_case("user") {
                *expr = call("current_user", Vec::new());
                return ControlFlow::Continue(());
            }
        }
        match rewrite(expr) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }

    fn post_visit_table_factor(&mut self, table: &mut TableFactor) -> ControlFlow<SqlError> {
        // `pg_catalog.generate_series(…)`: SQLite's table-valued functions have no schema.
        if let TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = table
        {
            if name.0.len() == 2
                && name.0[0]
                    .as_ident()
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_catalog"))
            {
                name.0.remove(0);
            }
        }
        // `(VALUES …) s(a, b)` and `(SELECT …) s(a, b)`: SQLite has no column list in an alias;
        // the columns are named inside instead.
        if let TableFactor::Derived {
            subquery,
            alias: Some(alias),
            ..
        } = table
        {
            if !alias.columns.is_empty() {
                let names: Vec<String> =
                    alias.columns.iter().map(|c| c.name.value.clone()).collect();
                match name_columns(subquery, &names) {
                    Ok(()) => alias.columns.clear(),
                    Err(e) => return ControlFlow::Break(e),
                }
            }
        }
        // `string_to_array(…) s`: a function that gives a value, in FROM, is one row whose
        // column is named after the alias (Grafana reads `s[i]`).
        if let TableFactor::Table {
            name,
            alias,
            args: Some(args),
            ..
        } = table
        {
            let function = name.0.last().and_then(ObjectNamePart::as_ident);
            let gives_value = name.0.len() == 1
                && function.is_some_and(|f| {
                    let f = f.value.to_ascii_lowercase();
                    !ROW_FUNCTIONS.contains(&f.as_str()) && !f.starts_with("pragma_")
                });
            if gives_value {
                let function = function.map(|f| f.value.clone()).unwrap_or_default();
                let (table_name, column) = one_column_names(alias.as_ref(), &function);
                let sql = format!(
                    "SELECT {function}({}) AS {}",
                    argument_list(&args.args),
                    quote(&column)
                );
                return derived(table, &sql, table_name);
            }
        }
        // `generate_series(…) s`: PostgreSQL names the column after the alias; SQLite's is
        // `value`.
        if let TableFactor::Table {
            name,
            alias,
            args: Some(args),
            ..
        } = table
        {
            let series = name.0.len() == 1
                && name.0[0]
                    .as_ident()
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("generate_series"));
            if series {
                let (table_name, column) = one_column_names(alias.as_ref(), "generate_series");
                let sql = format!(
                    "SELECT value AS {} FROM generate_series({})",
                    quote(&column),
                    argument_list(&args.args)
                );
                return derived(table, &sql, table_name);
            }
        }
        let (alias, array) = match table {
            TableFactor::UNNEST {
                alias, array_exprs, ..
            } if array_exprs.len() == 1 => (alias.clone(), array_exprs[0].to_string()),
            // SQLite's parser reads `unnest(x)` as a table-valued function.
            TableFactor::Table {
                name,
                alias,
                args: Some(args),
                ..
            } if name
                .0
                .last()
                .and_then(ObjectNamePart::as_ident)
                .is_some_and(|i| i.value.eq_ignore_ascii_case("unnest"))
                && args.args.len() == 1 =>
            {
                (alias.clone(), args.args[0].to_string())
            }
            _ => return ControlFlow::Continue(()),
        };
        {
            {
                let name = alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .unwrap_or_else(|| "unnest".to_string());
                let column = alias
                    .as_ref()
                    .and_then(|a| a.columns.first())
                    .map(|c| c.name.value.clone())
                    .unwrap_or_else(|| name.clone());
                let sql = format!("SELECT value AS {} FROM json_each({array})", quote(&column));
                match parse_query(&sql) {
                    Ok(subquery) => {
                        *table = TableFactor::Derived {
                            lateral: false,
                            subquery,
                            alias: Some(TableAlias {
                                explicit: true,
                                name: Ident::with_quote('"', name),
                                columns: Vec::new(),
                                at: None,
                            }),
                            sample: None,
                        };
                    }
                    Err(e) => return ControlFlow::Break(e),
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// `digitalocean.compute.images.id` (and `compute.images.id` in a provider's database, and
/// `"digitalocean.compute".images.id`): a column qualified by its table's full name, as
/// PostgreSQL's tools write one (pandas' `read_sql_table`). The table, without an alias of its
/// own, goes by its resource name in the SQL SQLite runs, so the column is `images.id`.
fn qualified_columns(query: &mut Query, default_provider: Option<&str>) {
    let ast::SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let mut tables: Vec<Vec<String>> = Vec::new();
    for t in &select.from {
        let factors = std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation));
        for f in factors {
            if let TableFactor::Table {
                name,
                alias: None,
                args: None,
                ..
            } = f
            {
                if let Some(parts) = crate::query::name_parts(name) {
                    if parts.len() == 3 {
                        tables.push(parts);
                    }
                }
            }
        }
    }
    if tables.is_empty() {
        return;
    }
    let _ = ast::visit_expressions_mut(select, |e| {
        if let Expr::CompoundIdentifier(idents) = e {
            let mut parts: Vec<String> = Vec::new();
            for i in idents.iter().take(idents.len().saturating_sub(1)) {
                if i.quote_style.is_some() && i.value.contains('.') {
                    parts.extend(i.value.split('.').map(str::to_string));
                } else {
                    parts.push(i.value.clone());
                }
            }
            if let (2, Some(p)) = (parts.len(), default_provider) {
                parts.insert(0, p.to_string());
            }
            let known = parts.len() == 3
                && tables
                    .iter()
                    .any(|t| t.iter().zip(&parts).all(|(a, b)| a.eq_ignore_ascii_case(b)));
            if known {
                if let Some(column) = idents.last().cloned() {
                    let table = Ident::with_quote('"', parts[2].clone());
                    *idents = vec![table, column];
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Names a derived table's columns `names`: its SELECT's items are aliased; a `VALUES` list is
/// selected from, its `column1`, `column2`, … named.
fn name_columns(subquery: &mut Box<Query>, names: &[String]) -> Result<(), SqlError> {
    if let ast::SetExpr::Select(select) = subquery.body.as_mut() {
        if select.projection.len() == names.len()
            && select.projection.iter().all(|i| {
                matches!(
                    i,
                    ast::SelectItem::UnnamedExpr(_) | ast::SelectItem::ExprWithAlias { .. }
                )
            })
        {
            for (item, name) in select.projection.iter_mut().zip(names) {
                let expr = match item {
                    ast::SelectItem::UnnamedExpr(e)
                    | ast::SelectItem::ExprWithAlias { expr: e, .. } => take(e),
                    _ => continue,
                };
                *item = ast::SelectItem::ExprWithAlias {
                    expr,
                    alias: Ident::with_quote('"', name.clone()),
                };
            }
            return Ok(());
        }
    }
    if matches!(subquery.body.as_ref(), ast::SetExpr::Values(_)) {
        let columns: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("column{} AS {}", i + 1, quote(n)))
            .collect();
        *subquery = parse_query(&format!("SELECT {} FROM ({subquery})", columns.join(", ")))?;
        return Ok(());
    }
    let at = subquery.body.as_ref().to_string();
    Err(SqlError::new(
        1,
        1,
        format!("a column list in a subquery's alias needs a plain SELECT or VALUES: {at}"),
    ))
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The name of a one-column table made from a function in FROM, and of its column, as
/// PostgreSQL names them: the alias (else the function) and the alias's first column (else the
/// table's name).
fn one_column_names(alias: Option<&TableAlias>, function: &str) -> (String, String) {
    let table_name = alias
        .map(|a| a.name.value.clone())
        .unwrap_or_else(|| function.to_string());
    let column = alias
        .and_then(|a| a.columns.first())
        .map(|c| c.name.value.clone())
        .unwrap_or_else(|| table_name.clone());
    (table_name, column)
}

fn argument_list<T: std::fmt::Display>(args: &[T]) -> String {
    args.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `table` made the query `sql`, named `table_name`.
fn derived(table: &mut TableFactor, sql: &str, table_name: String) -> ControlFlow<SqlError> {
    match parse_query(sql) {
        Ok(subquery) => {
            *table = TableFactor::Derived {
                lateral: false,
                subquery,
                alias: Some(TableAlias {
                    explicit: true,
                    name: Ident::with_quote('"', table_name),
                    columns: Vec::new(),
                    at: None,
                }),
                sample: None,
            };
            ControlFlow::Continue(())
        }
        Err(e) => ControlFlow::Break(e),
    }
}

fn parse_query(sql: &str) -> Result<Box<Query>, SqlError> {
    let mut statements = sqlparser::parser::Parser::parse_sql(&crate::IqlDialect::default(), sql)
        .map_err(|e| SqlError::new(1, 1, e.to_string()))?;
    match statements.pop() {
        Some(ast::Statement::Query(q)) => Ok(q),
        _ => Err(SqlError::new(1, 1, "internal: a rewrite made no query")),
    }
}

fn parse_expr(sql: &str) -> Result<Expr, SqlError> {
    let query = parse_query(&format!("SELECT {sql}"))?;
    match *query.body {
        ast::SetExpr::Select(select) => match select.projection.into_iter().next() {
            Some(ast::SelectItem::UnnamedExpr(e)) => Ok(e),
            _ => Err(SqlError::new(
                1,
                1,
                "internal: a rewrite made no expression",
            )),
        },
        _ => Err(SqlError::new(
            1,
            1,
            "internal: a rewrite made no expression",
        )),
    }
}

/// `lower(e)`: ILIKE is LIKE of both sides lowered, so it ignores case where LIKE does not
/// (a PostgreSQL client's connection, whose LIKE is case-sensitive).
fn lowered(e: Expr) -> Box<Expr> {
    Box::new(call("lower", vec![e]))
}

/// `name(args…)`.
pub(crate) fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

fn text(s: &str) -> Expr {
    Expr::Value(ValueWithSpan::from(Value::SingleQuotedString(
        s.to_string(),
    )))
}

fn take(e: &mut Expr) -> Expr {
    std::mem::replace(e, Expr::Value(ValueWithSpan::from(Value::Null)))
}

fn position(e: &Expr) -> (u64, u64) {
    let at = ast::Spanned::span(e).start;
    (at.line.max(1), at.column.max(1))
}

/// What a PostgreSQL type converts to in SQLite.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Text,
    Integer,
    Real,
    Numeric,
    Boolean,
    Date,
    Timestamp,
    Json,
    RegClass,
    /// The value as it is: arrays (JSON text), oids of types and functions, intervals.
    Same,
}

/// The target of a cast to `data_type`, from the type's name as PostgreSQL spells it.
fn target(data_type: &DataType) -> Option<Target> {
    let written = data_type.to_string().to_lowercase();
    let name = written
        .trim_start_matches("pg_catalog.")
        .replace('"', "")
        .trim()
        .to_string();
    if name.ends_with("[]") || name.starts_with("array") {
        return Some(Target::Same);
    }
    let base = name.split('(').next().unwrap_or_default().trim();
    Some(match base {
        "text" | "varchar" | "character varying" | "char" | "character" | "bpchar" | "name"
        | "citext" | "unknown" | "string" | "uuid" | "inet" | "cidr" | "nchar" | "nvarchar"
        | "clob" => Target::Text,
        "int" | "integer" | "int2" | "int4" | "int8" | "smallint" | "bigint" | "oid" | "xid"
        | "cid" | "tinyint" | "mediumint" | "unsigned" | "signed" => Target::Integer,
        "real" | "float" | "float4" | "float8" | "double" | "double precision" => Target::Real,
        "numeric" | "decimal" | "dec" => Target::Numeric,
        "bool" | "boolean" => Target::Boolean,
        "date" => Target::Date,
        "timestamp"
        | "timestamptz"
        | "timestamp with time zone"
        | "timestamp without time zone"
        | "datetime" => Target::Timestamp,
        "json" | "jsonb" => Target::Json,
        "regclass" => Target::RegClass,
        "regtype"
        | "regproc"
        | "regprocedure"
        | "regoper"
        | "regoperator"
        | "regnamespace"
        | "regrole"
        | "regconfig"
        | "interval"
        | "time"
        | "timetz"
        | "time with time zone"
        | "time without time zone"
        | "bytea"
        | "blob"
        | "any" => Target::Same,
        _ => return None,
    })
}

/// The expression converted as PostgreSQL's cast to `t` converts it.
fn convert(value: Expr, t: Target) -> Expr {
    match t {
        Target::Text => match value {
            // `c.oid::regclass::text`: the table's name.
            Expr::Function(f) if is_call(&f, "iql_pg_regclass") => {
                call("iql_pg_regclass_name", arguments(f))
            }
            other => Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(other),
                data_type: DataType::Text,
                format: None,
            },
        },
        Target::Integer => call("iql_pg_integer", vec![value]),
        Target::Real => call("iql_pg_real", vec![value]),
        Target::Numeric => call("iql_pg_numeric", vec![value]),
        Target::Boolean => call("iql_pg_boolean", vec![value]),
        Target::Date => call("iql_pg_date", vec![value]),
        Target::Timestamp => call("iql_pg_timestamp", vec![value]),
        Target::Json => call("json", vec![value]),
        Target::RegClass => call("iql_pg_regclass", vec![value]),
        Target::Same => value,
    }
}

/// SQLite's name for a PostgreSQL function that differs only in its name.
fn sqlite_name(f: &Function) -> Option<&'static str> {
    const RENAMED: [(&str, &str); 10] = [
        ("string_agg", "group_concat"),
        ("array_agg", "json_group_array"),
        ("json_agg", "json_group_array"),
        ("jsonb_agg", "json_group_array"),
        ("json_build_object", "json_object"),
        ("jsonb_build_object", "json_object"),
        ("json_build_array", "json_array"),
        ("jsonb_build_array", "json_array"),
        ("json_object_agg", "json_group_object"),
        ("jsonb_object_agg", "json_group_object"),
    ];
    RENAMED
        .iter()
        .find(|(pg, _)| is_call(f, pg))
        .map(|(_, sqlite)| *sqlite)
}

fn is_call(f: &Function, name: &str) -> bool {
    f.name.0.len() == 1
        && f.name
            .0
            .last()
            .and_then(ObjectNamePart::as_ident)
            .is_some_and(|i| i.value.eq_ignore_ascii_case(name))
}

fn arguments(f: Function) -> Vec<Expr> {
    match f.args {
        FunctionArguments::List(list) => list
            .args
            .into_iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The regular-expression operators, as (negated, case-insensitive).
fn regex_operator(op: &BinaryOperator) -> Option<(bool, bool)> {
    Some(match op {
        BinaryOperator::PGRegexMatch => (false, false),
        BinaryOperator::PGRegexIMatch => (false, true),
        BinaryOperator::PGRegexNotMatch => (true, false),
        BinaryOperator::PGRegexNotIMatch => (true, true),
        _ => return None,
    })
}

/// The operator `OPERATOR(schema.op)` names, when iql knows it.
fn named_operator(parts: &[String]) -> Option<BinaryOperator> {
    let (op, schema) = parts.split_last()?;
    if !schema.iter().all(|s| s.eq_ignore_ascii_case("pg_catalog")) {
        return None;
    }
    Some(match op.as_str() {
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "~~" => BinaryOperator::PGLikeMatch,
        "~~*" => BinaryOperator::PGILikeMatch,
        "!~~" => BinaryOperator::PGNotLikeMatch,
        "!~~*" => BinaryOperator::PGNotILikeMatch,
        "=" => BinaryOperator::Eq,
        "<>" | "!=" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        ">" => BinaryOperator::Gt,
        "<=" => BinaryOperator::LtEq,
        ">=" => BinaryOperator::GtEq,
        "||" => BinaryOperator::StringConcat,
        "+" => BinaryOperator::Plus,
        "-" => BinaryOperator::Minus,
        "*" => BinaryOperator::Multiply,
        "/" => BinaryOperator::Divide,
        _ => return None,
    })
}

/// The names PostgreSQL reads as calls without parentheses.
const BARE_CALLS: [&str; 4] = [
    "current_user",
    "session_user",
    "current_role",
    "current_catalog",
];

/// `ts ± interval '…'`, seen before its operands are (an interval alone is made text after).
fn rewrite_interval_arithmetic(expr: &mut Expr) {
    match expr {
        Expr::BinaryOp {
            op: BinaryOperator::Plus | BinaryOperator::Minus,
            right,
            ..
        } if matches!(**right, Expr::Interval(_)) => {
            let Expr::BinaryOp { left, op, right } = take(expr) else {
                return;
            };
            let Expr::Interval(interval) = *right else {
                return;
            };
            let sign = if op == BinaryOperator::Minus { -1 } else { 1 };
            *expr = call(
                "iql_pg_add_interval",
                vec![
                    *left,
                    interval_text(&interval),
                    Expr::Value(ValueWithSpan::from(Value::Number(sign.to_string(), false))),
                ],
            );
        }
        _ => {}
    }
}

fn rewrite(expr: &mut Expr) -> Result<(), SqlError> {
    match expr {
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            ..
        } => {
            let at = position(expr);
            let Expr::Cast {
                expr: inner,
                data_type: dt,
                ..
            } = take(expr)
            else {
                return Ok(());
            };
            let t = target(&dt).ok_or_else(|| {
                SqlError::new(
                    at.0,
                    at.1,
                    format!("iql does not know the type {dt}: cast to text, integer, bigint, real, numeric, boolean, date, timestamptz, jsonb, regclass or an array"),
                )
            })?;
            *expr = convert(*inner, t);
        }
        Expr::TypedString(ts) => {
            let Some(t) = target(&ts.data_type) else {
                return Ok(());
            };
            let value = Expr::Value(ts.value.clone());
            *expr = convert(value, t);
        }
        Expr::BinaryOp {
            op: BinaryOperator::PGCustomBinaryOperator(_),
            ..
        } => {
            let at = position(expr);
            let Expr::BinaryOp {
                op: BinaryOperator::PGCustomBinaryOperator(parts),
                ..
            } = &*expr
            else {
                return Ok(());
            };
            let Some(known) = named_operator(parts) else {
                let (line, column) = at;
                return Err(SqlError::new(
                    line,
                    column,
                    format!(
                        "iql does not know the operator OPERATOR({})",
                        parts.join(".")
                    ),
                ));
            };
            if let Expr::BinaryOp { op, .. } = expr {
                *op = known;
            }
            rewrite(expr)?;
        }
        Expr::BinaryOp { op, .. } if regex_operator(op).is_some() => {
            let Expr::BinaryOp { left, op, right } = take(expr) else {
                return Ok(());
            };
            let (negated, insensitive) = regex_operator(&op).unwrap_or((false, false));
            let matched = call(
                "iql_pg_regex",
                vec![*left, *right, text(if insensitive { "i" } else { "" })],
            );
            *expr = if negated {
                Expr::UnaryOp {
                    op: UnaryOperator::Not,
                    expr: Box::new(matched),
                }
            } else {
                matched
            };
        }
        Expr::BinaryOp {
            op:
                BinaryOperator::PGLikeMatch
                | BinaryOperator::PGILikeMatch
                | BinaryOperator::PGNotLikeMatch
                | BinaryOperator::PGNotILikeMatch,
            ..
        } => {
            let Expr::BinaryOp { left, op, right } = take(expr) else {
                return Ok(());
            };
            let (left, right) = match op {
                BinaryOperator::PGILikeMatch | BinaryOperator::PGNotILikeMatch => {
                    (lowered(*left), lowered(*right))
                }
                _ => (left, right),
            };
            *expr = Expr::Like {
                negated: matches!(
                    op,
                    BinaryOperator::PGNotLikeMatch | BinaryOperator::PGNotILikeMatch
                ),
                any: false,
                expr: left,
                pattern: right,
                escape_char: None,
            };
        }
        Expr::Interval(interval) => {
            *expr = interval_text(interval);
        }
        Expr::ILike {
            negated,
            any: false,
            ..
        } => {
            let negated = *negated;
            let Expr::ILike {
                expr: inner,
                pattern,
                escape_char,
                ..
            } = take(expr)
            else {
                return Ok(());
            };
            *expr = Expr::Like {
                negated,
                any: false,
                expr: lowered(*inner),
                pattern: lowered(*pattern),
                escape_char,
            };
        }
        Expr::AnyOp { .. } | Expr::AllOp { .. } => {
            let all = matches!(expr, Expr::AllOp { .. });
            let (left, compare_op, right) = match take(expr) {
                Expr::AnyOp {
                    left,
                    compare_op,
                    right,
                    ..
                }
                | Expr::AllOp {
                    left,
                    compare_op,
                    right,
                } => (left, compare_op, right),
                _ => return Ok(()),
            };
            *expr = any_or_all(*left, compare_op, *right, all)?;
        }
        Expr::CompoundFieldAccess { access_chain, .. }
            if matches!(
                access_chain.last(),
                Some(ast::AccessExpr::Subscript(ast::Subscript::Index { .. }))
            ) && access_chain[..access_chain.len() - 1]
                .iter()
                .all(|a| matches!(a, ast::AccessExpr::Dot(Expr::Identifier(_)))) =>
        {
            // `a[i]`, `t.a[i]`: PostgreSQL counts an array's elements from 1, JSON from 0.
            let Expr::CompoundFieldAccess {
                root,
                mut access_chain,
            } = take(expr)
            else {
                return Ok(());
            };
            let Some(ast::AccessExpr::Subscript(ast::Subscript::Index { index })) =
                access_chain.pop()
            else {
                return Ok(());
            };
            let mut array = *root;
            if !access_chain.is_empty() {
                let mut parts = match array {
                    Expr::Identifier(i) => vec![i],
                    Expr::CompoundIdentifier(p) => p,
                    other => {
                        *expr = other;
                        return Ok(());
                    }
                };
                for a in access_chain {
                    if let ast::AccessExpr::Dot(Expr::Identifier(i)) = a {
                        parts.push(i);
                    }
                }
                array = Expr::CompoundIdentifier(parts);
            }
            *expr = parse_expr(&format!(
                "json_extract({array}, '$[' || (({index}) - 1) || ']')"
            ))?;
        }
        Expr::CompoundFieldAccess { access_chain, .. }
            if access_chain.len() == 1
                && matches!(&access_chain[0], ast::AccessExpr::Dot(Expr::Identifier(_))) =>
        {
            // `(row).field`: a composite's field; iql's composites are JSON objects.
            let Expr::CompoundFieldAccess {
                root,
                mut access_chain,
            } = take(expr)
            else {
                return Ok(());
            };
            let Some(ast::AccessExpr::Dot(Expr::Identifier(field))) = access_chain.pop() else {
                return Ok(());
            };
            *expr = call(
                "json_extract",
                vec![*root, text(&format!("$.{}", field.value))],
            );
        }
        Expr::Trim {
            trim_where: Some(_),
            ..
        }
        | Expr::Trim {
            trim_what: Some(_), ..
        } => {
            // `trim(both '"' from x)`: SQLite's trim(x, '"'), ltrim, rtrim.
            let Expr::Trim {
                trim_where,
                trim_what,
                expr: inner,
                ..
            } = take(expr)
            else {
                return Ok(());
            };
            let name = match trim_where {
                Some(ast::TrimWhereField::Leading) => "ltrim",
                Some(ast::TrimWhereField::Trailing) => "rtrim",
                _ => "trim",
            };
            let mut args = vec![*inner];
            args.extend(trim_what.map(|w| *w));
            *expr = call(name, args);
        }
        Expr::Substring { .. } => {
            // `substring(x FROM a FOR n)` (or with commas): SQLite's substr(x, a, n), which counts
            // from 1 as PostgreSQL does.
            let Expr::Substring {
                expr: inner,
                substring_from,
                substring_for,
                ..
            } = take(expr)
            else {
                return Ok(());
            };
            let mut args = vec![*inner];
            args.push(substring_from.map(|f| *f).unwrap_or_else(|| {
                Expr::Value(ValueWithSpan::from(Value::Number("1".into(), false)))
            }));
            args.extend(substring_for.map(|f| *f));
            *expr = call("substr", args);
        }
        Expr::Array(array) => {
            let elements = std::mem::take(&mut array.elem);
            *expr = call("json_array", elements);
        }
        Expr::Collate { collation, .. } if default_collation(collation) => {
            let Expr::Collate { expr: inner, .. } = take(expr) else {
                return Ok(());
            };
            *expr = *inner;
        }
        Expr::Function(f)
            if is_call(f, "array") && matches!(f.args, FunctionArguments::Subquery(_)) =>
        {
            // `ARRAY(SELECT x …)`: the subquery's values as one JSON array.
            let FunctionArguments::Subquery(inner) = &f.args else {
                return Ok(());
            };
            let mut inner = inner.clone();
            if let ast::SetExpr::Select(select) = inner.body.as_mut() {
                if let [item] = select.projection.as_mut_slice() {
                    let value = match item {
                        ast::SelectItem::UnnamedExpr(e)
                        | ast::SelectItem::ExprWithAlias { expr: e, .. } => take(e),
                        _ => return Ok(()),
                    };
                    *item = ast::SelectItem::ExprWithAlias {
                        expr: value,
                        alias: Ident::new("iql_element"),
                    };
                }
            }
            let sql = format!("SELECT json_group_array(iql_element) FROM ({inner})");
            *expr = Expr::Subquery(parse_query(&sql)?);
        }
        Expr::Function(f) if sqlite_name(f).is_some() => {
            // SQLite's names for PostgreSQL's functions (an array is a JSON array).
            let name = sqlite_name(f).unwrap_or_default();
            f.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]);
        }
        // `pg_catalog.version()` is `version()`: SQLite's functions have no schema.
        Expr::Function(f)
            if f.name.0.len() == 2
                && f.name.0[0].as_ident().is_some_and(|i| {
                    i.value.eq_ignore_ascii_case("pg_catalog")
                        || i.value.eq_ignore_ascii_case("information_schema")
                }) =>
        {
            f.name.0.remove(0);
        }
        Expr::Identifier(i)
            if i.quote_style.is_none()
                && BARE_CALLS.iter().any(|c| i.value.eq_ignore_ascii_case(c)) =>
        {
            let name = i.value.to_lowercase();
            *expr = call(&name, Vec::new());
        }
        Expr::Value(v) => {
            if let Value::EscapedStringLiteral(s) = &v.value {
                v.value = Value::SingleQuotedString(s.clone());
            }
        }
        Expr::Extract { field, .. } => {
            let name = field.to_string().to_lowercase();
            let Expr::Extract { expr: inner, .. } = take(expr) else {
                return Ok(());
            };
            *expr = call("iql_pg_extract", vec![text(&name), *inner]);
        }
        _ => {}
    }
    Ok(())
}

/// `interval '1 day'` (or `INTERVAL 1 DAY`) as the text `'1 day'`.
fn interval_text(interval: &ast::Interval) -> Expr {
    let value = match interval.value.as_ref() {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => s.clone(),
            Value::Number(n, _) => n.clone(),
            other => other.to_string(),
        },
        other => other.to_string(),
    };
    let unit = interval
        .leading_field
        .as_ref()
        .map(|f| format!(" {}", f.to_string().to_lowercase()))
        .unwrap_or_default();
    text(&format!("{value}{unit}"))
}

/// `COLLATE pg_catalog.default`, `"C"`, `"POSIX"`: byte order, which is SQLite's own.
fn default_collation(name: &ObjectName) -> bool {
    name.0
        .last()
        .and_then(ObjectNamePart::as_ident)
        .is_some_and(|i| {
            ["default", "c", "posix", "ucs_basic"].contains(&i.value.to_lowercase().as_str())
        })
}

/// `left op ANY(right)` / `left op ALL(right)`.
fn any_or_all(
    left: Expr,
    compare_op: BinaryOperator,
    right: Expr,
    all: bool,
) -> Result<Expr, SqlError> {
    let right = match right {
        Expr::Nested(inner) => *inner,
        other => other,
    };
    // The array already rewritten: `json_array(a, b)`.
    if let Expr::Function(f) = &right {
        if is_call(f, "json_array") {
            let elements = arguments(f.clone());
            match (&compare_op, all) {
                (BinaryOperator::Eq, false) => {
                    return Ok(Expr::InList {
                        expr: Box::new(left),
                        list: elements,
                        negated: false,
                    })
                }
                (BinaryOperator::NotEq, true) => {
                    return Ok(Expr::InList {
                        expr: Box::new(left),
                        list: elements,
                        negated: true,
                    })
                }
                _ => {}
            }
        }
    }
    if let Expr::Subquery(q) = right {
        // `x = ANY (SELECT …)`: a subquery, as SQL has it.
        return Ok(match (&compare_op, all) {
            (BinaryOperator::Eq, false) => Expr::InSubquery {
                expr: Box::new(left),
                subquery: q,
                negated: false,
            },
            (BinaryOperator::NotEq, true) => Expr::InSubquery {
                expr: Box::new(left),
                subquery: q,
                negated: true,
            },
            _ => {
                let (line, column) = position(&left);
                return Err(SqlError::new(
                    line,
                    column,
                    format!(
                        "{compare_op} {} (SELECT …) is not supported; use IN, NOT IN or EXISTS",
                        if all { "ALL" } else { "ANY" }
                    ),
                ));
            }
        });
    }
    // Any other array (a column, a bound parameter): its JSON elements.
    let sql = if all {
        format!(
            "NOT EXISTS (SELECT 1 FROM json_each(iql_array({right})) WHERE NOT ({left} {compare_op} value))"
        )
    } else {
        format!(
            "EXISTS (SELECT 1 FROM json_each(iql_array({right})) WHERE {left} {compare_op} value)"
        )
    };
    parse_expr(&sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statements =
            sqlparser::parser::Parser::parse_sql(&crate::IqlDialect::default(), sql)
                .expect("parses");
        let Some(ast::Statement::Query(mut q)) = statements.pop() else {
            panic!("not a query")
        };
        to_sqlite(&mut q).expect("rewrites");
        q.to_string()
    }

    #[test]
    fn casts_become_conversions_with_postgresql_rules() {
        assert_eq!(
            rewritten("SELECT '1'::int, x::text, y::boolean, z::timestamptz, w::text[]"),
            "SELECT iql_pg_integer('1') AS \"'1'::INT\", CAST(x AS TEXT) AS \"x::TEXT\", \
             iql_pg_boolean(y) AS \"y::BOOLEAN\", iql_pg_timestamp(z) AS \"z::TIMESTAMPTZ\", w AS \"w::TEXT[]\""
        );
        assert_eq!(
            rewritten("SELECT c.oid::pg_catalog.regclass::text"),
            "SELECT iql_pg_regclass_name(c.oid) AS \"c.oid::pg_catalog.regclass::TEXT\""
        );
        let mut statements = sqlparser::parser::Parser::parse_sql(
            &crate::IqlDialect::default(),
            "SELECT\n  'x'::geometry",
        )
        .expect("parses");
        let Some(ast::Statement::Query(mut q)) = statements.pop() else {
            panic!()
        };
        let e = to_sqlite(&mut q).expect_err("unknown type");
        assert!(e.to_string().contains("geometry"), "{e}");
        assert!(e.to_string().contains("line 2, column 3"), "{e}");
    }

    #[test]
    fn operators_become_sqlite_forms() {
        assert_eq!(
            rewritten("SELECT 1 WHERE n.nspname OPERATOR(pg_catalog.~) '^(compute)$' COLLATE pg_catalog.default AND a !~* 'x'"),
            "SELECT 1 WHERE iql_pg_regex(n.nspname, '^(compute)$', '') AND NOT iql_pg_regex(a, 'x', 'i')"
        );
        assert_eq!(
            rewritten("SELECT 1 WHERE k = ANY (ARRAY['r'::\"char\", 'p']) AND j <> ALL(ARRAY[1]) AND a ILIKE 'x%'"),
            "SELECT 1 WHERE k IN (CAST('r' AS TEXT), 'p') AND j NOT IN (1) AND lower(a) LIKE lower('x%')"
        );
        assert_eq!(
            rewritten("SELECT pg_catalog.version(), current_user, E'a\\'b'"),
            "SELECT version() AS \"version\", current_user() AS \"current_user\", 'a''b' AS \"E'a\\'b'\""
        );
        assert_eq!(
            rewritten("SELECT now() - interval '1 day', extract(epoch from t)"),
            "SELECT iql_pg_add_interval(now(), '1 day', -1) AS \"now() - INTERVAL '1 day'\", \
             iql_pg_extract('epoch', t) AS \"EXTRACT(EPOCH FROM t)\""
        );
        assert_eq!(
            rewritten("SELECT array(select rolname from pg_roles where oid = any (r.roles) order by 1) AS m"),
            "SELECT (SELECT json_group_array(iql_element) FROM (SELECT rolname AS iql_element FROM pg_roles \
             WHERE EXISTS (SELECT 1 FROM json_each(iql_array(r.roles)) WHERE oid = value) ORDER BY 1)) AS m"
        );
        assert_eq!(
            rewritten("SELECT digitalocean.compute.images.id, \"digitalocean.compute\".images.slug FROM digitalocean.compute.images"),
            "SELECT \"images\".id, \"images\".slug FROM digitalocean.compute.images"
        );
        assert_eq!(
            rewritten("SELECT trim(both '\"' from x), substring(y from 0 for 6), (f(z)).n, t.a[2]"),
            "SELECT trim(x, '\"') AS \"TRIM(BOTH '\"\"' FROM x)\", substr(y, 0, 6) AS \"SUBSTRING(y FROM 0 FOR 6)\", \
             json_extract((f(z)), '$.n') AS \"(f(z)).n\", json_extract(t.a, '$[' || ((2) - 1) || ']') AS \"t.a[2]\""
        );
        assert_eq!(
            rewritten("SELECT name FROM (VALUES ('id', 20)) s(name, tp)"),
            "SELECT name FROM (SELECT column1 AS \"name\", column2 AS \"tp\" FROM (VALUES ('id', 20))) s"
        );
        assert_eq!(
            rewritten("SELECT * FROM unnest(current_schemas(true)) AS s"),
            "SELECT * FROM (SELECT value AS \"s\" FROM json_each(current_schemas(true))) AS \"s\""
        );
    }
}
