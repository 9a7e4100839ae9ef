//! The committed TypeScript bindings in `web/src/lib/bindings/` must be
//! exactly what the Rust types generate now. When this fails, run
//! `UPDATE_BINDINGS=1 cargo test -p argus --test bindings` (or
//! `cargo run -p argus -- --write-bindings`) and commit the result.

use std::collections::BTreeMap;
use std::path::Path;

use libtest_mimic::{Arguments, Failed, Trial};

fn read_dir(dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("listing {}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        files.insert(name, text);
    }
    Ok(files)
}

fn no_drift() -> Result<(), Failed> {
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        argus_app::bindings::export_all(&argus_app::bindings::committed_dir())?;
    }
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let fresh_dir = tmp.path().join("bindings");
    let names = argus_app::bindings::export_all(&fresh_dir)?;
    let fresh = read_dir(&fresh_dir)?;
    let committed = read_dir(&argus_app::bindings::committed_dir())?;
    let fix = "run `UPDATE_BINDINGS=1 cargo test -p argus --test bindings` and commit web/src/lib/bindings";
    for (name, text) in &fresh {
        match committed.get(name) {
            None => {
                return Err(format!("{name} is missing from the committed bindings; {fix}").into());
            }
            Some(c) if c != text => {
                return Err(format!("{name} differs from what Rust generates; {fix}").into());
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = committed.keys().find(|k| !fresh.contains_key(*k)) {
        return Err(format!("{extra} is committed but no longer generated; {fix}").into());
    }
    if !names.iter().any(|n| n == "CommandError") || !fresh.contains_key("index.ts") {
        return Err("CommandError and index.ts must be generated".into());
    }
    for (name, text) in &fresh {
        if !text.contains("Do not edit") {
            return Err(format!("{name} does not say it is generated").into());
        }
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    libtest_mimic::run(
        &args,
        vec![Trial::test(
            "bindings: committed TypeScript matches the Rust types",
            no_drift,
        )],
    )
    .exit();
}
