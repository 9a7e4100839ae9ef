//! Command-level tests of the desktop shell on tauri's mock runtime: a real
//! store in a temporary folder, a real video made by the ffmpeg CLI, frames
//! rendered by argus-render, and (when ONNX Runtime and Python's onnx are
//! available) the real SAM-contract test model of argus-sam. Trials that
//! need something missing are reported as ignored, with the reason.

mod util;

use std::str::FromStr;

use argus_app::frames::{self, FrameQuery};
use argus_core::Rle;
use argus_core::id::{ProjectId, TrackId, VideoId};
use argus_core::model::{Attributes, Geometry, Shape, ShapeSource, Timestamp, Track};
use argus_render::RgbaImage;
use libtest_mimic::{Arguments, Trial};
use serde_json::{Value, json};
use util::{BOX, TestApp, TestResult, VIDEO_FRAMES, VIDEO_H, VIDEO_W};

fn main() {
    let args = Arguments::from_args();
    let sam_missing = util::sam_unavailable();
    let mut trials = vec![
        Trial::test(
            "projects: create, list, refuse duplicates and empty names",
            projects,
        ),
        Trial::test(
            "import: probe + index + store, progress events, duplicates and missing files",
            import,
        ),
        Trial::test(
            "frames: render with masks, shapes, timeline, undo and redo",
            frames_and_history,
        ),
        Trial::test(
            "frames: the frame:// answer for good and bad requests",
            frame_protocol,
        ),
        Trial::test(
            "errors: every command failure is a typed CommandError",
            typed_errors,
        ),
    ];
    let sam = Trial::test(
        "sam: click -> preview candidates -> accept -> undo (real test model)",
        sam_flow,
    );
    trials.push(match &sam_missing {
        Some(why) => {
            println!("SKIPPED sam trial: {why}");
            sam.with_ignored_flag(true)
        }
        None => sam,
    });
    libtest_mimic::run(&args, trials).exit();
}

fn str_of<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no string '{key}' in {v}"))
}

fn u64_of(v: &Value, key: &str) -> Result<u64, String> {
    v.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("no number '{key}' in {v}"))
}

/// A project with two labels and the generated video imported.
fn project_with_video(t: &TestApp) -> Result<(Value, Value), String> {
    let project = t.ok(
        "create_project",
        json!({ "name": "boxes", "labels": ["box", "background"] }),
    )?;
    let path = util::make_video(t.dir.path())?;
    let video = t.ok(
        "import_video",
        json!({ "projectId": str_of(&project, "id")?, "path": path }),
    )?;
    Ok((project, video))
}

fn projects() -> TestResult {
    let t = TestApp::new()?;
    let p = t.ok(
        "create_project",
        json!({ "name": "  Street  ", "labels": ["car", "person"] }),
    )?;
    ensure!(str_of(&p, "name")? == "Street", "name is trimmed: {p}");
    let labels = p["labels"].as_array().ok_or("no labels")?;
    ensure!(labels.len() == 2, "two labels: {p}");
    ensure!(
        labels[0]["hotkey"] == json!(1) && labels[1]["hotkey"] == json!(2),
        "number keys 1 and 2: {p}"
    );
    ensure!(
        labels[0]["colour"]
            .as_str()
            .is_some_and(|c| c.starts_with('#') && c.len() == 7),
        "colour is #rrggbb: {p}"
    );
    ensure!(
        labels[0]["colour"] != labels[1]["colour"],
        "palette colours differ: {p}"
    );
    let list = t.ok("list_projects", json!({}))?;
    ensure!(
        list.as_array().is_some_and(|l| l.len() == 1 && l[0] == p),
        "list_projects returns it: {list}"
    );
    let (kind, message) = t.err("create_project", json!({ "name": "Street", "labels": [] }))?;
    ensure!(
        kind == "conflict" && message.contains("Street"),
        "duplicate: {kind}: {message}"
    );
    let (kind, _) = t.err("create_project", json!({ "name": "   ", "labels": [] }))?;
    ensure!(kind == "invalid", "empty name is invalid, got {kind}");
    let detail = t.ok("open_project", json!({ "projectId": str_of(&p, "id")? }))?;
    ensure!(
        detail["project"] == p && detail["videos"] == json!([]),
        "open_project: {detail}"
    );
    Ok(())
}

