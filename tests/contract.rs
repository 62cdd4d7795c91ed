//! Contract test: every SELECT form iql sends, checked by Prism serving DigitalOcean's official
//! OpenAPI specification (`../shared/do-mock/start.sh`). Prism answers 401/422 to any request that
//! breaks the contract (missing bearer token, bad parameter), which iql reports as an error.
//!
//! Needs node and npm (start.sh installs Prism with npm on first use); `.ci/run` provides them.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use iql::{Cell, Engine};
use iql_tests::prism::Prism;

/// The seed examples with their placeholders filled from the spec's own example values.
const SELECTS: &[&str] = &[
    "SELECT id, name, created_at, description, distribution, error_message, min_disk_size, public, regions, size_gigabytes, slug, status, tags, type FROM digitalocean.compute.images WHERE image_id = '62137902' -- required;",
    "SELECT id, name, slug FROM digitalocean.compute.images WHERE image_id = 'ubuntu-16-04-x64'",
    "SELECT id, name, created_at, description, distribution, error_message, min_disk_size, public, regions, size_gigabytes, slug, status, tags, type FROM digitalocean.compute.images WHERE type = 'distribution' AND private = 'true' AND tag_name = 'base-image' AND per_page = '2' AND page = '1';",
    "SELECT id, name FROM digitalocean.compute.images",
    "SELECT id, name FROM digitalocean.compute.images WHERE type = 'snapshot' LIMIT 2",
    "SELECT id, resource_id, completed_at, region, region_slug, resource_type, started_at, status, type FROM digitalocean.compute.image_actions WHERE image_id = '62137902' -- required\nAND action_id = '36804636' -- required;",
    "SELECT id, resource_id, completed_at, region, region_slug, resource_type, started_at, status, type FROM digitalocean.compute.image_actions WHERE image_id = '62137902' -- required;",
    "SELECT i.name, a.type, a.status FROM digitalocean.compute.images i JOIN digitalocean.compute.image_actions a ON a.image_id = i.id WHERE i.private = true",
    "SELECT id FROM digitalocean.compute.images WHERE image_id IN (62137902, 7555620)",
];

/// An engine builder aimed at Prism, with a token Prism accepts.
fn at_prism(base: &str) -> iql::EngineBuilder {
    Engine::builder()
        .endpoint("digitalocean", base)
        .credential("digitalocean", "contract-test")
}

#[tokio::test]
async fn prism_accepts_every_select_iql_sends() {
    let prism = Prism::start(false);
    let base = prism.base.clone();
    let engine = at_prism(&base).build().await.unwrap();
    for sql in SELECTS {
        let results = engine
            .execute(sql)
            .await
            .unwrap_or_else(|e| panic!("Prism refused a request of\n{sql}\n{e}"));
        assert!(!results[0].rows.is_empty(), "no rows for {sql}");
        assert!(results[0].notices.is_empty(), "{:?}", results[0].notices);
    }
    // The spec's list example: six images, and distribution images among them.
    let r = engine
        .execute("SELECT count(*) FROM digitalocean.compute.images")
        .await
        .unwrap();
    assert_eq!(r[0].rows[0][0], Cell::Integer(6));
}

#[tokio::test]
async fn a_credential_variable_that_is_not_set_is_refused_before_anything_is_sent() {
    let prism = Prism::start(false);
    let base = prism.base.clone();
    let err = Engine::builder()
        .endpoint("digitalocean", &base)
        .credential_env_var("digitalocean", "IQL_CONTRACT_NO_SUCH_VARIABLE")
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), iql::ErrorKind::Config, "{err}");
    assert!(
        err.to_string().contains("IQL_CONTRACT_NO_SUCH_VARIABLE"),
        "{err}"
    );
}

