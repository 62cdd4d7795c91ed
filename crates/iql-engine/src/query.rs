//! The path of a `SELECT`: plan every provider table, make the statement's SQLite tables and
//! compile the query on them (so bad SQL fails before any request), fetch in waves (tables that
//! take their parameters from others wait for them), pour pages into SQLite as they arrive, and
//! run the query as written.

use std::collections::{HashMap, HashSet};

use iql_http::Secret;
use iql_sql::QueryStatement;
use serde_json::Value;

use crate::error::EngineError;
use crate::session::Session;
use crate::value::QueryResult;
use crate::{fetch, params, plan, sqlite};

impl Session {
    /// One request per combination of bound values: over the limit is an error, before any is sent.
    pub(crate) fn check_fanout(
        &self,
        p: &plan::TablePlan,
        bound: &[(String, Vec<Value>)],
    ) -> Result<(), EngineError> {
        let Some(limit) = self.settings.max_fanout else {
            return Ok(());
        };
        let requests = bound
            .iter()
            .fold(1usize, |n, (_, values)| n.saturating_mul(values.len()));
        if requests <= limit {
            return Ok(());
        }
        Err(EngineError::TooManyRequests {
            resource: p.resource.id.clone(),
            requests,
            params: bound
                .iter()
                .filter(|(_, v)| v.len() > 1)
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(" × "),
            limit,
        })
    }

    /// The statement's SQLite database with an empty table per provider table, and the query as
    /// SQLite will run it, already compiled once: SQL that SQLite rejects fails here, before any
    /// request is sent. The third part is the statement with `'true'`/`'false'` compared with a
    /// boolean column made booleans, when it has any (its subqueries are rendered from it).
    pub(crate) fn prepare_local(
        &self,
        q: &QueryStatement,
        plans: &[plan::TablePlan],
    ) -> Result<(sqlite::LocalDb, String, Option<QueryStatement>), EngineError> {
        let mut db = self.local.take()?;
        if q.mentions("information_schema") {
            self.attach_catalog(&mut db)?;
        }
        if q.mentions("pg_catalog") || crate::pg_catalog::TABLES.iter().any(|t| q.mentions(t)) {
            self.attach_pg_catalog(&mut db)?;
        }
        // A query naming something other than provider tables may read a materialized view.
        if q.scopes.iter().any(|s| s.other_sources > 0) {
            if let Some(store) = self.engine().opened_store() {
                match store.local_file() {
                    Some(file) => db.attach_store(file)?,
                    // A store that cannot be attached: the materialized views the query names
                    // are copied in.
                    None => {
                        for name in q.plain_table_names() {
                            if let Some(v) = store.view(&name)?.filter(|v| v.materialized) {
                                let (columns, rows) = store.rows_for_query(
                                    &v.name,
                                    q.named_columns(),
                                    &q.stored_filters(&name),
                                )?;
                                db.copy_table(&name, &columns, &rows)?;
                            }
                        }
                    }
                }
            }
        }
        for p in plans {
            match &p.split {
                Some(split) => sqlite::create_split_tables(
                    &mut db,
                    &p.local_name,
                    p.columns(),
                    &split.column,
                    &split.field_values,
                )?,
                None => db.table(&p.local_name, p.columns())?,
            }
        }
        let (truths, instants) = check_comparisons(q, plans)?;
        let rewritten = (!truths.is_empty() || !instants.is_empty())
            .then(|| q.with_truth_values(&truths).with_instants(&instants));
        let q = rewritten.as_ref().unwrap_or(q);
        let (names, answered) = local_names(plans);
        let sql = q.render(&names, &answered);
        sqlite::check(&db.conn, &sql).map_err(|e| self.explain_sqlite(e, q, plans))?;
        Ok((db, sql, rewritten))
    }

    pub(crate) async fn query(&self, q: &QueryStatement) -> Result<QueryResult, EngineError> {
        self.select(q, false).await
    }

