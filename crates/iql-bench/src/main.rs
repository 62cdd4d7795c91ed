//! `cargo run --release -p iql-bench -- [SECTION…] [--write docs/performance.md] [--smoke]`
//!
//! `--smoke` runs every chosen section small and quick, with all its checks (CI runs it, so a
//! section that stops measuring what it names fails there); it cannot be written to the docs.
//! Every section that measures the API path runs with the response cache off and fails when a run
//! sends other than the requests it names; cached figures have rows of their own.
//!
//! Each section measures one thing against `iql-mock` on 127.0.0.1 and prints a markdown table;
//! with `--write` the table replaces the one between `<!-- bench:SECTION:start -->` and
//! `<!-- bench:SECTION:end -->` in the file, so docs/performance.md is rewritten by one command.
//! Without sections, all run.
//!
//! - `concurrency`: listing and dependent joins at 20 ms latency, against the best any client can
//!   do with C requests in flight: L × (1 + ⌈(requests − 1) / C⌉).
//! - `overhead`: 1,000 sequential single-image queries through the library, against 1,000 raw
//!   reqwest GETs of the same URL from the same mock.
//! - `scale`: listing 1k, 10k and 100k images at 0 and 20 ms latency: time, requests and the peak
//!   resident memory of a process that does only that (a child of this one; the mock stays here).
//! - `providers`: generating the bundled provider from DigitalOcean's specification
//!   (`../shared/do-openapi/full`), loading its pieces, and the cold start of `target/release/iql`
//!   (build it first) against `curl`.
//! - `sandbox`: the cold start of `iql exec --sandbox` (images, droplets, a join across four
//!   services) and the memory of the default account with every resource listed.
//! - `scaling`: two engines on one PostgreSQL store (started here, `iql-test-postgres`)
//!   refreshing a 10,000-image materialized view; written to docs/scaling.md.

mod sandbox;
mod sections;

use std::fmt::Write as _;

const SECTIONS: &[&str] = &[
    "concurrency",
    "overhead",
    "scale",
    "providers",
    "reuse",
    "serve",
    "catalog",
    "sandbox",
    "scaling",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A child of the `scale` section: list once against a mock at URL and report.
    if args.first().map(String::as_str) == Some("--child-sandbox") {
        return sandbox::sandbox_child();
    }
    if args.first().map(String::as_str) == Some("--child-list") {
        return sections::scale_child(&args[1..]);
    }
    let mut write_to = None;
    let mut chosen = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--write" => write_to = Some(it.next().ok_or("--write needs a file")?.clone()),
            "--smoke" => sections::set_smoke(),
            s if SECTIONS.contains(&s) => chosen.push(s.to_string()),
            other => {
                return Err(
                    format!("unknown section {other}; sections: {}", SECTIONS.join(", ")).into(),
                )
            }
        }
    }
    if write_to.is_some() && std::env::args().any(|a| a == "--smoke") {
        return Err("--smoke figures are not measurements: run without it to --write".into());
    }
    if chosen.is_empty() {
        chosen = SECTIONS.iter().map(|s| s.to_string()).collect();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for name in &chosen {
        eprintln!("== {name}");
        let table = match name.as_str() {
            "concurrency" => rt.block_on(sections::concurrency())?,
            "overhead" => rt.block_on(sections::overhead())?,
            "scale" => rt.block_on(sections::scale())?,
            "providers" => rt.block_on(sections::providers())?,
            "reuse" => rt.block_on(sections::reuse())?,
            "serve" => rt.block_on(sections::serve())?,
            "catalog" => rt.block_on(sections::catalog())?,
            "scaling" => rt.block_on(sections::scaling())?,
            "sandbox" => rt.block_on(sandbox::sandbox())?,
            _ => unreachable_section(name)?,
        };
        print!("{table}");
        if let Some(path) = &write_to {
            replace_section(path, name, &table)?;
            eprintln!("wrote section {name} of {path}");
        }
    }
    Ok(())
}

fn unreachable_section(name: &str) -> Result<String, Box<dyn std::error::Error>> {
    Err(format!("no section {name}").into())
}

/// Puts `table` between the section's markers in `path`.
fn replace_section(path: &str, name: &str, table: &str) -> Result<(), Box<dyn std::error::Error>> {
    let doc = std::fs::read_to_string(path)?;
    let start = format!("<!-- bench:{name}:start -->");
    let end = format!("<!-- bench:{name}:end -->");
    let (Some(a), Some(b)) = (doc.find(&start), doc.find(&end)) else {
        return Err(format!("{path} has no {start} … {end} markers").into());
    };
    let mut out = String::new();
    write!(out, "{}{start}\n{table}{}", &doc[..a], &doc[b..])?;
    std::fs::write(path, out)?;
    Ok(())
}
