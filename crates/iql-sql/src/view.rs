//! Views: `CREATE [OR REPLACE] [MATERIALIZED] VIEW name AS SELECT …`, `DROP [MATERIALIZED] VIEW
//! [IF EXISTS] name`, `REFRESH MATERIALIZED VIEW name` (StackQL's statements), and the rewrite that
//! runs a query naming a view.
//!
//! A (plain) view is a name for a query, kept as the text the user wrote. A query that names one is
//! rewritten before it is planned: the name becomes the view's query as a subquery
//! (`FROM my_images` → `FROM (SELECT … FROM digitalocean.compute.images) AS my_images`), views
//! inside views too. Then each condition of the outer `WHERE` of the form `column = literal` or
//! `column IN (literals)` on such a subquery's column is copied into the subquery when that cannot
//! change the answer, so the planner sees it next to the provider table and can send it to the API:
//! `SELECT * FROM my_images WHERE image_id = 1` sends one `GET /v2/images/1`, not a list. The outer
//! condition stays where it was (filtering twice is harmless), so a condition the API does not
//! answer still filters. The copy is made only into a subquery that reads one table and neither
//! groups, aggregates, limits nor uses window functions, and that is not on the optional side of an
//! outer join: there, filtering first gives the same rows as filtering after.
//!
//! Materialized views are not rewritten: their rows are a table of the store, which the query
//! reads as it is.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    self, Expr, GroupByExpr, Ident, JoinOperator, ObjectNamePart, Query, Select, SelectItem,
    SetExpr, TableAlias, TableFactor, Visit, VisitMut, Visitor, VisitorMut,
};
use sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::SqlError;
use crate::query::{self, QueryStatement};
use crate::split::StatementText;

/// How deep views may name views.
pub const MAX_VIEW_DEPTH: usize = 16;

/// `CREATE [OR REPLACE] [MATERIALIZED] VIEW [IF NOT EXISTS] name AS query`.
#[derive(Debug, Clone)]
pub struct CreateView {
    pub name: String,
    pub materialized: bool,
    pub or_replace: bool,
    pub if_not_exists: bool,
    /// The query as the user wrote it (comments and layout kept): what is stored and shown.
    pub definition: String,
    /// The query, parsed.
    pub query: Box<QueryStatement>,
    /// `WITH (refresh_interval = '5 minutes')`: how often a materialized view is refreshed by
    /// the servers on its store.
    pub refresh_interval: Option<std::time::Duration>,
}

/// `DROP [MATERIALIZED] VIEW [IF EXISTS] name[, name…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropView {
    pub names: Vec<String>,
    pub materialized: bool,
    pub if_exists: bool,
}

/// `REFRESH MATERIALIZED VIEW name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshView {
    pub name: String,
}

/// Whether `name` may name a view: a view lives beside iql's own tables and SQLite's, and beside
/// the tables a statement makes for provider tables (`t0_images`).
pub fn reserved_view_name(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("iql_") || lower.starts_with("sqlite_") {
        return Some("names starting with iql_ or sqlite_ are iql's and SQLite's own");
    }
    let mut chars = lower.chars();
    if chars.next() == Some('t') {
        let digits: String = chars.by_ref().take_while(|c| c.is_ascii_digit()).collect();
        if !digits.is_empty() && lower[1 + digits.len()..].starts_with('_') {
            return Some("names such as t0_images are the tables iql makes for provider tables");
        }
    }
    None
}

fn view_name(name: &ast::ObjectName, at: (u64, u64), verb: &str) -> Result<String, SqlError> {
    let parts: Vec<&Ident> = name
        .0
        .iter()
        .filter_map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i),
            _ => None,
        })
        .collect();
    if parts.len() != 1 || name.0.len() != 1 {
        return Err(SqlError::new(
            at.0,
            at.1,
            format!(
                "a view's name is one word (views belong to iql, not to a provider): {verb} my_images …, not {verb} {name} …"
            ),
        ));
    }
    let name = parts[0].value.clone();
    if let Some(why) = reserved_view_name(&name) {
        return Err(SqlError::new(
            at.0,
            at.1,
            format!("{name} cannot name a view: {why}"),
        ));
    }
    Ok(name)
}

/// The byte offset of a 1-based line and column (in characters) in `text`.
fn offset_of(text: &str, line: u64, column: u64) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i as u64 + 1 == line {
            let within: usize = l
                .chars()
                .take(column.saturating_sub(1) as usize)
                .map(char::len_utf8)
                .sum();
            return offset + within;
        }
        offset += l.len();
    }
    text.len()
}

fn significant(source: &StatementText) -> Vec<&TokenWithSpan> {
    source
        .tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .collect()
}