fn import() -> TestResult {
    let t = TestApp::new()?;
    let events = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<Value>::new()));
    let sink = events.clone();
    tauri::Listener::listen_any(&t.app, argus_app::dto::IMPORT_PROGRESS_EVENT, move |e| {
        if let Ok(v) = serde_json::from_str::<Value>(e.payload()) {
            sink.lock().push(v);
        }
    });
    let (project, video) = project_with_video(&t)?;
    ensure!(
        u64_of(&video, "frame_count")? == VIDEO_FRAMES,
        "exact frame count: {video}"
    );
    ensure!(
        u64_of(&video, "width")? == u64::from(VIDEO_W)
            && u64_of(&video, "height")? == u64::from(VIDEO_H),
        "size: {video}"
    );
    ensure!(
        u64_of(&video, "fps_num")? == 10 && u64_of(&video, "fps_den")? == 1,
        "10 fps: {video}"
    );
    ensure!(str_of(&video, "codec")? == "h264", "codec: {video}");
    let stages: Vec<String> = events
        .lock()
        .iter()
        .filter_map(|e| e["stage"].as_str().map(str::to_owned))
        .collect();
    ensure!(
        stages == ["indexing", "storing", "done"],
        "progress stages in order: {stages:?}"
    );
    let detail = t.ok(
        "open_project",
        json!({ "projectId": str_of(&project, "id")? }),
    )?;
    ensure!(
        detail["videos"] == json!([video.clone()]),
        "the project lists the video: {detail}"
    );

    let path = t.dir.path().join("box.mp4");
    let (kind, message) = t.err(
        "import_video",
        json!({ "projectId": str_of(&project, "id")?, "path": path }),
    )?;
    ensure!(
        kind == "conflict" && message.contains("already"),
        "same file twice: {kind}: {message}"
    );
    ensure!(
        events.lock().last().is_some_and(|e| e["stage"] == "failed"),
        "a failed import is reported: {:?}",
        events.lock().last()
    );

    let missing = t.dir.path().join("nope.mp4");
    let (kind, message) = t.err(
        "import_video",
        json!({ "projectId": str_of(&project, "id")?, "path": missing }),
    )?;
    ensure!(
        kind == "not_found" && message.ends_with(&missing.display().to_string()),
        "missing file, path last: {kind}: {message}"
    );
    let junk = t.dir.path().join("junk.mp4");
    std::fs::write(&junk, b"this is not a video").map_err(|e| e.to_string())?;
    let (kind, _) = t.err(
        "import_video",
        json!({ "projectId": str_of(&project, "id")?, "path": junk }),
    )?;
    ensure!(kind == "media", "garbage is a media error, got {kind}");
    Ok(())
}

/// A rectangle mask of the video's size.
fn rect_mask(x0: u32, y0: u32, w: u32, h: u32) -> Result<Rle, String> {
    let mut bits = vec![0u8; (VIDEO_W * VIDEO_H) as usize];
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            bits[(y * VIDEO_W + x) as usize] = 1;
        }
    }
    Rle::from_bitmap_row_major(VIDEO_H, VIDEO_W, &bits).map_err(|e| e.to_string())
}

fn render(t: &TestApp, q: &FrameQuery) -> Result<RgbaImage, String> {
    let state = t.state();
    tauri::async_runtime::block_on(frames::render(&state, q)).map_err(|e| e.message)
}

fn px(img: &RgbaImage, x: u32, y: u32) -> Result<[u8; 4], String> {
    img.pixel(x, y).ok_or_else(|| format!("no pixel {x},{y}"))
}

fn close(a: [u8; 4], b: [u8; 4], tol: u8) -> bool {
    a.iter().zip(b).all(|(p, q)| p.abs_diff(q) <= tol)
}

