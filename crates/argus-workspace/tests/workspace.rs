//! The application layer's own tests, without Tauri: a real store in a
//! temporary folder, a real video made by the ffmpeg CLI, frames rendered by
//! argus-render, and (when ONNX Runtime and Python's onnx are available) the
//! real SAM-contract test model of argus-sam. Calls are made as the page
//! makes them (see `util`). Trials that need something missing are reported
//! as ignored, with the reason.

mod conflicts;
mod datasets;
mod labels;
mod review;
mod stills;
mod team;
mod tracking;
mod transfer;
mod util;

use std::str::FromStr;

use argus_testkit::{ensure, str_of};
use argus_workspace::frames::{self, FrameQuery};
use argus_core::Rle;
use argus_core::id::{ProjectId, TrackId, VideoId};
use argus_core::model::{Geometry, Shape, ShapeSource, Timestamp, Track};
use argus_render::RgbaImage;
use libtest_mimic::{Arguments, Trial};
use serde_json::{Value, json};
use util::{BOX, TestResult, TestWs, VIDEO_FRAMES, VIDEO_H, VIDEO_W};

fn main() {
    let args = Arguments::from_args();
    let sam_missing = argus_testkit::sam_unavailable(|| {
        argus_sam::runtime::environment().map(|_| ()).map_err(|e| e.to_string())
    });
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
            "errors: every command failure is a typed CommandError",
            typed_errors,
        ),
        Trial::test(
            "attributes: per object and per frame, defaults, typed checks, one undo step",
            attributes,
        ),
        Trial::test(
            "edits: polygon with a hole, box, points, polyline, brush and eraser, copy, relabel, delete, pick; one undo step each",
            edits,
        ),
        Trial::test("transfer: COCO export with JPEG frames and import into another project keep every pixel; one undo step", transfer::coco_round_trip),
        Trial::test("transfer: native JSON export and import are lossless", transfer::native_round_trip),
        Trial::test("conflicts: a box edited here and elsewhere: both listed with object, frame and side; the lost version put back (one undo step, synced) or the current kept", conflicts::list_and_settle),
        Trial::test("labels: the editor opens with what objects use; rename, recolour, a new label and attribute saved; bad fields, labels and kinds in use, a stale version and a lost option refused", labels::edit_and_refusals),
        Trial::test("review: open (object, frames, video), reject with what to fix, thread pinned to frames, reopen, approve, undo; bad requests refused", review::workflow),
        Trial::test("datasets: CVAT for video export and import keep tracks, numbers, keyframes and every pixel", datasets::cvat_round_trip),
        Trial::test("datasets: YOLO detection and segmentation export and import (boxes exact, masks through reported polygons)", datasets::yolo_round_trip),
        Trial::test("datasets: Pascal VOC files per frame; MOT export and import keep tracks and boxes", datasets::voc_and_mot),
        Trial::test("datasets: a cancelled export stops with a typed error; a cancelled import writes nothing", datasets::cancelled),
        Trial::test("stills: a COCO image dataset imports as one image-sequence video (frames exact, masks on their frames, missing images reported, one undo step)", stills::coco),
        Trial::test("stills: a YOLO image dataset imports as one image-sequence video (splits in order, boxes on their frames)", stills::yolo),
        Trial::test("transfer: frame step, label map, only approved, polygons reported, bad options refused", transfer::export_options),
        Trial::test("tracking: boxes and masks interpolated between keyframes on read; keyframe edits move them; exports include them", tracking::interpolation),
        Trial::test("transfer: import reports unknown labels and missing videos, creates labels on request, a truncated file writes nothing", transfer::import_reports),
    ];
    trials.push(argus_testkit::skip_unless(
        Trial::test("team: sign in (bad address, wrong password, offline), publish with the video file, bring it to another machine, download on demand, edits sync both ways, kept session picked up, sign out", team::publish_open_sync_sign_out),
        team::unavailable().as_deref(),
        argus_testkit::Skip::Missing,
    ));
    trials.push(argus_testkit::skip_unless(
        Trial::test("team: members: a lead adds by e-mail (an account at once, else a mailed invitation), changes a role, removes, revokes; a member only sees; an invitee accepts in the app", team::members_and_invitations),
        team::unavailable().as_deref(),
        argus_testkit::Skip::Missing,
    ));
    trials.push(Trial::test("team: no keyring: keeping the session is refused with what to do, a kept session's loss is explained", team::without_a_keyring));
    for sam in [
        Trial::test(
            "locks: a frame is answered while another video opens and a SAM encode runs (held on a barrier); decoders read import's index cache",
            nothing_waits_for_long_work,
        ),
        Trial::test(
            "sam: click -> preview candidates -> accept -> undo (real test model)",
            sam_flow,
        ),
        Trial::test(
            "sam models: shipped list, load with model-progress events, typed failures",
            sam_models,
        ),
        Trial::test(
            "sam: a cached embedding of a picture of another size is encoded again, not used",
            sam_foreign_embedding,
        ),
        Trial::test("tracking: a disc propagated over 100 frames (mean IoU >= 0.85), one undo step, re-runs replace, backward stops at keyframes", || {
            tracking::propagation(tracking::Model::Test)
        }),
        Trial::test("tracking: a cancelled propagation keeps what it wrote and undoes in one step", tracking::cancelled_propagation),
        Trial::test("tracking: two discs that cross: the crossing frames are flagged, or stop the run", || tracking::crossing(tracking::Model::Test)),
    ] {
        trials.push(match &sam_missing {
            Some(why) => argus_testkit::unavailable(sam.name(), why, argus_testkit::Skip::Missing),
            None => sam,
        });
    }
    // The same tracking scenarios on MobileSAM when `make real-model` put it in the model cache.
    for (name, f) in [
        ("tracking (mobile-sam): a disc propagated over 100 frames (mean IoU >= 0.85)", tracking::propagation as fn(tracking::Model) -> TestResult),
        ("tracking (mobile-sam): two discs that cross: the crossing frames are flagged", tracking::crossing),
    ] {
        trials.push(match sam_missing.clone().map(|m| (m, argus_testkit::Skip::Missing)).or_else(|| tracking::mobile_sam_missing().map(|m| (m, argus_testkit::Skip::RealWeights))) {
            Some((why, skip)) => argus_testkit::unavailable(name, &why, skip),
            None => Trial::test(name, move || f(tracking::Model::MobileSam)),
        });
    }
    libtest_mimic::run(&args, trials).exit();
}

