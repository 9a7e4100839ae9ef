//! Tracking: shapes interpolated between keyframes (derived on read) and
//! masks propagated by SAM, on generated videos of moving discs whose every
//! pixel is known ([`argus_testkit::MovingDisc`]).

use argus_core::Rle;
use argus_core::geometry::BBox;
use argus_core::id::{TrackId, VideoId};
use argus_core::model::{Geometry, Shape, ShapeSource, Timestamp, Track, Video};
use argus_store::Command;
use argus_testkit::{MovingDisc, ensure, str_of};
use argus_workspace::dto::{PropagateDirection, PropagateOptions, PropagateSummary, TrackProgress};
use argus_workspace::export::Cancel;
use serde_json::json;

use crate::util::{TestResult, TestWs};

const W: u32 = 320;
const H: u32 = 240;

/// A disc that moves right 1.6 px a frame, a little down, and grows, on a
/// 320x240 video (the test model sees 5-pixel cells at this size, so the
/// disc is large enough for its edge cells not to dominate the IoU).
const MOVER: MovingDisc = MovingDisc { x: 60.0, y: 110.0, vx: 1.6, vy: 0.25, r: 40.0, vr: 0.06, colour: [220, 40, 40] };

fn truth(disc: &MovingDisc, frame: u64) -> Result<Rle, String> {
    Rle::from_bitmap_row_major(H, W, &disc.bitmap(frame, W, H)).map_err(|e| e.to_string())
}

/// A project with one label and a video of `discs`, the workspace's Video
/// and a track of the first label (not stored yet).
fn discs_project(t: &TestWs, name: &str, frames: u64, discs: &[MovingDisc]) -> Result<(Video, Track), String> {
    let project = t.ok("create_project", json!({ "name": name, "labels": ["ball", "other"] }))?;
    let path = argus_testkit::make_discs_video(t.dir.path(), name, W, H, frames, discs)?;
    let video = t.ok("import_video", json!({ "projectId": str_of(&project, "id")?, "path": path }))?;
    let video_id: VideoId = str_of(&video, "id")?.parse().map_err(|e| format!("{e:?}"))?;
    let store = t.ws.store();
    let video = t.block_on(store.video(video_id)).map_err(|e| e.to_string())?;
    let schema = t.block_on(store.schema(video.project_id)).map_err(|e| e.to_string())?;
    let label = schema.label_by_name("ball").ok_or("no label ball")?;
    Ok((video.clone(), Track::new(video.id, label.id, None, Timestamp(0))))
}

fn keyframe(track: TrackId, frame: u64, geometry: Geometry) -> Shape {
    Shape::keyframe(track, frame, geometry, ShapeSource::Manual, Timestamp(0))
}

fn apply(t: &TestWs, video: &Video, command: Command) -> Result<(), String> {
    let store = t.ws.store();
    let actor = t.block_on(store.actor(video.project_id, store.local_user())).map_err(|e| e.to_string())?;
    t.block_on(store.apply_in(video.project_id, &actor, command)).map_err(|e| e.to_string())?;
    Ok(())
}

fn stored(t: &TestWs, track: TrackId) -> Result<Vec<Shape>, String> {
    t.block_on(t.ws.store().track_shapes(track)).map_err(|e| e.to_string())
}

fn on_frame(t: &TestWs, video: &Video, track: TrackId, frame: u64) -> Result<Option<Shape>, String> {
    let shapes = t.block_on(t.ws.frame_shapes_derived(video.id, frame)).map_err(|e| e.message)?;
    Ok(shapes.into_iter().find(|s| s.track_id == track))
}

fn mask_of(shape: &Shape) -> Result<&Rle, String> {
    match &shape.geometry {
        Geometry::Mask(m) => Ok(m),
        other => Err(format!("frame {} holds a {}, not a mask", shape.frame, other.kind().name())),
    }
}

