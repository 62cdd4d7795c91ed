//! What every session shares: the provider documents, the HTTP client (with the one concurrency
//! bound and the 429 pause that all requests observe, whichever session sends them), and where
//! each provider's requests go and with which credential.
//!
//! An [`Engine`] is built once and shared (`Arc`); [`Session`]s are made from it, one per user,
//! connection or script, cheaply.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use iql_http::{HttpClient, HttpConfig, Secret};
use iql_provider::{Method, Provider, Registry, Resource};

use crate::cache::{CacheConfig, ResponseCache};
use crate::error::EngineError;
use crate::session::{Session, SessionSettings};
use crate::store::{SqliteStore, Store};

/// How the engine reaches providers, and the settings new sessions start with.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Provider name → base URL replacing the document's `servers` (e.g. the mock's address).
    pub endpoints: HashMap<String, String>,
    /// Provider name → credential, taking precedence over the provider's environment variable.
    pub credentials: HashMap<String, Secret>,
    /// Provider name → environment variable to read the credential from (StackQL's `--auth`).
    pub credential_env_vars: HashMap<String, String>,
    /// Provider name → how it authenticates, replacing its document's `config.auth` (StackQL's
    /// `--auth '{"github": {"type": "basic", …}}'`).
    pub auth: HashMap<String, iql_provider::AuthConfig>,
    pub http: HttpConfig,
    /// The response cache: how long answers may be used, and how much is kept.
    pub cache: CacheConfig,
    /// What a new session starts with; each session may change its own.
    pub session: SessionSettings,
    /// The store's file (views, materialized rows); `None` is a temporary file, gone with the
    /// engine. Opened when first needed.
    pub store: Option<std::path::PathBuf>,
    /// A store of another kind, used instead of the SQLite file `store` names.
    pub custom_store: Option<Arc<dyn Store>>,
}

/// The shared half of iql: see the module documentation.
#[derive(Debug)]
pub struct Engine {
    registry: Arc<Registry>,
    http: HttpClient,
    config: EngineConfig,
    /// Rows received so far by every session, for progress displays.
    rows: Arc<AtomicU64>,
    cache: Arc<ResponseCache>,
    store: std::sync::Mutex<Option<Arc<dyn Store>>>,
    /// `information_schema`'s rows for the provider tables, worked out on first use.
    catalog: std::sync::OnceLock<Arc<crate::catalog::Catalog>>,
}

impl Engine {
    pub fn new(registry: Arc<Registry>, config: EngineConfig) -> Result<Arc<Self>, EngineError> {
        let http = HttpClient::new(config.http.clone())?;
        // Answers kept for later processes need the store now (its secret keys the identities).
        let (cache, store) = if config.cache.persist && !config.cache.ttl.is_zero() {
            let store = open_store(&config)?;
            (
                ResponseCache::persistent(config.cache, store.clone())?,
                Some(store),
            )
        } else {
            (ResponseCache::new(config.cache, &random_key()?), None)
        };
        Ok(Arc::new(Engine {
            registry,
            http,
            config,
            rows: Arc::default(),
            cache: Arc::new(cache),
            store: std::sync::Mutex::new(store),
            catalog: std::sync::OnceLock::new(),
        }))
    }

    /// A new session with the engine's default settings.
    pub fn session(self: &Arc<Self>) -> Session {
        Session::new(self.clone(), self.config.session.clone())
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
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

    pub(crate) fn cache(&self) -> &Arc<ResponseCache> {
        &self.cache
    }

    /// The store, opened on first use (see `store.rs`).
    pub fn store(&self) -> Result<Arc<dyn Store>, EngineError> {
        let mut slot = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let store = open_store(&self.config)?;
        *slot = Some(store.clone());
        Ok(store)
    }

    /// The catalog rows, made by `build` the first time.
    pub(crate) fn catalog(
        &self,
        build: impl FnOnce() -> crate::catalog::Catalog,
    ) -> Arc<crate::catalog::Catalog> {
        self.catalog.get_or_init(|| Arc::new(build())).clone()
    }

    /// The store if a statement has opened it already.
    pub(crate) fn opened_store(&self) -> Option<Arc<dyn Store>> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Drops every answer the response cache holds, for every session.
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    /// Answers the response cache holds, and their bytes.
    pub fn cache_size(&self) -> (usize, usize) {
        self.cache.size()
    }

    /// A function giving (HTTP requests sent, rows received) so far; cheap, callable from any thread.
    pub fn progress_counter(&self) -> impl Fn() -> (u64, u64) + Send + Sync + 'static {
        let stats = self.http.stats_handle();
        let rows = self.rows.clone();
        move || {
            (
                stats.requests.load(Ordering::Relaxed),
                rows.load(Ordering::Relaxed),
            )
        }
    }

