//! Frame composition figures: what one frame the view asks for costs in the
//! application layer (store queries, decode, and with masks composite +
//! readback; raw RGBA out), against decoding alone with argus-media, on a generated 1920x1080
//! H.264 video: at full size and at the half size a fitted view asks for,
//! without and with three masks per frame.
//! Prints `frames.<name>: <value> <unit>` lines.

use std::process::Command;
use std::str::FromStr;
use std::time::Instant;

use argus_core::id::VideoId;
use argus_workspace::frames::{self, FrameQuery};
use argus_workspace::Workspace;
use argus_media::{FrameRequest, SourceOptions, VideoSource};

/// Three runs of 20 frames (keyframe every 10): full size, half size, half
/// size with masks. Each run decodes frames no earlier run decoded, so no
/// figure is a hit in the decoder's frame cache.
const FRAMES: u64 = 60;
const RUN: u64 = 20;

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
            "testsrc2=s=1920x1080:r=25",
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
    let state = block_on(Workspace::open(&dir.path().join("data")))
        .map_err(|e| e.message)?;
    let (project, _) = block_on(state.store().create_project(
        "bench",
        vec![argus_core::model::Label::new(
            "object",
            argus_core::model::Colour::palette(0),
        )],
    ))
    .map_err(|e| e.to_string())?;
    let video = block_on(state.import_video(
        &project.id.to_string(),
        &video_path.display().to_string(),
        |_| {},
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
    drop(source);

    // Three masks on every frame of the second half of the video.
    let masked_from = 2 * RUN;
    for n in masked_from..FRAMES {
        for i in 0..3u32 {
            let rle = argus_core::Rle::from_stroke(
                1080,
                1920,
                &[
                    argus_core::geometry::Point::new(300.0 + 500.0 * f64::from(i), 400.0)
                        .map_err(|e| e.to_string())?,
                    argus_core::geometry::Point::new(500.0 + 500.0 * f64::from(i), 600.0)
                        .map_err(|e| e.to_string())?,
                ],
                120.0,
            )
            .map_err(|e| e.to_string())?;
            add_mask(&state, video_id, n, i, rle)?;
        }
    }

    let serve = |first: u64, last: u64, query: &str| -> Result<(f64, usize), String> {
        // Warm up the compositor (adapter and pipelines) and the decoder once.
        block_on(frames::render(
            &state,
            &FrameQuery::parse(&format!("/{video_id}/{first}"), Some(query))
                .map_err(|e| e.message)?,
        ))
        .map_err(|e| e.message)?;
        let t0 = Instant::now();
        let mut bytes = 0usize;
        for n in first + 1..last {
            let q = FrameQuery::parse(&format!("/{video_id}/{n}"), Some(query))
                .map_err(|e| e.message)?;
            let img = block_on(frames::render(&state, &q)).map_err(|e| format!("frame {n}: {}", e.message))?;
            bytes = img.data().len();
        }
        Ok((
            t0.elapsed().as_secs_f64() * 1000.0 / (last - first - 1) as f64,
            bytes,
        ))
    };
    let (full_ms, full_bytes) = serve(0, RUN, "")?;
    let (half_ms, half_bytes) = serve(RUN, 2 * RUN, "scale=0.5")?;
    let (masks_ms, _) = serve(masked_from, FRAMES, "scale=0.5")?;
    let renderer = state.compositor_description();
    println!("frames.renderer: {renderer}");
    println!("frames.decode_rgba_1080p: {decode_ms:.2} ms");
    println!("frames.serve_1080p: {full_ms:.2} ms");
    println!(
        "frames.serve_1080p.ratio: {:.2} (vs decode_rgba_1080p)",
        full_ms / decode_ms
    );
    println!("frames.serve_half_1080p: {half_ms:.2} ms");
    println!("frames.serve_half_3masks_1080p: {masks_ms:.2} ms");
    println!("frames.answer_bytes_1080p: {full_bytes} bytes");
    println!("frames.answer_bytes_half_1080p: {half_bytes} bytes");
    Ok(())
}

/// Stores `rle` as a new track's keyframe on frame `n`.
fn add_mask(
    state: &Workspace,
    video: VideoId,
    n: u64,
    i: u32,
    rle: argus_core::Rle,
) -> Result<(), String> {
    use argus_core::model::{Geometry, Shape, ShapeSource, Timestamp, Track};
    let store = state.store();
    block_on(async {
        let v = store.video(video).await.map_err(|e| e.to_string())?;
        let schema = store
            .schema(v.project_id)
            .await
            .map_err(|e| e.to_string())?;
        let label = schema
            .labels()
            .get(i as usize % schema.labels().len().max(1))
            .ok_or("no label")?
            .id;
        let actor = store
            .actor(v.project_id, store.local_user())
            .await
            .map_err(|e| e.to_string())?;
        let track = Track::new(video, label, None, Timestamp(0));
        let shape = Shape::keyframe(
            track.id,
            n,
            Geometry::Mask(rle),
            ShapeSource::Manual,
            Timestamp(0),
        );
        store
            .apply_in(
                v.project_id,
                &actor,
                argus_store::Command::CreateTrack {
                    track,
                    shapes: vec![shape],
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok::<(), String>(())
    })
}

/// Runs `f` to completion on a runtime of the bench's own.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the bench")
    })
    .block_on(f)
}
