//! MOT 1.1, as CVAT exports it through datumaro's `mot_seq_gt` and the MOT
//! Challenge lays out a sequence, one sequence folder per video:
//!
//! ```text
//! <seq>/gt/gt.txt      frame,track_id,x,y,w,h,not_ignored,class_id,visibility
//! <seq>/gt/labels.txt  one label per line; class_id 1 is the first
//! <seq>/seqinfo.ini    [Sequence] name, imDir, frameRate, seqLength, imWidth, imHeight, imExt
//! <seq>/img1/000001.jpg  the frames, numbered from 1 (the application writes them)
//! ```
//!
//! Choices, each where MOT or datumaro leaves one:
//! - **Frames** are numbered from 1 (`frame = index + 1`); readers give the
//!   index back as the annotation's `image_id`.
//! - **Boxes only.** Masks and polygons are written as their bounding boxes
//!   (counted per sequence in [`Report::changed`]); polylines and points are
//!   skipped. Boxes are not clipped: MOT boxes may leave the image.
//! - **Tracks.** A shape's track number is its MOT id. Shapes without a
//!   track (or with track 0) each get an id of their own above the
//!   sequence's largest track number, written after the tracked rows so
//!   those ids are known, and reported per sequence.
//! - **`not_ignored`** is 0 for crowd regions (MOT's and COCO's "ignored by
//!   evaluation"), 1 otherwise; reading 0 gives `crowd`.
//! - **`visibility`** is 0 for occluded shapes and 1 otherwise, as
//!   datumaro writes `occluded`; reading, a visibility of 0 (datumaro's
//!   threshold) is `occluded`.
//! - **`frameRate`** is written as a whole number: datumaro reads it with
//!   `int()`, which refuses `29.97`.
//! - Shapes that are `outside` (the track has left the frame) are not rows.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    fmt,
    io::{BufRead, BufReader, Seek, SeekFrom, Write},
};

use argus_core::{
    geometry::BBox,
    model::{Attributes, Geometry, ShapeSource},
};
use tempfile::SpooledTempFile;

use crate::{Annotation, Category, Error, Image, Progress, Report, Result, Sink, VideoFrame};

const FORMAT: &str = "MOT";

/// Rows kept in memory before they spill to a temporary file.
const SPOOL_BYTES: usize = 8 << 20;

/// The labels of the MOT Challenge (MOT16/17), class ids 1.., as datumaro
/// assumes when a sequence has no `labels.txt`.
pub const MOT_LABELS: [&str; 12] = [
    "pedestrian",
    "person on vehicle",
    "car",
    "bicycle",
    "motorbike",
    "non motorized vehicle",
    "static person",
    "distractor",
    "occluder",
    "occluder on the ground",
    "occluder full",
    "reflection",
];

/// A video as a MOT sequence: what `seqinfo.ini` says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct MotSequence {
    /// The video's name in the project; images name it in their `video`.
    pub video: String,
    pub frame_rate: f64,
    /// The number of frames (`seqLength`; raised if a later frame is added).
    pub frames: u64,
    pub width: u32,
    pub height: u32,
}

/// The sequence being written.
struct Open {
    folder: String,
    info: MotSequence,
    rows: SpooledTempFile,
    /// `frame,x,y,w,h,not_ignored,class,visibility` of shapes without a
    /// track, given ids when the sequence closes.
    untracked: SpooledTempFile,
    untracked_count: u64,
    tracks: BTreeSet<u32>,
    as_boxes: u64,
    last_frame: u64,
}

/// Writes MOT sequences one video at a time, one image's shapes at a time.
/// A sequence's rows are kept in a temporary file (memory up to 8 MiB) and
/// written when the next sequence begins or at [`finish`](Self::finish).
pub struct MotWriter<'a> {
    sink: &'a mut dyn Sink,
    /// Category id -> class id (from 1).
    classes: HashMap<u32, u32>,
    names: Vec<String>,
    /// Video -> sequence folder.
    folders: HashMap<String, String>,
    taken: HashSet<String>,
    open: Option<Open>,
    report: Report,
}

impl fmt::Debug for MotWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MotWriter")
            .field("names", &self.names)
            .field("sequences", &self.folders.len())
            .field("open", &self.open.as_ref().map(|o| &o.folder))
            .finish_non_exhaustive()
    }
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(what.to_owned(), e)
}

impl<'a> MotWriter<'a> {
    /// A writer whose class ids are `categories` in this order, from 1.
    /// Names `labels.txt` cannot hold (line breaks, surrounding blanks,
    /// empty) are changed and reported.
    pub fn new(sink: &'a mut dyn Sink, categories: &[Category]) -> Result<Self> {
        let mut classes = HashMap::new();
        let mut names = Vec::new();
        let mut report = Report::default();
        for (i, c) in categories.iter().enumerate() {
            if classes.insert(c.id, i as u32 + 1).is_some() {
                return Err(Error::Invalid { format: FORMAT, at: format!("category '{}'", c.name), reason: format!("the category id {} is used twice", c.id) });
            }
            // labels.txt is one name a line, trimmed by readers.
            let name: String = c.name.trim().chars().map(|ch| if ch.is_control() { ' ' } else { ch }).collect();
            let name = if name.is_empty() { format!("label_{}", i + 1) } else { name };
            if name != c.name {
                report.change(format!("label '{}'", c.name.escape_debug()), format!("written as '{name}' in labels.txt (one trimmed name a line)"));
            }
            names.push(name);
        }
        Ok(Self { sink, classes, names, folders: HashMap::new(), taken: HashSet::new(), open: None, report })
    }

