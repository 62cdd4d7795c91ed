//! The mock keeps DigitalOcean's contract: auth, paging bounds and links, filters, ids and slugs.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use iql_mock::{MockConfig, MockServer};
use serde_json::Value;

async fn get(server: &MockServer, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("{}{}", server.url(), path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn contract() {
    let server = MockServer::start(MockConfig {
        images: 201,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let (status, body) = get(&server, "/v2/images", None).await;
    assert_eq!((status, body["id"].as_str()), (401, Some("unauthorized")));

    let (status, body) = get(&server, "/v2/images?per_page=201", Some("t")).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (422, Some("unprocessable_entity"))
    );

    let (_, body) = get(&server, "/v2/images?per_page=200", Some("t")).await;
    assert_eq!(body["images"].as_array().unwrap().len(), 200);
    assert_eq!(body["meta"]["total"], 201);
    let next = body["links"]["pages"]["next"].as_str().unwrap();
    assert_eq!(
        next,
        format!("{}/v2/images?page=2&per_page=200", server.url())
    );
    let (_, body) = get(&server, "/v2/images?page=2&per_page=200", Some("t")).await;
    assert_eq!(body["images"].as_array().unwrap().len(), 1);
    assert!(body["links"]["pages"].get("next").is_none());
    assert!(body["links"]["pages"]["prev"].is_string());

    let (_, body) = get(
        &server,
        "/v2/images?type=distribution&per_page=200",
        Some("t"),
    )
    .await;
    assert_eq!(body["meta"]["total"], 10);
    assert_eq!(
        body["links"],
        serde_json::json!({}),
        "one page: no page links"
    );
    let (_, body) = get(&server, "/v2/images?private=true&per_page=200", Some("t")).await;
    assert!(body["images"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["public"] == false));

    let (status, body) = get(&server, "/v2/images/ubuntu-22-04-x64", Some("t")).await;
    assert_eq!(status, 200);
    assert_eq!(body["image"]["slug"], "ubuntu-22-04-x64");
    let (status, body) = get(&server, "/v2/images/1", Some("t")).await;
    assert_eq!((status, body["id"].as_str()), (404, Some("not_found")));
    assert!(body["request_id"].is_string());
}

/// The binary's first line tells where it listens, so scripts can read it.
#[test]
fn the_binary_prints_where_it_listens_first() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_iql-mock"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--images",
            "3",
            "--latency-ms",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let url = line
        .trim()
        .strip_prefix("listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("first line: {line:?}"));
    assert!(url.parse::<u16>().is_ok_and(|p| p > 0), "{line}");
}

#[test]
fn the_binary_refuses_other_addresses() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_iql-mock"))
        .args(["--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only loopback addresses are allowed"));
}

#[test]
fn a_busy_port_is_reported_in_words() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_iql-mock"))
        .args(["--addr", &addr])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!("iql-mock: cannot listen on {addr}: the address is already in use (another program listens there): pick another port, or --addr 127.0.0.1:0 for a free one")
    );
    drop(taken);
}
