//! One error type for everything a statement can run into, worded for the person who wrote it.

use iql_http::HttpError;
use iql_provider::ProviderError;
use iql_sql::SqlError;

/// What went wrong, by phase. Match on [`EngineError::kind`] rather than on text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error(transparent)]
    Syntax(#[from] SqlError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("{}", no_method_text(resource, verb, candidates))]
    NoMatchingMethod {
        resource: String,
        verb: String,
        /// Each method of the verb with the required parameters the statement does not give.
        candidates: Vec<(String, Vec<String>)>,
    },
    /// The resource has no method at all for the statement's verb (not a missing parameter).
    #[error("{}", no_method_for_verb_text(resource, verb, offers))]
    NoMethodForVerb {
        resource: String,
        verb: String,
        /// What it does offer: (verb, method) in document order; `EXEC` for methods no verb lists.
        offers: Vec<(String, String)>,
    },
    #[error("{}", unknown_field_text(resource, method, name, known, gaps))]
    UnknownField {
        resource: String,
        method: String,
        name: String,
        known: Vec<String>,
        /// What the provider document leaves out of this method (`Method::gaps`); boxed, to
        /// keep every error small.
        gaps: Box<[String]>,
    },
    #[error("{what} failed: {detail}")]
    ActionFailed { what: String, detail: String },
    #[error("{what} is still {status} after {seconds:.1} s (id {id}); it goes on in the background: check it with {check}")]
    WaitTimeout {
        what: String,
        status: String,
        seconds: f64,
        id: String,
        check: String,
    },
    #[error(
        "{source}\n{done} of {total} requests of this {verb} had succeeded; the rest were not sent"
    )]
    Stopped {
        verb: String,
        done: usize,
        total: usize,
        #[source]
        source: Box<EngineError>,
    },
    /// A request that changes something failed in a way that does not say whether the server
    /// acted on it (a 5xx, a timeout, a connection lost after sending). It is never sent again.
    #[error("{source}\nthe outcome is unknown: {what} anyway (the request was not sent again, so it cannot have happened twice); check with: {check}")]
    OutcomeUnknown {
        what: String,
        check: String,
        #[source]
        source: Box<EngineError>,
    },
    /// `SHOW x` or `current_setting('x')` of a setting there is no such.
    #[error("unrecognized configuration parameter \"{name}\"{}", suggestion.as_ref().map(|s| format!("; did you mean {s}?")).unwrap_or_default())]
    UnknownSetting {
        name: String,
        suggestion: Option<String>,
    },
    #[error(
        "invalid value {value} for parameter '{param}' of {resource}.{method}: expected {expected}"
    )]
    InvalidParameter {
        resource: String,
        method: String,
        param: String,
        value: String,
        expected: String,
    },
    #[error(
        "no credentials for provider '{provider}': {}",
        missing_credentials_hint(env_var)
    )]
    MissingCredentials {
        provider: String,
        env_var: Option<String>,
    },
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("malformed response from {method} {url}: {detail}")]
    MalformedResponse {
        method: String,
        url: String,
        detail: String,
    },
    #[error(
        "pagination loop: {url} was returned as the next page twice; stopping instead of looping"
    )]
    PaginationLoop { url: String },
    #[error(
        "{resource} would need {requests} requests, one per value of {params}, and the fan-out limit is {limit}: narrow the query, or raise the limit (--max-fanout N; 0 for none)"
    )]
    TooManyRequests {
        resource: String,
        requests: usize,
        params: String,
        limit: usize,
    },
    #[error("{message}")]
    Sqlite { message: String },
    /// A setting of the engine that cannot work (an endpoint that is not a URL, a provider that
    /// does not exist): found when the engine is built, before anything runs.
    #[error("{message}")]
    Config {
        /// The builder setting at fault: `endpoint`, `credential`, `credential_env_var`, `sandbox`.
        setting: &'static str,
        message: String,
    },
    #[error("{0}")]
    Unsupported(String),
    /// A result's value is not the type the caller asked for (`row.get::<i64>("name")`).
    #[error("{0}")]
    Conversion(String),
    /// A view statement that cannot be done: a view that does not exist, or exists already.
    #[error("{0}")]
    View(String),
    /// The store (views, materialized rows, kept answers) could not be read or written.
    #[error("the store {path}: {message}")]
    Store { path: String, message: String },
    /// A refresh of a materialized view failed: its rows are those of the refresh before.
    #[error("REFRESH MATERIALIZED VIEW {view} failed, so it keeps its rows {kept}: {source}")]
    RefreshFailed {
        view: String,
        /// "from 2026-11-23 10:00:00 UTC (12 rows)", or "(none: it was never refreshed)".
        kept: String,
        source: Box<EngineError>,
    },
    /// A bug in iql: a panic while running one statement, caught at the statement's boundary so
    /// that nothing else (a shell session, the statements before it, a server's other
    /// connections) is lost.
    #[error("internal error in iql while running `{statement}`: {message} (this is a bug; please report it with the statement)")]
    Internal { statement: String, message: String },
}

/// Categories of [`EngineError`], stable for callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Syntax,
    Provider,
    Planning,
    Credentials,
    Http,
    Response,
    Sql,
    /// An awaited action or import ended in failure, or did not end in time.
    Action,
    /// The engine's own settings are wrong (reported when it is built).
    Config,
    /// A bug in iql (a caught panic).
    Internal,
    Unsupported,
    /// The store could not be read or written.
    Store,
    /// A value is not of the type the caller asked for.
    Conversion,
}

