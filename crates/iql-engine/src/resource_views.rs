//! Resources a provider document defines by SQL (`config.views`, see `iql_provider::view`): a
//! query naming one runs the document's SQLite DDL in its place, as it would run one of iql's
//! own views, so conditions reach the tables under it. Its `{{ name }}` placeholders
//! (`config.docs.requiredParams`) take the values the statement gives (`WHERE ref = 'abc'`),
//! and those parameters are columns of the view, so the condition that gave them holds.

use iql_provider::{fill_template, Resource};
use iql_sql::{ConjunctKind, Literal, QueryStatement};

use crate::error::EngineError;
use crate::session::Session;

impl Session {
    /// The resource a `provider.service.resource` name names, when it is defined by SQL.
    fn view_resource(&self, name: &str) -> Option<std::sync::Arc<Resource>> {
        let parts: Vec<String> = name.split('.').map(str::to_string).collect();
        if parts.len() != 3 {
            return None;
        }
        let (_, resource) = self.resolve(&parts).ok()?;
        resource.view.is_some().then_some(resource)
    }

    /// Whether the statement names a resource defined by SQL.
    pub(crate) fn names_view_resources(&self, q: &QueryStatement) -> bool {
        q.tables
            .iter()
            .any(|t| self.view_resource(&t.name.join(".")).is_some())
    }

    /// The query a view resource stands for in statement `q`; `None` when `name` is no view
    /// resource. `describing`: no statement gives values, each placeholder is empty text.
    pub(crate) fn view_resource_query(
        &self,
        name: &str,
        q: Option<&QueryStatement>,
        describing: bool,
    ) -> Result<Option<String>, EngineError> {
        let Some(resource) = self.view_resource(name) else {
            return Ok(None);
        };
        let Some(view) = resource.view.as_ref() else {
            return Ok(None);
        };
        let given = |param: &str| -> Option<String> {
            q?.scopes
                .iter()
                .flat_map(|s| &s.conjuncts)
                .find_map(|c| match &c.kind {
                    ConjunctKind::Equals { column, values }
                        if column.name.eq_ignore_ascii_case(param) && values.len() == 1 =>
                    {
                        Some(match &values[0] {
                            Literal::Text(t) | Literal::Number(t) => t.clone(),
                            Literal::Bool(b) => b.to_string(),
                        })
                    }
                    _ => None,
                })
        };
        let choice = view
            .ddl_for_sqlite(&|p| given(p).is_some())
            .ok_or_else(|| {
                EngineError::View(format!("{name} cannot be read: {}", view.no_choice()))
            })?;
        let value = |p: &str| {
            given(p)
                .or_else(|| describing.then(String::new))
                .map(|v| v.replace('\'', "''"))
        };
        let (ddl, missing) = fill_template(&choice.ddl, &value);
        if !missing.is_empty() {
            let example: Vec<String> = missing
                .iter()
                .map(|p| format!("{} = '…'", iql_provider::written_name(p)))
                .collect();
            return Err(EngineError::View(format!(
                "{name} is defined by SQL that needs {}: add WHERE {}",
                missing.join(", "),
                example.join(" AND ")
            )));
        }
        let mut columns: Vec<String> = Vec::new();
        for p in &view.template_params {
            if let Some(v) = value(p) {
                columns.push(format!("'{v}' AS {}", crate::sqlite::quote(p)));
            }
        }
        Ok(Some(if columns.is_empty() {
            ddl
        } else {
            format!("SELECT *, {} FROM ({ddl})", columns.join(", "))
        }))
    }
}
