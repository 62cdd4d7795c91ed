//! Runs every `tests/slt/*.slt` file against an engine with its own in-process mock.
//!
//! A file's first lines may configure its mock: `# mock: images=201 latency_ms=0 seed=7`.
//! `# provider: testing` runs it against `tests/providers/testing` instead, answered from
//! `tests/fixtures/testing/` (GET `/v1/odd` is `v1/odd.json`).
//! `statement error <regex>` / `query error <regex>` pin error texts. In a row, the sandbox's
//! port (chosen per run) reads `127.0.0.1:<port>`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use iql::{Cell, ColumnType, Engine, SandboxConfig};
use sqllogictest::{DBOutput, DefaultColumnType};

struct IqlDb {
    engine: Engine,
}

#[derive(Debug)]
struct TestError(String);

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TestError {}

fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Null => "NULL".to_string(),
        Cell::Text(s) if s.is_empty() => "(empty)".to_string(),
        other => without_port(&other.to_string()),
    }
}

/// `text` with every `127.0.0.1:NNNN` written `127.0.0.1:<port>`.
fn without_port(text: &str) -> String {
    const HOST: &str = "127.0.0.1:";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(HOST) {
        let after = &rest[at + HOST.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(&rest[..at + HOST.len()]);
        if digits > 0 {
            out.push_str("<port>");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for IqlDb {
    type Error = TestError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, TestError> {
        let mut results = self
            .engine
            .execute(sql)
            .await
            .map_err(|e| TestError(e.to_string()))?;
        let Some(last) = results.pop() else {
            return Ok(DBOutput::StatementComplete(0));
        };
        if let Some(n) = last.affected {
            return Ok(DBOutput::StatementComplete(n));
        }
        let types = last
            .columns
            .iter()
            .map(|c| match c.column_type {
                ColumnType::Integer => DefaultColumnType::Integer,
                ColumnType::Real => DefaultColumnType::FloatingPoint,
                ColumnType::Text => DefaultColumnType::Text,
                _ => DefaultColumnType::Any,
            })
            .collect();
        let rows = last
            .rows
            .iter()
            .map(|r| r.iter().map(cell_text).collect())
            .collect();
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

/// The spec a file names in `# generate: NAME` (`tests/generator/NAME/spec.yaml`): its provider
/// documents are generated for the file (provider `gen`) and answered from `tests/fixtures/gen`.
fn generated_provider(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix("# generate:"))?
        .trim()
        .to_string();
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("generator")
        .join(&name)
        .join("spec.yaml");
    let out = std::env::temp_dir().join(format!("iql-slt-gen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    iql_generate::generate(&spec, "gen", &iql_generate::GenerateConfig::default())
        .unwrap()
        .write(&out)
        .unwrap();
    Some(out)
}

/// The test provider a file names in `# provider: NAME`, if any.
fn test_provider(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix("# provider:"))
        .map(|p| p.trim().to_string())
}

/// Serves `tests/fixtures/<provider>/<path>.json` for a GET of `<path>`, and
/// `<path>.<method>.json` (`actions.post.json`) for other methods; a missing file is
/// DigitalOcean's 404. Returns the base URL.
async fn fixture_server(provider: &str) -> String {
    use axum::http::{Method, StatusCode, Uri};
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(provider);
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri| {
        let path = uri.path().trim_start_matches('/');
        let file = if method == Method::GET {
            root.join(format!("{path}.json"))
        } else {
            root.join(format!("{path}.{}.json", method.as_str().to_lowercase()))
        };
        async move {
            match std::fs::read_to_string(&file) {
                Ok(body) => (StatusCode::OK, body),
                Err(_) => (
                    StatusCode::NOT_FOUND,
                    r#"{"id":"not_found","message":"no fixture"}"#.to_string(),
                ),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// The mock's settings and the wait timeout for a file.
fn mock_config(path: &Path) -> (SandboxConfig, std::time::Duration) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut cfg = SandboxConfig::default();
    let mut wait_timeout = std::time::Duration::from_secs(5);
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        let Some(spec) = line.strip_prefix("# mock:") else {
            continue;
        };
        for kv in spec.split_whitespace() {
            let (k, v) = kv.split_once('=').unwrap();
            match k {
                "images" => cfg.images = v.parse().unwrap(),
                "seed" => cfg.seed = v.parse().unwrap(),
                "latency_ms" => cfg.latency = std::time::Duration::from_millis(v.parse().unwrap()),
                "error_rate" => cfg.error_rate = v.parse().unwrap(),
                "rate_limit_rate" => cfg.rate_limit_rate = v.parse().unwrap(),
                "action_outcome" => {
                    cfg.action_outcome = match v {
                        "completed" => iql::ActionOutcome::Completed,
                        "errored" => iql::ActionOutcome::Errored,
                        "never" => iql::ActionOutcome::Never,
                        other => panic!("{}: unknown action_outcome {other}", path.display()),
                    }
                }
                "wait_timeout_ms" => {
                    wait_timeout = std::time::Duration::from_millis(v.parse().unwrap())
                }
                other => panic!("{}: unknown mock setting {other}", path.display()),
            }
        }
    }
    (cfg, wait_timeout)
}

async fn run_file(name: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("slt")
        .join(name);
    let (cfg, wait_timeout) = mock_config(&path);
    let generated = generated_provider(&path);
    let provider = match &generated {
        Some(_) => Some("gen".to_string()),
        None => test_provider(&path),
    };
    let fixtures = match &provider {
        Some(p) => Some(fixture_server(p).await),
        None => None,
    };
    let providers_root = generated
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("providers"));
    let mut runner = sqllogictest::Runner::new(|| {
        let cfg = cfg.clone();
        let provider = provider.clone();
        let fixtures = fixtures.clone();
        let providers_root = providers_root.clone();
        async move {
            let builder = match (provider, fixtures) {
                (Some(p), Some(url)) => Engine::builder()
                    .providers_root(providers_root)
                    .endpoint(&p, &url)
                    .credential(&p, "test-token"),
                _ => Engine::builder().sandbox(cfg),
            };
            let engine = builder
                .retry_backoff(std::time::Duration::from_millis(1))
                // retries.slt injects 20% failures; which request meets several in a row depends on
                // how requests interleave. 8 retries make exhausting them about 5e-7 per request.
                .max_retries(8)
                .wait_policy(std::time::Duration::from_millis(5), wait_timeout)
                .build()
                .await
                .map_err(|e| TestError(e.to_string()))?;
            Ok(IqlDb { engine })
        }
    });
    if let Err(e) = runner.run_file_async(&path).await {
        panic!("{}: {}", path.display(), e.display(true));
    }
}

macro_rules! slt {
    ($($test:ident => $file:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                run_file($file).await;
            }
        )*
        const FILES: &[&str] = &[$($file),*];
    };
}

slt! {
    select_methods => "select_methods.slt",
    type_rule => "type_rule.slt",
    pagination_1 => "pagination_1.slt",
    pagination_200 => "pagination_200.slt",
    pagination_201 => "pagination_201.slt",
    postgres_syntax => "postgres_syntax.slt",
    pagination_10000 => "pagination_10000.slt",
    sql_features => "sql_features.slt",
    sandbox_everything => "sandbox_everything.slt",
    stackql_documents => "stackql_documents.slt",
    joins => "joins.slt",
    meta => "meta.slt",
    errors => "errors.slt",
    seed_examples => "seed_examples.slt",
    retries => "retries.slt",
    mutations => "mutations.slt",
    mutation_errors => "mutation_errors.slt",
    await_errored => "await_errored.slt",
    await_never => "await_never.slt",
    delete_returning => "delete_returning.slt",
    subqueries => "subqueries.slt",
    views => "views.slt",
    seed_mutations => "seed_mutations.slt",
    outcome_unknown => "outcome_unknown.slt",
    odd_names => "odd_names.slt",
    generator_rules => "generator_rules.slt",
}

#[test]
fn every_slt_file_is_run() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("slt");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".slt"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "add new .slt files to the slt! list");
}
