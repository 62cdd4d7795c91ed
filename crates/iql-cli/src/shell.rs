//! `iql shell`: a SQL REPL over the same [`Console`] as `iql exec`.
//!
//! A statement runs once a `;` ends it outside strings and comments (checked by
//! `iql_sql::is_complete`), so queries can span lines. Ctrl-C at the prompt clears the line; while a
//! statement runs it cancels it (its in-flight requests are dropped) and the shell goes on. Ctrl-D
//! leaves. History is kept in `$XDG_STATE_HOME/iql/history` (or `~/.local/state/iql/history`;
//! `IQL_HISTORY` overrides).

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use iql_provider::Registry;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};

use crate::console::{Console, Expanded, Outcome};
use crate::output::Format;

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
    "VIEWS",
    "CREATE",
    "VIEW",
    "MATERIALIZED",
    "REFRESH",
    "DROP",
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
  CREATE [OR REPLACE] [MATERIALIZED] VIEW v AS SELECT … | REFRESH MATERIALIZED VIEW v
  DROP [MATERIALIZED] VIEW v | SHOW VIEWS | DESCRIBE v

Shell commands:
  .tables [PATTERN]                 provider tables and views (\\dt; * matches anything)
  .schema NAME                      a table's or view's columns (\\d NAME)
  .mode [table|json|jsonl|csv|text] output format; alone: show it (\\pset format …)
  \\x [on|off|auto]                  expanded display: a line per column (auto: when too wide)
  \\pset pager on|off                long tables through $PAGER (default less -FRX)
  .headers on|off                   column names           
  .timer on|off                     time each statement    (\\timing)
  \\set [NAME [VALUE]]               variables, used as :NAME in statements; alone: list them
  \\unset NAME                       forget a variable      (.parameter set|unset|list)
  \\e                                edit the last statement in $EDITOR, then run it
  .cache on|off|clear|ttl N         the response cache: use it, not, empty it, keep N s
  .read FILE                        run the statements in FILE (\\i FILE)
  .output [FILE]                    results into FILE; alone: back to the screen (\\o)
  .help                             this text              (\\?)
  .quit                             leave                  (\\q, Ctrl-D)";

/// Completion candidates, read from the provider documents as they are needed: the names of
/// providers, services and resources from the services' indexes at start; a resource's methods,
/// columns and parameters once the statement names it (nothing else is parsed).
struct IqlHelper {
    registry: Arc<Registry>,
    /// Every provider, `provider.service` and `provider.service.resource`.
    names: Vec<String>,
    /// The views' names now (they change while the shell runs).
    views: Box<dyn Fn() -> Vec<String>>,
    /// The lines of the statement typed so far (before the current line): what it names is
    /// known when completing on its later lines.
    pending: Arc<std::sync::Mutex<String>>,
    /// Keywords, strings and numbers in colour (off under NO_COLOR or without a terminal).
    color: bool,
}

impl IqlHelper {
    fn new(registry: Arc<Registry>, views: Box<dyn Fn() -> Vec<String>>) -> Self {
        let mut names = Vec::new();
        for p in registry.provider_names() {
            names.push(p.to_string());
            let Ok(provider) = registry.provider(p) else {
                continue;
            };
            for s in provider.services.keys() {
                names.push(format!("{p}.{s}"));
                // Only services whose documents can be read: a registry may list more than it ships.
                let Ok(index) = provider.index(s) else {
                    continue;
                };
                for r in &index.resources {
                    names.push(format!("{p}.{s}.{}", r.name));
                }
            }
        }
        names.sort();
        names.dedup();
        IqlHelper {
            registry,
            names,
            views,
            pending: Arc::default(),
            color: false,
        }
    }

    /// The resource `provider.service.resource`, if it exists.
    fn resource(&self, name: &str) -> Option<Arc<iql_provider::Resource>> {
        let mut parts = name.split('.');
        let (p, s, r) = (parts.next()?, parts.next()?, parts.next()?);
        self.registry.provider(p).ok()?.resource(s, r).ok()
    }