    /// Starts the sequence of `seq.video` (its folder is the video's name
    /// without extension, made safe and unique), writing out the one before.
    pub fn begin_sequence(&mut self, seq: &MotSequence) -> Result<()> {
        let at = format!("video {}", seq.video);
        if seq.width == 0 || seq.height == 0 {
            return Err(Error::Invalid { format: FORMAT, at, reason: "has no size".into() });
        }
        if !(seq.frame_rate.is_finite() && seq.frame_rate >= 0.0) {
            return Err(Error::Invalid { format: FORMAT, at, reason: format!("the frame rate {} is not a number of frames a second", seq.frame_rate) });
        }
        if self.folders.contains_key(&seq.video) {
            return Err(Error::Invalid { format: FORMAT, at, reason: "has been written already; a video is one sequence".into() });
        }
        self.close()?;
        let folder = unique_folder(&mut self.taken, &seq.video);
        self.folders.insert(seq.video.clone(), folder.clone());
        self.open = Some(Open {
            folder,
            info: seq.clone(),
            rows: tempfile::spooled_tempfile(SPOOL_BYTES),
            untracked: tempfile::spooled_tempfile(SPOOL_BYTES),
            untracked_count: 0,
            tracks: BTreeSet::new(),
            as_boxes: 0,
            last_frame: 0,
        });
        Ok(())
    }

    /// Adds one frame's shapes to the open sequence. The image must be a
    /// frame of the open sequence's video (an error otherwise: the caller
    /// forgot [`begin_sequence`](Self::begin_sequence)); an image that is not
    /// a video frame is skipped.
    pub fn add_image(&mut self, image: &Image, annotations: &[Annotation]) -> Result<()> {
        let Some(vf) = &image.video else {
            self.report.skip(format!("image {} ({})", image.id, image.file_name), "is not a video frame; MOT holds video sequences");
            return Ok(());
        };
        let Some(open) = self.open.as_mut().filter(|o| o.info.video == vf.video) else {
            return Err(Error::Invalid {
                format: FORMAT,
                at: format!("image {} ({})", image.id, image.file_name),
                reason: format!("is a frame of '{}', which is not the open sequence; call begin_sequence first", vf.video),
            });
        };
        let frame = vf.frame.saturating_add(1);
        open.last_frame = open.last_frame.max(frame);
        for ann in annotations {
            if ann.outside {
                continue;
            }
            let at = format!("annotation {} on {}", ann.id, image.file_name);
            let Some(&class) = self.classes.get(&ann.category_id) else {
                self.report.skip(at, format!("its label (category {}) is not among the exported labels", ann.category_id));
                continue;
            };
            if ann.image_id != image.id {
                self.report.skip(at, format!("belongs to image {}, not {}", ann.image_id, image.id));
                continue;
            }
            match &ann.geometry {
                Geometry::Polyline(_) | Geometry::Points(_) => {
                    self.report.skip(at, format!("MOT holds boxes; a {} has no area", ann.geometry.kind().name()));
                    continue;
                }
                Geometry::Mask(_) | Geometry::Polygon(_) => open.as_boxes += 1,
                Geometry::BBox(_) => {}
            }
            let Some(b) = ann.geometry.bbox() else {
                self.report.skip(at, "the shape is empty (no bounding box)");
                continue;
            };
            let rest = format!(
                "{},{},{},{},{},{},{}",
                num(b.x),
                num(b.y),
                num(b.width),
                num(b.height),
                u8::from(!ann.crowd),
                class,
                u8::from(!ann.occluded)
            );
            match ann.track.filter(|t| *t > 0) {
                Some(t) => {
                    open.tracks.insert(t);
                    writeln!(open.rows, "{frame},{t},{rest}").map_err(io_err("spooling MOT rows"))?;
                }
                None => {
                    open.untracked_count += 1;
                    writeln!(open.untracked, "{frame},{rest}").map_err(io_err("spooling MOT rows"))?;
                }
            }
            self.report.annotations += 1;
        }
        self.report.images += 1;
        Ok(())
    }

    /// Where the application writes a frame of a begun sequence:
    /// `<seq>/img1/<frame + 1, 6 digits>.jpg`.
    pub fn image_path(&self, image: &Image) -> Result<String> {
        let place = || format!("image {} ({})", image.id, image.file_name);
        let vf = image.video.as_ref().ok_or_else(|| Error::Invalid { format: FORMAT, at: place(), reason: "is not a video frame".into() })?;
        let folder = self.folders.get(&vf.video).ok_or_else(|| Error::Invalid { format: FORMAT, at: place(), reason: format!("its video '{}' has no sequence; begin it first", vf.video) })?;
        Ok(format!("{folder}/img1/{:06}.jpg", vf.frame.saturating_add(1)))
    }

    /// Writes a frame's JPEG bytes at [`image_path`](Self::image_path).
    pub fn put_image(&mut self, image: &Image, jpeg: &[u8]) -> Result<()> {
        let path = self.image_path(image)?;
        self.sink.put(&path, jpeg)
    }

