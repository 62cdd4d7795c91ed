//! From `postgres://user@host:port/db?sslmode=…` to a connection's settings, the way libpq reads
//! them, so that what works for `psql` works for `--store`: a password missing from the URL comes
//! from `PGPASSWORD`, else from the password file (`PGPASSFILE`, else `~/.pgpass`, ignored when
//! others may read it); a missing user from `PGUSER`, else the login name; a missing database is
//! the user's name.
//!
//! The password is kept apart from everything that is printed: [`Settings::location`] has none.

use std::path::PathBuf;
use std::time::Duration;

/// How the connection is encrypted (`sslmode`, as libpq spells it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, else plain; the certificate is not checked (libpq's default).
    Prefer,
    /// TLS or nothing; the certificate is not checked.
    Require,
    /// TLS, with a certificate signed by a trusted authority (`sslrootcert`, else the system's).
    VerifyCa,
    /// As `verify-ca`, and the certificate names the host.
    VerifyFull,
}

/// What a store's URL says, with the blanks filled as libpq fills them.
#[derive(Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    pub password: Option<String>,
    pub ssl_mode: SslMode,
    /// A PEM file of the authorities to trust (`sslrootcert`).
    pub ssl_root_cert: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub application_name: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.write_str(&self.location())
    }
}

/// The environment libpq reads, passed in so tests need not change the process's own.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub pgpassword: Option<String>,
    pub pgpassfile: Option<PathBuf>,
    pub pguser: Option<String>,
    pub home: Option<PathBuf>,
    pub login: Option<String>,
}

impl Environment {
    /// This process's environment.
    pub fn current() -> Environment {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Environment {
            pgpassword: var("PGPASSWORD"),
            pgpassfile: var("PGPASSFILE").map(PathBuf::from),
            pguser: var("PGUSER"),
            home: var("HOME").map(PathBuf::from),
            login: var("USER").or_else(|| var("LOGNAME")),
        }
    }
}

/// Whether `text` names a PostgreSQL store rather than a file.
pub fn is_postgres_url(text: &str) -> bool {
    let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

impl Settings {
    /// Reads a `postgres://` or `postgresql://` URL. The error never holds the password.
    pub fn from_url(text: &str, env: &Environment) -> Result<Settings, String> {
        let url = url::Url::parse(text).map_err(|e| {
            format!(
                "{} is not a PostgreSQL URL ({e}): write postgres://USER@HOST:PORT/DATABASE",
                redact(text)
            )
        })?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "{} is not a PostgreSQL URL: it starts with postgres://",
                redact(text)
            ));
        }
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| format!("{} has a badly escaped part", redact(text)))
        };
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']').to_string(),
            _ => "localhost".to_string(),
        };
        let port = url.port().unwrap_or(5432);
        let user = match url.username() {
            "" => env
                .pguser
                .clone()
                .or_else(|| env.login.clone())
                .ok_or_else(|| {
                    format!(
                        "{} names no user, and neither PGUSER nor USER is set: write postgres://USER@{host}:{port}/…",
                        redact(text)
                    )
                })?,
            u => decode(u)?,
        };
        let dbname = match url.path().trim_start_matches('/') {
            "" => user.clone(),
            d => decode(d)?,
        };
        let mut settings = Settings {
            host,
            port,
            user,
            dbname,
            password: url.password().map(decode).transpose()?,
            ssl_mode: SslMode::Prefer,
            ssl_root_cert: None,
            connect_timeout: Duration::from_secs(10),
            application_name: "iql".to_string(),
        };
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" => {
                    settings.ssl_mode = match value.as_ref() {
                        "disable" => SslMode::Disable,
                        "allow" | "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => {
                            return Err(format!(
                                "sslmode={other} is not one libpq knows: disable, prefer, require, verify-ca or verify-full"
                            ))
                        }
                    }
                }
                "sslrootcert" => settings.ssl_root_cert = Some(PathBuf::from(value.as_ref())),
                "connect_timeout" => {
                    let secs: u64 = value.parse().map_err(|_| {
                        format!("connect_timeout={value} is not a number of seconds")
                    })?;
                    settings.connect_timeout = Duration::from_secs(secs.max(1));
                }
                "application_name" => settings.application_name = value.into_owned(),
                "password" => settings.password = Some(value.into_owned()),
                "user" => settings.user = value.into_owned(),
                "dbname" => settings.dbname = value.into_owned(),
                "host" => settings.host = value.into_owned(),
                "port" => {
                    settings.port = value
                        .parse()
                        .map_err(|_| format!("port={value} is not a port number"))?
                }
                other => {
                    return Err(format!(
                        "{other} is not a setting iql reads from a PostgreSQL URL (it reads sslmode, sslrootcert, connect_timeout, application_name, user, password, dbname, host, port)"
                    ))
                }
            }
        }
        if settings.password.is_none() {
            settings.password = env.pgpassword.clone().or_else(|| {
                let file = env
                    .pgpassfile
                    .clone()
                    .or_else(|| env.home.as_ref().map(|h| h.join(".pgpass")))?;
                password_from_file(&file, &settings)
            });
        }
        Ok(settings)
    }

    /// `postgres://user@host:port/db`: where the store is, for messages. No password.
    pub fn location(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "postgres://{}@{host}:{}/{}",
            self.user, self.port, self.dbname
        )
    }
}

