//! Turns a parsed service document into [`Service`]: follows `$ref`s, merges `allOf`, applies the
//! config inheritance (method → resource → service) and flattens schemas into columns and fields.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::ProviderError;
use crate::model::{
    BodyField, BodyVariants, Column, HttpMethod, Method, Pagination, Param, ParamLocation,
    Resource, SchemaInfo, Service, SqlVerb,
};

/// How deep `$ref` chains and schema nesting may go before we call the document cyclic.
const MAX_DEPTH: usize = 32;

/// An object schema's properties (name, schema) and the names it requires.
type ObjectShape<'a> = (Vec<(String, &'a Value)>, Vec<String>);

pub(crate) struct Doc<'a> {
    pub root: &'a Value,
    pub file: &'a Path,
    /// Schema references not found in the document since the last [`Doc::take_unresolved`].
    unresolved: std::cell::RefCell<Vec<String>>,
    /// Other gaps found since the last [`Doc::take_unresolved`].
    notes: std::cell::RefCell<Vec<String>>,
    /// Whether the last response read was a list (see [`Method::returns_list`]).
    returns_list: std::cell::Cell<bool>,
}

/// What a schema the document does not carry is read as: a schema that allows anything.
static ANY_SCHEMA: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| Value::Object(Map::new()));

impl<'a> Doc<'a> {
    fn invalid(&self, at: impl Into<String>, message: impl Into<String>) -> ProviderError {
        ProviderError::Invalid {
            file: self.file.to_path_buf(),
            at: at.into(),
            message: message.into(),
        }
    }

    pub fn new(root: &'a Value, file: &'a Path) -> Self {
        Doc {
            root,
            file,
            unresolved: Default::default(),
            notes: Default::default(),
            returns_list: Default::default(),
        }
    }

