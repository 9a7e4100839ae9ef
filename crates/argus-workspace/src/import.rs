//! Dataset import: reads a dataset with argus-formats' streaming readers
//! and writes its annotations into a project as one undo step.
//!
//! The reader runs on a blocking thread and hands records over a bounded
//! channel to one store batch ([`Store::batch`](argus_store::Store::batch)),
//! which applies them as they come: memory holds a bounded number of
//! pending shapes, not the dataset, and the whole import (or, when it fails
//! or is cancelled, none of it) is written and undone as one step.
//!
//! Everything that cannot go in is left out with the reason, in the
//! summary: an unknown label (unless labels may be created), a frame of a
//! video the project lacks, a mask of another size than the video, a shape
//! kind the label does not allow, a second shape of one track on one frame.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fs,
    io::BufReader,
    path::Path,
};

use argus_core::{
    id::{LabelId, TrackId, VideoId},
    model::{AttributeValue, Attributes, Colour, Label, LabelSchema, Shape, Track, Video},
};
use argus_formats::{
    Annotation, Category, Progress, Report,
    coco::{self, CocoIndex},
    native::{self, Record},
};
use argus_store::{Actor, Batch, Command};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use ts_rs::TS;

use crate::{
    CommandError, CommandResult, Workspace,
    dto::{TransferProgress, TransferSummary},
    edit::parse_id,
    export::{CROWD_ATTRIBUTES, Cancel},
};

mod stills;
mod voc;

/// Which format a dataset is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "ImportFormat.ts")]
pub enum ImportFormat {
    Coco,
    Cvat,
    Yolo,
    Mot,
    Native,
    /// Pascal VOC boxes (`Annotations/`), its images as an image-sequence video.
    Voc,
}

/// How to import.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
#[ts(export_to = "ImportOptions.ts")]
pub struct ImportOptions {
    /// The format; found from the path when absent.
    pub format: Option<ImportFormat>,
    /// The video (id) the dataset's images are frames of, for datasets that
    /// do not name their videos (frame numbers come from the file names).
    pub video: Option<String>,
    /// Add labels the project lacks instead of leaving their annotations out.
    pub create_labels: bool,
}

/// Shapes held before they are written (bounds memory: ~10 MB of 1080p
/// masks). Each write is one command per track with shapes pending, so the
/// more shapes a write takes, the fewer commands (and queries) per shape.
const PENDING: usize = 8192;

impl ImportFormat {
    /// The format of the file or folder at `path`, from its name and content.
    pub fn detect(path: &Path) -> CommandResult<Self> {
        let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
        if path.is_dir() {
            if path.join("data.yaml").is_file() || path.join("data.yml").is_file() {
                return Ok(Self::Yolo);
            }
            let sub_dirs = || fs::read_dir(path).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_dir());
            if path.join("gt").join("gt.txt").is_file() || sub_dirs().any(|d| d.join("gt").join("gt.txt").is_file()) {
                return Ok(Self::Mot);
            }
            if coco_file_in(path).is_some() {
                return Ok(Self::Coco);
            }
            if path.join("Annotations").is_dir() && path.join("JPEGImages").is_dir() {
                return Ok(Self::Voc);
            }
            if path.join("project.argus.jsonl").is_file() {
                return Ok(Self::Native);
            }
            if path.join("annotations.xml").is_file() || sub_dirs().any(|d| d.join("annotations.xml").is_file()) {
                return Ok(Self::Cvat);
            }
            return Err(CommandError::invalid(format!(
                "cannot tell the dataset format of the folder (no data.yaml, gt/gt.txt, annotations/instances_*.json, annotations.xml or project.argus.jsonl); name the format: {}",
                path.display()
            )));
        }
        if name.ends_with(".jsonl") {
            Ok(Self::Native)
        } else if name.ends_with(".json") {
            Ok(Self::Coco)
        } else if name.ends_with(".xml") {
            Ok(Self::Cvat)
        } else if name == "gt.txt" {
            Ok(Self::Mot)
        } else if name == "data.yaml" || name == "data.yml" {
            Ok(Self::Yolo)
        } else {
            Err(CommandError::invalid(format!("cannot tell the dataset format from the file name; name the format: {}", path.display())))
        }
    }
}

/// The project an import writes into, and how dataset names map onto it.
struct Target {
    schema: LabelSchema,
    videos: Vec<Video>,
    actor: Actor,
    /// An image dataset's frames in its image-sequence video (`stills`).
    stills: Option<stills::Stills>,
}

impl Target {
    fn label(&self, name: &str) -> Option<&argus_core::model::Label> {
        self.schema.label_by_name(name).or_else(|| self.schema.labels().iter().find(|l| l.name.eq_ignore_ascii_case(name)))
    }

    /// A video of the project by name; an ambiguous name is refused.
    fn video_named(&self, name: &str) -> Result<&Video, String> {
        let mut found = self.videos.iter().filter(|v| v.name == name);
        match (found.next(), found.next()) {
            (Some(v), None) => Ok(v),
            (Some(_), Some(_)) => Err(format!("the project has two videos named '{name}'; import into one with --video")),
            (None, _) => Err(format!("video '{name}' is not in the project; import the video first")),
        }
    }
}

