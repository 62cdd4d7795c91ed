//! The objects of the sandbox's account, made from a resource's columns: each column's example,
//! else a value of its type, with ids, names and dates varied per object and the same for the
//! same seed, and references that hold.
//!
//! Why references are made here: a join across services (droplets with their images, volumes
//! with their droplets) only gives rows when what an object names exists. The keys of a
//! collection's seeded objects depend only on the seed, the collection's path and the object's
//! place, so an object names another by computing its key, without making it (no recursion
//! between droplets that name volumes that name droplets).

use iql_provider::{Column, ValueKind};
use serde_json::{json, Map, Value};

use super::routes::{key_fields, list_at};
use crate::data::Image;

/// The regions every made object is placed in: (slug, name).
const REGIONS: &[(&str, &str)] = &[
    ("nyc3", "New York 3"),
    ("sfo3", "San Francisco 3"),
    ("ams3", "Amsterdam 3"),
    ("fra1", "Frankfurt 1"),
    ("lon1", "London 1"),
    ("sgp1", "Singapore 1"),
];

/// The sizes droplets, node pools and databases are made with: (slug, memory MB, vcpus, disk GB,
/// monthly price).
const SIZES: &[(&str, u32, u32, u32, u32)] = &[
    ("s-1vcpu-1gb", 1024, 1, 25, 6),
    ("s-1vcpu-2gb", 2048, 1, 50, 12),
    ("s-2vcpu-4gb", 4096, 2, 80, 24),
    ("s-4vcpu-8gb", 8192, 4, 160, 48),
];

/// What made objects may name beyond the spec's collections: the account's public images
/// (the hand-made images collection).
pub(crate) struct Account<'a> {
    pub seed: u64,
    pub images: &'a [Image],
}

impl Account<'_> {
    fn public_image(&self, n: usize) -> Option<&Value> {
        let public: Vec<&Image> = self
            .images
            .iter()
            .filter(|i| i.body["public"] == json!(true))
            .take(8)
            .collect();
        if public.is_empty() {
            None
        } else {
            Some(&public[n % public.len()].body)
        }
    }
}

pub(super) fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// How many objects a collection starts with.
pub(super) fn seeded_count(path: &str) -> usize {
    match path {
        "/v2/regions" => REGIONS.len(),
        "/v2/sizes" => SIZES.len(),
        _ => 3,
    }
}

/// The objects a collection at `path` starts with.
pub(super) fn seeded(account: &Account, path: &str) -> Vec<Value> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match list_at(&segments) {
        Some(r) => (0..seeded_count(path))
            .map(|n| make_object(&r.columns, &r.resource, path, account, n, true))
            .collect(),
        None => Vec::new(),
    }
}

/// A resource's short singular name: `digitalocean.compute.droplets` → `droplet`.
fn singular(resource: &str) -> &str {
    let short = resource.rsplit('.').next().unwrap_or(resource);
    short.strip_suffix('s').unwrap_or(short)
}

/// The value of an identifying column (`id`, `uuid`, `name`, `slug`) of object `n` of the
/// collection at `path`: the same whenever it is asked, so others can name the object.
/// `keys` are the collection's [`key_fields`].
fn identity(
    name: &str,
    kind: ValueKind,
    (resource, path, keys): (&str, &str, &[String]),
    seed: u64,
    n: usize,
) -> Option<Value> {
    let s = seed ^ hash(path);
    // The field the collection's item routes name their variable after (`dataset_uuid`,
    // `reserved_ip`'s `ip`): a key, different for each object.
    let own_key = !matches!(name, "id" | "uuid" | "name" | "slug" | "urn" | "fqdn")
        && keys.iter().any(|k| k == name);
    if own_key {
        return Some(match kind {
            ValueKind::Integer => json!((s % 9_000) as i64 + 1_000 * (n as i64 + 1)),
            _ if name.ends_with("uuid") || name.ends_with("id") => json!(uuid_like(s, n)),
            _ if (name == "ip" || name.ends_with("_ip")) && path.contains("ipv6") => {
                json!(format!("2001:db8::{:x}", 0x10 + n))
            }
            _ if name == "ip" || name.ends_with("_ip") => {
                json!(format!("203.0.113.{}", 10 + n % 240))
            }
            _ => json!(format!(
                "{}-{}",
                singular(resource).replace('_', "-"),
                n + 1
            )),
        });
    }
    match (name, kind) {
        ("id", ValueKind::Integer) => Some(json!((s % 9_000) as i64 + 1_000 * (n as i64 + 1))),
        ("id" | "uuid", ValueKind::Text) => Some(json!(uuid_like(s, n))),
        ("slug", ValueKind::Text) if path == "/v2/regions" => {
            Some(json!(REGIONS[n % REGIONS.len()].0))
        }
        ("slug", ValueKind::Text) if path == "/v2/sizes" => Some(json!(SIZES[n % SIZES.len()].0)),
        ("name" | "slug", ValueKind::Text) => Some(json!(format!(
            "{}-{}",
            singular(resource).replace('_', "-"),
            n + 1
        ))),
        _ => None,
    }
}

