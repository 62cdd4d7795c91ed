//! The rules that turn an OpenAPI document into provider documents. Each is written down for
//! users in docs/writing-providers.md ("Generating provider documents"); in short:
//!
//! - **Services**: an operation's first tag, through the configuration's tag → service table (a
//!   tag not listed is a service of its own name).
//! - **Resources**: operations on one collection are one resource: `GET /v2/droplets`,
//!   `POST /v2/droplets`, `GET|PUT|DELETE /v2/droplets/{droplet_id}` are `droplets`. A
//!   sub-collection (`/v2/droplets/{droplet_id}/actions`) is a resource of its own, named after
//!   its parent in the singular (`droplet_actions`). A `POST` to a verb under an item
//!   (`/v2/apps/{app_id}/restart`) is a method of the item's resource; actions on a whole
//!   collection (`/v2/droplets/actions`) are the collection's (`droplet_actions`), not the
//!   account's (`/v2/actions`). The configuration's operationId → resource table names what these
//!   rules name otherwise.
//! - **Methods**: the operationId in snake case (`sshKeys_list` → `ssh_keys_list`). A `POST` to
//!   `…/actions` whose body is picked by a discriminator (`{"type": "reboot"}`) also gives one
//!   method per value, on the parent resource (`droplets.reboot`), at a faux path
//!   `…/actions?__type=reboot` with that body as `request.base`; on a collection, where the
//!   targets are named otherwise than by key, they are named after how: a query parameter
//!   (`/v2/droplets/actions?tag_name=` → `reboot_by_tag`) or a `…_name` body field
//!   (`volume_name` → `attach_by_name`). A field the request's examples for a variant send but
//!   its schema lacks (`volume_name`) is added to the variant's body, typed from the example.
//! - **SQL verbs**: `GET` is `select`, the method with more required parameters first (get before
//!   list); `POST` to the collection is `insert`; `PUT` `replace`; `PATCH` `update`; `DELETE`
//!   `delete`; anything else is reached with `EXEC` only.
//! - **Object key**: from the first 2xx response: the one property besides `links`/`meta`
//!   (`{"droplet": {…}}` → `$.droplet`; `{"droplets": […], "links", "meta"}` → `$.droplets`);
//!   with several (`{"live_url", "historic_urls"}`) the whole body is one row. When the response's
//!   example wraps the object in a key its schema lacks (`{"action": {…}}` for a schema that is the
//!   action itself), the example shows the API's real shape: the key is used and the schema
//!   wrapped the same way.
//! - **Pagination**: a response with `links` pages by `$.links.pages.next` (the whole next URL);
//!   a `per_page` parameter with a maximum takes SQL `LIMIT` up to it.
//! - **Auth**: bearer, from `<PROVIDER>_TOKEN` unless the configuration names the variable.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::bundle::{Bundler, Kind};
use crate::config::GenerateConfig;
use crate::error::GenerateError;
use crate::names::{segment, singular, snake_case, title};
use crate::spec::{Loc, Spec};

const VERBS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// One operation of the specification, resolved.
struct Operation<'s> {
    path: String,
    verb: &'static str,
    loc: Loc,
    value: &'s Value,
    /// The path item holding it (path-level parameters and servers).
    item_loc: Loc,
    item: &'s Value,
    op_id: String,
    service: String,
    resource: String,
}

/// A method with its place in its verb's list: (sort key, name).
type Ranked = ((usize, usize), String);

/// What a method's first 2xx response says: its status code, the object key of its JSON body,
/// and the key to wrap the schema in when the example shows a wrapper the schema lacks.
#[derive(Debug, Default)]
struct ResponseShape {
    code: Option<String>,
    object_key: Option<String>,
    wrap: Option<String>,
}

/// A method to write: an operation, or one variant of an action operation.
struct MethodPlan<'a, 's> {
    name: String,
    op: &'a Operation<'s>,
    /// `Some((property, value, schema place))` for an action variant.
    variant: Option<(String, String, Loc)>,
    /// What names the targets of a variant on a collection: a query parameter (`tag_name`) or
    /// a body field (`volume_name`). Without it the action has no target, so it is required.
    targets: Option<Target>,
}

#[derive(Clone)]
enum Target {
    Query(String),
    Field(String),
}

/// What a generation produced.
#[derive(Debug)]
pub struct Generated {
    pub provider: String,
    pub version: String,
    /// `provider.yaml`.
    pub provider_document: String,
    /// Service name → its document (`services/<name>.yaml`).
    pub services: BTreeMap<String, String>,
    /// Service → resource → method names, for a summary.
    pub outline: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Files of the specification read.
    pub files_read: usize,
}

impl Generated {
    /// Writes `<out>/<provider>/<version>/provider.yaml` and `…/services/*.yaml`, replacing
    /// service documents left from an earlier generation.
    pub fn write(&self, out: &Path) -> Result<(), GenerateError> {
        let dir = out.join(&self.provider).join(&self.version);
        let services = dir.join("services");
        let write_err = |file: &Path, e: std::io::Error| GenerateError::Write {
            file: file.to_path_buf(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(&services).map_err(|e| write_err(&services, e))?;
        if let Ok(entries) = std::fs::read_dir(&services) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "yaml") {
                    std::fs::remove_file(&p).map_err(|e| write_err(&p, e))?;
                }
            }
        }
        let provider = dir.join("provider.yaml");
        std::fs::write(&provider, &self.provider_document).map_err(|e| write_err(&provider, e))?;
        for (name, text) in &self.services {
            let file = services.join(format!("{name}.yaml"));
            std::fs::write(&file, text).map_err(|e| write_err(&file, e))?;
        }
        Ok(())
    }
}