/// Builds shapes from records and writes them through a batch, grouped by
/// track.
struct Writer {
    report: Report,
    /// Dataset track key -> our track, its label and its frames so far.
    tracks: HashMap<(VideoId, u64), TrackState>,
    pending: BTreeMap<TrackId, Vec<Shape>>,
    pending_count: usize,
    next_anonymous: u64,
    unknown_attributes: HashSet<String>,
}

struct TrackState {
    track: Track,
    created: bool,
    frames: HashSet<u64>,
}

impl Writer {
    fn new() -> Self {
        Self {
            report: Report::default(),
            tracks: HashMap::new(),
            pending: BTreeMap::new(),
            pending_count: 0,
            next_anonymous: u64::MAX,
            unknown_attributes: HashSet::new(),
        }
    }

    fn skip(&mut self, at: String, reason: String) {
        self.report.skipped.push(argus_formats::Skipped { at, reason });
    }

    /// Checks one record against the project and queues its shape; what
    /// does not fit is skipped with the reason, so the batch never fails on
    /// data.
    #[allow(clippy::too_many_arguments)] // the record's parts, from several readers
    fn add(&mut self, at: String, video: &Video, frame: u64, label: &Label, track_key: Option<u64>, a: Annotation, actor: Actor) {
        let key = (video.id, track_key.unwrap_or_else(|| {
            self.next_anonymous -= 1;
            self.next_anonymous
        }));
        let (track_attrs, shape_attrs) = self.split_attributes(label, a.attributes, a.crowd);
        let state = self.tracks.entry(key).or_insert_with(|| {
            let mut track = Track::new(video.id, label.id, Some(actor.user), argus_core::model::Timestamp(0));
            track.attributes = track_attrs.clone();
            TrackState { track, created: false, frames: HashSet::new() }
        });
        if state.track.label_id != label.id {
            self.skip(at, format!("track {} has another label before this shape; a track keeps one label", key.1));
            return;
        }
        if !state.frames.insert(frame) {
            self.skip(at, format!("track {} already has a shape on frame {frame}", key.1));
            return;
        }
        let mut shape = Shape::keyframe(state.track.id, frame, a.geometry, a.source, argus_core::model::Timestamp(0));
        shape.keyframe = a.keyframe;
        shape.occluded = a.occluded;
        shape.outside = a.outside;
        shape.score = a.score;
        shape.attributes = shape_attrs;
        shape.author = Some(actor.user);
        if let Err(e) = shape.validate(video, label) {
            state.frames.remove(&frame);
            self.skip(at, e.to_string());
            return;
        }
        let track_id = state.track.id;
        self.pending.entry(track_id).or_default().push(shape);
        self.pending_count += 1;
        self.report.annotations += 1;
    }

    /// Track attributes, shape attributes, as the label defines them; the
    /// rest is dropped once with a note.
    fn split_attributes(&mut self, label: &Label, attributes: Attributes, crowd: bool) -> (Attributes, Attributes) {
        let (mut track, mut shape) = (Attributes::new(), Attributes::new());
        let mut all = attributes;
        if crowd {
            match CROWD_ATTRIBUTES.iter().find(|n| label.attribute(n).is_some()) {
                Some(n) => {
                    all.insert((*n).to_owned(), AttributeValue::Bool(true));
                }
                None => {
                    if self.unknown_attributes.insert(format!("{}/iscrowd", label.name)) {
                        self.skip(
                            format!("label '{}'", label.name),
                            "crowd regions were imported as ordinary shapes: the label has no iscrowd attribute".into(),
                        );
                    }
                }
            }
        }
        for (name, value) in all {
            match label.attribute(&name) {
                Some(spec) if spec.check(&value).is_ok() => {
                    if spec.per_frame {
                        shape.insert(name, value);
                    } else {
                        track.insert(name, value);
                    }
                }
                _ => {
                    if self.unknown_attributes.insert(format!("{}/{name}", label.name)) {
                        self.skip(
                            format!("label '{}', attribute '{name}'", label.name),
                            "the label does not define this attribute (or not of this type); its values were left out".into(),
                        );
                    }
                }
            }
        }
        (track, shape)
    }

    async fn flush(&mut self, batch: &mut Batch<'_>, all: bool) -> CommandResult<()> {
        if !all && self.pending_count < PENDING {
            return Ok(());
        }
        let states: HashMap<TrackId, (VideoId, u64)> = self.tracks.iter().map(|(k, s)| (s.track.id, *k)).collect();
        for (track_id, shapes) in std::mem::take(&mut self.pending) {
            let Some(key) = states.get(&track_id) else { continue };
            let Some(state) = self.tracks.get_mut(key) else { continue };
            if state.created {
                batch.apply(Command::SetShapes { shapes }).await?;
            } else {
                state.created = true;
                self.report.tracks += 1;
                batch.apply(Command::CreateTrack { track: state.track.clone(), shapes }).await?;
            }
        }
        self.pending_count = 0;
        Ok(())
    }
}

/// Bridges a reader's progress to the channel's consumer and its cancel.
struct Ticks {
    cancel: Cancel,
}

impl Progress for Ticks {
    fn tick(&mut self, _done: u64, _total: u64) -> bool {
        !self.cancel.is_cancelled()
    }
}

enum Item {
    Annotations(Vec<Annotation>),
    Record(Box<Record>),
}

