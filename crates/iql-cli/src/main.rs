//! `iql`: query and manage cloud APIs with SQL.
//!
//! Exit codes: 0 every statement succeeded; 1 a statement failed (its error is on stderr, later
//! statements were not run); 2 the command line or a template was wrong (nothing was run).

mod console;
mod output;
mod shell;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use iql::{Engine, SandboxConfig};
use serde_json::Value;

use console::{Console, Outcome};
use output::Format;

const EXAMPLES: &str = "\
Examples:
  iql exec --sandbox \"SELECT name, slug FROM digitalocean.compute.images WHERE type = 'distribution'\"
  iql exec --sandbox -o json \"SELECT type, count(*) AS n FROM digitalocean.compute.images GROUP BY type\"
  iql exec --sandbox -i examples/images_report.iql --var region=nyc3
  iql shell --sandbox
  DIGITALOCEAN_TOKEN=… iql exec \"SELECT id, name FROM digitalocean.compute.images WHERE private = true\"

Exit codes: 0 success; 1 a statement failed; 2 bad command line or template.";

/// `iql --version`: the release, the commit it was built from and that commit's date, and the
/// bundled provider (build.rs reads git; a build outside a checkout says so).
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("IQL_COMMIT"),
    ", ",
    env!("IQL_COMMIT_DATE"),
    ")\nbundled: DigitalOcean, 19 services, 259 resources, generated from DigitalOcean's official OpenAPI specification as of that commit"
);

#[derive(Parser)]
#[command(name = "iql", version, long_version = LONG_VERSION, about = "Query and manage cloud APIs with SQL", after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run SQL statements (separated by ';') from the command line or a file, and print their results.
    #[command(after_help = "\
Examples:
  iql exec --sandbox \"SELECT count(*) FROM digitalocean.compute.images\"
  iql exec --sandbox -o csv --outfile images.csv \"SELECT id, name FROM digitalocean.compute.images WHERE private = true\"
  iql exec --sandbox -i report.iql --var region=nyc3 --vars vars.yaml
  iql exec --sandbox --dry-run \"DELETE FROM digitalocean.compute.images WHERE image_id IN (1, 2)\"
  echo \"SELECT id FROM digitalocean.compute.images LIMIT 3;\" | iql exec --sandbox -o csv
  iql exec --endpoint digitalocean=http://127.0.0.1:4010 \"SELECT id FROM digitalocean.compute.images\"")]
    Exec(ExecArgs),
    /// An interactive SQL shell with completion and history.
    #[command(after_help = "\
Examples:
  iql shell --sandbox
  DIGITALOCEAN_TOKEN=… iql shell -o json

In the shell: statements end with ';'; .help lists the shell commands; Ctrl-C cancels a running
statement; Ctrl-D leaves.")]
    Shell(ShellArgs),
    /// Serve iql over the PostgreSQL wire protocol: psql, drivers and BI tools connect to it.
    #[command(after_help = "\
Examples:
  iql serve --sandbox
  psql -h 127.0.0.1 -p 5444 -c \"SELECT name FROM digitalocean.compute.images LIMIT 3\"
  DIGITALOCEAN_TOKEN=… iql serve --listen 127.0.0.1:6543 --statement-timeout 60

Each connection is a session of its own; all share one engine (one request bound, one response
cache, one store). Loopback only: connections carry no password and no TLS.")]
    Serve(ServeArgs),
    /// Provider documents: generate them from an OpenAPI specification, or write their reference.
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Print a completion script for a shell, made from the same definitions as --help.
    #[command(after_help = "\
Examples:
  iql completions bash > ~/.local/share/bash-completion/completions/iql
  iql completions zsh > \"${fpath[1]}/_iql\"
  iql completions fish > ~/.config/fish/completions/iql.fish")]
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
    /// Print iql's manual page (roff), made from the same definitions as --help.
    #[command(after_help = "\
Examples:
  iql manual > ~/.local/share/man/man1/iql.1 && man iql
  iql manual | man -l -")]
    Manual,
}

