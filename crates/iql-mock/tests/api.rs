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

async fn send(
    server: &MockServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{}", server.url(), path))
        .bearer_auth("t");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Every resource of the spec answers as DigitalOcean does: its 401, 404 and 422 with
/// DigitalOcean's body, actions that finish after the configured polls, and parents that must
/// exist.
#[tokio::test]
async fn every_resource_keeps_the_contract() {
    use reqwest::Method;
    use serde_json::json;
    let server = MockServer::start(MockConfig::default()).await.unwrap();

    let (status, body) = get(&server, "/v2/droplets", None).await;
    assert_eq!((status, body["id"].as_str()), (401, Some("unauthorized")));

    // A required field, a type, an enum: each a 422 naming the field.
    for (body, says) in [
        (
            json!({"name": "d", "region": "nyc3"}),
            "size_gigabytes is required",
        ),
        (
            json!({"name": "d", "region": "nyc3", "size_gigabytes": "ten"}),
            "size_gigabytes must be an integer",
        ),
    ] {
        let (status, answer) = send(&server, Method::POST, "/v2/volumes", Some(body)).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["id"], "unprocessable_entity");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
        assert!(answer["request_id"].is_string(), "{answer}");
    }
    let db = json!({"name": "db", "engine": "oracle", "num_nodes": 1, "size": "db-s-1vcpu-1gb", "region": "nyc3"});
    let (status, answer) = send(&server, Method::POST, "/v2/databases", Some(db)).await;
    assert_eq!(status, 422);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("engine must be one of"),
        "{answer}"
    );

    // Unknown ids and unknown parents are 404s.
    let (status, answer) = get(&server, "/v2/droplets/1", Some("t")).await;
    assert_eq!((status, answer["id"].as_str()), (404, Some("not_found")));
    let (status, _) = get(&server, "/v2/droplets/1/actions", Some("t")).await;
    assert_eq!(status, 404);

    // A droplet action is in progress, then completed after the default two reads.
    let (_, list) = get(&server, "/v2/droplets", Some("t")).await;
    let id = list["droplets"][0]["id"].as_i64().unwrap();
    let (status, started) = send(
        &server,
        Method::POST,
        &format!("/v2/droplets/{id}/actions"),
        Some(json!({"type": "reboot"})),
    )
    .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["action"]["status"], "in-progress");
    assert_eq!(started["action"]["resource_id"], id);
    let action = started["action"]["id"].as_i64().unwrap();
    let read = format!("/v2/droplets/{id}/actions/{action}");
    let (_, first) = get(&server, &read, Some("t")).await;
    assert_eq!(first["action"]["status"], "in-progress");
    let (_, second) = get(&server, &read, Some("t")).await;
    assert_eq!(second["action"]["status"], "completed");
    // The account's actions list it too, finished.
    let (_, account) = get(&server, &format!("/v2/actions/{action}"), Some("t")).await;
    assert_eq!(account["action"]["status"], "completed");

    // A body that is not JSON is DigitalOcean's 400, not a panic.
    let resp = reqwest::Client::new()
        .post(format!("{}/v2/volumes", server.url()))
        .bearer_auth("t")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error());
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["id"].is_string() && body["message"].is_string(),
        "{body}"
    );
}

