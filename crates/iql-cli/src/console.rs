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
    /// How the shell shows results (`exec` leaves it off).
    pub display: ShellDisplay,
    /// The columns of the table `-o csv` is writing: later statements add rows to it when they
    /// have the same columns, and fail when they do not (one file, one header).
    pub csv_columns: Option<Vec<String>>,
}

/// Whether a result with `columns` writes a header row: `-o csv` writes one table, so a
/// statement after the first adds rows under the first one's header, or is refused when its
/// columns differ (a second header in the middle of a file is no CSV a reader takes).
fn csv_header(
    format: Format,
    headers: bool,
    table: &mut Option<Vec<String>>,
    columns: &[iql::ResultColumn],
) -> Result<bool, String> {
    if format != Format::Csv || columns.is_empty() {
        return Ok(headers);
    }
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    match table {
        None => {
            *table = Some(names);
            Ok(headers)
        }
        Some(first) if *first == names => Ok(false),
        Some(first) => Err(format!(
            "-o csv writes one table, with the columns ({}) of the first statement that gave rows; this statement gives ({}): run it in a command of its own, or use -o json",
            first.join(", "),
            names.join(", ")
        )),
    }
}

/// psql's habits, for the shell: a row count under tables, expanded display, a pager, and
/// variables for `:name` placeholders.
#[derive(Debug, Default)]
pub struct ShellDisplay {
    /// On in the shell: `(3 rows)` under a table, variables bound, expanded display and pager.
    pub active: bool,
    pub expanded: Expanded,
    /// Output taller than the screen goes through `$PAGER` (default `less -FRX`).
    pub pager: bool,
    /// Whether results go to the screen (not to a `.output` file).
    pub to_screen: bool,
    /// `\set name value`: bound to `:name` in statements.
    pub variables: std::collections::BTreeMap<String, String>,
}

/// `\x`: one line per column for each row: always, never, or when the table is wider than the
/// screen.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Expanded {
    #[default]
    Off,
    On,
    Auto,
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
        let bound;
        let sql = if self.display.active {
            match self.bind_variables(sql) {
                Ok(text) => {
                    bound = text;
                    bound.as_str()
                }
                Err(e) => {
                    eprintln!("error: {}", output::visible(&e, true));
                    return Outcome::Failed;
                }
            }
        } else {
            sql
        };
        let statements = match self.session.parse(sql) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {}", output::visible(&e.to_string(), true));
                return Outcome::Failed;
            }
        };
        // Each script (a command, a file, one input of the shell) writes its own CSV table.
        self.csv_columns = None;
        // Several statements in JSON are one document: an array of their arrays, which
        // `json.load` and `jq` read whole (`jq '.[1]'` is the second statement's rows).
        let wrap = self.format == Format::Json && statements.len() > 1 && !self.display.active;
        if wrap && write!(self.out, "[").is_err() {
            return Outcome::Failed;
        }
        let mut outcome = Outcome::Done;
        for (i, s) in statements.iter().enumerate() {
            if wrap && i > 0 && write!(self.out, ",").is_err() {
                return Outcome::Failed;
            }
            match self.run_one(s, cancel()).await {
                Outcome::Done => {}
                other => {
                    // The statement's own array, so what was written still parses.
                    if wrap && self.out.write_all(b"[]").is_err() {
                        return Outcome::Failed;
                    }
                    outcome = other;
                    break;
                }
            }
        }
        if wrap && (writeln!(self.out, "]").is_err() || self.out.flush().is_err()) {
            return Outcome::Failed;
        }
        outcome
    }

    async fn run_one(
        &mut self,
        statement: &ParsedStatement,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Outcome {
        let started = Instant::now();
        let progress = self.progress_ticker();
        // A query printed as json, jsonl, csv or text streams: its rows are written as they come,
        // and memory does not grow with them.
        let streamed =
            self.format != Format::Table && matches!(statement.statement, iql::Statement::Query(_));
        let result = if streamed {
            let (session, out, table) = (&self.session, &mut self.out, &mut self.csv_columns);
            let (format, headers) = (self.format, self.headers);
            tokio::select! {
                r = stream_out(session, statement, &mut **out, format, headers, table) => Some(r),
                _ = cancel => None,
            }
        } else {
            tokio::select! {
                r = self.session.run(statement) => Some(r.map(|r| (r, None)).map_err(|e| e.to_string())),
                _ = cancel => None,
            }
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
            Ok((result, written)) => {
                // Notices and errors may quote API data: control characters are shown, not obeyed.
                for n in &result.notices {
                    eprintln!("notice: {}", output::visible(n, true));
                }
                // JSON keeps one array per statement, so a script can pair them up: a statement
                // without rows (DELETE without RETURNING) gives [].
                if written.is_some() {
                    // Already written, row by row.
                } else if let iql::Statement::Copy(copy) = &statement.statement {
                    // COPY … TO STDOUT: the rows as COPY writes them, whatever the output format.
                    if let Err(e) = write_copy(&mut self.out, copy, &result) {
                        eprintln!("error: cannot write the result: {e}");
                        return Outcome::Failed;
                    }
                } else if self.display.active
                    && self.format == Format::Table
                    && !result.columns.is_empty()
                {
                    if let Err(e) = self.show_table(&result) {
                        eprintln!("error: cannot write the result: {e}");
                        return Outcome::Failed;
                    }
                } else if !result.columns.is_empty() || self.format == Format::Json {
                    let headers = match csv_header(
                        self.format,
                        self.headers,
                        &mut self.csv_columns,
                        &result.columns,
                    ) {
                        Ok(h) => h,
                        Err(e) => {
                            eprintln!("error: {e}");
                            return Outcome::Failed;
                        }
                    };
                    if let Err(e) = output::write(&mut self.out, self.format, headers, &result)
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
                        written
                            .unwrap_or(result.rows.len())
                            .max(result.affected.unwrap_or(0) as usize),
                        result.stats.requests
                    );
                }
                Outcome::Done
            }
            Err(e) => {
                eprintln!("error: {}", output::visible(e.as_str(), true));
                Outcome::Failed
            }
        }
    }

    /// `:name` placeholders bound to the shell's variables (a number stays a number); text
    /// without named placeholders is left as it is.
    fn bind_variables(&self, sql: &str) -> Result<String, String> {
        let used: Vec<String> = iql::placeholders(sql)
            .into_iter()
            .filter_map(|p| p.strip_prefix(':').map(str::to_string))
            .collect();
        if used.is_empty() {
            return Ok(sql.to_string());
        }
        let mut values = Vec::new();
        for name in &used {
            let Some((key, value)) = self
                .display
                .variables
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
            else {
                return Err(format!(
                    ":{name} has no value: set one with \\set {name} VALUE (\\set alone lists them)"
                ));
            };
            if values
                .iter()
                .any(|(k, _): &(&str, iql::Cell)| k.eq_ignore_ascii_case(key))
            {
                continue;
            }
            let cell = match value.parse::<i64>() {
                Ok(i) => iql::Cell::Integer(i),
                Err(_) => iql::Cell::Text(value.clone()),
            };
            values.push((key.as_str(), cell));
        }
        iql::bind_named(sql, &values).map_err(|e| e.to_string())
    }

    /// A table result in the shell: expanded when asked (or too wide), with a row count under it,
    /// through the pager when taller than the screen.
    fn show_table(&mut self, result: &iql::QueryResult) -> std::io::Result<()> {
        let (cols, rows) = crossterm::terminal::size().unwrap_or((u16::MAX, u16::MAX));
        let mut text = output::table_string(self.headers, result);
        let too_wide = text.lines().any(|l| l.chars().count() > usize::from(cols));
        if self.display.expanded == Expanded::On
            || (self.display.expanded == Expanded::Auto && too_wide)
        {
            let mut buf = Vec::new();
            output::write_expanded(&mut buf, result)?;
            text = String::from_utf8_lossy(&buf).into_owned();
        }
        let n = result.rows.len();
        text.push_str(&format!("({n} row{})\n", if n == 1 { "" } else { "s" }));
        let tall = text.lines().count() + 1 >= usize::from(rows);
        if self.display.pager
            && self.display.to_screen
            && tall
            && std::io::stdout().is_terminal()
            && page(&text).is_ok()
        {
            return Ok(());
        }
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
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

/// Shows `text` through `$PAGER` (default `less -FRX`); an error if it cannot be started.
fn page(text: &str) -> std::io::Result<()> {
    let pager = std::env::var("PAGER")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "less -FRX".to_string());
    let mut child = std::process::Command::new("sh")
        .args(["-c", &pager])
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A pager quit early (q in less) closes its input: not an error.
        let _ = stdin.write_all(text.as_bytes());
    }
    child.wait()?;
    Ok(())
}

