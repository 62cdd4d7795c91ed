//! Records the commit iql is built from and its date, for `iql --version`; a build outside a git
//! checkout (a source archive) says "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let date = git(&["log", "-1", "--format=%cs"]).unwrap_or_else(|| "unknown date".into());
    println!("cargo:rustc-env=IQL_COMMIT={commit}");
    println!("cargo:rustc-env=IQL_COMMIT_DATE={date}");
    // A new commit changes HEAD (or the branch it points at).
    for f in ["../../.git/HEAD", "../../.git/refs/heads"] {
        if std::path::Path::new(f).exists() {
            println!("cargo:rerun-if-changed={f}");
        }
    }
}
