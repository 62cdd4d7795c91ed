//! Runs one table's plan against the API: one call per combination of parameter values, every page
//! of every call, concurrently under the client's bound, and the items cut into rows.
//!
//! Paging follows StackQL's `responseToken` (`$.links.pages.next`): the next-page URL replaces the
//! request URL. When the first page also names the last page, the remaining pages are requested at
//! once instead of one after another. Nothing is dropped silently: a page cap, a list that changed
//! while it was read, or a repeated `next` URL is reported.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::future::try_join_all;
use iql_http::{HttpError, Method as HttpVerb, Request, Secret};
use iql_provider::{HttpMethod, ParamLocation};
use serde_json::Value;
use url::Url;

use crate::cache::{CacheKey, CachedAnswer, Identity, ResponseCache, Source};
use crate::error::EngineError;
use crate::page;
use crate::params::url_text;
use crate::plan::TablePlan;
use crate::session::Session;

/// Characters left as they are in a path segment; everything else is percent-encoded.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Default)]
pub(crate) struct Fetched {
    pub rows: u64,
    pub notices: Vec<String>,
    pub requests: u64,
    /// Keys the API answered 404 for (`image_id = 5`): they give no rows, as in SQL.
    pub missing: Vec<String>,
    /// Pages answered by the response cache: requests saved.
    pub from_cache: u64,
}