/// Generates provider documents for `provider` from the OpenAPI document at `spec_file`.
pub fn generate(
    spec_file: &Path,
    provider: &str,
    config: &GenerateConfig,
) -> Result<Generated, GenerateError> {
    let spec = Spec::load(spec_file)?;
    let version = config
        .version
        .clone()
        .unwrap_or_else(|| "v00.00.00000".to_string());
    let mut ops = operations(&spec, config)?;
    assign_resources(&mut ops, config);

    // Services in name order; operations keep the document's order within each.
    let mut by_service: BTreeMap<String, Vec<&Operation>> = BTreeMap::new();
    for op in &ops {
        by_service.entry(op.service.clone()).or_default().push(op);
    }
    let servers = root_servers(&spec);
    let mut services = BTreeMap::new();
    let mut outline = BTreeMap::new();
    for (service, ops) in &by_service {
        let (doc, resources) = service_document(&spec, provider, service, ops, &servers, config)?;
        services.insert(service.clone(), emit(&doc, config.header.as_deref())?);
        outline.insert(service.clone(), resources);
    }
    let provider_document = emit(
        &provider_doc(provider, &version, config, &by_service),
        config.header.as_deref(),
    )?;
    Ok(Generated {
        provider: provider.to_string(),
        version,
        provider_document,
        services,
        outline,
        files_read: spec.files(),
    })
}

/// Every operation under `paths`, in the document's order.
fn operations<'s>(
    spec: &'s Spec,
    config: &GenerateConfig,
) -> Result<Vec<Operation<'s>>, GenerateError> {
    let (root_loc, root) = spec.root();
    let paths = root
        .get("paths")
        .and_then(Value::as_object)
        .ok_or_else(|| GenerateError::Invalid {
            at: root_loc.describe(),
            message: "no paths: not an OpenAPI document".to_string(),
        })?;
    let paths_loc = root_loc.join("paths");
    let mut out = Vec::new();
    for (path, item) in paths {
        let (item_loc, item) = spec.deref(paths_loc.join(path), item)?;
        for verb in VERBS {
            let Some(op) = item.get(verb) else {
                continue;
            };
            let (loc, value) = spec.deref(item_loc.join(verb), op)?;
            let op_id = value
                .get("operationId")
                .and_then(Value::as_str)
                // A file name that leaked into the id (DigitalOcean's
                // `monitoring_get_appRestartCountMetrics.yml`) is not part of the name.
                .map(|id| {
                    id.trim_end_matches(".yml")
                        .trim_end_matches(".yaml")
                        .to_string()
                })
                .unwrap_or_else(|| format!("{verb}_{}", path_words(path).join("_")));
            let tag = value
                .pointer("/tags/0")
                .and_then(Value::as_str)
                .map(str::to_string);
            let service = match &tag {
                Some(t) => config
                    .services
                    .get(t)
                    .cloned()
                    .unwrap_or_else(|| segment(t)),
                None => path_words(path).first().cloned().unwrap_or_default(),
            };
            out.push(Operation {
                path: path.clone(),
                verb,
                loc,
                value,
                item_loc: item_loc.clone(),
                item,
                op_id,
                service,
                resource: String::new(),
            });
        }
    }
    Ok(out)
}

/// The static segments of a path, as name words, without a version (`v2`) or `api` prefix.
fn path_words(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty() && !s.starts_with('{'))
        .filter(|s| !is_version(s) && *s != "api")
        .map(segment)
        .collect()
}

fn is_version(s: &str) -> bool {
    s.len() >= 2 && s.starts_with('v') && s[1..].chars().all(|c| c.is_ascii_digit())
}

/// `/v2/droplets/{droplet_id}` → `/v2/droplets`: the collection an item belongs to.
fn collection_of(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((head, last)) if last.starts_with('{') => head,
        _ => trimmed,
    }
}

/// The rule-made resource name of a collection path: its last static segment, after its parent
/// in the singular when it is nested under an item (`/v2/droplets/{id}/actions` →
/// `droplet_actions`), unless the parent is the service itself (`/v2/apps/{app_id}/deployments`
/// in service `apps` → `deployments`); actions on a whole collection are named the same way
/// (`/v2/droplets/actions` → `droplet_actions`).
fn collection_name(collection: &str, service: &str) -> String {
    let segs: Vec<&str> = collection
        .split('/')
        .filter(|s| !s.is_empty())
        .filter(|s| s.starts_with('{') || (!is_version(s) && *s != "api"))
        .collect();
    let Some(last) = segs.last() else {
        return "root".to_string();
    };
    let last = segment(last);
    // Actions on a whole collection (`/v2/droplets/actions`) are that collection's, not the
    // account's (`/v2/actions`).
    if last == "actions" && segs.len() >= 2 {
        let before = segs[segs.len() - 2];
        if !before.starts_with('{') && segment(before) != service {
            return format!("{}_actions", singular(&segment(before)));
        }
    }
    // The static segment before the nearest item key, if the collection hangs under one.
    let parent = segs
        .iter()
        .rev()
        .skip(1)
        .skip_while(|s| !s.starts_with('{'))
        .find(|s| !s.starts_with('{'));
    match parent {
        Some(p) if segs.len() >= 3 && segment(p) != service => {
            format!("{}_{last}", singular(&segment(p)))
        }
        _ => last,
    }
}

