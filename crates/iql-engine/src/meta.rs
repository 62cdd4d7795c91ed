//! `SHOW …` and `DESCRIBE …`: answered from the provider documents, no request sent.

use iql_provider::SqlVerb;
use iql_sql::{Describe, Show, ShowKind};

use crate::error::EngineError;
use crate::session::Session;
use crate::value::{Cell, ColumnType, QueryResult, ResultColumn};

fn text_columns(names: &[&str]) -> Vec<ResultColumn> {
    names
        .iter()
        .map(|n| ResultColumn {
            name: n.to_string(),
            column_type: ColumnType::Text,
        })
        .collect()
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn opt(s: &Option<String>) -> Cell {
    s.as_ref()
        .map(|s| Cell::Text(s.clone()))
        .unwrap_or(Cell::Null)
}

/// SQL `LIKE`: `%` any run, `_` one character, case-insensitive for ASCII.
pub(crate) fn like(pattern: &str, value: &str) -> bool {
    fn go(p: &[char], v: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('%', rest)) => (0..=v.len()).any(|i| go(rest, &v[i..])),
            Some(('_', rest)) => !v.is_empty() && go(rest, &v[1..]),
            Some((c, rest)) => {
                v.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(rest, &v[1..])
            }
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    go(&p, &v)
}

pub(crate) fn show(runtime: &Session, s: &Show) -> Result<QueryResult, EngineError> {
    let keep = |name: &str| s.like.as_deref().is_none_or(|p| like(p, name));
    let registry = runtime.registry();
    let mut result = QueryResult::default();
    match s.kind {
        ShowKind::Views => {
            let store = runtime.engine().store()?;
            result.columns = text_columns(&[
                "name",
                "kind",
                "rows",
                "refreshed_at",
                "refresh_interval",
                "last_error",
                "definition",
            ]);
            result.columns[2].column_type = ColumnType::Integer;
            for v in store.views()? {
                if keep(&v.name) {
                    result.rows.push(vec![
                        text(&v.name),
                        text(if v.materialized {
                            "materialized view"
                        } else {
                            "view"
                        }),
                        v.row_count.map(Cell::Integer).unwrap_or(Cell::Null),
                        opt(&v.refreshed_at),
                        opt(&v.refresh_interval.map(|s| {
                            iql_sql::format_interval(std::time::Duration::from_secs(s as u64))
                        })),
                        opt(&v.last_error),
                        text(&v.definition),
                    ]);
                }
            }
        }
        ShowKind::Providers => {
            result.columns = text_columns(&["name", "version"]);
            for name in registry.provider_names() {
                if keep(name) {
                    result.rows.push(vec![
                        text(name),
                        text(registry.provider_version(name).unwrap_or_default()),
                    ]);
                }
            }
        }
        ShowKind::Services => {
            result.columns = text_columns(&["id", "name", "title"]);
            let providers: Vec<String> = match s.scope.first() {
                Some(p) => vec![p.clone()],
                None => registry
                    .provider_names()
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            };
            for p in providers {
                let provider = registry.provider(&p)?;
                for (name, entry) in &provider.services {
                    if keep(name) {
                        result.rows.push(vec![
                            text(format!("{}.{name}", provider.name)),
                            text(name),
                            opt(&entry.title),
                        ]);
                    }
                }
            }
        }
        ShowKind::Resources => {
            let [p, svc] = s.scope.as_slice() else {
                return Err(EngineError::Unsupported(
                    "SHOW RESOURCES needs a service: SHOW RESOURCES IN digitalocean.compute"
                        .to_string(),
                ));
            };
            result.columns = text_columns(&["name", "id", "title"]);
            let provider = registry.provider(p)?;
            for r in &provider.index(svc)?.resources {
                if keep(&r.name) {
                    result.rows.push(vec![
                        text(&r.name),
                        text(format!("{}.{svc}.{}", provider.name, r.name)),
                        opt(&r.title),
                    ]);
                }
            }
        }
        ShowKind::Methods => {
            let (_, resource) = runtime.resolve(&s.scope)?;
            let mut names = vec!["MethodName", "RequiredParams", "SQLVerb"];
            if s.extended {
                names.extend(["HttpMethod", "Path", "ObjectKey", "Paging", "description"]);
            }
            result.columns = text_columns(&names);
            for m in &resource.methods {
                if !keep(&m.name) {
                    continue;
                }
                let verb = resource
                    .verb_of(&m.name)
                    .map(SqlVerb::as_str)
                    .unwrap_or("exec");
                let mut required: Vec<String> =
                    m.required_params().map(|p| p.name.clone()).collect();
                if verb != "select" {
                    required.extend(m.required_body_fields().map(|f| f.name.clone()));
                }
                let mut row = vec![
                    text(&m.name),
                    text(required.join(", ")),
                    text(verb.to_uppercase()),
                ];
                if s.extended {
                    row.push(text(m.http_method.as_str()));
                    row.push(text(&m.path));
                    row.push(opt(&m.object_key));
                    let mut paging = Vec::new();
                    if let Some(p) = &m.pagination {
                        paging.push(format!("next page at {}", p.response_key));
                    }
                    if let Some((param, max)) = &m.top_param {
                        paging.push(format!("LIMIT as {param} up to {max}"));
                    }
                    row.push(if paging.is_empty() {
                        Cell::Null
                    } else {
                        text(paging.join("; "))
                    });
                    row.push(opt(&m.summary));
                }
                result.rows.push(row);
            }
        }
    }
    Ok(result)
}

pub(crate) fn describe(runtime: &Session, d: &Describe) -> Result<QueryResult, EngineError> {
    if d.method {
        return describe_method(runtime, d);
    }
    if let [name] = d.name.as_slice() {
        return describe_view(runtime, name);
    }
    let (_, resource) = runtime.resolve(&d.name)?;
    if resource.view.is_some() {
        let mut result = QueryResult {
            columns: text_columns(&["name", "type"]),
            ..QueryResult::default()
        };
        for c in runtime.columns_of_view_resource(&d.name.join("."))? {
            result
                .rows
                .push(vec![text(c.name), text(c.column_type.name())]);
        }
        result.notices.push(format!(
            "{} is defined by SQL in its provider document",
            resource.id
        ));
        return Ok(result);
    }
    let mut names = vec!["name", "type"];
    if d.extended {
        names.push("description");
    }
    let mut result = QueryResult {
        columns: text_columns(&names),
        ..QueryResult::default()
    };
    for c in resource.select_columns() {
        let mut row = vec![text(&c.name), text(c.schema.kind().name())];
        if d.extended {
            row.push(opt(&c.schema.description));
        }
        result.rows.push(row);
    }
    for m in &resource.methods {
        result
            .notices
            .extend(m.gaps.iter().map(|g| format!("method {}: {g}", m.name)));
    }
    Ok(result)
}

/// `DESCRIBE view`: a materialized view's stored columns, or the columns a plain view's query
/// gives (typed as a query of it would type them), found without sending a request.
fn describe_view(runtime: &Session, name: &str) -> Result<QueryResult, EngineError> {
    let store = runtime.engine().store()?;
    let Some(view) = store.view(name)? else {
        return Err(EngineError::View(format!(
            "there is no view named {name}: DESCRIBE takes a view's name or provider.service.resource"
        )));
    };
    let columns = if view.materialized {
        store.columns_of(&view.name)?
    } else {
        runtime.columns_of_view(&view.name)?
    };
    let mut result = QueryResult {
        columns: text_columns(&["name", "type"]),
        ..QueryResult::default()
    };
    for c in columns {
        result
            .rows
            .push(vec![text(c.name), text(c.column_type.name())]);
    }
    Ok(result)
}

/// `DESCRIBE METHOD p.s.r.m`: what a method takes (path, query and header parameters, body fields)
/// and whether each is required, with its type and allowed values.
fn describe_method(runtime: &Session, d: &Describe) -> Result<QueryResult, EngineError> {
    let (_, resource) = runtime.resolve(&d.name[..3])?;
    let name = &d.name[3];
    let Some(m) = resource.method(name) else {
        return Err(EngineError::Unsupported(resource.no_such_method(name)));
    };
    let mut names = vec!["name", "in", "type", "required", "allowed"];
    if d.extended {
        names.push("description");
    }
    let mut result = QueryResult {
        columns: text_columns(&names),
        ..QueryResult::default()
    };
    let allowed = |s: &iql_provider::SchemaInfo| {
        if s.enum_values.is_empty() {
            Cell::Null
        } else {
            Cell::Text(
                s.enum_values
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        }
    };
    let mut push = |name: &str, place: &str, schema: &iql_provider::SchemaInfo, required: bool| {
        let mut row = vec![
            text(name),
            text(place),
            text(schema.type_label()),
            Cell::Bool(required),
            allowed(schema),
        ];
        if d.extended {
            row.push(opt(&schema.description));
        }
        result.rows.push(row);
    };
    for p in &m.params {
        push(&p.name, p.location.as_str(), &p.schema, p.required);
    }
    let base = m.base_fields();
    for f in &m.body_fields {
        if !base.contains(&f.name) {
            push(&f.name, "body", &f.schema, f.required);
        }
    }
    if let Some(c) = result.columns.get_mut(3) {
        c.column_type = ColumnType::Boolean;
    }
    result.notices.extend(m.gaps.iter().cloned());
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("%image%", "image_actions"));
        assert!(like("IMAGES", "images"));
        assert!(like("im_ges", "images"));
        assert!(!like("%droplet%", "images"));
    }
}