/// The key another object names object `n` of the collection at `path` by: its `id`, else its
/// `uuid`, `name` or `slug`.
fn key_of(account: &Account, path: &str, n: usize) -> Option<Value> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let route = list_at(&segments)?;
    let n = n % seeded_count(path);
    let keys = key_fields(&segments);
    keys.iter().find_map(|k| {
        let c = route.columns.iter().find(|c| c.property() == k)?;
        identity(
            k,
            c.schema.kind(),
            (&route.resource, path, &keys),
            account.seed,
            n,
        )
    })
}

/// Object `n` of the collection at `path`, from its columns. With `refer`, the columns that
/// name other objects name ones that exist.
pub(super) fn make_object(
    columns: &[Column],
    resource: &str,
    path: &str,
    account: &Account,
    n: usize,
    refer: bool,
) -> Value {
    let seed = account.seed;
    let s = seed ^ hash(path);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let keys = key_fields(&segments);
    let mut out = Map::new();
    for c in columns {
        let schema = &c.schema;
        let name = c.property();
        let kind = schema.kind();
        let made = catalog(path, name, n)
            .or_else(|| identity(name, kind, (resource, path, &keys), seed, n))
            .or_else(|| {
                refer
                    .then(|| reference(account, path, name, kind, n))
                    .flatten()
            })
            // What the rules make must still be what the schema allows (a load balancer's
            // `size` is `lb-small`, not a droplet's size).
            .filter(|v| fits(v, schema));
        let value = match made {
            Some(v) => v,
            None => match (name, &schema.example, schema.enum_values.is_empty()) {
                ("created_at" | "updated_at", _, _) => json!(format!(
                    "2025-0{}-{:02}T10:00:00Z",
                    1 + n % 9,
                    1 + (s as usize + n) % 28
                )),
                // The example first; the other objects take the allowed values in turn.
                (_, Some(e), true) => e.clone(),
                (_, Some(e), false) if n == 0 => e.clone(),
                (_, _, false) => schema.enum_values[n % schema.enum_values.len()].clone(),
                (_, None, true) => by_kind(schema, n),
            },
        };
        out.insert(name.to_string(), value);
    }
    if let (Some(Value::String(urn)), Some(id)) = (out.get("urn"), out.get("id")) {
        // An object's own URN names it (`do:vpc:<its id>`), unless it names another.
        if !is_member_list(path) && urn.starts_with("do:") {
            let kind = urn.split(':').nth(1).unwrap_or("resource").to_string();
            let id = id
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| id.to_string());
            out.insert("urn".to_string(), json!(format!("do:{kind}:{id}")));
        }
    }
    Value::Object(out)
}

/// Whether a value is of one of the schema's types and among its allowed values: what a body
/// must be to pass [`validate`](super::validate), so what is made passes as what is sent.
fn fits(value: &Value, schema: &iql_provider::SchemaInfo) -> bool {
    super::validate::typed(schema, value)
        && (schema.enum_values.is_empty() || schema.enum_values.contains(value))
}

/// A project's resources and a VPC's members: lists of other objects' URNs.
fn is_member_list(path: &str) -> bool {
    path.ends_with("/resources") || path.ends_with("/members")
}