/// Records a reader hands over at a time.
const HANDOFF: usize = 128;

/// The frame number in an image's file name: the last run of digits of its
/// stem (`000123.jpg`, `frame_42.png`).
fn frame_in_name(name: &str) -> Option<u64> {
    let stem = Path::new(name).file_stem()?.to_str()?;
    let end = stem.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = stem[..end].rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| i + 1);
    stem[start..end].parse().ok()
}

impl Workspace {
    /// Imports the dataset at `path` into a project as one undo step.
    pub async fn import_annotations(
        &self,
        project_id: &str,
        path: &Path,
        options: &ImportOptions,
        progress: impl Fn(TransferProgress) + Send + Sync + 'static,
        cancel: &Cancel,
    ) -> CommandResult<TransferSummary> {
        let id = parse_id("project", project_id)?;
        let store = self.store();
        let project = store.project(id).await?;
        let actor = store.actor(id, store.local_user()).await?;
        let format = match options.format {
            Some(f) => f,
            None => ImportFormat::detect(path)?,
        };
        let file = match format {
            ImportFormat::Coco if path.is_dir() => coco_file_in(path).unwrap_or_else(|| path.join(crate::export::COCO_ANNOTATIONS)),
            ImportFormat::Cvat if path.is_dir() => path.join("annotations.xml"),
            ImportFormat::Native if path.is_dir() => path.join("project.argus.jsonl"),
            _ => path.to_path_buf(),
        };
        if !file.exists() {
            return Err(CommandError::not_found(format!("no such file or folder: {}", file.display())));
        }
        let fixed_video = options.video.as_deref().map(|v| parse_id::<VideoId>("video", v)).transpose()?;
        let mut target = Target { schema: store.schema(id).await?, videos: store.videos(id).await?, actor, stills: None };
        if let Some(v) = fixed_video
            && !target.videos.iter().any(|x| x.id == v)
        {
            return Err(CommandError::not_found(format!("video {v} is not in project '{}'", project.name)));
        }
        let mut report = match format {
            ImportFormat::Coco => {
                // The index first (stopping at the first annotation): labels
                // to create are added before the batch starts.
                let index = coco_index(&file)?;
                if fixed_video.is_none() && index.images.iter().any(|im| im.video.is_none()) {
                    target.stills = Some(self.coco_stills(&mut target, id, &file, &index, &progress).await?);
                }
                if options.create_labels {
                    self.add_missing_labels(&mut target, id, index.categories.iter().map(|c| (c.name.as_str(), c.colour))).await?;
                }
                self.import_coco(&target, id, &file, fixed_video, index, &progress, cancel).await?
            }
            ImportFormat::Native => {
                let header = native_header(&file)?;
                if options.create_labels {
                    let labels: Vec<(String, Option<Colour>)> = header.schema.labels().iter().map(|l| (l.name.clone(), Some(l.colour))).collect();
                    self.add_missing_labels(&mut target, id, labels.iter().map(|(n, c)| (n.as_str(), *c))).await?;
                }
                let labels_by_file = header.schema.labels().iter().map(|l| (l.id, l.name.clone())).collect();
                self.import_native(&target, id, &file, labels_by_file, &progress, cancel).await?
            }
            ImportFormat::Cvat => {
                let meta = {
                    let f = fs::File::open(&file).map_err(|e| CommandError::internal(format!("could not open {} ({e})", file.display())))?;
                    argus_formats::cvat::CvatReader::new(BufReader::new(f))?.meta().clone()
                };
                if options.create_labels {
                    self.add_missing_labels(&mut target, id, meta.labels.iter().map(|c| (c.name.as_str(), c.colour))).await?;
                }
                let video = match fixed_video {
                    Some(v) => target.videos.iter().position(|x| x.id == v),
                    None => match target.video_named(&meta.task.name) {
                        Ok(v) => target.videos.iter().position(|x| x.id == v.id),
                        Err(reason) if target.videos.len() == 1 => {
                            tracing::info!("{reason}; using the project's only video");
                            Some(0)
                        }
                        Err(reason) => return Err(CommandError::invalid(format!("{reason} (the CVAT task is named '{}'); choose the video", meta.task.name))),
                    },
                }
                .ok_or_else(|| CommandError::not_found("no such video in the project"))?;
                self.import_cvat(&target, id, &file, video, &progress, cancel).await?
            }
            ImportFormat::Yolo | ImportFormat::Mot => {
                let root = if file.is_dir() { file.clone() } else { file.parent().map(Path::to_path_buf).unwrap_or_default() };
                let root = if format == ImportFormat::Mot && root.ends_with("gt") { root.parent().map(Path::to_path_buf).unwrap_or(root) } else { root };
                let categories = frame_dataset_labels(&root, format)?;
                if format == ImportFormat::Yolo && fixed_video.is_none() {
                    target.stills = self.yolo_stills(&mut target, id, &root, &progress).await?;
                }
                if options.create_labels {
                    self.add_missing_labels(&mut target, id, categories.iter().map(|c| (c.name.as_str(), c.colour))).await?;
                }
                self.import_frames(&target, id, &root, categories, fixed_video, format, &progress, cancel).await?
            }
            ImportFormat::Voc => {
                let root = if file.is_dir() { file.clone() } else { file.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default() };
                self.import_voc(&mut target, id, &root, options.create_labels, &progress, cancel).await?
            }
        };
        if let Some(s) = &target.stills {
            report.skipped.splice(0..0, s.skipped.iter().cloned());
        }
        Ok(TransferSummary::new(&file, report))
    }