/// Boxes interpolate linearly and masks by distance fields, on read: nothing
/// is stored between keyframes, a keyframe edit moves every frame between,
/// an edited interpolated frame becomes a keyframe, and exports include the
/// interpolated frames.
pub fn interpolation() -> TestResult {
    let t = TestWs::new()?;
    let (video, track) = discs_project(&t, "interp", 30, &[MOVER])?;
    let bbox = |x: f64, y: f64, w: f64, h: f64| BBox::new(x, y, w, h).map(Geometry::BBox).map_err(|e| e.to_string());
    apply(&t, &video, Command::CreateTrack {
        shapes: vec![keyframe(track.id, 0, bbox(10.0, 20.0, 40.0, 30.0)?), keyframe(track.id, 10, bbox(30.0, 40.0, 60.0, 50.0)?)],
        track: track.clone(),
    })?;
    let mid = on_frame(&t, &video, track.id, 5)?.ok_or("nothing on frame 5")?;
    ensure!(mid.source == ShapeSource::Interpolated && !mid.keyframe, "frame 5 is interpolated: {mid:?}");
    ensure!(mid.geometry == bbox(20.0, 30.0, 50.0, 40.0)?, "the box half-way: {:?}", mid.geometry);
    let first = on_frame(&t, &video, track.id, 0)?.ok_or("nothing on frame 0")?;
    ensure!(first.keyframe && first.geometry == bbox(10.0, 20.0, 40.0, 30.0)?, "keyframes exact: {first:?}");
    ensure!(on_frame(&t, &video, track.id, 11)?.is_none(), "nothing after the last keyframe");
    ensure!(stored(&t, track.id)?.len() == 2, "nothing stored between keyframes");

    // The object list shows it, marked.
    let list = t.ok("frame_shapes", json!({ "videoId": video.id.to_string(), "frame": 3 }))?;
    ensure!(list[0]["source"] == "interpolated" && list[0]["keyframe"] == false, "listed as interpolated: {list}");

    // Moving the second keyframe moves the frames between.
    apply(&t, &video, Command::SetShape { shape: keyframe(track.id, 10, bbox(50.0, 40.0, 60.0, 50.0)?) })?;
    let mid = on_frame(&t, &video, track.id, 5)?.ok_or("nothing on frame 5")?;
    ensure!(mid.geometry == bbox(30.0, 30.0, 50.0, 40.0)?, "follows the edited keyframe: {:?}", mid.geometry);

    // An interpolated frame can't be deleted (it isn't stored) ...
    let (kind, message) = t.err("delete_shape", json!({ "videoId": video.id.to_string(), "frame": 5, "trackId": track.id.to_string() }))?;
    ensure!(kind == "invalid" && message.contains("interpolated"), "delete refused: {kind}: {message}");
    // ... but editing it (copying it onward stores a keyframe) works from what is shown.
    t.ok("copy_to_next_frame", json!({ "videoId": video.id.to_string(), "frame": 5, "trackId": track.id.to_string() }))?;
    let six = stored(&t, track.id)?.into_iter().find(|s| s.frame == 6).ok_or("frame 6 not stored")?;
    ensure!(six.keyframe && six.geometry == bbox(30.0, 30.0, 50.0, 40.0)?, "the shown box became a keyframe: {six:?}");
    let three = on_frame(&t, &video, track.id, 3)?.ok_or("nothing on frame 3")?;
    ensure!(three.geometry == bbox(20.0, 25.0, 45.0, 35.0)?, "frames 1-5 now run to the new keyframe: {:?}", three.geometry);

    // Masks: two keyframes of the disc; the frames between follow it.
    let masks = TrackId::new();
    let mut second = Track::new(video.id, track.label_id, None, Timestamp(0));
    second.id = masks;
    apply(&t, &video, Command::CreateTrack {
        shapes: vec![
            keyframe(masks, 2, Geometry::Mask(truth(&MOVER, 2)?)),
            keyframe(masks, 22, Geometry::Mask(truth(&MOVER, 22)?)),
        ],
        track: second,
    })?;
    for frame in 3..22 {
        let shape = on_frame(&t, &video, masks, frame)?.ok_or(format!("no mask on frame {frame}"))?;
        let iou = mask_of(&shape)?.iou(&truth(&MOVER, frame)?).map_err(|e| e.to_string())?;
        ensure!(iou >= 0.9, "frame {frame}: interpolated mask IoU {iou:.3} < 0.9 with the disc");
    }

    // Exports carry the interpolated frames: COCO has the box on frames 0-10
    // and the mask on 2-22.
    let out = t.dir.path().join("coco");
    let summary = t
        .block_on(t.ws.export_project(&video.project_id.to_string(), &out, &Default::default(), |_| {}, &Cancel::new()))
        .map_err(|e| e.message)?;
    ensure!(summary.annotations == 11 + 21, "COCO annotations: {} (want 11 + 21)", summary.annotations);
    Ok(())
}

/// The model a propagation trial runs: the project's generated test model,
/// or MobileSAM from the user's model cache (`make real-model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    Test,
    MobileSam,
}

/// Why MobileSAM's trials cannot run here, if they cannot.
pub fn mobile_sam_missing() -> Option<String> {
    let m = argus_sam::builtin_manifest("mobile-sam").map_err(|e| e.to_string());
    match m.and_then(|m| argus_sam::download::ModelStore::default_location().and_then(|s| s.locate(&m)).map_err(|e| e.to_string())) {
        Ok(_) => None,
        Err(e) => Some(format!("MobileSAM is not in the model cache ({e}); `make real-model` exports it there")),
    }
}

