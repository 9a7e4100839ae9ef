//! What the Argus test suites share: a generated video with a known
//! picture, the SAM-contract test models of argus-sam, and why SAM trials
//! cannot run on a machine (so they are reported as skipped, with the reason).

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

/// `ARGUS_PYTHON`, else `python3`.
pub fn python() -> PathBuf {
    std::env::var_os("ARGUS_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| "python3".into())
}

/// Why the SAM trials cannot run here, or `None` when they can.
pub fn sam_unavailable() -> Option<String> {
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
    argus_sam::runtime::environment()
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