/// The URL with any password replaced by `***`, for an error about the URL itself.
pub fn redact(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "password" {
                        "***".to_string()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            if !pairs.is_empty() {
                url.query_pairs_mut().clear().extend_pairs(pairs);
            }
            url.to_string()
        }
        // Unreadable: say nothing of what follows the scheme's user part.
        Err(_) => match text.split_once('@') {
            Some((_, rest)) => format!("postgres://…@{rest}"),
            None => text.to_string(),
        },
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The password of the first line of a libpq password file that matches the connection
/// (`host:port:database:user:password`, `*` for any, `\:` and `\\` escaped); `None` when there
/// is none, when the file is missing, or when others may read it (libpq ignores it then).
fn password_from_file(file: &std::path::Path, s: &Settings) -> Option<String> {
    if !private(file) {
        tracing::warn!(
            "the password file {} is readable by others; ignored, as libpq does (chmod 600 it)",
            file.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    password_in(&text, s)
}

pub(crate) fn password_in(text: &str, s: &Settings) -> Option<String> {
    let port = s.port.to_string();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_fields(line);
        let [host, p, db, user, password] = fields.as_slice() else {
            continue;
        };
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if matches(host, &s.host)
            && matches(p, &port)
            && matches(db, &s.dbname)
            && matches(user, &s.user)
        {
            return Some(password.clone());
        }
    }
    None
}

/// A password-file line's five fields; the last takes the rest of the line.
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    if let Some(f) = fields.last_mut() {
                        f.push(next);
                    }
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(unix)]
fn private(file: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file)
        .map(|m| m.permissions().mode() & 0o077 == 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn private(_file: &std::path::Path) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment {
            login: Some("sam".into()),
            ..Environment::default()
        }
    }

    #[test]
    fn blanks_are_filled_as_libpq_fills_them() {
        let s = Settings::from_url("postgres://db.internal/inventory", &env()).unwrap();
        assert_eq!(s.location(), "postgres://sam@db.internal:5432/inventory");
        assert_eq!(s.password, None);
        assert_eq!(s.ssl_mode, SslMode::Prefer);
        let s = Settings::from_url("postgresql://", &env()).unwrap();
        assert_eq!(s.location(), "postgres://sam@localhost:5432/sam");
        let e = Environment {
            pguser: Some("ops".into()),
            pgpassword: Some("from-env".into()),
            ..env()
        };
        let s = Settings::from_url("postgres://127.0.0.1:6543/x", &e).unwrap();
        assert_eq!(s.location(), "postgres://ops@127.0.0.1:6543/x");
        assert_eq!(s.password.as_deref(), Some("from-env"));
    }

    #[test]
    fn the_password_is_in_no_message() {
        let s = Settings::from_url("postgres://u:s%40cret@h:1/d?sslmode=require", &env()).unwrap();
        assert_eq!(s.password.as_deref(), Some("s@cret"));
        assert!(!format!("{s:?} {}", s.location()).contains("cret"));
        let e =
            Settings::from_url("postgres://u:s3cret@h:1/d?sslmode=sometimes", &env()).unwrap_err();
        assert!(e.contains("sslmode=sometimes"), "{e}");
        let e = Settings::from_url("postgres://u:s3cret@h:1/d?colour=blue", &env()).unwrap_err();
        assert!(e.contains("colour") && !e.contains("s3cret"), "{e}");
        assert_eq!(
            redact("postgres://u:s3cret@h:1/d?password=x&sslmode=require"),
            "postgres://u:***@h:1/d?password=***&sslmode=require"
        );
        assert!(!redact("postgres://u:s3cret@h:99999/d").contains("s3cret"));
    }

    #[test]
    fn password_file_lines_match_like_libpq() {
        let s = Settings::from_url("postgres://app@db:5433/inv", &env()).unwrap();
        let file = "# comment\n\
                    db:5432:inv:app:wrong-port\n\
                    db:*:other:app:wrong-db\n\
                    db:*:inv:app:p\\:a\\\\ss:word\n\
                    *:*:*:*:fallback\n";
        assert_eq!(password_in(file, &s).as_deref(), Some("p:a\\ss:word"));
        let t = Settings::from_url("postgres://else@elsewhere/inv", &env()).unwrap();
        assert_eq!(password_in(file, &t).as_deref(), Some("fallback"));
        assert_eq!(password_in("db:5433:inv:app\n", &s), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_password_file_others_can_read_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("iql-pgpass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pgpass");
        std::fs::write(&file, "*:*:*:*:secret\n").unwrap();
        let e = Environment {
            pgpassfile: Some(file.clone()),
            ..env()
        };
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = Settings::from_url("postgres://h/d", &e).unwrap();
        assert_eq!(s.password, None);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = Settings::from_url("postgres://h/d", &e).unwrap();
        assert_eq!(s.password.as_deref(), Some("secret"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
