//! The library's conveniences, by what reaches the mock and what comes back: bound values (to an API
//! parameter and to a SQL filter, with quotes, NULL), typed and serde row access, and a script's
//! results kept when a later statement fails.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use iql::{params, Cell, Engine, ErrorKind};
use iql_mock::{MockConfig, MockServer};

async fn setup(images: usize) -> (MockServer, Engine) {
    let m = MockServer::start(MockConfig {
        images,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let e = Engine::builder()
        .endpoint("digitalocean", &m.url())
        .credential("digitalocean", "token")
        .cache_ttl(std::time::Duration::ZERO)
        .build()
        .await
        .unwrap();
    (m, e)
}

#[tokio::test]
async fn a_bound_value_reaches_the_api_or_filters_in_sql() {
    let (m, e) = setup(50).await;
    let image = &m.images()[3];
    let id = image["id"].as_i64().unwrap();
    let s = e.session();
    // An API parameter: one GET of that image.
    let r = s
        .query(
            "SELECT id, name FROM digitalocean.compute.images WHERE image_id = $1",
            &params![id],
        )
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 1);
    let sent: Vec<String> = m.requests().into_iter().map(|r| r.uri).collect();
    assert_eq!(sent, [format!("/v2/images/{id}")]);
    // A SQL filter, with a value full of quotes and SQL: one literal, matching nothing.
    let r = s
        .query(
            "SELECT count(*) AS n FROM digitalocean.compute.images WHERE name = $1 OR name LIKE $2",
            &params!["x' OR '1'='1", image["name"].as_str().unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(r.iter().next().unwrap().get::<i64>("n").unwrap(), 1);
    // NULL, named placeholders, and the same value twice.
    let r = s
        .query_named(
            "SELECT :nothing IS NULL AS none, :kind AS k, :kind || '!' AS k2",
            &[
                ("nothing", Cell::from(None::<i64>)),
                ("kind", Cell::from("snap'shot")),
            ],
        )
        .await
        .unwrap();
    let row = r.iter().next().unwrap();
    assert_eq!(row.get::<i64>("none").unwrap(), 1);
    assert_eq!(row.get::<String>("k").unwrap(), "snap'shot");
    assert_eq!(row.get::<String>("k2").unwrap(), "snap'shot!");
    // A placeholder left without a value is an error naming it, before anything is sent.
    m.clear_requests();
    let err = s
        .query(
            "SELECT id FROM digitalocean.compute.images WHERE image_id = $2",
            &params![1],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Syntax);
    assert!(err.to_string().contains("no value for $2"), "{err}");
    assert!(m.requests().is_empty());
}

#[derive(serde::Deserialize, Debug)]
struct Image {
    id: i64,
    name: String,
    public: bool,
    regions: Vec<String>,
    slug: Option<String>,
}

#[tokio::test]
async fn rows_read_by_name_typed_or_into_structs() {
    let (_m, e) = setup(30).await;
    let r = e
        .query(
            "SELECT id, name, public, regions, slug FROM digitalocean.compute.images ORDER BY id LIMIT $1",
            &params![5],
        )
        .await
        .unwrap();
    let images: Vec<Image> = r.deserialize().unwrap();
    assert_eq!(images.len(), 5);
    for (image, row) in images.iter().zip(r.iter()) {
        assert_eq!(row.get::<i64>("id").unwrap(), image.id);
        assert_eq!(row.get::<String>("NAME").unwrap(), image.name);
        assert_eq!(row.get::<bool>("public").unwrap(), image.public);
        assert_eq!(row.get::<Option<String>>("slug").unwrap(), image.slug);
        assert_eq!(
            row.get::<serde_json::Value>("regions").unwrap(),
            serde_json::json!(image.regions)
        );
    }
    let row = r.iter().next().unwrap();
    let err = row.get::<i64>("name").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conversion);
    assert!(
        err.to_string()
            .starts_with("column name: expected an integer, found text"),
        "{err}"
    );
    let err = row.get::<i64>("nope").unwrap_err().to_string();
    assert!(
        err.contains("no column nope; it has id, name, public, regions, slug"),
        "{err}"
    );
}

#[tokio::test]
async fn a_script_keeps_what_ran_before_a_failure() {
    let (m, e) = setup(10).await;
    let ids: Vec<i64> = m
        .images()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    let outcome = e
        .execute_script(&format!(
            "DELETE FROM digitalocean.compute.images WHERE image_id = {}; SELECT nope FROM digitalocean.compute.images; SELECT 1",
            ids[0]
        ))
        .await;
    assert_eq!(outcome.results.len(), 1, "the DELETE ran");
    assert_eq!(outcome.results[0].affected, Some(1));
    let err = outcome.error.unwrap().to_string();
    assert!(err.contains("no such column: nope"), "{err}");
    assert_eq!(m.images().len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_stream_page_by_page_in_the_order_execute_gives() {
    let (m, e) = setup(1_000).await;
    let s = e.session();
    let sql = "SELECT id, name FROM digitalocean.compute.images WHERE name LIKE $1";
    let whole = s.query(sql, &params!["%"]).await.unwrap();
    m.clear_requests();
    let mut stream = s.query_stream(sql, &params!["%"]).await.unwrap();
    assert_eq!(stream.columns().len(), 2);
    let mut rows = Vec::new();
    while let Some(row) = stream.next_row().await {
        rows.push(row.unwrap());
    }
    assert_eq!(rows, whole.rows, "same rows, same order");
    let summary = stream.summary();
    assert!(summary.paged, "a one-table query streams page by page");
    assert_eq!(summary.stats.requests, 5);
    assert_eq!(m.request_count(), 5);
    // A sort needs every row first: the same stream, run whole.
    let mut sorted = s
        .query_stream(
            "SELECT id FROM digitalocean.compute.images ORDER BY id DESC",
            &[],
        )
        .await
        .unwrap();
    let first = sorted.next_row().await.unwrap().unwrap();
    assert!(!sorted.summary().paged);
    let max = m
        .images()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .max()
        .unwrap();
    assert_eq!(first, vec![Cell::Integer(max)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_stops_fetching() {
    let m = MockServer::start(MockConfig {
        images: 20_000,
        latency: std::time::Duration::from_millis(20),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let e = Engine::builder()
        .endpoint("digitalocean", &m.url())
        .credential("digitalocean", "token")
        .concurrency(2)
        .build()
        .await
        .unwrap();
    let s = e.session();
    let mut stream = s
        .query_stream("SELECT * FROM digitalocean.compute.images", &[])
        .await
        .unwrap();
    for _ in 0..10 {
        stream.next_row().await.unwrap().unwrap();
    }
    drop(stream);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let sent = m.request_count();
    // A reader that stopped after 10 rows does not cost the 100 pages of the list.
    assert!(sent < 30, "{sent} requests after the reader left");
}

/// A transaction is accepted, but an API call cannot be rolled back: a ROLLBACK after changes
/// says how many stand, and a ROLLBACK TO a savepoint counts only those after it.
#[tokio::test]
async fn a_rollback_says_which_changes_it_cannot_undo() {
    let (_mock, e) = setup(3).await;
    let insert = "INSERT INTO digitalocean.compute.images (name, url, region) VALUES ('a', 'http://x/a.img', 'ams3')";
    let results = e
        .execute(&format!(
            "BEGIN; {insert}; SAVEPOINT s; {insert}; {insert}; ROLLBACK TO SAVEPOINT s; ROLLBACK"
        ))
        .await
        .unwrap();
    let to_savepoint = &results[5].notices;
    assert_eq!(
        to_savepoint,
        &["ROLLBACK cannot undo the 2 changes sent to the API since SAVEPOINT s: an API call cannot be rolled back, so they stand".to_string()]
    );
    assert!(results[6].notices[0].contains("cannot undo the 3 changes sent to the API since BEGIN"));
    // Without changes, nothing to say.
    let quiet = e.execute("BEGIN; ROLLBACK").await.unwrap();
    assert!(quiet[1].notices.is_empty());
    let count = e
        .execute("SELECT count(*) FROM digitalocean.compute.images")
        .await
        .unwrap();
    assert_eq!(
        count[0].rows[0][0],
        iql::Cell::Integer(6),
        "the changes stand"
    );
}

/// A session whose database is a provider (a PostgreSQL client's `-d digitalocean`) reads
/// two-part names as that provider's tables, in queries, DESCRIBE and COPY; elsewhere a
/// two-part name is an error that names the full one.
#[tokio::test]
async fn two_part_names_in_a_providers_database() {
    let (_mock, e) = setup(3).await;
    let session = e.session();
    session.update_sql_context(|c| c.database = "digitalocean".to_string());
    let r = session
        .execute("SELECT count(*) FROM compute.images; DESCRIBE compute.images; COPY compute.images (id) TO STDOUT")
        .await
        .unwrap();
    assert_eq!(r[0].rows[0][0], Cell::Integer(3));
    assert!(r[1]
        .rows
        .iter()
        .any(|row| row[0] == Cell::Text("slug".into())));
    assert_eq!(r[2].rows.len(), 3);
    let other = e.session();
    let err = other
        .execute("SELECT count(*) FROM compute.images")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("did you mean digitalocean.compute.images"),
        "{err}"
    );
}
