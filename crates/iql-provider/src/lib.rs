//! Provider documents in StackQL's format, loaded into a table of resources and methods.
//!
//! A provider is a folder `<provider>/<version>/` holding `provider.yaml` (the services it offers and
//! how to authenticate) and one OpenAPI 3 document per service, extended with
//! `components.x-stackQL-resources` (SQL tables and the operations behind them) and `x-stackQL-config`
//! (pagination, page-size pushdown). This crate reads those documents *as StackQL publishes them*,
//! resolves every `$ref` once, and hands the planner a flat, already-resolved [`Method`] per operation,
//! so nothing above this crate ever touches YAML or JSON pointers.
//!
//! Service documents are large (DigitalOcean's `compute.yaml` is 1 MB), so they are parsed on first use
//! and kept for the life of the [`Registry`].

mod error;
mod model;
mod reference;
mod registry;
mod resolve;
mod view;
mod yaml;

pub use error::ProviderError;
pub use iql_names::written_name;
pub use model::{
    AuthConfig, BodyField, BodyVariants, Column, HttpMethod, Method, Pagination, Param,
    ParamLocation, Resource, SchemaInfo, Service, SqlVerb, ValueKind,
};
pub use reference::{provider_reference, services_table, ReferencePage};
pub use registry::{Provider, Registry, ResourceSummary, ServiceEntry, ServiceIndex};
pub use view::{fill_template, ResourceView, ViewChoice};

/// Parses a provider or OpenAPI document (YAML, or JSON, which is YAML too) into JSON values, with
/// the line and column of a syntax error. Numbers of any size load.
pub fn parse_document(
    text: &str,
    file: &std::path::Path,
) -> Result<serde_json::Value, ProviderError> {
    registry::parse_yaml(text, file)
}

/// Reads one service document from its text (YAML or JSON), as a registry would: every `$ref`
/// resolved, every method flattened. `file` names it in errors. For tools and tests that hold a
/// document without a registry around it.
pub fn service_from_text(
    provider: &str,
    service: &str,
    text: &str,
    file: &std::path::Path,
) -> Result<Service, ProviderError> {
    let root = registry::parse_yaml(text, file)?;
    resolve::build_service(service, &root, file, provider)
}

/// The closest candidate to `wanted` by edit distance, when it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wanted_lower = wanted.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&wanted_lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(wanted.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("imagez", ["images", "image_actions"]),
            Some("images")
        );
        assert_eq!(did_you_mean("droplets", ["images", "image_actions"]), None);
    }
}
