//! Queries: which provider tables they read, which conjuncts could become API parameters, and the
//! SQL SQLite runs once the planner has decided.
//!
//! Analysis and rendering walk the AST with one function in two modes, so the numbering of table
//! references and conjuncts is the same in both.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use crate::dialect::IqlDialect;
use sqlparser::ast::{
    self, BinaryOperator, Expr, Ident, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart,
    Query, Select, SelectItem, SetExpr, TableAlias, TableFactor, Value,
};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::error::SqlError;
use crate::split::StatementText;

/// A literal on the right of `=` or inside `IN (…)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    /// A number as written (`42`, `2.5`).
    Number(String),
    Bool(bool),
}

impl Literal {
    /// The literal as text, the way it would be sent in a URL.
    pub fn as_text(&self) -> String {
        match self {
            Literal::Text(s) | Literal::Number(s) => s.clone(),
            Literal::Bool(b) => b.to_string(),
        }
    }
}

/// `alias.column`, `column`, or `provider.service.resource.column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRef {
    pub qualifier: Vec<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConjunctKind {
    /// `col = literal` or `col IN (literal, …)`.
    Equals {
        column: ColumnRef,
        values: Vec<Literal>,
    },
    /// `a.col = b.col`.
    Link {
        left: ColumnRef,
        right: ColumnRef,
    },
    /// `a.col = f(b.x, …)`: a column equal to an expression over other columns
    /// (`i.image_id = json_extract(d.image, '$.id')`). `sql` is the expression as SQLite runs it,
    /// `columns` the columns it names.
    LinkExpr {
        column: ColumnRef,
        sql: String,
        columns: Vec<ColumnRef>,
    },
    /// `col IN (SELECT …)`: `subquery` indexes [`QueryStatement::subquery_tables`] and
    /// [`QueryStatement::render_subquery`].
    InSubquery {
        column: ColumnRef,
        subquery: usize,
    },
    /// `a = 1 OR b = 'x' OR …` over different columns: the equalities among the alternatives,
    /// and how many alternatives are something else. An OR across a parameter and a field is
    /// answered as the union of a call with the parameter and one without.
    AnyOf {
        equals: Vec<(ColumnRef, Vec<Literal>)>,
        others: usize,
    },
    Other,
}

/// A subquery that gives a column its values (`image_id IN (SELECT id FROM …)`), kept with the
/// numbering it was analysed under, so it can be rendered on its own with the same table ids.
#[derive(Debug, Clone)]
struct SubqueryRef {
    query: Box<Query>,
    first_table: usize,
    first_scope: usize,
    first_conjunct: usize,
    /// The provider tables inside it.
    tables: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conjunct {
    pub id: usize,
    pub kind: ConjunctKind,
    /// From `WHERE` (true) or from a join's `ON` (false).
    pub from_where: bool,
    /// Every column the condition names (outside any subquery in it).
    pub columns: Vec<ColumnRef>,
    /// The condition as SQL text, for messages.
    pub text: String,
    /// Where it was written: from (line, column) to (line, column).
    pub span: ((u64, u64), (u64, u64)),
}

impl Conjunct {
    /// Whether a position (line, column) of the statement lies inside this condition.
    pub fn contains(&self, at: (u64, u64)) -> bool {
        self.span.0 <= at && at <= self.span.1
    }
}

/// A provider table named in the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    pub id: usize,
    /// `["digitalocean", "compute", "images"]`.
    pub name: Vec<String>,
    pub alias: Option<String>,
    /// The `SELECT` whose `FROM` names it.
    pub scope: usize,
    /// On the optional side of an outer join: its `WHERE` conjuncts must not be answered by the API.
    pub outer: bool,
}

/// One `SELECT`: its conjuncts and the names its `FROM` brings into scope.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scope {
    pub id: usize,
    pub conjuncts: Vec<Conjunct>,
    /// Provider tables in this `FROM`.
    pub refs: Vec<usize>,
    /// Whether the `FROM` also names non-provider tables (CTEs, subqueries, table functions).
    pub other_sources: usize,
}

/// `LIMIT n [OFFSET m]` on a plain single-table query without `ORDER BY`, aggregates or `DISTINCT`:
/// fetching can stop after `rows` rows if every conjunct of `scope` is answered by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitHint {
    pub table: usize,
    pub scope: usize,
    pub rows: u64,
}

#[derive(Debug, Clone)]
pub struct QueryStatement {
    query: Box<Query>,
    pub tables: Vec<TableRef>,
    pub scopes: Vec<Scope>,
    pub limit_hint: Option<LimitHint>,
    /// The script, blank outside this statement: positions in it are the user's.
    padded: String,
    /// How deep the statement's tree may be: walks of it get stack for that (`limits`).
    depth: usize,
    /// The names the statement's text holds (lowercased), and whether it selects every column
    /// somewhere (`*`, `t.*`, a `NATURAL` join): which columns of a provider table it can need.
    words: std::collections::HashSet<String>,
    every_column: bool,
    /// What [`QueryStatement::render`] gave, by its arguments: a statement run again (from a
    /// `StatementCache`) is usually rendered the same way.
    rendered: Arc<Mutex<Vec<(RenderKey, String)>>>,
    subqueries: Vec<SubqueryRef>,
    /// Each comparison of a column with a string literal, for the engine to check against the
    /// column's type (`public = 'true'` can never be true: `public` holds 0 and 1).
    pub comparisons: Vec<crate::meaning::LiteralComparison>,
}