/// A workspace with `model` loaded.
fn workspace_with(model: Model) -> Result<TestWs, String> {
    match model {
        Model::Test => {
            let t = TestWs::new()?;
            let manifest = argus_testkit::make_sam_models(&t.dir.path().join("models"))?;
            t.ok("load_sam_model", json!({ "manifestPath": manifest }))?;
            Ok(t)
        }
        Model::MobileSam => {
            let t = TestWs::with_models(Some(argus_sam::download::ModelStore::default_location().map_err(|e| e.to_string())?))?;
            t.ok("load_sam_model", json!({ "manifestPath": "mobile-sam" }))?;
            Ok(t)
        }
    }
}

fn propagate(
    t: &TestWs,
    video: &Video,
    track: TrackId,
    frame: u64,
    options: &PropagateOptions,
    cancel_after: Option<u64>,
) -> Result<(PropagateSummary, Vec<TrackProgress>), String> {
    let events = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let cancel = Cancel::new();
    let (e, c) = (events.clone(), cancel.clone());
    let progress = move |p: TrackProgress| {
        if cancel_after.is_some_and(|n| p.done >= n) {
            c.cancel();
        }
        e.lock().push(p);
    };
    let summary = t
        .block_on(t.ws.propagate(&video.id.to_string(), &track.to_string(), frame, options, &progress, &cancel))
        .map_err(|e| e.message)?;
    let events = events.lock().clone();
    Ok((summary, events))
}

fn undo(t: &TestWs, video: &Video) -> Result<(), String> {
    t.ok("undo", json!({ "projectId": video.project_id.to_string() })).map(|_| ())
}

/// A disc followed over 100 frames from one mask: every frame written as a
/// propagated shape near the truth, progress per frame, one undo step; a
/// re-run from a corrected keyframe replaces what followed it; backward runs
/// stop at the keyframe before.
pub fn propagation(model: Model) -> TestResult {
    let t = workspace_with(model)?;
    let (video, track) = discs_project(&t, "mover", 110, &[MOVER])?;
    apply(&t, &video, Command::CreateTrack { shapes: vec![keyframe(track.id, 0, Geometry::Mask(truth(&MOVER, 0)?))], track: track.clone() })?;
    let options = PropagateOptions { max_frames: Some(100), ..PropagateOptions::default() };
    let (summary, events) = propagate(&t, &video, track.id, 0, &options, None)?;
    ensure!(summary.written == 100 && summary.last_frame == Some(100), "100 frames written: {summary:?}");
    ensure!(summary.stopped.is_none() && !summary.cancelled, "ran to the end: {summary:?}");
    ensure!(events.len() == 100 && events.last().is_some_and(|p| p.done == 100 && p.total == 100), "progress per frame: {}", events.len());
    let shapes = stored(&t, track.id)?;
    ensure!(shapes.len() == 101, "101 stored shapes, got {}", shapes.len());
    let mut ious = Vec::new();
    for s in shapes.iter().filter(|s| s.frame > 0) {
        ensure!(s.source == ShapeSource::Propagated && !s.keyframe && s.score.is_some(), "frame {} is propagated: {s:?}", s.frame);
        ious.push(mask_of(s)?.iou(&truth(&MOVER, s.frame)?).map_err(|e| e.to_string())?);
    }
    let mean = ious.iter().sum::<f64>() / ious.len() as f64;
    let worst = ious.iter().copied().fold(1.0, f64::min);
    eprintln!("propagation over 100 frames: mean IoU {mean:.3}, worst {worst:.3}");
    ensure!(mean >= 0.85, "mean IoU {mean:.3} < 0.85 over 100 frames (worst {worst:.3})");
    let history = t.ok("history", json!({ "projectId": video.project_id.to_string() }))?;
    ensure!(history["undo"] == 2, "the track and the run: two steps, whatever the run's batches: {history}");

    // One undo takes all 100 away; redo brings them back.
    let undone = t.ok("undo", json!({ "projectId": video.project_id.to_string() }))?;
    ensure!(undone["summary"].as_str().is_some_and(|s| s.contains("propagate #")), "the step is named for the run: {undone}");
    ensure!(stored(&t, track.id)?.len() == 1, "undo removed the whole run");
    t.ok("redo", json!({ "projectId": video.project_id.to_string() }))?;
    ensure!(stored(&t, track.id)?.len() == 101, "redo restored the whole run");

    // A corrected keyframe on 40; re-running from it replaces 41..100.
    apply(&t, &video, Command::SetShape { shape: keyframe(track.id, 40, Geometry::Mask(truth(&MOVER, 40)?)) })?;
    let (again, _) = propagate(&t, &video, track.id, 40, &PropagateOptions { max_frames: Some(20), ..options.clone() }, None)?;
    ensure!(again.replaced == 20 && again.written == 20, "replaced what followed: {again:?}");
    // Backward from 40 stops at the keyframe on 0.
    let back = PropagateOptions { direction: PropagateDirection::Backward, max_frames: None, ..options.clone() };
    let (b, _) = propagate(&t, &video, track.id, 40, &back, None)?;
    ensure!(b.written == 39 && b.last_frame == Some(1) && b.replaced == 39, "backward to frame 1: {b:?}");
    // A forward run from 0 now stops before the keyframe on 40.
    let (f, _) = propagate(&t, &video, track.id, 0, &options, None)?;
    ensure!(f.written == 39 && f.last_frame == Some(39), "forward up to the keyframe: {f:?}");
    Ok(())
}

