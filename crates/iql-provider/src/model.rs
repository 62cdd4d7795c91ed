//! The resolved shape of a provider: what the planner and executor need, with every `$ref` followed.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

/// How a provider authenticates (`config.auth` in `provider.yaml`, or `--auth`), as StackQL
/// writes it: `bearer` (DigitalOcean), `basic` (GitHub: `username_var`, `password_var`),
/// `api_key` (Okta: `valuePrefix: 'SSWS '`, in the header `name`, `Authorization` by default),
/// `null_auth` (no credential).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthConfig {
    pub kind: String,
    /// The environment variable holding the credential, e.g. `DIGITALOCEAN_TOKEN`.
    pub credentials_env_var: Option<String>,
    /// `basic`: the variables holding the user name and the password.
    pub username_var: Option<String>,
    pub password_var: Option<String>,
    /// `api_key`: what goes before the key (`SSWS `), and the header it goes in.
    pub value_prefix: Option<String>,
    pub header_name: Option<String>,
}

impl AuthConfig {
    /// Reads StackQL's `auth` object; the type defaults to `bearer`.
    pub fn from_json(a: &Value) -> AuthConfig {
        let text = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_string);
        AuthConfig {
            kind: text("type").unwrap_or_else(|| "bearer".to_string()),
            credentials_env_var: text("credentialsenvvar"),
            username_var: text("username_var"),
            password_var: text("password_var"),
            value_prefix: text("valuePrefix"),
            header_name: text("name").filter(|n| !n.is_empty()),
        }
    }
}

/// The SQL verbs a resource can list methods under (`sqlVerbs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SqlVerb {
    Select,
    Insert,
    Update,
    Replace,
    Delete,
}

impl SqlVerb {
    pub const ALL: [SqlVerb; 5] = [
        SqlVerb::Select,
        SqlVerb::Insert,
        SqlVerb::Update,
        SqlVerb::Replace,
        SqlVerb::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SqlVerb::Select => "select",
            SqlVerb::Insert => "insert",
            SqlVerb::Update => "update",
            SqlVerb::Replace => "replace",
            SqlVerb::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "get" => HttpMethod::Get,
            "post" => HttpMethod::Post,
            "put" => HttpMethod::Put,
            "patch" => HttpMethod::Patch,
            "delete" => HttpMethod::Delete,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// The JSON type family of a value, which also decides its SQLite column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    Integer,
    Real,
    Boolean,
    Text,
    /// A string of `format: date-time` (`2025-02-21T10:00:00Z`): text in SQLite, compared as
    /// instants, a `timestamptz` over the PostgreSQL wire.
    DateTime,
    /// A string of `format: date` (`2025-02-21`): text in SQLite (which orders such dates as
    /// they are), a `date` over the PostgreSQL wire.
    Date,
    /// Objects and arrays: stored as JSON text, read with `json_extract` / `json_each`.
    Json,
}

impl ValueKind {
    /// The declared SQLite type. `JSON_TEXT` keeps TEXT affinity while telling the output layer that the
    /// text is JSON; `BOOLEAN` keeps 0/1 while telling it the value is a truth value.
    pub fn sqlite_type(self) -> &'static str {
        match self {
            ValueKind::Integer => "INTEGER",
            ValueKind::Real => "REAL",
            ValueKind::Boolean => "BOOLEAN",
            ValueKind::Text => "TEXT",
            ValueKind::DateTime => "TIMESTAMP_TEXT",
            ValueKind::Date => "DATE_TEXT",
            ValueKind::Json => "JSON_TEXT",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ValueKind::Integer => "integer",
            ValueKind::Real => "real",
            ValueKind::Boolean => "boolean",
            ValueKind::Text => "text",
            ValueKind::DateTime => "timestamp",
            ValueKind::Date => "date",
            ValueKind::Json => "json",
        }
    }
}

/// What the planner needs to know of a JSON schema: its types, allowed values and bounds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaInfo {
    /// JSON schema types this value may take (`anyOf` contributes several).
    pub types: Vec<String>,
    pub format: Option<String>,
    pub enum_values: Vec<Value>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub nullable: bool,
    pub description: Option<String>,
    /// The schema's `example`, if it gives one (for documentation and tests).
    pub example: Option<Value>,
}

