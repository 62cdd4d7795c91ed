//! Where provider documents come from (the copies built into the binary, or a folder given with
//! `--registry`) and the lazily parsed providers and services.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::error::ProviderError;
use crate::model::{AuthConfig, Resource, Service};
use crate::resolve::build_service;

/// The provider documents that ship inside iql, so it works from any folder.
const BUNDLED: &[(&str, &str)] = &[
    (
        "digitalocean/v00.00.00000/provider.yaml",
        include_str!("../../../providers/digitalocean/v00.00.00000/provider.yaml"),
    ),
    (
        "digitalocean/v00.00.00000/services/compute.yaml",
        include_str!("../../../providers/digitalocean/v00.00.00000/services/compute.yaml"),
    ),
];

#[derive(Debug, Clone)]
enum Source {
    Bundled,
    Dir(PathBuf),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Bundled => "the bundled providers".to_string(),
            Source::Dir(d) => d.display().to_string(),
        }
    }

    /// The file's text and the path used to name it in errors.
    fn read(&self, relative: &str) -> Result<(String, PathBuf), ProviderError> {
        match self {
            Source::Bundled => {
                let shown = PathBuf::from("<bundled>/").join(relative);
                BUNDLED
                    .iter()
                    .find(|(p, _)| *p == relative)
                    .map(|(_, text)| ((*text).to_string(), shown.clone()))
                    .ok_or_else(|| ProviderError::Read {
                        file: shown,
                        error: std::io::Error::new(std::io::ErrorKind::NotFound, "not bundled"),
                    })
            }
            Source::Dir(root) => {
                let file = root.join(relative);
                std::fs::read_to_string(&file)
                    .map(|t| (t, file.clone()))
                    .map_err(|error| ProviderError::Read { file, error })
            }
        }
    }

    /// Provider folders and the version chosen for each (the greatest version name).
    fn providers(&self) -> Result<BTreeMap<String, String>, ProviderError> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        let mut offer = |name: &str, version: &str| {
            let e = out
                .entry(name.to_string())
                .or_insert_with(|| version.to_string());
            if version > e.as_str() {
                *e = version.to_string();
            }
        };
        match self {
            Source::Bundled => {
                for (path, _) in BUNDLED {
                    let mut parts = path.split('/');
                    if let (Some(p), Some(v), Some("provider.yaml")) =
                        (parts.next(), parts.next(), parts.next())
                    {
                        offer(p, v);
                    }
                }
            }
            Source::Dir(root) => {
                let entries = std::fs::read_dir(root).map_err(|error| ProviderError::Read {
                    file: root.clone(),
                    error,
                })?;
                for entry in entries.flatten() {
                    let Ok(versions) = std::fs::read_dir(entry.path()) else {
                        continue;
                    };
                    for v in versions.flatten() {
                        if v.path().join("provider.yaml").is_file() {
                            offer(
                                &entry.file_name().to_string_lossy(),
                                &v.file_name().to_string_lossy(),
                            );
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Parses YAML into JSON values, reporting the line and column of a syntax error.
pub(crate) fn parse_yaml(text: &str, file: &Path) -> Result<Value, ProviderError> {
    crate::yaml::from_str(text).map_err(|e| ProviderError::Yaml {
        file: file.to_path_buf(),
        location: e.location().map(|l| (l.line(), l.column())),
        message: e.to_string(),
    })
}

/// A service named in `provider.yaml`; its document is read and resolved on first use.
#[derive(Debug)]
pub struct ServiceEntry {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// The document's path relative to the registry root.
    pub document: String,
    loaded: OnceLock<Arc<Service>>,
}

/// One provider: its services and how to authenticate to it.
#[derive(Debug)]
pub struct Provider {
    pub name: String,
    pub version: String,
    pub auth: Option<AuthConfig>,
    pub services: BTreeMap<String, ServiceEntry>,
    source: Source,
}

impl Provider {
    /// The service, parsed and resolved (once).
    pub fn service(&self, name: &str) -> Result<Arc<Service>, ProviderError> {
        let entry = self
            .services
            .get(name)
            .ok_or_else(|| ProviderError::UnknownService {
                provider: self.name.clone(),
                name: name.to_string(),
                suggestion: crate::did_you_mean(name, self.services.keys().map(String::as_str))
                    .map(str::to_string),
            })?;
        if let Some(s) = entry.loaded.get() {
            return Ok(s.clone());
        }
        let (text, file) = self.source.read(&entry.document)?;
        let root = parse_yaml(&text, &file)?;
        let service = Arc::new(build_service(name, &root, &file, &self.name)?);
        Ok(entry.loaded.get_or_init(|| service).clone())
    }

    pub fn resource(&self, service: &str, resource: &str) -> Result<Arc<Resource>, ProviderError> {
        let svc = self.service(service)?;
        svc.resources
            .get(resource)
            .cloned()
            .ok_or_else(|| ProviderError::UnknownResource {
                service: format!("{}.{}", self.name, service),
                name: resource.to_string(),
                suggestion: crate::did_you_mean(resource, svc.resources.keys().map(String::as_str))
                    .map(str::to_string),
            })
    }
}

/// All providers under one root.
#[derive(Debug)]
pub struct Registry {
    source: Source,
    providers: BTreeMap<String, OnceLock<Arc<Provider>>>,
    versions: BTreeMap<String, String>,
}

impl Registry {
    /// The providers built into iql.
    pub fn bundled() -> Self {
        let source = Source::Bundled;
        let versions = source.providers().unwrap_or_default();
        Self::with(source, versions)
    }

    /// Providers under a folder laid out as `<provider>/<version>/provider.yaml`.
    pub fn from_dir(root: impl Into<PathBuf>) -> Result<Self, ProviderError> {
        let source = Source::Dir(root.into());
        let versions = source.providers()?;
        Ok(Self::with(source, versions))
    }

    fn with(source: Source, versions: BTreeMap<String, String>) -> Self {
        Registry {
            providers: versions
                .keys()
                .map(|k| (k.clone(), OnceLock::new()))
                .collect(),
            source,
            versions,
        }
    }

    pub fn provider_names(&self) -> Vec<&str> {
        self.versions.keys().map(String::as_str).collect()
    }

    pub fn provider_version(&self, name: &str) -> Option<&str> {
        self.versions.get(name).map(String::as_str)
    }

    pub fn provider(&self, name: &str) -> Result<Arc<Provider>, ProviderError> {
        let cell = self
            .providers
            .get(name)
            .ok_or_else(|| ProviderError::UnknownProvider {
                name: name.to_string(),
                root: self.source.describe(),
                suggestion: crate::did_you_mean(name, self.versions.keys().map(String::as_str))
                    .map(str::to_string),
            })?;
        if let Some(p) = cell.get() {
            return Ok(p.clone());
        }
        let version = self.versions.get(name).cloned().unwrap_or_default();
        let provider = Arc::new(self.load_provider(name, &version)?);
        Ok(cell.get_or_init(|| provider).clone())
    }

    fn load_provider(&self, name: &str, version: &str) -> Result<Provider, ProviderError> {
        let relative = format!("{name}/{version}/provider.yaml");
        let (text, file) = self.source.read(&relative)?;
        let root = parse_yaml(&text, &file)?;
        let invalid = |at: &str, message: &str| ProviderError::Invalid {
            file: file.clone(),
            at: at.to_string(),
            message: message.to_string(),
        };
        let services_value = root
            .get("providerServices")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("providerServices", "missing or not a mapping"))?;
        let mut services = BTreeMap::new();
        for (svc_name, svc) in services_value {
            let at = format!("providerServices.{svc_name}.service.$ref");
            let reference = svc
                .pointer("/service/$ref")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(&at, "missing"))?;
            // StackQL writes the document path from the registry root: 'digitalocean/v00.00.00000/services/compute.yaml'.
            let document = reference.trim_start_matches("./").to_string();
            services.insert(
                svc_name.clone(),
                ServiceEntry {
                    name: svc_name.clone(),
                    title: svc.get("title").and_then(Value::as_str).map(str::to_string),
                    description: svc
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    document,
                    loaded: OnceLock::new(),
                },
            );
        }
        let auth = root.pointer("/config/auth").map(|a| AuthConfig {
            kind: a
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("bearer")
                .to_string(),
            credentials_env_var: a
                .get("credentialsenvvar")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
        Ok(Provider {
            name: root
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_string(),
            version: version.to_string(),
            auth,
            services,
            source: self.source.clone(),
        })
    }
}