    /// Resources the text names (`digitalocean.compute.images`), loaded.
    fn named_resources(&self, text: &str) -> Vec<Arc<iql_provider::Resource>> {
        let mut out: Vec<Arc<iql_provider::Resource>> = Vec::new();
        for word in text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.'))) {
            if word.matches('.').count() < 2 {
                continue;
            }
            let three: Vec<&str> = word.splitn(4, '.').take(3).collect();
            let name = three.join(".");
            if let Some(r) = self.resource(&name) {
                if !out.iter().any(|o| o.id == r.id) {
                    out.push(r);
                }
            }
        }
        out
    }

    /// Candidates for `word`, the text being typed at the end of `before`.
    fn candidates(&self, before: &str, word: &str) -> Vec<String> {
        // Inside a string literal there is nothing to complete.
        if before.matches('\'').count() % 2 == 1 {
            return Vec::new();
        }
        if before.trim_start().starts_with(['.', '\\']) && !before.trim_start().contains(' ') {
            return SHELL_COMMANDS
                .iter()
                .filter(|c| c.starts_with(word))
                .map(|c| c.to_string())
                .collect();
        }
        let named = self.named_resources(before);
        // `alias.col`: the columns of the table the alias stands for.
        if let Some((alias, partial)) = word.split_once('.') {
            if !partial.contains('.') {
                if let Some(r) = aliases(before)
                    .into_iter()
                    .find(|(a, _)| a.eq_ignore_ascii_case(alias))
                    .and_then(|(_, name)| self.resource(&name))
                {
                    let lower = partial.to_ascii_lowercase();
                    let mut cols: Vec<String> = r
                        .select_columns()
                        .iter()
                        .filter(|c| c.name.to_ascii_lowercase().starts_with(&lower))
                        .map(|c| format!("{alias}.{}", c.name))
                        .collect();
                    cols.sort();
                    cols.dedup();
                    return cols;
                }
            }
        }
        if let Some(param) = word.strip_prefix('@') {
            // EXEC p.s.r.method @…: that method's parameters and body fields.
            let mut words: Vec<String> = Vec::new();
            for w in before.split_whitespace() {
                let Some((resource, method)) = w.rsplit_once('.') else {
                    continue;
                };
                if let Some(m) = self
                    .resource(resource)
                    .and_then(|r| r.method(method).cloned())
                {
                    words.extend(m.params.iter().map(|x| x.name.clone()));
                    words.extend(m.body_fields.iter().map(|x| x.name.clone()));
                }
            }
            words.sort();
            words.dedup();
            return words
                .into_iter()
                .filter(|w| w.starts_with(param))
                .map(|w| format!("@{w}"))
                .collect();
        }
        if word.contains('.') {
            let depth = word.matches('.').count();
            if depth == 3 {
                let (resource, _) = word.rsplit_once('.').unwrap_or((word, ""));
                return self
                    .resource(resource)
                    .map(|r| {
                        r.methods
                            .iter()
                            .map(|m| format!("{resource}.{}", m.name))
                            .filter(|n| n.starts_with(word))
                            .collect()
                    })
                    .unwrap_or_default();
            }
            // A service is not a table: it completes with the `.` that follows it.
            let after_in = ends_with_in(before, word);
            return self
                .names
                .iter()
                .filter(|n| n.starts_with(word) && n.matches('.').count() == depth)
                .map(|n| {
                    if depth == 1 && !after_in {
                        format!("{n}.")
                    } else {
                        n.clone()
                    }
                })
                .collect();
        }
        let lower = word.to_ascii_lowercase();
        let after_in = ends_with_in(before, word);
        let mut out: Vec<String> = self
            .names
            .iter()
            .filter(|n| !n.contains('.') && n.starts_with(word))
            .map(|n| if after_in { n.clone() } else { format!("{n}.") })
            .collect();
        out.extend(
            (self.views)()
                .into_iter()
                .filter(|v| v.to_ascii_lowercase().starts_with(&lower)),
        );
        out.extend(
            KEYWORDS
                .iter()
                .filter(|w| w.to_ascii_lowercase().starts_with(&lower))
                .map(|w| {
                    // Keywords follow the case the user started typing in.
                    if word.chars().next().is_some_and(char::is_lowercase) {
                        w.to_ascii_lowercase()
                    } else {
                        w.to_string()
                    }
                }),
        );
        let mut columns: Vec<String> = named
            .iter()
            .flat_map(|r| r.select_columns().iter().map(|c| c.name.clone()))
            .filter(|c| c.to_ascii_lowercase().starts_with(&lower))
            .collect();
        columns.sort();
        columns.dedup();
        out.extend(columns);
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
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let context = if pending.is_empty() {
            before.to_string()
        } else {
            format!("{pending}\n{before}")
        };
        let pairs = self
            .candidates(&context, word)
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

    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.color {
            return Cow::Borrowed(line);
        }
        highlight(line)
            .map(Cow::Owned)
            .unwrap_or(Cow::Borrowed(line))
    }

    fn highlight_char(
        &self,
        _line: &str,
        _pos: usize,
        _kind: rustyline::highlight::CmdKind,
    ) -> bool {
        self.color
    }
}