/// Each operation's resource: the configuration's table first, then the rules.
fn assign_resources(ops: &mut [Operation<'_>], config: &GenerateConfig) {
    let with_get: BTreeSet<String> = ops
        .iter()
        .filter(|o| o.verb == "get")
        .map(|o| o.path.clone())
        .collect();
    for op in ops.iter_mut() {
        if let Some(r) = config.resources.get(&op.op_id) {
            op.resource = r.clone();
            continue;
        }
        let path = op.path.trim_end_matches('/');
        let last_is_key = path.rsplit('/').next().is_some_and(|s| s.starts_with('{'));
        // A POST to a verb under an item (`/v2/apps/{app_id}/restart`) acts on the item.
        let parent = path.rsplit_once('/').map(|(h, _)| h).unwrap_or(path);
        let action_on_item = op.verb == "post"
            && !last_is_key
            && parent.ends_with('}')
            && !with_get.contains(path)
            && !path.ends_with("/actions");
        let collection = if action_on_item {
            collection_of(parent)
        } else {
            collection_of(path)
        };
        op.resource = collection_name(collection, &op.service);
    }
}

fn root_servers(spec: &Spec) -> Vec<Value> {
    let (_, root) = spec.root();
    root.get("servers")
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter_map(|x| x.get("url").cloned())
                .map(|url| json!({ "url": url }))
                .collect()
        })
        .unwrap_or_default()
}

