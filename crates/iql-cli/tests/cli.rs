//! The `iql` command as users see it: output formats, help texts, error messages and exit codes,
//! pinned as insta snapshots; and every `examples/*.iql` run against the sandbox.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Sandbox ports and temp paths vary from run to run: replace them for snapshots.
fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("127.0.0.1:") {
        out.push_str(&rest[..i + "127.0.0.1:".len()]);
        rest = &rest[i + "127.0.0.1:".len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("PORT");
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out.replace(env!("CARGO_MANIFEST_DIR"), "[crate]")
}

fn iql(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_iql"))
        .env("XDG_DATA_HOME", data_home())
        .args(args)
        .env_remove("DIGITALOCEAN_TOKEN")
        .env("NO_COLOR", "1")
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: normalize(&String::from_utf8_lossy(&out.stdout)),
        stderr: normalize(&String::from_utf8_lossy(&out.stderr)),
    }
}

fn sandbox(args: &[&str]) -> Run {
    let mut all = vec!["exec", "--sandbox"];
    all.extend_from_slice(args);
    iql(&all)
}

const MIXED: &str = "SELECT id, name, public, slug, regions, size_gigabytes FROM digitalocean.compute.images WHERE image_id IN (100017, 100143) ORDER BY id; \
                     SELECT 'a,\"b\"' AS tricky, NULL AS missing, 1.5 AS x, 'tab\there' AS t";

#[test]
fn every_output_format() {
    for format in ["table", "json", "jsonl", "csv", "text"] {
        let stdout = if format == "csv" {
            // CSV is one table: each statement in a command of its own.
            MIXED
                .split(';')
                .map(|statement| {
                    let r = sandbox(&["-o", format, statement]);
                    assert_eq!(r.code, 0, "{}", r.stderr);
                    r.stdout
                })
                .collect::<String>()
        } else {
            let r = sandbox(&["-o", format, MIXED]);
            assert_eq!(r.code, 0, "{}", r.stderr);
            r.stdout
        };
        insta::assert_snapshot!(format!("format_{format}"), stdout);
    }
}

