//! Where provider documents come from (the copies built into the binary, or a folder given with
//! `--registry`) and the lazily parsed providers and services.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::error::ProviderError;
use crate::model::{AuthConfig, Resource, Service};
use crate::resolve::build_service;

/// The provider documents that ship inside iql, so it works from any folder: each provider's
/// `provider.yaml`, and each service cut into one document per resource with an index (see
/// `build.rs`), so a statement parses only the resources it names.
pub(crate) enum Bundled {
    Provider {
        path: &'static str,
        text: &'static str,
    },
    Service {
        path: &'static str,
        /// `{"title", "servers", "resources": {name: {"title", "select_paths"}}}`
        index: &'static str,
        /// Resource name → its own document (JSON).
        resources: &'static [(&'static str, &'static str)],
    },
}

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

fn bundled_service(path: &str) -> Option<&'static Bundled> {
    BUNDLED
        .iter()
        .find(|b| matches!(b, Bundled::Service { path: p, .. } if *p == path))
}

#[derive(Debug, Clone)]
enum Source {
    Bundled,
    Dir(PathBuf),
}

/// The one file beside `file` whose name is `file`'s in another case, if there is exactly one.
fn file_named_in_other_case(file: &Path) -> Option<PathBuf> {
    let wanted = file.file_name()?.to_str()?.to_lowercase();
    let mut found = std::fs::read_dir(file.parent()?)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().map(str::to_lowercase).as_deref() == Some(&wanted))
        .map(|e| e.path());
    let first = found.next()?;
    found.next().is_none().then_some(first)
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
                    .find_map(|b| match b {
                        Bundled::Provider { path, text } if *path == relative => {
                            Some(((*text).to_string(), shown.clone()))
                        }
                        _ => None,
                    })
                    .ok_or_else(|| ProviderError::Read {
                        file: shown,
                        error: std::io::Error::new(std::io::ErrorKind::NotFound, "not bundled"),
                    })
            }
            Source::Dir(root) => {
                let file = root.join(relative);
                match std::fs::read_to_string(&file) {
                    Ok(t) => Ok((t, file)),
                    Err(error) => match file_named_in_other_case(&file) {
                        // A registry written on a machine whose file names ignore case
                        // (Okta's `org.yaml` is the file `Org.yaml`) reads as it does there.
                        Some(found) => std::fs::read_to_string(&found)
                            .map(|t| (t, found.clone()))
                            .map_err(|error| ProviderError::Read { file: found, error }),
                        None => Err(ProviderError::Read { file, error }),
                    },
                }
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
                for b in BUNDLED {
                    let Bundled::Provider { path, .. } = b else {
                        continue;
                    };
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

/// A service named in `provider.yaml`; its document is read and resolved on first use (a bundled
/// one, a resource at a time).
#[derive(Debug)]
pub struct ServiceEntry {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// The document's path relative to the registry root.
    pub document: String,
    loaded: OnceLock<Arc<Service>>,
    /// Bundled services: resources loaded one by one.
    resources: std::sync::Mutex<BTreeMap<String, Arc<Resource>>>,
    index: OnceLock<ServiceIndex>,
}

/// What a service offers, known without resolving its resources.
#[derive(Debug, Clone, Default)]
pub struct ServiceIndex {
    pub title: Option<String>,
    pub servers: Vec<String>,
    /// Each resource's name, title and the paths its select methods read.
    pub resources: Vec<ResourceSummary>,
}

/// A resource as an index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSummary {
    pub name: String,
    pub title: Option<String>,
    pub select_paths: Vec<String>,
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
    fn entry(&self, name: &str) -> Result<&ServiceEntry, ProviderError> {
        self.services
            .get(name)
            .ok_or_else(|| ProviderError::UnknownService {
                provider: self.name.clone(),
                name: name.to_string(),
                suggestion: crate::did_you_mean(name, self.services.keys().map(String::as_str))
                    .map(str::to_string),
            })
    }

    /// The bundled copy of a service, if this provider is bundled and ships it.
    fn bundled(&self, entry: &ServiceEntry) -> Option<&'static Bundled> {
        match self.source {
            Source::Bundled => bundled_service(&entry.document),
            Source::Dir(_) => None,
        }
    }

    /// The whole service, every resource parsed and resolved (once).
    pub fn service(&self, name: &str) -> Result<Arc<Service>, ProviderError> {
        let entry = self.entry(name)?;
        if let Some(s) = entry.loaded.get() {
            return Ok(s.clone());
        }
        let service = match self.bundled(entry) {
            Some(_) => {
                let index = self.index(name)?;
                let mut resources = BTreeMap::new();
                for r in &index.resources {
                    resources.insert(r.name.clone(), self.resource(name, &r.name)?);
                }
                Service {
                    name: name.to_string(),
                    title: index.title.clone(),
                    servers: index.servers.clone(),
                    resources,
                }
            }
            None => {
                let (text, file) = self.source.read(&entry.document)?;
                let root = parse_yaml(&text, &file)?;
                build_service(name, &root, &file, &self.name)?
            }
        };
        Ok(entry.loaded.get_or_init(|| Arc::new(service)).clone())
    }

    /// What a service offers (names, titles, servers), without resolving its resources where the
    /// provider is bundled.
    pub fn index(&self, name: &str) -> Result<&ServiceIndex, ProviderError> {
        let entry = self.entry(name)?;
        if let Some(i) = entry.index.get() {
            return Ok(i);
        }
        let index = match self.bundled(entry) {
            Some(Bundled::Service { index, .. }) => {
                let file = PathBuf::from("<bundled>/").join(&entry.document);
                let v: Value = serde_json::from_str(index).map_err(|e| ProviderError::Invalid {
                    file,
                    at: "index".to_string(),
                    message: e.to_string(),
                })?;
                index_from_json(&v)
            }
            _ => {
                let service = self.service(name)?;
                ServiceIndex {
                    title: service.title.clone(),
                    servers: service.servers.clone(),
                    resources: service
                        .resources
                        .values()
                        .map(|r| ResourceSummary {
                            name: r.name.clone(),
                            title: r.title.clone(),
                            select_paths: r
                                .methods_for(crate::SqlVerb::Select)
                                .iter()
                                .map(|m| m.path.clone())
                                .collect(),
                        })
                        .collect(),
                }
            }
        };
        Ok(entry.index.get_or_init(|| index))
    }

    /// One resource, parsed and resolved on first use: for a bundled provider, from its own small
    /// document, so a statement pays only for what it names.
    pub fn resource(&self, service: &str, resource: &str) -> Result<Arc<Resource>, ProviderError> {
        let entry = self.entry(service)?;
        let unknown = |names: Vec<&str>| ProviderError::UnknownResource {
            service: format!("{}.{}", self.name, service),
            name: resource.to_string(),
            suggestion: crate::did_you_mean(resource, names).map(str::to_string),
        };
        let Some(Bundled::Service { resources, .. }) = self.bundled(entry) else {
            let svc = self.service(service)?;
            return svc
                .resources
                .get(resource)
                .cloned()
                .ok_or_else(|| unknown(svc.resources.keys().map(String::as_str).collect()));
        };
        let cached = |entry: &ServiceEntry| {
            entry
                .resources
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(resource)
                .cloned()
        };
        if let Some(r) = cached(entry) {
            return Ok(r);
        }
        let Some((_, text)) = resources.iter().find(|(n, _)| *n == resource) else {
            return Err(unknown(resources.iter().map(|(n, _)| *n).collect()));
        };
        let file = PathBuf::from("<bundled>/").join(&entry.document);
        let root: Value = serde_json::from_str(text).map_err(|e| ProviderError::Invalid {
            file: file.clone(),
            at: resource.to_string(),
            message: e.to_string(),
        })?;
        let built = build_service(service, &root, &file, &self.name)?;
        let loaded = built
            .resources
            .get(resource)
            .cloned()
            .ok_or_else(|| unknown(Vec::new()))?;
        Ok(entry
            .resources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(resource.to_string())
            .or_insert(loaded)
            .clone())
    }
}

/// A bundled service's index, as `build.rs` writes it.
fn index_from_json(v: &Value) -> ServiceIndex {
    let strings = |x: Option<&Value>| -> Vec<String> {
        x.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    ServiceIndex {
        title: v.get("title").and_then(Value::as_str).map(str::to_string),
        servers: v
            .get("servers")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .filter_map(|x| x.get("url").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        resources: v
            .get("resources")
            .and_then(Value::as_object)
            .map(|r| {
                r.iter()
                    .map(|(name, x)| ResourceSummary {
                        name: name.clone(),
                        title: x.get("title").and_then(Value::as_str).map(str::to_string),
                        select_paths: strings(x.get("select_paths")),
                    })
                    .collect()
            })
            .unwrap_or_default(),
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
                    resources: Default::default(),
                    index: OnceLock::new(),
                },
            );
        }
        let auth = root.pointer("/config/auth").map(AuthConfig::from_json);
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
