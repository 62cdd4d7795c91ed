//! Resources defined by SQL instead of methods: StackQL's `config.views.select`, a chain of
//! `{predicate, ddl, fallback}` where each predicate says for which SQL dialect (and, in some
//! documents, for which given parameters) its DDL is written. iql runs SQLite, so it takes the
//! first DDL whose predicate holds for `sqlite3` and the parameters a statement gives; the
//! engine expands it as it expands one of its own views.

use serde_json::Value;

/// One DDL of a view resource and when it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewChoice {
    /// The predicate as the document writes it (empty: none, it applies to every dialect).
    pub predicate: String,
    /// `sqlDialect == "…"`, when the predicate says.
    pub dialect: Option<String>,
    /// `requiredParams == [ a, b ]`: this DDL applies when the statement gives all of them.
    pub required_params: Vec<String>,
    /// A clause iql does not read: such a choice is never taken.
    pub unknown_clause: Option<String>,
    pub ddl: String,
}

/// A resource's SQL definition: its choices in the document's order of preference, and the
/// parameters its DDL takes as `{{ name }}` (`config.docs.requiredParams`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceView {
    pub choices: Vec<ViewChoice>,
    pub template_params: Vec<String>,
}

impl ResourceView {
    /// Reads `config` of a resource; `None` when it defines no view.
    pub fn from_config(config: &Value) -> Option<ResourceView> {
        let mut node = config.pointer("/views/select")?;
        let mut choices = Vec::new();
        loop {
            if let Some(ddl) = node.get("ddl").and_then(Value::as_str) {
                let predicate = node
                    .get("predicate")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                choices.push(choice(predicate, ddl.to_string()));
            }
            match node.get("fallback") {
                Some(next) if choices.len() < 32 => node = next,
                _ => break,
            }
        }
        let template_params = config
            .pointer("/docs/requiredParams")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Some(ResourceView {
            choices,
            template_params,
        })
    }

    /// The DDL for SQLite, given the names of the parameters the statement gives: the first
    /// choice for `sqlite3` (or any dialect) whose parameters are all given.
    pub fn ddl_for_sqlite(&self, given: &dyn Fn(&str) -> bool) -> Option<&ViewChoice> {
        self.choices.iter().find(|c| {
            c.unknown_clause.is_none()
                && c.dialect.as_deref().is_none_or(|d| d == "sqlite3")
                && c.required_params.iter().all(|p| given(p))
        })
    }

    /// Why no choice applies, for the error.
    pub fn no_choice(&self) -> String {
        let shown: Vec<String> = self
            .choices
            .iter()
            .map(|c| {
                if c.predicate.is_empty() {
                    "(no predicate)".to_string()
                } else {
                    c.predicate.clone()
                }
            })
            .collect();
        format!(
            "its definitions are for {}; iql runs SQLite (sqlDialect == \"sqlite3\")",
            shown.join(", ")
        )
    }
}

fn choice(predicate: String, ddl: String) -> ViewChoice {
    let mut c = ViewChoice {
        predicate: predicate.clone(),
        dialect: None,
        required_params: Vec::new(),
        unknown_clause: None,
        ddl,
    };
    for clause in predicate
        .split("&&")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let Some((left, right)) = clause.split_once("==") else {
            c.unknown_clause = Some(clause.to_string());
            continue;
        };
        let right = right.trim();
        match left.trim() {
            "sqlDialect" => c.dialect = Some(right.trim_matches('"').to_string()),
            "requiredParams" => {
                let inner = right.trim_start_matches('[').trim_end_matches(']');
                c.required_params = inner
                    .split(',')
                    .map(|p| p.trim().trim_matches('"').to_string())
                    .filter(|p| !p.is_empty())
                    .collect();
            }
            _ => c.unknown_clause = Some(clause.to_string()),
        }
    }
    c
}

/// The DDL with each `{{ name }}` (spaces optional) replaced by `value(name)`; the names no
/// value was found for, in the order they first appear.
pub fn fill_template(ddl: &str, value: &dyn Fn(&str) -> Option<String>) -> (String, Vec<String>) {
    let mut out = String::with_capacity(ddl.len());
    let mut missing = Vec::new();
    let mut rest = ddl;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let name = rest[start + 2..start + len].trim();
        out.push_str(&rest[..start]);
        match value(name) {
            Some(v) => out.push_str(&v),
            None => {
                if !missing.iter().any(|m| m == name) {
                    missing.push(name.to_string());
                }
                out.push_str(&rest[start..start + len + 2]);
            }
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    (out, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(yaml: &str) -> ResourceView {
        let v: Value = crate::yaml::from_str(yaml).expect("yaml");
        ResourceView::from_config(&v).expect("a view")
    }

    #[test]
    fn the_first_definition_for_sqlite_whose_parameters_are_given_is_taken() {
        let v = view(
            r#"
views:
  select:
    predicate: sqlDialect == "sqlite3" && requiredParams == [ data__Identifier ]
    ddl: SELECT one
    fallback:
      predicate: sqlDialect == "sqlite3"
      ddl: SELECT two
      fallback:
        predicate: sqlDialect == "postgres"
        ddl: SELECT three
"#,
        );
        assert_eq!(v.choices.len(), 3);
        let given = |p: &str| p == "data__Identifier";
        assert_eq!(
            v.ddl_for_sqlite(&given).map(|c| c.ddl.as_str()),
            Some("SELECT one")
        );
        assert_eq!(
            v.ddl_for_sqlite(&|_| false).map(|c| c.ddl.as_str()),
            Some("SELECT two")
        );
        let pg = view("views: {select: {predicate: 'sqlDialect == \"postgres\"', ddl: SELECT 1}}");
        assert!(pg.ddl_for_sqlite(&|_| true).is_none());
        assert!(pg.no_choice().contains("sqlDialect == \"postgres\""));
        let odd = view("views: {select: {predicate: 'region in [1]', ddl: SELECT 1}}");
        assert!(odd.ddl_for_sqlite(&|_| true).is_none());
        let none = view("views: {select: {ddl: SELECT 1}}");
        assert!(none.ddl_for_sqlite(&|_| true).is_some());
    }

    #[test]
    fn templates_are_filled_and_what_is_missing_is_named() {
        let (sql, missing) = fill_template(
            "WHERE ref = '{{ ref }}' AND x = '{{x}}' AND y = '{{ y }}'",
            &|n| (n == "ref").then(|| "abc".to_string()),
        );
        assert_eq!(sql, "WHERE ref = 'abc' AND x = '{{x}}' AND y = '{{ y }}'");
        assert_eq!(missing, ["x", "y"]);
    }
}
