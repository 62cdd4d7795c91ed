//! Every other DigitalOcean resource, answered by rule from the bundled provider documents
//! (which carry the official specification's operations and schemas), not written per service.
//!
//! A route is a method of a bundled resource: its HTTP verb and path template. A request takes
//! the route whose template matches with the most literal segments. State is kept per concrete
//! collection path (`/v2/droplets`, `/v2/kubernetes/clusters/c-1/node_pools`), seeded on first
//! read with a few objects made from the schema's examples, varied per object (ids, names,
//! dates) and deterministic for the mock's seed; what is created, changed and deleted stays:
//! - `GET` of a list answers a page of the collection with DigitalOcean's paging (`per_page`
//!   1..200, `links.pages`, `meta.total`);
//! - `GET` of an item finds it by `id`, `uuid`, `name` or `slug`, else 404;
//! - `POST` to a list creates (201, the new object under the method's key; an action's POST
//!   answers a completed action);
//! - `PUT`/`PATCH` of an item merges the body into it; `DELETE` removes it (204).
//!
//! Not yet: the references between resources (a droplet's image is not an image of the
//! account), validation of bodies against the schemas, and filters other than paging.

use std::collections::HashMap;
use std::sync::OnceLock;

use iql_provider::{Column, Method, Registry, ValueKind};
use serde_json::{json, Map, Value};

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Variable,
}

/// A bundled method as the mock answers it.
#[derive(Debug, Clone)]
struct Route {
    verb: &'static str,
    segments: Vec<Segment>,
    /// `objectKey` without `$.` (`droplets`, `droplet`, `action`); `None`: the whole body.
    key: Option<String>,
    returns_list: bool,
    columns: Vec<Column>,
    /// `digitalocean.compute.droplets`, for messages.
    resource: String,
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
                Segment::Variable => true,
            })
    }

    fn ends_in_variable(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::Variable))
    }
}

fn verb_of(m: &Method) -> &'static str {
    m.http_method.as_str()
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
                                Segment::Variable
                            } else {
                                Segment::Literal(s.to_string())
                            }
                        })
                        .collect();
                    out.push(Route {
                        verb: verb_of(m),
                        segments,
                        key: key_of(m),
                        returns_list: m.returns_list,
                        columns: m.columns.clone(),
                        resource: r.id.clone(),
                    });
                }
            }
        }
        out
    })
}

fn best<'a>(verb: &str, path: &[&str]) -> Option<&'a Route> {
    routes()
        .iter()
        .filter(|r| r.matches(verb, path))
        .max_by_key(|r| r.literals())
}

/// The state of every collection the mock has answered for.
#[derive(Debug, Default)]
pub(crate) struct SpecState {
    collections: HashMap<String, Vec<Value>>,
    singles: HashMap<String, Value>,
    next_id: i64,
}

/// What the mock answers: a status and a body (none for 204).
pub(crate) struct Answer {
    pub status: u16,
    pub body: Option<Value>,
    /// A list's key in `body`: the caller pages it as DigitalOcean does.
    pub list_key: Option<String>,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        body: Some(body),
        list_key: None,
    }
}

fn no_content() -> Answer {
    Answer {
        status: 204,
        body: None,
        list_key: None,
    }
}

fn wrapped(key: &Option<String>, object: Value) -> Value {
    match key {
        Some(k) => json!({ k.clone(): object }),
        None => object,
    }
}

