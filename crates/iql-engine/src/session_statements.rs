//! `SET`, `SHOW setting`, `RESET` and the transaction statements, answered from the session's
//! [`SqlContext`](crate::functions::SqlContext): what `current_setting()` and pg_settings read
//! is what `SET` changed.
//!
//! Transactions, honestly: a request sent to an API cannot be taken back. `BEGIN` and `COMMIT`
//! are accepted (drivers send them around everything), and each change runs when it is sent, as
//! under autocommit. A `ROLLBACK` (or `ROLLBACK TO` a savepoint) after changes were sent says, in
//! a notice, how many it cannot undo.

use iql_sql::SessionStatement;

use crate::error::EngineError;
use crate::functions::default_settings;
use crate::session::Session;
use crate::value::{Cell, ColumnType, QueryResult, ResultColumn};

/// An open transaction: the changes sent since `BEGIN`, and since each savepoint.
#[derive(Debug, Default)]
pub(crate) struct Transaction {
    pub changes: usize,
    /// (name, changes when it was made)
    pub savepoints: Vec<(String, usize)>,
}

/// How PostgreSQL's `SHOW` names a setting's column (its own spelling).
fn display_name(name: &str) -> &str {
    match name {
        "datestyle" => "DateStyle",
        "timezone" => "TimeZone",
        "intervalstyle" => "IntervalStyle",
        other => other,
    }
}

fn text_column(name: &str) -> ResultColumn {
    ResultColumn {
        name: name.to_string(),
        column_type: ColumnType::Text,
    }
}

impl Session {
    pub(crate) fn session_statement(
        &self,
        s: &SessionStatement,
    ) -> Result<QueryResult, EngineError> {
        let mut result = QueryResult::default();
        match s {
            SessionStatement::Show(name) if name == "all" => {
                let context = self.sql_context();
                result.columns = vec![
                    text_column("name"),
                    text_column("setting"),
                    text_column("description"),
                ];
                result.rows = context
                    .settings
                    .iter()
                    .map(|(k, v)| {
                        vec![
                            Cell::Text(display_name(k).to_string()),
                            Cell::Text(v.clone()),
                            Cell::Text(String::new()),
                        ]
                    })
                    .collect();
            }
            SessionStatement::Show(name) => {
                let context = self.sql_context();
                let value = context
                    .settings
                    .get(name)
                    .cloned()
                    .or_else(|| match name.as_str() {
                        "session_authorization" => Some(context.user.clone()),
                        _ => None,
                    });
                let Some(value) = value else {
                    return Err(unknown(name, &context.settings));
                };
                result.columns = vec![text_column(display_name(name))];
                result.rows = vec![vec![Cell::Text(value)]];
            }
            SessionStatement::Set { name, value } => {
                let value = value
                    .clone()
                    .or_else(|| default_settings().get(name).cloned())
                    .unwrap_or_default();
                if name == "timezone" && !is_utc(&value) {
                    result.notices.push(format!(
                        "iql shows every date-time in UTC, as DigitalOcean gives them: TimeZone stays UTC, not {value}"
                    ));
                } else {
                    self.update_sql_context(|c| {
                        c.settings.insert(name.clone(), value);
                    });
                }
            }
            SessionStatement::Reset(Some(name)) => {
                let default = default_settings().get(name).cloned();
                self.update_sql_context(|c| match default {
                    Some(v) => {
                        c.settings.insert(name.clone(), v);
                    }
                    None => {
                        c.settings.remove(name);
                    }
                });
            }
            SessionStatement::Reset(None) => {
                let server_version = self.sql_context().settings.get("server_version").cloned();
                self.update_sql_context(|c| {
                    c.settings = default_settings();
                    if let Some(v) = server_version {
                        c.settings.insert("server_version".into(), v);
                    }
                });
            }
            SessionStatement::Begin => {
                let mut t = self.transaction();
                if t.is_some() {
                    result
                        .notices
                        .push("there is already a transaction in progress".to_string());
                } else {
                    *t = Some(Transaction::default());
                }
            }
            SessionStatement::Commit => {
                if self.transaction().take().is_none() {
                    result
                        .notices
                        .push("there is no transaction in progress".to_string());
                }
            }
            SessionStatement::Rollback => match self.transaction().take() {
                None => result
                    .notices
                    .push("there is no transaction in progress".to_string()),
                Some(t) if t.changes > 0 => result.notices.push(cannot_undo(t.changes, "BEGIN")),
                Some(_) => {}
            },
            SessionStatement::Savepoint(name) => {
                let mut t = self.transaction();
                let Some(t) = t.as_mut() else {
                    return Err(EngineError::Unsupported(
                        "SAVEPOINT can only be used in transaction blocks".to_string(),
                    ));
                };
                let changes = t.changes;
                t.savepoints.push((name.to_lowercase(), changes));
            }
            SessionStatement::Release(name) | SessionStatement::RollbackTo(name) => {
                let rollback = matches!(s, SessionStatement::RollbackTo(_));
                let mut t = self.transaction();
                let Some(t) = t.as_mut() else {
                    return Err(EngineError::Unsupported(format!(
                        "{} can only be used in transaction blocks",
                        s.tag()
                    )));
                };
                let wanted = name.to_lowercase();
                let Some(at) = t.savepoints.iter().rposition(|(n, _)| *n == wanted) else {
                    return Err(EngineError::Unsupported(format!(
                        "savepoint \"{name}\" does not exist"
                    )));
                };
                let since = t.savepoints[at].1;
                if rollback {
                    // The savepoint stays, as in PostgreSQL; the ones after it go.
                    t.savepoints.truncate(at + 1);
                    if t.changes > since {
                        result
                            .notices
                            .push(cannot_undo(t.changes - since, &format!("SAVEPOINT {name}")));
                    }
                } else {
                    t.savepoints.truncate(at);
                }
            }
            SessionStatement::Discard => self.prepared().clear(),
            SessionStatement::Deallocate(None) => self.prepared().clear(),
            SessionStatement::Deallocate(Some(name)) => {
                if self.prepared().remove(&name.to_lowercase()).is_none() {
                    return Err(no_prepared(name));
                }
            }
            SessionStatement::Prepare { name, text } => {
                // Parsed now, so a mistake is reported at PREPARE, as PostgreSQL does.
                let parsed = iql_sql::parse_script_for(text, self.default_provider().as_deref())?;
                if parsed.len() != 1 {
                    return Err(EngineError::Unsupported(
                        "PREPARE takes one statement".to_string(),
                    ));
                }
                let mut prepared = self.prepared();
                if prepared.contains_key(&name.to_lowercase()) {
                    return Err(EngineError::Unsupported(format!(
                        "prepared statement \"{name}\" already exists"
                    )));
                }
                prepared.insert(name.to_lowercase(), text.clone());
            }
            // Run by `Session::execute`, which can wait for the API.
            SessionStatement::Execute { .. } => {}
        }
        Ok(result)
    }