pub(crate) fn parse_create(
    statement: ast::Statement,
    source: &StatementText,
) -> Result<CreateView, SqlError> {
    let at = (source.line, source.column);
    let ast::Statement::CreateView(create) = statement else {
        return Err(SqlError::new(
            at.0,
            at.1,
            "iql creates views only: CREATE [OR REPLACE] [MATERIALIZED] VIEW name AS SELECT …",
        ));
    };
    let name = view_name(&create.name, at, "CREATE VIEW")?;
    if !create.columns.is_empty() {
        return Err(SqlError::new(
            at.0,
            at.1,
            "a view takes its column names from its query: name them there (SELECT id AS image_id …), not in a list after the view's name",
        ));
    }
    if create.temporary || create.or_alter || create.to.is_some() {
        return Err(SqlError::new(
            at.0,
            at.1,
            "iql's views are CREATE [OR REPLACE] [MATERIALIZED] VIEW name AS SELECT …",
        ));
    }
    let refresh_interval = view_options(&create.options, create.materialized, at)?;
    // The query's text: everything after the first AS outside parentheses.
    let tokens = significant(source);
    let mut depth = 0i32;
    let mut start = None;
    for t in &tokens {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Word(w)
                if depth == 0
                    && w.keyword == sqlparser::keywords::Keyword::AS
                    && start.is_none() =>
            {
                start = Some((t.span.end.line, t.span.end.column));
            }
            _ => {}
        }
    }
    let definition = match start {
        Some((line, column)) => source.padded[offset_of(&source.padded, line, column)..]
            .trim()
            .to_string(),
        None => create.query.to_string(),
    };
    let query = query::from_query(create.query, source)?;
    Ok(CreateView {
        name,
        materialized: create.materialized,
        or_replace: create.or_replace,
        if_not_exists: create.if_not_exists,
        definition,
        query: Box::new(query),
        refresh_interval,
    })
}

/// The options of `CREATE MATERIALIZED VIEW name WITH (option = value, …) AS …`: only
/// `refresh_interval` so far.
fn view_options(
    options: &ast::CreateTableOptions,
    materialized: bool,
    at: (u64, u64),
) -> Result<Option<std::time::Duration>, SqlError> {
    let list = match options {
        ast::CreateTableOptions::None => return Ok(None),
        ast::CreateTableOptions::With(list) => list,
        _ => {
            return Err(SqlError::new(
                at.0,
                at.1,
                "a view's options are written WITH (refresh_interval = '5 minutes') before AS",
            ))
        }
    };
    let mut interval = None;
    for option in list {
        let ast::SqlOption::KeyValue { key, value } = option else {
            return Err(SqlError::new(
                at.0,
                at.1,
                format!("the view option {option} is not one iql knows: WITH (refresh_interval = '5 minutes')"),
            ));
        };
        if !key.value.eq_ignore_ascii_case("refresh_interval") {
            return Err(SqlError::new(
                at.0,
                at.1,
                format!(
                    "the view option {} is not one iql knows: the one there is is refresh_interval (WITH (refresh_interval = '5 minutes'))",
                    key.value
                ),
            ));
        }
        if !materialized {
            return Err(SqlError::new(
                at.0,
                at.1,
                "refresh_interval is for a MATERIALIZED VIEW: a plain view fetches live each time it is read",
            ));
        }
        let text = match value {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) => s.clone(),
                ast::Value::Number(n, _) => format!("{n} seconds"),
                other => other.to_string(),
            },
            other => other.to_string(),
        };
        interval = Some(parse_interval(&text).map_err(|why| SqlError::new(at.0, at.1, why))?);
    }
    Ok(interval)
}

/// An interval as [`parse_interval`] reads it: `1 hour 30 minutes`.
pub fn format_interval(d: std::time::Duration) -> String {
    let mut left = d.as_secs();
    let mut parts = Vec::new();
    for (size, unit) in [
        (86_400, "day"),
        (3600, "hour"),
        (60, "minute"),
        (1, "second"),
    ] {
        let n = left / size;
        left %= size;
        if n > 0 {
            parts.push(format!("{n} {unit}{}", if n == 1 { "" } else { "s" }));
        }
    }
    if parts.is_empty() {
        "0 seconds".to_string()
    } else {
        parts.join(" ")
    }
}

/// The shortest refresh interval: a shorter one would spend the API's rate on one view.
pub const MIN_REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// `'5 minutes'`, `'1 hour 30 minutes'`, `'90 seconds'`, `'2h'`, `'1 day'` (PostgreSQL's
/// interval words, singular or plural, and their short forms).
pub fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let bad = || {
        format!(
            "refresh_interval '{text}' is not an interval: write a number and a unit, like '30 seconds', '5 minutes', '1 hour' or '1 day'"
        )
    };
    let mut total = 0u64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = rest[digits..].trim_start();
        let word_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = rest[..word_end].to_ascii_lowercase();
        rest = rest[word_end..].trim_start_matches([' ', ',']);
        let seconds = match unit.as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
    }
    let interval = std::time::Duration::from_secs(total);
    if interval < MIN_REFRESH_INTERVAL {
        return Err(format!(
            "refresh_interval '{text}' is shorter than {} second",
            MIN_REFRESH_INTERVAL.as_secs()
        ));
    }
    Ok(interval)
}

pub(crate) fn parse_drop(
    statement: ast::Statement,
    source: &StatementText,
) -> Result<DropView, SqlError> {
    let at = (source.line, source.column);
    let ast::Statement::Drop {
        object_type,
        if_exists,
        names,
        ..
    } = statement
    else {
        return Err(SqlError::new(
            at.0,
            at.1,
            "expected DROP [MATERIALIZED] VIEW",
        ));
    };
    let materialized = match object_type {
        ast::ObjectType::View => false,
        ast::ObjectType::MaterializedView => true,
        other => {
            return Err(SqlError::new(
                at.0,
                at.1,
                format!("iql drops views only (DROP [MATERIALIZED] VIEW name), not a {other}"),
            ))
        }
    };
    let names = names
        .iter()
        .map(|n| view_name(n, at, "DROP VIEW"))
        .collect::<Result<_, _>>()?;
    Ok(DropView {
        names,
        materialized,
        if_exists,
    })
}