fn frames_and_history() -> TestResult {
    let t = TestApp::new()?;
    let (project, video) = project_with_video(&t)?;
    let project_id = ProjectId::from_str(str_of(&project, "id")?).map_err(|e| e.to_string())?;
    let video_id = VideoId::from_str(str_of(&video, "id")?).map_err(|e| e.to_string())?;
    let q = FrameQuery {
        video: video_id,
        frame: 7,
        selected: None,
        preview: None,
    };

    // Without masks the rendered frame is the decoded frame.
    let plain = render(&t, &q)?;
    ensure!(
        (plain.width(), plain.height()) == (VIDEO_W, VIDEO_H),
        "display size"
    );
    let blue = px(&plain, 5, 5)?;
    let red = px(&plain, BOX.0 + 10, BOX.1 + 10)?;
    ensure!(
        blue[2] > 130 && blue[0] < 60,
        "background is blue: {blue:?}"
    );
    ensure!(red[0] > 180 && red[2] < 80, "the box is red: {red:?}");

    // Add a track with a mask on frame 7 through the store, as an edit.
    let store = t.state().store().clone();
    let label = {
        let schema =
            tauri::async_runtime::block_on(store.schema(project_id)).map_err(|e| e.to_string())?;
        schema.labels().first().ok_or("no label")?.id
    };
    let actor = tauri::async_runtime::block_on(store.actor(project_id, store.local_user()))
        .map_err(|e| e.to_string())?;
    let track = Track {
        id: TrackId::new(),
        video_id,
        label_id: label,
        number: 0,
        attributes: Attributes::new(),
        author: None,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    };
    let mask = rect_mask(0, 0, 20, 20)?;
    let shape = Shape {
        id: argus_core::id::ShapeId::new(),
        track_id: track.id,
        frame: 7,
        geometry: Geometry::Mask(mask),
        keyframe: true,
        source: ShapeSource::Manual,
        occluded: false,
        outside: false,
        attributes: Attributes::new(),
        score: None,
        author: None,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    };
    tauri::async_runtime::block_on(store.apply(
        &actor,
        argus_store::Command::CreateTrack {
            track: track.clone(),
            shapes: vec![shape],
        },
    ))
    .map_err(|e| e.to_string())?;

    let shapes = t.ok(
        "frame_shapes",
        json!({ "videoId": video_id.to_string(), "frame": 7 }),
    )?;
    let list = shapes.as_array().ok_or("shapes is a list")?;
    ensure!(list.len() == 1, "one shape on frame 7: {shapes}");
    ensure!(
        list[0]["kind"] == "mask"
            && list[0]["area"] == json!(400)
            && list[0]["label_name"] == "box",
        "shape info: {shapes}"
    );
    ensure!(
        list[0]["track_number"].as_u64().is_some_and(|n| n >= 1),
        "track got a number: {shapes}"
    );
    ensure!(
        list[0]["bbox"] == json!({ "x": 0.0, "y": 0.0, "width": 20.0, "height": 20.0 }),
        "bbox: {shapes}"
    );
    let empty = t.ok(
        "frame_shapes",
        json!({ "videoId": video_id.to_string(), "frame": 6 }),
    )?;
    ensure!(empty == json!([]), "nothing on frame 6: {empty}");
    let timeline = t.ok("timeline", json!({ "videoId": video_id.to_string() }))?;
    ensure!(
        timeline
            == json!({ "frame_count": VIDEO_FRAMES, "frames": [{ "frame": 7, "shapes": 1, "keyframes": 1 }] }),
        "timeline density: {timeline}"
    );

    // The mask tints its pixels and leaves the rest alone.
    let masked = render(&t, &q)?;
    let inside = px(&masked, 10, 10)?;
    ensure!(
        !close(inside, blue, 8),
        "inside the mask is tinted: {inside:?} vs {blue:?}"
    );
    ensure!(
        close(px(&masked, 100, 100)?, px(&plain, 100, 100)?, 2),
        "outside the mask is unchanged"
    );
    ensure!(
        close(px(&masked, BOX.0 + 10, BOX.1 + 10)?, red, 2),
        "the box is unchanged"
    );
    let selected = render(
        &t,
        &FrameQuery {
            selected: Some(track.id),
            ..q.clone()
        },
    )?;
    ensure!(
        selected.data() != masked.data(),
        "selection changes the picture"
    );

    // Undo and redo go through the store's persistent history.
    let h = t.ok("history", json!({ "projectId": project_id.to_string() }))?;
    ensure!(
        h["undo"] == json!(1) && h["redo"] == json!(0),
        "one undo step: {h}"
    );
    let h = t.ok("undo", json!({ "projectId": project_id.to_string() }))?;
    ensure!(
        h["undo"] == json!(0)
            && h["redo"] == json!(1)
            && h["summary"]
                .as_str()
                .is_some_and(|s| s.contains("create track")),
        "undo: {h}"
    );
    ensure!(
        t.ok(
            "frame_shapes",
            json!({ "videoId": video_id.to_string(), "frame": 7 })
        )? == json!([]),
        "undo removed the shape"
    );
    let after_undo = render(&t, &q)?;
    ensure!(
        after_undo.data() == plain.data(),
        "undo removes the mask from the picture"
    );
    let h = t.ok("redo", json!({ "projectId": project_id.to_string() }))?;
    ensure!(h["undo"] == json!(1) && h["redo"] == json!(0), "redo: {h}");
    ensure!(
        t.ok(
            "frame_shapes",
            json!({ "videoId": video_id.to_string(), "frame": 7 })
        )?
        .as_array()
        .is_some_and(|l| l.len() == 1),
        "redo restored it"
    );
    Ok(())
}