/// One service's document, and an outline of its resources and methods.
fn service_document(
    spec: &Spec,
    provider: &str,
    service: &str,
    ops: &[&Operation<'_>],
    servers: &[Value],
    config: &GenerateConfig,
) -> Result<(Value, BTreeMap<String, Vec<String>>), GenerateError> {
    let mut bundler = Bundler::new(spec);
    let mut paths = Map::new();
    // Resource → its methods, in the order of the operations.
    let mut resources: Vec<(String, Vec<MethodPlan>)> = Vec::new();
    let mut resource_of_path: HashMap<&str, &str> = HashMap::new();
    for op in ops {
        resource_of_path
            .entry(op.path.as_str())
            .or_insert(op.resource.as_str());
    }
    for op in ops {
        let name = config
            .methods
            .get(&op.op_id)
            .cloned()
            .unwrap_or_else(|| snake_case(&op.op_id));
        push_method(
            &mut resources,
            &op.resource,
            MethodPlan {
                name,
                op,
                variant: None,
                targets: None,
            },
        );
        for (property, value, schema) in action_variants(spec, op)? {
            // On the item the actions belong to (`/v2/droplets/{id}/actions` → `droplets`).
            let parent = op.path.trim_end_matches("/actions");
            let owner = resource_of_path
                .get(parent)
                .map(|r| r.to_string())
                .unwrap_or_else(|| collection_name(collection_of(parent), &op.service));
            let mut name = value.clone();
            let mut targets = None;
            if !op.path.contains('{') {
                // On the collection, the target is named another way than by key: by a query
                // parameter (`tag_name` → `reboot_by_tag`), or by a `…_name` field of the body
                // (`volume_name` → `attach_by_name`).
                targets = match selecting_query_param(spec, op) {
                    Some(q) => Some(Target::Query(q)),
                    None => properties(spec, schema.clone(), spec.at(&schema)?, 0)?
                        .into_iter()
                        .map(|(n, _)| n)
                        .chain(
                            example_only_fields(spec, op, &property, &value, &schema)?
                                .into_iter()
                                .map(|(n, _)| n),
                        )
                        .find(|n| n.ends_with("_name"))
                        .map(Target::Field),
                };
                if let Some(Target::Query(by) | Target::Field(by)) = &targets {
                    let singular_owner = singular(&owner);
                    let word = by.trim_end_matches("_name").trim_end_matches("_id");
                    let word = if word == singular_owner {
                        by.rsplit('_').next().unwrap_or(word)
                    } else {
                        word
                    };
                    name = format!("{value}_by_{word}");
                }
            }
            push_method(
                &mut resources,
                &owner,
                MethodPlan {
                    name,
                    op,
                    variant: Some((property, value, schema)),
                    targets,
                },
            );
        }
    }

    let mut stackql = Map::new();
    let mut outline = BTreeMap::new();
    for (resource, methods) in &resources {
        let mut method_entries = Map::new();
        // Per verb: (sort key, method). Select lists the method with more required parameters
        // first (get before list); the others keep the document's order.
        let mut verbs: BTreeMap<&str, Vec<Ranked>> = BTreeMap::new();
        for (index, m) in methods.iter().enumerate() {
            let entry = method_entry(spec, &mut bundler, m, &mut paths, config, resource)?;
            if let Some(verb) = sql_verb(m, config) {
                let fewer_first = if verb == "select" {
                    usize::MAX - required_count(spec, m.op)
                } else {
                    0
                };
                verbs
                    .entry(verb)
                    .or_default()
                    .push(((fewer_first, index), m.name.clone()));
            }
            method_entries.insert(m.name.clone(), entry);
        }
        let mut sql_verbs = Map::new();
        for verb in ["select", "insert", "update", "replace", "delete"] {
            let mut list = verbs.remove(verb).unwrap_or_default();
            list.sort_by_key(|(key, _)| *key);
            let refs: Vec<Value> = list
                .into_iter()
                .map(|(_, m)| {
                    json!({ "$ref": format!("#/components/x-stackQL-resources/{resource}/methods/{m}") })
                })
                .collect();
            sql_verbs.insert(verb.to_string(), Value::Array(refs));
        }
        outline.insert(
            resource.clone(),
            methods.iter().map(|m| m.name.clone()).collect(),
        );
        stackql.insert(
            resource.clone(),
            json!({
                "id": format!("{provider}.{service}.{resource}"),
                "name": resource,
                "title": title(resource),
                "methods": Value::Object(method_entries),
                "sqlVerbs": Value::Object(sql_verbs),
            }),
        );
    }

    let mut components = bundler.components();
    if let Value::Object(c) = &mut components {
        c.insert(
            "securitySchemes".to_string(),
            json!({ "bearer_auth": { "type": "http", "scheme": "bearer" } }),
        );
        c.insert("x-stackQL-resources".to_string(), Value::Object(stackql));
    }
    let doc = json!({
        "openapi": "3.0.0",
        "info": {
            "title": format!("{service} API"),
            "description": format!("{provider} {service} API"),
            "version": "2.0",
        },
        "servers": servers,
        "security": [{ "bearer_auth": [] }],
        "paths": Value::Object(paths),
        "components": components,
        "x-stackQL-config": {
            "requestBodyTranslate": { "algorithm": "naive" },
        },
    });
    Ok((doc, outline))
}

fn push_method<'a, 's>(
    resources: &mut Vec<(String, Vec<MethodPlan<'a, 's>>)>,
    resource: &str,
    method: MethodPlan<'a, 's>,
) {
    let list = match resources.iter_mut().position(|(r, _)| r == resource) {
        Some(i) => &mut resources[i].1,
        None => {
            resources.push((resource.to_string(), Vec::new()));
            let last = resources.len() - 1;
            &mut resources[last].1
        }
    };
    // Two methods of one name on one resource: the later one is told apart by a number.
    let mut name = method.name.clone();
    let mut n = 2;
    while list.iter().any(|m| m.name == name) {
        name = format!("{}_{n}", method.name);
        n += 1;
    }
    list.push(MethodPlan { name, ..method });
}

/// The SQL verb that reaches a method, or `None` for EXEC only.
fn sql_verb(m: &MethodPlan, config: &GenerateConfig) -> Option<&'static str> {
    if let Some(verb) = config.verbs.get(&m.name) {
        return ["select", "insert", "update", "replace", "delete"]
            .into_iter()
            .find(|v| v == verb);
    }
    if m.variant.is_some() {
        return None;
    }
    let path = m.op.path.trim_end_matches('/');
    let on_collection = !path.rsplit('/').next().is_some_and(|s| s.starts_with('{'));
    match m.op.verb {
        "get" => Some("select"),
        "post" if on_collection && !is_action_path(path) => Some("insert"),
        "put" => Some("replace"),
        "patch" => Some("update"),
        "delete" => Some("delete"),
        _ => None,
    }
}

/// A path ending in a verb-like segment under an item, or in `/actions`: a POST there acts.
fn is_action_path(path: &str) -> bool {
    path.ends_with("/actions")
        || path
            .rsplit_once('/')
            .is_some_and(|(head, last)| head.ends_with('}') && !last.ends_with('s'))
}

/// Required path and query parameters of an operation.
fn required_count(spec: &Spec, op: &Operation) -> usize {
    parameters(spec, op)
        .iter()
        .filter(|(_, p)| {
            p.get("in").and_then(Value::as_str) == Some("path")
                || p.get("required").and_then(Value::as_bool) == Some(true)
        })
        .count()
}

/// The first query parameter that is not about paging: how a collection-level action names its
/// targets (`tag_name`).
fn selecting_query_param(spec: &Spec, op: &Operation) -> Option<String> {
    parameters(spec, op).into_iter().find_map(|(_, p)| {
        let name = p.get("name").and_then(Value::as_str)?;
        (p.get("in").and_then(Value::as_str) == Some("query")
            && !matches!(name, "per_page" | "page"))
        .then(|| name.to_string())
    })
}

/// The path item's and the operation's parameters, resolved.
fn parameters<'s>(spec: &'s Spec, op: &Operation<'s>) -> Vec<(Loc, &'s Value)> {
    let mut out = Vec::new();
    for (loc, holder) in [(&op.item_loc, op.item), (&op.loc, op.value)] {
        if let Some(list) = holder.get("parameters").and_then(Value::as_array) {
            let list_loc = loc.join("parameters");
            for (i, p) in list.iter().enumerate() {
                if let Ok(resolved) = spec.deref(list_loc.join(&i.to_string()), p) {
                    out.push(resolved);
                }
            }
        }
    }
    out
}