    /// Writes out the open sequence and returns what was written.
    pub fn finish(mut self) -> Result<Report> {
        self.close()?;
        Ok(self.report)
    }

    /// Writes the open sequence's files.
    fn close(&mut self) -> Result<()> {
        let Some(mut open) = self.open.take() else {
            return Ok(());
        };
        let folder = open.folder.clone();
        let info = &open.info;
        let ini = format!(
            "[Sequence]\nname={}\nimDir=img1\nframeRate={}\nseqLength={}\nimWidth={}\nimHeight={}\nimExt=.jpg\n",
            folder,
            info.frame_rate.round() as u64,
            info.frames.max(open.last_frame),
            info.width,
            info.height
        );
        self.sink.put(&format!("{folder}/seqinfo.ini"), ini.as_bytes())?;
        let labels: String = self.names.iter().map(|n| format!("{n}\n")).collect();
        self.sink.put(&format!("{folder}/gt/labels.txt"), labels.as_bytes())?;

        let gt_path = format!("{folder}/gt/gt.txt");
        let first_free = open.tracks.last().copied().unwrap_or(0).saturating_add(1);
        {
            let mut out = self.sink.file(&gt_path)?;
            open.rows.seek(SeekFrom::Start(0)).map_err(io_err("reading spooled MOT rows"))?;
            std::io::copy(&mut open.rows, &mut out).map_err(io_err(&gt_path))?;
            open.untracked.seek(SeekFrom::Start(0)).map_err(io_err("reading spooled MOT rows"))?;
            let mut next = first_free;
            for line in BufReader::new(&mut open.untracked).lines() {
                let line = line.map_err(io_err("reading spooled MOT rows"))?;
                let Some((frame, rest)) = line.split_once(',') else { continue };
                writeln!(out, "{frame},{next},{rest}").map_err(io_err(&gt_path))?;
                next = next.saturating_add(1);
            }
            out.flush().map_err(io_err(&gt_path))?;
        }
        if open.untracked_count > 0 {
            let last = u64::from(first_free) + open.untracked_count - 1;
            self.report.change(
                format!("sequence {folder}"),
                format!("{} without a track got track ids {first_free}..{last}, one each (MOT rows need an id)", plural(open.untracked_count, "shape")),
            );
        }
        if open.as_boxes > 0 {
            self.report.change(format!("sequence {folder}"), format!("{} written as bounding boxes (MOT holds boxes)", plural(open.as_boxes, "mask or polygon")));
        }
        self.report.tracks += open.tracks.len() as u64 + open.untracked_count;
        Ok(())
    }
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else if let Some(stem) = what.strip_suffix("mask or polygon") {
        format!("{n} {stem}masks or polygons")
    } else {
        format!("{n} {what}s")
    }
}

/// A pixel coordinate with up to six decimals, trailing zeros dropped.
fn num(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" { "0".into() } else { s.into() }
}

/// A sequence folder from a video name: the name without its extension,
/// letters, digits, `.`, `-` and `_` only, not starting with a dot, unique
/// without case (a numbered suffix otherwise).
fn unique_folder(taken: &mut HashSet<String>, video: &str) -> String {
    let last = video.rsplit(['/', '\\']).next().unwrap_or(video);
    let base = match last.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => last,
    };
    let mut name: String = base.chars().take(100).map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    if name.starts_with('.') || name.starts_with('-') {
        name.insert(0, '_');
    }
    if name.is_empty() {
        name = "sequence".into();
    }
    let mut candidate = name.clone();
    let mut n = 2;
    while !taken.insert(candidate.to_lowercase()) {
        candidate = format!("{name}_{n}");
        n += 1;
    }
    candidate
}

// ---------------------------------------------------------------- reading

/// What `seqinfo.ini` says; what it leaves out is `None` (or MOT's
/// default for the image folder and extension).
#[derive(Debug, Clone, PartialEq)]
pub struct MotSeqInfo {
    pub name: Option<String>,
    pub im_dir: String,
    pub frame_rate: Option<f64>,
    pub length: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// With its dot: `.jpg`.
    pub im_ext: String,
}

impl Default for MotSeqInfo {
    fn default() -> Self {
        Self { name: None, im_dir: "img1".into(), frame_rate: None, length: None, width: None, height: None, im_ext: ".jpg".into() }
    }
}

impl MotSeqInfo {
    /// The image of frame `index` (from 0) of the sequence in `folder`
    /// (`""` for the dataset's root), as the reader's annotations refer to
    /// it (`id` = index); its size is 0 where `seqinfo.ini` gave none.
    pub fn frame_image(&self, folder: &str, index: u64) -> Image {
        let prefix = if folder.is_empty() { String::new() } else { format!("{}/", folder.trim_end_matches('/')) };
        let video = self.name.clone().unwrap_or_else(|| folder.trim_end_matches('/').rsplit('/').next().unwrap_or("").to_owned());
        Image {
            id: index,
            file_name: format!("{prefix}{}/{:06}{}", self.im_dir, index.saturating_add(1), self.im_ext),
            width: self.width.unwrap_or(0),
            height: self.height.unwrap_or(0),
            video: Some(VideoFrame { video, frame: index }),
        }
    }
}

