//! From a parsed query to one fetch plan per provider table: which method answers it, which
//! conjuncts become parameters, and which tables wait for others (dependent joins).
//!
//! The rules, in order:
//! 1. A conjunct `col = literal` / `col IN (…)` is a *candidate* for the parameter of the same name
//!    when it sits in the `WHERE` or `ON` of the `SELECT` whose `FROM` names the table and its column
//!    belongs to that table (by alias, or unambiguously when unqualified). `WHERE` conjuncts on the
//!    optional side of an outer join stay in SQL.
//! 2. **Names that are both a parameter and a column** (DigitalOcean's `type`): a value the
//!    parameter lists among its allowed values is sent as the parameter (`type = 'distribution'`);
//!    any other value filters the column in SQL (`type = 'snapshot'`). When one `=`/`IN`/`OR` holds
//!    values of both kinds (`type IN ('distribution', 'snapshot')`), each gets its own meaning and
//!    the rows are the union: one call per parameter value, plus one call without the parameter
//!    whose rows are kept where the column has one of the other values (a [`Split`]). An optional
//!    parameter without a list of allowed values is never sent for such a name; a required one
//!    (a path key such as `batch_id` that the rows also carry) means the same as the column, and
//!    is sent.
//! 3. `a.col = b.col` between two provider tables binds the parameter `col` of one table to the
//!    values of the other table's column: that table is fetched after the other, once per distinct value.
//! 4. The first method in the resource's `select` list whose required parameters are all bound wins.
//! 5. Conjuncts the chosen method takes as literal parameters are answered by the API and become
//!    `true` in the SQL SQLite runs; everything else is left for SQLite.

use std::sync::Arc;

use iql_provider::{Column, Method, Provider, Resource, SqlVerb};
use iql_sql::{ColumnRef, Conjunct, ConjunctKind, Literal, QueryStatement, TableRef};
use serde_json::Value;

use crate::error::EngineError;
use crate::session::Session;

/// A parameter whose values come from other tables once they are loaded.
#[derive(Debug, Clone)]
pub(crate) struct LinkBinding {
    pub param: String,
    pub source: LinkSource,
}

#[derive(Debug, Clone)]
pub(crate) enum LinkSource {
    /// `a.image_id = i.id`: the distinct values of a column of another table.
    Column { table: usize, column: String },
    /// `image_id IN (SELECT …)`: the values the subquery gives, run in SQLite over its tables.
    Subquery { index: usize, tables: Vec<usize> },
    /// `i.image_id = json_extract(d.image, '$.id')`: the distinct values of an expression over
    /// another table's columns.
    Expression { table: usize, sql: String },
}

impl LinkBinding {
    /// The tables that must be loaded before the values are known.
    pub fn waits_on(&self) -> &[usize] {
        match &self.source {
            LinkSource::Column { table, .. } | LinkSource::Expression { table, .. } => {
                std::slice::from_ref(table)
            }
            LinkSource::Subquery { tables, .. } => tables,
        }
    }
}

/// A condition that gives a name both of its meanings (`type IN ('distribution', 'snapshot')`):
/// `param` is sent with each value it allows, and once without (a `null` among its values); the
/// rows of that last call are kept only where `column` is one of `field_values`.
#[derive(Debug, Clone)]
pub(crate) struct Split {
    pub param: String,
    pub column: String,
    /// Empty: the rows of the call without the parameter are all kept (the query's own
    /// condition, left to SQLite, chooses among them).
    pub field_values: Vec<Literal>,
    /// The call without the parameter, when it is another method's: `image_id = 5 OR slug = 'x'`
    /// gets image 5 and lists the images for the slug.
    pub field_call: Option<FieldCall>,
}

