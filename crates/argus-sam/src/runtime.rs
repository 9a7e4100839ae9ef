//! Finding and loading ONNX Runtime, and choosing execution providers.
//!
//! ONNX Runtime is loaded at run time (`ort`'s `load-dynamic`), so Argus starts
//! without it and reports a typed error with the fix when it is missing or too
//! old, instead of `ort`'s panic. The library is searched, in order, at
//! `ORT_DYLIB_PATH`, next to the executable (and in `../lib`), and in the
//! project cache that the bootstrap fills.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::{Error, Result};

/// Version of the ONNX Runtime the project bootstrap installs.
pub const BOOTSTRAP_ORT_VERSION: &str = "1.31.1";

/// The platform's file name of the library.
pub fn library_file_name() -> String {
    format!(
        "{}onnxruntime{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// Candidate locations of the library, in search order.
pub fn library_candidates() -> Vec<PathBuf> {
    let file = library_file_name();
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .as_deref()
        .and_then(Path::parent)
    {
        out.push(dir.join(&file));
        // cargo puts test and bench executables in target/<profile>/deps
        if let Some(up) = dir.parent() {
            out.push(up.join(&file));
            out.push(up.join("lib").join(&file));
        }
    }
    if let Some(home) = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()) {
        out.push(
            home.join(".cache/argus-dev/onnxruntime")
                .join(BOOTSTRAP_ORT_VERSION)
                .join(&file),
        );
    }
    if let Some(dirs) = directories::ProjectDirs::from("", "", "argus") {
        out.push(
            dirs.cache_dir()
                .join("onnxruntime")
                .join(BOOTSTRAP_ORT_VERSION)
                .join(&file),
        );
    }
    out
}

/// Finds the library without loading it.
pub fn find_library() -> Result<PathBuf> {
    let candidates = library_candidates();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| Error::RuntimeMissing {
            file: library_file_name(),
            searched: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

struct Loaded {
    env: Environment,
    path: PathBuf,
}

static RUNTIME: OnceLock<std::result::Result<Loaded, (String, PathBuf)>> = OnceLock::new();

/// Loads ONNX Runtime once per process and returns its environment.
///
/// The first call decides: later calls return the same environment or the same
/// error (a process cannot load a second copy of the library).
pub fn environment() -> Result<(Environment, PathBuf)> {
    let loaded = match RUNTIME.get() {
        Some(loaded) => loaded,
        None => {
            // Only a file that exists is handed to ort: given none, ort panics.
            let found = find_library()?;
            RUNTIME.get_or_init(|| load(&found))
        }
    };
    match loaded {
        Ok(l) => Ok((l.env.clone(), l.path.clone())),
        Err((reason, path)) => Err(Error::RuntimeUnusable {
            reason: reason.clone(),
            min_minor: ort::MINOR_VERSION,
            path: path.clone(),
        }),
    }
}

fn load(path: &Path) -> std::result::Result<Loaded, (String, PathBuf)> {
    let fail = |e: String| (e, path.to_path_buf());
    let builder = ort::init_from(path).map_err(|e| fail(e.to_string()))?;
    let env = builder
        .with_name("argus-sam")
        .build()
        .map_err(|e| fail(e.to_string()))?;
    tracing::info!("ONNX Runtime loaded from {}", path.display());
    Ok(Loaded {
        env,
        path: path.to_path_buf(),
    })
}

/// Which execution provider to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderChoice {
    /// The best one for this platform: CUDA (TensorRT first when compiled in)
    /// on NVIDIA, CoreML on macOS, DirectML on Windows, CPU otherwise.
    #[default]
    Auto,
    /// CPU only.
    Cpu,
    /// CUDA, falling back to the CPU.
    Cuda,
    /// TensorRT then CUDA, falling back to the CPU.
    TensorRt,
}

/// What the session ended up running on, and why not on the GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderReport {
    /// Name of the active provider (`CPU`, `CUDA`, ...).
    pub active: String,
    /// Providers that were tried and failed, with ONNX Runtime's reason.
    pub failures: Vec<(String, String)>,
}

impl ProviderReport {
    /// Whether a GPU provider is active.
    pub fn is_gpu(&self) -> bool {
        self.active != "CPU"
    }

    /// A one-line explanation for the UI when the CPU is used.
    pub fn why_not_gpu(&self) -> Option<String> {
        if self.is_gpu() {
            return None;
        }
        if self.failures.is_empty() {
            return Some("no GPU execution provider was requested or compiled in".to_owned());
        }
        Some(
            self.failures
                .iter()
                .map(|(ep, why)| format!("{ep}: {why}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// Names of the providers `choice` tries, best first, without the CPU.
pub fn provider_plan(choice: ProviderChoice) -> Vec<&'static str> {
    match choice {
        ProviderChoice::Cpu => vec![],
        ProviderChoice::Cuda => vec!["CUDA"],
        ProviderChoice::TensorRt => vec!["TensorRT", "CUDA"],
        ProviderChoice::Auto => {
            let mut v = Vec::new();
            if cfg!(feature = "cuda") {
                v.push("TensorRT");
                v.push("CUDA");
            }
            if cfg!(all(feature = "coreml", target_os = "macos")) {
                v.push("CoreML");
            }
            if cfg!(all(feature = "directml", target_os = "windows")) {
                v.push("DirectML");
            }
            v
        }
    }
}

/// Registers the first provider of the plan that works on `builder`.
/// Registration failures are logged and recorded; the CPU is always the fallback.
pub(crate) fn register_providers(
    mut builder: ort::session::builder::SessionBuilder,
    choice: ProviderChoice,
) -> (ort::session::builder::SessionBuilder, ProviderReport) {
    let mut failures = Vec::new();
    for name in provider_plan(choice) {
        let Some(ep) = dispatch(name) else {
            failures.push((
                name.to_owned(),
                "support not compiled in (build argus-sam with the matching feature)".to_owned(),
            ));
            continue;
        };
        match builder.with_execution_providers([ep.error_on_failure()]) {
            Ok(b) => {
                tracing::info!("ONNX Runtime execution provider {name} registered");
                return (
                    b,
                    ProviderReport {
                        active: name.to_owned(),
                        failures,
                    },
                );
            }
            Err(e) => {
                tracing::warn!("execution provider {name} unavailable, trying the next one: {e}");
                failures.push((name.to_owned(), e.to_string()));
                builder = e.recover();
            }
        }
    }
    (
        builder,
        ProviderReport {
            active: "CPU".to_owned(),
            failures,
        },
    )
}

fn dispatch(name: &str) -> Option<ort::ep::ExecutionProviderDispatch> {
    match name {
        #[cfg(feature = "cuda")]
        "CUDA" => Some(ort::ep::CUDA::default().build()),
        #[cfg(feature = "cuda")]
        "TensorRT" => Some(ort::ep::TensorRT::default().build()),
        #[cfg(feature = "coreml")]
        "CoreML" => Some(ort::ep::CoreML::default().build()),
        #[cfg(feature = "directml")]
        "DirectML" => Some(ort::ep::DirectML::default().build()),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn cpu_plan_is_empty_and_explains_itself() {
        assert!(provider_plan(ProviderChoice::Cpu).is_empty());
        assert_eq!(
            provider_plan(ProviderChoice::TensorRt),
            vec!["TensorRT", "CUDA"]
        );
        let r = ProviderReport {
            active: "CPU".into(),
            failures: vec![("CUDA".into(), "no device".into())],
        };
        assert!(!r.is_gpu());
        assert_eq!(r.why_not_gpu().as_deref(), Some("CUDA: no device"));
        assert!(
            ProviderReport {
                active: "CUDA".into(),
                failures: vec![]
            }
            .why_not_gpu()
            .is_none()
        );
    }

    #[test]
    fn missing_library_names_the_file_and_the_places() {
        let e = Error::RuntimeMissing {
            file: library_file_name(),
            searched: "a, b".into(),
        };
        let msg = e.to_string();
        assert!(
            msg.contains("ORT_DYLIB_PATH")
                && msg.contains(&library_file_name())
                && msg.contains("a, b")
        );
    }
}
