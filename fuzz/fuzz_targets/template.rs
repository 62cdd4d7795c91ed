//! The `.iql` template renderer with a few variables: any text must render or give an error.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let vars: BTreeMap<String, serde_json::Value> = [
        ("name".to_string(), serde_json::json!("o'brien")),
        ("id".to_string(), serde_json::json!("7")),
        ("tags".to_string(), serde_json::json!(["a", "b"])),
    ]
    .into();
    let _ = iql_template::render(src, &vars);
});