fn u64_of(v: &Value, key: &str) -> Result<u64, String> {
    v.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("no number '{key}' in {v}"))
}

/// A project with two labels and the generated video imported.
fn project_with_video(t: &TestWs) -> Result<(Value, Value), String> {
    let (project, video, _) = argus_testkit::project_with_video(t.dir.path(), |cmd, args| t.ok(cmd, args))?;
    Ok((project, video))
}

fn projects() -> TestResult {
    let t = TestWs::new()?;
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
    let t = TestWs::new()?;
    let events = t.listen(argus_workspace::dto::IMPORT_PROGRESS_EVENT);
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

fn render(t: &TestWs, q: &FrameQuery) -> Result<RgbaImage, String> {
    t.block_on(frames::render(&t.ws, q)).map_err(|e| e.message)
}

fn px(img: &RgbaImage, x: u32, y: u32) -> Result<[u8; 4], String> {
    img.pixel(x, y).ok_or_else(|| format!("no pixel {x},{y}"))
}

fn close(a: [u8; 4], b: [u8; 4], tol: u8) -> bool {
    a.iter().zip(b).all(|(p, q)| p.abs_diff(q) <= tol)
}

fn frames_and_history() -> TestResult {
    let t = TestWs::new()?;
    let (project, video) = project_with_video(&t)?;
    let project_id = ProjectId::from_str(str_of(&project, "id")?).map_err(|e| e.to_string())?;
    let video_id = VideoId::from_str(str_of(&video, "id")?).map_err(|e| e.to_string())?;
    let q = FrameQuery::new(video_id, 7);

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
    let store = t.ws.store();
    let label = {
        let schema =
            t.block_on(store.schema(project_id)).map_err(|e| e.to_string())?;
        schema.labels().first().ok_or("no label")?.id
    };
    let actor = t.block_on(store.actor(project_id, store.local_user()))
        .map_err(|e| e.to_string())?;
    let track = Track::new(video_id, label, None, Timestamp(0));
    let mask = rect_mask(0, 0, 20, 20)?;
    let shape = Shape::keyframe(
        track.id,
        7,
        Geometry::Mask(mask),
        ShapeSource::Manual,
        Timestamp(0),
    );
    t.block_on(store.apply(
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
        timeline["frame_count"] == json!(VIDEO_FRAMES)
            && timeline["frames"] == json!([{ "frame": 7, "shapes": 1, "keyframes": 1 }]),
        "timeline density: {timeline}"
    );
    let lanes = timeline["tracks"].as_array().ok_or("object lanes")?;
    ensure!(
        lanes.len() == 1
            && lanes[0]["track_id"] == json!(track.id.to_string())
            && lanes[0]["label_name"] == "box"
            && lanes[0]["colour"] == list[0]["colour"]
            && lanes[0]["spans"] == json!([{ "first": 7, "last": 7 }])
            && lanes[0]["keyframes"] == json!([7]),
        "one lane for the object: {timeline}"
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
    // Shapes on frames 8 and 9 (8 not a keyframe) join the run; 11 starts
    // another: the object is outside on 9, so nothing is interpolated on 10.
    for (frame, keyframe) in [(8, false), (9, true), (11, true)] {
        let shape = Shape {
            keyframe,
            outside: frame == 9,
            ..Shape::keyframe(track.id, frame, Geometry::Mask(rect_mask(0, 0, 4, 4)?), ShapeSource::Manual, Timestamp(0))
        };
        t.block_on(store.apply(&actor, argus_store::Command::SetShape { shape }))
            .map_err(|e| e.to_string())?;
    }
    let timeline = t.ok("timeline", json!({ "videoId": video_id.to_string() }))?;
    ensure!(
        timeline["tracks"][0]["spans"] == json!([{ "first": 7, "last": 9 }, { "first": 11, "last": 11 }])
            && timeline["tracks"][0]["keyframes"] == json!([7, 9, 11]),
        "runs and keyframes: {timeline}"
    );
    // Visible again on 9: frame 10 is interpolated and the runs join.
    let shape = Shape::keyframe(track.id, 9, Geometry::Mask(rect_mask(0, 0, 4, 4)?), ShapeSource::Manual, Timestamp(0));
    t.block_on(store.apply(&actor, argus_store::Command::SetShape { shape })).map_err(|e| e.to_string())?;
    let timeline = t.ok("timeline", json!({ "videoId": video_id.to_string() }))?;
    ensure!(timeline["tracks"][0]["spans"] == json!([{ "first": 7, "last": 11 }]), "interpolated frames fill the lane: {timeline}");
    Ok(())
}

fn typed_errors() -> TestResult {
    let t = TestWs::new()?;
    let (project, video) = project_with_video(&t)?;
    let pid = str_of(&project, "id")?;
    let vid = str_of(&video, "id")?;
    let label = project["labels"][0]["id"].as_str().ok_or("a label")?;
    let drawn = t.ok(
        "draw_shape",
        json!({ "videoId": vid, "frame": 1, "target": { "to": "new_track", "label_id": label },
                "shape": { "kind": "bbox", "bbox": { "x": 1.0, "y": 1.0, "width": 5.0, "height": 5.0 } } }),
    )?;
    let track = str_of(&drawn, "track_id")?.to_owned();
    let cases: Vec<(&str, Value, &str)> = vec![
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
        // Frame numbers and ranks from the page at the edge of their type.
        (
            "copy_to_next_frame",
            json!({ "videoId": vid, "frame": u64::MAX, "trackId": track }),
            "invalid",
        ),
        ("frame_shapes", json!({ "videoId": vid, "frame": u64::MAX }), "invalid"),
        ("sam_prefetch", json!({ "videoId": vid, "frame": u64::MAX, "start": true }), "invalid"),
        ("sam_candidate", json!({ "videoId": vid, "frame": u64::MAX, "rank": u32::MAX }), "sam"),
        ("pick_object", json!({ "videoId": vid, "frame": 0, "x": f64::MAX, "y": -1e300 }), "ok"),
    ];
    for (cmd, args, want) in cases {
        if want == "ok" {
            t.ok(cmd, args)?;
            continue;
        }
        let (kind, message) = t.err(cmd, args.clone())?;
        ensure!(
            kind == want,
            "{cmd} {args}: expected {want}, got {kind}: {message}"
        );
        ensure!(!message.is_empty(), "{cmd}: the message says something");
    }
    Ok(())
}

/// The IoU of a candidate's box (`{x, y, width, height}`) with the generated video's red box.
fn box_iou(b: &Value) -> Option<f64> {
    let (bx, by, bw, bh) = BOX;
    let (x, y, w, h) = (
        b["x"].as_f64()?,
        b["y"].as_f64()?,
        b["width"].as_f64()?,
        b["height"].as_f64()?,
    );
    let ix = (x + w).min(f64::from(bx + bw)) - x.max(f64::from(bx));
    let iy = (y + h).min(f64::from(by + bh)) - y.max(f64::from(by));
    let inter = ix.max(0.0) * iy.max(0.0);
    Some(inter / (w * h + f64::from(bw * bh) - inter))
}

fn sam_flow() -> TestResult {
    let t = TestWs::new()?;
    let (project, video) = project_with_video(&t)?;
    let manifest = argus_testkit::make_sam_models(&t.dir.path().join("models"))?;
    let info = t.ok("load_sam_model", json!({ "manifestPath": manifest }))?;
    ensure!(
        info["id"].as_str().is_some_and(|s| !s.is_empty()),
        "model id: {info}"
    );
    // Where SAM runs, and on the CPU why not on a GPU (the app's status area shows it).
    if info["provider"] == "CPU" {
        ensure!(
            info["provider_note"].as_str().is_some_and(|n| !n.is_empty()
                && (!cfg!(any(target_os = "linux", target_os = "windows")) || n.contains("CUDA"))),
            "the CPU fallback says why: {info}"
        );
    } else {
        ensure!(info["provider_note"].is_null(), "no note on a GPU: {info}");
    }
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
    // The click builds the best candidate's mask only; the others come
    // with their area and box once asked for.
    ensure!(
        candidates[0]["area"].as_u64().is_some_and(|a| a > 0) && candidates[0]["bbox"].is_object(),
        "the best candidate is built: {preview}"
    );
    ensure!(
        candidates[1..].iter().all(|c| c["area"].is_null()),
        "the others wait: {preview}"
    );
    let mut described = Vec::new();
    for c in candidates {
        let d = t.ok(
            "sam_candidate",
            json!({ "videoId": vid, "frame": 4, "rank": c["rank"] }),
        )?;
        ensure!(
            d["rank"] == c["rank"] && d["iou"] == c["iou"] && d["area"].as_u64().is_some(),
            "candidate described: {d}"
        );
        described.push(d);
    }
    let (kind, _) = t.err(
        "sam_candidate",
        json!({ "videoId": vid, "frame": 4, "rank": candidates.len() }),
    )?;
    ensure!(
        kind == "invalid",
        "a rank past the end is invalid, got {kind}"
    );
    // The candidate whose box matches the red box best must match it well.
    let best = described
        .iter()
        .filter_map(|c| Some((box_iou(&c["bbox"])?, c["rank"].as_u64()?)))
        .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
    ensure!(
        best.0 > 0.8,
        "a candidate covers the clicked box (box IoU {:.2}): {preview}",
        best.0
    );

    // The click started pre-encoding of the neighbours: frames 2..=6 become ready.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let cache = t.ok(
            "sam_prefetch",
            json!({ "videoId": vid, "frame": 4, "start": false }),
        )?;
        ensure!(
            cache["first"] == json!(2),
            "the window starts 2 frames back: {cache}"
        );
        let ready = cache["ready"].as_array().ok_or("ready")?;
        ensure!(
            ready.len() == 5 && ready[2] == json!(true),
            "the clicked frame is ready: {cache}"
        );
        if ready.iter().all(|r| r == &json!(true)) {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "neighbours never pre-encoded: {cache}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let on_disk = std::fs::read_dir(t.dir.path().join("data/embeddings"))
        .map(|d| d.count())
        .unwrap_or(0);
    ensure!(on_disk > 0, "embeddings are cached on disk too");
    let far = t.ok(
        "sam_prefetch",
        json!({ "videoId": vid, "frame": 15, "start": false }),
    )?;
    ensure!(
        far["ready"]
            .as_array()
            .is_some_and(|r| r.iter().all(|x| x == &json!(false))),
        "far frames are not encoded: {far}"
    );

    // The frame view moving elsewhere stops pre-encoding after the frame
    // being encoded (the page starts it again where the user settles).
    let video_id = VideoId::from_str(vid).map_err(|e| e.to_string())?;
    t.ok(
        "sam_prefetch",
        json!({ "videoId": vid, "frame": 15, "start": true }),
    )?;
    render(
        &t,
        &FrameQuery {
            ahead: true,
            ..FrameQuery::new(video_id, 0)
        },
    )?;
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let stopped = t.ok(
        "sam_prefetch",
        json!({ "videoId": vid, "frame": 15, "start": false }),
    )?;
    let encoded = stopped["ready"]
        .as_array()
        .map(|r| r.iter().filter(|x| *x == &json!(true)).count())
        .unwrap_or(5);
    ensure!(
        encoded < 5,
        "pre-encoding around frame 15 went on after the view moved: {stopped}"
    );

    // The preview is drawn into the frame.
    let q = FrameQuery::new(video_id, 4);
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
    // Its layer alone (what a click sends the page), over the frame without
    // it, is the frame with it: at full size and at half size.
    for scale in [1.0, 0.5] {
        let q = FrameQuery { scale, ..q.clone() };
        let layer_query = FrameQuery { preview: Some(best.1 as usize), layer: true, ..q.clone() };
        let layer = t.block_on(frames::render_preview_layer(&t.ws, &layer_query)).map_err(|e| e.message)?;
        let (without, with) = (render(&t, &q)?, render(&t, &FrameQuery { preview: Some(best.1 as usize), ..q.clone() })?);
        ensure!(
            (layer.width, layer.height) == (without.width(), without.height()),
            "the layer is for the size asked for: {}x{} vs {}x{}",
            layer.width,
            layer.height,
            without.width(),
            without.height()
        );
        let (lw, lh) = (layer.image.width(), layer.image.height());
        ensure!(
            lw * lh < layer.width * layer.height / 2 && layer.left + lw <= layer.width && layer.top + lh <= layer.height,
            "the layer is cropped to the mask, inside the frame: {lw}x{lh} at ({}, {})",
            layer.left,
            layer.top
        );
        let mut worst = 0u8;
        for y in 0..without.height() {
            for x in 0..without.width() {
                let under = px(&without, x, y)?;
                let inside = x >= layer.left && y >= layer.top && x < layer.left + lw && y < layer.top + lh;
                let [r, g, b, a] = if inside { px(&layer.image, x - layer.left, y - layer.top)? } else { [0; 4] };
                let over = |f: u8, c: u8| (f64::from(f) + (f64::from(c) - f64::from(f)) * f64::from(a) / 255.0).round() as u8;
                let blended = [over(under[0], r), over(under[1], g), over(under[2], b), 255];
                worst = worst.max(blended.iter().zip(px(&with, x, y)?).map(|(p, q)| p.abs_diff(q)).max().unwrap_or(0));
            }
        }
        ensure!(worst <= 2, "the layer over the frame is the frame with the preview (scale {scale}): {worst} apart");
    }

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
    let gone = t.block_on(frames::render_preview_layer(
        &t.ws,
        &FrameQuery { preview: Some(best.1 as usize), layer: true, ..FrameQuery::new(video_id, 4) },
    ));
    ensure!(
        gone.as_ref().is_err_and(|e| e.kind == argus_workspace::ErrorKind::NotFound),
        "no preview layer after accepting: {:?}",
        gone.map(|l| (l.width, l.height))
    );
    t.ok("undo", json!({ "projectId": str_of(&project, "id")? }))?;
    ensure!(
        t.ok("frame_shapes", json!({ "videoId": vid, "frame": 4 }))? == json!([]),
        "undo removes the SAM mask"
    );
    Ok(())
}

/// A cached embedding for a picture of another size (a damaged or foreign
/// disk-cache entry under this frame's key) would give masks of that size: it
/// is replaced by a fresh encode, and the mask lands on the clicked box.
fn sam_foreign_embedding() -> TestResult {
    let t = TestWs::new()?;
    let (_, video, path) = argus_testkit::project_with_video(t.dir.path(), |cmd, args| t.ok(cmd, args))?;
    let manifest_path = argus_testkit::make_sam_models(&t.dir.path().join("models"))?;
    let info = t.ok("load_sam_model", json!({ "manifestPath": manifest_path }))?;
    // The same model, encoding a 64x48 picture, stored under frame 4's key.
    let manifest = argus_sam::Manifest::from_path(&manifest_path).map_err(|e| e.to_string())?;
    let paths = argus_sam::download::ModelStore::new(t.dir.path().join("foreign"))
        .ensure(&manifest, &mut |_| true)
        .map_err(|e| e.to_string())?;
    let model = argus_sam::SamModel::load(&manifest, &paths.encoder, &paths.decoder, Default::default())
        .map_err(|e| e.to_string())?;
    let small = vec![90u8; 64 * 48 * 3];
    let view = argus_sam::ImageView::packed(&small, 64, 48, argus_sam::PixelFormat::Rgb8)
        .map_err(|e| e.to_string())?;
    let foreign = model.encode(&view).map_err(|e| e.to_string())?;
    let key = argus_sam::cache::EmbeddingKey {
        video_hash: argus_media::hash_file(&path).map_err(|e| e.to_string())?,
        frame: 4,
        model_id: str_of(&info, "id")?.to_owned(),
    };
    let disk = argus_sam::cache::DiskCache::new(t.dir.path().join("data/embeddings"));
    disk.store(&key, &foreign).map_err(|e| e.to_string())?;

    let (bx, by, bw, bh) = BOX;
    let click = json!({ "points": [{ "x": f64::from(bx + bw / 2), "y": f64::from(by + bh / 2), "positive": true }] });
    let preview = t.ok(
        "sam_predict",
        json!({ "videoId": str_of(&video, "id")?, "frame": 4, "prompt": click }),
    )?;
    let box_iou = box_iou(&preview["candidates"][0]["bbox"]).ok_or("the best candidate has a box")?;
    ensure!(
        box_iou > 0.8,
        "the mask covers the clicked box in the video's frame (box IoU {box_iou:.2}): {preview}"
    );
    let replaced = disk
        .load(&key)
        .map_err(|e| e.to_string())?
        .ok_or("the fresh embedding is cached on disk")?;
    ensure!(
        (replaced.transform().frame_w, replaced.transform().frame_h)
            == (u64_of(&video, "width")? as u32, u64_of(&video, "height")? as u32),
        "the disk entry now holds the video's size: {:?}",
        replaced.transform()
    );
    Ok(())
}

fn shapes_on(t: &TestWs, vid: &str, frame: u64) -> Result<Vec<Value>, String> {
    Ok(
        t.ok("frame_shapes", json!({ "videoId": vid, "frame": frame }))?
            .as_array()
            .cloned()
            .unwrap_or_default(),
    )
}

fn undo_depth(edited: &Value) -> u64 {
    edited["history"]["undo"].as_u64().unwrap_or(u64::MAX)
}

fn square(x: f64, y: f64, side: f64) -> Value {
    json!([{ "x": x, "y": y }, { "x": x + side, "y": y }, { "x": x + side, "y": y + side }, { "x": x, "y": y + side }])
}

fn edits() -> TestResult {
    let t = TestWs::new()?;
    let (project, video) = project_with_video(&t)?;
    let pid = str_of(&project, "id")?;
    let vid = str_of(&video, "id")?;
    let video_id = VideoId::from_str(vid).map_err(|e| e.to_string())?;
    let label0 = project["labels"][0]["id"].as_str().ok_or("label 0")?;
    let label1 = project["labels"][1]["id"].as_str().ok_or("label 1")?;
    let new_track = |label: &str| json!({ "to": "new_track", "label_id": label });
    let plain = render(&t, &FrameQuery::new(video_id, 3))?;

    // A polygon on a new track: stored, drawn into the frame, one undo step.
    let poly = t.ok(
        "draw_shape",
        json!({ "videoId": vid, "frame": 3, "target": new_track(label0),
        "shape": { "kind": "polygon", "exterior": square(100.0, 60.0, 40.0) } }),
    )?;
    ensure!(
        poly["shape"]["kind"] == "polygon" && undo_depth(&poly) == 1,
        "polygon stored: {poly}"
    );
    let track = poly["track_id"].as_str().ok_or("track id")?.to_owned();
    let drawn = render(&t, &FrameQuery::new(video_id, 3))?;
    ensure!(
        !close(px(&drawn, 120, 80)?, px(&plain, 120, 80)?, 8),
        "the polygon is filled in the frame"
    );
    ensure!(
        close(px(&drawn, 10, 10)?, px(&plain, 10, 10)?, 2),
        "pixels away from it are untouched"
    );
    let tid = TrackId::from_str(&track).map_err(|e| e.to_string())?;
    let hidden = render(
        &t,
        &FrameQuery {
            hidden: vec![tid],
            ..FrameQuery::new(video_id, 3)
        },
    )?;
    ensure!(
        close(px(&hidden, 120, 80)?, px(&plain, 120, 80)?, 2),
        "a hidden object is not drawn"
    );
    let pick = |x: f64, y: f64| {
        t.ok(
            "pick_object",
            json!({ "videoId": vid, "frame": 3, "x": x, "y": y }),
        )
    };
    ensure!(
        pick(120.0, 80.0)? == json!(track),
        "picking inside the polygon finds it"
    );

    // A hole: the middle is no longer part of the object.
    let holed = t.ok(
        "cut_hole",
        json!({ "videoId": vid, "frame": 3, "trackId": track, "ring": square(110.0, 70.0, 20.0) }),
    )?;
    ensure!(
        holed["shape"]["kind"] == "polygon" && undo_depth(&holed) == 2,
        "hole cut: {holed}"
    );
    ensure!(
        pick(120.0, 80.0)? == Value::Null,
        "the hole is empty: {}",
        pick(120.0, 80.0)?
    );
    ensure!(
        pick(104.0, 64.0)? == json!(track),
        "the ring around the hole is still the object"
    );
    let hole_px = render(&t, &FrameQuery::new(video_id, 3))?;
    ensure!(
        close(px(&hole_px, 120, 80)?, px(&plain, 120, 80)?, 2),
        "the hole shows the frame"
    );

    // A box, points and a polyline on new tracks; degenerate ones are refused.
    let bbox = t.ok("draw_shape", json!({ "videoId": vid, "frame": 3, "target": new_track(label1),
        "shape": { "kind": "bbox", "bbox": { "x": 5.0, "y": 5.0, "width": 20.0, "height": 10.0 } } }))?;
    ensure!(
        bbox["shape"]["kind"] == "bbox" && bbox["shape"]["bbox"]["width"] == json!(20.0),
        "box: {bbox}"
    );
    let pts = t.ok("draw_shape", json!({ "videoId": vid, "frame": 3, "target": new_track(label0),
        "shape": { "kind": "points", "points": [{ "x": 150.0, "y": 10.0 }, { "x": 150.0, "y": 20.0 }] } }))?;
    ensure!(pts["shape"]["kind"] == "points", "points: {pts}");
    let line = t.ok("draw_shape", json!({ "videoId": vid, "frame": 3, "target": new_track(label0),
        "shape": { "kind": "polyline", "points": [{ "x": 10.0, "y": 110.0 }, { "x": 60.0, "y": 110.0 }] } }))?;
    ensure!(
        line["shape"]["kind"] == "polyline" && undo_depth(&line) == 5,
        "polyline: {line}"
    );
    ensure!(
        pick(30.0, 112.0)? == line["track_id"],
        "a click near the line picks it"
    );
    ensure!(
        pick(150.0, 21.0)? == pts["track_id"],
        "a click near a keypoint picks it"
    );
    for bad in [
        json!({ "kind": "polyline", "points": [{ "x": 1.0, "y": 1.0 }] }),
        json!({ "kind": "polygon", "exterior": [{ "x": 1.0, "y": 1.0 }, { "x": 2.0, "y": 2.0 }] }),
        json!({ "kind": "points", "points": [] }),
    ] {
        let (kind, message) = t.err(
            "draw_shape",
            json!({ "videoId": vid, "frame": 3, "target": new_track(label0), "shape": bad }),
        )?;
        ensure!(
            kind == "invalid" && !message.is_empty(),
            "{bad} refused as invalid, got {kind}: {message}"
        );
    }
    ensure!(shapes_on(&t, vid, 3)?.len() == 4, "four objects on frame 3");

    // Brush: a new mask, painted onto, then erased away entirely.
    let stroke = |erase: bool| json!({ "points": [{ "x": 60.0, "y": 90.0 }, { "x": 80.0, "y": 90.0 }], "radius": 4.0, "erase": erase });
    let painted = t.ok(
        "brush_stroke",
        json!({ "videoId": vid, "frame": 3, "target": new_track(label1), "stroke": stroke(false) }),
    )?;
    let area = painted["shape"]["area"].as_u64().ok_or("area")?;
    ensure!(
        painted["shape"]["kind"] == "mask" && (150..=250).contains(&area),
        "a 20x8 capsule: {painted}"
    );
    let brush_track = json!({ "to": "track", "track_id": painted["track_id"] });
    let more = t.ok(
        "brush_stroke",
        json!({ "videoId": vid, "frame": 3, "target": brush_track,
        "stroke": { "points": [{ "x": 70.0, "y": 100.0 }], "radius": 3.0 } }),
    )?;
    ensure!(
        more["shape"]["area"].as_u64().is_some_and(|a| a > area),
        "painting adds: {more}"
    );
    let gone = t.ok(
        "brush_stroke",
        json!({ "videoId": vid, "frame": 3, "target": brush_track,
        "stroke": { "points": [{ "x": 70.0, "y": 95.0 }], "radius": 30.0, "erase": true } }),
    )?;
    ensure!(
        gone["shape"] == Value::Null,
        "erasing everything deletes the shape: {gone}"
    );
    ensure!(
        shapes_on(&t, vid, 3)?.len() == 4,
        "the brushed object is gone from frame 3"
    );
    let (kind, _) = t.err(
        "brush_stroke",
        json!({ "videoId": vid, "frame": 3, "target": new_track(label1), "stroke": stroke(true) }),
    )?;
    ensure!(kind == "invalid", "erasing nothing is refused, got {kind}");
    // Painting onto the polygon turns it into a mask that keeps its hole.
    let merged = t.ok(
        "brush_stroke",
        json!({ "videoId": vid, "frame": 3, "target": { "to": "track", "track_id": track },
        "stroke": { "points": [{ "x": 145.0, "y": 80.0 }], "radius": 3.0 } }),
    )?;
    ensure!(
        merged["shape"]["kind"] == "mask"
            && merged["shape"]["area"]
                .as_u64()
                .is_some_and(|a| a > 1200 && a < 1300),
        "1600 - 400 hole + a dab outside: {merged}"
    );
    ensure!(
        pick(120.0, 80.0)? == Value::Null && pick(145.0, 80.0)? == json!(track),
        "hole kept, dab added"
    );

    // Copy to the next frame, relabel, delete the copy, delete the object.
    let copied = t.ok(
        "copy_to_next_frame",
        json!({ "videoId": vid, "frame": 3, "trackId": track }),
    )?;
    ensure!(
        copied["shape"]["frame"] == json!(4) && copied["shape"]["kind"] == "mask",
        "copied: {copied}"
    );
    let f3 = shapes_on(&t, vid, 3)?;
    let f4 = shapes_on(&t, vid, 4)?;
    let area3 = f3
        .iter()
        .find(|s| s["track_id"] == json!(track))
        .map(|s| s["area"].clone());
    ensure!(
        f4.len() == 1 && Some(f4[0]["area"].clone()) == area3,
        "frame 4 has the same mask: {f4:?}"
    );
    let last = VIDEO_FRAMES - 1;
    t.ok(
        "copy_to_next_frame",
        json!({ "videoId": vid, "frame": 4, "trackId": track }),
    )?;
    let (kind, _) = t.err(
        "copy_to_next_frame",
        json!({ "videoId": vid, "frame": last, "trackId": track }),
    )?;
    ensure!(
        kind == "invalid",
        "nothing after the last frame, got {kind}"
    );
    let relabelled = t.ok(
        "change_label",
        json!({ "videoId": vid, "frame": 3, "trackId": track, "labelId": label1 }),
    )?;
    ensure!(
        relabelled["shape"]["label_id"] == json!(label1),
        "relabelled: {relabelled}"
    );
    let deleted = t.ok(
        "delete_shape",
        json!({ "videoId": vid, "frame": 4, "trackId": track }),
    )?;
    // Frame 4 sits between the keyframes on 3 and 5 now: it shows the
    // shape interpolated between them, which is not stored.
    let between = shapes_on(&t, vid, 4)?;
    ensure!(
        deleted["shape"] == Value::Null && between.len() == 1 && between[0]["source"] == "interpolated",
        "copy deleted, the gap interpolated: {deleted} {between:?}"
    );
    ensure!(shapes_on(&t, vid, 5)?.len() == 1, "frame 5 keeps its copy");
    let (kind, message) = t.err(
        "delete_shape",
        json!({ "videoId": vid, "frame": 4, "trackId": track }),
    )?;
    ensure!(kind == "invalid" && message.contains("interpolated"), "deleting twice, got {kind}: {message}");
    let depth = t.ok("history", json!({ "projectId": pid }))?["undo"]
        .as_u64()
        .ok_or("undo depth")?;
    let removed = t.ok("delete_track", json!({ "videoId": vid, "trackId": track }))?;
    ensure!(
        undo_depth(&removed) == depth + 1,
        "one undo step for the whole object"
    );
    ensure!(
        shapes_on(&t, vid, 3)?.len() == 3 && shapes_on(&t, vid, 5)?.is_empty(),
        "the object is gone from every frame"
    );
    t.ok("undo", json!({ "projectId": pid }))?;
    ensure!(
        shapes_on(&t, vid, 3)?.len() == 4 && shapes_on(&t, vid, 5)?.len() == 1,
        "undo brings it back everywhere"
    );
    let (kind, _) = t.err(
        "change_label",
        json!({ "videoId": vid, "frame": 3, "trackId": track, "labelId": "nope" }),
    )?;
    ensure!(kind == "invalid", "a bad label id, got {kind}");
    Ok(())
}

fn sam_models() -> TestResult {
    let t = TestWs::new()?;
    let shipped = t.ok("list_sam_models", json!({}))?;
    let shipped = shipped.as_array().ok_or("a list")?;
    ensure!(
        shipped.len() >= 8,
        "the shipped manifests are listed: {shipped:?}"
    );
    ensure!(
        shipped.iter().all(|m| m["downloaded"] == false),
        "none downloaded in a new data folder"
    );
    ensure!(
        shipped.iter().any(|m| m["id"] == "sam-vit-b"),
        "SAM ViT-B is one: {shipped:?}"
    );

    let events = t.listen(argus_workspace::dto::MODEL_PROGRESS_EVENT);
    let manifest = argus_testkit::make_sam_models(&t.dir.path().join("models"))?;
    let info = t.ok("load_sam_model", json!({ "manifestPath": manifest }))?;
    let seen = events.lock().clone();
    let stages: Vec<&str> = seen.iter().filter_map(|e| e["stage"].as_str()).collect();
    ensure!(
        stages.first() == Some(&"downloading"),
        "the files are fetched with progress: {stages:?}"
    );
    ensure!(
        stages.ends_with(&["loading", "ready"]),
        "then loaded: {stages:?}"
    );
    let files: std::collections::BTreeSet<&str> =
        seen.iter().filter_map(|e| e["file"].as_str()).collect();
    ensure!(
        files.len() == 2,
        "encoder and decoder both reported: {files:?}"
    );
    for e in seen.iter().filter(|e| e["stage"] == "downloading") {
        if let (Some(d), Some(total)) = (e["downloaded"].as_u64(), e["total"].as_u64()) {
            ensure!(d <= total, "progress never passes the total: {e}");
        }
    }
    ensure!(
        seen.last().is_some_and(|e| e["model"]["id"] == info["id"]),
        "ready names the model: {seen:?}"
    );

    // Loading again verifies what is there: no download.
    events.lock().clear();
    t.ok("load_sam_model", json!({ "manifestPath": manifest }))?;
    let stages: Vec<String> = events
        .lock()
        .iter()
        .filter_map(|e| e["stage"].as_str().map(str::to_owned))
        .collect();
    ensure!(
        stages == ["loading", "ready"],
        "cached model, no download: {stages:?}"
    );

    // A broken manifest and an unknown id fail with a reason, also as an event.
    events.lock().clear();
    let (kind, message) = t.err("load_sam_model", json!({ "manifestPath": "no-such-model" }))?;
    ensure!(
        kind == "sam" || kind == "not_found" || kind == "invalid",
        "unknown model, got {kind}: {message}"
    );
    ensure!(
        events.lock().last().is_some_and(|e| e["stage"] == "failed"),
        "failure reported: {:?}",
        events.lock()
    );
    Ok(())
}

fn attributes() -> TestResult {
    use argus_core::model::{AttributeKind, AttributeSpec, Colour, Label};
    let t = TestWs::new()?;
    let label = Label::new("car", Colour::palette(0))
        .with_attribute(AttributeSpec {
            name: "parked".into(),
            kind: AttributeKind::Bool { default: false },
            per_frame: false,
        })
        .with_attribute(AttributeSpec {
            name: "light".into(),
            kind: AttributeKind::Enum {
                options: vec!["off".into(), "on".into()],
                default: "off".into(),
            },
            per_frame: true,
        });
    let (project, _) =
        t.block_on(t.ws.store().create_project("attrs", vec![label]))
            .map_err(|e| e.to_string())?;
    let pid = project.id.to_string();
    let path = argus_testkit::make_video(t.dir.path())?;
    let video = t.ok("import_video", json!({ "projectId": pid, "path": path }))?;
    let vid = str_of(&video, "id")?;
    let detail = t.ok("open_project", json!({ "projectId": pid }))?;
    let info = &detail["project"]["labels"][0];
    ensure!(
        info["attributes"].as_array().map(Vec::len) == Some(2),
        "the label lists its attributes: {info}"
    );
    ensure!(
        info["attributes"][1]["options"] == json!(["off", "on"])
            && info["attributes"][1]["per_frame"] == true,
        "{info}"
    );
    let label_id = info["id"].as_str().ok_or("label id")?;
    let box_at = |frame: u64| {
        json!({ "videoId": vid, "frame": frame, "target": { "to": "new_track", "label_id": label_id },
        "shape": { "kind": "bbox", "bbox": { "x": 1.0, "y": 1.0, "width": 9.0, "height": 9.0 } } })
    };
    let drawn = t.ok("draw_shape", box_at(2))?;
    let track = drawn["track_id"].as_str().ok_or("track")?.to_owned();
    ensure!(
        drawn["shape"]["attributes"] == json!({ "parked": false, "light": "off" }),
        "defaults: {drawn}"
    );
    t.ok(
        "copy_to_next_frame",
        json!({ "videoId": vid, "frame": 2, "trackId": track }),
    )?;

    let set = |frame: u64, name: &str, value: Value| {
        t.call("set_attribute", json!({ "videoId": vid, "frame": frame, "trackId": track, "name": name, "value": value }))
    };
    let parked = set(2, "parked", json!(true)).map_err(|e| e.to_string())?;
    ensure!(
        parked["shape"]["attributes"]["parked"] == true,
        "set on the object: {parked}"
    );
    let lit = set(3, "light", json!("on")).map_err(|e| e.to_string())?;
    ensure!(
        lit["shape"]["attributes"] == json!({ "parked": true, "light": "on" }),
        "per frame on frame 3: {lit}"
    );
    let f2 = t.ok("frame_shapes", json!({ "videoId": vid, "frame": 2 }))?;
    ensure!(
        f2[0]["attributes"] == json!({ "parked": true, "light": "off" }),
        "object-wide on every frame, per-frame only on 3: {f2}"
    );
    for (frame, name, value, want) in [
        (2, "light", json!("blinking"), "invalid"),
        (2, "parked", json!("yes"), "invalid"),
        (2, "colour", json!(true), "invalid"),
        (9, "light", json!("on"), "not_found"),
    ] {
        let e = set(frame, name, value.clone())
            .err()
            .ok_or_else(|| format!("{name}={value} accepted"))?;
        ensure!(e["kind"] == want, "{name}={value} on frame {frame}: {e}");
    }
    ensure!(
        lit["history"]["undo"].as_u64() == Some(4),
        "one undo step each: {lit}"
    );
    t.ok("undo", json!({ "projectId": pid }))?;
    let f3 = t.ok("frame_shapes", json!({ "videoId": vid, "frame": 3 }))?;
    ensure!(
        f3[0]["attributes"]["light"] == "off",
        "undo restores the frame's value: {f3}"
    );
    Ok(())
}


/// A gate the hooks wait at until the test opens it.
#[derive(Default)]
struct Gate {
    open: parking_lot::Mutex<bool>,
    opened: parking_lot::Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock();
        while !*open {
            self.opened.wait(&mut open);
        }
    }

    fn open(&self) {
        *self.open.lock() = true;
        self.opened.notify_all();
    }
}

/// Opens the gate when dropped, so a failing test never leaves threads waiting.
struct OpenOnDrop(std::sync::Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

fn nothing_waits_for_long_work() -> TestResult {
    use std::sync::Arc;
    use std::time::Duration;
    let t = TestWs::new()?;
    let (project, video) = project_with_video(&t)?;
    let second = argus_testkit::make_video_of(t.dir.path(), VIDEO_FRAMES + 4)?;
    let other = t.ok(
        "import_video",
        json!({ "projectId": str_of(&project, "id")?, "path": second }),
    )?;
    let manifest = argus_testkit::make_sam_models(&t.dir.path().join("models"))?;
    t.ok("load_sam_model", json!({ "manifestPath": manifest }))?;
    let a = VideoId::from_str(str_of(&video, "id")?).map_err(|e| e.to_string())?;
    let b = VideoId::from_str(str_of(&other, "id")?).map_err(|e| e.to_string())?;
    let video_a = t.block_on(t.ws.store().video(a)).map_err(|e| e.to_string())?;

    // The decoders read the index import wrote: no second hash and demux.
    let origin = t.ws.videos().recipe(&video_a).map_err(|e| e.message)?.origin();
    ensure!(
        origin == argus_media::IndexOrigin::Cache,
        "the first frame's decoder indexed the file again ({origin:?})"
    );
    render(&t, &FrameQuery::new(a, 0))?;

    // Hold B's opening and an encode of A's frame 5 on the gate.
    let gate = Arc::new(Gate::default());
    let _release = OpenOnDrop(gate.clone());
    let (entered, held) = std::sync::mpsc::channel::<&'static str>();
    let (g, tx) = (gate.clone(), std::sync::Mutex::new(entered.clone()));
    t.ws.hooks().on_opening(Some(Arc::new(move |v, _| {
        if v == b {
            let _ = tx.lock().map(|tx| tx.send("opening"));
            g.wait();
        }
    })));
    let (g, tx) = (gate.clone(), std::sync::Mutex::new(entered));
    t.ws.hooks().on_encoding(Some(Arc::new(move |v, f| {
        if v == a && f == Some(5) {
            let _ = tx.lock().map(|tx| tx.send("encoding"));
            g.wait();
        }
    })));
    let ws = t.ws.clone();
    let opening = t.rt.spawn(async move {
        frames::render(&ws, &FrameQuery::new(b, 0)).await.map(|img| img.width())
    });
    let ws = t.ws.clone();
    let (bx, by, bw, bh) = BOX;
    let prompt: argus_workspace::dto::SamPrompt = serde_json::from_value(
        json!({ "points": [{ "x": f64::from(bx + bw / 2), "y": f64::from(by + bh / 2), "positive": true }] }),
    )
    .map_err(|e| e.to_string())?;
    let click = t.rt.spawn(async move { ws.sam_predict(&a.to_string(), 5, prompt).await });
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(
            held.recv_timeout(Duration::from_secs(120))
                .map_err(|_| format!("the long work never started (saw {seen:?})"))?,
        );
    }
    seen.sort_unstable();
    ensure!(seen == ["encoding", "opening"], "both held: {seen:?}");
    // Starting the pre-encoder for B waits for B to open, on its own task.
    let ws = t.ws.clone();
    let prefetch = t.rt.spawn(async move { ws.sam_prefetch(&b.to_string(), 0, true).await });

    // Meanwhile the frame view, the object list and the SAM indicator answer.
    let ws = t.ws.clone();
    let view = t.rt.spawn(async move {
        let ahead = frames::render(&ws, &FrameQuery { ahead: true, ..FrameQuery::new(a, 9) }).await?;
        let shared = frames::render(&ws, &FrameQuery::new(a, 10)).await?;
        let shapes = ws.frame_shapes(&a.to_string(), 9).await?;
        let cache = ws.sam_prefetch(&a.to_string(), 9, false).await?;
        ws.sam().view_moved(a, 9);
        Ok::<_, argus_workspace::CommandError>((ahead.width(), shared.width(), shapes.len(), cache.first, ws.compositor_description()))
    });
    let answered = t.block_on(async { tokio::time::timeout(Duration::from_secs(120), view).await });
    let still_held = !opening.is_finished() && !click.is_finished();
    gate.open();
    let (ahead_w, shared_w, shapes, first, _) = answered
        .map_err(|_| "a frame request waited for a video's opening or a SAM encode".to_string())?
        .map_err(|e| e.to_string())?
        .map_err(|e| e.message)?;
    ensure!(still_held, "the long work was still held while the frame was answered");
    ensure!(
        ahead_w == VIDEO_W && shared_w == VIDEO_W && shapes == 0 && first == 7,
        "the answers are right: {ahead_w} {shared_w} {shapes} {first}"
    );
    t.ws.hooks().on_opening(None);
    t.ws.hooks().on_encoding(None);
    let width = t
        .block_on(opening)
        .map_err(|e| e.to_string())?
        .map_err(|e| e.message)?;
    ensure!(width == VIDEO_W, "B opened once released: {width}");
    let preview = t
        .block_on(click)
        .map_err(|e| e.to_string())?
        .map_err(|e| e.message)?;
    ensure!(!preview.candidates.is_empty(), "the click finished: {preview:?}");
    t.block_on(prefetch)
        .map_err(|e| e.to_string())?
        .map_err(|e| e.message)?;
    Ok(())
}
