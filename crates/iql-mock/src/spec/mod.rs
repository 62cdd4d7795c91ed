//! Every other DigitalOcean resource, answered by rule from the bundled provider documents
//! (which carry the official specification's operations and schemas), not written per service.
//!
//! A route ([`routes`]) is a method of a bundled resource: its HTTP verb and path template. A
//! request takes the route whose template matches with the most literal segments. State is kept
//! per concrete collection path (`/v2/droplets`, `/v2/kubernetes/clusters/<id>/node_pools`),
//! seeded on first read with objects made from the schema's examples ([`objects`]), varied per
//! object and deterministic for the mock's seed, naming other objects that exist; what is
//! created, changed and deleted stays:
//! - `GET` of a list answers a page of the collection with DigitalOcean's paging (`per_page`
//!   1..200, `links.pages`, `meta.total`);
//! - `GET` of an item finds it by `id`, `uuid`, `name` or `slug`, else 404;
//! - a path through a parent that the account does not hold (`/v2/droplets/999/actions`) is a 404;
//! - `POST` to a list creates (201, the new object under the method's key), after the body is
//!   checked against the spec ([`validate`]: 422 naming the field);
//! - an action's `POST` answers an action `in-progress`, which finishes after the mock's
//!   `action_polls` reads of it, as its `action_outcome` says;
//! - `PUT`/`PATCH` of an item merges the body into it; `DELETE` removes it (204);
//! - lists answer the query filters their methods declare (`tag_name`, `region`, …).
//!
//! Not yet: the 202 some creates answer with (they answer 201), references checked in bodies (a
//! droplet made from an image that does not exist is made), and nested schemas: objects are
//! made and checked at their top level.

mod objects;
mod routes;
mod validate;

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

pub(crate) use objects::Account;
use objects::{make_object, seeded};
pub use routes::route_count;
use routes::{best, key_fields, list_at, variant_for, Route};

use crate::ActionOutcome;

/// How the account's actions finish: after `polls` reads, as `outcome` says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActionRule {
    pub polls: u32,
    pub outcome: ActionOutcome,
}

/// The state of every collection the mock has answered for.
#[derive(Debug, Default)]
pub(crate) struct SpecState {
    collections: HashMap<String, Vec<Value>>,
    singles: HashMap<String, Value>,
    /// Reads of each action, by its id.
    action_reads: HashMap<i64, u32>,
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

/// A request as the sandbox's rules read it: the path split into decoded segments.
#[derive(Clone, Copy)]
pub(crate) struct Request<'a> {
    pub verb: &'a str,
    pub path: &'a [&'a str],
    pub query: &'a BTreeMap<String, String>,
    pub body: &'a Value,
}

/// Whether an object passes the list filter `name=value`: its field of that name holds the
/// value (or, for a list field, contains it), `tag_name` its `tags`, and `region`/`droplet_id`
/// style names a nested object's slug, name or id. A filter the object has nothing for lets it
/// through, as a parameter DigitalOcean does not apply to it.
fn passes(object: &Value, name: &str, value: &str) -> bool {
    // A scalar as a query string spells it.
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let same = |v: &Value| match v {
        Value::Array(items) => items.iter().any(|i| text(i) == value),
        Value::Object(o) => ["slug", "name", "id"]
            .iter()
            .any(|k| o.get(*k).is_some_and(|x| text(x) == value)),
        Value::Null => false,
        scalar => text(scalar) == value,
    };
    if let Some(v) = object.get(name) {
        return same(v);
    }
    if name == "tag_name" {
        return object.get("tags").is_none_or(same);
    }
    let base = ["_name", "_id", "_uuid", "_slug"]
        .iter()
        .find_map(|s| name.strip_suffix(s));
    match base.and_then(|b| object.get(b)) {
        Some(v) => same(v),
        None => true,
    }
}