pub(crate) fn parse_refresh(source: &StatementText) -> Result<RefreshView, SqlError> {
    let tokens = significant(source);
    let words: Vec<Option<String>> = tokens
        .iter()
        .map(|t| match &t.token {
            Token::Word(w) => Some(w.value.clone()),
            _ => None,
        })
        .collect();
    let is = |i: usize, kw: &str| {
        words
            .get(i)
            .and_then(|w| w.as_deref())
            .is_some_and(|w| w.eq_ignore_ascii_case(kw))
    };
    let place = |i: usize| {
        tokens
            .get(i)
            .map(|t| (t.span.start.line, t.span.start.column))
            .unwrap_or_else(|| source.end())
    };
    if !(is(1, "MATERIALIZED") && is(2, "VIEW")) {
        let (l, c) = place(1);
        return Err(SqlError::new(
            l,
            c,
            "expected REFRESH MATERIALIZED VIEW name",
        ));
    }
    let Some(Some(name)) = words.get(3) else {
        let (l, c) = place(3);
        return Err(SqlError::new(
            l,
            c,
            "expected the view's name after REFRESH MATERIALIZED VIEW",
        ));
    };
    if tokens.len() > 4 {
        let (l, c) = place(4);
        return Err(SqlError::new(
            l,
            c,
            "expected the end of the statement after the view's name (a view's name is one word)",
        ));
    }
    Ok(RefreshView { name: name.clone() })
}

impl QueryStatement {
    /// The one-word table names the query reads that no `WITH` of it defines: views, materialized
    /// views, or names SQLite will not know.
    pub fn plain_table_names(&self) -> Vec<String> {
        let ctes = cte_names(self.ast());
        let mut names = Vec::new();
        let _ = self.ast().visit(&mut PlainNames {
            ctes: &ctes,
            found: &mut names,
        });
        names
    }

    /// The query with every view it names replaced by the view's query, and conditions copied
    /// into subqueries (module documentation). `view` gives a view's stored text by name. `None`
    /// when nothing changed.
    pub fn expand_views(
        &self,
        view: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<QueryStatement>, SqlError> {
        let mut q = Box::new(self.ast().clone());
        let mut expander = Expander {
            view,
            ctes: cte_names(&q),
            stack: Vec::new(),
            error: None,
            changed: false,
        };
        let _ = VisitMut::visit(&mut *q, &mut expander);
        if let Some(e) = expander.error {
            return Err(e);
        }
        let mut pushed = Pushdown { changed: false };
        let _ = VisitMut::visit(&mut *q, &mut pushed);
        if !expander.changed && !pushed.changed {
            return Ok(None);
        }
        let text = q.to_string();
        let mut sources = crate::split::split_statements(&text)?;
        let Some(source) = sources.pop() else {
            return Ok(None);
        };
        let q = crate::limits::with_stack(source.depth.max(self.depth()), || {
            query::parse_query(&source)
        })?;
        Ok(Some(q))
    }
}

fn cte_names(q: &Query) -> HashSet<String> {
    struct Ctes(HashSet<String>);
    impl Visitor for Ctes {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            if let Some(with) = &q.with {
                for cte in &with.cte_tables {
                    self.0.insert(cte.alias.name.value.to_ascii_lowercase());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut c = Ctes(HashSet::new());
    let _ = q.visit(&mut c);
    c.0
}

/// A table's name with its parts joined by dots (`github.repos.repos_view`), each as written.
fn dotted_name(name: &ast::ObjectName) -> Option<String> {
    let parts: Option<Vec<&str>> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i.value.as_str()),
            _ => None,
        })
        .collect();
    parts.map(|p| p.join("."))
}

fn one_word(name: &ast::ObjectName) -> Option<&str> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => Some(&i.value),
        _ => None,
    }
}

struct PlainNames<'a> {
    ctes: &'a HashSet<String>,
    found: &'a mut Vec<String>,
}