/// `(property, value, schema)` for each variant of an action operation: a POST to `…/actions`
/// whose JSON body has a discriminator mapping of two or more values.
fn action_variants(
    spec: &Spec,
    op: &Operation,
) -> Result<Vec<(String, String, Loc)>, GenerateError> {
    if op.verb != "post" || !op.path.trim_end_matches('/').ends_with("/actions") {
        return Ok(Vec::new());
    }
    let Some(body) = op.value.get("requestBody") else {
        return Ok(Vec::new());
    };
    let (body_loc, body) = spec.deref(op.loc.join("requestBody"), body)?;
    let Some(schema) = body.pointer("/content/application~1json/schema") else {
        return Ok(Vec::new());
    };
    let schema_loc = body_loc
        .join("content")
        .join("application/json")
        .join("schema");
    let (schema_loc, schema) = spec.deref(schema_loc, schema)?;
    let (Some(property), Some(mapping)) = (
        schema
            .pointer("/discriminator/propertyName")
            .and_then(Value::as_str),
        schema
            .pointer("/discriminator/mapping")
            .and_then(Value::as_object),
    ) else {
        return Ok(Vec::new());
    };
    if mapping.len() < 2 {
        return Ok(Vec::new());
    }
    Ok(mapping
        .iter()
        .filter_map(|(value, target)| {
            let target = spec.target(&schema_loc, target.as_str()?);
            Some((property.to_string(), value.clone(), target))
        })
        .collect())
}

/// Fields that the operation's request examples for this variant send but its schema does not
/// describe, each with a schema guessed from the example's value. Sorted by name.
fn example_only_fields(
    spec: &Spec,
    op: &Operation,
    property: &str,
    value: &str,
    schema: &Loc,
) -> Result<Vec<(String, Value)>, GenerateError> {
    let Some(body) = op.value.get("requestBody") else {
        return Ok(Vec::new());
    };
    let (body_loc, body) = spec.deref(op.loc.join("requestBody"), body)?;
    let Some(examples) = body
        .pointer("/content/application~1json/examples")
        .and_then(Value::as_object)
    else {
        return Ok(Vec::new());
    };
    let described: Vec<String> = properties(spec, schema.clone(), spec.at(schema)?, 0)?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let mut extra: BTreeMap<String, Value> = BTreeMap::new();
    for (name, example) in examples {
        let loc = body_loc
            .join("content")
            .join("application/json")
            .join("examples")
            .join(name);
        let (_, example) = spec.deref(loc, example)?;
        let Some(fields) = example.get("value").and_then(Value::as_object) else {
            continue;
        };
        if fields.get(property).and_then(Value::as_str) != Some(value) {
            continue;
        }
        for (field, sample) in fields {
            if described.iter().any(|d| d == field) || extra.contains_key(field) {
                continue;
            }
            let kind = match sample {
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                Value::Number(_) => "number",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
                _ => "string",
            };
            let mut field_schema = json!({ "type": kind, "example": sample });
            if kind == "array" {
                field_schema["items"] = json!({});
            }
            extra.insert(field.clone(), field_schema);
        }
    }
    Ok(extra.into_iter().collect())
}