pub(crate) fn parse_query(source: &StatementText) -> Result<QueryStatement, SqlError> {
    let mut statements = crate::limits::parse_tokens(&source.tokens)
        .map_err(|e| SqlError::in_statement(&e.to_string(), source))?;
    crate::postgres::statements_to_sqlite(&mut statements, source)?;
    let statement = statements
        .pop()
        .ok_or_else(|| SqlError::new(source.line, source.column, "empty statement"))?;
    let query = match statement {
        ast::Statement::Query(q) => q,
        other => {
            let verb = other.to_string();
            let verb = verb
                .split_whitespace()
                .next()
                .unwrap_or("this statement")
                .to_uppercase();
            return Err(SqlError::new(
                source.line,
                source.column,
                format!("{verb} is not supported here; iql runs SELECT, INSERT, REPLACE/UPDATE, DELETE, EXEC, SHOW, DESCRIBE and view (CREATE VIEW, DROP VIEW, REFRESH MATERIALIZED VIEW) statements"),
            ));
        }
    };
    from_query(query, source)
}

/// Analyses an already parsed query (also the source of an INSERT).
pub(crate) fn from_query(
    mut query: Box<Query>,
    source: &StatementText,
) -> Result<QueryStatement, SqlError> {
    crate::limits::with_stack(source.depth, || crate::meaning::check(&query, source))?;
    let comparisons =
        crate::limits::with_stack(source.depth, || crate::meaning::literal_comparisons(&query));
    let mut walker = Walker::analyze();
    walker.query(&mut query);
    if let Some((name, line, column)) = walker.overlong.first() {
        return Err(SqlError::new(
            *line,
            *column,
            format!("{name} is not a table name: provider tables are named provider.service.resource, e.g. digitalocean.compute.images"),
        ));
    }
    let limit_hint = limit_hint(&query, &walker);
    let (words, every_column) = mentions(&source.tokens);
    Ok(QueryStatement {
        words,
        every_column,
        query,
        tables: walker.tables,
        scopes: walker.scopes,
        limit_hint,
        depth: source.depth,
        rendered: Arc::default(),
        padded: source.padded.clone(),
        subqueries: walker.found,
        comparisons,
    })
}

/// Every word of the statement (lowercased), and whether it asks for every column: a `*` that is
/// a projection (after `SELECT`, `DISTINCT`, `ALL`, a comma or a `.`; not `count(*)` nor a
/// product), or a `NATURAL` join, which joins on columns it does not name.
fn mentions(tokens: &[TokenWithSpan]) -> (std::collections::HashSet<String>, bool) {
    use sqlparser::keywords::Keyword;
    let mut words = std::collections::HashSet::new();
    let mut every = false;
    let mut previous: Option<&Token> = None;
    for t in tokens {
        match &t.token {
            Token::Whitespace(_) => continue,
            Token::Word(w) => {
                if w.keyword == Keyword::NATURAL {
                    every = true;
                }
                words.insert(w.value.to_lowercase());
            }
            Token::Mul => {
                let projection = match previous {
                    None | Some(Token::Comma) | Some(Token::Period) => true,
                    Some(Token::Word(w)) => matches!(
                        w.keyword,
                        Keyword::SELECT | Keyword::DISTINCT | Keyword::ALL
                    ),
                    _ => false,
                };
                every |= projection;
            }
            _ => {}
        }
        previous = Some(&t.token);
    }
    (words, every)
}

impl QueryStatement {
    pub(crate) fn ast(&self) -> &Query {
        &self.query
    }

    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    pub(crate) fn every_column(&self) -> bool {
        self.every_column
    }

    pub(crate) fn words(&self) -> &std::collections::HashSet<String> {
        &self.words
    }

    /// Whether the statement's text holds the word (any case).
    pub fn mentions(&self, word: &str) -> bool {
        self.words.contains(&word.to_lowercase())
    }

    /// Whether the statement may need the column `name` of a table it reads: it names it, or asks
    /// for every column. A table keeps only such columns, which saves the memory and the time to
    /// hold the others.
    pub fn may_need_column(&self, name: &str) -> bool {
        self.every_column || self.words.contains(&name.to_lowercase())
    }

