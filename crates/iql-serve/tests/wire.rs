//! `iql serve` with real clients: tokio-postgres (simple and extended protocol) from Rust, and psql
//! (required: scripts/test installs it; a missing psql fails the test). The server runs in this process against the
//! sandbox, on a free loopback port.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use iql::{Engine, SandboxConfig};
use iql_serve::ServeConfig;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// `engine` served on a free loopback port (the rest of `config` as given), until the test ends.
async fn serve_on_loopback(engine: Engine, config: ServeConfig) -> SocketAddr {
    let config = ServeConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..config
    };
    let listener = iql_serve::bind(&config).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(iql_serve::serve(
        engine,
        listener,
        config,
        std::future::pending(),
    ));
    addr
}

/// A server over the default sandbox.
async fn server() -> SocketAddr {
    serve_on_loopback(
        sandbox(SandboxConfig::default()).await,
        ServeConfig::default(),
    )
    .await
}

/// A sandbox engine.
async fn sandbox(config: SandboxConfig) -> Engine {
    Engine::builder().sandbox(config).build().await.unwrap()
}

/// A sandbox whose lists are slow: `images` at `latency_ms` a page, one request at a time.
async fn slow_sandbox(images: usize, latency_ms: u64) -> Engine {
    Engine::builder()
        .sandbox(SandboxConfig {
            images,
            latency: Duration::from_millis(latency_ms),
            ..SandboxConfig::default()
        })
        .concurrency(1)
        .build()
        .await
        .unwrap()
}

async fn connect(addr: SocketAddr) -> Client {
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={} user=iql dbname=iql", addr.port()),
        NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    client
}

