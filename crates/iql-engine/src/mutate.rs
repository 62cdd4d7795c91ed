//! INSERT, UPDATE/REPLACE, DELETE and EXEC: choose the method, check every value against the
//! provider document before anything is sent, send one request per row or parameter value, and
//! show what came back (RETURNING) or what happened (rows affected).
//!
//! Safety rules:
//! - A mutation's key parameters come only from literals in its WHERE (or the INSERT's rows, or
//!   EXEC's `@params`); there is no "list, then act on each".
//! - Mutating requests are not retried after they may have reached the server (only a 429 or a
//!   refused connection is retried), so nothing is created twice.
//! - Requests of one statement go one after another; the first failure stops the rest and the
//!   error says how many had succeeded.

use std::time::{Duration, Instant};

use iql_http::{Request, Secret};
use iql_provider::{Method, ParamLocation, Resource, SqlVerb, ValueKind};
use iql_sql::{
    Binding, DeleteStatement, ExecStatement, InsertStatement, Literal, Returning, UpdateStatement,
};
use serde_json::{Map, Value};

use crate::error::EngineError;
use crate::fetch::{build_url, http_verb};
use crate::params;
use crate::session::Session;
use crate::value::{Cell, ColumnType, QueryResult, ResultColumn};

/// How long and how often to poll an action or import that is still running.
#[derive(Debug, Clone, Copy)]
pub struct WaitPolicy {
    pub poll: Duration,
    pub timeout: Duration,
}

impl Default for WaitPolicy {
    /// Five seconds between polls, five minutes in all: the defaults of DigitalOcean's clients.
    fn default() -> Self {
        WaitPolicy {
            poll: Duration::from_secs(5),
            timeout: Duration::from_secs(300),
        }
    }
}

const PENDING: &[&str] = &["in-progress", "NEW", "new", "pending"];
const FAILED: &[&str] = &["errored", "deleted", "error", "failed"];

/// A value as the user wrote it, before it is typed by the document's schema.
fn literal_json(l: &Literal) -> Value {
    match l {
        Literal::Text(s) => Value::String(s.clone()),
        Literal::Number(n) => n
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| n.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(n.clone())),
        Literal::Bool(b) => Value::Bool(*b),
    }
}

fn cell_json(c: &Cell) -> Value {
    c.to_json()
}

/// `data__name` (older StackQL documents) is `name`.
fn field_name(name: &str) -> String {
    name.strip_prefix("data__")
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// One request to make, with its values already typed and checked.
#[derive(Debug, Clone)]
struct Call {
    params: Vec<(String, Value)>,
    body: Option<Value>,
}

/// Every name a method takes: its path, query and header parameters and its body fields.
fn known_names(m: &Method) -> Vec<String> {
    let mut names: Vec<String> = m
        .params
        .iter()
        .filter(|p| {
            matches!(
                p.location,
                ParamLocation::Path
                    | ParamLocation::Query
                    | ParamLocation::Header
                    | ParamLocation::Server
            )
        })
        .map(|p| p.name.clone())
        .collect();
    for f in &m.body_fields {
        if !names.contains(&f.name) {
            names.push(f.name.clone());
        }
    }
    names
}

/// Of the methods of `verbs` whose required parameters and body fields are all among `given`
/// (plus the fields `request.base` sets), the first (in document order) that takes every name
/// given; else the first that takes the most. `DELETE … WHERE volume_id = …` is
/// `volumes_delete`, though `volumes_delete_by_name`, listed first, requires nothing.
fn choose<'a>(
    resource: &'a Resource,
    verbs: &[SqlVerb],
    given: &[String],
    verb: &str,
) -> Result<&'a Method, EngineError> {
    let mut report = Vec::new();
    let mut best: Option<(&Method, usize)> = None;
    for v in verbs {
        for m in resource.methods_for(*v) {
            let missing = m.missing(given);
            if !missing.is_empty() {
                report.push((m.name.clone(), missing));
                continue;
            }
            let names = known_names(m);
            let taken = given
                .iter()
                .filter(|g| names.iter().any(|n| n.eq_ignore_ascii_case(g)))
                .count();
            if taken == given.len() {
                return Ok(m);
            }
            if best.is_none_or(|(_, most)| taken > most) {
                best = Some((m, taken));
            }
        }
    }
    if let Some((m, _)) = best {
        return Ok(m);
    }
    if report.is_empty() {
        return Err(EngineError::NoMethodForVerb {
            resource: resource.id.clone(),
            verb: verb.to_string(),
            offers: resource.offers(),
        });
    }
    // A name no method takes is most likely misspelt: say so first, rather than "needs name"
    // when the user wrote `nme`.
    let candidates: Vec<&Method> = verbs
        .iter()
        .flat_map(|v| resource.methods_for(*v))
        .map(|m| &**m)
        .collect();
    if let Some(err) = first_unknown_name(resource, &candidates, given) {
        return Err(err);
    }
    Err(EngineError::NoMatchingMethod {
        resource: resource.id.clone(),
        verb: verb.to_string(),
        candidates: report,
    })
}

