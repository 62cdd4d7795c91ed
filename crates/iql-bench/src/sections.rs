//! The measurements, one function per section of docs/performance.md.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use iql::{Cell, Engine};
use iql_mock::{MockConfig, MockServer};

pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const LATENCY: Duration = Duration::from_millis(20);
const RUNS: usize = 9;

/// `--smoke`: every section once, small and quick (CI runs it), its checks all in force: a
/// section that stops measuring what it names fails there, not only when someone re-measures.
static SMOKE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_smoke() {
    SMOKE.store(true, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) fn smoke() -> bool {
    SMOKE.load(std::sync::atomic::Ordering::Relaxed)
}

/// `n` runs, or 2 in a smoke run.
pub(crate) fn runs(n: usize) -> usize {
    if smoke() {
        n.min(2)
    } else {
        n
    }
}

/// Fails a run that sent fewer (or other) requests than the measurement names: a cache or a
/// shortcut answering would make the figure a measure of something else.
fn check_requests(what: &str, sent: u64, expected: u64) -> Result<()> {
    if sent != expected {
        return Err(format!(
            "{what}: {sent} requests sent where the measurement names {expected}; it no longer measures what it says"
        )
        .into());
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

async fn mock(images: usize, latency: Duration) -> Result<MockServer> {
    Ok(MockServer::start(MockConfig {
        images,
        latency,
        ..MockConfig::default()
    })
    .await?)
}

/// An engine for measuring the API path: the response cache off, so every run asks the API.
async fn engine_at(mock: &MockServer, concurrency: usize) -> Result<Engine> {
    Ok(Engine::builder()
        .endpoint("digitalocean", &mock.url())
        .credential("digitalocean", "bench")
        .concurrency(concurrency)
        .cache_ttl(Duration::ZERO)
        .build()
        .await?)
}

struct Case {
    name: &'static str,
    images: usize,
    sql: &'static str,
    concurrency: usize,
    /// The single integer the query returns, or its number of rows.
    expect_rows: i64,
    /// The requests each run sends.
    expect_requests: u64,
}

/// The single integer of a one-row result, or the number of rows.
fn result_size(rows: &[Vec<Cell>]) -> Option<Cell> {
    match rows {
        [row] => row.first().cloned(),
        _ => Some(Cell::Integer(rows.len() as i64)),
    }
}

pub async fn concurrency() -> Result<String> {
    let cases = [
        Case {
            name: "list 10,000 images (50 pages of 200)",
            images: 10_000,
            sql: "SELECT count(*) FROM digitalocean.compute.images",
            concurrency: 8,
            expect_rows: 10_000,
            expect_requests: 50,
        },
        Case {
            name: "same, one request at a time (StackQL's default)",
            images: 10_000,
            sql: "SELECT count(*) FROM digitalocean.compute.images",
            concurrency: 1,
            expect_rows: 10_000,
            expect_requests: 50,
        },
        Case {
            name: "dependent join over 200 private images",
            images: 220,
            sql: "SELECT count(*) FROM (SELECT i.name, a.type, a.status FROM digitalocean.compute.images i JOIN digitalocean.compute.image_actions a ON a.image_id = i.id WHERE i.private = true)",
            concurrency: 8,
            expect_rows: 148,
            expect_requests: 201,
        },
        Case {
            name: "LIMIT 10 on 10,000 images (stops after one page)",
            images: 10_000,
            sql: "SELECT id FROM digitalocean.compute.images LIMIT 10",
            concurrency: 8,
            expect_rows: 10,
            expect_requests: 1,
        },
    ];
    let mut table = String::new();
    writeln!(table, "| workload | C | requests | bound L×(1+⌈(n−1)/C⌉) ms | median ms | min ms | max ms | median / bound |")?;
    writeln!(table, "|---|---|---|---|---|---|---|---|")?;
    for case in &cases {
        let mock = mock(case.images, LATENCY).await?;
        let engine = engine_at(&mock, case.concurrency).await?;
        let mut times = Vec::new();
        let mut requests = 0;
        for _ in 0..runs(RUNS) {
            mock.clear_requests();
            let start = Instant::now();
            let r = engine.execute(case.sql).await?;
            times.push(start.elapsed());
            requests = mock.request_count();
            check_requests(case.name, requests, case.expect_requests)?;
            if result_size(&r[0].rows) != Some(Cell::Integer(case.expect_rows)) {
                return Err(format!("{}: wrong result {:?}", case.name, r[0].rows).into());
            }
        }
        times.sort();
        let rounds = 1 + requests.saturating_sub(1).div_ceil(case.concurrency as u64);
        let bound = LATENCY * rounds as u32;
        let median = times[times.len() / 2];
        writeln!(
            table,
            "| {} | {} | {} | {} | {} | {} | {} | {:.2}× |",
            case.name,
            case.concurrency,
            requests,
            ms(bound),
            ms(median),
            ms(times[0]),
            ms(times[times.len() - 1]),
            median.as_secs_f64() / bound.as_secs_f64()
        )?;
    }
    Ok(table)
}

/// Queries (or GETs) per round, and rounds (the median round is reported).
const OVERHEAD_QUERIES: usize = 1_000;
const OVERHEAD_ROUNDS: usize = 5;

pub async fn overhead() -> Result<String> {
    let mock = mock(100, Duration::ZERO).await?;
    let engine = engine_at(&mock, 8).await?;
    let url = format!("{}/v2/images/100003", mock.url());
    let sql = "SELECT id, name FROM digitalocean.compute.images WHERE image_id = 100003";
    let client = reqwest::Client::new();
    // Warm both up: connections, the provider document, allocator.
    for _ in 0..50 {
        engine.execute(sql).await?;
        raw_get(&client, &url).await?;
    }
    let mut library = Vec::new();
    let mut distinct = Vec::new();
    let mut raw = Vec::new();
    // A statement text never seen before, each time (image ids the mock has are 100,003 + 7k).
    let fresh = |round: usize| -> Vec<String> {
        (0..OVERHEAD_QUERIES)
            .map(|i| {
                format!(
                    "SELECT id, name FROM digitalocean.compute.images WHERE image_id = {} -- {round}.{i}",
                    100_003 + 7 * (i % 100)
                )
            })
            .collect()
    };
    let queries = if smoke() { 20 } else { OVERHEAD_QUERIES };
    for round in 0..runs(OVERHEAD_ROUNDS) {
        let texts = fresh(round);
        mock.clear_requests();
        let start = Instant::now();
        for _ in 0..queries {
            let r = engine.execute(sql).await?;
            if r[0].rows.len() != 1 {
                return Err("the single-image query gave no row".into());
            }
        }
        library.push(start.elapsed() / queries as u32);
        check_requests("overhead: library", mock.request_count(), queries as u64)?;
        mock.clear_requests();
        let start = Instant::now();
        for sql in texts.iter().take(queries) {
            engine.execute(sql).await?;
        }
        distinct.push(start.elapsed() / queries as u32);
        check_requests(
            "overhead: distinct statements",
            mock.request_count(),
            queries as u64,
        )?;
        mock.clear_requests();
        let start = Instant::now();
        for _ in 0..queries {
            raw_get(&client, &url).await?;
        }
        raw.push(start.elapsed() / queries as u32);
        check_requests("overhead: raw GETs", mock.request_count(), queries as u64)?;
    }
    library.sort();
    distinct.sort();
    raw.sort();
    let median = |v: &[Duration]| v[v.len() / 2];
    let (lib, raw, distinct) = (median(&library), median(&raw), median(&distinct));
    let us = |d: Duration| format!("{:.0}", d.as_secs_f64() * 1e6);
    let mut table = String::new();
    writeln!(
        table,
        "| per query (each one GET; the response cache off), median of {} rounds of {queries} | µs |",
        runs(OVERHEAD_ROUNDS)
    )?;
    writeln!(table, "|---|---|")?;
    writeln!(
        table,
        "| raw reqwest GET of `/v2/images/100003`, body parsed as JSON | {} |",
        us(raw)
    )?;
    writeln!(
        table,
        "| iql library: `{sql}` (parse, plan, GET, SQLite, rows) | {} |",
        us(lib)
    )?;
    writeln!(
        table,
        "| **ratio** (target ≤ 2×) | **{:.2}×** |",
        lib.as_secs_f64() / raw.as_secs_f64()
    )?;
    writeln!(table, "| iql library, a different image (and statement text) each time: nothing parsed before | {} |", us(distinct))?;
    writeln!(
        table,
        "| ratio for that | {:.2}× |",
        distinct.as_secs_f64() / raw.as_secs_f64()
    )?;
    Ok(table)
}

/// One GET as a client program would make it: bearer token, body read and parsed as JSON.
async fn raw_get(client: &reqwest::Client, url: &str) -> Result<serde_json::Value> {
    let resp = client.get(url).bearer_auth("bench").send().await?;
    if !resp.status().is_success() {
        return Err(format!("GET {url}: {}", resp.status()).into());
    }
    Ok(resp.json().await?)
}

/// What a `--child-list` run reports on its one line of stdout.
struct ChildReport {
    millis: f64,
    rows: i64,
    peak_kb: u64,
}

/// The shapes of a listing: a small result over every row, every row as the result (held), and
/// every row streamed out as JSON lines (what `iql exec -o jsonl` does).
const SCALE_QUERIES: [(&str, &str); 3] = [
    ("count", "SELECT count(*) FROM digitalocean.compute.images"),
    ("all", "SELECT * FROM digitalocean.compute.images"),
    ("stream", "SELECT * FROM digitalocean.compute.images"),
];

pub async fn scale() -> Result<String> {
    let mut table = String::new();
    writeln!(
        table,
        "| images | latency | query | requests | time ms | peak RSS of the iql process |"
    )?;
    writeln!(table, "|---|---|---|---|---|---|")?;
    let sizes: &[usize] = if smoke() {
        &[1_000]
    } else {
        &[1_000, 10_000, 100_000]
    };
    for &images in sizes {
        for latency in [Duration::ZERO, LATENCY] {
            let mock = mock(images, latency).await?;
            for (name, sql) in SCALE_QUERIES {
                mock.clear_requests();
                let report = child_list(&mock.url(), name).await?;
                if report.rows != images as i64 {
                    return Err(format!("{images} images: the child saw {}", report.rows).into());
                }
                check_requests(
                    &format!("scale: {images} images"),
                    mock.request_count(),
                    images.div_ceil(200) as u64,
                )?;
                let how = if name == "stream" {
                    ", streamed to JSON lines"
                } else {
                    ""
                };
                writeln!(
                    table,
                    "| {images} | {} ms | `{sql}`{how} | {} | {:.1} | {:.1} MB |",
                    latency.as_millis(),
                    mock.request_count(),
                    report.millis,
                    report.peak_kb as f64 / 1024.0
                )?;
            }
        }
    }
    Ok(table)
}

/// Runs this program as `--child-list URL`, where the mock stays in this process.
async fn child_list(url: &str, query: &str) -> Result<ChildReport> {
    let exe = std::env::current_exe()?;
    let out = tokio::process::Command::new(exe)
        .args(["--child-list", url, query])
        .output()
        .await?;
    if !out.status.success() {
        return Err(format!("child failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let mut parts = line.split_whitespace();
    let mut next = || parts.next().ok_or("short child report");
    Ok(ChildReport {
        millis: next()?.parse()?,
        rows: next()?.parse()?,
        peak_kb: next()?.parse()?,
    })
}

/// The child: one of [`SCALE_QUERIES`], then the number of images it saw and the process's peak
/// resident memory (VmHWM).
pub fn scale_child(args: &[String]) -> Result<()> {
    let url = args.first().ok_or("--child-list needs the mock's URL")?;
    let name = args.get(1).ok_or("--child-list needs a query name")?;
    let (_, sql) = SCALE_QUERIES
        .iter()
        .find(|(n, _)| n == name)
        .ok_or("no such query")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (millis, rows) = rt.block_on(async {
        let engine = Engine::builder()
            .endpoint("digitalocean", url)
            .credential("digitalocean", "bench")
            .cache_ttl(Duration::ZERO)
            .build()
            .await?;
        let start = Instant::now();
        let seen = if *name == "stream" {
            // Rows written out as they come, and dropped: memory holds pages in flight only.
            let session = engine.session();
            let parsed = session.parse(sql)?;
            let mut stream = session.stream(&parsed[0]).await?;
            let columns: Vec<String> = stream.columns().iter().map(|c| c.name.clone()).collect();
            let mut out = std::io::sink();
            let mut n = 0i64;
            while let Some(row) = stream.next_row().await {
                let row = row?;
                let object: serde_json::Map<String, serde_json::Value> = columns
                    .iter()
                    .cloned()
                    .zip(row.iter().map(Cell::to_json))
                    .collect();
                serde_json::to_writer(&mut out, &object)?;
                n += 1;
            }
            n
        } else {
            let r = engine.execute(sql).await?;
            match result_size(&r[0].rows) {
                Some(Cell::Integer(n)) => n,
                _ => -1,
            }
        };
        Ok::<_, Box<dyn std::error::Error>>((start.elapsed().as_secs_f64() * 1000.0, seen))
    })?;
    let peak_kb = peak_rss_kb()?;
    println!("{millis:.1} {rows} {peak_kb}");
    Ok(())
}

/// The `iql` binary the cold-start rows run: the release build, or in a smoke run whatever
/// build is there (CI's debug one).
pub(crate) fn iql_binary() -> Result<std::path::PathBuf> {
    let bin = workspace_root().join(if smoke() {
        "target/debug/iql"
    } else {
        "target/release/iql"
    });
    if !bin.exists() {
        return Err(format!(
            "{} is missing: run cargo build --release -p iql-cli first",
            bin.display()
        )
        .into());
    }
    Ok(bin)
}

/// This process's peak resident memory (VmHWM), in KB.
pub(crate) fn peak_rss_kb() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    Ok(status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or("no VmHWM in /proc/self/status")?)
}

/// Where the workspace is: the bench runs from it, or from anywhere under it.
pub(crate) fn workspace_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

const PROVIDER_RUNS: usize = 15;
const COLD_RUNS: usize = 40;

/// Generating the bundled provider from DigitalOcean's whole specification; loading the bundled
/// provider's pieces in a fresh registry; and the cold start of the `iql` binary.
pub async fn providers() -> Result<String> {
    let root = workspace_root();
    let spec = root.join("../shared/do-openapi/full/DigitalOcean-public.v2.yaml");
    let config =
        iql_generate::GenerateConfig::load(&root.join("providers/generate/digitalocean.yaml"))?;
    let mut table = String::new();
    writeln!(table, "| step | median ms | min ms | max ms |")?;
    writeln!(table, "|---|---|---|---|")?;
    let row = |table: &mut String, name: &str, times: Vec<Duration>| -> Result<()> {
        let (min, max) = (
            times.iter().min().copied().unwrap_or_default(),
            times.iter().max().copied().unwrap_or_default(),
        );
        writeln!(
            table,
            "| {name} | {} | {} | {} |",
            ms2(median(times)),
            ms2(min),
            ms2(max)
        )?;
        Ok(())
    };

    let mut times = Vec::new();
    let mut files = 0;
    let mut resources = 0;
    for _ in 0..runs(5) {
        let start = Instant::now();
        let generated = iql_generate::generate(&spec, "digitalocean", &config)?;
        times.push(start.elapsed());
        files = generated.files_read;
        resources = generated.outline.values().map(|r| r.len()).sum();
    }
    row(
        &mut table,
        &format!(
            "generate the provider from DigitalOcean's specification ({files} files → {resources} resources), in memory"
        ),
        times,
    )?;

    // Each measurement in a registry of its own: nothing cached from the one before.
    let timed = |f: &dyn Fn() -> Result<()>| -> Result<Vec<Duration>> {
        (0..runs(PROVIDER_RUNS))
            .map(|_| {
                let start = Instant::now();
                f()?;
                Ok(start.elapsed())
            })
            .collect()
    };
    let t = timed(&|| {
        iql_provider::Registry::bundled().provider("digitalocean")?;
        Ok(())
    })?;
    row(&mut table, "bundled: open the provider (provider.yaml)", t)?;
    let t = timed(&|| {
        let p = iql_provider::Registry::bundled().provider("digitalocean")?;
        p.index("compute")?;
        Ok(())
    })?;
    row(
        &mut table,
        "bundled: … and the index of `compute` (what SHOW RESOURCES reads)",
        t,
    )?;
    let t = timed(&|| {
        let p = iql_provider::Registry::bundled().provider("digitalocean")?;
        p.resource("compute", "images")?;
        Ok(())
    })?;
    row(
        &mut table,
        "bundled: … and one resource, `compute.images` (what a query of it parses)",
        t,
    )?;
    let t = timed(&|| {
        let p = iql_provider::Registry::bundled().provider("digitalocean")?;
        p.service("compute")?;
        Ok(())
    })?;
    row(
        &mut table,
        "bundled: … and all 37 resources of `compute`",
        t,
    )?;
    let compute = root.join("providers/digitalocean/v00.00.00000/services/compute.yaml");
    let text = std::fs::read_to_string(&compute)?;
    let t = timed(&|| {
        iql_provider::service_from_text("digitalocean", "compute", &text, &compute)?;
        Ok(())
    })?;
    row(
        &mut table,
        &format!(
            "`--registry`: parse and resolve the whole `compute.yaml` ({:.1} MB)",
            text.len() as f64 / 1e6
        ),
        t,
    )?;

    // Cold start: the binary, run anew for each query, against the mock.
    // A smoke run checks the measurement with whatever build is there (CI's debug one).
    let bin = iql_binary()?;
    let mock = mock(100, Duration::ZERO).await?;
    let url = mock.url();
    let image_url = format!("{url}/v2/images/100003");
    let sql = "SELECT id, name FROM digitalocean.compute.images WHERE image_id = 100003";
    // IQL_BENCH_BASELINE=/path/to/another/iql adds its cold start (an older build, to compare).
    let baseline = std::env::var_os("IQL_BENCH_BASELINE").map(std::path::PathBuf::from);
    let run = move |bin: &std::path::Path| -> Result<Duration> {
        let start = Instant::now();
        let out = std::process::Command::new(bin)
            .args(["exec", "--endpoint", &format!("digitalocean={url}"), sql])
            .env("DIGITALOCEAN_TOKEN", "bench")
            .output()?;
        let took = start.elapsed();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).to_string().into());
        }
        Ok(took)
    };
    let run_curl = move || -> Result<Duration> {
        let start = Instant::now();
        let out = std::process::Command::new("curl")
            .args(["-sf", "-H", "Authorization: Bearer bench", &image_url])
            .output()?;
        let took = start.elapsed();
        if !out.status.success() {
            return Err("curl failed".into());
        }
        Ok(took)
    };
    // Processes are waited for on a blocking thread, so the mock (on this runtime) answers.
    let (iql_times, baseline_times, curl_times) =
        tokio::task::spawn_blocking(move || -> std::result::Result<_, String> {
            let (warm, cold) = (runs(5), runs(COLD_RUNS));
            let runs = |bin: &std::path::Path| -> std::result::Result<Vec<Duration>, String> {
                for _ in 0..warm {
                    run(bin).map_err(|e| e.to_string())?;
                }
                (0..cold)
                    .map(|_| run(bin))
                    .collect::<Result<Vec<_>>>()
                    .map_err(|e| e.to_string())
            };
            let iql_times = runs(&bin)?;
            let baseline_times = match &baseline {
                Some(b) => Some((b.clone(), runs(b)?)),
                None => None,
            };
            let curl_times = (0..cold)
                .map(|_| run_curl())
                .collect::<Result<Vec<_>>>()
                .ok();
            Ok((iql_times, baseline_times, curl_times))
        })
        .await??;
    row(
        &mut table,
        &format!("cold start: `iql exec` of one image, a new process each time ({COLD_RUNS} runs)"),
        iql_times,
    )?;
    if let Some((b, t)) = baseline_times {
        row(
            &mut table,
            &format!("the same with `{}` (IQL_BENCH_BASELINE)", b.display()),
            t,
        )?;
    }
    if let Some(t) = curl_times {
        row(&mut table, "`curl` of the same URL, for comparison", t)?;
    }
    Ok(table)
}

fn ms2(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

const REUSE_RUNS: usize = 15;

/// The 10,000-image count at 20 ms latency: asked cold (cache off), answered by the response
/// cache, and read from a materialized view; in-process, one engine.
pub async fn reuse() -> Result<String> {
    let mock = mock(10_000, LATENCY).await?;
    let sql = "SELECT count(*) FROM digitalocean.compute.images";
    let builder = || {
        Engine::builder()
            .endpoint("digitalocean", &mock.url())
            .credential("digitalocean", "bench")
    };
    let check = |r: &[iql::QueryResult]| -> Result<()> {
        match r
            .first()
            .and_then(|r| r.rows.first())
            .and_then(|row| row.first())
        {
            Some(Cell::Integer(10_000)) => Ok(()),
            other => Err(format!("expected 10000, got {other:?}").into()),
        }
    };
    let cold_engine = builder().cache_ttl(Duration::ZERO).build().await?;
    let mut cold = Vec::new();
    for _ in 0..runs(RUNS) {
        mock.clear_requests();
        let start = Instant::now();
        check(&cold_engine.execute(sql).await?)?;
        cold.push(start.elapsed());
        check_requests("reuse: cold", mock.request_count(), 50)?;
    }
    let engine = builder().build().await?;
    check(&engine.execute(sql).await?)?;
    let mut cached = Vec::new();
    for _ in 0..runs(REUSE_RUNS) {
        let start = Instant::now();
        let r = engine.execute(sql).await?;
        cached.push(start.elapsed());
        check(&r)?;
        if r[0].stats.requests != 0 {
            return Err("the cached count sent requests".into());
        }
    }
    // A materialized view of the same list: its rows are read from the store, in place.
    engine
        .execute(
            "CREATE MATERIALIZED VIEW bench_images AS SELECT * FROM digitalocean.compute.images",
        )
        .await?;
    let mut materialized = Vec::new();
    for _ in 0..runs(REUSE_RUNS) {
        let start = Instant::now();
        let r = engine.execute("SELECT count(*) FROM bench_images").await?;
        materialized.push(start.elapsed());
        check(&r)?;
        if r[0].stats.requests != 0 || r[0].stats.from_cache != 0 {
            return Err("the materialized count fetched".into());
        }
    }
    let mut table = String::new();
    writeln!(
        table,
        "| 10,000 images, 20 ms latency | requests | median ms | min ms | max ms |"
    )?;
    writeln!(table, "|---|---|---|---|---|")?;
    let mut row = |name: &str, requests: u64, times: Vec<Duration>| -> Result<()> {
        let (min, max) = (
            times.iter().min().copied().unwrap_or_default(),
            times.iter().max().copied().unwrap_or_default(),
        );
        writeln!(
            table,
            "| {name} | {requests} | {} | {} | {} |",
            ms2(median(times)),
            ms2(min),
            ms2(max)
        )?;
        Ok(())
    };
    row("cold: `SELECT count(*)`, no cache", 50, cold)?;
    row("the same, answered by the response cache", 0, cached)?;
    row(
        "`SELECT count(*)` of a materialized view of the list",
        0,
        materialized,
    )?;
    Ok(table)
}

/// `iql serve` against in-process: a single-image query answered by the response cache, over the
/// wire with 1 and 16 clients (tokio-postgres, simple protocol), and the same in-process.
pub async fn serve() -> Result<String> {
    let mock = mock(100, LATENCY).await?;
    let engine = Engine::builder()
        .endpoint("digitalocean", &mock.url())
        .credential("digitalocean", "bench")
        .build()
        .await?;
    let sql = "SELECT id, name FROM digitalocean.compute.images WHERE image_id = 100003";
    // Cached once; every run below is answered by the cache.
    engine.execute(sql).await?;
    let config = iql_serve::ServeConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        ..iql_serve::ServeConfig::default()
    };
    let listener = iql_serve::bind(&config).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(iql_serve::serve(
        engine.clone(),
        listener,
        config,
        std::future::pending(),
    ));
    let connect = || async move {
        let (client, conn) = tokio_postgres::connect(
            &format!("host=127.0.0.1 port={} user=iql dbname=iql", addr.port()),
            tokio_postgres::NoTls,
        )
        .await?;
        tokio::spawn(conn);
        Ok::<_, Box<dyn std::error::Error>>(client)
    };
    let queries = if smoke() { 32 } else { 2_000 };
    // In-process, the same session path the server uses.
    let session = engine.session();
    let start = Instant::now();
    for _ in 0..queries {
        session.execute(sql).await?;
    }
    let in_process = start.elapsed() / queries as u32;
    // One client, one query after another.
    let client = connect().await?;
    let start = Instant::now();
    for _ in 0..queries {
        client.simple_query(sql).await?;
    }
    let one = start.elapsed();
    // Sixteen clients at once.
    let mut tasks = Vec::new();
    let start = Instant::now();
    for _ in 0..16 {
        let client = connect().await?;
        tasks.push(tokio::spawn(async move {
            for _ in 0..queries / 16 {
                client.simple_query(sql).await?;
            }
            Ok::<_, tokio_postgres::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let sixteen = start.elapsed();
    if mock.request_count() != 1 {
        return Err(format!(
            "{} requests: the cache did not answer",
            mock.request_count()
        )
        .into());
    }
    let qps = |d: Duration| queries as f64 / d.as_secs_f64();
    let mut table = String::new();
    writeln!(
        table,
        "| cached one-image query, {queries} runs | queries/s | ms per query |"
    )?;
    writeln!(table, "|---|---|---|")?;
    writeln!(
        table,
        "| in-process (`Session::execute`) | {:.0} | {:.3} |",
        1.0 / in_process.as_secs_f64(),
        in_process.as_secs_f64() * 1e3
    )?;
    writeln!(
        table,
        "| `iql serve`, 1 client (tokio-postgres) | {:.0} | {:.3} |",
        qps(one),
        one.as_secs_f64() * 1e3 / queries as f64
    )?;
    writeln!(
        table,
        "| `iql serve`, 16 clients at once | {:.0} | {:.3} (wall time / queries) |",
        qps(sixteen),
        sixteen.as_secs_f64() * 1e3 / queries as f64
    )?;
    writeln!(
        table,
        "\nAdded by the wire, per query: {:.3} ms.",
        (one.as_secs_f64() / queries as f64 - in_process.as_secs_f64()) * 1e3
    )?;
    Ok(table)
}

/// psql's `\dt` (the query psql 15 sends) and pgjdbc's `DatabaseMetaData.getTables` (the query
/// pgjdbc 42 sends), over the wire, against the whole bundled catalog: what a tool does when it
/// opens a connection must stay interactive. The first run loads every provider document (that
/// is reported apart); the rest are the catalog as a browser sees it.
pub async fn catalog() -> Result<String> {
    const PSQL_DT: &str = "SELECT n.nspname as \"Schema\", c.relname as \"Name\", CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as \"Type\", pg_catalog.pg_get_userbyid(c.relowner) as \"Owner\" FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam WHERE c.relkind IN ('r','p','') AND n.nspname <> 'pg_catalog' AND n.nspname !~ '^pg_toast' AND n.nspname <> 'information_schema' AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 1,2";
    const JDBC_GET_TABLES: &str = "SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME, CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema' WHEN true THEN CASE WHEN n.nspname = 'pg_catalog' OR n.nspname = 'information_schema' THEN CASE c.relkind WHEN 'r' THEN 'SYSTEM TABLE' WHEN 'v' THEN 'SYSTEM VIEW' WHEN 'i' THEN 'SYSTEM INDEX' ELSE NULL END WHEN n.nspname = 'pg_toast' THEN CASE c.relkind WHEN 'r' THEN 'SYSTEM TOAST TABLE' WHEN 'i' THEN 'SYSTEM TOAST INDEX' ELSE NULL END ELSE CASE c.relkind WHEN 'r' THEN 'TEMPORARY TABLE' WHEN 'p' THEN 'TEMPORARY TABLE' WHEN 'i' THEN 'TEMPORARY INDEX' WHEN 'S' THEN 'TEMPORARY SEQUENCE' WHEN 'v' THEN 'TEMPORARY VIEW' ELSE NULL END END WHEN false THEN CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'i' THEN 'INDEX' WHEN 'P' then 'PARTITIONED INDEX' WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'c' THEN 'TYPE' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END ELSE NULL END AS TABLE_TYPE, d.description AS REMARKS, '' as TYPE_CAT, '' as TYPE_SCHEM, '' as TYPE_NAME, '' AS SELF_REFERENCING_COL_NAME, '' AS REF_GENERATION FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0 and d.classoid = 'pg_class'::regclass) WHERE c.relnamespace = n.oid AND c.relname LIKE '%' AND (false OR ( c.relkind IN ('r','p') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ) ) ORDER BY TABLE_TYPE,TABLE_SCHEM,TABLE_NAME";
    let engine = Engine::builder()
        .sandbox(Default::default())
        .build()
        .await?;
    let config = iql_serve::ServeConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        ..iql_serve::ServeConfig::default()
    };
    let listener = iql_serve::bind(&config).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(iql_serve::serve(
        engine.clone(),
        listener,
        config,
        std::future::pending(),
    ));
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=iql dbname=digitalocean",
            addr.port()
        ),
        tokio_postgres::NoTls,
    )
    .await?;
    tokio::spawn(conn);
    let rows_of = |messages: Vec<tokio_postgres::SimpleQueryMessage>| {
        messages
            .iter()
            .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
            .count()
    };
    let start = Instant::now();
    let first_rows = rows_of(client.simple_query(PSQL_DT).await?);
    let first = start.elapsed();
    let runs = runs(30);
    let mut table = String::new();
    writeln!(
        table,
        "| over the whole catalog ({first_rows} tables), median of {runs} | ms |"
    )?;
    writeln!(table, "|---|---|")?;
    writeln!(
        table,
        "| first catalog query (loads every provider document) | {} |",
        ms(first)
    )?;
    for (what, sql) in [
        ("psql `\\dt`", PSQL_DT),
        ("pgjdbc `getTables`", JDBC_GET_TABLES),
    ] {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            let rows = rows_of(client.simple_query(sql).await?);
            times.push(start.elapsed());
            // A catalog that answered less is not the catalog this names.
            if rows != first_rows {
                return Err(format!("{what} gave {rows} tables, not {first_rows}").into());
            }
        }
        writeln!(table, "| {what} | {} |", ms(median(times)))?;
    }
    if first_rows < 259 {
        return Err(
            format!("the catalog lists {first_rows} tables, fewer than the 259 bundled").into(),
        );
    }
    writeln!(
        table,
        "\nTarget: at most 50 ms each, so a browser opening a connection stays interactive."
    )?;
    Ok(table)
}

/// Reads of a materialized view in the `scaling` section.
const SCALING_READS: usize = 15;
/// The schedule measured in the `scaling` section, and how long it is watched.
const SCHEDULE_INTERVAL_S: u64 = 3;
const SCHEDULE_WATCH: Duration = Duration::from_secs(10);

/// Two engines (as two `iql serve` processes would: each its own connection to the store) on one
/// PostgreSQL store, refreshing a 10,000-image materialized view at 20 ms latency: the requests
/// sent in total when they refresh it at once and on a schedule, against two engines with stores
/// of their own; and what reading the view costs through iql and straight from PostgreSQL.
pub async fn scaling() -> Result<String> {
    const IMAGES: i64 = 10_000;
    let mock = mock(IMAGES as usize, LATENCY).await?;
    let pg = iql_test_postgres::TestPostgres::start()?;
    pg.create_database("team")?;
    let builder = || {
        Engine::builder()
            .endpoint("digitalocean", &mock.url())
            .credential("digitalocean", "bench")
            .cache_ttl(Duration::ZERO)
    };
    let shared = || builder().store(pg.url_with_password("team")).build();
    let (a, b) = (shared().await?, shared().await?);
    let define = "CREATE MATERIALIZED VIEW inventory AS SELECT id, name, type, distribution, public, regions, size_gigabytes, created_at FROM digitalocean.compute.images";
    let refresh = "REFRESH MATERIALIZED VIEW inventory";
    let count = |r: &[iql::QueryResult]| -> Result<()> {
        match r
            .first()
            .and_then(|r| r.rows.first())
            .and_then(|row| row.first())
        {
            Some(Cell::Integer(IMAGES)) => Ok(()),
            other => Err(format!("expected {IMAGES}, got {other:?}").into()),
        }
    };
    a.execute(define).await?;

    // One server refreshes.
    let sent = mock.request_count();
    let start = Instant::now();
    a.execute(refresh).await?;
    let one = (start.elapsed(), mock.request_count() - sent);
    check_requests("scaling: one refresh", one.1, (IMAGES as u64).div_ceil(200))?;
    // Both at once, on one store.
    let sent = mock.request_count();
    let start = Instant::now();
    let (ra, rb) = tokio::join!(a.execute(refresh), b.execute(refresh));
    ra?;
    rb?;
    let both_shared = (start.elapsed(), mock.request_count() - sent);
    // Both at once, each with a store of its own (nothing shared).
    let (c, d) = (builder().build().await?, builder().build().await?);
    c.execute(define).await?;
    d.execute(define).await?;
    let sent = mock.request_count();
    let start = Instant::now();
    let (rc, rd) = tokio::join!(c.execute(refresh), d.execute(refresh));
    rc?;
    rd?;
    let both_apart = (start.elapsed(), mock.request_count() - sent);

    // On a schedule: both servers ask every second, as `iql serve` does.
    a.execute(&format!(
        "CREATE MATERIALIZED VIEW scheduled WITH (refresh_interval = '{SCHEDULE_INTERVAL_S} seconds') AS SELECT id, name, type FROM digitalocean.compute.images"
    ))
    .await?;
    let sent = mock.request_count();
    let watch = Instant::now();
    let tick = |e: Engine| async move {
        let mut done = 0u64;
        while watch.elapsed() < SCHEDULE_WATCH {
            for r in e.refresh_due_views().await {
                r.outcome?;
                done += 1;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok::<u64, iql::Error>(done)
    };
    let (na, nb) = tokio::join!(tick(a.clone()), tick(b.clone()));
    let (na, nb) = (na?, nb?);
    let scheduled_requests = mock.request_count() - sent;

    // Reading it: through iql (the rows come from PostgreSQL), and straight from PostgreSQL.
    let mut through_iql = Vec::new();
    for _ in 0..runs(SCALING_READS) {
        let start = Instant::now();
        let r = b.execute("SELECT count(*) FROM inventory").await?;
        through_iql.push(start.elapsed());
        count(&r)?;
    }
    // One row by id: the condition goes to PostgreSQL, one row is copied.
    let one_id = mock
        .images()
        .get(5_000)
        .and_then(|i| i["id"].as_i64())
        .ok_or("no image 5000")?;
    let mut by_id = Vec::new();
    for _ in 0..runs(SCALING_READS) {
        let start = Instant::now();
        let r = b
            .execute(&format!("SELECT name FROM inventory WHERE id = {one_id}"))
            .await?;
        by_id.push(start.elapsed());
        if r[0].rows.len() != 1 {
            return Err("one row by id".into());
        }
    }
    // Sixteen sessions reading one row each, at once, on one server.
    let readers = 16;
    let per_reader = 25;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..readers {
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_reader {
                let r = b
                    .execute(&format!("SELECT name FROM inventory WHERE id = {one_id}"))
                    .await?;
                if r[0].rows.len() != 1 {
                    return Err::<(), Box<dyn std::error::Error + Send + Sync>>("one row".into());
                }
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await?.map_err(|e| e.to_string())?;
    }
    let concurrent_rate = (readers * per_reader) as f64 / start.elapsed().as_secs_f64();
    let (client, connection) =
        tokio_postgres::connect(&pg.url_with_password("team"), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let mut direct = Vec::new();
    for _ in 0..runs(SCALING_READS) {
        let start = Instant::now();
        let n: i64 = client
            .query_one("SELECT count(*) FROM iql.inventory", &[])
            .await?
            .get(0);
        direct.push(start.elapsed());
        if n != IMAGES {
            return Err(format!("psql-side count {n}").into());
        }
    }

    let mut t = String::new();
    writeln!(
        t,
        "| {IMAGES} images, 20 ms latency, PostgreSQL store | requests sent | time |"
    )?;
    writeln!(t, "|---|---|---|")?;
    writeln!(
        t,
        "| one server refreshes the view | {} | {} ms |",
        one.1,
        ms2(one.0)
    )?;
    writeln!(
        t,
        "| two servers on one PostgreSQL store refresh it at once | {} | {} ms |",
        both_shared.1,
        ms2(both_shared.0)
    )?;
    writeln!(
        t,
        "| two servers with stores of their own refresh it at once | {} | {} ms |",
        both_apart.1,
        ms2(both_apart.0)
    )?;
    writeln!(
        t,
        "| schedule every {SCHEDULE_INTERVAL_S} s, two servers, watched {} s: refreshes by A + B | {scheduled_requests} ({na} + {nb} refreshes) | |",
        SCHEDULE_WATCH.as_secs()
    )?;
    writeln!(
        t,
        "| `SELECT count(*)` of the view through iql (median of {SCALING_READS}) | 0 | {} ms |",
        ms2(median(through_iql))
    )?;
    writeln!(
        t,
        "| `SELECT name … WHERE id = …` of the view through iql (the condition sent to PostgreSQL; median) | 0 | {} ms |",
        ms2(median(by_id))
    )?;
    writeln!(
        t,
        "| the same from {readers} sessions at once on one server ({} store connections) | 0 | {concurrent_rate:.0} queries/s |",
        iql_store_postgres::POOL_SIZE
    )?;
    writeln!(
        t,
        "| `SELECT count(*) FROM iql.inventory` straight from PostgreSQL (median) | 0 | {} ms |",
        ms2(median(direct))
    )?;
    Ok(t)
}