impl SchemaInfo {
    pub fn kind(&self) -> ValueKind {
        let has = |t: &str| self.types.iter().any(|x| x == t);
        if has("object") || has("array") {
            ValueKind::Json
        } else if has("string")
            && self.types.len() == 1
            && self.format.as_deref() == Some("date-time")
        {
            ValueKind::DateTime
        } else if has("string") && self.types.len() == 1 && self.format.as_deref() == Some("date") {
            ValueKind::Date
        } else if has("string") || self.types.is_empty() {
            ValueKind::Text
        } else if has("number") {
            ValueKind::Real
        } else if has("integer") {
            ValueKind::Integer
        } else if has("boolean") {
            ValueKind::Boolean
        } else {
            ValueKind::Text
        }
    }

    /// A short type label for people: `integer`, `string (date-time)`, `integer | string`.
    pub fn type_label(&self) -> String {
        let base = if self.types.is_empty() {
            "any".to_string()
        } else {
            self.types.join(" | ")
        };
        match &self.format {
            Some(f) => format!("{base} ({f})"),
            None => base,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamLocation {
    Path,
    Query,
    Header,
    Cookie,
    /// A variable of the service's server URL (Okta's `https://{subdomain}.okta.com/`): given in
    /// WHERE as StackQL users give it (`WHERE subdomain = 'dev-123'`).
    Server,
}

impl ParamLocation {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamLocation::Path => "path",
            ParamLocation::Query => "query",
            ParamLocation::Header => "header",
            ParamLocation::Cookie => "cookie",
            ParamLocation::Server => "server",
        }
    }
}

/// A path, query or header parameter of an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub location: ParamLocation,
    pub required: bool,
    pub schema: SchemaInfo,
    /// The document's example value (the parameter's `example`, the first of its `examples`, or
    /// its schema's `example`): for documentation and for tests that fill parameters.
    pub example: Option<Value>,
}

/// A top-level field of a JSON request body.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyField {
    pub name: String,
    pub required: bool,
    pub schema: SchemaInfo,
}

/// A column of the rows a method returns: a top-level property of the item schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub schema: SchemaInfo,
    /// The item's property this column holds, when it is not `name`: SQL names ignore case, so
    /// of two properties that differ only in case (`euuId`, `euuid`) the second is the column
    /// `euuid_2`.
    pub source: Option<String>,
}

impl Column {
    /// The item's property this column holds.
    pub fn property(&self) -> &str {
        self.source.as_deref().unwrap_or(&self.name)
    }
}

/// Following `next` links: StackQL's `requestToken` / `responseToken` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pagination {
    /// Where the token goes in the next request; `key: ''` with `location: request` means the token is
    /// the whole URL of the next request.
    pub request_key: String,
    pub request_location: String,
    /// JSON path of the token in the response, e.g. `$.links.pages.next`.
    pub response_key: String,
    pub response_location: String,
}

/// A discriminated body: the discriminating property, and per value the fields that variant requires
/// (image actions: `type` = `transfer` requires `region`).
#[derive(Debug, Clone, PartialEq)]
pub struct BodyVariants {
    pub property: String,
    pub required_by_value: Vec<(String, Vec<String>)>,
}