/// The line with SQL keywords bold blue, strings green and numbers cyan; `None` when it does not
/// tokenize (an unclosed string: shown as typed). Only colour is added, never a character changed.
fn highlight(line: &str) -> Option<String> {
    use iql_sql::TokenClass;
    if line.trim_start().starts_with(['.', '\\']) {
        return None;
    }
    let mut out = String::with_capacity(line.len() + 32);
    for (text, class) in iql_sql::classify_tokens(line)? {
        match class {
            TokenClass::Keyword => out.push_str(&format!("\x1b[1;34m{text}\x1b[0m")),
            TokenClass::String => out.push_str(&format!("\x1b[32m{text}\x1b[0m")),
            TokenClass::Number => out.push_str(&format!("\x1b[36m{text}\x1b[0m")),
            TokenClass::Other => out.push_str(&text),
        }
    }
    Some(out)
}

/// `FROM p.s.r AS a`, `JOIN p.s.r a`: (alias, `p.s.r`) for each.
fn aliases(text: &str) -> Vec<(String, String)> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | ';'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if w.matches('.').count() != 2 {
            continue;
        }
        let mut next = words.get(i + 1).copied();
        if next.is_some_and(|n| n.eq_ignore_ascii_case("AS")) {
            next = words.get(i + 2).copied();
        }
        if let Some(alias) = next {
            let keyword = KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(alias))
                || [
                    "INNER", "CROSS", "NATURAL", "USING", "RIGHT", "FULL", "OUTER",
                ]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(alias));
            if !keyword && alias.chars().all(|c| c.is_alphanumeric() || c == '_') {
                out.push((alias.to_string(), w.to_string()));
            }
        }
    }
    out
}

/// Whether the word being typed follows `IN` (`SHOW SERVICES IN digitalocean`, where a name is
/// wanted without a `.` after it).
fn ends_with_in(before: &str, word: &str) -> bool {
    before[..before.len() - word.len()]
        .split_whitespace()
        .last()
        .is_some_and(|w| {
            w.eq_ignore_ascii_case("IN")
                || w.eq_ignore_ascii_case("FROM")
                    && before.to_ascii_uppercase().trim_start().starts_with("SHOW")
        })
}

/// The shell's own commands, for completion.
const SHELL_COMMANDS: &[&str] = &[
    ".cache",
    ".exit",
    ".headers",
    ".help",
    ".mode",
    ".output",
    ".parameter",
    ".quit",
    ".read",
    ".schema",
    ".tables",
    ".timer",
    "\\?",
    "\\d",
    "\\dt",
    "\\e",
    "\\i",
    "\\o",
    "\\pset",
    "\\q",
    "\\set",
    "\\timing",
    "\\unset",
    "\\x",
];

