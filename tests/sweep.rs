//! The sweep: StackQL's whole published DigitalOcean registry (19 services, read unchanged from
//! `../shared/upstream`) against Prism serving DigitalOcean's whole official API
//! (`start.sh --full`). Every service is listed, every resource described, and every resource with
//! a select method whose required parameters the spec gives examples for is queried.
//!
//! Zero engine errors is the bar. What fails because Prism answers with the spec's static examples
//! (a next link that repeats itself, a next link that is the text "example string", an example body
//! that does not match its own schema) is listed in [`KNOWN`] with its reason, and must still end
//! in a clear error, never a hang or a silently short list.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use iql::{Engine, ErrorKind};
use iql_tests::prism::Prism;
use serde_json::Value;

fn upstream() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/upstream/stackql-provider-registry")
}

/// Failures caused by Prism's static examples, not by iql: (resource, what the error says, why).
/// Each is still a clear error naming the URL, checked below.
const KNOWN: &[(&str, &str, &str)] = &[
    ("digitalocean.genai.agent_api_keys", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.agent_versions", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.agents", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.agents_by_anthropic_key", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.agents_by_openai_key", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.anthropic_api_keys", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.custom_models", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.evaluation_run_results", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.indexing_jobs", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.knowledge_base_data_sources", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.knowledge_bases", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.model_api_keys", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.model_evaluation_runs", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.model_router_presets", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.model_router_task_presets", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.model_routers", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.models", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.genai.openai_api_keys", EXAMPLE_STRING_LINK, EXAMPLE_STRING_WHY),
    ("digitalocean.account.actions", "/v2/images?page=2: the response has no $.actions", IMAGES_LINK_WHY),
    ("digitalocean.apps.events", "/v2/images?page=2: the response has no $.events", IMAGES_LINK_WHY),
    ("digitalocean.monitoring.alerts", "/v2/images?page=2: the response has no $.alerts", IMAGES_LINK_WHY),
    ("digitalocean.monitoring.checks", "/v2/images?page=2: the response has no $.checks", IMAGES_LINK_WHY),
    ("digitalocean.security.scans", "/v2/images?page=2: the response has no $.scans", IMAGES_LINK_WHY),
    ("digitalocean.apps.health", "/health: the response has no $.app_health", "the spec's example for apps_get_health is the inner object, without its own app_health key (the real API wraps it)"),
];

const EXAMPLE_STRING_LINK: &str =
    "its next-page link ($.links.pages.next) is \"example string\", which is not a URL";
const EXAMPLE_STRING_WHY: &str =
    "the gen-ai spec's example for links.pages.next is the placeholder text \"example string\"";
const IMAGES_LINK_WHY: &str = "the spec's example next link is https://api.digitalocean.com/v2/images?page=2 (copied from the images example), which iql follows on the configured origin, to a page of images";

/// A value written as a SQL literal.
fn literal(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    }
}

/// How one resource's SELECT ended.
#[derive(Debug)]
enum Outcome {
    Rows(usize),
    Error(ErrorKind, String),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upstream_service_and_resource_against_the_whole_api() {
    let prism = Prism::start(true);
    let engine = Engine::builder()
        .providers_root(upstream())
        .endpoint("digitalocean", &prism.base)
        .credential("digitalocean", "sweep-test")
        .timeout(Duration::from_secs(20))
        .retry_backoff(Duration::from_millis(5))
        .build()
        .await
        .unwrap();
    let registry = engine.registry();
    let provider = registry.provider("digitalocean").unwrap();

    // SHOW RESOURCES of every service and DESCRIBE of every resource: answered from the documents.
    let mut queries: Vec<(String, String)> = Vec::new();
    let mut described = 0;
    let mut unfillable = Vec::new();
    for service in provider.services.keys() {
        let r = engine
            .execute(&format!("SHOW RESOURCES IN digitalocean.{service}"))
            .await
            .unwrap_or_else(|e| panic!("SHOW RESOURCES IN digitalocean.{service}: {e}"));
        assert!(!r[0].rows.is_empty(), "{service} lists no resources");
        let svc = provider.service(service).unwrap();
        for (name, resource) in &svc.resources {
            engine
                .execute(&format!("DESCRIBE {}", resource.id))
                .await
                .unwrap_or_else(|e| panic!("DESCRIBE {}: {e}", resource.id));
            described += 1;
            // The select method needing the fewest parameters that all have examples.
            let mut best: Option<Vec<(String, Value)>> = None;
            for m in resource.methods_for(iql_provider::SqlVerb::Select) {
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
            match best {
                Some(params) => {
                    let mut sql = format!("SELECT * FROM {}", resource.id);
                    let conditions: Vec<String> = params
                        .iter()
                        .map(|(n, v)| format!("\"{n}\" = {}", literal(v)))
                        .collect();
                    if !conditions.is_empty() {
                        sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
                    }
                    queries.push((name.clone(), sql));
                }
                None if resource
                    .methods_for(iql_provider::SqlVerb::Select)
                    .is_empty() => {}
                None => unfillable.push(resource.id.clone()),
            }
        }
    }

    // Every SELECT, a few at a time.
    let outcomes: BTreeMap<String, (String, Outcome)> = futures::stream::iter(queries)
        .map(|(name, sql)| {
            let engine = &engine;
            async move {
                let outcome =
                    match tokio::time::timeout(Duration::from_secs(60), engine.execute(&sql)).await
                    {
                        Ok(Ok(r)) => Outcome::Rows(r[0].rows.len()),
                        Ok(Err(e)) => Outcome::Error(e.kind(), e.to_string()),
                        Err(_) => panic!("{sql} hung for 60 s"),
                    };
                let id = sql.split_whitespace().nth(3).unwrap_or(&name).to_string();
                (id, (sql, outcome))
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;

    let mut ok = 0;
    let mut rows = 0;
    let mut known = 0;
    let mut unexpected = Vec::new();
    for (id, (sql, outcome)) in &outcomes {
        match outcome {
            Outcome::Rows(n) => {
                ok += 1;
                rows += n;
            }
            Outcome::Error(kind, text) => {
                match KNOWN
                    .iter()
                    .find(|(r, says, _)| r == id && text.contains(says))
                {
                    // Still a clear error: a malformed answer, naming where it came from.
                    Some(_)
                        if *kind == ErrorKind::Response && text.contains("http://127.0.0.1:") =>
                    {
                        known += 1
                    }
                    _ => unexpected.push(format!("{id} ({kind:?}): {sql}\n    {text}")),
                }
            }
        }
    }
    println!(
        "sweep: {} services, {described} resources described, {} queried: {ok} answered ({rows} rows), {known} known Prism failures, {} unexpected; {} with required parameters the spec has no example for",
        provider.services.len(),
        outcomes.len(),
        unexpected.len(),
        unfillable.len()
    );
    // Every known failure still happens (otherwise the list is stale: Prism or the spec changed).
    for (id, _, why) in KNOWN {
        assert!(
            matches!(outcomes.get(*id), Some((_, Outcome::Error(..)))),
            "{id} is listed as failing ({why}) but did not fail"
        );
    }
    assert!(
        ok >= 200,
        "only {ok} resources answered; expected at least 200 of {}",
        outcomes.len()
    );
    assert!(
        unexpected.is_empty(),
        "{} resources failed:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}
