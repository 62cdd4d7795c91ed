//! `iql`: query and manage cloud APIs with SQL.

mod output;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use iql::{Engine, SandboxConfig};
use serde_json::Value;

use output::Format;

#[derive(Parser)]
#[command(
    name = "iql",
    version,
    about = "Query and manage cloud APIs with SQL",
    after_help = "Examples:\n  iql exec --sandbox \"SELECT name, slug FROM digitalocean.compute.images WHERE type = 'distribution'\"\n  DIGITALOCEAN_TOKEN=... iql exec -o json \"SELECT id, name FROM digitalocean.compute.images WHERE private = true\"\n  iql exec --sandbox \"SHOW METHODS IN digitalocean.compute.images\""
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one or more SQL statements (separated by ';') and print their results.
    #[command(
        after_help = "Examples:\n  iql exec --sandbox \"SELECT count(*) FROM digitalocean.compute.images\"\n  iql exec --sandbox -o csv \"SELECT id, name FROM digitalocean.compute.images WHERE private = true; SELECT 1 AS one\"\n  iql exec --endpoint digitalocean=http://127.0.0.1:4010 \"SELECT id FROM digitalocean.compute.images\""
    )]
    Exec(ExecArgs),
}

#[derive(clap::Args)]
struct ExecArgs {
    /// The SQL to run.
    sql: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: Format,
    /// Run against the built-in DigitalOcean mock: no account, nothing leaves this machine.
    #[arg(long)]
    sandbox: bool,
    /// Images in the sandbox account.
    #[arg(long, default_value_t = 60, requires = "sandbox")]
    sandbox_images: usize,
    /// Send a provider's requests elsewhere: PROVIDER=URL (repeatable).
    #[arg(long, value_name = "PROVIDER=URL")]
    endpoint: Vec<String>,
    /// Where provider documents live (default: the ones built into iql).
    #[arg(long, value_name = "DIR")]
    registry: Option<PathBuf>,
    /// Credentials as StackQL takes them: '{"digitalocean":{"type":"bearer","credentialsenvvar":"MY_TOKEN"}}'.
    #[arg(long, value_name = "JSON")]
    auth: Option<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Read at most this many pages per call (reaching it is reported); default: all pages.
    #[arg(long)]
    max_pages: Option<u64>,
    /// Seconds before one HTTP attempt gives up.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Print the HTTP requests each statement would send (token left out) and send none.
    #[arg(long)]
    dry_run: bool,
    /// Wait for every action and custom-image import to finish (as /*+ AWAIT */ does).
    #[arg(long)]
    wait: bool,
    /// Seconds between polls while waiting.
    #[arg(long, default_value_t = 5)]
    poll_interval: u64,
    /// Seconds before waiting gives up (the action goes on; its id is printed).
    #[arg(long, default_value_t = 300)]
    wait_timeout: u64,
    /// Log at this level on stderr (e.g. debug shows every request).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = match cli.command {
        Command::Exec(args) => rt.block_on(exec(args)),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "iql_http=debug,info",
        _ => "debug",
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .try_init();
}

async fn build_engine(args: &ExecArgs) -> anyhow::Result<Engine> {
    let mut b = Engine::builder()
        .concurrency(args.concurrency)
        .max_pages(args.max_pages)
        .timeout(Duration::from_secs(args.timeout))
        .dry_run(args.dry_run)
        .wait_always(args.wait)
        .wait_policy(
            Duration::from_secs(args.poll_interval.max(1)),
            Duration::from_secs(args.wait_timeout),
        );
    if let Some(dir) = &args.registry {
        b = b.providers_root(dir);
    }
    for e in &args.endpoint {
        let Some((provider, url)) = e.split_once('=') else {
            bail!("--endpoint takes PROVIDER=URL, e.g. digitalocean=http://127.0.0.1:4010 (got '{e}')");
        };
        b = b.endpoint(provider, url);
    }
    if let Some(auth) = &args.auth {
        let parsed: Value = serde_json::from_str(auth).context("--auth is not valid JSON")?;
        let Some(map) = parsed.as_object() else {
            bail!("--auth takes an object: {{\"digitalocean\": {{\"type\": \"bearer\", \"credentialsenvvar\": \"MY_TOKEN\"}}}}");
        };
        for (provider, cfg) in map {
            match cfg.get("credentialsenvvar").and_then(Value::as_str) {
                Some(var) => b = b.credential_env_var(provider, var),
                None => bail!("--auth: {provider} needs \"credentialsenvvar\""),
            }
        }
    }
    if args.sandbox {
        b = b.sandbox(SandboxConfig {
            images: args.sandbox_images,
            ..SandboxConfig::default()
        });
    }
    Ok(b.build().await?)
}

async fn exec(args: ExecArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.verbose);
    let engine = build_engine(&args).await?;
    let statements = match engine.parse(&args.sql) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let stdout = std::io::stdout();
    for s in &statements {
        match engine.run(s).await {
            Ok(result) => {
                for n in &result.notices {
                    eprintln!("notice: {n}");
                }
                if let Some(m) = &result.message {
                    eprintln!("{m}");
                }
                if !result.columns.is_empty() {
                    let mut out = stdout.lock();
                    output::write(&mut out, args.output, &result)?;
                    out.flush()?;
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