/// Rows of one page, on their way to SQLite while other pages are still being fetched.
#[derive(Debug)]
pub(crate) struct Batch {
    pub table: usize,
    /// Row ids that keep the API's order whatever order pages arrive in: call, page, position.
    pub first_rowid: i64,
    pub rows: Vec<Vec<Value>>,
    /// From the call made without a split parameter (its rows are the column's meaning).
    pub field_branch: bool,
    /// Held until the batch is dropped by whoever takes it: pages fetched ahead of the reader are
    /// bounded by these permits, not by the length of the list.
    pub _ahead: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Bounded: when SQLite takes rows in more slowly than pages arrive, the fetchers wait, so memory
/// holds a few pages, not every page in flight.
pub(crate) type BatchSink = tokio::sync::mpsc::Sender<Batch>;

/// How far apart the row ids of consecutive pages of one call are.
pub(crate) fn page_rowid_step() -> i64 {
    1 << 20
}

/// Row id of the first row of a page: 23 bits of call, 20 of page, 20 of position in the page.
fn rowid(call: usize, page: u64) -> i64 {
    (((call as i64) & 0x7F_FFFF) << 40) | (((page as i64) & 0xF_FFFF) << 20)
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

/// The server's address with its `{variables}` (`ParamLocation::Server`) filled. A value must
/// be a host name's letters, digits, dots and dashes: it chooses where the credential goes.
fn server_address<'a>(
    base: &'a str,
    method: &iql_provider::Method,
    args: &[(String, Value)],
) -> Result<std::borrow::Cow<'a, str>, EngineError> {
    if !base.contains('{') {
        // Every request builds its URL here: a plain address (DigitalOcean's) is not copied.
        return Ok(std::borrow::Cow::Borrowed(base));
    }
    let mut out = base.to_string();
    for p in method
        .params
        .iter()
        .filter(|p| p.location == ParamLocation::Server)
    {
        let Some(value) = args
            .iter()
            .find(|(n, _)| *n == p.name)
            .map(|(_, v)| url_text(v))
        else {
            continue;
        };
        let fits = !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !fits {
            return Err(EngineError::Unsupported(format!(
                "{} = '{value}' cannot go into the server address {base}: it takes a part of a host name (letters, digits, '.' and '-')",
                p.name
            )));
        }
        out = out.replace(&format!("{{{}}}", p.name), &value);
    }
    if let Some(rest) = out.split_once('{').map(|(_, r)| r) {
        let variable = rest.split('}').next().unwrap_or(rest);
        return Err(EngineError::Unsupported(format!(
            "the server address {base} has a {{{variable}}} that nothing filled: give WHERE {variable} = '…' or the whole address with --endpoint"
        )));
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Builds the URL of a call: path parameters percent-encoded into the template, query parameters
/// appended, and the page size pushed down when the method takes one.
pub(crate) fn build_url(
    base: &str,
    method: &iql_provider::Method,
    args: &[(String, Value)],
    page_size: Option<u64>,
) -> Result<Url, EngineError> {
    let base = server_address(base, method, args)?;
    let base: &str = &base;
    let mut path = method.path.clone();
    for p in method
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
    // Values are percent-encoded, so a brace left is a variable no parameter filled: such a
    // request is never sent.
    if let Some(rest) = path.split_once('{').map(|(_, r)| r) {
        let variable = rest.split('}').next().unwrap_or(rest);
        return Err(EngineError::Unsupported(format!(
            "{} {}: the path's {{{variable}}} is no parameter of {}, so iql cannot fill it",
            method.http_method.as_str(),
            method.path,
            method.name
        )));
    }
    let mut url = Url::parse(&format!("{}{}", base.trim_end_matches('/'), path)).map_err(|e| {
        EngineError::MalformedResponse {
            method: method.http_method.as_str().to_string(),
            url: format!("{base}{path}"),
            detail: format!("not a valid URL: {e}"),
        }
    })?;
    {
        let mut q = url.query_pairs_mut();
        for p in method
            .params
            .iter()
            .filter(|p| p.location == ParamLocation::Query)
        {
            // A null value is a call without the parameter (see `plan::Split`).
            if let Some((_, v)) = args.iter().find(|(n, v)| *n == p.name && !v.is_null()) {
                match v {
                    // A list is the parameter once per item (OpenAPI's form style, exploded).
                    Value::Array(items) => {
                        for item in items {
                            q.append_pair(&p.name, &url_text(item));
                        }
                    }
                    v => {
                        q.append_pair(&p.name, &url_text(v));
                    }
                }
            } else if let (Some(size), Some((top, _))) = (page_size, &method.top_param) {
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

/// The header parameters among a call's arguments, as text.
pub(crate) fn header_args(
    method: &iql_provider::Method,
    args: &[(String, Value)],
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = method
        .params
        .iter()
        .filter(|p| p.location == ParamLocation::Header)
        .filter_map(|p| {
            args.iter()
                .find(|(n, v)| *n == p.name && !v.is_null())
                .map(|(_, v)| (p.name.clone(), url_text(v)))
        })
        .collect();
    // What the method answers with, when it is not JSON: a server asked for JSON alone would
    // answer 406.
    if method.answers_text() {
        if let Some(media) = &method.response_media_type {
            headers.push(("Accept".to_string(), media.clone()));
        }
    }
    headers
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

/// How a fetch uses the response cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reuse {
    /// Use kept answers, keep new ones.
    Kept,
    /// Fetch everything anew (a refresh, the rows a change acts on), and keep it for others.
    Fresh,
    /// Neither use nor keep: a streamed result, which keeping would hold whole in memory.
    Bypass,
}

/// Fetches every call of a table, sending pages to `sink` as they come.
pub(crate) async fn fetch_table(
    runtime: &Session,
    plan: &TablePlan,
    bound: Vec<(String, Vec<Value>)>,
    token: Option<Secret>,
    sink: BatchSink,
    fresh: Reuse,
) -> Result<Fetched, EngineError> {
    let mut calls: Vec<(&TablePlan, Vec<(String, Value)>)> = combinations(&bound)
        .into_iter()
        .map(|args| (plan, args))
        .collect();
    // A split whose call without the parameter is another method's (`image_id = 5 OR slug = …`).
    let field_plan = plan.split.as_ref().and_then(|split| {
        let call = split.field_call.as_ref()?;
        Some((
            TablePlan {
                method: call.method.clone(),
                base_url: call.base_url.clone(),
                ..plan.clone()
            },
            &call.literals,
            &split.param,
        ))
    });
    if let Some((field_plan, literals, param)) = &field_plan {
        for mut args in combinations(literals) {
            // The null parameter marks the call's rows as the field branch's.
            args.push(((*param).clone(), Value::Null));
            calls.push((field_plan, args));
        }
    }
    let only_call = calls.len() == 1;
    let results = try_join_all(calls.into_iter().enumerate().map(|(i, (plan, args))| {
        let token = token.clone();
        let sink = sink.clone();
        async move { fetch_call(runtime, plan, i, args, token, sink, only_call, fresh).await }
    }))
    .await?;
    let mut out = Fetched::default();
    for r in results {
        out.rows += r.rows;
        out.notices.extend(r.notices);
        out.requests += r.requests;
        out.from_cache += r.from_cache;
        out.missing.extend(r.missing);
    }
    if !out.missing.is_empty() {
        const SHOWN: usize = 10;
        let mut keys = out.missing[..out.missing.len().min(SHOWN)].join(", ");
        if out.missing.len() > SHOWN {
            keys.push_str(&format!(" and {} more", out.missing.len() - SHOWN));
        }
        out.notices.push(format!(
            "{} has nothing for {keys} (HTTP 404 not found): no rows for {}",
            plan.resource.id,
            if out.missing.len() == 1 { "it" } else { "them" }
        ));
    }
    Ok(out)
}

/// A 404 for a request whose path names a key the user gave (`/v2/images/5`): the object is not
/// there, which in SQL is no row, not a failed statement. Steampipe and SQL itself agree; a 404 for
/// a path without keys (a wrong endpoint) stays an error.
fn missing_key(plan: &TablePlan, args: &[(String, Value)], e: &EngineError) -> Option<String> {
    let EngineError::Http(HttpError::Status { status: 404, .. }) = e else {
        return None;
    };
    let keys: Vec<String> = plan
        .method
        .params
        .iter()
        .filter(|p| p.location == ParamLocation::Path)
        .filter_map(|p| {
            args.iter()
                .find(|(n, _)| *n == p.name)
                .map(|(n, v)| match v {
                    Value::String(s) => format!("{n} = '{s}'"),
                    other => format!("{n} = {other}"),
                })
        })
        .collect();
    (!keys.is_empty()).then(|| keys.join(" and "))
}

#[allow(clippy::too_many_arguments)]
async fn fetch_call(
    runtime: &Session,
    plan: &TablePlan,
    call: usize,
    args: Vec<(String, Value)>,
    token: Option<Secret>,
    sink: BatchSink,
    only_call: bool,
    fresh: Reuse,
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
    let first_url = build_url(&plan.base_url, &plan.method, &args, page_size)?;
    let mut spec = PageSpec {
        method: plan.method.http_method,
        object_key: plan.method.object_key.clone(),
        next_key: plan
            .method
            .pagination
            .as_ref()
            .filter(|p| p.response_location == "body" && !user_page)
            .map(|p| p.response_key.clone()),
        index: plan
            .columns()
            .iter()
            .enumerate()
            .map(|(i, c)| (c.property().to_string(), i))
            .collect(),
        width: plan.columns().len(),
        // Items that are whole values go to their column, or nowhere when the statement does not
        // use it (`count(*)`), but are never read as objects.
        whole: plan.method.value_rows.then(|| {
            plan.method
                .columns
                .first()
                .and_then(|c| plan.columns().iter().position(|pc| pc.name == c.name))
                .unwrap_or(usize::MAX)
        }),
        headers: header_args(&plan.method, &args),
        text: plan.method.answers_text(),
        derived: Vec::new(),
        keep: pagination_keys(plan),
        args,
        origin: first_url.clone(),
        token,
        signature: 0,
    };
    // From every select method of the resource: a GET of one image has no `private`
    // parameter, but its row's `private` is as much `NOT public` as a listed one's.
    spec.derived = plan
        .resource
        .methods_for(iql_provider::SqlVerb::Select)
        .iter()
        .flat_map(|m| m.true_only.iter())
        .filter_map(|(param, opposite)| {
            Some((
                *spec.index.get(param.as_str())?,
                *spec.index.get(opposite.as_deref()?)?,
            ))
        })
        .collect();
    spec.signature = spec.reading_signature();
    let spec = Arc::new(spec);
    let cache = match fresh {
        Reuse::Bypass => None,
        Reuse::Fresh => runtime.cache_use(spec.token.as_ref(), true),
        Reuse::Kept => runtime.cache_use(spec.token.as_ref(), false),
    };
    let from_cache = std::sync::atomic::AtomicU64::new(0);
    let get = |url: String, own_task: bool| {
        let spec = spec.clone();
        let cache = cache.clone();
        let from_cache = &from_cache;
        async move {
            let page = fetch_page(runtime.http().clone(), cache, spec, url, own_task).await?;
            runtime.count_rows(page.rows.len());
            if page.cached {
                from_cache.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok::<Page, EngineError>(page)
        }
    };
    let mut out = Fetched::default();
    let mut first = match get(first_url.to_string(), !only_call).await {
        Ok(page) => page,
        Err(e) => match missing_key(plan, &spec.args, &e) {
            Some(key) => {
                out.missing.push(key);
                out.requests = 1;
                return Ok(out);
            }
            None => return Err(e),
        },
    };
    let field_branch = plan.split.as_ref().is_some_and(|split| {
        spec.args
            .iter()
            .any(|(n, v)| *n == split.param && v.is_null())
    });
    let send =
        |page: u64, rows: Vec<Vec<Value>>, ahead: Option<tokio::sync::OwnedSemaphorePermit>| {
            let sink = &sink;
            async move {
                // The receiver lives until every fetch of the statement has ended.
                let _ = sink
                    .send(Batch {
                        table: plan.table,
                        first_rowid: rowid(call, page),
                        rows,
                        field_branch,
                        _ahead: ahead,
                    })
                    .await;
            }
        };
    // Pages requested but not yet taken by the reader: twice the requests in flight. Permits are
    // granted in page order, so the page a reader waits for is never starved by later ones.
    let ahead = Arc::new(tokio::sync::Semaphore::new(
        2 * runtime.engine().config().http.concurrency.max(1),
    ));
    let mut rows = first.rows.len();
    let mut pages_read = 1u64;
    send(0, std::mem::take(&mut first.rows), None).await;
    let enough = |n: usize| plan.row_limit.is_some_and(|l| n as u64 >= l);
    let cap = runtime.max_pages();
    let known_range = match (&first.next, &first.last) {
        (Some(n), Some(l)) if plan.row_limit.is_none() => page_number(n).zip(page_number(l)),
        _ => None,
    };
    if let (Some(next), Some((from, to))) = (&first.next, known_range) {
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
        try_join_all(urls.into_iter().enumerate().map(|(i, url)| {
            let get = &get;
            let send = &send;
            let ahead = ahead.clone();
            async move {
                let permit = ahead.acquire_owned().await.ok();
                let page = get(url, true).await?;
                let n = page.rows.len();
                send(i as u64 + 1, page.rows, permit).await;
                Ok::<usize, EngineError>(n)
            }
        }))
        .await?
        .into_iter()
        .for_each(|n| {
            pages_read += 1;
            rows += n;
        });
    } else {
        let mut seen: HashSet<String> = HashSet::from([first.url]);
        let mut next = first.next;
        let mut pages = 1u64;
        while let Some(n) = next.take() {
            if enough(rows) {
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
            let page = get(n, !only_call).await?;
            pages_read += 1;
            next = page.next;
            rows += page.rows.len();
            send(pages, page.rows, None).await;
            pages += 1;
        }
    }
    if spec.next_key.is_some() && plan.row_limit.is_none() && out.notices.is_empty() {
        if let Some(total) = first.total.filter(|t| *t != rows as u64) {
            out.notices.push(format!(
                "{} reported {total} rows but {rows} were read: the list changed while it was read",
                plan.resource.id,
            ));
        }
    }
    out.rows = rows as u64;
    out.from_cache = from_cache.load(std::sync::atomic::Ordering::Relaxed);
    out.requests = pages_read - out.from_cache;
    Ok(out)
}

/// What a page task needs to turn a response into rows on its own.
struct PageSpec {
    method: HttpMethod,
    object_key: Option<String>,
    next_key: Option<String>,
    /// Column name → position in the row.
    index: HashMap<String, usize>,
    width: usize,
    /// Items are whole values, each into this column (`Method::value_rows`).
    whole: Option<usize>,
    /// The answer is not JSON: it is one row, its text in the `whole` column.
    text: bool,
    /// The call's parameters, written back into rows that lack them.
    args: Vec<(String, Value)>,
    /// (parameter column, opposite field column): a parameter honoured only when true, whose
    /// value in a row the call did not filter on is the opposite of that field (`private` is
    /// `NOT public`).
    derived: Vec<(usize, usize)>,
    /// Top-level keys of a page that pagination reads (`links` of `$.links.pages.next`, `meta`).
    keep: Vec<String>,
    headers: Vec<(String, String)>,
    origin: Url,
    token: Option<Secret>,
    /// A hash of how pages are read into rows (everything above but the request): a kept answer
    /// read with the same signature gives the same rows.
    signature: u64,
}

impl PageSpec {
    fn reading_signature(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.method.as_str().hash(&mut h);
        self.object_key.hash(&mut h);
        self.next_key.hash(&mut h);
        let mut index: Vec<(&String, &usize)> = self.index.iter().collect();
        index.sort();
        index.hash(&mut h);
        self.width.hash(&mut h);
        self.whole.hash(&mut h);
        self.text.hash(&mut h);
        for (name, value) in &self.args {
            name.hash(&mut h);
            value.to_string().hash(&mut h);
        }
        self.keep.hash(&mut h);
        self.derived.hash(&mut h);
        h.finish()
    }
}

impl Page {
    fn copy(&self) -> Page {
        Page {
            cached: self.cached,
            url: self.url.clone(),
            next: self.next.clone(),
            last: self.last.clone(),
            total: self.total,
            rows: self.rows.clone(),
        }
    }
}

/// One page, already cut into rows.
struct Page {
    /// Answered by the response cache.
    cached: bool,
    url: String,
    next: Option<String>,
    last: Option<String>,
    total: Option<u64>,
    rows: Vec<Vec<Value>>,
}

/// Fetches one page, through the response cache when the statement may use it. With `own_task`,
/// in a task of its own, so that pages arriving together are parsed and cut into rows on every
/// core; a table's only request is made in place instead, since handing it to another thread
/// costs more than it saves.
async fn fetch_page(
    client: iql_http::HttpClient,
    cache: Option<CacheUse>,
    spec: Arc<PageSpec>,
    url: String,
    own_task: bool,
) -> Result<Page, EngineError> {
    // A kept answer already read this way is copied here, without a task or a parse.
    if let (Some(c), HttpMethod::Get, Ok(parsed)) = (&cache, spec.method, Url::parse(&url)) {
        let key = CacheKey {
            identity: c.identity,
            url: same_origin(parsed, &spec.origin).to_string(),
            headers: spec.headers.clone(),
        };
        if let Some(memo) = c
            .cache
            .get(&key, c.ttl)
            .and_then(|answer| answer.memo::<Page>(spec.signature))
        {
            return Ok(memo.copy());
        }
    }
    let work = async move {
        let url = Url::parse(&url).map_err(|e| EngineError::MalformedResponse {
            method: spec.method.as_str().to_string(),
            url: url.clone(),
            detail: format!("next-page link is not a URL: {e}"),
        })?;
        let req = Request {
            method: http_verb(spec.method),
            url: same_origin(url, &spec.origin),
            body: None,
            bearer: spec.token.clone(),
            headers: spec.headers.clone(),
            idempotent: true,
        };
        let send = || async {
            let raw = client.send_raw(&req).await?;
            Ok::<CachedAnswer, EngineError>(CachedAnswer::new(raw.status, raw.body))
        };
        let (answer, cached) = match (&cache, spec.method) {
            (Some(c), HttpMethod::Get) => {
                let key = CacheKey {
                    identity: c.identity,
                    url: req.url.to_string(),
                    headers: req.headers.clone(),
                };
                let (answer, source) = c.cache.get_or_fetch(key, c.ttl, send).await?;
                (answer, matches!(source, Source::Cache))
            }
            _ => (Arc::new(send().await?), false),
        };
        if !cached {
            return read_page(&spec, req.url.to_string(), &answer);
        }
        // A kept answer read the same way before: its rows, copied, instead of a parse.
        if let Some(memo) = answer.memo::<Page>(spec.signature) {
            return Ok(memo.copy());
        }
        let page = Page {
            cached: true,
            ..read_page(&spec, req.url.to_string(), &answer)?
        };
        answer.set_memo(spec.signature, Arc::new(page.copy()));
        Ok(page)
    };
    if !own_task {
        return work.await;
    }
    AbortOnDrop(tokio::spawn(work))
        .await
        .map_err(|e| EngineError::Unsupported(format!("request task failed: {e}")))?
}

/// How a statement uses the response cache: whose answers (`identity`), and how old they may be
/// (`ttl`; zero: fetch anew, but keep what is fetched).
#[derive(Clone)]
pub(crate) struct CacheUse {
    pub cache: Arc<ResponseCache>,
    pub identity: Identity,
    pub ttl: std::time::Duration,
}

/// A spawned task that is aborted when its handle is dropped: cancelling a statement (dropping its
/// future) then drops the requests still in flight.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The top-level keys of a page that hold its pagination: the first segment of the next-link key,
/// and `meta` for the total.
fn pagination_keys(plan: &TablePlan) -> Vec<String> {
    let mut keys = vec!["meta".to_string()];
    if let Some(p) = &plan.method.pagination {
        let first = p.response_key.trim_start_matches("$.").split('.').next();
        if let Some(k) = first.filter(|k| !k.is_empty() && *k != "meta") {
            keys.push(k.to_string());
        }
    }
    keys
}

/// A page's rows, next and last links and total. An object key one level deep (`$.images`) is read
/// straight into rows (`page.rs`); a deeper one through a `Value` tree cut at the key.
fn read_page(spec: &PageSpec, url: String, raw: &CachedAnswer) -> Result<Page, EngineError> {
    let verb = http_verb(spec.method);
    if raw.body.iter().all(u8::is_ascii_whitespace) {
        // A 204 says "nothing"; a 200 with no body at all is a broken answer, not an empty list
        // (reading it as no rows would be a silent wrong result).
        if raw.status == 204 {
            return Ok(Page {
                cached: false,
                url,
                next: None,
                last: None,
                total: None,
                rows: Vec::new(),
            });
        }
        return Err(EngineError::MalformedResponse {
            method: spec.method.as_str().to_string(),
            url,
            detail: format!(
                "HTTP {} with an empty body; expected {}",
                raw.status,
                spec.object_key
                    .as_deref()
                    .map(|k| format!("an object with {k}"))
                    .unwrap_or_else(|| "JSON".to_string())
            ),
        });
    }
    if spec.text {
        // An answer that is not JSON is one row: the text, whole.
        let mut row = vec![Value::Null; spec.width];
        if let Some(cell) = spec.whole.and_then(|i| row.get_mut(i)) {
            *cell = Value::String(String::from_utf8_lossy(&raw.body).into_owned());
        }
        write_back(spec, &mut row);
        return Ok(Page {
            cached: false,
            url,
            next: None,
            last: None,
            total: None,
            rows: vec![row],
        });
    }
    let (mut rows, links) = match spec.object_key.as_deref().and_then(page::top_level_key) {
        Some(key) => {
            let keep: Vec<&str> = spec.keep.iter().map(String::as_str).collect();
            let layout = page::RowLayout {
                key,
                index: &spec.index,
                width: spec.width,
                keep: &keep,
                whole: spec.whole,
            };
            match page::parse(&layout, &raw.body) {
                Ok(parsed) => (parsed.rows, parsed.kept),
                Err(page::PageError::Syntax(e)) => {
                    return Err(HttpError::malformed(verb, &url, &e).into())
                }
                Err(page::PageError::Shape(detail)) => {
                    return Err(EngineError::MalformedResponse {
                        method: spec.method.as_str().to_string(),
                        url,
                        detail,
                    })
                }
            }
        }
        None => {
            let body: Value = serde_json::from_slice(&raw.body)
                .map_err(|e| HttpError::malformed(verb, &url, &e))?;
            let links = spec
                .keep
                .iter()
                .filter_map(|k| body.get(k).map(|v| (k.clone(), v.clone())))
                .collect();
            if body.is_null() {
                return Err(EngineError::MalformedResponse {
                    method: spec.method.as_str().to_string(),
                    url,
                    detail: format!(
                        "the body is null; expected {}",
                        spec.object_key
                            .as_deref()
                            .map(|k| format!("an object with {k}"))
                            .unwrap_or_else(|| "an object or a list".to_string())
                    ),
                });
            }
            let items = cut_at_object_key(
                spec.object_key.as_deref(),
                spec.method,
                &url,
                body,
                spec.whole.is_some(),
            )?;
            let rows = items.into_iter().map(|item| to_row(spec, item)).collect();
            (rows, Value::Object(links))
        }
    };
    for row in &mut rows {
        write_back(spec, row);
    }
    let link = |key: &str| {
        at_path(&links, key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let next = spec.next_key.as_deref().and_then(link);
    if let (Some(next), Some(key)) = (&next, spec.next_key.as_deref()) {
        // Checked here, so the error names the page that gave the link.
        if let Err(e) = Url::parse(next) {
            return Err(EngineError::MalformedResponse {
                method: spec.method.as_str().to_string(),
                url,
                detail: format!("its next-page link ({key}) is {next:?}, which is not a URL: {e}"),
            });
        }
    }
    let last = spec
        .next_key
        .as_deref()
        .and_then(|k| k.strip_suffix(".next"))
        .and_then(|prefix| link(&format!("{prefix}.last")));
    let total = at_path(&links, "$.meta.total").and_then(Value::as_u64);
    Ok(Page {
        cached: false,
        url,
        next,
        last,
        total,
        rows,
    })
}

/// A response body cut at an `objectKey` such as `$.images`: a list gives its items (which must be
/// objects), an object gives itself, an empty body or `null` gives nothing. A body without the key
/// is malformed.
pub(crate) fn cut_at_object_key(
    object_key: Option<&str>,
    method: HttpMethod,
    url: &str,
    mut body: Value,
    value_rows: bool,
) -> Result<Vec<Value>, EngineError> {
    let malformed = |detail: String| EngineError::MalformedResponse {
        method: method.as_str().to_string(),
        url: url.to_string(),
        detail,
    };
    if body.is_null() {
        return Ok(Vec::new());
    }
    let found = match object_key {
        Some(key) => {
            let pointer: String = key
                .trim_start_matches('$')
                .split('.')
                .filter(|s| !s.is_empty())
                .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
                .collect();
            match body.pointer_mut(&pointer) {
                Some(v) => v.take(),
                None => return Err(malformed(format!("the response has no {key}"))),
            }
        }
        None => body,
    };
    match found {
        Value::Array(items) if value_rows => Ok(items),
        other if value_rows && !other.is_null() => Ok(vec![other]),
        Value::Array(items) => {
            if let Some(bad) = items.iter().find(|i| !i.is_object()) {
                return Err(malformed(format!(
                    "expected objects in the list, found {bad}"
                )));
            }
            Ok(items)
        }
        obj @ Value::Object(_) => Ok(vec![obj]),
        Value::Null => Ok(Vec::new()),
        other => Err(malformed(format!(
            "expected an object or a list, found {other}"
        ))),
    }
}

/// One row in column order; a column the item lacks takes the value of the parameter of the same
/// name, when the request had one (so `WHERE image_id = …` still holds for the row).
fn to_row(spec: &PageSpec, item: Value) -> Vec<Value> {
    let mut row = vec![Value::Null; spec.width];
    if let Some(column) = spec.whole {
        if let Some(cell) = row.get_mut(column) {
            *cell = item;
        }
        return row;
    }
    if let Value::Object(map) = item {
        for (k, v) in map {
            if let Some(i) = spec.index.get(k.as_str()) {
                row[*i] = v;
            }
        }
    }
    row
}

/// The call's parameters into the row's columns of the same name that the item left empty.
fn write_back(spec: &PageSpec, row: &mut [Value]) {
    for (name, value) in &spec.args {
        if let Some(i) = spec.index.get(name.as_str()) {
            if row[*i].is_null() {
                row[*i] = value.clone();
            }
        }
    }
    for (param, opposite) in &spec.derived {
        if row[*param].is_null() {
            if let Some(b) = row[*opposite].as_bool() {
                row[*param] = Value::Bool(!b);
            }
        }
    }
}