/// The first of `given` that none of `methods` takes, as an error naming the method it most
/// likely belongs to (the one with a close name), with the names it does take.
fn first_unknown_name(
    resource: &Resource,
    methods: &[&Method],
    given: &[String],
) -> Option<EngineError> {
    let takes =
        |m: &Method, name: &str| known_names(m).iter().any(|k| k.eq_ignore_ascii_case(name));
    let unknown = given
        .iter()
        .find(|n| !methods.iter().any(|m| takes(m, n)))?;
    let method = methods
        .iter()
        .find(|m| {
            let known = known_names(m);
            iql_provider::did_you_mean(unknown, known.iter().map(String::as_str)).is_some()
        })
        .or_else(|| methods.first())?;
    Some(EngineError::UnknownField {
        resource: resource.id.clone(),
        method: method.name.clone(),
        name: unknown.clone(),
        known: known_names(method),
        gaps: method.gaps.clone().into_boxed_slice(),
    })
}

/// Types and checks one value for a body field: JSON text for arrays and objects, the schema's type
/// otherwise, and the allowed values when the document lists them.
fn body_value(
    resource: &Resource,
    m: &Method,
    name: &str,
    raw: &Value,
) -> Result<Value, EngineError> {
    let Some(field) = m.body_fields.iter().find(|f| f.name == name) else {
        return Err(unknown(resource, m, name));
    };
    let invalid = |expected: String| EngineError::InvalidParameter {
        resource: resource.id.clone(),
        method: m.name.clone(),
        param: name.to_string(),
        value: match raw {
            Value::String(s) => format!("'{s}'"),
            other => other.to_string(),
        },
        expected,
    };
    if raw.is_null() {
        return Ok(Value::Null);
    }
    if field.schema.kind() == ValueKind::Json {
        let takes = |t: &str| field.schema.types.iter().any(|x| x == t);
        let parsed = match raw {
            // A field that may also be a string (`input`: a text or a list of them) takes text
            // that is no JSON array or object as that string.
            Value::String(s)
                if takes("string")
                    && !serde_json::from_str::<Value>(s)
                        .is_ok_and(|v| v.is_array() || v.is_object()) =>
            {
                return Ok(Value::String(s.clone()));
            }
            Value::String(s) => serde_json::from_str::<Value>(s)
                .map_err(|e| invalid(format!("JSON text ({e}), e.g. '[\"a\",\"b\"]'")))?,
            other => other.clone(),
        };
        let ok = (parsed.is_array() && field.schema.types.iter().any(|t| t == "array"))
            || (parsed.is_object() && field.schema.types.iter().any(|t| t == "object"));
        if !ok {
            return Err(invalid(format!(
                "{} as JSON text",
                field.schema.type_label()
            )));
        }
        return Ok(parsed);
    }
    let lit = match raw {
        Value::String(s) => Literal::Text(s.clone()),
        Value::Bool(b) => Literal::Bool(*b),
        other => Literal::Number(other.to_string()),
    };
    params::normalize(&field.schema, &lit).ok_or_else(|| invalid(params::expected(&field.schema)))
}

fn param_value(
    resource: &Resource,
    m: &Method,
    name: &str,
    raw: &Value,
) -> Result<Value, EngineError> {
    let Some(p) = m.param_named(name) else {
        return Err(unknown(resource, m, name));
    };
    let lit = match raw {
        Value::String(s) => Literal::Text(s.clone()),
        Value::Bool(b) => Literal::Bool(*b),
        other => Literal::Number(other.to_string()),
    };
    params::normalize(&p.schema, &lit).ok_or_else(|| EngineError::InvalidParameter {
        resource: resource.id.clone(),
        method: m.name.clone(),
        param: name.to_string(),
        value: params::show_literal(&lit),
        expected: params::expected(&p.schema),
    })
}

fn unknown(resource: &Resource, m: &Method, name: &str) -> EngineError {
    EngineError::UnknownField {
        resource: resource.id.clone(),
        method: m.name.clone(),
        name: name.to_string(),
        known: known_names(m),
        gaps: m.gaps.clone().into_boxed_slice(),
    }
}

/// Builds one call from named raw values: parameters by location, the rest into the body on top
/// of `request.base` and `@@json`; then checks the body's required fields and allowed values.
fn build_call(
    resource: &Resource,
    m: &Method,
    values: &[(String, Value)],
    json: Option<&Map<String, Value>>,
) -> Result<Call, EngineError> {
    let mut params = Vec::new();
    let mut body: Map<String, Value> = m
        .request_base
        .as_ref()
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(extra) = json {
        for (k, v) in extra {
            let checked = body_value(resource, m, k, v)?;
            body.insert(k.clone(), checked);
        }
    }
    for (name, raw) in values {
        if let Some(p) = m.param_named(name) {
            params.push((p.name.clone(), param_value(resource, m, name, raw)?));
        } else {
            let checked = body_value(resource, m, name, raw)?;
            body.insert(name.clone(), checked);
        }
    }
    let mut required: Vec<String> = m.required_body_fields().map(|f| f.name.clone()).collect();
    if let Some(variants) = &m.body_variants {
        let chosen = body.get(&variants.property).and_then(Value::as_str);
        if let Some((_, fields)) = variants
            .required_by_value
            .iter()
            .find(|(v, _)| Some(v.as_str()) == chosen)
        {
            required.extend(fields.iter().cloned());
        }
    }
    let missing: Vec<String> = required
        .into_iter()
        .filter(|f| body.get(f).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        return Err(EngineError::NoMatchingMethod {
            resource: resource.id.clone(),
            verb: "exec".to_string(),
            candidates: vec![(m.name.clone(), missing)],
        });
    }
    let has_body = m.body_media_type.is_some() || m.request_base.is_some();
    Ok(Call {
        params,
        body: (has_body && (!body.is_empty() || m.body_required)).then_some(Value::Object(body)),
    })
}