/// Runs a query and writes its rows as they come; the result without its rows (notices, counts)
/// and how many were written.
async fn stream_out(
    session: &Session,
    statement: &ParsedStatement,
    out: &mut (dyn Write + Send),
    format: Format,
    headers: bool,
    csv_table: &mut Option<Vec<String>>,
) -> Result<(iql::QueryResult, Option<usize>), String> {
    let mut stream = session.stream(statement).await.map_err(|e| e.to_string())?;
    let columns = stream.columns().to_vec();
    let headers = csv_header(format, headers, csv_table, &columns)?;
    let write_err = |e: std::io::Error| format!("cannot write the result: {e}");
    let mut writer = output::RowWriter::start(out, format, headers, &columns)
        .map_err(write_err)?
        .ok_or_else(|| "table output does not stream".to_string())?;
    while let Some(row) = stream.next_row().await {
        let row = row.map_err(|e| e.to_string())?;
        writer.row(&row).map_err(write_err)?;
    }
    let written = writer.finish().map_err(write_err)?;
    let summary = stream.summary();
    Ok((
        iql::QueryResult {
            columns,
            notices: summary.notices,
            stats: summary.stats,
            affected: summary.affected,
            message: summary.message,
            ..iql::QueryResult::default()
        },
        Some(written),
    ))
}

/// `COPY … TO STDOUT` in text or CSV, with its header line if it asks for one.
fn write_copy(
    out: &mut dyn std::io::Write,
    copy: &iql::CopyStatement,
    result: &iql::QueryResult,
) -> std::io::Result<()> {
    if copy.header {
        let names = result.columns.iter().map(|c| Some(c.name.as_str()));
        writeln!(out, "{}", copy.line(names))?;
    }
    for row in &result.rows {
        let values: Vec<Option<String>> = row
            .iter()
            .map(|c| match c {
                iql::Cell::Null => None,
                iql::Cell::Bool(b) => Some(if *b { "t" } else { "f" }.to_string()),
                other => Some(other.to_string()),
            })
            .collect();
        writeln!(out, "{}", copy.line(values.iter().map(|v| v.as_deref())))?;
    }
    out.flush()
}
