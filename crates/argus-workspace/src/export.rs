//! Dataset export: reads the store, decodes and encodes the frames, and
//! feeds argus-formats' streaming writers.
//!
//! One pass per video over the frames that have shapes, a window of frames
//! at a time ([`Store::video_shapes`](argus_store::Store::video_shapes)), so
//! memory holds one window's shapes and one decoded frame, whatever the
//! video's length. Frames are decoded by a decoder of the export's own (the
//! frame view's is left alone) on a blocking thread, in ascending order,
//! which is what a decoder does fastest.
//!
//! Options (see [`ExportOptions`]): which videos, every n-th frame, only
//! what an approved review covers, label renames and merges, and whether
//! frames are written as JPEG or PNG files or referenced by video and frame.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fs,
    io::BufWriter,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use argus_core::{
    id::{TrackId, VideoId},
    model::{AttributeValue, LabelSchema, Review, ReviewScope, ReviewState, Shape, Track, Video},
};
use argus_formats::{
    Annotation, Category, Image, Report, VideoFrame,
    coco::{self, CocoWriter, MaskEncoding},
    native::{NativeWriter, Record},
};
use argus_store::ReviewFilter;

use crate::{
    CommandError, CommandResult, Workspace,
    dto::{ExportFormat, ExportOptions, ImageMode, TransferProgress, TransferSummary},
    edit::parse_id,
};

/// Frames read from the store at a time.
const WINDOW: u64 = 256;

/// Track attributes that mark a crowd region (COCO's `iscrowd`; CVAT calls
/// it `is_crowd`).
pub const CROWD_ATTRIBUTES: [&str; 2] = ["iscrowd", "is_crowd"];

/// Where a COCO export writes its file and its frames (`file_name`s are
/// relative to the images folder): the layout of datumaro's and CVAT's COCO
/// exports, `annotations/instances_<subset>.json` and `images/<subset>/`,
/// which datumaro's `coco_instances` importer requires (it finds the dataset
/// root as the folder above `annotations/`).
pub const COCO_ANNOTATIONS: &str = "annotations/instances_default.json";
pub const COCO_IMAGES: &str = "images/default";

/// Cancels a running export or import when set.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn check(&self) -> CommandResult<()> {
        if self.is_cancelled() { Err(CommandError::new(crate::ErrorKind::Cancelled, "cancelled")) } else { Ok(()) }
    }
}

/// The labels as the dataset names them, after the label map.
pub(crate) struct Labels {
    pub categories: Vec<Category>,
    /// Label id -> category id (labels mapped to "" are absent).
    by_label: HashMap<argus_core::id::LabelId, u32>,
}

impl Labels {
    /// Categories numbered from 1 in schema order; a label renamed onto
    /// another name shares its category.
    pub fn new(schema: &LabelSchema, map: &BTreeMap<String, String>) -> CommandResult<Self> {
        for from in map.keys() {
            if schema.label_by_name(from).is_none() {
                let names: Vec<&str> = schema.labels().iter().map(|l| l.name.as_str()).collect();
                return Err(CommandError::invalid(format!("the label map names '{from}', which is not a label of the project ({})", names.join(", "))));
            }
        }
        let mut categories: Vec<Category> = Vec::new();
        let mut by_label = HashMap::new();
        for label in schema.labels() {
            let name = map.get(&label.name).map_or(label.name.as_str(), String::as_str).trim();
            if name.is_empty() {
                continue;
            }
            let id = match categories.iter().find(|c| c.name == name) {
                Some(c) => c.id,
                None => {
                    let id = categories.len() as u32 + 1;
                    categories.push(Category { id, name: name.to_owned(), colour: Some(label.colour), attributes: label.attributes.clone() });
                    id
                }
            };
            by_label.insert(label.id, id);
        }
        if categories.is_empty() {
            return Err(CommandError::invalid("the label map leaves out every label; nothing would be exported"));
        }
        Ok(Self { categories, by_label })
    }

    pub fn category(&self, label: argus_core::id::LabelId) -> Option<u32> {
        self.by_label.get(&label).copied()
    }
}

/// What approved reviews cover in one video.
#[derive(Default)]
pub(crate) struct Approved {
    whole: bool,
    tracks: HashSet<TrackId>,
    frames: Vec<(u64, u64)>,
}