/// Every mutation form, as iql sends it, accepted by DigitalOcean's contract.
const MUTATIONS: &[&str] = &[
    "INSERT INTO digitalocean.compute.images (name, url, region, distribution, description, tags) VALUES ('ubuntu-18.04-minimal', 'http://cloud-images.ubuntu.com/minimal/releases/bionic/release/ubuntu-18.04-minimal-cloudimg-amd64.img', 'nyc3', 'Ubuntu', 'Cloud-optimized image', '[\"base-image\",\"prod\"]')",
    "INSERT INTO digitalocean.compute.images (data__name, data__url, data__region) SELECT 'a', 'http://example.com/a.img', 'sfo3' RETURNING id, status",
    "REPLACE digitalocean.compute.images SET data__name = 'new-name', data__distribution = 'Ubuntu', data__description = 'desc' WHERE image_id = '62137902' RETURNING image",
    "UPDATE digitalocean.compute.images SET name = 'other' WHERE image_id = 62137902",
    "DELETE FROM digitalocean.compute.images WHERE image_id = '62137902'",
    "DELETE FROM digitalocean.compute.images WHERE image_id IN (62137902, 7555620)",
    "DELETE FROM digitalocean.compute.images WHERE image_id = 62137902 RETURNING id, name",
    "EXEC digitalocean.compute.images.convert @image_id='62137902'",
    "EXEC digitalocean.compute.images.transfer @image_id='62137902', @region='nyc3'",
    "EXEC digitalocean.compute.image_actions.image_actions_post @image_id='62137902' @@json='{\"type\":\"transfer\",\"region\":\"nyc3\"}'",
    "EXEC digitalocean.compute.image_actions.image_actions_post @image_id='62137902' @@json='{\"type\":\"convert\"}'",
    "INSERT /*+ AWAIT */ INTO digitalocean.compute.images (name, url, region) VALUES ('w', 'http://example.com/w.img', 'nyc3') RETURNING status",
];

#[tokio::test]
async fn prism_accepts_every_mutation_iql_sends() {
    let prism = Prism::start(false);
    let base = prism.base.clone();
    let engine = at_prism(&base)
        .wait_policy(
            std::time::Duration::from_millis(20),
            std::time::Duration::from_millis(300),
        )
        .build()
        .await
        .unwrap();
    for sql in MUTATIONS {
        engine
            .execute(sql)
            .await
            .unwrap_or_else(|e| panic!("Prism refused a request of\n{sql}\n{e}"));
    }
    // The spec's example action stays in-progress: waiting polls (with requests Prism accepts) and
    // then gives up with the action's id.
    let err = engine
        .execute("EXEC /*+ AWAIT */ digitalocean.compute.images.convert @image_id='62137902'")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), iql::ErrorKind::Action, "{err}");
    assert!(err.to_string().contains("is still in-progress"), "{err}");
}

#[tokio::test]
async fn bad_input_is_stopped_by_iql_before_any_request() {
    let prism = Prism::start(false);
    let base = prism.base.clone();
    let engine = at_prism(&base).build().await.unwrap();
    for (sql, expected) in [
        ("INSERT INTO digitalocean.compute.images (name, region) VALUES ('x', 'nyc3')", "images_create_custom needs url"),
        ("INSERT INTO digitalocean.compute.images (name, url, region) VALUES ('x', 'http://x', 'mars1')", "invalid value 'mars1' for parameter 'region'"),
        ("EXEC digitalocean.compute.images.transfer @image_id='62137902' @region='mars1'", "invalid value 'mars1' for parameter 'region'"),
        ("EXEC digitalocean.compute.image_actions.image_actions_post @image_id='62137902' @@json='{\"type\":\"transfer\"}'", "image_actions_post needs region"),
        ("DELETE FROM digitalocean.compute.images WHERE image_id = 'ubuntu-16-04-x64'", "expected integer"),
    ] {
        let err = engine.execute(sql).await.unwrap_err();
        // A planning error: iql's own check, made before sending (an HTTP 422 from Prism would be kind Http).
        assert_eq!(err.kind(), iql::ErrorKind::Planning, "{sql}: {err}");
        assert!(err.to_string().contains(expected), "{sql}: {err}");
    }
    assert_eq!(engine.http_counts().0, 0, "no request may have been sent");
}
