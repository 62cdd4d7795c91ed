//! Runs one table's plan against the API: one call per combination of parameter values, every page
//! of every call, concurrently under the client's bound, and the items cut into rows.
//!
//! Paging follows StackQL's `responseToken` (`$.links.pages.next`): the next-page URL replaces the
//! request URL. When the first page also names the last page, the remaining pages are requested at
//! once instead of one after another. Nothing is dropped silently: a page cap, a list that changed
//! while it was read, or a repeated `next` URL is reported.

use std::collections::HashSet;

use futures::future::try_join_all;
use iql_http::{Method as HttpVerb, Request, Response, Secret};
use iql_provider::{HttpMethod, ParamLocation};
use serde_json::Value;
use url::Url;

use crate::error::EngineError;
use crate::params::url_text;
use crate::plan::TablePlan;
use crate::Runtime;

/// Characters left as they are in a path segment; everything else is percent-encoded.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Default)]
pub(crate) struct Fetched {
    /// Rows aligned with the plan's columns.
    pub rows: Vec<Vec<Value>>,
    pub notices: Vec<String>,
    pub requests: u64,
}

pub(crate) fn http_verb(m: HttpMethod) -> HttpVerb {
    match m {
        HttpMethod::Get => HttpVerb::Get,
        HttpMethod::Post => HttpVerb::Post,
        HttpMethod::Put => HttpVerb::Put,
        HttpMethod::Patch => HttpVerb::Patch,
        HttpMethod::Delete => HttpVerb::Delete,
    }
}

/// Every combination of the bound values: `IN` lists and join values multiply.
pub(crate) fn combinations(bound: &[(String, Vec<Value>)]) -> Vec<Vec<(String, Value)>> {
    let mut out: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for (param, values) in bound {
        let mut next = Vec::with_capacity(out.len() * values.len());
        for prefix in &out {
            for v in values {
                let mut row = prefix.clone();
                row.push((param.clone(), v.clone()));
                next.push(row);
            }
        }
        out = next;
    }
    out
}

/// Builds the URL of a call: path parameters percent-encoded into the template, query parameters
/// appended, and the page size pushed down when the method takes one.
pub(crate) fn build_url(
    base: &str,
    plan: &TablePlan,
    args: &[(String, Value)],
    page_size: Option<u64>,
) -> Result<Url, EngineError> {
    let mut path = plan.method.path.clone();
    for p in plan
        .method
        .params
        .iter()
        .filter(|p| p.location == ParamLocation::Path)
    {
        let value = args
            .iter()
            .find(|(n, _)| *n == p.name)
            .map(|(_, v)| url_text(v))
            .unwrap_or_default();
        let encoded = percent_encoding::utf8_percent_encode(&value, PATH_SEGMENT).to_string();
        path = path.replace(&format!("{{{}}}", p.name), &encoded);
    }
    let mut url = Url::parse(&format!("{}{}", base.trim_end_matches('/'), path)).map_err(|e| {
        EngineError::MalformedResponse {
            method: plan.method.http_method.as_str().to_string(),
            url: format!("{base}{path}"),
            detail: format!("not a valid URL: {e}"),
        }
    })?;
    {
        let mut q = url.query_pairs_mut();
        for p in plan
            .method
            .params
            .iter()
            .filter(|p| p.location == ParamLocation::Query)
        {
            if let Some((_, v)) = args.iter().find(|(n, _)| *n == p.name) {
                q.append_pair(&p.name, &url_text(v));
            } else if let (Some(size), Some((top, _))) = (page_size, &plan.method.top_param) {
                if *top == p.name {
                    q.append_pair(&p.name, &size.to_string());
                }
            }
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    Ok(url)
}

/// A next-page link keeps its path and query but is sent to the origin iql was told to use: the
/// bearer token never goes to a host the user did not configure (a proxy, a mock or a stale link
/// may name another one).
fn same_origin(mut link: Url, configured: &Url) -> Url {
    if link.origin() != configured.origin() {
        let _ = link.set_scheme(configured.scheme());
        let _ = link.set_host(configured.host_str());
        let _ = link.set_port(configured.port());
    }
    link
}

/// The value at a `$.a.b` path.
fn at_path<'a>(body: &'a Value, path: &str) -> Option<&'a Value> {
    path.trim_start_matches('$')
        .split('.')
        .filter(|s| !s.is_empty())
        .try_fold(body, |v, key| v.get(key))
}

fn page_number(url: &str) -> Option<u64> {
    Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
}

fn with_page(url: &str, page: u64) -> Option<String> {
    let mut parsed = Url::parse(url).ok()?;
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let value = if k == "page" {
                page.to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), value)
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    Some(parsed.to_string())
}

pub(crate) async fn fetch_table(
    runtime: &Runtime,
    plan: &TablePlan,
    bound: Vec<(String, Vec<Value>)>,
    token: Option<Secret>,
) -> Result<Fetched, EngineError> {
    let calls = combinations(&bound);
    let results = try_join_all(calls.into_iter().map(|args| {
        let token = token.clone();
        async move { fetch_call(runtime, plan, args, token).await }
    }))
    .await?;
    let mut out = Fetched::default();
    for r in results {
        out.rows.extend(r.rows);
        out.notices.extend(r.notices);
        out.requests += r.requests;
    }
    Ok(out)
}