impl Visitor for PlainNames<'_> {
    type Break = ();
    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name, args: None, ..
        } = t
        {
            if let Some(n) = one_word(name) {
                if !self.ctes.contains(&n.to_ascii_lowercase())
                    && !self.found.iter().any(|f| f.eq_ignore_ascii_case(n))
                {
                    self.found.push(n.to_string());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

struct Expander<'a> {
    view: &'a dyn Fn(&str) -> Option<String>,
    /// Names a `WITH` defines: they hide views of the same name.
    ctes: HashSet<String>,
    /// The views being expanded, outermost first (to find a view that names itself).
    stack: Vec<String>,
    error: Option<SqlError>,
    changed: bool,
}

impl Expander<'_> {
    fn expand(&mut self, name: &str) -> Result<Box<Query>, SqlError> {
        if self.stack.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            let mut path = self.stack.clone();
            path.push(name.to_string());
            return Err(SqlError::new(
                1,
                1,
                format!("view {name} names itself: {}", path.join(" → ")),
            ));
        }
        if self.stack.len() >= MAX_VIEW_DEPTH {
            return Err(SqlError::new(
                1,
                1,
                format!(
                    "views name views more than {MAX_VIEW_DEPTH} deep ({} …)",
                    self.stack.join(" → ")
                ),
            ));
        }
        let text = (self.view)(name).unwrap_or_default();
        let bad = |e: SqlError| {
            SqlError::new(
                1,
                1,
                format!("the stored query of view {name} no longer parses: {}", e),
            )
        };
        let mut sources = crate::split::split_statements(&text).map_err(bad)?;
        let source = sources
            .pop()
            .ok_or_else(|| bad(SqlError::new(1, 1, "it is empty")))?;
        let mut statements = crate::limits::parse_tokens(&source.tokens)
            .map_err(|e| bad(SqlError::in_statement(&e.to_string(), &source)))?;
        crate::postgres::statements_to_sqlite(&mut statements, &source).map_err(bad)?;
        let Some(ast::Statement::Query(mut q)) = statements.pop() else {
            return Err(bad(SqlError::new(1, 1, "it is not a query")));
        };
        let mut inner = Expander {
            view: self.view,
            ctes: cte_names(&q),
            stack: self.stack.clone(),
            error: None,
            changed: false,
        };
        inner.stack.push(name.to_string());
        let _ = VisitMut::visit(&mut *q, &mut inner);
        if let Some(e) = inner.error {
            return Err(e);
        }
        // What the view's own WITH defines must not be taken for a view when the outer walk
        // goes through the inserted query.
        self.ctes.extend(inner.ctes);
        Ok(q)
    }
}

