//! The response cache: GET answers (each page) kept for a while, so the same list asked for again
//! a second later, by the same statement, another statement or another session, costs nothing.
//!
//! What it promises:
//! - **Never shared between credentials.** An entry is keyed by the credential's identity (an
//!   HMAC of the token under a key of the engine's; the token itself is never kept) and the URL.
//! - **Fresh enough.** An entry older than the reader's TTL (default 300 s) is not used; a session
//!   may lower its TTL or turn the cache off.
//! - **Bounded.** At most `max_bytes` of bodies (default 256 MiB); the least recently used go
//!   first.
//! - **One request for one page.** Two readers wanting the same page at the same time share one
//!   request: the second waits for the first's answer (if the first fails or is cancelled, the
//!   second sends its own).
//! - **Dropped by a change.** A mutation drops every entry of the API it changed before it
//!   returns (DigitalOcean's resources affect each other: attaching a volume changes the
//!   Droplet's `volume_ids`), and an answer that was in flight across that change is not kept.
//! - **Across processes, when asked** (`CacheConfig::persist`): answers are also written to the
//!   store, and a reader that misses in memory looks there, so a second `iql exec` within the TTL
//!   sends nothing. The identity key is then the store's secret (so the next process computes the
//!   same identities); entries are still per credential, and a change drops them from the store
//!   too. Off by default: the store is a file, and answers may hold secrets (a database
//!   cluster's password, a Kubernetes config).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use iql_http::Secret;

/// How much the cache holds and for how long, engine-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// How long an answer may be used; sessions start with this and may change their own. Zero
    /// turns the cache off.
    pub ttl: Duration,
    /// Most bytes of answers kept; the least recently used are dropped first.
    pub max_bytes: usize,
    /// Also keep answers in the store, for later processes (module documentation).
    pub persist: bool,
}

/// The default TTL, as Steampipe's.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);
/// The default bound on what the cache holds.
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            ttl: DEFAULT_CACHE_TTL,
            max_bytes: DEFAULT_CACHE_BYTES,
            persist: false,
        }
    }
}

/// Who asked: a keyed hash of the credential (all zero without one).
pub(crate) type Identity = [u8; 32];

/// What an entry is found by: who asked, and exactly what (URL and header parameters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub identity: Identity,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// A kept answer.
#[derive(Debug)]
pub(crate) struct CachedAnswer {
    pub status: u16,
    pub body: Vec<u8>,
    /// When it was received (wall clock, so that a stored entry means the same in another process).
    pub received: SystemTime,
    /// What the last reader made of the body (its rows), with a signature of how it read it: a
    /// reader that reads it the same way takes a copy instead of parsing it again.
    pub memo: Mutex<Option<(u64, Arc<dyn std::any::Any + Send + Sync>)>>,
}

impl CachedAnswer {
    pub fn new(status: u16, body: Vec<u8>) -> Self {
        CachedAnswer {
            status,
            body,
            received: SystemTime::now(),
            memo: Mutex::new(None),
        }
    }

    /// What a reader with this `signature` made of the body before, if it was this reader's kind.
    pub fn memo<T: Send + Sync + 'static>(&self, signature: u64) -> Option<Arc<T>> {
        let memo = self
            .memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*memo {
            Some((s, m)) if *s == signature => m.clone().downcast::<T>().ok(),
            _ => None,
        }
    }

    pub fn set_memo<T: Send + Sync + 'static>(&self, signature: u64, value: Arc<T>) {
        *self
            .memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((signature, value));
    }

    /// What it counts for against the cache's bound: the body, room for what a reader makes of
    /// it (rows take about twice the text), and the key.
    fn weight(&self, key: &CacheKey) -> usize {
        3 * self.body.len() + key.url.len() + 64
    }

    fn age(&self) -> Duration {
        SystemTime::now()
            .duration_since(self.received)
            .unwrap_or_default()
    }
}

#[derive(Debug)]
struct Entry {
    answer: Arc<CachedAnswer>,
    /// Position in the use order (`State::order`).
    used: u64,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<CacheKey, Entry>,
    /// Use order: tick → key, oldest first.
    order: BTreeMap<u64, CacheKey>,
    tick: u64,
    bytes: usize,
}

/// A request in flight that others may wait for.
type InFlight = Arc<tokio::sync::OnceCell<Arc<CachedAnswer>>>;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct ResponseCache {
    config: CacheConfig,
    state: Mutex<State>,
    in_flight: Mutex<HashMap<CacheKey, InFlight>>,
    /// Bumped by every invalidation: an answer fetched across one is not kept.
    generation: AtomicU64,
    /// The key of the identity hash: random per engine, or the store's when answers are kept there.
    identity_key: ring::hmac::Key,
    /// Where answers are also kept for other processes.
    store: Option<Arc<dyn crate::store::Store>>,
}

/// Where an answer came from.
pub(crate) enum Source {
    /// Sent now (or shared with a reader that sent it now).
    Network,
    /// Kept from before.
    Cache,
}