    pub(crate) fn count_rows(&self, n: usize) {
        self.rows.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// HTTP requests sent so far (retries included) and retries alone.
    pub fn http_counts(&self) -> (u64, u64) {
        let s = self.http.stats();
        (
            s.requests.load(Ordering::Relaxed),
            s.retries.load(Ordering::Relaxed),
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

    /// The credential the engine has for a provider: given, or from its environment variable;
    /// an error naming the variable to set when there is none.
    /// A provider's credential, shaped as its auth type sends it: `given` (a session's own) or
    /// the configured one, else from the environment variables its auth names.
    pub(crate) fn credential(
        &self,
        provider: &Provider,
        given: Option<&Secret>,
    ) -> Result<Option<Secret>, EngineError> {
        let explicit = given.or_else(|| self.config.credentials.get(&provider.name));
        let Some(auth) = self
            .config
            .auth
            .get(&provider.name)
            .or(provider.auth.as_ref())
        else {
            return Ok(explicit.cloned());
        };
        let env = |var: &Option<String>| {
            var.as_deref()
                .and_then(|v| std::env::var(v).ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let missing = |env_var: Option<String>| EngineError::MissingCredentials {
            provider: provider.name.clone(),
            env_var,
        };
        if auth.kind == "null_auth" {
            return Ok(None);
        }
        if auth.kind == "basic" {
            // A credential given whole is `user:password`.
            if let Some((user, password)) = explicit.and_then(|c| c.expose().split_once(':')) {
                return Ok(Some(Secret::basic(user, password)));
            }
            return match (env(&auth.username_var), env(&auth.password_var)) {
                (Some(user), Some(password)) => Ok(Some(Secret::basic(user, password))),
                _ => Err(missing(Some(format!(
                    "{} and {}",
                    auth.username_var.as_deref().unwrap_or("(username_var)"),
                    auth.password_var.as_deref().unwrap_or("(password_var)")
                )))),
            };
        }
        let var = self
            .config
            .credential_env_vars
            .get(&provider.name)
            .cloned()
            .or_else(|| auth.credentials_env_var.clone());
        let value = match explicit {
            Some(c) => c.expose().to_string(),
            None => env(&var).ok_or_else(|| missing(var.clone()))?,
        };
        match auth.kind.as_str() {
            "bearer" => Ok(Some(Secret::new(value))),
            "api_key" => Ok(Some(Secret::api_key(
                auth.header_name.as_deref().unwrap_or("Authorization"),
                auth.value_prefix.as_deref().unwrap_or_default(),
                value,
            ))),
            other => Err(EngineError::Unsupported(format!(
                "{}'s documents authenticate with '{other}', which iql does not know (it knows bearer, basic, api_key and null_auth); give --auth '{{\"{}\": {{\"type\": \"bearer\", \"credentialsenvvar\": \"…\"}}}}' if a bearer token will do",
                provider.name, provider.name
            ))),
        }
    }
}

/// The store the configuration names: a custom one, the SQLite file, or a temporary file.
fn open_store(config: &EngineConfig) -> Result<Arc<dyn Store>, EngineError> {
    if let Some(custom) = &config.custom_store {
        return Ok(custom.clone());
    }
    Ok(Arc::new(match &config.store {
        Some(path) => SqliteStore::open(path)?,
        None => SqliteStore::temporary()?,
    }))
}

/// A key for identity hashes that no other process shares.
fn random_key() -> Result<[u8; 32], EngineError> {
    random_bytes()
}

/// `bytes` in lower-case hexadecimal, two digits each.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `N` bytes from the operating system's source of random numbers.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], EngineError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| EngineError::Unsupported("no source of random numbers".to_string()))?;
    Ok(bytes)
}
