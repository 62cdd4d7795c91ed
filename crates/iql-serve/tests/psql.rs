//! psql's own commands against `iql serve`, as its users type them: `\l \dn \dt \d \d+ \df \du
//! \dv \gdesc`. Each runs the catalog queries psql 15 writes (pg_catalog, `OPERATOR(pg_catalog.~)`,
//! `::regclass`, `ARRAY(…)`, …) through iql's rewrite into SQLite. psql is required (scripts/test
//! installs it).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;

use iql::{Engine, SandboxConfig};
use iql_serve::ServeConfig;

async fn server() -> SocketAddr {
    let engine = Engine::builder()
        .sandbox(SandboxConfig::default())
        .build()
        .await
        .unwrap();
    let config = ServeConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ServeConfig::default()
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

/// psql's output for `commands` (typed one per line, as at its prompt), connected to
/// `database`; fails the test when psql fails or says ERROR.
async fn psql(addr: SocketAddr, database: &str, commands: &[&str]) -> String {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args([
            "-U",
            "iql",
            "-d",
            database,
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            "-",
        ])
        .env("PGCONNECT_TIMEOUT", "5")
        .env("PAGER", "")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql runs (scripts/test installs postgresql-client)");
    let mut stdin = child.stdin.take().unwrap();
    let script: String = commands.iter().map(|c| format!("{c}\n")).collect();
    stdin.write_all(script.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("ERROR"),
        "psql {commands:?} failed: {stderr}\n{stdout}"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_lists_databases_schemas_tables_roles_and_functions() {
    let addr = server().await;
    let l = psql(addr, "digitalocean", &["\\l"]).await;
    assert!(l.contains(" digitalocean ") && l.contains(" iql "), "{l}");

    // In the provider's database its services are schemas.
    let dn = psql(addr, "digitalocean", &["\\dn"]).await;
    assert!(
        dn.contains(" compute ") && dn.contains(" databases "),
        "{dn}"
    );
    assert!(dn.contains("(20 rows)"), "19 services and public: {dn}");

    let dt = psql(addr, "digitalocean", &["\\dt"]).await;
    assert!(dt.contains("(259 rows)"), "{dt}");
    let compute = psql(addr, "digitalocean", &["\\dt compute.image*"]).await;
    assert!(
        compute.contains(" compute | image_actions ") && compute.contains(" compute | images "),
        "{compute}"
    );
    // Elsewhere the schema is provider.service, as information_schema says.
    let other = psql(addr, "iql", &["\\dt \"digitalocean.compute\".images"]).await;
    assert!(other.contains(" digitalocean.compute | images "), "{other}");

    let du = psql(addr, "digitalocean", &["\\du"]).await;
    assert!(du.contains(" iql "), "{du}");
    let df = psql(addr, "digitalocean", &["\\df"]).await;
    assert!(df.contains("(0 rows)"), "{df}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_describes_a_provider_table_with_its_columns_and_descriptions() {
    let addr = server().await;
    // psql takes a three-part name when its first part is the current database.
    let d = psql(addr, "digitalocean", &["\\d digitalocean.compute.images"]).await;
    assert!(d.contains("Table \"compute.images\""), "{d}");
    assert!(d.contains(" id ") && d.contains(" bigint "), "{d}");
    assert!(d.contains(" public ") && d.contains(" boolean "), "{d}");
    let plus = psql(addr, "digitalocean", &["\\d+ compute.image_actions"]).await;
    assert!(
        plus.contains("A unique numeric ID that can be used to identify and reference an action."),
        "{plus}"
    );
    let tables = psql(addr, "digitalocean", &["\\dt+ compute.images"]).await;
    assert!(tables.contains("List All Images"), "{tables}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_lists_views_and_describes_a_result() {
    let addr = server().await;
    let out = psql(
        addr,
        "iql",
        &[
            "CREATE VIEW recent_images AS SELECT id, name FROM digitalocean.compute.images;",
            "\\dv",
            "SELECT id, name, public FROM digitalocean.compute.images \\gdesc",
        ],
    )
    .await;
    assert!(out.contains(" public | recent_images | view "), "{out}");
    // \gdesc: the columns' types, described before the statement runs.
    assert!(out.contains(" id     | bigint"), "{out}");
    assert!(out.contains(" public | boolean"), "{out}");
}

/// psql's `\copy … TO 'file' CSV HEADER` (COPY … TO STDOUT on the wire) writes the rows to the
/// file on the client's side; in the provider's database `compute.images` names the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_copies_a_query_and_a_table_out() {
    let addr = server().await;
    let dir = std::env::temp_dir().join(format!("iql-copy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("public.csv");
    let out = psql(
        addr,
        "digitalocean",
        &[
            &format!(
                "\\copy (SELECT id, name, public FROM digitalocean.compute.images WHERE public ORDER BY id LIMIT 2) TO '{}' CSV HEADER",
                file.display()
            ),
            "\\copy compute.images (id, slug) TO STDOUT",
            "SELECT count(*) FROM compute.images;",
        ],
    )
    .await;
    let csv = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        csv,
        "id,name,public\n100003,24.04 (LTS) x64,t\n100010,22.04 (LTS) x64,t\n"
    );
    assert!(out.contains("COPY 2"), "{out}");
    assert!(out.contains("100003\tubuntu-24-04-x64\n"), "{out}");
    assert!(out.contains("    60\n"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `PREPARE`/`EXECUTE` in SQL (psql scripts, pgbench-style tools) answer as the statement they
/// name, with its columns and tag; `EXPLAIN` lists the requests, and sends none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_prepares_executes_and_explains() {
    let addr = server().await;
    let out = psql(
        addr,
        "digitalocean",
        &[
            "PREPARE one_image (bigint) AS SELECT id, slug FROM compute.images WHERE image_id = $1;",
            "EXECUTE one_image (100003);",
            "DEALLOCATE one_image;",
            "EXPLAIN SELECT slug FROM compute.images WHERE image_id = 100003;",
        ],
    )
    .await;
    assert!(out.contains("PREPARE\n"), "{out}");
    assert!(out.contains(" 100003 | ubuntu-24-04-x64\n(1 row)"), "{out}");
    assert!(out.contains("DEALLOCATE\n"), "{out}");
    assert!(out.contains("QUERY PLAN"), "{out}");
    assert!(out.contains("GET http://127.0.0.1:"), "{out}");
    assert!(out.contains("/v2/images/100003\n"), "{out}");
}
