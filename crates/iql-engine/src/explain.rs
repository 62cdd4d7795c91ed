//! SQLite's messages, made about the user's text: where a misspelt column was written and what it
//! was probably meant to be, which of two tables an ambiguous column belongs to, the full name of
//! a provider table written without its provider and service, the function meant by a misspelt
//! one. SQLite sees the rewritten query, whose names and positions mean nothing to the user.

use iql_sql::QueryStatement;

use crate::error::EngineError;
use crate::query::alias_of;
use crate::session::Session;
use crate::{plan, sqlite};

impl Session {
    /// SQLite's message, made about the user's text: where a missing column was written and what
    /// it was probably meant to be, or the full name of a provider table.
    pub(crate) fn explain_sqlite(
        &self,
        e: EngineError,
        q: &QueryStatement,
        plans: &[plan::TablePlan],
    ) -> EngineError {
        let EngineError::Sqlite { message } = &e else {
            return e;
        };
        if let Some(name) = message.strip_prefix("ambiguous column name: ") {
            // Two provider tables share the name (both have `image_id`): say which to write.
            let mut out = message.clone();
            if let Some((line, column)) = q.position_of(name) {
                out.push_str(&format!(" at line {line}, column {column}"));
            }
            let owners: Vec<String> = plans
                .iter()
                .filter(|p| {
                    p.columns()
                        .iter()
                        .any(|c| c.name.eq_ignore_ascii_case(name))
                })
                .map(|p| format!("{}.{name}", alias_of(q, p)))
                .collect();
            if owners.len() > 1 {
                out.push_str(&format!("; write {}", owners.join(" or ")));
            }
            return EngineError::Sqlite { message: out };
        }
        if let Some(name) = message.strip_prefix("no such function: ") {
            let mut out = message.clone();
            if let Some((line, column)) = q.position_of(name) {
                out.push_str(&format!(" at line {line}, column {column}"));
            }
            let known = sqlite::function_names();
            if let Some(close) = iql_provider::did_you_mean(name, known.iter().map(String::as_str))
            {
                out.push_str(&format!("; did you mean {close}?"));
            }
            return EngineError::Sqlite { message: out };
        }
        let Some(name) = message.strip_prefix("no such column: ") else {
            return self.explain_missing_table(e);
        };
        // A double-quoted name is a column in SQL (iql turns SQLite's string fallback off):
        // SQLite says so in words of its own; iql says it as for any other name, and adds the
        // string the user may have meant.
        let (name, quoted) = match name
            .strip_suffix(" - should this be a string literal in single-quotes?")
            .map(|n| n.trim_matches('"'))
        {
            Some(bare) => (bare.replace("\"\"", "\""), true),
            None => (name.to_string(), false),
        };
        let name = name.as_str();
        let mut out = if quoted {
            format!("no such column: \"{name}\"")
        } else {
            message.clone()
        };
        if let Some((line, column)) = q.position_of(name) {
            out.push_str(&format!(" at line {line}, column {column}"));
        }
        let (qualifier, column) = match name.rsplit_once('.') {
            Some((table, column)) => (Some(table), column),
            None => (None, name),
        };
        let tables: Vec<&plan::TablePlan> = plans
            .iter()
            .filter(|p| qualifier.is_none_or(|wanted| alias_of(q, p).eq_ignore_ascii_case(wanted)))
            .collect();
        let candidates = tables
            .iter()
            .flat_map(|p| p.resource.select_columns().iter().map(|c| c.name.as_str()));
        match (
            iql_provider::did_you_mean(column, candidates),
            tables.as_slice(),
        ) {
            (Some(close), _) => {
                let prefix = qualifier.map(|t| format!("{t}.")).unwrap_or_default();
                out.push_str(&format!("; did you mean {prefix}{close}?"));
            }
            (None, [one]) => {
                out.push_str(&format!("; DESCRIBE {} lists its columns", one.resource.id))
            }
            (None, _) => {}
        }
        if quoted {
            out.push_str(&format!(
                " (double quotes name a column; a string is written in single quotes: '{}')",
                name.replace('\'', "''")
            ));
        }
        EngineError::Sqlite { message: out }
    }

    /// "no such table: images" from SQLite usually means a provider table named without its
    /// provider and service: say what the full name is.
    fn explain_missing_table(&self, e: EngineError) -> EngineError {
        let EngineError::Sqlite { message } = &e else {
            return e;
        };
        let Some(table) = message.strip_prefix("no such table: ") else {
            return e;
        };
        let wanted = table.rsplit('.').next().unwrap_or(table).to_string();
        let mut found = Vec::new();
        for p in self.registry().provider_names() {
            let Ok(provider) = self.registry().provider(p) else {
                continue;
            };
            for s in provider.services.keys() {
                if let Ok(index) = provider.index(s) {
                    found.extend(
                        index
                            .resources
                            .iter()
                            .filter(|r| r.name.eq_ignore_ascii_case(&wanted))
                            .map(|r| format!("{}.{s}.{}", provider.name, r.name)),
                    );
                }
            }
        }
        let views: Vec<String> = self
            .engine()
            .opened_store()
            .and_then(|s| s.views().ok())
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect();
        if let Some(close) = iql_provider::did_you_mean(&wanted, views.iter().map(String::as_str)) {
            return EngineError::Sqlite {
                message: format!(
                    "{message}: did you mean the view {close}? (SHOW VIEWS lists them)"
                ),
            };
        }
        let hint = match found.as_slice() {
            [] if !views.is_empty() => "it is neither a view (SHOW VIEWS lists them) nor a provider table, which is named provider.service.resource".to_string(),
            [] => "provider tables are named provider.service.resource (SHOW RESOURCES IN digitalocean.compute lists them)".to_string(),
            [one] => format!("did you mean {one}? Provider tables are named provider.service.resource"),
            many => format!("did you mean one of {}?", many.join(", ")),
        };
        EngineError::Sqlite {
            message: format!("{message}: {hint}"),
        }
    }
}
