//! A pseudo-terminal for driving `iql shell` as a person would: keys go in, and what a terminal
//! would show comes out, as a screen of text (`vt100` interprets the escape sequences, as tmux
//! did before; nothing but Rust crates is needed).
//!
//! Nothing here panics in `Drop`: a failed test unwinds through it, and a panic there would abort
//! the whole test binary.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};

/// How long to wait for the screen to show something before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Terminal {
    screen: Arc<Mutex<vt100::Parser>>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
}

impl Terminal {
    /// Starts `program args…` in a terminal of `cols` × `rows`, with `env` added to a clean
    /// environment (PATH and HOME kept).
    pub fn start(program: &str, args: &[&str], env: &[(&str, &str)], cols: u16, rows: u16) -> Self {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pseudo-terminal");
        let mut cmd = CommandBuilder::new(program);
        cmd.args(args);
        cmd.env_clear();
        for keep in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(keep) {
                cmd.env(keep, v);
            }
        }
        cmd.env("TERM", "xterm-256color");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pty.slave.spawn_command(cmd).expect("spawn in the terminal");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let writer = Arc::new(Mutex::new(pty.master.take_writer().expect("pty writer")));
        let mut reader = pty.master.try_clone_reader().expect("pty reader");
        let (screen_in, writer_in) = (screen.clone(), writer.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let chunk = &buf[..n];
                let Ok(mut parser) = screen_in.lock() else {
                    break;
                };
                parser.process(chunk);
                // A line editor asks where the cursor is (ESC [ 6 n); a terminal answers.
                // The answer is written while the screen is still locked: whoever sees the
                // prompt that followed the question types after the answer, never into it.
                if chunk.windows(4).any(|w| w == b"\x1b[6n") {
                    let (row, col) = parser.screen().cursor_position();
                    if let Ok(mut w) = writer_in.lock() {
                        let _ = write!(w, "\x1b[{};{}R", row + 1, col + 1);
                        let _ = w.flush();
                    }
                }
            }
        });
        Terminal {
            screen,
            writer,
            child,
            _master: pty.master,
        }
    }

    fn send(&self, bytes: &[u8]) {
        let mut w = self.writer.lock().expect("pty writer lock");
        w.write_all(bytes).expect("write to the terminal");
        w.flush().expect("flush the terminal");
    }

    /// Types text as it is.
    pub fn type_text(&self, text: &str) {
        self.send(text.as_bytes());
    }

    pub fn enter(&self) {
        self.send(b"\r");
    }

    pub fn tab(&self) {
        self.send(b"\t");
    }

    /// Ctrl and a letter: `ctrl('c')`.
    pub fn ctrl(&self, key: char) {
        self.send(&[(key.to_ascii_lowercase() as u8) & 0x1f]);
    }

    /// The screen as text, one line per row.
    pub fn screen(&self) -> String {
        self.screen
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }

    /// Waits until the screen shows `text` at least `times` times, and returns the screen.
    pub fn wait_for(&self, text: &str, times: usize) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.matches(text).count() >= times {
                return screen;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "waited for {text:?} x{times}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Waits until the last line with text on the screen is a fresh prompt (`prompt` and nothing
    /// typed after it), and returns the screen. Unlike counting prompts, this holds after output
    /// has scrolled earlier prompts away.
    pub fn wait_for_prompt(&self, prompt: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            let last = screen.lines().rev().find(|l| !l.trim().is_empty());
            if last.is_some_and(|l| l.trim() == prompt.trim()) {
                // The line editor draws its prompt a moment before it reads keys (it switches the
                // terminal to raw mode around it); keys sent in that moment can be lost. A person
                // never types that fast; a script waits a little.
                std::thread::sleep(Duration::from_millis(150));
                return screen;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "waited for a fresh {prompt:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Waits for the program to end; true if it did within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        false
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // Never panics: the program may already have ended.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
