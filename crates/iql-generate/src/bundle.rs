//! Makes a service's document self-contained: everything its operations reference, in any file
//! of the specification, is copied into the document's own `components` and every `$ref` is
//! rewritten to point there (`#/components/schemas/droplet`). A provider document is one file;
//! StackQL and iql read it without the specification around it.
//!
//! The kind of component a reference becomes (schema, parameter, response, request body,
//! header) follows from where it is written: an item of `parameters` is a parameter, anything
//! under `schema` a schema. Names come from the referenced place (the last segment of its pointer,
//! or the file's name), made unique with the folder they come from, then a number; the same place
//! always gets the same name, in the order the operations are walked, so the output is the same
//! every run.
//!
//! Left out on the way, as no reader of provider documents uses them: code samples
//! (`x-codeSamples`) and the examples of responses and request bodies (parameters keep theirs:
//! they fill parameters in documentation and tests).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use crate::error::GenerateError;
use crate::spec::{Loc, Spec};

/// What a place is, by where it is referenced from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Schema,
    Parameter,
    Response,
    RequestBody,
    Header,
    Example,
    /// An operation, a path item, a media type: never a component itself.
    Other,
}

impl Kind {
    fn section(self) -> &'static str {
        match self {
            Kind::Schema => "schemas",
            Kind::Parameter => "parameters",
            Kind::Response => "responses",
            Kind::RequestBody => "requestBodies",
            Kind::Header => "headers",
            Kind::Example => "examples",
            Kind::Other => "x-iql-other",
        }
    }
}

/// Builds the `components` of one document while its operations are copied in.
pub struct Bundler<'s> {
    spec: &'s Spec,
    /// Each place copied in, and its local name.
    names: HashMap<(Kind, Loc), String>,
    taken: HashSet<(Kind, String)>,
    components: BTreeMap<Kind, Map<String, Value>>,
    /// Component names in the order they were first met, per section (the output order).
    order: BTreeMap<Kind, Vec<String>>,
}