/// Writes a method's operation into `paths` and gives its `x-stackQL-resources` entry.
fn method_entry(
    spec: &Spec,
    bundler: &mut Bundler,
    m: &MethodPlan,
    paths: &mut Map<String, Value>,
    generate_config: &GenerateConfig,
    resource: &str,
) -> Result<Value, GenerateError> {
    let op = m.op;
    let doc_path = match &m.variant {
        Some((_, value, _)) => format!("{}?__type={value}", op.path),
        None => op.path.clone(),
    };
    let mut copied = bundler.copy(&op.loc, op.value, Kind::Other)?;
    if let Some((property, value, schema)) = &m.variant {
        let name = bundler.import(schema.clone(), Kind::Schema)?;
        if let Value::Object(o) = &mut copied {
            o.insert(
                "operationId".to_string(),
                Value::String(format!("{}_{value}", snake_case(&op.op_id))),
            );
            let reference = json!({ "$ref": format!("#/components/schemas/{name}") });
            let extra = example_only_fields(spec, op, property, value, schema)?;
            let mut body_schema = if extra.is_empty() {
                reference
            } else {
                // Fields the official examples send but the schema forgot (DigitalOcean's
                // `volume_name` for volume actions by name): described, so they can be set.
                json!({ "allOf": [reference, {
                    "type": "object",
                    "properties": Value::Object(extra.into_iter().collect()),
                }] })
            };
            // Fields the action cannot do without, which the schema leaves optional: the body
            // field naming its targets (`attach_by_name` needs `volume_name`), and those the
            // configuration's `required_fields` names (`droplets.rename` needs `name`).
            let mut required: Vec<String> = generate_config
                .required_fields
                .get(&format!("{resource}.{}", m.name))
                .cloned()
                .unwrap_or_default();
            if let Some(Target::Field(field)) = &m.targets {
                required.insert(0, field.clone());
            }
            if !required.is_empty() {
                body_schema = json!({ "allOf": [body_schema, { "required": required }] });
            }
            // The query parameter naming the targets (`power_off_by_tag` needs `tag_name`):
            // required here, though the operation's other uses leave it optional.
            if let Some(Target::Query(param)) = &m.targets {
                let resolved = parameters(spec, op)
                    .into_iter()
                    .find(|(_, p)| p.get("name").and_then(Value::as_str) == Some(param.as_str()));
                if let (Some((loc, p)), Some(list)) = (
                    resolved,
                    o.get_mut("parameters").and_then(Value::as_array_mut),
                ) {
                    let mut inline = bundler.copy(&loc, p, Kind::Parameter)?;
                    if let Value::Object(fields) = &mut inline {
                        fields.insert("required".to_string(), Value::Bool(true));
                    }
                    let own = op.value.get("parameters").and_then(Value::as_array);
                    let at = own.and_then(|own| {
                        own.iter().position(|raw| {
                            spec.deref(op.loc.join("parameters"), raw)
                                .is_ok_and(|(_, r)| r.get("name") == p.get("name"))
                        })
                    });
                    match at {
                        Some(i) if i < list.len() => list[i] = inline,
                        _ => list.push(inline),
                    }
                }
            }
            o.insert(
                "requestBody".to_string(),
                json!({
                    "required": true,
                    "content": { "application/json": { "schema": body_schema } }
                }),
            );
        }
    }
    let ResponseShape {
        code,
        object_key,
        wrap,
    } = response_shape(spec, op)?;
    if let (Some(code), Some(key)) = (&code, &wrap) {
        // The example wraps the object in a key the schema lacks: wrap the schema likewise.
        if let Some(schema) = copied
            .pointer(&format!("/responses/{code}"))
            .cloned()
            .and_then(|r| response_schema_ref(bundler, spec, op, code, r))
        {
            if let Some(responses) = copied.get_mut("responses").and_then(Value::as_object_mut) {
                responses.insert(
                    code.clone(),
                    json!({
                        "description": format!("The API's answer, with the object under `{key}`."),
                        "content": { "application/json": { "schema": {
                            "type": "object",
                            "properties": { key.clone(): schema }
                        } } }
                    }),
                );
            }
        }
    }
    let item = paths
        .entry(doc_path.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(item) = item {
        if let Some(params) = op.item.get("parameters") {
            if !item.contains_key("parameters") {
                let copied_params =
                    bundler.copy(&op.item_loc.join("parameters"), params, Kind::Other)?;
                item.insert("parameters".to_string(), copied_params);
            }
        }
        if let Some(servers) = op.value.get("servers").or_else(|| op.item.get("servers")) {
            if let Value::Object(o) = &mut copied {
                o.insert("servers".to_string(), servers.clone());
            }
        }
        item.insert(op.verb.to_string(), copied);
    }

    let pointer = format!(
        "#/paths/{}/{}",
        doc_path.replace('~', "~0").replace('/', "~1"),
        op.verb
    );
    let mut entry = Map::new();
    entry.insert("operation".to_string(), json!({ "$ref": pointer }));
    if let Some((property, value, _)) = &m.variant {
        let base = json!({ property.clone(): value }).to_string();
        entry.insert(
            "request".to_string(),
            json!({ "mediaType": "application/json", "base": base }),
        );
    }
    let mut response = Map::new();
    response.insert(
        "mediaType".to_string(),
        json!(response_media_type(spec, op, code.as_deref())?),
    );
    if let Some(code) = &code {
        response.insert("openAPIDocKey".to_string(), json!(code));
    }
    if let Some(key) = &object_key {
        response.insert("objectKey".to_string(), json!(format!("$.{key}")));
    }
    entry.insert("response".to_string(), Value::Object(response));
    let mut config = Map::new();
    if m.variant.is_some() {
        config.insert(
            "requestTranslate".to_string(),
            json!({ "algorithm": "drop_double_underscore_params" }),
        );
    }
    if op.verb == "get" {
        if has_links(spec, op)? {
            config.insert(
                "pagination".to_string(),
                json!({
                    "requestToken": { "key": "", "location": "request" },
                    "responseToken": { "key": "$.links.pages.next", "location": "body" }
                }),
            );
        }
        if let Some(max) = page_size_maximum(spec, op) {
            config.insert(
                "queryParamPushdown".to_string(),
                json!({ "top": { "paramName": "per_page", "maxValue": max } }),
            );
        }
    }
    if !config.is_empty() {
        entry.insert("config".to_string(), Value::Object(config));
    }
    if let Some(aliases) = generate_config.aliases.get(&m.name) {
        entry.insert("x-iql-aliases".to_string(), json!(aliases));
    }
    if let Some(params) = generate_config.true_only.get(&m.name) {
        entry.insert("x-iql-true-only".to_string(), json!(params));
    }
    Ok(Value::Object(entry))
}

/// The local `$ref` of a response's JSON schema (as copied), for wrapping it.
fn response_schema_ref(
    bundler: &mut Bundler,
    spec: &Spec,
    op: &Operation,
    code: &str,
    copied_response: Value,
) -> Option<Value> {
    let _ = copied_response;
    let response = op.value.pointer(&format!("/responses/{code}"))?;
    let (loc, response) = spec
        .deref(op.loc.join("responses").join(code), response)
        .ok()?;
    let schema = response.pointer("/content/application~1json/schema")?;
    let schema_loc = loc.join("content").join("application/json").join("schema");
    bundler.copy(&schema_loc, schema, Kind::Schema).ok()
}

/// The shape of an operation's first 2xx response.
fn response_shape(spec: &Spec, op: &Operation) -> Result<ResponseShape, GenerateError> {
    let Some(responses) = op.value.get("responses").and_then(Value::as_object) else {
        return Ok(ResponseShape::default());
    };
    let Some((code, response)) = responses.iter().find(|(c, _)| c.starts_with('2')) else {
        return Ok(ResponseShape::default());
    };
    let only_code = || {
        Ok(ResponseShape {
            code: Some(code.clone()),
            ..ResponseShape::default()
        })
    };
    let (loc, response) = spec.deref(op.loc.join("responses").join(code), response)?;
    let Some(media) = response.pointer("/content/application~1json") else {
        return only_code();
    };
    let Some(schema) = media.get("schema") else {
        return only_code();
    };
    let media_loc = loc.join("content").join("application/json");
    let props = properties(spec, media_loc.join("schema"), schema, 0)?;
    let kinds: Vec<(String, bool)> = props
        .iter()
        .filter(|(n, _)| n != "links" && n != "meta")
        .map(|(n, is_array)| (n.clone(), *is_array))
        .collect();
    // A wrapper is the one property besides the paging ones; with several, the body is the row,
    // unless a GET of a collection answers one list of objects beside a few counts and notes
    // (`backups` with `scheduled_backup_time`, `data` with `object`, `access_keys` with
    // `count`): its items are the rows, as StackQL's documents have them. Beside an object the
    // body is about that object (`{run: {…}, results: […]}` is one run) and stays the row,
    // unless the schema requires the list alone.
    let key = match kinds.as_slice() {
        [(one, _)] => Some(one.clone()),
        several if op.verb == "get" && several.len() <= 4 => {
            let schema_loc = media_loc.join("schema");
            let mut lists = Vec::new();
            let mut objects = 0;
            for (name, _) in several {
                match shape_of(spec, &schema_loc, schema, name)? {
                    Shape::ListOfObjects => lists.push(name.clone()),
                    Shape::Object => objects += 1,
                    Shape::Other => {}
                }
            }
            // Beside an object, the list is the rows only when the schema requires it alone.
            let required: Vec<&str> = spec
                .deref(schema_loc.clone(), schema)?
                .1
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match lists.as_slice() {
                [one] if objects == 0 || required == [one.as_str()] => Some(one.clone()),
                _ => None,
            }
        }
        _ => None,
    };
    // The example's shape, where the schema's own properties do not name a wrapper.
    let wrap = if key.is_none() || kinds.len() > 1 {
        example_wrapper(spec, &media_loc, media, &props)?
    } else {
        None
    };
    Ok(ResponseShape {
        code: Some(code.clone()),
        object_key: wrap.clone().or(key),
        wrap,
    })
}

/// The media type of the answer: JSON where the response offers it, else the one it has
/// (`application/yaml` for a kubeconfig, `text/csv` for an invoice).
fn response_media_type(
    spec: &Spec,
    op: &Operation,
    code: Option<&str>,
) -> Result<String, GenerateError> {
    const JSON: &str = "application/json";
    let Some((code, response)) = code.and_then(|c| {
        op.value
            .get("responses")
            .and_then(|r| r.get(c))
            .map(|r| (c, r))
    }) else {
        return Ok(JSON.to_string());
    };
    let (_, response) = spec.deref(op.loc.join("responses").join(code), response)?;
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return Ok(JSON.to_string());
    };
    if content.contains_key(JSON) || content.is_empty() {
        return Ok(JSON.to_string());
    }
    Ok(content
        .keys()
        .find(|k| k.contains("json"))
        .or_else(|| content.keys().next())
        .cloned()
        .unwrap_or_else(|| JSON.to_string()))
}