impl Approved {
    pub fn of(reviews: &[Review]) -> Self {
        let mut a = Self::default();
        for r in reviews.iter().filter(|r| r.state == ReviewState::Approved) {
            match r.scope {
                ReviewScope::Video => a.whole = true,
                ReviewScope::Track { track_id } => {
                    a.tracks.insert(track_id);
                }
                ReviewScope::Frames { start, end } => a.frames.push((start, end)),
            }
        }
        a
    }

    pub fn covers(&self, track: TrackId, frame: u64) -> bool {
        self.whole || self.tracks.contains(&track) || self.frames.iter().any(|&(s, e)| (s..=e).contains(&frame))
    }
}

/// A file-system-safe, unique folder name for each video.
pub(crate) fn video_folders(videos: &[Video]) -> HashMap<VideoId, String> {
    let mut used = HashSet::new();
    let mut out = HashMap::new();
    for v in videos {
        let mut base: String = v
            .name
            .chars()
            .map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') { c } else { '_' })
            .collect::<String>()
            .trim_matches(|c: char| c == '.' || c == ' ')
            .to_owned();
        if base.is_empty() {
            base = "video".into();
        }
        let mut name = base.clone();
        let mut i = 2;
        while !used.insert(name.to_lowercase()) {
            name = format!("{base}-{i}");
            i += 1;
        }
        out.insert(v.id, name);
    }
    out
}

/// One image to export: its record and the video frame it comes from.
pub(crate) struct Planned {
    image: Image,
    video: usize,
}

impl Planned {
    fn frame(&self) -> u64 {
        self.image.video.as_ref().map_or(0, |v| v.frame)
    }
}

/// Encodes decoded frames as image files.
pub(crate) struct Frames {
    mode: ImageMode,
    quality: u8,
}

impl Frames {
    pub fn extension(&self) -> &'static str {
        match self.mode {
            ImageMode::Png => "png",
            ImageMode::Jpeg | ImageMode::None => "jpg",
        }
    }

    /// Frame `n` of `video`, decoded by `decoder` and encoded as an image
    /// file.
    pub fn frame_file(&self, decoder: &mut argus_media::VideoSource, video: &Video, n: u64) -> CommandResult<Vec<u8>> {
        blocking(|| {
            let f = crate::videos::display(video, decoder.frame(n, argus_media::FrameRequest::RGBA)?)?;
            self.encode(&f.rgba, f.width, f.height)
        })
    }

    /// Encodes packed RGBA.
    pub fn encode(&self, rgba: &[u8], width: u32, height: u32) -> CommandResult<Vec<u8>> {
        let bad = |e: String| CommandError::internal(format!("encoding a frame: {e}"));
        let rgb: Vec<u8> = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        match self.mode {
            ImageMode::Png => {
                let mut out = Vec::new();
                let mut enc = png::Encoder::new(&mut out, width, height);
                enc.set_color(png::ColorType::Rgb);
                enc.set_depth(png::BitDepth::Eight);
                enc.set_compression(png::Compression::Fast);
                let mut w = enc.write_header().map_err(|e| bad(e.to_string()))?;
                w.write_image_data(&rgb).map_err(|e| bad(e.to_string()))?;
                w.finish().map_err(|e| bad(e.to_string()))?;
                Ok(out)
            }
            ImageMode::Jpeg | ImageMode::None => {
                let (w, h) = (u16::try_from(width), u16::try_from(height));
                let (Ok(w), Ok(h)) = (w, h) else {
                    return Err(CommandError::invalid(format!("a {width}x{height} frame is too large for JPEG (65535 at most); export PNG")));
                };
                let mut out = Vec::new();
                jpeg_encoder::Encoder::new(&mut out, self.quality.clamp(1, 100))
                    .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
                    .map_err(|e| bad(e.to_string()))?;
                Ok(out)
            }
        }
    }
}

/// Track and shape attributes as one annotation's, with the crowd flag
/// taken out.
pub(crate) fn annotation_of(id: u64, image_id: u64, category_id: u32, number: u32, track: &Track, shape: Shape) -> Annotation {
    let mut attributes = track.attributes.clone();
    attributes.extend(shape.attributes);
    let mut crowd = false;
    for name in CROWD_ATTRIBUTES {
        if let Some(AttributeValue::Bool(b)) = attributes.remove(name) {
            crowd |= b;
        }
    }
    Annotation {
        id,
        image_id,
        category_id,
        track: Some(number),
        geometry: shape.geometry,
        crowd,
        occluded: shape.occluded,
        outside: shape.outside,
        keyframe: shape.keyframe,
        source: shape.source,
        score: shape.score,
        attributes,
    }
}