#[derive(Subcommand)]
enum ProviderCommand {
    /// Generate provider documents in StackQL's format from an OpenAPI 3 specification
    /// (following $refs across its files): provider.yaml and services/<service>.yaml.
    #[command(after_help = "\
Example (DigitalOcean's whole API, as bundled with iql):
  iql provider generate --spec ../shared/do-openapi/full/DigitalOcean-public.v2.yaml \\
    --provider digitalocean --config providers/generate/digitalocean.yaml --out providers

The rules are in docs/writing-providers.md.")]
    Generate(GenerateArgs),
    /// Write a Markdown reference of a provider: per service, each resource's columns, its
    /// methods, what they need, and a first SELECT.
    #[command(after_help = "\
Example (the reference in docs/, from the bundled provider):
  iql provider reference --provider digitalocean --out docs/reference")]
    Reference(ReferenceArgs),
}

#[derive(Args)]
struct ReferenceArgs {
    /// The provider to describe.
    #[arg(long)]
    provider: String,
    /// Read provider documents from DIR (DIR/<provider>/<version>/) instead of the bundled ones.
    #[arg(long, value_name = "DIR")]
    registry: Option<PathBuf>,
    /// Where to write: OUT/PROVIDER/README.md and OUT/PROVIDER/<service>.md.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Args)]
struct GenerateArgs {
    /// The OpenAPI document (YAML or JSON); files it references are read too.
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,
    /// The provider's name, as in SQL: provider.service.resource.
    #[arg(long)]
    provider: String,
    /// Where to write: OUT/PROVIDER/VERSION/provider.yaml and services/*.yaml.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Names the rules cannot know (tag → service, operationId → resource); see
    /// providers/generate/digitalocean.yaml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct ExecArgs {
    /// The SQL to run (or use -i FILE, or pipe it in).
    #[arg(conflicts_with = "infile")]
    sql: Option<String>,
    /// Read the SQL from a file, '-' for standard input (an .iql template: {{ name }} is filled
    /// from --var/--vars). With neither SQL nor -i, piped standard input is read (templated only
    /// when --var/--vars are given).
    #[arg(short = 'i', long = "infile", value_name = "FILE")]
    infile: Option<PathBuf>,
    #[command(flatten)]
    template: TemplateArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args)]
struct ShellArgs {
    #[command(flatten)]
    template: TemplateArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:5444", value_name = "HOST:PORT")]
    listen: std::net::SocketAddr,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Seconds a statement may run before it is cancelled (0: no limit).
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    statement_timeout: u64,
    /// Do not refresh the materialized views created WITH (refresh_interval = …) when they are
    /// due (by default every server on a store does, and one of them does each refresh).
    #[arg(long)]
    no_refresh_schedule: bool,
    /// TLS certificate chain (PEM). With --tls-key and a password, clients must use TLS and
    /// SCRAM-SHA-256; required to listen off loopback.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// TLS private key (PEM), for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// A file holding the password clients must give (else the IQL_SERVE_PASSWORD environment
    /// variable; never a flag value, which other users can see in the process list).
    #[arg(long, value_name = "FILE")]
    password_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Values for `{{ name }}` in .iql files (`exec -i`, the shell's `.read`).
#[derive(Args)]
struct TemplateArgs {
    /// A template variable for .iql files (exec -i, the shell's .read), or for inline SQL, which is
    /// templated only when variables are given: NAME=VALUE (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Template variables from a JSON or YAML file (repeatable; --var wins).
    #[arg(long = "vars", value_name = "FILE")]
    vars_files: Vec<String>,
}

impl TemplateArgs {
    fn load(&self) -> Result<BTreeMap<String, Value>, iql_template::TemplateError> {
        iql_template::load_vars(&self.vars_files, &self.vars)
    }
}

#[derive(Args)]
struct OutputArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: Format,
    /// Write results to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    outfile: Option<PathBuf>,
    /// Leave out the header row (table, csv, text).
    #[arg(long)]
    no_headers: bool,
    /// No notices about what a statement did; errors and warnings still go to stderr.
    #[arg(short, long)]
    quiet: bool,
    /// Print the time each statement took, with its rows and requests.
    #[arg(long)]
    timer: bool,
}

#[derive(Args)]
struct EngineArgs {
    /// Run against the built-in DigitalOcean mock: no account, nothing leaves this machine. It
    /// answers every operation of api.digitalocean.com (images and image actions by hand-made
    /// rules, the rest from the bundled documents' schemas), statefully, fresh each run; the
    /// inference API, on a server of its own, is an error that says so.
    #[arg(long)]
    sandbox: bool,
    /// Images in the sandbox account (at most 100000).
    #[arg(long, default_value_t = 60, requires = "sandbox", value_parser = clap::value_parser!(u32).range(0..=iql::MAX_SANDBOX_IMAGES as i64))]
    sandbox_images: u32,
    /// Delay of every sandbox answer, in milliseconds (to try progress and Ctrl-C).
    #[arg(long, default_value_t = 0, requires = "sandbox")]
    sandbox_latency_ms: u64,
    /// Seed of the sandbox account: the same seed, the same ids, names and dates in every run.
    #[arg(long, default_value_t = 42, requires = "sandbox")]
    sandbox_seed: u64,
    /// Send a provider's requests elsewhere: PROVIDER=URL (repeatable).
    #[arg(long, value_name = "PROVIDER=URL")]
    endpoint: Vec<String>,
    /// Where provider documents live (default: the ones built into iql).
    #[arg(long, value_name = "DIR")]
    registry: Option<PathBuf>,
    /// Credentials as StackQL takes them: '{"digitalocean":{"type":"bearer","credentialsenvvar":"MY_TOKEN"}}'; types bearer, basic ("username_var", "password_var"), api_key ("credentialsenvvar", "valuePrefix", header "name"), null_auth.
    #[arg(long, value_name = "JSON")]
    auth: Option<String>,
    /// Requests in flight at once (at least 1).
    #[arg(long, default_value_t = 8, value_parser = at_least_one)]
    concurrency: u64,
    /// Read at most this many pages per call (reaching it is reported); default: all pages.
    #[arg(long)]
    max_pages: Option<u64>,
    /// Most requests one table of a SELECT may fan out to (IN values, joins, subqueries); more is an
    /// error before any is sent. 0: no limit.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_fanout: usize,
    /// Seconds before one HTTP attempt gives up (at least 1).
    #[arg(long, default_value_t = 30, value_parser = at_least_one)]
    timeout: u64,
    /// DANGEROUS: allow plain http:// to hosts other than loopback. The bearer token then crosses
    /// the network unencrypted, readable by anyone on the way. Without it, http:// is refused
    /// except to 127.0.0.0/8, ::1 and localhost; use https:// instead.
    #[arg(long)]
    allow_insecure_http: bool,
    /// Print the rendered SQL and the HTTP requests each statement would send (no token), and send none.
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
    /// Seconds a GET answer is kept and reused by later statements (0: no cache). Answers are
    /// never shared between tokens; a change (INSERT, UPDATE, DELETE, EXEC) drops them.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    cache_ttl: u64,
    /// No response cache: every statement asks the API (same as --cache-ttl 0).
    #[arg(long)]
    no_cache: bool,
    /// Keep GET answers in the store too, so the next iql run within --cache-ttl uses them
    /// instead of asking again. Off by default: answers may hold secrets (database passwords,
    /// cluster configs) and the store is a file (readable by you alone).
    #[arg(long, conflicts_with = "no_cache")]
    persist_cache: bool,
    /// Where views and materialized views are kept from one run to the next: a SQLite file
    /// ("temp": a temporary one, gone at exit), or a PostgreSQL database shared by a team,
    /// postgres://USER@HOST:PORT/DB (password from PGPASSWORD or ~/.pgpass; ?sslmode=require for
    /// TLS). Default: $XDG_DATA_HOME/iql/store.sqlite (~/.local/share/iql/store.sqlite), and
    /// sandbox.sqlite beside it with --sandbox.
    #[arg(long, value_name = "PATH|URL")]
    store: Option<String>,
    /// Show each HTTP request and its status on stderr (the token is never shown).
    #[arg(long)]
    http_log: bool,
    /// More logging on stderr (-v, -vv).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// A whole number of at least 1: a zero timeout or concurrency would make every request fail.
fn at_least_one(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a whole number")),
    }
}

fn main() -> ExitCode {
    // A panic is a bug. Inside a statement it is caught and reported with the statement (and the
    // shell goes on); this one line says where it happened, instead of Rust's default text.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("iql: internal error{at}: {message}");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // SQL that starts with a comment (`-- only a comment`, `--\nSELECT …`) looks like an
            // option to the argument parser: say how to pass it.
            let sql_like = std::env::args()
                .skip(1)
                .find(|a| a.starts_with("--") && a.contains(char::is_whitespace));
            if let (clap::error::ErrorKind::UnknownArgument, Some(arg)) = (e.kind(), sql_like) {
                eprintln!(
                    "error: '{}' was taken for an option because it starts with --; to pass SQL that starts with a comment, put -- before it (iql exec --sandbox -- '{}'), pipe it in, or give it in a file with -i",
                    arg.lines().next().unwrap_or_default(),
                    arg.replace('\'', "'\\''")
                );
                return ExitCode::from(2);
            }
            e.exit()
        }
    };
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
        Command::Exec(args) => exec(&rt, args),
        Command::Shell(args) => shell(&rt, args),
        Command::Serve(args) => serve(&rt, args),
        Command::Provider(ProviderCommand::Generate(args)) => generate(args),
        Command::Provider(ProviderCommand::Reference(args)) => reference(args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "iql", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Manual => manual(),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Logging on stderr; a server also says what its refresh schedule did.
fn init_logging(args: &EngineArgs, serving: bool) {
    let filter = match (args.verbose, args.http_log) {
        (0, false) if serving => "warn,iql_serve=info",
        (0, true) if serving => "warn,iql_serve=info,iql_http=debug",
        (0, false) => "warn",
        (0, true) => "warn,iql_http=debug",
        (1, _) => "info,iql_http=debug,iql_engine=debug",
        _ => "debug",
    };
    let ansi = std::env::var_os("NO_COLOR").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .try_init();
}

/// `$XDG_DATA_HOME`, else `~/.local/share` (where the store lives unless --store says).
fn data_dir() -> Option<std::path::PathBuf> {
    let set = |v: &str| std::env::var_os(v).filter(|p| !p.is_empty());
    set("XDG_DATA_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| set("HOME").map(|h| std::path::PathBuf::from(h).join(".local/share")))
}

async fn build_engine(args: &EngineArgs) -> anyhow::Result<Engine> {
    let mut b = Engine::builder()
        .concurrency(args.concurrency as usize)
        .allow_insecure_http(args.allow_insecure_http)
        .max_pages(args.max_pages)
        .max_fanout((args.max_fanout > 0).then_some(args.max_fanout))
        .timeout(Duration::from_secs(args.timeout))
        .dry_run(args.dry_run)
        .cache_ttl(if args.no_cache {
            Duration::ZERO
        } else {
            Duration::from_secs(args.cache_ttl)
        })
        .persist_cache(args.persist_cache)
        .wait_always(args.wait)
        .wait_policy(
            Duration::from_secs(args.poll_interval.max(1)),
            Duration::from_secs(args.wait_timeout),
        );
    if let Some(dir) = &args.registry {
        b = b.providers_root(dir);
    }
    match args.store.as_deref() {
        Some("temp") | Some(":memory:") => {}
        Some(path) => b = b.store(path),
        None => {
            if let Some(dir) = data_dir() {
                let file = if args.sandbox {
                    "sandbox.sqlite"
                } else {
                    "store.sqlite"
                };
                b = b.store(dir.join("iql").join(file));
            }
        }
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
            if !cfg.is_object() {
                bail!("--auth: {provider}'s entry must be an object, e.g. {{\"type\": \"bearer\", \"credentialsenvvar\": \"MY_TOKEN\"}}");
            }
            b = b.auth(provider, cfg);
        }
    }
    if args.sandbox {
        b = b.sandbox(SandboxConfig {
            images: args.sandbox_images as usize,
            latency: Duration::from_millis(args.sandbox_latency_ms),
            seed: args.sandbox_seed,
            ..SandboxConfig::default()
        });
    }
    b.build().await.map_err(|e| match e {
        // Name the option the user wrote, not the library's setting.
        iql::Error::Config { setting, message } => {
            let flag = match setting {
                "endpoint" => "--endpoint",
                "credential_env_var" | "auth" => "--auth",
                "sandbox" => "--sandbox",
                other => other,
            };
            anyhow::anyhow!("{flag}: {message}")
        }
        iql::Error::Provider(e) if args.registry.is_some() => {
            anyhow::anyhow!("--registry: {e}")
        }
        other => other.into(),
    })
}

fn console(engine: Engine, args: &OutputArgs) -> anyhow::Result<Console> {
    let out: Box<dyn Write + Send> = match &args.outfile {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout()),
    };
    Ok(Console {
        session: engine.session(),
        engine,
        format: args.output,
        headers: !args.no_headers,
        timer: args.timer,
        quiet: args.quiet,
        out,
        display: Default::default(),
        csv_columns: None,
    })
}

fn exec(rt: &tokio::runtime::Runtime, args: ExecArgs) -> anyhow::Result<ExitCode> {
    init_logging(&args.engine, false);
    let stdin = || -> anyhow::Result<String> {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the SQL from standard input")?;
        Ok(text)
    };
    let source = match (&args.sql, &args.infile) {
        (Some(sql), _) => sql.clone(),
        (None, Some(path)) if path.as_os_str() == "-" => stdin()?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        // Piped SQL; nothing piped (a cron job, `< /dev/null`) is the same mistake as no SQL at
        // all, and so is an empty argument or file: see the check after templating.
        (None, None) if !std::io::stdin().is_terminal() => stdin()?,
        (None, None) => {
            bail!("no SQL: give the SQL to run, -i FILE, or pipe it in (iql exec --help)")
        }
    };
    // A byte-order mark some editors write is not SQL.
    let source = source
        .strip_prefix('\u{feff}')
        .unwrap_or(&source)
        .to_string();
    let vars = args.template.load()?;
    // Files are templates; SQL given inline or piped is run as written unless variables are given
    // for it, so `SELECT '{{'` means the same here as in the shell.
    let templated = args.infile.is_some() || !vars.is_empty();
    let sql = if templated {
        iql_template::render(&source, &vars)?
    } else {
        source.clone()
    };
    // One rule for every source: input without a statement (empty, blank, only comments) is a
    // mistake (an unset variable, an empty file, nothing piped), not a script that did nothing.
    if iql_sql::split_statements(&sql).is_ok_and(|s| s.is_empty()) {
        let what = if source.trim().is_empty() {
            "the input is empty"
        } else {
            "the input holds only comments"
        };
        bail!("no SQL: {what}; give the SQL to run, -i FILE, or pipe it in (iql exec --help)");
    }
    let engine = rt.block_on(build_engine(&args.engine))?;
    let mut console = console(engine, &args.output)?;
    if args.engine.dry_run {
        // Diagnostics on stderr, so stdout stays the results alone (a JSON document parses).
        let label = if templated { "rendered SQL" } else { "SQL" };
        eprintln!("-- {label}:\n{}\n", sql.trim_end());
    }
    let outcome = rt.block_on(console.run_script(&sql, std::future::pending::<()>));
    console.out.flush()?;
    Ok(match outcome {
        Outcome::Done => ExitCode::SUCCESS,
        Outcome::Failed | Outcome::Cancelled => ExitCode::from(1),
    })
}

/// The man page, iql(1): the command, then each subcommand's synopsis and options.
fn manual() -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let command = <Cli as clap::CommandFactory>::command();
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    for sub in command.get_subcommands() {
        writeln!(out, ".SH \"IQL {}\"", sub.get_name().to_uppercase())?;
        let man = clap_mangen::Man::new(sub.clone().bin_name(format!("iql {}", sub.get_name())));
        man.render_description_section(&mut out)?;
        man.render_synopsis_section(&mut out)?;
        man.render_options_section(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(file) => iql_generate::GenerateConfig::load(file)?,
        None => iql_generate::GenerateConfig::default(),
    };
    let started = std::time::Instant::now();
    let generated = iql_generate::generate(&args.spec, &args.provider, &config)?;
    generated.write(&args.out)?;
    let resources: usize = generated.outline.values().map(|r| r.len()).sum();
    let methods: usize = generated
        .outline
        .values()
        .flat_map(|r| r.values())
        .map(Vec::len)
        .sum();
    eprintln!(
        "wrote {}/{}/{}: {} services, {resources} resources, {methods} methods, from {} files in {:.1} s",
        args.out.display(),
        generated.provider,
        generated.version,
        generated.services.len(),
        generated.files_read,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn reference(args: ReferenceArgs) -> anyhow::Result<ExitCode> {
    let registry = match &args.registry {
        Some(dir) => iql_provider::Registry::from_dir(dir)?,
        None => iql_provider::Registry::bundled(),
    };
    let provider = registry.provider(&args.provider)?;
    let pages = iql_provider::provider_reference(&provider)?;
    let dir = args.out.join(&provider.name);
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    for page in &pages {
        let file = dir.join(&page.file);
        std::fs::write(&file, &page.text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
    }
    eprintln!("wrote {} pages to {}", pages.len(), dir.display());
    Ok(ExitCode::SUCCESS)
}

fn shell(rt: &tokio::runtime::Runtime, args: ShellArgs) -> anyhow::Result<ExitCode> {
    init_logging(&args.engine, false);
    let vars = args.template.load()?;
    let engine = rt.block_on(build_engine(&args.engine))?;
    let console = console(engine, &args.output)?;
    let ok = shell::run(rt, console, &vars)?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn serve(rt: &tokio::runtime::Runtime, args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging(&args.engine, true);
    let password = match &args.password_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the password file {}", f.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        ),
        None => std::env::var("IQL_SERVE_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty()),
    };
    let security = match (&args.tls_cert, &args.tls_key, password) {
        (Some(cert), Some(key), Some(password)) => {
            Some(iql_serve::Security::load(cert, key, password)?)
        }
        (Some(_), _, None) => bail!(
            "--tls-cert needs a password for clients: put it in IQL_SERVE_PASSWORD or a file given by --password-file"
        ),
        (None, _, Some(_)) => bail!(
            "a password without TLS would cross the network readable: give --tls-cert FILE --tls-key FILE too"
        ),
        _ => None,
    };
    let config = iql_serve::ServeConfig {
        listen: args.listen,
        security,
        max_connections: args.max_connections as usize,
        statement_timeout: (args.statement_timeout > 0)
            .then(|| Duration::from_secs(args.statement_timeout)),
        refresh_views: !args.no_refresh_schedule,
    };
    // Refused before anything starts (the sandbox included).
    iql_serve::check_listen(config.listen, config.security.is_some())?;
    let engine = rt.block_on(build_engine(&args.engine))?;
    rt.block_on(async move {
        let listener = iql_serve::bind(&config).await?;
        let addr = listener.local_addr()?;
        println!("listening on postgres://{addr}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let shutdown = async {
            #[cfg(unix)]
            {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
                match term.as_mut() {
                    Ok(t) => {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = t.recv() => {}
                        }
                    }
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
        };
        iql_serve::serve(engine, listener, config, shutdown).await;
        eprintln!("stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
