//! Export and import through the application layer: a real store, the
//! generated video, frames decoded and encoded, and the datasets read back
//! by argus-formats' readers and by the import.

use std::path::Path;
use std::str::FromStr;

use argus_core::Rle;
use argus_core::geometry::{BBox, Point, Polygon};
use argus_core::id::{ProjectId, VideoId};
use argus_core::model::{Geometry, Review, ReviewScope, Shape, ShapeSource, Timestamp, Track};
use argus_store::Command;
use argus_testkit::{ensure, str_of};
use argus_workspace::dto::{ExportFormat, ExportOptions, ImageMode, TransferSummary};
use argus_workspace::export::{COCO_ANNOTATIONS, Cancel};
use argus_workspace::import::{ImportFormat, ImportOptions};
use serde_json::json;

use crate::util::{TestResult, TestWs, VIDEO_FRAMES, VIDEO_H, VIDEO_W};

/// A mask with a hole, and one of two parts: what polygon formats lose.
fn ring() -> Result<Rle, String> {
    let (w, h) = (VIDEO_W as usize, VIDEO_H as usize);
    let mut bits = vec![0u8; w * h];
    for y in 20..80 {
        for x in 30..110 {
            let hole = (40..60).contains(&y) && (60..80).contains(&x);
            let far = (5..15).contains(&y) && (120..150).contains(&x);
            bits[y * w + x] = u8::from(!hole);
            if far {
                bits[y * w + x] = 1;
            }
        }
    }
    for y in 5..15 {
        for x in 120..150 {
            bits[y * w + x] = 1;
        }
    }
    Rle::from_bitmap_row_major(VIDEO_H, VIDEO_W, &bits).map_err(|e| e.to_string())
}

