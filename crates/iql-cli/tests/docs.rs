//! The docs are tested: every `iql exec --sandbox …` command shown in README.md and docs/*.md runs
//! and succeeds, and the SQL reference names every column and parameter of the bundled document.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::Command;

use iql_provider::Registry;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Splits a shell command line: words, "double-quoted" and 'single-quoted' strings.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut has = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            // Inside double quotes a backslash escapes `"`, `\`, `$` and `` ` ``, as in sh.
            (Some('"'), '\\') if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                cur.extend(chars.next());
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                has = true;
            }
            (None, c) if c.is_whitespace() => {
                if has || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if has || !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[test]
fn shell_words_split_like_a_shell() {
    assert_eq!(
        shell_words(r#"iql exec --sandbox "SELECT 'a b'" -o json"#),
        ["iql", "exec", "--sandbox", "SELECT 'a b'", "-o", "json"]
    );
    assert_eq!(shell_words(r#"x "'[\"web\"]'""#), ["x", r#"'["web"]'"#]);
}

#[test]
fn every_documented_sandbox_command_runs() {
    let mut files = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) == Some("md") {
            files.push(p);
        }
    }
    let mut ran = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut in_code = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                continue;
            }
            let line = line.trim();
            let command = line
                .strip_prefix("cargo run -q -p iql-cli -- ")
                .or_else(|| line.strip_prefix("cargo run -p iql-cli -- "))
                .or_else(|| line.strip_prefix("iql "));
            let Some(command) =
                command.filter(|c| in_code && c.starts_with("exec") && c.contains("--sandbox"))
            else {
                continue;
            };
            let args = shell_words(command);
            let out = Command::new(env!("CARGO_BIN_EXE_iql"))
                .env("XDG_DATA_HOME", data_home())
                .args(&args)
                .current_dir(root())
                .env_remove("DIGITALOCEAN_TOKEN")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: `{line}` failed:\n{}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    assert!(ran >= 20, "only {ran} documented commands found");
}

#[test]
fn the_sql_reference_names_every_column_and_parameter() {
    let doc = std::fs::read_to_string(root().join("docs/sql-reference.md")).unwrap();
    let provider = Registry::bundled().provider("digitalocean").unwrap();
    for resource in ["images", "image_actions"] {
        let r = provider.resource("compute", resource).unwrap();
        assert!(
            doc.contains(&format!("`{}`", r.id)),
            "{} is not documented",
            r.id
        );
        for c in r.select_columns() {
            assert!(
                doc.contains(&format!("| {} ", c.name)),
                "column {}.{} is not documented",
                resource,
                c.name
            );
        }
        for m in &r.methods {
            assert!(doc.contains(&m.name), "method {} is not documented", m.name);
            for p in &m.params {
                assert!(
                    doc.contains(&p.name),
                    "parameter {} of {} is not documented",
                    p.name,
                    m.name
                );
            }
        }
    }
}

/// The generated reference (`docs/reference/digitalocean/`, and the table of it in
/// docs/sql-reference.md) matches the bundled provider. `IQL_UPDATE_DOCS=1` rewrites both.
#[test]
fn the_generated_reference_is_current() {
    let provider = Registry::bundled().provider("digitalocean").unwrap();
    let update = std::env::var_os("IQL_UPDATE_DOCS").is_some();
    let dir = root().join("docs/reference/digitalocean");
    let pages = iql_provider::provider_reference(&provider).unwrap();
    let how = "run IQL_UPDATE_DOCS=1 cargo test -p iql-cli --test docs";
    let mut expected_files: Vec<String> = Vec::new();
    for page in &pages {
        let file = dir.join(&page.file);
        expected_files.push(page.file.clone());
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&file, &page.text).unwrap();
            continue;
        }
        let on_disk = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            on_disk == page.text,
            "{} is out of date: {how}",
            file.display()
        );
    }
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    files.sort();
    expected_files.sort();
    assert_eq!(
        files,
        expected_files,
        "stale pages in {}: {how}",
        dir.display()
    );

    let reference = root().join("docs/sql-reference.md");
    let text = std::fs::read_to_string(&reference).unwrap();
    let (start, end) = ("<!-- reference:start -->\n", "<!-- reference:end -->");
    let (before, rest) = text.split_once(start).unwrap();
    let (_, after) = rest.split_once(end).unwrap();
    let table = iql_provider::services_table(&provider, "reference/digitalocean/").unwrap();
    let current = format!("{before}{start}{table}{end}{after}");
    if update {
        std::fs::write(&reference, &current).unwrap();
    } else {
        assert!(
            text == current,
            "the table in {} is out of date: {how}",
            reference.display()
        );
    }
    // Every resource of every service is linked from docs/sql-reference.md.
    for name in provider.services.keys() {
        for r in &provider.index(name).unwrap().resources {
            assert!(
                current.contains(&format!("[{}](reference/digitalocean/{name}.md#", r.name)),
                "{name}.{} is not in the reference",
                r.name
            );
        }
    }
}

/// Every first query the reference shows parses and finds its method (a dry run, which sends
/// nothing): one per resource that has a SELECT.
#[test]
fn every_reference_example_plans() {
    let dir = root().join("docs/reference/digitalocean");
    let mut examples = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut rest = text.as_str();
        while let Some((_, after)) = rest.split_once("```sql\n") {
            let (sql, tail) = after.split_once("\n```").unwrap();
            examples.push(sql.to_string());
            rest = tail;
        }
    }
    let provider = Registry::bundled().provider("digitalocean").unwrap();
    let with_select = provider
        .services
        .keys()
        .flat_map(|s| provider.index(s).unwrap().resources.clone())
        .filter(|r| !r.select_paths.is_empty())
        .count();
    assert_eq!(examples.len(), with_select);
    let script = std::env::temp_dir().join(format!("iql-reference-{}.sql", std::process::id()));
    std::fs::write(&script, examples.join("\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_iql"))
        .env("XDG_DATA_HOME", data_home())
        .args(["exec", "--dry-run", "-i"])
        .arg(&script)
        .env_remove("DIGITALOCEAN_TOKEN")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&script);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let planned = String::from_utf8_lossy(&out.stdout)
        .matches("| GET ")
        .count();
    assert!(planned >= with_select, "{planned} requests planned");
}

/// Where the commands run here keep their store (views): a folder of this test run's own, never
/// the user's.
fn data_home() -> PathBuf {
    std::env::temp_dir().join(format!("iql-test-data-{}", std::process::id()))
}