/// A column that names another object of the account, filled with one that exists.
fn reference(
    account: &Account,
    path: &str,
    name: &str,
    kind: ValueKind,
    n: usize,
) -> Option<Value> {
    // The parent a nested collection's path names: a node pool's `cluster_id`.
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    for pair in segments.windows(2) {
        let stem = pair[0].strip_suffix('s').unwrap_or(pair[0]);
        if name == format!("{stem}_id") || name == format!("{stem}_uuid") {
            return Some(
                pair[1]
                    .parse::<i64>()
                    .map_or_else(|_| json!(pair[1]), |i| json!(i)),
            );
        }
    }
    match (name, kind) {
        ("image", ValueKind::Json) => return account.public_image(n).cloned(),
        ("image_id", ValueKind::Integer) => {
            return account.public_image(n).map(|i| i["id"].clone())
        }
        ("size", ValueKind::Json) => return sub_object(account, "/v2/sizes", n),
        ("size" | "size_slug", ValueKind::Text) => return key_of(account, "/v2/sizes", n),
        ("region", ValueKind::Json) => return sub_object(account, "/v2/regions", n),
        ("region" | "region_slug", ValueKind::Text) => return key_of(account, "/v2/regions", n),
        ("urn", ValueKind::Text) if is_member_list(path) => {
            let id = key_of(account, "/v2/droplets", n)?;
            return Some(json!(format!("do:droplet:{id}")));
        }
        _ => {}
    }
    let (stem, many) = if let Some(stem) = name.strip_suffix("_ids") {
        (stem, true)
    } else if let Some(stem) = name
        .strip_suffix("_id")
        .or_else(|| name.strip_suffix("_uuid"))
    {
        (stem, false)
    } else {
        return None;
    };
    let target = format!("/v2/{stem}s");
    if target == path {
        return None;
    }
    if many {
        let ids: Vec<Value> = [n, n + 1]
            .iter()
            .filter_map(|i| key_of(account, &target, *i))
            .collect();
        (!ids.is_empty()).then(|| json!(ids))
    } else {
        key_of(account, &target, n)
    }
}

/// An object of a catalog collection (a size, a region), whole, as another object holds it.
fn sub_object(account: &Account, path: &str, n: usize) -> Option<Value> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let route = list_at(&segments)?;
    let n = n % seeded_count(path);
    Some(make_object(
        &route.columns,
        &route.resource,
        path,
        account,
        n,
        false,
    ))
}

/// The regions' and sizes' own figures, so they read as DigitalOcean's.
fn catalog(path: &str, name: &str, n: usize) -> Option<Value> {
    match path {
        "/v2/regions" => {
            let (_, title) = REGIONS[n % REGIONS.len()];
            match name {
                "name" => Some(json!(title)),
                "available" => Some(json!(true)),
                "sizes" => Some(json!(SIZES.iter().map(|s| s.0).collect::<Vec<_>>())),
                _ => None,
            }
        }
        "/v2/sizes" => {
            let (_, memory, vcpus, disk, monthly) = SIZES[n % SIZES.len()];
            match name {
                "memory" => Some(json!(memory)),
                "vcpus" => Some(json!(vcpus)),
                "disk" => Some(json!(disk)),
                "price_monthly" => Some(json!(monthly)),
                "price_hourly" => Some(json!(f64::from(monthly) / 744.0)),
                "available" => Some(json!(true)),
                "regions" => Some(json!(REGIONS.iter().map(|r| r.0).collect::<Vec<_>>())),
                _ => None,
            }
        }
        _ => None,
    }
}

fn by_kind(s: &iql_provider::SchemaInfo, n: usize) -> Value {
    let format = s.format.as_deref();
    match s.kind() {
        ValueKind::Integer => json!(n + 1),
        ValueKind::Real => json!(n as f64 + 0.5),
        ValueKind::Boolean => json!(n.is_multiple_of(2)),
        ValueKind::DateTime => json!("2025-01-01T00:00:00Z"),
        ValueKind::Date => json!("2025-01-01"),
        ValueKind::Json if s.types.iter().any(|t| t == "array") => json!([]),
        ValueKind::Json => json!({}),
        ValueKind::Text => match format {
            Some("uuid") => json!(uuid_like(7, n)),
            Some("ipv4") => json!(format!("10.0.0.{}", n + 1)),
            _ => json!(format!("example-{}", n + 1)),
        },
    }
}

pub(super) fn uuid_like(seed: u64, n: usize) -> String {
    let h = hash(&format!("{seed}-{n}"));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        (h & 0xfff) as u16,
        ((h >> 4) & 0xfff) as u16,
        h & 0xffff_ffff_ffff
    )
}