impl<'s> Bundler<'s> {
    pub fn new(spec: &'s Spec) -> Self {
        Bundler {
            spec,
            names: HashMap::new(),
            taken: HashSet::new(),
            components: BTreeMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// A copy of `value` (found at `loc`, being a `kind`) with every reference made local.
    pub fn copy(&mut self, loc: &Loc, value: &Value, kind: Kind) -> Result<Value, GenerateError> {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    let target = self.spec.target(loc, r);
                    let name = self.import(target, kind)?;
                    return Ok(local_ref(kind, &name));
                }
                let mut out = Map::new();
                for (k, v) in map {
                    if dropped(kind, k) {
                        continue;
                    }
                    let child_loc = loc.join(k);
                    let copied = match (kind, k.as_str()) {
                        // Literal values: nothing in them is a reference.
                        (Kind::Schema, "example" | "default" | "enum" | "const" | "examples")
                        | (Kind::Parameter, "example")
                        | (Kind::Example, "value") => v.clone(),
                        (Kind::Schema, "discriminator") => self.discriminator(&child_loc, v)?,
                        _ => self.copy_child(&child_loc, v, kind, k)?,
                    };
                    out.insert(k.clone(), copied);
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, v) in items.iter().enumerate() {
                    out.push(self.copy(&loc.join(&i.to_string()), v, kind)?);
                }
                Ok(Value::Array(out))
            }
            other => Ok(other.clone()),
        }
    }

    /// A member `key` of a `kind`: what it is decides what its references become.
    fn copy_child(
        &mut self,
        loc: &Loc,
        value: &Value,
        parent: Kind,
        key: &str,
    ) -> Result<Value, GenerateError> {
        let each = |kind: Kind| Child::Each(kind);
        let child = match (parent, key) {
            (Kind::Schema, "properties" | "patternProperties" | "definitions") => {
                each(Kind::Schema)
            }
            (Kind::Schema, _) => Child::One(Kind::Schema),
            (_, "schema") => Child::One(Kind::Schema),
            (_, "parameters") => Child::One(Kind::Parameter),
            (_, "requestBody") => Child::One(Kind::RequestBody),
            (_, "responses") => each(Kind::Response),
            (_, "headers") => each(Kind::Header),
            (_, "examples") => each(Kind::Example),
            (_, "content") => each(Kind::Other),
            _ => Child::One(Kind::Other),
        };
        match child {
            Child::One(kind) => self.copy(loc, value, kind),
            Child::Each(kind) => {
                let Value::Object(map) = value else {
                    return self.copy(loc, value, kind);
                };
                // `properties: {$ref: 'attributes.yml#/load_balancer_droplet_ids'}`: the map itself
                // is elsewhere (DigitalOcean's load balancers). Its members are copied here, or
                // the document would describe a property named `$ref` and lack the real ones.
                if let (Some(Value::String(_)), Kind::Schema) = (map.get("$ref"), kind) {
                    let (at, members) = self.spec.deref(loc.clone(), value)?;
                    let mut out = Map::new();
                    if let Value::Object(members) = members {
                        for (k, v) in members {
                            out.insert(k.clone(), self.copy(&at.join(k), v, kind)?);
                        }
                    }
                    for (k, v) in map.iter().filter(|(k, _)| *k != "$ref") {
                        out.insert(k.clone(), self.copy(&loc.join(k), v, kind)?);
                    }
                    return Ok(Value::Object(out));
                }
                let mut out = Map::new();
                for (k, v) in map {
                    out.insert(k.clone(), self.copy(&loc.join(k), v, kind)?);
                }
                Ok(Value::Object(out))
            }
        }
    }

    /// A discriminator: its mapping names schemas as plain strings, which become local too.
    fn discriminator(&mut self, loc: &Loc, value: &Value) -> Result<Value, GenerateError> {
        let mut out = value.clone();
        if let Some(Value::Object(mapping)) = out.get_mut("mapping") {
            for target in mapping.values_mut() {
                if let Some(r) = target.as_str().map(str::to_string) {
                    let name = self.import(self.spec.target(loc, &r), Kind::Schema)?;
                    *target = Value::String(format!("#/components/schemas/{name}"));
                }
            }
        }
        Ok(out)
    }

    /// The local name of the place `target` as a `kind`, copying it in on first use.
    pub fn import(&mut self, target: Loc, kind: Kind) -> Result<String, GenerateError> {
        let kind = if kind == Kind::Other {
            Kind::Schema
        } else {
            kind
        };
        if let Some(name) = self.names.get(&(kind, target.clone())) {
            return Ok(name.clone());
        }
        let name = self.fresh_name(kind, &target);
        // Named before it is copied, so a schema that refers to itself ends.
        self.names.insert((kind, target.clone()), name.clone());
        self.order.entry(kind).or_default().push(name.clone());
        let value = self.spec.at(&target)?;
        let copied = self.copy(&target, value, kind)?;
        self.components
            .entry(kind)
            .or_default()
            .insert(name.clone(), copied);
        Ok(name)
    }

    fn fresh_name(&mut self, kind: Kind, target: &Loc) -> String {
        let stem = target
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let last = target
            .pointer
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
            .map(|s| s.replace("~1", "_").replace("~0", "_"))
            .unwrap_or_else(|| stem.clone());
        let folder = target
            .file
            .parent()
            .and_then(|p| {
                // `resources/droplets/models/droplet.yml` → `droplets`, past `models`/`responses`.
                p.components()
                    .rev()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .find(|c| {
                        !matches!(
                            c.as_str(),
                            "models" | "responses" | "attributes" | "shared" | "examples"
                        )
                    })
            })
            .unwrap_or_default();
        let base = identifier(&last);
        let mut candidates = vec![base.clone(), format!("{}_{base}", identifier(&folder))];
        if base != identifier(&stem) {
            candidates.push(format!("{}_{base}", identifier(&stem)));
        }
        for c in candidates {
            if self.taken.insert((kind, c.clone())) {
                return c;
            }
        }
        (2..)
            .map(|n| format!("{base}_{n}"))
            .find(|c| self.taken.insert((kind, c.clone())))
            .unwrap_or(base)
    }

    /// The document's `components`, in the order first used.
    pub fn components(&self) -> Value {
        let mut out = Map::new();
        for (kind, names) in &self.order {
            let Some(section) = self.components.get(kind) else {
                continue;
            };
            let mut s = Map::new();
            for n in names {
                if let Some(v) = section.get(n) {
                    s.insert(n.clone(), v.clone());
                }
            }
            out.insert(kind.section().to_string(), Value::Object(s));
        }
        Value::Object(out)
    }
}

enum Child {
    One(Kind),
    Each(Kind),
}

/// Members no provider document reader uses: code samples, and the examples of responses and
/// request bodies (kept for parameters and schemas).
fn dropped(kind: Kind, key: &str) -> bool {
    key == "x-codeSamples"
        || (matches!(kind, Kind::Other | Kind::Response | Kind::RequestBody)
            && matches!(key, "examples" | "example"))
}

fn local_ref(kind: Kind, name: &str) -> Value {
    let kind = if kind == Kind::Other {
        Kind::Schema
    } else {
        kind
    };
    let mut m = Map::new();
    m.insert(
        "$ref".to_string(),
        Value::String(format!("#/components/{}/{name}", kind.section())),
    );
    Value::Object(m)
}

/// A name usable as a component key: letters, digits and `_`.
pub fn identifier(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() {
        out.push('x');
    }
    out
}