// Lines are gathered into statements by the loop in `run` (with its `...>` prompt), not by the
// editor: each line is submitted as typed.
impl Validator for IqlHelper {
    fn validate(&self, _ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(ValidationResult::Valid(None))
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

/// What the shell does after a shell command.
#[derive(Debug, PartialEq)]
enum Next {
    Prompt,
    Leave,
    /// Run these statements (`.read FILE`).
    Run(String),
}

/// The rest of a command line after its name: a file name may hold spaces, or be quoted.
fn rest_of(line: &str) -> Option<String> {
    let rest = line.split_once(char::is_whitespace)?.1.trim();
    let unquoted = rest
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .or_else(|| rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
        .unwrap_or(rest);
    (!unquoted.is_empty()).then(|| unquoted.to_string())
}

/// Template variables for `.read` (from `iql shell --var/--vars`).
type Vars = std::collections::BTreeMap<String, serde_json::Value>;

/// Handles a shell command. `last` is the last statement run (for `\\e`).
fn command(line: &str, console: &mut Console, vars: &Vars, last: &str) -> Next {
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
        ".quit" | ".exit" | "\\q" | "exit" | "quit" => return Next::Leave,
        ".read" | "\\i" => {
            let Some(path) = rest_of(line) else {
                eprintln!("usage: .read FILE");
                return Next::Prompt;
            };
            // Rendered as `iql exec -i` renders files, with the shell's --var/--vars and its
            // \\set variables (which win): a {{ name }} without a value is reported with its line.
            // So a template runs again with other values without restarting the shell.
            let mut all = vars.clone();
            for (k, v) in &console.display.variables {
                let value = match v.parse::<i64>() {
                    Ok(i) => serde_json::Value::from(i),
                    Err(_) => serde_json::Value::String(v.clone()),
                };
                all.insert(k.clone(), value);
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {path}: {e}"))
                .and_then(|src| iql_template::render(&src, &all).map_err(|e| e.to_string()));
            match text {
                Ok(text) => return Next::Run(text),
                Err(e) => eprintln!("error: {}", crate::output::visible(&e, true)),
            }
        }
        ".output" | "\\o" => match rest_of(line) {
            None => {
                let _ = console.out.flush();
                console.out = Box::new(std::io::stdout());
                console.display.to_screen = true;
            }
            Some(path) => match std::fs::File::create(&path) {
                Ok(file) => {
                    let _ = console.out.flush();
                    console.out = Box::new(std::io::BufWriter::new(file));
                    console.display.to_screen = false;
                    eprintln!("results go to {path}; .output alone brings them back");
                }
                Err(e) => eprintln!("error: cannot write {path}: {e}"),
            },
        },
        ".help" | "\\?" | "help" | "\\h" => println!("{HELP}"),
        "\\pset" if arg == Some("pager") => match parts.next() {
            Some("on") => console.display.pager = true,
            Some("off") => console.display.pager = false,
            None => eprintln!(
                "pager is {}",
                if console.display.pager { "on" } else { "off" }
            ),
            _ => eprintln!("usage: \\pset pager on|off"),
        },
        ".mode" | "\\pset" => {
            let name = if cmd == "\\pset" {
                if arg != Some("format") {
                    eprintln!(
                        "usage: \\pset format table|json|jsonl|csv|text, or \\pset pager on|off"
                    );
                    return Next::Prompt;
                }
                parts.next()
            } else {
                arg
            };
            match (name, name.and_then(Format::parse)) {
                (None, _) => println!("mode: {}", format_name(console.format)),
                (_, Some(f)) => console.format = f,
                (Some(_), None) => eprintln!("usage: .mode table|json|jsonl|csv|text"),
            }
        }
        ".tables" | "\\dt" => list_tables(console, arg),
        "\\d" if arg.is_none() => list_tables(console, None),
        ".schema" | "\\d" => match arg {
            Some(name) => return Next::Run(format!("DESCRIBE {name}")),
            None => eprintln!("usage: .schema NAME (a view, or provider.service.resource)"),
        },
        "\\x" => {
            console.display.expanded = match arg {
                Some("on") => Expanded::On,
                Some("off") => Expanded::Off,
                Some("auto") => Expanded::Auto,
                None if console.display.expanded == Expanded::Off => Expanded::On,
                None => Expanded::Off,
                Some(_) => {
                    eprintln!("usage: \\x [on|off|auto]");
                    return Next::Prompt;
                }
            };
            eprintln!(
                "Expanded display is {}.",
                match console.display.expanded {
                    Expanded::On => "on",
                    Expanded::Off => "off",
                    Expanded::Auto => "used automatically",
                }
            );
        }
        "\\set" | ".parameter" => {
            // `.parameter set NAME VALUE`, `.parameter unset NAME`, `.parameter list`.
            let (verb, name) = if cmd == ".parameter" {
                (arg.unwrap_or("list"), parts.next())
            } else {
                (if arg.is_some() { "set" } else { "list" }, arg)
            };
            let value_of = |line: &str| {
                // Everything after the name, one surrounding pair of quotes removed.
                let mut rest =
                    line.splitn(if cmd == ".parameter" { 4 } else { 3 }, char::is_whitespace);
                let value = rest
                    .nth(if cmd == ".parameter" { 3 } else { 2 })
                    .unwrap_or("")
                    .trim();
                value
                    .strip_prefix('\'')
                    .and_then(|v| v.strip_suffix('\''))
                    .unwrap_or(value)
                    .to_string()
            };
            match (verb, name) {
                ("list", _) => {
                    for (k, v) in &console.display.variables {
                        println!("{k} = {v}");
                    }
                }
                ("set", Some(name)) if name.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                    console
                        .display
                        .variables
                        .insert(name.to_string(), value_of(line));
                }
                ("unset", Some(name)) => {
                    console.display.variables.remove(name);
                }
                _ => eprintln!("usage: \\set NAME VALUE (letters, digits and _), \\unset NAME, \\set alone lists"),
            }
        }
        "\\unset" => match arg {
            Some(name) => {
                console.display.variables.remove(name);
            }
            None => eprintln!("usage: \\unset NAME"),
        },
        "\\e" => match edit(last) {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => return Next::Run(text),
            Err(e) => eprintln!("error: {e}"),
        },
        ".headers" => match on_off(arg, console.headers) {
            Some(v) => console.headers = v,
            None => eprintln!("usage: .headers on|off"),
        },
        ".timer" | "\\timing" => match on_off(arg, console.timer) {
            Some(v) => {
                console.timer = v;
                eprintln!("timing is {}", if v { "on" } else { "off" });
            }
            None => eprintln!("usage: .timer on|off"),
        },
        ".cache" => cache_command(console, arg, parts.next()),
        other => eprintln!("unknown command {other}: .help lists the commands"),
    }
    Next::Prompt
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Table => "table",
        Format::Json => "json",
        Format::Jsonl => "jsonl",
        Format::Csv => "csv",
        Format::Text => "text",
    }
}

/// `.tables [PATTERN]`: every provider table (`provider.service.resource`) and view whose name
/// matches (`*` is any run of characters; no pattern: all).
fn list_tables(console: &Console, pattern: Option<&str>) {
    let like = pattern.map(|p| {
        let p = p.replace('*', "%");
        if p.contains('%') {
            p
        } else {
            format!("%{p}%")
        }
    });
    let keep = |name: &str| like.as_deref().is_none_or(|p| like_match(p, name));
    let registry = console.engine.registry();
    for p in registry.provider_names() {
        let Ok(provider) = registry.provider(p) else {
            continue;
        };
        for s in provider.services.keys() {
            let Ok(index) = provider.index(s) else {
                continue;
            };
            for r in &index.resources {
                let name = format!("{p}.{s}.{}", r.name);
                if keep(&name) {
                    println!("{name}");
                }
            }
        }
    }
    for v in console.engine.view_names() {
        if keep(&v) {
            println!("{v} (view)");
        }
    }
}

/// SQL `LIKE` with `%` only, case-insensitive.
fn like_match(pattern: &str, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let parts: Vec<String> = pattern
        .to_ascii_lowercase()
        .split('%')
        .map(str::to_string)
        .collect();
    let mut at = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        match name[at..].find(part.as_str()) {
            Some(found) if i > 0 || found == 0 => at += found + part.len(),
            _ => return false,
        }
    }
    parts.last().is_some_and(|l| l.is_empty()) || at == name.len()
}