/// A run cancelled half-way keeps what it wrote, consistent, and undoes in
/// one step, together with the propagated shapes it replaced.
pub fn cancelled_propagation() -> TestResult {
    let t = workspace_with(Model::Test)?;
    let (video, track) = discs_project(&t, "cancel", 60, &[MOVER])?;
    apply(&t, &video, Command::CreateTrack { shapes: vec![keyframe(track.id, 0, Geometry::Mask(truth(&MOVER, 0)?))], track: track.clone() })?;
    let options = PropagateOptions { max_frames: Some(50), ..PropagateOptions::default() };
    let (first, _) = propagate(&t, &video, track.id, 0, &options, None)?;
    ensure!(first.written == 50, "first run: {first:?}");
    let before: Vec<(u64, Option<f32>)> = stored(&t, track.id)?.iter().map(|s| (s.frame, s.score)).collect();
    let (summary, _) = propagate(&t, &video, track.id, 0, &options, Some(20))?;
    ensure!(summary.cancelled && summary.written >= 20 && summary.written < 50, "cancelled part-way: {summary:?}");
    ensure!(summary.replaced == 50, "the earlier run's shapes were replaced: {summary:?}");
    let after = stored(&t, track.id)?;
    ensure!(after.len() as u64 == 1 + summary.written, "what was written is stored, no more: {} shapes", after.len());
    let integrity = t.block_on(t.ws.store().integrity_check());
    ensure!(integrity.is_ok(), "the store is consistent: {integrity:?}");
    undo(&t, &video)?;
    let restored: Vec<(u64, Option<f32>)> = stored(&t, track.id)?.iter().map(|s| (s.frame, s.score)).collect();
    ensure!(restored == before, "one undo brings back the first run exactly");
    Ok(())
}

/// Two discs of different colours cross: following one of them, the frames
/// where they overlap are flagged (or stop the run), and the others are not.
pub fn crossing(model: Model) -> TestResult {
    let t = workspace_with(model)?;
    let red = MovingDisc { x: 50.0, y: 120.0, vx: 5.0, vy: 0.0, r: 24.0, vr: 0.0, colour: [220, 40, 40] };
    let green = MovingDisc { x: 270.0, y: 110.0, vx: -5.0, vy: 0.0, r: 24.0, vr: 0.0, colour: [40, 200, 60] };
    let (video, track) = discs_project(&t, "crossing", 45, &[red, green])?;
    apply(&t, &video, Command::CreateTrack { shapes: vec![keyframe(track.id, 0, Geometry::Mask(truth(&red, 0)?))], track: track.clone() })?;
    // The discs touch from frame 17 (centres 48 px apart) to frame 27.
    let touching = |f: u64| {
        let ((ax, ay, ar), (bx, by, br)) = (red.at(f), green.at(f));
        (ax - bx).hypot(ay - by) < ar + br
    };
    let options = PropagateOptions { max_frames: Some(40), ..PropagateOptions::default() };
    let (summary, _) = propagate(&t, &video, track.id, 0, &options, None)?;
    eprintln!("crossing: flagged {:?}", summary.flagged.iter().map(|f| (f.frame, f.reason.as_str())).collect::<Vec<_>>());
    ensure!(!summary.flagged.is_empty(), "the crossing is flagged: {summary:?}");
    // Flags from where they meet to a few frames after they part (the mask
    // recovering is a doubt too), none before, none long after.
    let (met, parted) = ((0..45).find(|&f| touching(f)).ok_or("they meet")?, (0..45).rfind(|&f| touching(f)).ok_or("they part")?);
    for f in &summary.flagged {
        ensure!(f.frame >= met && f.frame <= parted + 4, "frame {} flagged outside the crossing ({met}-{parted}): {}", f.frame, f.reason);
    }
    // Stopping at the first doubt instead: the run ends where they meet.
    undo(&t, &video)?;
    let stop = PropagateOptions { stop_on_doubt: true, ..options };
    let (s, _) = propagate(&t, &video, track.id, 0, &stop, None)?;
    let at = s.stopped.as_ref().ok_or("stopped at a doubt")?;
    ensure!(touching(at.frame) && s.written == at.frame - 1, "stopped at the crossing, nothing after: {s:?}");
    Ok(())
}