/// What a property of a response body holds.
enum Shape {
    ListOfObjects,
    Object,
    Other,
}

/// The shape of the property `name` of `schema` (or of one of its `allOf` parts).
fn shape_of(spec: &Spec, loc: &Loc, schema: &Value, name: &str) -> Result<Shape, GenerateError> {
    let is_object = |v: &Value| {
        v.get("type").and_then(Value::as_str) == Some("object")
            || v.get("properties").is_some()
            || v.get("allOf").is_some()
    };
    let (loc, schema) = spec.deref(loc.clone(), schema)?;
    if let Some(p) = schema.get("properties").and_then(|p| p.get(name)) {
        let (p_loc, p) = spec.deref(loc.join("properties").join(name), p)?;
        return Ok(match p.get("items") {
            Some(items) => {
                let (_, items) = spec.deref(p_loc.join("items"), items)?;
                if is_object(items) {
                    Shape::ListOfObjects
                } else {
                    Shape::Other
                }
            }
            None if is_object(p) => Shape::Object,
            None => Shape::Other,
        });
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for (i, part) in parts.iter().enumerate() {
            match shape_of(spec, &loc.join("allOf").join(&i.to_string()), part, name)? {
                Shape::Other => {}
                found => return Ok(found),
            }
        }
    }
    Ok(Shape::Other)
}

