//! The response cache, by what reaches the mock: a kept page sends nothing, an old one is fetched
//! again, a change drops what it may have changed, two readers of one page send one request, and
//! two credentials never share an answer.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use iql::{Cell, Engine};
use iql_mock::{MockConfig, MockServer};

async fn mock(images: usize, latency_ms: u64) -> MockServer {
    MockServer::start(MockConfig {
        images,
        latency: Duration::from_millis(latency_ms),
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

fn engine(mock: &MockServer) -> iql::EngineBuilder {
    Engine::builder()
        .endpoint("digitalocean", &mock.url())
        .credential("digitalocean", "token-a")
}

const COUNT: &str = "SELECT count(*) FROM digitalocean.compute.images";

#[tokio::test]
async fn a_kept_page_sends_nothing() {
    let m = mock(1_000, 0).await;
    let e = engine(&m).build().await.unwrap();
    let first = e.execute(COUNT).await.unwrap();
    assert_eq!(first[0].stats.requests, 5);
    assert_eq!(first[0].stats.from_cache, 0);
    let again = e.execute(COUNT).await.unwrap();
    assert_eq!(again[0].rows[0][0], Cell::Integer(1_000));
    assert_eq!(again[0].stats.requests, 0);
    assert_eq!(again[0].stats.from_cache, 5);
    assert_eq!(m.request_count(), 5);
    // Another session of the same engine, and another statement reading the same pages.
    let s = e.session();
    s.execute("SELECT max(id) FROM digitalocean.compute.images WHERE name LIKE '%'")
        .await
        .unwrap();
    assert_eq!(m.request_count(), 5);
}

#[tokio::test]
async fn an_answer_older_than_the_ttl_is_fetched_again() {
    let m = mock(10, 0).await;
    let e = engine(&m)
        .cache_ttl(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    e.execute(COUNT).await.unwrap();
    e.execute(COUNT).await.unwrap();
    assert_eq!(m.request_count(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = e.execute(COUNT).await.unwrap();
    assert_eq!(r[0].stats.requests, 1);
    assert_eq!(m.request_count(), 2);
}

#[tokio::test]
async fn a_session_can_turn_the_cache_off_for_itself() {
    let m = mock(10, 0).await;
    let e = engine(&m).build().await.unwrap();
    let mut off = e.session();
    off.settings_mut().cache_ttl = Some(Duration::ZERO);
    off.execute(COUNT).await.unwrap();
    off.execute(COUNT).await.unwrap();
    assert_eq!(m.request_count(), 2);
    // It neither used the cache nor filled it; the engine's own session still uses it.
    e.execute(COUNT).await.unwrap();
    e.execute(COUNT).await.unwrap();
    assert_eq!(m.request_count(), 3);
}

#[tokio::test]
async fn a_change_drops_what_it_may_have_changed() {
    let m = mock(40, 0).await;
    let e = engine(&m).build().await.unwrap();
    let ids = "SELECT id FROM digitalocean.compute.images WHERE private = true ORDER BY id";
    let before = e.execute(ids).await.unwrap();
    let victim = before[0].rows[0][0].clone();
    let Cell::Integer(victim) = victim else {
        panic!("{victim:?}")
    };
    e.execute(&format!(
        "DELETE FROM digitalocean.compute.images WHERE image_id = {victim}"
    ))
    .await
    .unwrap();
    let after = e.execute(ids).await.unwrap();
    assert_eq!(after[0].stats.from_cache, 0, "the list was fetched again");
    assert_eq!(after[0].rows.len(), before[0].rows.len() - 1);
    assert!(!after[0].rows.iter().any(|r| r[0] == Cell::Integer(victim)));
    // An action started by EXEC drops it too.
    e.execute(ids).await.unwrap();
    let sent = m.request_count();
    e.execute(&format!(
        "EXEC digitalocean.compute.images.convert @image_id = '{}'",
        match &after[0].rows[0][0] {
            Cell::Integer(i) => *i,
            other => panic!("{other:?}"),
        }
    ))
    .await
    .unwrap();
    e.execute(ids).await.unwrap();
    assert_eq!(m.request_count(), sent + 2, "the EXEC, and the list again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_readers_of_one_page_at_once_send_one_request() {
    let m = mock(1_000, 100).await;
    let e = engine(&m).build().await.unwrap();
    let (a, b) = (e.session(), e.session());
    let (ra, rb) = tokio::join!(a.execute(COUNT), b.execute(COUNT));
    assert_eq!(ra.unwrap()[0].rows[0][0], Cell::Integer(1_000));
    assert_eq!(rb.unwrap()[0].rows[0][0], Cell::Integer(1_000));
    assert_eq!(m.request_count(), 5, "five pages, each asked for once");
}

#[tokio::test]
async fn two_credentials_never_share_an_answer() {
    let m = mock(10, 0).await;
    let e = engine(&m).build().await.unwrap();
    let mut other = e.session();
    other
        .settings_mut()
        .credentials
        .insert("digitalocean".to_string(), iql::Credential::new("token-b"));
    e.execute(COUNT).await.unwrap();
    let r = other.execute(COUNT).await.unwrap();
    assert_eq!(r[0].stats.from_cache, 0);
    assert_eq!(m.request_count(), 2);
    // Each is kept for its own credential.
    other.execute(COUNT).await.unwrap();
    e.execute(COUNT).await.unwrap();
    assert_eq!(m.request_count(), 2);
}

#[tokio::test]
async fn a_zero_ttl_turns_the_cache_off() {
    let m = mock(10, 0).await;
    let e = engine(&m).cache_ttl(Duration::ZERO).build().await.unwrap();
    e.execute(COUNT).await.unwrap();
    e.execute(COUNT).await.unwrap();
    assert_eq!(m.request_count(), 2);
    assert_eq!(e.cache_size().0, 0);
}
