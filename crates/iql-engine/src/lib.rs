//! The engine: plans a statement against provider methods, fetches what it needs concurrently, and
//! lets an embedded SQLite do all the SQL.
//!
//! A `SELECT` goes through four steps, each in its own module:
//! 1. [`plan`]: every provider table gets a method and parameter bindings (see its rules).
//! 2. [`fetch`]: the calls run, pages and `IN` values and join values concurrently under one bound.
//! 3. [`sqlite`]: rows go into an in-memory database, one table per reference.
//! 4. The query, rewritten by `iql-sql` to name those tables, runs in SQLite as written.
//!
//! Tables that take their parameters from another table (`JOIN … ON a.image_id = i.id`) are fetched
//! in a later wave, once the tables they depend on are loaded.

mod error;
mod fetch;
mod meta;
mod mutate;
pub mod page;
mod params;
mod plan;
mod sqlite;
mod value;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use iql_http::{HttpClient, HttpConfig, Secret};
use iql_provider::{Method, Provider, Registry, Resource};
use iql_sql::{QueryStatement, Statement};
use serde_json::Value;

pub use error::{EngineError, ErrorKind};
pub use iql_http::{check_url, HttpError, Secret as Credential};
pub use mutate::WaitPolicy;
pub use value::{Cell, ColumnType, FetchStats, QueryResult, ResultColumn};

/// How the engine reaches providers.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// Provider name → base URL replacing the document's `servers` (e.g. the mock's address).
    pub endpoints: HashMap<String, String>,
    /// Provider name → credential, taking precedence over the provider's environment variable.
    pub credentials: HashMap<String, Secret>,
    /// Provider name → environment variable to read the credential from (StackQL's `--auth`).
    pub credential_env_vars: HashMap<String, String>,
    /// Most pages read per call; `None` reads every page. Reaching it is always reported.
    pub max_pages: Option<u64>,
    pub http: HttpConfig,
    /// Poll interval and timeout for `/*+ AWAIT */`.
    pub wait: WaitPolicy,
    /// Wait for every action and import, as if each statement had `/*+ AWAIT */`.
    pub wait_always: bool,
    /// Build requests but send none: mutations show what they would send.
    pub dry_run: bool,
    /// Most requests one table of a SELECT may fan out to (IN values, join and subquery values):
    /// `None` is [`DEFAULT_MAX_FANOUT`], `Some(0)` no limit. Going over is an error before any of
    /// them is sent, so a careless join cannot spend an account's hourly rate limit.
    pub max_fanout: Option<usize>,
}

/// The fan-out limit unless set: DigitalOcean allows 5,000 requests an hour per token.
pub const DEFAULT_MAX_FANOUT: usize = 1000;

/// Executes parsed statements.
#[derive(Debug)]
pub struct Runtime {
    registry: Arc<Registry>,
    http: HttpClient,
    config: RuntimeConfig,
    /// Rows received so far, for progress displays.
    rows: Arc<std::sync::atomic::AtomicU64>,
    /// In-memory SQLite databases, reused from statement to statement.
    local: sqlite::LocalDbs,
}

