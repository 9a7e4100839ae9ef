//! Replays the fuzz corpus as ordinary tests, on the stable toolchain:
//!
//! - `corpus::<target>::<file>`: every committed input of
//!   `fuzz/corpus/<target>/` through the target's body (no panic, the
//!   properties hold, no allocation out of proportion to the input);
//! - `seeds::*`: the seeds argus-fuzz makes are the committed ones, and the
//!   structured inputs read back from their bytes;
//! - `regression::<target>::*`: the cases the fuzzers found (their inputs are
//!   in the corpus too) and the refusals the rule asks for, with what must
//!   happen spelled out.
//!
//! A failing corpus file is replayed alone with
//! `cargo test -p argus-fuzz --test replay -- --exact corpus::<target>::<file>`.

mod regression;

use std::path::{Path, PathBuf};

use argus_fuzz::alloc::Tracking;
use libtest_mimic::{Arguments, Failed, Trial};

#[global_allocator]
static ALLOC: Tracking = Tracking;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

/// Runs `body` on `data`, turning a panic into a failure that names the input.
fn run(body: argus_fuzz::Body, data: &[u8], what: &str) -> Result<(), Failed> {
    std::panic::catch_unwind(|| body(data)).map_err(|e| {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        Failed::from(format!("{what} ({} bytes): {msg}", data.len()))
    })
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for &(target, body) in argus_fuzz::TARGETS {
        let dir = corpus_dir().join(target);
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect(),
            Err(e) => {
                let msg = format!("{}: {e}", dir.display());
                trials.push(Trial::test(format!("corpus::{target}"), move || Err(msg.into())));
                continue;
            }
        };
        files.sort();
        for path in files {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            trials.push(Trial::test(format!("corpus::{target}::{name}"), move || {
                let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                run(body, &data, &path.display().to_string())
            }));
        }
    }
    trials.push(Trial::test("seeds::are_committed", seeds_are_committed));
    trials.push(Trial::test("seeds::structured_inputs_read_back", regression::inputs_read_back));
    trials.push(Trial::test("seeds::allocation_is_measured", allocation_is_measured));
    for (name, f) in regression::all() {
        trials.push(Trial::test(name, f));
    }
    libtest_mimic::run(&args, trials).exit();
}

/// Every seed is in the committed corpus, byte for byte.
fn seeds_are_committed() -> Result<(), Failed> {
    let mut stale = Vec::new();
    for (target, name, bytes) in argus_fuzz::seeds() {
        let path = corpus_dir().join(target).join(format!("seed-{name}"));
        if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            stale.push(path.display().to_string());
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "seeds missing or out of date (run `cargo run -p argus-fuzz --example write-seeds`): {}",
            stale.join(", ")
        )
        .into())
    }
}

/// The replay's allocator measures, so the bodies' allocation checks are on.
fn allocation_is_measured() -> Result<(), Failed> {
    let (v, largest) = argus_fuzz::alloc::measure(|| vec![0u8; 4096]);
    match largest {
        Some(n) if n >= v.len() => Ok(()),
        other => Err(format!("a 4096-byte allocation measured as {other:?}").into()),
    }
}