/// A key the response's example wraps the object in (`{"action": {…}}`) that the schema lacks.
fn example_wrapper(
    spec: &Spec,
    media_loc: &Loc,
    media: &Value,
    props: &[(String, bool)],
) -> Result<Option<String>, GenerateError> {
    let example = match (media.get("example"), media.get("examples")) {
        (Some(e), _) => Some((media_loc.join("example"), e)),
        (None, Some(Value::Object(examples))) => examples
            .iter()
            .next()
            .map(|(k, e)| (media_loc.join("examples").join(k), e)),
        _ => None,
    };
    let Some((loc, example)) = example else {
        return Ok(None);
    };
    let (_, example) = spec.deref(loc, example)?;
    // An entry of `examples` holds its example under `value`.
    let example = match (media.get("example"), example.get("value")) {
        (None, Some(value)) => value,
        _ => example,
    };
    let Some(obj) = example.as_object() else {
        return Ok(None);
    };
    let wrapped: Vec<&String> = obj
        .iter()
        .filter(|(k, v)| v.is_object() && !props.iter().any(|(p, _)| p == *k))
        .map(|(k, _)| k)
        .collect();
    Ok(match wrapped.as_slice() {
        [one] if obj.len() == 1 && !props.is_empty() => Some((*one).clone()),
        _ => None,
    })
}

/// A schema's top-level properties (following `$ref` and `allOf`), each with whether it is an
/// array.
fn properties(
    spec: &Spec,
    loc: Loc,
    schema: &Value,
    depth: usize,
) -> Result<Vec<(String, bool)>, GenerateError> {
    if depth > 16 {
        return Ok(Vec::new());
    }
    let (loc, schema) = spec.deref(loc, schema)?;
    let mut out: Vec<(String, bool)> = Vec::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, p) in props {
            let (_, p) = spec.deref(loc.join("properties").join(name), p)?;
            let is_array = p.get("type").and_then(Value::as_str) == Some("array");
            out.push((name.clone(), is_array));
        }
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for (i, part) in parts.iter().enumerate() {
            for p in properties(
                spec,
                loc.join("allOf").join(&i.to_string()),
                part,
                depth + 1,
            )? {
                if !out.iter().any(|(n, _)| *n == p.0) {
                    out.push(p);
                }
            }
        }
    }
    Ok(out)
}

/// Whether the first 2xx answer carries `links` (DigitalOcean's paging).
fn has_links(spec: &Spec, op: &Operation) -> Result<bool, GenerateError> {
    let Some((code, response)) = op
        .value
        .get("responses")
        .and_then(Value::as_object)
        .and_then(|r| r.iter().find(|(c, _)| c.starts_with('2')))
    else {
        return Ok(false);
    };
    let (loc, response) = spec.deref(op.loc.join("responses").join(code), response)?;
    let Some(schema) = response.pointer("/content/application~1json/schema") else {
        return Ok(false);
    };
    let schema_loc = loc.join("content").join("application/json").join("schema");
    Ok(properties(spec, schema_loc, schema, 0)?
        .iter()
        .any(|(n, _)| n == "links"))
}

/// The largest `per_page` the operation takes, if it takes one with a maximum.
fn page_size_maximum(spec: &Spec, op: &Operation) -> Option<u64> {
    parameters(spec, op).into_iter().find_map(|(loc, p)| {
        if p.get("name").and_then(Value::as_str) != Some("per_page") {
            return None;
        }
        let schema = p.get("schema")?;
        let (_, schema) = spec.deref(loc.join("schema"), schema).ok()?;
        schema.get("maximum").and_then(Value::as_u64)
    })
}

fn provider_doc(
    provider: &str,
    version: &str,
    config: &GenerateConfig,
    services: &BTreeMap<String, Vec<&Operation<'_>>>,
) -> Value {
    let mut listed = Map::new();
    for service in services.keys() {
        listed.insert(
            service.clone(),
            json!({
                "id": format!("{service}:{version}"),
                "name": service,
                "preferred": true,
                "service": { "$ref": format!("{provider}/{version}/services/{service}.yaml") },
                "title": format!("{service} API"),
                "version": version,
                "description": format!("{provider} {service} API"),
            }),
        );
    }
    let var = config
        .credentials_env_var
        .clone()
        .unwrap_or_else(|| format!("{}_TOKEN", provider.to_uppercase()));
    json!({
        "id": provider,
        "name": provider,
        "version": version,
        "providerServices": Value::Object(listed),
        "config": { "auth": { "credentialsenvvar": var, "type": "bearer" } },
    })
}

/// YAML text of a document, after the header comment.
fn emit(doc: &Value, header: Option<&str>) -> Result<String, GenerateError> {
    let body = serde_yaml::to_string(doc).map_err(|e| GenerateError::Invalid {
        at: "output".to_string(),
        message: e.to_string(),
    })?;
    let mut out = String::new();
    if let Some(h) = header {
        for line in h.lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&body);
    Ok(out)
}