/// Where a mutation's requests go.
struct Target<'a> {
    verb: &'a str,
    resource: &'a Resource,
    method: &'a Method,
    base: &'a str,
    token: Option<Secret>,
}

/// The read that `DELETE … RETURNING` makes before deleting: a select method that needs a key and
/// is given every key it needs (`images_get` for `image_id`), never a list of everything.
fn reader_for<'a>(resource: &'a Resource, given: &[String]) -> Result<&'a Method, EngineError> {
    resource
        .methods_for(SqlVerb::Select)
        .into_iter()
        .find(|m| m.required_params().next().is_some() && m.missing(given).is_empty())
        .map(|m| &**m)
        .ok_or_else(|| {
            EngineError::Unsupported(format!(
                "DELETE … RETURNING reads each row before deleting it, and {} has no select method taking only {}; drop RETURNING",
                resource.id,
                given.join(", ")
            ))
        })
}

/// What one request gave back.
struct Answer {
    status: u16,
    items: Vec<Value>,
}

async fn send(
    runtime: &Session,
    base: &str,
    m: &Method,
    call: &Call,
    token: Option<Secret>,
) -> Result<Answer, EngineError> {
    let url = build_url(base, m, &call.params, None)?;
    let req = Request {
        method: http_verb(m.http_method),
        url,
        body: call.body.clone(),
        bearer: token,
        headers: crate::fetch::header_args(m, &call.params),
        // Only the reads that DELETE … RETURNING makes may be sent twice.
        idempotent: m.http_method == iql_provider::HttpMethod::Get,
    };
    if m.answers_text() {
        // Not JSON: the answer is one item, its text (read as the method's one column).
        let raw = runtime.http().send_raw(&req).await?;
        let text = Value::String(String::from_utf8_lossy(&raw.body).into_owned());
        return Ok(Answer {
            status: raw.status,
            items: vec![text],
        });
    }
    let resp = runtime.http().send(&req).await?;
    Ok(Answer {
        status: resp.status,
        items: cut(m, req.url.as_ref(), resp.body)?,
    })
}

/// The response cut at the method's object key: the created/updated object, or the action.
fn cut(m: &Method, url: &str, body: Value) -> Result<Vec<Value>, EngineError> {
    crate::fetch::cut_at_object_key(
        m.object_key.as_deref(),
        m.http_method,
        url,
        body,
        m.value_rows,
    )
}

/// Rows for `RETURNING`: `*` is every column of the response item; a name is a column, or the
/// object key's own name (`RETURNING image`) for the whole object as JSON.
fn returning_rows(
    m: &Method,
    resource: &Resource,
    items: &[Value],
    returning: &Returning,
) -> Result<(Vec<ResultColumn>, Vec<Vec<Cell>>), EngineError> {
    let picks = returning_picks(m, resource, returning)?;
    let columns = picks
        .iter()
        .map(|(n, k)| ResultColumn {
            name: n.clone(),
            column_type: k.map(ColumnType::of).unwrap_or(ColumnType::Json),
        })
        .collect();
    let rows = items
        .iter()
        .map(|item| {
            picks
                .iter()
                .map(|(n, k)| match k {
                    Some(kind) => Cell::from_json(*kind, item.get(n).unwrap_or(&Value::Null)),
                    None => Cell::Json(item.clone()),
                })
                .collect()
        })
        .collect();
    Ok((columns, rows))
}

/// The columns `RETURNING` names, each with its kind (`None`: the whole object). Checked before
/// anything is sent, so a misspelt column never comes after an image was already created or deleted.
fn returning_picks(
    m: &Method,
    resource: &Resource,
    returning: &Returning,
) -> Result<Vec<(String, Option<ValueKind>)>, EngineError> {
    let whole = m
        .object_key
        .as_deref()
        .and_then(|k| k.rsplit('.').next())
        .map(str::to_string);
    let mut picks: Vec<(String, Option<ValueKind>)> = Vec::new();
    match returning {
        Returning::All => picks.extend(
            m.columns
                .iter()
                .map(|c| (c.name.clone(), Some(c.schema.kind()))),
        ),
        Returning::Columns(names) => {
            for n in names {
                if let Some(c) = m.columns.iter().find(|c| c.name.eq_ignore_ascii_case(n)) {
                    picks.push((c.name.clone(), Some(c.schema.kind())));
                } else if whole.as_deref().is_some_and(|w| w.eq_ignore_ascii_case(n)) {
                    picks.push((n.clone(), None));
                } else {
                    let mut known: Vec<String> = m.columns.iter().map(|c| c.name.clone()).collect();
                    known.extend(whole.clone());
                    return Err(EngineError::UnknownField {
                        resource: resource.id.clone(),
                        method: format!("{} (RETURNING)", m.name),
                        name: n.clone(),
                        known,
                        gaps: m.gaps.clone().into_boxed_slice(),
                    });
                }
            }
        }
    }
    Ok(picks)
}