impl Runtime {
    pub fn new(registry: Arc<Registry>, config: RuntimeConfig) -> Result<Self, EngineError> {
        let http = HttpClient::new(config.http.clone())?;
        Ok(Runtime {
            registry,
            http,
            config,
            rows: Arc::default(),
            local: sqlite::LocalDbs::default(),
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The registry, shared: for tools that outlive a borrow of the engine (completion).
    pub fn registry_handle(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    pub(crate) fn dry_run(&self) -> bool {
        self.config.dry_run
    }

    pub(crate) fn max_pages(&self) -> Option<u64> {
        self.config.max_pages
    }

    /// A function giving (HTTP requests sent, rows received) so far; cheap, callable from any thread.
    pub fn progress_counter(&self) -> impl Fn() -> (u64, u64) + Send + Sync + 'static {
        let stats = self.http.stats_handle();
        let rows = self.rows.clone();
        move || {
            (
                stats.requests.load(std::sync::atomic::Ordering::Relaxed),
                rows.load(std::sync::atomic::Ordering::Relaxed),
            )
        }
    }

    pub(crate) fn count_rows(&self, n: usize) {
        self.rows
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// HTTP requests sent so far (retries included) and retries alone.
    pub fn http_counts(&self) -> (u64, u64) {
        let s = self.http.stats();
        (
            s.requests.load(std::sync::atomic::Ordering::Relaxed),
            s.retries.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// `["digitalocean", "compute", "images"]` → the provider and resource.
    pub fn resolve(&self, name: &[String]) -> Result<(Arc<Provider>, Arc<Resource>), EngineError> {
        let [p, s, r] = name else {
            return Err(EngineError::Unsupported(format!(
                "'{}' is not a provider table: name it as provider.service.resource",
                name.join(".")
            )));
        };
        let provider = self.registry.provider(p)?;
        let resource = provider.resource(s, r)?;
        Ok((provider, resource))
    }

    /// Where a method's requests go: the endpoint the user gave for the provider, else the
    /// method's own server (DigitalOcean's inference API is on another host), else the service's.
    pub(crate) fn base_url(
        &self,
        provider: &Provider,
        service: &str,
        method: &Method,
    ) -> Result<String, EngineError> {
        if let Some(url) = self.config.endpoints.get(&provider.name) {
            return Ok(url.clone());
        }
        if let Some(url) = method.servers.first() {
            if url.contains('{') {
                return Err(EngineError::Unsupported(format!(
                    "{}.{service}: {} is sent to {url}, whose {{…}} part only you know; give the whole address with --endpoint {}=https://…",
                    provider.name, method.name, provider.name
                )));
            }
            return Ok(url.clone());
        }
        let index = provider.index(service)?;
        index.servers.first().cloned().ok_or_else(|| {
            EngineError::Unsupported(format!(
                "{}.{service} names no server; pass --endpoint {}=URL",
                provider.name, provider.name
            ))
        })
    }

    /// The resources of a service with a select method that reads `path` or a path under it
    /// (`/v2/images/{image_id}/actions` → `image_actions`, which reads
    /// `…/actions/{action_id}`), loaded: found through the service's index, so nothing else of
    /// the service is parsed.
    pub(crate) fn readers_of(
        &self,
        provider: &Provider,
        service: &str,
        path: &str,
    ) -> Vec<Arc<Resource>> {
        let Ok(index) = provider.index(service) else {
            return Vec::new();
        };
        let under = format!("{path}/");
        index
            .resources
            .iter()
            .filter(|r| {
                r.select_paths
                    .iter()
                    .any(|p| p == path || p.starts_with(&under))
            })
            .filter_map(|r| provider.resource(service, &r.name).ok())
            .collect()
    }

    /// The credential for a provider, or an error naming the variable to set. Checked before any
    /// request of a statement is sent.
    pub(crate) fn credential(&self, provider: &Provider) -> Result<Option<Secret>, EngineError> {
        // A dry run sends nothing, so it needs no token (and shows none).
        if self.config.dry_run {
            return Ok(None);
        }
        if let Some(c) = self.config.credentials.get(&provider.name) {
            return Ok(Some(c.clone()));
        }
        let Some(auth) = &provider.auth else {
            return Ok(None);
        };
        let var = self
            .config
            .credential_env_vars
            .get(&provider.name)
            .cloned()
            .or_else(|| auth.credentials_env_var.clone());
        match var.as_deref().map(std::env::var) {
            Some(Ok(v)) if !v.trim().is_empty() => Ok(Some(Secret::new(v.trim()))),
            _ => Err(EngineError::MissingCredentials {
                provider: provider.name.clone(),
                env_var: var,
            }),
        }
    }

    /// Runs one statement.
    pub async fn execute(&self, statement: &Statement) -> Result<QueryResult, EngineError> {
        match statement {
            Statement::Show(s) => meta::show(self, s),
            Statement::Describe(d) => meta::describe(self, d),
            // A query that reads no provider table sends nothing: it runs even in a dry run.
            Statement::Query(q) if self.config.dry_run && !q.tables.is_empty() => {
                self.dry_run_query(q)
            }
            Statement::Query(q) => self.query(q).await,
            Statement::Insert(s) => self.insert(s).await,
            Statement::Update(s) => self.update(s).await,
            Statement::Delete(s) => self.delete(s).await,
            Statement::Exec(s) => self.exec(s).await,
        }
    }

    /// One request per combination of bound values: over the limit is an error, before any is sent.
    fn check_fanout(
        &self,
        p: &plan::TablePlan,
        bound: &[(String, Vec<Value>)],
    ) -> Result<(), EngineError> {
        let limit = match self.config.max_fanout {
            None => DEFAULT_MAX_FANOUT,
            Some(0) => return Ok(()),
            Some(n) => n,
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
    /// request is sent.
    fn prepare_local(
        &self,
        q: &QueryStatement,
        plans: &[plan::TablePlan],
    ) -> Result<(sqlite::LocalDb, String), EngineError> {
        let mut db = self.local.take()?;
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
        let (names, answered) = local_names(plans);
        let sql = q.render(&names, &answered);
        sqlite::check(&db.conn, &sql).map_err(|e| self.explain_sqlite(e, q, plans))?;
        Ok((db, sql))
    }

    /// SQLite's message, made about the user's text: where a missing column was written and what
    /// it was probably meant to be, or the full name of a provider table.
    fn explain_sqlite(
        &self,
        e: EngineError,
        q: &QueryStatement,
        plans: &[plan::TablePlan],
    ) -> EngineError {
        let EngineError::Sqlite { message } = &e else {
            return e;
        };
        if let Some(name) = message.strip_prefix("ambiguous column name: ") {
            // Two provider tables share the name (both have `image_id`): say which to write.
            let mut out = message.clone();
            if let Some((line, column)) = q.position_of(name) {
                out.push_str(&format!(" at line {line}, column {column}"));
            }
            let owners: Vec<String> = plans
                .iter()
                .filter(|p| {
                    p.columns()
                        .iter()
                        .any(|c| c.name.eq_ignore_ascii_case(name))
                })
                .map(|p| format!("{}.{name}", alias_of(q, p)))
                .collect();
            if owners.len() > 1 {
                out.push_str(&format!("; write {}", owners.join(" or ")));
            }
            return EngineError::Sqlite { message: out };
        }
        if let Some(name) = message.strip_prefix("no such function: ") {
            let mut out = message.clone();
            if let Some((line, column)) = q.position_of(name) {
                out.push_str(&format!(" at line {line}, column {column}"));
            }
            let known = sqlite::function_names();
            if let Some(close) = iql_provider::did_you_mean(name, known.iter().map(String::as_str))
            {
                out.push_str(&format!("; did you mean {close}?"));
            }
            return EngineError::Sqlite { message: out };
        }
        let Some(name) = message.strip_prefix("no such column: ") else {
            return self.explain_missing_table(e);
        };
        let mut out = message.clone();
        if let Some((line, column)) = q.position_of(name) {
            out.push_str(&format!(" at line {line}, column {column}"));
        }
        let (qualifier, column) = match name.rsplit_once('.') {
            Some((table, column)) => (Some(table), column),
            None => (None, name),
        };
        let tables: Vec<&plan::TablePlan> = plans
            .iter()
            .filter(|p| qualifier.is_none_or(|wanted| alias_of(q, p).eq_ignore_ascii_case(wanted)))
            .collect();
        let candidates = tables
            .iter()
            .flat_map(|p| p.resource.select_columns().iter().map(|c| c.name.as_str()));
        match (
            iql_provider::did_you_mean(column, candidates),
            tables.as_slice(),
        ) {
            (Some(close), _) => {
                let prefix = qualifier.map(|t| format!("{t}.")).unwrap_or_default();
                out.push_str(&format!("; did you mean {prefix}{close}?"));
            }
            (None, [one]) => {
                out.push_str(&format!("; DESCRIBE {} lists its columns", one.resource.id))
            }
            (None, _) => {}
        }
        EngineError::Sqlite { message: out }
    }

    /// "no such table: images" from SQLite usually means a provider table named without its
    /// provider and service: say what the full name is.
    fn explain_missing_table(&self, e: EngineError) -> EngineError {
        let EngineError::Sqlite { message } = &e else {
            return e;
        };
        let Some(table) = message.strip_prefix("no such table: ") else {
            return e;
        };
        let wanted = table.rsplit('.').next().unwrap_or(table).to_string();
        let mut found = Vec::new();
        for p in self.registry.provider_names() {
            let Ok(provider) = self.registry.provider(p) else {
                continue;
            };
            for s in provider.services.keys() {
                if let Ok(index) = provider.index(s) {
                    found.extend(
                        index
                            .resources
                            .iter()
                            .filter(|r| r.name.eq_ignore_ascii_case(&wanted))
                            .map(|r| format!("{}.{s}.{}", provider.name, r.name)),
                    );
                }
            }
        }
        let hint = match found.as_slice() {
            [] => "provider tables are named provider.service.resource (SHOW RESOURCES IN digitalocean.compute lists them)".to_string(),
            [one] => format!("did you mean {one}? Provider tables are named provider.service.resource"),
            many => format!("did you mean one of {}?", many.join(", ")),
        };
        EngineError::Sqlite {
            message: format!("{message}: {hint}"),
        }
    }

    /// `--dry-run` of a SELECT: the first request of each table that does not wait on another.
    pub(crate) fn dry_run_query(&self, q: &QueryStatement) -> Result<QueryResult, EngineError> {
        let plans = plan::plan_query(self, q)?;
        let (db, _) = self.prepare_local(q, &plans)?;
        self.local.give_back(db);
        let mut requests = Vec::new();
        let mut notices = Vec::new();
        for p in &plans {
            if !p.links.is_empty() {
                notices.push(format!(
                    "{} is requested once per value another table or a subquery gives it, which a dry run cannot know",
                    p.resource.id
                ));
                continue;
            }
            for args in fetch::combinations(&p.literals) {
                let size = p
                    .method
                    .top_param
                    .as_ref()
                    .map(|(_, max)| p.row_limit.unwrap_or(*max).min(*max));
                let url = fetch::build_url(&p.base_url, &p.method, &args, size)?;
                requests.push((p.method.http_method.as_str(), url.to_string(), None));
            }
        }
        let mut result = QueryResult::dry_run(requests);
        result.notices = notices;
        Ok(result)
    }

    pub(crate) async fn query(&self, q: &QueryStatement) -> Result<QueryResult, EngineError> {
        let plans = plan::plan_query(self, q)?;
        let (mut db, sql) = self.prepare_local(q, &plans)?;
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
            let (tx, mut rx) =
                tokio::sync::mpsc::channel::<fetch::Batch>(2 * self.config.http.concurrency.max(1));
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
                    fetch::fetch_table(self, p, bound, token, sink)
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
                result.stats.rows_fetched += fetched.rows;
                result.notices.extend(fetched.notices);
                loaded.insert(p.table);
            }
        }
        tracing::debug!(%sql, "running in SQLite");
        let started = std::time::Instant::now();
        let (columns, rows) =
            sqlite::run_query(&db.conn, &sql).map_err(|e| self.explain_sqlite(e, q, &plans))?;
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

/// The name a provider table goes by in the query: its alias, or the resource name (`images`).
fn alias_of(q: &QueryStatement, p: &plan::TablePlan) -> String {
    q.tables
        .iter()
        .find(|t| t.id == p.table)
        .and_then(|t| t.alias.clone())
        .unwrap_or_else(|| p.resource.name.clone())
}

/// Each provider table's local SQLite name, and the conjuncts the API answers: what rendering a
/// query (or one of its subqueries) for SQLite needs.
fn local_names(plans: &[plan::TablePlan]) -> (HashMap<usize, String>, HashSet<usize>) {
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
