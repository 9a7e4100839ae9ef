//! Image datasets (folders of stills with COCO, YOLO or VOC labels) import as
//! one image-sequence video: frame n is the n-th image by file name, each
//! decoded as the ffmpeg CLI decodes it alone; images missing on disk are
//! reported and do not become frames; the annotations are one undo step.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use argus_core::Rle;
use argus_core::id::{ProjectId, VideoId};
use argus_core::model::{Geometry, Video};
use argus_testkit::{ensure, str_of};
use argus_workspace::dto::TransferSummary;
use argus_workspace::export::Cancel;
use argus_workspace::import::ImportOptions;
use serde_json::json;

use crate::util::{TestResult, TestWs};

const W: u32 = 64;
const H: u32 = 48;

/// Writes a still (format from the extension) showing testsrc2 at second `t`.
fn still(path: &Path, t: u32) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={W}x{H}:rate=1,trim=start={t}"))
        .args(["-frames:v", "1"])
        .arg(path)
        .output()
        .map_err(|e| format!("ffmpeg: {e}"))?;
    ensure!(out.status.success(), "ffmpeg could not write {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// The image as the ffmpeg CLI decodes it alone, packed RGBA.
fn cli_rgba(path: &Path) -> Result<Vec<u8>, String> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgba", "-"])
        .output()
        .map_err(|e| format!("ffmpeg: {e}"))?;
    Ok(out.stdout)
}

/// A box-shaped mask of the stills' size.
fn mask(x0: u32, y0: u32, x1: u32, y1: u32) -> Result<Rle, String> {
    let mut bits = vec![0u8; (W * H) as usize];
    for y in y0..y1 {
        for x in x0..x1 {
            bits[(y * W + x) as usize] = 1;
        }
    }
    Rle::from_bitmap_row_major(H, W, &bits).map_err(|e| e.to_string())
}

fn project(t: &TestWs, name: &str) -> Result<ProjectId, String> {
    let p = t.ok("create_project", json!({ "name": name, "labels": ["thing", "other"] }))?;
    ProjectId::from_str(str_of(&p, "id")?).map_err(|e| e.to_string())
}

fn import(t: &TestWs, project: ProjectId, path: &Path) -> Result<TransferSummary, String> {
    t.block_on(t.ws.import_annotations(&project.to_string(), path, &ImportOptions::default(), |_| {}, &Cancel::new()))
        .map_err(|e| format!("{:?}: {}", e.kind, e.message))
}

fn videos(t: &TestWs, project: ProjectId) -> Result<Vec<Video>, String> {
    t.block_on(t.ws.store().videos(project)).map_err(|e| e.to_string())
}

fn shapes(t: &TestWs, video: VideoId, frames: u64) -> Result<Vec<(u64, Geometry)>, String> {
    t.block_on(async {
        let all = t.ws.store().video_shapes(video, 0, frames).await.map_err(|e| e.to_string())?;
        Ok(all.into_iter().map(|(_, s)| (s.frame, s.geometry)).collect())
    })
}

fn undo_depth(t: &TestWs, project: ProjectId) -> Result<u64, String> {
    t.ok("history", json!({ "projectId": project.to_string() })).map(|h| h["undo"].as_u64().unwrap_or(0))
}

/// The project's one video: `frames` frames of the stills' size, named
/// `name`, each frame the image `images[n]` decoded exactly.
fn one_sequence(t: &TestWs, project: ProjectId, name: &str, images: &[PathBuf]) -> Result<Video, String> {
    let all = videos(t, project)?;
    ensure!(all.len() == 1, "one video: {all:?}");
    let v = all.into_iter().next().ok_or("no video")?;
    ensure!(v.name == name && v.frame_count == images.len() as u64 && (v.width, v.height) == (W, H), "{v:?}");
    for (n, image) in images.iter().enumerate() {
        let frame = t.ws.videos().frame_rgba(&v, n as u64).map_err(|e| e.message)?;
        ensure!(frame.rgba == cli_rgba(image)?, "frame {n} is not {}", image.display());
    }
    Ok(v)
}

fn rle_json(m: &Rle) -> serde_json::Value {
    json!({ "size": [m.height(), m.width()], "counts": m.counts() })
}