    /// The SQL for SQLite: provider tables renamed to `local_names[table id]` (keeping the user's alias,
    /// or the resource name as alias), and the conjuncts in `answered` replaced by `true`.
    pub fn render(
        &self,
        local_names: &HashMap<usize, String>,
        answered: &HashSet<usize>,
    ) -> String {
        let mut names: Vec<(usize, String)> =
            local_names.iter().map(|(k, v)| (*k, v.clone())).collect();
        names.sort();
        let mut ids: Vec<usize> = answered.iter().copied().collect();
        ids.sort_unstable();
        let key = (names, ids);
        let mut memo = self
            .rendered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, sql)) = memo.iter().find(|(k, _)| *k == key) {
            return sql.clone();
        }
        let sql = crate::limits::with_stack(self.depth, || {
            let mut query = self.query.clone();
            let mut walker = Walker {
                render: Some((local_names, answered)),
                ..Walker::analyze()
            };
            walker.query(&mut query);
            quote_reserved_names(&mut query);
            query.to_string()
        });
        if memo.len() >= RENDERINGS_KEPT {
            memo.remove(0);
        }
        memo.push((key, sql.clone()));
        sql
    }

    /// Where a name that SQLite reports (`nmae`, `a.stauts`) first appears in the statement, as
    /// line and column in the script. SQLite sees the rewritten SQL, whose positions mean nothing
    /// to the user; the name itself is the same in both.
    pub fn position_of(&self, name: &str) -> Option<(u64, u64)> {
        let tokens = Tokenizer::new(&IqlDialect::default(), &self.padded)
            .tokenize_with_location()
            .ok()?;
        let parts: Vec<&str> = name.split('.').collect();
        let width = parts.len() * 2 - 1;
        tokens
            .windows(width)
            .find(|w| {
                w.iter().enumerate().all(|(i, t)| match (i % 2, &t.token) {
                    (1, Token::Period) => true,
                    (0, Token::Word(word)) => word.value.eq_ignore_ascii_case(parts[i / 2]),
                    _ => false,
                })
            })
            .map(|w| (w[0].span.start.line, w[0].span.start.column))
    }

    /// The provider tables inside the subquery of an [`ConjunctKind::InSubquery`] conjunct.
    pub fn subquery_tables(&self, index: usize) -> &[usize] {
        self.subqueries
            .get(index)
            .map(|s| s.tables.as_slice())
            .unwrap_or_default()
    }

    /// The subquery of an [`ConjunctKind::InSubquery`] conjunct alone, rendered for SQLite like
    /// [`render`](Self::render): its values bind the column's parameter once its tables are loaded.
    pub fn render_subquery(
        &self,
        index: usize,
        local_names: &HashMap<usize, String>,
        answered: &HashSet<usize>,
    ) -> Option<String> {
        crate::limits::with_stack(self.depth, || {
            self.render_subquery_here(index, local_names, answered)
        })
    }

    fn render_subquery_here(
        &self,
        index: usize,
        local_names: &HashMap<usize, String>,
        answered: &HashSet<usize>,
    ) -> Option<String> {
        let sub = self.subqueries.get(index)?;
        let mut query = sub.query.clone();
        let mut walker = Walker {
            render: Some((local_names, answered)),
            next_table: sub.first_table,
            next_scope: sub.first_scope,
            next_conjunct: sub.first_conjunct,
            ..Walker::analyze()
        };
        walker.query(&mut query);
        quote_reserved_names(&mut query);
        if query.with.is_none() {
            // The statement's CTEs, rendered the same way, so the subquery may name them.
            let mut statement = self.query.clone();
            let mut walker = Walker {
                render: Some((local_names, answered)),
                ..Walker::analyze()
            };
            walker.query(&mut statement);
            quote_reserved_names(&mut statement);
            query.with = statement.with;
        }
        Some(query.to_string())
    }

    pub fn scope(&self, id: usize) -> Option<&Scope> {
        self.scopes.iter().find(|s| s.id == id)
    }

    /// A copy of the statement whose outermost columns that take their type from an argument
    /// (`max(created_at)`, `coalesce(size, 0)`) are that argument: rendered and compiled as the
    /// statement is, it lets SQLite declare those columns' types. `None` when there are none.
    pub fn type_probe(&self) -> Option<QueryStatement> {
        let query = crate::expression_types::argument_probe(&self.query)?;
        let mut out = self.clone();
        out.query = Box::new(query);
        out.rendered = Arc::default();
        Some(out)
    }

    /// The types the outermost SELECT's computed columns have, as far as their expressions tell
    /// (`count(*)` is an integer, a comparison a boolean): what a PostgreSQL client is told
    /// before the statement runs. One entry per column, or none when `*` is among them.
    pub fn postgres_types(&self) -> Vec<Option<crate::ExpressionType>> {
        crate::expression_types::projection_types(&self.query)
    }

    /// The names PostgreSQL gives the result's columns where they differ from SQLite's: an
    /// unaliased function call is named after the function (`count(*)` → `count`). One entry per
    /// column of the outermost SELECT (`None`: SQLite's name stands), or none at all when its
    /// columns cannot be told from the text (`*`, `t.*`).
    pub fn postgres_names(&self) -> Vec<Option<String>> {
        let mut body = self.query.body.as_ref();
        loop {
            match body {
                SetExpr::Select(select) => {
                    let mut out = Vec::new();
                    for item in &select.projection {
                        match item {
                            SelectItem::UnnamedExpr(Expr::Function(f)) => out.push(
                                f.name
                                    .0
                                    .last()
                                    .and_then(ObjectNamePart::as_ident)
                                    .map(|i| i.value.to_lowercase()),
                            ),
                            SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. } => {
                                out.push(None)
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

    /// The statement with each comparison of a date-time column with the string literal
    /// written at one of `at` (line, column) made a comparison of instants: both sides through
    /// `iql_instant`, which writes any date-time in one fixed-width form
    /// (`2025-02-21T00:00:00.000000Z`). As text, `created_at > '2025-02-21 00:00:00'` compares
    /// `T` with a space and is true for every time of the day; PostgreSQL compares the instants,
    /// and so does iql once the engine, which knows the column's type, has found it.
    pub fn with_instants(&self, at: &[(u64, u64)]) -> QueryStatement {
        let mut out = self.clone();
        out.rendered = Arc::default();
        let marked = |e: &Expr| match e {
            Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_)) => {
                at.contains(&(v.span.start.line, v.span.start.column))
            }
            _ => false,
        };
        let instant = |e: &mut Expr| {
            let inner = std::mem::replace(e, Expr::Value(Value::Null.into()));
            *e = crate::postgres::call("iql_instant", vec![inner]);
        };
        let rewrite = |query: &mut Query| {
            let _ = ast::visit_expressions_mut(query, |e| {
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
                    } if marked(left) || marked(right) => {
                        instant(left);
                        instant(right);
                    }
                    Expr::Between {
                        expr, low, high, ..
                    } if marked(low) || marked(high) => {
                        instant(expr);
                        instant(low);
                        instant(high);
                    }
                    Expr::InList { expr, list, .. } if list.iter().any(marked) => {
                        instant(expr);
                        list.iter_mut().for_each(instant);
                    }
                    _ => {}
                }
                ControlFlow::<()>::Continue(())
            });
        };
        crate::limits::with_stack(self.depth, || {
            rewrite(&mut out.query);
            for sub in &mut out.subqueries {
                rewrite(&mut sub.query);
            }
        });
        out
    }

    /// The statement with the string literals written at `at` (line, column) made booleans:
    /// `public = 'true'` compares a boolean column (0 or 1 in SQLite) with the text `true`, which
    /// never matches; PostgreSQL reads the string as the boolean, and so does iql once the
    /// engine, which knows the column's type, has found it.
    pub fn with_truth_values(&self, at: &[((u64, u64), bool)]) -> QueryStatement {
        let mut out = self.clone();
        out.rendered = Arc::default();
        let rewrite = |query: &mut Query| {
            let _ = ast::visit_expressions_mut(query, |e| {
                if let Expr::Value(v) = e {
                    if matches!(v.value, Value::SingleQuotedString(_)) {
                        let start = (v.span.start.line, v.span.start.column);
                        if let Some((_, truth)) = at.iter().find(|(p, _)| *p == start) {
                            v.value = Value::Boolean(*truth);
                        }
                    }
                }
                ControlFlow::<()>::Continue(())
            });
        };
        crate::limits::with_stack(self.depth, || {
            rewrite(&mut out.query);
            for sub in &mut out.subqueries {
                rewrite(&mut sub.query);
            }
        });
        out
    }
}

type RenderPlan<'a> = (&'a HashMap<usize, String>, &'a HashSet<usize>);

/// The arguments of a rendering, sorted: local names and answered conjuncts.
type RenderKey = (Vec<(usize, String)>, Vec<usize>);

/// Renderings of one statement kept (a statement is usually planned the same way each time).
const RENDERINGS_KEPT: usize = 4;

struct Walker<'a> {
    render: Option<RenderPlan<'a>>,
    tables: Vec<TableRef>,
    scopes: Vec<Scope>,
    next_table: usize,
    next_scope: usize,
    next_conjunct: usize,
    /// Queries already walked (a subquery can be reached twice through the expression visitor).
    seen: HashSet<*const Query>,
    /// Table names of four or more parts, with their line and column: neither a provider table
    /// nor anything SQLite reads.
    overlong: Vec<(String, u64, u64)>,
    /// `col IN (SELECT …)` subqueries, in conjunct order.
    found: Vec<SubqueryRef>,
    /// Provider tables in the statement's own `WITH`: a subquery may read its CTEs.
    cte_tables: Vec<usize>,
}

