//! HTTP for provider APIs: one `reqwest` client per engine, a bound on requests in flight, retries
//! that are safe, and errors that say what happened.
//!
//! Retry policy, and why:
//! - **429** is retried for every method: the server refused the request, so nothing was created.
//!   The wait is `retry-after` (seconds) when given, else until `ratelimit-reset` (Unix time), capped.
//! - **5xx (but 501), 408 and dropped connections** are retried only for idempotent requests (the
//!   caller says which; iql marks GETs). A POST that may have reached the server is never sent twice.
//! - **501 and every other 4xx** are final: the same request would get the same answer.
//! - **Connection refused** (nothing was sent) is retried for every method.
//!
//! A 429 pauses the whole client, not just the request that got it: DigitalOcean's limits are per
//! token, so the other requests in flight would only collect 429s of their own and use up their
//! retries. Every request waits out the pause before it is sent.
//!
//! Waits grow exponentially with full jitter. The bearer token lives only in the `Authorization`
//! header: it is never part of a URL, an error or a log line.
//!
//! **Plain `http://` goes only to loopback** (127.0.0.0/8, `::1`, `localhost`): a request to any
//! other host over `http://` would carry the token in clear across a network, so it is refused
//! before a connection is attempted ([`HttpError::Insecure`]), unless the caller opted in with
//! [`HttpConfig::allow_insecure_http`]. Every request passes [`check_url`], whatever its origin: a
//! provider document's server, an endpoint given by the user, a next-page link, a redirect.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::Semaphore;
use url::Url;

/// A credential that never prints, and how it is sent (StackQL's auth types).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    scheme: AuthScheme,
}

/// How a credential goes into a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Authorization: Bearer <token>` (StackQL's `bearer`).
    Bearer,
    /// `Authorization: Basic base64(user:password)` (`basic`); the secret is the password.
    Basic { user: String },
    /// A header of its own, the value after a prefix (`api_key`: Okta's `Authorization: SSWS
    /// <key>`, or `X-API-Key: <key>`).
    Header { name: String, prefix: String },
}

impl Secret {
    /// A bearer token.
    pub fn new(value: impl Into<String>) -> Self {
        Secret {
            value: value.into(),
            scheme: AuthScheme::Bearer,
        }
    }

    /// A user name and password, sent as HTTP basic authentication.
    pub fn basic(user: impl Into<String>, password: impl Into<String>) -> Self {
        Secret {
            value: password.into(),
            scheme: AuthScheme::Basic { user: user.into() },
        }
    }

    /// A key sent in header `name` after `prefix` (which may be empty).
    pub fn api_key(
        name: impl Into<String>,
        prefix: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        Secret {
            value: key.into(),
            scheme: AuthScheme::Header {
                name: name.into(),
                prefix: prefix.into(),
            },
        }
    }

    /// The secret itself (a token, a password, a key).
    pub fn expose(&self) -> &str {
        &self.value
    }

    pub fn scheme(&self) -> &AuthScheme {
        &self.scheme
    }

    /// The header the credential is sent in, its secret part shown as `***` (for dry runs and
    /// logs): `Authorization: Bearer ***`, `Authorization: Basic *** (user ada)`,
    /// `Authorization: SSWS ***`.
    pub fn redacted(&self) -> String {
        match &self.scheme {
            AuthScheme::Bearer => "Authorization: Bearer ***".to_string(),
            AuthScheme::Basic { user } => format!("Authorization: Basic *** (user {user})"),
            AuthScheme::Header { name, prefix } => format!("{name}: {prefix}***"),
        }
    }

    fn apply(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.scheme {
            AuthScheme::Bearer => builder.bearer_auth(&self.value),
            AuthScheme::Basic { user } => builder.basic_auth(user, Some(&self.value)),
            AuthScheme::Header { name, prefix } => {
                builder.header(name.as_str(), format!("{prefix}{}", self.value))
            }
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.redacted())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Whole-request timeout, per attempt.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub base_backoff: Duration,
    /// Longest single wait, also the cap on a server-requested wait.
    pub max_backoff: Duration,
    /// Requests in flight at once, across everything this client sends.
    pub concurrency: usize,
    /// Send over plain `http://` to hosts other than loopback (the bearer token then crosses the
    /// network in clear). Off unless a user asks for it by name.
    pub allow_insecure_http: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: Duration::from_secs(30),
            max_retries: 4,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            concurrency: 8,
            allow_insecure_http: false,
        }
    }
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub body: Option<Value>,
    pub bearer: Option<Secret>,
    /// Header parameters of the operation (never the credential: that is `bearer`).
    pub headers: Vec<(String, String)>,
    /// Safe to send again after a 5xx or a dropped connection.
    pub idempotent: bool,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// `Value::Null` for an empty body (204).
    pub body: Value,
    pub attempts: u32,
}