    /// Looks up a local reference such as `#/components/schemas/image`. A schema the document
    /// does not carry is read as one that allows anything, and remembered (see
    /// [`Method::unresolved`]); any other reference that is not there is an error.
    pub fn pointer(&self, reference: &str, at: &str) -> Result<&'a Value, ProviderError> {
        let unresolved = || ProviderError::UnresolvedRef {
            file: self.file.to_path_buf(),
            reference: reference.to_string(),
            at: at.to_string(),
        };
        let pointer = reference.strip_prefix('#').ok_or_else(unresolved)?;
        match self.root.pointer(pointer) {
            Some(v) => Ok(v),
            None if pointer.starts_with("/components/schemas/") => {
                let mut seen = self.unresolved.borrow_mut();
                if !seen.iter().any(|r| r == reference) {
                    seen.push(reference.to_string());
                }
                Ok(&ANY_SCHEMA)
            }
            None => Err(unresolved()),
        }
    }

    /// Remembers a gap that is not a missing schema (see [`Method::gaps`]).
    fn note(&self, gap: String) {
        self.notes.borrow_mut().push(gap);
    }

    /// The schema references found missing since the last call.
    fn take_unresolved(&self) -> Vec<String> {
        std::mem::take(&mut *self.unresolved.borrow_mut())
    }

    fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.borrow_mut())
    }

    /// Follows `$ref` until a value without one is reached.
    pub fn deref(&self, mut value: &'a Value, at: &str) -> Result<&'a Value, ProviderError> {
        for _ in 0..MAX_DEPTH {
            match value.get("$ref").and_then(Value::as_str) {
                Some(r) => value = self.pointer(r, at)?,
                None => return Ok(value),
            }
        }
        Err(self.invalid(at, "$ref chain too deep (cyclic?)"))
    }

    /// Resolves a schema into its top-level properties (merging `allOf`, and the alternatives of
    /// `anyOf`/`oneOf`) with the names of required properties.
    fn object_properties(
        &self,
        schema: &'a Value,
        at: &str,
        depth: usize,
    ) -> Result<ObjectShape<'a>, ProviderError> {
        if depth > MAX_DEPTH {
            return Err(self.invalid(at, "schema nesting too deep (cyclic?)"));
        }
        let schema = self.deref(schema, at)?;
        let mut props: Vec<(String, &'a Value)> = Vec::new();
        let mut required: Vec<String> = Vec::new();
        if let Some(p) = schema.get("properties").and_then(Value::as_object) {
            for (k, v) in p {
                props.push((k.clone(), v));
            }
        }
        if let Some(r) = schema.get("required").and_then(Value::as_array) {
            required.extend(r.iter().filter_map(Value::as_str).map(str::to_string));
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(parts) = schema.get(key).and_then(Value::as_array) {
                let mut part_required: Vec<Vec<String>> = Vec::new();
                for part in parts {
                    let (p, r) = self.object_properties(part, at, depth + 1)?;
                    for (k, v) in p {
                        if !props.iter().any(|(n, _)| *n == k) {
                            props.push((k, v));
                        }
                    }
                    part_required.push(r);
                }
                if key == "allOf" {
                    required.extend(part_required.into_iter().flatten());
                } else if let Some(first) = part_required.first() {
                    // Required in an alternative only if every alternative requires it.
                    required.extend(
                        first
                            .iter()
                            .filter(|n| part_required.iter().all(|r| r.contains(n)))
                            .cloned(),
                    );
                }
            }
        }
        required.sort();
        required.dedup();
        // A name the schema requires without describing it (DigitalOcean's uptime check requires
        // `method`, which it never defines) is still a field the body must have.
        static UNDESCRIBED: Value = Value::Null;
        for name in &required {
            if depth == 0 && !props.iter().any(|(n, _)| n == name) {
                props.push((name.clone(), &UNDESCRIBED));
            }
        }
        Ok((props, required))
    }

    /// The types, enum and bounds of a schema, following `$ref`, `allOf`, `anyOf` and `oneOf`.
    pub fn schema_info(&self, schema: &'a Value, at: &str) -> Result<SchemaInfo, ProviderError> {
        let mut info = SchemaInfo::default();
        self.collect_info(schema, at, 0, &mut info)?;
        Ok(info)
    }

    fn collect_info(
        &self,
        schema: &'a Value,
        at: &str,
        depth: usize,
        info: &mut SchemaInfo,
    ) -> Result<(), ProviderError> {
        if depth > MAX_DEPTH {
            return Err(self.invalid(at, "schema nesting too deep (cyclic?)"));
        }
        let schema = self.deref(schema, at)?;
        match schema.get("type") {
            Some(Value::String(t)) => push_unique(&mut info.types, t),
            Some(Value::Array(ts)) => {
                for t in ts.iter().filter_map(Value::as_str) {
                    push_unique(&mut info.types, t);
                }
            }
            _ => {}
        }
        if schema.get("properties").is_some() && info.types.is_empty() {
            push_unique(&mut info.types, "object");
        }
        if let Some(f) = schema.get("format").and_then(Value::as_str) {
            info.format.get_or_insert_with(|| f.to_string());
        }
        if let Some(e) = schema.get("enum").and_then(Value::as_array) {
            for v in e {
                if !info.enum_values.contains(v) {
                    info.enum_values.push(v.clone());
                }
            }
        }
        if let Some(m) = schema.get("minimum").and_then(Value::as_f64) {
            info.minimum.get_or_insert(m);
        }
        if let Some(m) = schema.get("maximum").and_then(Value::as_f64) {
            info.maximum.get_or_insert(m);
        }
        if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
            info.nullable = true;
        }
        if let Some(d) = schema.get("description").and_then(Value::as_str) {
            info.description.get_or_insert_with(|| d.trim().to_string());
        }
        if let Some(e) = schema.get("example") {
            info.example.get_or_insert_with(|| e.clone());
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(parts) = schema.get(key).and_then(Value::as_array) {
                for part in parts {
                    self.collect_info(part, at, depth + 1, info)?;
                }
            }
        }
        Ok(())
    }
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// `$.images` → `["images"]`; `$` → `[]`.
pub fn object_key_path(key: &str) -> Vec<String> {
    key.trim_start_matches('$')
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A config block as the document writes it, merged key by key: method over resource over service.
fn merged_config(layers: &[Option<&Value>]) -> Map<String, Value> {
    let mut out = Map::new();
    for layer in layers.iter().rev().flatten() {
        if let Some(obj) = layer.as_object() {
            for (k, v) in obj {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

pub(crate) fn build_service(
    name: &str,
    root: &Value,
    file: &Path,
    provider_name: &str,
) -> Result<Service, ProviderError> {
    let doc = Doc::new(root, file);
    let resources_value = root
        .pointer("/components/x-stackQL-resources")
        .and_then(Value::as_object)
        .ok_or_else(|| doc.invalid("components", "missing components.x-stackQL-resources"))?;
    let service_config = root.get("x-stackQL-config");
    let servers = root
        .get("servers")
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter_map(|x| x.get("url").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let server_variables = server_variables(root);
    let mut resources = BTreeMap::new();
    for (res_name, res) in resources_value {
        let mut resource =
            build_resource(&doc, name, provider_name, res_name, res, service_config)?;
        if !server_variables.is_empty() {
            for m in &mut resource.methods {
                if m.servers.is_empty() {
                    let m = Arc::make_mut(m);
                    for v in &server_variables {
                        if !m
                            .params
                            .iter()
                            .any(|p| p.name.eq_ignore_ascii_case(&v.name))
                        {
                            m.params.push(v.clone());
                        }
                    }
                }
            }
        }
        resources.insert(res_name.clone(), Arc::new(resource));
    }
    Ok(Service {
        name: name.to_string(),
        title: root
            .pointer("/info/title")
            .and_then(Value::as_str)
            .map(str::to_string),
        servers,
        resources,
    })
}

/// The variables of the service's first server URL, each a required parameter: a default
/// (Okta's `my-org`) is an example, never a host to send a credential to unasked.
fn server_variables(root: &Value) -> Vec<Param> {
    let Some(vars) = root
        .pointer("/servers/0/variables")
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    vars.iter()
        .map(|(name, v)| Param {
            name: name.clone(),
            location: ParamLocation::Server,
            required: true,
            schema: SchemaInfo {
                types: vec!["string".to_string()],
                enum_values: v
                    .get("enum")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                description: v
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| Some(format!("the {{{name}}} of the server's address"))),
                ..SchemaInfo::default()
            },
            example: v.get("default").cloned(),
        })
        .collect()
}

fn build_resource(
    doc: &Doc<'_>,
    service: &str,
    provider: &str,
    res_name: &str,
    res: &Value,
    service_config: Option<&Value>,
) -> Result<Resource, ProviderError> {
    let at = format!("components.x-stackQL-resources.{res_name}");
    let view = res.get("config").and_then(crate::ResourceView::from_config);
    static NO_METHODS: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    let methods_value = match res.get("methods").and_then(Value::as_object) {
        Some(m) => m,
        None if view.is_some() => &*NO_METHODS,
        None => return Err(doc.invalid(&at, "resource has neither methods nor config.views")),
    };
    let mut methods = Vec::new();
    for (m_name, m) in methods_value {
        let m_at = format!("{at}.methods.{m_name}");
        let config = merged_config(&[m.get("config"), res.get("config"), service_config]);
        let _ = (doc.take_unresolved(), doc.take_notes());
        doc.returns_list.set(false);
        let mut method = build_method(doc, m_name, m, &config, &m_at)?;
        let missing = doc.take_unresolved();
        if !missing.is_empty() {
            let (one, many) = ("schema", "schemas");
            method.gaps.push(format!(
                "the document does not carry the {} {} (read as allowing anything)",
                if missing.len() == 1 { one } else { many },
                missing
                    .iter()
                    .map(|r| format!("'{r}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        method.gaps.extend(doc.take_notes());
        method.returns_list = doc.returns_list.get();
        methods.push(Arc::new(method));
    }
    let mut verbs = BTreeMap::new();
    if let Some(sql_verbs) = res.get("sqlVerbs").and_then(Value::as_object) {
        for verb in SqlVerb::ALL {
            let Some(list) = sql_verbs.get(verb.as_str()).and_then(Value::as_array) else {
                continue;
            };
            let mut names = Vec::new();
            for entry in list {
                let v_at = format!("{at}.sqlVerbs.{}", verb.as_str());
                let reference = entry
                    .get("$ref")
                    .and_then(Value::as_str)
                    .ok_or_else(|| doc.invalid(&v_at, "sqlVerbs entry without $ref"))?;
                // Must resolve within the document, and name a method of this resource.
                doc.pointer(reference, &v_at)?;
                let method_name = reference.rsplit('/').next().unwrap_or_default();
                if !methods_value.contains_key(method_name) {
                    return Err(doc.invalid(
                        v_at,
                        format!(
                            "sqlVerbs names '{method_name}', which is not a method of {res_name}"
                        ),
                    ));
                }
                names.push(method_name.to_string());
            }
            verbs.insert(verb, names);
        }
    }
    Ok(Resource::new(
        res.get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{provider}.{service}.{res_name}")),
        res.get("name")
            .and_then(Value::as_str)
            .unwrap_or(res_name)
            .to_string(),
        res.get("title").and_then(Value::as_str).map(str::to_string),
        methods,
        verbs,
    )
    .with_view_if(view))
}

fn build_method(
    doc: &Doc<'_>,
    name: &str,
    m: &Value,
    config: &Map<String, Value>,
    at: &str,
) -> Result<Method, ProviderError> {
    let op_ref = m
        .pointer("/operation/$ref")
        .and_then(Value::as_str)
        .ok_or_else(|| doc.invalid(at, "method has no operation.$ref"))?;
    let operation = doc.pointer(op_ref, at)?;
    // '#/paths/~1v2~1images~1{image_id}/get' → path key and HTTP verb.
    let pointer = op_ref.trim_start_matches('#');
    let mut parts = pointer.rsplitn(2, '/');
    let verb = parts.next().unwrap_or_default();
    let path_pointer = parts.next().unwrap_or_default();
    let http_method = HttpMethod::parse(verb)
        .ok_or_else(|| doc.invalid(at, format!("operation '{op_ref}' is not an HTTP method")))?;
    let document_path = path_pointer
        .strip_prefix("/paths/")
        .ok_or_else(|| doc.invalid(at, format!("operation '{op_ref}' is not under #/paths")))?
        .replace("~1", "/")
        .replace("~0", "~");
    let path = document_path
        .split_once('?')
        .map(|(p, _)| p.to_string())
        .unwrap_or_else(|| document_path.clone());
    let path_item = doc.pointer(path_pointer_of(op_ref), at)?;

    let mut params: Vec<Param> = Vec::new();
    let mut raw_params: Vec<&Value> = Vec::new();
    for source in [path_item.get("parameters"), operation.get("parameters")] {
        if let Some(list) = source.and_then(Value::as_array) {
            raw_params.extend(list.iter());
        }
    }
    for raw in raw_params {
        let p = doc.deref(raw, at)?;
        let pname = p
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| doc.invalid(at, "parameter without a name"))?;
        let location = match p.get("in").and_then(Value::as_str) {
            Some("path") => ParamLocation::Path,
            Some("query") => ParamLocation::Query,
            Some("header") => ParamLocation::Header,
            Some("cookie") => ParamLocation::Cookie,
            other => {
                return Err(doc.invalid(
                    at,
                    format!("parameter '{pname}' has unknown location {other:?}"),
                ))
            }
        };
        let mut schema = match p.get("schema") {
            Some(s) => doc.schema_info(s, at)?,
            None => SchemaInfo::default(),
        };
        if let Some(d) = p.get("description").and_then(Value::as_str) {
            schema.description = Some(d.trim().to_string());
        }
        let example = match p.get("example") {
            Some(v) => Some(v.clone()),
            None => p
                .get("examples")
                .and_then(Value::as_object)
                .and_then(|e| e.values().next())
                .map(|e| doc.deref(e, at))
                .transpose()?
                .and_then(|e| e.get("value").cloned())
                .or_else(|| {
                    p.get("schema")
                        .and_then(|s| doc.deref(s, at).ok())
                        .and_then(|s| s.get("example").cloned())
                }),
        };
        let param = Param {
            name: pname.to_string(),
            location,
            required: p.get("required").and_then(Value::as_bool).unwrap_or(false)
                || location == ParamLocation::Path,
            schema,
            example,
        };
        // An operation-level parameter overrides a path-level one of the same name.
        params.retain(|x| !(x.name == param.name && x.location == param.location));
        params.push(param);
    }

    let path = match_path_variables(doc, path, &mut params);

    let request_media = m
        .pointer("/request/mediaType")
        .and_then(Value::as_str)
        .unwrap_or("application/json");
    let mut body_fields = Vec::new();
    let mut body_required = false;
    let mut body_media_type = None;
    let mut body_variants = None;
    if let Some(rb) = operation.get("requestBody") {
        let rb = doc.deref(rb, at)?;
        body_required = rb.get("required").and_then(Value::as_bool).unwrap_or(false);
        if let Some(content) = rb.get("content").and_then(Value::as_object) {
            let (media, entry) = content
                .get_key_value(request_media)
                .or_else(|| content.iter().next())
                .ok_or_else(|| doc.invalid(at, "requestBody has no content"))?;
            body_media_type = Some(media.clone());
            if let Some(schema) = entry.get("schema") {
                let resolved = doc.deref(schema, at)?;
                if let (Some(property), Some(mapping)) = (
                    resolved
                        .pointer("/discriminator/propertyName")
                        .and_then(Value::as_str),
                    resolved
                        .pointer("/discriminator/mapping")
                        .and_then(Value::as_object),
                ) {
                    let mut variants = Vec::new();
                    for (value, target) in mapping {
                        let reference = target.as_str().unwrap_or_default();
                        let variant = doc.pointer(reference, at)?;
                        let (_, required) = doc.object_properties(variant, at, 0)?;
                        variants.push((value.clone(), required));
                    }
                    body_variants = Some(BodyVariants {
                        property: property.to_string(),
                        required_by_value: variants,
                    });
                }
                let (props, required) = doc.object_properties(schema, at, 0)?;
                for (fname, fschema) in props {
                    body_fields.push(BodyField {
                        required: required.contains(&fname),
                        schema: doc.schema_info(fschema, at)?,
                        name: fname,
                    });
                }
            }
        }
    }
    let request_base = match m.pointer("/request/base") {
        Some(Value::String(s)) => Some(
            serde_json::from_str(s)
                .map_err(|e| doc.invalid(at, format!("request.base is not valid JSON: {e}")))?,
        ),
        Some(v @ Value::Object(_)) => Some(v.clone()),
        _ => None,
    };

    let response_media_type = m
        .pointer("/response/mediaType")
        .and_then(Value::as_str)
        .map(str::to_string);
    let response_doc_key = m.pointer("/response/openAPIDocKey").and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let object_key = m
        .pointer("/response/objectKey")
        .and_then(Value::as_str)
        .map(str::to_string);
    let (columns, value_rows) = if response_media_type
        .as_deref()
        .is_some_and(|t| !t.contains("json"))
    {
        // Not JSON (a kubeconfig in YAML, an invoice as CSV or PDF): the answer, whole, is the
        // one column of one row.
        (
            vec![Column {
                name: "content".to_string(),
                schema: SchemaInfo {
                    types: vec!["string".to_string()],
                    description: response_media_type
                        .as_ref()
                        .map(|t| format!("the answer as text ({t})")),
                    ..SchemaInfo::default()
                },
                source: None,
            }],
            true,
        )
    } else {
        response_columns(
            doc,
            operation,
            response_doc_key.as_deref(),
            response_media_type.as_deref(),
            object_key.as_deref(),
            at,
        )?
    };

    let pagination = config.get("pagination").and_then(|p| {
        Some(Pagination {
            request_key: p.pointer("/requestToken/key")?.as_str()?.to_string(),
            request_location: p.pointer("/requestToken/location")?.as_str()?.to_string(),
            response_key: p.pointer("/responseToken/key")?.as_str()?.to_string(),
            response_location: p.pointer("/responseToken/location")?.as_str()?.to_string(),
        })
    });
    let top_param = config.get("queryParamPushdown").and_then(|q| {
        let top = q.get("top")?;
        Some((
            top.get("paramName")?.as_str()?.to_string(),
            top.get("maxValue")
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX),
        ))
    });
    let algorithm = |key: &str| {
        config
            .get(key)
            .and_then(|v| v.get("algorithm"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let servers = operation
        .get("servers")
        .or_else(|| path_item.get("servers"))
        .map(server_urls)
        .unwrap_or_default();
    let success_status = success_status(operation, response_doc_key.as_deref());
    Ok(Method {
        servers,
        name: name.to_string(),
        operation_id: operation
            .get("operationId")
            .and_then(Value::as_str)
            .map(str::to_string),
        http_method,
        path,
        document_path,
        params,
        body_fields,
        body_required,
        body_variants,
        body_media_type,
        request_base,
        response_media_type,
        response_doc_key,
        object_key,
        columns,
        value_rows,
        pagination,
        top_param,
        body_translate: algorithm("requestBodyTranslate"),
        request_translate: algorithm("requestTranslate"),
        summary: operation
            .get("summary")
            .and_then(Value::as_str)
            .map(str::to_string),
        description: operation
            .get("description")
            .and_then(Value::as_str)
            .map(|s| s.trim().to_string()),
        aliases: m
            .get("x-iql-aliases")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        true_only: m
            .get("x-iql-true-only")
            .and_then(Value::as_object)
            .map(|params| {
                params
                    .iter()
                    .map(|(p, opposite)| (p.clone(), opposite.as_str().map(str::to_string)))
                    .collect()
            })
            .unwrap_or_default(),
        gaps: Vec::new(),
        returns_list: false,
        success_status,
    })
}

/// The URLs of an OpenAPI `servers` list, each `{variable}` replaced by its default.
fn server_urls(servers: &Value) -> Vec<String> {
    servers
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|s| {
                    let mut url = s.get("url")?.as_str()?.to_string();
                    if let Some(vars) = s.get("variables").and_then(Value::as_object) {
                        for (name, v) in vars {
                            if let Some(d) = v.get("default").and_then(Value::as_str) {
                                url = url.replace(&format!("{{{name}}}"), d);
                            }
                        }
                    }
                    Some(url)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The path's `{variables}` matched with the path parameters. Published documents spell some
/// apart (GitHub's `{enterprise_team}` is the parameter `enterprise-team`): a variable matches the
/// one path parameter whose name is its name with `-` for `_`, in any case, and the template is
/// written with the parameter's name. A variable no parameter describes becomes a required text
/// parameter of its name, said in [`Method::gaps`], so no request leaves with `{…}` in its path.
fn match_path_variables(doc: &Doc<'_>, mut path: String, params: &mut Vec<Param>) -> String {
    let variables: Vec<String> = path
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(v, _)| v.to_string()))
        .collect();
    let same = |a: &str, b: &str| {
        a.replace('-', "_")
            .eq_ignore_ascii_case(&b.replace('-', "_"))
    };
    for v in variables {
        let is_path = |p: &Param| p.location == ParamLocation::Path;
        if params.iter().any(|p| is_path(p) && p.name == v) {
            continue;
        }
        let matching: Vec<&Param> = params
            .iter()
            .filter(|p| is_path(p) && same(&p.name, &v))
            .collect();
        if let [p] = matching.as_slice() {
            path = path.replace(&format!("{{{v}}}"), &format!("{{{}}}", p.name));
            continue;
        }
        doc.note(format!(
            "its path names {{{v}}}, which no parameter describes: it is the text parameter {v}"
        ));
        params.push(Param {
            name: v.clone(),
            location: ParamLocation::Path,
            required: true,
            schema: SchemaInfo {
                types: vec!["string".to_string()],
                ..SchemaInfo::default()
            },
            example: None,
        });
    }
    path
}

fn path_pointer_of(op_ref: &str) -> &str {
    op_ref.rsplit_once('/').map(|(p, _)| p).unwrap_or(op_ref)
}

/// The 2xx status an operation answers with: the response the document reads (`doc_key`), else
/// the lowest 2xx it declares.
fn success_status(operation: &Value, doc_key: Option<&str>) -> Option<u16> {
    let two = |k: &str| k.parse::<u16>().ok().filter(|s| (200..300).contains(s));
    doc_key.and_then(two).or_else(|| {
        operation
            .get("responses")
            .and_then(Value::as_object)?
            .keys()
            .filter_map(|k| two(k))
            .min()
    })
}

/// The columns of a method's rows: the properties of the schema found at `objectKey` (array items
/// for lists) in the response the document names; and whether the items are whole values instead
/// (no properties: one column holds each item, see [`Method::value_rows`]).
fn response_columns(
    doc: &Doc<'_>,
    operation: &Value,
    doc_key: Option<&str>,
    media_type: Option<&str>,
    object_key: Option<&str>,
    at: &str,
) -> Result<(Vec<Column>, bool), ProviderError> {
    let none = || Ok((Vec::new(), false));
    let Some(responses) = operation.get("responses").and_then(Value::as_object) else {
        return none();
    };
    let response = match doc_key {
        Some(k) => responses.get(k),
        None => responses
            .iter()
            .find(|(k, _)| k.starts_with('2'))
            .map(|(_, v)| v),
    };
    let Some(response) = response else {
        return none();
    };
    let response = doc.deref(response, at)?;
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return none();
    };
    let entry = media_type
        .and_then(|mt| content.get(mt))
        .or_else(|| content.values().next());
    let Some(mut schema) = entry.and_then(|e| e.get("schema")) else {
        return none();
    };
    for key in object_key.map(object_key_path).unwrap_or_default() {
        let (props, _) = doc.object_properties(schema, at, 0)?;
        match props.into_iter().find(|(n, _)| *n == key) {
            Some((_, v)) => schema = v,
            // Real APIs answer keys their schemas forget: the key is looked for in the answer,
            // and each item there is one whole value.
            None => {
                doc.note(format!(
                    "objectKey '{}' names '{key}', which the response schema lacks: each item \
                     of the answer's '{key}' is one JSON value",
                    object_key.unwrap_or_default()
                ));
                schema = &ANY_SCHEMA;
                break;
            }
        }
    }
    let resolved = doc.deref(schema, at)?;
    if let Some(items) = resolved.get("items") {
        schema = items;
        doc.returns_list.set(true);
    }
    let (props, _) = doc.object_properties(schema, at, 0)?;
    if props.is_empty() {
        let name = object_key
            .map(object_key_path)
            .and_then(|p| p.last().cloned())
            .unwrap_or_else(|| "value".to_string());
        let column = Column {
            name,
            schema: doc.schema_info(schema, at)?,
            source: None,
        };
        return Ok((vec![column], true));
    }
    let mut cols: Vec<Column> = Vec::new();
    for (name, s) in props {
        let taken = |n: &str, cols: &[Column]| cols.iter().any(|c| c.name.eq_ignore_ascii_case(n));
        let mut column = Column {
            schema: doc.schema_info(s, at)?,
            name: name.clone(),
            source: None,
        };
        if taken(&name, &cols) {
            let mut n = 2;
            while taken(&format!("{name}_{n}"), &cols) {
                n += 1;
            }
            column.name = format!("{name}_{n}");
            column.source = Some(name.clone());
            let note =
                format!("the property '{name}' (its name differs from another's only in case)");
            column.schema.description = Some(match column.schema.description.take() {
                Some(d) => format!("{note}: {d}"),
                None => note,
            });
        }
        cols.push(column);
    }
    Ok((cols, false))
}