impl<'a> Walker<'a> {
    fn analyze() -> Self {
        Walker {
            render: None,
            tables: Vec::new(),
            scopes: Vec::new(),
            next_table: 0,
            next_scope: 0,
            next_conjunct: 0,
            seen: HashSet::new(),
            overlong: Vec::new(),
            found: Vec::new(),
            cte_tables: Vec::new(),
        }
    }

    fn query(&mut self, q: &mut Query) {
        let statement = self.seen.is_empty();
        if !self.seen.insert(q as *const Query) {
            return;
        }
        if let Some(with) = &mut q.with {
            let first = self.next_table;
            for cte in &mut with.cte_tables {
                self.query(&mut cte.query);
            }
            if statement {
                self.cte_tables = (first..self.next_table).collect();
            }
        }
        self.set_expr(&mut q.body);
    }

    fn set_expr(&mut self, s: &mut SetExpr) {
        match s {
            SetExpr::Select(sel) => self.select(sel),
            SetExpr::Query(q) => self.query(q),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left);
                self.set_expr(right);
            }
            _ => {}
        }
    }

    fn select(&mut self, sel: &mut Select) {
        let scope_id = self.next_scope;
        self.next_scope += 1;
        let mut scope = Scope {
            id: scope_id,
            ..Scope::default()
        };
        for twj in &mut sel.from {
            self.table_factor(&mut twj.relation, scope_id, false, &mut scope);
            for join in &mut twj.joins {
                let outer = matches!(
                    join.join_operator,
                    JoinOperator::Left(_)
                        | JoinOperator::LeftOuter(_)
                        | JoinOperator::Right(_)
                        | JoinOperator::RightOuter(_)
                        | JoinOperator::FullOuter(_)
                );
                self.table_factor(&mut join.relation, scope_id, outer, &mut scope);
                if let Some(JoinConstraint::On(expr)) = join_constraint(&mut join.join_operator) {
                    self.conjuncts(expr, false, &mut scope);
                }
            }
        }
        if let Some(selection) = &mut sel.selection {
            self.conjuncts(selection, true, &mut scope);
        }
        if self.render.is_none() {
            self.scopes.push(scope);
        }
        // Subqueries anywhere in this SELECT's expressions.
        for item in &mut sel.projection {
            if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
                self.subqueries(e);
            }
        }
        if let Some(e) = &mut sel.selection {
            self.subqueries(e);
        }
        if let Some(e) = &mut sel.having {
            self.subqueries(e);
        }
        for twj in &mut sel.from {
            for join in &mut twj.joins {
                if let Some(JoinConstraint::On(expr)) = join_constraint(&mut join.join_operator) {
                    self.subqueries(expr);
                }
            }
        }
    }

    fn subqueries(&mut self, e: &mut Expr) {
        let _ = ast::visit_expressions_mut(e, |expr| {
            match expr {
                Expr::Subquery(q)
                | Expr::Exists { subquery: q, .. }
                | Expr::InSubquery { subquery: q, .. } => self.query(q),
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
    }

    fn table_factor(
        &mut self,
        tf: &mut TableFactor,
        scope_id: usize,
        outer: bool,
        scope: &mut Scope,
    ) {
        match tf {
            TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } if provider_name(name).is_some() => {
                let id = self.next_table;
                self.next_table += 1;
                scope.refs.push(id);
                let parts = provider_name(name).unwrap_or_default();
                match self.render {
                    None => self.tables.push(TableRef {
                        id,
                        alias: alias.as_ref().map(|a| a.name.value.clone()),
                        name: parts,
                        scope: scope_id,
                        outer,
                    }),
                    Some((names, _)) => {
                        if let Some(local) = names.get(&id) {
                            *name = ObjectName(vec![ObjectNamePart::Identifier(
                                Ident::with_quote('"', local.clone()),
                            )]);
                            if alias.is_none() {
                                *alias = Some(TableAlias {
                                    name: Ident::with_quote(
                                        '"',
                                        parts.last().cloned().unwrap_or_default(),
                                    ),
                                    columns: Vec::new(),
                                    explicit: true,
                                    at: None,
                                });
                            }
                        }
                    }
                }
            }
            TableFactor::Table { name, .. } if name.0.len() > 3 => {
                let at = ast::Spanned::span(&*name).start;
                self.overlong.push((name.to_string(), at.line, at.column));
            }
            TableFactor::Derived { subquery, .. } => {
                scope.other_sources += 1;
                self.query(subquery);
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                self.table_factor(&mut table_with_joins.relation, scope_id, outer, scope);
                for join in &mut table_with_joins.joins {
                    self.table_factor(&mut join.relation, scope_id, true, scope);
                    if let Some(JoinConstraint::On(expr)) = join_constraint(&mut join.join_operator)
                    {
                        self.conjuncts(expr, false, scope);
                    }
                }
            }
            _ => scope.other_sources += 1,
        }
    }

    fn conjuncts(&mut self, e: &mut Expr, from_where: bool, scope: &mut Scope) {
        match e {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                self.conjuncts(left, from_where, scope);
                self.conjuncts(right, from_where, scope);
            }
            Expr::Nested(inner)
                if matches!(
                    **inner,
                    Expr::BinaryOp {
                        op: BinaryOperator::And,
                        ..
                    }
                ) =>
            {
                self.conjuncts(inner, from_where, scope);
            }
            leaf => {
                let id = self.next_conjunct;
                self.next_conjunct += 1;
                // `col IN (SELECT …)` is walked here, in both modes, so that its tables and
                // conjuncts get the same numbers when analysed and when rendered.
                let mut in_subquery = None;
                if let Expr::InSubquery {
                    expr,
                    subquery,
                    negated: false,
                } = leaf
                {
                    if let Some(column) = column_ref(expr) {
                        let start = (self.next_table, self.next_scope, self.next_conjunct);
                        self.query(subquery);
                        if self.render.is_none() {
                            in_subquery = Some((column, start, subquery.clone()));
                        }
                    }
                }
                match self.render {
                    None => {
                        let kind = match in_subquery {
                            Some((column, (table, scope_id, conjunct), query)) => {
                                self.found.push(SubqueryRef {
                                    query,
                                    first_table: table,
                                    first_scope: scope_id,
                                    first_conjunct: conjunct,
                                    tables: (table..self.next_table)
                                        .chain(self.cte_tables.iter().copied())
                                        .collect(),
                                });
                                ConjunctKind::InSubquery {
                                    column,
                                    subquery: self.found.len() - 1,
                                }
                            }
                            None => classify(leaf),
                        };
                        scope.conjuncts.push(Conjunct {
                            id,
                            kind,
                            from_where,
                            columns: columns_in(leaf),
                            text: leaf.to_string(),
                            span: {
                                let span = ast::Spanned::span(&*leaf);
                                (
                                    (span.start.line, span.start.column),
                                    (span.end.line, span.end.column),
                                )
                            },
                        })
                    }
                    Some((_, answered)) => {
                        if answered.contains(&id) {
                            *leaf = Expr::Value(Value::Boolean(true).into());
                        }
                    }
                }
            }
        }
    }
}

