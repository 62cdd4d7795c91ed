//! The whole statement path through the library, in dry-run mode: split, parse, plan, render,
//! SQLite (queries without provider tables run; the rest show the requests they would send).
//! Nothing is sent anywhere. Any panic, abort or stack overflow is a bug.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn runtime() -> &'static (tokio::runtime::Runtime, iql::Engine) {
    static ENGINE: OnceLock<(tokio::runtime::Runtime, iql::Engine)> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let engine = rt
            .block_on(
                iql::Engine::builder()
                    .endpoint("digitalocean", "http://127.0.0.1:9")
                    .credential("digitalocean", "fuzz")
                    .dry_run(true)
                    .build(),
            )
            .expect("an engine");
        (rt, engine)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    // A recursive CTE can run for ever in SQLite: that is a slow query, not a crash.
    if sql.to_ascii_uppercase().contains("RECURSIVE") {
        return;
    }
    let (rt, engine) = runtime();
    let _ = rt.block_on(engine.execute(sql));
});