    /// The statement `EXECUTE name (values)` runs: the prepared text with the values bound.
    pub fn prepared_statement(
        &self,
        name: &str,
        values: &[iql_sql::BindValue],
    ) -> Result<iql_sql::ParsedStatement, EngineError> {
        let text = self
            .prepared()
            .get(&name.to_lowercase())
            .cloned()
            .ok_or_else(|| no_prepared(name))?;
        let bound = iql_sql::bind(&text, iql_sql::Params::Positional(values))?;
        let mut parsed = iql_sql::parse_script_for(&bound, self.default_provider().as_deref())?;
        match (parsed.pop(), parsed.is_empty()) {
            (Some(p), true) => Ok(p),
            _ => Err(EngineError::Unsupported(
                "a prepared statement is one statement".to_string(),
            )),
        }
    }

    /// The provider whose tables two-part names mean: the one the session's database is named
    /// after (a PostgreSQL client's `-d digitalocean`).
    pub(crate) fn default_provider(&self) -> Option<String> {
        let database = self.sql_context().database;
        self.registry()
            .provider_names()
            .into_iter()
            .find(|p| *p == database)
            .map(str::to_string)
    }

    fn prepared(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, String>> {
        self.prepared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a change sent inside a transaction, for an honest ROLLBACK.
    pub(crate) fn count_change(&self) {
        if let Some(t) = self.transaction().as_mut() {
            t.changes += 1;
        }
    }

    fn transaction(&self) -> std::sync::MutexGuard<'_, Option<Transaction>> {
        self.transaction
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn cannot_undo(changes: usize, since: &str) -> String {
    let what = if changes == 1 {
        "the change".to_string()
    } else {
        format!("the {changes} changes")
    };
    format!(
        "ROLLBACK cannot undo {what} sent to the API since {since}: an API call cannot be rolled back, so they stand"
    )
}

fn no_prepared(name: &str) -> EngineError {
    EngineError::Unsupported(format!("prepared statement \"{name}\" does not exist"))
}

fn is_utc(zone: &str) -> bool {
    matches!(
        zone.to_ascii_lowercase().as_str(),
        "utc" | "etc/utc" | "gmt" | "etc/gmt" | "z" | "zulu" | "+00" | "+00:00" | "0" | "universal"
    )
}

fn unknown(name: &str, settings: &std::collections::BTreeMap<String, String>) -> EngineError {
    EngineError::UnknownSetting {
        name: name.to_string(),
        suggestion: iql_provider::did_you_mean(name, settings.keys().map(String::as_str))
            .map(str::to_string),
    }
}
