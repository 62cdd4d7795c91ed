//! `/*+ AWAIT */` on DigitalOcean's actions across the bundled provider: each action is polled
//! where DigitalOcean serves it: under its Droplet, volume or reserved IP, and, for actions on a
//! whole collection (Droplets by tag, volumes by name), at the account's `/v2/actions/{id}`.
//!
//! A small scripted server answers every POST with actions `in-progress` and every GET of an
//! action with it `completed`, and records what it was asked.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, Uri};
use iql::{Cell, Engine};

/// Serves the script; returns the base URL and the request log (`POST /v2/...`).
async fn serve() -> (String, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(format!("{method} {uri}"));
            let path = uri.path();
            let action = |id: u64, status: &str| {
                serde_json::json!({ "id": id, "status": status, "type": "test" })
            };
            let body = if method == Method::POST && path.ends_with("/actions") {
                if uri.query().is_some_and(|q| q.contains("tag_name=")) {
                    serde_json::json!({ "actions": [action(51, "in-progress"), action(52, "in-progress")] })
                } else {
                    serde_json::json!({ "action": action(41, "in-progress") })
                }
            } else if method == Method::GET {
                let id = path.rsplit('/').next().unwrap().parse().unwrap_or(0);
                serde_json::json!({ "action": action(id, "completed") })
            } else {
                serde_json::json!({ "id": "unexpected", "message": "not scripted" })
            };
            ([("content-type", "application/json")], body.to_string())
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, log)
}

/// Runs `sql` with AWAIT and gives the statuses it returned and the GETs it polled with.
async fn awaited(sql: &str) -> (Vec<Cell>, Vec<String>) {
    let (base, log) = serve().await;
    let engine = Engine::builder()
        .endpoint("digitalocean", &base)
        .credential("digitalocean", "t")
        .wait_policy(Duration::from_millis(5), Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    let results = engine
        .execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}\n{e}"));
    let status = results[0]
        .columns
        .iter()
        .position(|c| c.name == "status")
        .unwrap();
    let statuses = results[0].rows.iter().map(|r| r[status].clone()).collect();
    let gets = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("GET "))
        .cloned()
        .collect();
    (statuses, gets)
}

fn completed(n: usize) -> Vec<Cell> {
    vec![Cell::Text("completed".to_string()); n]
}

#[tokio::test]
async fn droplet_actions_are_polled_under_their_droplet() {
    let (statuses, gets) =
        awaited("EXEC /*+ AWAIT */ digitalocean.compute.droplets.reboot @droplet_id = 3164444")
            .await;
    assert_eq!(statuses, completed(1));
    assert_eq!(gets, ["GET /v2/droplets/3164444/actions/41"]);
}

#[tokio::test]
async fn volume_actions_are_polled_under_their_volume() {
    let (statuses, gets) = awaited(
        "EXEC /*+ AWAIT */ digitalocean.compute.volumes.resize @volume_id = '7724db7c', @size_gigabytes = 100, @region = 'nyc1'",
    )
    .await;
    assert_eq!(statuses, completed(1));
    assert_eq!(gets, ["GET /v2/volumes/7724db7c/actions/41"]);
}

#[tokio::test]
async fn reserved_ip_actions_are_polled_under_their_address() {
    let (statuses, gets) = awaited(
        "EXEC /*+ AWAIT */ digitalocean.compute.reserved_ips.assign @reserved_ip = '45.55.96.47', @droplet_id = 3164444",
    )
    .await;
    assert_eq!(statuses, completed(1));
    assert_eq!(gets, ["GET /v2/reserved_ips/45.55.96.47/actions/41"]);
}

#[tokio::test]
async fn actions_on_droplets_by_tag_are_each_polled_at_the_account() {
    let (statuses, mut gets) = awaited(
        "EXEC /*+ AWAIT */ digitalocean.compute.droplets.power_off_by_tag @tag_name = 'web'",
    )
    .await;
    assert_eq!(statuses, completed(2));
    gets.sort();
    assert_eq!(gets, ["GET /v2/actions/51", "GET /v2/actions/52"]);
}

#[tokio::test]
async fn actions_on_volumes_by_name_are_polled_at_the_account() {
    let (statuses, gets) = awaited(
        "EXEC /*+ AWAIT */ digitalocean.compute.volumes.attach_by_name @volume_name = 'example', @droplet_id = 3164444, @region = 'nyc1'",
    )
    .await;
    assert_eq!(statuses, completed(1));
    assert_eq!(gets, ["GET /v2/actions/41"]);
}
