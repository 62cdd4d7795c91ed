//! Views: `CREATE [OR REPLACE] [MATERIALIZED] VIEW`, `DROP [MATERIALIZED] VIEW`, `REFRESH
//! MATERIALIZED VIEW`, and what a query that names a view becomes.
//!
//! Views are kept in the engine's store, so every session of the engine (and every process using
//! the same store file) sees them. A plain view is its query's text: a query naming it runs the
//! view's query in its place, live (`iql_sql`'s `view` module rewrites it, conditions included).
//! A materialized view's rows are a table of the store, read as they are until a refresh; a refresh
//! fetches everything fresh (no answer of the response cache) and then replaces the rows in one
//! transaction, so a failed refresh leaves the old rows, and says so.
//!
//! One refresh of a view runs at a time across every process on the store (the store's refresh
//! lock): a second REFRESH waits for the first and, when that one has finished meanwhile, uses its
//! rows instead of fetching them again. A view created `WITH (refresh_interval = …)` is refreshed
//! by [`crate::Engine::refresh_due_views`], which `iql serve` calls every second: the store says
//! which views are due by its own clock, and the lock makes exactly one server refresh each.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use iql_sql::{CreateView, DropView, QueryStatement, RefreshView, Statement};

use crate::error::EngineError;
use crate::plan;
use crate::session::Session;
use crate::store::{kind_word, RefreshLock, Store, ViewRecord};
use crate::value::QueryResult;

fn no_view(store: &dyn Store, name: &str) -> EngineError {
    let names: Vec<String> = store
        .views()
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    let hint = match iql_provider::did_you_mean(name, names.iter().map(String::as_str)) {
        Some(close) => format!("; did you mean {close}?"),
        None if names.is_empty() => " (there are no views yet)".to_string(),
        None => " (SHOW VIEWS lists them)".to_string(),
    };
    EngineError::View(format!("there is no view named {name}{hint}"))
}

fn message(text: String) -> QueryResult {
    QueryResult {
        message: Some(text),
        ..QueryResult::default()
    }
}