    async fn add_missing_labels<'a>(&self, target: &mut Target, project: argus_core::id::ProjectId, names: impl Iterator<Item = (&'a str, Option<Colour>)>) -> CommandResult<()> {
        let mut new = Vec::new();
        for (name, colour) in names {
            if target.label(name).is_none() && !new.iter().any(|l: &Label| l.name.eq_ignore_ascii_case(name)) {
                let colour = colour.unwrap_or_else(|| Colour::palette(target.schema.labels().len() + new.len()));
                new.push(Label::new(name, colour));
            }
        }
        if !new.is_empty() {
            target.schema = self.store().add_labels(project, &target.actor, new).await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // one caller
    async fn import_coco(
        &self,
        target: &Target,
        project: argus_core::id::ProjectId,
        file: &Path,
        fixed_video: Option<VideoId>,
        index: CocoIndex,
        progress: &(dyn Fn(TransferProgress) + Send + Sync),
        cancel: &Cancel,
    ) -> CommandResult<Report> {
        // Category id -> label, image id -> (video, frame), or why not.
        let mut labels: HashMap<u32, Result<LabelId, String>> = HashMap::new();
        for c in &index.categories {
            let l = target.label(&c.name).map(|l| l.id).ok_or_else(|| {
                format!("label '{}' is not in the project; add it, or import with labels created", c.name)
            });
            labels.insert(c.id, l);
        }
        let mut images: HashMap<u64, Result<(usize, u64), String>> = HashMap::new();
        for im in &index.images {
            let place = match (&im.video, fixed_video) {
                (_, Some(v)) => match frame_in_name(&im.file_name).or(im.video.as_ref().map(|v| v.frame)) {
                    Some(frame) => target.videos.iter().position(|x| x.id == v).map(|i| (i, frame)).ok_or_else(|| "no such video".to_owned()),
                    None => Err(format!("image '{}' has no frame number in its name", im.file_name)),
                },
                (Some(vf), None) => target.video_named(&vf.video).map(|v| (target.videos.iter().position(|x| x.id == v.id).unwrap_or(0), vf.frame)),
                (None, None) if target.stills.is_some() => target.stills.as_ref().map_or_else(|| Err(String::new()), |s| s.place(&im.id.to_string())),
                (None, None) => Err(format!(
                    "image '{}' names no video; import it as frames of a video of the project (choose the video)",
                    im.file_name
                )),
            };
            let place = place.and_then(|(vi, frame)| {
                let v = &target.videos[vi];
                let (w, h) = v.display_size();
                if (im.width, im.height) != (w, h) {
                    Err(format!("image '{}' is {}x{} but video '{}' is {w}x{h}", im.file_name, im.width, im.height, v.name))
                } else {
                    Ok((vi, frame))
                }
            });
            images.insert(im.id, place);
        }
        // Records go over in lists of HANDOFF: one wake-up of the batch per
        // list, not per record. The channel holds as many records as a write
        // takes, so the reader keeps parsing while the batch writes.
        let (tx, mut rx) = mpsc::channel::<Item>(PENDING / HANDOFF);
        let path = file.to_path_buf();
        let ticks = Ticks { cancel: cancel.clone() };
        let reader = tokio::task::spawn_blocking(move || -> CommandResult<Report> {
            let mut ticks = ticks;
            let open = || fs::File::open(&path);
            let mut list = Vec::with_capacity(HANDOFF);
            let (_, report) = coco::read(open, &mut ticks, |_, a| {
                list.push(a);
                if list.len() == HANDOFF {
                    let full = std::mem::replace(&mut list, Vec::with_capacity(HANDOFF));
                    tx.blocking_send(Item::Annotations(full)).map_err(|_| argus_formats::Error::Cancelled)?;
                }
                Ok(())
            })?;
            if !list.is_empty() {
                tx.blocking_send(Item::Annotations(list)).map_err(|_| argus_formats::Error::Cancelled)?;
            }
            Ok(report)
        });
        let summary = format!("import {}", file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let actor = target.actor;
        let (w, read, ()) = self
            .import_batch(project, actor, &summary, cancel, reader, async |batch: &mut Batch<'_>, w: &mut Writer| {
                let mut n = 0u64;
                while let Some(item) = rx.recv().await {
                    let Item::Annotations(list) = item else { continue };
                    for a in list {
                        let at = format!("annotation {} (image {})", a.id, a.image_id);
                        n += 1;
                        let place = match images.get(&a.image_id) {
                            Some(Ok(p)) => *p,
                            Some(Err(reason)) => {
                                w.skip(at, reason.clone());
                                continue;
                            }
                            None => continue,
                        };
                        let label = match labels.get(&a.category_id) {
                            Some(Ok(l)) => *l,
                            Some(Err(reason)) => {
                                w.skip(at, reason.clone());
                                continue;
                            }
                            None => continue,
                        };
                        let (vi, frame) = place;
                        let video = &target.videos[vi];
                        let Ok(label) = target.schema.label(label) else { continue };
                        let key = a.track.map(u64::from);
                        w.add(at, video, frame, label, key, a, actor);
                        w.flush(batch, false).await?;
                        if n.is_multiple_of(1024) {
                            progress(TransferProgress { stage: "annotations".into(), done: n, total: 0 });
                        }
                    }
                }
                Ok(())
            })
            .await?;
        let mut report = w.report;
        report.skipped.splice(0..0, read.skipped);
        report.images = read.images;
        Ok(report)
    }

    async fn import_native(
        &self,
        target: &Target,
        project: argus_core::id::ProjectId,
        file: &Path,
        labels_by_file: HashMap<LabelId, String>,
        progress: &(dyn Fn(TransferProgress) + Send + Sync),
        cancel: &Cancel,
    ) -> CommandResult<Report> {
        let (tx, mut rx) = mpsc::channel::<Item>(1024);
        let path = file.to_path_buf();
        let ticks = Ticks { cancel: cancel.clone() };
        let reader = tokio::task::spawn_blocking(move || -> CommandResult<native::Header> {
            let mut ticks = ticks;
            let f = fs::File::open(&path).map_err(|e| CommandError::internal(format!("could not open {} ({e})", path.display())))?;
            Ok(native::read(BufReader::with_capacity(1 << 16, f), &mut ticks, |_, r| {
                tx.blocking_send(Item::Record(Box::new(r))).map_err(|_| argus_formats::Error::Cancelled)
            })?)
        });
        let summary = format!("import {}", file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let actor = target.actor;
        let (w, _header, ()) = self
            .import_batch(project, actor, &summary, cancel, reader, async |batch: &mut Batch<'_>, w: &mut Writer| {
                // The file's video id -> ours (by content), or why not; its
                // track id -> (video, label, number).
                let mut videos: HashMap<VideoId, Result<usize, String>> = HashMap::new();
                let mut tracks: HashMap<TrackId, Result<(usize, LabelId, u64), String>> = HashMap::new();
                let mut track_attributes: HashMap<TrackId, Attributes> = HashMap::new();
                let mut n = 0u64;
                while let Some(item) = rx.recv().await {
                    let Item::Record(r) = item else { continue };
                    n += 1;
                    match *r {
                        Record::Video(v) => {
                            let ours = target.videos.iter().position(|x| x.sha256 == v.sha256).ok_or_else(|| {
                                format!("video '{}' (sha256 {}) is not in the project; import the video file first", v.name, &v.sha256[..12.min(v.sha256.len())])
                            });
                            if let Err(reason) = &ours {
                                w.skip(format!("video '{}'", v.name), reason.clone());
                            }
                            videos.insert(v.id, ours);
                        }
                        Record::Track(t) => {
                            let name = labels_by_file.get(&t.label_id).cloned();
                            let state = match (videos.get(&t.video_id), name.as_deref().and_then(|n| target.label(n))) {
                                (Some(Ok(vi)), Some(label)) => Ok((*vi, label.id, u64::from(t.number))),
                                (Some(Err(reason)), _) => Err(reason.clone()),
                                (None, _) => Err(format!("its video {} is not in the file", t.video_id)),
                                (_, None) => Err(format!("label '{}' is not in the project; add it, or import with labels created", name.unwrap_or_default())),
                            };
                            if let Err(reason) = &state
                                && !matches!(videos.get(&t.video_id), Some(Err(_)))
                            {
                                w.skip(format!("track {}", t.number), reason.clone());
                            }
                            tracks.insert(t.id, state);
                            // Track attributes ride on every shape and are split back.
                            track_attributes.insert(t.id, t.attributes);
                        }
                        Record::Shape(s) => {
                            let Some(Ok((vi, label, number))) = tracks.get(&s.track_id).cloned() else { continue };
                            let video = &target.videos[vi];
                            let Ok(label) = target.schema.label(label) else { continue };
                            let mut attributes = track_attributes.get(&s.track_id).cloned().unwrap_or_default();
                            attributes.extend(s.attributes);
                            let a = Annotation {
                                id: n,
                                image_id: 0,
                                category_id: 0,
                                track: None,
                                geometry: s.geometry,
                                crowd: false,
                                occluded: s.occluded,
                                outside: s.outside,
                                keyframe: s.keyframe,
                                source: s.source,
                                score: s.score,
                                attributes,
                            };
                            w.add(format!("track {number}, frame {}", s.frame), video, s.frame, label, Some(number), a, actor);
                            w.flush(batch, false).await?;
                        }
                        Record::Review(_) | Record::Comment(_) | Record::End { .. } => {}
                    }
                    if n.is_multiple_of(1024) {
                        progress(TransferProgress { stage: "records".into(), done: n, total: 0 });
                    }
                }
                Ok(())
            })
            .await?;
        Ok(w.report)
    }
}

impl Workspace {
    /// CVAT for video (or images) 1.1 into one video of the project. A
    /// track's closing `outside` shape (after its last frame) marks where it
    /// ends, which an Argus track does by its last shape: it is not stored.
    async fn import_cvat(
        &self,
        target: &Target,
        project: argus_core::id::ProjectId,
        file: &Path,
        video: usize,
        progress: &(dyn Fn(TransferProgress) + Send + Sync),
        cancel: &Cancel,
    ) -> CommandResult<Report> {
        let (tx, mut rx) = mpsc::channel::<argus_formats::cvat::CvatTrack>(64);
        let path = file.to_path_buf();
        let ticks = Ticks { cancel: cancel.clone() };
        let reader = tokio::task::spawn_blocking(move || -> CommandResult<Report> {
            let mut ticks = ticks;
            let f = fs::File::open(&path).map_err(|e| CommandError::internal(format!("could not open {} ({e})", path.display())))?;
            let total = f.metadata().map(|m| m.len()).unwrap_or(0);
            let reader = argus_formats::cvat::CvatReader::new(BufReader::with_capacity(1 << 16, f))?.with_total_bytes(total);
            Ok(reader.read_tracks(&mut ticks, |t| tx.blocking_send(t).map_err(|_| argus_formats::Error::Cancelled))?)
        });
        let summary = format!("import {}", file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let actor = target.actor;
        let video = &target.videos[video];
        let (w, read, ()) = self
            .import_batch(project, actor, &summary, cancel, reader, async |batch: &mut Batch<'_>, w: &mut Writer| {
                let mut n = 0u64;
                while let Some(mut t) = rx.recv().await {
                    n += 1;
                    let Some(label) = target.label(&t.label) else {
                        w.skip(
                            format!("track {}", t.id.map_or_else(|| "(image shape)".into(), |i| i.to_string())),
                            format!("label '{}' is not in the project; add it, or import with labels created", t.label),
                        );
                        continue;
                    };
                    if t.shapes.last().is_some_and(|s| s.outside) {
                        t.shapes.pop();
                    }
                    let key = t.id.map(u64::from);
                    for s in t.shapes {
                        let mut attributes = t.attributes.clone();
                        attributes.extend(s.attributes);
                        let a = Annotation {
                            id: 0,
                            image_id: 0,
                            category_id: 0,
                            track: t.id,
                            geometry: s.geometry,
                            crowd: false,
                            occluded: s.occluded,
                            outside: s.outside,
                            keyframe: s.keyframe,
                            source: t.source,
                            score: None,
                            attributes,
                        };
                        let at = format!("track {}, frame {}", t.id.map_or_else(|| "(image shape)".into(), |i| i.to_string()), s.frame);
                        w.add(at, video, s.frame, label, key, a, actor);
                    }
                    w.flush(batch, false).await?;
                    progress(TransferProgress { stage: "tracks".into(), done: n, total: 0 });
                }
                Ok(())
            })
            .await?;
        let mut report = w.report;
        report.skipped.splice(0..0, read.skipped);
        report.changed = read.changed;
        Ok(report)
    }
}

/// One annotation of a frame dataset (YOLO, MOT): the folder it came from
/// (its sequence or image folder), the frame, the record.
struct FrameRecord {
    folder: String,
    frame: u64,
    annotation: Annotation,
}

impl Workspace {
    /// YOLO or MOT into the project: frame numbers from image names (YOLO)
    /// or rows (MOT); the video from the sequence's folder name, the chosen
    /// video, or the project's only one.
    #[allow(clippy::too_many_arguments)] // one caller per format
    async fn import_frames(
        &self,
        target: &Target,
        project: argus_core::id::ProjectId,
        file: &Path,
        categories: Vec<Category>,
        fixed_video: Option<VideoId>,
        format: ImportFormat,
        progress: &(dyn Fn(TransferProgress) + Send + Sync),
        cancel: &Cancel,
    ) -> CommandResult<Report> {
        let folders = crate::export::video_folders(&target.videos);
        let video_for = |folder: &str| -> Result<usize, String> {
            if let Some(v) = fixed_video {
                return target.videos.iter().position(|x| x.id == v).ok_or_else(|| "no such video".into());
            }
            if let Some(vi) = target.stills.as_ref().and_then(stills::Stills::video) {
                return Ok(vi);
            }
            let name = folder.rsplit('/').next().unwrap_or(folder);
            if let Some(i) = target.videos.iter().position(|v| folders.get(&v.id).is_some_and(|f| f == name) || v.name == name) {
                return Ok(i);
            }
            if target.videos.len() == 1 {
                return Ok(0);
            }
            Err(format!("'{folder}' names no video of the project; choose the video the frames belong to"))
        };
        let names: HashMap<u32, String> = categories.iter().map(|c| (c.id, c.name.clone())).collect();
        let (tx, mut rx) = mpsc::channel::<FrameRecord>(1024);
        let root = file.to_path_buf();
        let ticks = Ticks { cancel: cancel.clone() };
        let sizes: Vec<(u32, u32)> = target.videos.iter().map(Video::display_size).collect();
        let only_size = (sizes.len() == 1 || fixed_video.is_some()).then(|| {
            fixed_video.and_then(|v| target.videos.iter().position(|x| x.id == v)).map_or(sizes[0], |i| sizes[i])
        });
        let only_size = target.stills.as_ref().and_then(stills::Stills::video).and_then(|i| sizes.get(i).copied()).or(only_size);
        let still_frames = target.stills.as_ref().map(stills::Stills::frames);
        let reader = tokio::task::spawn_blocking(move || -> CommandResult<Report> {
            let mut ticks = ticks;
            match format {
                ImportFormat::Yolo => {
                    // Coordinates are fractions of the frame: the frame is the video's.
                    let mut size = |_: &str| only_size.or(sizes.first().copied());
                    let r = argus_formats::yolo::read_yolo_folder(&root, &mut size, &mut ticks, &mut |im| {
                        // Argus's YOLO export names images `<video folder>_<frame>`.
                        let folder = yolo_video_hint(&im.image.file_name)
                            .unwrap_or_else(|| Path::new(&im.image.file_name).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default());
                        let Some(frame) = still_frames.as_ref().map_or_else(|| frame_in_name(&im.image.file_name), |f| f.get(&im.image.file_name).copied()) else {
                            return Ok(());
                        };
                        for a in im.annotations {
                            tx.blocking_send(FrameRecord { folder: folder.clone(), frame, annotation: a }).map_err(|_| argus_formats::Error::Cancelled)?;
                        }
                        Ok(())
                    })?;
                    Ok(r.report)
                }
                _ => {
                    let mut files = Vec::new();
                    list_files(&root, "", &mut files);
                    let mut report = Report::default();
                    for seq in argus_formats::mot::find_sequences(&files) {
                        let mut read = |rel: &str| -> argus_formats::Result<Option<Vec<u8>>> {
                            match fs::read(root.join(rel)) {
                                Ok(b) => Ok(Some(b)),
                                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                                Err(e) => Err(argus_formats::Error::io(format!("reading {rel}"), e)),
                            }
                        };
                        let r = argus_formats::mot::read_mot_sequence(&seq, &mut read, &mut ticks, &mut |a| {
                            let frame = a.image_id;
                            tx.blocking_send(FrameRecord { folder: seq.clone(), frame, annotation: a }).map_err(|_| argus_formats::Error::Cancelled)
                        })?;
                        report.skipped.extend(r.report.skipped);
                        report.changed.extend(r.report.changed);
                    }
                    Ok(report)
                }
            }
        });
        let summary = format!("import {}", file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let actor = target.actor;
        let (w, read, images) = self
            .import_batch(project, actor, &summary, cancel, reader, async |batch: &mut Batch<'_>, w: &mut Writer| {
                let mut n = 0u64;
                let mut frames = HashSet::new();
                while let Some(r) = rx.recv().await {
                    n += 1;
                    let a = r.annotation;
                    let at = format!("{}, frame {}", if r.folder.is_empty() { "." } else { &r.folder }, r.frame);
                    let vi = match video_for(&r.folder) {
                        Ok(v) => v,
                        Err(reason) => {
                            w.skip(at, reason);
                            continue;
                        }
                    };
                    let name = names.get(&a.category_id).cloned().unwrap_or_default();
                    let Some(label) = target.label(&name) else {
                        w.skip(at, format!("label '{name}' is not in the project; add it, or import with labels created"));
                        continue;
                    };
                    frames.insert((vi, r.frame));
                    let key = a.track.map(|t| u64::from(t) | ((vi as u64) << 32));
                    w.add(at, &target.videos[vi], r.frame, label, key, a, actor);
                    w.flush(batch, false).await?;
                    if n.is_multiple_of(1024) {
                        progress(TransferProgress { stage: "annotations".into(), done: n, total: 0 });
                    }
                }
                Ok(frames.len() as u64)
            })
            .await?;
        let mut report = w.report;
        report.skipped.splice(0..0, read.skipped);
        report.changed = read.changed;
        report.images = images;
        Ok(report)
    }
}

/// Every file under `dir`, relative, `/`-separated (a dataset folder).
fn list_files(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let Ok(name) = e.file_name().into_string() else { continue };
        let r = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        match e.file_type() {
            Ok(t) if t.is_dir() => list_files(&e.path(), &r, out),
            Ok(_) => out.push(r),
            Err(_) => {}
        }
    }
}