pub fn coco() -> TestResult {
    let t = TestWs::new()?;
    let root = t.dir.path().join("shelf");
    // Listed out of order; sorted by file name they are a, b, c.
    for (name, s) in [("c.png", 3), ("a.png", 1), ("b.png", 2)] {
        still(&root.join("images").join(name), s)?;
    }
    let (ma, mc) = (mask(2, 3, 20, 30)?, mask(30, 10, 60, 40)?);
    let coco = json!({
        "images": [
            { "id": 10, "file_name": "c.png", "width": W, "height": H },
            { "id": 11, "file_name": "a.png", "width": W, "height": H },
            { "id": 12, "file_name": "b.png", "width": W, "height": H },
            { "id": 13, "file_name": "gone.png", "width": W, "height": H },
        ],
        "categories": [{ "id": 1, "name": "thing" }],
        "annotations": [
            { "id": 1, "image_id": 10, "category_id": 1, "segmentation": rle_json(&mc), "area": mc.area(), "bbox": [30, 10, 30, 30], "iscrowd": 0 },
            { "id": 2, "image_id": 11, "category_id": 1, "segmentation": rle_json(&ma), "area": ma.area(), "bbox": [2, 3, 18, 27], "iscrowd": 0 },
            { "id": 3, "image_id": 13, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0, "segmentation": [] },
        ],
    });
    let file = root.join("annotations").join("instances_default.json");
    std::fs::create_dir_all(file.parent().ok_or("no parent")?)?;
    std::fs::write(&file, serde_json::to_vec(&coco)?)?;

    let p = project(&t, "stills")?;
    let r = import(&t, p, &root)?;
    ensure!(r.annotations == 2, "{r:?}");
    ensure!(r.skipped.iter().any(|s| s.at.contains("gone.png") && s.reason.contains("not on disk")), "the missing image is reported: {r:?}");
    ensure!(r.skipped.iter().any(|s| s.at.contains("annotation 3")), "its annotation is left out: {r:?}");
    let images: Vec<PathBuf> = ["a.png", "b.png", "c.png"].iter().map(|n| root.join("images").join(n)).collect();
    let v = one_sequence(&t, p, "shelf", &images)?;
    let got = shapes(&t, v.id, v.frame_count)?;
    ensure!(got == vec![(0, Geometry::Mask(ma.clone())), (2, Geometry::Mask(mc.clone()))], "masks on frames 0 and 2: {got:?}");
    ensure!(undo_depth(&t, p)? == 1, "one undo step");

    // Again: the same images are the same video.
    let r = import(&t, p, &root)?;
    ensure!(r.annotations == 2, "{r:?}");
    ensure!(videos(&t, p)?.len() == 1, "the video is reused");
    ensure!(undo_depth(&t, p)? == 2, "one undo step per import");
    // Images of different sizes are refused, naming the file.
    still(&root.join("images").join("b.png"), 2).and_then(|_| {
        let out = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=32x32:rate=1", "-frames:v", "1"])
            .arg(root.join("images").join("b.png"))
            .output()
            .map_err(|e| e.to_string())?;
        ensure!(out.status.success(), "ffmpeg");
        Ok(())
    })?;
    let p2 = project(&t, "mixed")?;
    let e = import(&t, p2, &root).err().ok_or("mixed sizes were imported")?;
    ensure!(e.contains("b.png") && e.contains("32x32") && e.contains("64x48"), "{e}");
    Ok(())
}

pub fn yolo() -> TestResult {
    let t = TestWs::new()?;
    let root = t.dir.path().join("yolo-shelf");
    for (name, s) in [("images/train/b.jpg", 2), ("images/train/a.jpg", 1), ("images/val/c.jpg", 3)] {
        still(&root.join(name), s)?;
    }
    std::fs::write(root.join("data.yaml"), "train: images/train\nval: images/val\nnames:\n  0: thing\n")?;
    std::fs::create_dir_all(root.join("labels/train"))?;
    std::fs::create_dir_all(root.join("labels/val"))?;
    std::fs::write(root.join("labels/train/a.txt"), "0 0.5 0.5 0.25 0.5\n")?;
    std::fs::write(root.join("labels/val/c.txt"), "0 0.25 0.25 0.125 0.25\n")?;
    let p = project(&t, "yolo stills")?;
    let r = import(&t, p, &root)?;
    ensure!(r.annotations == 2, "{r:?}");
    // Train then val, each by name: a, b, c.
    let images: Vec<PathBuf> = ["images/train/a.jpg", "images/train/b.jpg", "images/val/c.jpg"].iter().map(|n| root.join(n)).collect();
    let v = one_sequence(&t, p, "yolo-shelf", &images)?;
    let got = shapes(&t, v.id, v.frame_count)?;
    let boxes: Vec<(u64, [f64; 4])> = got
        .iter()
        .filter_map(|(f, g)| match g {
            Geometry::BBox(b) => Some((*f, [b.x, b.y, b.width, b.height])),
            _ => None,
        })
        .collect();
    ensure!(boxes == vec![(0, [24.0, 12.0, 16.0, 24.0]), (2, [12.0, 6.0, 8.0, 12.0])], "boxes on frames 0 and 2: {got:?}");
    ensure!(undo_depth(&t, p)? == 1, "one undo step");
    Ok(())
}
