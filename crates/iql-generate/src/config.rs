//! What the rules cannot know about one provider, written down once: which service each tag
//! belongs to, and the names users already write where the rules would name things otherwise.
//!
//! ```yaml
//! provider: digitalocean
//! version: v00.00.00000
//! credentials_env_var: DIGITALOCEAN_TOKEN
//! services:            # OpenAPI tag → service
//!   Droplets: compute
//! resources:           # operationId → resource, where the rules would say otherwise
//!   databases_list_clusters: clusters
//! methods:             # operationId → method, where the rules would say otherwise
//!   databases_list_opeasearch_indexes: databases_list_opensearch_indexes
//! aliases:             # method → other names it answers to
//!   registry_get: [registry_get_legacy]
//! verbs:               # method → SQL verb, where the rules would say otherwise
//!   apps_create_rollback: insert
//! true_only:           # method → parameters honoured only when true → their opposite field
//!   images_list: {private: public}
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::GenerateError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateConfig {
    /// The provider's name (`digitalocean`); the command line's `--provider` wins.
    #[serde(default)]
    pub provider: Option<String>,
    /// The version folder written (`v00.00.00000`).
    #[serde(default)]
    pub version: Option<String>,
    /// The variable holding the bearer token; default `<PROVIDER>_TOKEN`.
    #[serde(default)]
    pub credentials_env_var: Option<String>,
    /// OpenAPI tag → service. A tag not listed becomes a service of its own name.
    #[serde(default)]
    pub services: BTreeMap<String, String>,
    /// operationId → resource name, where the rules would name it otherwise.
    #[serde(default)]
    pub resources: BTreeMap<String, String>,
    /// operationId → method name, where the rules would name it otherwise.
    #[serde(default)]
    pub methods: BTreeMap<String, String>,
    /// Method name → other names it answers to (StackQL's, where they differ from ours): written
    /// as `x-iql-aliases` on the method.
    #[serde(default)]
    pub aliases: BTreeMap<String, Vec<String>>,
    /// Method name → the SQL verb that reaches it (`select`, `insert`, `update`, `replace`,
    /// `delete`, or `exec` for none), where the rules would choose otherwise.
    #[serde(default)]
    pub verbs: BTreeMap<String, String>,
    /// Method name → boolean parameters the API honours only when true (false is no filter at
    /// all), each with the field of the rows that is its opposite, if there is one: written as
    /// `x-iql-true-only`. `images_list: {private: public}`.
    #[serde(default)]
    pub true_only: BTreeMap<String, BTreeMap<String, Option<String>>>,
    /// `resource.method` → body fields an action variant cannot do without that the schema
    /// leaves optional (`droplets.rename: [name]`).
    #[serde(default)]
    pub required_fields: BTreeMap<String, Vec<String>>,
    /// A comment written at the top of every generated document (the source and its licence).
    #[serde(default)]
    pub header: Option<String>,
}

impl GenerateConfig {
    pub fn load(file: &Path) -> Result<Self, GenerateError> {
        let text = std::fs::read_to_string(file).map_err(|e| GenerateError::Config {
            file: file.to_path_buf(),
            reason: e.to_string(),
        })?;
        serde_yaml::from_str(&text).map_err(|e| GenerateError::Config {
            file: file.to_path_buf(),
            reason: e.to_string(),
        })
    }
}
