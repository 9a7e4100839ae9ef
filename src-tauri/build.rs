use std::path::Path;
use std::process::Command;

fn main() {
    commit();
    // The page is embedded at compile time (tauri.conf.json's frontendDist):
    // a new `npm run build` must rebuild the app, or it keeps serving the old page.
    println!("cargo:rerun-if-changed=../web/dist");
    // Each app command gets an `allow-<command>` permission, and with an app
    // manifest a command is callable only where a capability grants it
    // (capabilities/main-window.json); without one, Tauri lets the page call
    // every command. The list is the handler list in src/lib.rs.
    let commands: &'static [&'static str] = Box::leak(app_commands().into_boxed_slice());
    // The same list for the capability test (`argus_app::APP_COMMANDS`).
    println!("cargo:rustc-env=ARGUS_APP_COMMANDS={}", commands.join(","));
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(commands));
    if let Err(e) = tauri_build::try_build(attributes) {
        eprintln!("tauri-build failed: {e:#}");
        std::process::exit(1);
    }
}

/// The commands in `tauri::generate_handler![..]` of src/lib.rs, as
/// `commands::<name>` entries.
fn app_commands() -> Vec<&'static str> {
    println!("cargo:rerun-if-changed=src/lib.rs");
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .unwrap_or_default();
    let Some(start) = lib.find("generate_handler![") else {
        println!("cargo:warning=src/lib.rs has no generate_handler! list: no app command is granted");
        return Vec::new();
    };
    let list = &lib[start + "generate_handler![".len()..];
    let list = &list[..list.find(']').unwrap_or(list.len())];
    list.split(',')
        .filter_map(|entry| entry.trim().strip_prefix("commands::"))
        .filter(|name| !name.is_empty())
        .map(|name| &*Box::leak(name.to_owned().into_boxed_str()))
        .collect()
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
        // HEAD's reflog changes with every commit, checkout and reset; the
        // ref's folder catches a loose ref written where the refs were packed
        // (the ref file itself may not exist, and a missing file would rerun
        // this on every build).
        let mut watched = vec![dir.join("HEAD"), dir.join("packed-refs"), dir.join("logs/HEAD")];
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let r = dir.join(r);
            if let Some(parent) = r.parent() {
                watched.push(parent.to_path_buf());
            }
            watched.push(r);
        }
        // only files that exist: a missing one would rerun this on every build
        for p in watched.iter().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
}