/// The method, base URL and parameters of a split's call without its parameter.
#[derive(Debug, Clone)]
pub(crate) struct FieldCall {
    pub method: Arc<Method>,
    pub base_url: String,
    pub literals: Vec<(String, Vec<Value>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct TablePlan {
    pub table: usize,
    pub provider: Arc<Provider>,
    pub resource: Arc<Resource>,
    pub method: Arc<Method>,
    pub local_name: String,
    /// Scheme, host and any path prefix the method's path is appended to.
    pub base_url: String,
    /// Parameter → the normalized values to send (more than one: one request each).
    pub literals: Vec<(String, Vec<Value>)>,
    pub links: Vec<LinkBinding>,
    /// Conjunct ids the API answers.
    pub answered: Vec<usize>,
    /// `WHERE col = literal` conjuncts on this table that SQL applies: they also narrow the values
    /// this table hands to tables that depend on it.
    pub sql_filters: Vec<(usize, String, Vec<Literal>)>,
    /// Stop fetching after this many rows (LIMIT without ORDER BY on a fully answered query).
    pub row_limit: Option<u64>,
    /// A name used in both of its meanings; its rows are loaded into two tables behind a view.
    pub split: Option<Split>,
    /// The columns kept (see [`TablePlan::columns`]); `None` keeps them all.
    pub projection: Option<Vec<Column>>,
    pub notices: Vec<String>,
}

impl TablePlan {
    /// The columns of the table's rows that the statement can need: every select method's item
    /// fields and parameters, less those it never names (`SELECT count(*)` keeps one).
    pub fn columns(&self) -> &[Column] {
        self.projection
            .as_deref()
            .unwrap_or(self.resource.select_columns())
    }
}

/// The columns of `resource` that `q` may need, or `None` for all of them.
fn projection(q: &QueryStatement, resource: &Resource) -> Option<Vec<Column>> {
    let all = resource.select_columns();
    // A parameter's value in the rows made from its opposite field (`private` from `public`)
    // needs that field.
    let opposites: Vec<&str> = resource
        .methods_for(SqlVerb::Select)
        .iter()
        .flat_map(|m| m.true_only.iter())
        .filter(|(param, _)| q.may_need_column(param))
        .filter_map(|(_, opposite)| opposite.as_deref())
        .collect();
    let kept: Vec<Column> = all
        .iter()
        .filter(|c| {
            q.may_need_column(&c.name) || opposites.iter().any(|o| o.eq_ignore_ascii_case(&c.name))
        })
        .cloned()
        .collect();
    if kept.len() == all.len() {
        return None;
    }
    // A table needs a column; the first is as good as any (`count(*)` reads none).
    Some(if kept.is_empty() {
        all.iter().take(1).cloned().collect()
    } else {
        kept
    })
}

#[derive(Clone)]
struct Candidate {
    conjunct: usize,
    param: String,
    values: Vec<Literal>,
}

pub(crate) fn plan_query(
    runtime: &Session,
    q: &QueryStatement,
) -> Result<Vec<TablePlan>, EngineError> {
    // Resolve every table first, so an unknown name fails before anything is planned or fetched.
    let mut resolved = Vec::new();
    for t in &q.tables {
        let (provider, resource) = runtime.resolve(&t.name)?;
        resolved.push((t, provider, resource));
    }
    let owner = |scope: usize, col: &ColumnRef| -> Option<usize> {
        let in_scope: Vec<_> = resolved.iter().filter(|(t, ..)| t.scope == scope).collect();
        if col.qualifier.is_empty() {
            let having: Vec<_> = in_scope
                .iter()
                .filter(|(_, _, resource)| {
                    resource
                        .select_columns()
                        .iter()
                        .any(|c| c.name.eq_ignore_ascii_case(&col.name))
                })
                .collect();
            return match having.as_slice() {
                [(t, ..)] => Some(t.id),
                _ => None,
            };
        }
        in_scope
            .iter()
            .find(|(t, ..)| qualifier_matches(t, &col.qualifier))
            .map(|(t, ..)| t.id)
    };

    let mut plans = Vec::new();
    for (t, provider, resource) in &resolved {
        let columns = resource.select_columns();
        let scope = q.scope(t.scope);
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut links: Vec<LinkBinding> = Vec::new();
        let mut subquery_links: Vec<LinkBinding> = Vec::new();
        for c in scope.map(|s| s.conjuncts.as_slice()).unwrap_or_default() {
            if t.outer && c.from_where {
                continue;
            }
            match &c.kind {
                ConjunctKind::Equals { column, values } if owner(t.scope, column) == Some(t.id) => {
                    candidates.push(Candidate {
                        conjunct: c.id,
                        param: column.name.to_ascii_lowercase(),
                        values: values.clone(),
                    });
                }
                ConjunctKind::Link { left, right } => {
                    for (mine, other) in [(left, right), (right, left)] {
                        if owner(t.scope, mine) != Some(t.id) {
                            continue;
                        }
                        if let Some(src) = owner(t.scope, other).filter(|s| *s != t.id) {
                            links.push(LinkBinding {
                                param: mine.name.to_ascii_lowercase(),
                                source: LinkSource::Column {
                                    table: src,
                                    column: other.name.clone(),
                                },
                            });
                        }
                    }
                }
                ConjunctKind::LinkExpr {
                    column,
                    sql,
                    columns,
                } if owner(t.scope, column) == Some(t.id) => {
                    // Every column of the expression from one other table of this FROM.
                    let sources: Vec<Option<usize>> =
                        columns.iter().map(|c| owner(t.scope, c)).collect();
                    if let Some(Some(src)) = sources.first() {
                        if *src != t.id && sources.iter().all(|s| *s == Some(*src)) {
                            links.push(LinkBinding {
                                param: column.name.to_ascii_lowercase(),
                                source: LinkSource::Expression {
                                    table: *src,
                                    sql: sql.clone(),
                                },
                            });
                        }
                    }
                }
                ConjunctKind::InSubquery { column, subquery }
                    if owner(t.scope, column) == Some(t.id) =>
                {
                    let tables = q.subquery_tables(*subquery).to_vec();
                    // A subquery over this very table cannot give it its parameters.
                    if !tables.contains(&t.id) {
                        subquery_links.push(LinkBinding {
                            param: column.name.to_ascii_lowercase(),
                            source: LinkSource::Subquery {
                                index: *subquery,
                                tables,
                            },
                        });
                    }
                }
                _ => {}
            }
        }
        let where_filters: Vec<(usize, String, Vec<Literal>)> = if t.outer {
            Vec::new()
        } else {
            scope
                .map(|s| s.conjuncts.as_slice())
                .unwrap_or_default()
                .iter()
                .filter(|c| c.from_where)
                .filter_map(|c| match &c.kind {
                    ConjunctKind::Equals { column, values }
                        if owner(t.scope, column) == Some(t.id) =>
                    {
                        Some((c.id, column.name.clone(), values.clone()))
                    }
                    _ => None,
                })
                .collect()
        };
        // `IN (SELECT …)` binds a parameter only when no method can do without it: otherwise the
        // table is read as before and SQLite applies the IN, which may take fewer requests than
        // one per value.
        let choose = |links: Vec<LinkBinding>| {
            choose_method(t, provider.clone(), resource.clone(), &candidates, links)
        };
        // A parameter that is not a field of the items (`image_id`; the field is `id`) is null in
        // listed rows, so SQLite cannot apply the IN: it must be bound.
        let must_bind = subquery_links
            .iter()
            .any(|l| !is_item_field(resource, &l.param));
        let all_links: Vec<LinkBinding> = links.iter().chain(&subquery_links).cloned().collect();
        let mut plan = if must_bind {
            choose(all_links)?
        } else {
            match choose(links) {
                Err(EngineError::NoMatchingMethod { .. }) if !subquery_links.is_empty() => {
                    choose(all_links)?
                }
                other => other?,
            }
        };
        if let Some(union) =
            union_with_parameter(t, provider, resource, &candidates, &plan, scope, &owner)
        {
            plan = union;
        }
        plan.sql_filters = where_filters
            .into_iter()
            .filter(|(id, name, _)| {
                !plan.answered.contains(id)
                    && columns.iter().any(|c| c.name.eq_ignore_ascii_case(name))
            })
            .collect();
        let conjuncts = scope.map(|s| s.conjuncts.as_slice()).unwrap_or_default();
        let is_mine = |col: &ColumnRef| owner(t.scope, col) == Some(t.id);
        let notices = null_parameter_notices(&plan, conjuncts, &is_mine);
        plan.notices.extend(notices);
        let notices = two_meaning_notices(&plan, conjuncts, &is_mine);
        plan.notices.extend(notices);
        plan.notices
            .extend(gap_notices(&t.name.join("."), &plan.method));
        plan.base_url = runtime.base_url(provider, &t.name[1], &plan.method)?;
        if let Some(call) = plan.split.as_mut().and_then(|s| s.field_call.as_mut()) {
            call.base_url = runtime.base_url(provider, &t.name[1], &call.method)?;
        }
        // A split's view tells rows apart by their columns (by `id`): it keeps them all.
        if plan.split.is_none() {
            plan.projection = projection(q, resource);
        }
        plans.push(plan);
    }
    break_link_cycles(&mut plans);
    if let Some(hint) = q.limit_hint {
        let all_answered = q.scope(hint.scope).is_some_and(|s| {
            s.conjuncts
                .iter()
                .all(|c| plans.iter().any(|p| p.answered.contains(&c.id)))
        });
        if let Some(p) = plans.iter_mut().find(|p| p.table == hint.table) {
            // A split keeps only some rows of one call: fetching cannot stop at the row count.
            if all_answered && p.links.is_empty() && p.split.is_none() {
                p.row_limit = Some(hint.rows);
            }
        }
    }
    Ok(plans)
}

/// `image_id = 100003 OR slug = 'debian-12-x64'`: one alternative is a parameter that is no field
/// of the rows, the others are conditions on fields. Neither call alone answers it (the list has no
/// `image_id`; a GET has one image), so the table is the union of both: the call with the
/// parameter, and the plan's own call without it, whose rows are all kept. The condition stays in
/// SQL, which picks from the union what the OR means; rows both calls give count once (by `id`).
#[allow(clippy::too_many_arguments)]
fn union_with_parameter(
    t: &TableRef,
    provider: &Arc<Provider>,
    resource: &Arc<Resource>,
    candidates: &[Candidate],
    plan: &TablePlan,
    scope: Option<&iql_sql::Scope>,
    owner: &dyn Fn(usize, &ColumnRef) -> Option<usize>,
) -> Option<TablePlan> {
    if plan.split.is_some() || !plan.links.is_empty() || t.outer {
        return None;
    }
    let is_param = |name: &str| {
        resource
            .methods_for(SqlVerb::Select)
            .iter()
            .any(|m| m.param_named(name).is_some())
    };
    for c in scope.map(|s| s.conjuncts.as_slice()).unwrap_or_default() {
        let ConjunctKind::AnyOf { equals, .. } = &c.kind else {
            continue;
        };
        if !c.from_where
            || !c
                .columns
                .iter()
                .all(|col| owner(t.scope, col) == Some(t.id))
        {
            continue;
        }
        let params: Vec<&(ColumnRef, Vec<Literal>)> = equals
            .iter()
            .filter(|(col, _)| is_param(&col.name) && !is_item_field(resource, &col.name))
            .collect();
        let [(column, values)] = params.as_slice() else {
            continue;
        };
        // Another alternative on the parameter (`image_id > 5`) would see it null in the list's
        // rows: left as it is, with the notice that says so.
        let named = |col: &ColumnRef| col.name.eq_ignore_ascii_case(&column.name);
        if c.columns.iter().filter(|col| named(col)).count()
            > equals.iter().filter(|(col, _)| named(col)).count()
        {
            continue;
        }
        let mut with_param = candidates.to_vec();
        with_param.push(Candidate {
            conjunct: c.id,
            param: column.name.to_ascii_lowercase(),
            values: values.clone(),
        });
        let Ok(mut union) = choose_method(
            t,
            provider.clone(),
            resource.clone(),
            &with_param,
            Vec::new(),
        ) else {
            continue;
        };
        let Some(position) = union
            .literals
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(&column.name))
        else {
            continue;
        };
        // Both calls must answer the same other conditions: one answered by a single call
        // would have to be checked by SQL on the other's rows, and a parameter that is not a
        // field (or means something else as a field, as `type = 'distribution'` does) cannot be.
        union.answered.retain(|id| *id != c.id);
        let same = union.answered.len() == plan.answered.len()
            && union.answered.iter().all(|id| plan.answered.contains(id));
        if !same {
            continue;
        }
        let param = union.literals[position].0.clone();
        union.split = Some(Split {
            column: param.clone(),
            param,
            field_values: Vec::new(),
            field_call: Some(FieldCall {
                method: plan.method.clone(),
                base_url: String::new(),
                literals: plan.literals.clone(),
            }),
        });
        union.notices.extend(plan.notices.iter().cloned());
        return Some(union);
    }
    None
}

/// Whether the items a select method returns have a field of this name (`id`, `type`), as opposed
/// to a name that is only a parameter (`image_id`, `private`).
fn is_item_field(resource: &Resource, name: &str) -> bool {
    resource
        .methods_for(SqlVerb::Select)
        .iter()
        .any(|m| m.columns.iter().any(|c| c.name.eq_ignore_ascii_case(name)))
}

/// A condition on a parameter that is not a field of the rows, left to SQL, sees it null in every
/// row (`image_id > 5` on listed images): a notice says so, instead of a quiet empty result.
/// What the provider document leaves out of the method a table is read with (`Method::gaps`).
pub(crate) fn gap_notices(table: &str, m: &Method) -> Vec<String> {
    m.gaps
        .iter()
        .map(|g| format!("{table} is read with {}, and {g}", m.name))
        .collect()
}

fn null_parameter_notices(
    plan: &TablePlan,
    conjuncts: &[Conjunct],
    is_mine: &dyn Fn(&ColumnRef) -> bool,
) -> Vec<String> {
    let resource = &plan.resource;
    let select = resource.methods_for(SqlVerb::Select);
    let is_param = |name: &str| select.iter().any(|m| m.param_named(name).is_some());
    let bound = |name: &str| {
        plan.literals
            .iter()
            .map(|(n, _)| n)
            .chain(plan.links.iter().map(|l| &l.param))
            .any(|n| n.eq_ignore_ascii_case(name))
    };
    let mut unbound: Vec<&str> = Vec::new();
    for c in conjuncts.iter().filter(|c| !plan.answered.contains(&c.id)) {
        for col in c.columns.iter().filter(|col| is_mine(col)) {
            let name = col.name.as_str();
            let derived = select.iter().any(|m| {
                m.true_only(name)
                    .is_some_and(|(_, opposite)| opposite.is_some())
            });
            if is_param(name)
                && !derived
                && !is_item_field(resource, name)
                && !bound(name)
                && !unbound.iter().any(|u| u.eq_ignore_ascii_case(name))
            {
                unbound.push(name);
            }
        }
    }
    unbound
        .into_iter()
        .map(|name| {
            format!(
                "{name} is a parameter of {}, not a field of its rows: {} was used, so {name} is null in every row and a condition on it matches nothing unless written as {name} = … or {name} IN (…)",
                resource.id, plan.method.name
            )
        })
        .collect()
}

/// A condition other than `=`/`IN` on a name that is both a parameter with allowed values and a
/// field of the rows (`type <> 'distribution'`, `NOT type IN (…)`, `type LIKE …`) compares the
/// field, never the parameter: say so, naming both sets of values, since `'distribution'` is not
/// a value the field ever holds.
fn two_meaning_notices(
    plan: &TablePlan,
    conjuncts: &[Conjunct],
    is_mine: &dyn Fn(&ColumnRef) -> bool,
) -> Vec<String> {
    let resource = &plan.resource;
    let mut out = Vec::new();
    for c in conjuncts.iter().filter(|c| !plan.answered.contains(&c.id)) {
        if matches!(
            c.kind,
            ConjunctKind::Equals { .. } | ConjunctKind::Link { .. }
        ) {
            continue;
        }
        for col in c.columns.iter().filter(|col| is_mine(col)) {
            let Some(field) = plan
                .columns()
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(&col.name))
                .filter(|_| is_item_field(resource, &col.name))
            else {
                continue;
            };
            let param = resource
                .methods_for(SqlVerb::Select)
                .into_iter()
                .find_map(|m| m.param_named(&col.name))
                .filter(|p| !p.schema.enum_values.is_empty());
            let Some(param) = param else {
                continue;
            };
            let values = |v: &[Value]| {
                v.iter()
                    .map(crate::params::url_text)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let field_values = if field.schema.enum_values.is_empty() {
                String::new()
            } else {
                format!(" ({})", values(&field.schema.enum_values))
            };
            let note = format!(
                "{} compares each row's {name} field{field_values}, not the {name} parameter of {} ({}): the parameter is sent only for {name} = … or {name} IN (…)",
                c.text,
                resource.id,
                values(&param.schema.enum_values),
                name = field.name,
            );
            if !out.contains(&note) {
                out.push(note);
            }
        }
    }
    out
}

fn qualifier_matches(t: &TableRef, qualifier: &[String]) -> bool {
    let last = qualifier.last().map(String::as_str).unwrap_or_default();
    match &t.alias {
        Some(a) => a.eq_ignore_ascii_case(last),
        None => {
            let name = t.name.join(".");
            qualifier.join(".").eq_ignore_ascii_case(&name)
                || t.name.last().is_some_and(|n| n.eq_ignore_ascii_case(last))
        }
    }
}

/// Two tables each waiting on the other cannot be fetched: drop the later table's links.
fn break_link_cycles(plans: &mut [TablePlan]) {
    let ids: Vec<usize> = plans.iter().map(|p| p.table).collect();
    for id in ids {
        let waits_on: Vec<usize> = plans
            .iter()
            .find(|p| p.table == id)
            .map(|p| {
                p.links
                    .iter()
                    .flat_map(|l| l.waits_on().iter().copied())
                    .collect()
            })
            .unwrap_or_default();
        for src in waits_on {
            let cyclic = plans
                .iter()
                .find(|p| p.table == src)
                .is_some_and(|p| p.links.iter().any(|l| l.waits_on().contains(&id)));
            if cyclic && src < id {
                if let Some(p) = plans.iter_mut().find(|p| p.table == id) {
                    p.links.retain(|l| !l.waits_on().contains(&src));
                }
            }
        }
    }
}

fn choose_method(
    t: &TableRef,
    provider: Arc<Provider>,
    resource: Arc<Resource>,
    candidates: &[Candidate],
    links: Vec<LinkBinding>,
) -> Result<TablePlan, EngineError> {
    let columns = resource.select_columns();
    if resource.methods_for(SqlVerb::Select).is_empty() {
        return Err(EngineError::NoMethodForVerb {
            resource: resource.id.clone(),
            verb: "select".to_string(),
            offers: resource.offers(),
        });
    }
    let item_columns: Vec<&str> = resource
        .methods_for(SqlVerb::Select)
        .iter()
        .flat_map(|m| m.columns.iter().map(|c| c.name.as_str()))
        .collect();
    let mut report = Vec::new();
    for method in resource.methods_for(SqlVerb::Select) {
        let mut literals: Vec<(String, Vec<Value>)> = Vec::new();
        let mut answered = Vec::new();
        let mut split: Option<Split> = None;
        for c in candidates {
            let Some(param) = method.param_named(&c.param) else {
                continue;
            };
            if literals.iter().any(|(p, _)| *p == param.name) {
                continue;
            }
            // Rule 2: a name that is also a column goes to the API only for values the parameter
            // lists; the other values are the column's. A required parameter (a path key such as
            // `batch_id`, which the rows also carry) names the same thing as the column: sent.
            let two_meanings = item_columns.contains(&param.name.as_str()) && !param.required;
            if two_meanings && param.schema.enum_values.is_empty() {
                continue;
            }
            let mut normalized = Vec::new();
            let mut field_values = Vec::new();
            for v in &c.values {
                match crate::params::normalize(&param.schema, v) {
                    Some(n) => normalized.push(n),
                    None if two_meanings => field_values.push(v.clone()),
                    None => {
                        return Err(EngineError::InvalidParameter {
                            resource: resource.id.clone(),
                            method: method.name.clone(),
                            param: param.name.clone(),
                            value: crate::params::show_literal(v),
                            expected: crate::params::expected(&param.schema),
                        })
                    }
                }
            }
            if normalized.is_empty() {
                continue;
            }
            // A parameter the API honours only when true (`private`: "used to filter only user
            // images"): `private=false` would answer every row. Anything but `true` is left to
            // SQL, on rows whose value iql knows from the field that is its opposite (`public`).
            if let Some((_, opposite)) = method.true_only(&param.name) {
                if normalized.iter().any(|v| *v != Value::Bool(true)) {
                    if opposite.is_none() {
                        return Err(EngineError::Unsupported(format!(
                            "{} filters on {} only when it is true ({} = false is no filter to {}), and its rows do not say which are {} = false: write {} = true, or leave the condition out",
                            method.name, param.name, param.name, resource.id, param.name, param.name
                        )));
                    }
                    continue;
                }
            }
            if field_values.is_empty() {
                literals.push((param.name.clone(), normalized));
                answered.push(c.conjunct);
            } else if split.is_none() {
                // Both meanings at once: one more call without the parameter, for the column's values.
                normalized.push(Value::Null);
                literals.push((param.name.clone(), normalized));
                answered.push(c.conjunct);
                split = Some(Split {
                    param: param.name.clone(),
                    column: columns
                        .iter()
                        .find(|col| col.name.eq_ignore_ascii_case(&param.name))
                        .map(|col| col.name.clone())
                        .unwrap_or_else(|| param.name.clone()),
                    field_values,
                    field_call: None,
                });
            }
        }
        // Links name the parameter as the column was written; use the document's spelling.
        let method_links: Vec<LinkBinding> = links
            .iter()
            .filter_map(|l| {
                let p = method.param_named(&l.param)?;
                (!literals.iter().any(|(n, _)| *n == p.name)).then(|| LinkBinding {
                    param: p.name.clone(),
                    ..l.clone()
                })
            })
            .collect();
        let missing: Vec<String> = method
            .required_params()
            .filter(|p| {
                !literals.iter().any(|(n, _)| *n == p.name)
                    && !method_links.iter().any(|l| l.param == p.name)
            })
            .map(|p| p.name.clone())
            .collect();
        if !missing.is_empty() {
            report.push((method.name.clone(), missing));
            continue;
        }
        let mut notices = Vec::new();
        for c in candidates {
            let used = answered.contains(&c.conjunct);
            let param_elsewhere = !item_columns.contains(&c.param.as_str())
                && resource
                    .methods_for(SqlVerb::Select)
                    .iter()
                    .any(|m| m.param(&c.param).is_some());
            // Unless the rows carry it anyway, made from its opposite field (`private`).
            let derived = resource.methods_for(SqlVerb::Select).iter().any(|m| {
                m.true_only(&c.param)
                    .is_some_and(|(_, opposite)| opposite.is_some())
            });
            if !used && param_elsewhere && !derived && method.param(&c.param).is_none() {
                notices.push(format!(
                    "{} is a parameter of another method, not of {} (chosen for the parameters given); the condition on it is left to SQL, where {} is null",
                    c.param, method.name, c.param
                ));
            }
        }
        return Ok(TablePlan {
            table: t.id,
            local_name: format!("t{}_{}", t.id, resource.name),
            base_url: String::new(),
            provider,
            method: method.clone(),
            literals,
            links: method_links,
            answered,
            sql_filters: Vec::new(),
            row_limit: None,
            split,
            projection: None,
            notices,
            resource,
        });
    }
    Err(EngineError::NoMatchingMethod {
        resource: resource.id.clone(),
        verb: "select".to_string(),
        candidates: report,
    })
}
