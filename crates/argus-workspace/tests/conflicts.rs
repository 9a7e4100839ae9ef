//! Sync conflicts as the user settles them: a box edited here and on
//! another device before they synced (the other device's change arrives as
//! a pull would bring it), listed with which object, frame and side; the
//! lost version put back as a new edit (one undo step, synced), or the
//! current one kept; what is refused.

use argus_core::hlc::HlcClock;
use argus_core::id::{ChangeId, DeviceId, ProjectId, ShapeId, TrackId};
use argus_core::model::{Change, ChangeOp, Entity, Geometry};
use argus_testkit::{ensure, str_of};
use serde_json::{Value, json};

use crate::util::{TestResult, TestWs};

fn draw(t: &TestWs, video: &str, frame: u64, target: Value, x: f64) -> Result<Value, String> {
    t.ok(
        "draw_shape",
        json!({ "videoId": video, "frame": frame, "target": target,
                "shape": { "kind": "bbox", "bbox": { "x": x, "y": 5.0, "width": 20.0, "height": 10.0 } } }),
    )
}

fn box_x(t: &TestWs, video: &str, frame: u64) -> Result<f64, String> {
    let shapes = t.ok("frame_shapes", json!({ "videoId": video, "frame": frame }))?;
    shapes[0]["bbox"]["x"].as_f64().ok_or(format!("no box on frame {frame}: {shapes}"))
}

pub fn list_and_settle() -> TestResult {
    let t = TestWs::new()?;
    let (project, video, _) = argus_testkit::project_with_video(t.dir.path(), |cmd, args| t.ok(cmd, args))?;
    let pid = str_of(&project, "id")?.to_owned();
    let vid = str_of(&video, "id")?.to_owned();
    let label = project["labels"][0]["id"].as_str().ok_or("label 0")?;
    let drawn = draw(&t, &vid, 3, json!({ "to": "new_track", "label_id": label }), 5.0)?;
    let track = str_of(&drawn, "track_id")?.to_owned();
    draw(&t, &vid, 5, json!({ "to": "track", "track_id": track }), 6.0)?;
    ensure!(t.ok("conflicts", json!({ "projectId": pid }))? == json!([]), "no conflicts yet");

    // Another device moved both boxes without having seen ours: on frame 3
    // later than ours (its version wins), on frame 5 earlier (ours stays).
    let store = t.ws.store();
    let track_id: TrackId = track.parse().map_err(|_| "track id")?;
    let project_id: ProjectId = pid.parse().map_err(|_| "project id")?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?.as_millis() as u64;
    let mut changes = Vec::new();
    for (frame, at) in [(3u64, now + 60_000), (5, now - 3_600_000)] {
        let mut shape = t.block_on(store.shape(ShapeId::for_track_frame(track_id, frame))).map_err(|e| e.to_string())?.ok_or("the drawn box")?;
        if let Geometry::BBox(b) = &mut shape.geometry {
            b.x = 40.0;
        }
        // A clock of its own each (one clock never goes back to the earlier time).
        let hlc = HlcClock::new(DeviceId::new()).tick(at).map_err(|e| e.to_string())?;
        changes.push(Change { id: ChangeId::new(), hlc, base: None, project_id, op: ChangeOp::Upsert { entity: Entity::Shape(shape) } });
    }
    let pulled = t.block_on(store.apply_remote(project_id, &changes, None)).map_err(|e| e.to_string())?;
    ensure!(pulled.conflicts == 2, "two conflicts recorded: {pulled:?}");
    ensure!(box_x(&t, &vid, 3)? == 40.0 && box_x(&t, &vid, 5)? == 6.0, "the newer version of each is current");

    let listed = t.ok("conflicts", json!({ "projectId": pid }))?;
    ensure!(listed.as_array().map(Vec::len) == Some(2), "{listed}");
    let on = |frame: u64| listed.as_array().and_then(|cs| cs.iter().find(|c| c["frame"] == json!(frame)).cloned()).ok_or(format!("frame {frame}: {listed}"));
    let (c3, c5) = (on(3)?, on(5)?);
    ensure!(c3["object"] == "box #1" && c3["track_id"] == json!(track) && c3["video_id"] == json!(vid), "{c3}");
    ensure!(c3["current"]["here"] == false && c3["other"]["here"] == true && c3["current"]["what"] == "a bbox", "frame 3: theirs is current, ours kept: {c3}");
    ensure!(c3["current"]["at_ms"].as_u64() == Some(now + 60_000), "when theirs was made: {c3}");
    ensure!(c5["current"]["here"] == true && c5["other"]["here"] == false, "frame 5: ours is current: {c5}");
    ensure!(t.ok("sync_status", json!({ "projectId": pid, "nudge": false }))?["conflicts"] == 2, "the badge counts them");

    // Ours put back on frame 3: a new edit, one undo step, queued for sync.
    let undo = t.ok("history", json!({ "projectId": pid }))?["undo"].as_u64().ok_or("undo depth")?;
    let pending = t.ok("sync_status", json!({ "projectId": pid, "nudge": false }))?["pending"].as_u64().ok_or("pending")?;
    let settled = t.ok("resolve_conflict", json!({ "projectId": pid, "conflictId": c3["id"], "keep": "other" }))?;
    ensure!(settled["conflicts"].as_array().map(Vec::len) == Some(1) && settled["conflicts"][0]["id"] == c5["id"], "{settled}");
    ensure!(settled["history"]["undo"] == json!(undo + 1), "one undo step: {settled}");
    ensure!(box_x(&t, &vid, 3)? == 5.0, "our box is back on frame 3");
    let status = t.ok("sync_status", json!({ "projectId": pid, "nudge": false }))?;
    ensure!(status["pending"].as_u64() > Some(pending) && status["conflicts"] == 1, "it goes up with the next sync: {status}");
    t.ok("undo", json!({ "projectId": pid }))?;
    ensure!(box_x(&t, &vid, 3)? == 40.0, "undo brings theirs back");
    t.ok("redo", json!({ "projectId": pid }))?;

    // Ours kept on frame 5: nothing changes but the list.
    let settled = t.ok("resolve_conflict", json!({ "projectId": pid, "conflictId": c5["id"], "keep": "current" }))?;
    ensure!(settled["conflicts"] == json!([]) && settled["history"]["undo"] == json!(undo + 1), "{settled}");
    ensure!(box_x(&t, &vid, 5)? == 6.0, "ours stays on frame 5");

    // Refusals: settled already, a malformed id.
    let (kind, msg) = t.err("resolve_conflict", json!({ "projectId": pid, "conflictId": c5["id"], "keep": "current" }))?;
    ensure!(kind == "not_found" && msg.contains("settled already"), "{kind}: {msg}");
    let (kind, _) = t.err("resolve_conflict", json!({ "projectId": pid, "conflictId": "zzz", "keep": "current" }))?;
    ensure!(kind == "invalid", "a malformed id");
    Ok(())
}
