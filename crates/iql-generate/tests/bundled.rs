//! The bundled DigitalOcean provider is exactly what the generator makes of DigitalOcean's
//! official specification, and it names what StackQL's registry names the way StackQL does.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use iql_provider::{Registry, Resource, SqlVerb};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn generated() -> iql_generate::Generated {
    let config =
        iql_generate::GenerateConfig::load(&root().join("providers/generate/digitalocean.yaml"))
            .unwrap();
    iql_generate::generate(
        &root().join("../shared/do-openapi/full/DigitalOcean-public.v2.yaml"),
        "digitalocean",
        &config,
    )
    .unwrap()
}

/// Regenerating gives the committed files, byte for byte: the documents are the generator's
/// output, and the generator is deterministic.
#[test]
fn regenerating_gives_the_bundled_documents() {
    let g = generated();
    let again = generated();
    let dir = root().join("providers/digitalocean/v00.00.00000");
    let committed = std::fs::read_to_string(dir.join("provider.yaml")).unwrap();
    assert!(
        g.provider_document == committed,
        "provider.yaml differs from a regeneration"
    );
    assert_eq!(g.provider_document, again.provider_document);
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir.join("services"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let made: BTreeSet<String> = g.services.keys().map(|s| format!("{s}.yaml")).collect();
    assert_eq!(on_disk, made, "services on disk and generated");
    for (name, text) in &g.services {
        let file = std::fs::read_to_string(dir.join(format!("services/{name}.yaml"))).unwrap();
        assert!(
            *text == file,
            "services/{name}.yaml differs from a regeneration: run the command in providers/generate/digitalocean.yaml"
        );
        assert!(*text == again.services[name], "{name}: two runs differ");
    }
}

/// For each of StackQL's resources: does iql have the same full name, with a select method needing
/// the same parameters for each of StackQL's? Every difference is listed with its reason.
#[test]
fn stackql_users_names_work_unchanged() {
    let upstream = Registry::from_dir(root().join("../shared/upstream/stackql-provider-registry"))
        .unwrap()
        .provider("digitalocean")
        .unwrap();
    let ours = Registry::bundled().provider("digitalocean").unwrap();
    let required = |r: &Resource| -> BTreeSet<BTreeSet<String>> {
        r.methods_for(SqlVerb::Select)
            .iter()
            .map(|m| m.required_params().map(|p| p.name.clone()).collect())
            .collect()
    };
    // Differences known and why (none today; a StackQL name iql cannot offer goes here).
    let known: BTreeMap<&str, &str> = BTreeMap::new();
    let mut total = 0;
    let mut same = 0;
    let mut differences = Vec::new();
    for service in upstream.services.keys() {
        let theirs = upstream.service(service).unwrap();
        for (name, r) in &theirs.resources {
            total += 1;
            let id = format!("{service}.{name}");
            let verdict = match ours.resource(service, name) {
                Err(_) => Some("missing".to_string()),
                Ok(mine) => {
                    let (want, have) = (required(r), required(&mine));
                    let lacking: Vec<_> = want.difference(&have).collect();
                    (!lacking.is_empty()).then(|| {
                        format!("no select method needing {lacking:?}; ours need {have:?}")
                    })
                }
            };
            match verdict {
                None => same += 1,
                Some(why) if known.contains_key(id.as_str()) => {
                    println!("{id}: {why} (known: {})", known[id.as_str()]);
                }
                Some(why) => differences.push(format!("{id}: {why}")),
            }
        }
    }
    let share = 100.0 * same as f64 / total as f64;
    println!("{same} of {total} StackQL resources ({share:.1}%) have iql's same name and select parameters");
    assert!(
        differences.is_empty(),
        "unexplained differences:\n{}",
        differences.join("\n")
    );
    assert!(share >= 95.0, "{share:.1}% is under the 95% target");
    assert_eq!(total, 257);
}
