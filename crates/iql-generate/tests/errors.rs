//! A specification that cannot be read says which file and which place.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;

fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/generator")
}

#[test]
fn a_broken_ref_names_the_file_the_pointer_and_why() {
    let err = iql_generate::generate(
        &tests_dir().join("broken/spec.yaml"),
        "gen",
        &iql_generate::GenerateConfig::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("broken $ref 'models/missing.yaml#/thing' at "),
        "{err}"
    );
    assert!(
        err.contains("broken/spec.yaml#/paths/~1v1~1things/get/responses/200/content/application~1json/schema"),
        "{err}"
    );
    assert!(err.contains("missing.yaml"), "{err}");
}

#[test]
fn a_ref_to_a_place_that_is_not_there_names_it() {
    let dir = std::env::temp_dir().join(format!("iql-gen-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("models.yaml"), "thing:\n  type: object\n").unwrap();
    std::fs::write(
        dir.join("spec.yaml"),
        "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths:\n  /v1/x:\n    get:\n      responses:\n        '200':\n          description: x\n          content:\n            application/json:\n              schema: {$ref: 'models.yaml#/other'}\n",
    )
    .unwrap();
    let err = iql_generate::generate(
        &dir.join("spec.yaml"),
        "gen",
        &iql_generate::GenerateConfig::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("models.yaml has nothing at /other"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_same_spec_gives_the_same_documents() {
    let spec = tests_dir().join("widgets/spec.yaml");
    let config = iql_generate::GenerateConfig::default();
    let a = iql_generate::generate(&spec, "gen", &config).unwrap();
    let b = iql_generate::generate(&spec, "gen", &config).unwrap();
    assert_eq!(a.provider_document, b.provider_document);
    assert_eq!(a.services, b.services);
    // A self-contained document: every $ref is local.
    for text in a.services.values() {
        for line in text.lines().filter(|l| l.contains("$ref")) {
            assert!(
                line.contains("'#/"),
                "a reference left pointing outside: {line}"
            );
        }
    }
}