fn status_text(code: u16) -> &'static str {
    match code {
        200 => "200 OK",
        201 => "201 Created",
        202 => "202 Accepted",
        204 => "204 No Content",
        _ => "2xx",
    }
}

/// What a mutation needs of its table: provider, resource, service and credential.
struct WriteTarget {
    provider: std::sync::Arc<iql_provider::Provider>,
    resource: std::sync::Arc<Resource>,
    service: String,
    token: Option<Secret>,
}

impl WriteTarget {
    /// Where `m`'s requests go.
    fn base(&self, runtime: &Session, m: &Method) -> Result<String, EngineError> {
        runtime.base_url(&self.provider, &self.service, m)
    }
}

impl Session {
    fn write_target(&self, name: &[String]) -> Result<WriteTarget, EngineError> {
        let (provider, resource) = self.resolve(name)?;
        let service = name.get(1).cloned().unwrap_or_default();
        let token = self.credential(&provider)?;
        Ok(WriteTarget {
            provider,
            resource,
            service,
            token,
        })
    }

    /// Sends the calls one after another, stopping at the first failure, and waits for each result
    /// to settle when asked.
    /// Sends the calls, then drops the response cache's answers from that API, whatever the
    /// outcome (a failed call may have changed something too): a SELECT after a change sees it.
    async fn run_calls(
        &self,
        target: Target<'_>,
        calls: Vec<Call>,
        returning: Option<&Returning>,
        wait: bool,
    ) -> Result<QueryResult, EngineError> {
        let base = target.base.to_string();
        let changes = target.method.http_method != iql_provider::HttpMethod::Get;
        let result = self.send_calls(target, calls, returning, wait).await;
        if changes && !self.dry_run() {
            if let Ok(url) = url::Url::parse(&base) {
                let origin = format!("{}/", url.origin().ascii_serialization());
                self.engine().cache().invalidate(&origin);
            }
        }
        result
    }

    async fn send_calls(
        &self,
        target: Target<'_>,
        calls: Vec<Call>,
        returning: Option<&Returning>,
        wait: bool,
    ) -> Result<QueryResult, EngineError> {
        let Target {
            verb,
            resource,
            method: m,
            base,
            token,
        } = target;
        if let Some(r) = returning {
            returning_picks(m, resource, r)?;
        }
        if self.dry_run() {
            let mut r = dry_run_result(base, m, &calls)?;
            let provider = resource.id.split('.').next().unwrap_or_default();
            r.notices.extend(self.credential_notice(provider));
            return Ok(r);
        }
        let total = calls.len();
        let mut items = Vec::new();
        let mut statuses = Vec::new();
        for (done, call) in calls.iter().enumerate() {
            let outcome = async {
                let answer = send(self, base, m, call, token.clone())
                    .await
                    .map_err(|e| self.outcome_unknown(e, resource, m, call))?;
                let mut settled = Vec::new();
                for item in answer.items {
                    settled.push(if wait {
                        self.wait_for(resource, m, call, item, token.clone())
                            .await?
                    } else {
                        item
                    });
                }
                Ok::<_, EngineError>((answer.status, settled))
            }
            .await;
            match outcome {
                Ok((status, got)) => {
                    statuses.push(status);
                    items.extend(got);
                }
                Err(e) if total > 1 => {
                    return Err(EngineError::Stopped {
                        verb: verb.to_string(),
                        done,
                        total,
                        source: Box::new(e),
                    })
                }
                Err(e) => return Err(e),
            }
        }
        let mut result = QueryResult::default();
        match returning {
            Some(r) => {
                let (columns, rows) = returning_rows(m, resource, &items, r)?;
                result.columns = columns;
                result.rows = rows;
            }
            None => {
                let mut codes: Vec<&str> = statuses.iter().map(|s| status_text(*s)).collect();
                codes.dedup();
                result.affected = Some(total as u64);
                result.message = Some(format!(
                    "{verb} {total}: {} answered {} ({})",
                    m.name,
                    codes.join(", "),
                    match m.http_method {
                        iql_provider::HttpMethod::Delete => format!("{total} deleted"),
                        _ if wait => format!("{total} finished"),
                        _ if statuses.iter().all(|s| *s == 202) =>
                            format!("{total} accepted, finishing in the background"),
                        _ => format!("{total} done"),
                    }
                ));
            }
        }
        result.stats.requests = total as u64;
        Ok(result)
    }