impl ResponseCache {
    pub fn new(config: CacheConfig, identity_secret: &[u8]) -> Self {
        ResponseCache {
            config,
            state: Mutex::default(),
            in_flight: Mutex::default(),
            generation: AtomicU64::new(0),
            identity_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, identity_secret),
            store: None,
        }
    }

    /// A cache that also keeps answers in `store`, with identities keyed by the store's secret.
    pub fn persistent(
        config: CacheConfig,
        store: Arc<dyn crate::store::Store>,
    ) -> Result<Self, crate::error::EngineError> {
        let secret = store.cache_secret()?;
        let mut cache = ResponseCache::new(config, &secret);
        cache.store = Some(store);
        Ok(cache)
    }

    /// The store's key of an entry: a digest of who asked and what.
    fn stored_key(key: &CacheKey) -> Vec<u8> {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&key.identity);
        ctx.update(key.url.as_bytes());
        for (n, v) in &key.headers {
            ctx.update(&[0]);
            ctx.update(n.as_bytes());
            ctx.update(&[0]);
            ctx.update(v.as_bytes());
        }
        ctx.finish().as_ref().to_vec()
    }

    /// A kept answer from the store no older than `ttl`, now kept in memory too.
    fn get_stored(&self, key: &CacheKey, ttl: Duration) -> Option<Arc<CachedAnswer>> {
        let store = self.store.as_ref()?;
        let generation = self.generation();
        let found = match store.cached_answer(&Self::stored_key(key)) {
            Ok(found) => found?,
            Err(e) => {
                tracing::warn!(error = %e, "the store's kept answers cannot be read");
                return None;
            }
        };
        let received = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(found.received_at.max(0.0));
        let answer = Arc::new(CachedAnswer {
            status: found.status,
            body: found.body,
            received,
            memo: Mutex::new(None),
        });
        if answer.age() > ttl {
            return None;
        }
        self.put_in_memory(key.clone(), answer.clone(), generation);
        Some(answer)
    }

    pub fn config(&self) -> CacheConfig {
        self.config
    }

    /// The identity of a credential: an HMAC of it, never the credential.
    pub fn identity(&self, token: Option<&Secret>) -> Identity {
        let mut out = [0u8; 32];
        if let Some(token) = token {
            let tag = ring::hmac::sign(&self.identity_key, token.expose().as_bytes());
            out.copy_from_slice(&tag.as_ref()[..32]);
        }
        out
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A kept answer no older than `ttl`.
    pub fn get(&self, key: &CacheKey, ttl: Duration) -> Option<Arc<CachedAnswer>> {
        if ttl.is_zero() {
            return None;
        }
        let mut guard = self.state();
        let state = &mut *guard;
        let Some(entry) = state.entries.get_mut(key) else {
            drop(guard);
            return self.get_stored(key, ttl);
        };
        if entry.answer.age() > ttl {
            drop(guard);
            return self.get_stored(key, ttl);
        }
        state.order.remove(&entry.used);
        state.tick += 1;
        entry.used = state.tick;
        state.order.insert(state.tick, key.clone());
        Some(entry.answer.clone())
    }

    /// Keeps an answer received under `generation` (from [`ResponseCache::generation`]), unless
    /// the cache was invalidated since or the answer alone is over the bound.
    pub fn put(&self, key: CacheKey, answer: Arc<CachedAnswer>, generation: u64) {
        if let Some(store) = &self.store {
            if self.generation() == generation && !self.config.ttl.is_zero() {
                let stored = crate::store::StoredAnswer {
                    status: answer.status,
                    body: answer.body.clone(),
                    received_at: answer
                        .received
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_secs_f64(),
                };
                if let Err(e) =
                    store.keep_answer(&Self::stored_key(&key), &key.url, &stored, self.config.ttl)
                {
                    tracing::warn!(error = %e, "an answer could not be kept in the store");
                }
            }
        }
        self.put_in_memory(key, answer, generation);
    }

    fn put_in_memory(&self, key: CacheKey, answer: Arc<CachedAnswer>, generation: u64) {
        let size = answer.weight(&key);
        if size > self.config.max_bytes || self.config.ttl.is_zero() {
            return;
        }
        let mut state = self.state();
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        let state = &mut *state;
        if let Some(old) = state.entries.remove(&key) {
            state.order.remove(&old.used);
            state.bytes -= old.answer.weight(&key);
        }
        while state.bytes + size > self.config.max_bytes {
            let Some((_, oldest)) = state.order.pop_first() else {
                break;
            };
            if let Some(gone) = state.entries.remove(&oldest) {
                state.bytes -= gone.answer.weight(&oldest);
            }
        }
        state.tick += 1;
        let used = state.tick;
        state.order.insert(used, key.clone());
        state.entries.insert(key, Entry { answer, used });
        state.bytes += size;
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Drops every entry whose URL starts with `origin` (an API's base, `http://host:port`), and
    /// makes answers in flight now unkeepable.
    pub fn invalidate(&self, origin: &str) {
        if let Some(store) = &self.store {
            if let Err(e) = store.forget_answers(origin) {
                tracing::warn!(error = %e, "kept answers could not be dropped from the store");
            }
        }
        let mut state = self.state();
        self.generation.fetch_add(1, Ordering::SeqCst);
        let state = &mut *state;
        let gone: Vec<CacheKey> = state
            .entries
            .keys()
            .filter(|k| k.url.starts_with(origin))
            .cloned()
            .collect();
        for key in gone {
            if let Some(e) = state.entries.remove(&key) {
                state.order.remove(&e.used);
                state.bytes -= e.answer.weight(&key);
            }
        }
    }

    /// Drops everything.
    pub fn clear(&self) {
        if let Some(store) = &self.store {
            if let Err(e) = store.forget_answers("") {
                tracing::warn!(error = %e, "kept answers could not be dropped from the store");
            }
        }
        let mut state = self.state();
        self.generation.fetch_add(1, Ordering::SeqCst);
        *state = State::default();
    }

    /// Entries and bytes held.
    pub fn size(&self) -> (usize, usize) {
        let state = self.state();
        (state.entries.len(), state.bytes)
    }

    /// The answer for `key`: kept (no older than `ttl`), or the one a reader already waits for,
    /// or fetched now by `fetch` and kept. With `ttl` zero nothing kept is used, but what is
    /// fetched is kept for others.
    pub async fn get_or_fetch<F, Fut, E>(
        &self,
        key: CacheKey,
        ttl: Duration,
        fetch: F,
    ) -> Result<(Arc<CachedAnswer>, Source), E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<CachedAnswer, E>>,
    {
        if let Some(hit) = self.get(&key, ttl) {
            return Ok((hit, Source::Cache));
        }
        let cell: InFlight = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            in_flight.entry(key.clone()).or_default().clone()
        };
        let generation = self.generation();
        let mut sent = false;
        let result = cell
            .get_or_try_init(|| async {
                sent = true;
                fetch().await.map(Arc::new)
            })
            .await
            .cloned();
        if sent {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if in_flight.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                in_flight.remove(&key);
            }
        }
        let answer = result?;
        if sent && (200..300).contains(&answer.status) {
            self.put(key, answer.clone(), generation);
        }
        Ok((answer, Source::Network))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(url: &str) -> CacheKey {
        CacheKey {
            identity: [0; 32],
            url: url.to_string(),
            headers: Vec::new(),
        }
    }

    fn answer(bytes: usize) -> Arc<CachedAnswer> {
        Arc::new(CachedAnswer::new(200, vec![b' '; bytes]))
    }

    #[test]
    fn the_least_recently_used_go_first_when_over_the_bound() {
        let cache = ResponseCache::new(
            CacheConfig {
                ttl: Duration::from_secs(60),
                max_bytes: 3 * (3 * 100 + "http://a/1".len() + 64),
                persist: false,
            },
            b"k",
        );
        let ttl = Duration::from_secs(60);
        for u in ["http://a/1", "http://a/2", "http://a/3"] {
            cache.put(key(u), answer(100), 0);
        }
        assert!(cache.get(&key("http://a/1"), ttl).is_some()); // 1 is now the most recent
        cache.put(key("http://a/4"), answer(100), 0);
        assert!(
            cache.get(&key("http://a/2"), ttl).is_none(),
            "2 was least recently used"
        );
        for u in ["http://a/1", "http://a/3", "http://a/4"] {
            assert!(cache.get(&key(u), ttl).is_some(), "{u}");
        }
        assert_eq!(cache.size().0, 3);
    }

    #[test]
    fn identities_differ_by_credential_and_hide_it() {
        let cache = ResponseCache::new(CacheConfig::default(), b"engine key");
        let a = cache.identity(Some(&Secret::new("token-a")));
        let b = cache.identity(Some(&Secret::new("token-b")));
        assert_ne!(a, b);
        assert_eq!(a, cache.identity(Some(&Secret::new("token-a"))));
        assert!(!a.windows(7).any(|w| w == b"token-a"));
        // Another key (another engine) gives another identity for the same token.
        let other = ResponseCache::new(CacheConfig::default(), b"other key");
        assert_ne!(a, other.identity(Some(&Secret::new("token-a"))));
    }

    #[test]
    fn an_invalidation_drops_its_origin_and_refuses_answers_in_flight() {
        let cache = ResponseCache::new(CacheConfig::default(), b"k");
        let ttl = Duration::from_secs(60);
        let before = cache.generation();
        cache.put(key("http://a:1/v2/images"), answer(10), before);
        cache.put(key("http://b:2/v2/images"), answer(10), before);
        cache.invalidate("http://a:1");
        assert!(cache.get(&key("http://a:1/v2/images"), ttl).is_none());
        assert!(cache.get(&key("http://b:2/v2/images"), ttl).is_some());
        // An answer requested before the invalidation arrives after it: not kept.
        cache.put(key("http://a:1/v2/droplets"), answer(10), before);
        assert!(cache.get(&key("http://a:1/v2/droplets"), ttl).is_none());
    }
}