/// `\\e`: the last statement in `$VISUAL`/`$EDITOR` (default `vi`); what the editor leaves is run.
fn edit(last: &str) -> Result<String, String> {
    let path = std::env::temp_dir().join(format!("iql-edit-{}.sql", std::process::id()));
    std::fs::write(&path, last).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("iql-edit")
        .arg(&path)
        .status()
        .map_err(|e| format!("cannot start {editor}: {e}"))?;
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&path);
    if !status.success() {
        return Err(format!("{editor} ended with {status}; nothing was run"));
    }
    text
}

/// `.cache`: show the response cache; `on`/`off` for this session; `clear` for everyone; `ttl N`.
fn cache_command(console: &mut Console, arg: Option<&str>, value: Option<&str>) {
    let engine_ttl = console.engine.cache_config().ttl;
    let settings = console.session.settings_mut();
    match (arg, value) {
        (Some("on"), None) => settings.cache_ttl = None,
        (Some("off"), None) => settings.cache_ttl = Some(Duration::ZERO),
        (Some("clear"), None) => console.engine.clear_cache(),
        (Some("ttl"), Some(n)) => match n.parse::<u64>() {
            Ok(secs) => settings.cache_ttl = Some(Duration::from_secs(secs)),
            Err(_) => {
                eprintln!("usage: .cache ttl SECONDS (a whole number; 0 turns it off)");
                return;
            }
        },
        (None, None) => {}
        _ => {
            eprintln!("usage: .cache [on|off|clear|ttl SECONDS]");
            return;
        }
    }
    let ttl = console.session.settings().cache_ttl.unwrap_or(engine_ttl);
    let (entries, bytes) = console.engine.cache_size();
    if ttl.is_zero() || engine_ttl.is_zero() {
        eprintln!("cache is off; it holds {entries} answers ({bytes} bytes)");
    } else {
        eprintln!(
            "cache is on: answers kept {} s; it holds {entries} answers ({bytes} bytes)",
            ttl.as_secs()
        );
    }
}

