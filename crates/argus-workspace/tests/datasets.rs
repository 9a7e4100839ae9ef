//! CVAT, YOLO, Pascal VOC and MOT through the application layer: exported
//! from the annotated fixture of `transfer`, read back by the import into a
//! second project with the same video.

use std::path::Path;
use std::str::FromStr;

use argus_core::Rle;
use argus_core::id::{ProjectId, VideoId};
use argus_core::model::Geometry;
use argus_testkit::{ensure, str_of};
use argus_workspace::dto::{ExportFormat, ExportOptions, ImageMode, TransferSummary};
use argus_workspace::export::Cancel;
use argus_workspace::import::ImportOptions;
use serde_json::json;

use crate::transfer::{Fixture, annotated};
use crate::util::{TestResult, TestWs, VIDEO_FRAMES, VIDEO_H, VIDEO_W};

fn export(t: &TestWs, f: &Fixture, dir: &Path, format: ExportFormat) -> Result<TransferSummary, String> {
    let options = ExportOptions { format, images: ImageMode::Jpeg, tolerance: 0.0, ..Default::default() };
    t.block_on(t.ws.export_project(&f.project.to_string(), dir, &options, |_| {}, &Cancel::new())).map_err(|e| format!("{:?}: {}", e.kind, e.message))
}

fn import(t: &TestWs, project: ProjectId, path: &Path) -> Result<TransferSummary, String> {
    t.block_on(t.ws.import_annotations(&project.to_string(), path, &ImportOptions::default(), |_| {}, &Cancel::new()))
        .map_err(|e| format!("{:?}: {}", e.kind, e.message))
}

/// A second project with the fixture's labels and video.
fn second(t: &TestWs, f: &Fixture, name: &str) -> Result<(ProjectId, VideoId), String> {
    let p = t.ok("create_project", json!({ "name": name, "labels": ["box", "background"] }))?;
    let v = t.ok("import_video", json!({ "projectId": str_of(&p, "id")?, "path": f.video_path }))?;
    Ok((
        ProjectId::from_str(str_of(&p, "id")?).map_err(|e| e.to_string())?,
        VideoId::from_str(str_of(&v, "id")?).map_err(|e| e.to_string())?,
    ))
}

/// (frame, track number, keyframe, geometry) of every shape of a video.
/// What a video shows on every frame (stored and interpolated shapes): the
/// fixture's box track has masks on 0, 2 and 4, interpolated on 1 and 3, and
/// exports write those too.
fn shapes(t: &TestWs, video: VideoId) -> Result<Vec<(u64, u32, bool, Geometry)>, String> {
    t.block_on(async {
        let all = t.ws.video_shapes_derived(video, 0, VIDEO_FRAMES).await.map_err(|e| e.message)?;
        Ok(all.into_iter().map(|(n, s)| (s.frame, n, s.keyframe, s.geometry)).collect())
    })
}

fn mask_of(g: &Geometry) -> Result<Rle, String> {
    match g {
        Geometry::Mask(m) => Ok(m.clone()),
        Geometry::Polygon(p) => Rle::from_polygon(VIDEO_H, VIDEO_W, p).map_err(|e| e.to_string()),
        Geometry::BBox(b) => Rle::from_bbox(VIDEO_H, VIDEO_W, b).map_err(|e| e.to_string()),
        other => Err(format!("no area: {other:?}")),
    }
}

pub fn cvat_round_trip() -> TestResult {
    let t = TestWs::new()?;
    let f = annotated(&t)?;
    let out = t.dir.path().join("cvat");
    let s = export(&t, &f, &out, ExportFormat::Cvat)?;
    ensure!(s.tracks == 3 && s.annotations == 6, "{s:?}");
    ensure!(out.join("annotations.xml").is_file() && out.join("images/frame_000002.jpg").is_file(), "CVAT's layout");
    let (p2, v2) = second(&t, &f, "cvat copy")?;
    let r = import(&t, p2, &out.join("annotations.xml"))?;
    ensure!(r.tracks == 3 && r.annotations == 6 && r.skipped.is_empty(), "{r:?}");
    let (a, b) = (shapes(&t, f.video)?, shapes(&t, v2)?);
    ensure!(a == b, "tracks, numbers, keyframes and geometry survive: {a:?}\n{b:?}");
    Ok(())
}