fn join_constraint(op: &mut JoinOperator) -> Option<&mut JoinConstraint> {
    match op {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::CrossJoin(c) => Some(c),
        _ => None,
    }
}

/// `provider.service.resource`: three names, however they are quoted. The parts of a quoted
/// name are its dots' parts, so the names information_schema and pg_catalog report
/// (`"digitalocean.compute"."images"`) are read back as the table they name.
fn provider_name(name: &ObjectName) -> Option<Vec<String>> {
    let parts = name_parts(name)?;
    (parts.len() == 3 && parts.iter().all(|p| !p.is_empty())).then_some(parts)
}

/// The parts of a name, each identifier split at its dots; `None` when a part is not an
/// identifier.
pub(crate) fn name_parts(name: &ObjectName) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    for p in &name.0 {
        let ObjectNamePart::Identifier(i) = p else {
            return None;
        };
        if i.quote_style.is_some() && i.value.contains('.') {
            parts.extend(i.value.split('.').map(str::to_string));
        } else {
            parts.push(i.value.clone());
        }
    }
    Some(parts)
}

fn column_ref(e: &Expr) -> Option<ColumnRef> {
    match e {
        Expr::Identifier(i) => Some(ColumnRef {
            qualifier: Vec::new(),
            name: i.value.clone(),
        }),
        Expr::CompoundIdentifier(parts) => {
            let (last, rest) = parts.split_last()?;
            Some(ColumnRef {
                qualifier: rest.iter().map(|i| i.value.clone()).collect(),
                name: last.value.clone(),
            })
        }
        Expr::Nested(inner) => column_ref(inner),
        _ => None,
    }
}

pub(crate) fn literal_of(e: &Expr) -> Option<Literal> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(Literal::Text(s.clone())),
            Value::Number(n, _) => Some(Literal::Number(n.clone())),
            Value::Boolean(b) => Some(Literal::Bool(*b)),
            _ => None,
        },
        Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => match literal_of(expr)? {
            Literal::Number(n) => Some(Literal::Number(format!("-{n}"))),
            _ => None,
        },
        Expr::Nested(inner) => literal_of(inner),
        _ => None,
    }
}