/// One operation reachable from SQL, fully resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    pub name: String,
    /// The `operationId` of the OpenAPI operation.
    pub operation_id: Option<String>,
    pub http_method: HttpMethod,
    /// The real path template, e.g. `/v2/images/{image_id}/actions` (a faux `?__type=` suffix removed).
    pub path: String,
    /// The path key as the document spells it, e.g. `/v2/images/{image_id}/actions?__type=convert`.
    pub document_path: String,
    pub params: Vec<Param>,
    /// The operation's own servers (OpenAPI `servers` on the operation or its path), variables
    /// filled with their defaults; empty to use the service's.
    pub servers: Vec<String>,
    /// Top-level body fields, with `required` from the schema.
    pub body_fields: Vec<BodyField>,
    pub body_required: bool,
    /// A body schema with variants picked by one property (OpenAPI `discriminator`): the property,
    /// and for each of its values the fields that variant requires.
    pub body_variants: Option<BodyVariants>,
    pub body_media_type: Option<String>,
    /// `request.base`: a JSON body every request of this method starts from.
    pub request_base: Option<Value>,
    pub response_media_type: Option<String>,
    pub response_doc_key: Option<String>,
    /// `response.objectKey`, e.g. `$.images`; `None` means the whole body is the row.
    pub object_key: Option<String>,
    pub columns: Vec<Column>,
    /// The items have no properties to make columns of (an array of arrays, of strings, or free-form
    /// objects): each item is one row, whole, in the single column of `columns`, which is named
    /// after the object key (`$.neighbor_ids` → `neighbor_ids`; `value` without a key).
    pub value_rows: bool,
    pub pagination: Option<Pagination>,
    /// `queryParamPushdown.top`: (parameter, largest value) used for SQL LIMIT and page size.
    pub top_param: Option<(String, u64)>,
    pub body_translate: Option<String>,
    pub request_translate: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// Other names the method answers to (`x-iql-aliases`): StackQL's, where they differ.
    pub aliases: Vec<String>,
    /// Boolean parameters the API honours only when true (`x-iql-true-only`): `false` is no
    /// filter at all. Each with the field of the rows that is its opposite, if there is one
    /// (`private` → `public`).
    pub true_only: Vec<(String, Option<String>)>,
    /// What the document leaves out that this method needs, in words: a schema it names but does
    /// not carry (`$ref`s to discriminator variants a published document leaves out, read as
    /// schemas of any shape), an `objectKey` its response schema lacks (its items read as whole
    /// values). The service loads; this is said when the method is described or used.
    pub gaps: Vec<String>,
    /// The response schema at `objectKey` is an array: the method lists (what a mock answers
    /// with a page of items).
    pub returns_list: bool,
    /// The success status the operation declares (the response the document reads, else its
    /// first 2xx): 201 for a droplet, 202 for a volume action, 204 for a delete.
    pub success_status: Option<u16>,
}

impl Method {
    /// Whether the method answers with something other than JSON (`application/yaml` for a
    /// kubeconfig, `text/csv` or `application/pdf` for an invoice): one row whose single column
    /// holds the answer as text.
    pub fn answers_text(&self) -> bool {
        self.response_media_type
            .as_deref()
            .is_some_and(|t| !t.contains("json"))
    }

