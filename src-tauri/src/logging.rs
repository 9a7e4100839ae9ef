//! The app's log: to stderr and to a size-rotated file in the platform's log
//! folder, at the level `--log-level` or `ARGUS_LOG` asks for (tracing's
//! filter syntax: `debug`, `info,argus_workspace=debug`, ...; `RUST_LOG` is
//! read when neither is set; the default is `info,ort=warn`).
//!
//! The file is `argus.log`; when a write would take it past
//! [`MAX_FILE_BYTES`] it becomes `argus.log.1` (the older ones shift up to
//! `argus.log.<KEEP>`, the oldest is dropped) and a new `argus.log` starts.
//! Where the log folder is: `ARGUS_LOG_DIR`, else `logs/` in
//! `ARGUS_DATA_DIR` when that is set, else the platform's folder for the app
//! (`~/.local/share/dev.argus.desktop/logs` on Linux, as Tauri's
//! `app_log_dir`; `~/Library/Logs/dev.argus.desktop` on macOS;
//! `%LOCALAPPDATA%\dev.argus.desktop\logs` on Windows). "Copy diagnostics"
//! reads the last lines back ([`tail`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter when nothing else is asked for.
pub const DEFAULT_FILTER: &str = "info,ort=warn";
/// A log file is rotated before it grows past this.
pub const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;
/// Rotated files kept besides the current one.
pub const KEEP: usize = 4;
/// The app's identifier (tauri.conf.json), which names its folders.
const IDENTIFIER: &str = "dev.argus.desktop";

/// The log filter for these arguments and this environment: `--log-level X`
/// (or `--log-level=X`), else `ARGUS_LOG`, else `RUST_LOG`, else
/// [`DEFAULT_FILTER`]. An invalid filter is an error naming where it came
/// from, so a typo is not silently ignored.
pub fn filter_from(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<EnvFilter, String> {
    let mut flag = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--log-level" {
            flag = Some(it.next().cloned().ok_or("--log-level needs a level, e.g. --log-level debug")?);
        } else if let Some(v) = a.strip_prefix("--log-level=") {
            flag = Some(v.to_owned());
        }
    }
    let (source, spec) = match flag {
        Some(v) => ("--log-level", v),
        None => match env("ARGUS_LOG").filter(|v| !v.trim().is_empty()) {
            Some(v) => ("ARGUS_LOG", v),
            None => match env("RUST_LOG").filter(|v| !v.trim().is_empty()) {
                Some(v) => ("RUST_LOG", v),
                None => ("the default", DEFAULT_FILTER.to_owned()),
            },
        },
    };
    EnvFilter::builder().parse(&spec).map_err(|e| {
        format!("{source} {spec:?} is not a log level or filter ({e}); use e.g. error, warn, info, debug, trace or info,argus_workspace=debug")
    })
}

/// The folder the log file goes in (see the module docs).
pub fn log_dir(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(d) = env("ARGUS_LOG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = env("ARGUS_DATA_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("logs"));
    }
    let base = directories::BaseDirs::new()?;
    Some(if cfg!(target_os = "macos") {
        base.home_dir().join("Library/Logs").join(IDENTIFIER)
    } else {
        base.data_local_dir().join(IDENTIFIER).join("logs")
    })
}

/// A log file that rotates by size (see the module docs). Each write is one
/// formatted event, so an event is never split across two files.
#[derive(Clone)]
pub struct RotatingFile {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for RotatingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatingFile").field("path", &self.path()).finish()
    }
}

struct Inner {
    path: PathBuf,
    file: Option<File>,
    len: u64,
    max: u64,
    keep: usize,
}

impl RotatingFile {
    /// Opens (appending to) `dir/argus.log`, creating the folder.
    pub fn open(dir: &Path, max: u64, keep: usize) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("argus.log");
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                path,
                file: Some(file),
                len,
                max,
                keep,
            })),
        })
    }

    /// The current file's path.
    pub fn path(&self) -> PathBuf {
        self.lock().path.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while logging must not silence the log for good.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn rotated(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// argus.log.<keep-1> -> .<keep>, ..., argus.log -> .1, and a new argus.log.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.keep == 0 {
            std::fs::remove_file(&self.path).or_else(ignore_missing)?;
        } else {
            std::fs::remove_file(self.rotated(self.keep)).or_else(ignore_missing)?;
            for n in (1..self.keep).rev() {
                std::fs::rename(self.rotated(n), self.rotated(n + 1)).or_else(ignore_missing)?;
            }
            std::fs::rename(&self.path, self.rotated(1)).or_else(ignore_missing)?;
        }
        self.file = Some(OpenOptions::new().create(true).append(true).open(&self.path)?);
        self.len = 0;
        Ok(())
    }
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound { Ok(()) } else { Err(e) }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut inner = self.lock();
        if inner.len > 0 && inner.len + buf.len() as u64 > inner.max {
            inner.rotate()?;
        }
        let file = match inner.file.as_mut() {
            Some(f) => f,
            None => return Err(io::Error::other("the log file could not be reopened after rotating")),
        };
        file.write_all(buf)?;
        inner.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.lock().file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for RotatingFile {
    type Writer = RotatingFile;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The last `n` lines of the log: from the current file, and from the one
/// rotated before it when the current one is shorter.
pub fn tail_of(path: &Path, n: usize) -> Vec<String> {
    let read = |p: &Path| std::fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    let text = format!("{}{}", read(Path::new(&name)), read(path));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| (*l).to_owned()).collect()
}

static FILE: OnceLock<RotatingFile> = OnceLock::new();

/// The log file this process writes, if it could open one.
pub fn file() -> Option<PathBuf> {
    FILE.get().map(RotatingFile::path)
}