/// The fault knobs answer for the spec's resources as for images.
#[tokio::test]
async fn the_fault_knobs_reach_every_resource() {
    let server = MockServer::start(MockConfig {
        error_rate: 1.0,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let (status, body) = get(&server, "/v2/kubernetes/clusters", Some("t")).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["id"].is_string() && body["request_id"].is_string(),
        "{body}"
    );
}

/// Lists answer the filters their methods declare, and the seed chooses the account.
#[tokio::test]
async fn filters_and_seeds() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let (_, all) = get(&server, "/v2/volumes", Some("t")).await;
    let all = all["volumes"].as_array().unwrap().clone();
    let (_, sfo3) = get(&server, "/v2/volumes?region=sfo3", Some("t")).await;
    let sfo3 = sfo3["volumes"].as_array().unwrap().clone();
    assert!(!sfo3.is_empty() && sfo3.len() < all.len(), "{sfo3:?}");
    assert!(sfo3.iter().all(|v| v["region"]["slug"] == "sfo3"));
    let (_, none) = get(&server, "/v2/droplets?tag_name=no-such-tag", Some("t")).await;
    assert_eq!(none["droplets"].as_array().map(Vec::len), Some(0));
    assert_eq!(none["meta"]["total"], 0);

    let ids = |body: &Value| -> Vec<Value> {
        body["droplets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].clone())
            .collect()
    };
    let (_, first) = get(&server, "/v2/droplets", Some("t")).await;
    let same = MockServer::start(MockConfig::default()).await.unwrap();
    let (_, again) = get(&same, "/v2/droplets", Some("t")).await;
    assert_eq!(ids(&first), ids(&again));
    let other = MockServer::start(MockConfig {
        seed: 7,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let (_, seven) = get(&other, "/v2/droplets", Some("t")).await;
    assert_ne!(ids(&first), ids(&seven));
}

/// Anything a client can send gets DigitalOcean's kind of answer: a status DigitalOcean uses and,
/// for a refusal, its `{"id", "message", "request_id"}` body; never a panic. Thousands of
/// requests, each a seeded mix of real path pieces, odd segments, methods and bodies.
#[test]
fn any_request_gets_a_digitalocean_answer() {
    use iql_mock::OfflineSandbox;
    let sandbox = OfflineSandbox::new(MockConfig::default());
    let (_, droplets) = sandbox.answer("GET", "/v2/droplets", Some("t"), b"");
    let droplets: Value = serde_json::from_str(&droplets.unwrap()).unwrap();
    let droplet = droplets["droplets"][0]["id"].to_string();
    let pieces = [
        "droplets",
        "actions",
        "kubernetes",
        "clusters",
        "node_pools",
        "databases",
        "users",
        "images",
        "volumes",
        "snapshots",
        "apps",
        "deployments",
        "domains",
        "records",
        "vpcs",
        "members",
        "registry",
        "gen-ai",
        "agents",
        &droplet,
        "1",
        "-1",
        "0",
        "99999999999999999999999",
        "",
        "%00",
        "..",
        "%2F",
        "a%20b",
        "ÿ",
        "{id}",
        "?x=1",
    ];
    let keys = [
        "name",
        "type",
        "size",
        "region",
        "image",
        "droplet_id",
        "size_gigabytes",
        "engine",
        "num_nodes",
        "tags",
        "version",
        "node_pools",
    ];
    let methods = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "FOO",
    ];
    let real: Vec<String> = [
        "/v2/droplets",
        "/v2/volumes",
        "/v2/kubernetes/clusters",
        "/v2/databases",
        "/v2/domains",
        "/v2/tags",
        "/v2/vpcs",
        "/v2/projects",
        "/v2/images",
    ]
    .iter()
    .map(|p| p.to_string())
    .chain([
        format!("/v2/droplets/{droplet}/actions"),
        format!("/v2/droplets/{droplet}"),
    ])
    .collect();
    let mut state: u64 = 0x1234_5678;
    let mut next = |n: usize| -> usize {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % n.max(1)
    };
    let allowed = [200, 201, 202, 204, 400, 401, 404, 405, 422, 429, 500];
    let mut seen: std::collections::BTreeMap<u16, usize> = std::collections::BTreeMap::new();
    for _ in 0..3000 {
        // Half the time a real collection (bodies then meet its checks), else pieces at random.
        let mut path = if next(2) == 0 {
            real[next(real.len())].clone()
        } else {
            String::from("/v2")
        };
        for _ in 0..next(if path == "/v2" { 6 } else { 2 }) {
            path.push('/');
            path.push_str(pieces[next(pieces.len())]);
        }
        let value = |k: usize| -> serde_json::Value {
            match k {
                0 => serde_json::json!("x"),
                1 => serde_json::json!(7),
                2 => serde_json::json!(-1.5),
                3 => serde_json::json!(true),
                4 => serde_json::Value::Null,
                5 => serde_json::json!(["a", 1]),
                6 => serde_json::json!({"nested": {"deep": [1, 2, 3]}}),
                _ => serde_json::json!("é".repeat(5000)),
            }
        };
        let body: Vec<u8> = match next(5) {
            0 => Vec::new(),
            1 => b"{not json".to_vec(),
            2 => b"[1, 2]".to_vec(),
            _ => {
                let mut o = serde_json::Map::new();
                for _ in 0..next(6) {
                    o.insert(keys[next(keys.len())].to_string(), value(next(8)));
                }
                serde_json::Value::Object(o).to_string().into_bytes()
            }
        };
        let method = methods[next(methods.len())];
        let bearer = if next(20) == 0 { None } else { Some("t") };
        let (status, answer) = sandbox.answer(method, &path, bearer, &body);
        assert!(
            allowed.contains(&status),
            "{method} {path} answered {status}"
        );
        *seen.entry(status).or_insert(0) += 1;
        if status >= 400 {
            let text = answer.unwrap_or_else(|| panic!("{method} {path}: {status} without a body"));
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
                panic!("{method} {path}: {status} body {text:?} is not JSON: {e}")
            });
            assert!(
                v["id"].is_string() && v["message"].is_string() && v["request_id"].is_string(),
                "{method} {path}: {status} {v}"
            );
        }
    }
    // The mix reaches the rules, not only the 404 of an unknown path: answers, creates,
    // refusals of bodies and of credentials all come up.
    for status in [200, 201, 204, 401, 404, 422] {
        assert!(
            seen.get(&status).copied().unwrap_or(0) > 5,
            "{status} seldom seen: {seen:?}"
        );
    }
}