impl Workspace {
    /// Exports a project's annotations to the folder `out` as `options` say,
    /// telling `progress` as it goes; `cancel` stops it (what was written so
    /// far stays, incomplete).
    pub async fn export_project(
        &self,
        project_id: &str,
        out: &Path,
        options: &ExportOptions,
        progress: impl Fn(TransferProgress) + Send + Sync + 'static,
        cancel: &Cancel,
    ) -> CommandResult<TransferSummary> {
        let id = parse_id("project", project_id)?;
        let store = self.store();
        let project = store.project(id).await?;
        let schema = store.schema(id).await?;
        let mut videos = store.videos(id).await?;
        if !options.videos.is_empty() {
            let wanted: Vec<VideoId> = options.videos.iter().map(|v| parse_id("video", v)).collect::<CommandResult<_>>()?;
            if let Some(missing) = wanted.iter().find(|w| !videos.iter().any(|v| v.id == **w)) {
                return Err(CommandError::not_found(format!("video {missing} is not in project '{}'", project.name)));
            }
            videos.retain(|v| wanted.contains(&v.id));
        }
        if options.frame_step == 0 {
            return Err(CommandError::invalid("the frame step must be at least 1"));
        }
        fs::create_dir_all(out).map_err(|e| CommandError::internal(format!("could not create the export folder ({e}): {}", out.display())))?;
        let report = match options.format {
            ExportFormat::Native => self.export_native(&project, &schema, &videos, out, &progress, cancel).await?,
            ExportFormat::Coco => self.export_coco(&project, &schema, &videos, out, options, &progress, cancel).await?,
            ExportFormat::Cvat => self.export_cvat(&project, &schema, &videos, out, options, &progress, cancel).await?,
            ExportFormat::YoloDetect | ExportFormat::YoloSegment | ExportFormat::Voc | ExportFormat::Mot => {
                self.export_with_images(&project, &schema, &videos, out, options, &progress, cancel).await?
            }
        };
        Ok(TransferSummary::new(out, report))
    }

    async fn export_native(
        &self,
        project: &argus_core::model::Project,
        schema: &LabelSchema,
        videos: &[Video],
        out: &Path,
        progress: &(dyn Fn(TransferProgress) + Send + Sync),
        cancel: &Cancel,
    ) -> CommandResult<Report> {
        let store = self.store();
        let path = out.join("project.argus.jsonl");
        let file = create_file(&path)?;
        let mut w = NativeWriter::new(file, project, schema)?;
        let mut report = Report::default();
        for (i, video) in videos.iter().enumerate() {
            cancel.check()?;
            w.write(&Record::Video(video.clone()))?;
            for track in store.tracks(video.id).await? {
                cancel.check()?;
                let shapes = store.track_shapes(track.id).await?;
                w.write(&Record::Track(track))?;
                report.tracks += 1;
                for s in shapes {
                    w.write(&Record::Shape(s))?;
                    report.annotations += 1;
                }
            }
            let reviews = store.review_queue(project.id, &ReviewFilter { video: Some(video.id), ..Default::default() }).await?;
            for r in reviews {
                let comments = store.comments(r.id).await?;
                w.write(&Record::Review(r))?;
                for c in comments {
                    w.write(&Record::Comment(c))?;
                }
            }
            progress(TransferProgress { stage: "videos".into(), done: i as u64 + 1, total: videos.len() as u64 });
        }
        w.finish()?;
        Ok(report)
    }

    /// The images an export writes: every `step`-th frame of each video that
    /// has shapes to export, in video then frame order, numbered from 1.
    async fn plan_images(
        &self,
        videos: &[Video],
        folders: &HashMap<VideoId, String>,
        step: u64,
        frames: &Frames,
    ) -> CommandResult<Vec<Planned>> {
        let mut planned = Vec::new();
        for (vi, video) in videos.iter().enumerate() {
            let (width, height) = video.display_size();
            // Frames with stored shapes, and those with interpolated ones.
            let mut frames_with: std::collections::BTreeSet<u64> =
                self.store().frame_counts(video.id).await?.into_iter().map(|fc| fc.frame).collect();
            for (_, first, last) in crate::track::interpolated_spans(self.store(), video.id).await? {
                frames_with.extend(first..=last);
            }
            for frame in frames_with {
                if frame % step != 0 {
                    continue;
                }
                let id = planned.len() as u64 + 1;
                let file_name = format!("{}/{:06}.{}", folders[&video.id], frame, frames.extension());
                let image = Image { id, file_name, width, height, video: Some(VideoFrame { video: video.name.clone(), frame }) };
                planned.push(Planned { image, video: vi });
            }
        }
        Ok(planned)
    }

