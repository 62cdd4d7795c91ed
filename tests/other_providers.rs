//! StackQL's published providers other than DigitalOcean (`github`, `okta`, read unchanged from
//! `../shared/upstream`, never copied), loaded as a StackQL user loads them with `--registry`:
//! every service loads, every resource is described, and every resource with a select method
//! gets a SELECT planned in a dry run (its required parameters given placeholders of the types
//! they want, each name written in double quotes, as a name like `enterprise-team` must be).
//! Nothing is sent: a dry run plans and shows the requests, and names the header each
//! provider's auth (`basic`, `api_key`) would send, its secret part redacted.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;

use iql::Engine;
use iql_provider::{Param, Registry, SqlVerb, ValueKind};

fn upstream() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/upstream/stackql-provider-registry")
}

/// A value of the type the parameter wants, as a SQL literal.
fn placeholder(p: &Param) -> String {
    match p.schema.kind() {
        ValueKind::Integer => "1".to_string(),
        ValueKind::Real => "1.5".to_string(),
        ValueKind::Boolean => "true".to_string(),
        ValueKind::DateTime => "'2024-01-01T00:00:00Z'".to_string(),
        ValueKind::Date => "'2024-01-01'".to_string(),
        _ => match p.schema.enum_values.first().and_then(|v| v.as_str()) {
            Some(first) => format!("'{}'", first.replace('\'', "''")),
            None => "'example'".to_string(),
        },
    }
}

struct Sweep {
    services: usize,
    resources: usize,
    planned: usize,
    with_select: usize,
    failures: Vec<String>,
}

/// What each provider's auth sends, redacted in every dry run: (credential given, the header
/// the dry run names).
fn credential_of(provider: &str) -> (&'static str, &'static str) {
    match provider {
        // `basic`: a credential given whole is user:password.
        "github" => ("ada:sweep-secret", "Authorization: Basic *** (user ada)"),
        // `api_key` with `valuePrefix: 'SSWS '`.
        _ => ("sweep-secret", "Authorization: SSWS ***"),
    }
}

async fn sweep(provider: &str) -> Sweep {
    let registry = Registry::from_dir(upstream()).unwrap();
    let p = registry.provider(provider).unwrap();
    let engine = Engine::builder()
        .providers_root(upstream())
        .credential(provider, credential_of(provider).0)
        .dry_run(true)
        .build()
        .await
        .unwrap();
    let mut out = Sweep {
        services: 0,
        resources: 0,
        planned: 0,
        with_select: 0,
        failures: Vec::new(),
    };
    for name in p.services.keys() {
        let service = match p.service(name) {
            Ok(s) => s,
            Err(e) => {
                out.failures.push(format!("service {provider}.{name}: {e}"));
                continue;
            }
        };
        out.services += 1;
        for (rname, resource) in &service.resources {
            out.resources += 1;
            let id = format!("{provider}.{name}.{rname}");
            if let Err(e) = engine.execute(&format!("DESCRIBE {id}")).await {
                out.failures.push(format!("DESCRIBE {id}: {e}"));
            }
            let Some(m) = resource
                .methods_for(SqlVerb::Select)
                .into_iter()
                .min_by_key(|m| m.required_params().count())
            else {
                continue;
            };
            out.with_select += 1;
            let conditions: Vec<String> = m
                .required_params()
                .map(|p| format!("\"{}\" = {}", p.name.replace('"', "\"\""), placeholder(p)))
                .collect();
            let sql = if conditions.is_empty() {
                format!("SELECT * FROM {id}")
            } else {
                format!("SELECT * FROM {id} WHERE {}", conditions.join(" AND "))
            };
            let (_, redacted) = credential_of(provider);
            match engine.execute(&sql).await {
                Ok(r) if r.last().is_some_and(|r| !r.rows.is_empty()) => {
                    let shown = format!("{:?}", r);
                    if shown.contains("sweep-secret") {
                        out.failures
                            .push(format!("{sql}: the dry run shows the credential"));
                    } else if !r
                        .iter()
                        .any(|x| x.notices.iter().any(|n| n.contains(redacted)))
                    {
                        out.failures.push(format!(
                            "{sql}: no notice names {redacted}: {:?}",
                            r.last().map(|x| &x.notices)
                        ));
                    } else {
                        out.planned += 1;
                    }
                }
                Ok(_) => out
                    .failures
                    .push(format!("{sql}: the dry run shows no request")),
                Err(e) => out.failures.push(format!("{sql}: {e}")),
            }
        }
    }
    out
}

fn report(provider: &str, s: &Sweep) {
    println!(
        "{provider}: {} services, {} resources, {} SELECTs planned",
        s.services, s.resources, s.planned
    );
    for f in &s.failures {
        println!("  {f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_loads_describes_and_plans_every_resource() {
    let s = sweep("github").await;
    report("github", &s);
    assert!(s.failures.is_empty(), "{} failures", s.failures.len());
    assert_eq!((s.services, s.resources), (48, 432));
    assert_eq!(s.planned, s.with_select);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_loads_describes_and_plans_every_resource() {
    let s = sweep("okta").await;
    report("okta", &s);
    assert!(s.failures.is_empty(), "{} failures", s.failures.len());
    // `org` is the file `Org.yaml`: read as on a machine whose file names ignore case.
    assert_eq!((s.services, s.resources), (57, 202));
    assert_eq!(s.planned, s.with_select);
}
