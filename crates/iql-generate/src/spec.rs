//! An OpenAPI document spread over many files, read once and held whole.
//!
//! DigitalOcean's specification is one root file and about 2,900 files it reaches through
//! relative `$ref`s (`resources/droplets/models/droplet.yml#/droplet`). Loading walks every
//! reference from the root, so a broken one is found up front and reported with the file and the
//! place that holds it; after that, following a reference is a map lookup.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::error::GenerateError;

/// A place in the specification: a file and a JSON pointer into it (`""` for the whole file).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    pub file: PathBuf,
    pub pointer: String,
}

impl Loc {
    /// A place inside this one: `/paths/~1v2~1droplets`.
    pub fn join(&self, key: &str) -> Loc {
        Loc {
            file: self.file.clone(),
            pointer: format!(
                "{}/{}",
                self.pointer,
                key.replace('~', "~0").replace('/', "~1")
            ),
        }
    }

    /// `file#pointer`, for messages.
    pub fn describe(&self) -> String {
        format!("{}#{}", self.file.display(), self.pointer)
    }
}

/// Every file of the specification, parsed.
#[derive(Debug)]
pub struct Spec {
    pub root: PathBuf,
    files: BTreeMap<PathBuf, Value>,
    /// Files a reference names that could not be read, and why.
    missing: BTreeMap<PathBuf, String>,
}

/// How many `$ref`s in a row before a chain is called a cycle.
const LONGEST_CHAIN: usize = 64;

impl Spec {
    /// Reads `root` and every file its references reach.
    pub fn load(root: &Path) -> Result<Spec, GenerateError> {
        let root = normalize(root);
        let mut spec = Spec {
            root: root.clone(),
            files: BTreeMap::new(),
            missing: BTreeMap::new(),
        };
        let mut queue = VecDeque::from([root]);
        while let Some(file) = queue.pop_front() {
            if spec.files.contains_key(&file) {
                continue;
            }
            let value = match read(&file) {
                Ok(v) => v,
                // The root must be there; another file is reported where it is referenced.
                Err(e) if file == spec.root => return Err(e),
                Err(e) => {
                    spec.missing.insert(file.clone(), e.to_string());
                    spec.files.insert(file, Value::Null);
                    continue;
                }
            };
            let mut refs = Vec::new();
            collect_refs(&value, &mut refs);
            for r in refs {
                let target = target_file(&file, &r);
                if !spec.files.contains_key(&target) {
                    queue.push_back(target);
                }
            }
            spec.files.insert(file, value);
        }
        // Every reference must land somewhere: checked once, here, with where it was written.
        for (file, value) in &spec.files {
            spec.check_refs(file, value, String::new())?;
        }
        Ok(spec)
    }

    pub fn files(&self) -> usize {
        self.files.len()
    }

    /// The root document and where it is.
    pub fn root(&self) -> (Loc, &Value) {
        let loc = Loc {
            file: self.root.clone(),
            pointer: String::new(),
        };
        let value = self.files.get(&self.root).unwrap_or(&Value::Null);
        (loc, value)
    }

    /// The value at `loc` (which [`Spec::load`] checked exists).
    pub fn at(&self, loc: &Loc) -> Result<&Value, GenerateError> {
        self.files
            .get(&loc.file)
            .and_then(|v| v.pointer(&loc.pointer))
            .ok_or_else(|| GenerateError::BrokenRef {
                reference: loc.describe(),
                from: loc.describe(),
                reason: "no such place".to_string(),
            })
    }

    /// Where the reference `reference`, written in `from`'s file, points.
    pub fn target(&self, from: &Loc, reference: &str) -> Loc {
        let (file, pointer) = reference.split_once('#').unwrap_or((reference, ""));
        Loc {
            file: if file.is_empty() {
                from.file.clone()
            } else {
                target_file(&from.file, file)
            },
            pointer: pointer.to_string(),
        }
    }

    /// Follows `$ref` from `value` (found at `loc`) until a value without one: the place and the
    /// value reached.
    pub fn deref<'a>(
        &'a self,
        mut loc: Loc,
        mut value: &'a Value,
    ) -> Result<(Loc, &'a Value), GenerateError> {
        for _ in 0..LONGEST_CHAIN {
            let Some(r) = value.get("$ref").and_then(Value::as_str) else {
                return Ok((loc, value));
            };
            let next = self.target(&loc, r);
            value = self.at(&next)?;
            loc = next;
        }
        Err(GenerateError::BrokenRef {
            reference: loc.describe(),
            from: loc.describe(),
            reason: format!("more than {LONGEST_CHAIN} $refs in a row (a cycle?)"),
        })
    }

    fn check_refs(&self, file: &Path, value: &Value, pointer: String) -> Result<(), GenerateError> {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    let from = Loc {
                        file: file.to_path_buf(),
                        pointer: pointer.clone(),
                    };
                    let target = self.target(&from, r);
                    let found = self
                        .files
                        .get(&target.file)
                        .map(|v| v.pointer(&target.pointer).is_some());
                    if found != Some(true) {
                        return Err(GenerateError::BrokenRef {
                            reference: r.clone(),
                            from: from.describe(),
                            reason: match (found, self.missing.get(&target.file)) {
                                (_, Some(why)) => why.clone(),
                                (None, None) => format!("{} cannot be read", target.file.display()),
                                (Some(_), None) => format!(
                                    "{} has nothing at {}",
                                    target.file.display(),
                                    if target.pointer.is_empty() {
                                        "/"
                                    } else {
                                        &target.pointer
                                    }
                                ),
                            },
                        });
                    }
                }
                for (k, v) in map {
                    let key = k.replace('~', "~0").replace('/', "~1");
                    self.check_refs(file, v, format!("{pointer}/{key}"))?;
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.check_refs(file, v, format!("{pointer}/{i}"))?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Reads one file.
fn read(file: &Path) -> Result<Value, GenerateError> {
    let text = std::fs::read_to_string(file).map_err(|e| GenerateError::Read {
        file: file.to_path_buf(),
        reason: e.to_string(),
    })?;
    iql_provider::parse_document(&text, file).map_err(|e| GenerateError::Read {
        file: file.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Every `$ref` string in `value` (discriminator mappings, which name schemas as plain strings,
/// too).
fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    ("mapping", Value::Object(m)) => {
                        out.extend(m.values().filter_map(Value::as_str).map(str::to_string));
                        collect_refs(v, out);
                    }
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The file a reference names, relative to the file that holds it.
fn target_file(from: &Path, reference: &str) -> PathBuf {
    let file = reference.split('#').next().unwrap_or_default();
    if file.is_empty() {
        return from.to_path_buf();
    }
    let base = from.parent().unwrap_or_else(|| Path::new(""));
    normalize(&base.join(file))
}

/// `a/b/../c/./d` → `a/c/d`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}
