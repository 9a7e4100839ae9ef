//! Frame transport figures: what one `frame://` answer costs in the shell
//! (decode + composite with masks + readback, raw RGBA out), against decoding
//! alone with argus-media, on a generated 1280x720 H.264 video.
//! Prints `frames.<name>: <value> <unit>` lines.

use std::process::Command;
use std::str::FromStr;
use std::time::Instant;

use argus_app::AppState;
use argus_app::frames::{self, FrameQuery};
use argus_core::id::VideoId;
use argus_media::{FrameRequest, SourceOptions, VideoSource};

const FRAMES: u64 = 30;

fn main() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let video_path = dir.path().join("bench.mp4");
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=1280x720:r=25",
        ])
        .args([
            "-frames:v",
            &FRAMES.to_string(),
            "-c:v",
            "libx264",
            "-g",
            "10",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&video_path)
        .status()
        .map_err(|e| format!("ffmpeg: {e}"))?;
    if !status.success() {
        return Err("ffmpeg failed".into());
    }
    let state = tauri::async_runtime::block_on(AppState::open(&dir.path().join("data")))
        .map_err(|e| e.message)?;
    let (project, _) =
        tauri::async_runtime::block_on(state.store().create_project("bench", vec![]))
            .map_err(|e| e.to_string())?;
    let video = tauri::async_runtime::block_on(argus_app::import::import(
        &state,
        project.id,
        video_path.clone(),
        || {},
    ))
    .map_err(|e| e.message)?;
    let video_id = VideoId::from_str(&video.id).map_err(|e| e.to_string())?;

    // Anchor: decode to RGBA only, stepping forward.
    let mut source =
        VideoSource::open(&video_path, SourceOptions::default()).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    for n in 0..FRAMES {
        source
            .frame(n, FrameRequest::RGBA)
            .map_err(|e| e.to_string())?;
    }
    let decode_ms = t0.elapsed().as_secs_f64() * 1000.0 / FRAMES as f64;

    // Warm up the compositor (adapter and pipelines) once.
    let q = |frame| FrameQuery::new(video_id, frame);
    tauri::async_runtime::block_on(frames::render(&state, &q(0))).map_err(|e| e.message)?;
    let t0 = Instant::now();
    let mut bytes = 0usize;
    for n in 0..FRAMES {
        let r = tauri::async_runtime::block_on(frames::respond(
            &state,
            &format!("/{video_id}/{n}"),
            None,
        ));
        bytes = r.body().len();
    }
    let serve_ms = t0.elapsed().as_secs_f64() * 1000.0 / FRAMES as f64;
    let renderer = state.compositor_description();
    println!("frames.renderer: {renderer}");
    println!("frames.decode_rgba_720p: {decode_ms:.2} ms");
    println!("frames.serve_720p: {serve_ms:.2} ms");
    println!(
        "frames.serve_720p.ratio: {:.2} (vs decode_rgba_720p)",
        serve_ms / decode_ms
    );
    println!("frames.answer_bytes_720p: {bytes} bytes");
    Ok(())
}