#[test]
fn no_headers_and_outfile() {
    let r = sandbox(&["-o", "csv", "--no-headers", "SELECT slug FROM digitalocean.compute.images WHERE type = 'distribution' ORDER BY slug LIMIT 2"]);
    assert_eq!(r.stdout, "arch-linux-x64\ncentos-stream-9-x64\n");
    let file = std::env::temp_dir().join(format!("iql-outfile-{}.json", std::process::id()));
    let r = sandbox(&[
        "-o",
        "json",
        "--outfile",
        file.to_str().unwrap(),
        "SELECT 1 AS one",
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "[{\"one\":1}]\n");
    let _ = std::fs::remove_file(file);
}

#[test]
fn help_texts() {
    insta::assert_snapshot!("help", iql(&["--help"]).stdout);
    insta::assert_snapshot!("help_exec", iql(&["exec", "--help"]).stdout);
    insta::assert_snapshot!("help_shell", iql(&["shell", "--help"]).stdout);
    insta::assert_snapshot!("help_serve", iql(&["serve", "--help"]).stdout);
    // The shell's own .help, read from a pipe.
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_iql"))
        .env("XDG_DATA_HOME", data_home())
        .env("NO_COLOR", "1")
        .args(["shell", "--store", "temp", "--dry-run"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b".help\n").unwrap();
    let out = child.wait_with_output().unwrap();
    insta::assert_snapshot!("shell_dot_help", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn errors_and_exit_codes() {
    let cases: &[(&str, &[&str])] = &[
        ("syntax", &["--sandbox", "SELECT id\nFROM digitalocean.compute.images\nWHERE = 1"]),
        ("unknown_resource", &["--sandbox", "SELECT * FROM digitalocean.compute.imagez"]),
        ("missing_parameter", &["--sandbox", "SELECT * FROM digitalocean.compute.image_actions"]),
        // a key that is not there is no row, with a notice; a mutation on it is an HTTP error
        ("not_found", &["--sandbox", "SELECT id, name FROM digitalocean.compute.images WHERE image_id IN (1, 100010)"]),
        ("http_error", &["--sandbox", "DELETE FROM digitalocean.compute.images WHERE image_id = 1"]),
        ("bad_region", &["--sandbox", "INSERT INTO digitalocean.compute.images (name, url, region) VALUES ('x', 'http://x', 'mars1')"]),
        ("no_token", &["SELECT id FROM digitalocean.compute.images"]),
        ("undefined_variable", &["--sandbox", "--var", "other=1", "SELECT 1;\nSELECT '{{ image_id }}'"]),
        ("bad_endpoint", &["--endpoint", "nourl", "SELECT 1"]),
        ("endpoint_not_a_url", &["--endpoint", "digitalocean=notaurl", "SELECT 1"]),
        ("endpoint_unknown_provider", &["--endpoint", "digitalocaen=http://127.0.0.1:4100", "--dry-run", "DELETE FROM digitalocean.compute.images WHERE image_id = 5"]),
        ("endpoint_in_clear", &["--endpoint", "digitalocean=http://iql-test.invalid", "SELECT id FROM digitalocean.compute.images"]),
        ("sandbox_and_endpoint", &["--sandbox", "--endpoint", "digitalocean=http://127.0.0.1:4100", "SELECT 1"]),
        ("registry_missing", &["--registry", "/nonexistent/iql-registry", "SELECT 1"]),
        ("timeout_zero", &["--timeout", "0", "SELECT 1"]),
        ("concurrency_zero", &["--concurrency", "0", "SELECT 1"]),
        ("end_of_input", &["SELECT 1;\nSELECT id\nFROM"]),
        ("second_statement_fails", &["--sandbox", "SELECT 1 AS ok; SELECT nope FROM digitalocean.compute.images; SELECT 3"]),
    ];
    for (name, args) in cases {
        let mut all = vec!["exec"];
        all.extend_from_slice(args);
        let r = iql(&all);
        insta::assert_snapshot!(
            format!("error_{name}"),
            format!(
                "exit {}\n--- stdout\n{}--- stderr\n{}",
                r.code, r.stdout, r.stderr
            )
        );
    }
    // No SQL, from any source (stdin here is empty, not a terminal), and clap's own usage errors
    // exit with 2 too.
    for (args, what) in [
        (&["exec"][..], "the input is empty"),
        (&["exec", ""], "the input is empty"),
        (&["exec", "--sandbox", "  \n"], "the input is empty"),
        (
            &["exec", "--sandbox", "--", "-- only a comment"],
            "the input holds only comments",
        ),
    ] {
        let r = iql(args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(
            r.stderr
                .starts_with(&format!("error: no SQL: {what}; give the SQL to run")),
            "{args:?}: {}",
            r.stderr
        );
    }
    // SQL that starts with a comment is taken for an option: the error says how to pass it.
    let r = iql(&["exec", "--sandbox", "-- only a comment"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("put -- before it (iql exec --sandbox -- '-- only a comment')"),
        "{}",
        r.stderr
    );
    // A sandbox too big to hold is refused before anything starts.
    let r = iql(&[
        "exec",
        "--sandbox",
        "--sandbox-images",
        "100000000",
        "SELECT 1",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("100000000 is not in 0..=100000"),
        "{}",
        r.stderr
    );
    // -o csv writes one table: a statement with other columns is refused, exit 1.
    let r = sandbox(&["-o", "csv", "SELECT 1 AS a; SELECT 2 AS b"]);
    assert_eq!((r.code, r.stdout.as_str()), (1, "a\n1\n"));
    assert!(
        r.stderr
            .contains("-o csv writes one table, with the columns (a)"),
        "{}",
        r.stderr
    );
    assert_eq!(
        iql(&["exec", "--sandbox", "-o", "yaml", "SELECT 1"]).code,
        2
    );
}

#[test]
fn inline_sql_is_templated_only_when_variables_are_given() {
    // Literal braces survive, as in the shell.
    let r = sandbox(&["-o", "csv", "SELECT '{{' AS a, '{% x %}' AS b"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "a,b\n{{,{% x %}\n"),
        "{}",
        r.stderr
    );
    // With --var, inline SQL is a template.
    let r = sandbox(&["-o", "csv", "--var", "n=2", "SELECT {{ n }} + 1 AS three"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "three\n3\n"),
        "{}",
        r.stderr
    );
    // A byte-order mark at the start of the SQL is skipped.
    let r = sandbox(&["-o", "csv", "\u{feff}SELECT 1 AS one"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "one\n1\n"), "{}", r.stderr);
}

#[test]
fn dry_run_keeps_stdout_for_results() {
    // The SQL shown by a dry run goes to stderr, so a JSON document on stdout parses.
    let dir = std::env::temp_dir().join(format!("iql-dry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("q.iql");
    std::fs::write(
        &file,
        "DELETE FROM digitalocean.compute.images WHERE image_id = {{ id }};",
    )
    .unwrap();
    let r = sandbox(&[
        "--dry-run",
        "-o",
        "json",
        "-i",
        file.to_str().unwrap(),
        "--var",
        "id=7",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let parsed: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(parsed[0]["url"], "http://127.0.0.1:PORT/v2/images/7");
    assert!(
        r.stderr.contains(
            "-- rendered SQL:\nDELETE FROM digitalocean.compute.images WHERE image_id = 7;"
        ),
        "{}",
        r.stderr
    );
    // Inline SQL is shown too.
    let r = sandbox(&[
        "--dry-run",
        "-o",
        "json",
        "SELECT id FROM digitalocean.compute.images",
    ]);
    assert!(
        r.stderr
            .starts_with("-- SQL:\nSELECT id FROM digitalocean.compute.images"),
        "{}",
        r.stderr
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn templates_and_dry_run() {
    let r = sandbox(&[
        "--dry-run",
        "--var",
        "name=o'brien",
        "--var",
        "id=7",
        "SELECT * FROM digitalocean.compute.images WHERE image_id = {{ id }}; DELETE FROM digitalocean.compute.images WHERE image_id = '{{ id }}'; SELECT '{{ name }}' AS name",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("dry_run", r.stdout);
}

#[test]
fn http_log_shows_requests_but_never_the_token() {
    let r = sandbox(&[
        "--http-log",
        "SELECT count(*) FROM digitalocean.compute.images WHERE type = 'distribution'",
    ]);
    assert_eq!(r.code, 0);
    assert!(
        r.stderr.contains("GET")
            && r.stderr
                .contains("/v2/images?type=distribution&per_page=200")
            && r.stderr.contains("status=200"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("iql-sandbox"),
        "the sandbox token leaked: {}",
        r.stderr
    );
}

/// Each example documents how to run it in a comment line starting with `iql exec`; run exactly that.
#[test]
fn every_example_runs_against_the_sandbox() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("iql") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let command = text
            .lines()
            .find_map(|l| {
                l.trim_start_matches(['-', ' ', '/', '*'])
                    .strip_prefix("iql exec ")
            })
            .map(|c| c.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_else(|| {
                vec![
                    "--sandbox".into(),
                    "-i".into(),
                    format!("examples/{}", path.file_name().unwrap().to_string_lossy()),
                ]
            });
        let mut args = vec!["exec".to_string(), "--poll-interval".into(), "1".into()];
        args.extend(command);
        let r = iql(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(r.code, 0, "{}: {}", path.display(), r.stderr);
        assert!(
            r.stdout.lines().count() >= 3,
            "{}: no rows:\n{}",
            path.display(),
            r.stdout
        );
        ran += 1;
    }
    assert!(ran >= 4, "only {ran} examples found");
}

#[test]
fn auth_names_the_variable_to_read_the_token_from() {
    let auth = r#"{"digitalocean":{"type":"bearer","credentialsenvvar":"IQL_TEST_TOKEN_VAR"}}"#;
    // A variable that is not set is a usage error at start, before anything runs.
    let r = iql(&[
        "exec",
        "--auth",
        auth,
        "SELECT id FROM digitalocean.compute.images",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "--auth: digitalocean's credential is to come from the environment variable IQL_TEST_TOKEN_VAR, which is not set"
        ),
        "{}",
        r.stderr
    );
    // An --auth for a provider that does not exist is refused, with the closest name.
    let r = iql(&[
        "exec",
        "--auth",
        r#"{"digitaloecan":{"credentialsenvvar":"HOME"}}"#,
        "SELECT 1",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("did you mean 'digitalocean'"),
        "{}",
        r.stderr
    );
    let r = iql(&["exec", "--auth", "{\"digitalocean\":{}}", "SELECT 1"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("--auth: digitalocean needs \"credentialsenvvar\""),
        "{}",
        r.stderr
    );
}

#[test]
fn sql_can_be_piped_in() {
    use std::io::Write;
    for args in [
        &["exec", "--sandbox", "-o", "csv"][..],
        &["exec", "--sandbox", "-o", "csv", "-i", "-"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_iql"))
            .env("XDG_DATA_HOME", data_home())
            .args(args)
            .args(["--var", "kind=distribution"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"SELECT count(*) AS n FROM digitalocean.compute.images WHERE type = '{{ kind }}';\nSELECT 7 AS n;\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // One CSV table: the second statement's rows under the first one's header.
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "n\n10\n7\n",
            "{args:?}"
        );
    }
}

#[test]
fn json_of_several_statements_is_one_document() {
    // An array of each statement's array; a statement without rows still gives its array, so a
    // script can pair arrays with statements.
    let r = sandbox(&[
        "-o",
        "json",
        "DELETE FROM digitalocean.compute.images WHERE image_id = 100143; \
         SELECT count(*) AS n FROM digitalocean.compute.images WHERE image_id IN (100143, 100150)",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc, serde_json::json!([[], [{"n": 1}]]));
    // One statement: its array alone, as before.
    let one = sandbox(&["-o", "json", "SELECT 1 AS n"]);
    assert_eq!(one.stdout, "[{\"n\":1}]\n");
    // A failure half way still leaves a document that parses, and exit 1.
    let failed = sandbox(&[
        "-o",
        "json",
        "SELECT 1 AS n; SELECT nope FROM digitalocean.compute.images; SELECT 3",
    ]);
    assert_eq!(failed.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&failed.stdout).unwrap();
    assert_eq!(doc, serde_json::json!([[{"n": 1}], []]));
    assert!(
        r.stderr
            .contains("DELETE 1: images_delete answered 204 No Content"),
        "{}",
        r.stderr
    );
}

#[test]
fn control_characters_from_api_data_are_shown_not_obeyed() {
    // An image whose name would recolour and retitle a terminal, and ring its bell.
    let evil = "evil\u{1b}[31m\u{1b}]0;pwned\u{7}\ttab\nline2";
    let insert = format!(
        "INSERT INTO digitalocean.compute.images (name, url, region) VALUES ('{evil}', 'https://example.com/e.img', 'nyc3') RETURNING name"
    );
    for format in ["table", "text"] {
        let r = sandbox(&["-o", format, &insert]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            !r.stdout.contains('\u{1b}') && !r.stdout.contains('\u{7}'),
            "{format}: raw control characters reached the terminal: {:?}",
            r.stdout
        );
        assert!(
            r.stdout.contains("evil\\x1b[31m\\x1b]0;pwned\\x07\\ttab"),
            "{format}: {}",
            r.stdout
        );
    }
    // A table marks the line after a newline; text shows the newline as \n.
    assert!(sandbox(&["-o", "table", &insert])
        .stdout
        .contains("↳ line2"));
    assert!(sandbox(&["-o", "text", &insert])
        .stdout
        .contains("\\ttab\\nline2"));
    // json and csv carry the value exactly, for programs.
    let r = sandbox(&["-o", "json", &insert]);
    let parsed: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(parsed[0]["name"], evil);
    let r = sandbox(&["-o", "csv", &insert]);
    assert!(r.stdout.contains(evil), "{:?}", r.stdout);
}

#[test]
fn a_panic_in_a_statement_is_reported_and_the_script_stops_there() {
    // `iql_injected_panic` makes this test build's engine panic inside the statement.
    let r = sandbox(&[
        "-o",
        "csv",
        "SELECT 1 AS first; SELECT 'iql_injected_panic' AS boom; SELECT 3 AS never",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stdout, "first\n1\n");
    assert!(
        r.stderr.contains(
            "error: internal error in iql while running `SELECT 'iql_injected_panic' AS boom`: injected panic"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("iql: internal error at "), "{}", r.stderr);
    assert!(!r.stderr.contains("RUST_BACKTRACE"), "{}", r.stderr);
}

#[test]
fn the_timer_says_what_the_cache_answered() {
    let count = "SELECT count(*) FROM digitalocean.compute.images";
    let script = format!("{count}; {count}");
    let r = sandbox(&["--timer", &script]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("time:"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", r.stderr);
    assert!(lines[0].ends_with(" 1 requests"), "{}", lines[0]);
    assert!(
        lines[1].ends_with(" 0 requests (1 answered from the cache)"),
        "{}",
        lines[1]
    );
    // --no-cache asks again.
    let r = sandbox(&["--timer", "--no-cache", &script]);
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("time:"))
        .collect();
    assert!(lines[1].ends_with(" 1 requests"), "{}", r.stderr);
}

/// Where the commands run here keep their store (views): a folder of this test run's own, never
/// the user's.
fn data_home() -> PathBuf {
    std::env::temp_dir().join(format!("iql-test-data-{}", std::process::id()))
}

#[test]
fn a_materialized_view_outlives_the_process_that_made_it() {
    let store = data_home().join(format!("views-{}.sqlite", std::process::id()));
    let store = store.display().to_string();
    let made = sandbox(&[
        "--store",
        &store,
        "CREATE MATERIALIZED VIEW snaps AS SELECT id, name FROM digitalocean.compute.images WHERE type = 'snapshot'",
    ]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    assert!(
        made.stderr
            .contains("created materialized view snaps: 13 rows at "),
        "{}",
        made.stderr
    );
    // Another process (with a sandbox of its own, on another port) reads the rows and asks nothing.
    let read = sandbox(&[
        "--store",
        &store,
        "--timer",
        "-o",
        "csv",
        "SELECT count(*) AS n FROM snaps",
    ]);
    assert_eq!(read.code, 0, "{}", read.stderr);
    assert_eq!(read.stdout, "n\n13\n");
    assert!(
        read.stderr.contains("1 rows, 0 requests"),
        "{}",
        read.stderr
    );
    // A temporary store keeps nothing.
    let temp = sandbox(&["--store", "temp", "SHOW VIEWS"]);
    assert_eq!(temp.code, 0, "{}", temp.stderr);
    assert!(!temp.stdout.contains("snaps"), "{}", temp.stdout);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{store}{suffix}"));
    }
}

#[test]
fn persist_cache_lets_the_next_run_send_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime
        .block_on(iql_mock::MockServer::start(iql_mock::MockConfig {
            images: 250,
            ..iql_mock::MockConfig::default()
        }))
        .unwrap();
    let store = data_home().join(format!("answers-{}.sqlite", std::process::id()));
    let endpoint = format!("digitalocean={}", mock.url());
    let run = |token: &str, extra: &[&str]| {
        let mut args = vec![
            "exec",
            "--endpoint",
            &endpoint,
            "--store",
            store.to_str().unwrap(),
            "--timer",
            "-o",
            "csv",
        ];
        args.extend_from_slice(extra);
        args.push("SELECT count(*) AS n FROM digitalocean.compute.images");
        let out = Command::new(env!("CARGO_BIN_EXE_iql"))
            .env("XDG_DATA_HOME", data_home())
            .env("DIGITALOCEAN_TOKEN", token)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n250\n");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    run("token-a", &["--persist-cache"]);
    assert_eq!(mock.request_count(), 2);
    // The next process, same token: nothing sent.
    let again = run("token-a", &["--persist-cache"]);
    assert!(again.contains("0 requests"), "{again}");
    assert_eq!(mock.request_count(), 2);
    // Another token never gets the first one's answers; without the flag nothing is read.
    run("token-b", &["--persist-cache"]);
    assert_eq!(mock.request_count(), 4);
    run("token-a", &[]);
    assert_eq!(mock.request_count(), 6);
    // The token is not in the store file.
    let bytes = std::fs::read(&store).unwrap_or_default();
    let wal = std::fs::read(format!("{}-wal", store.display())).unwrap_or_default();
    for b in [&bytes, &wal] {
        assert!(
            !b.windows(7).any(|w| w == b"token-a"),
            "the token is in the store"
        );
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", store.display()));
    }
}

#[test]
fn a_piped_shell_fails_like_exec_and_keeps_no_history() {
    use std::io::Write;
    let history = data_home().join(format!("piped-history-{}", std::process::id()));
    let _ = std::fs::remove_file(&history);
    let run = |input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_iql"))
            .env("XDG_DATA_HOME", data_home())
            .env("IQL_HISTORY", &history)
            .env("NO_COLOR", "1")
            .args(["shell", "--sandbox", "--store", "temp"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let ok = run("\\set n 2\nSELECT :n * 21 AS answer;\n.mode csv\nSELECT 1 AS last");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        out.contains("| 42     |") || out.contains("|     42 |"),
        "{out}"
    );
    assert!(out.contains("(1 row)"), "{out}");
    // A statement without its `;` at the end of the input still runs.
    assert!(out.ends_with("last\n1\n"), "{out}");
    let failed = run("SELECT nope;\nSELECT 1;\n");
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("no such column: nope"));
    assert!(!history.exists(), "piped input went into the history");
}

#[test]
fn two_processes_share_one_store_at_once() {
    let store = data_home().join(format!("shared-{}.sqlite", std::process::id()));
    let store_arg = store.display().to_string();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{store_arg}{suffix}"));
    }
    // Each process makes its own materialized view and refreshes and reads it while the other
    // does the same: writers wait for each other, readers never wait, nothing is lost.
    let spawn = |name: &str| {
        let mut script = format!(
            "CREATE OR REPLACE MATERIALIZED VIEW {name} AS SELECT id, type FROM digitalocean.compute.images;"
        );
        for _ in 0..6 {
            script.push_str(&format!(
                "REFRESH MATERIALIZED VIEW {name}; SELECT count(*) AS n FROM {name};"
            ));
        }
        Command::new(env!("CARGO_BIN_EXE_iql"))
            .env("XDG_DATA_HOME", data_home())
            .args([
                "exec",
                "--sandbox",
                "--store",
                &store_arg,
                "-o",
                "csv",
                "--no-headers",
                &script,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn("from_a");
    let b = spawn("from_b");
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        // Every count read during the refreshes is the whole view: 60 sandbox images.
        assert_eq!(text.matches("60\n").count(), 6, "{text}");
    }
    let shown = sandbox(&[
        "--store",
        &store_arg,
        "-o",
        "csv",
        "SELECT name, row_count FROM iql_views ORDER BY name",
    ]);
    assert_eq!(
        shown.stdout, "name,row_count\nfrom_a,60\nfrom_b,60\n",
        "{}",
        shown.stderr
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{store_arg}{suffix}"));
    }
}

#[test]
fn serve_refuses_an_address_off_this_machine_before_starting() {
    let r = iql(&["serve", "--sandbox", "--listen", "0.0.0.0:5444"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("only with a password and TLS"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("SSH tunnel"), "{}", r.stderr);
}

/// `--auth` as StackQL takes it, every auth type, against StackQL's published GitHub and Okta
/// documents (`../shared/upstream`, read unchanged): a dry run names the header it would send,
/// its secret part redacted; a missing variable stops before anything is sent.
#[test]
fn auth_types_as_stackql_takes_them_are_redacted_in_dry_runs() {
    let registry = "../shared/upstream/stackql-provider-registry";
    let run = |auth: &str, sql: &str, env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_iql"));
        c.env("XDG_DATA_HOME", data_home())
            .args([
                "exec",
                "--registry",
                registry,
                "--dry-run",
                "--auth",
                auth,
                sql,
            ])
            .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."));
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let repos = "SELECT name FROM github.repos.repos WHERE org = 'stackql'";
    let users = "SELECT id FROM okta.users.users WHERE subdomain = 'dev-123'";
    // (--auth, statement, environment, what the dry run shows)
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        (
            r#"{"github": {"type": "basic", "username_var": "GH_USER", "password_var": "GH_PASS"}}"#,
            repos,
            &[("GH_USER", "ada"), ("GH_PASS", "hunter2-secret")],
            "Authorization: Basic *** (user ada)",
        ),
        (
            r#"{"okta": {"type": "api_key", "valuePrefix": "SSWS ", "credentialsenvvar": "OKTA_KEY"}}"#,
            users,
            &[("OKTA_KEY", "hunter2-secret")],
            "Authorization: SSWS ***",
        ),
        (
            r#"{"github": {"type": "bearer", "credentialsenvvar": "GH_TOKEN"}}"#,
            repos,
            &[("GH_TOKEN", "hunter2-secret")],
            "Authorization: Bearer ***",
        ),
        (
            r#"{"github": {"type": "null_auth"}}"#,
            repos,
            &[],
            "would carry no credential",
        ),
    ];
    for (auth, sql, env, shown) in cases {
        let (code, out) = run(auth, sql, env);
        assert_eq!(code, 0, "{auth}: {out}");
        assert!(out.contains(shown), "{auth}: {out}");
        assert!(!out.contains("hunter2"), "{auth} leaked: {out}");
    }
    // The host comes from the statement: `{subdomain}` of Okta's server.
    let (_, out) = run(cases[1].0, users, cases[1].2);
    assert!(
        out.contains("https://dev-123.okta.com/api/v1/users"),
        "{out}"
    );
    // A variable that is not set stops the run before anything is sent, naming it.
    let (code, out) = run(cases[0].0, repos, &[("GH_USER", "ada")]);
    assert_ne!(code, 0);
    assert!(out.contains("GH_PASS"), "{out}");
}

#[test]
fn the_sandbox_seed_chooses_the_account() {
    let sql = "SELECT id, name, created_at FROM digitalocean.compute.droplets ORDER BY id";
    let default = sandbox(&["-o", "csv", sql]);
    let again = sandbox(&["-o", "csv", "--sandbox-seed", "42", sql]);
    let other = sandbox(&["-o", "csv", "--sandbox-seed", "7", sql]);
    assert_eq!(default.code, 0, "{}", default.stderr);
    assert_eq!(other.code, 0, "{}", other.stderr);
    assert_eq!(default.stdout, again.stdout, "42 is the default seed");
    assert_ne!(
        default.stdout, other.stdout,
        "another seed, another account"
    );
    assert_eq!(other.stdout.lines().count(), 4, "{}", other.stdout);
}

#[test]
fn completions_load_in_bash_and_the_manual_renders() {
    let bash = iql(&["completions", "bash"]);
    assert_eq!(bash.code, 0, "{}", bash.stderr);
    let script = std::env::temp_dir().join(format!("iql-completion-{}.bash", std::process::id()));
    std::fs::write(&script, &bash.stdout).unwrap();
    // Loaded as bash-completion loads it; then what bash completes `iql ex` and `iql exec --sand` to.
    let probe = format!(
        "source {}; complete -p iql; COMP_WORDS=(iql ex); COMP_CWORD=1; _iql iql ex iql; echo \"${{COMPREPLY[@]}}\"; \
         COMP_WORDS=(iql exec --sand); COMP_CWORD=2; _iql iql --sand exec; echo \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("-F _iql iql"), "{text}");
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.split_whitespace().any(|w| w == "exec")),
        "{text}"
    );
    assert!(text.contains("--sandbox-seed"), "{text}");
    for shell in ["zsh", "fish", "powershell"] {
        let r = iql(&["completions", shell]);
        assert!(
            r.code == 0 && r.stdout.contains("sandbox-seed"),
            "{shell}: {}",
            r.stderr
        );
    }

    let manual = iql(&["manual"]);
    assert_eq!(manual.code, 0, "{}", manual.stderr);
    let page = std::env::temp_dir().join(format!("iql-{}.1", std::process::id()));
    std::fs::write(&page, &manual.stdout).unwrap();
    let out = Command::new("man")
        .args(["-l", &page.display().to_string()])
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&page);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for part in [
        "Query and manage cloud APIs with SQL",
        "IQL EXEC",
        "--sandbox-seed",
        "IQL SERVE",
        "--listen",
    ] {
        assert!(text.contains(part), "the manual lacks {part}:\n{text}");
    }
}

#[test]
fn the_long_version_names_the_commit() {
    let r = iql(&["--version"]);
    assert_eq!(r.code, 0);
    let first = r.stdout.lines().next().unwrap_or_default().to_string();
    assert!(
        first.starts_with(&format!("iql {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{first}"
    );
    assert!(
        !first.contains("unknown"),
        "built in a checkout, the commit is known: {first}"
    );
    assert!(r.stdout.contains("259 resources"), "{}", r.stdout);
}
