//! One user's side of iql: settings of their own, and the in-memory SQLite databases their
//! statements run in. `exec`, the shell, the library and the server all run statements through a
//! [`Session`]; many sessions share one [`Engine`], and making one costs almost nothing (its first
//! statement opens its first database).
//!
//! A session runs statements one after another or at once (`execute` takes `&self`): each
//! statement takes a database of its own from the session's pool.

use std::sync::Arc;

use iql_http::{HttpClient, Secret};
use iql_provider::{Method, Provider, Registry, Resource};
use iql_sql::Statement;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::fetch::CacheUse;
use crate::mutate::WaitPolicy;
use crate::value::QueryResult;
use crate::{meta, sqlite};

/// Settings a session may change for itself; new sessions take the engine's.
///
/// The convention: a limit that may be absent is an `Option`, `None` meaning no limit; a duration
/// of zero means nothing kept. (The command line's numeric flags say 0 for none.)
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Most pages read per call; `None` reads every page. Reaching it is always reported.
    pub max_pages: Option<u64>,
    /// Poll interval and timeout for `/*+ AWAIT */`.
    pub wait: WaitPolicy,
    /// Wait for every action and import, as if each statement had `/*+ AWAIT */`.
    pub wait_always: bool,
    /// Build requests but send none: mutations show what they would send.
    pub dry_run: bool,
    /// Most requests one table of a SELECT may fan out to (IN values, join and subquery values):
    /// default [`crate::DEFAULT_MAX_FANOUT`], `None` no limit. Going over is an error before any
    /// of them is sent, so a careless join cannot spend an account's hourly rate limit.
    pub max_fanout: Option<usize>,
    /// How old an answer of the response cache may be to be used: `None` is the engine's TTL,
    /// zero turns the cache off for this session.
    pub cache_ttl: Option<std::time::Duration>,
    /// Provider name → credential for this session alone, before the engine's (a server's users
    /// each bring their own). Answers cached for one credential are never given to another.
    pub credentials: std::collections::HashMap<String, Secret>,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            max_pages: None,
            wait: WaitPolicy::default(),
            wait_always: false,
            dry_run: false,
            max_fanout: Some(crate::DEFAULT_MAX_FANOUT),
            cache_ttl: None,
            credentials: Default::default(),
        }
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct Session {
    engine: Arc<Engine>,
    pub(crate) settings: SessionSettings,
    /// In-memory SQLite databases, reused from statement to statement.
    pub(crate) local: sqlite::LocalDbs,
    /// The transaction `BEGIN` opened, if one is open.
    pub(crate) transaction: std::sync::Mutex<Option<crate::session_statements::Transaction>>,
    /// `PREPARE`d statements: name → the statement's text, with its `$1`, `$2`, ….
    pub(crate) prepared: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

fn unreachable_statement() -> Result<QueryResult, EngineError> {
    Err(EngineError::Unsupported(
        "internal: a statement reached the wrong handler".to_string(),
    ))
}

impl Session {
    pub fn new(engine: Arc<Engine>, settings: SessionSettings) -> Self {
        Session {
            engine,
            settings,
            local: sqlite::LocalDbs::default(),
            transaction: Default::default(),
            prepared: Default::default(),
        }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    /// This session's settings, to change (the engine and other sessions are not affected).
    pub fn settings_mut(&mut self) -> &mut SessionSettings {
        &mut self.settings
    }

    /// What this session's PostgreSQL functions answer (`current_database()`, `current_user`,
    /// `current_setting(…)`), and its settings as `SHOW` gives them.
    pub fn sql_context(&self) -> crate::functions::SqlContext {
        self.local
            .context
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Changes what this session's PostgreSQL functions answer (a server sets the database and
    /// user its client connected with).
    pub fn update_sql_context(&self, change: impl FnOnce(&mut crate::functions::SqlContext)) {
        change(
            &mut self
                .local
                .context
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Runs one statement.
    pub async fn execute(&self, statement: &Statement) -> Result<QueryResult, EngineError> {
        match statement {
            Statement::Show(s) => meta::show(self, s),
            Statement::Describe(d) => meta::describe(self, d),
            // A query that reads no provider table sends nothing: it runs even in a dry run.
            Statement::Query(q) => {
                let q = self.with_views(q)?;
                if self.settings.dry_run && !q.tables.is_empty() {
                    self.dry_run_select(&q)
                } else {
                    self.query(&q).await
                }
            }
            Statement::CreateView(v) => self.create_view(v).await,
            Statement::DropView(d) => self.drop_view(d).await,
            Statement::RefreshView(r) => self.refresh_view(r).await,
            Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_)
            | Statement::Exec(_) => {
                let result = match statement {
                    Statement::Insert(s) => self.insert(s).await,
                    Statement::Update(s) => self.update(s).await,
                    Statement::Delete(s) => self.delete(s).await,
                    Statement::Exec(s) => self.exec(s).await,
                    _ => unreachable_statement(),
                };
                if !self.settings.dry_run {
                    self.count_change();
                }
                result
            }
            Statement::Session(iql_sql::SessionStatement::Execute { name, values }) => {
                let statement = self.prepared_statement(name, values)?;
                Box::pin(self.execute(&statement.statement)).await
            }
            Statement::Session(s) => self.session_statement(s),
            Statement::Explain(q) => self.explain(q),
            Statement::Cursor(_) => Err(EngineError::Unsupported(
                "cursors (DECLARE … CURSOR, FETCH, CLOSE) are served by iql serve, for PostgreSQL's drivers; here the query itself streams its rows".to_string(),
            )),
            // The rows COPY writes are its query's.
            Statement::Copy(c) => {
                let q = self.with_views(&c.query)?;
                if self.settings.dry_run && !q.tables.is_empty() {
                    self.dry_run_select(&q)
                } else {
                    self.query(&q).await
                }
            }
        }
    }

    pub(crate) fn registry(&self) -> &Registry {
        self.engine.registry()
    }

    pub(crate) fn http(&self) -> &HttpClient {
        self.engine.http()
    }

    pub(crate) fn dry_run(&self) -> bool {
        self.settings.dry_run
    }

    pub(crate) fn max_pages(&self) -> Option<u64> {
        self.settings.max_pages
    }

    pub(crate) fn count_rows(&self, n: usize) {
        self.engine.count_rows(n)
    }

    pub(crate) fn resolve(
        &self,
        name: &[String],
    ) -> Result<(Arc<Provider>, Arc<Resource>), EngineError> {
        self.engine.resolve(name)
    }

    pub(crate) fn base_url(
        &self,
        provider: &Provider,
        service: &str,
        method: &Method,
    ) -> Result<String, EngineError> {
        self.engine.base_url(provider, service, method)
    }

    pub(crate) fn readers_of(
        &self,
        provider: &Provider,
        service: &str,
        path: &str,
    ) -> Vec<Arc<Resource>> {
        self.engine.readers_of(provider, service, path)
    }

    /// How this session's statement uses the response cache; `None` when it is off.
    pub(crate) fn cache_use(&self, token: Option<&Secret>, fresh: bool) -> Option<CacheUse> {
        let cache = self.engine.cache();
        let ttl = self.settings.cache_ttl.unwrap_or(cache.config().ttl);
        if ttl.is_zero() || cache.config().ttl.is_zero() {
            return None;
        }
        Some(CacheUse {
            cache: cache.clone(),
            identity: cache.identity(token),
            ttl: if fresh {
                std::time::Duration::ZERO
            } else {
                ttl
            },
        })
    }

    /// The credential for a provider, or an error naming the variable to set. Checked before any
    /// request of a statement is sent. A dry run sends nothing, so it needs no token (and shows
    /// none).
    pub(crate) fn credential(&self, provider: &Provider) -> Result<Option<Secret>, EngineError> {
        if self.settings.dry_run {
            return Ok(None);
        }
        self.engine
            .credential(provider, self.settings.credentials.get(&provider.name))
    }

    /// What a dry run says of a provider's credential: the header it would be sent in, its
    /// secret part `***`, or that it is missing (a real run would stop there).
    pub(crate) fn credential_notice(&self, provider_name: &str) -> Option<String> {
        let provider = self.registry().provider(provider_name).ok()?;
        let given = self.settings.credentials.get(&provider.name);
        Some(match self.engine.credential(&provider, given) {
            Ok(Some(c)) => format!("requests to {provider_name} would carry {}", c.redacted()),
            Ok(None) => format!("requests to {provider_name} would carry no credential"),
            Err(e) => format!("a real run would stop before sending: {e}"),
        })
    }
}