impl VisitorMut for Expander<'_> {
    type Break = ();
    fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = t
        else {
            return ControlFlow::Continue(());
        };
        // A one-word name may be a stored view; a provider.service.resource name may be a
        // resource the provider document defines by SQL (`config.views`).
        let Some(word) = dotted_name(name) else {
            return ControlFlow::Continue(());
        };
        if self.ctes.contains(&word.to_ascii_lowercase()) || (self.view)(&word).is_none() {
            return ControlFlow::Continue(());
        }
        match self.expand(&word) {
            Ok(subquery) => {
                let last = word.rsplit('.').next().unwrap_or(&word).to_string();
                let alias = alias.take().unwrap_or(TableAlias {
                    explicit: true,
                    name: Ident::new(last),
                    columns: Vec::new(),
                    at: None,
                });
                *t = TableFactor::Derived {
                    lateral: false,
                    subquery,
                    alias: Some(alias),
                    sample: None,
                };
                self.changed = true;
                ControlFlow::Continue(())
            }
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

/// Copies `column = literal` / `column IN (literals)` conditions into the subqueries they filter.
struct Pushdown {
    changed: bool,
}

impl VisitorMut for Pushdown {
    type Break = ();
    // Before the select's children: a condition copied into a subquery is then seen when the
    // walk reaches the subquery, and goes deeper if it can.
    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let Some(selection) = &select.selection else {
            return ControlFlow::Continue(());
        };
        let mut conjuncts = Vec::new();
        split_and(selection, &mut conjuncts);
        let single = select.from.len() == 1 && select.from[0].joins.is_empty();
        let candidates: Vec<(Vec<String>, String, Expr)> = conjuncts
            .into_iter()
            .filter_map(|c| {
                let (column, rebuild) = pushable(c)?;
                Some((column.0, column.1, rebuild))
            })
            .collect();
        if candidates.is_empty() {
            return ControlFlow::Continue(());
        }
        for from in &mut select.from {
            let later_outer = |joins: &[ast::Join]| {
                joins.iter().any(|j| {
                    matches!(
                        j.join_operator,
                        JoinOperator::Right(_)
                            | JoinOperator::RightOuter(_)
                            | JoinOperator::FullOuter(_)
                    ) || !safe_join(&j.join_operator)
                })
            };
            let first_safe = !later_outer(&from.joins);
            let mut factors: Vec<&mut TableFactor> = Vec::new();
            if first_safe {
                factors.push(&mut from.relation);
            }
            let n = from.joins.len();
            let ops: Vec<bool> = (0..n)
                .map(|i| {
                    matches!(
                        from.joins[i].join_operator,
                        JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_)
                    ) && !later_outer(&from.joins[i + 1..])
                })
                .collect();
            for (j, ok) in from.joins.iter_mut().zip(ops) {
                if ok {
                    factors.push(&mut j.relation);
                }
            }
            for factor in factors {
                let TableFactor::Derived {
                    lateral: false,
                    subquery,
                    alias: Some(alias),
                    ..
                } = factor
                else {
                    continue;
                };
                if !alias.columns.is_empty() {
                    continue;
                }
                for (qualifier, column, condition) in &candidates {
                    let named = match qualifier.as_slice() {
                        [] => single,
                        [q] => q.eq_ignore_ascii_case(&alias.name.value),
                        _ => false,
                    };
                    if named && push_into(subquery, column, condition) {
                        self.changed = true;
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

fn safe_join(op: &JoinOperator) -> bool {
    matches!(
        op,
        JoinOperator::Join(_)
            | JoinOperator::Inner(_)
            | JoinOperator::CrossJoin(_)
            | JoinOperator::Left(_)
            | JoinOperator::LeftOuter(_)
    )
}

fn split_and<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::And,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        Expr::Nested(inner) => split_and(inner, out),
        other => out.push(other),
    }
}

/// `column = literal`, `literal = column` or `column IN (literals)`: the column (qualifier and
/// name) and the condition with the column as a bare `Identifier` placeholder to be replaced.
#[allow(clippy::type_complexity)]
fn pushable(e: &Expr) -> Option<((Vec<String>, String), Expr)> {
    let column = |e: &Expr| -> Option<(Vec<String>, String)> {
        match e {
            Expr::Identifier(i) => Some((Vec::new(), i.value.clone())),
            Expr::CompoundIdentifier(parts) => {
                let (last, rest) = parts.split_last()?;
                Some((
                    rest.iter().map(|i| i.value.clone()).collect(),
                    last.value.clone(),
                ))
            }
            _ => None,
        }
    };
    match e {
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::Eq,
            right,
        } => {
            if let (Some(c), Some(_)) = (column(left), query::literal_of(right)) {
                return Some((c, e.clone()));
            }
            if let (Some(_), Some(c)) = (query::literal_of(left), column(right)) {
                return Some((c, e.clone()));
            }
            None
        }
        Expr::InList {
            expr,
            list,
            negated: false,
        } => {
            let c = column(expr)?;
            list.iter()
                .all(|v| query::literal_of(v).is_some())
                .then(|| (c, e.clone()))
        }
        _ => None,
    }
}

/// Copies `condition` (on the outer column `column`) into `q` when `q` is a plain one-table
/// select whose column of that name is a plain column of its table.
fn push_into(q: &mut Query, column: &str, condition: &Expr) -> bool {
    if q.limit_clause.is_some() || q.fetch.is_some() {
        return false;
    }
    let SetExpr::Select(select) = q.body.as_mut() else {
        return false;
    };
    let groups = match &select.group_by {
        GroupByExpr::Expressions(e, m) => !e.is_empty() || !m.is_empty(),
        GroupByExpr::All(_) => true,
    };
    if groups
        || select.having.is_some()
        || select.distinct.is_some()
        || select.top.is_some()
        || !select.named_window.is_empty()
        || select.qualify.is_some()
        || select.from.len() != 1
        || !select.from[0].joins.is_empty()
        || aggregates(&select.projection)
    {
        return false;
    }
    // The inner expression the outer column stands for.
    let mut found: Vec<Expr> = Vec::new();
    let mut wildcard = false;
    for item in &select.projection {
        match item {
            SelectItem::UnnamedExpr(e) => {
                let last = match e {
                    Expr::Identifier(i) => Some(i),
                    Expr::CompoundIdentifier(p) => p.last(),
                    _ => None,
                };
                if last.is_some_and(|i| i.value.eq_ignore_ascii_case(column)) {
                    found.push(e.clone());
                }
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                if alias.value.eq_ignore_ascii_case(column) {
                    match expr {
                        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                            found.push(expr.clone())
                        }
                        // A computed column: the condition is not on the table's column.
                        _ => return false,
                    }
                }
            }
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => wildcard = true,
            _ => return false,
        }
    }
    let inner = match found.as_slice() {
        [one] => one.clone(),
        [] if wildcard => Expr::Identifier(Ident::new(column)),
        _ => return false,
    };
    let copied = replace_column(condition, inner);
    select.selection = Some(match select.selection.take() {
        None => copied,
        Some(existing) => Expr::BinaryOp {
            left: Box::new(Expr::Nested(Box::new(existing))),
            op: ast::BinaryOperator::And,
            right: Box::new(copied),
        },
    });
    true
}

fn replace_column(condition: &Expr, inner: Expr) -> Expr {
    let is_column = |e: &Expr| matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
    match condition {
        Expr::BinaryOp { left, op, right } if is_column(left) => Expr::BinaryOp {
            left: Box::new(inner),
            op: op.clone(),
            right: right.clone(),
        },
        Expr::BinaryOp { left, op, .. } => Expr::BinaryOp {
            left: left.clone(),
            op: op.clone(),
            right: Box::new(inner),
        },
        Expr::InList { list, negated, .. } => Expr::InList {
            expr: Box::new(inner),
            list: list.clone(),
            negated: *negated,
        },
        other => other.clone(),
    }
}

fn aggregates(projection: &[SelectItem]) -> bool {
    struct Finder(bool);
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e {
                let name = f.name.to_string().to_ascii_lowercase();
                let aggregate = matches!(
                    name.as_str(),
                    "count"
                        | "sum"
                        | "avg"
                        | "min"
                        | "max"
                        | "total"
                        | "group_concat"
                        | "string_agg"
                        | "json_group_array"
                        | "json_group_object"
                        | "jsonb_group_array"
                        | "jsonb_group_object"
                );
                if aggregate || f.over.is_some() {
                    self.0 = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder(false);
    for item in projection {
        let _ = item.visit(&mut finder);
    }
    finder.0
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::{parse_script, ConjunctKind, QueryStatement, Statement};

    fn one(sql: &str) -> Statement {
        parse_script(sql).unwrap().remove(0).statement
    }

    fn query(sql: &str) -> QueryStatement {
        match one(sql) {
            Statement::Query(q) => *q,
            other => panic!("{other:?}"),
        }
    }

    fn error(sql: &str) -> String {
        parse_script(sql).unwrap_err().to_string()
    }

    /// The conditions on the provider table `resource` that sit in its own SELECT.
    fn equals_on(q: &QueryStatement, resource: &str) -> Vec<String> {
        let t = q
            .tables
            .iter()
            .find(|t| t.name[2] == resource)
            .expect("table");
        q.scope(t.scope)
            .unwrap()
            .conjuncts
            .iter()
            .filter(|c| matches!(c.kind, ConjunctKind::Equals { .. }))
            .map(|c| c.text.clone())
            .collect()
    }

    fn expand(sql: &str, views: &[(&str, &str)]) -> Option<QueryStatement> {
        let views: HashMap<String, String> = views
            .iter()
            .map(|(n, d)| (n.to_ascii_lowercase(), d.to_string()))
            .collect();
        query(sql)
            .expand_views(&|n| views.get(&n.to_ascii_lowercase()).cloned())
            .unwrap()
    }

    const IMAGES: &str = "SELECT * FROM digitalocean.compute.images";

    #[test]
    fn create_keeps_the_text_as_written() {
        let Statement::CreateView(v) = one(
            "CREATE OR REPLACE MATERIALIZED VIEW snaps AS\n  SELECT id, name -- the two we need\n  FROM digitalocean.compute.images WHERE type = 'snapshot'",
        ) else {
            panic!()
        };
        assert_eq!(v.name, "snaps");
        assert!(v.materialized && v.or_replace && !v.if_not_exists);
        assert_eq!(
            v.definition,
            "SELECT id, name -- the two we need\n  FROM digitalocean.compute.images WHERE type = 'snapshot'"
        );
        assert_eq!(v.query.tables.len(), 1);
    }

    #[test]
    fn view_statements_and_their_errors() {
        let Statement::DropView(d) = one("DROP MATERIALIZED VIEW IF EXISTS a, b") else {
            panic!()
        };
        assert_eq!(
            (d.names.len(), d.materialized, d.if_exists),
            (2, true, true)
        );
        let Statement::RefreshView(r) = one("refresh materialized view snaps") else {
            panic!()
        };
        assert_eq!(r.name, "snaps");
        assert!(error("CREATE VIEW digitalocean.compute.x AS SELECT 1").contains("one word"));
        assert!(error("CREATE VIEW v (a) AS SELECT 1").contains("takes its column names"));
        assert!(error("CREATE VIEW iql_views AS SELECT 1").contains("iql's and SQLite's own"));
        assert!(error("CREATE VIEW t0_images AS SELECT 1").contains("provider tables"));
        assert!(error("CREATE TABLE x (a int)").contains("iql creates views only"));
        assert!(error("DROP TABLE x").contains("drops views only"));
        assert!(error("REFRESH VIEW x").contains("REFRESH MATERIALIZED VIEW name"));
        assert!(error("REFRESH MATERIALIZED VIEW a.b").contains("one word"));
        // Not a reserved name: t alone, or t with letters.
        assert!(super::reserved_view_name("tags_view").is_none());
        assert!(super::reserved_view_name("t1").is_none());
    }

    #[test]
    fn a_condition_on_a_view_reaches_the_provider_table() {
        let q = expand(
            "SELECT id FROM my_images WHERE image_id = 1",
            &[("my_images", IMAGES)],
        )
        .expect("expanded");
        assert_eq!(equals_on(&q, "images"), ["image_id = 1"]);
        // Through an alias, an IN list, a renamed column, and a view of a view.
        let q = expand(
            "SELECT m.id FROM mine AS m WHERE m.kind IN ('snapshot', 'backup') AND m.name LIKE '%web%'",
            &[
                ("mine", "SELECT id, name, type AS kind FROM inner_view"),
                ("inner_view", IMAGES),
            ],
        )
        .expect("expanded");
        assert_eq!(
            equals_on(&q, "images"),
            ["type IN ('snapshot', 'backup')"],
            "{q:?}"
        );
    }

    #[test]
    fn conditions_stay_out_where_they_would_change_the_answer() {
        let grouped = expand(
            "SELECT * FROM per_type WHERE type = 'snapshot'",
            &[(
                "per_type",
                "SELECT type, count(*) AS n FROM digitalocean.compute.images GROUP BY type",
            )],
        )
        .unwrap();
        assert!(equals_on(&grouped, "images").is_empty());
        let limited = expand(
            "SELECT * FROM firsts WHERE type = 'snapshot'",
            &[(
                "firsts",
                "SELECT * FROM digitalocean.compute.images LIMIT 5",
            )],
        )
        .unwrap();
        assert!(equals_on(&limited, "images").is_empty());
        let computed = expand(
            "SELECT * FROM v WHERE type = 'SNAPSHOT'",
            &[(
                "v",
                "SELECT upper(type) AS type FROM digitalocean.compute.images",
            )],
        )
        .unwrap();
        assert!(equals_on(&computed, "images").is_empty());
        // The optional side of an outer join.
        let outer = expand(
            "SELECT * FROM digitalocean.compute.image_actions a LEFT JOIN v ON v.id = a.resource_id WHERE v.type = 'snapshot' AND a.image_id = 3",
            &[("v", IMAGES)],
        )
        .unwrap();
        assert!(equals_on(&outer, "images").is_empty());
    }

    #[test]
    fn user_written_subqueries_get_the_same_pushdown() {
        let q = expand(
            "SELECT * FROM (SELECT id, name FROM digitalocean.compute.images) AS s WHERE s.id = 7",
            &[],
        )
        .expect("rewritten");
        assert_eq!(equals_on(&q, "images"), ["id = 7"]);
        assert!(expand(
            "SELECT * FROM digitalocean.compute.images WHERE id = 1",
            &[]
        )
        .is_none());
    }

    #[test]
    fn ctes_hide_views_and_cycles_are_named() {
        assert!(expand(
            "WITH v AS (SELECT 1 AS a) SELECT * FROM v",
            &[("v", IMAGES)]
        )
        .is_none());
        let err = query("SELECT * FROM a")
            .expand_views(&|n| match n {
                "a" => Some("SELECT * FROM b".into()),
                "b" => Some("SELECT * FROM a".into()),
                _ => None,
            })
            .unwrap_err();
        assert!(err.message.contains("a → b → a"), "{err}");
        assert_eq!(
            query("SELECT * FROM a JOIN b ON a.x = b.y").plain_table_names(),
            ["a", "b"]
        );
    }
}

impl QueryStatement {
    /// Whether each result row depends on one row of its one provider table alone: one table, no
    /// join, grouping, aggregate, window, DISTINCT, ORDER BY, LIMIT, CTE or subquery. Such a query
    /// gives the same rows run page by page as run once on every page, so its rows can stream
    /// while the pages are read, in flat memory.
    pub fn is_row_local(&self) -> bool {
        let q = self.ast();
        if self.tables.len() != 1
            || q.with.is_some()
            || q.order_by.is_some()
            || q.limit_clause.is_some()
            || q.fetch.is_some()
        {
            return false;
        }
        let SetExpr::Select(select) = q.body.as_ref() else {
            return false;
        };
        let groups = match &select.group_by {
            GroupByExpr::Expressions(e, m) => !e.is_empty() || !m.is_empty(),
            GroupByExpr::All(_) => true,
        };
        if groups
            || select.having.is_some()
            || select.distinct.is_some()
            || select.top.is_some()
            || !select.named_window.is_empty()
            || select.qualify.is_some()
            || select.from.len() != 1
            || !select.from[0].joins.is_empty()
            || !matches!(select.from[0].relation, TableFactor::Table { .. })
            || aggregates(&select.projection)
        {
            return false;
        }
        struct Subqueries(bool);
        impl Visitor for Subqueries {
            type Break = ();
            fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
                if matches!(
                    e,
                    Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. }
                ) {
                    self.0 = true;
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            }
        }
        let mut found = Subqueries(false);
        let _ = select.visit(&mut found);
        !found.0
    }
}

#[cfg(test)]
mod row_local_tests {
    use crate::{parse_script, Statement};

    fn row_local(sql: &str) -> bool {
        match parse_script(sql).unwrap().remove(0).statement {
            Statement::Query(q) => q.is_row_local(),
            _ => panic!(),
        }
    }

    #[test]
    fn which_queries_stream() {
        assert!(row_local("SELECT * FROM digitalocean.compute.images"));
        assert!(row_local(
            "SELECT id, upper(name) FROM digitalocean.compute.images i WHERE i.name LIKE '%x' AND private = true"
        ));
        for sql in [
            "SELECT count(*) FROM digitalocean.compute.images",
            "SELECT * FROM digitalocean.compute.images ORDER BY id",
            "SELECT * FROM digitalocean.compute.images LIMIT 3",
            "SELECT DISTINCT type FROM digitalocean.compute.images",
            "SELECT type FROM digitalocean.compute.images GROUP BY type",
            "SELECT * FROM digitalocean.compute.images WHERE id IN (SELECT 1)",
            "SELECT row_number() OVER () FROM digitalocean.compute.images",
            "SELECT * FROM digitalocean.compute.images a JOIN digitalocean.compute.images b ON a.id = b.id",
            "SELECT 1",
        ] {
            assert!(!row_local(sql), "{sql}");
        }
    }
}

/// A condition every row a query reads of a stored table must meet: `column = v` or
/// `column IN (v, …)`, so a store on another database may send it there and copy fewer rows.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFilter {
    pub column: String,
    pub values: Vec<query::Literal>,
}

impl QueryStatement {
    /// The conditions of the query's `WHERE` on the one-word table `table` that hold for every
    /// row it reads of it: conjuncts `column = literal` or `column IN (literals)` of the `SELECT`
    /// whose `FROM` names it, when it is named once in the whole query (not hidden by a `WITH`)
    /// and not on the optional side of an outer join. Unqualified columns count only when that
    /// `FROM` has nothing else. Filtering the table by them first gives the same answer (the
    /// query still filters).
    pub fn stored_filters(&self, table: &str) -> Vec<StoredFilter> {
        if cte_names(self.ast()).contains(&table.to_ascii_lowercase()) {
            return Vec::new();
        }
        let mut finder = StoredFilters {
            table,
            occurrences: 0,
            filters: Vec::new(),
        };
        let _ = self.ast().visit(&mut finder);
        if finder.occurrences == 1 {
            finder.filters
        } else {
            Vec::new()
        }
    }

    /// The names the query's text holds (lower case), `None` when it may read every column of a
    /// table (`*`, `t.*`, a `NATURAL` join): the columns of a stored table it can need.
    pub fn named_columns(&self) -> Option<&std::collections::HashSet<String>> {
        (!self.every_column()).then(|| self.words())
    }
}

struct StoredFilters<'a> {
    table: &'a str,
    occurrences: usize,
    filters: Vec<StoredFilter>,
}

