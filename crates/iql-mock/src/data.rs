//! Seeded, realistic image and action data: public distribution and application images, and the
//! account's snapshots, backups and custom images across regions.

use serde_json::{json, Value};

pub const REGIONS: &[&str] = &[
    "ams1", "ams2", "ams3", "blr1", "fra1", "lon1", "nyc1", "nyc2", "nyc3", "sfo1", "sfo2", "sfo3",
    "sgp1", "tor1", "syd1",
];

pub const DISTRIBUTIONS: &[&str] = &[
    "Arch Linux",
    "CentOS",
    "CoreOS",
    "Debian",
    "Fedora",
    "Fedora Atomic",
    "FreeBSD",
    "Gentoo",
    "openSUSE",
    "RancherOS",
    "Rocky Linux",
    "Ubuntu",
    "Unknown",
];

/// The public distribution images every account sees: (name, distribution, slug).
const PUBLIC_DISTRIBUTIONS: &[(&str, &str, &str)] = &[
    ("24.04 (LTS) x64", "Ubuntu", "ubuntu-24-04-x64"),
    ("22.04 (LTS) x64", "Ubuntu", "ubuntu-22-04-x64"),
    ("12 x64", "Debian", "debian-12-x64"),
    ("11 x64", "Debian", "debian-11-x64"),
    ("40 x64", "Fedora", "fedora-40-x64"),
    ("9 Stream x64", "CentOS", "centos-stream-9-x64"),
    ("9 x64", "Rocky Linux", "rockylinux-9-x64"),
    ("8 x64", "Rocky Linux", "rockylinux-8-x64"),
    ("14.1 x64 ufs", "FreeBSD", "freebsd-14-x64-ufs"),
    ("Arch Linux x64", "Arch Linux", "arch-linux-x64"),
];

/// 1-Click application images: (name, distribution, slug).
const PUBLIC_APPLICATIONS: &[(&str, &str, &str)] = &[
    ("Docker on Ubuntu 22.04", "Ubuntu", "docker-20-04"),
    ("WordPress on Ubuntu 22.04", "Ubuntu", "wordpress-20-04"),
    ("LAMP on Ubuntu 22.04", "Ubuntu", "lamp-20-04"),
    ("MongoDB 7.0", "Ubuntu", "mongodb-7-0"),
    ("GitLab 16.4 CE", "Ubuntu", "gitlab-ce"),
    ("Node.js on Ubuntu 22.04", "Ubuntu", "nodejs-22-04"),
    ("Grafana 10", "Ubuntu", "grafana-10"),
    ("Plesk on Ubuntu 22.04", "Ubuntu", "plesk-22-04"),
    ("Jenkins on Ubuntu", "Ubuntu", "jenkins-22-04"),
    ("Ghost on Ubuntu 22.04", "Ubuntu", "ghost-22-04"),
];

const USER_KINDS: &[&str] = &["snapshot", "backup", "custom"];
const TAGS: &[&str] = &["prod", "staging", "base-image", "web", "db"];

/// Which `type` query value an image answers to, or `None` for the account's own images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Distribution,
    Application,
    User,
}

#[derive(Debug, Clone)]
pub struct Image {
    pub category: Category,
    pub body: Value,
    /// GETs of this image seen since it was created (drives NEW → available for imports).
    pub polls: u32,
    /// For an import: the URL it was created from. One containing `broken` fails to import, so tests
    /// can see an import end as `deleted` with an `error_message`.
    pub source_url: Option<String>,
    /// `body` as JSON text, made on first use so that listing pages costs a copy, not a
    /// serialization. [`Image::touch`] drops it after a change.
    json: std::sync::OnceLock<String>,
}

impl Image {
    pub fn new(category: Category, body: Value) -> Self {
        Image {
            category,
            body,
            polls: 0,
            source_url: None,
            json: std::sync::OnceLock::new(),
        }
    }

    pub fn json(&self) -> &str {
        self.json.get_or_init(|| self.body.to_string())
    }

    /// Call after changing `body`.
    pub fn touch(&mut self) {
        self.json = std::sync::OnceLock::new();
    }

    pub fn id(&self) -> i64 {
        self.body["id"].as_i64().unwrap_or_default()
    }
}