/// A successful answer before its body is parsed: for callers that read the JSON straight into
/// their own structures (list pages into rows) instead of a `Value` tree.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub body: Vec<u8>,
    pub attempts: u32,
}

impl RawResponse {
    /// True for a body of nothing but whitespace (a 204, or an empty 200).
    pub fn is_empty(&self) -> bool {
        self.body.iter().all(u8::is_ascii_whitespace)
    }

    /// The body as a `Value` (`Null` when empty); not JSON is [`HttpError::Malformed`].
    pub fn json(self, method: Method, url: &str) -> Result<Response, HttpError> {
        let body = if self.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body).map_err(|e| HttpError::malformed(method, url, &e))?
        };
        Ok(Response {
            status: self.status,
            body,
            attempts: self.attempts,
        })
    }
}

/// An HTTP failure, with everything a user needs to act on it (never the token).
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    #[error(
        "HTTP {status} from {method} {url}{}",
        describe_api_error(id, message, request_id)
    )]
    Status {
        status: u16,
        method: Method,
        url: String,
        /// DigitalOcean's error `id`, e.g. `not_found`.
        id: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
        attempts: u32,
    },
    #[error("{method} {url} timed out after {seconds:.1} s (attempt {attempts})")]
    Timeout {
        method: Method,
        url: String,
        seconds: f64,
        attempts: u32,
    },
    #[error("{method} {url} failed: {detail} (attempt {attempts})")]
    Transport {
        method: Method,
        url: String,
        detail: String,
        attempts: u32,
        /// The connection broke after the request may have reached the server (not a refused
        /// connection, where nothing was sent).
        maybe_sent: bool,
    },
    #[error("refusing to send {method} {url}: {reason}")]
    Insecure {
        method: Method,
        url: String,
        reason: String,
    },
    #[error("{method} {url} returned a body that is not JSON: {detail}")]
    Malformed {
        method: Method,
        url: String,
        detail: String,
    },
}

fn describe_api_error(
    id: &Option<String>,
    message: &Option<String>,
    request_id: &Option<String>,
) -> String {
    let mut out = String::new();
    match (id, message) {
        (Some(i), Some(m)) => out.push_str(&format!(": {i}: {m}")),
        (Some(i), None) => out.push_str(&format!(": {i}")),
        (None, Some(m)) => out.push_str(&format!(": {m}")),
        (None, None) => {}
    }
    if let Some(r) = request_id {
        out.push_str(&format!(" (request_id {r})"));
    }
    out
}

impl HttpError {
    /// A 2xx body that does not parse as JSON.
    pub fn malformed(method: Method, url: &str, e: &serde_json::Error) -> Self {
        HttpError::Malformed {
            method,
            url: url.to_string(),
            detail: e.to_string(),
        }
    }

    /// Whether the server may have acted on the request although no success came back: a 5xx, a
    /// timeout, or a connection lost after sending. For a request that changes something, its
    /// outcome is then unknown.
    pub fn maybe_acted(&self) -> bool {
        match self {
            // 501: the server does not do this at all, so it did nothing.
            HttpError::Status { status, .. } => *status >= 500 && *status != 501,
            HttpError::Timeout { .. } => true,
            HttpError::Transport { maybe_sent, .. } => *maybe_sent,
            // A 2xx whose body could not be read: the server did act.
            HttpError::Malformed { .. } => true,
            HttpError::Insecure { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Whether a request may go to `url`: `https://` anywhere; `http://` only to loopback (127.0.0.0/8,
/// `::1`, `localhost`) unless `allow_insecure_http`; nothing else. The reason is worded for the
/// person who configured the URL.
pub fn check_url(url: &Url, allow_insecure_http: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "plain http:// to {} would carry the bearer token in clear off this machine; use https://, or allow it explicitly (--allow-insecure-http, or allow_insecure_http in the library) if you accept that risk. http:// is allowed without it only to loopback (127.0.0.0/8, ::1, localhost)",
            url.host_str().unwrap_or("a host")
        )),
        other => Err(format!(
            "'{other}:' is not a web address iql sends requests to: use https:// (or http:// to loopback)"
        )),
    }
}

/// 127.0.0.0/8, `::1` or the name `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Counters for tests and benchmarks.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
}

#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    permits: Arc<Semaphore>,
    config: HttpConfig,
    stats: Arc<Stats>,
    /// No request is sent before this instant: set by a 429, shared by every clone of the client.
    paused_until: Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
}

