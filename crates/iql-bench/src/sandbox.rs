//! `sandbox`: what a new user's first hour costs. The cold start of `iql exec --sandbox` (a new
//! process each run, the sandbox in it) for an images query (what the sandbox answered before it
//! answered all of DigitalOcean), a droplets query and a join across four services; and the peak
//! resident memory of a process whose sandbox answered every parameterless SELECT of the bundled
//! provider (the default account, all of it touched).
//!
//! Each run checks its answer (the count it prints), so a query that stopped reaching the
//! sandbox fails the section instead of timing an error.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use iql::{Engine, SandboxConfig};
use iql_provider::SqlVerb;

use crate::sections::{iql_binary, median, peak_rss_kb, runs, smoke, Result};

const COLD_RUNS: usize = 30;
/// The target for the default account, touched whole.
const MEMORY_BOUND_MB: f64 = 50.0;

/// (what, query, the count it must print).
const QUERIES: &[(&str, &str, &str)] = &[
    (
        "images (what the sandbox answered before)",
        "SELECT count(*) FROM digitalocean.compute.images",
        "60",
    ),
    (
        "droplets",
        "SELECT count(*) FROM digitalocean.compute.droplets",
        "3",
    ),
    (
        "droplets × images × sizes × regions",
        "SELECT count(*) FROM digitalocean.compute.droplets d JOIN digitalocean.compute.images i ON i.id = json_extract(d.image, '$.id') JOIN digitalocean.compute.sizes s ON s.slug = d.size_slug JOIN digitalocean.compute.regions r ON r.slug = json_extract(d.region, '$.slug')",
        "3",
    ),
];

pub async fn sandbox() -> Result<String> {
    let bin = iql_binary()?;
    let runs = runs(COLD_RUNS);
    let mut table = String::new();
    writeln!(
        table,
        "| `iql exec --sandbox`, a new process each run ({runs} runs) | median ms | min ms | max ms |"
    )?;
    writeln!(table, "|---|---|---|---|")?;
    for (what, sql, expected) in QUERIES {
        let bin = bin.clone();
        let times = tokio::task::spawn_blocking(move || -> std::result::Result<Vec<Duration>, String> {
            let once = || -> std::result::Result<Duration, String> {
                let start = Instant::now();
                let out = std::process::Command::new(&bin)
                    .args(["exec", "--sandbox", "-o", "csv", sql])
                    .output()
                    .map_err(|e| e.to_string())?;
                let took = start.elapsed();
                let text = String::from_utf8_lossy(&out.stdout);
                if !out.status.success() || text.lines().nth(1) != Some(*expected) {
                    return Err(format!(
                        "{sql} printed {text:?} (stderr {}), not the count {expected}: it no longer measures what it says",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
                Ok(took)
            };
            once()?; // the binary and its pages in the cache, as a user's second run
            (0..runs).map(|_| once()).collect()
        })
        .await??;
        let (min, max) = (
            times.iter().min().copied().unwrap_or_default(),
            times.iter().max().copied().unwrap_or_default(),
        );
        writeln!(
            table,
            "| {what} | {:.1} | {:.1} | {:.1} |",
            ms(median(times)),
            ms(min),
            ms(max)
        )?;
    }
    let exe = std::env::current_exe()?;
    let out = tokio::process::Command::new(exe)
        .arg("--child-sandbox")
        .output()
        .await?;
    if !out.status.success() {
        return Err(format!("child failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let mut parts = line.split_whitespace();
    let answered: usize = parts.next().ok_or("short child report")?.parse()?;
    let peak_kb: u64 = parts.next().ok_or("short child report")?.parse()?;
    let peak_mb = peak_kb as f64 / 1024.0;
    writeln!(table)?;
    writeln!(
        table,
        "Peak resident memory after every parameterless SELECT ({answered} resources) of the default account: **{peak_mb:.1} MB** (target: at most {MEMORY_BOUND_MB} MB)."
    )?;
    if peak_mb > MEMORY_BOUND_MB && !smoke() {
        return Err(
            format!("the default account took {peak_mb:.1} MB, over {MEMORY_BOUND_MB} MB").into(),
        );
    }
    Ok(table)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The child: a sandbox engine answers every parameterless SELECT; prints how many answered with
/// rows and the process's peak resident memory (VmHWM).
pub fn sandbox_child() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let answered = rt.block_on(async {
        let engine = Engine::builder()
            .sandbox(SandboxConfig::default())
            .build()
            .await?;
        let provider = engine.registry().provider("digitalocean")?;
        let mut answered = 0usize;
        for service in provider.services.keys() {
            let s = provider.service(service)?;
            for r in s.resources.values() {
                let plain = r
                    .methods_for(SqlVerb::Select)
                    .iter()
                    .any(|m| m.servers.is_empty() && m.required_params().next().is_none());
                if !plain {
                    continue;
                }
                let result = engine.execute(&format!("SELECT * FROM {}", r.id)).await?;
                if result.last().is_some_and(|q| !q.rows.is_empty()) {
                    answered += 1;
                }
            }
        }
        Ok::<_, Box<dyn std::error::Error>>(answered)
    })?;
    if answered < 80 {
        return Err(format!("only {answered} parameterless resources answered with rows").into());
    }
    println!("{answered} {}", peak_rss_kb()?);
    Ok(())
}