fn rect(x: u32, y: u32, w: u32, h: u32) -> Result<Rle, String> {
    Rle::from_bbox(VIDEO_H, VIDEO_W, &BBox::new(x.into(), y.into(), w.into(), h.into()).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

pub struct Fixture {
    pub project: ProjectId,
    pub video: VideoId,
    pub video_path: std::path::PathBuf,
}

/// A project ("boxes": box, background) with the generated video and three
/// tracks:
/// masks on frames 0, 2, 4 (a ring with a hole and a far part on 2), boxes
/// on 1 and 2, a polygon on 3.
pub fn annotated(t: &TestWs) -> Result<Fixture, String> {
    let (project, video, video_path) = argus_testkit::project_with_video(t.dir.path(), |cmd, args| t.ok(cmd, args))?;
    let project = ProjectId::from_str(str_of(&project, "id")?).map_err(|e| e.to_string())?;
    let video = VideoId::from_str(str_of(&video, "id")?).map_err(|e| e.to_string())?;
    let store = t.ws.store();
    t.block_on(async {
        let schema = store.schema(project).await.map_err(|e| e.to_string())?;
        let actor = store.actor(project, store.local_user()).await.map_err(|e| e.to_string())?;
        let box_label = schema.labels()[0].id;
        let bg_label = schema.labels()[1].id;
        let mut shapes = Vec::new();
        let mut make = |label, geometries: Vec<(u64, Geometry)>, source| -> Command {
            let track = Track::new(video, label, None, Timestamp(0));
            let n = shapes.iter().map(|(_, n, _): &(u64, u32, Geometry)| *n).max().unwrap_or(0) + 1;
            let s: Vec<Shape> = geometries
                .into_iter()
                .map(|(frame, g)| {
                    shapes.push((frame, n, g.clone()));
                    Shape::keyframe(track.id, frame, g, source, Timestamp(0))
                })
                .collect();
            Command::CreateTrack { track, shapes: s }
        };
        let c1 = make(box_label, vec![(0, Geometry::Mask(rect(40, 30, 50, 40)?)), (2, Geometry::Mask(ring()?)), (4, Geometry::Mask(rect(42, 30, 50, 40)?))], ShapeSource::Sam);
        let b = |x: f64| BBox::new(x, 10.0, 20.0, 15.5).map_err(|e| e.to_string());
        let c2 = make(bg_label, vec![(1, Geometry::BBox(b(5.0)?)), (2, Geometry::BBox(b(7.25)?))], ShapeSource::Manual);
        let pts = [(10.0, 90.0), (60.0, 95.0), (40.0, 115.0)];
        let poly = Polygon::new(pts.iter().map(|&(x, y)| Point { x, y }).collect(), Vec::new()).map_err(|e| e.to_string())?;
        let c3 = make(box_label, vec![(3, Geometry::Polygon(poly))], ShapeSource::Manual);
        for c in [c1, c2, c3] {
            store.apply(&actor, c).await.map_err(|e| e.to_string())?;
        }
        Ok(Fixture { project, video, video_path })
    })
}

fn export(t: &TestWs, f: &Fixture, dir: &Path, options: ExportOptions) -> Result<TransferSummary, String> {
    t.block_on(t.ws.export_project(&f.project.to_string(), dir, &options, |_| {}, &Cancel::new())).map_err(|e| format!("{:?}: {}", e.kind, e.message))
}

/// A second project with the same labels and video, to import into.
fn second(t: &TestWs, f: &Fixture, labels: &[&str]) -> Result<(ProjectId, VideoId), String> {
    let p = t.ok("create_project", json!({ "name": format!("copy {}", uuid_like()), "labels": labels }))?;
    let v = t.ok("import_video", json!({ "projectId": str_of(&p, "id")?, "path": f.video_path }))?;
    Ok((
        ProjectId::from_str(str_of(&p, "id")?).map_err(|e| e.to_string())?,
        VideoId::from_str(str_of(&v, "id")?).map_err(|e| e.to_string())?,
    ))
}

fn uuid_like() -> String {
    argus_core::id::TrackId::new().to_string()
}

fn import(t: &TestWs, project: ProjectId, path: &Path, options: ImportOptions) -> Result<TransferSummary, String> {
    t.block_on(t.ws.import_annotations(&project.to_string(), path, &options, |_| {}, &Cancel::new())).map_err(|e| format!("{:?}: {}", e.kind, e.message))
}

/// Every shape of a video as (frame, geometry), sorted.
/// What a video shows on every frame (stored and interpolated shapes).
fn geometries(t: &TestWs, video: VideoId) -> Result<Vec<(u64, String)>, String> {
    let mut out = Vec::new();
    t.block_on(async {
        for (_, s) in t.ws.video_shapes_derived(video, 0, VIDEO_FRAMES).await.map_err(|e| e.message)? {
            out.push((s.frame, serde_json::to_string(&s.geometry).map_err(|e| e.to_string())?));
        }
        Ok::<_, String>(())
    })?;
    out.sort();
    Ok(out)
}

pub fn coco_round_trip() -> TestResult {
    let t = TestWs::new()?;
    let f = annotated(&t)?;
    let out = t.dir.path().join("coco");
    let s = export(&t, &f, &out, ExportOptions { format: ExportFormat::Coco, images: ImageMode::Jpeg, ..Default::default() })?;
    // The box track's masks on 0, 2, 4 are interpolated on 1 and 3: exported too.
    ensure!(s.images == 5 && s.annotations == 8 && s.tracks == 3, "five annotated frames, six shapes and two interpolated, three tracks: {s:?}");
    ensure!(s.skipped.is_empty() && s.changed.is_empty(), "RLE loses nothing: {s:?}");
    let jpeg = std::fs::read(out.join("images/default/box.mp4/000002.jpg")).map_err(|e| e.to_string())?;
    ensure!(jpeg.starts_with(&[0xff, 0xd8]), "frames are JPEG files");
    // Into another project with the same labels and video: every pixel back.
    let (p2, v2) = second(&t, &f, &["box", "background"])?;
    let depth = |t: &TestWs| t.ok("history", json!({ "projectId": p2.to_string() })).map(|h| h["undo"].as_u64().unwrap_or(0));
    let before = depth(&t)?;
    let r = import(&t, p2, &out, ImportOptions::default())?;
    ensure!(r.annotations == 8 && r.tracks == 3 && r.skipped.is_empty(), "all eight back: {r:?}");
    ensure!(geometries(&t, v2)? == geometries(&t, f.video)?, "the same geometry, pixel for pixel");
    ensure!(depth(&t)? == before + 1, "one undo step");
    let undone = t.ok("undo", json!({ "projectId": p2.to_string() }))?;
    ensure!(str_of(&undone, "summary")?.contains("import instances_default.json"), "named for the import: {undone}");
    ensure!(geometries(&t, v2)?.is_empty(), "one undo removes the whole import");
    Ok(())
}

pub fn native_round_trip() -> TestResult {
    let t = TestWs::new()?;
    let f = annotated(&t)?;
    let out = t.dir.path().join("native");
    let s = export(&t, &f, &out, ExportOptions { format: ExportFormat::Native, ..Default::default() })?;
    ensure!(s.annotations == 6 && s.tracks == 3, "{s:?}");
    let (p2, v2) = second(&t, &f, &["box", "background"])?;
    let r = import(&t, p2, &out.join("project.argus.jsonl"), ImportOptions::default())?;
    ensure!(r.annotations == 6 && r.skipped.is_empty(), "{r:?}");
    ensure!(geometries(&t, v2)? == geometries(&t, f.video)?, "lossless");
    let sources: Vec<ShapeSource> = t.block_on(async {
        let mut v = Vec::new();
        for (_, s) in t.ws.store().video_shapes(v2, 0, 1).await.map_err(|e| e.to_string())? {
            v.push(s.source);
        }
        Ok::<_, String>(v)
    })?;
    ensure!(sources == vec![ShapeSource::Sam], "the shape's source is kept: {sources:?}");
    Ok(())
}

pub fn export_options() -> TestResult {
    let t = TestWs::new()?;
    let f = annotated(&t)?;
    let read = |dir: &Path| -> Result<serde_json::Value, String> {
        serde_json::from_slice(&std::fs::read(dir.join(COCO_ANNOTATIONS)).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
    };
    // Every second frame, background renamed, box left out.
    let out = t.dir.path().join("step");
    let mut map = std::collections::BTreeMap::new();
    map.insert("background".to_owned(), "bg".to_owned());
    map.insert("box".to_owned(), String::new());
    let s = export(&t, &f, &out, ExportOptions { frame_step: 2, label_map: map, ..Default::default() })?;
    let doc = read(&out)?;
    ensure!(doc["categories"] == json!([{ "id": 1, "name": "bg", "supercategory": "", "color": doc["categories"][0]["color"] }]), "{}", doc["categories"]);
    ensure!(s.images == 3 && s.annotations == 1, "frames 0, 2, 4; only the box on 2: {s:?}");
    ensure!(!out.join("images").exists(), "no pixels without an image mode");
    // Only approved: nothing until a review approves frames 0-2.
    let out = t.dir.path().join("approved");
    let s = export(&t, &f, &out, ExportOptions { only_approved: true, ..Default::default() })?;
    ensure!(s.annotations == 0, "nothing approved yet: {s:?}");
    t.block_on(async {
        let store = t.ws.store();
        let actor = store.actor(f.project, store.local_user()).await.map_err(|e| e.to_string())?;
        let review = Review::new(f.video, ReviewScope::Frames { start: 0, end: 2 }, Timestamp(0)).map_err(|e| e.to_string())?;
        let id = review.id;
        store.apply(&actor, Command::CreateReview { review }).await.map_err(|e| e.to_string())?;
        store.apply(&actor, Command::Approve { review_id: id, comment: None }).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(())
    })?;
    let s = export(&t, &f, &out, ExportOptions { only_approved: true, ..Default::default() })?;
    ensure!(s.annotations == 5, "frames 0-2 hold four shapes and an interpolated one: {s:?}");
    // Polygons on request: the ring's hole is reported.
    let out = t.dir.path().join("poly");
    let s = export(&t, &f, &out, ExportOptions { polygons: true, tolerance: 0.0, ..Default::default() })?;
    ensure!(s.changed.len() == 1 && s.changed[0].reason.contains("hole"), "{:?}", s.changed);
    // Bad options are refused.
    let mut map = std::collections::BTreeMap::new();
    map.insert("nope".to_owned(), "x".to_owned());
    let e = export(&t, &f, &out, ExportOptions { label_map: map, ..Default::default() }).err().unwrap_or_default();
    ensure!(e.contains("Invalid") && e.contains("nope"), "{e}");
    let e = export(&t, &f, &out, ExportOptions { frame_step: 0, ..Default::default() }).err().unwrap_or_default();
    ensure!(e.contains("frame step"), "{e}");
    Ok(())
}

pub fn import_reports() -> TestResult {
    let t = TestWs::new()?;
    let f = annotated(&t)?;
    let out = t.dir.path().join("coco");
    export(&t, &f, &out, ExportOptions::default())?;
    // A project without "background": its boxes are left out, with why.
    let (p2, v2) = second(&t, &f, &["box"])?;
    let r = import(&t, p2, &out, ImportOptions { format: Some(ImportFormat::Coco), ..Default::default() })?;
    ensure!(r.annotations == 6, "the six box shapes (two interpolated): {r:?}");
    ensure!(r.skipped.len() == 2 && r.skipped.iter().all(|s| s.reason.contains("'background' is not in the project")), "{:?}", r.skipped);
    t.ok("undo", json!({ "projectId": p2.to_string() }))?;
    // With labels created, everything goes in.
    let r = import(&t, p2, &out, ImportOptions { create_labels: true, ..Default::default() })?;
    ensure!(r.annotations == 8 && r.skipped.is_empty(), "{r:?}");
    ensure!(geometries(&t, v2)?.len() == 8, "eight shapes");
    // A truncated file is an error with its place; nothing is written.
    let bytes = std::fs::read(out.join(COCO_ANNOTATIONS)).map_err(|e| e.to_string())?;
    let cut = t.dir.path().join("cut.json");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).map_err(|e| e.to_string())?;
    t.ok("undo", json!({ "projectId": p2.to_string() }))?;
    let e = import(&t, p2, &cut, ImportOptions::default()).err().unwrap_or_default();
    ensure!(e.contains("Invalid") && e.contains("line 1, column"), "{e}");
    ensure!(geometries(&t, v2)?.is_empty(), "a failed import writes nothing");
    // Frames of a video the project lacks are skipped with the reason.
    let p3 = t.ok("create_project", json!({ "name": "empty", "labels": ["box", "background"] }))?;
    let p3 = ProjectId::from_str(str_of(&p3, "id")?).map_err(|e| e.to_string())?;
    let r = import(&t, p3, &out, ImportOptions::default())?;
    ensure!(r.annotations == 0 && r.skipped.len() == 8 && r.skipped[0].reason.contains("import the video first"), "{:?}", r.skipped);
    Ok(())
}
