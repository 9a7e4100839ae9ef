use std::path::Path;
use std::process::Command;

fn main() {
    commit();
    tauri_build::build();
}

/// `ARGUS_GIT_COMMIT`: the commit the binary is built from (`argus --version`),
/// or "unknown" outside a git checkout (a source archive).
fn commit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ARGUS_GIT_COMMIT={commit}");
    // A new commit or branch rebuilds this: HEAD, the ref it names, packed refs.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let dir = Path::new(&dir);
        let mut watched = vec![dir.join("HEAD"), dir.join("packed-refs")];
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(dir.join(r));
        }
        // only files that exist: a missing one would rerun this on every build
        for p in watched.iter().filter(|p| p.is_file()) {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
}
