//! `make bench ONLY=store`: durable edit rate, a 500-mask bulk edit, the
//! frame query at 1,000 objects, and mask storage size against COCO JSON.
//! Prints one `store.<name>: <value> <unit>` line per figure.

use std::time::{Duration, Instant};

use argus_core::{
    id::{TrackId, UserId, VideoId},
    mask::Rle,
    model::{Colour, Geometry, Label, Role, Rotation, Shape, ShapeSource, Timestamp, Track, Video},
    time::Rational,
};
use argus_store::{Actor, Command, Durability, Store, StoreOptions};

const W: u32 = 1920;
const H: u32 = 1080;

/// An axis-aligned ellipse mask built directly as column-major runs.
fn ellipse(cx: f64, cy: f64, rx: f64, ry: f64) -> Rle {
    let mut counts = Vec::new();
    let mut zeros: u32 = 0;
    for x in 0..W {
        let dx = (f64::from(x) + 0.5 - cx) / rx;
        if dx.abs() >= 1.0 {
            zeros += H;
            continue;
        }
        let half = ry * (1.0 - dx * dx).sqrt();
        let y0 = (cy - half).round().clamp(0.0, f64::from(H)) as u32;
        let y1 = (cy + half).round().clamp(0.0, f64::from(H)) as u32;
        if y1 <= y0 {
            zeros += H;
            continue;
        }
        counts.push(zeros + y0);
        counts.push(y1 - y0);
        zeros = H - y1;
    }
    counts.push(zeros);
    Rle::new(H, W, counts).expect("ellipse covers the frame exactly")
}

fn video(project: argus_core::id::ProjectId, frames: u64) -> Video {
    Video {
        id: VideoId::new(),
        project_id: project,
        name: "bench.mp4".into(),
        sha256: "b".repeat(64),
        width: W,
        height: H,
        frame_rate: Rational::new(30, 1).expect("rate"),
        frame_count: frames,
        duration: Rational::new(frames as i64, 30).expect("duration"),
        codec: "h264".into(),
        rotation: Rotation::R0,
        local_path: None,
        object_key: None,
        remote: Default::default(),
        created_at: Timestamp(0),
    }
}

fn track(video: VideoId, label: &Label) -> Track {
    Track::new(video, label.id, None, Timestamp(0))
}

fn shape(track: TrackId, frame: u64, rle: Rle) -> Shape {
    Shape {
        keyframe: false,
        score: Some(0.9),
        ..Shape::keyframe(track, frame, Geometry::Mask(rle), ShapeSource::Propagated, Timestamp(0))
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Store,
    video: Video,
    label: Label,
    actor: Actor,
}

async fn setup(durability: Durability, frames: u64) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_with(dir.path().join("bench.db"), StoreOptions { durability, backups_kept: 0, ..Default::default() })
        .await
        .expect("open");
    let (project, schema) = store.create_project("Bench", vec![Label::new("car", Colour::palette(0))]).await.expect("project");
    let video = store.add_video(video(project.id, frames)).await.expect("video");
    let label = schema.labels()[0].clone();
    Setup { _dir: dir, store, video, label, actor: Actor { user: UserId::new(), role: Role::Lead } }
}

/// Single durable edits per second: each `apply` commits before the next.
async fn edit_rate(durability: Durability, edits: u64) -> f64 {
    let s = setup(durability, 10_000).await;
    let t = track(s.video.id, &s.label);
    s.store.apply(&s.actor, Command::CreateTrack { track: t.clone(), shapes: vec![] }).await.expect("track");
    let masks: Vec<Rle> = (0..edits).map(|i| ellipse(400.0 + i as f64, 500.0, 120.0, 80.0)).collect();
    let start = Instant::now();
    for (i, m) in masks.into_iter().enumerate() {
        s.store.apply(&s.actor, Command::SetShape { shape: shape(t.id, i as u64, m) }).await.expect("edit");
    }
    edits as f64 / start.elapsed().as_secs_f64()
}