/// The errors the caller turns into DigitalOcean's body: (status, id, message).
pub(crate) type Refusal = (u16, &'static str, String);

impl SpecState {
    /// Answers `verb path` when a bundled route matches; `None` when none does.
    pub(crate) fn answer(
        &mut self,
        seed: u64,
        verb: &str,
        path: &[&str],
        body: &Value,
    ) -> Option<Result<Answer, Refusal>> {
        let route = best(verb, path)?;
        let joined = format!("/{}", path.join("/"));
        Some(match verb {
            "GET" if route.returns_list => Ok(self.list(seed, route, &joined)),
            "GET" if route.ends_in_variable() => self
                .item(seed, path)
                .map(|(obj, _)| answer(200, wrapped(&route.key, obj.clone()))),
            "GET" => {
                let object = self
                    .singles
                    .entry(joined)
                    .or_insert_with(|| make_object(&route.columns, &route.resource, seed, 0))
                    .clone();
                Ok(answer(200, wrapped(&route.key, object)))
            }
            "POST" => Ok(self.create(seed, route, path, &joined, body)),
            "PUT" | "PATCH" if route.ends_in_variable() => self.update(seed, route, path, body),
            "PUT" | "PATCH" => {
                let object = self
                    .singles
                    .entry(joined)
                    .or_insert_with(|| make_object(&route.columns, &route.resource, seed, 0));
                merge(object, body);
                Ok(answer(200, wrapped(&route.key, object.clone())))
            }
            "DELETE" if route.ends_in_variable() => self.delete(seed, path),
            "DELETE" => Ok(no_content()),
            _ => return None,
        })
    }

    /// The collection at `path`, seeded from the list route that reads it.
    fn collection(&mut self, seed: u64, path: &str) -> &mut Vec<Value> {
        if !self.collections.contains_key(path) {
            let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
            let seeded = match best("GET", &segments).filter(|r| r.returns_list) {
                Some(r) => (0..3)
                    .map(|i| make_object(&r.columns, &r.resource, seed ^ hash(path), i))
                    .collect(),
                None => Vec::new(),
            };
            self.collections.insert(path.to_string(), seeded);
        }
        self.collections.entry(path.to_string()).or_default()
    }

    fn list(&mut self, seed: u64, route: &Route, path: &str) -> Answer {
        let items = self.collection(seed, path).clone();
        let key = route.key.clone().unwrap_or_else(|| "items".to_string());
        Answer {
            status: 200,
            body: Some(json!({ key.clone(): items })),
            list_key: Some(key),
        }
    }

    /// The item a path ending in its key names, and its place in its collection.
    fn item(&mut self, seed: u64, path: &[&str]) -> Result<(&mut Value, usize), Refusal> {
        let (key, parent) = path.split_last().ok_or_else(not_found)?;
        let parent = format!("/{}", parent.join("/"));
        let items = self.collection(seed, &parent);
        let at = items
            .iter()
            .position(|o| identifies(o, key))
            .ok_or_else(not_found)?;
        Ok((&mut items[at], at))
    }

    fn create(
        &mut self,
        seed: u64,
        route: &Route,
        path: &[&str],
        joined: &str,
        body: &Value,
    ) -> Answer {
        if route.key.as_deref() == Some("action") || path.last() == Some(&"actions") {
            self.next_id += 1;
            let action = json!({
                "id": 500_000_000 + self.next_id,
                "status": "completed",
                "type": body.get("type").cloned().unwrap_or(json!("action")),
                "started_at": "2026-01-01T00:00:00Z",
                "completed_at": "2026-01-01T00:00:05Z",
                "resource_type": path.get(1).copied().unwrap_or("unknown").trim_end_matches('s'),
                "region_slug": "nyc3",
            });
            return answer(201, json!({"action": action}));
        }
        let template = best("GET", path)
            .filter(|r| r.returns_list)
            .map(|r| (r.columns.clone(), r.resource.clone()))
            .unwrap_or_else(|| (route.columns.clone(), route.resource.clone()));
        self.next_id += 1;
        let n = 100 + self.next_id as usize;
        let mut object = make_object(&template.0, &template.1, seed ^ hash(joined), n);
        merge(&mut object, body);
        self.collection(seed, joined).push(object.clone());
        // Answered under the method's key, else the key an item of the collection is read by
        // (`droplets_create` declares none; DigitalOcean answers `{"droplet": …}`).
        let key = route.key.clone().or_else(|| {
            let mut item: Vec<&str> = path.to_vec();
            item.push("{id}");
            best("GET", &item).and_then(|r| r.key.clone())
        });
        answer(201, wrapped(&key, object))
    }

    fn update(
        &mut self,
        seed: u64,
        route: &Route,
        path: &[&str],
        body: &Value,
    ) -> Result<Answer, Refusal> {
        let (object, _) = self.item(seed, path)?;
        merge(object, body);
        Ok(answer(200, wrapped(&route.key, object.clone())))
    }

    fn delete(&mut self, seed: u64, path: &[&str]) -> Result<Answer, Refusal> {
        let (key, parent) = path.split_last().ok_or_else(not_found)?;
        let parent = format!("/{}", parent.join("/"));
        let items = self.collection(seed, &parent);
        let before = items.len();
        items.retain(|o| !identifies(o, key));
        if items.len() == before {
            return Err(not_found());
        }
        Ok(no_content())
    }
}

fn not_found() -> Refusal {
    (
        404,
        "not_found",
        "The resource you were accessing could not be found.".to_string(),
    )
}

/// Whether `key` (a path's last segment) names the object: its id, uuid, name or slug.
fn identifies(object: &Value, key: &str) -> bool {
    ["id", "uuid", "name", "slug", "urn", "fqdn"]
        .iter()
        .any(|f| match object.get(*f) {
            Some(Value::String(s)) => s == key,
            Some(Value::Number(n)) => n.to_string() == key,
            _ => false,
        })
}

fn merge(object: &mut Value, body: &Value) {
    if let (Value::Object(o), Value::Object(b)) = (object, body) {
        for (k, v) in b {
            o.insert(k.clone(), v.clone());
        }
    }
}

fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One object of a resource from its columns: each column's example, else a value of its type;
/// ids, names and dates varied by `n`, the same for the same seed.
fn make_object(columns: &[Column], resource: &str, seed: u64, n: usize) -> Value {
    let short = resource.rsplit('.').next().unwrap_or(resource);
    let singular = short.trim_end_matches('s');
    let mut out = Map::new();
    for c in columns {
        let s = &c.schema;
        let name = c.property();
        let varied = (seed % 9_000) as i64 + 1_000 * (n as i64 + 1);
        let value = match (name, s.kind()) {
            ("id", ValueKind::Integer) => json!(varied),
            ("id" | "uuid", ValueKind::Text) => json!(uuid_like(seed, n)),
            ("name" | "slug", ValueKind::Text) => json!(format!("{singular}-{}", n + 1)),
            ("created_at" | "updated_at", _) => json!(format!(
                "2025-0{}-{:02}T10:00:00Z",
                1 + n % 9,
                1 + (seed as usize + n) % 28
            )),
            // The example first; the other objects take the allowed values in turn.
            _ => match (&s.example, s.enum_values.is_empty()) {
                (Some(e), true) => e.clone(),
                (Some(e), false) if n == 0 => e.clone(),
                (_, false) => s.enum_values[n % s.enum_values.len()].clone(),
                (None, true) => by_kind(s, n),
            },
        };
        out.insert(name.to_string(), value);
    }
    Value::Object(out)
}

fn by_kind(s: &iql_provider::SchemaInfo, n: usize) -> Value {
    let format = s.format.as_deref();
    match s.kind() {
        ValueKind::Integer => json!(n + 1),
        ValueKind::Real => json!(n as f64 + 0.5),
        ValueKind::Boolean => json!(n.is_multiple_of(2)),
        ValueKind::DateTime => json!("2025-01-01T00:00:00Z"),
        ValueKind::Date => json!("2025-01-01"),
        ValueKind::Json if s.types.iter().any(|t| t == "array") => json!([]),
        ValueKind::Json => json!({}),
        ValueKind::Text => match format {
            Some("uuid") => json!(uuid_like(7, n)),
            Some("ipv4") => json!(format!("10.0.0.{}", n + 1)),
            _ => json!(format!("example-{}", n + 1)),
        },
    }
}

fn uuid_like(seed: u64, n: usize) -> String {
    let h = hash(&format!("{seed}-{n}"));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        (h & 0xfff) as u16,
        ((h >> 4) & 0xfff) as u16,
        h & 0xffff_ffff_ffff
    )
}