/// The errors the caller turns into DigitalOcean's body: (status, id, message).
pub(crate) type Refusal = (u16, &'static str, String);

fn joined(path: &[&str]) -> String {
    format!("/{}", path.join("/"))
}

/// Whether a path is of an action (`/v2/actions/…`, `/v2/droplets/1/actions/…`).
fn in_actions(path: &[&str]) -> bool {
    path.len() >= 2 && path[path.len() - 2] == "actions"
}

impl SpecState {
    /// Answers `verb path` when a bundled route matches; `None` when none does.
    pub(crate) fn answer(
        &mut self,
        account: &Account,
        actions: ActionRule,
        request: Request,
    ) -> Option<Result<Answer, Refusal>> {
        let route = best(request.verb, request.path)?;
        Some(self.answer_route(account, actions, route, request))
    }

    fn answer_route(
        &mut self,
        account: &Account,
        actions: ActionRule,
        route: &Route,
        Request {
            verb,
            path,
            query,
            body,
        }: Request,
    ) -> Result<Answer, Refusal> {
        self.parents_exist(account, route, path)?;
        let here = joined(path);
        match verb {
            "GET" if route.returns_list => Ok(self.list(account, route, &here, query)),
            "GET" if route.ends_in_variable() && self.has_list_above(path) => {
                if in_actions(path) {
                    self.advance_action(account, path, actions)?;
                }
                let (object, _) = self.item(account, path)?;
                Ok(answer(200, wrapped(&route.key, object.clone())))
            }
            "GET" => Ok(answer(
                200,
                wrapped(&route.key, self.single(account, route, here).clone()),
            )),
            "POST" => {
                validate::body(variant_for(route, body).unwrap_or(route), body, true)?;
                Ok(self.create(account, route, path, &here, body))
            }
            "PUT" | "PATCH" => {
                validate::body(
                    variant_for(route, body).unwrap_or(route),
                    body,
                    verb == "PUT",
                )?;
                let object = if route.ends_in_variable() && self.has_list_above(path) {
                    self.item(account, path)?.0
                } else {
                    self.single(account, route, here)
                };
                merge(object, body);
                Ok(answer(200, wrapped(&route.key, object.clone())))
            }
            "DELETE" if route.ends_in_variable() && self.has_list_above(path) => {
                // 204, or the 202 of a delete DigitalOcean finishes later.
                let status = route.status.filter(|s| *s == 202).unwrap_or(204);
                self.delete(account, path, status)
            }
            "DELETE" => Ok(no_content()),
            _ => Err((
                405,
                "method_not_allowed",
                format!("{verb} is not supported on {here}"),
            )),
        }
    }

    /// A path that names a parent (`/v2/droplets/{droplet_id}/…`) needs the parent to exist,
    /// where a list holds it.
    fn parents_exist(
        &mut self,
        account: &Account,
        route: &Route,
        path: &[&str],
    ) -> Result<(), Refusal> {
        for at in route.parent_variables() {
            if list_at(&path[..at]).is_none() {
                continue;
            }
            let key = path[at];
            let fields = key_fields(&path[..at]);
            if !self
                .collection(account, &joined(&path[..at]))
                .iter()
                .any(|o| identifies(&fields, o, key))
            {
                return Err(not_found());
            }
        }
        Ok(())
    }

    /// Whether the path's last segment is a key into a list (else the route reads one object
    /// a path names whole, such as `/v2/customers/my/invoices/{uuid}/summary`'s parent).
    fn has_list_above(&self, path: &[&str]) -> bool {
        path.split_last()
            .is_some_and(|(_, parent)| list_at(parent).is_some())
    }

    /// An object a path names alone (the account, a summary), made on first read.
    fn single(&mut self, account: &Account, route: &Route, here: String) -> &mut Value {
        self.singles.entry(here).or_insert_with_key(|here| {
            make_object(&route.columns, &route.resource, here, account, 0, true)
        })
    }

    /// The collection at `path`, seeded from the list route that reads it.
    fn collection(&mut self, account: &Account, path: &str) -> &mut Vec<Value> {
        self.collections
            .entry(path.to_string())
            .or_insert_with(|| seeded(account, path))
    }

    fn list(
        &mut self,
        account: &Account,
        route: &Route,
        path: &str,
        query: &BTreeMap<String, String>,
    ) -> Answer {
        let filters: Vec<(&String, &String)> = query
            .iter()
            .filter(|(k, _)| route.filters.contains(k))
            .collect();
        let items: Vec<Value> = self
            .collection(account, path)
            .iter()
            .filter(|o| filters.iter().all(|(k, v)| passes(o, k, v)))
            .cloned()
            .collect();
        let key = route.key.clone().unwrap_or_else(|| "items".to_string());
        Answer {
            status: 200,
            body: Some(json!({ key.clone(): items })),
            list_key: Some(key),
        }
    }

    /// The item a path ending in its key names, and its place in its collection.
    fn item(&mut self, account: &Account, path: &[&str]) -> Result<(&mut Value, usize), Refusal> {
        let (key, parent) = path.split_last().ok_or_else(not_found)?;
        let fields = key_fields(parent);
        let items = self.collection(account, &joined(parent));
        let at = items
            .iter()
            .position(|o| identifies(&fields, o, key))
            .ok_or_else(not_found)?;
        Ok((&mut items[at], at))
    }

    /// One more read of the action a path names: after enough, it finishes as the rule says,
    /// in every list that holds it (its resource's and the account's).
    fn advance_action(
        &mut self,
        account: &Account,
        path: &[&str],
        rule: ActionRule,
    ) -> Result<(), Refusal> {
        let (object, _) = self.item(account, path)?;
        if object["status"] != json!("in-progress") {
            return Ok(());
        }
        let Some(id) = object["id"].as_i64() else {
            return Ok(());
        };
        let reads = self.action_reads.entry(id).or_default();
        *reads += 1;
        if *reads < rule.polls || rule.outcome == ActionOutcome::Never {
            return Ok(());
        }
        let status = if rule.outcome == ActionOutcome::Completed {
            "completed"
        } else {
            "errored"
        };
        for (at, items) in &mut self.collections {
            if !at.ends_with("/actions") {
                continue;
            }
            for a in items.iter_mut().filter(|a| a["id"].as_i64() == Some(id)) {
                a["status"] = json!(status);
                a["completed_at"] = json!("2026-01-01T00:00:05Z");
            }
        }
        Ok(())
    }

    fn create(
        &mut self,
        account: &Account,
        route: &Route,
        path: &[&str],
        here: &str,
        body: &Value,
    ) -> Answer {
        self.next_id += 1;
        let n = 100 + self.next_id as usize;
        if route.key.as_deref() == Some("action") || path.last() == Some(&"actions") {
            let action = self.start_action(account, path, here, body, n);
            return answer(created(route), json!({"action": action}));
        }
        let template = list_at(path).unwrap_or(route);
        let mut object = make_object(
            &template.columns,
            &template.resource,
            here,
            account,
            n,
            true,
        );
        merge(&mut object, body);
        self.collection(account, here).push(object.clone());
        if let Some(mirror) = mirror(path) {
            self.collection(account, &mirror).push(object.clone());
        }
        // Answered under the method's key, else the key an item of the collection is read by
        // (`droplets_create` declares none; DigitalOcean answers `{"droplet": …}`).
        let key = route.key.clone().or_else(|| {
            let mut item: Vec<&str> = path.to_vec();
            item.push("{id}");
            best("GET", &item).and_then(|r| r.key.clone())
        });
        answer(created(route), wrapped(&key, object))
    }

    /// A new action on the resource the path names, `in-progress`, held in its resource's
    /// actions and the account's.
    fn start_action(
        &mut self,
        account: &Account,
        path: &[&str],
        here: &str,
        body: &Value,
        n: usize,
    ) -> Value {
        let columns = list_at(&["v2", "actions"])
            .map(|r| r.columns.clone())
            .unwrap_or_default();
        let mut action = make_object(
            &columns,
            "digitalocean.compute.actions",
            "/v2/actions",
            account,
            n,
            true,
        );
        let resource_id = path
            .get(2)
            .filter(|_| path.len() > 3)
            .map(|id| id.parse::<i64>().map_or_else(|_| json!(id), |i| json!(i)))
            .unwrap_or(Value::Null);
        let fields = [
            ("id", json!(500_000_000 + self.next_id)),
            ("status", json!("in-progress")),
            ("type", body.get("type").cloned().unwrap_or(json!("action"))),
            ("started_at", json!("2026-01-01T00:00:00Z")),
            ("completed_at", Value::Null),
            ("resource_id", resource_id),
            (
                "resource_type",
                json!(path
                    .get(1)
                    .copied()
                    .unwrap_or("unknown")
                    .trim_end_matches('s')),
            ),
        ];
        if let Value::Object(o) = &mut action {
            for (k, v) in fields {
                o.insert(k.to_string(), v);
            }
            // In the region of the resource it acts on.
            let parent = (path.len() > 3)
                .then(|| {
                    self.item(account, &path[..3])
                        .ok()
                        .map(|(p, _)| p["region"].clone())
                })
                .flatten();
            if let Some(region) = parent.filter(Value::is_object) {
                o.insert("region_slug".to_string(), region["slug"].clone());
                o.insert("region".to_string(), region);
            }
        }
        self.collection(account, here).push(action.clone());
        if let Some(mirror) = mirror(path) {
            self.collection(account, &mirror).push(action.clone());
        }
        action
    }

    /// Removes the item a path names from its collection and from the account-wide one that
    /// also lists it (a volume's snapshot from `/v2/snapshots`, and the other way round).
    fn delete(
        &mut self,
        account: &Account,
        path: &[&str],
        route_status: u16,
    ) -> Result<Answer, Refusal> {
        let (key, parent) = path.split_last().ok_or_else(not_found)?;
        let fields = key_fields(parent);
        let here = joined(parent);
        self.collection(account, &here);
        let last = parent.last().copied().unwrap_or_default();
        let mut found = false;
        for (at, items) in &mut self.collections {
            if *at == here
                || (at.rsplit('/').next() == Some(last)
                    && at.split('/').count() != here.split('/').count())
            {
                let before = items.len();
                items.retain(|o| !identifies(&fields, o, key));
                found |= items.len() != before && *at == here;
            }
        }
        if !found {
            return Err(not_found());
        }
        Ok(Answer {
            status: route_status,
            body: None,
            list_key: None,
        })
    }
}

/// The account-wide list that also holds what is made in a nested one: `/v2/actions` for
/// `/v2/droplets/1/actions`, `/v2/snapshots` for `/v2/volumes/v/snapshots`.
fn mirror(path: &[&str]) -> Option<String> {
    let last = *path.last()?;
    (path.len() > 2 && list_at(&["v2", last]).is_some()).then(|| format!("/v2/{last}"))
}

/// The status a create answers with: the spec's (202 where DigitalOcean accepts and finishes
/// later), else 201.
fn created(route: &Route) -> u16 {
    route
        .status
        .filter(|s| matches!(s, 200..=202))
        .unwrap_or(201)
}

fn not_found() -> Refusal {
    (
        404,
        "not_found",
        "The resource you were accessing could not be found.".to_string(),
    )
}

/// Whether `key` (a path's segment after the collection's) names the object: its field named
/// as the item routes' variable, its id, uuid, name or slug.
fn identifies(fields: &[String], object: &Value, key: &str) -> bool {
    fields.iter().any(|f| match object.get(f) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(
        state: &mut SpecState,
        verb: &str,
        path: &[&str],
        body: &Value,
    ) -> Option<Result<Answer, Refusal>> {
        let account = Account {
            seed: 1,
            images: &[],
        };
        let rule = ActionRule {
            polls: 2,
            outcome: ActionOutcome::Completed,
        };
        let query = BTreeMap::new();
        let request = Request {
            verb,
            path,
            query: &query,
            body,
        };
        state.answer(&account, rule, request)
    }

    #[test]
    fn every_bundled_list_answers_and_what_is_created_is_listed() {
        assert!(route_count() > 500, "{} routes", route_count());
        let mut state = SpecState::default();
        let Some(Ok(first)) = ask(&mut state, "GET", &["v2", "droplets"], &json!({})) else {
            panic!("droplets answer")
        };
        let droplets = first.body.expect("a body")["droplets"].clone();
        assert_eq!(droplets.as_array().map(Vec::len), Some(3));
        let id = droplets[0]["id"].to_string();
        let Some(Ok(one)) = ask(&mut state, "GET", &["v2", "droplets", &id], &json!({})) else {
            panic!("one droplet")
        };
        assert_eq!(one.body.expect("a body")["droplet"]["id"].to_string(), id);
        // DigitalOcean's 422 names what a body lacks.
        match ask(
            &mut state,
            "POST",
            &["v2", "droplets"],
            &json!({"name": "web-1"}),
        ) {
            Some(Err((422, "unprocessable_entity", m))) => {
                assert!(m.contains("is required"), "{m}")
            }
            other => panic!(
                "a droplet without a size and an image is refused: {:?}",
                other.map(|r| r.map(|a| a.body))
            ),
        }
        let web = json!({"name": "web-1", "region": "nyc3", "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64"});
        let Some(Ok(made)) = ask(&mut state, "POST", &["v2", "droplets"], &web) else {
            panic!("created")
        };
        // DigitalOcean accepts a droplet to build it: its spec's 202.
        assert_eq!(made.status, 202);
        let Some(Ok(after)) = ask(&mut state, "GET", &["v2", "droplets"], &json!({})) else {
            panic!("listed")
        };
        let names: Vec<String> = after.body.expect("a body")["droplets"]
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|d| d["name"].as_str().map(str::to_string))
            .collect();
        assert!(names.contains(&"web-1".to_string()), "{names:?}");
        let Some(Ok(gone)) = ask(&mut state, "DELETE", &["v2", "droplets", &id], &json!({})) else {
            panic!("deleted")
        };
        assert_eq!(gone.status, 204);
        assert!(matches!(
            ask(&mut state, "GET", &["v2", "droplets", &id], &json!({})),
            Some(Err((404, _, _)))
        ));
        // The same seed gives the same account.
        let mut again = SpecState::default();
        let Some(Ok(same)) = ask(&mut again, "GET", &["v2", "droplets"], &json!({})) else {
            panic!("again")
        };
        assert_eq!(same.body.expect("a body")["droplets"], droplets);
    }
}

/// The contract: what the sandbox makes for every GET of the bundled documents keeps the spec's
/// schema at the top level of each object: the response key, each field's type and enum.
#[cfg(test)]
mod contract {
    use super::routes::{all_routes, Segment};
    use super::*;

    /// Whether a made value keeps its column's schema. Written here again on purpose, not
    /// `validate::typed`: the objects are made to pass that check, so the contract reads the
    /// schema on its own.
    fn conforms(value: &Value, schema: &iql_provider::SchemaInfo) -> Result<(), String> {
        if value.is_null() || schema.types.is_empty() {
            return Ok(());
        }
        let typed = schema.types.iter().any(|t| match t.as_str() {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => true,
        });
        if !typed {
            return Err(format!("{value} is not of {:?}", schema.types));
        }
        if !schema.enum_values.is_empty() && !schema.enum_values.contains(value) {
            return Err(format!("{value} is not one of {:?}", schema.enum_values));
        }
        Ok(())
    }

    #[test]
    fn every_answer_keeps_its_schema() {
        let images = crate::data::seed_images(60, 42);
        let account = Account {
            seed: 42,
            images: &images,
        };
        let rule = ActionRule {
            polls: 2,
            outcome: ActionOutcome::Completed,
        };
        let mut state = SpecState::default();
        let query = BTreeMap::new();
        let (mut checked, mut objects, mut broken) = (0, 0, Vec::new());
        for route in all_routes().iter().filter(|r| r.verb == "GET") {
            // Each variable from the first item of the list before it, as a client reads them.
            let mut path: Vec<String> = Vec::new();
            for s in &route.segments {
                let part = match s {
                    Segment::Literal(l) => l.clone(),
                    Segment::Variable(_) => {
                        let parent: Vec<&str> = path.iter().map(String::as_str).collect();
                        let fields = key_fields(&parent);
                        let items = state.collection(&account, &joined(&parent));
                        items
                            .first()
                            .and_then(|o| fields.iter().find_map(|f| o.get(f)))
                            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                            .unwrap_or_else(|| "sample".to_string())
                    }
                };
                path.push(part);
            }
            let segs: Vec<&str> = path.iter().map(String::as_str).collect();
            let request = Request {
                verb: "GET",
                path: &segs,
                query: &query,
                body: &Value::Null,
            };
            let Some(Ok(answer)) = state.answer(&account, rule, request) else {
                continue;
            };
            let Some(body) = answer.body else { continue };
            let at = match (&route.key, route.returns_list) {
                (Some(k), _) => body.get(k).cloned(),
                (None, true) => body.get("items").cloned(),
                (None, false) => Some(body.clone()),
            };
            let Some(at) = at else {
                broken.push(format!(
                    "/{}: no {:?} in the answer",
                    path.join("/"),
                    route.key
                ));
                continue;
            };
            let items = match (route.returns_list, at) {
                (true, Value::Array(items)) => items,
                (true, other) => {
                    broken.push(format!("/{}: a list answered {other}", path.join("/")));
                    continue;
                }
                (false, one) => vec![one],
            };
            checked += 1;
            for item in &items {
                objects += 1;
                for c in &route.columns {
                    if let Some(v) = item.get(c.property()) {
                        if let Err(e) = conforms(v, &c.schema) {
                            broken.push(format!("/{} {}: {e}", path.join("/"), c.property()));
                        }
                    }
                }
            }
        }
        assert!(checked > 250, "{checked} GET routes answered");
        assert!(objects > 600, "{objects} objects checked");
        assert!(
            broken.is_empty(),
            "{} answers break their schema:\n{}",
            broken.len(),
            broken.join("\n")
        );
    }
}