    /// A `SELECT`; `fresh` ones use no answer the response cache kept (the rows a mutation acts
    /// on, a refresh of a materialized view), though what they fetch is kept for others.
    pub(crate) async fn select(
        &self,
        q: &QueryStatement,
        fresh: bool,
    ) -> Result<QueryResult, EngineError> {
        let plans = plan::plan_query(self, q)?;
        let (mut db, sql, rewritten) = self.prepare_local(q, &plans)?;
        let q = rewritten.as_ref().unwrap_or(q);
        let mut tokens: HashMap<String, Option<Secret>> = HashMap::new();
        for p in &plans {
            if !tokens.contains_key(&p.provider.name) {
                tokens.insert(p.provider.name.clone(), self.credential(&p.provider)?);
            }
        }
        let mut result = QueryResult::default();
        for p in &plans {
            result.notices.extend(p.notices.iter().cloned());
        }
        let mut loaded: HashSet<usize> = HashSet::new();
        while loaded.len() < plans.len() {
            let ready: Vec<&plan::TablePlan> = plans
                .iter()
                .filter(|p| {
                    !loaded.contains(&p.table)
                        && p.links
                            .iter()
                            .all(|l| l.waits_on().iter().all(|t| loaded.contains(t)))
                })
                .collect();
            if ready.is_empty() {
                return Err(EngineError::Unsupported(
                    "these tables take their parameters from each other; give one of them a literal parameter".to_string(),
                ));
            }
            let mut jobs = Vec::new();
            let (tx, mut rx) = tokio::sync::mpsc::channel::<fetch::Batch>(
                2 * self.engine().config().http.concurrency.max(1),
            );
            for p in &ready {
                let mut bound: Vec<(String, Vec<Value>)> = p.literals.clone();
                for link in &p.links {
                    let values = link_values(&db.conn, q, &plans, p, link)?;
                    bound.push((link.param.clone(), values));
                }
                self.check_fanout(p, &bound)?;
                let token = tokens.get(&p.provider.name).cloned().flatten();
                let sink = tx.clone();
                jobs.push(async move {
                    fetch::fetch_table(
                        self,
                        p,
                        bound,
                        token,
                        sink,
                        if fresh {
                            fetch::Reuse::Fresh
                        } else {
                            fetch::Reuse::Kept
                        },
                    )
                    .await
                    .map(|f| (*p, f))
                });
            }
            drop(tx);
            // Pages go into SQLite as they arrive, while the other requests are still in flight.
            let started = std::time::Instant::now();
            let fetching = futures::future::try_join_all(jobs);
            // Moved in as `&mut` (a connection may move between threads, but is not to be shared
            // by them, so the future must not hold a shared reference to it).
            let local = &mut db;
            let all = &plans;
            let loading = async move {
                let mut failure = None;
                while let Some(batch) = rx.recv().await {
                    if failure.is_some() {
                        continue;
                    }
                    let Some(p) = all.iter().find(|p| p.table == batch.table) else {
                        continue;
                    };
                    let table = match (&p.split, batch.field_branch) {
                        (Some(_), false) => sqlite::split_names(&p.local_name).0,
                        (Some(_), true) => sqlite::split_names(&p.local_name).1,
                        (None, _) => p.local_name.clone(),
                    };
                    if let Err(e) = sqlite::insert_rows(
                        &local.conn,
                        &table,
                        p.columns(),
                        batch.first_rowid,
                        &batch.rows,
                    ) {
                        failure = Some(e);
                    }
                }
                failure
            };
            let (fetched, load_failure) = tokio::join!(fetching, loading);
            let wave = fetched?;
            if let Some(e) = load_failure {
                return Err(e);
            }
            tracing::debug!(
                tables = wave.len(),
                ms = started.elapsed().as_secs_f64() * 1e3,
                "fetched and loaded"
            );
            for (p, fetched) in wave {
                result.stats.requests += fetched.requests;
                result.stats.from_cache += fetched.from_cache;
                result.stats.rows_fetched += fetched.rows;
                result.notices.extend(fetched.notices);
                loaded.insert(p.table);
            }
        }
        tracing::debug!(%sql, "running in SQLite");
        let started = std::time::Instant::now();
        let probe = type_probe_sql(q, &plans);
        let (columns, rows) = sqlite::run_typed_query(&db.conn, &sql, probe.as_deref())
            .map_err(|e| self.explain_sqlite(e, q, &plans))?;
        self.local.give_back(db);
        tracing::debug!(
            rows = rows.len(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "queried"
        );
        result.columns = columns;
        result.rows = rows;
        Ok(result)
    }
}

/// Where a quoted truth value was written (line, column), and the boolean it means.
type TruthValue = ((u64, u64), bool);

/// Where a date-time literal is written (line, column), to compare as an instant.
type InstantAt = (u64, u64);

/// A column compared with a string: SQLite holds a boolean as 0 or 1, so `public = 'true'` is
/// false for every row, and `size_gigabytes > 'abc'` compares a number with a word. PostgreSQL
/// reads `'true'` as the boolean (StackQL's documents write `private = 'false'`), and refuses the
/// rest. So does iql: the positions of the truth values to make booleans, or the refusal.
fn check_comparisons(
    q: &QueryStatement,
    plans: &[plan::TablePlan],
) -> Result<(Vec<TruthValue>, Vec<InstantAt>), EngineError> {
    let mut truths = Vec::new();
    let mut instants = Vec::new();
    use iql_provider::ValueKind;
    let (_, answered) = local_names(plans);
    // A condition the API answers was checked as a parameter (`private = 'true'` is how
    // StackQL's documents write it) and is not left for SQLite.
    let sent = |at: (u64, u64)| {
        q.scopes
            .iter()
            .flat_map(|s| &s.conjuncts)
            .any(|c| answered.contains(&c.id) && c.contains(at))
    };
    // With a derived table or a CTE in the statement, a name may be one of its columns (`SELECT
    // … FROM (SELECT name AS size_gigabytes …) s WHERE size_gigabytes = 'abc'`): then only a
    // name qualified by a provider table's own alias is judged.
    let plain = q.scopes.iter().all(|s| s.other_sources == 0);
    let explicit = |p: &plan::TablePlan| {
        q.tables
            .iter()
            .any(|t| t.id == p.table && t.alias.is_some())
    };
    for c in q
        .comparisons
        .iter()
        .filter(|c| !sent((c.line, c.column_at)))
    {
        let owners = plans.iter().filter(|p| match &c.qualifier {
            Some(alias) => alias_of(q, p).eq_ignore_ascii_case(alias) && (plain || explicit(p)),
            None => plain,
        });
        let kinds: Vec<ValueKind> = owners
            .filter_map(|p| {
                p.columns()
                    .iter()
                    .find(|col| col.name.eq_ignore_ascii_case(&c.column))
                    .map(|col| col.schema.kind())
            })
            .collect();
        // Unknown, or in several tables (SQLite says which is ambiguous): nothing to judge.
        let [kind] = kinds.as_slice() else {
            continue;
        };
        let name = match &c.qualifier {
            Some(alias) => format!("{alias}.{}", c.column),
            None => c.column.clone(),
        };
        let refuse = |message: String| {
            Err(EngineError::Syntax(iql_sql::SqlError {
                line: c.line,
                column: c.column_at,
                message,
            }))
        };
        match kind {
            ValueKind::Boolean => {
                // PostgreSQL's spellings of a boolean.
                match c.text.trim().to_ascii_lowercase().as_str() {
                    "true" | "t" | "yes" | "y" | "on" | "1" => {
                        truths.push(((c.line, c.column_at), true))
                    }
                    "false" | "f" | "no" | "n" | "off" | "0" => {
                        truths.push(((c.line, c.column_at), false))
                    }
                    _ => {
                        return refuse(format!("{name} is a boolean and '{}' is not a truth value: write {name} = true or {name} = false", c.text));
                    }
                }
            }
            ValueKind::DateTime => {
                if crate::functions::parse_instant_literal(&c.text).is_none() {
                    return refuse(format!(
                        "{name} is a date-time and '{}' is not one: write '2025-02-21', '2025-02-21 10:00:00' or '2025-02-21T10:00:00Z' (UTC unless it says +02:00)",
                        c.text
                    ));
                }
                instants.push((c.line, c.column_at));
            }
            ValueKind::Integer | ValueKind::Real if c.text.trim().parse::<f64>().is_err() => {
                return refuse(format!(
                    "{name} is a number and '{}' is not: SQLite would compare a number with a word",
                    c.text
                ));
            }
            _ => {}
        }
    }
    Ok((truths, instants))
}

/// The name a provider table goes by in the query: its alias, or the resource name (`images`).
pub(crate) fn alias_of(q: &QueryStatement, p: &plan::TablePlan) -> String {
    q.tables
        .iter()
        .find(|t| t.id == p.table)
        .and_then(|t| t.alias.clone())
        .unwrap_or_else(|| p.resource.name.clone())
}

/// Each provider table's local SQLite name, and the conjuncts the API answers: what rendering a
/// query (or one of its subqueries) for SQLite needs.
/// The statement's type probe (`QueryStatement::type_probe`) as SQLite will compile it.
pub(crate) fn type_probe_sql(q: &QueryStatement, plans: &[plan::TablePlan]) -> Option<String> {
    let probe = q.type_probe()?;
    let (names, answered) = local_names(plans);
    Some(probe.render(&names, &answered))
}

pub(crate) fn local_names(plans: &[plan::TablePlan]) -> (HashMap<usize, String>, HashSet<usize>) {
    let names = plans
        .iter()
        .map(|p| (p.table, p.local_name.clone()))
        .collect();
    let answered = plans
        .iter()
        .flat_map(|p| p.answered.iter().copied())
        .collect();
    (names, answered)
}

/// The values a link gives its parameter, typed for it: the distinct values of another table's
/// column (after that table's own filters), or what a subquery returns.
fn link_values(
    conn: &rusqlite::Connection,
    q: &QueryStatement,
    plans: &[plan::TablePlan],
    p: &plan::TablePlan,
    link: &plan::LinkBinding,
) -> Result<Vec<Value>, EngineError> {
    let found = match &link.source {
        plan::LinkSource::Column { table, column } => {
            let Some(src) = plans.iter().find(|s| s.table == *table) else {
                return Ok(Vec::new());
            };
            let column = src
                .columns()
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(column))
                .map(|c| c.name.clone())
                .unwrap_or_else(|| column.clone());
            sqlite::distinct_values(conn, &src.local_name, &column, &src.sql_filters)?
        }
        plan::LinkSource::Expression { table, sql } => {
            let Some(src) = plans.iter().find(|s| s.table == *table) else {
                return Ok(Vec::new());
            };
            sqlite::distinct_expression_values(
                conn,
                &src.local_name,
                &alias_of(q, src),
                sql,
                &src.sql_filters,
            )?
        }
        plan::LinkSource::Subquery { index, .. } => {
            let (names, answered) = local_names(plans);
            let Some(sql) = q.render_subquery(*index, &names, &answered) else {
                return Ok(Vec::new());
            };
            sqlite::first_column_values(conn, &sql).map_err(|e| {
                EngineError::Unsupported(format!(
                    "the subquery that gives {} its values must stand on its own (it cannot use the outer query's tables): {e}",
                    link.param
                ))
            })?
        }
    };
    let schema = p
        .method
        .param(&link.param)
        .map(|x| x.schema.clone())
        .unwrap_or_default();
    Ok(found
        .iter()
        .filter_map(|v| {
            let lit = match v {
                Value::String(s) => iql_sql::Literal::Text(s.clone()),
                other => iql_sql::Literal::Number(other.to_string()),
            };
            params::normalize(&schema, &lit)
        })
        .collect())
}
