//! Two `iql serve` processes on one PostgreSQL store, as a team runs them: a view created through
//! one is queried through the other, two REFRESH statements at once fetch once, a view with a
//! refresh interval is refreshed by one server each time, psql reads the materialized view
//! straight from PostgreSQL, `iql exec` on the same store sees the views, and the servers go on
//! while PostgreSQL is away. Clients are psql (to iql serve and to PostgreSQL alike); the API is
//! the mock on loopback, whose request count is the proof.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iql_mock::{MockConfig, MockServer};
use iql_test_postgres::{TestPostgres, PASSWORD};

/// An `iql serve` process; killed when dropped.
struct Server {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(store: &str, api: &str) -> Server {
        let data = std::env::temp_dir().join(format!("iql-pg-cli-{}", std::process::id()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_iql"))
            .args(["serve", "--listen", "127.0.0.1:0", "--cache-ttl", "0"])
            .args(["--store", store, "--endpoint"])
            .arg(format!("digitalocean={api}"))
            .env("XDG_DATA_HOME", data)
            .env("DIGITALOCEAN_TOKEN", "test-token")
            .env("PGPASSWORD", PASSWORD)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let port = first
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no address in {first:?}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Server { child, port, log }
    }

    /// psql's unaligned output of `sql` run through this server.
    fn psql(&self, sql: &str) -> String {
        psql(&format!("postgres://iql@127.0.0.1:{}/iql", self.port), sql)
    }

    fn log_lines(&self, containing: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(containing))
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn psql_command(url: &str, sql: &str) -> Command {
    let mut c = Command::new("psql");
    c.env("PGPASSWORD", PASSWORD).args([
        "-X",
        "-At",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        url,
        "-c",
        sql,
    ]);
    c
}

fn psql(url: &str, sql: &str) -> String {
    let out = psql_command(url, sql).output().unwrap();
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn two_servers_share_one_postgres_store() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt
        .block_on(MockServer::start(MockConfig {
            images: 300,
            // Slow enough that the two REFRESH statements below overlap however the machine is loaded.
            latency: Duration::from_millis(150),
            ..MockConfig::default()
        }))
        .unwrap();
    let mut pg = TestPostgres::start().unwrap();
    pg.create_database("team").unwrap();
    let store = pg.url("team");
    let a = Server::start(&store, &mock.url());
    let b = Server::start(&store, &mock.url());

    // A view made through one server is there for the other.
    a.psql(
        "CREATE VIEW dists AS SELECT id, name FROM digitalocean.compute.images WHERE type = 'base'",
    );
    let bases = mock.images().iter().filter(|i| i["type"] == "base").count();
    assert_eq!(b.psql("SELECT count(*) FROM dists"), bases.to_string());

    // One refresh of a materialized view, then two at once through both servers: one fetch.
    a.psql(
        "CREATE MATERIALIZED VIEW imgs AS SELECT id, name, public FROM digitalocean.compute.images",
    );
    let before = mock.request_count();
    a.psql("REFRESH MATERIALIZED VIEW imgs");
    let one_refresh = mock.request_count() - before;
    assert!(one_refresh >= 2, "{one_refresh}");
    let before = mock.request_count();
    let url = |s: &Server| format!("postgres://iql@127.0.0.1:{}/iql", s.port);
    let first = psql_command(&url(&a), "REFRESH MATERIALIZED VIEW imgs")
        .spawn()
        .unwrap();
    let second = psql_command(&url(&b), "REFRESH MATERIALIZED VIEW imgs")
        .spawn()
        .unwrap();
    for mut p in [first, second] {
        assert!(p.wait().unwrap().success());
    }
    assert_eq!(mock.request_count() - before, one_refresh);

    // psql reads the materialized view from PostgreSQL, without iql, with its types.
    let direct = pg.url("team");
    assert_eq!(
        psql(
            &direct,
            "SELECT count(*), count(*) FILTER (WHERE public) > 0 FROM iql.imgs"
        ),
        "300|t"
    );
    assert_eq!(
        b.psql("SELECT count(*) FROM imgs WHERE public"),
        psql(&direct, "SELECT count(*) FROM iql.imgs WHERE public")
    );

    // A failed statement is in the server's log with its SQLSTATE, as PostgreSQL logs it.
    let out = psql_command(
        &format!("postgres://iql@127.0.0.1:{}/iql", a.port),
        "SELECT nmae FROM digitalocean.compute.images",
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let logged = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        a.log_lines("statement failed: no such column: nmae") == 1
            && a.log_lines("sqlstate=\"42703\"") + a.log_lines("sqlstate=42703") == 1
    });
    assert!(logged, "the failed statement is not in the log");

    // `iql exec` on the same store (its password from PGPASSWORD, as psql reads it) sees them.
    let out = Command::new(env!("CARGO_BIN_EXE_iql"))
        .args(["exec", "-o", "text", "--store", &store, "--endpoint"])
        .arg(format!("digitalocean={}", mock.url()))
        .arg("SELECT count(*) AS n FROM imgs; SHOW VIEWS LIKE 'dists'")
        .env("DIGITALOCEAN_TOKEN", "test-token")
        .env("PGPASSWORD", PASSWORD)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("n\n300\n"), "{stdout}");
    assert!(stdout.contains("dists\tview\t"), "{stdout}");

    // A schedule: every 2 seconds, by one of the two servers each time.
    a.psql(
        "CREATE MATERIALIZED VIEW one_page WITH (refresh_interval = '2 seconds') AS \
         SELECT id, name FROM digitalocean.compute.images WHERE image_id = 100017",
    );
    let before = mock.request_count();
    let started = Instant::now();
    // Each server looks every second: refreshes come 2 to 3 seconds apart, so 7 seconds hold 2 or 3.
    std::thread::sleep(Duration::from_millis(7_000));
    let refreshes = a.log_lines("refreshed materialized view one_page")
        + b.log_lines("refreshed materialized view one_page");
    let requests = mock.request_count() - before;
    assert_eq!(
        requests as usize,
        refreshes,
        "one request per scheduled refresh (A: {:?}, B: {:?})",
        a.log.lock().unwrap(),
        b.log.lock().unwrap()
    );
    let most = started.elapsed().as_secs() / 2;
    assert!(
        (2..=most as usize).contains(&refreshes),
        "every 2 s over {:?}: {refreshes}",
        started.elapsed()
    );
    let shown = a.psql("SELECT name FROM one_page");
    assert_eq!(shown.lines().count(), 1, "{shown}");

    // PostgreSQL goes away: the servers go on with provider tables, and say where the store is
    // not; when it is back, so are the views.
    pg.stop().unwrap();
    assert_eq!(
        a.psql("SELECT count(*) FROM digitalocean.compute.images WHERE type = 'base'"),
        bases.to_string()
    );
    let failed = psql_command(&url(&b), "SELECT count(*) FROM imgs")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(
        stderr.contains(&format!("127.0.0.1:{}", pg.port())),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    pg.start_again().unwrap();
    assert_eq!(b.psql("SELECT count(*) FROM imgs"), "300");
}

#[test]
fn an_unreachable_store_is_named_and_its_password_is_not() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = Command::new(env!("CARGO_BIN_EXE_iql"))
        .args(["exec", "--sandbox", "--store"])
        .arg(format!("postgres://ops:hunter2@127.0.0.1:{port}/inv"))
        .arg("SHOW VIEWS")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
