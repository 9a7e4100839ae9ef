//! `make bench ONLY=track` (`cargo bench -p argus-workspace --bench track`):
//! tracking's figures.
//!
//! - `track.interpolate_mask_ms_1080p`: one interpolated 1080p mask between
//!   two keyframes of a disc that moves and grows (r 120 -> 160 px): the
//!   morph's two distance fields and the blend, as the frame view pays for a
//!   keyframe pair it shows first; `..._step_ms_1080p`: each further frame of
//!   the same pair (the blend only, the morph cached). Median of 15.
//! - `track.propagate_fps_1080p`: frames per second of `Workspace::propagate`
//!   over 60 frames of a 1920x1080 video of a moving box with the project's
//!   test model (argus-sam's make_test_model.py): decoding, encoding (ahead,
//!   on a thread of its own), the prompt step, the mask and the store writes
//!   (batches, one undo group), as the app runs it. With MobileSAM in the
//!   model cache (`make real-model`), `track.mobile-sam.propagate_fps_1080p`
//!   the same way (20 frames); without it, stderr says so.
//! - `track.peak_rss_mib_1k_frames`, `track.peak_rss_mib_10k_frames`: peak
//!   memory (VmHWM) of a process that propagates the test model over a
//!   whole 1,000- and 10,000-frame 320x180 video (the small size keeps the
//!   10,000-frame run to minutes; what grows with a video's length is the
//!   same at any size): frames stream through one decoder, embeddings through
//!   the bounded cache, shapes into the store in batches.
//!   Each runs in a process of its own (this binary with `--phase`).

#[path = "../../argus-formats/benches/support/fixture.rs"]
mod fixture;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use argus_core::interpolate::MaskMorph;
use argus_core::model::{Colour, Geometry, Label, Shape, ShapeSource, Timestamp, Track};
use argus_core::{BBox, Rle};
use argus_store::Command as StoreCommand;
use argus_workspace::Workspace;
use argus_workspace::dto::PropagateOptions;
use argus_workspace::export::Cancel;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn disc(w: u32, h: u32, cx: f64, cy: f64, r: f64) -> Rle {
    let mut bits = vec![0u8; (w * h) as usize];
    for y in 0..h {
        for x in 0..w {
            if (f64::from(x) - cx).hypot(f64::from(y) - cy) < r {
                bits[(y * w + x) as usize] = 1;
            }
        }
    }
    Rle::from_bitmap_row_major(h, w, &bits).expect("disc mask")
}

fn interpolation() {
    let (a, b) = (disc(1920, 1080, 500.0, 500.0, 120.0), disc(1920, 1080, 900.0, 620.0, 160.0));
    let (mut first, mut step) = (Vec::new(), Vec::new());
    for i in 0..15 {
        let t = Instant::now();
        let morph = MaskMorph::new(&a, &b).expect("same size");
        let m = morph.at(0.5);
        first.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let n = morph.at(0.25 + f64::from(i) * 0.03);
        step.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!m.is_empty() && !n.is_empty());
    }
    println!("track.interpolate_mask_ms_1080p: {:.2} ms", median(first));
    println!("track.interpolate_mask_step_ms_1080p: {:.2} ms", median(step));
}

/// A `width`x`height` video of `frames` frames at 30 fps: a 0xd23c3c box
/// (a fifth of the width, a quarter of the height) swinging right and back
/// from x = width/10 (by up to half the width, a period of ~190 frames, so it
/// never leaves the picture) over a flat background (ffmpeg's overlay: fast
/// to make).
fn box_video(dir: &Path, width: u32, height: u32, frames: u64) -> Result<(PathBuf, BBox), String> {
    let path = dir.join(format!("box-{width}x{height}-{frames}.mp4"));
    let (bw, bh, x0, y0) = (width / 5, height / 4, width / 10, height / 3);
    if !path.exists() {
        let filter = format!(
            "[0][1]overlay=x='{x0}+{}*(1-cos(n/30))':y={y0}:shortest=1,format=yuv420p",
            width / 4
        );
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(["-f", "lavfi", "-i", &format!("color=c=0x3a4a5a:s={width}x{height}:r=30")])
            .args(["-f", "lavfi", "-i", &format!("color=c=0xd23c3c:s={bw}x{bh}:r=30")])
            .args(["-filter_complex", &filter, "-frames:v", &frames.to_string()])
            .args(["-c:v", "libx264", "-preset", "veryfast", "-g", "60"])
            .arg(&path)
            .status()
            .map_err(|e| format!("ffmpeg: {e}"))?;
        if !status.success() {
            return Err("ffmpeg failed to make the video".into());
        }
    }
    let bbox = BBox::new(f64::from(x0), f64::from(y0), f64::from(bw), f64::from(bh)).map_err(|e| e.to_string())?;
    Ok((path, bbox))
}

