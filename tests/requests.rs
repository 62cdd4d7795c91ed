//! What iql sends: URLs, parameters, page sizes, request counts and concurrency, checked against the
//! mock's request log, plus the failures only a scripted server can produce.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use iql::{Engine, ErrorKind, SandboxConfig};
use iql_mock::{MockConfig, MockServer};

/// These tests count what each statement sends, so the response cache (tested in cache.rs) is off.
async fn engine_for(mock: &MockServer, concurrency: usize) -> Engine {
    Engine::builder()
        .cache_ttl(Duration::ZERO)
        .endpoint("digitalocean", &mock.url())
        .credential("digitalocean", "test-token-123")
        .concurrency(concurrency)
        .retry_backoff(Duration::from_millis(1))
        .build()
        .await
        .unwrap()
}

/// A builder aimed at `base` with a token, for the tests that need more settings.
fn at(base: &str) -> iql::EngineBuilder {
    Engine::builder()
        .cache_ttl(Duration::ZERO)
        .endpoint("digitalocean", base)
        .credential("digitalocean", "t")
}

async fn mock(images: usize) -> MockServer {
    MockServer::start(MockConfig {
        images,
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

fn uris(mock: &MockServer) -> Vec<String> {
    let mut u: Vec<String> = mock
        .requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect();
    u.sort();
    u
}

#[tokio::test]
async fn the_type_parameter_is_sent_only_for_values_it_allows() {
    let m = mock(30).await;
    let e = engine_for(&m, 8).await;
    e.execute("SELECT id FROM digitalocean.compute.images WHERE type = 'distribution'")
        .await
        .unwrap();
    assert_eq!(uris(&m), ["GET /v2/images?type=distribution&per_page=200"]);
    m.clear_requests();
    e.execute("SELECT id FROM digitalocean.compute.images WHERE type = 'snapshot'")
        .await
        .unwrap();
    assert_eq!(uris(&m), ["GET /v2/images?per_page=200"]);
}

#[tokio::test]
async fn the_seed_list_example_sends_the_parameters_digitalocean_honours() {
    let m = mock(30).await;
    let e = engine_for(&m, 8).await;
    e.execute(
        "SELECT id FROM digitalocean.compute.images WHERE type = 'application' AND private = 'false' \
         AND tag_name = 'base image' AND per_page = '20' AND page = '1'",
    )
    .await
    .unwrap();
    // `private=false` is no filter to DigitalOcean ("used to filter only user images"): it is
    // not sent, and SQL keeps the rows whose private (NOT public) is false.
    assert_eq!(
        uris(&m),
        ["GET /v2/images?type=application&tag_name=base+image&per_page=20&page=1"]
    );
    m.clear_requests();
    e.execute("SELECT id FROM digitalocean.compute.images WHERE private = 'true'")
        .await
        .unwrap();
    assert_eq!(uris(&m), ["GET /v2/images?private=true&per_page=200"]);
}

#[tokio::test]
async fn in_lists_fan_out_one_request_per_value_and_path_values_are_encoded() {
    let m = mock(30).await;
    let e = engine_for(&m, 8).await;
    let r = e
        .execute("SELECT id FROM digitalocean.compute.images WHERE image_id IN (100003, 'debian-12-x64', 100010)")
        .await
        .unwrap();
    assert_eq!(r[0].rows.len(), 3);
    assert_eq!(
        uris(&m),
        [
            "GET /v2/images/100003",
            "GET /v2/images/100010",
            "GET /v2/images/debian-12-x64"
        ]
    );
    m.clear_requests();
    let _ = e
        .execute("SELECT id FROM digitalocean.compute.images WHERE image_id = '../x?y#z'")
        .await;
    assert_eq!(uris(&m), ["GET /v2/images/..%2Fx%3Fy%23z"]);
}

#[tokio::test]
async fn every_page_is_read_at_the_largest_size_and_limit_stops_early() {
    let m = mock(10_000).await;
    let e = engine_for(&m, 8).await;
    let r = e
        .execute("SELECT count(*) FROM digitalocean.compute.images")
        .await
        .unwrap();
    assert_eq!(r[0].rows[0][0], iql::Cell::Integer(10_000));
    assert_eq!(m.request_count(), 50);
    assert!(r[0].notices.is_empty(), "{:?}", r[0].notices);
    assert!(m.max_in_flight() <= 8);

    m.clear_requests();
    let r = e
        .execute("SELECT id FROM digitalocean.compute.images LIMIT 3")
        .await
        .unwrap();
    assert_eq!(r[0].rows.len(), 3);
    assert_eq!(uris(&m), ["GET /v2/images?per_page=3"]);

    m.clear_requests();
    let r = e
        .execute("SELECT id FROM digitalocean.compute.images LIMIT 250")
        .await
        .unwrap();
    assert_eq!(r[0].rows.len(), 250);
    assert_eq!(
        uris(&m),
        [
            "GET /v2/images?page=2&per_page=200",
            "GET /v2/images?per_page=200"
        ]
    );

    // A filter SQL must apply means LIMIT cannot stop the fetch early.
    m.clear_requests();
    e.execute("SELECT id FROM digitalocean.compute.images WHERE type = 'snapshot' LIMIT 3")
        .await
        .unwrap();
    assert_eq!(m.request_count(), 50);
}

#[tokio::test]
async fn requests_run_concurrently_under_the_bound() {
    let m = MockServer::start(MockConfig {
        images: 2_000,
        // Long enough that all four requests of a round are in the mock together, even on a
        // loaded machine.
        latency: Duration::from_millis(100),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let e = engine_for(&m, 4).await;
    e.execute("SELECT count(*) FROM digitalocean.compute.images")
        .await
        .unwrap();
    assert_eq!(m.request_count(), 10);
    assert_eq!(
        m.max_in_flight(),
        4,
        "pages 2..10 should fill the bound of 4"
    );
}

#[tokio::test]
async fn dependent_joins_fan_out_only_over_rows_the_query_keeps() {
    let m = mock(60).await;
    let e = engine_for(&m, 8).await;
    e.execute(
        "SELECT i.name, a.type FROM digitalocean.compute.images i \
         JOIN digitalocean.compute.image_actions a ON a.image_id = i.id WHERE i.private = true",
    )
    .await
    .unwrap();
    let reqs = uris(&m);
    assert_eq!(reqs.len(), 41, "{reqs:?}");
    assert!(reqs.contains(&"GET /v2/images?private=true&per_page=200".to_string()));
    assert_eq!(reqs.iter().filter(|r| r.ends_with("/actions")).count(), 40);

    m.clear_requests();
    e.execute(
        "SELECT a.id FROM digitalocean.compute.images i \
         JOIN digitalocean.compute.image_actions a ON a.image_id = i.id WHERE i.type = 'backup'",
    )
    .await
    .unwrap();
    assert_eq!(
        m.request_count(),
        1 + 13,
        "only the 13 backups need their actions"
    );
}

#[tokio::test]
async fn missing_credentials_fail_before_any_request() {
    let m = mock(5).await;
    // The bundled provider, but naming a variable that is surely not set.
    let root = std::env::temp_dir().join(format!("iql-creds-{}", std::process::id()));
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../providers/digitalocean");
    let version = root.join("digitalocean/v00.00.00000");
    std::fs::create_dir_all(version.join("services")).unwrap();
    let provider = std::fs::read_to_string(docs.join("v00.00.00000/provider.yaml")).unwrap();
    std::fs::write(
        version.join("provider.yaml"),
        provider.replace("DIGITALOCEAN_TOKEN", "IQL_TEST_VARIABLE_THAT_IS_NOT_SET"),
    )
    .unwrap();
    std::fs::copy(
        docs.join("v00.00.00000/services/compute.yaml"),
        version.join("services/compute.yaml"),
    )
    .unwrap();
    let e = Engine::builder()
        .providers_root(&root)
        .endpoint("digitalocean", &m.url())
        .build()
        .await
        .unwrap();
    let err = e
        .execute("SELECT id FROM digitalocean.compute.images")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Credentials);
    assert!(
        err.to_string()
            .contains("set the environment variable IQL_TEST_VARIABLE_THAT_IS_NOT_SET"),
        "{err}"
    );
    assert_eq!(m.request_count(), 0);
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test]
async fn a_page_cap_is_reported_never_silent() {
    let m = mock(1_000).await;
    let e = at(&m.url()).max_pages(Some(2)).build().await.unwrap();
    let r = e
        .execute("SELECT count(*) FROM digitalocean.compute.images")
        .await
        .unwrap();
    assert_eq!(r[0].rows[0][0], iql::Cell::Integer(400));
    assert_eq!(r[0].notices.len(), 1);
    assert!(
        r[0].notices[0].contains("stopped after 2 of 5 pages"),
        "{:?}",
        r[0].notices
    );
}

#[tokio::test]
async fn the_token_never_appears_in_errors() {
    let m = MockServer::start(MockConfig {
        images: 5,
        token: Some("right".into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let e = Engine::builder()
        .endpoint("digitalocean", &m.url())
        .credential("digitalocean", "wrong-secret-value")
        .build()
        .await
        .unwrap();
    let err = e
        .execute("SELECT id FROM digitalocean.compute.images")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("HTTP 401 from GET http://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("unauthorized: Unable to authenticate you."),
        "{text}"
    );
    assert!(
        !text.contains("wrong-secret-value") && !format!("{err:?}").contains("wrong-secret-value")
    );
}

mod scripted {
    //! Servers that misbehave in ways the mock does not.
    use axum::routing::get;
    use axum::Router;

    pub async fn serve(body: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let b2 = base.clone();
        let app = Router::new().route(
            "/v2/images",
            get(move || {
                let text = body.replace("BASE", &b2);
                async move { ([("content-type", "application/json")], text) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }
}

#[tokio::test]
async fn a_repeated_next_link_is_an_error_not_a_loop() {
    let base = scripted::serve(
        r#"{"images":[{"id":1}],"links":{"pages":{"next":"BASE/v2/images?page=2"}}}"#,
    )
    .await;
    let e = at(&base).build().await.unwrap();
    let err = e
        .execute("SELECT id FROM digitalocean.compute.images")
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("pagination loop:"), "{err}");
}

#[tokio::test]
async fn a_response_without_the_object_key_is_malformed() {
    let base = scripted::serve(r#"{"droplets":[]}"#).await;
    let e = at(&base).build().await.unwrap();
    let err = e
        .execute("SELECT id FROM digitalocean.compute.images")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Response);
    assert!(
        err.to_string()
            .contains("/v2/images?per_page=200: the response has no $.images"),
        "{err}"
    );
}

#[tokio::test]
async fn a_list_that_changes_while_read_is_reported() {
    let base = scripted::serve(r#"{"images":[{"id":1}],"links":{},"meta":{"total":3}}"#).await;
    let e = at(&base).build().await.unwrap();
    let r = e
        .execute("SELECT id FROM digitalocean.compute.images")
        .await
        .unwrap();
    assert!(
        r[0].notices[0].contains("reported 3 rows but 1 were read"),
        "{:?}",
        r[0].notices
    );
}

#[tokio::test]
async fn the_sandbox_needs_no_account() {
    let e = Engine::builder()
        .sandbox(SandboxConfig::default())
        .build()
        .await
        .unwrap();
    let r = e
        .execute("SELECT count(*) FROM digitalocean.compute.images")
        .await
        .unwrap();
    assert_eq!(r[0].rows[0][0], iql::Cell::Integer(60));
    assert!(e.sandbox().is_some());
}

#[tokio::test]
async fn next_links_to_another_host_are_sent_to_the_configured_origin() {
    // If the link were followed as written, this would be a DNS failure on a reserved name; instead
    // the request comes back to our server, which repeats itself, which is reported as a loop.
    let base = scripted::serve(r#"{"images":[{"id":1}],"links":{"pages":{"next":"https://next-page.invalid/v2/images?page=2"}}}"#).await;
    let e = at(&base).build().await.unwrap();
    let err = e
        .execute("SELECT id FROM digitalocean.compute.images")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("pagination loop: https://next-page.invalid/v2/images?page=2"),
        "{err}"
    );
}

#[tokio::test]
async fn a_post_that_got_a_5xx_is_never_sent_again() {
    let m = MockServer::start(MockConfig {
        images: 5,
        error_rate: 1.0,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let e = engine_for(&m, 8).await;
    let err = e
        .execute("INSERT INTO digitalocean.compute.images (name, url, region) VALUES ('x', 'http://x', 'nyc3')")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Http);
    assert_eq!(uris(&m), ["POST /v2/images"], "exactly one POST");
}

#[tokio::test]
async fn a_post_refused_with_429_is_retried() {
    let m = MockServer::start(MockConfig {
        images: 5,
        rate_limit_rate: 1.0,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let e = at(&m.url())
        .max_retries(2)
        .retry_backoff(Duration::from_millis(1))
        .build()
        .await
        .unwrap();
    let err = e
        .execute("EXEC digitalocean.compute.images.convert @image_id='100003'")
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("HTTP 429 from POST"), "{err}");
    assert_eq!(m.request_count(), 3, "the first try and two retries");
}

#[tokio::test]
async fn dry_run_sends_nothing_and_never_shows_the_token() {
    let m = mock(5).await;
    let e = Engine::builder()
        .endpoint("digitalocean", &m.url())
        .credential("digitalocean", "very-secret-token")
        .dry_run(true)
        .build()
        .await
        .unwrap();
    let results = e
        .execute(
            "INSERT INTO digitalocean.compute.images (name, url, region, tags) VALUES ('x', 'http://x', 'nyc3', '[\"a\"]'); \
             DELETE FROM digitalocean.compute.images WHERE image_id IN (1, 2); \
             DELETE FROM digitalocean.compute.images WHERE image_id = 3 RETURNING name; \
             EXEC digitalocean.compute.images.transfer @image_id='7' @region='sfo3'; \
             SELECT * FROM digitalocean.compute.images WHERE type = 'distribution'",
        )
        .await
        .unwrap();
    assert_eq!(m.request_count(), 0);
    let shown: Vec<String> = results
        .iter()
        .flat_map(|r| {
            r.rows.iter().map(|row| {
                row.iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        })
        .collect();
    let url = m.url();
    assert_eq!(
        shown,
        [
            format!("POST {url}/v2/images {{\"name\":\"x\",\"url\":\"http://x\",\"region\":\"nyc3\",\"tags\":[\"a\"]}}"),
            format!("DELETE {url}/v2/images/1 null"),
            format!("DELETE {url}/v2/images/2 null"),
            format!("GET {url}/v2/images/3 null"),
            format!("DELETE {url}/v2/images/3 null"),
            format!("POST {url}/v2/images/7/actions {{\"type\":\"transfer\",\"region\":\"sfo3\"}}"),
            format!("GET {url}/v2/images?type=distribution&per_page=200 null"),
        ]
    );
    assert!(!format!("{results:?}").contains("very-secret-token"));
}

#[tokio::test]
async fn dry_runs_of_mutations_fed_by_queries_send_nothing() {
    let m = mock(5).await;
    let e = at(&m.url()).dry_run(true).build().await.unwrap();
    let r = e
        .execute(
            "DELETE FROM digitalocean.compute.images WHERE image_id IN (SELECT id FROM digitalocean.compute.images WHERE private = true); \
             INSERT INTO digitalocean.compute.images (name, url, region) SELECT name || '-copy', 'http://x', 'nyc3' FROM digitalocean.compute.images WHERE type = 'distribution'",
        )
        .await
        .unwrap();
    assert_eq!(m.request_count(), 0);
    assert!(
        r[0].notices[0]
            .contains("DELETE: then one DELETE /v2/images/{image_id} per value of image_id"),
        "{:?}",
        r[0].notices
    );
    assert!(
        r[1].notices[0].contains("INSERT: then one POST /v2/images per row the SELECT returns"),
        "{:?}",
        r[1].notices
    );
}

mod custom_provider {
    //! A provider document written for the test, loaded with `providers_root`: header parameters
    //! are sent, parameter names match in any case, and the document's own rules apply.
    use axum::http::HeaderMap;
    use axum::routing::get;
    use axum::Router;
    use iql::Engine;

    const PROVIDER: &str = "name: acme\nproviderServices:\n  things:\n    service:\n      $ref: acme/v1/services/things.yaml\n";
    const SERVICE: &str = r#"
openapi: 3.0.0
info: {title: things, version: '1'}
servers: [{url: 'https://acme.invalid'}]
paths:
  /v1/things:
    get:
      operationId: things_list
      parameters:
        - {in: header, name: X-Tenant, required: true, schema: {type: string}}
      responses:
        '200':
          description: things
          content:
            application/json:
              schema:
                type: object
                properties:
                  things:
                    type: array
                    items:
                      type: object
                      properties:
                        id: {type: integer}
                        tenant: {type: string}
components:
  x-stackQL-resources:
    things:
      id: acme.things.things
      name: things
      methods:
        list:
          operation: {$ref: '#/paths/~1v1~1things/get'}
          response: {mediaType: application/json, openAPIDocKey: '200', objectKey: $.things}
      sqlVerbs:
        select: [{$ref: '#/components/x-stackQL-resources/things/methods/list'}]
"#;

    #[tokio::test]
    async fn header_parameters_are_sent() {
        let dir = std::env::temp_dir().join(format!("iql-acme-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("acme/v1/services")).unwrap();
        std::fs::write(dir.join("acme/v1/provider.yaml"), PROVIDER).unwrap();
        std::fs::write(dir.join("acme/v1/services/things.yaml"), SERVICE).unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().route(
            "/v1/things",
            get(|headers: HeaderMap| async move {
                let tenant = headers
                    .get("x-tenant")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_string();
                axum::Json(serde_json::json!({"things": [{"id": 1, "tenant": tenant}]}))
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let e = Engine::builder()
            .providers_root(&dir)
            .endpoint("acme", &base)
            .build()
            .await
            .unwrap();
        let r = e
            .execute("SELECT id, tenant FROM acme.things.things WHERE \"x-tenant\" = 'blue'")
            .await
            .unwrap();
        assert_eq!(
            r[0].rows,
            [[iql::Cell::Integer(1), iql::Cell::Text("blue".into())]]
        );
        let err = e
            .execute("SELECT id FROM acme.things.things")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("list needs X-Tenant"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test]
async fn sql_that_sqlite_rejects_sends_nothing() {
    // The query is compiled on the empty local tables first: a typo costs no request, and an
    // INSERT fed by a bad SELECT creates nothing.
    let m = mock(20).await;
    let e = engine_for(&m, 8).await;
    for sql in [
        "SELECT nmae FROM digitalocean.compute.images",
        "SELECT i.id, a.stauts FROM digitalocean.compute.images i JOIN digitalocean.compute.image_actions a ON a.image_id = i.id",
        "SELECT count(*) FROM digitalocean.compute.images GROUP BY typ",
        "INSERT INTO digitalocean.compute.images (name, url, region) SELECT nmae, 'http://x', 'nyc3' FROM digitalocean.compute.images",
    ] {
        let err = e.execute(sql).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Sql, "{sql}: {err}");
        assert!(err.to_string().contains("did you mean"), "{sql}: {err}");
    }
    assert_eq!(m.request_count(), 0);
}

#[tokio::test]
async fn a_key_that_is_not_there_gives_no_rows_and_a_notice() {
    let m = mock(40).await;
    let e = engine_for(&m, 8).await;
    let r = e
        .execute(
            "SELECT id FROM digitalocean.compute.images WHERE image_id IN (100010, 5, 'a/b c?')",
        )
        .await
        .unwrap();
    let r = &r[0];
    assert_eq!(r.rows.len(), 1);
    assert_eq!(
        r.notices,
        ["digitalocean.compute.images has nothing for image_id = 5, image_id = 'a/b c?' (HTTP 404 not found): no rows for them"]
    );
    // The same for a list under a key: the actions of an image that is gone are no rows.
    let r = e
        .execute("SELECT DISTINCT image_id FROM digitalocean.compute.image_actions WHERE image_id IN (100157, 1)")
        .await
        .unwrap();
    assert_eq!(r[0].rows.len(), 1);
    assert_eq!(r[0].notices.len(), 1, "{:?}", r[0].notices);
    // A 404 where the path holds no key of the user's is a real error.
    let e = at(&format!("{}/nothing-here", m.url()))
        .build()
        .await
        .unwrap();
    let err = e
        .execute("SELECT id FROM digitalocean.compute.images")
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("HTTP 404 from GET"), "{err}");
}

mod response_shapes {
    //! What a list page may look like, and what iql makes of it: rows, nothing, or an error that
    //! says what was wrong (never a panic, never rows made up).
    use axum::routing::get;
    use axum::Router;

    /// Serves `body` with status 200 for every GET; returns the base URL.
    async fn serving(body: &'static str) -> String {
        let app = Router::new().route(
            "/{*p}",
            get(move || async move { ([("content-type", "application/json")], body) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    async fn run(body: &'static str, sql: &str) -> Result<Vec<String>, String> {
        let e = super::at(&serving(body).await).build().await.unwrap();
        e.execute(sql)
            .await
            .map(|r| {
                r[0].rows
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    const LIST: &str = "SELECT id, name, slug, regions FROM digitalocean.compute.images";

    #[tokio::test]
    async fn items_become_rows_and_unknown_fields_are_ignored() {
        let rows = run(
            r#"{"images":[{"id":1,"name":"a \"q\" \u00e9","extra":{"x":[1,2]},"regions":["nyc3"]},{"name":"b","id":2,"slug":null}],"links":{},"meta":{"total":2}}"#,
            LIST,
        )
        .await
        .unwrap();
        assert_eq!(rows, [r#"1 a "q" é null ["nyc3"]"#, "2 b null null"]);
    }

    #[tokio::test]
    async fn empty_answers_are_no_rows() {
        for body in [r#"{"images":null}"#, r#"{"images":[]}"#] {
            assert_eq!(
                run(body, LIST).await.unwrap(),
                Vec::<String>::new(),
                "{body:?}"
            );
        }
    }

    #[tokio::test]
    async fn malformed_pages_are_errors_that_say_why() {
        for (body, expected) in [
            // No body at all is not an empty list: reading it as no rows would be a silent lie.
            (
                "",
                "HTTP 200 with an empty body; expected an object with $.images",
            ),
            (
                "  \n",
                "HTTP 200 with an empty body; expected an object with $.images",
            ),
            ("null", "the response has no $.images"),
            (
                "<html><body>Bad gateway</body></html>",
                "returned a body that is not JSON",
            ),
            ("not json", "returned a body that is not JSON"),
            (r#"{"images":[{"id":1}"#, "returned a body that is not JSON"),
            (r#"{"meta":{"total":0}}"#, "the response has no $.images"),
            (r#"[{"id":1}]"#, "the response has no $.images"),
            (
                r#"{"images":[1,2]}"#,
                "expected objects in the list, found 1",
            ),
            (
                r#"{"images":"x"}"#,
                r#"expected an object or a list, found "x""#,
            ),
        ] {
            let err = run(body, LIST).await.unwrap_err();
            assert!(err.contains(expected), "{body}: {err}");
            assert!(err.contains("GET http://127.0.0.1:"), "{body}: {err}");
        }
    }

    #[tokio::test]
    async fn a_single_object_is_one_row() {
        let rows = run(
            r#"{"image":{"id":7,"name":"seven","regions":[]}}"#,
            "SELECT id, name, slug, regions FROM digitalocean.compute.images WHERE image_id = 7",
        )
        .await
        .unwrap();
        assert_eq!(rows, ["7 seven null []"]);
    }
}

#[tokio::test]
async fn in_subquery_binds_a_parameter_only_when_it_must() {
    let m = mock(60).await;
    let e = engine_for(&m, 8).await;
    // image_actions cannot be read without image_id: one list for the subquery, then one request
    // per private image whose name starts with web.
    e.execute(
        "SELECT count(*) FROM digitalocean.compute.image_actions \
         WHERE image_id IN (SELECT id FROM digitalocean.compute.images WHERE private = true AND name LIKE 'web%')",
    )
    .await
    .unwrap();
    let sent = uris(&m);
    assert_eq!(
        sent.iter().filter(|u| u.ends_with("/actions")).count(),
        13,
        "{sent:?}"
    );
    assert_eq!(
        sent.iter()
            .filter(|u| u.starts_with("GET /v2/images?"))
            .count(),
        1,
        "{sent:?}"
    );
    // id is a field of the items: the list is read once for each reference, no GET per id.
    m.clear_requests();
    e.execute(
        "SELECT count(*) FROM digitalocean.compute.images \
         WHERE id IN (SELECT id FROM digitalocean.compute.images WHERE private = true)",
    )
    .await
    .unwrap();
    assert_eq!(
        uris(&m),
        [
            "GET /v2/images?per_page=200",
            "GET /v2/images?private=true&per_page=200"
        ]
    );
}

#[tokio::test]
async fn fan_out_over_the_limit_is_an_error_before_it_is_sent() {
    let m = mock(60).await;
    let e = at(&m.url()).max_fanout(Some(10)).build().await.unwrap();
    // 40 private images: the join would need 40 action requests.
    let err = e
        .execute(
            "SELECT count(*) FROM digitalocean.compute.image_actions a \
             JOIN digitalocean.compute.images i ON a.image_id = i.id WHERE i.private = true",
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Planning);
    assert!(
        err.to_string().starts_with(
            "digitalocean.compute.image_actions would need 40 requests, one per value of image_id, and the fan-out limit is 10"
        ),
        "{err}"
    );
    // The list was read; no action request went out.
    assert!(
        uris(&m).iter().all(|u| !u.contains("/actions")),
        "{:?}",
        uris(&m)
    );
    // At the limit it runs; 0 lifts it.
    m.clear_requests();
    let r = e
        .execute("SELECT id FROM digitalocean.compute.images WHERE image_id IN (100003, 100010)")
        .await
        .unwrap();
    assert_eq!(r[0].rows.len(), 2);
    let e = at(&m.url()).max_fanout(None).build().await.unwrap();
    e.execute(
        "SELECT count(*) FROM digitalocean.compute.image_actions a \
         JOIN digitalocean.compute.images i ON a.image_id = i.id WHERE i.private = true",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_condition_on_an_unbound_parameter_is_pointed_out() {
    let m = mock(20).await;
    let e = engine_for(&m, 8).await;
    let r = e
        .execute("SELECT id FROM digitalocean.compute.images WHERE image_id > 100003")
        .await
        .unwrap();
    assert!(r[0].rows.is_empty());
    assert_eq!(
        r[0].notices,
        ["image_id is a parameter of digitalocean.compute.images, not a field of its rows: images_list was used, so image_id is null in every row and a condition on it matches nothing unless written as image_id = … or image_id IN (…)"]
    );
    // Bound, or a field of the rows: nothing to point out.
    for sql in [
        "SELECT id FROM digitalocean.compute.images WHERE image_id = 100003 OR image_id = 100010",
        "SELECT id FROM digitalocean.compute.images WHERE id > 100003 AND type = 'snapshot'",
        "SELECT count(*) FROM digitalocean.compute.images i JOIN digitalocean.compute.image_actions a ON a.image_id = i.id WHERE i.private = true",
    ] {
        let r = e.execute(sql).await.unwrap();
        assert!(r[0].notices.is_empty(), "{sql}: {:?}", r[0].notices);
    }
}

#[tokio::test]
async fn settings_that_cannot_work_are_refused_when_the_engine_is_built() {
    let refused = |b: iql::EngineBuilder| async move {
        let err = b.build().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        err.to_string()
    };
    // A misspelt provider would be ignored, and requests would go to the real API.
    let text = refused(Engine::builder().endpoint("digitalocaen", "http://127.0.0.1:1")).await;
    assert!(text.contains("did you mean 'digitalocean'"), "{text}");
    let text = refused(Engine::builder().credential("digitalocaen", "t")).await;
    assert!(text.contains("no provider named 'digitalocaen'"), "{text}");
    // The token would cross the network in clear: refused, with the way out.
    let text = refused(Engine::builder().endpoint("digitalocean", "http://iql-test.invalid")).await;
    assert!(
        text.contains("in clear") && text.contains("https://"),
        "{text}"
    );
    let text = refused(Engine::builder().endpoint("digitalocean", "notaurl")).await;
    assert!(text.contains("not a URL"), "{text}");
    let text = refused(
        Engine::builder()
            .sandbox(SandboxConfig::default())
            .endpoint("digitalocean", "http://127.0.0.1:1"),
    )
    .await;
    assert!(
        text.contains("the sandbox answers digitalocean itself"),
        "{text}"
    );
    // Asked for by name, the insecure endpoint is accepted (and nothing is sent in this test).
    Engine::builder()
        .endpoint("digitalocean", "http://iql-test.invalid")
        .allow_insecure_http(true)
        .dry_run(true)
        .build()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_post_whose_connection_drops_after_sending_has_an_unknown_outcome() {
    use tokio::io::AsyncReadExt;
    // A server that reads the request and hangs up without answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = vec![0u8; 65536];
            let _ = socket.read(&mut buf).await;
            drop(socket);
        }
    });
    let e = at(&base)
        .retry_backoff(Duration::from_millis(1))
        .build()
        .await
        .unwrap();
    let err = e
        .execute("INSERT INTO digitalocean.compute.images (name, url, region) VALUES ('web', 'https://example.com/w.img', 'nyc3')")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert_eq!(err.kind(), ErrorKind::Http, "{text}");
    assert!(
        text.contains("the outcome is unknown: it may have been created anyway"),
        "{text}"
    );
    assert!(
        text.contains("SELECT * FROM digitalocean.compute.images WHERE name = 'web'"),
        "{text}"
    );
    // Sent once, never again.
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_name_with_two_meanings_gets_each_and_the_rows_are_the_union() {
    let m = mock(60).await;
    let e = engine_for(&m, 8).await;
    let r = e
        .execute(
            "SELECT id FROM digitalocean.compute.images WHERE type IN ('distribution', 'snapshot')",
        )
        .await
        .unwrap();
    assert_eq!(r[0].rows.len(), 23);
    // One call with the parameter, one without it for the field's value.
    assert_eq!(
        uris(&m),
        [
            "GET /v2/images?per_page=200",
            "GET /v2/images?type=distribution&per_page=200"
        ]
    );
    assert!(r[0].notices.is_empty(), "{:?}", r[0].notices);

    // A negation compares the field, and says so.
    let r = e
        .execute("SELECT count(*) FROM digitalocean.compute.images WHERE type <> 'distribution'")
        .await
        .unwrap();
    assert_eq!(r[0].rows[0][0], iql::Cell::Integer(60));
    assert_eq!(r[0].notices.len(), 1, "{:?}", r[0].notices);
    assert!(
        r[0].notices[0].starts_with("type <> 'distribution' compares each row's type field (base, snapshot, backup, custom, admin), not the type parameter"),
        "{:?}",
        r[0].notices
    );
}

#[tokio::test]
async fn an_object_found_under_both_meanings_is_one_row() {
    use axum::extract::RawQuery;
    use axum::routing::get;
    // A distribution image whose type field is `snapshot`: the ?type=distribution call and the
    // call without the parameter both return image 1.
    let app = axum::Router::new().route(
        "/v2/images",
        get(|RawQuery(q): RawQuery| async move {
            let body = if q.unwrap_or_default().contains("type=distribution") {
                r#"{"images":[{"id":1,"name":"ubuntu","type":"snapshot"}],"links":{},"meta":{"total":1}}"#
            } else {
                r#"{"images":[{"id":1,"name":"ubuntu","type":"snapshot"},{"id":2,"name":"mine","type":"snapshot"},{"id":3,"name":"b","type":"backup"}],"links":{},"meta":{"total":3}}"#
            };
            ([("content-type", "application/json")], body)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let e = at(&base).build().await.unwrap();
    let r = e
        .execute("SELECT id FROM digitalocean.compute.images WHERE type IN ('distribution', 'snapshot') ORDER BY id")
        .await
        .unwrap();
    let ids: Vec<String> = r[0].rows.iter().map(|row| row[0].to_string()).collect();
    assert_eq!(ids, ["1", "2"]);
}

#[tokio::test]
async fn an_operation_with_its_own_server_is_sent_there() {
    // Dry runs only: nothing is sent to these hosts.
    let providers = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("providers");
    let e = Engine::builder()
        .providers_root(&providers)
        .credential("testing", "t")
        .dry_run(true)
        .build()
        .await
        .unwrap();
    let url = |sql: &'static str| {
        let e = &e;
        async move {
            let r = e.execute(sql).await.unwrap();
            r[0].rows[0][1].to_string()
        }
    };
    // The operation's own server, its variable at its default; the others use the service's.
    assert_eq!(
        url("SELECT id FROM testing.things.elsewhere").await,
        "https://nyc.other.iql-test.invalid/api/v1/elsewhere"
    );
    assert_eq!(
        url("SELECT * FROM testing.things.tags").await,
        "https://things.iql-test.invalid/v1/tags"
    );
}