/// Parses `seqinfo.ini` (keys without case, `=` or `:` separated, `;`/`#`
/// comments); a number that does not parse is an error with its line.
pub fn parse_seqinfo(text: &str) -> Result<MotSeqInfo> {
    let mut info = MotSeqInfo::default();
    for (i, raw) in text.strip_prefix('\u{feff}').unwrap_or(text).lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let syntax = |reason: String| Error::Syntax { format: "seqinfo.ini", at: format!("line {}", i + 1), reason };
        let Some((key, value)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            return Err(syntax(format!("expected `key=value`, found '{}'", clip(line))));
        };
        let value = value.trim();
        let number = |v: &str| -> Result<f64> {
            v.parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0).ok_or_else(|| syntax(format!("{} should be a number >= 0, not '{}'", key.trim(), clip(v))))
        };
        let whole = |v: &str| -> Result<u64> {
            let n = number(v)?;
            if n.fract() != 0.0 || n > 1e15 {
                return Err(syntax(format!("{} should be a whole number, not '{}'", key.trim(), clip(v))));
            }
            Ok(n as u64)
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "name" => info.name = Some(value.to_owned()),
            "imdir" => info.im_dir = value.trim_matches('/').to_owned(),
            "framerate" => info.frame_rate = Some(number(value)?),
            "seqlength" => info.length = Some(whole(value)?),
            "imwidth" => info.width = Some(u32::try_from(whole(value)?).map_err(|_| syntax("imWidth is too large".into()))?),
            "imheight" => info.height = Some(u32::try_from(whole(value)?).map_err(|_| syntax("imHeight is too large".into()))?),
            "imext" => info.im_ext = if value.starts_with('.') { value.to_owned() } else { format!(".{value}") },
            _ => {}
        }
    }
    Ok(info)
}

/// `labels.txt`: one name a line (trimmed, blank lines ignored), class ids
/// from 1.
pub fn parse_labels(text: &str) -> Vec<Category> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).enumerate().map(|(i, name)| category(i as u32 + 1, name)).collect()
}

/// [`MOT_LABELS`] as categories, ids from 1.
pub fn mot_default_labels() -> Vec<Category> {
    MOT_LABELS.iter().enumerate().map(|(i, name)| category(i as u32 + 1, name)).collect()
}

fn category(id: u32, name: &str) -> Category {
    Category { id, name: name.to_owned(), colour: None, attributes: Vec::new() }
}

