//! The mock's routes: every method of the bundled DigitalOcean documents, as an HTTP verb and a
//! path template, with what answering and checking it needs (the response's key and columns,
//! the request body's fields).

use std::sync::OnceLock;

use iql_provider::{BodyField, BodyVariants, Column, Method, Registry};

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

/// Every route of the bundled DigitalOcean documents, read once per process.
fn routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let registry = Registry::bundled();
        let mut out = Vec::new();
        let Ok(provider) = registry.provider("digitalocean") else {
            return out;
        };
        for service in provider.services.keys() {
            let Ok(s) = provider.service(service) else {
                continue;
            };
            for r in s.resources.values() {
                for m in &r.methods {
                    // Methods on a server of their own (the inference API) are not this API's.
                    if !m.servers.is_empty() {
                        continue;
                    }
                    let segments = m
                        .path
                        .trim_matches('/')
                        .split('/')
                        .map(|s| {
                            if s.starts_with('{') {
                                Segment::Variable(
                                    s.trim_matches(|c| c == '{' || c == '}').to_string(),
                                )
                            } else {
                                Segment::Literal(s.to_string())
                            }
                        })
                        .collect();
                    out.push(Route {
                        verb: m.http_method.as_str(),
                        segments,
                        key: key_of(m),
                        returns_list: m.returns_list,
                        columns: m.columns.clone(),
                        resource: r.id.clone(),
                        body_fields: m.body_fields.clone(),
                        body_required: m.body_required,
                        body_variants: m.body_variants.clone(),
                        base: m.request_base.clone(),
                    });
                }
            }
        }
        out
    })
}

/// The route `verb path` takes: of those that match, the one with the most literal segments;
/// of methods that share a path, the one that takes any body over its variants.
pub(super) fn best<'a>(verb: &str, path: &[&str]) -> Option<&'a Route> {
    routes()
        .iter()
        .filter(|r| r.matches(verb, path))
        .max_by_key(|r| (r.literals(), r.base.is_none()))
}

/// The variant of `route` a body is of: the method sharing its verb and path whose fixed part
/// the body carries (`{"type": "rebuild", …}` is checked as `rebuild` declares its fields).
pub(super) fn variant_for<'a>(route: &Route, body: &serde_json::Value) -> Option<&'a Route> {
    routes().iter().find(|r| {
        r.verb == route.verb
            && r.segments == route.segments
            && r.base
                .as_ref()
                .and_then(|b| b.as_object())
                .is_some_and(|b| !b.is_empty() && b.iter().all(|(k, v)| body.get(k) == Some(v)))
    })
}

/// The list route that reads the collection at `path`, if one does.
pub(super) fn list_at<'a>(path: &[&str]) -> Option<&'a Route> {
    best("GET", path).filter(|r| r.returns_list)
}

/// The fields an item of the collection at `path` is found by: the name of the variable its
/// item routes put after the path (`dataset_uuid`, `reserved_ip`) and that name's last word
/// (`uuid`, `ip`), then DigitalOcean's usual keys; when the list's items have none of these, their
/// field that ends as the variable does (`{logsink_id}` finds a sink by its `sink_id`).
pub(super) fn key_fields(path: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut lasts: Vec<String> = Vec::new();
    for r in routes() {
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

/// How many routes the bundled documents give the mock (for its help and tests).
pub fn route_count() -> usize {
    routes().len()
}
