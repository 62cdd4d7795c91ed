//! The mock's routes: every method of the bundled DigitalOcean documents, as an HTTP verb and a
//! path template, with what answering and checking it needs (the response's key and columns,
//! the request body's fields).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use iql_provider::{BodyField, BodyVariants, Column, Method, ParamLocation, Provider, Registry};

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    Literal(String),
    /// `{droplet_id}`: its name, without braces.
    Variable(String),
}

/// A bundled method as the mock answers it.
#[derive(Debug, Clone)]
pub(super) struct Route {
    pub verb: &'static str,
    pub segments: Vec<Segment>,
    /// `objectKey` without `$.` (`droplets`, `droplet`, `action`); `None`: the whole body.
    pub key: Option<String>,
    pub returns_list: bool,
    pub columns: Vec<Column>,
    /// `digitalocean.compute.droplets`, for messages.
    pub resource: String,
    /// The request body's top-level fields, with `required` from the schema.
    pub body_fields: Vec<BodyField>,
    pub body_required: bool,
    pub body_variants: Option<BodyVariants>,
    /// The part of its body the method fixes (`request.base`: `{"type": "reboot"}`): one of
    /// several that share a path, each a variant of the one that takes any body.
    pub base: Option<serde_json::Value>,
    /// The query parameters the method declares, paging aside (`tag_name`, `region`): the
    /// filters a list answers.
    pub filters: Vec<String>,
    /// The success status the spec declares (201 for a droplet, 202 for a volume action).
    pub status: Option<u16>,
}

impl Route {
    fn literals(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
    }

    fn matches(&self, verb: &str, path: &[&str]) -> bool {
        self.verb == verb
            && self.segments.len() == path.len()
            && self.segments.iter().zip(path).all(|(s, p)| match s {
                Segment::Literal(l) => l == p,
                Segment::Variable(_) => true,
            })
    }

    pub fn ends_in_variable(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::Variable(_)))
    }

    /// The positions of the path's variables before its last segment: the parents a request
    /// names (`/v2/droplets/{droplet_id}/actions` names a droplet at 2).
    pub fn parent_variables(&self) -> impl Iterator<Item = usize> + '_ {
        let last = self.segments.len().saturating_sub(1);
        self.segments
            .iter()
            .enumerate()
            .filter(move |(i, s)| *i < last && matches!(s, Segment::Variable(_)))
            .map(|(i, _)| i)
    }
}

fn key_of(m: &Method) -> Option<String> {
    m.object_key
        .as_deref()
        .map(|k| k.trim_start_matches("$.").to_string())
        .filter(|k| !k.is_empty() && !k.contains('.'))
}

/// The routes read so far. A request loads only the resources whose select paths are its path
/// or an item of it (the bundled services' indexes say so without parsing them), so the first
/// `/v2/droplets` of a process parses the droplets' document, not all 19 services'; a path no
/// loaded route matches loads every resource once, for the routes of resources with no select
/// method. Routes live as long as the process (each is leaked once, a few hundred in all).
#[derive(Default)]
struct Table {
    routes: Vec<&'static Route>,
    /// `service.resource` already read.
    loaded: HashSet<String>,
    all: bool,
}

fn table() -> &'static Mutex<Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(Table::default()))
}

fn provider() -> Option<Arc<Provider>> {
    static PROVIDER: OnceLock<Option<Arc<Provider>>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Registry::bundled().provider("digitalocean").ok())
        .clone()
}

/// Whether a resource whose select method reads `template` may answer `path`: the template is
/// the path or one item below it (`/v2/droplets/{droplet_id}` for `/v2/droplets`), each segment
/// the same or a variable. A droplet's actions (`/v2/droplets/{id}/actions`) are not read for
/// `/v2/droplets`: a first query pays for the resources it reaches, not for their neighbours.
fn begins_alike(template: &str, path: &[&str]) -> bool {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let n = path.len();
    (t.len() == n || t.len() == n + 1)
        && t[..n]
            .iter()
            .zip(path)
            .all(|(a, b)| a.starts_with('{') || a == b)
}

impl Table {
    fn load(&mut self, provider: &Provider, service: &str, resource: &str) {
        let id = format!("{service}.{resource}");
        if !self.loaded.insert(id) {
            return;
        }
        if let Ok(r) = provider.resource(service, resource) {
            for m in &r.methods {
                // Methods on a server of their own (the inference API) are not this API's.
                if m.servers.is_empty() {
                    self.routes.push(Box::leak(Box::new(route_of(&r.id, m))));
                }
            }
        }
    }

    /// Loads the resources a path may reach; with `every`, all of them.
    fn ensure(&mut self, path: &[&str], every: bool) {
        if self.all {
            return;
        }
        let Some(provider) = provider() else {
            return;
        };
        for service in provider.services.keys() {
            let Ok(index) = provider.index(service) else {
                continue;
            };
            for r in &index.resources {
                if every || r.select_paths.iter().any(|p| begins_alike(p, path)) {
                    self.load(&provider, service, &r.name);
                }
            }
        }
        self.all |= every;
    }

    fn find(&self, verb: &str, path: &[&str]) -> Option<&'static Route> {
        self.routes
            .iter()
            .filter(|r| r.matches(verb, path))
            .max_by_key(|r| (r.literals(), r.base.is_none()))
            .copied()
    }
}

