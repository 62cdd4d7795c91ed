//! The sandbox's route matcher and body checks: any method, path and body must get one of
//! DigitalOcean's statuses and, for a refusal, its `{"id", "message", "request_id"}` body; never
//! a panic. Input: a byte choosing the method, then the path up to a newline, then the body.
#![no_main]

use std::sync::OnceLock;

use iql_mock::{MockConfig, OfflineSandbox};
use libfuzzer_sys::fuzz_target;

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

fn sandbox() -> &'static OfflineSandbox {
    static SANDBOX: OnceLock<OfflineSandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| OfflineSandbox::new(MockConfig::default()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let method = METHODS[pick as usize % METHODS.len()];
    let (path, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let path = String::from_utf8_lossy(path);
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/v2/{path}")
    };
    let (status, answer) = sandbox().answer(method, &path, Some("fuzz"), body);
    assert!(
        [200, 201, 202, 204, 400, 404, 405, 422].contains(&status),
        "{method} {path}: {status}"
    );
    if status >= 400 {
        let text = answer.expect("a refusal has a body");
        let v: serde_json::Value = serde_json::from_str(&text).expect("a refusal is JSON");
        assert!(v["id"].is_string() && v["message"].is_string(), "{v}");
    }
});
