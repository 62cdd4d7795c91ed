//! The page reader that turns a list page's JSON straight into rows: any bytes must give rows or
//! an error, for object items and for whole-value items.
#![no_main]

use std::collections::HashMap;

use iql_engine::page::{parse, RowLayout};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let index: HashMap<String, usize> = [("id", 0), ("name", 1), ("tags", 2), ("region", 3)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    for whole in [None, Some(1)] {
        let layout = RowLayout {
            key: "images",
            index: &index,
            width: 4,
            keep: &["links", "meta"],
            whole,
        };
        let _ = parse(&layout, data);
    }
});
