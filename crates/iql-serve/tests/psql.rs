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
            "SELECT 'Ubuntu' LIKE 'ubuntu%' AS like_, 'Ubuntu' ILIKE 'ubuntu%' AS ilike_, 'Ubuntu' !~~* 'UBUNTU' AS not_ilike;",
            "SELECT count(*) AS lower_x64 FROM compute.images WHERE name LIKE '%x64';",
            "SELECT count(*) AS upper_x64 FROM compute.images WHERE name LIKE '%X64';",
        ],
    )
    .await;
    assert!(out.contains("PREPARE\n"), "{out}");
    assert!(out.contains(" 100003 | ubuntu-24-04-x64\n(1 row)"), "{out}");
    assert!(out.contains("DEALLOCATE\n"), "{out}");
    assert!(out.contains("QUERY PLAN"), "{out}");
    assert!(out.contains("GET http://127.0.0.1:"), "{out}");
    assert!(out.contains("/v2/images/100003\n"), "{out}");
    // LIKE tells case apart on the wire, as PostgreSQL's does; ILIKE does not.
    assert!(out.contains(" f     | t      | f\n"), "{out}");
    let count = |label: &str| -> u64 {
        let at = out.find(label).unwrap();
        out[at..].lines().nth(2).unwrap().trim().parse().unwrap()
    };
    assert!(count("lower_x64") > 0, "{out}");
    assert_eq!(count("upper_x64"), 0, "{out}");
}

/// The search_path test Grafana's PostgreSQL data source puts in its table and column lists.
const GRAFANA_SCHEMA_CONSTRAINT: &str = "quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )";

/// What Grafana's PostgreSQL data source sends, as its query editor and a time-series panel send
/// it (macros expanded as Grafana expands them): the configuration page's version and
/// TimescaleDB checks, the table list, a table's columns, and `$__timeGroupAlias` with
/// `$__timeFilter` over a date-time column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_data_source_queries_answer() {
    let addr = server().await;
    let tables = format!(
        "SELECT CASE WHEN {GRAFANA_SCHEMA_CONSTRAINT} THEN quote_ident(table_name) \
         ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS \"table\" \
         FROM information_schema.tables \
         WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog', \
         '_timescaledb_cache', '_timescaledb_catalog', '_timescaledb_internal', \
         '_timescaledb_config', 'timescaledb_information', 'timescaledb_experimental') \
         ORDER BY CASE WHEN {GRAFANA_SCHEMA_CONSTRAINT} THEN 0 ELSE 1 END, 1;"
    );
    let columns = format!(
        "SELECT quote_ident(column_name) AS \"column\", data_type AS \"type\" \
         FROM information_schema.columns WHERE \
         CASE WHEN array_length(parse_ident('compute.images'),1) = 2 \
         THEN quote_ident(table_schema) = (parse_ident('compute.images'))[1] \
         AND quote_ident(table_name) = (parse_ident('compute.images'))[2] \
         ELSE quote_ident(table_name) = 'compute.images' AND {GRAFANA_SCHEMA_CONSTRAINT} END;"
    );
    let out = psql(
        addr,
        "digitalocean",
        &[
            "SELECT current_setting('server_version_num')::int/100 as version;",
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb';",
            &tables,
            &columns,
            "SELECT floor(extract(epoch from created_at)/86400)*86400 AS \"time\", count(*) AS images \
             FROM compute.images \
             WHERE created_at BETWEEN '2021-01-01T00:00:00Z' AND '2021-01-04T00:00:00.000Z' \
             GROUP BY 1 ORDER BY 1;",
            "SELECT created_at AS \"time\", size_gigabytes FROM compute.images \
             WHERE created_at >= to_timestamp(1609459200) AND created_at < now() - interval '1 day' \
             ORDER BY 1 LIMIT 1;",
        ],
    )
    .await;
    assert!(out.contains("    1600\n"), "{out}");
    assert!(out.contains("(0 rows)"), "no TimescaleDB: {out}");
    // Every table of the provider, named as Grafana writes it back.
    assert!(out.contains(" compute.images\n"), "{out}");
    assert!(out.contains(" compute.image_actions\n"), "{out}");
    assert!(out.contains("(259 rows)"), "{out}");
    assert!(
        out.contains(" created_at     | timestamp with time zone\n"),
        "{out}"
    );
    // One row a day that has images, at the day's first second, within the panel's range.
    let series: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.contains("time") || !l.contains("images"))
        .skip(2)
        .take_while(|l| !l.starts_with('('))
        .collect();
    assert!(
        !series.is_empty()
            && series.iter().all(|l| {
                let day: f64 = l.split('|').next().unwrap().trim().parse().unwrap();
                day % 86400.0 == 0.0 && (1_609_459_200.0..1_609_718_400.0).contains(&day)
            }),
        "{out}"
    );
    assert!(out.contains(" 2021-01-01 11:54:41"), "{out}");
}
