//! The sweep: Prism serving DigitalOcean's whole official API (`start.sh --full`), and against it
//! two sets of provider documents:
//!
//! 1. StackQL's whole published DigitalOcean registry (19 services, read unchanged from
//!    `../shared/upstream`), and
//! 2. iql's bundled provider, generated from the official specification (no `--registry`).
//!
//! For each: every service is listed, every resource described, and every resource with a select
//! method whose required parameters the spec gives examples for is queried. For the bundled
//! provider also, per service, one INSERT, one UPDATE/REPLACE, one DELETE and one EXEC, each
//! accepted by Prism (which checks every request against DigitalOcean's contract), and SQL across
//! services.
//!
//! Zero engine errors is the bar. What fails because Prism answers with the spec's static examples
//! (a next link that repeats itself, a next link that is the text "example string", an example body
//! that does not match its own schema) is listed with its reason, and must still end in a clear
//! error naming the URL, never a hang or a silently short list.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use iql::{Engine, ErrorKind};
use iql_provider::{Method, Resource, SqlVerb, ValueKind};
use iql_tests::prism::Prism;
use iql_tests::sql_literal as literal;
use serde_json::{Map, Value};

fn upstream() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/upstream/stackql-provider-registry")
}

const EXAMPLE_STRING_LINK: &str =
    "its next-page link ($.links.pages.next) is \"example string\", which is not a URL";
const EXAMPLE_STRING_WHY: &str =
    "the gen-ai spec's example for links.pages.next is the placeholder text \"example string\"";
const IMAGES_LINK_WHY: &str = "the spec's example next link is https://api.digitalocean.com/v2/images?page=2 (copied from the images example), which iql follows on the configured origin, to a page of images";

const GENAI_LISTS: &[&str] = &[
    "agent_api_keys",
    "agent_versions",
    "agents",
    "agents_by_anthropic_key",
    "agents_by_openai_key",
    "anthropic_api_keys",
    "custom_models",
    "evaluation_run_results",
    "indexing_jobs",
    "knowledge_base_data_sources",
    "knowledge_bases",
    "model_api_keys",
    "model_evaluation_runs",
    "model_router_presets",
    "model_router_task_presets",
    "model_routers",
    "models",
    "openai_api_keys",
];

const IMAGES_LINK_LISTS: &[&str] = &[
    "account.actions",
    "apps.events",
    "monitoring.alerts",
    "monitoring.checks",
    "security.scans",
];

/// Failures caused by Prism's static examples, not by iql: (resource, what the error says, why).
/// The same for both sets of documents, which name these resources alike.
fn known() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for g in GENAI_LISTS {
        out.push((
            format!("digitalocean.genai.{g}"),
            EXAMPLE_STRING_LINK.to_string(),
            EXAMPLE_STRING_WHY.to_string(),
        ));
    }
    for r in IMAGES_LINK_LISTS {
        let key = r.split('.').nth(1).unwrap_or_default();
        out.push((
            format!("digitalocean.{r}"),
            format!("/v2/images?page=2: the response has no $.{key}"),
            IMAGES_LINK_WHY.to_string(),
        ));
    }
    out.push((
        "digitalocean.apps.health".to_string(),
        "/health: the response has no $.app_health".to_string(),
        "the spec's example for apps_get_health is the inner object, without its own app_health key (the real API wraps it)".to_string(),
    ));
    out
}

/// How one statement ended.
#[derive(Debug)]
enum Outcome {
    Rows(usize),
    Error(ErrorKind, String),
}

async fn run(engine: &Engine, sql: &str) -> Outcome {
    match tokio::time::timeout(Duration::from_secs(60), engine.execute(sql)).await {
        Ok(Ok(r)) => Outcome::Rows(r.last().map(|x| x.rows.len()).unwrap_or(0)),
        Ok(Err(e)) => Outcome::Error(e.kind(), e.to_string()),
        Err(_) => panic!("{sql} hung for 60 s"),
    }
}

