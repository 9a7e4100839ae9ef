//! Shared fixtures: a store in a temp dir with one project, one small video
//! and a schema with two labels.

#![allow(dead_code)] // each test binary uses a different subset

use argus_core::{
    id::{ProjectId, TrackId, UserId, VideoId},
    mask::Rle,
    model::{
        AttributeKind, AttributeSpec, Colour, Geometry, Label, LabelSchema, Role, Rotation, Shape, ShapeKind,
        ShapeSource, Timestamp, Track, Video,
    },
    time::Rational,
};
use argus_store::{Actor, Store, StoreOptions};

pub const W: u32 = 64;
pub const H: u32 = 48;
pub const FRAMES: u64 = 100;

#[derive(Debug)]
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub project: ProjectId,
    pub schema: LabelSchema,
    pub video: Video,
    pub actor: Actor,
}

impl Fixture {
    pub fn car(&self) -> &Label {
        self.schema.label_by_name("car").expect("fixture label")
    }
    pub fn person(&self) -> &Label {
        self.schema.label_by_name("person").expect("fixture label")
    }
    pub fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("argus.db")
    }
}

pub fn labels() -> Vec<Label> {
    vec![
        Label::new("car", Colour::palette(0))
            .with_kinds(&[ShapeKind::Mask, ShapeKind::Polygon, ShapeKind::BBox])
            .with_attribute(AttributeSpec { name: "parked".into(), kind: AttributeKind::Bool { default: false }, per_frame: true })
            .with_attribute(AttributeSpec { name: "make".into(), kind: AttributeKind::Text { default: String::new() }, per_frame: false }),
        Label::new("person", Colour::palette(1)).with_kinds(&[ShapeKind::Mask, ShapeKind::BBox]),
    ]
}

pub fn video(project: ProjectId, sha_char: char) -> Video {
    Video {
        id: VideoId::new(),
        project_id: project,
        name: "clip.mp4".into(),
        sha256: sha_char.to_string().repeat(64),
        width: W,
        height: H,
        frame_rate: Rational::new(25, 1).expect("rate"),
        frame_count: FRAMES,
        duration: Rational::new(4, 1).expect("duration"),
        codec: "h264".into(),
        rotation: Rotation::R0,
        local_path: Some("/videos/clip.mp4".into()),
        object_key: None,
        remote: Default::default(),
        created_at: Timestamp(0),
    }
}

pub async fn fixture_with(options: StoreOptions) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_with(dir.path().join("argus.db"), options).await.expect("open");
    let (project, schema) = store.create_project("Street", labels()).await.expect("project");
    let video = store.add_video(video(project.id, 'a')).await.expect("video");
    Fixture { dir, store, project: project.id, schema, video, actor: Actor { user: UserId::new(), role: Role::Lead } }
}

pub async fn fixture() -> Fixture {
    fixture_with(StoreOptions::default()).await
}

/// A rectangle mask of the fixture video's size.
pub fn rect_mask(x0: u32, y0: u32, w: u32, h: u32) -> Rle {
    let mut px = vec![0u8; (W * H) as usize];
    for y in y0..(y0 + h).min(H) {
        for x in x0..(x0 + w).min(W) {
            px[(y * W + x) as usize] = 1;
        }
    }
    Rle::from_bitmap_row_major(H, W, &px).expect("mask")
}

pub fn track(video: VideoId, label: &Label) -> Track {
    Track::new(video, label.id, None, Timestamp(0))
}

pub fn shape(track: TrackId, frame: u64, geometry: Geometry) -> Shape {
    Shape::keyframe(track, frame, geometry, ShapeSource::Manual, Timestamp(0))
}

pub fn mask_shape(track: TrackId, frame: u64, x: u32) -> Shape {
    shape(track, frame, Geometry::Mask(rect_mask(x, 4, 10, 12)))
}

/// Row counts of the tables an edit touches, to prove a refused edit changed nothing.
pub async fn counts(store: &Store, project: ProjectId) -> (usize, u64, (u64, u64)) {
    let mut shapes = 0;
    for v in store.videos(project).await.expect("videos") {
        for c in store.frame_counts(v.id).await.expect("counts") {
            shapes += c.shapes as usize;
        }
    }
    (shapes, store.pending_count(project).await.expect("outbox"), store.history_depth(project).await.expect("history"))
}