    pub(crate) async fn insert(&self, s: &InsertStatement) -> Result<QueryResult, EngineError> {
        let target = self.write_target(&s.table)?;
        let (resource, token) = (target.resource.clone(), target.token.clone());
        let names: Vec<String> = s.columns.iter().map(|c| field_name(c)).collect();
        let m = choose(&resource, &[SqlVerb::Insert], &names, "insert")?;
        let base = target.base(self, m)?;
        // The source may read views: they become their queries first.
        let source_query = self.with_views(&s.source)?;
        if self.dry_run() && !source_query.tables.is_empty() {
            // Reading the rows would send requests: show those, and what would follow.
            let mut credentials = self.credential_notices(&source_query);
            credentials.extend(self.credential_notice(&target.provider.name));
            credentials.dedup();
            return self.dry_run_query(&source_query).map(|mut r| {
                r.notices.push(format!(
                    "INSERT: then one {} {} per row the SELECT returns",
                    m.http_method.as_str(),
                    m.path
                ));
                r.notices.extend(credentials);
                r
            });
        }
        // The rows: VALUES or SELECT, computed by SQLite (and the API, if it reads provider tables).
        let source = self.select(&source_query, true).await?;
        let mut calls = Vec::new();
        for row in &source.rows {
            let values: Vec<(String, Value)> = names
                .iter()
                .cloned()
                .zip(row.iter().map(cell_json))
                .collect();
            calls.push(build_call(&resource, m, &values, None)?);
        }
        let wait = s.wait || self.settings.wait_always;
        self.run_calls(
            Target {
                verb: "INSERT",
                resource: &resource,
                method: m,
                base: &base,
                token,
            },
            calls,
            s.returning.as_ref(),
            wait,
        )
        .await
    }

    /// The columns a change's RETURNING will give, worked out as the change chooses its method,
    /// without sending anything; `None` without RETURNING.
    pub(crate) fn returning_columns(
        &self,
        statement: &iql_sql::Statement,
    ) -> Result<Option<Vec<ResultColumn>>, EngineError> {
        use iql_sql::Statement;
        let (table, names, verbs, returning, reader): (_, Vec<String>, Vec<SqlVerb>, _, bool) =
            match statement {
                Statement::Insert(s) => (
                    &s.table,
                    s.columns.iter().map(|c| field_name(c)).collect(),
                    vec![SqlVerb::Insert],
                    s.returning.as_ref(),
                    false,
                ),
                Statement::Update(s) => {
                    let mut names: Vec<String> = s.set.iter().map(|(n, _)| field_name(n)).collect();
                    names.extend(s.filter.iter().map(|b| field_name(&b.name)));
                    let verbs = if s.replace {
                        vec![SqlVerb::Replace, SqlVerb::Update]
                    } else {
                        vec![SqlVerb::Update, SqlVerb::Replace]
                    };
                    (&s.table, names, verbs, s.returning.as_ref(), false)
                }
                Statement::Delete(s) => (
                    &s.table,
                    s.filter.iter().map(|b| field_name(&b.name)).collect(),
                    vec![SqlVerb::Delete],
                    s.returning.as_ref(),
                    true,
                ),
                _ => return Ok(None),
            };
        let Some(returning) = returning else {
            return Ok(None);
        };
        let (_, resource) = self.resolve(table)?;
        let m = if reader {
            reader_for(&resource, &names)?
        } else {
            choose(&resource, &verbs, &names, "describe")?
        };
        let picks = returning_picks(m, &resource, returning)?;
        Ok(Some(
            picks
                .iter()
                .map(|(n, k)| ResultColumn {
                    name: n.clone(),
                    column_type: k.map(ColumnType::of).unwrap_or(ColumnType::Json),
                })
                .collect(),
        ))
    }