impl Workspace {
    /// One import's store batch: `body` turns what `reader` sends into
    /// shapes through a [`Writer`]. The batch commits only when `body`, the
    /// last write and the reader all succeeded and nothing cancelled it, so
    /// an unreadable, failed or cancelled import writes nothing.
    async fn import_batch<T: Send + 'static, R>(
        &self,
        project: argus_core::id::ProjectId,
        actor: Actor,
        summary: &str,
        cancel: &Cancel,
        reader: tokio::task::JoinHandle<CommandResult<T>>,
        body: impl AsyncFnOnce(&mut Batch<'_>, &mut Writer) -> CommandResult<R>,
    ) -> CommandResult<(Writer, T, R)> {
        let mut failure: Option<CommandError> = None;
        let outcome = self
            .store()
            .batch(project, &actor, summary, async |batch: &mut Batch<'_>| {
                let mut w = Writer::new();
                let made = match body(batch, &mut w).await {
                    Ok(made) => cancel.check().and(w.flush(batch, true).await).map(|()| made),
                    Err(e) => Err(e),
                };
                // The reader ends once the body stops taking its records.
                let read = reader.await.unwrap_or_else(|e| Err(CommandError::internal(format!("the reader stopped: {e}"))));
                match (made, read) {
                    (Ok(made), Ok(read)) => Ok((w, read, made)),
                    (Err(e), _) | (_, Err(e)) => {
                        failure = Some(e);
                        Err(argus_store::Error::Conflict("the import stopped".into()))
                    }
                }
            })
            .await;
        if let Some(e) = failure {
            cancel.check()?;
            return Err(e);
        }
        Ok(outcome?.1)
    }
}