impl StoredFilters<'_> {
    /// The name the select knows `table` by, if this factor is it.
    fn names(&self, factor: &TableFactor) -> Option<String> {
        match factor {
            TableFactor::Table {
                name,
                args: None,
                alias,
                ..
            } if one_word(name).is_some_and(|n| n.eq_ignore_ascii_case(self.table)) => Some(
                alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .unwrap_or_else(|| self.table.to_string()),
            ),
            _ => None,
        }
    }
}

impl Visitor for StoredFilters<'_> {
    type Break = ();
    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        let inner = |op: &JoinOperator| {
            matches!(
                op,
                JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_)
            )
        };
        let mut factors = 0;
        let mut here: Option<(String, bool)> = None;
        for twj in &select.from {
            factors += 1 + twj.joins.len();
            if let Some(n) = self.names(&twj.relation) {
                self.occurrences += 1;
                here = Some((n, twj.joins.iter().all(|j| safe_join(&j.join_operator))));
            }
            for (k, j) in twj.joins.iter().enumerate() {
                if let Some(n) = self.names(&j.relation) {
                    self.occurrences += 1;
                    let safe = inner(&j.join_operator)
                        && twj.joins[..k].iter().all(|j| inner(&j.join_operator))
                        && twj.joins[k + 1..]
                            .iter()
                            .all(|j| safe_join(&j.join_operator));
                    here = Some((n, safe));
                }
            }
        }
        let (Some((known_as, true)), Some(selection)) = (here, &select.selection) else {
            return ControlFlow::Continue(());
        };
        let mut conjuncts = Vec::new();
        split_and(selection, &mut conjuncts);
        for c in conjuncts {
            let Some(((qualifier, column), _)) = pushable(c) else {
                continue;
            };
            let ours = match qualifier.as_slice() {
                [] => factors == 1,
                [q] => q.eq_ignore_ascii_case(&known_as),
                _ => false,
            };
            if !ours {
                continue;
            }
            let values = match c {
                Expr::BinaryOp { left, right, .. } => query::literal_of(right)
                    .or_else(|| query::literal_of(left))
                    .into_iter()
                    .collect(),
                Expr::InList { list, .. } => list.iter().filter_map(query::literal_of).collect(),
                _ => Vec::new(),
            };
            if !values.is_empty() {
                self.filters.push(StoredFilter { column, values });
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod stored_filter_tests {
    use crate::query::Literal;

    fn filters(sql: &str, table: &str) -> Vec<(String, Vec<Literal>)> {
        let q = match crate::parse_script(sql).unwrap().pop().unwrap().statement {
            crate::Statement::Query(q) => q,
            other => panic!("{other:?}"),
        };
        q.stored_filters(table)
            .into_iter()
            .map(|f| (f.column, f.values))
            .collect()
    }

    fn text(s: &str) -> Literal {
        Literal::Text(s.into())
    }

    #[test]
    fn conditions_that_hold_for_every_row_read() {
        assert_eq!(
            filters(
                "SELECT * FROM inv WHERE type = 'snapshot' AND id IN (1, 2) AND name LIKE 'a%'",
                "inv"
            ),
            [
                ("type".to_string(), vec![text("snapshot")]),
                (
                    "id".to_string(),
                    vec![Literal::Number("1".into()), Literal::Number("2".into())]
                )
            ]
        );
        assert_eq!(
            filters("SELECT count(*) FROM inv i JOIN other o ON o.id = i.id WHERE i.type = 'x' AND type = 'y' AND o.k = 1", "INV"),
            [("type".to_string(), vec![text("x")])],
            "qualified by its alias only, when the FROM has two tables"
        );
        assert_eq!(
            filters(
                "SELECT type, count(*) FROM inv WHERE 'base' = type GROUP BY type LIMIT 1",
                "inv"
            ),
            [("type".to_string(), vec![text("base")])],
            "WHERE comes before grouping and limits"
        );
    }

    #[test]
    fn none_where_filtering_first_could_change_the_answer() {
        for sql in [
            "SELECT * FROM inv WHERE type = 'x' OR id = 1",
            "SELECT * FROM other o LEFT JOIN inv i ON i.id = o.id WHERE i.type = 'x'",
            "SELECT * FROM inv a JOIN inv b ON a.id = b.id WHERE a.type = 'x'",
            "SELECT * FROM inv WHERE type = 'x' UNION SELECT * FROM inv",
            "WITH inv AS (SELECT 1 AS type) SELECT * FROM inv WHERE type = 1",
            "SELECT * FROM inv WHERE type NOT IN ('x')",
        ] {
            assert_eq!(filters(sql, "inv"), [], "{sql}");
        }
        assert_eq!(
            filters(
                "SELECT * FROM inv i LEFT JOIN other o ON i.id = o.id WHERE i.type = 'x'",
                "inv"
            ),
            [("type".to_string(), vec![text("x")])],
            "the required side of a LEFT JOIN"
        );
    }
}
