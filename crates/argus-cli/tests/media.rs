//! End-to-end tests of the subcommands that need FFmpeg and ONNX Runtime:
//! `import-video` and `segment`. Each is reported as ignored, with the
//! reason, when a tool it needs is missing (the `ffmpeg` CLI to make the test
//! video; ONNX Runtime and Python's `onnx` to build the test SAM model).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use argus_sam::{Manifest, download::ModelStore};
use libtest_mimic::{Arguments, Failed, Trial};
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_argus-cli");
// The test video: a red box on grey, lossless so colours are exact.
const VW: u32 = 128;
const VH: u32 = 96;
const FRAMES: u64 = 12;
const BOX: (u32, u32, u32, u32) = (32, 24, 40, 30);

fn check(cond: bool, msg: impl Into<String>) -> Result<(), Failed> {
    if cond { Ok(()) } else { Err(msg.into().into()) }
}

fn run(db: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Result<(bool, String, String), Failed> {
    let mut cmd = Command::new(BIN);
    cmd.arg("--db").arg(db).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| format!("run argus-cli: {e}"))?;
    Ok((out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned()))
}

fn ffmpeg_available() -> Result<(), String> {
    match Command::new("ffmpeg").arg("-version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("the ffmpeg CLI is not installed (needed to make the test video)".into()),
    }
}