fn simple_rows(messages: Vec<SimpleQueryMessage>) -> Vec<Vec<Option<String>>> {
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_parameters_types_and_changes_over_the_wire() {
    let addr = server().await;
    let client = connect(addr).await;
    // Simple protocol.
    let rows = simple_rows(
        client
            .simple_query(
                "SELECT count(*) AS n FROM digitalocean.compute.images WHERE type = 'snapshot'",
            )
            .await
            .unwrap(),
    );
    assert_eq!(rows, [[Some("13".to_string())]]);
    // Extended protocol: a parameter the API answers, typed columns.
    let rows = client
        .query(
            "SELECT id, name, public, size_gigabytes, regions FROM digitalocean.compute.images WHERE image_id = $1",
            &[&"100003"],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let id: i64 = rows[0].get("id");
    let public: bool = rows[0].get("public");
    let regions: serde_json::Value = rows[0].get("regions");
    assert_eq!(id, 100003);
    assert!(public);
    assert!(regions.as_array().is_some_and(|r| !r.is_empty()));
    // A prepared statement run twice with different values, one of them a SQL filter.
    let stmt = client
        .prepare("SELECT count(*) FROM digitalocean.compute.images WHERE name LIKE $1")
        .await
        .unwrap();
    // count(*) is an int8, described before it runs.
    let all: i64 = client.query_one(&stmt, &[&"%"]).await.unwrap().get(0);
    let none: i64 = client
        .query_one(&stmt, &[&"x' OR '1'='1"])
        .await
        .unwrap()
        .get(0);
    assert_eq!((all, none), (60, 0));
    // Changes: RETURNING rows and the command tags.
    let inserted = simple_rows(
        client
            .simple_query("INSERT INTO digitalocean.compute.images (name, url, region) VALUES ('w', 'https://example.com/w.qcow2', 'nyc3') RETURNING name")
            .await
            .unwrap(),
    );
    assert_eq!(inserted, [[Some("w".to_string())]]);
    let deleted = client
        .execute(
            "DELETE FROM digitalocean.compute.images WHERE image_id = $1",
            &[&"100010"],
        )
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    // What clients send on connecting.
    client
        .batch_execute("SET client_min_messages = notice; BEGIN; COMMIT")
        .await
        .unwrap();
    // One server version: what the startup ParameterStatus announces (pgwire's), in SHOW,
    // server_version_num and version() alike.
    let announced = iql_serve::server_version();
    assert!(announced.starts_with("16."), "{announced}");
    let version = simple_rows(client.simple_query("SELECT version()").await.unwrap());
    assert!(version[0][0]
        .as_deref()
        .unwrap()
        .starts_with(&format!("PostgreSQL {announced} (iql ")));
    let shown = simple_rows(client.simple_query("SHOW server_version").await.unwrap());
    assert_eq!(shown[0][0].as_deref(), Some(announced.as_str()));
    let num = simple_rows(
        client
            .simple_query("SHOW server_version_num")
            .await
            .unwrap(),
    );
    let minor: u32 = announced
        .trim_start_matches("16.")
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        num[0][0].as_deref(),
        Some(format!("{}", 160_000 + minor).as_str())
    );
}

/// Columns are named as PostgreSQL names them: an unaliased `count(*)` is `count`, described and
/// sent alike; an alias and a column keep their names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_columns_are_named_as_postgresql_names_them() {
    let addr = server().await;
    let client = connect(addr).await;
    let sql = "SELECT count(*), max(size_gigabytes), count(*) AS n, public FROM digitalocean.compute.images GROUP BY public";
    let prepared = client.prepare(sql).await.unwrap();
    let described: Vec<&str> = prepared.columns().iter().map(|c| c.name()).collect();
    assert_eq!(described, ["count", "max", "n", "public"]);
    let rows = client.simple_query(sql).await.unwrap();
    let sent: Vec<String> = rows
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::RowDescription(cols) => {
                Some(cols.iter().map(|c| c.name().to_string()).collect())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(sent, ["count", "max", "n", "public"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_their_sqlstate() {
    let addr = server().await;
    let client = connect(addr).await;
    let code = |e: tokio_postgres::Error| e.code().cloned();
    let e = client.simple_query("SELEC 1").await.unwrap_err();
    assert_eq!(code(e), Some(SqlState::SYNTAX_ERROR));
    let e = client
        .simple_query("SELECT nope FROM digitalocean.compute.images")
        .await
        .unwrap_err();
    let message = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(
        message.contains("no such column: nope") && message.contains("did you mean name"),
        "{message}"
    );
    assert_eq!(code(e), Some(SqlState::UNDEFINED_COLUMN));
    let e = client
        .simple_query("SELECT * FROM digitalocean.compute.imagez")
        .await
        .unwrap_err();
    assert_eq!(code(e), Some(SqlState::UNDEFINED_TABLE));
    let e = client
        .simple_query("SELECT * FROM digitalocean.compute.image_actions")
        .await
        .unwrap_err();
    assert_eq!(code(e), Some(SqlState::INVALID_PARAMETER_VALUE));
    let e = client
        .simple_query("DELETE FROM digitalocean.compute.images WHERE image_id = 1")
        .await
        .unwrap_err();
    assert_eq!(code(e), Some(SqlState::SYSTEM_ERROR));
    // The connection goes on after each.
    let rows = simple_rows(client.simple_query("SELECT 40 + 2").await.unwrap());
    assert_eq!(rows, [[Some("42".to_string())]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_clients_at_once_and_garbage_harms_none() {
    let addr = server().await;
    // Garbage, and a client that leaves after half a startup packet.
    for bytes in [
        &b"\x00\x00\x00\x08garbage!garbage!"[..],
        &b"\x00\x00\x01"[..],
    ] {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(bytes).await;
        drop(s);
    }
    let mut tasks = Vec::new();
    for _ in 0..20 {
        tasks.push(tokio::spawn(async move {
            let client = connect(addr).await;
            simple_rows(
                client
                    .simple_query("SELECT count(*) FROM digitalocean.compute.images")
                    .await
                    .unwrap(),
            )
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), [[Some("60".to_string())]]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_over_the_timeout_is_cancelled() {
    let config = ServeConfig {
        max_connections: 4,
        statement_timeout: Some(Duration::from_millis(300)),
        ..ServeConfig::default()
    };
    let addr = serve_on_loopback(slow_sandbox(2_000, 200).await, config).await;
    let client = connect(addr).await;
    let e = client
        .simple_query("SELECT count(*) FROM digitalocean.compute.images")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::QUERY_CANCELED));
    assert!(
        iql_serve::check_listen("0.0.0.0:5444".parse().unwrap(), false)
            .unwrap_err()
            .to_string()
            .contains("only with a password and TLS")
    );
    assert!(iql_serve::check_listen("0.0.0.0:5444".parse().unwrap(), true).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_queries_and_shows_notices() {
    let addr = server().await;
    let port = addr.port().to_string();
    let out = tokio::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "iql",
            "-d",
            "iql",
            "-X",
            "-A",
            "-t",
        ])
        .args([
            "-c",
            "SELECT id FROM digitalocean.compute.images WHERE image_id IN (1, 100003)",
        ])
        .args(["-c", "SHOW VIEWS"])
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "100003", "{stdout}");
    assert!(
        stderr.contains("NOTICE:  digitalocean.compute.images has nothing for image_id = 1"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_stops_the_running_statement() {
    let engine = slow_sandbox(4_000, 150).await;
    let requests = engine.progress_counter();
    let addr = serve_on_loopback(engine, ServeConfig::default()).await;
    let client = connect(addr).await;
    let token = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        token.cancel_query(NoTls).await.unwrap();
    });
    // 20 pages one at a time at 150 ms: three seconds, unless cancelled.
    let started = std::time::Instant::now();
    let e = client
        .simple_query("SELECT count(*) FROM digitalocean.compute.images")
        .await
        .unwrap_err();
    canceller.await.unwrap();
    assert_eq!(e.code(), Some(&SqlState::QUERY_CANCELED), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let sent = requests().0;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(requests().0, sent, "requests went on after the cancel");
    // The connection serves the next statement.
    let rows = simple_rows(client.simple_query("SELECT 1").await.unwrap());
    assert_eq!(rows, [[Some("1".to_string())]]);
}

/// psycopg 3 from the Python that scripts/test prepares (IQL_TEST_PYTHON: a venv with psycopg).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_queries_with_server_side_parameters() {
    let python = std::env::var("IQL_TEST_PYTHON")
        .expect("IQL_TEST_PYTHON names a Python with psycopg: run scripts/test");
    let addr = server().await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/psycopg_client.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(addr.port().to_string())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("psycopg ok"));
}

/// SQLAlchemy 2 (with psycopg and with psycopg2: connect, the inspector), pandas through an
/// engine (`read_sql`, `read_sql_table`), and psycopg2's and psycopg 3's named cursors, from the
/// Python that scripts/test prepares (`python_tools.py` says what each checks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_pandas_and_named_cursors() {
    let python = std::env::var("IQL_TEST_PYTHON").expect(
        "IQL_TEST_PYTHON names a Python with SQLAlchemy, pandas and the drivers: run scripts/test",
    );
    let addr = server().await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python_tools.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(addr.port().to_string())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("python tools ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// asyncpg, which decodes by the described types (`asyncpg_client.py`), and node's `pg`, which
/// reads a timestamptz as a Date (`node_pg.js`), both prepared by scripts/test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncpg_and_node_pg_read_typed_values() {
    let addr = server().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let python = std::env::var("IQL_TEST_PYTHON")
        .expect("IQL_TEST_PYTHON names a Python with asyncpg: run scripts/test");
    let node_path = std::env::var("IQL_TEST_NODE_PATH")
        .expect("IQL_TEST_NODE_PATH names node_modules with pg: run scripts/test");
    for (mut command, says) in [
        (tokio::process::Command::new(python), "asyncpg ok"),
        (tokio::process::Command::new("node"), "node pg ok"),
    ] {
        let script = if says.starts_with("asyncpg") {
            dir.join("asyncpg_client.py")
        } else {
            dir.join("node_pg.js")
        };
        let out = command
            .arg(script)
            .arg(addr.port().to_string())
            .env("NODE_PATH", &node_path)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(says),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// pgcli under a pseudo-terminal: it starts, `\dt` lists, a table name completes
/// (`pgcli_session.py`, with pgcli and pexpect from the Python scripts/test prepares).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgcli_starts_lists_and_completes() {
    let python = std::env::var("IQL_TEST_PYTHON")
        .expect("IQL_TEST_PYTHON names a Python with pgcli and pexpect: run scripts/test");
    let addr = server().await;
    let home = std::env::temp_dir().join(format!("iql-pgcli-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pgcli_session.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(addr.port().to_string())
        .arg(&home)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&home);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("pgcli ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// pgjdbc (Debian's `libpostgresql-jdbc-java`, installed by scripts/test), as DBeaver, DataGrip
/// and Metabase call it on connecting: `DatabaseMetaData`'s `getSchemas`, `getTables`,
/// `getColumns`, `getPrimaryKeys`, `getImportedKeys`, `getIndexInfo`, `getTypeInfo`,
/// `getFunctions`, `getTransactionIsolation`, and a PreparedStatement's `getTimestamp`
/// (`JdbcMetadata.java` says what each checks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_database_metadata_and_a_timestamp() {
    let addr = server().await;
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/JdbcMetadata.java");
    let out = tokio::process::Command::new("java")
        .args(["-cp", "/usr/share/java/postgresql.jar"])
        .arg(source)
        .arg(addr.port().to_string())
        .output()
        .await
        .expect(
            "java runs (scripts/test installs default-jre-headless and libpostgresql-jdbc-java)",
        );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("jdbc ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_tables_and_columns_from_information_schema() {
    let addr = server().await;
    let client = connect(addr).await;
    let rows = client
        .query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position LIMIT 2",
            &[&"digitalocean.compute", &"images"],
        )
        .await
        .unwrap();
    let got: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        [
            ("id".to_string(), "bigint".to_string()),
            ("name".to_string(), "text".to_string())
        ]
    );
    client
        .batch_execute("CREATE VIEW listed AS SELECT id FROM digitalocean.compute.images")
        .await
        .unwrap();
    let views = simple_rows(
        client
            .simple_query(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'VIEW'",
            )
            .await
            .unwrap(),
    );
    assert_eq!(views, [[Some("listed".to_string())]]);
    let services = simple_rows(
        client
            .simple_query("SELECT count(DISTINCT table_schema) FROM information_schema.tables WHERE table_type = 'BASE TABLE'")
            .await
            .unwrap(),
    );
    assert_eq!(services, [[Some("19".to_string())]]);
    // A `format: date` field is a date, a `format: date-time` one a timestamptz.
    let types = simple_rows(
        client
            .simple_query("SELECT column_name, data_type, udt_name FROM information_schema.columns WHERE table_name = 'insights' AND column_name IN ('start_date', 'usage_team_urn') ORDER BY 1")
            .await
            .unwrap(),
    );
    assert_eq!(
        types,
        [
            ["start_date", "date", "date"].map(|s| Some(s.to_string())),
            ["usage_team_urn", "text", "text"].map(|s| Some(s.to_string()))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_query_and_a_vanished_client_harm_no_one() {
    let addr = serve_on_loopback(slow_sandbox(2_000, 100).await, ServeConfig::default()).await;
    // A client that leaves in the middle of a slow statement.
    let leaving = connect(addr).await;
    let slow = tokio::spawn(async move {
        let _ = leaving
            .simple_query("SELECT count(*) FROM digitalocean.compute.images")
            .await;
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    slow.abort();
    // A 10 MB statement: answered (here, an error about it), not a crash.
    let client = connect(addr).await;
    let huge = format!("SELECT length('{}') AS n", "x".repeat(10 << 20));
    match client.simple_query(&huge).await {
        Ok(rows) => assert_eq!(simple_rows(rows), [[Some((10 << 20).to_string())]]),
        Err(e) => assert!(e.code().is_some(), "{e:?}"),
    }
    // Everyone else is still served.
    let other = connect(addr).await;
    let rows = simple_rows(other.simple_query("SELECT 6 * 7").await.unwrap());
    assert_eq!(rows, [[Some("42".to_string())]]);
}

/// With a password and TLS: psql over TLS with the password gets in; a wrong password, or no TLS,
/// is turned away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_password_and_tls_only_those_get_in() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let security = iql_serve::Security::load(
        &fixtures.join("server.crt"),
        &fixtures.join("server.key"),
        "correct horse".to_string(),
    )
    .unwrap();
    let config = ServeConfig {
        security: Some(security),
        ..ServeConfig::default()
    };
    let port = serve_on_loopback(sandbox(SandboxConfig::default()).await, config)
        .await
        .port();
    let psql = |sslmode: &str, password: &str| {
        let conninfo = format!("host=127.0.0.1 port={port} user=iql dbname=iql sslmode={sslmode}");
        let password = password.to_string();
        async move {
            tokio::process::Command::new("psql")
                .args([&conninfo, "-X", "-A", "-t", "-c", "SELECT 6 * 7"])
                .env("PGPASSWORD", password)
                .env("PGCONNECT_TIMEOUT", "5")
                .output()
                .await
                .unwrap()
        }
    };
    let ok = psql("require", "correct horse").await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "42");
    let wrong = psql("require", "battery staple").await;
    assert!(!wrong.status.success());
    let clear = psql("disable", "correct horse").await;
    assert!(!clear.status.success());
    assert!(
        String::from_utf8_lossy(&clear.stderr).contains("over TLS only"),
        "{}",
        String::from_utf8_lossy(&clear.stderr)
    );
}

/// Types as PostgreSQL gives them, described before the statement runs: a date-time column is a
/// `timestamptz` (a driver reads a date-time, not a string), `count(*)` an `int8`, a comparison a
/// `bool`; and a date-time compares as an instant whichever way the literal is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_times_counts_and_comparisons_have_their_types() {
    use chrono::{DateTime, Utc};
    let addr = server().await;
    let client = connect(addr).await;
    let statement = client
        .prepare("SELECT created_at, count(*), name LIKE $1 FROM digitalocean.compute.images WHERE created_at BETWEEN $2 AND $3 GROUP BY created_at, name")
        .await
        .unwrap();
    let types: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| c.type_().name().to_string())
        .collect();
    assert_eq!(types, ["timestamptz", "int8", "bool"]);
    let rows = client
        .query(
            &statement,
            &[&"22%", &"2025-02-21 00:00:00", &"2025-02-21 23:59:59"],
        )
        .await
        .unwrap();
    let got: Vec<(DateTime<Utc>, i64, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let expected: DateTime<Utc> = "2025-02-21T23:46:38Z".parse().unwrap();
    assert_eq!(got, [(expected, 1, true)]);
}
