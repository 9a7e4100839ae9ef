//! What the Argus test suites share: a generated video with a known
//! picture, the SAM-contract test models of argus-sam, why SAM trials cannot
//! run on a machine, and the one skip policy ([`unavailable`], [`Skip`]).
//!
//! # Skips
//!
//! A trial that needs something this machine lacks is reported as ignored,
//! with the reason printed. Under `CI=true` (as CI runs `make test`) that is
//! a failure instead, except for the kinds listed in [`Skip`] that CI cannot
//! provide: real model weights (`make real-model`) and an NVIDIA GPU. The
//! Python suites (`tests/e2e`, `tests/interop`) follow the same list.
//! Running ignored trials (`--ignored`) fails them with their reason rather
//! than reporting `ok` for work that was not done.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Fails the test with a message.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {{
        let ok: bool = $cond;
        if !ok {
            return Err(format!($($msg)+).into());
        }
    }};
}

/// The red box drawn into [`make_video`]'s frames: x, y, width, height.
pub const BOX: (u32, u32, u32, u32) = (40, 30, 50, 40);
pub const VIDEO_W: u32 = 160;
pub const VIDEO_H: u32 = 120;
pub const VIDEO_FRAMES: u64 = 20;

/// A 160x120, 20-frame H.264 video: flat blue with a red box at [`BOX`], made by the ffmpeg CLI.
pub fn make_video(dir: &Path) -> Result<PathBuf, String> {
    make_video_of(dir, VIDEO_FRAMES)
}