async fn engine(prism: &Prism, registry: Option<PathBuf>) -> Engine {
    let mut b = Engine::builder()
        .endpoint("digitalocean", &prism.base)
        .credential("digitalocean", "sweep-test")
        .timeout(Duration::from_secs(20))
        .retry_backoff(Duration::from_millis(5))
        .wait_policy(Duration::from_millis(10), Duration::from_millis(100));
    if let Some(r) = registry {
        b = b.providers_root(r);
    }
    b.build().await.unwrap()
}

/// The SELECT for a resource: its select method needing the fewest parameters that all have
/// examples, with them.
fn select_for(resource: &Resource) -> Option<String> {
    let mut best: Option<Vec<(String, Value)>> = None;
    for m in resource.methods_for(SqlVerb::Select) {
        let filled: Option<Vec<(String, Value)>> = m
            .required_params()
            .map(|p| p.example.clone().map(|e| (p.name.clone(), e)))
            .collect();
        if let Some(f) = filled {
            if best.as_ref().is_none_or(|b| f.len() < b.len()) {
                best = Some(f);
            }
        }
    }
    let params = best?;
    let mut sql = format!("SELECT * FROM {}", resource.id);
    let conditions: Vec<String> = params
        .iter()
        .map(|(n, v)| format!("\"{n}\" = {}", literal(v)))
        .collect();
    if !conditions.is_empty() {
        sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
    }
    Some(sql)
}

/// Lists, describes and queries every resource; returns (resources described, outcomes).
async fn sweep_selects(engine: &Engine) -> (usize, BTreeMap<String, (String, Outcome)>) {
    let provider = engine.registry().provider("digitalocean").unwrap();
    let mut queries: Vec<(String, String)> = Vec::new();
    let mut described = 0;
    for service in provider.services.keys() {
        let r = engine
            .execute(&format!("SHOW RESOURCES IN digitalocean.{service}"))
            .await
            .unwrap_or_else(|e| panic!("SHOW RESOURCES IN digitalocean.{service}: {e}"));
        assert!(!r[0].rows.is_empty(), "{service} lists no resources");
        let svc = provider.service(service).unwrap();
        for resource in svc.resources.values() {
            engine
                .execute(&format!("DESCRIBE {}", resource.id))
                .await
                .unwrap_or_else(|e| panic!("DESCRIBE {}: {e}", resource.id));
            described += 1;
            if let Some(sql) = select_for(resource) {
                queries.push((resource.id.clone(), sql));
            }
        }
    }
    let outcomes = futures::stream::iter(queries)
        .map(|(id, sql)| async move {
            let outcome = run(engine, &sql).await;
            (id, (sql, outcome))
        })
        .buffer_unordered(6)
        .collect()
        .await;
    (described, outcomes)
}

