//! Many sessions on one engine: each with settings of its own, all sharing the HTTP client and
//! its one concurrency bound.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use iql::{Cell, Engine};
use iql_mock::{MockConfig, MockServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sessions_run_at_once_each_with_its_own_settings() {
    let mock = MockServer::start(MockConfig {
        images: 1_000,
        latency: Duration::from_millis(20),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let engine = Engine::builder()
        .endpoint("digitalocean", &mock.url())
        .credential("digitalocean", "t")
        .concurrency(4)
        .build()
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..50u64 {
        let mut session = engine.session();
        // Every other session reads one page only; the others every page.
        let capped = i % 2 == 0;
        if capped {
            session.settings_mut().max_pages = Some(1);
        }
        tasks.push(tokio::spawn(async move {
            let sql = format!(
                "SELECT count(*), {i} AS session FROM digitalocean.compute.images WHERE id > 0"
            );
            let r = session.execute(&sql).await.unwrap();
            (i, capped, r.into_iter().next().unwrap())
        }));
    }
    for t in tasks {
        let (i, capped, r) = t.await.unwrap();
        let expected = if capped { 200 } else { 1_000 };
        assert_eq!(r.rows[0][0], Cell::Integer(expected), "session {i}");
        assert_eq!(r.rows[0][1], Cell::Integer(i as i64));
        assert_eq!(r.notices.iter().any(|n| n.contains("page cap")), capped);
    }
    // 25 sessions read 5 pages, 25 read 1: the same five pages, each asked for once (the
    // response cache shares them, in flight or kept); all under the one bound of 4.
    assert_eq!(mock.request_count(), 5);
    assert!(mock.max_in_flight() <= 4, "{}", mock.max_in_flight());
    // The engine's own session kept the engine's settings.
    let r = engine
        .execute("SELECT count(*) FROM digitalocean.compute.images")
        .await
        .unwrap();
    assert_eq!(r[0].rows[0][0], Cell::Integer(1_000));
}

#[tokio::test]
async fn a_session_setting_stays_in_its_session() {
    let mock = MockServer::start(MockConfig {
        images: 5,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let engine = Engine::builder()
        .endpoint("digitalocean", &mock.url())
        .credential("digitalocean", "t")
        .build()
        .await
        .unwrap();
    let mut dry = engine.session();
    dry.settings_mut().dry_run = true;
    let live = engine.session();
    let sql = "DELETE FROM digitalocean.compute.images WHERE image_id = 100003";
    let shown = dry.execute(sql).await.unwrap();
    assert_eq!(shown[0].columns[0].name, "method");
    assert_eq!(mock.request_count(), 0, "a dry run sends nothing");
    live.execute(sql).await.unwrap();
    assert_eq!(mock.request_count(), 1, "the other session really deletes");
    assert!(!engine.session().settings().dry_run);
}