/// How many routes the bundled documents give the mock (for its help and tests).
pub fn route_count() -> usize {
    routes().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_list_answers_and_what_is_created_is_listed() {
        assert!(route_count() > 500, "{} routes", route_count());
        let mut state = SpecState::default();
        let Some(Ok(first)) = state.answer(1, "GET", &["v2", "droplets"], &json!({})) else {
            panic!("droplets answer")
        };
        let droplets = first.body.expect("a body")["droplets"].clone();
        assert_eq!(droplets.as_array().map(Vec::len), Some(3));
        let id = droplets[0]["id"].to_string();
        let Some(Ok(one)) = state.answer(1, "GET", &["v2", "droplets", &id], &json!({})) else {
            panic!("one droplet")
        };
        assert_eq!(one.body.expect("a body")["droplet"]["id"].to_string(), id);
        let Some(Ok(made)) =
            state.answer(1, "POST", &["v2", "droplets"], &json!({"name": "web-1"}))
        else {
            panic!("created")
        };
        assert_eq!(made.status, 201);
        let Some(Ok(after)) = state.answer(1, "GET", &["v2", "droplets"], &json!({})) else {
            panic!("listed")
        };
        let names: Vec<String> = after.body.expect("a body")["droplets"]
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|d| d["name"].as_str().map(str::to_string))
            .collect();
        assert!(names.contains(&"web-1".to_string()), "{names:?}");
        let Some(Ok(gone)) = state.answer(1, "DELETE", &["v2", "droplets", &id], &json!({})) else {
            panic!("deleted")
        };
        assert_eq!(gone.status, 204);
        assert!(matches!(
            state.answer(1, "GET", &["v2", "droplets", &id], &json!({})),
            Some(Err((404, _, _)))
        ));
        // The same seed gives the same account.
        let mut again = SpecState::default();
        let Some(Ok(same)) = again.answer(1, "GET", &["v2", "droplets"], &json!({})) else {
            panic!("again")
        };
        assert_eq!(same.body.expect("a body")["droplets"], droplets);
    }
}