impl HttpClient {
    pub fn new(config: HttpConfig) -> Result<Self, HttpError> {
        let allow_insecure = config.allow_insecure_http;
        // A redirect is followed only where a request could have gone in the first place (and at
        // most 5 times); reqwest drops the Authorization header on a redirect to another host.
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 || check_url(attempt.url(), allow_insecure).is_err() {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(redirects)
            .user_agent(concat!("iql/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Transport {
                method: Method::Get,
                url: String::new(),
                detail: format!("cannot build HTTP client: {e}"),
                attempts: 0,
                maybe_sent: false,
            })?;
        Ok(HttpClient {
            client,
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config,
            stats: Arc::new(Stats::default()),
            paused_until: Arc::default(),
        })
    }

    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The counters, shared: for progress displays that outlive a borrow of the client.
    pub fn stats_handle(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Sends `req`, retrying as the module docs describe, and parses the answer as JSON. Holds one
    /// concurrency permit per attempt.
    pub async fn send(&self, req: &Request) -> Result<Response, HttpError> {
        self.send_raw(req).await?.json(req.method, req.url.as_str())
    }

    /// [`send`](Self::send) without parsing a successful body. Error bodies are still read for
    /// DigitalOcean's `id`, `message` and `request_id`.
    pub async fn send_raw(&self, req: &Request) -> Result<RawResponse, HttpError> {
        check_url(&req.url, self.config.allow_insecure_http).map_err(|reason| {
            HttpError::Insecure {
                method: req.method,
                url: req.url.to_string(),
                reason,
            }
        })?;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let outcome = {
                let _permit = self.permits.acquire().await;
                self.wait_out_pause().await;
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                self.attempt(req, attempt).await
            };
            let retry_after = match &outcome {
                Ok(_) => return outcome.map_err(Attempt::into_error),
                Err(Attempt::RateLimited { wait, .. }) => Some(*wait),
                Err(Attempt::ServerError(_)) | Err(Attempt::Dropped(_)) if req.idempotent => None,
                Err(Attempt::Refused(_)) => None,
                Err(_) => return outcome.map_err(Attempt::into_error),
            };
            if attempt > self.config.max_retries {
                return outcome.map_err(Attempt::into_error);
            }
            let wait = retry_after
                .map(|w| w.min(self.config.max_backoff))
                .unwrap_or_else(|| self.backoff(attempt));
            tracing::debug!(method = %req.method, url = %req.url, attempt, wait_ms = wait.as_millis() as u64, "retrying");
            if retry_after.is_some() {
                self.pause_for(wait);
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every request of this client back for `wait` (or longer, if already paused longer).
    fn pause_for(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    async fn wait_out_pause(&self) {
        let until = *self
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .config
            .base_backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.config.max_backoff);
        // Full jitter: anywhere between half the step and the whole step.
        let frac = 0.5 + 0.5 * jitter();
        exp.mul_f64(frac)
    }

    async fn attempt(&self, req: &Request, attempt: u32) -> Result<RawResponse, Attempt> {
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.client.request(method, req.url.clone());
        // JSON, unless the caller asks for something else (a kubeconfig's YAML).
        if !req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("accept"))
        {
            builder = builder.header("Accept", "application/json");
        }
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(credential) = &req.bearer {
            builder = credential.apply(builder);
        }
        if let Some(body) = &req.body {
            builder = builder.json(body);
        }
        let url = req.url.to_string();
        let transport = |e: reqwest::Error| {
            let detail = error_chain(&e);
            if e.is_timeout() {
                Attempt::Timeout(HttpError::Timeout {
                    method: req.method,
                    url: url.clone(),
                    seconds: self.config.timeout.as_secs_f64(),
                    attempts: attempt,
                })
            } else {
                let err = HttpError::Transport {
                    method: req.method,
                    url: url.clone(),
                    detail,
                    attempts: attempt,
                    maybe_sent: !e.is_connect(),
                };
                if e.is_connect() {
                    Attempt::Refused(err)
                } else {
                    Attempt::Dropped(err)
                }
            }
        };
        let resp = builder.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(transport)?;
        tracing::debug!(method = %req.method, url = %url, status, bytes = bytes.len(), "response");
        if (200..300).contains(&status) {
            return Ok(RawResponse {
                status,
                body: Vec::from(bytes),
                attempts: attempt,
            });
        }
        let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
        let field = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let message = field("message").or_else(|| {
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            (!text.is_empty()).then(|| text.chars().take(200).collect())
        });
        let err = HttpError::Status {
            status,
            method: req.method,
            url,
            id: field("id"),
            message,
            request_id: field("request_id").or_else(|| {
                headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            }),
            attempts: attempt,
        };
        if status == 429 {
            let header_num = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
            };
            let wait = header_num("retry-after")
                .map(|s| Duration::from_secs_f64(s.max(0.0)))
                .or_else(|| {
                    let reset = header_num("ratelimit-reset")?;
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .ok()?
                        .as_secs_f64();
                    // The reset is whole seconds on the server's clock: a reset that looks
                    // already past (skew, or the last instant of the second) still waits the
                    // ordinary backoff, so retries are never spent back to back.
                    let until = Duration::from_secs_f64((reset - now).max(0.0));
                    Some(until.max(self.backoff(attempt)))
                })
                .unwrap_or_else(|| self.backoff(attempt));
            return Err(Attempt::RateLimited { err, wait });
        }
        // 501 (not implemented) and every 4xx but 408 and 429 say what will not change: asking
        // again would take the same answer, later. A 408 (the server stopped waiting for the
        // request) and the other 5xx may pass.
        if status == 408 || (status >= 500 && status != 501) {
            return Err(Attempt::ServerError(err));
        }
        Err(Attempt::Final(err))
    }
}

enum Attempt {
    RateLimited {
        err: HttpError,
        wait: Duration,
    },
    ServerError(HttpError),
    /// The connection broke after the request may have been sent.
    Dropped(HttpError),
    /// The connection was never made: nothing was sent.
    Refused(HttpError),
    Timeout(HttpError),
    Final(HttpError),
}

impl Attempt {
    fn into_error(self) -> HttpError {
        match self {
            Attempt::RateLimited { err, .. }
            | Attempt::ServerError(err)
            | Attempt::Dropped(err)
            | Attempt::Refused(err)
            | Attempt::Timeout(err)
            | Attempt::Final(err) => err,
        }
    }
}

fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A number in [0, 1) that differs from call to call; good enough to spread retries.
fn jitter() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let mut x = COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ nanos;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The headers `credential` puts on a request (built, never sent).
    fn headers_of(credential: &Secret) -> Vec<(String, String)> {
        let client = reqwest::Client::new();
        let request = credential
            .apply(client.get("http://127.0.0.1:9/"))
            .build()
            .expect("a request");
        request
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect()
    }

    #[test]
    fn each_auth_type_sends_its_header_and_shows_it_redacted() {
        let bearer = Secret::new("tok");
        assert_eq!(
            headers_of(&bearer),
            [("authorization".to_string(), "Bearer tok".to_string())]
        );
        assert_eq!(bearer.redacted(), "Authorization: Bearer ***");

        let basic = Secret::basic("ada", "pw");
        // base64("ada:pw")
        assert_eq!(
            headers_of(&basic),
            [("authorization".to_string(), "Basic YWRhOnB3".to_string())]
        );
        assert_eq!(basic.redacted(), "Authorization: Basic *** (user ada)");

        let okta = Secret::api_key("Authorization", "SSWS ", "key");
        assert_eq!(
            headers_of(&okta),
            [("authorization".to_string(), "SSWS key".to_string())]
        );
        assert_eq!(okta.redacted(), "Authorization: SSWS ***");

        let header = Secret::api_key("X-API-Key", "", "key");
        assert_eq!(
            headers_of(&header),
            [("x-api-key".to_string(), "key".to_string())]
        );
        for s in [&bearer, &basic, &okta, &header] {
            let shown = format!("{s:?}");
            assert!(
                !shown.contains("tok") && !shown.contains("pw") && !shown.contains("key\""),
                "{shown}"
            );
        }
    }
}
