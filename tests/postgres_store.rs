//! The store on a real PostgreSQL (started for each test, see `iql-test-postgres`): views shared by
//! engines that share nothing else, materialized views as typed tables other tools read, one
//! refresh where two engines ask at once, scheduled refreshes done once per interval, a server
//! that goes away in the middle of a refresh, a store of the previous version, and the errors a
//! user sees.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::{Duration, Instant};

use iql::{Cell, Engine};
use iql_mock::{MockConfig, MockServer};
use iql_store_postgres::{Environment, PostgresStore};
use iql_test_postgres::{TestPostgres, PASSWORD};

async fn mock(images: usize, latency_ms: u64) -> MockServer {
    MockServer::start(MockConfig {
        images,
        latency: Duration::from_millis(latency_ms),
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

/// A server with database `db` in it.
fn postgres(db: &str) -> TestPostgres {
    let pg = TestPostgres::start().unwrap();
    pg.create_database(db).unwrap();
    pg
}

/// An engine with its own connection to the store (as another server would have).
async fn engine(mock: &MockServer, pg: &TestPostgres, db: &str) -> Engine {
    Engine::builder()
        .endpoint("digitalocean", &mock.url())
        .credential("digitalocean", "token")
        .cache_ttl(Duration::ZERO)
        .max_retries(0)
        .store(pg.url_with_password(db))
        .build()
        .await
        .unwrap()
}

fn integer(r: &iql::QueryResult) -> i64 {
    match r.rows[0][0] {
        Cell::Integer(n) => n,
        ref other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn views_live_in_postgres_and_materialized_views_are_typed_tables() {
    let m = mock(120, 0).await;
    let pg = postgres("inventory");
    let a = engine(&m, &pg, "inventory").await;
    let b = engine(&m, &pg, "inventory").await;
    assert_eq!(
        a.store_location().unwrap(),
        format!("postgres://iql@127.0.0.1:{}/inventory", pg.port()),
        "the location has no password"
    );
    a.execute(
        "CREATE VIEW dists AS SELECT id, name FROM digitalocean.compute.images WHERE type = 'base'",
    )
    .await
    .unwrap();
    a.execute(
        "CREATE MATERIALIZED VIEW Snaps AS SELECT id, name, public, min_disk_size, size_gigabytes, regions \
         FROM digitalocean.compute.images WHERE type = 'snapshot'",
    )
    .await
    .unwrap();
    let expected = m
        .images()
        .iter()
        .filter(|i| i["type"] == "snapshot")
        .count() as i64;
    assert!(expected > 0);

    // Another engine (another server) sees both, and reads the materialized rows without a request.
    let sent = m.request_count();
    let r = b.execute("SELECT count(*) FROM snaps").await.unwrap();
    assert_eq!(integer(&r[0]), expected);
    let r = b
        .execute("SELECT name FROM snaps WHERE public = false ORDER BY id LIMIT 1")
        .await
        .unwrap();
    assert_eq!(r[0].rows.len(), 1);
    assert_eq!(
        m.request_count(),
        sent,
        "a materialized view is read from the store"
    );
    let shown = b.execute("SHOW VIEWS").await.unwrap();
    let names: Vec<String> = shown[0]
        .rows
        .iter()
        .map(|r| match &r[0] {
            Cell::Text(t) => t.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["dists", "Snaps"]);
    let r = b.execute("SELECT count(*) FROM dists").await.unwrap();
    assert!(integer(&r[0]) > 0);
    assert!(m.request_count() > sent, "a plain view fetches live");

    // psql reads the table without iql, with real types.
    assert_eq!(
        pg.psql("inventory", "SELECT count(*) FROM iql.snaps")
            .unwrap()
            .trim(),
        expected.to_string()
    );
    let types = pg
        .psql(
            "inventory",
            "SELECT column_name || ':' || data_type FROM information_schema.columns \
             WHERE table_schema = 'iql' AND table_name = 'snaps' ORDER BY ordinal_position",
        )
        .unwrap();
    assert_eq!(
        types.lines().collect::<Vec<_>>(),
        [
            "id:bigint",
            "name:text",
            "public:boolean",
            "min_disk_size:bigint",
            "size_gigabytes:double precision",
            "regions:jsonb"
        ]
    );
    assert_eq!(
        pg.psql(
            "inventory",
            "SELECT count(*) FROM iql.snaps WHERE jsonb_array_length(regions) > 0 AND NOT public"
        )
        .unwrap()
        .trim(),
        expected.to_string()
    );

    // A refresh keeps the table (and what was granted on it) and replaces the rows.
    let oid = pg
        .psql("inventory", "SELECT 'iql.snaps'::regclass::oid")
        .unwrap();
    b.execute("REFRESH MATERIALIZED VIEW snaps").await.unwrap();
    assert_eq!(
        pg.psql("inventory", "SELECT 'iql.snaps'::regclass::oid")
            .unwrap(),
        oid
    );
    a.execute("DROP MATERIALIZED VIEW snaps").await.unwrap();
    assert_eq!(
        pg.psql("inventory", "SELECT to_regclass('iql.snaps') IS NULL")
            .unwrap()
            .trim(),
        "t"
    );
    let e = b.execute("SELECT * FROM snaps").await.unwrap_err();
    assert!(e.to_string().contains("snaps"), "{e}");
}

#[tokio::test]
async fn two_engines_refreshing_one_view_at_once_fetch_it_once() {
    let m = mock(600, 40).await;
    let pg = postgres("inv");
    let a = engine(&m, &pg, "inv").await;
    let b = engine(&m, &pg, "inv").await;
    a.execute(
        "CREATE MATERIALIZED VIEW imgs AS SELECT id, name, type FROM digitalocean.compute.images",
    )
    .await
    .unwrap();
    let one_refresh = {
        let before = m.request_count();
        a.execute("REFRESH MATERIALIZED VIEW imgs").await.unwrap();
        m.request_count() - before
    };
    assert!(one_refresh >= 2, "several pages: {one_refresh}");
    let before = m.request_count();
    let (ra, rb) = tokio::join!(
        a.execute("REFRESH MATERIALIZED VIEW imgs"),
        b.execute("REFRESH MATERIALIZED VIEW imgs")
    );
    let messages: Vec<String> = [ra.unwrap(), rb.unwrap()]
        .iter()
        .map(|r| r[0].message.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        m.request_count() - before,
        one_refresh,
        "one refresh's requests for two REFRESH statements: {messages:?}"
    );
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.contains("refreshed meanwhile by another session"))
            .count(),
        1,
        "{messages:?}"
    );
    assert_eq!(
        pg.psql("inv", "SELECT count(*), count(DISTINCT id) FROM iql.imgs")
            .unwrap()
            .trim(),
        "600|600"
    );
}

#[tokio::test]
async fn a_scheduled_refresh_runs_on_one_engine_each_time() {
    let m = mock(30, 0).await;
    let pg = postgres("sched");
    let a = engine(&m, &pg, "sched").await;
    let b = engine(&m, &pg, "sched").await;
    a.execute(
        "CREATE MATERIALIZED VIEW imgs WITH (refresh_interval = '2 seconds') AS \
         SELECT id, name FROM digitalocean.compute.images",
    )
    .await
    .unwrap();
    let shown = a.execute("SHOW VIEWS LIKE 'imgs'").await.unwrap();
    assert_eq!(shown[0].rows[0][4], Cell::Text("2 seconds".into()));
    let created = m.request_count();
    // Both engines ask every 100 ms for 5 s; each refresh is one request (30 images, one page).
    let started = Instant::now();
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
    let requests = m.request_count() - created;
    assert_eq!(
        requests,
        (na + nb) as u64,
        "one request per refresh: {na} + {nb}"
    );
    assert!(
        (2..=3).contains(&(na + nb)),
        "every 2 seconds over 5 seconds, by one engine each time: {na} + {nb}"
    );
}

#[tokio::test]
async fn postgres_lost_during_a_refresh_fails_it_and_the_old_rows_stay() {
    let m = mock(400, 600).await;
    let mut pg = postgres("inv");
    let e = engine(&m, &pg, "inv").await;
    e.execute("CREATE MATERIALIZED VIEW imgs AS SELECT id FROM digitalocean.compute.images")
        .await
        .unwrap();
    let refresh = {
        let e = e.clone();
        tokio::spawn(async move { e.execute("REFRESH MATERIALIZED VIEW imgs").await })
    };
    // The refresh is fetching its pages (600 ms each, the first before the others) when
    // PostgreSQL goes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    pg.stop().unwrap();
    let err = refresh.await.unwrap().unwrap_err().to_string();
    assert!(
        err.contains("refresh of imgs failed") || err.contains("imgs"),
        "{err}"
    );
    assert!(
        err.contains("400 rows"),
        "it says which rows it kept: {err}"
    );
    assert!(
        err.contains(&format!("127.0.0.1:{}", pg.port())),
        "it names the server: {err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
    // The engine goes on: provider tables do not need the store.
    let r = e
        .execute("SELECT count(*) FROM digitalocean.compute.images WHERE type = 'base'")
        .await
        .unwrap();
    assert!(integer(&r[0]) > 0);
    // PostgreSQL comes back; the old rows are there and the store connects again.
    pg.start_again().unwrap();
    let r = e.execute("SELECT count(*) FROM imgs").await.unwrap();
    assert_eq!(integer(&r[0]), 400);
    // Every connection of the store's pool was cut: reads at once, on all of them, still work.
    let reads = (0..12).map(|_| e.execute("SELECT count(*) FROM imgs"));
    for r in futures::future::join_all(reads).await {
        assert_eq!(integer(&r.unwrap()[0]), 400);
    }
}

#[tokio::test]
async fn a_store_of_the_previous_version_is_migrated_and_a_newer_one_refused() {
    let m = mock(50, 0).await;
    let pg = postgres("old");
    let env = Environment {
        pgpassword: Some(PASSWORD.to_string()),
        ..Environment::default()
    };
    // What iql with store version 1 made: its tables, a view and a materialized view's table.
    let old = PostgresStore::connect_with(&pg.url("old"), &env, 1).unwrap();
    assert_eq!(old.schema_version().unwrap(), 1);
    drop(old);
    pg.psql(
        "old",
        "INSERT INTO iql_store.views (name, materialized, definition, created_at) \
             VALUES ('bases', false, 'SELECT id FROM digitalocean.compute.images WHERE type = ''base''', now()); \
         CREATE TABLE iql.kept (id bigint, name text); \
         INSERT INTO iql.kept VALUES (1, 'one'), (2, 'two'); \
         INSERT INTO iql_store.views (name, materialized, definition, created_at, refreshed_at, row_count) \
             VALUES ('kept', true, 'SELECT id, name FROM digitalocean.compute.images', now(), now(), 2);",
    )
    .unwrap();
    let e = engine(&m, &pg, "old").await;
    assert_eq!(
        pg.psql(
            "old",
            "SELECT value FROM iql_store.meta WHERE key = 'schema_version'"
        )
        .unwrap()
        .trim(),
        iql::STORE_SCHEMA_VERSION.to_string()
    );
    let r = e.execute("SELECT count(*) FROM kept").await.unwrap();
    assert_eq!(integer(&r[0]), 2);
    let r = e.execute("SELECT count(*) FROM bases").await.unwrap();
    assert!(integer(&r[0]) > 0);
    e.execute("REFRESH MATERIALIZED VIEW kept").await.unwrap();
    let r = e.execute("SELECT count(*) FROM kept").await.unwrap();
    assert_eq!(integer(&r[0]), 50);

    pg.psql(
        "old",
        "UPDATE iql_store.meta SET value = '99' WHERE key = 'schema_version'",
    )
    .unwrap();
    let err = PostgresStore::connect_with(&pg.url("old"), &env, iql::STORE_SCHEMA_VERSION)
        .unwrap_err()
        .to_string();
    assert!(err.contains("newer iql (store version 99"), "{err}");
}

#[tokio::test]
async fn an_unreachable_store_is_named_without_its_password() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = Engine::builder()
        .store(format!(
            "postgres://ops:hunter2@127.0.0.1:{port}/inv?connect_timeout=3"
        ))
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("postgres://ops@127.0.0.1"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let pg = postgres("inv");
    let err = Engine::builder()
        .store(format!(
            "postgres://iql:wrong-password@127.0.0.1:{}/inv",
            pg.port()
        ))
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("wrong-password"), "{err}");
}

#[tokio::test]
async fn tls_is_used_when_the_url_asks_for_it() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tls");
    let mut pg = postgres("inv");
    pg.enable_tls(&fixtures.join("server.crt"), &fixtures.join("server.key"))
        .unwrap();
    let m = mock(10, 0).await;
    // iql's connections: "encrypted|plain".
    let encrypted = || {
        pg.psql(
            "inv",
            "SELECT count(*) FILTER (WHERE ssl) || '|' || count(*) FILTER (WHERE NOT ssl) \
             FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE application_name = 'iql'",
        )
        .unwrap()
        .trim()
        .to_string()
    };
    let store = |query: String| {
        Engine::builder()
            .endpoint("digitalocean", &m.url())
            .credential("digitalocean", "token")
            .store(format!("{}?{query}", pg.url_with_password("inv")))
            .build()
    };
    for query in [
        "sslmode=require".to_string(),
        format!(
            "sslmode=verify-full&sslrootcert={}",
            fixtures.join("ca.crt").display()
        ),
        format!(
            "sslmode=verify-ca&sslrootcert={}",
            fixtures.join("ca.crt").display()
        ),
    ] {
        let e = store(query.clone()).await.unwrap();
        e.execute("CREATE OR REPLACE VIEW v AS SELECT id FROM digitalocean.compute.images")
            .await
            .unwrap();
        let seen = encrypted();
        assert!(
            seen.ends_with("|0") && !seen.starts_with("0|"),
            "{query}: {seen}"
        );
        drop(e);
        // The store's connections close with its engine.
        let gone = Instant::now();
        while encrypted() != "0|0" && gone.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(encrypted(), "0|0");
    }
    // A server whose certificate no trusted authority signed is refused when verifying.
    let err = store(format!(
        "sslmode=verify-full&sslrootcert={}",
        fixtures.join("server.crt").display()
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("certificate"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
}

#[tokio::test]
async fn queries_of_a_materialized_view_answer_as_on_the_sqlite_store() {
    let m = mock(300, 0).await;
    let pg = postgres("same");
    let on_pg = engine(&m, &pg, "same").await;
    let on_sqlite = Engine::builder()
        .endpoint("digitalocean", &m.url())
        .credential("digitalocean", "token")
        .cache_ttl(Duration::ZERO)
        .build()
        .await
        .unwrap();
    let define = "CREATE MATERIALIZED VIEW inv AS SELECT id, name, type, public, min_disk_size, \
                  size_gigabytes, regions, distribution FROM digitalocean.compute.images";
    on_pg.execute(define).await.unwrap();
    on_sqlite.execute(define).await.unwrap();
    let first = m.images()[3].clone();
    let (id, name) = (
        first["id"].as_i64().unwrap(),
        first["name"].as_str().unwrap(),
    );
    // Conditions PostgreSQL filters, conditions it leaves to SQLite, columns it leaves out.
    for sql in [
        "SELECT count(*) FROM inv".to_string(),
        "SELECT count(*) FROM inv WHERE type = 'snapshot'".to_string(),
        format!("SELECT id, name FROM inv WHERE id = {id}"),
        format!("SELECT id FROM inv WHERE id IN ('{id}', 1, 2)"),
        format!("SELECT * FROM inv WHERE name = '{}'", name.replace('\'', "''")),
        "SELECT type, count(*), sum(size_gigabytes) FROM inv WHERE public = true GROUP BY type ORDER BY type".to_string(),
        "SELECT count(*) FROM inv WHERE public = 1 AND min_disk_size IN (20, 25)".to_string(),
        "SELECT count(*) FROM inv WHERE size_gigabytes = 2.5 OR distribution = 'Ubuntu'".to_string(),
        "SELECT i.name FROM inv i JOIN inv j ON j.id = i.id WHERE i.type = 'base' ORDER BY i.id LIMIT 3".to_string(),
        "SELECT count(*) FROM inv, json_each(inv.regions) r WHERE r.value = 'nyc3' AND inv.type = 'base'".to_string(),
        "SELECT count(*) FROM inv WHERE id = 'seven'".to_string(),
    ] {
        let a = on_pg.execute(&sql).await.unwrap();
        let b = on_sqlite.execute(&sql).await.unwrap();
        assert_eq!(a[0].rows, b[0].rows, "{sql}");
        assert_eq!(
            a[0].columns.iter().map(|c| &c.name).collect::<Vec<_>>(),
            b[0].columns.iter().map(|c| &c.name).collect::<Vec<_>>(),
            "{sql}"
        );
    }
}

#[tokio::test]
async fn kept_answers_are_shared_through_postgres_when_asked() {
    let m = mock(50, 0).await;
    let pg = postgres("cache");
    let keeping = || {
        Engine::builder()
            .endpoint("digitalocean", &m.url())
            .credential("digitalocean", "s3cret-t0ken")
            .persist_cache(true)
            .store(pg.url_with_password("cache"))
            .build()
    };
    let (a, b) = (keeping().await.unwrap(), keeping().await.unwrap());
    let sql = "SELECT count(*) FROM digitalocean.compute.images";
    a.execute(sql).await.unwrap();
    let sent = m.request_count();
    assert!(sent > 0);
    let r = b.execute(sql).await.unwrap();
    assert_eq!(integer(&r[0]), 50);
    assert_eq!(
        m.request_count(),
        sent,
        "the other engine used the kept answer"
    );
    // Another token never gets them.
    let other = Engine::builder()
        .endpoint("digitalocean", &m.url())
        .credential("digitalocean", "another-token")
        .persist_cache(true)
        .store(pg.url_with_password("cache"))
        .build()
        .await
        .unwrap();
    other.execute(sql).await.unwrap();
    assert!(m.request_count() > sent);
    assert_eq!(
        pg.psql(
            "cache",
            "SELECT count(*) FROM iql_store.cache WHERE position('s3cret-t0ken'::bytea in key) > 0 \
             OR position('s3cret-t0ken'::bytea in body) > 0 OR url LIKE '%s3cret%'"
        )
            .unwrap()
            .trim(),
        "0",
        "the token is nowhere in the kept answers"
    );
}