fn frame_protocol() -> TestResult {
    let t = TestApp::new()?;
    let (_, video) = project_with_video(&t)?;
    let id = str_of(&video, "id")?;
    let state = t.state();
    let ok =
        tauri::async_runtime::block_on(frames::respond(&state, &format!("/{id}/3"), Some("rev=1")));
    ensure!(ok.status() == 200, "status {}", ok.status());
    let header = |name: &str| {
        ok.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    ensure!(
        header("x-frame-width").as_deref() == Some("160")
            && header("x-frame-height").as_deref() == Some("120"),
        "size headers"
    );
    ensure!(
        ok.body().len() == (VIDEO_W * VIDEO_H * 4) as usize,
        "raw RGBA body of {} bytes",
        ok.body().len()
    );

    let bad = tauri::async_runtime::block_on(frames::respond(&state, "/not-an-id/3", None));
    ensure!(bad.status() == 400, "bad id is 400, got {}", bad.status());
    let e: Value = serde_json::from_slice(bad.body()).map_err(|e| e.to_string())?;
    ensure!(e["kind"] == "invalid", "JSON CommandError body: {e}");
    let past = tauri::async_runtime::block_on(frames::respond(
        &state,
        &format!("/{id}/{VIDEO_FRAMES}"),
        None,
    ));
    ensure!(
        past.status() == 400,
        "frame past the end is 400, got {}",
        past.status()
    );
    let unknown = tauri::async_runtime::block_on(frames::respond(
        &state,
        &format!("/{}/0", VideoId::new()),
        None,
    ));
    ensure!(
        unknown.status() == 404,
        "unknown video is 404, got {}",
        unknown.status()
    );
    Ok(())
}

fn typed_errors() -> TestResult {
    let t = TestApp::new()?;
    let (project, video) = project_with_video(&t)?;
    let pid = str_of(&project, "id")?;
    let vid = str_of(&video, "id")?;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("undo", json!({ "projectId": pid }), "nothing_to_do"),
        ("redo", json!({ "projectId": pid }), "nothing_to_do"),
        ("open_project", json!({ "projectId": "zzz" }), "invalid"),
        (
            "open_project",
            json!({ "projectId": ProjectId::new().to_string() }),
            "not_found",
        ),
        (
            "frame_shapes",
            json!({ "videoId": vid, "frame": VIDEO_FRAMES }),
            "invalid",
        ),
        (
            "timeline",
            json!({ "videoId": VideoId::new().to_string() }),
            "not_found",
        ),
        (
            "sam_predict",
            json!({ "videoId": vid, "frame": 0, "prompt": { "points": [{ "x": 1.0, "y": 1.0, "positive": true }] } }),
            "sam",
        ),
        (
            "sam_predict",
            json!({ "videoId": vid, "frame": 0, "prompt": { "points": [] } }),
            "invalid",
        ),
        (
            "sam_accept",
            json!({ "videoId": vid, "frame": 0, "rank": 0, "target": { "to": "new_track", "label_id": argus_core::id::LabelId::new().to_string() } }),
            "sam",
        ),
        (
            "load_sam_model",
            json!({ "manifestPath": t.dir.path().join("missing.toml") }),
            "sam",
        ),
    ];
    for (cmd, args, want) in cases {
        let (kind, message) = t.err(cmd, args.clone())?;
        ensure!(
            kind == want,
            "{cmd} {args}: expected {want}, got {kind}: {message}"
        );
        ensure!(!message.is_empty(), "{cmd}: the message says something");
    }
    Ok(())
}