pub fn yolo_round_trip() -> TestResult {
    let t = TestWs::new()?;
    let f = annotated(&t)?;
    let original = shapes(&t, f.video)?;
    // Detection: boxes of every shape, back as boxes.
    let out = t.dir.path().join("yolo-detect");
    let s = export(&t, &f, &out, ExportFormat::YoloDetect)?;
    ensure!(s.images == 5 && s.annotations == 8, "{s:?}");
    ensure!(out.join("data.yaml").is_file(), "data.yaml");
    let (p2, v2) = second(&t, &f, "yolo detect copy")?;
    let r = import(&t, p2, &out)?;
    ensure!(r.annotations == 8, "{r:?}");
    for ((fa, _, _, ga), (fb, _, _, gb)) in original.iter().zip(shapes(&t, v2)?.iter()) {
        let (Some(a), Geometry::BBox(b)) = (ga.bbox(), gb) else { return Err(format!("frame {fb}: not a box: {gb:?}").into()) };
        ensure!(fa == fb && a.iou(b) > 0.999, "frame {fa}: {a:?} vs {b:?}");
    }
    // Segmentation: polygons that draw the masks back (the ring's hole and
    // far part ride on bridges, which the report names).
    let out = t.dir.path().join("yolo-seg");
    let s = export(&t, &f, &out, ExportFormat::YoloSegment)?;
    ensure!(s.changed.iter().any(|c| c.at.contains("000002") || c.reason.contains("bridge")), "the ring is reported: {:?}", s.changed);
    let (p3, v3) = second(&t, &f, "yolo segment copy")?;
    let r = import(&t, p3, &out)?;
    let back = shapes(&t, v3)?;
    ensure!(r.annotations == 8 && back.len() == 8, "{r:?}");
    for ((fa, _, _, ga), (fb, _, _, gb)) in original.iter().zip(back.iter()) {
        let iou = mask_of(ga)?.iou(&mask_of(gb)?).map_err(|e| e.to_string())?;
        ensure!(fa == fb && iou > 0.95, "frame {fa}: IoU {iou}");
    }
    Ok(())
}