/// One propagation in this process: a fresh workspace in `data`, the video,
/// the model and the first keyframe (untimed), then the run (timed).
fn phase(video: &Path, manifest: &str, bbox: BBox, frames: u64, data: &Path) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| e.to_string())?;
    let (seconds, written) = rt.block_on(async {
        let ws = Workspace::open(data).await.map_err(|e| e.message)?;
        let (project, _) = ws.store().create_project("bench", vec![Label::new("box", Colour::palette(0))]).await.map_err(|e| e.to_string())?;
        let v = ws.import_video(&project.id.to_string(), &video.display().to_string(), |_| {}).await.map_err(|e| e.message)?;
        let manifest = manifest.to_owned();
        ws.blocking(move |ws| ws.sam().load(&manifest, &mut |_| {})).await.map_err(|e| e.message)?;
        let store = ws.store();
        let video = store.video(v.id.parse().map_err(|e| format!("{e:?}"))?).await.map_err(|e| e.to_string())?;
        let schema = store.schema(project.id).await.map_err(|e| e.to_string())?;
        let track = Track::new(video.id, schema.labels()[0].id, None, Timestamp(0));
        let mask = Rle::from_bbox(video.height, video.width, &bbox).map_err(|e| e.to_string())?;
        let shape = Shape::keyframe(track.id, 0, Geometry::Mask(mask), ShapeSource::Manual, Timestamp(0));
        let actor = store.actor(project.id, store.local_user()).await.map_err(|e| e.to_string())?;
        store.apply_in(project.id, &actor, StoreCommand::CreateTrack { track: track.clone(), shapes: vec![shape] }).await.map_err(|e| e.to_string())?;
        let options = PropagateOptions { max_frames: Some(frames), ..PropagateOptions::default() };
        let t = Instant::now();
        let summary = ws
            .propagate(&video.id.to_string(), &track.id.to_string(), 0, &options, &|_| {}, &Cancel::new())
            .await
            .map_err(|e| e.message)?;
        Ok::<_, String>((t.elapsed().as_secs_f64(), summary.written))
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "seconds {seconds}\npeak_mib {}\nannotations {written}", fixture::peak_mib()).map_err(|e| e.to_string())
}

fn propagation(exe: &Path, dir: &Path, name: &str, video: &Path, bbox: BBox, manifest: &str, frames: u64) -> Result<fixture::Phase, String> {
    let data = dir.join(format!("data-{name}"));
    let _ = std::fs::remove_dir_all(&data);
    let mut cmd = Command::new(exe);
    cmd.arg("--phase").arg(video).arg(manifest);
    for v in [bbox.x, bbox.y, bbox.width, bbox.height] {
        cmd.arg(v.to_string());
    }
    cmd.arg(frames.to_string()).arg(&data);
    let p = fixture::run(&mut cmd, name)?;
    let _ = std::fs::remove_dir_all(&data);
    if p.annotations != frames {
        return Err(format!("{name}: propagated {} frames, not {frames} (the run stopped early)", p.annotations));
    }
    Ok(p)
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--phase") {
        let a: Vec<&str> = args[i + 1..].iter().map(String::as_str).collect();
        let [video, manifest, x, y, w, h, frames, data] = a[..] else {
            return Err("usage: track --phase VIDEO MANIFEST X Y W H FRAMES DATA".into());
        };
        let f = |s: &str| s.parse::<f64>().map_err(|e| e.to_string());
        let bbox = BBox::new(f(x)?, f(y)?, f(w)?, f(h)?).map_err(|e| e.to_string())?;
        return phase(Path::new(video), manifest, bbox, frames.parse().map_err(|_| "FRAMES")?, Path::new(data));
    }
    interpolation();

    let temp = tempfile::Builder::new().prefix("argus-track-bench").tempdir().map_err(|e| e.to_string())?;
    let dir = temp.path();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let test_model = argus_testkit::make_sam_models(&dir.join("models"))?.display().to_string();
    let (hd, hd_box) = box_video(dir, 1920, 1080, 61)?;
    let p = propagation(&exe, dir, "test model 1080p", &hd, hd_box, &test_model, 60)?;
    println!("track.propagate_fps_1080p: {:.1} fps", 60.0 / p.seconds);

    match argus_sam::builtin_manifest("mobile-sam").map_err(|e| e.to_string()).and_then(|m| {
        argus_sam::download::ModelStore::default_location().and_then(|s| s.locate(&m)).map_err(|e| e.to_string())
    }) {
        Ok(_) => {
            let p = propagation(&exe, dir, "MobileSAM 1080p", &hd, hd_box, "mobile-sam", 20)?;
            println!("track.mobile-sam.propagate_fps_1080p: {:.2} fps", 20.0 / p.seconds);
        }
        Err(why) => eprintln!("track: track.mobile-sam.propagate_fps_1080p SKIPPED: MobileSAM is not in the model cache ({why}); `make real-model`"),
    }

    for (frames, name) in [(1_000u64, "1k"), (10_000, "10k")] {
        let (video, bbox) = box_video(dir, 320, 180, frames)?;
        let t = Instant::now();
        let p = propagation(&exe, dir, &format!("{name} frames"), &video, bbox, &test_model, frames - 1)?;
        eprintln!("track: {frames} frames propagated in {:.1} s ({:.1} s with set-up)", p.seconds, t.elapsed().as_secs_f64());
        println!("track.peak_rss_mib_{name}_frames: {:.0} MiB", p.peak_mib);
    }
    Ok(())
}
