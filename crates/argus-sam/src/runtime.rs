//! Finding and loading ONNX Runtime, and choosing execution providers.
//!
//! ONNX Runtime is loaded at run time (`ort`'s `load-dynamic`), so Argus starts
//! without it and reports a typed error with the fix when it is missing or too
//! old, instead of `ort`'s panic. [`search_order`] lists where the library is
//! looked for, best first:
//!
//! 1. `ORT_DYLIB_PATH`: the user's explicit choice, used as it is (when it
//!    cannot be loaded that is the error; nothing else is tried);
//! 2. a CUDA-enabled ONNX Runtime the user installed in a system library
//!    folder (`LD_LIBRARY_PATH`, `/usr/local/lib`, `/usr/lib`, ... on Linux):
//!    one with `libonnxruntime_providers_cuda` beside it, so SAM can run on
//!    an NVIDIA GPU instead of the packaged CPU build;
//! 3. the copy that ships with the app: next to the executable, in
//!    `<exe>/../lib/argus/` (the Linux packages), `<exe>/../Frameworks/`
//!    (a macOS app bundle), and `<exe>/..` and `<exe>/../lib` (cargo's test
//!    and bench executables in `target/<profile>/deps`);
//! 4. the project cache that the bootstrap fills, then Argus's own cache;
//! 5. a CPU-only ONNX Runtime in a system library folder, as a last resort.
//!
//! Past the first, a library that exists but does not load (too old, not a
//! library) is logged and the next one is tried. The log says which library
//! was loaded and why it was chosen.

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

/// The platform's file name of ONNX Runtime's CUDA execution provider, which
/// a CUDA-enabled build has beside its main library.
pub fn cuda_provider_file_name() -> String {
    format!(
        "{}onnxruntime_providers_cuda{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// Why a candidate library is where it is in the search order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibrarySource {
    /// `ORT_DYLIB_PATH`.
    EnvVar,
    /// A CUDA-enabled build in a system library folder.
    SystemCuda,
    /// The app's own copy, beside its executable or in its `lib` folders.
    Bundled,
    /// The project bootstrap's cache (`~/.cache/argus-dev/onnxruntime`).
    DevCache,
    /// Argus's cache folder.
    AppCache,
    /// A build without CUDA in a system library folder.
    System,
}

impl LibrarySource {
    /// How the log names the choice.
    pub fn describe(self) -> &'static str {
        match self {
            Self::EnvVar => "set by ORT_DYLIB_PATH",
            Self::SystemCuda => "a CUDA-enabled build installed on this system",
            Self::Bundled => "the copy that ships with Argus",
            Self::DevCache => "the project bootstrap's cache",
            Self::AppCache => "Argus's cache folder",
            Self::System => "a build without CUDA installed on this system",
        }
    }
}

/// One place the library may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryCandidate {
    pub path: PathBuf,
    pub source: LibrarySource,
}

/// What the search starts from. [`SearchRoots::from_process`] reads this
/// process's environment and executable; tests build their own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchRoots {
    /// `ORT_DYLIB_PATH`, when set and not empty.
    pub env_path: Option<PathBuf>,
    /// The folder of the running executable.
    pub exe_dir: Option<PathBuf>,
    /// The user's home folder (the bootstrap's cache is under it).
    pub home: Option<PathBuf>,
    /// Argus's cache folder.
    pub app_cache: Option<PathBuf>,
    /// System library folders, in the order they are searched.
    pub system_dirs: Vec<PathBuf>,
}

impl SearchRoots {
    /// This process's roots.
    pub fn from_process() -> Self {
        Self {
            env_path: std::env::var_os("ORT_DYLIB_PATH")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            exe_dir: std::env::current_exe()
                .ok()
                .as_deref()
                .and_then(Path::parent)
                .map(Path::to_path_buf),
            home: directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()),
            app_cache: directories::ProjectDirs::from("", "", "argus")
                .map(|d| d.cache_dir().to_path_buf()),
            system_dirs: system_library_dirs(std::env::var_os("LD_LIBRARY_PATH").as_deref()),
        }
    }
}

