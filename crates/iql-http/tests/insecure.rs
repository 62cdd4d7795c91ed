//! The bearer token never travels over plain http:// off this machine: such a request is refused
//! before any connection is attempted. Only loopback is ever contacted here: the refused hosts use
//! the reserved `.invalid` name, which could not be reached even if a request were made, and the
//! error shows the refusal came first (no connection or DNS error).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use iql_http::{check_url, HttpClient, HttpConfig, HttpError, Method, Request, Secret};

fn req(url: &str) -> Request {
    Request {
        method: Method::Get,
        url: url.parse().unwrap(),
        body: None,
        bearer: Some(Secret::new("s3cret-token")),
        headers: Vec::new(),
        idempotent: true,
    }
}

#[tokio::test]
async fn plain_http_to_another_host_is_refused_before_connecting() {
    let client = HttpClient::new(HttpConfig::default()).unwrap();
    for url in [
        "http://iql-test.invalid/v2/images",
        "http://10.0.0.1.iql-test.invalid:8080/v2/images",
    ] {
        let err = client.send(&req(url)).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, HttpError::Insecure { .. }), "{text}");
        assert!(text.starts_with("refusing to send GET http://"), "{text}");
        assert!(text.contains("in clear"), "{text}");
        assert!(text.contains("--allow-insecure-http"), "{text}");
        assert!(!text.contains("s3cret-token"), "{text}");
        // Nothing was attempted: no DNS lookup, no connection error, no request counted.
        assert!(!text.contains("dns") && !text.contains("connect"), "{text}");
    }
    assert_eq!(client.stats().requests.load(Ordering::SeqCst), 0);
    let err = client
        .send(&req("ftp://iql-test.invalid/x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("'ftp:'"), "{err}");
}

#[test]
fn only_https_and_loopback_pass() {
    let ok = |u: &str| check_url(&u.parse().unwrap(), false).is_ok();
    assert!(ok("https://api.digitalocean.com/v2/images"));
    assert!(ok("http://127.0.0.1:4010/v2"));
    assert!(ok("http://127.8.9.10/v2"));
    assert!(ok("http://[::1]:4010/v2"));
    assert!(ok("http://localhost:4010/v2"));
    assert!(ok("http://LOCALHOST/v2"));
    assert!(!ok("http://iql-test.invalid/v2"));
    assert!(!ok("http://128.0.0.1/v2"));
    assert!(!ok("http://localhost.iql-test.invalid/v2"));
    assert!(!ok("http://[::2]/v2"));
    // Asked for by name, plain http:// is allowed anywhere (the user accepted the risk).
    assert!(check_url(&"http://iql-test.invalid/v2".parse().unwrap(), true).is_ok());
}

#[tokio::test]
async fn a_redirect_off_loopback_over_http_is_not_followed() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new()
        .route(
            "/away",
            get(|| async {
                let mut headers = HeaderMap::new();
                headers.insert("location", "http://iql-test.invalid/steal".parse().unwrap());
                (StatusCode::FOUND, headers, "")
            }),
        )
        .route(
            "/here",
            get(|| async {
                let mut headers = HeaderMap::new();
                headers.insert("location", "/target".parse().unwrap());
                (StatusCode::FOUND, headers, "")
            }),
        )
        .route(
            "/target",
            get(move || {
                h.fetch_add(1, Ordering::SeqCst);
                async { "{\"ok\":true}" }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = HttpClient::new(HttpConfig::default()).unwrap();

    // A redirect that stays on loopback is followed.
    let resp = client.send(&req(&format!("{base}/here"))).await.unwrap();
    assert_eq!(resp.body, serde_json::json!({"ok": true}));
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // One to another host over http:// is not: the 302 itself is the answer.
    let err = client
        .send(&req(&format!("{base}/away")))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(302), "{err}");
}
