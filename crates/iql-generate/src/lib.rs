//! Provider documents in StackQL's format, generated from an OpenAPI 3 specification.
//!
//! Why: hand-written provider documents cover what someone had time to write; DigitalOcean's
//! official specification covers everything, and changes. A generator of our own turns it into
//! `provider.yaml` and one `services/<service>.yaml` per service, so every service works out of
//! the box and stays current: regenerate when the specification changes.
//!
//! The steps, each in its own module:
//! 1. [`spec`]: read the specification, following `$ref`s across its files.
//! 2. [`generate`]: the rules (services, resources, methods, SQL verbs, object keys, paging,
//!    auth), with a small per-provider configuration ([`config`]) for what rules cannot know.
//! 3. [`bundle`]: copy what each service's operations reference into its own document.
//!
//! The output is deterministic: the same specification and configuration give byte-identical
//! documents.

pub mod bundle;
pub mod config;
mod error;
pub mod generate;
pub mod names;
pub mod spec;

pub use config::GenerateConfig;
pub use error::GenerateError;
pub use generate::{generate, Generated};
