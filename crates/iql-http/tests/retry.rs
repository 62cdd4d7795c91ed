//! Retry and error behaviour against a scripted server on 127.0.0.1.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use axum::Router;
use iql_http::{HttpClient, HttpConfig, HttpError, Method, Request, Secret};

/// (status, headers, body)
type Answer = (u16, Vec<(&'static str, &'static str)>, &'static str);

/// Serves the scripted answers in order (the last one repeats); returns the base URL and hit counter.
async fn scripted(answers: Vec<Answer>) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/{*p}",
        any(move |headers: HeaderMap| {
            let h = h.clone();
            let answers = answers.clone();
            async move {
                assert_eq!(headers.get("authorization").unwrap(), "Bearer s3cret-token");
                let n = h.fetch_add(1, Ordering::SeqCst);
                let (status, hdrs, body) = answers[n.min(answers.len() - 1)].clone();
                let mut map = HeaderMap::new();
                for (k, v) in hdrs {
                    map.insert(k, v.parse().unwrap());
                }
                (StatusCode::from_u16(status).unwrap(), map, body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

fn client() -> HttpClient {
    client_with(Duration::from_millis(1), Duration::from_millis(50))
}

fn client_with(base_backoff: Duration, max_backoff: Duration) -> HttpClient {
    HttpClient::new(HttpConfig {
        base_backoff,
        max_backoff,
        max_retries: 3,
        ..HttpConfig::default()
    })
    .unwrap()
}

/// A `ratelimit-reset` value: Unix time `offset` whole seconds from now.
fn reset_in(offset: i64) -> &'static str {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    Box::leak((now + offset).to_string().into_boxed_str())
}

fn req(base: &str, method: Method, idempotent: bool) -> Request {
    Request {
        method,
        url: format!("{base}/v2/images?page=1").parse().unwrap(),
        body: (method == Method::Post).then(|| serde_json::json!({"name": "x"})),
        bearer: Some(Secret::new("s3cret-token")),
        headers: Vec::new(),
        idempotent,
    }
}

const TOO_MANY: &str = r#"{"id":"too_many_requests","message":"API Rate limit exceeded."}"#;

#[tokio::test]
async fn get_is_retried_after_429_and_5xx() {
    let (base, hits) = scripted(vec![
        (429, vec![("retry-after", "0")], TOO_MANY),
        (
            503,
            vec![],
            r#"{"id":"service_unavailable","message":"later"}"#,
        ),
        (200, vec![], r#"{"images":[]}"#),
    ])
    .await;
    let resp = client().send(&req(&base, Method::Get, true)).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.attempts, 3);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn post_is_retried_on_429_but_never_after_a_5xx() {
    let (base, hits) = scripted(vec![
        (429, vec![("retry-after", "0")], TOO_MANY),
        (
            500,
            vec![],
            r#"{"id":"server_error","message":"boom","request_id":"r-1"}"#,
        ),
        (201, vec![], r#"{"action":{}}"#),
    ])
    .await;
    let err = client()
        .send(&req(&base, Method::Post, false))
        .await
        .unwrap_err();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "the POST that got a 500 must not be sent again"
    );
    assert_eq!(err.status(), Some(500));
}

#[tokio::test]
async fn retries_are_bounded_and_errors_say_everything_but_the_token() {
    let (base, hits) = scripted(vec![(429, vec![("retry-after", "0")], TOO_MANY)]).await;
    let err = client()
        .send(&req(&base, Method::Get, true))
        .await
        .unwrap_err();
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    let text = err.to_string();
    assert!(
        text.starts_with("HTTP 429 from GET http://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("/v2/images?page=1: too_many_requests: API Rate limit exceeded."),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    assert!(!format!("{err:?}").contains("s3cret"));
}

#[tokio::test]
async fn not_found_is_final_and_carries_the_request_id() {
    let (base, hits) = scripted(vec![(
        404,
        vec![],
        r#"{"id":"not_found","message":"The resource you were accessing could not be found.","request_id":"abc-123"}"#,
    )])
    .await;
    let err = client()
        .send(&req(&base, Method::Get, true))
        .await
        .unwrap_err();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(
        matches!(&err, HttpError::Status { id: Some(id), request_id: Some(r), .. } if id == "not_found" && r == "abc-123")
    );
    assert!(err.to_string().contains("(request_id abc-123)"));
}

#[tokio::test]
async fn a_body_that_is_not_json_is_reported() {
    let (base, _) = scripted(vec![(200, vec![], "<html>proxy</html>")]).await;
    let err = client()
        .send(&req(&base, Method::Get, true))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Malformed { .. }), "{err}");
}

#[tokio::test]
async fn connection_refused_is_reported_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = client()
        .send(&req(&base, Method::Post, false))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::Transport { attempts: 4, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn timeouts_are_reported_with_the_url() {
    let app = Router::new().route(
        "/{*p}",
        any(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = HttpClient::new(HttpConfig {
        timeout: Duration::from_millis(100),
        max_retries: 0,
        ..HttpConfig::default()
    })
    .unwrap();
    let err = client
        .send(&req(&base, Method::Get, true))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Timeout { .. }), "{err}");
    assert!(
        err.to_string().contains("/v2/images?page=1 timed out"),
        "{err}"
    );
}

/// One 429 with `ratelimit-reset` `offset` whole seconds from now, then a success: the time
/// `client` took, having retried once.
async fn time_after_reset(offset: i64, client: HttpClient) -> Duration {
    let (base, hits) = scripted(vec![
        (429, vec![("ratelimit-reset", reset_in(offset))], TOO_MANY),
        (200, vec![], r#"{"images":[]}"#),
    ])
    .await;
    let started = std::time::Instant::now();
    let resp = client.send(&req(&base, Method::Get, true)).await.unwrap();
    assert_eq!((resp.status, hits.load(Ordering::SeqCst)), (200, 2));
    started.elapsed()
}

#[tokio::test]
async fn without_retry_after_the_wait_follows_ratelimit_reset() {
    // ratelimit-reset at least one whole second ahead (the header is whole seconds, so `now + 1`
    // may be only milliseconds away), capped by max_backoff (50 ms here): retried, and not at once.
    let waited = time_after_reset(2, client()).await;
    assert!(
        waited >= Duration::from_millis(45),
        "waited only {waited:?}"
    );
}

#[tokio::test]
async fn a_ratelimit_reset_already_past_still_waits_the_backoff() {
    // A server clock behind ours makes the reset look past; retrying at once would spend every
    // retry in a burst. The wait falls back to the backoff (100 ms base: at least 50 ms).
    let client = client_with(Duration::from_millis(100), Duration::from_millis(200));
    let waited = time_after_reset(-10, client).await;
    assert!(
        waited >= Duration::from_millis(45),
        "waited only {waited:?}"
    );
}

#[tokio::test]
async fn a_429_holds_back_the_other_requests_too() {
    // DigitalOcean's limits are per token: after one request is told to wait, a request started
    // meanwhile waits too instead of collecting a 429 of its own.
    let (base, hits) = scripted(vec![
        (429, vec![("retry-after", "1")], TOO_MANY),
        (200, vec![], r#"{"images":[]}"#),
    ])
    .await;
    let client = client_with(Duration::from_millis(1), Duration::from_millis(1000));
    let first = {
        let (client, req) = (client.clone(), req(&base, Method::Get, true));
        tokio::spawn(async move { client.send(&req).await })
    };
    // The retry is counted once the pause is set.
    while client.stats().retries.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let told_to_wait = std::time::Instant::now();
    let second = client.send(&req(&base, Method::Get, true)).await.unwrap();
    let held = told_to_wait.elapsed();
    assert_eq!(second.status, 200);
    assert_eq!(first.await.unwrap().unwrap().status, 200);
    // One 429 in all, and the second request waited out the 1 s pause (give or take how soon the
    // loop above saw the retry: half of it is margin for a loaded machine).
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert!(
        held >= Duration::from_millis(500),
        "held back only {held:?}"
    );
}

/// 501 and the 4xx other than 408 and 429 are final: one request, and a POST refused so created
/// nothing (its outcome is known). A 408 is tried again, like a 503.
#[tokio::test]
async fn a_501_and_a_4xx_are_final_and_a_408_is_retried() {
    for (status, method) in [
        (501, Method::Get),
        (404, Method::Get),
        (422, Method::Post),
        (501, Method::Post),
    ] {
        let (base, hits) = scripted(vec![(
            status,
            vec![],
            r#"{"id":"nope","message":"not here"}"#,
        )])
        .await;
        let err = client()
            .send(&req(&base, method, method == Method::Get))
            .await
            .unwrap_err();
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "{status} {method:?} was sent again"
        );
        assert_eq!(err.status(), Some(status));
        assert!(
            !err.maybe_acted(),
            "{status} {method:?}: the server did nothing"
        );
    }
    let (base, hits) = scripted(vec![
        (408, vec![], r#"{"id":"timeout","message":"slow"}"#),
        (200, vec![], r#"{"images":[]}"#),
    ])
    .await;
    let resp = client().send(&req(&base, Method::Get, true)).await.unwrap();
    assert_eq!((resp.status, hits.load(Ordering::SeqCst)), (200, 2));
    // ...while a 502 after a POST may have been acted on.
    let (base, _) = scripted(vec![(502, vec![], r#"{"id":"bad_gateway","message":"?"}"#)]).await;
    let err = client()
        .send(&req(&base, Method::Post, false))
        .await
        .unwrap_err();
    assert!(err.maybe_acted());
}
