//! `iql shell`: a SQL REPL over the same [`Session`] as `iql exec`.
//!
//! A statement runs once a `;` ends it outside strings and comments (checked by
//! `iql_sql::is_complete`), so queries can span lines. Ctrl-C at the prompt clears the line; while a
//! statement runs it cancels it (its in-flight requests are dropped) and the shell goes on. Ctrl-D
//! leaves. History is kept in `$XDG_STATE_HOME/iql/history` (or `~/.local/state/iql/history`;
//! `IQL_HISTORY` overrides).

use std::borrow::Cow;
use std::path::PathBuf;

use iql_provider::Registry;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};

use crate::output::Format;
use crate::session::{Outcome, Session};

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "JOIN",
    "LEFT",
    "ON",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "DISTINCT",
    "AS",
    "WITH",
    "UNION",
    "ALL",
    "INSERT",
    "INTO",
    "VALUES",
    "REPLACE",
    "UPDATE",
    "SET",
    "DELETE",
    "RETURNING",
    "EXEC",
    "SHOW",
    "PROVIDERS",
    "SERVICES",
    "RESOURCES",
    "METHODS",
    "EXTENDED",
    "DESCRIBE",
    "LIKE",
    "COUNT",
    "json_extract",
    "json_each",
    "json_array_length",
];

const HELP: &str = "\
Statements end with ';' and may span lines. Ctrl-C cancels a running statement; Ctrl-D leaves.

  SHOW PROVIDERS | SHOW SERVICES IN p | SHOW RESOURCES IN p.s [LIKE '%x%']
  SHOW [EXTENDED] METHODS IN p.s.r    DESCRIBE [EXTENDED] p.s.r
  SELECT … FROM p.s.r WHERE param = '…' …
  INSERT INTO p.s.r (…) VALUES (…) | REPLACE p.s.r SET … WHERE … | DELETE FROM p.s.r WHERE …
  EXEC [/*+ AWAIT */] p.s.r.method @param='…' [@@json='{…}']

Shell commands:
  .mode table|json|jsonl|csv|text   output format          (\\pset format …)
  .headers on|off                   column names           
  .timer on|off                     time each statement    (\\timing)
  .help                             this text              (\\?)
  .quit                             leave                  (\\q, Ctrl-D)";

/// Completion candidates, read from the provider documents.
struct IqlHelper {
    /// Every `provider.service.resource` and `provider.service.resource.method`, with services and
    /// providers as prefixes.
    names: Vec<String>,
    /// Column and parameter names of every resource.
    words: Vec<String>,
}

impl IqlHelper {
    fn new(registry: &Registry) -> Self {
        let mut names = Vec::new();
        let mut words: Vec<String> = KEYWORDS.iter().map(|s| s.to_string()).collect();
        for p in registry.provider_names() {
            names.push(p.to_string());
            let Ok(provider) = registry.provider(p) else {
                continue;
            };
            for s in provider.services.keys() {
                names.push(format!("{p}.{s}"));
                // Only services whose documents can be read: a registry may list more than it ships.
                let Ok(service) = provider.service(s) else {
                    continue;
                };
                for (r, resource) in &service.resources {
                    names.push(format!("{p}.{s}.{r}"));
                    for m in &resource.methods {
                        names.push(format!("{p}.{s}.{r}.{}", m.name));
                        words.extend(m.params.iter().map(|x| x.name.clone()));
                        words.extend(m.body_fields.iter().map(|x| x.name.clone()));
                    }
                    words.extend(resource.select_columns().into_iter().map(|c| c.name));
                }
            }
        }
        names.sort();
        names.dedup();
        words.sort();
        words.dedup();
        IqlHelper { names, words }
    }

    fn candidates(&self, word: &str) -> Vec<String> {
        if let Some(param) = word.strip_prefix('@') {
            return self
                .words
                .iter()
                .filter(|w| {
                    w.starts_with(param) && !w.chars().next().is_some_and(char::is_uppercase)
                })
                .map(|w| format!("@{w}"))
                .collect();
        }
        if word.contains('.') {
            let depth = word.matches('.').count();
            return self
                .names
                .iter()
                .filter(|n| n.starts_with(word) && n.matches('.').count() == depth)
                .cloned()
                .collect();
        }
        let lower = word.to_ascii_lowercase();
        let mut out: Vec<String> = self
            .names
            .iter()
            .filter(|n| !n.contains('.') && n.starts_with(word))
            .cloned()
            .collect();
        out.extend(
            self.words
                .iter()
                .filter(|w| w.to_ascii_lowercase().starts_with(&lower))
                .map(|w| {
                    // Keywords follow the case the user started typing in.
                    if KEYWORDS.contains(&w.as_str())
                        && word.chars().next().is_some_and(char::is_lowercase)
                    {
                        w.to_ascii_lowercase()
                    } else {
                        w.clone()
                    }
                }),
        );
        out.dedup();
        out
    }
}