/// The video folder an Argus YOLO export put in an image's stem
/// (`<folder>_<frame>`), if the stem has that shape.
pub(crate) fn yolo_video_hint(file_name: &str) -> Option<String> {
    let stem = Path::new(file_name).file_stem()?.to_str()?;
    let (prefix, digits) = stem.rsplit_once('_')?;
    (!prefix.is_empty() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| prefix.to_owned())
}

/// The COCO file of a dataset folder: `annotations/instances_<subset>.json`
/// (Argus, CVAT and datumaro write `instances_default.json`), or
/// `annotations.json`.
fn coco_file_in(dir: &Path) -> Option<std::path::PathBuf> {
    let mut found: Vec<std::path::PathBuf> = fs::read_dir(dir.join("annotations"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("instances_") && n.ends_with(".json")))
        .collect();
    found.sort();
    found.into_iter().next().or_else(|| Some(dir.join("annotations.json")).filter(|p| p.is_file()))
}

/// The labels a YOLO (`data.yaml`) or MOT (`labels.txt` of the first
/// sequence, else MOT Challenge's) dataset names, read before its records.
fn frame_dataset_labels(root: &Path, format: ImportFormat) -> CommandResult<Vec<Category>> {
    if format == ImportFormat::Yolo {
        let path = if root.join("data.yaml").is_file() { root.join("data.yaml") } else { root.join("data.yml") };
        let text = fs::read_to_string(&path).map_err(|e| CommandError::invalid(format!("could not read {} ({e})", path.display())))?;
        return Ok(argus_formats::yolo::parse_data_yaml(&text)?.categories());
    }
    let mut files = Vec::new();
    list_files(root, "", &mut files);
    let Some(seq) = argus_formats::mot::find_sequences(&files).into_iter().next() else {
        return Err(CommandError::invalid(format!("no MOT sequence (gt/gt.txt) in {}", root.display())));
    };
    let labels = if seq.is_empty() { root.join("gt/labels.txt") } else { root.join(&seq).join("gt/labels.txt") };
    Ok(match fs::read_to_string(&labels) {
        Ok(text) => argus_formats::mot::parse_labels(&text),
        Err(_) => argus_formats::mot::mot_default_labels(),
    })
}

