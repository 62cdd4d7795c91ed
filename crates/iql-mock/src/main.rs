//! `iql-mock --addr 127.0.0.1:0 --images N --latency-ms L`: serves the mock until interrupted.
//! The first line on stdout is `listening on http://127.0.0.1:PORT`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use iql_mock::{ActionOutcome, MockConfig, MockServer};

#[derive(Parser)]
#[command(
    version,
    about = "A stateful DigitalOcean Images API on loopback, for tests and demos"
)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Number of images on the account (at most 100000).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(0..=iql_mock::MAX_IMAGES as i64))]
    images: u32,
    /// Delay before every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of requests answered with HTTP 500 (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of requests answered with HTTP 429 (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    rate_limit_rate: f64,
    /// Seconds in the retry-after header of injected 429s.
    #[arg(long, default_value_t = 1)]
    retry_after: u64,
    /// Seed for the generated data and the injected failures.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Accept only this bearer token (default: any).
    #[arg(long)]
    token: Option<String>,
    /// How new image actions end: completed, errored or never.
    #[arg(long, default_value = "completed")]
    action_outcome: String,
}

/// An address that cannot be listened on, in words.
fn listen_error(addr: SocketAddr, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "the address is already in use (another program listens there): pick another port, or --addr 127.0.0.1:0 for a free one".to_string()
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need privileges): pick a port above 1023".to_string()
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "that address is not one of this machine's".to_string()
        }
        _ => e.to_string(),
    };
    format!("iql-mock: cannot listen on {addr}: {why}")
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.error_rate) || !(0.0..=1.0).contains(&args.rate_limit_rate) {
        eprintln!("iql-mock: --error-rate and --rate-limit-rate must be between 0 and 1");
        return std::process::ExitCode::from(2);
    }
    if !args.addr.ip().is_loopback() {
        eprintln!(
            "iql-mock: refusing to listen on {}: only loopback addresses are allowed",
            args.addr
        );
        return std::process::ExitCode::from(2);
    }
    let action_outcome = match args.action_outcome.as_str() {
        "completed" => ActionOutcome::Completed,
        "errored" => ActionOutcome::Errored,
        "never" => ActionOutcome::Never,
        other => {
            eprintln!(
                "iql-mock: --action-outcome must be completed, errored or never, not '{other}'"
            );
            return std::process::ExitCode::from(2);
        }
    };
    let server = match MockServer::bind(
        args.addr,
        MockConfig {
            images: args.images as usize,
            latency: Duration::from_millis(args.latency_ms),
            error_rate: args.error_rate,
            rate_limit_rate: args.rate_limit_rate,
            retry_after_secs: args.retry_after,
            seed: args.seed,
            token: args.token,
            action_outcome,
            ..MockConfig::default()
        },
    )
    .await
    {
        Ok(server) => server,
        Err(e) => {
            eprintln!("{}", listen_error(args.addr, &e));
            return std::process::ExitCode::from(1);
        }
    };
    println!("listening on {}", server.url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("iql-mock: cannot wait for Ctrl-C: {e}");
        return std::process::ExitCode::from(1);
    }
    std::process::ExitCode::SUCCESS
}