impl Session {
    /// The query with the views it names replaced by their queries and conditions moved next to
    /// provider tables (`iql_sql::QueryStatement::expand_views`); the query itself when it names
    /// no view and has no subquery to move conditions into.
    pub(crate) fn with_views<'q>(
        &self,
        q: &'q QueryStatement,
    ) -> Result<Cow<'q, QueryStatement>, EngineError> {
        if !q.scopes.iter().any(|s| s.other_sources > 0) && !self.names_view_resources(q) {
            return Ok(Cow::Borrowed(q));
        }
        let store = if q.plain_table_names().is_empty() {
            None
        } else {
            Some(self.engine().store()?)
        };
        self.expand_with_views(q, store.as_deref(), None)
            .map(|e| e.map(Cow::Owned).unwrap_or(Cow::Borrowed(q)))
    }

    /// Expands with the store's plain views, and `extra` (a view being created) before them.
    fn expand_with_views(
        &self,
        q: &QueryStatement,
        store: Option<&dyn Store>,
        extra: Option<(&str, &str)>,
    ) -> Result<Option<QueryStatement>, EngineError> {
        let memo: RefCell<HashMap<String, Option<String>>> = RefCell::default();
        let failure: RefCell<Option<EngineError>> = RefCell::default();
        let lookup = |name: &str| -> Option<String> {
            if let Some((n, d)) = extra {
                if !name.contains('.') && n.eq_ignore_ascii_case(name) {
                    return Some(d.to_string());
                }
            }
            // The expander asks once per reference and again for what a definition names:
            // each name is resolved (a store read, a provider lookup) once per statement.
            let key = name.to_ascii_lowercase();
            if let Some(found) = memo.borrow().get(&key) {
                return found.clone();
            }
            let found = if name.contains('.') {
                // provider.service.resource: a resource its document defines by SQL, if any.
                match self.view_resource_query(name, Some(q), false) {
                    Ok(found) => found,
                    Err(e) => {
                        failure.borrow_mut().get_or_insert(e);
                        None
                    }
                }
            } else {
                match store.map(|s| s.view(name)) {
                    Some(Ok(Some(v))) if !v.materialized => Some(v.definition),
                    Some(Err(e)) => {
                        failure.borrow_mut().get_or_insert(e);
                        None
                    }
                    _ => None,
                }
            };
            memo.borrow_mut().insert(key, found.clone());
            found
        };
        let expanded = q.expand_views(&lookup)?;
        if let Some(e) = failure.into_inner() {
            return Err(e);
        }
        Ok(expanded)
    }

    /// The columns `SELECT * FROM name` gives, from the plan and SQLite's compiled query.
    pub(crate) fn columns_of_view(
        &self,
        name: &str,
    ) -> Result<Vec<crate::value::ResultColumn>, EngineError> {
        self.columns_of_query(&format!("SELECT * FROM {}", crate::sqlite::quote(name)))
    }

    /// The columns a resource defined by SQL gives (its placeholders empty), without a request.
    pub(crate) fn columns_of_view_resource(
        &self,
        name: &str,
    ) -> Result<Vec<crate::value::ResultColumn>, EngineError> {
        match self.view_resource_query(name, None, true)? {
            Some(sql) => self.columns_of_query(&sql),
            None => Ok(Vec::new()),
        }
    }

    fn columns_of_query(&self, sql: &str) -> Result<Vec<crate::value::ResultColumn>, EngineError> {
        let Some(Statement::Query(q)) = iql_sql::parse_script(sql)?.pop().map(|s| s.statement)
        else {
            return Ok(Vec::new());
        };
        let q = self.with_views(&q)?;
        let plans = plan::plan_query(self, &q)?;
        let (db, sql, _) = self.prepare_local(&q, &plans)?;
        let columns = crate::sqlite::columns_of(&db.conn, &sql);
        self.local.give_back(db);
        columns
    }

    /// The columns a statement's result will have, found without sending a request (what a
    /// server answers when a client describes a prepared statement): a query is planned and
    /// compiled, SHOW and DESCRIBE are answered from the documents; `None` for a statement that
    /// gives no rows (a change without RETURNING, a view statement). Placeholders are read as
    /// the number 0, which gives the same columns as any value.
    pub async fn result_columns(
        &self,
        statement: &Statement,
    ) -> Result<Option<Vec<crate::value::ResultColumn>>, EngineError> {
        match statement {
            Statement::Query(q) => {
                let q = self.with_views(q)?;
                let plans = plan::plan_query(self, &q)?;
                let (db, sql, rewritten) = self.prepare_local(&q, &plans)?;
                let probe = crate::query::type_probe_sql(rewritten.as_ref().unwrap_or(&q), &plans);
                let columns = crate::sqlite::typed_columns(&db.conn, &sql, probe.as_deref());
                self.local.give_back(db);
                columns.map(Some)
            }
            Statement::Show(_)
            | Statement::Describe(_)
            | Statement::Session(iql_sql::SessionStatement::Show(_)) => {
                Ok(Some(self.execute(statement).await?.columns))
            }
            other => self.returning_columns(other),
        }
    }

    pub(crate) async fn create_view(&self, v: &CreateView) -> Result<QueryResult, EngineError> {
        let store = self.engine().store()?;
        if let Some(old) = store.view(&v.name)? {
            if v.if_not_exists {
                return Ok(message(format!(
                    "{} {} exists already: nothing done",
                    kind_word(old.materialized).to_lowercase(),
                    old.name
                )));
            }
            if !v.or_replace {
                // The store says it again in its transaction; this is the early answer.
                return Err(crate::store::exists(&old, v.materialized));
            }
        }
        // The query must stand: its views expanded (this one as it will be, so a view that names
        // itself is found), its tables planned, its SQL compiled by SQLite.
        let expanded = self
            .expand_with_views(
                &v.query,
                Some(store.as_ref()),
                Some((&v.name, &v.definition)),
            )?
            .unwrap_or_else(|| (*v.query).clone());
        let mut notices = Vec::new();
        match plan::plan_query(self, &expanded) {
            Ok(plans) => {
                let (db, _, _) = self.prepare_local(&expanded, &plans)?;
                self.local.give_back(db);
            }
            // A view over a resource that needs a parameter (image_actions needs image_id) is
            // useful: the query that reads it gives the parameter.
            Err(e @ EngineError::NoMatchingMethod { .. }) if !v.materialized => {
                notices.push(format!(
                    "a query of {} must give what its tables need: {e}",
                    v.name
                ));
            }
            Err(e) => return Err(e),
        }
        if !v.materialized {
            if self.dry_run() {
                let mut r = message(format!("dry run: view {} was not created", v.name));
                r.notices = notices;
                return Ok(r);
            }
            store.create_view(&v.name, &v.definition, v.or_replace)?;
            let mut r = message(format!("created view {}", v.name));
            r.notices = notices;
            return Ok(r);
        }
        if self.dry_run() {
            let mut r = self.dry_run_query(&expanded)?;
            r.message = Some(format!(
                "dry run: materialized view {} was not created; it would send these requests",
                v.name
            ));
            return Ok(r);
        }
        let fetched = self.select(&expanded, true).await?;
        let record = store.materialize(
            &v.name,
            &v.definition,
            &fetched.columns,
            &fetched.rows,
            Some(v.or_replace),
            v.refresh_interval.map(|d| d.as_secs() as i64),
        )?;
        Ok(materialized_result(
            format!("created materialized view {}", record.name),
            &record,
            fetched,
        ))
    }

    pub(crate) async fn drop_view(&self, d: &DropView) -> Result<QueryResult, EngineError> {
        let store = self.engine().store()?;
        let mut done = Vec::new();
        let mut notices = Vec::new();
        // Every name is checked before any is dropped: a mistake drops nothing.
        for name in &d.names {
            match store.view(name)? {
                None if d.if_exists => notices.push(format!("there is no view {name}: skipped")),
                None => return Err(no_view(store.as_ref(), name)),
                Some(v) if v.materialized != d.materialized => {
                    return Err(EngineError::View(format!(
                        "{} is a {}: DROP {} {}",
                        v.name,
                        kind_word(v.materialized).to_lowercase(),
                        kind_word(v.materialized),
                        v.name
                    )))
                }
                Some(v) => done.push(v.name),
            }
        }
        if self.dry_run() {
            let mut r = message(format!(
                "dry run: nothing dropped (would drop {})",
                if done.is_empty() {
                    "nothing".to_string()
                } else {
                    done.join(", ")
                }
            ));
            r.notices = notices;
            return Ok(r);
        }
        for name in &done {
            store.drop_view(name)?;
        }
        let mut r = message(if done.is_empty() {
            "nothing dropped".to_string()
        } else {
            format!("dropped {}", done.join(", "))
        });
        r.notices = notices;
        Ok(r)
    }

    pub(crate) async fn refresh_view(&self, r: &RefreshView) -> Result<QueryResult, EngineError> {
        let store = self.engine().store()?;
        let view = self.refreshable(store.as_ref(), &r.name)?;
        if self.dry_run() {
            return self.refresh_locked(store.as_ref(), &view, None).await;
        }
        // Another refresh of it (here or on another server) goes first; when it has finished,
        // its rows are as fresh as the ones this one would fetch.
        let asked = std::time::Instant::now();
        let mut waited = false;
        let lock = loop {
            if let Some(lock) = store.try_lock_refresh(&view.name)? {
                break lock;
            }
            waited = true;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        let wait = asked.elapsed();
        let now = self.refreshable(store.as_ref(), &view.name)?;
        if now.refreshed_at != view.refreshed_at {
            drop(lock);
            let mut out = message(format!(
                "materialized view {} was refreshed meanwhile by another session: {} rows at {} (no request sent)",
                now.name,
                now.row_count.unwrap_or(0),
                now.refreshed_at.as_deref().unwrap_or("?")
            ));
            out.affected = now.row_count.map(|n| n as u64);
            return Ok(out);
        }
        let mut out = self
            .refresh_locked(store.as_ref(), &now, Some(lock))
            .await?;
        if waited {
            // The other refresh failed or was of another definition: this one fetched anew.
            out.notices.insert(
                0,
                format!(
                    "another session was refreshing {} (waited {:.1} s); its refresh did not finish, so this one fetched the rows",
                    now.name,
                    wait.as_secs_f64()
                ),
            );
        }
        Ok(out)
    }

    /// The materialized view `name`, or why it cannot be refreshed.
    fn refreshable(&self, store: &dyn Store, name: &str) -> Result<ViewRecord, EngineError> {
        let Some(view) = store.view(name)? else {
            return Err(no_view(store, name));
        };
        if !view.materialized {
            return Err(EngineError::View(format!(
                "{} is a view, not a materialized view: it has no rows to refresh (each query of it fetches live)",
                view.name
            )));
        }
        Ok(view)
    }

    /// Fetches a materialized view's rows and stores them, holding its refresh lock (`None` for
    /// a dry run, which fetches nothing).
    pub(crate) async fn refresh_locked(
        &self,
        store: &dyn Store,
        view: &ViewRecord,
        lock: Option<RefreshLock>,
    ) -> Result<QueryResult, EngineError> {
        let kept = match (&view.refreshed_at, view.row_count) {
            (Some(at), Some(n)) => format!("from {at} ({n} rows)"),
            _ => "(none: it was never filled)".to_string(),
        };
        let failed = |source: EngineError| EngineError::RefreshFailed {
            view: view.name.clone(),
            kept: kept.clone(),
            source: Box::new(source),
        };
        let query = match iql_sql::parse_script(&view.definition)
            .map_err(EngineError::from)
            .map_err(failed)?
            .pop()
            .map(|s| s.statement)
        {
            Some(Statement::Query(q)) => q,
            _ => {
                return Err(failed(EngineError::View(format!(
                    "its stored query is not a query: {}",
                    view.definition
                ))))
            }
        };
        let expanded = self
            .expand_with_views(&query, Some(store), None)
            .map_err(failed)?
            .unwrap_or_else(|| (*query).clone());
        if lock.is_none() {
            let mut out = self.dry_run_query(&expanded).map_err(failed)?;
            out.message = Some(format!(
                "dry run: {} was not refreshed; it would send these requests",
                view.name
            ));
            return Ok(out);
        }
        let fetched = self.select(&expanded, true).await.map_err(failed)?;
        let record = store
            .materialize(
                &view.name,
                &view.definition,
                &fetched.columns,
                &fetched.rows,
                None,
                None,
            )
            .map_err(failed)?;
        drop(lock);
        Ok(materialized_result(
            format!("refreshed materialized view {}", record.name),
            &record,
            fetched,
        ))
    }
}