async fn fetch_call(
    runtime: &Runtime,
    plan: &TablePlan,
    args: Vec<(String, Value)>,
    token: Option<Secret>,
) -> Result<Fetched, EngineError> {
    let user_page = args.iter().any(|(n, _)| n == "page");
    let user_size = plan
        .method
        .top_param
        .as_ref()
        .and_then(|(p, _)| args.iter().find(|(n, _)| n == p))
        .and_then(|(_, v)| v.as_u64());
    let page_size = plan.method.top_param.as_ref().map(|(_, max)| {
        let max = (*max).max(1);
        user_size.unwrap_or_else(|| plan.row_limit.map(|l| l.clamp(1, max)).unwrap_or(max))
    });
    let first_url = build_url(&plan.base_url, plan, &args, page_size)?;
    let origin = &first_url;
    let get = |url: String| {
        let token = token.clone();
        async move {
            let url = Url::parse(&url).map_err(|e| EngineError::MalformedResponse {
                method: plan.method.http_method.as_str().to_string(),
                url: url.clone(),
                detail: format!("next-page link is not a URL: {e}"),
            })?;
            let url = same_origin(url, origin);
            let req = Request {
                method: http_verb(plan.method.http_method),
                url,
                body: None,
                bearer: token,
                idempotent: true,
            };
            let resp = runtime.http().send(&req).await?;
            Ok::<(String, Response), EngineError>((req.url.to_string(), resp))
        }
    };
    let mut out = Fetched::default();
    let (url, first) = get(first_url.to_string()).await?;
    out.requests += 1;
    let mut items = extract(plan, &url, &first)?;
    let next_key = plan
        .method
        .pagination
        .as_ref()
        .filter(|p| p.response_location == "body" && !user_page)
        .map(|p| p.response_key.clone());
    let enough = |n: usize| plan.row_limit.is_some_and(|l| n as u64 >= l);
    if let Some(next_key) = next_key {
        let next = at_path(&first.body, &next_key)
            .and_then(Value::as_str)
            .map(str::to_string);
        let last = next_key
            .strip_suffix(".next")
            .map(|prefix| format!("{prefix}.last"))
            .and_then(|k| {
                at_path(&first.body, &k)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        let cap = runtime.max_pages();
        let known_range = match (&next, &last) {
            (Some(n), Some(l)) if plan.row_limit.is_none() => page_number(n).zip(page_number(l)),
            _ => None,
        };
        if let (Some(next), Some((from, to))) = (&next, known_range) {
            // The first page told us how many there are: ask for the rest at once.
            let to_fetch = match cap {
                Some(c) if to > c => {
                    out.notices.push(format!(
                        "stopped after {c} of {to} pages of {} (page cap); the result is incomplete: raise --max-pages",
                        plan.resource.id
                    ));
                    c
                }
                _ => to,
            };
            let urls: Vec<String> = (from..=to_fetch)
                .filter_map(|p| with_page(next, p))
                .collect();
            let pages = try_join_all(urls.into_iter().map(&get)).await?;
            for (url, resp) in pages {
                out.requests += 1;
                items.extend(extract(plan, &url, &resp)?);
            }
        } else {
            let mut seen: HashSet<String> = HashSet::from([url.clone()]);
            let mut next = next;
            let mut pages = 1u64;
            while let Some(n) = next.take() {
                if enough(items.len()) {
                    break;
                }
                if cap.is_some_and(|c| pages >= c) {
                    out.notices.push(format!(
                        "stopped after {pages} pages of {} (page cap); the result is incomplete: raise --max-pages",
                        plan.resource.id
                    ));
                    break;
                }
                if !seen.insert(n.clone()) {
                    return Err(EngineError::PaginationLoop { url: n });
                }
                let (url, resp) = get(n).await?;
                out.requests += 1;
                pages += 1;
                items.extend(extract(plan, &url, &resp)?);
                next = at_path(&resp.body, &next_key)
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
        }
        if !user_page && plan.row_limit.is_none() && out.notices.is_empty() {
            if let Some(total) = at_path(&first.body, "$.meta.total").and_then(Value::as_u64) {
                if total != items.len() as u64 {
                    out.notices.push(format!(
                        "{} reported {total} rows but {} were read: the list changed while it was read",
                        plan.resource.id,
                        items.len()
                    ));
                }
            }
        }
    }
    out.rows = items.iter().map(|item| to_row(plan, item, &args)).collect();
    Ok(out)
}

/// The items of a response, cut at the method's `objectKey`.
fn extract(plan: &TablePlan, url: &str, resp: &Response) -> Result<Vec<Value>, EngineError> {
    let malformed = |detail: String| EngineError::MalformedResponse {
        method: plan.method.http_method.as_str().to_string(),
        url: url.to_string(),
        detail,
    };
    let found = match &plan.method.object_key {
        Some(key) => match at_path(&resp.body, key) {
            Some(v) => v,
            None if resp.body.is_null() => return Ok(Vec::new()),
            None => return Err(malformed(format!("the response has no {key}"))),
        },
        None => &resp.body,
    };
    match found {
        Value::Array(items) => {
            if let Some(bad) = items.iter().find(|i| !i.is_object()) {
                return Err(malformed(format!(
                    "expected objects in the list, found {bad}"
                )));
            }
            Ok(items.clone())
        }
        Value::Object(_) => Ok(vec![found.clone()]),
        Value::Null => Ok(Vec::new()),
        other => Err(malformed(format!(
            "expected an object or a list, found {other}"
        ))),
    }
}

fn to_row(plan: &TablePlan, item: &Value, args: &[(String, Value)]) -> Vec<Value> {
    plan.columns
        .iter()
        .map(|c| match item.get(&c.name) {
            Some(v) if !v.is_null() => v.clone(),
            _ => args
                .iter()
                .find(|(n, _)| *n == c.name)
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null),
        })
        .collect()
}