    #[allow(clippy::too_many_arguments)] // one caller
    async fn export_coco(
        &self,
        project: &argus_core::model::Project,
        schema: &LabelSchema,
        videos: &[Video],
        out: &Path,
        options: &ExportOptions,
        progress: &(dyn Fn(TransferProgress) + Send + Sync),
        cancel: &Cancel,
    ) -> CommandResult<Report> {
        let labels = Labels::new(schema, &options.label_map)?;
        let folders = video_folders(videos);
        let frames = Frames { mode: options.images, quality: options.jpeg_quality };
        let planned = self.plan_images(videos, &folders, options.frame_step, &frames).await?;
        let path = out.join(COCO_ANNOTATIONS);
        let file = create_file(&path)?;
        let info = coco::Info {
            description: project.name.clone(),
            version: "1.0".into(),
            contributor: format!("Argus {}", env!("CARGO_PKG_VERSION")),
            date_created: String::new(),
        };
        let coco_videos: Vec<coco::Video> = videos
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (width, height) = v.display_size();
                coco::Video { id: i as u64 + 1, name: v.name.clone(), width, height, frame_count: v.frame_count }
            })
            .collect();
        let masks = if options.polygons { MaskEncoding::Polygons { tolerance: options.tolerance } } else { MaskEncoding::Rle };
        let mut w = CocoWriter::new(file, &info, &labels.categories, &coco_videos, masks)?;
        for p in &planned {
            w.add_image(&p.image)?;
        }
        let images_dir = out.join(COCO_IMAGES);
        let tracks = self
            .each_frame(project, videos, &planned, options, &labels, &frames, progress, cancel, |p, annotations, bytes| {
                if let Some(bytes) = bytes {
                    write_file(&images_dir.join(&p.image.file_name), &bytes)?;
                }
                for a in &annotations {
                    w.add_annotation(a)?;
                }
                Ok(())
            })
            .await?;
        let (_, mut report) = w.finish()?;
        report.tracks = tracks;
        Ok(report)
    }

    /// YOLO (detection or segmentation), Pascal VOC or MOT: formats whose
    /// datasets carry the frames as image files (JPEG unless PNG is asked).
    #[allow(clippy::too_many_arguments)] // one caller
    async fn export_with_images(
        &self,
        project: &argus_core::model::Project,
        schema: &LabelSchema,
        videos: &[Video],
        out: &Path,
        options: &ExportOptions,
        progress: &(dyn Fn(TransferProgress) + Send + Sync),
        cancel: &Cancel,
    ) -> CommandResult<Report> {
        use argus_formats::{
            FolderSink,
            mot::{MotSequence, MotWriter},
            voc::VocWriter,
            yolo::{YoloTask, YoloWriter},
        };
        let labels = Labels::new(schema, &options.label_map)?;
        let folders = video_folders(videos);
        let mode = if options.images == ImageMode::Png { ImageMode::Png } else { ImageMode::Jpeg };
        let frames = Frames { mode, quality: options.jpeg_quality };
        let planned = self.plan_images(videos, &folders, options.frame_step, &frames).await?;
        let mut sink = FolderSink::new(out)?;
        enum W<'a> {
            Yolo(YoloWriter<'a>),
            Voc(VocWriter<'a>),
            Mot(MotWriter<'a>, Option<usize>),
        }
        let mut w = match options.format {
            ExportFormat::YoloDetect => W::Yolo(YoloWriter::new(&mut sink, &labels.categories, YoloTask::Detect)?),
            ExportFormat::YoloSegment => W::Yolo(YoloWriter::new(&mut sink, &labels.categories, YoloTask::Segment { tolerance: options.tolerance })?),
            ExportFormat::Voc => W::Voc(VocWriter::new(&mut sink, &labels.categories)?),
            _ => W::Mot(MotWriter::new(&mut sink, &labels.categories)?, None),
        };
        let tracks = self
            .each_frame(project, videos, &planned, options, &labels, &frames, progress, cancel, |p, annotations, bytes| {
                let bytes = bytes.unwrap_or_default();
                match &mut w {
                    W::Yolo(y) => {
                        y.add_image(&p.image, &annotations)?;
                        y.put_image(&p.image, &bytes)?;
                    }
                    W::Voc(v) => {
                        v.add_image(&p.image, &annotations)?;
                        v.put_image(&p.image, &bytes)?;
                    }
                    W::Mot(m, current) => {
                        if *current != Some(p.video) {
                            let v = &videos[p.video];
                            let (width, height) = v.display_size();
                            m.begin_sequence(&MotSequence {
                                video: folders[&v.id].clone(),
                                frame_rate: v.frame_rate.to_f64(),
                                frames: v.frame_count,
                                width,
                                height,
                            })?;
                            *current = Some(p.video);
                        }
                        m.add_image(&p.image, &annotations)?;
                        m.put_image(&p.image, &bytes)?;
                    }
                }
                Ok(())
            })
            .await?;
        let mut report = match w {
            W::Yolo(y) => y.finish()?,
            W::Voc(v) => v.finish()?,
            W::Mot(m, _) => m.finish()?,
        };
        report.tracks = tracks;
        Ok(report)
    }

    /// Walks the planned images in order: decodes and encodes each frame
    /// when `frames` asks for pixels, reads its shapes (a window of frames
    /// at a time), applies the options, and hands both to `on_frame`.
    /// Returns how many tracks had a shape exported.
    #[allow(clippy::too_many_arguments)] // the export's parts, shared by every format
    async fn each_frame(
        &self,
        project: &argus_core::model::Project,
        videos: &[Video],
        planned: &[Planned],
        options: &ExportOptions,
        labels: &Labels,
        frames: &Frames,
        progress: &(dyn Fn(TransferProgress) + Send + Sync),
        cancel: &Cancel,
        mut on_frame: impl FnMut(&Planned, Vec<Annotation>, Option<Vec<u8>>) -> CommandResult<()>,
    ) -> CommandResult<u64> {
        let mut next_ann = 1u64;
        let total = planned.len() as u64;
        let mut done = 0u64;
        let mut tracks_seen = HashSet::new();
        for (vi, video) in videos.iter().enumerate() {
            let tracks: HashMap<TrackId, Track> = self.store().tracks(video.id).await?.into_iter().map(|t| (t.id, t)).collect();
            let reviews = self.store().review_queue(project.id, &ReviewFilter { video: Some(video.id), ..Default::default() }).await?;
            let approved = Approved::of(&reviews);
            let mine: Vec<&Planned> = planned.iter().filter(|p| p.video == vi).collect();
            let mut decoder = if frames.mode == ImageMode::None { None } else { Some(self.videos().recipe(video)?.open()?) };
            for chunk in mine.chunks(WINDOW as usize) {
                cancel.check()?;
                let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else { continue };
                let (from, to) = (first.frame(), last.frame() + 1);
                let mut shapes: BTreeMap<u64, Vec<(u32, Shape)>> = BTreeMap::new();
                for (n, s) in self.video_shapes_derived(video.id, from, to).await? {
                    shapes.entry(s.frame).or_default().push((n, s));
                }
                for p in chunk {
                    cancel.check()?;
                    let frame = p.frame();
                    let bytes = match decoder.as_mut() {
                        Some(dec) => Some(frames.frame_file(dec, video, frame)?),
                        None => None,
                    };
                    let mut annotations = Vec::new();
                    for (number, shape) in shapes.remove(&frame).unwrap_or_default() {
                        let Some(track) = tracks.get(&shape.track_id) else { continue };
                        if shape.outside || (options.only_approved && !approved.covers(track.id, frame)) {
                            continue;
                        }
                        let Some(category) = labels.category(track.label_id) else { continue };
                        tracks_seen.insert(track.id);
                        annotations.push(annotation_of(next_ann, p.image.id, category, number, track, shape));
                        next_ann += 1;
                    }
                    on_frame(p, annotations, bytes)?;
                    done += 1;
                    progress(TransferProgress { stage: "frames".into(), done, total });
                }
            }
        }
        Ok(tracks_seen.len() as u64)
    }
}

impl Workspace {
    /// CVAT for video 1.1: one XML per video (`annotations.xml`, or
    /// `<video>/annotations.xml` for several), one track at a time.
    #[allow(clippy::too_many_arguments)] // one caller
    async fn export_cvat(
        &self,
        project: &argus_core::model::Project,
        schema: &LabelSchema,
        videos: &[Video],
        out: &Path,
        options: &ExportOptions,
        progress: &(dyn Fn(TransferProgress) + Send + Sync),
        cancel: &Cancel,
    ) -> CommandResult<Report> {
        use argus_formats::cvat::{CvatShape, CvatTask, CvatTrack, CvatWriter};
        let labels = Labels::new(schema, &options.label_map)?;
        let folders = video_folders(videos);
        let mut report = Report::default();
        let total: u64 = videos.len() as u64;
        for (vi, video) in videos.iter().enumerate() {
            cancel.check()?;
            let path = if videos.len() == 1 { out.join("annotations.xml") } else { out.join(&folders[&video.id]).join("annotations.xml") };
            let file = create_file(&path)?;
            let (width, height) = video.display_size();
            let task = CvatTask::video(video.name.clone(), video.frame_count, width, height);
            let mut w = CvatWriter::new(file, &task, &labels.categories)?;
            let reviews = self.store().review_queue(project.id, &ReviewFilter { video: Some(video.id), ..Default::default() }).await?;
            let approved = Approved::of(&reviews);
            let mut frames = HashSet::new();
            for track in self.store().tracks(video.id).await? {
                cancel.check()?;
                let Some(category) = labels.category(track.label_id) else { continue };
                let Some(name) = labels.categories.iter().find(|c| c.id == category).map(|c| c.name.clone()) else { continue };
                let all = self.store().track_shapes(track.id).await?;
                // CVAT keeps one source per track: the first shape's.
                let source = all.first().map_or(argus_core::model::ShapeSource::Manual, |s| s.source);
                let shapes: Vec<CvatShape> = all
                    .into_iter()
                    .filter(|s| s.frame % options.frame_step == 0 && (!options.only_approved || approved.covers(track.id, s.frame)))
                    .map(|s| CvatShape { frame: s.frame, geometry: s.geometry, keyframe: s.keyframe, outside: s.outside, occluded: s.occluded, attributes: s.attributes })
                    .collect();
                if shapes.is_empty() {
                    continue;
                }
                frames.extend(shapes.iter().map(|s| s.frame));
                report.tracks += 1;
                report.annotations += shapes.len() as u64;
                w.write_track(&CvatTrack { id: Some(track.number), label: name, source, attributes: track.attributes.clone(), shapes })?;
            }
            let r = w.finish()?;
            report.skipped.extend(r.skipped);
            report.changed.extend(r.changed);
            report.images += frames.len() as u64;
            if options.images != ImageMode::None {
                let enc = Frames { mode: options.images, quality: options.jpeg_quality };
                let mut frames: Vec<u64> = frames.into_iter().collect();
                frames.sort_unstable();
                let mut dec = self.videos().recipe(video)?.open()?;
                for n in frames {
                    cancel.check()?;
                    let bytes = enc.frame_file(&mut dec, video, n)?;
                    let dir = if videos.len() == 1 { out.join("images") } else { out.join(&folders[&video.id]).join("images") };
                    write_file(&dir.join(format!("frame_{n:06}.{}", enc.extension())), &bytes)?;
                }
            }
            progress(TransferProgress { stage: "videos".into(), done: vi as u64 + 1, total });
        }
        Ok(report)
    }
}

/// Runs decoding and encoding from async code: through `block_in_place` on a
/// multi-threaded runtime (the app's), so the other tasks move to another
/// worker; in place on a current-thread one (argus-cli's), where
/// `block_in_place` panics and nothing else waits on the thread.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

fn create_parent(path: &Path) -> CommandResult<()> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent).map_err(|e| CommandError::internal(format!("could not create the folder {} ({e})", parent.display()))),
        None => Ok(()),
    }
}

/// Creates the file at `path` (and its folders), buffered.
fn create_file(path: &Path) -> CommandResult<BufWriter<fs::File>> {
    create_parent(path)?;
    let file = fs::File::create(path).map_err(|e| CommandError::internal(format!("could not create {} ({e})", path.display())))?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> CommandResult<()> {
    create_parent(path)?;
    fs::write(path, bytes).map_err(|e| CommandError::internal(format!("could not write {} ({e})", path.display())))
}

/// The default export folder name for a project: `<name>-<format>`.
pub fn default_folder(project: &str, format: ExportFormat) -> PathBuf {
    let f = match format {
        ExportFormat::Coco => "coco",
        ExportFormat::YoloDetect => "yolo-detect",
        ExportFormat::YoloSegment => "yolo-segment",
        ExportFormat::Cvat => "cvat",
        ExportFormat::Voc => "voc",
        ExportFormat::Mot => "mot",
        ExportFormat::Native => "argus",
    };
    let safe: String = project.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    PathBuf::from(format!("{safe}-{f}"))
}
