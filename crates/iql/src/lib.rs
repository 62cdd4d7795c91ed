//! iql: query and manage cloud APIs with SQL.
//!
//! Build an [`Engine`], then run SQL. Everything the `iql` command does goes through this API.
//!
//! ```no_run
//! # async fn demo() -> Result<(), iql::Error> {
//! // Against the built-in sandbox (no account needed); use `.credential(…)` or DIGITALOCEAN_TOKEN for real.
//! let engine = iql::Engine::builder().sandbox(iql::SandboxConfig::default()).build().await?;
//! let results = engine
//!     .execute("SELECT name, slug FROM digitalocean.compute.images WHERE type = 'distribution' ORDER BY name")
//!     .await?;
//! for row in &results[0].rows {
//!     println!("{} {}", row[0], row[1]);
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// docs/library.md, whose examples run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/library.md")]
pub struct LibraryGuide;

/// Values for a statement's placeholders (`$1`, `$2`, …), each converted with [`Cell::from`]:
/// `session.query("SELECT name FROM digitalocean.compute.images WHERE image_id = $1", &iql::params![id])`.
#[macro_export]
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        [$($crate::Cell::from($value)),*]
    };
}

/// `sql` with `$1`, `$2`, … (or `?`) replaced by `params`, each as one SQL literal (see
/// [`Session::query`]).
pub fn bind(sql: &str, params: &[Cell]) -> Result<String, Error> {
    let values: Vec<iql_sql::BindValue> = params.iter().map(Cell::to_bind).collect();
    Ok(iql_sql::bind(sql, iql_sql::Params::Positional(&values))?)
}

/// `sql` with `:name` (or `$name`) placeholders replaced by the named values.
pub fn bind_named(sql: &str, params: &[(&str, Cell)]) -> Result<String, Error> {
    let values: Vec<(String, iql_sql::BindValue)> = params
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_bind()))
        .collect();
    Ok(iql_sql::bind(sql, iql_sql::Params::Named(&values))?)
}

/// The placeholders `sql` uses, in order of first appearance (`$1`, `:region`, `?`).
pub fn placeholders(sql: &str) -> Vec<String> {
    iql_sql::placeholders(sql)
}

/// What a script did: the results of the statements that ran, and the error that stopped it.
/// A change that succeeded before a later statement failed is here, not lost.
#[derive(Debug)]
pub struct ScriptOutcome {
    /// One result per statement that ran, in order.
    pub results: Vec<QueryResult>,
    /// The error of the statement that failed (the one after the last result), if one did.
    pub error: Option<Error>,
}

impl ScriptOutcome {
    /// The results, or the error if a statement failed.
    pub fn into_result(self) -> Result<Vec<QueryResult>, Error> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.results),
        }
    }
}

pub use iql_engine::functions::parse_instant;
pub use iql_engine::{
    CacheConfig, Cell, ColumnType, Credential, EngineConfig, EngineError as Error, ErrorKind,
    FetchStats, FromCell, LocalLock, LocalLocks, QueryResult, RefreshLock, ResultColumn, Row,
    RowStream, ScheduledRefresh, SessionSettings, SqlContext, SqliteStore, Store, StoredAnswer,
    StreamSummary, ViewRecord, WaitPolicy, STORE_SCHEMA_VERSION,
};
#[cfg(feature = "sandbox")]
pub use iql_mock::{
    ActionOutcome, MockConfig as SandboxConfig, MockServer as Sandbox,
    MAX_IMAGES as MAX_SANDBOX_IMAGES,
};
pub use iql_provider::Registry;
pub use iql_sql::{
    CopyFormat, CopyStatement, CursorStatement, ExpressionType, Literal, ParsedStatement,
    SessionStatement, Statement, StoredFilter,
};

/// Scripts whose parse is kept (by text).
const STATEMENTS_CACHED: usize = 256;

/// The token the sandbox accepts; it is not a secret.
#[cfg(feature = "sandbox")]
const SANDBOX_TOKEN: &str = "iql-sandbox";