fn route_of(resource: &str, m: &Method) -> Route {
    let segments = m
        .path
        .trim_matches('/')
        .split('/')
        .map(|s| {
            if s.starts_with('{') {
                Segment::Variable(s.trim_matches(|c| c == '{' || c == '}').to_string())
            } else {
                Segment::Literal(s.to_string())
            }
        })
        .collect();
    Route {
        verb: m.http_method.as_str(),
        segments,
        key: key_of(m),
        returns_list: m.returns_list,
        columns: m.columns.clone(),
        resource: resource.to_string(),
        body_fields: m.body_fields.clone(),
        body_required: m.body_required,
        body_variants: m.body_variants.clone(),
        base: m.request_base.clone(),
        status: m.success_status,
        filters: m
            .params
            .iter()
            .filter(|p| {
                p.location == ParamLocation::Query
                    && !matches!(p.name.as_str(), "page" | "per_page")
            })
            .map(|p| p.name.clone())
            .collect(),
    }
}

/// The routes loaded for `path` (every route, once one is asked for that none matches).
fn routes_for(path: &[&str]) -> Vec<&'static Route> {
    let Ok(mut t) = table().lock() else {
        return Vec::new();
    };
    t.ensure(path, false);
    t.routes.clone()
}

/// The route `verb path` takes: of those that match, the one with the most literal segments;
/// of methods that share a path, the one that takes any body over its variants.
pub(super) fn best(verb: &str, path: &[&str]) -> Option<&'static Route> {
    let Ok(mut t) = table().lock() else {
        return None;
    };
    t.ensure(path, false);
    if let Some(found) = t.find(verb, path) {
        return Some(found);
    }
    t.ensure(path, true);
    t.find(verb, path)
}

/// The list route that reads the collection at `path`, if one does: a select method, so found
/// among the resources the path's beginning loads, without loading every other.
pub(super) fn list_at(path: &[&str]) -> Option<&'static Route> {
    let Ok(mut t) = table().lock() else {
        return None;
    };
    t.ensure(path, false);
    t.find("GET", path).filter(|r| r.returns_list)
}

/// The variant of `route` a body is of: the method sharing its verb and path whose fixed part
/// the body carries (`{"type": "rebuild", …}` is checked as `rebuild` declares its fields).
pub(super) fn variant_for(route: &Route, body: &serde_json::Value) -> Option<&'static Route> {
    let path: Vec<&str> = route
        .segments
        .iter()
        .map(|s| match s {
            Segment::Literal(l) => l.as_str(),
            Segment::Variable(_) => "_",
        })
        .collect();
    routes_for(&path).into_iter().find(|r| {
        r.verb == route.verb
            && r.segments == route.segments
            && r.base
                .as_ref()
                .and_then(|b| b.as_object())
                .is_some_and(|b| !b.is_empty() && b.iter().all(|(k, v)| body.get(k) == Some(v)))
    })
}

/// The fields an item of the collection at `path` is found by: the name of the variable its
/// item routes put after the path (`dataset_uuid`, `reserved_ip`) and that name's last word
/// (`uuid`, `ip`), then DigitalOcean's usual keys; when the list's items have none of these, their
/// field that ends as the variable does (`{logsink_id}` finds a sink by its `sink_id`).
pub(super) fn key_fields(path: &[&str]) -> Vec<String> {
    // Asked for every column of every object made: kept per path, while the routes it was
    // worked out from are all there are.
    type Known = HashMap<String, (usize, Vec<String>)>;
    static KNOWN: OnceLock<Mutex<Known>> = OnceLock::new();
    let routes = routes_for(path);
    let key = path.join("/");
    let known = KNOWN.get_or_init(Mutex::default);
    if let Some((n, fields)) = known.lock().ok().and_then(|k| k.get(&key).cloned()) {
        if n == routes.len() {
            return fields;
        }
    }
    let fields = key_fields_of(&routes, path);
    if let Ok(mut k) = known.lock() {
        k.insert(key, (routes.len(), fields.clone()));
    }
    fields
}

fn key_fields_of(routes: &[&'static Route], path: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut lasts: Vec<String> = Vec::new();
    for r in routes {
        let Some((Segment::Variable(name), parent)) = r.segments.split_last() else {
            continue;
        };
        let same = parent.len() == path.len()
            && parent.iter().zip(path).all(|(s, p)| match s {
                Segment::Literal(l) => l == p,
                Segment::Variable(_) => true,
            });
        if same {
            let last = name.rsplit('_').next().unwrap_or(name).to_string();
            // `reserved_ipv6` is an IPv6 address in the object's `ip`.
            let ip = if last.starts_with("ip") {
                "ip".to_string()
            } else {
                last.clone()
            };
            if !lasts.contains(&last) {
                lasts.push(last.clone());
            }
            for n in [name.clone(), last, ip] {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
    }
    for n in ["id", "uuid", "slug", "name", "urn", "fqdn"] {
        if !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    }
    if let Some(list) = list_at(path) {
        let has = |n: &String| list.columns.iter().any(|c| c.property() == n);
        if !out.iter().any(has) {
            let ending = list.columns.iter().find(|c| {
                lasts
                    .iter()
                    .any(|l| c.property().ends_with(&format!("_{l}")))
            });
            if let Some(c) = ending {
                out.push(c.property().to_string());
            }
        }
    }
    out
}

/// Every route of the bundled documents (for the contract test).
#[cfg(test)]
pub(super) fn all_routes() -> Vec<&'static Route> {
    let Ok(mut t) = table().lock() else {
        return Vec::new();
    };
    t.ensure(&[], true);
    t.routes.clone()
}

/// How many routes the bundled documents give the mock (for its help and tests).
pub fn route_count() -> usize {
    let Ok(mut t) = table().lock() else {
        return 0;
    };
    t.ensure(&[], true);
    t.routes.len()
}