/// The columns an expression names, leaving out those inside its subqueries (they belong to the
/// subquery's own scope).
fn columns_in(e: &Expr) -> Vec<ColumnRef> {
    let mut outer = e.clone();
    let _ = ast::visit_expressions_mut(&mut outer, |x| {
        if matches!(x, Expr::Subquery(_) | Expr::Exists { .. }) {
            *x = Expr::Value(Value::Null.into());
        } else if let Expr::InSubquery { expr, .. } = x {
            *x = (**expr).clone();
        }
        ControlFlow::<()>::Continue(())
    });
    let mut out = Vec::new();
    let _ = ast::visit_expressions(&outer, |x| {
        if matches!(x, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
            out.extend(column_ref(x));
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// `a = 1 OR a = 2 OR a IN (3)`: the same column each time, with literals: one IN list.
fn or_of_equals(e: &Expr) -> Option<(ColumnRef, Vec<Literal>)> {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => {
            let (lc, mut lv) = or_of_equals(left)?;
            let (rc, rv) = or_of_equals(right)?;
            let same = lc.name.eq_ignore_ascii_case(&rc.name)
                && lc.qualifier.len() == rc.qualifier.len()
                && lc
                    .qualifier
                    .iter()
                    .zip(&rc.qualifier)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b));
            same.then(|| {
                lv.extend(rv);
                (lc, lv)
            })
        }
        Expr::Nested(inner) => or_of_equals(inner),
        leaf => match classify(leaf) {
            ConjunctKind::Equals { column, values } => Some((column, values)),
            _ => None,
        },
    }
}

/// Column names that are words SQLite reserves, quoted for it: the user wrote a name.
fn quote_reserved_names(query: &mut Query) {
    let quote = |i: &mut Ident| {
        if i.quote_style.is_none()
            && iql_names::SQLITE_RESERVED.contains(&i.value.to_lowercase().as_str())
        {
            i.quote_style = Some('"');
        }
    };
    let _ = ast::visit_expressions_mut(query, |e| {
        match e {
            Expr::Identifier(i) => quote(i),
            Expr::CompoundIdentifier(parts) => parts.iter_mut().for_each(quote),
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    // Aliases too: PostgreSQL takes `… AS default` (pgcli writes it), SQLite only quoted.
    struct Aliases;
    impl ast::VisitorMut for Aliases {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            if let SetExpr::Select(select) = q.body.as_mut() {
                for item in &mut select.projection {
                    if let SelectItem::ExprWithAlias { alias, .. } = item {
                        if alias.quote_style.is_none()
                            && iql_names::SQLITE_RESERVED
                                .contains(&alias.value.to_lowercase().as_str())
                        {
                            alias.quote_style = Some('"');
                        }
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = ast::VisitMut::visit(query, &mut Aliases);
}

/// `column = expr`, where `expr` names columns and holds no subquery: a link by expression.
fn link_expr(column: ColumnRef, expr: &Expr) -> ConjunctKind {
    let columns = columns_in(expr);
    let mut subquery = false;
    let _ = ast::visit_expressions(expr, |x| {
        subquery |= matches!(
            x,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
        );
        ControlFlow::<()>::Continue(())
    });
    if columns.is_empty() || subquery {
        return ConjunctKind::Other;
    }
    let mut expr = expr.clone();
    let _ = ast::visit_expressions_mut(&mut expr, |e| {
        let quote = |i: &mut Ident| {
            if i.quote_style.is_none()
                && iql_names::SQLITE_RESERVED.contains(&i.value.to_lowercase().as_str())
            {
                i.quote_style = Some('"');
            }
        };
        match e {
            Expr::Identifier(i) => quote(i),
            Expr::CompoundIdentifier(parts) => parts.iter_mut().for_each(quote),
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    ConjunctKind::LinkExpr {
        column,
        sql: expr.to_string(),
        columns,
    }
}

/// The alternatives of an OR that is not one column's IN list (see [`ConjunctKind::AnyOf`]).
fn any_of(e: &Expr) -> ConjunctKind {
    fn alternatives<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
        match e {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Or,
                right,
            } => {
                alternatives(left, out);
                alternatives(right, out);
            }
            Expr::Nested(inner) => alternatives(inner, out),
            leaf => out.push(leaf),
        }
    }
    let mut all = Vec::new();
    alternatives(e, &mut all);
    let mut equals = Vec::new();
    let mut others = 0;
    for alternative in all {
        match classify(alternative) {
            ConjunctKind::Equals { column, values } => equals.push((column, values)),
            _ => others += 1,
        }
    }
    if equals.is_empty() {
        ConjunctKind::Other
    } else {
        ConjunctKind::AnyOf { equals, others }
    }
}

fn classify(e: &Expr) -> ConjunctKind {
    match e {
        Expr::BinaryOp {
            op: BinaryOperator::Or,
            ..
        } => match or_of_equals(e) {
            Some((column, values)) => ConjunctKind::Equals { column, values },
            None => any_of(e),
        },
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            match (
                column_ref(left),
                column_ref(right),
                literal_of(left),
                literal_of(right),
            ) {
                (Some(column), _, _, Some(v)) | (_, Some(column), Some(v), _) => {
                    ConjunctKind::Equals {
                        column,
                        values: vec![v],
                    }
                }
                (Some(left), Some(right), _, _) => ConjunctKind::Link { left, right },
                (Some(column), None, _, None) => link_expr(column, right),
                (None, Some(column), None, _) => link_expr(column, left),
                _ => ConjunctKind::Other,
            }
        }
        Expr::InList {
            expr,
            list,
            negated: false,
        } => match (
            column_ref(expr),
            list.iter().map(literal_of).collect::<Option<Vec<_>>>(),
        ) {
            (Some(column), Some(values)) if !values.is_empty() => {
                ConjunctKind::Equals { column, values }
            }
            _ => ConjunctKind::Other,
        },
        Expr::Nested(inner) => classify(inner),
        _ => ConjunctKind::Other,
    }
}

const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "total",
    "group_concat",
    "json_group_array",
    "json_group_object",
    "string_agg",
];

fn limit_hint(query: &Query, walker: &Walker<'_>) -> Option<LimitHint> {
    if query.order_by.is_some() || query.with.is_some() {
        return None;
    }
    let (limit, offset) = match query.limit_clause.as_ref()? {
        ast::LimitClause::LimitOffset { limit, offset, .. } => {
            (limit.as_ref()?, offset.as_ref().map(|o| &o.value))
        }
        ast::LimitClause::OffsetCommaLimit { offset, limit } => (limit, Some(offset)),
    };
    let number = |e: &Expr| match literal_of(e) {
        Some(Literal::Number(n)) => n.parse::<u64>().ok(),
        _ => None,
    };
    let rows = number(limit)?.checked_add(offset.map(number).unwrap_or(Some(0))?)?;
    let SetExpr::Select(sel) = query.body.as_ref() else {
        return None;
    };
    let plain = sel.distinct.is_none()
        && sel.having.is_none()
        && matches!(&sel.group_by, ast::GroupByExpr::Expressions(e, _) if e.is_empty())
        && sel.from.len() == 1
        && sel.from[0].joins.is_empty();
    if !plain {
        return None;
    }
    let mut aggregate = false;
    for item in &sel.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            let _ = ast::visit_expressions(e, |x| {
                if let Expr::Function(f) = x {
                    let name = f.name.to_string().to_ascii_lowercase();
                    if f.over.is_some() || AGGREGATES.contains(&name.as_str()) {
                        aggregate = true;
                    }
                }
                ControlFlow::<()>::Continue(())
            });
        }
    }
    if aggregate {
        return None;
    }
    let scope = walker.scopes.iter().find(|s| s.id == 0)?;
    match (scope.refs.as_slice(), scope.other_sources) {
        ([table], 0) => Some(LimitHint {
            table: *table,
            scope: 0,
            rows,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_script, Statement};

    fn query(sql: &str) -> QueryStatement {
        match parse_script(sql).unwrap().remove(0).statement {
            Statement::Query(q) => *q,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names_are_found_where_the_user_wrote_them() {
        let script = "SELECT 1;\nSELECT 'nmae', i.id,\n  nmae, a . x, a.stauts FROM t i";
        let q = match parse_script(script).unwrap().remove(1).statement {
            Statement::Query(q) => *q,
            other => panic!("{other:?}"),
        };
        // Not inside the string; in the script's lines, not the statement's.
        assert_eq!(q.position_of("nmae"), Some((3, 3)));
        assert_eq!(q.position_of("a.stauts"), Some((3, 16)));
        assert_eq!(q.position_of("I.ID"), Some((2, 16)));
        assert_eq!(q.position_of("other"), None);
    }

    #[test]
    fn or_of_equalities_on_one_column_is_an_in_list() {
        let q = query(
            "SELECT 1 FROM p.s.r i WHERE (i.a = 1 OR I.A = 2 OR i.a IN (3, 4)) AND (a = 1 OR b = 2) \
             AND (a = 1 OR a > 2) AND x IN (SELECT y FROM t WHERE z = 1) AND f(c, 'd') > e",
        );
        let c = &q.scope(0).unwrap().conjuncts;
        assert!(
            matches!(&c[0].kind, ConjunctKind::Equals { column, values } if column.name == "a" && values.len() == 4),
            "{:?}",
            c[0].kind
        );
        // Different columns: the alternatives, for a union of calls.
        assert!(
            matches!(&c[1].kind, ConjunctKind::AnyOf { equals, others: 0 } if equals.len() == 2 && equals[1].0.name == "b"),
            "{:?}",
            c[1].kind
        );
        assert!(
            matches!(&c[2].kind, ConjunctKind::AnyOf { equals, others: 1 } if equals.len() == 1),
            "{:?}",
            c[2].kind
        );
        // The columns each condition names, not those inside its subquery.
        let names =
            |i: usize| -> Vec<String> { c[i].columns.iter().map(|r| r.name.clone()).collect() };
        assert_eq!(names(1), ["a", "b"]);
        assert_eq!(names(3), ["x"]);
        let mut last = names(4);
        last.sort();
        assert_eq!(last, ["c", "e"]);
    }

    #[test]
    fn in_subquery_is_kept_to_render_on_its_own() {
        let q = query(
            "WITH mine AS (SELECT id FROM p.s.images WHERE private = true) \
             SELECT a.id, (SELECT 1 FROM p.s.other) FROM p.s.actions a \
             WHERE a.image_id IN (SELECT i.id FROM p.s.images i WHERE i.name = 'x' AND i.id IN (SELECT id FROM mine)) AND a.type = 'y'",
        );
        let names: Vec<String> = q.tables.iter().map(|t| t.name[2].clone()).collect();
        // The CTE's table first, then the outer FROM, then the IN subquery, then the projection's.
        assert_eq!(names, ["images", "actions", "images", "other"]);
        let outer = q.scopes.iter().find(|s| s.refs == [1]).unwrap();
        let ConjunctKind::InSubquery { column, subquery } = &outer.conjuncts[0].kind else {
            panic!("{:?}", outer.conjuncts);
        };
        assert_eq!(column.name, "image_id");
        // It reads table 2 and, through the CTE, table 0.
        assert_eq!(q.subquery_tables(*subquery), [2, 0]);
        let locals: HashMap<usize, String> =
            (0..4).map(|i| (i, format!("t{i}_{}", names[i]))).collect();
        // The inner `i.name = 'x'` is answered by the API: rendered as true.
        let inner_name = q.scopes.iter().find(|s| s.refs == [2]).unwrap().conjuncts[0].id;
        let sql = q
            .render_subquery(*subquery, &locals, &HashSet::from([inner_name]))
            .unwrap();
        assert_eq!(
            sql,
            "WITH mine AS (SELECT id FROM \"t0_images\" AS \"images\" WHERE private = true) \
             SELECT i.id FROM \"t2_images\" i WHERE true AND i.id IN (SELECT id FROM mine)"
        );
        // The same numbering as the whole statement's rendering.
        let whole = q.render(&locals, &HashSet::from([inner_name]));
        assert!(
            whole.contains(&sql[sql.find("SELECT i.id").unwrap()..]),
            "{whole}"
        );
        assert!(whole.contains("\"t3_other\""), "{whole}");
    }

    #[test]
    fn finds_tables_and_classifies_conjuncts() {
        let q = query(
            "SELECT i.name, a.status FROM digitalocean.compute.images i \
             JOIN digitalocean.compute.image_actions a ON a.image_id = i.id \
             WHERE i.private = true AND i.type IN ('snapshot', 'backup') AND (i.name LIKE 'x%' OR i.id = 3)",
        );
        assert_eq!(q.tables.len(), 2);
        assert_eq!(q.tables[1].alias.as_deref(), Some("a"));
        let kinds: Vec<_> = q.scopes[0].conjuncts.iter().map(|c| &c.kind).collect();
        assert!(matches!(kinds[0], ConjunctKind::Link { .. }));
        assert!(
            matches!(kinds[1], ConjunctKind::Equals { values, .. } if values == &[Literal::Bool(true)])
        );
        assert!(matches!(kinds[2], ConjunctKind::Equals { values, .. } if values.len() == 2));
        assert!(matches!(kinds[3], ConjunctKind::AnyOf { others: 1, .. }));
    }

    #[test]
    fn renders_local_tables_and_drops_answered_conjuncts() {
        let q = query("SELECT name FROM digitalocean.compute.images WHERE type = 'distribution' AND public = true");
        let names = HashMap::from([(0, "t0".to_string())]);
        let sql = q.render(&names, &HashSet::from([0]));
        assert_eq!(
            sql,
            "SELECT name FROM \"t0\" AS \"images\" WHERE true AND public = true"
        );
    }

    #[test]
    fn subqueries_and_ctes_are_found_once() {
        let q = query(
            "WITH x AS (SELECT id FROM digitalocean.compute.images WHERE private = true) \
             SELECT * FROM x WHERE id IN (SELECT image_id FROM digitalocean.compute.image_actions a WHERE a.image_id IN (SELECT id FROM digitalocean.compute.images))",
        );
        assert_eq!(q.tables.len(), 3);
        let names: HashMap<usize, String> = (0..3).map(|i| (i, format!("t{i}"))).collect();
        let sql = q.render(&names, &HashSet::new());
        assert!(!sql.contains("digitalocean"), "{sql}");
    }

    #[test]
    fn limit_hint_only_for_plain_queries() {
        assert_eq!(
            query("SELECT * FROM digitalocean.compute.images LIMIT 5 OFFSET 2")
                .limit_hint
                .map(|h| h.rows),
            Some(7)
        );
        assert!(
            query("SELECT * FROM digitalocean.compute.images ORDER BY id LIMIT 5")
                .limit_hint
                .is_none()
        );
        assert!(
            query("SELECT count(*) FROM digitalocean.compute.images LIMIT 5")
                .limit_hint
                .is_none()
        );
        assert!(
            query("SELECT DISTINCT type FROM digitalocean.compute.images LIMIT 5")
                .limit_hint
                .is_none()
        );
    }

    #[test]
    fn syntax_errors_carry_script_positions() {
        let err = parse_script(
            "SELECT 1;\nSELECT name\nFROM digitalocean.compute.images\nWHERE name = )",
        )
        .unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        assert!(
            err.to_string()
                .starts_with("syntax error at line 4, column"),
            "{err}"
        );
    }

    #[test]
    fn a_statement_that_ends_too_soon_points_at_its_end() {
        let err = parse_script("SELECT 1;\n\nSELECT id\nFROM digitalocean.compute.images\nWHERE")
            .unwrap_err();
        assert_eq!((err.line, err.column), (5, 6), "{err}");
        assert!(
            err.message.contains("found the end of the statement"),
            "{err}"
        );
        let err = parse_script("SELECT 1; SELECT (1;").unwrap_err();
        assert_eq!((err.line, err.column), (1, 20), "{err}");
    }

    #[test]
    fn a_byte_order_mark_is_not_sql() {
        let statements = parse_script("\u{feff}SELECT nmae FROM t").unwrap();
        let Statement::Query(q) = &statements[0].statement else {
            panic!()
        };
        assert_eq!(q.position_of("nmae"), Some((1, 8)));
    }

    #[test]
    fn bad_operands_of_regexp_match_and_glob_are_syntax_errors() {
        for sql in [
            "SELECT 'a' REGEXP @",
            "SELECT 'a' MATCH @",
            "SELECT 'a' GLOB @",
        ] {
            let err = parse_script(sql).unwrap_err();
            assert_eq!(err.line, 1, "{sql}: {err}");
        }
    }

    #[test]
    fn the_columns_a_statement_may_need() {
        let q = query("SELECT count(*), 2 * 3, a.x * b FROM p.s.r a WHERE json_extract(\"Regions\", '$.name') > 1");
        assert!(q.may_need_column("x") && q.may_need_column("b") && q.may_need_column("regions"));
        assert!(
            !q.may_need_column("name"),
            "a name inside a string is no column"
        );
        assert!(!q.may_need_column("id"));
        for every in [
            "SELECT * FROM p.s.r",
            "SELECT DISTINCT * FROM p.s.r",
            "SELECT a.id, b.* FROM p.s.r a, p.s.t b",
            "SELECT 1, * FROM p.s.r",
            "SELECT id FROM (SELECT * FROM p.s.r)",
            "SELECT id FROM p.s.r NATURAL JOIN p.s.t",
        ] {
            assert!(query(every).may_need_column("anything"), "{every}");
        }
    }
}