fn p95(mut v: Vec<Duration>) -> f64 {
    v.sort();
    let i = ((v.len() as f64) * 0.95).ceil() as usize;
    v[i.saturating_sub(1).min(v.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Durable edit rate, FULL (the default) and NORMAL side by side.
    let full = edit_rate(Durability::Full, 300).await;
    let normal = edit_rate(Durability::Normal, 300).await;
    println!("store.edit_rate: {full:.0} edits/s");
    println!("store.edit_rate_sync_normal: {normal:.0} edits/s");
    println!("store.edit_rate.ratio: {:.2} (vs synchronous=NORMAL)", full / normal);

    // One bulk command of 500 propagated 1080p masks, and its undo.
    let s = setup(Durability::Full, 1000).await;
    let mut bulk_ms = Vec::new();
    let mut undo_ms = Vec::new();
    for run in 0..3 {
        let t = track(s.video.id, &s.label);
        s.store.apply(&s.actor, Command::CreateTrack { track: t.clone(), shapes: vec![] }).await.expect("track");
        let shapes: Vec<Shape> =
            (0..500).map(|f| shape(t.id, f, ellipse(300.0 + f as f64 * 2.0 + run as f64, 540.0, 200.0, 150.0))).collect();
        let start = Instant::now();
        s.store.apply(&s.actor, Command::SetShapes { shapes }).await.expect("bulk");
        bulk_ms.push(start.elapsed().as_secs_f64() * 1000.0);
        let start = Instant::now();
        s.store.undo(s.video.project_id).await.expect("undo");
        undo_ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    bulk_ms.sort_by(f64::total_cmp);
    undo_ms.sort_by(f64::total_cmp);
    println!("store.bulk_500_masks: {:.1} ms", bulk_ms[1]);
    println!("store.undo_bulk_500_masks: {:.1} ms", undo_ms[1]);

    // 1,000 objects on one frame, each with a 1080p mask.
    let s = setup(Durability::Normal, 10).await;
    let mut masks = Vec::new();
    for i in 0..1000u32 {
        let t = track(s.video.id, &s.label);
        let m = ellipse(
            f64::from(60 + (i * 37) % 1800),
            f64::from(60 + (i * 53) % 960),
            f64::from(20 + i % 90),
            f64::from(15 + (i * 7) % 70),
        );
        masks.push(m.clone());
        let sh = shape(t.id, 0, m);
        s.store.apply(&s.actor, Command::CreateTrack { track: t, shapes: vec![sh] }).await.expect("object");
    }
    let mut times = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        let shapes = s.store.frame_shapes(s.video.id, 0).await.expect("query");
        times.push(start.elapsed());
        assert_eq!(shapes.len(), 1000);
    }
    let mut sorted = times.clone();
    sorted.sort();
    println!("store.frame_query_median_1000objects: {:.2} ms", sorted[sorted.len() / 2].as_secs_f64() * 1000.0);
    println!("store.frame_query_p95_1000objects: {:.2} ms", p95(times));

    // Storage of those 1,000 masks: our varint BLOBs vs COCO JSON.
    let blob: usize = masks.iter().map(|m| argus_store::codec::encode_counts(m.counts()).len()).sum();
    let coco: usize = masks.iter().map(|m| serde_json::to_string(m).expect("json").len()).sum();
    println!("store.bytes_per_1000_masks: {blob} bytes");
    println!("store.bytes_per_1000_masks.ratio: {:.3} (vs COCO JSON)", blob as f64 / coco as f64);
    // The whole stored shape record (ids, flags, times, mask) for the same masks.
    let shapes = s.store.frame_shapes(s.video.id, 0).await.expect("query");
    let records: usize = shapes.iter().map(|sh| argus_store::codec::encode_shape(sh).expect("encode").len()).sum();
    println!("store.bytes_per_1000_shape_records: {records} bytes");
    s.store.close().await;
}
