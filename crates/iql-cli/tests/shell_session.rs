//! The shell driven as a person would, through a terminal (tmux): a multi-line query, tab
//! completion, Ctrl-C on a slow query, and the shell going on afterwards.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is needed (.ci/run installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types text literally (a trailing `;` would otherwise be read by tmux itself).
    fn type_text(&self, text: &str) {
        // tmux reads an argument ending in ';' as its own command separator; `\;` is a literal ';'.
        let escaped = match text.strip_suffix(';') {
            Some(head) => format!("{head}\\;"),
            None => text.to_string(),
        };
        self.tmux(&["send-keys", "-t", "s", "-l", &escaped]);
    }

    fn key(&self, key: &str) {
        self.tmux(&["send-keys", "-t", "s", key]);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-t", "s", "-p"])
    }

    /// Waits until the screen shows `text` `times` times.
    fn wait_for(&self, text: &str, times: usize) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.matches(text).count() >= times {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "waited for {text:?} x{times}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

#[test]
fn a_scripted_session() {
    let history = std::env::temp_dir().join(format!("iql-history-{}", std::process::id()));
    let t = Tmux {
        socket: format!("iql-test-{}", std::process::id()),
    };
    let command = format!(
        "IQL_HISTORY={} NO_COLOR=1 {} shell --sandbox --sandbox-images 20000 --sandbox-latency-ms 300 --concurrency 1",
        history.display(),
        env!("CARGO_BIN_EXE_iql")
    );
    t.tmux(&[
        "new-session",
        "-d",
        "-s",
        "s",
        "-x",
        "150",
        "-y",
        "50",
        &command,
    ]);
    t.wait_for("iql>", 1);

    // A query over three lines; the first two do not end it. Completion fills in the resource.
    t.type_text("SELECT count(*) AS distros");
    t.key("Enter");
    t.type_text("FROM digitalocean.compute.imag");
    t.key("Tab");
    t.type_text("s");
    t.key("Enter");
    t.type_text("WHERE type = 'distribution';");
    t.key("Enter");
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
    t.key("Enter");
    t.wait_for("fetching:", 1);
    t.key("C-c");
    t.wait_for("cancelled: SELECT stopped", 1);

    // The shell goes on.
    t.wait_for("iql>", 3);
    t.type_text(".mode csv");
    t.key("Enter");
    t.wait_for("iql>", 4);
    t.type_text("SELECT 40 + 2 AS answer;");
    t.key("Enter");
    let screen = t.wait_for("answer\n42", 1);
    assert!(!screen.contains("error"), "{screen}");

    t.key("C-d");
    let start = Instant::now();
    while !t.tmux(&["list-sessions"]).is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(
        saved.contains("SELECT 40 + 2 AS answer;"),
        "history: {saved}"
    );
    let _ = std::fs::remove_file(history);
}
