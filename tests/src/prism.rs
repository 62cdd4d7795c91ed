//! Stoplight Prism serving DigitalOcean's official OpenAPI specification on 127.0.0.1, started
//! through `../shared/do-mock/start.sh` (which installs Prism with npm on first use). Prism checks
//! every request against DigitalOcean's contract (401 without a token, 422 with the reason in the
//! `sl-violations` header) and answers with the spec's examples.

use std::path::PathBuf;
use std::process::Command;

/// A running Prism; dropping it stops it (never panicking).
pub struct Prism {
    port: u16,
    script: PathBuf,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl Prism {
    /// The images cut of the spec (`images.v2.yaml`), or the whole API with `full`.
    ///
    /// # Panics
    /// When `../shared` is missing or Prism cannot start (node and npm are needed): the test
    /// cannot run, and says why.
    pub fn start(full: bool) -> Prism {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/do-mock/start.sh");
        assert!(
            script.is_file(),
            "{} is missing: the contract tests need ../shared beside the clone",
            script.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port on 127.0.0.1");
        let mut cmd = Command::new("bash");
        cmd.arg(&script).arg(port.to_string());
        if full {
            cmd.arg("--full");
        }
        let out = cmd.output().expect("bash runs start.sh");
        assert!(
            out.status.success(),
            "start.sh failed (node and npm are needed; scripts/test installs them):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let base = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Prism { port, script, base }
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .arg("--stop")
            .arg(self.port.to_string())
            .output();
    }
}