/// Reads `gt.txt` line by line: `frame,id,x,y,w,h[,not_ignored[,class[,visibility[,...]]]]`
/// (6 to 10 values; the MOT15 world coordinates of a 10th are ignored).
/// Each usable row goes to `on_annotation` with `image_id` = frame - 1,
/// `track` = id (none for ids <= 0), ids from `next_id` on; the rest are
/// [skipped](Report::skipped) with `file:line` and the reason. A row without
/// a class (or class -1) gets the first category. `progress` counts bytes.
pub fn read_gt(
    gt: &[u8],
    file: &str,
    categories: &[Category],
    next_id: &mut u64,
    report: &mut Report,
    progress: &mut dyn Progress,
    on_annotation: &mut dyn FnMut(Annotation) -> Result<()>,
) -> Result<()> {
    let total = gt.len() as u64;
    let known: HashSet<u32> = categories.iter().map(|c| c.id).collect();
    let default_class = categories.first().map(|c| c.id);
    let mut done = 0u64;
    let mut tracks: HashSet<u32> = HashSet::new();
    for (i, raw) in gt.split(|b| *b == b'\n').enumerate() {
        let line_no = i + 1;
        done = (done + raw.len() as u64 + 1).min(total);
        if line_no % 4096 == 0 && !progress.tick(done, total) {
            return Err(Error::Cancelled);
        }
        let at = format!("{file}:{line_no}");
        let Ok(line) = std::str::from_utf8(raw) else {
            report.skip(at, "not UTF-8 text");
            continue;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match parse_row(line, &known, default_class) {
            Ok(mut ann) => {
                ann.id = *next_id;
                *next_id += 1;
                if let Some(t) = ann.track {
                    tracks.insert(t);
                }
                report.annotations += 1;
                on_annotation(ann)?;
            }
            Err(reason) => report.skip(at, reason),
        }
    }
    report.tracks += tracks.len() as u64;
    progress.tick(done, total);
    Ok(())
}

fn parse_row(line: &str, known: &HashSet<u32>, default_class: Option<u32>) -> Result<Annotation, String> {
    let mut fields: Vec<&str> = if line.contains(',') { line.split(',').map(str::trim).collect() } else { line.split_whitespace().collect() };
    if fields.len() > 6 && fields.last() == Some(&"") {
        fields.pop(); // a trailing comma
    }
    if !(6..=10).contains(&fields.len()) {
        return Err(format!("expected 6 to 10 comma-separated values (frame,id,x,y,w,h,not_ignored,class,visibility), found {}", fields.len()));
    }
    const NAMES: [&str; 10] = ["frame", "id", "x", "y", "w", "h", "not_ignored", "class", "visibility", "10th value"];
    let mut v = [0f64; 10];
    for (i, f) in fields.iter().enumerate() {
        let n: f64 = f.parse().map_err(|_| format!("{} '{}' is not a number", NAMES[i], clip(f)))?;
        if !n.is_finite() {
            return Err(format!("{} '{}' is not finite", NAMES[i], clip(f)));
        }
        v[i] = n;
    }
    let whole = |i: usize| -> Result<i64, String> {
        if v[i].fract() != 0.0 || v[i].abs() > 1e15 {
            return Err(format!("{} {} is not a whole number", NAMES[i], v[i]));
        }
        Ok(v[i] as i64)
    };
    let frame = whole(0)?;
    if frame < 1 {
        return Err(format!("frame {frame} is before the first (MOT numbers frames from 1)"));
    }
    let id = whole(1)?;
    let track = match id {
        i if i <= 0 => None,
        i => Some(u32::try_from(i).map_err(|_| format!("track id {i} is too large"))?),
    };
    let (w, h) = (v[4], v[5]);
    if w <= 0.0 || h <= 0.0 {
        return Err(format!("the box has no area (width {w}, height {h})"));
    }
    let bbox = BBox::new(v[2], v[3], w, h).map_err(|e| e.to_string())?;
    let (crowd, score) = match fields.len() {
        6 => (false, None),
        _ if v[6] == 0.0 => (true, None),
        _ if v[6] == 1.0 => (false, None),
        _ if (0.0..=1.0).contains(&v[6]) => (false, Some(v[6] as f32)),
        _ => (false, None),
    };
    let class = match fields.len() {
        n if n >= 8 && v[7] != -1.0 => {
            let c = whole(7)?;
            match u32::try_from(c).ok().filter(|c| known.contains(c)) {
                Some(c) => c,
                None => return Err(format!("class {c} is not in labels.txt (1..{})", known.len())),
            }
        }
        _ => default_class.ok_or_else(|| "the row has no class and there are no labels".to_owned())?,
    };
    let occluded = fields.len() >= 9 && v[8] == 0.0;
    Ok(Annotation {
        id: 0,
        image_id: frame as u64 - 1,
        category_id: class,
        track,
        geometry: Geometry::BBox(bbox),
        crowd,
        occluded,
        outside: false,
        keyframe: true,
        source: ShapeSource::Imported,
        score,
        attributes: Attributes::new(),
    })
}

/// At most 60 characters of `s`, for messages.
fn clip(s: &str) -> String {
    if s.chars().count() > 60 { format!("{}...", s.chars().take(60).collect::<String>()) } else { s.to_owned() }
}

/// The sequence folders in a file list: every folder holding `gt/gt.txt`
/// (`""` for the list's root), sorted.
pub fn find_sequences(files: &[String]) -> Vec<String> {
    let mut out: Vec<String> = files
        .iter()
        .filter_map(|f| if f == "gt/gt.txt" { Some(String::new()) } else { f.strip_suffix("/gt/gt.txt").map(str::to_owned) })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// One sequence read.
#[derive(Debug, Clone, PartialEq)]
pub struct MotImport {
    pub info: MotSeqInfo,
    /// From `gt/labels.txt`, or [`MOT_LABELS`] without one.
    pub categories: Vec<Category>,
    /// The largest frame index (from 0) with a row, if any.
    pub last_frame: Option<u64>,
    pub report: Report,
}

/// Reads the sequence in `folder` (`""` for the root) through `read`, which
/// gives a file's bytes or `None` when it does not exist: `gt/gt.txt`
/// (required), `gt/labels.txt` and `seqinfo.ini` (optional). Annotations go
/// to `on_annotation` one at a time, ids from 1; build each frame's image
/// with [`MotSeqInfo::frame_image`].
pub fn read_mot_sequence(
    folder: &str,
    read: &mut dyn FnMut(&str) -> Result<Option<Vec<u8>>>,
    progress: &mut dyn Progress,
    on_annotation: &mut dyn FnMut(Annotation) -> Result<()>,
) -> Result<MotImport> {
    let prefix = if folder.is_empty() { String::new() } else { format!("{}/", folder.trim_end_matches('/')) };
    let text = |bytes: Vec<u8>, file: &str| {
        String::from_utf8(bytes).map_err(|e| Error::Syntax { format: FORMAT, at: format!("{file}, byte {}", e.utf8_error().valid_up_to()), reason: "not UTF-8 text".into() })
    };
    let info_path = format!("{prefix}seqinfo.ini");
    let info = match read(&info_path)? {
        Some(b) => parse_seqinfo(&text(b, &info_path)?)?,
        None => MotSeqInfo::default(),
    };
    let labels_path = format!("{prefix}gt/labels.txt");
    let categories = match read(&labels_path)? {
        Some(b) => parse_labels(&text(b, &labels_path)?),
        None => mot_default_labels(),
    };
    let gt_path = format!("{prefix}gt/gt.txt");
    let gt = read(&gt_path)?.ok_or_else(|| Error::Invalid { format: FORMAT, at: gt_path.clone(), reason: "is missing; a MOT sequence's boxes are in gt/gt.txt".into() })?;
    let mut report = Report::default();
    let mut next_id = 1;
    let mut last_frame: Option<u64> = None;
    let mut frames: HashSet<u64> = HashSet::new();
    read_gt(&gt, &gt_path, &categories, &mut next_id, &mut report, progress, &mut |a| {
        last_frame = Some(last_frame.map_or(a.image_id, |f| f.max(a.image_id)));
        frames.insert(a.image_id);
        on_annotation(a)
    })?;
    report.images = frames.len() as u64;
    Ok(MotImport { info, categories, last_frame, report })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemorySink, NoProgress};
    use argus_core::{
        geometry::{Point, Polygon},
        mask::Rle,
    };
    use std::collections::BTreeMap;

    fn cat(id: u32, name: &str) -> Category {
        category(id, name)
    }

    fn frame(id: u64, video: &str, frame: u64) -> Image {
        Image { id, file_name: format!("{video}/{frame:06}.jpg"), width: 64, height: 48, video: Some(VideoFrame { video: video.into(), frame }) }
    }

    fn shape(id: u64, image_id: u64, category_id: u32, track: Option<u32>, geometry: Geometry) -> Annotation {
        Annotation {
            id,
            image_id,
            category_id,
            track,
            geometry,
            crowd: false,
            occluded: false,
            outside: false,
            keyframe: true,
            source: ShapeSource::Manual,
            score: None,
            attributes: Attributes::new(),
        }
    }

    fn bbox(x: f64, y: f64, w: f64, h: f64) -> Geometry {
        Geometry::BBox(BBox::new(x, y, w, h).expect("box"))
    }

    fn text(sink: &MemorySink, path: &str) -> String {
        String::from_utf8(sink.get(path).unwrap_or_else(|| panic!("{path} was not written"))).expect("utf-8")
    }

    fn seq(video: &str) -> MotSequence {
        MotSequence { video: video.into(), frame_rate: 29.97, frames: 3, width: 64, height: 48 }
    }

    #[test]
    fn sequences_are_written_exactly() {
        let sink = MemorySink::new();
        let mut s = sink.clone();
        let mut w = MotWriter::new(&mut s, &[cat(5, "person"), cat(6, "car")]).expect("writer");
        w.begin_sequence(&seq("street cam.mp4")).expect("begin");
        let f0 = frame(10, "street cam.mp4", 0);
        let f1 = frame(11, "street cam.mp4", 1);
        w.add_image(
            &f0,
            &[
                shape(1, 10, 5, Some(3), bbox(10.0, 12.5, 20.0, 30.25)),
                Annotation { occluded: true, crowd: true, ..shape(2, 10, 6, Some(7), bbox(-4.0, 0.0, 8.0, 8.0)) },
                shape(3, 10, 6, None, bbox(1.0, 1.0, 2.0, 2.0)),
            ],
        )
        .expect("frame 0");
        let mask = Rle::from_bbox(48, 64, &BBox::new(4.0, 5.0, 6.0, 7.0).expect("box")).expect("mask");
        w.add_image(
            &f1,
            &[
                shape(4, 11, 5, Some(3), Geometry::Mask(mask)),
                Annotation { outside: true, ..shape(5, 11, 6, Some(7), bbox(1.0, 1.0, 1.0, 1.0)) },
                shape(6, 11, 5, Some(0), bbox(2.0, 2.0, 2.0, 2.0)),
                shape(7, 11, 5, Some(3), Geometry::Points(vec![Point { x: 1.0, y: 1.0 }])),
                shape(8, 11, 99, Some(3), bbox(2.0, 2.0, 2.0, 2.0)),
            ],
        )
        .expect("frame 1");
        assert_eq!(w.image_path(&f1).expect("path"), "street_cam/img1/000002.jpg");
        w.put_image(&f1, b"jpeg").expect("put");
        // A second video, with a frame past its declared length.
        w.begin_sequence(&MotSequence { frames: 1, ..seq("b.avi") }).expect("begin b");
        w.add_image(&frame(20, "b.avi", 4), &[shape(9, 20, 6, Some(1), bbox(0.0, 0.0, 1.0, 1.0))]).expect("b frame");
        let report = w.finish().expect("finish");

        assert_eq!(text(&sink, "street_cam/gt/gt.txt"), "1,3,10,12.5,20,30.25,1,1,1\n1,7,-4,0,8,8,0,2,0\n2,3,4,5,6,7,1,1,1\n1,8,1,1,2,2,1,2,1\n2,9,2,2,2,2,1,1,1\n");
        assert_eq!(text(&sink, "street_cam/gt/labels.txt"), "person\ncar\n");
        assert_eq!(text(&sink, "street_cam/seqinfo.ini"), "[Sequence]\nname=street_cam\nimDir=img1\nframeRate=30\nseqLength=3\nimWidth=64\nimHeight=48\nimExt=.jpg\n");
        assert_eq!(sink.get("street_cam/img1/000002.jpg").as_deref(), Some(&b"jpeg"[..]));
        assert_eq!(text(&sink, "b/gt/gt.txt"), "5,1,0,0,1,1,1,2,1\n");
        assert!(text(&sink, "b/seqinfo.ini").contains("seqLength=5\n"));

        assert_eq!((report.images, report.annotations, report.tracks), (3, 6, 5));
        let changed: Vec<(&str, &str)> = report.changed.iter().map(|c| (c.at.as_str(), c.reason.as_str())).collect();
        assert_eq!(
            changed,
            [
                ("sequence street_cam", "2 shapes without a track got track ids 8..9, one each (MOT rows need an id)"),
                ("sequence street_cam", "1 mask or polygon written as bounding boxes (MOT holds boxes)"),
            ]
        );
        let skipped: Vec<&str> = report.skipped.iter().map(|s| s.at.as_str()).collect();
        assert_eq!(skipped, ["annotation 7 on street cam.mp4/000001.jpg", "annotation 8 on street cam.mp4/000001.jpg"]);
    }

    #[test]
    fn writer_misuse_is_an_error_not_a_panic() {
        let mut s = MemorySink::new();
        assert!(MotWriter::new(&mut s, &[cat(1, "a"), cat(1, "b")]).is_err());
        let mut w = MotWriter::new(&mut s, &[cat(1, "a")]).expect("writer");
        assert!(w.add_image(&frame(1, "v", 0), &[]).is_err(), "no open sequence");
        assert!(w.begin_sequence(&MotSequence { width: 0, ..seq("v") }).is_err());
        assert!(w.begin_sequence(&MotSequence { frame_rate: f64::NAN, ..seq("v") }).is_err());
        w.begin_sequence(&seq("v")).expect("begin");
        assert!(w.begin_sequence(&seq("v")).is_err(), "a video twice");
        assert!(w.add_image(&frame(1, "other", 0), &[]).is_err());
        assert!(w.image_path(&frame(1, "other", 0)).is_err());
        w.add_image(&Image { video: None, ..frame(2, "v", 0) }, &[]).expect("skipped");
        let report = w.finish().expect("finish");
        assert_eq!(report.skipped.len(), 1);
    }

    #[test]
    fn odd_names_get_safe_unique_folders_and_labels() {
        let mut taken = HashSet::new();
        assert_eq!(unique_folder(&mut taken, "a b.mp4"), "a_b");
        assert_eq!(unique_folder(&mut taken, "A_B.mov"), "A_B_2");
        assert_eq!(unique_folder(&mut taken, "../.x"), "_.x");
        assert_eq!(unique_folder(&mut taken, ""), "sequence");
        let sink = MemorySink::new();
        let mut s = sink.clone();
        let mut w = MotWriter::new(&mut s, &[cat(1, "ok"), cat(2, " two\nlines "), cat(3, "")]).expect("writer");
        w.begin_sequence(&seq("v")).expect("begin");
        let report = w.finish().expect("finish");
        assert_eq!(text(&sink, "v/gt/labels.txt"), "ok\ntwo lines\nlabel_3\n");
        assert_eq!(report.changed.len(), 2);
    }

    #[test]
    fn what_is_written_reads_back() {
        let sink = MemorySink::new();
        let mut s = sink.clone();
        let cats = [cat(5, "person"), cat(6, "car")];
        let mut w = MotWriter::new(&mut s, &cats).expect("writer");
        w.begin_sequence(&seq("v.mp4")).expect("begin");
        let mut written = Vec::new();
        for f in 0..3u64 {
            let img = frame(f, "v.mp4", f);
            let anns = [
                shape(f * 2, f, 5, Some(1), bbox(1.5 + f as f64, 2.25, 10.125, 20.0)),
                Annotation { occluded: f == 1, ..shape(f * 2 + 1, f, 6, Some(2), bbox(30.0, 10.0, 5.5, 5.5)) },
            ];
            w.add_image(&img, &anns).expect("add");
            written.extend(anns);
        }
        w.add_image(&frame(9, "v.mp4", 2), &[shape(100, 9, 6, None, Geometry::Polygon(Polygon::from_flat(&[0.0, 0.0, 4.0, 0.0, 0.0, 4.0]).expect("poly")))]).expect("add");
        w.finish().expect("finish");

        let files = sink.files();
        let list: Vec<String> = files.keys().cloned().collect();
        assert_eq!(find_sequences(&list), ["v"]);
        let mut read = |p: &str| Ok(files.get(p).cloned());
        let mut got = Vec::new();
        let import = read_mot_sequence("v", &mut read, &mut NoProgress, &mut |a| {
            got.push(a);
            Ok(())
        })
        .expect("read");
        assert!(import.report.skipped.is_empty(), "{:?}", import.report.skipped);
        assert_eq!(import.categories.iter().map(|c| (c.id, c.name.as_str())).collect::<Vec<_>>(), [(1, "person"), (2, "car")]);
        assert_eq!((import.info.width, import.info.height, import.info.length, import.info.frame_rate), (Some(64), Some(48), Some(3), Some(30.0)));
        assert_eq!(import.last_frame, Some(2));
        assert_eq!((import.report.images, import.report.annotations, import.report.tracks), (3, 7, 3));
        for (a, b) in got.iter().zip(&written) {
            assert_eq!((a.image_id, a.track, a.occluded, a.crowd), (b.image_id, b.track, b.occluded, b.crowd));
            assert_eq!(a.category_id, if b.category_id == 5 { 1 } else { 2 });
            assert_eq!(a.geometry, b.geometry);
        }
        let last = got.last().expect("untracked");
        assert_eq!((last.track, last.image_id, &last.geometry), (Some(3), 2, &bbox(0.0, 0.0, 4.0, 4.0)));
        let img = import.info.frame_image("v", 2);
        assert_eq!((img.id, img.file_name.as_str(), img.width), (2, "v/img1/000003.jpg", 64));
        assert_eq!(img.video.map(|v| (v.video, v.frame)), Some(("v".to_owned(), 2)));
    }

    #[test]
    fn malformed_rows_are_skipped_with_their_line() {
        let gt = "1,1,10,10,5,5,1,1,1\r\n\
                  1,1,10,10,5\n\
                  x,1,10,10,5,5,1,1,1\n\
                  0,1,10,10,5,5,1,1,1\n\
                  1,1,10,10,-5,5,1,1,1\n\
                  1,1,10,10,0,5,1,1,1\n\
                  1,1,NaN,10,5,5,1,1,1\n\
                  1,1,10,inf,5,5,1,1,1\n\
                  1,1,10,10,5,5,1,7,1\n\
                  1.5,1,10,10,5,5,1,1,1\n\
                  1,1,10,10,5,5,1,1,1,1,1\n\
                  \n\
                  2,-1,1,1,2,2\n\
                  3,4,1,1,2,2,0.75\n\
                  4,5,1,1,2,2,1,-1,-1,-1\n\
                  5,6,1,1,2,2,1,2,0,\n\
                  6 7 1 1 2 2 1 2 1\n";
        let mut bytes = gt.as_bytes().to_vec();
        bytes.extend_from_slice(b"7,8,1,1,2,2,1,1,\xff\n");
        let mut report = Report::default();
        let mut next = 1;
        let mut got = Vec::new();
        read_gt(&bytes, "gt/gt.txt", &[cat(1, "a"), cat(2, "b")], &mut next, &mut report, &mut NoProgress, &mut |a| {
            got.push(a);
            Ok(())
        })
        .expect("read");
        let at: Vec<&str> = report.skipped.iter().map(|s| s.at.as_str()).collect();
        assert_eq!(at, ["gt/gt.txt:2", "gt/gt.txt:3", "gt/gt.txt:4", "gt/gt.txt:5", "gt/gt.txt:6", "gt/gt.txt:7", "gt/gt.txt:8", "gt/gt.txt:9", "gt/gt.txt:10", "gt/gt.txt:11", "gt/gt.txt:18"]);
        assert!(report.skipped[7].reason.contains("class 7 is not in labels.txt (1..2)"), "{}", report.skipped[7].reason);
        assert_eq!(got.len(), 6);
        assert_eq!((got[1].track, got[1].category_id), (None, 1), "6 columns, id -1: no track, the first label");
        assert_eq!(got[2].score, Some(0.75));
        assert_eq!((got[3].category_id, got[3].occluded), (1, false), "MOT15 -1s");
        assert_eq!((got[4].category_id, got[4].occluded, got[4].image_id), (2, true, 4), "a trailing comma");
        assert_eq!(got[5].track, Some(7), "white space separated");
        assert_eq!(got.iter().map(|a| a.id).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);

        let mut none = Report::default();
        read_gt(b"", "e.txt", &[], &mut next, &mut none, &mut NoProgress, &mut |_| Ok(())).expect("empty");
        assert!(none.skipped.is_empty() && none.annotations == 0);
        read_gt(b"1,1,1,1,1,1\n", "e.txt", &[], &mut next, &mut none, &mut NoProgress, &mut |_| Ok(())).expect("no labels");
        assert!(none.skipped[0].reason.contains("no labels"));

        struct Cancel;
        impl Progress for Cancel {
            fn tick(&mut self, _: u64, _: u64) -> bool {
                false
            }
        }
        let long = "1,1,1,1,2,2,1,1,1\n".repeat(5000);
        let r = read_gt(long.as_bytes(), "gt.txt", &[cat(1, "a")], &mut next, &mut none, &mut Cancel, &mut |_| Ok(()));
        assert!(matches!(r, Err(Error::Cancelled)));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "[0-9,.\\-eE naif\n=\\[\\]a-zA-Z]{0,200}") {
            let mut report = Report::default();
            let mut next = 1;
            let _ = read_gt(text.as_bytes(), "gt.txt", &[cat(1, "a")], &mut next, &mut report, &mut NoProgress, &mut |_| Ok(()));
            let _ = parse_seqinfo(&text);
            let _ = parse_labels(&text);
        }
    }

    #[test]
    fn seqinfo_and_sequences_without_extras() {
        let info = parse_seqinfo("[Sequence]\nname=MOT16-02\nimDir=img1\nframeRate=30\nseqLength=600\nimWidth=1920\nimHeight=1080\nimExt=.jpg\n").expect("ini");
        assert_eq!((info.name.as_deref(), info.length, info.width, info.im_ext.as_str()), (Some("MOT16-02"), Some(600), Some(1920), ".jpg"));
        for bad in ["[Sequence]\nseqLength=many\n", "imWidth=-3\n", "frameRate=nan\n", "imHeight=99999999999\n", "seqLength=1.5\n", "junk\n"] {
            assert!(matches!(parse_seqinfo(bad), Err(Error::Syntax { .. })), "{bad}");
        }
        let files: BTreeMap<String, Vec<u8>> = [("gt/gt.txt".to_owned(), b"1,1,1,1,2,2,1,3,1\n".to_vec())].into_iter().collect();
        let mut read = |p: &str| Ok(files.get(p).cloned());
        let import = read_mot_sequence("", &mut read, &mut NoProgress, &mut |a| {
            assert_eq!(a.category_id, 3);
            Ok(())
        })
        .expect("read");
        assert_eq!(import.categories.len(), 12, "MOT's own labels");
        assert_eq!(import.info, MotSeqInfo::default());
        assert!(read_mot_sequence("missing", &mut read, &mut NoProgress, &mut |_| Ok(())).is_err());
        assert_eq!(find_sequences(&["gt/gt.txt".into(), "a/b/gt/gt.txt".into(), "x/gt.txt".into()]), ["", "a/b"]);
    }
}