/// Runs SQL against providers. Cheap to clone: clones share everything (the HTTP client and its
/// concurrency bound, the provider documents, the sandbox).
///
/// [`Engine::execute`] runs statements in the engine's own session; [`Engine::session`] makes
/// more, each with settings of its own (a server makes one per connection).
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    engine: Arc<iql_engine::Engine>,
    #[cfg(feature = "sandbox")]
    sandbox: Option<Sandbox>,
    /// Scripts parsed before, by their text (shared by every session).
    statements: Arc<iql_sql::StatementCache>,
    /// The session [`Engine::execute`] and [`Engine::run`] use.
    default: Session,
}

/// One user's side of an [`Engine`]: settings of its own ([`Session::settings_mut`]), and the
/// SQLite databases its statements run in. Making one is cheap; many may run at once.
#[derive(Debug)]
pub struct Session {
    inner: iql_engine::Session,
    statements: Arc<iql_sql::StatementCache>,
}

/// Configures an [`Engine`].
#[derive(Debug, Default)]
pub struct EngineBuilder {
    providers_root: Option<PathBuf>,
    config: EngineConfig,
    #[cfg(feature = "sandbox")]
    sandbox: Option<SandboxConfig>,
}

impl EngineBuilder {
    /// Read provider documents from this folder (`<provider>/<version>/provider.yaml`) instead of the
    /// ones built into iql.
    pub fn providers_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.providers_root = Some(dir.into());
        self
    }

    /// Send a provider's requests to `base_url` instead of the document's server.
    pub fn endpoint(mut self, provider: &str, base_url: &str) -> Self {
        self.config
            .endpoints
            .insert(provider.to_string(), base_url.to_string());
        self
    }

    /// Use this credential for a provider (it is never printed).
    pub fn credential(mut self, provider: &str, token: &str) -> Self {
        self.config
            .credentials
            .insert(provider.to_string(), Credential::new(token));
        self
    }

    /// Read a provider's credential from this environment variable instead of the one its document names.
    pub fn credential_env_var(mut self, provider: &str, var: &str) -> Self {
        self.config
            .credential_env_vars
            .insert(provider.to_string(), var.to_string());
        self
    }

    /// How a provider authenticates, as StackQL's `--auth` writes it, replacing its document's
    /// `config.auth`: `{"type": "bearer", "credentialsenvvar": "MY_TOKEN"}`, `{"type": "basic",
    /// "username_var": "U", "password_var": "P"}`, `{"type": "api_key", "valuePrefix": "SSWS ",
    /// "credentialsenvvar": "K"}` (header `name`, default `Authorization`), `{"type": "null_auth"}`.
    /// The variables must be set when the engine is built.
    pub fn auth(mut self, provider: &str, auth: &serde_json::Value) -> Self {
        let config = iql_provider::AuthConfig::from_json(auth);
        if let Some(var) = &config.credentials_env_var {
            self.config
                .credential_env_vars
                .insert(provider.to_string(), var.clone());
        }
        self.config.auth.insert(provider.to_string(), config);
        self
    }

    /// Requests in flight at once for everything the engine sends (default 8).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.config.http.concurrency = n.max(1);
        self
    }

    /// Timeout of each HTTP attempt (default 30 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.config.http.timeout = t;
        self
    }

    /// Retries after a 429, a 5xx (GET only) or a refused connection (default 4).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.config.http.max_retries = n;
        self
    }

    /// Shortest wait before a retry; it doubles each time, with jitter (default 200 ms).
    pub fn retry_backoff(mut self, base: Duration) -> Self {
        self.config.http.base_backoff = base;
        self
    }

    /// Read at most this many pages per call; reaching the cap is reported in the result's notices.
    pub fn max_pages(mut self, pages: Option<u64>) -> Self {
        self.config.session.max_pages = pages;
        self
    }

    /// Most requests one table of a SELECT may fan out to (`IN` values, join and subquery values);
    /// more is an error before any is sent. Default `Some(1000)`; `None` for no limit.
    pub fn max_fanout(mut self, requests: Option<usize>) -> Self {
        self.config.session.max_fanout = requests;
        self
    }

    /// How `/*+ AWAIT */` polls: every `poll`, giving up after `timeout` (defaults 5 s and 300 s).
    pub fn wait_policy(mut self, poll: Duration, timeout: Duration) -> Self {
        self.config.session.wait = WaitPolicy { poll, timeout };
        self
    }

    /// Wait for every action and import to finish, as if each statement had `/*+ AWAIT */`.
    pub fn wait_always(mut self, wait: bool) -> Self {
        self.config.session.wait_always = wait;
        self
    }

    /// Allow plain `http://` to hosts other than loopback. **Dangerous**: the bearer token then
    /// crosses the network in clear, readable by anyone on the path. Off by default; without it such
    /// an endpoint is refused when the engine is built, and such a request before it is sent.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.config.http.allow_insecure_http = allow;
        self
    }

    /// How long GET answers are kept and reused (default 300 s); zero turns the response cache
    /// off. Answers are never shared between credentials, and a mutation drops the answers of
    /// the API it changed.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.config.cache.ttl = ttl;
        self
    }

    /// Most bytes of answers the response cache keeps (default 256 MiB); the least recently used
    /// go first.
    pub fn cache_max_bytes(mut self, bytes: usize) -> Self {
        self.config.cache.max_bytes = bytes;
        self
    }

    /// Also keep GET answers in the store, so that another engine or process on the same store
    /// file uses them within the TTL (a script of several `iql exec` runs). Off by default: the
    /// store is a file on disk, and answers may hold secrets.
    pub fn persist_cache(mut self, persist: bool) -> Self {
        self.config.cache.persist = persist;
        self
    }

    /// A store of another kind (anything implementing [`Store`]) instead of a SQLite file.
    pub fn custom_store(mut self, store: std::sync::Arc<dyn Store>) -> Self {
        self.config.custom_store = Some(store);
        self
    }

    /// The store: views, materialized views' rows (and the answers kept with
    /// [`EngineBuilder::persist_cache`]) live there and outlive the engine. A SQLite file's path
    /// (several processes may use one file at once), or a PostgreSQL URL,
    /// `postgres://user@host:port/db`, for a team: views shared by every server on it,
    /// materialized views as tables `iql.<name>` (the password as libpq reads it: the URL,
    /// `PGPASSWORD`, `~/.pgpass`). Without it the store is a temporary file, deleted with the
    /// engine.
    pub fn store(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.config.store = Some(path.into());
        self
    }

    /// Send nothing: each statement returns the requests it would send (method, URL, body),
    /// without the token.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.config.session.dry_run = dry_run;
        self
    }

    /// Start the built-in DigitalOcean mock on 127.0.0.1 and send `digitalocean` requests to it.
    /// (Cargo feature `sandbox`, on by default.)
    #[cfg(feature = "sandbox")]
    pub fn sandbox(mut self, config: SandboxConfig) -> Self {
        self.sandbox = Some(config);
        self
    }

    /// Loads the provider documents, checks every setting (an endpoint for a provider that does
    /// not exist, an `http://` address off this machine: a `Config` error naming the setting),
    /// starts the sandbox if asked, and makes the engine.
    #[cfg_attr(not(feature = "sandbox"), allow(unused_mut))]
    pub async fn build(mut self) -> Result<Engine, Error> {
        let registry = match &self.providers_root {
            Some(dir) => Registry::from_dir(dir)?,
            None => Registry::bundled(),
        };
        self.check_settings(&registry)?;
        #[cfg(feature = "sandbox")]
        let sandbox = match self.sandbox.take() {
            Some(mut cfg) => {
                cfg.token = Some(SANDBOX_TOKEN.to_string());
                let server = Sandbox::start(cfg).await.map_err(|e| {
                    Error::Unsupported(format!("cannot start the sandbox on 127.0.0.1: {e}"))
                })?;
                self.config
                    .endpoints
                    .insert("digitalocean".to_string(), server.url());
                self.config
                    .credentials
                    .insert("digitalocean".to_string(), Credential::new(SANDBOX_TOKEN));
                Some(server)
            }
            None => None,
        };
        if let Some(url) = self
            .config
            .store
            .as_ref()
            .and_then(|p| p.to_str())
            .filter(|p| iql_store_postgres::is_postgres_url(p))
            .map(str::to_string)
        {
            // Connecting blocks (up to its connect_timeout): not on the runtime's threads.
            let store = tokio::task::spawn_blocking(move || {
                iql_store_postgres::PostgresStore::connect(&url)
            })
            .await
            .map_err(|e| Error::Unsupported(format!("connecting to the store failed: {e}")))??;
            self.config.custom_store = Some(Arc::new(store));
            self.config.store = None;
        }
        let engine = iql_engine::Engine::new(Arc::new(registry), self.config)?;
        let statements = Arc::new(iql_sql::StatementCache::new(STATEMENTS_CACHED));
        let default = Session {
            inner: engine.session(),
            statements: statements.clone(),
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                engine,
                #[cfg(feature = "sandbox")]
                sandbox,
                statements,
                default,
            }),
        })
    }
}