/// What one scheduled refresh did.
#[derive(Debug)]
pub struct ScheduledRefresh {
    pub view: String,
    pub outcome: Result<QueryResult, EngineError>,
}

impl crate::engine::Engine {
    /// Refreshes the materialized views whose refresh interval has passed, those no other process
    /// on the store is refreshing now (it has them), one after another; what each did. A view
    /// that fails is tried again an interval later, and its error is kept for SHOW VIEWS.
    pub async fn refresh_due_views(self: &std::sync::Arc<Self>) -> Vec<ScheduledRefresh> {
        let mut done = Vec::new();
        let (store, due) = match self.store().and_then(|s| s.due_views().map(|due| (s, due))) {
            Ok(found) => found,
            // The store cannot say: one outcome, for no view.
            Err(e) => {
                return vec![ScheduledRefresh {
                    view: String::new(),
                    outcome: Err(e),
                }]
            }
        };
        let session = self.session();
        for view in due {
            let outcome = async {
                let Some(lock) = store.try_lock_refresh(&view.name)? else {
                    return Ok(None);
                };
                // Under the lock, by the store's clock again: another server may have just
                // refreshed it.
                let Some(now) = store.due_views()?.into_iter().find(|v| v.name == view.name) else {
                    return Ok(None);
                };
                store.note_attempt(&now.name, None)?;
                let result = session
                    .refresh_locked(store.as_ref(), &now, Some(lock))
                    .await;
                if let Err(e) = &result {
                    store.note_attempt(&now.name, Some(&e.to_string()))?;
                }
                result.map(Some)
            }
            .await;
            // `None`: another server has it, or had it just now.
            if let Some(outcome) = outcome.transpose() {
                done.push(ScheduledRefresh {
                    view: view.name,
                    outcome,
                });
            }
        }
        done
    }
}

fn materialized_result(head: String, record: &ViewRecord, fetched: QueryResult) -> QueryResult {
    let mut r = message(format!(
        "{head}: {} rows at {}",
        record.row_count.unwrap_or(0),
        record.refreshed_at.as_deref().unwrap_or("?")
    ));
    r.affected = record.row_count.map(|n| n as u64);
    r.stats = fetched.stats;
    r.notices = fetched.notices;
    r
}