/// [`make_video`] with `frames` frames (another length is another content,
/// so another video), as `box.mp4` for [`VIDEO_FRAMES`] frames, else `box-<frames>.mp4`.
pub fn make_video_of(dir: &Path, frames: u64) -> Result<PathBuf, String> {
    let path = if frames == VIDEO_FRAMES {
        dir.join("box.mp4")
    } else {
        dir.join(format!("box-{frames}.mp4"))
    };
    let (x, y, w, h) = BOX;
    let filter = format!(
        "color=c=0x2040a0:s={VIDEO_W}x{VIDEO_H}:r=10,drawbox=x={x}:y={y}:w={w}:h={h}:color=0xe03020:t=fill"
    );
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &filter,
        ])
        .args([
            "-frames:v",
            &frames.to_string(),
            "-c:v",
            "libx264",
            "-g",
            "5",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&path)
        .output()
        .map_err(|e| format!("running ffmpeg (is it installed?): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ffmpeg failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(path)
}

/// A disc that moves (and grows or shrinks) at a constant rate: on frame
/// `n` its centre is `(x + vx·n, y + vy·n)` and its radius `r + vr·n`, in
/// pixels, filled with `colour` (RGB).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MovingDisc {
    pub x: f64,
    pub y: f64,
    pub vx: f64,
    pub vy: f64,
    pub r: f64,
    pub vr: f64,
    pub colour: [u8; 3],
}

impl MovingDisc {
    /// Centre and radius on frame `n`.
    pub fn at(&self, n: u64) -> (f64, f64, f64) {
        let n = n as f64;
        (self.x + self.vx * n, self.y + self.vy * n, (self.r + self.vr * n).max(0.0))
    }

    /// Whether pixel `(px, py)` is inside the disc on frame `n` (the test the
    /// video's `geq` expression makes, so the truth is what was drawn).
    pub fn covers(&self, n: u64, px: u32, py: u32) -> bool {
        let (cx, cy, r) = self.at(n);
        (f64::from(px) - cx).hypot(f64::from(py) - cy) < r
    }

    /// The disc on frame `n` as a row-major bitmap (1 inside) of `width` x `height`.
    pub fn bitmap(&self, n: u64, width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity((width * height) as usize);
        for y in 0..height {
            for x in 0..width {
                out.push(u8::from(self.covers(n, x, y)));
            }
        }
        out
    }

    fn geq_test(&self) -> String {
        format!(
            "lt(hypot(X-({}+({})*N),Y-({}+({})*N)),max(0,{}+({})*N))",
            self.x, self.vx, self.y, self.vy, self.r, self.vr
        )
    }
}

/// A `width` x `height` H.264 video of `frames` frames at 10 fps: the discs
/// (later ones drawn over earlier ones) on a flat dark grey background, made
/// by the ffmpeg CLI's `geq` filter, as `<name>.mp4` in `dir`. Ground truth
/// for tracking tests: [`MovingDisc::covers`].
pub fn make_discs_video(
    dir: &Path,
    name: &str,
    width: u32,
    height: u32,
    frames: u64,
    discs: &[MovingDisc],
) -> Result<PathBuf, String> {
    let path = dir.join(format!("{name}.mp4"));
    let channel = |c: usize| {
        let mut e = String::from("40");
        for d in discs {
            e = format!("if({},{},{e})", d.geq_test(), d.colour[c]);
        }
        e
    };
    let filter = format!(
        "color=c=black:s={width}x{height}:r=10,format=rgb24,geq=r='{}':g='{}':b='{}'",
        channel(0),
        channel(1),
        channel(2)
    );
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", &filter])
        .args(["-frames:v", &frames.to_string(), "-c:v", "libx264", "-crf", "12", "-g", "30", "-pix_fmt", "yuv420p"])
        .arg(&path)
        .output()
        .map_err(|e| format!("running ffmpeg (is it installed?): {e}"))?;
    if !out.status.success() {
        return Err(format!("ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(path)
}

/// `ARGUS_PYTHON`, else `python3`.
pub fn python() -> PathBuf {
    std::env::var_os("ARGUS_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| "python3".into())
}

/// Why the SAM trials cannot run here, or `None` when they can: Python
/// with onnx and numpy builds the test models, and `runtime` says whether
/// ONNX Runtime loads (`argus_sam::runtime::environment()`).
pub fn sam_unavailable(runtime: impl FnOnce() -> Result<(), String>) -> Option<String> {
    let py = python();
    match Command::new(&py)
        .args(["-c", "import onnx, numpy"])
        .output()
    {
        Ok(o) if o.status.success() => {}
        Ok(_) => {
            return Some(format!(
                "{} cannot import onnx and numpy; set ARGUS_PYTHON",
                py.display()
            ));
        }
        Err(e) => {
            return Some(format!(
                "no python at {} ({e}); set ARGUS_PYTHON",
                py.display()
            ));
        }
    }
    runtime()
        .err()
        .map(|e| format!("ONNX Runtime is unavailable ({e}); set ORT_DYLIB_PATH"))
}

/// Builds the SAM-contract test models of argus-sam into `dir`; returns the SAM 1 manifest path.
pub fn make_sam_models(dir: &Path) -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../argus-sam/scripts/make_test_model.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(dir)
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "make_test_model.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(dir.join("sam1.toml"))
}

/// Whether the suite runs as CI runs it (`CI=true`), where only the skips
/// [`Skip::allowed_in_ci`] lists may skip.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// What a trial that cannot run needs: the written list of skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Real model weights, which `make real-model` puts in the model cache.
    RealWeights,
    /// An NVIDIA GPU (ONNX Runtime's CUDA and TensorRT providers).
    NvidiaGpu,
    /// Anything else (a tool, a codec, a library, a GPU adapter such as
    /// lavapipe): CI has it, so under `CI=true` its absence fails the run.
    Missing,
}

impl Skip {
    /// The skips `CI=true` allows.
    pub fn allowed_in_ci(self) -> bool {
        matches!(self, Self::RealWeights | Self::NvidiaGpu)
    }
}

/// The trial `name` that cannot run here because of `reason`: ignored, with
/// the reason printed; under `CI=true`, unless `skip` is allowed there, a
/// failing trial that says what is missing. Run with `--ignored`, it fails
/// with the reason instead of passing.
pub fn unavailable(name: &str, reason: &str, skip: Skip) -> libtest_mimic::Trial {
    let reason = reason.to_owned();
    if ci() && !skip.allowed_in_ci() {
        eprintln!("{name}: cannot run ({reason}), and CI=true forbids skipping it");
        return libtest_mimic::Trial::test(name, move || {
            Err(format!("cannot run here and CI=true forbids skipping: {reason}").into())
        });
    }
    eprintln!("SKIPPED {name}: {reason}");
    libtest_mimic::Trial::test(format!("{name} (skipped: {reason})"), move || {
        Err(format!("skipped, it cannot run here: {reason}").into())
    })
    .with_ignored_flag(true)
}

/// `trial` as it is when `reason` is `None`; else ignored with the reason
/// printed (running it with `--ignored` runs the real test), or under
/// `CI=true`, unless `skip` is allowed there, a failing trial that says why.
pub fn skip_unless(trial: libtest_mimic::Trial, reason: Option<&str>, skip: Skip) -> libtest_mimic::Trial {
    let Some(reason) = reason else { return trial };
    if ci() && !skip.allowed_in_ci() {
        return unavailable(trial.name(), reason, skip);
    }
    eprintln!("SKIPPED {}: {reason}", trial.name());
    trial.with_ignored_flag(true)
}

/// The string `key` of a JSON object, or an error that shows the object.
pub fn str_of<'a>(v: &'a serde_json::Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| format!("no string '{key}' in {v}"))
}

/// A project with two labels ("box", "background") and the generated video
/// (`make_video` in `dir`) imported, through `call(command, args)`: the same
/// commands and arguments whether a test drives the application layer or the
/// desktop shell's IPC. Returns the project and the video as the commands
/// answer, and the video file's path.
pub fn project_with_video(
    dir: &Path,
    mut call: impl FnMut(&str, serde_json::Value) -> Result<serde_json::Value, String>,
) -> Result<(serde_json::Value, serde_json::Value, PathBuf), String> {
    let project = call(
        "create_project",
        serde_json::json!({ "name": "boxes", "labels": ["box", "background"] }),
    )?;
    let path = make_video(dir)?;
    let video = call(
        "import_video",
        serde_json::json!({ "projectId": str_of(&project, "id")?, "path": path }),
    )?;
    Ok((project, video, path))
}