fn make_video(dir: &Path) -> Result<PathBuf, Failed> {
    let path = dir.join("box.mkv");
    let (x, y, w, h) = BOX;
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c=0x808080:s={VW}x{VH}:r=10:d=1.2"))
        .arg("-vf")
        .arg(format!("drawbox=x={x}:y={y}:w={w}:h={h}:color=0xff0000:t=fill,format=yuv444p"))
        .args(["-frames:v", &FRAMES.to_string(), "-c:v", "ffv1"])
        .arg(&path)
        .output()
        .map_err(|e| format!("ffmpeg: {e}"))?;
    check(out.status.success(), format!("ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr)))?;
    Ok(path)
}

/// A project and an imported video; returns (db, video id, video file).
fn setup(dir: &Path) -> Result<(PathBuf, String, PathBuf), Failed> {
    let db = dir.join("argus.db");
    let video = make_video(dir)?;
    let (ok, _, err) = run(&db, &["project", "new", "Boxes", "--label", "box:mask,bbox"], &[])?;
    check(ok, format!("project new: {err}"))?;
    let (ok, out, err) = run(&db, &["--json", "import-video", "--project", "Boxes", video.to_str().ok_or("path")?], &[("XDG_CACHE_HOME", dir)])?;
    check(ok, format!("import-video: {err}"))?;
    let v: serde_json::Value = serde_json::from_str(out.trim()).map_err(|e| format!("{e}: {out}"))?;
    Ok((db, v["id"].as_str().ok_or("video id")?.to_owned(), video))
}

fn import_video(dir: &Path) -> Result<(), Failed> {
    let db = dir.join("argus.db");
    let video = make_video(dir)?;
    let (ok, _, err) = run(&db, &["project", "new", "Boxes", "--label", "box"], &[])?;
    check(ok, format!("project new: {err}"))?;
    let path = video.to_str().ok_or("path")?;
    let (ok, out, err) = run(&db, &["--json", "import-video", "--project", "Boxes", path], &[("XDG_CACHE_HOME", dir)])?;
    check(ok, format!("import-video: {err}"))?;
    let v: serde_json::Value = serde_json::from_str(out.trim()).map_err(|e| format!("{e}: {out}"))?;
    let sha = hex::encode(Sha256::digest(std::fs::read(&video).map_err(|e| e.to_string())?));
    check(v["sha256"] == serde_json::json!(sha), format!("sha256 {} != {sha}", v["sha256"]))?;
    check(v["frame_count"].as_u64() == Some(FRAMES), format!("frame_count {}", v["frame_count"]))?;
    check(v["width"].as_u64() == Some(u64::from(VW)) && v["height"].as_u64() == Some(u64::from(VH)), format!("size {out}"))?;
    check(v["frame_rate"] == serde_json::json!([10, 1]), format!("frame_rate {}", v["frame_rate"]))?;
    check(v["duration"] == serde_json::json!([6, 5]), format!("duration {}", v["duration"]))?;

    let (ok, out, _) = run(&db, &["videos", "--project", "Boxes"], &[])?;
    check(ok && out.contains("box.mkv") && out.contains(&format!("{VW}x{VH}")), format!("videos: {out}"))?;
    let (ok, _, err) = run(&db, &["import-video", "--project", "Boxes", path], &[("XDG_CACHE_HOME", dir)])?;
    check(!ok && err.contains("already in the project"), format!("second import: {err}"))?;
    let junk = dir.join("junk.mp4");
    std::fs::write(&junk, b"not a video at all").map_err(|e| e.to_string())?;
    let (ok, _, err) = run(&db, &["import-video", "--project", "Boxes", junk.to_str().ok_or("path")?], &[("XDG_CACHE_HOME", dir)])?;
    check(!ok && !err.is_empty(), "a file that is not a video is refused")?;
    Ok(())
}

fn python() -> PathBuf {
    std::env::var_os("ARGUS_PYTHON").filter(|p| !p.is_empty()).map(PathBuf::from).unwrap_or_else(|| "python3".into())
}

fn sam_available() -> Result<(), String> {
    ffmpeg_available()?;
    argus_sam::runtime::environment().map_err(|e| format!("ONNX Runtime is not available: {e}"))?;
    let ok = Command::new(python()).args(["-c", "import onnx, numpy"]).output().is_ok_and(|o| o.status.success());
    if ok { Ok(()) } else { Err(format!("{} cannot import onnx and numpy (set ARGUS_PYTHON)", python().display())) }
}

/// The generated SAM-contract model (crates/argus-sam/scripts), installed
/// into a model cache the CLI finds through ARGUS_MODEL_DIR: its manifest
/// and that cache.
fn test_model(dir: &Path) -> Result<(PathBuf, PathBuf), Failed> {
    let models = dir.join("generated");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../argus-sam/scripts/make_test_model.py");
    let out = Command::new(python()).arg(&script).arg(&models).output().map_err(|e| format!("python: {e}"))?;
    check(out.status.success(), format!("make_test_model.py: {}", String::from_utf8_lossy(&out.stderr)))?;
    let manifest_path = models.join("sam1.toml");
    let manifest = Manifest::from_path(&manifest_path).map_err(|e| e.to_string())?;
    let model_dir = dir.join("models");
    ModelStore::new(&model_dir).ensure(&manifest, &mut |_| true).map_err(|e| e.to_string())?;
    Ok((manifest_path, model_dir))
}

/// A project with the test video and the test model installed: the
/// database, the video id, the model's manifest and cache, and a click on
/// the box's centre.
struct Prepared {
    db: PathBuf,
    video: String,
    manifest: String,
    model_dir: PathBuf,
    point: String,
}

impl Prepared {
    fn new(dir: &Path) -> Result<Self, Failed> {
        let (manifest_path, model_dir) = test_model(dir)?;
        let (db, video, _) = setup(dir)?;
        let (x, y, w, h) = BOX;
        let manifest = manifest_path.to_str().ok_or("path")?.to_owned();
        Ok(Self { db, video, manifest, model_dir, point: format!("{},{}", x + w / 2, y + h / 2) })
    }

    /// What the CLI needs to find the model cache.
    fn envs<'a>(&'a self, dir: &'a Path) -> [(&'a str, &'a Path); 2] {
        [("ARGUS_MODEL_DIR", self.model_dir.as_path()), ("XDG_CACHE_HOME", dir)]
    }
}

fn segment(dir: &Path) -> Result<(), Failed> {
    let p = Prepared::new(dir)?;
    let (db, video, point, m) = (&p.db, p.video.as_str(), &p.point, p.manifest.as_str());
    let envs = p.envs(dir);
    let (x, y, w, h) = BOX;
    let (ok, out, err) =
        run(db, &["--json", "segment", "--verbose", "--video", video, "--frame", "3", "--point", point, "--label", "box", "--manifest", m], &envs)?;
    check(ok, format!("segment: {err}"))?;
    let r: serde_json::Value = serde_json::from_str(out.trim()).map_err(|e| format!("{e}: {out}"))?;
    // --verbose says where SAM ran; on the CPU, why not on a GPU (each
    // provider tried and its reason, here the CUDA build of the providers
    // against a CPU-only ONNX Runtime).
    let provider = r["provider"].as_str().ok_or("provider")?;
    check(err.contains(&format!("SAM ran on {}", if provider == "CPU" { "the CPU" } else { provider })), format!("verbose: {err}"))?;
    if provider == "CPU" {
        let note = r["provider_note"].as_str().unwrap_or("");
        check(!note.is_empty() && err.contains(note), format!("the CPU fallback says why: {note:?} / {err}"))?;
        if cfg!(any(target_os = "linux", target_os = "windows")) {
            check(note.contains("CUDA"), format!("CUDA was tried: {note}"))?;
        }
    }
    let area = r["area"].as_u64().ok_or("area")?;
    let truth = u64::from(w * h);
    // The generated model pools colours into 2-pixel cells at this frame
    // size, so edges may move by a pixel: allow 15%.
    check(area.abs_diff(truth) * 100 <= truth * 15, format!("mask area {area} should be close to the box's {truth}"))?;
    // The box serialises as COCO's [x, y, width, height].
    let bbox = &r["bbox"];
    let near = |i: usize, v: u32| bbox[i].as_f64().is_some_and(|b| (b - f64::from(v)).abs() <= 2.0);
    check(near(0, x) && near(1, y) && near(2, w) && near(3, h), format!("bbox {bbox} vs {BOX:?}"))?;

    // The mask is stored as a SAM keyframe of a new track; a second segment
    // on the same track replaces it, and undo brings the first back.
    let track = r["track_id"].as_str().ok_or("track id")?.to_owned();
    let (ok, out, _) = run(db, &["--json", "shapes", "--video", video, "--frame", "3"], &[])?;
    let rows: Vec<serde_json::Value> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    check(ok && rows.len() == 1, format!("shapes: {out}"))?;
    let row = rows.first().ok_or("row")?;
    check(row["source"] == "sam" && row["keyframe"] == true && row["area"].as_u64() == Some(area), format!("stored shape: {row}"))?;
    let outside = format!("{},{},neg", x + 2, y + 2);
    let (ok, out, err) =
        run(db, &["--json", "segment", "--video", video, "--frame", "3", "--point", point, "--point", &outside, "--track", &track, "--manifest", m], &envs)?;
    check(ok, format!("second segment: {err}"))?;
    let r2: serde_json::Value = serde_json::from_str(out.trim()).map_err(|e| format!("{e}: {out}"))?;
    check(r2["track_id"] == serde_json::json!(track), "same track")?;
    let (ok, _, err) = run(db, &["undo", "--project", "Boxes"], &[])?;
    check(ok, format!("undo: {err}"))?;
    let (_, out, _) = run(db, &["--json", "shapes", "--video", video, "--frame", "3"], &[])?;
    check(out.contains(&format!("\"area\":{area}")), format!("undo restores the first mask: {out}"))?;

    let (ok, _, err) = run(db, &["segment", "--video", video, "--frame", "99", "--point", point, "--label", "box", "--manifest", m], &envs)?;
    check(!ok && err.contains("past the end"), format!("frame past the end: {err}"))?;
    let (ok, _, err) = run(db, &["segment", "--video", video, "--frame", "1", "--point", point, "--label", "cat", "--manifest", m], &envs)?;
    check(!ok && err.contains("no label 'cat'"), format!("unknown label: {err}"))?;
    Ok(())
}

fn rows(out: &str) -> Vec<serde_json::Value> {
    out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// `track interpolate` lists the frames between two keyframes as
/// interpolated; `track propagate` writes propagated masks as one undo step,
/// and the frames after a run's end are no longer interpolated.
fn track(dir: &Path) -> Result<(), Failed> {
    let p = Prepared::new(dir)?;
    let (db, video, point, m) = (&p.db, p.video.as_str(), &p.point, p.manifest.as_str());
    let envs = p.envs(dir);
    let (_, _, w, h) = BOX;
    let (ok, out, err) = run(db, &["--json", "segment", "--video", video, "--frame", "0", "--point", point, "--label", "box", "--manifest", m], &envs)?;
    check(ok, format!("segment: {err}"))?;
    let r: serde_json::Value = serde_json::from_str(out.trim()).map_err(|e| format!("{e}: {out}"))?;
    let track = r["track_id"].as_str().ok_or("track id")?.to_owned();
    let (ok, _, err) = run(db, &["segment", "--video", video, "--frame", "11", "--point", point, "--track", &track, "--manifest", m], &envs)?;
    check(ok, format!("second keyframe: {err}"))?;

    let (ok, out, err) = run(db, &["--json", "track", "interpolate", "--video", video, "--track", &track], &[])?;
    check(ok, format!("interpolate: {err}"))?;
    let shapes = rows(&out);
    let sources: Vec<&str> = shapes.iter().filter_map(|r| r["source"].as_str()).collect();
    check(shapes.len() == 12 && sources[0] == "sam" && sources[11] == "sam", format!("frames 0-11: {sources:?}"))?;
    check(sources[1..11].iter().all(|s| *s == "interpolated"), format!("1-10 interpolated: {sources:?}"))?;
    check(shapes[5]["keyframe"] == false && shapes[5]["frame"] == 5, format!("frame 5: {}", shapes[5]))?;

    let (ok, out, err) =
        run(db, &["--json", "track", "propagate", "--video", video, "--track", &track, "--frame", "0", "--frames", "4", "--manifest", m], &envs)?;
    check(ok, format!("propagate: {err}"))?;
    let s: serde_json::Value = serde_json::from_str(out.trim()).map_err(|e| format!("{e}: {out}"))?;
    check(s["written"] == 4 && s["lastFrame"] == 4 && s["cancelled"] == false, format!("summary: {s}"))?;
    let (_, out, _) = run(db, &["--json", "track", "interpolate", "--video", video, "--track", &track, "--from", "0", "--to", "11"], &[])?;
    let shapes = rows(&out);
    let frames: Vec<(u64, &str)> = shapes.iter().filter_map(|r| Some((r["frame"].as_u64()?, r["source"].as_str()?))).collect();
    check(
        frames == [(0, "sam"), (1, "propagated"), (2, "propagated"), (3, "propagated"), (4, "propagated"), (11, "sam")],
        format!("propagated 1-4, then nothing until the keyframe: {frames:?}"),
    )?;
    // The box stands still: each propagated mask is the box.
    for r in &shapes[1..5] {
        let area = r["area"].as_u64().unwrap_or(0);
        check(area.abs_diff(u64::from(w * h)) * 100 <= u64::from(w * h) * 15, format!("frame {}: area {area}", r["frame"]))?;
    }
    let (ok, out, err) = run(db, &["undo", "--project", "Boxes"], &[])?;
    check(ok && out.contains("propagate"), format!("undo the run: {out} {err}"))?;
    let (_, out, _) = run(db, &["--json", "track", "interpolate", "--video", video, "--track", &track], &[])?;
    check(rows(&out).iter().filter(|r| r["source"] == "interpolated").count() == 10, format!("interpolated again after undo: {out}"))?;

    let (ok, _, err) = run(db, &["track", "propagate", "--video", video, "--track", &track, "--frame", "99", "--manifest", m], &envs)?;
    check(!ok && err.contains("past the end"), format!("a frame past the end is an error: {err}"))?;
    Ok(())
}

fn trial(name: &str, available: Result<(), String>, test: fn(&Path) -> Result<(), Failed>) -> Trial {
    match available {
        Ok(()) => Trial::test(name, move || {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            test(dir.path())
        }),
        Err(reason) => argus_testkit::unavailable(name, &reason, argus_testkit::Skip::Missing),
    }
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![trial("import_video", ffmpeg_available(), import_video), trial("segment", sam_available(), segment), trial("track", sam_available(), track)];
    libtest_mimic::run(&args, trials).exit();
}
