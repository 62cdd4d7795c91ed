//! `iql-mock`: a stateful DigitalOcean API on 127.0.0.1 (images by hand-made rules, the rest by rule).
//!
//! It behaves like the real API where a client can go wrong: a bearer token is required (401),
//! `per_page` must be 1..=200 and `page` ≥ 1 (422), `links.pages` carries full URLs and is empty when
//! everything fits on one page, `meta.total` counts everything, `type`/`private`/`tag_name` filter,
//! `GET /v2/images/{id}` takes an id or a public slug while `PUT`/`DELETE` and the action paths take
//! an integer id, errors have DigitalOcean's `{"id","message","request_id"}` body, and writes change
//! what later reads see. Knobs add latency and injected 5xx and 429 answers.
//!
//! Every other operation of the bundled DigitalOcean documents is answered by rule
//! ([`spec`](crate::spec)): lists, items, creates, updates and deletes over state seeded from the
//! schemas' examples.
//!
//! The same server runs in-process behind `iql --sandbox` and in the tests.

mod data;
mod routes;
mod spec;

pub use spec::route_count;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use data::{Category, Image, DISTRIBUTIONS, REGIONS};

/// The most images an account may hold: each is about 2 KB in memory and in every list's answers,
/// so a million would take gigabytes before the first request. 100,000 is ten times what the
/// benchmarks list.
pub const MAX_IMAGES: usize = 100_000;

/// How the mock behaves.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Images on the account (public distribution and application images first, then private ones).
    pub images: usize,
    /// Delay before every answer.
    pub latency: Duration,
    /// Share of requests answered with a 500 (0.0..=1.0).
    pub error_rate: f64,
    /// Share of requests answered with a 429.
    pub rate_limit_rate: f64,
    /// `retry-after` sent with injected 429s, in seconds.
    pub retry_after_secs: u64,
    pub seed: u64,
    /// When set, only this bearer token is accepted; otherwise any non-empty one is.
    pub token: Option<String>,
    /// How many polls of a new action (GET of it) before it finishes.
    pub action_polls: u32,
    /// How a new action ends: `completed`, `errored`, or `never` (stays in progress).
    pub action_outcome: ActionOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionOutcome {
    Completed,
    Errored,
    Never,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            images: 60,
            latency: Duration::ZERO,
            error_rate: 0.0,
            rate_limit_rate: 0.0,
            retry_after_secs: 0,
            seed: 42,
            token: None,
            action_polls: 2,
            action_outcome: ActionOutcome::Completed,
        }
    }
}

/// A request the mock received, for tests that check what a client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    /// Path and query, e.g. `/v2/images?page=2&per_page=200`.
    pub uri: String,
}

pub(crate) struct State {
    pub images: Vec<Image>,
    /// (image id, action) in creation order.
    pub actions: Vec<(i64, serde_json::Value, u32)>,
    pub next_image_id: i64,
    pub next_action_id: i64,
    pub rng: data::Rng,
    /// Every other resource, by rule from the bundled documents.
    pub spec: spec::SpecState,
}

pub(crate) struct Shared {
    pub config: MockConfig,
    pub state: Mutex<State>,
    pub log: Mutex<Vec<LoggedRequest>>,
    pub requests: AtomicU64,
    pub in_flight: AtomicU64,
    pub max_in_flight: AtomicU64,
}

/// The sandbox's rules without a server: one request in, DigitalOcean's answer out. For fuzzing
/// the route matcher and the body checks, and for tests that need no socket.
pub struct OfflineSandbox {
    shared: Shared,
}

impl OfflineSandbox {
    pub fn new(config: MockConfig) -> Self {
        let images = config.images.min(MAX_IMAGES);
        OfflineSandbox {
            shared: Shared::new(MockConfig { images, ..config }),
        }
    }

    /// Answers `method path_and_query` with `body`, authorized by `bearer` when given:
    /// (status, body as JSON text; none for 204).
    pub fn answer(
        &self,
        method: &str,
        path_and_query: &str,
        bearer: Option<&str>,
        body: &[u8],
    ) -> (u16, Option<String>) {
        routes::answer_offline(&self.shared, method, path_and_query, bearer, body)
    }
}

/// A running mock. Dropping it stops the server.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl MockServer {
    /// Starts on 127.0.0.1 with a port the OS picks.
    pub async fn start(config: MockConfig) -> std::io::Result<MockServer> {
        Self::bind(
            "127.0.0.1:0".parse().map_err(std::io::Error::other)?,
            config,
        )
        .await
    }

    pub async fn bind(addr: SocketAddr, config: MockConfig) -> std::io::Result<MockServer> {
        if config.images > MAX_IMAGES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "a sandbox holds at most {MAX_IMAGES} images, not {}",
                    config.images
                ),
            ));
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let app = routes::router(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("iql-mock: server stopped: {e}");
            }
        });
        Ok(MockServer { addr, shared, task })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests answered so far (including refused and injected failures).
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> u64 {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    pub fn clear_requests(&self) {
        if let Ok(mut l) = self.shared.log.lock() {
            l.clear();
        }
        self.shared.requests.store(0, Ordering::SeqCst);
        self.shared.max_in_flight.store(0, Ordering::SeqCst);
    }

    /// Every image the account holds now, as the API would show it.
    pub fn images(&self) -> Vec<serde_json::Value> {
        self.shared
            .state
            .lock()
            .map(|s| s.images.iter().map(|i| i.body.clone()).collect())
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MockServer({})", self.url())
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    fn new(config: MockConfig) -> Self {
        let images = data::seed_images(config.images, config.seed);
        let mut rng = data::Rng::new(config.seed ^ 0xA5A5);
        let mut actions = Vec::new();
        let mut next_action_id = 36_000_000;
        // Every second private image has a history: a transfer, and sometimes a convert too.
        for img in images.iter().filter(|i| i.category == Category::User) {
            if img.id() % 2 == 0 {
                continue;
            }
            let region = img.body["regions"][0]
                .as_str()
                .unwrap_or("nyc3")
                .to_string();
            actions.push((
                img.id(),
                data::seeded_action(next_action_id, img.id(), "transfer", &region, &mut rng),
                0,
            ));
            next_action_id += 1;
            if rng.below(2) == 0 {
                actions.push((
                    img.id(),
                    data::seeded_action(next_action_id, img.id(), "convert", &region, &mut rng),
                    0,
                ));
                next_action_id += 1;
            }
        }
        let next_image_id = 100_000 + (images.len() as i64) * 7 + 3;
        Shared {
            state: Mutex::new(State {
                images,
                actions,
                next_image_id,
                next_action_id,
                rng: data::Rng::new(config.seed ^ 0x5A5A),
                spec: spec::SpecState::default(),
            }),
            config,
            log: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
        }
    }
}