/// splitmix64: a small deterministic generator, so a seed always gives the same data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn regions(&mut self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = REGIONS
            .iter()
            .copied()
            .filter(|_| self.below(3) == 0)
            .collect();
        if out.is_empty() {
            out.push(REGIONS[self.below(REGIONS.len() as u64) as usize]);
        }
        out
    }
}

fn timestamp(rng: &mut Rng) -> String {
    let day = rng.below(28) + 1;
    let month = rng.below(12) + 1;
    let year = 2021 + rng.below(5);
    format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rng.below(24),
        rng.below(60),
        rng.below(60)
    )
}

/// `count` images: up to ten distributions, then up to ten applications, then the account's own.
pub fn seed_images(count: usize, seed: u64) -> Vec<Image> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let id = 100_000 + (i as i64) * 7 + 3;
        let (category, body) = if i < PUBLIC_DISTRIBUTIONS.len() {
            let (name, distribution, slug) = PUBLIC_DISTRIBUTIONS[i];
            (
                Category::Distribution,
                public_image(&mut rng, id, name, distribution, slug),
            )
        } else if i < PUBLIC_DISTRIBUTIONS.len() + PUBLIC_APPLICATIONS.len() {
            let (name, distribution, slug) = PUBLIC_APPLICATIONS[i - PUBLIC_DISTRIBUTIONS.len()];
            (
                Category::Application,
                public_image(&mut rng, id, name, distribution, slug),
            )
        } else {
            let kind = USER_KINDS[i % USER_KINDS.len()];
            let distribution = rng.pick(&DISTRIBUTIONS[..12]);
            let tags: Vec<&str> = TAGS.iter().copied().filter(|_| rng.below(3) == 0).collect();
            let name = match kind {
                "snapshot" => format!("web-{:04}-snapshot", i),
                "backup" => format!("db-{:04} {}", i, timestamp(&mut rng)),
                _ => format!("custom-{:04}", i),
            };
            let regions = if kind == "backup" {
                vec![rng.pick(REGIONS)]
            } else {
                rng.regions()
            };
            let min_disk_size = [20, 25, 50, 80][rng.below(4) as usize];
            let created_at = timestamp(&mut rng);
            let size_gigabytes = (rng.unit() * 2000.0).round() / 100.0 + 0.5;
            let body = json!({
                "id": id,
                "name": name,
                "type": kind,
                "distribution": distribution,
                "slug": null,
                "public": false,
                "regions": regions,
                "created_at": created_at,
                "min_disk_size": min_disk_size,
                "size_gigabytes": size_gigabytes,
                "description": if kind == "custom" { json!("Imported from a qcow2 build") } else { json!("") },
                "tags": tags,
                "status": "available",
                "error_message": "",
            });
            (Category::User, body)
        };
        out.push(Image::new(category, body));
    }
    out
}

fn public_image(rng: &mut Rng, id: i64, name: &str, distribution: &str, slug: &str) -> Value {
    json!({
        "id": id,
        "name": name,
        "type": "base",
        "distribution": distribution,
        "slug": slug,
        "public": true,
        "regions": REGIONS,
        "created_at": timestamp(rng),
        "min_disk_size": 15,
        "size_gigabytes": (rng.unit() * 300.0).round() / 100.0 + 0.5,
        "description": format!("{distribution} {name}"),
        "tags": [],
        "status": "available",
        "error_message": "",
    })
}

/// A finished action, as DigitalOcean shows old actions.
pub fn seeded_action(id: i64, image_id: i64, kind: &str, region: &str, rng: &mut Rng) -> Value {
    let started = timestamp(rng);
    json!({
        "id": id,
        "status": "completed",
        "type": kind,
        "started_at": started,
        "completed_at": started,
        "resource_id": image_id,
        "resource_type": "image",
        "region": region_object(region),
        "region_slug": region,
    })
}

pub fn region_object(slug: &str) -> Value {
    json!({
        "name": slug.to_uppercase(),
        "slug": slug,
        "features": ["private_networking", "backups", "ipv6", "metadata", "image_transfer"],
        "available": true,
        "sizes": ["s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-4gb"],
    })
}