fn sam_flow() -> TestResult {
    let t = TestApp::new()?;
    let (project, video) = project_with_video(&t)?;
    let manifest = util::make_sam_models(&t.dir.path().join("models"))?;
    let info = t.ok("load_sam_model", json!({ "manifestPath": manifest }))?;
    ensure!(
        info["id"].as_str().is_some_and(|s| !s.is_empty()),
        "model id: {info}"
    );
    let vid = str_of(&video, "id")?;
    let (bx, by, bw, bh) = BOX;
    let click = json!({ "points": [{ "x": f64::from(bx + bw / 2), "y": f64::from(by + bh / 2), "positive": true }] });
    let preview = t.ok(
        "sam_predict",
        json!({ "videoId": vid, "frame": 4, "prompt": click }),
    )?;
    let candidates = preview["candidates"].as_array().ok_or("candidates")?;
    ensure!(!candidates.is_empty(), "SAM offers candidates: {preview}");
    let ious: Vec<f64> = candidates
        .iter()
        .filter_map(|c| c["iou"].as_f64())
        .collect();
    ensure!(
        ious.windows(2).all(|w| w[0] >= w[1]),
        "ranked by predicted IoU: {ious:?}"
    );
    // The candidate whose box matches the red box best must match it well.
    let best = candidates
        .iter()
        .filter_map(|c| {
            let b = &c["bbox"];
            let (x, y, w, h) = (
                b["x"].as_f64()?,
                b["y"].as_f64()?,
                b["width"].as_f64()?,
                b["height"].as_f64()?,
            );
            let ix = (x + w).min(f64::from(bx + bw)) - x.max(f64::from(bx));
            let iy = (y + h).min(f64::from(by + bh)) - y.max(f64::from(by));
            let inter = ix.max(0.0) * iy.max(0.0);
            Some((
                inter / (w * h + f64::from(bw * bh) - inter),
                c["rank"].as_u64()?,
            ))
        })
        .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
    ensure!(
        best.0 > 0.8,
        "a candidate covers the clicked box (box IoU {:.2}): {preview}",
        best.0
    );

    // The preview is drawn into the frame.
    let video_id = VideoId::from_str(vid).map_err(|e| e.to_string())?;
    let q = FrameQuery {
        video: video_id,
        frame: 4,
        selected: None,
        preview: None,
    };
    let without = render(&t, &q)?;
    let with = render(
        &t,
        &FrameQuery {
            preview: Some(best.1 as usize),
            ..q.clone()
        },
    )?;
    ensure!(
        with.data() != without.data(),
        "the preview changes the picture"
    );

    let label = project["labels"][0]["id"].as_str().ok_or("label id")?;
    let accepted = t.ok("sam_accept", json!({ "videoId": vid, "frame": 4, "rank": best.1, "target": { "to": "new_track", "label_id": label } }))?;
    ensure!(
        accepted["history"]["undo"] == json!(1),
        "one undo step: {accepted}"
    );
    let shapes = t.ok("frame_shapes", json!({ "videoId": vid, "frame": 4 }))?;
    ensure!(
        shapes
            .as_array()
            .is_some_and(|l| l.len() == 1 && l[0]["kind"] == "mask" && l[0]["keyframe"] == true),
        "stored: {shapes}"
    );
    ensure!(
        shapes[0]["track_id"] == accepted["track_id"],
        "on the new track: {shapes}"
    );
    let (kind, _) = t.err("sam_accept", json!({ "videoId": vid, "frame": 4, "rank": 0, "target": { "to": "new_track", "label_id": label } }))?;
    ensure!(
        kind == "sam",
        "the preview is gone after accepting, got {kind}"
    );
    t.ok("undo", json!({ "projectId": str_of(&project, "id")? }))?;
    ensure!(
        t.ok("frame_shapes", json!({ "videoId": vid, "frame": 4 }))? == json!([]),
        "undo removes the SAM mask"
    );
    Ok(())
}