pub fn voc_and_mot() -> TestResult {
    let t = TestWs::new()?;
    let f = annotated(&t)?;
    let out = t.dir.path().join("voc");
    let s = export(&t, &f, &out, ExportFormat::Voc)?;
    ensure!(s.images == 5 && s.annotations == 8, "{s:?}");
    ensure!(s.changed.iter().any(|c| c.reason.contains("background")), "the reserved name's rename is reported: {:?}", s.changed);
    let xml = std::fs::read_dir(out.join("Annotations")).map_err(|e| e.to_string())?.count();
    let class = std::fs::read_dir(out.join("SegmentationClass")).map_err(|e| e.to_string())?.count();
    let jpeg = std::fs::read_dir(out.join("JPEGImages")).map_err(|e| e.to_string())?.count();
    ensure!((xml, class, jpeg) == (5, 5, 5), "one XML, class PNG and JPEG per frame: {xml} {class} {jpeg}");
    // Back in as an image dataset: its JPEGs become an image-sequence video
    // of the project, the boxes land on their frames.
    let p = t.ok("create_project", json!({ "name": "voc stills", "labels": ["box", "background"] }))?;
    let pv = ProjectId::from_str(str_of(&p, "id")?).map_err(|e| e.to_string())?;
    // VOC reserves "background": the writer renamed the label (and said
    // so); the import creates the renamed label.
    let options = ImportOptions { create_labels: true, ..Default::default() };
    let r = t.block_on(t.ws.import_annotations(&pv.to_string(), &out, &options, |_| {}, &Cancel::new())).map_err(|e| e.message)?;
    ensure!(r.annotations == 8 && r.images == 5 && r.skipped.is_empty(), "{r:?}");
    let videos = t.block_on(t.ws.store().videos(pv)).map_err(|e| e.to_string())?;
    ensure!(videos.len() == 1 && videos[0].frame_count == 5 && (videos[0].width, videos[0].height) == (VIDEO_W, VIDEO_H), "{videos:?}");
    let boxes = shapes(&t, videos[0].id)?;
    let original = shapes(&t, f.video)?;
    let frames: Vec<u64> = {
        let mut v: Vec<u64> = original.iter().map(|s| s.0).collect();
        v.dedup();
        v
    };
    // Masks come back from SegmentationObject pixel for pixel (later objects
    // paint over earlier ones where they overlap, which these do not).
    for (fa, _, _, ga) in &original {
        let Some(i) = frames.iter().position(|x| x == fa) else { return Err("frame".into()) };
        if let Geometry::Mask(m) = ga {
            ensure!(boxes.iter().any(|(fb, _, _, gb)| *fb == i as u64 && gb == &Geometry::Mask(m.clone())), "frame {fa}: the mask is not back");
            continue;
        }
        let Some(a) = ga.bbox() else { return Err("no box".into()) };
        ensure!(
            // VOC boxes are whole pixels: the fixture's 15.5-pixel box comes back 16.
            boxes.iter().any(|(fb, _, _, gb)| *fb == i as u64 && gb.bbox().is_some_and(|b| b.iou(&a) > 0.94)),
            "frame {fa} (still {i}): {a:?} not in {boxes:?}"
        );
    }
    // MOT: boxes per track; back with the same tracks.
    let out = t.dir.path().join("mot");
    let s = export(&t, &f, &out, ExportFormat::Mot)?;
    ensure!(s.annotations == 8 && s.tracks == 3, "{s:?}");
    let (p2, v2) = second(&t, &f, "mot copy")?;
    let r = import(&t, p2, &out)?;
    ensure!(r.annotations == 8 && r.tracks == 3, "{r:?}");
    let original = shapes(&t, f.video)?;
    let back = shapes(&t, v2)?;
    for ((fa, na, _, ga), (fb, nb, _, gb)) in original.iter().zip(back.iter()) {
        let (Some(a), Some(b)) = (ga.bbox(), gb.bbox()) else { return Err("no box".into()) };
        ensure!(fa == fb && na == nb && a.iou(&b) > 0.999, "frame {fa}, track {na}/{nb}: {a:?} vs {b:?}");
    }
    Ok(())
}

pub fn cancelled() -> TestResult {
    let t = TestWs::new()?;
    let f = annotated(&t)?;
    let out = t.dir.path().join("coco");
    let options = ExportOptions { images: ImageMode::Jpeg, ..Default::default() };
    // Cancelled from the first progress report: the export stops with a
    // typed error.
    let cancel = Cancel::new();
    let c = cancel.clone();
    let r = t.block_on(t.ws.export_project(&f.project.to_string(), &out, &options, move |_| c.cancel(), &cancel));
    ensure!(matches!(&r, Err(e) if e.kind == argus_workspace::ErrorKind::Cancelled), "{r:?}");
    // A whole export, then an import cancelled before it starts: nothing is
    // written, and the project's history is unchanged.
    export(&t, &f, &out, ExportFormat::Coco)?;
    let (p2, v2) = second(&t, &f, "cancelled copy")?;
    let cancel = Cancel::new();
    cancel.cancel();
    let r = t.block_on(t.ws.import_annotations(&p2.to_string(), &out, &ImportOptions::default(), |_| {}, &cancel));
    ensure!(matches!(&r, Err(e) if e.kind == argus_workspace::ErrorKind::Cancelled), "{r:?}");
    ensure!(shapes(&t, v2)?.is_empty(), "a cancelled import writes nothing");
    Ok(())
}
