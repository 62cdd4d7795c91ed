//! The shell driven as a person would, through a pseudo-terminal: a multi-line query, tab
//! completion, Ctrl-C on a slow query, and the shell going on afterwards.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod terminal;

use std::time::Duration;

use terminal::Terminal;

#[test]
fn a_scripted_session() {
    let history = std::env::temp_dir().join(format!("iql-history-{}", std::process::id()));
    let history_text = history.display().to_string();
    let data_home = std::env::temp_dir()
        .join(format!("iql-shell-data-{}", std::process::id()))
        .display()
        .to_string();
    let mut t = Terminal::start(
        env!("CARGO_BIN_EXE_iql"),
        &[
            "shell",
            "--sandbox",
            "--sandbox-images",
            "20000",
            "--sandbox-latency-ms",
            "300",
            "--concurrency",
            "1",
        ],
        &[
            ("IQL_HISTORY", &history_text),
            ("NO_COLOR", "1"),
            ("XDG_DATA_HOME", &data_home),
        ],
        150,
        50,
    );
    t.wait_for("iql>", 1);

    // A query over three lines; the first two do not end it. Completion fills in the resource.
    t.type_text("SELECT count(*) AS distros");
    t.enter();
    t.type_text("FROM digitalocean.compute.imag");
    t.tab();
    t.type_text("s");
    t.enter();
    t.type_text("WHERE type = 'distribution';");
    t.enter();
    let screen = t.wait_for("|      10 |", 1);
    assert!(
        screen.contains("FROM digitalocean.compute.images"),
        "completion did not fill the name:\n{screen}"
    );

    // Keys are typed only at a prompt: between statements the terminal is briefly out of raw mode,
    // and what is typed then depends on timing, which a person never notices but a script does.
    t.wait_for("iql>", 2);

    // A slow query (100 pages, one at a time, 300 ms each), cancelled with Ctrl-C.
    t.type_text("SELECT count(*) FROM digitalocean.compute.images;");
    t.enter();
    t.wait_for("fetching:", 1);
    t.ctrl('c');
    t.wait_for("cancelled: SELECT stopped", 1);

    // The shell goes on.
    t.wait_for("iql>", 3);
    t.type_text(".mode csv");
    t.enter();
    t.wait_for("iql>", 4);
    t.type_text("SELECT 40 + 2 AS answer;");
    t.enter();
    let screen = t.wait_for("answer\n42", 1);
    assert!(!screen.contains("error:"), "{screen}");

    // A bug (a panic inside a statement) is reported, and the shell goes on.
    t.wait_for("iql>", 5);
    t.type_text("SELECT 'iql_injected_panic';");
    t.enter();
    t.wait_for("error: internal error in iql while running", 1);
    t.wait_for("iql>", 6);
    t.type_text("SELECT 6 * 7 AS again;");
    t.enter();
    t.wait_for("again\n42", 1);

    t.ctrl('d');
    assert!(
        t.wait_exit(Duration::from_secs(10)),
        "Ctrl-D did not end the shell"
    );
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(
        saved.contains("SELECT 40 + 2 AS answer;"),
        "history: {saved}"
    );
    let _ = std::fs::remove_file(history);
}