/// Runs `script`; Ctrl-C cancels the running statement (and drops its requests).
fn run_cancellable(rt: &tokio::runtime::Runtime, console: &mut Console, script: &str) -> Outcome {
    rt.block_on(console.run_script(script, || async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }))
}

/// Runs the shell until Ctrl-D or `.quit`. `Ok(false)` when input was piped (not a terminal) and a
/// statement failed: a script fed to the shell fails as `iql exec` would.
pub fn run(
    rt: &tokio::runtime::Runtime,
    mut console: Console,
    vars: &Vars,
) -> anyhow::Result<bool> {
    use std::io::IsTerminal;
    let interactive = std::io::stdin().is_terminal();
    console.display.active = true;
    console.display.pager = true;
    console.display.to_screen = true;
    let engine = console.engine.clone();
    let mut helper = IqlHelper::new(
        console.engine.registry_handle(),
        Box::new(move || engine.view_names()),
    );
    helper.color = interactive
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let pending = helper.pending.clone();
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut editor: Editor<IqlHelper, DefaultHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(helper));
    // Piped input is a script, not something typed: it is not kept in the history.
    let history = history_path().filter(|_| interactive);
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.load_history(h);
    }
    if !console.quiet && interactive {
        eprintln!("iql {} — SQL for cloud APIs. End statements with ';'. .help for help, Ctrl-D to leave.", env!("CARGO_PKG_VERSION"));
        if console.engine.sandbox().is_some() {
            eprintln!("sandbox: a mock DigitalOcean account on 127.0.0.1 answering every resource, coherent across services and stateful until you quit (fresh each run); try SELECT name, size_slug FROM digitalocean.compute.droplets;");
        }
    }
    let mut buffer = String::new();
    let mut last = String::new();
    let mut failed = false;
    loop {
        let prompt = if buffer.is_empty() { "iql> " } else { "...> " };
        *pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = buffer.clone();
        match editor.readline(prompt) {
            Ok(line) => {
                if buffer.is_empty() && line.trim().is_empty() {
                    continue;
                }
                // `\\e` on a continuation line edits the statement being typed, as psql's does.
                if !buffer.is_empty() && line.trim() == "\\e" {
                    let typed = std::mem::take(&mut buffer);
                    match edit(&typed) {
                        Ok(text) if !text.trim().is_empty() => {
                            last = text.clone();
                            let outcome = run_cancellable(rt, &mut console, &text);
                            failed |= matches!(outcome, Outcome::Failed);
                        }
                        Ok(_) => {}
                        Err(e) => eprintln!("error: {e}"),
                    }
                    continue;
                }
                if !buffer.is_empty() {
                    buffer.push('\n');
                }
                buffer.push_str(&line);
                if !is_ready(&buffer) {
                    continue;
                }
                let text = std::mem::take(&mut buffer);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(text);
                if let Some(h) = &history {
                    let _ = editor.save_history(h);
                }
                let script = if text.starts_with('.')
                    || text.starts_with('\\')
                    || ["help", "exit", "quit"].contains(&text.to_ascii_lowercase().as_str())
                {
                    match command(text, &mut console, vars, &last) {
                        Next::Prompt => continue,
                        Next::Leave => break,
                        Next::Run(script) => script,
                    }
                } else {
                    text.to_string()
                };
                last = script.clone();
                let outcome = run_cancellable(rt, &mut console, &script);
                match outcome {
                    Outcome::Failed => failed = true,
                    Outcome::Cancelled | Outcome::Done => {}
                }
            }
            // Ctrl-C drops what was typed of the statement, as psql does.
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => {
                // A statement left without its `;` at the end of piped input still runs.
                if !interactive && !buffer.trim().is_empty() {
                    let text = std::mem::take(&mut buffer);
                    let outcome = rt.block_on(console.run_script(&text, std::future::pending));
                    failed |= matches!(outcome, Outcome::Failed);
                }
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(interactive || !failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlighting_colours_and_never_changes_text() {
        let line = "SELECT name, 42 FROM t WHERE a = 'x''y' -- note";
        let coloured = highlight(line).unwrap();
        assert!(coloured.contains("\x1b[1;34mSELECT\x1b[0m"), "{coloured:?}");
        assert!(coloured.contains("\x1b[36m42\x1b[0m"), "{coloured:?}");
        assert!(coloured.contains("\x1b[32m'x''y'\x1b[0m"), "{coloured:?}");
        assert_eq!(strip(&coloured), line);
        // An unclosed string is shown as typed; shell commands are not SQL.
        assert!(highlight("SELECT 'abc").is_none());
        assert!(highlight(".mode csv").is_none());
    }

    fn strip(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for d in chars.by_ref() {
                    if d == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

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

    /// Output written into memory, readable after the session has it.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn read_runs_a_file_and_output_redirects_results() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let engine = rt
            .block_on(
                iql::Engine::builder()
                    .sandbox(iql::SandboxConfig::default())
                    .build(),
            )
            .unwrap();
        let screen = Captured::default();
        let mut session = Console {
            session: engine.session(),
            engine,
            format: Format::Csv,
            headers: true,
            timer: false,
            quiet: true,
            out: Box::new(screen.clone()),
            display: Default::default(),
            csv_columns: None,
        };
        let dir = std::env::temp_dir().join(format!("iql-shell-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("two statements.iql");
        std::fs::write(&script, "-- a report\nSELECT 1 AS a;\nSELECT 'x' AS a;\n").unwrap();

        // .read gives the file's statements to run; a quoted name may hold spaces.
        let none = Vars::new();
        let quoted = format!(".read '{}'", script.display());
        let Next::Run(text) = command(&quoted, &mut session, &none, "") else {
            panic!(".read did not give statements");
        };
        assert!(text.contains("SELECT 'x' AS a;"));
        // A missing file or an undefined variable: an error, and back to the prompt.
        let missing = ".read /no/such/file.iql";
        assert_eq!(command(missing, &mut session, &none, ""), Next::Prompt);
        std::fs::write(&script, "SELECT '{{ who }}';").unwrap();
        assert_eq!(command(&quoted, &mut session, &none, ""), Next::Prompt);
        assert_eq!(command(".read", &mut session, &none, ""), Next::Prompt);
        // With the shell's --var the placeholders are filled; a quote stays inside the string.
        let vars = Vars::from([("who".to_string(), serde_json::json!("o'brien"))]);
        let filled = Next::Run("SELECT 'o''brien';".to_string());
        assert_eq!(command(&quoted, &mut session, &vars, ""), filled);

        // .cache changes this session's use of the response cache.
        assert_eq!(command(".cache off", &mut session, &none, ""), Next::Prompt);
        assert_eq!(session.session.settings().cache_ttl, Some(Duration::ZERO));
        command(".cache ttl 5", &mut session, &none, "");
        assert_eq!(
            session.session.settings().cache_ttl,
            Some(Duration::from_secs(5))
        );
        command(".cache ttl soon", &mut session, &none, "");
        assert_eq!(
            session.session.settings().cache_ttl,
            Some(Duration::from_secs(5))
        );
        command(".cache on", &mut session, &none, "");
        assert_eq!(session.session.settings().cache_ttl, None);

        // .output FILE sends results there; .output alone brings them back.
        let file = dir.join("out.csv");
        let to_file = format!("\\o {}", file.display());
        assert_eq!(command(&to_file, &mut session, &none, ""), Next::Prompt);
        rt.block_on(session.run_script(&text, std::future::pending::<()>));
        assert_eq!(command(".output", &mut session, &none, ""), Next::Prompt);
        // One CSV table: the second statement's row under the first one's header.
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "a\n1\nx\n");
        assert!(screen.0.lock().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn completes_names_columns_and_parameters() {
        let helper = IqlHelper::new(
            Arc::new(Registry::bundled()),
            Box::new(|| vec!["snapshots".to_string(), "my_images".to_string()]),
        );
        let c = |before: &str| {
            let word = before.rsplit(' ').next().unwrap_or(before);
            helper.candidates(before, word)
        };
        // A service is not a table: it completes with its `.`, except where a name is wanted.
        assert_eq!(c("digitalocean.comp"), ["digitalocean.compute."]);
        assert_eq!(
            c("SHOW RESOURCES IN digitalocean.comp"),
            ["digitalocean.compute"]
        );
        assert!(c("SELECT * FROM digitalo").contains(&"digitalocean.".to_string()));
        // Nothing inside a string; shell commands at the start of a line.
        assert!(c("SELECT * FROM digitalocean.compute.images WHERE name = 'sel").is_empty());
        assert_eq!(c(".sch"), [".schema"]);
        assert_eq!(c("\\ps"), ["\\pset"]);
        // A column through its alias.
        assert_eq!(
            c("SELECT a.sta FROM digitalocean.compute.image_actions AS a WHERE a.sta"),
            ["a.started_at", "a.status"]
        );
        assert_eq!(
            c("SELECT * FROM digitalocean.compute.image_"),
            [
                "digitalocean.compute.image_account_transfers",
                "digitalocean.compute.image_actions"
            ]
        );
        assert!(c("EXEC digitalocean.compute.images.")
            .contains(&"digitalocean.compute.images.convert".to_string()));
        // Columns of the tables the statement names.
        assert!(!c("SELECT size_g").contains(&"size_gigabytes".to_string()));
        assert!(c("SELECT * FROM digitalocean.compute.images WHERE size_g")
            .contains(&"size_gigabytes".to_string()));
        // After @ in EXEC: the method's parameters.
        assert_eq!(
            c("EXEC digitalocean.compute.images.transfer @image_"),
            ["@image_id"]
        );
        assert!(c("sel").contains(&"select".to_string()));
        // Views by name, as a table.
        assert_eq!(c("SELECT * FROM snap"), ["snapshots"]);
        assert!(c("SEL").contains(&"SELECT".to_string()));
    }
}