    /// Whether `name` names this method: its own name, or one of its aliases.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.aliases.iter().any(|a| a == name)
    }

    /// The parameter's entry in [`Method::true_only`], if the API honours it only when true.
    pub fn true_only(&self, param: &str) -> Option<&(String, Option<String>)> {
        self.true_only
            .iter()
            .find(|(p, _)| p.eq_ignore_ascii_case(param))
    }

    /// Parameters a request cannot be made without: every path parameter, plus required query and
    /// header parameters.
    pub fn required_params(&self) -> impl Iterator<Item = &Param> {
        self.params
            .iter()
            .filter(|p| p.required || p.location == ParamLocation::Path)
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// A parameter by a name written in SQL, in any case (`x-dangerous` finds `X-Dangerous`).
    pub fn param_named(&self, name: &str) -> Option<&Param> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Body fields that `request.base` already sets (`type` for `convert`).
    pub fn base_fields(&self) -> Vec<String> {
        self.request_base
            .as_ref()
            .and_then(serde_json::Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The required parameters and body fields that are neither in `given` nor set by
    /// `request.base`: empty when a statement gives this method all it needs.
    pub fn missing(&self, given: &[String]) -> Vec<String> {
        let base = self.base_fields();
        self.required_params()
            .map(|p| p.name.clone())
            .chain(self.required_body_fields().map(|f| f.name.clone()))
            .filter(|n| !given.iter().any(|g| g.eq_ignore_ascii_case(n)) && !base.contains(n))
            .collect()
    }

    /// Body fields a caller must give: required by the schema and not set by `request.base`
    /// (a variant's `type`).
    pub fn required_body_fields(&self) -> impl Iterator<Item = &BodyField> {
        let base = self.base_fields();
        self.body_fields
            .iter()
            .filter(move |f| f.required && !base.contains(&f.name))
    }
}

/// A SQL table: `digitalocean.compute.images`. Shared (`Arc`) by every statement that reads it:
/// planning a query clones nothing of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Fully qualified id, e.g. `digitalocean.compute.images`.
    pub id: String,
    pub name: String,
    pub title: Option<String>,
    /// Methods in document order.
    pub methods: Vec<Arc<Method>>,
    /// Method names per SQL verb, in the order the document lists them (the order of preference).
    pub verbs: BTreeMap<SqlVerb, Vec<String>>,
    /// A resource defined by SQL (`config.views`) instead of methods.
    pub view: Option<crate::ResourceView>,
    /// [`Resource::select_columns`], worked out once.
    select_columns: OnceLock<Vec<Column>>,
}

impl Resource {
    pub fn new(
        id: String,
        name: String,
        title: Option<String>,
        methods: Vec<Arc<Method>>,
        verbs: BTreeMap<SqlVerb, Vec<String>>,
    ) -> Self {
        Resource {
            id,
            name,
            title,
            methods,
            verbs,
            view: None,
            select_columns: OnceLock::new(),
        }
    }

    pub(crate) fn with_view_if(self, view: Option<crate::ResourceView>) -> Self {
        match view {
            Some(v) => self.with_view(v),
            None => self,
        }
    }

    /// The resource as a view: what its `config.views` defines.
    pub fn with_view(mut self, view: crate::ResourceView) -> Self {
        self.view = Some(view);
        self
    }

    pub fn method(&self, name: &str) -> Option<&Arc<Method>> {
        self.methods
            .iter()
            .find(|m| m.name == name)
            .or_else(|| self.methods.iter().find(|m| m.answers_to(name)))
    }

    /// "has no method 'x'; did you mean 'y'? Its methods: …", for a method name that is not here.
    pub fn no_such_method(&self, name: &str) -> String {
        let names: Vec<&str> = self.methods.iter().map(|m| m.name.as_str()).collect();
        // StackQL's names (aliases) are suggested too: a StackQL user misspells those.
        let every = self.methods.iter().flat_map(|m| {
            std::iter::once(m.name.as_str()).chain(m.aliases.iter().map(String::as_str))
        });
        let hint = crate::did_you_mean(name, every)
            .map(|n| format!("; did you mean '{n}'?"))
            .unwrap_or_else(|| ".".to_string());
        format!(
            "{} has no method '{name}'{hint} Its methods: {}",
            self.id,
            names.join(", ")
        )
    }

    /// Methods listed under `verb`, in order of preference.
    pub fn methods_for(&self, verb: SqlVerb) -> Vec<&Arc<Method>> {
        self.verbs
            .get(&verb)
            .map(|names| names.iter().filter_map(|n| self.method(n)).collect())
            .unwrap_or_default()
    }

    /// Every method with the verb that reaches it (`select`, …, or `exec` for methods no verb
    /// lists), in document order: what a resource offers, for messages.
    pub fn offers(&self) -> Vec<(String, String)> {
        self.methods
            .iter()
            .map(|m| {
                let verb = self.verb_of(&m.name).map(SqlVerb::as_str).unwrap_or("exec");
                (verb.to_string(), m.name.clone())
            })
            .collect()
    }

    /// The SQL verb that lists `method`, or `None` for methods only reachable with EXEC.
    pub fn verb_of(&self, method: &str) -> Option<SqlVerb> {
        SqlVerb::ALL.into_iter().find(|v| {
            self.verbs
                .get(v)
                .is_some_and(|names| names.iter().any(|n| n == method))
        })
    }

    /// The columns a SELECT sees: the item properties of every select method, then the parameters of
    /// those methods that are not already properties (written back into each row).
    pub fn select_columns(&self) -> &[Column] {
        self.select_columns
            .get_or_init(|| self.work_out_select_columns())
    }

    fn work_out_select_columns(&self) -> Vec<Column> {
        let mut out: Vec<Column> = Vec::new();
        let selects = self.methods_for(SqlVerb::Select);
        for m in &selects {
            for c in &m.columns {
                if !out.iter().any(|o| o.name.eq_ignore_ascii_case(&c.name)) {
                    out.push(c.clone());
                }
            }
        }
        for m in &selects {
            for p in &m.params {
                if !out.iter().any(|o| o.name.eq_ignore_ascii_case(&p.name)) {
                    out.push(Column {
                        name: p.name.clone(),
                        schema: p.schema.clone(),
                        source: None,
                    });
                }
            }
        }
        out
    }
}

/// One service document (`services/compute.yaml`), resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub title: Option<String>,
    pub servers: Vec<String>,
    pub resources: BTreeMap<String, Arc<Resource>>,
}