/// The last `n` lines of this process's log file (empty without one).
pub fn tail(n: usize) -> Vec<String> {
    file().map(|p| tail_of(&p, n)).unwrap_or_default()
}

/// Sets up the log for the app: stderr and the rotating file, filtered as
/// `args` and the environment ask. An invalid filter is returned as an error
/// (the app says so and exits); a log folder that cannot be written is
/// reported on stderr and the app logs to stderr only.
pub fn init(args: &[String]) -> Result<(), String> {
    let env = |k: &str| std::env::var(k).ok();
    let filter = filter_from(args, env)?;
    let file = match log_dir(env) {
        Some(dir) => match RotatingFile::open(&dir, MAX_FILE_BYTES, KEEP) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("argus: cannot write the log in {}: {e}; logging to stderr only", dir.display());
                None
            }
        },
        None => {
            eprintln!("argus: no home folder to keep the log in; logging to stderr only");
            None
        }
    };
    let file_layer = file.clone().map(|f| tracing_subscriber::fmt::layer().with_ansi(false).with_writer(f));
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(io::stderr))
        .with(file_layer)
        .try_init()
        .map_err(|e| format!("the log is already set up: {e}"))?;
    if let Some(f) = file {
        tracing::info!(log = %f.path().display(), "{}", crate::version_line());
        let _ = FILE.set(f);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_flag_wins_then_argus_log_then_rust_log() {
        let env = |k: &str| match k {
            "ARGUS_LOG" => Some("warn".to_owned()),
            "RUST_LOG" => Some("trace".to_owned()),
            _ => None,
        };
        let shown = |f: EnvFilter| f.to_string();
        assert_eq!(shown(filter_from(&args(&["argus", "--log-level", "debug"]), env).unwrap()), "debug");
        assert_eq!(shown(filter_from(&args(&["argus", "--log-level=error"]), env).unwrap()), "error");
        assert_eq!(shown(filter_from(&args(&["argus"]), env).unwrap()), "warn");
        let only_rust = |k: &str| (k == "RUST_LOG").then(|| "trace".to_owned());
        assert_eq!(shown(filter_from(&args(&["argus"]), only_rust).unwrap()), "trace");
        let none = |_: &str| None;
        let default = shown(filter_from(&args(&["argus"]), none).unwrap());
        assert!(default.contains("ort=warn") && default.split(',').any(|d| d == "info"), "{default}");
    }

    #[test]
    fn a_bad_level_says_where_it_came_from() {
        let none = |_: &str| None;
        let e = filter_from(&args(&["argus", "--log-level", "loud=="]), none).unwrap_err();
        assert!(e.contains("--log-level") && e.contains("loud=="), "{e}");
        let e = filter_from(&args(&["argus", "--log-level"]), none).unwrap_err();
        assert!(e.contains("needs a level"), "{e}");
        let bad_env = |k: &str| (k == "ARGUS_LOG").then(|| "[[".to_owned());
        let e = filter_from(&args(&["argus"]), bad_env).unwrap_err();
        assert!(e.contains("ARGUS_LOG"), "{e}");
    }

    #[test]
    fn the_log_folder_follows_the_environment() {
        let env = |k: &str| (k == "ARGUS_LOG_DIR").then(|| "/tmp/a".to_owned());
        assert_eq!(log_dir(env), Some(PathBuf::from("/tmp/a")));
        let data = |k: &str| (k == "ARGUS_DATA_DIR").then(|| "/tmp/d".to_owned());
        assert_eq!(log_dir(data), Some(PathBuf::from("/tmp/d/logs")));
        let platform = log_dir(|_| None).expect("a home folder");
        assert!(platform.to_string_lossy().contains(IDENTIFIER), "{}", platform.display());
    }

    #[test]
    fn the_file_rotates_by_size_and_keeps_a_few() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = RotatingFile::open(dir.path(), 100, 2).unwrap();
        for i in 0..12 {
            // 30 bytes an event: three fit in a file of 100.
            f.write_all(format!("event {i:02} ....................\n").as_bytes()).unwrap();
        }
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
        assert_eq!(read("argus.log").lines().count(), 3);
        assert!(read("argus.log").starts_with("event 09"), "{}", read("argus.log"));
        assert!(read("argus.log.1").starts_with("event 06"), "{}", read("argus.log.1"));
        assert!(read("argus.log.2").starts_with("event 03"), "{}", read("argus.log.2"));
        assert!(!dir.path().join("argus.log.3").exists(), "only 2 rotated files are kept");
        for name in ["argus.log", "argus.log.1", "argus.log.2"] {
            assert!(std::fs::metadata(dir.path().join(name)).unwrap().len() <= 100, "{name} past its size");
        }
        // The tail reaches into the rotated file when the current one is short.
        let tail = tail_of(&dir.path().join("argus.log"), 4);
        assert_eq!(tail.len(), 4);
        assert!(tail[0].starts_with("event 08") && tail[3].starts_with("event 11"), "{tail:?}");
        // Reopened, it appends.
        let mut again = RotatingFile::open(dir.path(), 100, 2).unwrap();
        again.write_all(b"x\n").unwrap();
        assert!(read("argus.log").ends_with("event 11 ....................\nx\n"));
    }

    #[test]
    fn one_event_larger_than_the_limit_still_lands() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = RotatingFile::open(dir.path(), 10, 1).unwrap();
        f.write_all(b"a long event past the limit\n").unwrap();
        f.write_all(b"next\n").unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
        assert_eq!(read("argus.log.1"), "a long event past the limit\n");
        assert_eq!(read("argus.log"), "next\n");
    }
}