    pub(crate) async fn update(&self, s: &UpdateStatement) -> Result<QueryResult, EngineError> {
        let target = self.write_target(&s.table)?;
        let (resource, token) = (target.resource.clone(), target.token.clone());
        let mut names: Vec<String> = s.set.iter().map(|(n, _)| field_name(n)).collect();
        names.extend(s.filter.iter().map(|b| field_name(&b.name)));
        let verbs = if s.replace {
            [SqlVerb::Replace, SqlVerb::Update]
        } else {
            [SqlVerb::Update, SqlVerb::Replace]
        };
        let verb = if s.replace { "REPLACE" } else { "UPDATE" };
        let m = choose(&resource, &verbs, &names, &verb.to_ascii_lowercase())?;
        let base = target.base(self, m)?;
        let set: Vec<(String, Value)> = s
            .set
            .iter()
            .map(|(n, v)| (field_name(n), literal_json(v)))
            .collect();
        if self.dry_run() {
            if let Some(r) = self.dry_run_subquery(verb, m, &s.filter) {
                return r;
            }
        }
        let calls = self
            .expand(&s.filter)
            .await?
            .into_iter()
            .map(|keys| {
                let mut values = keys;
                values.extend(set.iter().cloned());
                build_call(&resource, m, &values, None)
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.run_calls(
            Target {
                verb,
                resource: &resource,
                method: m,
                base: &base,
                token,
            },
            calls,
            s.returning.as_ref(),
            s.wait || self.settings.wait_always,
        )
        .await
    }

    pub(crate) async fn delete(&self, s: &DeleteStatement) -> Result<QueryResult, EngineError> {
        let write = self.write_target(&s.table)?;
        let (resource, token) = (write.resource.clone(), write.token.clone());
        let names: Vec<String> = s.filter.iter().map(|b| field_name(&b.name)).collect();
        let m = choose(&resource, &[SqlVerb::Delete], &names, "delete")?;
        let base = write.base(self, m)?;
        if self.dry_run() {
            if let Some(r) = self.dry_run_subquery("DELETE", m, &s.filter) {
                return r;
            }
        }
        let keys = self.expand(&s.filter).await?;
        let calls = keys
            .iter()
            .map(|values| build_call(&resource, m, values, None))
            .collect::<Result<Vec<_>, _>>()?;
        let target = Target {
            verb: "DELETE",
            resource: &resource,
            method: m,
            base: &base,
            token: token.clone(),
        };
        let Some(returning) = s.returning.as_ref() else {
            return self.run_calls(target, calls, None, false).await;
        };
        // DigitalOcean answers a delete with 204 and no body. RETURNING gives the rows as they were,
        // as in PostgreSQL: each object is read first, and nothing is deleted if a read fails.
        let read = reader_for(&resource, &names)?;
        let read_base = write.base(self, read)?;
        returning_picks(read, &resource, returning)?;
        let reads = keys
            .iter()
            .map(|values| {
                let values: Vec<(String, Value)> = values
                    .iter()
                    .filter(|(n, _)| read.param_named(n).is_some())
                    .cloned()
                    .collect();
                build_call(&resource, read, &values, None)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.dry_run() {
            let mut result = dry_run_result(&read_base, read, &reads)?;
            result.rows.extend(dry_run_result(&base, m, &calls)?.rows);
            return Ok(result);
        }
        let mut before = Vec::new();
        for call in &reads {
            before.extend(
                send(self, &read_base, read, call, token.clone())
                    .await?
                    .items,
            );
        }
        let mut result = self.run_calls(target, calls, None, false).await?;
        let (columns, rows) = returning_rows(read, &resource, &before, returning)?;
        result.columns = columns;
        result.rows = rows;
        result.affected = None;
        result.message = None;
        result.stats.requests += reads.len() as u64;
        Ok(result)
    }

    pub(crate) async fn exec(&self, s: &ExecStatement) -> Result<QueryResult, EngineError> {
        let target = self.write_target(&s.resource)?;
        let (resource, token) = (target.resource.clone(), target.token.clone());
        let Some(m) = resource.method(&s.method) else {
            return Err(EngineError::Unsupported(resource.no_such_method(&s.method)));
        };
        let base = target.base(self, m)?;
        let json: Option<Map<String, Value>> = match &s.json {
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(o)) => Some(o),
                Ok(_) => {
                    return Err(EngineError::Unsupported(
                        "@@json must be a JSON object, e.g. @@json='{\"type\":\"convert\"}'"
                            .to_string(),
                    ))
                }
                Err(e) => {
                    return Err(EngineError::Unsupported(format!(
                        "@@json is not valid JSON: {e}"
                    )))
                }
            },
            None => None,
        };
        let mut given: Vec<String> = s.params.iter().map(|(n, _)| field_name(n)).collect();
        given.extend(json.iter().flat_map(|o| o.keys().cloned()));
        if let Some(err) = first_unknown_name(&resource, &[m], &given) {
            return Err(err);
        }
        let missing = m.missing(&given);
        if !missing.is_empty() {
            return Err(EngineError::NoMatchingMethod {
                resource: resource.id.clone(),
                verb: "exec".to_string(),
                candidates: vec![(m.name.clone(), missing)],
            });
        }
        let values: Vec<(String, Value)> = s
            .params
            .iter()
            .map(|(n, v)| (field_name(n), literal_json(v)))
            .collect();
        let call = build_call(&resource, m, &values, json.as_ref())?;
        self.run_calls(
            Target {
                verb: "EXEC",
                resource: &resource,
                method: m,
                base: &base,
                token,
            },
            vec![call],
            Some(&Returning::All),
            s.wait || self.settings.wait_always,
        )
        .await
    }

    /// Polls until `item` settles: an action through the method that reads one action of this
    /// resource's parent (`image_actions_get`), an import through the resource's own single-object
    /// GET (`images_get`).
    async fn wait_for(
        &self,
        resource: &Resource,
        m: &Method,
        call: &Call,
        item: Value,
        token: Option<Secret>,
    ) -> Result<Value, EngineError> {
        let status = |v: &Value| {
            v.get("status")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        if !PENDING.contains(&status(&item).as_str()) {
            return settle(item, resource, m);
        }
        let id = item.get("id").cloned().unwrap_or(Value::Null);
        let (poller, poll_params, what) = self.poller(resource, m, call, &id)?;
        let policy = self.settings.wait;
        let started = Instant::now();
        let mut current = item;
        loop {
            if started.elapsed() >= policy.timeout {
                return Err(EngineError::WaitTimeout {
                    what,
                    status: status(&current),
                    seconds: policy.timeout.as_secs_f64(),
                    id: id.to_string(),
                    check: format!(
                        "SELECT status FROM {} WHERE {}",
                        poller.0,
                        poll_params
                            .iter()
                            .map(|(k, v)| format!("{k} = {v}"))
                            .collect::<Vec<_>>()
                            .join(" AND ")
                    ),
                });
            }
            tokio::time::sleep(
                policy
                    .poll
                    .min(policy.timeout.saturating_sub(started.elapsed())),
            )
            .await;
            let base = poller.2.clone();
            let req = Request {
                method: http_verb(poller.1.http_method),
                url: build_url(&base, &poller.1, &poll_params, None)?,
                body: None,
                bearer: token.clone(),
                headers: crate::fetch::header_args(&poller.1, &poll_params),
                idempotent: true,
            };
            let resp = self.http().send(&req).await?;
            if let Some(next) = cut(&poller.1, req.url.as_ref(), resp.body)?
                .into_iter()
                .next()
            {
                current = next;
            }
            if !PENDING.contains(&status(&current).as_str()) {
                return settle(current, resource, m);
            }
        }
    }

    /// (resource id, method, base URL), the parameters to poll with, and what is awaited.
    #[allow(clippy::type_complexity)]
    fn poller(
        &self,
        resource: &Resource,
        m: &Method,
        call: &Call,
        id: &Value,
    ) -> Result<((String, Method, String), Vec<(String, Value)>, String), EngineError> {
        let parts: Vec<String> = resource.id.split('.').map(str::to_string).collect();
        let (provider, service) = (
            parts.first().cloned().unwrap_or_default(),
            parts.get(1).cloned().unwrap_or_default(),
        );
        let provider = self.registry().provider(&provider)?;
        let is_action = matches!(m.object_key.as_deref(), Some("$.action" | "$.actions"));
        // Actions are read back under the path they were posted to (`…/actions/{action_id}`);
        // an import through the resource's own single-object GET.
        let mut candidates = self.readers_of(&provider, &service, &m.path);
        if let Ok(own) = provider.resource(&service, &resource.name) {
            candidates.push(own);
        }
        for r in &candidates {
            for sm in r.methods_for(SqlVerb::Select) {
                let required: Vec<&str> = sm.required_params().map(|p| p.name.as_str()).collect();
                if is_action && required.len() == 2 && required.contains(&"action_id") {
                    let parent = required
                        .iter()
                        .find(|n| **n != "action_id")
                        .copied()
                        .unwrap_or_default();
                    if let Some((_, v)) = call.params.iter().find(|(n, _)| n == parent) {
                        let params = vec![
                            (parent.to_string(), v.clone()),
                            ("action_id".to_string(), id.clone()),
                        ];
                        let base = self.base_url(&provider, &service, sm)?;
                        return Ok((
                            (r.id.clone(), (**sm).clone(), base),
                            params,
                            format!("action {id}"),
                        ));
                    }
                }
                if !is_action && r.id == resource.id && required.len() == 1 {
                    let params = vec![(required[0].to_string(), id.clone())];
                    let base = self.base_url(&provider, &service, sm)?;
                    return Ok((
                        (r.id.clone(), (**sm).clone(), base),
                        params,
                        format!("{} {id}", resource.name),
                    ));
                }
            }
        }
        // An action on a whole collection (by tag, by name) has no parent key to read it back
        // under: the account's actions read any action by its id (`GET /v2/actions/{action_id}`).
        if is_action {
            if let Some((r, sm, svc)) = self.account_action_reader(&provider, &service) {
                let base = self.base_url(&provider, &svc, &sm)?;
                return Ok((
                    (r.id.clone(), sm, base),
                    vec![("action_id".to_string(), id.clone())],
                    format!("action {id}"),
                ));
            }
        }
        Err(EngineError::Unsupported(format!(
            "cannot wait for {}.{}: no SELECT method reads its result back",
            resource.id, m.name
        )))
    }
}

impl Session {
    /// The provider's SELECT method that reads any action by its id alone, looked for in
    /// `service` first (DigitalOcean's is `digitalocean.account.actions`, at
    /// `/v2/actions/{action_id}`): the resource, the method and its service.
    fn account_action_reader(
        &self,
        provider: &iql_provider::Provider,
        service: &str,
    ) -> Option<(std::sync::Arc<Resource>, Method, String)> {
        let services = std::iter::once(service).chain(
            provider
                .services
                .keys()
                .map(String::as_str)
                .filter(|s| *s != service),
        );
        for svc in services {
            let Ok(index) = provider.index(svc) else {
                continue;
            };
            let found = index
                .resources
                .iter()
                .filter(|r| {
                    r.select_paths.iter().any(|p| {
                        p.trim_end_matches('/').ends_with("/actions/{action_id}")
                            && p.matches('{').count() == 1
                    })
                })
                .filter_map(|r| provider.resource(svc, &r.name).ok())
                .find_map(|r| {
                    let sm = r.methods_for(SqlVerb::Select).into_iter().find(|sm| {
                        let required: Vec<&str> =
                            sm.required_params().map(|p| p.name.as_str()).collect();
                        required == ["action_id"]
                    })?;
                    let sm = (**sm).clone();
                    Some((r, sm, svc.to_string()))
                });
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// A failure of a request that changes something, where the server may have acted anyway (a
    /// 5xx, a timeout, a connection lost after sending): say that the outcome is unknown and give
    /// the SELECT that tells. Other failures pass through.
    fn outcome_unknown(
        &self,
        e: EngineError,
        resource: &Resource,
        m: &Method,
        call: &Call,
    ) -> EngineError {
        let maybe_acted = matches!(&e, EngineError::Http(h) if h.maybe_acted());
        if m.http_method == iql_provider::HttpMethod::Get || !maybe_acted {
            return e;
        }
        let what = match m.http_method {
            iql_provider::HttpMethod::Post if m.path.ends_with("/actions") => {
                "the action may have started"
            }
            iql_provider::HttpMethod::Post => "it may have been created",
            iql_provider::HttpMethod::Delete => "it may have been deleted",
            _ => "it may have been changed",
        };
        EngineError::OutcomeUnknown {
            what: what.to_string(),
            check: self.check_query(resource, m, call),
            source: Box::new(e),
        }
    }

    /// The SELECT that shows what a mutation did: the select method on the same path (`GET
    /// /v2/images` after `POST /v2/images`, `GET /v2/images/{id}/actions` after an action), with
    /// the call's path parameters and, where the rows have one, the name it gave.
    fn check_query(&self, resource: &Resource, m: &Method, call: &Call) -> String {
        let service = resource.id.split('.').nth(1).unwrap_or_default();
        let provider = resource.id.split('.').next().unwrap_or_default();
        let reader = self.registry().provider(provider).ok().and_then(|p| {
            self.readers_of(&p, service, &m.path)
                .into_iter()
                .find_map(|r| {
                    let sm = r
                        .methods_for(SqlVerb::Select)
                        .into_iter()
                        .find(|sm| sm.path == m.path)
                        .cloned();
                    sm.map(|sm| (r.clone(), sm))
                })
        });
        let Some((r, sm)) = reader else {
            return format!(
                "SHOW METHODS IN {} (no SELECT reads {} back)",
                resource.id, m.path
            );
        };
        let mut conditions: Vec<String> = sm
            .required_params()
            .filter_map(|p| {
                let (_, v) = call.params.iter().find(|(n, _)| *n == p.name)?;
                Some(format!("{} = {}", p.name, sql_literal(v)))
            })
            .collect();
        let columns = r.select_columns();
        for field in ["name", "type"] {
            let given = call
                .body
                .as_ref()
                .and_then(|b| b.get(field))
                .filter(|v| v.is_string());
            if let Some(v) = given {
                if columns.iter().any(|c| c.name == field) {
                    conditions.push(format!("{field} = {}", sql_literal(v)));
                }
            }
        }
        let mut sql = format!("SELECT * FROM {}", r.id);
        if !conditions.is_empty() {
            sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
        }
        sql
    }
}

/// A JSON value written as a SQL literal.
fn sql_literal(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

/// A settled item: success passes through; `errored` / `deleted` is a failure that shows the object.
fn settle(item: Value, resource: &Resource, m: &Method) -> Result<Value, EngineError> {
    let status = item
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if FAILED.contains(&status) {
        let what = match m.object_key.as_deref() {
            Some("$.action") => format!(
                "{} action {}",
                item.get("type").and_then(Value::as_str).unwrap_or("the"),
                item.get("id").map(Value::to_string).unwrap_or_default()
            ),
            _ => format!(
                "{} {}",
                resource.name,
                item.get("id").map(Value::to_string).unwrap_or_default()
            ),
        };
        let reason = item
            .get("error_message")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        return Err(EngineError::ActionFailed {
            what,
            detail: format!("status {status}{reason}; {item}"),
        });
    }
    Ok(item)
}

impl Session {
    /// Every combination of the WHERE bindings (`IN` gives several values); a subquery's values
    /// are the first column of its rows, computed first.
    /// `--dry-run` of a mutation whose keys come from a subquery: the subquery's own requests, and
    /// what would follow for each of its rows (nothing is sent, so the rows are not known).
    fn dry_run_subquery(
        &self,
        verb: &str,
        m: &Method,
        filter: &[Binding],
    ) -> Option<Result<QueryResult, EngineError>> {
        let b = filter.iter().find(|b| b.subquery.is_some())?;
        let q = b.subquery.as_deref()?;
        let q = match self.with_views(q) {
            Ok(q) => q,
            Err(e) => return Some(Err(e)),
        };
        let credentials = self.credential_notices(&q);
        Some(self.dry_run_query(&q).map(|mut r| {
            r.notices.push(format!(
                "{verb}: then one {} {} per value of {} that the subquery returns",
                m.http_method.as_str(),
                m.path,
                b.name
            ));
            r.notices.extend(credentials);
            r
        }))
    }

    async fn expand(&self, filter: &[Binding]) -> Result<Vec<Vec<(String, Value)>>, EngineError> {
        debug_assert!(!self.dry_run() || filter.iter().all(|b| b.subquery.is_none()));
        let mut bound: Vec<(String, Vec<Value>)> = Vec::new();
        for b in filter {
            let values = match &b.subquery {
                Some(q) => self
                    .select(&*self.with_views(q)?, true)
                    .await?
                    .rows
                    .iter()
                    .filter_map(|r| r.first())
                    .filter(|c| !matches!(c, Cell::Null))
                    .map(Cell::to_json)
                    .collect(),
                None => b.values.iter().map(literal_json).collect(),
            };
            bound.push((field_name(&b.name), values));
        }
        Ok(crate::fetch::combinations(&bound))
    }
}

/// `--dry-run`: the requests, with no token and nothing sent.
fn dry_run_result(base: &str, m: &Method, calls: &[Call]) -> Result<QueryResult, EngineError> {
    let requests = calls
        .iter()
        .map(|c| {
            Ok((
                m.http_method.as_str(),
                build_url(base, m, &c.params, None)?.to_string(),
                c.body.clone(),
            ))
        })
        .collect::<Result<Vec<_>, EngineError>>()?;
    Ok(QueryResult::dry_run(requests))
}