impl EngineError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Syntax(_) => ErrorKind::Syntax,
            EngineError::Provider(_) => ErrorKind::Provider,
            EngineError::NoMatchingMethod { .. }
            | EngineError::NoMethodForVerb { .. }
            | EngineError::InvalidParameter { .. }
            | EngineError::UnknownSetting { .. }
            | EngineError::UnknownField { .. }
            | EngineError::TooManyRequests { .. } => ErrorKind::Planning,
            EngineError::ActionFailed { .. } | EngineError::WaitTimeout { .. } => ErrorKind::Action,
            EngineError::Stopped { source, .. } | EngineError::OutcomeUnknown { source, .. } => {
                source.kind()
            }
            EngineError::MissingCredentials { .. } => ErrorKind::Credentials,
            EngineError::Http(_) => ErrorKind::Http,
            EngineError::MalformedResponse { .. } | EngineError::PaginationLoop { .. } => {
                ErrorKind::Response
            }
            EngineError::Sqlite { .. } => ErrorKind::Sql,
            EngineError::Config { .. } => ErrorKind::Config,
            EngineError::Unsupported(_) => ErrorKind::Unsupported,
            EngineError::View(_) => ErrorKind::Planning,
            EngineError::Conversion(_) => ErrorKind::Conversion,
            EngineError::Store { .. } => ErrorKind::Store,
            EngineError::RefreshFailed { source, .. } => source.kind(),
            EngineError::Internal { .. } => ErrorKind::Internal,
        }
    }
}

fn no_method_for_verb_text(resource: &str, verb: &str, offers: &[(String, String)]) -> String {
    let mut out = format!("{resource} has no {} method", verb.to_uppercase());
    if offers.is_empty() {
        out.push_str(" (it has no methods at all)");
        return out;
    }
    // Grouped by verb, in the order the verbs first appear: "SELECT (a, b), EXEC (c)".
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for (v, m) in offers {
        let verb = v.to_uppercase();
        match groups.iter_mut().find(|(g, _)| *g == verb) {
            Some((_, methods)) => methods.push(m),
            None => groups.push((verb, vec![m])),
        }
    }
    let listed: Vec<String> = groups
        .iter()
        .map(|(v, methods)| format!("{v} ({})", methods.join(", ")))
        .collect();
    out.push_str(&format!(
        "; it supports {} (SHOW METHODS IN {resource} lists them with their parameters)",
        listed.join(", ")
    ));
    out
}

fn unknown_field_text(
    resource: &str,
    method: &str,
    name: &str,
    known: &[String],
    gaps: &[String],
) -> String {
    let mut out = format!("{resource}.{method} has no parameter or field '{name}'");
    if let Some(s) = iql_provider::did_you_mean(name, known.iter().map(String::as_str)) {
        out.push_str(&format!("; did you mean '{s}'?"));
    } else {
        out.push('.');
    }
    out.push_str(&format!(" It takes: {}", known.join(", ")));
    if !gaps.is_empty() {
        out.push_str(&format!(". What it takes may be more: {}", gaps.join("; ")));
    }
    out
}

fn no_method_text(resource: &str, verb: &str, candidates: &[(String, Vec<String>)]) -> String {
    let mut out = format!(
        "cannot find a method of {resource} for this {} with the parameters given:",
        verb.to_uppercase()
    );
    for (method, missing) in candidates {
        out.push_str(&format!("\n  {method} needs {}", missing.join(", ")));
    }
    if let Some((_, missing)) = candidates.iter().min_by_key(|(_, m)| m.len()) {
        let how = match verb {
            "insert" => format!(
                "name them in the INSERT column list, e.g. INSERT INTO {resource} ({}) VALUES (…)",
                missing
                    .iter()
                    .map(|p| iql_provider::written_name(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "exec" => {
                let example: Vec<String> = missing.iter().map(|p| format!("@{p}='…'")).collect();
                format!("pass them to EXEC, e.g. {}", example.join(" "))
            }
            "update" | "replace" | "delete" => {
                let example: Vec<String> = missing
                    .iter()
                    .map(|p| format!("{} = '…'", iql_provider::written_name(p)))
                    .collect();
                format!(
                    "add them: parameters in WHERE (e.g. WHERE {}), body fields in SET",
                    example.join(" AND ")
                )
            }
            _ => {
                let example: Vec<String> = missing
                    .iter()
                    .map(|p| format!("{} = '…'", iql_provider::written_name(p)))
                    .collect();
                format!(
                    "add the missing parameters to the WHERE clause, e.g. WHERE {}",
                    example.join(" AND ")
                )
            }
        };
        out.push_str(&format!(
            "\n{how} (SHOW METHODS IN {resource} lists every method)"
        ));
    }
    out
}

fn missing_credentials_hint(env_var: &Option<String>) -> String {
    match env_var {
        Some(v) if v.contains(" and ") => format!("set the environment variables {v} (or pass --auth)"),
        Some(v) => format!("set the environment variable {v} (or pass --auth), or try --sandbox to use the built-in mock"),
        None => "pass --auth with a token, or try --sandbox to use the built-in mock".to_string(),
    }
}
