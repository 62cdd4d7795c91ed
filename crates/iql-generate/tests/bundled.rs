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

/// Every method of StackQL's registry, walked: its name (or an alias of ours) resolves on the same
/// resource, is reached by the same SQL verb (a method StackQL reaches only by EXEC, EXEC reaches
/// in iql too, whatever verb also lists it), and needs the same parameters. A SELECT giving
/// exactly the parameters StackQL's method needs is answered by that method.
#[test]
fn stackql_users_methods_resolve_unchanged() {
    let upstream = Registry::from_dir(root().join("../shared/upstream/stackql-provider-registry"))
        .unwrap()
        .provider("digitalocean")
        .unwrap();
    let ours = Registry::bundled().provider("digitalocean").unwrap();
    let required = |m: &iql_provider::Method| -> BTreeSet<String> {
        m.required_params().map(|p| p.name.clone()).collect()
    };
    let mut total = 0;
    let mut differences = Vec::new();
    for service in upstream.services.keys() {
        let theirs = upstream.service(service).unwrap();
        for (name, r) in &theirs.resources {
            let Ok(mine) = ours.resource(service, name) else {
                continue; // stackql_users_names_work_unchanged names missing resources
            };
            for m in &r.methods {
                total += 1;
                let id = format!("{service}.{name}.{}", m.name);
                let Some(our) = mine.method(&m.name) else {
                    differences.push(format!("{id}: no such method"));
                    continue;
                };
                if let Some(verb) = r.verb_of(&m.name) {
                    if mine.verb_of(&our.name) != Some(verb) {
                        differences.push(format!(
                            "{id}: StackQL reaches it with {}, iql with {}",
                            verb.as_str(),
                            mine.verb_of(&our.name)
                                .map(SqlVerb::as_str)
                                .unwrap_or("exec")
                        ));
                    }
                }
                // Stricter than StackQL only where StackQL's statement would be refused by
                // DigitalOcean: an action on a collection needs what names its targets
                // (`power_off_by_tag` needs `tag_name`; StackQL would POST without it).
                let extra: Vec<String> = required(our).difference(&required(m)).cloned().collect();
                let targets = m
                    .name
                    .rsplit_once("_by_")
                    .map(|(_, by)| vec![format!("{by}_name")]);
                let stricter =
                    required(m).is_subset(&required(our)) && Some(&extra) == targets.as_ref();
                if required(m) != required(our) && !stricter {
                    differences.push(format!(
                        "{id}: needs {:?}, ours {:?}",
                        required(m),
                        required(our)
                    ));
                }
                // The method iql picks for a SELECT with exactly these parameters, where
                // StackQL's SELECT picks this one (`scans.security_get_latest_scan` needs nothing,
                // as the list before it does: EXEC reaches it, in both).
                let given = required(m);
                let first = |res: &Resource| {
                    res.methods_for(SqlVerb::Select)
                        .into_iter()
                        .find(|c| required(c).is_subset(&given))
                        .map(|c| c.name.clone())
                };
                if first(r).as_deref() == Some(m.name.as_str()) {
                    let chosen = mine
                        .methods_for(SqlVerb::Select)
                        .into_iter()
                        .find(|c| required(c).is_subset(&given));
                    if chosen.map(|c| c.name.as_str()) != Some(our.name.as_str()) {
                        differences.push(format!(
                            "{id}: a SELECT with {given:?} is answered by {:?}",
                            chosen.map(|c| &c.name)
                        ));
                    }
                }
            }
        }
    }
    println!("{total} StackQL methods walked");
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert!(
        total > 690,
        "{total} methods: the registry was not read whole"
    );
}

/// Every column StackQL's documents give a resource, iql's gives it too, except where StackQL's
/// document is itself wrong (listed in docs/writing-providers.md, "Where iql differs from
/// StackQL, and why"): a test of the list keeps the list true.
#[test]
fn stackql_users_columns_exist() {
    let upstream = Registry::from_dir(root().join("../shared/upstream/stackql-provider-registry"))
        .unwrap()
        .provider("digitalocean")
        .unwrap();
    let ours = Registry::bundled().provider("digitalocean").unwrap();
    let mut differences = Vec::new();
    for service in upstream.services.keys() {
        let theirs = upstream.service(service).unwrap();
        for (name, r) in &theirs.resources {
            let Ok(mine) = ours.resource(service, name) else {
                continue;
            };
            let have: BTreeSet<String> = mine
                .select_columns()
                .iter()
                .map(|c| c.name.to_lowercase())
                .collect();
            let lacking: Vec<String> = r
                .select_columns()
                .iter()
                .map(|c| c.name.to_lowercase())
                .filter(|c| !have.contains(c))
                .collect();
            if !lacking.is_empty() {
                differences.push(format!("{service}.{name}: {}", lacking.join(", ")));
            }
        }
    }
    // Each resource written in docs/writing-providers.md, "Where iql differs from StackQL".
    let documented = std::fs::read_to_string(root().join("docs/writing-providers.md")).unwrap();
    let section = documented
        .split("## Where iql differs from StackQL, and why")
        .nth(1)
        .unwrap_or_default();
    let unexplained: Vec<&String> = differences
        .iter()
        .filter(|d| {
            let resource = d.split(':').next().unwrap_or_default();
            !section.contains(&format!("`{resource}`"))
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "columns StackQL has and iql lacks, not explained in docs/writing-providers.md:\n{}",
        unexplained
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // ...and the section names no resource that does not differ (it stays true).
    let named: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    for resource in named {
        assert!(
            differences
                .iter()
                .any(|d| d.starts_with(&format!("{resource}:"))),
            "docs/writing-providers.md lists {resource}, which no longer differs"
        );
    }
}

/// No reference is left for a field: every `$ref` in a request or response schema (a `properties`
/// map given by reference, `allOf` parts) is resolved into real fields and columns.
#[test]
fn no_field_or_column_is_a_reference() {
    let ours = Registry::bundled().provider("digitalocean").unwrap();
    let mut found = Vec::new();
    let mut fields = 0;
    for service in ours.services.keys() {
        for (name, r) in &ours.service(service).unwrap().resources {
            for m in &r.methods {
                fields += m.body_fields.len() + m.columns.len();
                for n in m
                    .body_fields
                    .iter()
                    .map(|f| &f.name)
                    .chain(m.columns.iter().map(|c| &c.name))
                {
                    if n.starts_with('$') {
                        found.push(format!("{service}.{name}.{}: {n}", m.name));
                    }
                }
            }
        }
    }
    assert!(
        fields > 5_000,
        "{fields} fields: the provider was not read whole"
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}