fn coco_index(file: &Path) -> CommandResult<CocoIndex> {
    let mut index = None;
    let r = coco::read(|| fs::File::open(file), &mut argus_formats::NoProgress, |i, _| {
        index = Some(i.clone());
        Err(argus_formats::Error::Cancelled)
    });
    match r {
        Ok((i, _)) => Ok(i),
        Err(argus_formats::Error::Cancelled) => index.ok_or_else(|| CommandError::internal("the COCO index was not read")),
        Err(e) => Err(e.into()),
    }
}

fn native_header(file: &Path) -> CommandResult<native::Header> {
    let f = fs::File::open(file).map_err(|e| CommandError::internal(format!("could not open {} ({e})", file.display())))?;
    let mut header = None;
    let r = native::read(BufReader::new(f), &mut argus_formats::NoProgress, |h, _| {
        header = Some(h.clone());
        Err(argus_formats::Error::Cancelled)
    });
    match r {
        Ok(h) => Ok(h),
        Err(argus_formats::Error::Cancelled) => header.ok_or_else(|| CommandError::internal("the project header was not read")),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_numbers_come_from_the_last_digits_of_the_stem() {
        assert_eq!(frame_in_name("clip.mp4/000123.jpg"), Some(123));
        assert_eq!(frame_in_name("frame_42.png"), Some(42));
        assert_eq!(frame_in_name("v2/img.jpg"), None);
        assert_eq!(frame_in_name("a7b.jpg"), Some(7));
    }

    #[test]
    fn formats_are_told_from_names() {
        let dir = tempfile::tempdir().expect("dir");
        let p = |n: &str| dir.path().join(n);
        assert_eq!(ImportFormat::detect(&p("x.json")).ok(), Some(ImportFormat::Coco));
        assert_eq!(ImportFormat::detect(&p("x.argus.jsonl")).ok(), Some(ImportFormat::Native));
        assert_eq!(ImportFormat::detect(&p("annotations.xml")).ok(), Some(ImportFormat::Cvat));
        assert!(ImportFormat::detect(&p("x.bin")).is_err());
        assert!(ImportFormat::detect(dir.path()).is_err(), "an empty folder");
        std::fs::create_dir_all(p("annotations")).expect("dir");
        std::fs::write(p("annotations/instances_default.json"), "{}").expect("write");
        assert_eq!(ImportFormat::detect(dir.path()).ok(), Some(ImportFormat::Coco));
        assert_eq!(coco_file_in(dir.path()), Some(p("annotations/instances_default.json")));
        std::fs::create_dir_all(p("clip.mp4/gt")).expect("dir");
        std::fs::write(p("clip.mp4/gt/gt.txt"), "").expect("write");
        assert_eq!(ImportFormat::detect(dir.path()).ok(), Some(ImportFormat::Mot), "a sequence one folder down");
        std::fs::write(p("data.yaml"), "names: [a]").expect("write");
        assert_eq!(ImportFormat::detect(dir.path()).ok(), Some(ImportFormat::Yolo));
    }
}