impl EngineBuilder {
    /// Settings that cannot work are refused before anything runs: a setting for a provider that
    /// does not exist (it would be silently ignored, and requests would go to the real API with
    /// the real token), an endpoint that is not a URL or would send the token in clear, the sandbox
    /// together with an endpoint for the provider it answers, a credential variable that is not set.
    fn check_settings(&self, registry: &Registry) -> Result<(), Error> {
        let known = registry.provider_names();
        let check_provider = |setting: &'static str, name: &str| -> Result<(), Error> {
            if known.contains(&name) {
                return Ok(());
            }
            let hint = iql_provider::did_you_mean(name, known.iter().copied())
                .map(|s| format!("did you mean '{s}'? "))
                .unwrap_or_default();
            Err(Error::Config {
                setting,
                message: format!(
                    "no provider named '{name}' ({hint}known: {})",
                    known.join(", ")
                ),
            })
        };
        let mut endpoints: Vec<(&String, &String)> = self.config.endpoints.iter().collect();
        endpoints.sort();
        for (provider, url) in endpoints {
            check_provider("endpoint", provider)?;
            check_endpoint(url, self.config.http.allow_insecure_http).map_err(|message| {
                Error::Config {
                    setting: "endpoint",
                    message: format!("{provider}={url}: {message}"),
                }
            })?;
            #[cfg(feature = "sandbox")]
            if self.sandbox.is_some() && provider == "digitalocean" {
                return Err(Error::Config {
                    setting: "sandbox",
                    message: format!(
                        "the sandbox answers digitalocean itself, so an endpoint for it ({url}) would be ignored: use one or the other"
                    ),
                });
            }
        }
        let mut credentials: Vec<&String> = self.config.credentials.keys().collect();
        credentials.sort();
        for provider in credentials {
            check_provider("credential", provider)?;
        }
        let mut auths: Vec<(&String, &iql_provider::AuthConfig)> =
            self.config.auth.iter().collect();
        auths.sort_by_key(|(p, _)| p.as_str());
        for (provider, auth) in auths {
            check_provider("auth", provider)?;
            let needs: Vec<&Option<String>> = match auth.kind.as_str() {
                "null_auth" => Vec::new(),
                "basic" => vec![&auth.username_var, &auth.password_var],
                "bearer" | "api_key" => vec![&auth.credentials_env_var],
                other => {
                    return Err(Error::Config {
                        setting: "auth",
                        message: format!(
                            "{provider}: auth type '{other}' is not one iql knows (bearer, basic, api_key, null_auth)"
                        ),
                    })
                }
            };
            for var in needs {
                let Some(var) = var else {
                    let field = if auth.kind == "basic" {
                        "\"username_var\" and \"password_var\""
                    } else {
                        "\"credentialsenvvar\""
                    };
                    return Err(Error::Config {
                        setting: "auth",
                        message: format!("{provider} needs {field}"),
                    });
                };
                if std::env::var(var).map_or(true, |v| v.trim().is_empty()) {
                    return Err(Error::Config {
                        setting: "auth",
                        message: format!(
                            "{provider}'s credential is to come from the environment variable {var}, which is not set"
                        ),
                    });
                }
            }
        }
        let mut vars: Vec<(&String, &String)> = self.config.credential_env_vars.iter().collect();
        vars.sort();
        for (provider, var) in vars {
            check_provider("credential_env_var", provider)?;
            if std::env::var(var).map_or(true, |v| v.trim().is_empty()) {
                return Err(Error::Config {
                    setting: "credential_env_var",
                    message: format!(
                        "{provider}'s credential is to come from the environment variable {var}, which is not set"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// A caught panic as an error naming the statement (shortened) and the panic's message.
fn internal(statement: &str, payload: &(dyn std::any::Any + Send)) -> Error {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    let mut shown: String = statement.trim().chars().take(200).collect();
    if shown.len() < statement.trim().len() {
        shown.push('…');
    }
    Error::Internal {
        statement: shown,
        message,
    }
}

/// An endpoint must be an absolute `http(s)://host…` URL that requests may go to.
fn check_endpoint(url: &str, allow_insecure_http: bool) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| {
        format!(
            "not a URL ({e}); give PROVIDER=URL, e.g. digitalocean=https://api.digitalocean.com"
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("not an http(s):// address with a host, e.g. https://api.digitalocean.com or http://127.0.0.1:4010".to_string());
    }
    iql_engine::check_url(&parsed, allow_insecure_http)
}

impl Engine {
    /// Settings for a new engine; every one has a default.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// A new session, with the settings the engine was built with.
    pub fn session(&self) -> Session {
        Session {
            inner: self.inner.engine.session(),
            statements: self.inner.statements.clone(),
        }
    }

    /// Splits and parses a script without running it.
    pub fn parse(&self, sql: &str) -> Result<Vec<ParsedStatement>, Error> {
        self.inner.default.parse(sql)
    }

    /// Runs one parsed statement in the engine's own session. A panic inside it (a bug) is caught
    /// here and reported as [`ErrorKind::Internal`], so the caller (a shell, a server) goes on.
    pub async fn run(&self, statement: &ParsedStatement) -> Result<QueryResult, Error> {
        self.inner.default.run(statement).await
    }

    /// Parses and runs every statement of `sql` in order in the engine's own session, stopping at
    /// the first error.
    pub async fn execute(&self, sql: &str) -> Result<Vec<QueryResult>, Error> {
        self.inner.default.execute(sql).await
    }

    /// [`Session::query`] in the engine's own session.
    pub async fn query(&self, sql: &str, params: &[Cell]) -> Result<QueryResult, Error> {
        self.inner.default.query(sql, params).await
    }

    /// [`Session::execute_script`] in the engine's own session.
    pub async fn execute_script(&self, sql: &str) -> ScriptOutcome {
        self.inner.default.execute_script(sql).await
    }

    /// The provider documents this engine reads (for completion and documentation tools).
    pub fn registry(&self) -> &iql_provider::Registry {
        self.inner.engine.registry()
    }

    /// The provider documents, shared (for completion that outlives a borrow of the engine).
    pub fn registry_handle(&self) -> Arc<iql_provider::Registry> {
        self.inner.engine.registry_handle()
    }

    /// Refreshes the materialized views created `WITH (refresh_interval = …)` whose interval has
    /// passed, unless another engine on the store is refreshing them (exactly one does each
    /// refresh); what each did. `iql serve` calls it every second.
    pub async fn refresh_due_views(&self) -> Vec<ScheduledRefresh> {
        self.inner.engine.refresh_due_views().await
    }

    /// Where the store is (opened, or created, now if no statement has needed it yet): the SQLite
    /// file's path. A temporary one is removed when the last clone of the engine goes.
    pub fn store_location(&self) -> Result<String, Error> {
        Ok(self.inner.engine.store()?.location())
    }

    /// The names of the views in the store (none if it cannot be read).
    pub fn view_names(&self) -> Vec<String> {
        self.inner
            .engine
            .store()
            .and_then(|s| s.views())
            .map(|v| v.into_iter().map(|v| v.name).collect())
            .unwrap_or_default()
    }

    /// The sandbox this engine started, if any.
    #[cfg(feature = "sandbox")]
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.inner.sandbox.as_ref()
    }

    /// A function giving (HTTP requests sent, rows received) so far, for progress displays.
    pub fn progress_counter(&self) -> impl Fn() -> (u64, u64) + Send + Sync + 'static {
        self.inner.engine.progress_counter()
    }

    /// HTTP requests sent so far, and how many of them were retries.
    pub fn http_counts(&self) -> (u64, u64) {
        self.inner.engine.http_counts()
    }

    /// Drops every answer the response cache holds (for every session).
    pub fn clear_cache(&self) {
        self.inner.engine.clear_cache()
    }

    /// Answers the response cache holds, and their bytes.
    pub fn cache_size(&self) -> (usize, usize) {
        self.inner.engine.cache_size()
    }

    /// The response cache's settings, as built.
    pub fn cache_config(&self) -> CacheConfig {
        self.inner.engine.config().cache
    }
}

impl Session {
    /// What this session's PostgreSQL functions and `SHOW` answer (its database, user and
    /// settings).
    pub fn sql_context(&self) -> SqlContext {
        self.inner.sql_context()
    }

    /// Changes this session's database, user or settings.
    pub fn update_sql_context(&self, change: impl FnOnce(&mut SqlContext)) {
        self.inner.update_sql_context(change)
    }

    /// Splits and parses a script without running it.
    pub fn parse(&self, sql: &str) -> Result<Vec<ParsedStatement>, Error> {
        Ok(self.parse_cached(sql)?.to_vec())
    }

    /// The statements of `sql`, parsed now or (the same text, by any session) before.
    fn parse_cached(&self, sql: &str) -> Result<Arc<[ParsedStatement]>, Error> {
        // In a provider's database (a PostgreSQL client's `-d digitalocean`), `compute.images`
        // is that provider's table.
        let database = self.inner.sql_context().database;
        let provider = self
            .inner
            .engine()
            .registry()
            .provider_names()
            .into_iter()
            .find(|p| *p == database);
        let parsing = std::panic::AssertUnwindSafe(|| self.statements.parse_for(sql, provider));
        match std::panic::catch_unwind(parsing) {
            Ok(parsed) => Ok(parsed?),
            Err(payload) => Err(internal(sql, payload.as_ref())),
        }
    }

    /// Runs one parsed statement. A panic inside it (a bug) is caught here and reported as
    /// [`ErrorKind::Internal`], so the caller (a shell, a server) goes on.
    pub async fn run(&self, statement: &ParsedStatement) -> Result<QueryResult, Error> {
        use futures::FutureExt;
        let running = std::panic::AssertUnwindSafe(self.inner.execute(&statement.statement));
        match running.catch_unwind().await {
            Ok(result) => result,
            Err(payload) => Err(internal(&statement.source.text, payload.as_ref())),
        }
    }

    /// The statement `EXECUTE name (values)` runs, its values bound into the text `PREPARE`
    /// gave; `None` when `statement` is not such an EXECUTE. A server answers with the inner
    /// statement's tag and rows, as PostgreSQL does.
    pub fn prepared(&self, statement: &ParsedStatement) -> Result<Option<ParsedStatement>, Error> {
        match &statement.statement {
            Statement::Session(SessionStatement::Execute { name, values }) => {
                Ok(Some(self.inner.prepared_statement(name, values)?))
            }
            _ => Ok(None),
        }
    }

    /// Parses and runs every statement of `sql` in order, stopping at the first error.
    pub async fn execute(&self, sql: &str) -> Result<Vec<QueryResult>, Error> {
        let mut out = Vec::new();
        for s in self.parse_cached(sql)?.iter() {
            out.push(self.run(s).await?);
        }
        Ok(out)
    }

    /// Runs one statement with its placeholders bound: `$1`, `$2`, … (or `?`) take `params` in
    /// order. Each value becomes one literal, whatever it holds, and means what a literal means
    /// there: a parameter sent to the API (`image_id = $1`) or a filter SQLite applies
    /// (`name LIKE $2`). A placeholder without a value, or a value without a placeholder, is an
    /// error before anything runs.
    pub async fn query(&self, sql: &str, params: &[Cell]) -> Result<QueryResult, Error> {
        self.one(&bind(sql, params)?).await
    }

    /// Runs one statement with named placeholders (`:region` or `$region`) bound.
    pub async fn query_named(
        &self,
        sql: &str,
        params: &[(&str, Cell)],
    ) -> Result<QueryResult, Error> {
        self.one(&bind_named(sql, params)?).await
    }

    async fn one(&self, sql: &str) -> Result<QueryResult, Error> {
        let parsed = self.parse_cached(sql)?;
        match &parsed[..] {
            [one] => self.run(one).await,
            other => Err(Error::Unsupported(format!(
                "query runs one statement; this text has {} (execute runs a script)",
                other.len()
            ))),
        }
    }

    /// The columns `statement` will give, without running it or sending a request; `None` for a
    /// statement without rows (see `iql_engine::Session::result_columns`).
    pub async fn result_columns(
        &self,
        statement: &ParsedStatement,
    ) -> Result<Option<Vec<ResultColumn>>, Error> {
        self.inner.result_columns(&statement.statement).await
    }

    /// Runs one parsed statement and gives its rows as they come, a `futures::Stream` (or
    /// [`RowStream::next_row`]). A query of one table without sorting, grouping or joins streams
    /// page by page in memory that does not grow with the result (`SELECT * …` over 100,000
    /// images); other statements run whole first. Dropping the stream cancels the statement.
    pub async fn stream(&self, statement: &ParsedStatement) -> Result<RowStream<'_>, Error> {
        self.stream_guarded(&statement.statement, &statement.source.text)
            .await
    }

    /// A panic (a bug) while starting or reading the stream is reported as
    /// [`ErrorKind::Internal`], as [`Session::run`] does.
    async fn stream_guarded(
        &self,
        statement: &Statement,
        text: &str,
    ) -> Result<RowStream<'_>, Error> {
        use futures::FutureExt;
        let starting = std::panic::AssertUnwindSafe(self.inner.stream(statement));
        let stream = match starting.catch_unwind().await {
            Ok(result) => result?,
            Err(payload) => return Err(internal(text, payload.as_ref())),
        };
        let text = text.to_string();
        Ok(stream.catch_panics(move |payload| internal(&text, payload)))
    }

    /// [`Session::stream`] of one statement with its placeholders bound (see [`Session::query`]).
    pub async fn query_stream(&self, sql: &str, params: &[Cell]) -> Result<RowStream<'_>, Error> {
        let parsed = self.parse_cached(&bind(sql, params)?)?;
        match &parsed[..] {
            [one] => self.stream_guarded(&one.statement, &one.source.text).await,
            other => Err(Error::Unsupported(format!(
                "query_stream runs one statement; this text has {}",
                other.len()
            ))),
        }
    }

    /// Runs every statement of `sql` in order until one fails, and returns what ran with the
    /// error: a DELETE that succeeded before statement 2 failed is in `results`.
    pub async fn execute_script(&self, sql: &str) -> ScriptOutcome {
        let mut out = ScriptOutcome {
            results: Vec::new(),
            error: None,
        };
        let parsed = match self.parse_cached(sql) {
            Ok(p) => p,
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        };
        for s in parsed.iter() {
            match self.run(s).await {
                Ok(r) => out.results.push(r),
                Err(e) => {
                    out.error = Some(e);
                    break;
                }
            }
        }
        out
    }

    /// This session's settings.
    pub fn settings(&self) -> &SessionSettings {
        self.inner.settings()
    }

    /// This session's settings, to change: the engine and its other sessions keep theirs.
    pub fn settings_mut(&mut self) -> &mut SessionSettings {
        self.inner.settings_mut()
    }
}

#[cfg(test)]
mod tests {
    /// A server or an embedder spawns statements on a multi-threaded runtime: the futures must be
    /// `Send` (a connection held by reference across an await once made them not).
    #[test]
    fn statement_futures_can_move_between_threads() {
        fn send<T: Send>(_: &T) {}
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let engine = rt
            .block_on(super::Engine::builder().dry_run(true).build())
            .unwrap();
        let running = engine.execute("SELECT 1");
        send(&running);
        drop(running);
    }
}
