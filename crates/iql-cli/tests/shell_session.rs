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
            // A pager that marks what it shows, to see that long output goes through it.
            ("PAGER", "sed 's/^/P:/'"),
            // An "editor" that changes the statement it is given, for \\e.
            ("EDITOR", "sed -i s/40/41/"),
        ],
        150,
        50,
    );
    t.wait_for("iql>", 1);

    // A query over three lines; the first two do not end it, and the lines after the first get
    // the continuation prompt. Completion fills in the resource, and a column through its alias.
    t.type_text("SELECT count(*) AS distros");
    t.enter();
    t.wait_for_prompt("...>");
    t.type_text("FROM digitalocean.compute.imag");
    t.tab();
    t.type_text("s i");
    t.enter();
    t.wait_for_prompt("...>");
    t.type_text("WHERE i.ty");
    t.tab();
    t.type_text(" = 'distribution';");
    t.enter();
    let screen = t.wait_for("|      10 |", 1);
    assert!(
        screen.contains("FROM digitalocean.compute.images i"),
        "completion did not fill the name:\n{screen}"
    );
    assert!(
        screen.contains("WHERE i.type = 'distribution';"),
        "completion did not fill the alias's column:\n{screen}"
    );
    assert!(screen.contains("(1 row)"), "no row count:\n{screen}");

    // Variables, a table's columns, expanded display, and the pager for what is taller than the
    // screen (50 lines).
    t.wait_for_prompt("iql>");
    t.type_text("\\set kind snapshot");
    t.enter();
    t.wait_for_prompt("iql>");
    t.type_text("\\x on");
    t.enter();
    t.wait_for("Expanded display is on.", 1);
    t.wait_for_prompt("iql>");
    t.type_text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 15) SELECT i, :kind AS kind, 'x' AS a FROM n;");
    t.enter();
    let screen = t.wait_for("P:(15 rows)", 1);
    assert!(screen.contains("P:kind | snapshot"), "{screen}");
    t.wait_for_prompt("iql>");
    t.type_text("\\x off");
    t.enter();
    t.wait_for_prompt("iql>");
    t.type_text("\\d digitalocean.compute.image_actions");
    t.enter();
    t.wait_for("| resource_type | text      |", 1);
    t.wait_for_prompt("iql>");
    t.type_text(".mode");
    t.enter();
    t.wait_for("mode: table", 1);

    // Keys are typed only at a prompt: between statements the terminal is briefly out of raw mode,
    // and what is typed then depends on timing, which a person never notices but a script does.
    t.wait_for_prompt("iql>");

    // A slow query (100 pages, one at a time, 300 ms each), cancelled with Ctrl-C.
    t.type_text("SELECT count(*) FROM digitalocean.compute.images;");
    t.enter();
    t.wait_for("fetching:", 1);
    t.ctrl('c');
    t.wait_for("cancelled: SELECT stopped", 1);

    // The shell goes on.
    t.wait_for_prompt("iql>");
    t.type_text(".mode csv");
    t.enter();
    t.wait_for_prompt("iql>");
    t.type_text("SELECT 40 + 2 AS answer;");
    t.enter();
    let screen = t.wait_for("answer\n42", 1);
    assert!(!screen.contains("error:"), "{screen}");

    // \\e: the last statement through the editor, then run as it comes back.
    t.wait_for_prompt("iql>");
    t.type_text("\\e");
    t.enter();
    t.wait_for("answer\n43", 1);
    // On a continuation line, \\e takes the statement being typed.
    t.wait_for_prompt("iql>");
    t.type_text("SELECT 40 + 2 AS typed");
    t.enter();
    t.wait_for_prompt("...>");
    t.type_text("\\e");
    t.enter();
    t.wait_for("typed\n43", 1);

    // A bug (a panic inside a statement) is reported, and the shell goes on.
    t.wait_for_prompt("iql>");
    t.type_text("SELECT 'iql_injected_panic';");
    t.enter();
    t.wait_for("error: internal error in iql while running", 1);
    t.wait_for_prompt("iql>");
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