impl Completer for IqlHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '@')))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &before[start..];
        if word.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let pairs = self
            .candidates(word)
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: c,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for IqlHelper {
    type Hint = String;
}

impl Highlighter for IqlHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

impl Validator for IqlHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if is_ready(ctx.input()) {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

impl Helper for IqlHelper {}

/// A line is ready to run when it is a shell command, empty, or ends a statement.
pub fn is_ready(input: &str) -> bool {
    let t = input.trim();
    t.is_empty()
        || t.starts_with('.')
        || t.starts_with('\\')
        || t.eq_ignore_ascii_case("help")
        || t.eq_ignore_ascii_case("exit")
        || t.eq_ignore_ascii_case("quit")
        || iql_sql::is_complete(input)
}

fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("IQL_HISTORY") {
        return Some(PathBuf::from(p));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("iql/history"))
}

/// Handles a shell command; `false` means leave.
fn command(line: &str, session: &mut Session) -> bool {
    let mut parts = line.split_whitespace();
    let cmd = parts.next().unwrap_or_default();
    let arg = parts.next();
    let on_off = |arg: Option<&str>, current: bool| match arg {
        Some("on") => Some(true),
        Some("off") => Some(false),
        None => Some(!current),
        _ => None,
    };
    match cmd {
        ".quit" | ".exit" | "\\q" | "exit" | "quit" => return false,
        ".help" | "\\?" | "help" | "\\h" => println!("{HELP}"),
        ".mode" | "\\pset" => {
            let name = if cmd == "\\pset" { parts.next() } else { arg };
            match name.and_then(Format::parse) {
                Some(f) => session.format = f,
                None => eprintln!("usage: .mode table|json|jsonl|csv|text"),
            }
        }
        ".headers" => match on_off(arg, session.headers) {
            Some(v) => session.headers = v,
            None => eprintln!("usage: .headers on|off"),
        },
        ".timer" | "\\timing" => match on_off(arg, session.timer) {
            Some(v) => {
                session.timer = v;
                eprintln!("timing is {}", if v { "on" } else { "off" });
            }
            None => eprintln!("usage: .timer on|off"),
        },
        other => eprintln!("unknown command {other}: .help lists the commands"),
    }
    true
}

pub fn run(rt: &tokio::runtime::Runtime, mut session: Session) -> anyhow::Result<()> {
    let helper = IqlHelper::new(session.engine.registry());
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut editor: Editor<IqlHelper, DefaultHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(helper));
    let history = history_path();
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.load_history(h);
    }
    if !session.quiet {
        eprintln!("iql {} — SQL for cloud APIs. End statements with ';'. .help for help, Ctrl-D to leave.", env!("CARGO_PKG_VERSION"));
        if session.engine.sandbox().is_some() {
            eprintln!("sandbox: a mock DigitalOcean account on 127.0.0.1; try SELECT name FROM digitalocean.compute.images LIMIT 5;");
        }
    }
    loop {
        match editor.readline("iql> ") {
            Ok(line) => {
                let text = line.trim();
                if text.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(text);
                if let Some(h) = &history {
                    let _ = editor.save_history(h);
                }
                if text.starts_with('.')
                    || text.starts_with('\\')
                    || ["help", "exit", "quit"].contains(&text.to_ascii_lowercase().as_str())
                {
                    if !command(text, &mut session) {
                        break;
                    }
                    continue;
                }
                let outcome = rt.block_on(session.run_script(text, || async {
                    if tokio::signal::ctrl_c().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }));
                if let Outcome::Cancelled = outcome {
                    continue;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness() {
        assert!(is_ready("SELECT 1;"));
        assert!(!is_ready("SELECT name\nFROM digitalocean.compute.images"));
        assert!(is_ready(
            "SELECT name\nFROM digitalocean.compute.images\nLIMIT 2;"
        ));
        assert!(!is_ready("SELECT ';"));
        assert!(is_ready(".mode json"));
        assert!(is_ready("\\q"));
    }

    #[test]
    fn completes_names_columns_and_parameters() {
        let helper = IqlHelper::new(&Registry::bundled());
        assert_eq!(
            helper.candidates("digitalocean.comp"),
            ["digitalocean.compute"]
        );
        assert_eq!(
            helper.candidates("digitalocean.compute.im"),
            [
                "digitalocean.compute.image_actions",
                "digitalocean.compute.images"
            ]
        );
        assert!(helper
            .candidates("digitalocean.compute.images.")
            .contains(&"digitalocean.compute.images.convert".to_string()));
        assert!(helper
            .candidates("size_g")
            .contains(&"size_gigabytes".to_string()));
        assert_eq!(helper.candidates("@image_"), ["@image_id"]);
        assert!(helper.candidates("sel").contains(&"select".to_string()));
        assert!(helper.candidates("SEL").contains(&"SELECT".to_string()));
    }
}
