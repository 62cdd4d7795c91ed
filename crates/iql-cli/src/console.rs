//! Running statements and printing what they give: one path for `exec`, files and the shell.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use iql::{Engine, ParsedStatement, Session};

use crate::output::{self, Format};

/// A session, where its results go and how they look.
pub struct Console {
    pub engine: Engine,
    /// Where statements run: settings of its own (`.cache`, `--dry-run`).
    pub session: Session,
    pub format: Format,
    pub headers: bool,
    pub timer: bool,
    pub quiet: bool,
    pub out: Box<dyn Write + Send>,
}

/// What happened to one statement.
pub enum Outcome {
    Done,
    Failed,
    Cancelled,
}

impl Console {
    /// Runs every statement of `sql` in order; stops at the first failure. `cancel`, when it
    /// resolves, drops the running statement (and its requests).
    pub async fn run_script<C>(&mut self, sql: &str, mut cancel: impl FnMut() -> C) -> Outcome
    where
        C: std::future::Future<Output = ()>,
    {
        let statements = match self.session.parse(sql) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {}", output::visible(&e.to_string(), true));
                return Outcome::Failed;
            }
        };
        for s in &statements {
            match self.run_one(s, cancel()).await {
                Outcome::Done => {}
                other => return other,
            }
        }
        Outcome::Done
    }

    async fn run_one(
        &mut self,
        statement: &ParsedStatement,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Outcome {
        let started = Instant::now();
        let progress = self.progress_ticker();
        let result = tokio::select! {
            r = self.session.run(statement) => Some(r),
            _ = cancel => None,
        };
        progress.abort();
        // Wait until it has stopped, so no progress line is printed after it is cleared.
        let _ = progress.await;
        if progress_shown() {
            eprint!("\r\x1b[2K");
        }
        let Some(result) = result else {
            eprintln!(
                "cancelled: {} stopped, its requests dropped",
                statement.statement.verb()
            );
            return Outcome::Cancelled;
        };
        match result {
            Ok(result) => {
                // Notices and errors may quote API data: control characters are shown, not obeyed.
                for n in &result.notices {
                    eprintln!("notice: {}", output::visible(n, true));
                }
                // JSON keeps one array per statement, so a script can pair them up: a statement
                // without rows (DELETE without RETURNING) gives [].
                if !result.columns.is_empty() || self.format == Format::Json {
                    if let Err(e) = output::write(&mut self.out, self.format, self.headers, &result)
                        .and_then(|_| self.out.flush())
                    {
                        eprintln!("error: cannot write the result: {e}");
                        return Outcome::Failed;
                    }
                }
                if !self.quiet {
                    if let Some(m) = &result.message {
                        eprintln!("{}", output::visible(m, true));
                    }
                }
                if self.timer {
                    let cached = match result.stats.from_cache {
                        0 => String::new(),
                        n => format!(" ({n} answered from the cache)"),
                    };
                    eprintln!(
                        "time: {:.3} s, {} rows, {} requests{cached}",
                        started.elapsed().as_secs_f64(),
                        result.rows.len().max(result.affected.unwrap_or(0) as usize),
                        result.stats.requests
                    );
                }
                Outcome::Done
            }
            Err(e) => {
                eprintln!("error: {}", output::visible(&e.to_string(), true));
                Outcome::Failed
            }
        }
    }

    /// While a statement runs longer than half a second, shows requests and rows so far on a
    /// terminal's stderr.
    fn progress_ticker(&self) -> tokio::task::JoinHandle<()> {
        let show = !self.quiet && std::io::stderr().is_terminal();
        let counts = self.engine.progress_counter();
        tokio::spawn(async move {
            if !show {
                return;
            }
            let (start_requests, start_rows) = counts();
            tokio::time::sleep(Duration::from_millis(500)).await;
            loop {
                let (requests, rows) = counts();
                eprint!(
                    "\r\x1b[2Kfetching: {} requests, {} rows",
                    requests - start_requests,
                    rows - start_rows
                );
                PROGRESS_SHOWN.store(true, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    }
}

static PROGRESS_SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn progress_shown() -> bool {
    PROGRESS_SHOWN.swap(false, std::sync::atomic::Ordering::Relaxed)
}
