//! `cargo run --release -p iql-bench [-- --write docs/performance.md]`
//!
//! Measures, in one run, the wall time of the two workloads of the engine issue against `iql-mock`
//! with 20 ms of latency per request, and compares each with the best any client can do with C
//! requests in flight: L × (1 + ⌈(requests − 1) / C⌉) (the first request alone, then full rounds).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use iql::{Cell, Engine};
use iql_mock::{MockConfig, MockServer};

const LATENCY: Duration = Duration::from_millis(20);
const RUNS: usize = 9;

struct Case {
    name: &'static str,
    images: usize,
    sql: &'static str,
    concurrency: usize,
    /// The single integer the query returns, or its number of rows.
    expect_rows: i64,
}

struct Measured {
    requests: u64,
    times: Vec<Duration>,
}

async fn measure(case: &Case) -> Result<Measured, Box<dyn std::error::Error>> {
    let mock = MockServer::start(MockConfig {
        images: case.images,
        latency: LATENCY,
        ..MockConfig::default()
    })
    .await?;
    let engine = Engine::builder()
        .endpoint("digitalocean", &mock.url())
        .credential("digitalocean", "bench")
        .concurrency(case.concurrency)
        .build()
        .await?;
    let mut times = Vec::new();
    let mut requests = 0;
    for _ in 0..RUNS {
        mock.clear_requests();
        let start = Instant::now();
        let r = engine.execute(case.sql).await?;
        times.push(start.elapsed());
        requests = mock.request_count();
        let rows = &r[0].rows;
        let got = match rows.as_slice() {
            [row] => row.first().cloned(),
            _ => Some(Cell::Integer(rows.len() as i64)),
        };
        if got != Some(Cell::Integer(case.expect_rows)) {
            return Err(format!("{}: wrong result {:?}", case.name, r[0].rows).into());
        }
    }
    times.sort();
    Ok(Measured { requests, times })
}

fn bound(requests: u64, c: usize) -> Duration {
    let rounds = 1 + (requests.saturating_sub(1)).div_ceil(c as u64);
    LATENCY * rounds as u32
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cases = [
        Case {
            name: "list 10,000 images (50 pages of 200)",
            images: 10_000,
            sql: "SELECT count(*) FROM digitalocean.compute.images",
            concurrency: 8,
            expect_rows: 10_000,
        },
        Case {
            name: "same, one request at a time (StackQL's default)",
            images: 10_000,
            sql: "SELECT count(*) FROM digitalocean.compute.images",
            concurrency: 1,
            expect_rows: 10_000,
        },
        Case {
            name: "dependent join over 200 private images",
            images: 220,
            sql: "SELECT count(*) FROM (SELECT i.name, a.type, a.status FROM digitalocean.compute.images i JOIN digitalocean.compute.image_actions a ON a.image_id = i.id WHERE i.private = true)",
            concurrency: 8,
            expect_rows: 148,
        },
        Case {
            name: "LIMIT 10 on 10,000 images (stops after one page)",
            images: 10_000,
            sql: "SELECT id FROM digitalocean.compute.images LIMIT 10",
            concurrency: 8,
            expect_rows: 10,
        },
    ];
    let mut table = String::new();
    writeln!(table, "| workload | C | requests | bound L×(1+⌈(n−1)/C⌉) ms | median ms | min ms | max ms | median / bound |")?;
    writeln!(table, "|---|---|---|---|---|---|---|---|")?;
    for case in &cases {
        let m = measure(case).await?;
        let b = bound(m.requests, case.concurrency);
        let median = m.times[m.times.len() / 2];
        writeln!(
            table,
            "| {} | {} | {} | {} | {} | {} | {} | {:.2}× |",
            case.name,
            case.concurrency,
            m.requests,
            ms(b),
            ms(median),
            ms(m.times[0]),
            ms(m.times[m.times.len() - 1]),
            median.as_secs_f64() / b.as_secs_f64()
        )?;
    }
    print!("{table}");
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--write") {
        let path = args.get(pos + 1).ok_or("--write needs a file")?;
        let doc = std::fs::read_to_string(path).unwrap_or_default();
        let (head, tail) = match (
            doc.find("<!-- bench:start -->"),
            doc.find("<!-- bench:end -->"),
        ) {
            (Some(a), Some(b)) => (doc[..a].to_string(), doc[b..].to_string()),
            _ => (doc.clone(), "<!-- bench:end -->\n".to_string()),
        };
        std::fs::write(path, format!("{head}<!-- bench:start -->\n{table}{tail}"))?;
        eprintln!("wrote {path}");
    }
    Ok(())
}
