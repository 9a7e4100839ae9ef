//! Test videos generated with the `ffmpeg` CLI into a cache under the target directory, keyed by the
//! generating command, so reruns are fast and nothing binary is committed.
//!
//! Every generated frame carries its frame number as 8 big black/white blocks across the top quarter
//! (bit i = block i, least significant first), so "which frame did we get" can be checked
//! independently of pixel-exact comparison.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("argus-test-media")
}

fn ffmpeg_lists() -> &'static (String, String) {
    static LISTS: OnceLock<(String, String)> = OnceLock::new();
    LISTS.get_or_init(|| {
        let run = |what: &str| {
            Command::new("ffmpeg")
                .args(["-hide_banner", what])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        (run("-encoders"), run("-decoders"))
    })
}

/// Whether the ffmpeg CLI exists at all.
pub fn have_ffmpeg() -> bool {
    !ffmpeg_lists().0.is_empty()
}

fn listed(list: &str, name: &str) -> bool {
    list.lines()
        .any(|l| l.split_whitespace().nth(1) == Some(name))
}

pub fn have_encoder(name: &str) -> bool {
    listed(&ffmpeg_lists().0, name)
}

pub fn have_decoder(name: &str) -> bool {
    listed(&ffmpeg_lists().1, name)
}

/// The lavfi source + filter that draws the frame-number pattern plus moving texture.
pub fn pattern_filter(width: u32, height: u32) -> String {
    // In geq, W/H/X/Y are per plane, so "top quarter" and "block i" hold for luma and chroma alike.
    format!(
        "nullsrc=s={width}x{height}:r=30,format=yuv420p,\
         geq=lum='if(lt(Y,H/4),if(mod(floor(N/pow(2,floor(X*8/W))),2),235,16),mod(2*X+Y+7*N,200)+28)'\
         :cb='if(lt(Y,H/4),128,128+50*sin(N/4+X/9))':cr='if(lt(Y,H/4),128,128+50*cos(Y/9-N/5))'"
    )
}

/// Reads the frame number back from RGBA pixels (`stride` bytes per row).
pub fn read_pattern(rgba: &[u8], stride: usize, width: u32, height: u32) -> Option<u32> {
    let y = (height / 8) as usize;
    let mut n = 0u32;
    for bit in 0..8u32 {
        let x = ((2 * bit + 1) * width / 16) as usize;
        let r = *rgba.get(y * stride + x * 4)?;
        if r > 128 {
            n |= 1 << bit;
        }
    }
    Some(n)
}

static GENERATE: Mutex<()> = Mutex::new(());

/// Runs `ffmpeg <args> OUT` once per distinct argument list and returns OUT.
pub fn generate(name: &str, ext: &str, args: &[String]) -> Result<PathBuf, String> {
    let mut h = Sha256::new();
    for a in args {
        h.update(a.as_bytes());
        h.update([0]);
    }
    let key = hex::encode(h.finalize());
    let dir = cache_dir();
    let out = dir.join(format!("{name}-{}.{ext}", key.get(..12).unwrap_or("x")));
    let _guard = GENERATE.lock().unwrap_or_else(|e| e.into_inner());
    if out.exists() {
        return Ok(out);
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let tmp = dir.join(format!("tmp-{name}-{}.{ext}", std::process::id()));
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(&tmp)
        .output()
        .map_err(|e| format!("running ffmpeg: {e}"))?;
    if !status.status.success() {
        return Err(format!(
            "ffmpeg failed for {name}: {}",
            String::from_utf8_lossy(&status.stderr)
        ));
    }
    std::fs::rename(&tmp, &out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Standard generator arguments: the pattern at `w`x`h`, `frames` frames, extra filter, then codec args.
pub fn pattern_args(
    w: u32,
    h: u32,
    frames: u32,
    extra_filter: &str,
    codec: &[&str],
) -> Vec<String> {
    let mut filter = pattern_filter(w, h);
    if !extra_filter.is_empty() {
        filter.push(',');
        filter.push_str(extra_filter);
    }
    let mut args: Vec<String> = vec![
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        filter,
        "-frames:v".into(),
        frames.to_string(),
    ];
    args.extend(codec.iter().map(|s| s.to_string()));
    args
}

/// All frames of the first video stream as the ffmpeg CLI decodes them, as packed RGBA
/// (or `pix_fmt`), optionally scaled. Rotation metadata is not applied (`-noautorotate`).
pub fn cli_frames(
    path: &Path,
    pix_fmt: &str,
    scale: Option<(u32, u32)>,
) -> Result<Vec<u8>, String> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-noautorotate", "-i"])
        .arg(path);
    cmd.args(["-map", "0:v:0", "-vsync", "0"]);
    if let Some((w, h)) = scale {
        cmd.args([
            "-vf",
            &format!("scale={w}:{h}:flags=bicubic,format={pix_fmt}"),
        ]);
    }
    cmd.args(["-pix_fmt", pix_fmt, "-f", "rawvideo", "-"]);
    let out = cmd.output().map_err(|e| e.to_string())?;
    if !out.status.success() && out.stdout.is_empty() {
        return Err(format!(
            "ffmpeg reference decode failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// Frame `n` exactly as `ffmpeg -vf "select=eq(n\,N)"` produces it, packed RGBA.
pub fn cli_select_frame(path: &Path, n: u64) -> Result<Vec<u8>, String> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-noautorotate", "-i"])
        .arg(path)
        .args([
            "-map",
            "0:v:0",
            "-vf",
            &format!("select=eq(n\\,{n})"),
            "-vsync",
            "0",
            "-pix_fmt",
            "rgba",
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "ffmpeg select failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}