/// The system library folders searched for a user-installed ONNX Runtime:
/// the entries of `LD_LIBRARY_PATH` (`ld_library_path`), then the usual
/// folders of a Linux system. Elsewhere none: on macOS and Windows the
/// packaged library is beside the app, and `ORT_DYLIB_PATH` names another.
pub fn system_library_dirs(ld_library_path: Option<&std::ffi::OsStr>) -> Vec<PathBuf> {
    if !cfg!(target_os = "linux") {
        return Vec::new();
    }
    let mut dirs: Vec<PathBuf> = ld_library_path
        .map(|v| std::env::split_paths(v).filter(|p| p.is_absolute()).collect())
        .unwrap_or_default();
    let multiarch = format!("{}-linux-gnu", std::env::consts::ARCH);
    for d in [
        format!("/usr/local/lib/{multiarch}"),
        "/usr/local/lib".to_owned(),
        format!("/usr/lib/{multiarch}"),
        "/usr/lib64".to_owned(),
        "/usr/lib".to_owned(),
        "/opt/onnxruntime/lib".to_owned(),
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// The places the library is looked for, best first (see the module's
/// documentation), without duplicates. A system folder is a
/// [`LibrarySource::SystemCuda`] candidate only when it holds both the
/// library and its CUDA provider; every other candidate is listed whether or
/// not it exists, so an error can name the places searched.
pub fn search_order(roots: &SearchRoots) -> Vec<LibraryCandidate> {
    let file = library_file_name();
    let mut out: Vec<LibraryCandidate> = Vec::new();
    let mut push = |path: PathBuf, source: LibrarySource| {
        if !out.iter().any(|c| c.path == path) {
            out.push(LibraryCandidate { path, source });
        }
    };
    if let Some(p) = &roots.env_path {
        push(p.clone(), LibrarySource::EnvVar);
    }
    for dir in &roots.system_dirs {
        if dir.join(&file).is_file() && dir.join(cuda_provider_file_name()).is_file() {
            push(dir.join(&file), LibrarySource::SystemCuda);
        }
    }
    if let Some(dir) = &roots.exe_dir {
        push(dir.join(&file), LibrarySource::Bundled);
        if let Some(up) = dir.parent() {
            push(up.join("lib").join("argus").join(&file), LibrarySource::Bundled);
            push(up.join("Frameworks").join(&file), LibrarySource::Bundled);
            // cargo puts test and bench executables in target/<profile>/deps.
            // (For /usr/bin/argus, <exe>/../lib is /usr/lib: a system folder,
            // searched as one below.)
            for dir in [up.to_path_buf(), up.join("lib")] {
                if !roots.system_dirs.contains(&dir) {
                    push(dir.join(&file), LibrarySource::Bundled);
                }
            }
        }
    }
    if let Some(home) = &roots.home {
        push(
            home.join(".cache/argus-dev/onnxruntime")
                .join(BOOTSTRAP_ORT_VERSION)
                .join(&file),
            LibrarySource::DevCache,
        );
    }
    if let Some(cache) = &roots.app_cache {
        push(
            cache.join("onnxruntime").join(BOOTSTRAP_ORT_VERSION).join(&file),
            LibrarySource::AppCache,
        );
    }
    for dir in &roots.system_dirs {
        push(dir.join(&file), LibrarySource::System);
    }
    out
}

/// LibraryCandidate locations of the library for this process, in search order.
pub fn library_candidates() -> Vec<PathBuf> {
    search_order(&SearchRoots::from_process())
        .into_iter()
        .map(|c| c.path)
        .collect()
}

/// The candidates that exist, best first; [`Error::RuntimeMissing`], naming
/// every place searched, when there is none.
fn existing(candidates: Vec<LibraryCandidate>) -> Result<Vec<LibraryCandidate>> {
    let searched = candidates
        .iter()
        .map(|c| c.path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let found: Vec<LibraryCandidate> = candidates.into_iter().filter(|c| c.path.is_file()).collect();
    if found.is_empty() {
        return Err(Error::RuntimeMissing {
            file: library_file_name(),
            searched,
        });
    }
    Ok(found)
}

/// Finds the library that would be tried first, without loading it.
pub fn find_library() -> Result<PathBuf> {
    let found = existing(search_order(&SearchRoots::from_process()))?;
    Ok(found[0].path.clone())
}

struct Loaded {
    env: Environment,
    path: PathBuf,
}

static RUNTIME: OnceLock<std::result::Result<Loaded, (String, PathBuf)>> = OnceLock::new();

/// Loads ONNX Runtime once per process and returns its environment and the
/// library's path.
///
/// The first call decides: later calls return the same environment or the same
/// error (a process cannot load a second copy of the library).
pub fn environment() -> Result<(Environment, PathBuf)> {
    let loaded = match RUNTIME.get() {
        Some(loaded) => loaded,
        None => {
            let roots = SearchRoots::from_process();
            if let Some(p) = roots.env_path.as_deref().filter(|p| !p.is_file()) {
                tracing::warn!(
                    "ORT_DYLIB_PATH names no file, looking elsewhere: {}",
                    p.display()
                );
            }
            // Only files that exist are handed to ort: given none, ort panics.
            let found = existing(search_order(&roots))?;
            RUNTIME.get_or_init(|| load_first(&found))
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

/// Loads the first of `found` that loads. `ORT_DYLIB_PATH` is final: when
/// the library it names does not load, that is the error. Otherwise a
/// failure is logged and the next one is tried; when none loads, the error
/// is the first one's. Only a library that ort itself rejects (not
/// loadable, too old) is passed over: ort unloads it again, so the next one
/// starts clean; one it accepted stays in the process, so a later failure
/// ends the search.
fn load_first(found: &[LibraryCandidate]) -> std::result::Result<Loaded, (String, PathBuf)> {
    let mut first_error = None;
    for c in found {
        match load(&c.path) {
            Ok(l) => {
                tracing::info!(
                    "ONNX Runtime loaded from {} ({})",
                    c.path.display(),
                    c.source.describe()
                );
                return Ok(l);
            }
            Err(f) => {
                if c.source == LibrarySource::EnvVar || !f.rejected {
                    return Err((f.reason, f.path));
                }
                tracing::warn!(
                    "ONNX Runtime at {} ({}) does not load, trying the next one: {}",
                    f.path.display(),
                    c.source.describe(),
                    f.reason
                );
                first_error.get_or_insert((f.reason, f.path));
            }
        }
    }
    Err(first_error.unwrap_or_else(|| {
        (
            "no candidate library to load".to_owned(),
            PathBuf::from(library_file_name()),
        )
    }))
}

/// The ONNX Runtime this process loaded, if it has: the library's path and
/// its version and build (`1.31.1 (git-branch=..., git-commit-id=..., ...)`,
/// as ONNX Runtime reports them), for the About box and diagnostics. Loads
/// nothing new.
pub fn loaded_runtime() -> Option<(PathBuf, String)> {
    let loaded = RUNTIME.get()?.as_ref().ok()?;
    let version = library_version(&loaded.path).unwrap_or_else(|| "version unknown".into());
    // A build line that is not UTF-8 makes `ort::info` panic: not ours to
    // crash on, so it is left out.
    let build = std::panic::catch_unwind(ort::info)
        .map(|b| b.trim_start_matches("ORT Build Info: ").to_owned())
        .unwrap_or_default();
    let line = if build.is_empty() { version } else { format!("{version} ({build})") };
    Some((loaded.path.clone(), line))
}

/// `OrtGetApiBase()->GetVersionString()` of the library at `path`, which
/// this process has already loaded (opening it again only takes another
/// reference to it).
fn library_version(path: &Path) -> Option<String> {
    // SAFETY: `path` is the ONNX Runtime library ort loaded and initialised,
    // so opening it runs no initialiser again. OrtGetApiBase takes no
    // arguments and returns a pointer to a static table (checked for null);
    // GetVersionString returns a pointer to a static NUL-terminated string
    // (checked for null), copied before the handle is dropped, and dropping
    // the handle leaves ort's own reference, so the library stays loaded.
    unsafe {
        let lib = libloading::Library::new(path).ok()?;
        let get: libloading::Symbol<'_, unsafe extern "system" fn() -> *const ort::sys::OrtApiBase> =
            lib.get(b"OrtGetApiBase").ok()?;
        let base = get();
        if base.is_null() {
            return None;
        }
        let version = ((*base).GetVersionString)();
        if version.is_null() {
            return None;
        }
        Some(std::ffi::CStr::from_ptr(version).to_string_lossy().into_owned())
    }
}

/// Why [`load`] failed, and whether another library may still be tried.
struct LoadFailure {
    reason: String,
    path: PathBuf,
    /// ort rejected the library itself (not loadable, too old) and dropped
    /// it. Past that point the process holds the library for good, so
    /// nothing else can be tried.
    rejected: bool,
}

fn load(path: &Path) -> std::result::Result<Loaded, LoadFailure> {
    let fail = |reason: String, rejected: bool| LoadFailure {
        reason,
        path: path.to_path_buf(),
        rejected,
    };
    let builder = ort::init_from(path).map_err(|e| fail(e.to_string(), true))?;
    let env = builder
        .with_name("argus-sam")
        .build()
        .map_err(|e| fail(e.to_string(), false))?;
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

    /// A folder with the named (empty) files in it.
    fn folder(root: &Path, name: &str, files: &[String]) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for f in files {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        dir
    }

    fn sources(order: &[LibraryCandidate]) -> Vec<(PathBuf, LibrarySource)> {
        order.iter().map(|c| (c.path.clone(), c.source)).collect()
    }

    #[test]
    fn search_order_prefers_the_users_choice_then_cuda_then_the_packaged_copy() {
        use LibrarySource::*;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let lib = library_file_name();
        let cuda = cuda_provider_file_name();
        // Three system folders: one with a CUDA-enabled build, one with a
        // CPU-only build, one empty.
        let sys_cuda = folder(root, "opt/ort-gpu/lib", &[lib.clone(), cuda.clone()]);
        let sys_cpu = folder(root, "usr/local/lib", std::slice::from_ref(&lib));
        let sys_empty = folder(root, "usr/lib", &[]);
        // The installed app: <prefix>/bin/argus with its copy in <prefix>/lib/argus.
        let exe_dir = folder(root, "usr/bin", &[]);
        let roots = SearchRoots {
            env_path: Some(root.join("chosen").join(&lib)),
            exe_dir: Some(exe_dir.clone()),
            home: Some(root.join("home")),
            app_cache: Some(root.join("cache/argus")),
            system_dirs: vec![sys_cpu.clone(), sys_cuda.clone(), sys_empty.clone()],
        };
        let got = sources(&search_order(&roots));
        let want = vec![
            (root.join("chosen").join(&lib), EnvVar),
            (sys_cuda.join(&lib), SystemCuda),
            (exe_dir.join(&lib), Bundled),
            (root.join("usr/lib/argus").join(&lib), Bundled),
            (root.join("usr/Frameworks").join(&lib), Bundled),
            (root.join("usr").join(&lib), Bundled),
            (
                root.join("home/.cache/argus-dev/onnxruntime")
                    .join(BOOTSTRAP_ORT_VERSION)
                    .join(&lib),
                DevCache,
            ),
            (
                root.join("cache/argus/onnxruntime")
                    .join(BOOTSTRAP_ORT_VERSION)
                    .join(&lib),
                AppCache,
            ),
            // The system folders come last (the CUDA one is not repeated),
            // <exe>/../lib among them: it is the system's /usr/lib.
            (sys_cpu.join(&lib), System),
            (sys_empty.join(&lib), System),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_cuda_build_needs_its_provider_beside_it() {
        let tmp = tempfile::tempdir().unwrap();
        let lib = library_file_name();
        // The provider without the main library, and the library without the provider.
        let only_provider = folder(tmp.path(), "a", &[cuda_provider_file_name()]);
        let only_lib = folder(tmp.path(), "b", std::slice::from_ref(&lib));
        let roots = SearchRoots {
            system_dirs: vec![only_provider.clone(), only_lib.clone()],
            ..SearchRoots::default()
        };
        let got = sources(&search_order(&roots));
        assert!(
            got.iter().all(|(_, s)| *s != LibrarySource::SystemCuda),
            "no folder holds both files: {got:?}"
        );
        assert_eq!(
            got,
            vec![
                (only_provider.join(&lib), LibrarySource::System),
                (only_lib.join(&lib), LibrarySource::System),
            ]
        );
    }

    #[test]
    fn the_packaged_copy_is_found_before_the_caches() {
        // What an installed app sees with no ORT_DYLIB_PATH and a cache
        // holding a library too: the packaged copy is the one loaded.
        let tmp = tempfile::tempdir().unwrap();
        let lib = library_file_name();
        let exe_dir = folder(tmp.path(), "usr/bin", &[]);
        let packaged = folder(tmp.path(), "usr/lib/argus", std::slice::from_ref(&lib));
        let home = tmp.path().join("home");
        folder(
            &home,
            &format!(".cache/argus-dev/onnxruntime/{BOOTSTRAP_ORT_VERSION}"),
            std::slice::from_ref(&lib),
        );
        let roots = SearchRoots {
            exe_dir: Some(exe_dir),
            home: Some(home),
            ..SearchRoots::default()
        };
        let found = existing(search_order(&roots)).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].path, packaged.join(&lib));
        assert_eq!(found[0].source, LibrarySource::Bundled);
        assert_eq!(found[1].source, LibrarySource::DevCache);
    }

    #[test]
    fn nothing_found_names_every_place_searched() {
        let tmp = tempfile::tempdir().unwrap();
        let roots = SearchRoots {
            env_path: Some(tmp.path().join("nope.so")),
            exe_dir: Some(tmp.path().join("bin")),
            ..SearchRoots::default()
        };
        let order = search_order(&roots);
        let msg = existing(order.clone()).unwrap_err().to_string();
        for c in &order {
            assert!(
                msg.contains(&c.path.display().to_string()),
                "{msg} names {}",
                c.path.display()
            );
        }
    }

    #[test]
    fn system_folders_start_with_ld_library_path() {
        let dirs = system_library_dirs(Some(std::ffi::OsStr::new("/x/lib:relative:/y/lib")));
        if cfg!(target_os = "linux") {
            // Relative entries are ignored; the usual folders follow.
            assert_eq!(dirs[..2], [PathBuf::from("/x/lib"), PathBuf::from("/y/lib")]);
            assert!(dirs.contains(&PathBuf::from("/usr/lib")));
            assert!(dirs.contains(&PathBuf::from("/usr/local/lib")));
        } else {
            assert!(dirs.is_empty());
        }
    }
}
