//! Views and materialized views by what reaches the mock and what the store holds: a condition on a
//! view is sent to the API, a materialized view is read without a request (by another engine on the
//! same store file too), a refresh is seen whole or not at all, and a failed refresh keeps the old
//! rows and says so.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;
use std::time::Duration;

use iql::{Cell, Engine};
use iql_mock::{MockConfig, MockServer};

async fn mock(images: usize) -> MockServer {
    MockServer::start(MockConfig {
        images,
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

/// A store file of its own in the temp folder, removed at the end of the test.
struct StoreFile(PathBuf);

impl StoreFile {
    fn new(name: &str) -> StoreFile {
        let p =
            std::env::temp_dir().join(format!("iql-views-{}-{name}.sqlite", std::process::id()));
        let s = StoreFile(p);
        s.remove();
        s
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Drop for StoreFile {
    fn drop(&mut self) {
        self.remove();
    }
}

async fn engine(url: &str, store: &StoreFile) -> Engine {
    Engine::builder()
        .endpoint("digitalocean", url)
        .credential("digitalocean", "token")
        .cache_ttl(Duration::ZERO)
        .max_retries(0)
        .store(&store.0)
        .build()
        .await
        .unwrap()
}

fn count(results: &[iql::QueryResult]) -> i64 {
    match results.last().unwrap().rows[0][0] {
        Cell::Integer(n) => n,
        ref other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_condition_on_a_view_is_sent_to_the_api() {
    let m = mock(500).await;
    let store = StoreFile::new("pushdown");
    let e = engine(&m.url(), &store).await;
    e.execute("CREATE VIEW my_images AS SELECT * FROM digitalocean.compute.images")
        .await
        .unwrap();
    assert_eq!(m.request_count(), 0, "a plain view fetches nothing");
    let id = m.images()[7]["id"].as_i64().unwrap();
    let r = e
        .execute(&format!(
            "SELECT id, name FROM my_images WHERE image_id = {id}"
        ))
        .await
        .unwrap();
    assert_eq!(r[0].rows.len(), 1);
    assert_eq!(r[0].rows[0][0], Cell::Integer(id));
    let sent: Vec<String> = m.requests().into_iter().map(|r| r.uri).collect();
    assert_eq!(sent, [format!("/v2/images/{id}")]);
    // The same through an alias and a view of the view, and IN with two values.
    m.clear_requests();
    e.execute("CREATE VIEW mine AS SELECT id, name, image_id AS wanted FROM my_images")
        .await
        .unwrap();
    let r = e
        .execute(&format!(
            "SELECT m.id FROM mine AS m WHERE m.wanted IN ({id}, {}) ORDER BY 1",
            id + 1
        ))
        .await
        .unwrap();
    assert!(!r[0].rows.is_empty());
    let mut sent: Vec<String> = m.requests().into_iter().map(|r| r.uri).collect();
    sent.sort();
    assert_eq!(
        sent,
        [format!("/v2/images/{id}"), format!("/v2/images/{}", id + 1)]
    );
}

#[tokio::test]
async fn a_materialized_view_is_read_without_requests_by_any_engine_on_the_store() {
    let m = mock(450).await;
    let store = StoreFile::new("shared");
    let a = engine(&m.url(), &store).await;
    let made = a
        .execute("CREATE MATERIALIZED VIEW imgs AS SELECT id, name, type FROM digitalocean.compute.images")
        .await
        .unwrap();
    assert_eq!(made[0].affected, Some(450));
    assert_eq!(made[0].stats.requests, 3);
    let before = m.request_count();
    // Another engine (another process would be the same: one file, WAL) reads the rows.
    let b = engine(&m.url(), &store).await;
    let r = b
        .execute("SELECT count(*) FROM imgs WHERE type = 'snapshot'")
        .await
        .unwrap();
    assert!(count(&r) > 0);
    assert_eq!(r[0].stats.requests, 0);
    assert_eq!(m.request_count(), before);
    let shown = b.execute("SHOW VIEWS").await.unwrap();
    assert_eq!(shown[0].rows[0][0], Cell::Text("imgs".into()));
    assert_eq!(shown[0].rows[0][2], Cell::Integer(450));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_a_refresh_whole_or_not_at_all() {
    let m = mock(2_000).await;
    let store = StoreFile::new("atomic");
    let writer = engine(&m.url(), &store).await;
    writer
        .execute("CREATE MATERIALIZED VIEW imgs AS SELECT * FROM digitalocean.compute.images")
        .await
        .unwrap();
    let reader = engine(&m.url(), &store).await;
    let refreshing = tokio::spawn(async move {
        for _ in 0..5 {
            writer
                .execute("REFRESH MATERIALIZED VIEW imgs")
                .await
                .unwrap();
        }
    });
    let mut reads = 0;
    while !refreshing.is_finished() {
        let r = reader.execute("SELECT count(*) FROM imgs").await.unwrap();
        assert_eq!(count(&r), 2_000, "a reader saw a refresh half done");
        reads += 1;
        tokio::task::yield_now().await;
    }
    refreshing.await.unwrap();
    assert!(reads > 0);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_old_rows_and_says_so() {
    let m = mock(30).await;
    let store = StoreFile::new("failed");
    let e = engine(&m.url(), &store).await;
    e.execute("CREATE MATERIALIZED VIEW imgs AS SELECT id FROM digitalocean.compute.images")
        .await
        .unwrap();
    // The same store, and an API that answers nothing (a closed port on loopback).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let broken = engine(&format!("http://{closed}"), &store).await;
    let err = broken
        .execute("REFRESH MATERIALIZED VIEW imgs")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("REFRESH MATERIALIZED VIEW imgs failed, so it keeps its rows from "),
        "{err}"
    );
    assert!(err.contains("(30 rows)"), "{err}");
    let r = broken.execute("SELECT count(*) FROM imgs").await.unwrap();
    assert_eq!(count(&r), 30);
}

#[tokio::test]
async fn an_engine_without_a_store_path_keeps_views_in_a_file_it_removes() {
    let m = mock(5).await;
    let e = Engine::builder()
        .endpoint("digitalocean", &m.url())
        .credential("digitalocean", "token")
        .build()
        .await
        .unwrap();
    e.execute("CREATE MATERIALIZED VIEW v AS SELECT id FROM digitalocean.compute.images")
        .await
        .unwrap();
    let path = PathBuf::from(e.store_location().unwrap());
    assert!(path.exists());
    drop(e);
    assert!(!path.exists(), "{} is left behind", path.display());
}

#[tokio::test]
async fn a_refresh_that_meets_500s_keeps_the_old_rows() {
    let good = mock(12).await;
    let store = StoreFile::new("fivehundreds");
    let e = engine(&good.url(), &store).await;
    e.execute("CREATE MATERIALIZED VIEW imgs AS SELECT id FROM digitalocean.compute.images")
        .await
        .unwrap();
    let failing = MockServer::start(MockConfig {
        images: 40,
        error_rate: 1.0,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let broken = engine(&failing.url(), &store).await;
    let err = broken
        .execute("REFRESH MATERIALIZED VIEW imgs")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("keeps its rows from "), "{err}");
    assert!(err.contains("(12 rows)"), "{err}");
    assert!(err.contains("500"), "{err}");
    let r = e.execute("SELECT count(*) FROM imgs").await.unwrap();
    assert_eq!(count(&r), 12);
}

/// A store that statements cannot attach (as a PostgreSQL one would be): the SQLite store behind
/// it, with `local_file` hidden.
#[derive(Debug)]
struct Unattachable(iql::SqliteStore);

impl iql::Store for Unattachable {
    fn location(&self) -> String {
        self.0.location()
    }
    fn local_file(&self) -> Option<&std::path::Path> {
        None
    }
    fn view(&self, name: &str) -> Result<Option<iql::ViewRecord>, iql::Error> {
        self.0.view(name)
    }
    fn views(&self) -> Result<Vec<iql::ViewRecord>, iql::Error> {
        self.0.views()
    }
    fn create_view(&self, name: &str, definition: &str, replace: bool) -> Result<(), iql::Error> {
        self.0.create_view(name, definition, replace)
    }
    fn materialize(
        &self,
        name: &str,
        definition: &str,
        columns: &[iql::ResultColumn],
        rows: &[Vec<Cell>],
        create: Option<bool>,
        refresh_interval: Option<i64>,
    ) -> Result<iql::ViewRecord, iql::Error> {
        self.0
            .materialize(name, definition, columns, rows, create, refresh_interval)
    }
    fn try_lock_refresh(&self, name: &str) -> Result<Option<iql::RefreshLock>, iql::Error> {
        self.0.try_lock_refresh(name)
    }
    fn due_views(&self) -> Result<Vec<iql::ViewRecord>, iql::Error> {
        self.0.due_views()
    }
    fn note_attempt(&self, name: &str, error: Option<&str>) -> Result<(), iql::Error> {
        self.0.note_attempt(name, error)
    }
    fn drop_view(&self, name: &str) -> Result<Option<iql::ViewRecord>, iql::Error> {
        self.0.drop_view(name)
    }
    fn columns_of(&self, name: &str) -> Result<Vec<iql::ResultColumn>, iql::Error> {
        self.0.columns_of(name)
    }
    fn rows_for_query(
        &self,
        name: &str,
        columns: Option<&std::collections::HashSet<String>>,
        filters: &[iql::StoredFilter],
    ) -> Result<(Vec<iql::ResultColumn>, Vec<Vec<Cell>>), iql::Error> {
        self.0.rows_for_query(name, columns, filters)
    }
    fn cache_secret(&self) -> Result<[u8; 32], iql::Error> {
        self.0.cache_secret()
    }
    fn cached_answer(&self, key: &[u8]) -> Result<Option<iql::StoredAnswer>, iql::Error> {
        self.0.cached_answer(key)
    }
    fn keep_answer(
        &self,
        key: &[u8],
        url: &str,
        answer: &iql::StoredAnswer,
        max_age: Duration,
    ) -> Result<(), iql::Error> {
        self.0.keep_answer(key, url, answer, max_age)
    }
    fn forget_answers(&self, origin: &str) -> Result<(), iql::Error> {
        self.0.forget_answers(origin)
    }
}

#[tokio::test]
async fn a_store_that_cannot_be_attached_serves_its_rows_by_copy() {
    let m = mock(80).await;
    let store = StoreFile::new("copied");
    let custom = std::sync::Arc::new(Unattachable(iql::SqliteStore::open(&store.0).unwrap()));
    let e = Engine::builder()
        .endpoint("digitalocean", &m.url())
        .credential("digitalocean", "token")
        .custom_store(custom)
        .build()
        .await
        .unwrap();
    e.execute(
        "CREATE MATERIALIZED VIEW imgs AS SELECT id, type, public FROM digitalocean.compute.images",
    )
    .await
    .unwrap();
    let sent = m.request_count();
    for _ in 0..2 {
        // Twice: the copy of the first statement is gone before the second makes its own.
        let r = e
            .execute("SELECT count(*) FROM imgs i JOIN imgs j ON i.id = j.id WHERE i.public IN (true, false)")
            .await
            .unwrap();
        assert_eq!(count(&r), 80);
    }
    assert_eq!(m.request_count(), sent);
}

/// The store's tables as iql with store version 1 wrote them (before refresh schedules).
const STORE_V1: &str = "
    CREATE TABLE iql_meta (key TEXT PRIMARY KEY, value);
    CREATE TABLE iql_views (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        materialized INTEGER NOT NULL,
        definition TEXT NOT NULL,
        created_at TEXT NOT NULL,
        refreshed_at TEXT,
        row_count INTEGER);
    CREATE TABLE iql_cache (
        key BLOB PRIMARY KEY,
        url TEXT NOT NULL,
        status INTEGER NOT NULL,
        body BLOB NOT NULL,
        received_at REAL NOT NULL);
    INSERT INTO iql_meta (key, value) VALUES ('schema_version', 1);
    INSERT INTO iql_views VALUES ('bases', 0, 'SELECT id FROM digitalocean.compute.images WHERE type = ''base''', '2026-11-01T10:00:00.000Z', NULL, NULL);
    CREATE TABLE kept (id INTEGER, name TEXT);
    INSERT INTO kept VALUES (1, 'one'), (2, 'two');
    INSERT INTO iql_views VALUES ('kept', 1, 'SELECT id, name FROM digitalocean.compute.images', '2026-11-01T10:00:00.000Z', '2026-11-01T10:00:00.000Z', 2);";

#[tokio::test]
async fn a_store_file_of_the_previous_version_is_migrated() {
    let m = mock(40).await;
    let store = StoreFile::new("version1");
    rusqlite::Connection::open(&store.0)
        .unwrap()
        .execute_batch(STORE_V1)
        .unwrap();
    let e = engine(&m.url(), &store).await;
    let r = e.execute("SELECT count(*) FROM kept").await.unwrap();
    assert_eq!(count(&r), 2);
    let r = e.execute("SELECT count(*) FROM bases").await.unwrap();
    assert!(count(&r) > 0);
    e.execute("CREATE MATERIALIZED VIEW timed WITH (refresh_interval = '1 hour') AS SELECT id FROM digitalocean.compute.images")
        .await
        .unwrap();
    let shown = e.execute("SHOW VIEWS LIKE 'timed'").await.unwrap();
    assert_eq!(shown[0].rows[0][4], Cell::Text("1 hour".into()));
    e.execute("REFRESH MATERIALIZED VIEW kept").await.unwrap();
    let r = e.execute("SELECT count(*) FROM kept").await.unwrap();
    assert_eq!(count(&r), 40);
    let version: i64 = rusqlite::Connection::open(&store.0)
        .unwrap()
        .query_row(
            "SELECT value FROM iql_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, iql::STORE_SCHEMA_VERSION);
}

#[tokio::test]
async fn a_scheduled_refresh_on_a_store_file_runs_in_one_engine_each_time() {
    let m = mock(30).await;
    let store = StoreFile::new("schedule");
    let a = engine(&m.url(), &store).await;
    let b = engine(&m.url(), &store).await;
    a.execute(
        "CREATE MATERIALIZED VIEW imgs WITH (refresh_interval = '2 seconds') AS \
         SELECT id, name FROM digitalocean.compute.images",
    )
    .await
    .unwrap();
    let created = m.request_count();
    let started = std::time::Instant::now();
    let run = |e: Engine| async move {
        let mut done = 0;
        while started.elapsed() < Duration::from_secs(5) {
            for r in e.refresh_due_views().await {
                r.outcome.unwrap();
                done += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        done
    };
    let (na, nb) = tokio::join!(run(a.clone()), run(b.clone()));
    assert_eq!(m.request_count() - created, (na + nb) as u64);
    assert!((2..=3).contains(&(na + nb)), "{na} + {nb}");
}

#[tokio::test]
async fn a_failed_scheduled_refresh_keeps_the_rows_says_why_and_waits_an_interval() {
    let good = mock(12).await;
    let store = StoreFile::new("scheduled-failure");
    let e = engine(&good.url(), &store).await;
    e.execute(
        "CREATE MATERIALIZED VIEW imgs WITH (refresh_interval = '1 second') AS \
         SELECT id FROM digitalocean.compute.images",
    )
    .await
    .unwrap();
    let failing = MockServer::start(MockConfig {
        error_rate: 1.0,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let broken = engine(&failing.url(), &store).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let done = broken.refresh_due_views().await;
    assert_eq!(done.len(), 1);
    let err = done[0].outcome.as_ref().unwrap_err().to_string();
    assert!(err.contains("(12 rows)") && err.contains("500"), "{err}");
    // Not tried again before an interval has passed; the error is shown meanwhile.
    let sent = failing.request_count();
    assert!(broken.refresh_due_views().await.is_empty());
    assert_eq!(failing.request_count(), sent);
    let shown = e.execute("SHOW VIEWS LIKE 'imgs'").await.unwrap();
    match &shown[0].rows[0][5] {
        Cell::Text(t) => assert!(t.contains("500"), "{t}"),
        other => panic!("no last_error: {other:?}"),
    }
    let r = e.execute("SELECT count(*) FROM imgs").await.unwrap();
    assert_eq!(count(&r), 12);
    // An interval later it is due again, and a refresh that works clears the error.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let done = e.refresh_due_views().await;
    assert_eq!(done.len(), 1);
    assert!(done[0].outcome.is_ok());
    let shown = e.execute("SHOW VIEWS LIKE 'imgs'").await.unwrap();
    assert_eq!(shown[0].rows[0][5], Cell::Null);
}
