//! The provider document loader: any text as a service document must load or give an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = iql_provider::service_from_text("p", "s", text, std::path::Path::new("fuzz.yaml"));
});
