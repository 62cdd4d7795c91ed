//! A real PostgreSQL server for tests and benchmarks, started from Debian's `postgresql`
//! package (`initdb` and `pg_ctl` on a temporary folder, listening on a free port of 127.0.0.1
//! only) and stopped and removed when dropped.
//!
//! PostgreSQL refuses to run as root, and CI runs as root: then the server runs as the
//! `postgres` user the package creates (`runuser -u postgres --`). Connections over TCP need the
//! superuser's password ([`PASSWORD`]), so the tests go through password authentication as users
//! do.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The superuser.
pub const USER: &str = "iql";
/// Its password (SCRAM-SHA-256 over TCP).
pub const PASSWORD: &str = "iql-test-password";

/// A running server; stopped (immediately) and removed when dropped.
#[derive(Debug)]
pub struct TestPostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    running: bool,
    /// Serves TLS with the certificate copied into the folder.
    tls: bool,
}

/// The folder of `initdb` and `pg_ctl`: `$IQL_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("IQL_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| not_installed())?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).ok_or_else(not_installed)
}

fn not_installed() -> String {
    "PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/initdb): \
     `scripts/test` installs it (apt-get install postgresql), or set IQL_PG_BIN"
        .to_string()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

impl TestPostgres {
    /// Creates a cluster in a new temporary folder and starts it.
    pub fn start() -> Result<TestPostgres, String> {
        let bin = bin_dir()?;
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!(
            "iql-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, PASSWORD).map_err(|e| e.to_string())?;
        let mut pg = TestPostgres {
            dir,
            bin,
            port: free_port()?,
            as_postgres,
            running: false,
            tls: false,
        };
        if as_postgres {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:")
                .arg(&pg.dir))?;
        }
        let data = pg.data();
        pg.run_tool(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--pwfile",
                path_str(&pwfile)?,
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        )?;
        pg.start_again()?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn run_tool(&self, tool: &str, args: &[&str]) -> Result<String, String> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).current_dir(&self.dir);
        run(&mut cmd)
    }

    /// Restarts it with TLS on (`ssl=on`), serving the PEM certificate `cert` and key `key`
    /// (copied in, with the owner and mode PostgreSQL demands of a key).
    pub fn enable_tls(&mut self, cert: &Path, key: &Path) -> Result<(), String> {
        let copy = |from: &Path, to: &str| -> Result<(), String> {
            let target = self.dir.join(to);
            std::fs::copy(from, &target).map_err(|e| format!("{}: {e}", from.display()))?;
            run(Command::new("chmod").arg("600").arg(&target))?;
            if self.as_postgres {
                run(Command::new("chown").arg("postgres:").arg(&target))?;
            }
            Ok(())
        };
        copy(cert, "server.crt")?;
        copy(key, "server.key")?;
        self.stop()?;
        self.tls = true;
        self.start_again()
    }

    /// Starts it (again, after [`TestPostgres::stop`]) on the same port and data.
    pub fn start_again(&mut self) -> Result<(), String> {
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c full_page_writes=off",
            self.port,
            path_str(&self.dir)?
        );
        if self.tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                path_str(&self.dir.join("server.crt"))?,
                path_str(&self.dir.join("server.key"))?
            ));
        }
        let data = self.data();
        let log = self.dir.join("server.log");
        self.run_tool(
            "pg_ctl",
            &[
                "-D",
                path_str(&data)?,
                "-o",
                &options,
                "-l",
                path_str(&log)?,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .map_err(|e| format!("{e}\n{}", self.log()))?;
        self.running = true;
        Ok(())
    }

    /// Stops it at once (`-m immediate`: connections are cut, as when a server dies).
    pub fn stop(&mut self) -> Result<(), String> {
        let data = self.data();
        self.run_tool(
            "pg_ctl",
            &["-D", path_str(&data)?, "-m", "immediate", "-w", "stop"],
        )?;
        self.running = false;
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://iql@127.0.0.1:PORT/db`, without the password (give it with PGPASSWORD).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// The same with the password in it.
    pub fn url_with_password(&self, db: &str) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` (with `createdb`, over the local socket).
    pub fn create_database(&self, name: &str) -> Result<(), String> {
        let port = self.port.to_string();
        self.run_tool(
            "createdb",
            &["-h", path_str(&self.dir)?, "-p", &port, "-U", USER, name],
        )
        .map(drop)
    }

    /// Runs `sql` in `db` with `psql` (over TCP, with the password), and what it printed
    /// (`-At`: unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        run(Command::new("psql")
            .env("PGPASSWORD", PASSWORD)
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url(db))
            .args(["-c", sql]))
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if self.running {
            let _ = self.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", p.display()))
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_starts_answers_and_stops() {
        let mut pg = TestPostgres::start().unwrap();
        pg.create_database("one").unwrap();
        assert_eq!(pg.psql("one", "SELECT 40 + 2").unwrap().trim(), "42");
        pg.stop().unwrap();
        assert!(pg.psql("one", "SELECT 1").is_err());
        pg.start_again().unwrap();
        assert_eq!(pg.psql("one", "SELECT 1").unwrap().trim(), "1");
    }
}