/// Checks the outcomes against the known Prism failures; returns (answered, rows, known).
fn judge(label: &str, outcomes: &BTreeMap<String, (String, Outcome)>) -> (usize, usize, usize) {
    let known = known();
    let (mut ok, mut rows, mut expected) = (0, 0, 0);
    let mut unexpected = Vec::new();
    for (id, (sql, outcome)) in outcomes {
        match outcome {
            Outcome::Rows(n) => {
                ok += 1;
                rows += n;
            }
            Outcome::Error(kind, text) => {
                match known
                    .iter()
                    .find(|(r, says, _)| r == id && text.contains(says))
                {
                    // Still a clear error: a malformed answer, naming where it came from.
                    Some(_)
                        if *kind == ErrorKind::Response && text.contains("http://127.0.0.1:") =>
                    {
                        expected += 1
                    }
                    _ => unexpected.push(format!("{id} ({kind:?}): {sql}\n    {text}")),
                }
            }
        }
    }
    for (id, _, why) in &known {
        assert!(
            matches!(outcomes.get(id), Some((_, Outcome::Error(..)))),
            "{label}: {id} is listed as failing ({why}) but did not fail"
        );
    }
    assert!(
        unexpected.is_empty(),
        "{label}: {} resources failed:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    (ok, rows, expected)
}

/// A required body field's value from its schema's example, as the SQL literal an INSERT or SET
/// gives it (objects and arrays as JSON text).
fn field_literal(kind: ValueKind, example: &Value) -> String {
    match (kind, example) {
        (ValueKind::Json, v) => format!("'{}'", v.to_string().replace('\'', "''")),
        (_, v) => literal(v),
    }
}

/// One statement for `m` of `resource`, its required parameters and body fields filled from the
/// spec's examples; `None` if one has no example.
fn mutation_for(resource: &Resource, m: &Method, verb: Option<SqlVerb>) -> Option<String> {
    let params: Vec<(String, Value)> = m
        .required_params()
        .map(|p| p.example.clone().map(|e| (p.name.clone(), e)))
        .collect::<Option<_>>()?;
    let fields: Vec<(String, String, Value)> = m
        .required_body_fields()
        .map(|f| {
            f.schema
                .example
                .clone()
                .map(|e| (f.name.clone(), field_literal(f.schema.kind(), &e), e))
        })
        .collect::<Option<_>>()?;
    let id = &resource.id;
    let where_ = |params: &[(String, Value)]| {
        params
            .iter()
            .map(|(n, v)| format!("\"{n}\" = {}", literal(v)))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    Some(match verb {
        Some(SqlVerb::Insert) => {
            let mut names: Vec<String> = params.iter().map(|(n, _)| format!("\"{n}\"")).collect();
            let mut values: Vec<String> = params.iter().map(|(_, v)| literal(v)).collect();
            names.extend(fields.iter().map(|(n, _, _)| format!("\"{n}\"")));
            values.extend(fields.iter().map(|(_, l, _)| l.clone()));
            if names.is_empty() {
                return None;
            }
            format!(
                "INSERT INTO {id} ({}) VALUES ({})",
                names.join(", "),
                values.join(", ")
            )
        }
        Some(v @ (SqlVerb::Update | SqlVerb::Replace)) => {
            // SET the required fields, or else one optional field that has an example.
            let mut set: Vec<String> = fields
                .iter()
                .map(|(n, l, _)| format!("\"{n}\" = {l}"))
                .collect();
            if set.is_empty() {
                let f = m.body_fields.iter().find(|f| f.schema.example.is_some())?;
                let e = f.schema.example.as_ref()?;
                set.push(format!(
                    "\"{}\" = {}",
                    f.name,
                    field_literal(f.schema.kind(), e)
                ));
            }
            if params.is_empty() {
                return None;
            }
            let word = if v == SqlVerb::Replace {
                "REPLACE"
            } else {
                "UPDATE"
            };
            format!(
                "{word} {id} SET {} WHERE {}",
                set.join(", "),
                where_(&params)
            )
        }
        Some(SqlVerb::Delete) => {
            if params.is_empty() {
                return None;
            }
            format!("DELETE FROM {id} WHERE {}", where_(&params))
        }
        _ => {
            let mut sql = format!("EXEC {id}.{}", m.name);
            for (n, v) in &params {
                sql.push_str(&format!(" @{n} = {}", literal(v)));
            }
            if !fields.is_empty() {
                let mut body = Map::new();
                for (n, _, e) in &fields {
                    body.insert(n.clone(), e.clone());
                }
                sql.push_str(&format!(
                    " @@json = '{}'",
                    Value::Object(body).to_string().replace('\'', "''")
                ));
            }
            sql
        }
    })
}

/// What the mutation sweep found.
#[derive(Default)]
struct Mutations {
    /// (service, verb, statement) Prism accepted.
    accepted: Vec<(String, String, String)>,
    /// A service's verb whose methods were tried and none accepted, with why.
    refused: Vec<String>,
    /// A service's verb whose every method needs a value the spec gives no example for.
    unfillable: Vec<String>,
}

/// Per service and verb (INSERT, UPDATE/REPLACE, DELETE, EXEC): the first method, in the
/// documents' order, whose statement Prism accepts.
async fn sweep_mutations(engine: &Engine) -> Mutations {
    let provider = engine.registry().provider("digitalocean").unwrap();
    let mut found = Mutations::default();
    for service in provider.services.keys() {
        let svc = provider.service(service).unwrap();
        for (label, verbs) in [
            ("INSERT", vec![Some(SqlVerb::Insert)]),
            (
                "UPDATE/REPLACE",
                vec![Some(SqlVerb::Update), Some(SqlVerb::Replace)],
            ),
            ("DELETE", vec![Some(SqlVerb::Delete)]),
            ("EXEC", vec![None]),
        ] {
            let mut tried = Vec::new();
            let mut has_verb = false;
            let mut done = false;
            'methods: for resource in svc.resources.values() {
                for m in &resource.methods {
                    let verb = resource.verb_of(&m.name);
                    if !verbs.contains(&verb) {
                        continue;
                    }
                    has_verb = true;
                    let Some(sql) = mutation_for(resource, m, verb) else {
                        continue;
                    };
                    match run(engine, &sql).await {
                        Outcome::Rows(_) => {
                            found
                                .accepted
                                .push((service.clone(), label.to_string(), sql));
                            done = true;
                            break 'methods;
                        }
                        Outcome::Error(kind, text) => {
                            tried.push(format!("{sql}\n      {kind:?}: {text}"))
                        }
                    }
                }
            }
            match (done, has_verb, tried.is_empty()) {
                (false, _, false) => found.refused.push(format!(
                    "{service} {label}: none of {} accepted:\n    {}",
                    tried.len(),
                    tried.join("\n    ")
                )),
                (false, true, true) => found.unfillable.push(format!("{service} {label}")),
                _ => {}
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_and_resource_against_the_whole_api() {
    let prism = Prism::start(true);

    // StackQL's registry, unchanged.
    let upstream_engine = engine(&prism, Some(upstream())).await;
    let (described, outcomes) = sweep_selects(&upstream_engine).await;
    let (ok, rows, known) = judge("StackQL's registry", &outcomes);
    println!(
        "StackQL's registry: 19 services, {described} resources described, {} queried: {ok} answered ({rows} rows), {known} known Prism failures, 0 unexpected",
        outcomes.len()
    );
    assert!(ok >= 200, "only {ok} of StackQL's resources answered");

    // iql's bundled provider, generated from the official spec.
    let bundled = engine(&prism, None).await;
    let (described, outcomes) = sweep_selects(&bundled).await;
    let (ok, rows, known) = judge("the bundled provider", &outcomes);
    println!(
        "bundled provider: {described} resources described, {} queried: {ok} answered ({rows} rows), {known} known Prism failures, 0 unexpected",
        outcomes.len()
    );
    assert!(described >= 257, "{described}");
    assert!(ok >= 215, "only {ok} of the bundled resources answered");

    let m = sweep_mutations(&bundled).await;
    for (service, verb, sql) in &m.accepted {
        println!("  accepted {service} {verb}: {sql}");
    }
    println!(
        "bundled provider: {} mutations accepted by Prism across {} services; {} service verbs whose every method needs a value the spec has no example for: {}",
        m.accepted.len(),
        m.accepted
            .iter()
            .map(|(s, _, _)| s)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        m.unfillable.len(),
        m.unfillable.join(", ")
    );
    assert!(
        m.refused.is_empty(),
        "services with a verb none of whose methods Prism accepted:\n{}",
        m.refused.join("\n")
    );
    assert!(
        m.accepted.len() >= 45,
        "only {} mutations accepted",
        m.accepted.len()
    );

    // SQL across services, on Prism's example data.
    for (sql, expect) in [
        // Droplets joined to images on the droplet's image id.
        (
            "SELECT d.name, i.distribution FROM digitalocean.compute.droplets d JOIN digitalocean.compute.images i ON i.id = json_extract(d.image, '$.id')",
            "at least one droplet with its image",
        ),
        // Volumes joined to the droplets they are attached to.
        (
            "SELECT d.name AS droplet, v.name AS volume FROM digitalocean.compute.droplets d, json_each(d.volume_ids) dv JOIN digitalocean.compute.volumes v ON v.id = dv.value",
            "at least one attached volume",
        ),
        // The networks of every droplet, one row each.
        (
            "SELECT d.name, n.value ->> 'ip_address' AS ip FROM digitalocean.compute.droplets d, json_each(d.networks, '$.v4') n",
            "at least one address",
        ),
    ] {
        let r = bundled
            .execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(!r[0].rows.is_empty(), "{sql}: expected {expect}");
        println!("  {} rows: {sql}", r[0].rows.len());
    }
}
