//! CVAT for video 1.1 XML: one file per video (one CVAT task), as CVAT's
//! "CVAT for video 1.1" export writes it and its import (and datumaro's
//! `cvat` format) reads it.
//!
//! Why it is shaped this way:
//! - **Tracks, not frames.** The file is `<meta>` (the task and its labels)
//!   and then `<track>`s, each with its shapes in frame order.
//!   [`CvatWriter::write_track`] writes one track and forgets it;
//!   [`CvatReader::read_tracks`] hands out one track at a time; neither holds
//!   the document.
//! - **CVAT's track semantics.** A CVAT track shows its last shape, and
//!   interpolates between shapes, until a shape with `outside="1"`. Argus's
//!   shapes between keyframes are interpolated by design, so gaps between
//!   shapes are left for CVAT to interpolate and only the end is closed:
//!   after a track's last shape (unless it is outside already or on the
//!   video's last frame) the writer adds a copy of it on the next frame with
//!   `outside="1" keyframe="1"`. The reader gives the file's shapes as they
//!   are, closing ones included.
//! - **CVAT's masks are not COCO's.** `<mask rle="...">` holds row-major runs
//!   over the mask's bounding box (`left`, `top`, `width`, `height`), starting
//!   with a run of zeros; Argus's [`Rle`] is column-major over the whole
//!   frame. Mixing them up is cvat-ai/cvat#6487 and #8124. The conversion
//!   works on runs, never on a bitmap, and is tested pixel for pixel.
//! - **Losses are reported.** CVAT polygons have no holes: the outline is
//!   written and the report says so (a mask with holes is exact). CVAT has no
//!   empty mask: an empty one is written as one unset pixel, which reads back
//!   as the same empty mask. Boxes are stored as corners, so a width comes
//!   back within floating-point rounding.
//! - **Attributes.** CVAT writes a track's attributes on every shape; the
//!   reader splits them back by the label's `mutable` flag in `<meta>`.
//! - **Hostile XML is refused, not expanded.** A `<!DOCTYPE>` that declares
//!   entities is an [`Error::Invalid`] (billion laughs, external entities that
//!   read local files); only the five predefined entities and character
//!   references are resolved.
//!
//! CVAT for images 1.1 (`<image>` elements with shapes and no tracks) is read
//! too: each shape comes as a one-shape [`CvatTrack`] without a number.

use std::{
    borrow::Cow,
    collections::{BTreeSet, HashMap},
    fmt,
    io::{self, BufRead, Read, Write},
    mem,
};

use argus_core::{
    geometry::{BBox, Point, Polygon, Polyline},
    mask::Rle,
    model::{AttributeKind, AttributeSpec, AttributeValue, Attributes, Colour, Geometry, ShapeSource},
};
use quick_xml::{
    Reader, XmlVersion,
    escape::{escape, resolve_predefined_entity},
    events::{BytesStart, Event},
};

use crate::{Category, Error, Progress, Report, Result};

const FORMAT: &str = "CVAT XML";

/// The largest frame side the reader accepts, in pixels: above any video
/// codec's, and small enough that converting a mask stays quick.
const MAX_SIDE: u32 = 1 << 16;

/// The most runs a mask read from a file may convert to (64 MiB of runs), so
/// that a few bytes of `rle` cannot make the reader allocate without bound.
const MAX_RUNS: usize = 1 << 24;

/// The task a file describes: one video.
#[derive(Debug, Clone, PartialEq)]
pub struct CvatTask {
    pub name: String,
    /// Number of frames (`<size>`); shapes are on frames `0..size`.
    pub size: u64,
    pub start_frame: u64,
    pub stop_frame: u64,
    /// The frames' `(width, height)` (`<original_size>`), which masks are
    /// placed on. Files of CVAT for images have none: each image has its own.
    pub original_size: Option<(u32, u32)>,
}

impl CvatTask {
    /// A task for a whole video of `frames` frames of `width x height`.
    pub fn video(name: impl Into<String>, frames: u64, width: u32, height: u32) -> Self {
        Self {
            name: name.into(),
            size: frames,
            start_frame: 0,
            stop_frame: frames.saturating_sub(1),
            original_size: Some((width, height)),
        }
    }
}

/// What `<meta>` says: the task and its labels (numbered from 1 in file
/// order, as CVAT files carry no label ids).
#[derive(Debug, Clone, PartialEq)]
pub struct CvatMeta {
    pub task: CvatTask,
    pub labels: Vec<Category>,
}

/// One track: what [`CvatWriter::write_track`] takes and
/// [`CvatReader::read_tracks`] gives.
#[derive(Debug, Clone, PartialEq)]
pub struct CvatTrack {
    /// The track's number in its video (`<track id>`); `None` for a shape of
    /// an `<image>` (CVAT for images), which belongs to no track.
    pub id: Option<u32>,
    pub label: String,
    /// CVAT keeps one source per track: `manual` (Manual, Interpolated),
    /// `semi-auto` (SAM), `auto` (Propagated), `file` (Imported).
    pub source: ShapeSource,
    /// The label's track-scoped (not `mutable`) attribute values.
    pub attributes: Attributes,
    /// In frame order, one per frame.
    pub shapes: Vec<CvatShape>,
}

/// A track's shape on one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct CvatShape {
    pub frame: u64,
    pub geometry: Geometry,
    /// False for a shape interpolated between keyframes.
    pub keyframe: bool,
    /// The track has left the frame here (it ends or pauses).
    pub outside: bool,
    pub occluded: bool,
    /// The label's per-frame (`mutable`) attribute values.
    pub attributes: Attributes,
}

// ---------------------------------------------------------------------------
// Writer

/// Writes one video's tracks as CVAT for video 1.1, one track at a time.
/// Call [`finish`](Self::finish) at the end: it closes the document.
#[derive(Debug)]
pub struct CvatWriter<W: Write> {
    out: W,
    size: u64,
    frame_size: Option<(u32, u32)>,
    labels: BTreeSet<String>,
    report: Report,
}

impl<W: Write> CvatWriter<W> {
    /// Writes the header and `<meta>`: the task and the labels with their
    /// attributes. Tracks may use only these labels.
    pub fn new(mut out: W, task: &CvatTask, labels: &[Category]) -> Result<Self> {
        let mut report = Report::default();
        let mut lossy = false;
        let mut x = String::with_capacity(4096);
        x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<annotations>\n  <version>1.1</version>\n  <meta>\n    <task>\n");
        leaf(&mut x, 6, "name", &task.name, &mut lossy);
        leaf(&mut x, 6, "size", &task.size.to_string(), &mut lossy);
        leaf(&mut x, 6, "mode", "interpolation", &mut lossy);
        leaf(&mut x, 6, "overlap", "0", &mut lossy);
        leaf(&mut x, 6, "start_frame", &task.start_frame.to_string(), &mut lossy);
        leaf(&mut x, 6, "stop_frame", &task.stop_frame.to_string(), &mut lossy);
        leaf(&mut x, 6, "frame_filter", "", &mut lossy);
        x.push_str("      <labels>\n");
        for label in labels {
            x.push_str("        <label>\n");
            leaf(&mut x, 10, "name", &label.name, &mut lossy);
            if let Some(colour) = label.colour {
                leaf(&mut x, 10, "color", &colour.to_string(), &mut lossy);
            }
            // Argus labels may allow several kinds; CVAT's `any` allows all.
            leaf(&mut x, 10, "type", "any", &mut lossy);
            x.push_str("          <attributes>\n");
            for spec in &label.attributes {
                let (input_type, default, values) = spec_to_cvat(spec);
                x.push_str("            <attribute>\n");
                leaf(&mut x, 14, "name", &spec.name, &mut lossy);
                leaf(&mut x, 14, "mutable", if spec.per_frame { "True" } else { "False" }, &mut lossy);
                leaf(&mut x, 14, "input_type", input_type, &mut lossy);
                leaf(&mut x, 14, "default_value", &default, &mut lossy);
                leaf(&mut x, 14, "values", &values, &mut lossy);
                x.push_str("            </attribute>\n");
            }
            x.push_str("          </attributes>\n        </label>\n");
        }
        x.push_str("      </labels>\n");
        if let Some((width, height)) = task.original_size {
            x.push_str("      <original_size>\n");
            leaf(&mut x, 8, "width", &width.to_string(), &mut lossy);
            leaf(&mut x, 8, "height", &height.to_string(), &mut lossy);
            x.push_str("      </original_size>\n");
        }
        x.push_str("    </task>\n  </meta>\n");
        if lossy {
            report.change("meta", REPLACED);
        }
        out.write_all(x.as_bytes()).map_err(|e| Error::io("writing CVAT XML", e))?;
        Ok(Self {
            out,
            size: task.size,
            frame_size: task.original_size,
            labels: labels.iter().map(|l| l.name.clone()).collect(),
            report,
        })
    }

    /// Writes one `<track>` with its shapes (and its closing outside shape,
    /// see the module docs). Shapes that cannot be written are left out and
    /// reported; a track whose label is not among the task's is reported and
    /// left out. Shapes out of frame order, or a track without a number, are
    /// an [`Error::Unsupported`]: CVAT holds one shape per track and frame.
    pub fn write_track(&mut self, track: &CvatTrack) -> Result<()> {
        let Some(id) = track.id else {
            return Err(Error::Unsupported {
                format: FORMAT,
                reason: format!("a track of label '{}' has no number; CVAT tracks need one", track.label),
            });
        };
        let at = format!("track {id}");
        if !self.labels.contains(&track.label) {
            let reason = format!("its label '{}' is not among the task's labels, so CVAT could not import it", track.label);
            self.report.skip(at, reason);
            return Ok(());
        }
        if let Some(w) = track.shapes.windows(2).find(|w| w[1].frame <= w[0].frame) {
            return Err(Error::Unsupported {
                format: FORMAT,
                reason: format!(
                    "{at}: shapes must come in frame order, one per frame (frame {} after frame {})",
                    w[1].frame, w[0].frame
                ),
            });
        }
        let kinds: BTreeSet<&str> = track.shapes.iter().map(|s| s.geometry.kind().name()).collect();
        if kinds.len() > 1 {
            let kinds: Vec<&str> = kinds.into_iter().collect();
            let reason = format!("mixes {} shapes; CVAT expects one kind per track and may refuse it", kinds.join(", "));
            self.report.change(&at, reason);
        }
        let mut lossy = false;
        let mut x = format!(
            "  <track id=\"{id}\" label=\"{}\" source=\"{}\">\n",
            attr_value(&track.label, &mut lossy),
            source_to_cvat(track.source)
        );
        let mut written = 0u64;
        let mut last = None;
        for shape in &track.shapes {
            let at = format!("track {id}, frame {}", shape.frame);
            if shape.frame >= self.size {
                self.report.skip(at, format!("the frame is past the video's end ({} frames)", self.size));
            } else if self.shape(&mut x, &at, shape, &track.attributes, false, &mut lossy) {
                written += 1;
                last = Some(shape);
            }
        }
        let Some(last) = last else {
            self.report.skip(at, "no shape of it could be written");
            return Ok(());
        };
        if !last.outside && last.frame.saturating_add(1) < self.size {
            let at = format!("track {id}, frame {}", last.frame + 1);
            self.shape(&mut x, &at, last, &track.attributes, true, &mut lossy);
        }
        x.push_str("  </track>\n");
        if lossy {
            self.report.change(&at, REPLACED);
        }
        self.out.write_all(x.as_bytes()).map_err(|e| Error::io("writing CVAT XML", e))?;
        self.report.tracks += 1;
        self.report.annotations += written;
        Ok(())
    }

    /// Closes the document, flushes, and says what was written and changed.
    pub fn finish(mut self) -> Result<Report> {
        self.out.write_all(b"</annotations>\n").map_err(|e| Error::io("writing CVAT XML", e))?;
        self.out.flush().map_err(|e| Error::io("writing CVAT XML", e))?;
        Ok(self.report)
    }

    /// Appends one shape element; `closing` writes the copy on the next
    /// frame that ends the track (its losses were reported with the shape).
    /// Returns false when the shape could not be written (reported).
    fn shape(
        &mut self,
        x: &mut String,
        at: &str,
        shape: &CvatShape,
        track_attributes: &Attributes,
        closing: bool,
        lossy: &mut bool,
    ) -> bool {
        let (frame, outside, keyframe) =
            if closing { (shape.frame + 1, true, true) } else { (shape.frame, shape.outside, shape.keyframe) };
        let (tag, geometry) = match &shape.geometry {
            Geometry::BBox(b) => {
                let (x1, y1) = (b.x + b.width, b.y + b.height);
                ("box", format!(" xtl=\"{}\" ytl=\"{}\" xbr=\"{x1}\" ybr=\"{y1}\"", b.x, b.y))
            }
            Geometry::Polygon(p) => {
                if !p.holes.is_empty() && !closing {
                    let reason = format!(
                        "the polygon's {} hole(s) were dropped: CVAT polygons have none (draw it as a mask to keep them)",
                        p.holes.len()
                    );
                    self.report.change(at, reason);
                }
                ("polygon", format!(" points=\"{}\"", points_text(&p.exterior)))
            }
            Geometry::Polyline(l) => ("polyline", format!(" points=\"{}\"", points_text(&l.points))),
            Geometry::Points(ps) if ps.is_empty() => {
                self.report.skip(at, "a points shape without points cannot be written");
                return false;
            }
            Geometry::Points(ps) => ("points", format!(" points=\"{}\"", points_text(ps))),
            Geometry::Mask(rle) => {
                let reason = match self.frame_size {
                    None => Some("the task has no frame size (original_size) to place a mask on".to_owned()),
                    Some((w, h)) if (rle.width(), rle.height()) != (w, h) => {
                        Some(format!("the mask is {}x{} but the frames are {w}x{h}", rle.width(), rle.height()))
                    }
                    Some(_) => None,
                };
                if let Some(reason) = reason {
                    self.report.skip(at, reason);
                    return false;
                }
                let m = match mask_to_cvat(rle) {
                    Ok(m) => m,
                    Err(reason) => {
                        self.report.skip(at, reason);
                        return false;
                    }
                };
                let counts: Vec<String> = m.counts.iter().map(u32::to_string).collect();
                let geometry = format!(
                    " rle=\"{}\" left=\"{}\" top=\"{}\" width=\"{}\" height=\"{}\"",
                    counts.join(", "),
                    m.left,
                    m.top,
                    m.width,
                    m.height
                );
                ("mask", geometry)
            }
        };
        x.push_str(&format!(
            "    <{tag} frame=\"{frame}\" outside=\"{}\" occluded=\"{}\" keyframe=\"{}\"{geometry} z_order=\"0\"",
            u8::from(outside),
            u8::from(shape.occluded),
            u8::from(keyframe)
        ));
        // CVAT writes a track's attributes on every shape, next to the shape's own.
        let attributes: Vec<(&String, &AttributeValue)> = track_attributes
            .iter()
            .filter(|(k, _)| !shape.attributes.contains_key(*k))
            .chain(&shape.attributes)
            .collect();
        if attributes.is_empty() {
            x.push_str(" />\n");
        } else {
            x.push_str(">\n");
            for (name, value) in attributes {
                let value = match value {
                    AttributeValue::Bool(b) => b.to_string(),
                    AttributeValue::Number(n) => n.to_string(),
                    AttributeValue::Text(t) => t.clone(),
                };
                x.push_str(&format!(
                    "      <attribute name=\"{}\">{}</attribute>\n",
                    attr_value(name, lossy),
                    text(&value, lossy)
                ));
            }
            x.push_str(&format!("    </{tag}>\n"));
        }
        true
    }
}

const REPLACED: &str = "characters XML cannot hold (control characters) were replaced with U+FFFD";

/// `<tag>text</tag>` on its own line.
fn leaf(x: &mut String, indent: usize, tag: &str, value: &str, lossy: &mut bool) {
    x.push_str(&format!("{:indent$}<{tag}>{}</{tag}>\n", "", text(value, lossy)));
}

/// Whether XML 1.0 can hold `c` at all (not even as a character reference).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escaped text content; characters XML cannot hold become U+FFFD, and
/// `lossy` says so.
fn text<'a>(s: &'a str, lossy: &mut bool) -> Cow<'a, str> {
    if s.chars().all(xml_char) {
        escape(s)
    } else {
        *lossy = true;
        let clean: String = s.chars().map(|c| if xml_char(c) { c } else { '\u{FFFD}' }).collect();
        Cow::Owned(escape(clean).into_owned())
    }
}

/// An escaped attribute value: like text, with tabs and newlines as
/// character references, which attribute-value normalisation would otherwise
/// turn into spaces.
fn attr_value<'a>(s: &'a str, lossy: &mut bool) -> Cow<'a, str> {
    let e = text(s, lossy);
    if e.contains(['\n', '\t']) { Cow::Owned(e.replace('\n', "&#10;").replace('\t', "&#9;")) } else { e }
}

/// `x,y;x,y`, each number in its shortest exact form.
fn points_text(points: &[Point]) -> String {
    let pairs: Vec<String> = points.iter().map(|p| format!("{},{}", p.x, p.y)).collect();
    pairs.join(";")
}

fn source_to_cvat(source: ShapeSource) -> &'static str {
    match source {
        ShapeSource::Manual | ShapeSource::Interpolated => "manual",
        ShapeSource::Sam => "semi-auto",
        ShapeSource::Propagated => "auto",
        ShapeSource::Imported => "file",
    }
}

fn source_from_cvat(source: Option<&str>) -> ShapeSource {
    match source.map(str::trim) {
        Some("manual") => ShapeSource::Manual,
        Some("semi-auto") => ShapeSource::Sam,
        Some("auto") => ShapeSource::Propagated,
        _ => ShapeSource::Imported,
    }
}

/// `(input_type, default_value, values)` as CVAT's meta writes them; values
/// are one per line (a number's are min, max and step).
fn spec_to_cvat(spec: &AttributeSpec) -> (&'static str, String, String) {
    match &spec.kind {
        AttributeKind::Bool { default } => ("checkbox", default.to_string(), default.to_string()),
        AttributeKind::Enum { options, default } => ("select", default.clone(), options.join("\n")),
        AttributeKind::Text { default } => ("text", default.clone(), default.clone()),
        AttributeKind::Number { min, max, step, default } => ("number", default.to_string(), format!("{min}\n{max}\n{step}")),
    }
}

// ---------------------------------------------------------------------------
// Masks

/// A mask as CVAT's `<mask>` holds it: row-major runs over the box, starting
/// with zeros.
#[derive(Debug, Clone, PartialEq)]
struct CvatMask {
    counts: Vec<u32>,
    left: u32,
    top: u32,
    width: u32,
    height: u32,
}

/// Crops `rle` to its bounding box and re-reads the crop's column-major runs
/// row by row. An empty mask becomes one unset pixel: CVAT has no empty mask.
fn mask_to_cvat(rle: &Rle) -> std::result::Result<CvatMask, String> {
    let Some(b) = rle.bbox() else {
        return Ok(CvatMask { counts: vec![1], left: 0, top: 0, width: 1, height: 1 });
    };
    // The box of a mask is in whole pixels inside it.
    let (left, top, width, height) = (b.x as u32, b.y as u32, b.width as u32, b.height as u32);
    let crop = rle.crop(left, top, width, height).map_err(|e| e.to_string())?;
    // Column-major runs are runs over `width` lines (columns) of `height` pixels.
    let counts = transpose_runs(crop.counts(), height, width, usize::MAX)
        .ok_or_else(|| format!("the {width}x{height} mask could not be converted"))?;
    Ok(CvatMask { counts, left, top, width, height })
}

/// Reads CVAT's `rle`, `left`, `top`, `width`, `height` into a mask of the
/// `frame` size. The flag says that set pixels fell outside the frame and
/// were clipped.
fn mask_from_cvat(
    rle: &str,
    (left, top, width, height): (u32, u32, u32, u32),
    (frame_w, frame_h): (u32, u32),
) -> std::result::Result<(Rle, bool), String> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!("the mask's box {width}x{height} is empty or larger than {MAX_SIDE} pixels a side"));
    }
    let mut counts = Vec::new();
    for piece in rle.split(',') {
        let run = piece.trim().parse::<u32>().map_err(|_| format!("rle holds '{}', which is not a run length", piece.trim()))?;
        counts.push(run);
    }
    let area = u64::from(width) * u64::from(height);
    let sum: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    if sum != area {
        return Err(format!(
            "the rle counts sum to {sum} but the {width}x{height} mask box needs {area} (CVAT's runs are row-major over the box)"
        ));
    }
    // Row-major runs are runs over `height` lines (rows) of `width` pixels.
    let columns = transpose_runs(&counts, width, height, MAX_RUNS)
        .ok_or_else(|| format!("the {width}x{height} mask has more than {MAX_RUNS} runs"))?;
    let crop = Rle::new(height, width, columns).map_err(|e| e.to_string())?;
    let mask = crop.paste(frame_h, frame_w, i64::from(left), i64::from(top)).map_err(|e| e.to_string())?;
    let clipped = mask.area() != crop.area();
    Ok((mask, clipped))
}

/// Re-reads runs over `lines` lines of `line_len` pixels each as runs over
/// `line_len` lines of `lines` pixels: row-major runs become column-major
/// ones and the other way round. Both start with a run of zeros.
///
/// It works on runs, never on pixels: for each line it finds the positions
/// where the line differs from the one before, which are where the
/// transposed lines change value. So the work follows the runs in and out,
/// plus a step per line. `None` when the runs do not cover the lines exactly,
/// or the output would pass `max_runs`.
fn transpose_runs(counts: &[u32], line_len: u32, lines: u32, max_runs: usize) -> Option<Vec<u32>> {
    let (len, n) = (u64::from(line_len), u64::from(lines));
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    if len == 0 || n == 0 || total != len * n || total > u64::from(u32::MAX) {
        return None;
    }
    let mut f = Flips { at: vec![Vec::new(); line_len as usize], prev: Vec::new(), cur: Vec::new(), line: 0, total: 0 };
    let mut pos = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        let end = pos + u64::from(c);
        if i % 2 == 1 {
            let mut s = pos;
            while s < end {
                let line = s / len;
                while f.line < line {
                    f.end_line();
                    if f.total > max_runs {
                        return None;
                    }
                }
                let start = line * len;
                let e = end.min(start + len);
                f.cur.push((s - start) as u32);
                f.cur.push((e - start) as u32);
                s = e;
            }
        }
        pos = end;
    }
    while f.line < n {
        f.end_line();
        if f.total > max_runs {
            return None;
        }
    }
    let mut out = Runs::default();
    for flips in &f.at {
        let (mut one, mut from) = (false, 0u32);
        for &l in flips {
            out.push(one, l - from);
            one = !one;
            from = l;
        }
        out.push(one, lines - from);
    }
    Some(out.finish())
}

/// Where each position along the lines changes value, gathered line by line.
struct Flips {
    /// Per position, the (increasing) lines at which it flips.
    at: Vec<Vec<u32>>,
    /// The positions where the previous and the current line toggle (from
    /// an unset start): pairs of `[start, end)` of their set runs.
    prev: Vec<u32>,
    cur: Vec<u32>,
    line: u64,
    total: usize,
}

impl Flips {
    /// Ends the current line. A position flips here when it is set in an odd
    /// number of the two lines' runs: between the 1st and 2nd, 3rd and 4th...
    /// of both lines' toggles together.
    fn end_line(&mut self) {
        self.prev.extend_from_slice(&self.cur);
        self.prev.sort_unstable();
        for pair in self.prev.chunks_exact(2) {
            for p in pair[0]..pair[1] {
                if let Some(flips) = self.at.get_mut(p as usize) {
                    flips.push(self.line as u32);
                }
            }
            self.total += (pair[1] - pair[0]) as usize;
        }
        self.prev.clear();
        mem::swap(&mut self.prev, &mut self.cur);
        self.line += 1;
    }
}

/// Builds runs from `(value, length)` pieces, merging neighbours of the same
/// value; the first run counts zeros.
#[derive(Default)]
struct Runs(Vec<u32>);

impl Runs {
    fn push(&mut self, one: bool, len: u32) {
        if len == 0 {
            return;
        }
        let last_is_one = self.0.len().is_multiple_of(2);
        match self.0.last_mut() {
            Some(last) if last_is_one == one => *last = last.saturating_add(len),
            Some(_) => self.0.push(len),
            None if one => self.0.extend([0, len]),
            None => self.0.push(len),
        }
    }

    fn finish(self) -> Vec<u32> {
        if self.0.is_empty() { vec![0] } else { self.0 }
    }
}

// ---------------------------------------------------------------------------
// Reader

/// Reads a CVAT for video 1.1 file: [`new`](Self::new) reads up to the end
/// of `<meta>`, [`read_tracks`](Self::read_tracks) hands out the tracks one
/// by one. Only the meta and the track being read are held.
pub struct CvatReader<R: BufRead> {
    xml: Xml<R>,
    meta: CvatMeta,
    labels: HashMap<String, usize>,
    report: Report,
    total_bytes: u64,
}

impl<R: BufRead> fmt::Debug for CvatReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CvatReader").field("meta", &self.meta).field("report", &self.report).finish_non_exhaustive()
    }
}

impl<R: BufRead> CvatReader<R> {
    /// Reads the document's start and its `<meta>`: the task (its `<size>`
    /// is required) and the labels. A file that is not CVAT XML, a project
    /// export (several tasks) and a DOCTYPE with entities are
    /// [`Error::Invalid`]; broken XML is [`Error::Syntax`].
    pub fn new(input: R) -> Result<Self> {
        let mut xml = Xml::new(input);
        let mut report = Report::default();
        match xml.next()? {
            Node::Open { name, .. } if name == "annotations" => {}
            Node::Open { name, at, .. } => {
                let reason = format!("the root element is <{name}>, not <annotations>: this is not a CVAT XML file");
                return Err(Error::Invalid { format: FORMAT, at: at.to_string(), reason });
            }
            Node::Close { at, .. } => return Err(syntax(at, "a closing tag comes before any element")),
            Node::Eof => return Err(syntax(xml.place(), "the file has no element: it is empty or truncated")),
        }
        let meta = loop {
            match xml.next()? {
                Node::Open { name, at, .. } => match name.as_str() {
                    "meta" => break read_meta(&mut xml, &mut report, at)?,
                    "track" | "image" | "tag" => {
                        let reason = format!("<{name}> comes before <meta>; CVAT writes the task and its labels first");
                        return Err(Error::Invalid { format: FORMAT, at: at.to_string(), reason });
                    }
                    _ => xml.skip()?,
                },
                Node::Close { at, .. } => {
                    let reason = "the file has no <meta>: CVAT XML starts with the task and its labels";
                    return Err(Error::Invalid { format: FORMAT, at: at.to_string(), reason: reason.into() });
                }
                Node::Eof => return Err(truncated(xml.place())),
            }
        };
        let labels = meta.labels.iter().enumerate().map(|(i, l)| (l.name.clone(), i)).collect();
        Ok(Self { xml, meta, labels, report, total_bytes: 0 })
    }

    /// The task and its labels.
    pub fn meta(&self) -> &CvatMeta {
        &self.meta
    }

    /// The input's length, for [`Progress`]: [`read_tracks`](Self::read_tracks)
    /// ticks bytes read of it (of 0 when not given).
    pub fn with_total_bytes(mut self, total_bytes: u64) -> Self {
        self.total_bytes = total_bytes;
        self
    }

    /// Hands each track to `on_track`, in file order, with its shapes in
    /// frame order; an `<image>`'s shapes come as one-shape tracks without a
    /// number. Shapes and tracks that cannot be used (unknown label, bad
    /// coordinates, bad mask runs, frames past the task) are left out and
    /// listed in the report; an error from `on_track` stops the reading.
    pub fn read_tracks(
        mut self,
        progress: &mut dyn Progress,
        mut on_track: impl FnMut(CvatTrack) -> Result<()>,
    ) -> Result<Report> {
        loop {
            match self.xml.next()? {
                Node::Open { name, attrs, at } => match name.as_str() {
                    "track" => self.track(&attrs, at, &mut on_track)?,
                    "image" => self.image(&attrs, at, &mut on_track)?,
                    "tag" => {
                        self.report.skip(format!("tag ({at})"), "frame tags are not imported: Argus has no tags");
                        self.xml.skip()?;
                    }
                    _ => self.xml.skip()?,
                },
                // The only close at this level is </annotations>.
                Node::Close { .. } => break,
                Node::Eof => return Err(truncated(self.xml.place())),
            }
            if !progress.tick(self.xml.position(), self.total_bytes) {
                return Err(Error::Cancelled);
            }
        }
        match self.xml.next()? {
            Node::Eof => Ok(self.report),
            Node::Open { at, .. } | Node::Close { at, .. } => Err(syntax(at, "content follows </annotations>")),
        }
    }

    fn track(
        &mut self,
        attrs: &[(String, String)],
        at: Place,
        on_track: &mut dyn FnMut(CvatTrack) -> Result<()>,
    ) -> Result<()> {
        let Some(id) = attr(attrs, "id").and_then(|v| v.trim().parse::<u32>().ok()) else {
            self.report.skip(format!("track ({at})"), "its id is missing or not a number");
            return self.xml.skip();
        };
        let place = format!("track {id} ({at})");
        let label = attr(attrs, "label").unwrap_or_default().trim().to_owned();
        let Some(&index) = self.labels.get(&label) else {
            self.report.skip(place, format!("its label '{label}' is not among the labels in <meta>"));
            return self.xml.skip();
        };
        let mut g = Gather::new(index, self.meta.task.original_size);
        let mut shapes = Vec::new();
        loop {
            match self.xml.next()? {
                Node::Open { name, attrs, at } if is_shape(&name) => {
                    let raw = self.raw_shape(name, attrs)?;
                    let Some(frame) = attr(&raw.attrs, "frame").and_then(|v| v.trim().parse::<u64>().ok()) else {
                        self.report.skip(format!("track {id}, {} ({at})", raw.tag), "its frame is missing or not a number");
                        continue;
                    };
                    let place = format!("track {id}, frame {frame} ({at})");
                    if let Some(shape) = self.shape(&raw, frame, true, &mut g, &place) {
                        shapes.push(shape);
                    }
                }
                Node::Open { name, .. } => {
                    g.unsupported.insert(name);
                    self.xml.skip()?;
                }
                Node::Close { .. } => break,
                Node::Eof => return Err(truncated(self.xml.place())),
            }
        }
        self.report_gathered(&g, &place, &label);
        if shapes.is_empty() {
            self.report.skip(place, "it has no usable shape");
            return Ok(());
        }
        shapes.sort_by_key(|s| s.frame);
        self.report.tracks += 1;
        self.report.annotations += shapes.len() as u64;
        on_track(CvatTrack { id: Some(id), label, source: source_from_cvat(attr(attrs, "source")), attributes: g.track, shapes })
    }

    fn image(
        &mut self,
        attrs: &[(String, String)],
        at: Place,
        on_track: &mut dyn FnMut(CvatTrack) -> Result<()>,
    ) -> Result<()> {
        let Some(frame) = attr(attrs, "id").and_then(|v| v.trim().parse::<u64>().ok()) else {
            self.report.skip(format!("image ({at})"), "its id is missing or not a number");
            return self.xml.skip();
        };
        let side = |k: &str| attr(attrs, k).and_then(|v| v.trim().parse::<u32>().ok()).filter(|&s| s > 0 && s <= MAX_SIDE);
        let frame_size = match (side("width"), side("height")) {
            (Some(w), Some(h)) => Some((w, h)),
            _ => self.meta.task.original_size,
        };
        self.report.images += 1;
        loop {
            match self.xml.next()? {
                Node::Open { name, attrs, at } if is_shape(&name) => {
                    let raw = self.raw_shape(name, attrs)?;
                    let place = format!("image {frame}, {} ({at})", raw.tag);
                    let label = attr(&raw.attrs, "label").unwrap_or_default().trim().to_owned();
                    let Some(&index) = self.labels.get(&label) else {
                        self.report.skip(place, format!("its label '{label}' is not among the labels in <meta>"));
                        continue;
                    };
                    let mut g = Gather::new(index, frame_size);
                    let shape = self.shape(&raw, frame, false, &mut g, &place);
                    self.report_gathered(&g, &place, &label);
                    if let Some(shape) = shape {
                        self.report.annotations += 1;
                        let source = source_from_cvat(attr(&raw.attrs, "source"));
                        on_track(CvatTrack { id: None, label, source, attributes: g.track, shapes: vec![shape] })?;
                    }
                }
                Node::Open { name, at, .. } => {
                    let reason = if name == "tag" {
                        "frame tags are not imported: Argus has no tags".to_owned()
                    } else {
                        format!("{name} shapes are not supported by Argus")
                    };
                    self.report.skip(format!("image {frame}, {name} ({at})"), reason);
                    self.xml.skip()?;
                }
                Node::Close { .. } => return Ok(()),
                Node::Eof => return Err(truncated(self.xml.place())),
            }
        }
    }

    /// Reads a shape element to its end: its XML attributes and its
    /// `<attribute>` children.
    fn raw_shape(&mut self, tag: String, attrs: Vec<(String, String)>) -> Result<RawShape> {
        let mut values = Vec::new();
        loop {
            match self.xml.next()? {
                Node::Open { name, attrs, .. } if name == "attribute" => {
                    let key = attr(&attrs, "name").unwrap_or_default().trim().to_owned();
                    values.push((key, self.xml.text_to_end()?));
                }
                Node::Open { .. } => self.xml.skip()?,
                Node::Close { .. } => return Ok(RawShape { tag, attrs, values }),
                Node::Eof => return Err(truncated(self.xml.place())),
            }
        }
    }

    /// Turns a shape element into a shape on `frame`, or reports why not.
    /// Track-scoped attribute values go to the gathered track's.
    fn shape(&mut self, raw: &RawShape, frame: u64, in_track: bool, g: &mut Gather, place: &str) -> Option<CvatShape> {
        let size = self.meta.task.size;
        if frame >= size {
            self.report.skip(place, format!("frame {frame} is past the task's {size} frames"));
            return None;
        }
        let flag = |k: &str| matches!(attr(&raw.attrs, k).map(str::trim), Some("1" | "true" | "True"));
        let (outside, keyframe) = if in_track { (flag("outside"), flag("keyframe")) } else { (false, true) };
        let geometry = match geometry(raw, g.frame_size) {
            Ok((geometry, change)) => {
                if let Some(change) = change {
                    self.report.change(place, change);
                }
                geometry
            }
            Err(reason) => {
                self.report.skip(place, reason);
                return None;
            }
        };
        let mut attributes = Attributes::new();
        let specs = self.meta.labels.get(g.label).map(|l| l.attributes.as_slice()).unwrap_or_default();
        for (name, value) in &raw.values {
            let Some(spec) = specs.iter().find(|s| s.name == *name) else {
                g.unknown.insert(name.clone());
                continue;
            };
            match typed_value(spec, value) {
                Ok(v) if spec.per_frame => {
                    attributes.insert(name.clone(), v);
                }
                Ok(v) => {
                    g.track.entry(name.clone()).or_insert(v);
                }
                Err(reason) => self.report.skip(place, format!("attribute '{name}': {reason}")),
            }
        }
        Some(CvatShape { frame, geometry, keyframe, outside, occluded: flag("occluded"), attributes })
    }

    fn report_gathered(&mut self, g: &Gather, place: &str, label: &str) {
        for name in &g.unknown {
            let reason = format!("attribute '{name}' is not declared for label '{label}' in <meta>; its values were left out");
            self.report.skip(place, reason);
        }
        if !g.unsupported.is_empty() {
            let kinds: Vec<&str> = g.unsupported.iter().map(String::as_str).collect();
            self.report.skip(place, format!("{} shapes are not supported by Argus; they were left out", kinds.join(", ")));
        }
    }
}

/// What a track (or an image's shape) gathers while its shapes are read.
struct Gather {
    /// The label's index in the meta.
    label: usize,
    frame_size: Option<(u32, u32)>,
    /// Track-scoped attribute values, from the first shape that has them.
    track: Attributes,
    /// Attribute names the label does not declare.
    unknown: BTreeSet<String>,
    /// Shape elements Argus cannot hold (ellipse, cuboid, skeleton...).
    unsupported: BTreeSet<String>,
}

impl Gather {
    fn new(label: usize, frame_size: Option<(u32, u32)>) -> Self {
        Self { label, frame_size, track: Attributes::new(), unknown: BTreeSet::new(), unsupported: BTreeSet::new() }
    }
}

/// A shape element as read: its tag, XML attributes and `<attribute>`
/// values.
struct RawShape {
    tag: String,
    attrs: Vec<(String, String)>,
    values: Vec<(String, String)>,
}

fn is_shape(tag: &str) -> bool {
    matches!(tag, "box" | "polygon" | "polyline" | "points" | "mask")
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The shape's geometry, and a note when it had to change (a rotated box, a
/// clipped mask); the reason when it cannot be used.
fn geometry(raw: &RawShape, frame_size: Option<(u32, u32)>) -> std::result::Result<(Geometry, Option<String>), String> {
    let num = |k: &str| number(attr(&raw.attrs, k), k);
    match raw.tag.as_str() {
        "box" => {
            let (x0, y0, x1, y1) = (num("xtl")?, num("ytl")?, num("xbr")?, num("ybr")?);
            let rotation = if attr(&raw.attrs, "rotation").is_some() { num("rotation")? } else { 0.0 };
            if rotation % 360.0 != 0.0 {
                // CVAT turns the box clockwise (y points down) about its centre.
                let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
                let (sin, cos) = rotation.to_radians().sin_cos();
                let corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
                    .into_iter()
                    .map(|(x, y)| Point::new(cx + (x - cx) * cos - (y - cy) * sin, cy + (x - cx) * sin + (y - cy) * cos))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                let polygon = Polygon::new(corners, Vec::new()).map_err(|e| e.to_string())?;
                let note = format!("a box rotated by {rotation} degrees became a polygon: Argus boxes are axis-aligned");
                return Ok((Geometry::Polygon(polygon), Some(note)));
            }
            let b = BBox::new(x0, y0, x1 - x0, y1 - y0).map_err(|e| format!("box ({x0}, {y0})-({x1}, {y1}): {e}"))?;
            Ok((Geometry::BBox(b), None))
        }
        "polygon" => {
            let p = Polygon::new(points(attr(&raw.attrs, "points"))?, Vec::new()).map_err(|e| e.to_string())?;
            Ok((Geometry::Polygon(p), None))
        }
        "polyline" => {
            let l = Polyline::new(points(attr(&raw.attrs, "points"))?).map_err(|e| e.to_string())?;
            Ok((Geometry::Polyline(l), None))
        }
        "points" => {
            let ps = points(attr(&raw.attrs, "points"))?;
            if ps.is_empty() {
                return Err("the points shape has no points".into());
            }
            Ok((Geometry::Points(ps), None))
        }
        "mask" => {
            let frame = frame_size.ok_or("the task has no <original_size> to place the mask on")?;
            let int = |k: &str| {
                let v = attr(&raw.attrs, k).ok_or_else(|| format!("{k} is missing"))?;
                v.trim().parse::<u32>().map_err(|_| format!("{k}=\"{v}\" is not a whole number of pixels"))
            };
            let rle = attr(&raw.attrs, "rle").ok_or("rle is missing")?;
            let (mask, clipped) = mask_from_cvat(rle, (int("left")?, int("top")?, int("width")?, int("height")?), frame)?;
            let note = clipped.then(|| "the mask's pixels outside the frame were clipped".to_owned());
            Ok((Geometry::Mask(mask), note))
        }
        other => Err(format!("{other} shapes are not supported by Argus")),
    }
}

fn number(value: Option<&str>, key: &str) -> std::result::Result<f64, String> {
    let v = value.ok_or_else(|| format!("{key} is missing"))?;
    v.trim().parse::<f64>().ok().filter(|n| n.is_finite()).ok_or_else(|| format!("{key}=\"{v}\" is not a finite number"))
}

/// `x,y;x,y` (CVAT's `points`) as points; empty for an empty string.
fn points(value: Option<&str>) -> std::result::Result<Vec<Point>, String> {
    let v = value.ok_or("points is missing")?;
    if v.trim().is_empty() {
        return Ok(Vec::new());
    }
    v.split(';')
        .map(|pair| {
            let (x, y) = pair.split_once(',').ok_or_else(|| format!("points holds '{pair}', which is not x,y"))?;
            let (x, y) = (number(Some(x), "x")?, number(Some(y), "y")?);
            Point::new(x, y).map_err(|e| e.to_string())
        })
        .collect()
}

/// An `<attribute>`'s text as its spec's type says.
fn typed_value(spec: &AttributeSpec, value: &str) -> std::result::Result<AttributeValue, String> {
    match &spec.kind {
        AttributeKind::Bool { .. } => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(AttributeValue::Bool(true)),
            "false" | "0" => Ok(AttributeValue::Bool(false)),
            _ => Err(format!("'{value}' is not true or false")),
        },
        AttributeKind::Number { .. } => value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(AttributeValue::Number)
            .ok_or_else(|| format!("'{value}' is not a finite number")),
        AttributeKind::Enum { .. } | AttributeKind::Text { .. } => Ok(AttributeValue::Text(value.to_owned())),
    }
}

/// A label's attribute as `<meta>` spells it out.
#[derive(Default)]
struct AttrDraft {
    name: String,
    mutable: bool,
    input_type: String,
    default: String,
    values: String,
}

#[derive(Default)]
struct LabelDraft {
    name: String,
    colour: Option<Colour>,
    attributes: Vec<AttributeSpec>,
    /// A part of a skeleton (`<parent>`), which Argus does not import.
    part: bool,
    at: Place,
}

/// The spec a CVAT attribute describes, or why it cannot be used.
fn spec_from_cvat(a: AttrDraft) -> std::result::Result<AttributeSpec, String> {
    let values: Vec<String> = a.values.split('\n').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect();
    let kind = match a.input_type.trim() {
        "checkbox" => AttributeKind::Bool { default: a.default.trim().eq_ignore_ascii_case("true") },
        "select" | "radio" if !values.is_empty() => {
            let default = if values.iter().any(|v| v == a.default.trim()) { a.default.trim().to_owned() } else { values[0].clone() };
            AttributeKind::Enum { options: values, default }
        }
        "number" => {
            let n: Vec<f64> = values.iter().filter_map(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite()).collect();
            let [min, max, step] = n[..] else {
                return Err(format!(
                    "number attribute '{}' has values {:?}, not a minimum, a maximum and a step",
                    a.name, a.values
                ));
            };
            let default = a.default.trim().parse::<f64>().ok().filter(|d| d.is_finite()).unwrap_or(min);
            AttributeKind::Number { min, max, step, default }
        }
        "text" | "select" | "radio" => AttributeKind::Text { default: a.default },
        other => return Err(format!("attribute '{}' has input type '{other}', which Argus does not know", a.name)),
    };
    Ok(AttributeSpec { name: a.name, kind, per_frame: a.mutable })
}

/// Reads `<meta>` (opened at `meta_at`) to its end.
fn read_meta<R: BufRead>(xml: &mut Xml<R>, report: &mut Report, meta_at: Place) -> Result<CvatMeta> {
    let mut task = CvatTask { name: String::new(), size: 0, start_frame: 0, stop_frame: 0, original_size: None };
    let (mut saw_task, mut size, mut width, mut height) = (false, None, None, None);
    let mut labels: Vec<Category> = Vec::new();
    let (mut label, mut attribute): (Option<LabelDraft>, Option<AttrDraft>) = (None, None);
    loop {
        match xml.next()? {
            Node::Open { name, at, .. } => match (xml.parent_of_open(), name.as_str()) {
                (Some("meta"), "project") => {
                    let reason = "this is a CVAT project export, which holds several tasks; export or import each task (one per video)";
                    return Err(Error::Invalid { format: FORMAT, at: at.to_string(), reason: reason.into() });
                }
                (Some("meta"), "task" | "job") => saw_task = true,
                (Some("labels"), "label") => label = Some(LabelDraft { at, ..LabelDraft::default() }),
                (Some("attributes"), "attribute") if label.is_some() => attribute = Some(AttrDraft::default()),
                _ => {}
            },
            Node::Close { name, text, at } => match (xml.stack.last().map(String::as_str), name.as_str()) {
                (Some("annotations"), "meta") => break,
                (Some("task" | "job"), "name") => task.name = text,
                (Some("task" | "job"), "size") => size = Some(whole(&text, "size", at)?),
                (Some("task" | "job"), "start_frame") => task.start_frame = whole(&text, "start_frame", at)?,
                (Some("task" | "job"), "stop_frame") => task.stop_frame = whole(&text, "stop_frame", at)?,
                (Some("original_size"), "width") => width = Some(side(&text, "width", at)?),
                (Some("original_size"), "height") => height = Some(side(&text, "height", at)?),
                (Some("attribute"), field) => {
                    if let Some(a) = attribute.as_mut() {
                        match field {
                            "name" => a.name = text.trim().to_owned(),
                            "mutable" => a.mutable = matches!(text.trim(), "True" | "true" | "1"),
                            "input_type" => a.input_type = text,
                            "default_value" => a.default = text,
                            "values" => a.values = text,
                            _ => {}
                        }
                    }
                }
                (Some("attributes"), "attribute") => {
                    if let (Some(a), Some(l)) = (attribute.take(), label.as_mut()) {
                        match spec_from_cvat(a) {
                            Ok(spec) => l.attributes.push(spec),
                            Err(reason) => report.skip(format!("label '{}' ({at})", l.name), reason),
                        }
                    }
                }
                (Some("label"), field) => {
                    if let Some(l) = label.as_mut() {
                        match field {
                            "name" => l.name = text.trim().to_owned(),
                            "color" => l.colour = text.trim().parse().ok(),
                            "parent" => l.part = true,
                            _ => {}
                        }
                    }
                }
                (Some("labels"), "label") => {
                    let Some(l) = label.take() else { continue };
                    if l.part || l.name.is_empty() {
                        continue;
                    }
                    if labels.iter().any(|c| c.name == l.name) {
                        report.skip(format!("label '{}' ({})", l.name, l.at), "the label appears twice; the first is kept");
                        continue;
                    }
                    let id = labels.len() as u32 + 1;
                    labels.push(Category { id, name: l.name, colour: l.colour, attributes: l.attributes });
                }
                _ => {}
            },
            Node::Eof => return Err(truncated(xml.place())),
        }
    }
    let missing = |what: &str| Error::Invalid { format: FORMAT, at: format!("<meta> ({meta_at})"), reason: format!("it has no {what}") };
    if !saw_task {
        return Err(missing("<task>"));
    }
    task.size = size.ok_or_else(|| missing("task <size> (number of frames)"))?;
    task.original_size = width.zip(height);
    Ok(CvatMeta { task, labels })
}

fn whole(text: &str, what: &str, at: Place) -> Result<u64> {
    text.trim().parse::<u64>().map_err(|_| Error::Invalid {
        format: FORMAT,
        at: at.to_string(),
        reason: format!("<{what}> is '{}', not a whole number", text.trim()),
    })
}

fn side(text: &str, what: &str, at: Place) -> Result<u32> {
    match text.trim().parse::<u32>() {
        Ok(s) if s > 0 && s <= MAX_SIDE => Ok(s),
        _ => Err(Error::Invalid {
            format: FORMAT,
            at: at.to_string(),
            reason: format!("<{what}> is '{}', not a frame size from 1 to {MAX_SIDE} pixels", text.trim()),
        }),
    }
}

// ---------------------------------------------------------------------------
// XML events

/// Where an element starts: its line, from 1.
#[derive(Debug, Clone, Copy, Default)]
struct Place {
    line: u64,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)
    }
}

fn syntax(at: Place, reason: impl Into<String>) -> Error {
    Error::Syntax { format: FORMAT, at: at.to_string(), reason: reason.into() }
}

fn truncated(at: Place) -> Error {
    syntax(at, "the file ends before </annotations>: it is truncated")
}

/// The events the reader needs: elements with their attributes, and each
/// element's text given with its end (the text since the last tag, which is
/// all of a leaf's).
enum Node {
    Open { name: String, attrs: Vec<(String, String)>, at: Place },
    Close { name: String, text: String, at: Place },
    Eof,
}

/// Counts the lines the XML reader consumes, so that messages can say where.
struct Lines<R> {
    inner: R,
    newlines: u64,
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

impl<R: BufRead> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.newlines += newlines(buf.get(..n).unwrap_or(buf));
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Lines<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if amt > 0
            && let Ok(buf) = self.inner.fill_buf()
        {
            self.newlines += newlines(buf.get(..amt).unwrap_or(buf));
        }
        self.inner.consume(amt);
    }
}

/// quick-xml's reader with the open elements, the text since the last tag,
/// and the checks that keep hostile input out.
struct Xml<R> {
    reader: Reader<Lines<R>>,
    buf: Vec<u8>,
    /// The open elements, outermost first.
    stack: Vec<String>,
    text: String,
    /// The end of an empty element (`<a/>`), given right after its start.
    pending_close: Option<(String, Place)>,
}

impl<R: BufRead> Xml<R> {
    fn new(input: R) -> Self {
        let mut reader = Reader::from_reader(Lines { inner: input, newlines: 0 });
        reader.config_mut().check_end_names = true;
        Self { reader, buf: Vec::new(), stack: Vec::new(), text: String::new(), pending_close: None }
    }

    fn place(&self) -> Place {
        Place { line: self.reader.get_ref().newlines + 1 }
    }

    /// Bytes read so far.
    fn position(&self) -> u64 {
        self.reader.buffer_position()
    }

    /// The parent of the element just opened.
    fn parent_of_open(&self) -> Option<&str> {
        self.stack.iter().rev().nth(1).map(String::as_str)
    }

    fn next(&mut self) -> Result<Node> {
        if let Some((name, at)) = self.pending_close.take() {
            self.stack.pop();
            return Ok(Node::Close { name, text: String::new(), at });
        }
        loop {
            let at = self.place();
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(quick_xml::Error::Io(e)) => {
                    return Err(Error::io("reading CVAT XML", io::Error::new(e.kind(), e.to_string())));
                }
                Err(e) => {
                    let at = format!("line {}, byte {}", self.reader.get_ref().newlines + 1, self.reader.error_position());
                    return Err(Error::Syntax { format: FORMAT, at, reason: e.to_string() });
                }
            };
            match event {
                Event::Start(e) => {
                    let (name, attrs) = open(&e, at)?;
                    self.stack.push(name.clone());
                    self.text.clear();
                    return Ok(Node::Open { name, attrs, at });
                }
                Event::Empty(e) => {
                    let (name, attrs) = open(&e, at)?;
                    self.stack.push(name.clone());
                    self.text.clear();
                    self.pending_close = Some((name.clone(), at));
                    return Ok(Node::Open { name, attrs, at });
                }
                Event::End(e) => {
                    self.stack.pop();
                    return Ok(Node::Close { name: e.name().as_ref().to_owned(), text: mem::take(&mut self.text), at });
                }
                Event::Text(t) => self.text.push_str(&t.xml10_content()),
                Event::CData(t) => self.text.push_str(&t.xml10_content()),
                Event::GeneralRef(r) => match r.resolve_char_ref() {
                    Ok(Some(c)) => self.text.push(c),
                    Ok(None) => match resolve_predefined_entity(&r) {
                        Some(s) => self.text.push_str(s),
                        None => {
                            let reason = format!(
                                "&{}; is not defined: only the five predefined XML entities and character references are allowed",
                                &*r
                            );
                            return Err(syntax(at, reason));
                        }
                    },
                    Err(e) => return Err(syntax(at, e.to_string())),
                },
                Event::DocType(d) => {
                    if d.to_ascii_uppercase().contains("<!ENTITY") {
                        let reason = "the DOCTYPE declares entities, which are refused: they can expand to gigabytes \
                                      (\"billion laughs\") or read local files; CVAT never writes them";
                        return Err(Error::Invalid { format: FORMAT, at: at.to_string(), reason: reason.into() });
                    }
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => {
                    return match self.stack.last() {
                        Some(open) => Err(syntax(at, format!("the file ends inside <{open}>: it is truncated"))),
                        None => Ok(Node::Eof),
                    };
                }
            }
        }
    }

    /// Skips the rest of the element just opened.
    fn skip(&mut self) -> Result<()> {
        self.text_to_end().map(drop)
    }

    /// Reads to the end of the element just opened (skipping its children)
    /// and returns its text.
    fn text_to_end(&mut self) -> Result<String> {
        loop {
            match self.next()? {
                Node::Open { .. } => self.skip()?,
                Node::Close { text, .. } => return Ok(text),
                Node::Eof => return Err(truncated(self.place())),
            }
        }
    }
}

/// An element's name and attribute values, with entities resolved (only the
/// predefined ones and character references; others are errors).
fn open(e: &BytesStart<'_>, at: Place) -> Result<(String, Vec<(String, String)>)> {
    let name = e.name().as_ref().to_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| syntax(at, format!("<{name}>: {err}")))?;
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| syntax(at, format!("<{name} {}>: {err}", a.key.as_ref())))?;
        attrs.push((a.key.as_ref().to_owned(), value.into_owned()));
    }
    Ok((name, attrs))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::NoProgress;

    const W: u32 = 64;
    const H: u32 = 48;

    fn pt(x: f64, y: f64) -> Point {
        Point::new(x, y).expect("finite")
    }

    fn bbox(x: f64, y: f64, w: f64, h: f64) -> Geometry {
        Geometry::BBox(BBox::new(x, y, w, h).expect("box"))
    }

    fn key(frame: u64, geometry: Geometry) -> CvatShape {
        CvatShape { frame, geometry, keyframe: true, outside: false, occluded: false, attributes: Attributes::new() }
    }

    fn track(id: u32, label: &str, shapes: Vec<CvatShape>) -> CvatTrack {
        CvatTrack { id: Some(id), label: label.into(), source: ShapeSource::Manual, attributes: Attributes::new(), shapes }
    }

    /// The copy that closes a track after `last`.
    fn closing(last: &CvatShape) -> CvatShape {
        CvatShape { frame: last.frame + 1, outside: true, keyframe: true, ..last.clone() }
    }

    fn category(id: u32, name: &str, attributes: Vec<AttributeSpec>) -> Category {
        Category { id, name: name.into(), colour: Some(Colour::rgb(250, 50, 83)), attributes }
    }

    fn spec(name: &str, kind: AttributeKind, per_frame: bool) -> AttributeSpec {
        AttributeSpec { name: name.into(), kind, per_frame }
    }

    fn labels() -> Vec<Category> {
        vec![category(1, "car", Vec::new()), category(2, "person", Vec::new())]
    }

    fn write(task: &CvatTask, labels: &[Category], tracks: &[CvatTrack]) -> (String, Report) {
        let mut out = Vec::new();
        let mut w = CvatWriter::new(&mut out, task, labels).expect("header");
        for t in tracks {
            w.write_track(t).expect("track");
        }
        let report = w.finish().expect("finish");
        (String::from_utf8(out).expect("utf-8"), report)
    }

    fn read_bytes(xml: &[u8]) -> Result<(CvatMeta, Vec<CvatTrack>, Report)> {
        let reader = CvatReader::new(xml)?;
        let meta = reader.meta().clone();
        let mut tracks = Vec::new();
        let report = reader.read_tracks(&mut NoProgress, |t| {
            tracks.push(t);
            Ok(())
        })?;
        Ok((meta, tracks, report))
    }

    fn read(xml: &str) -> Result<(CvatMeta, Vec<CvatTrack>, Report)> {
        read_bytes(xml.as_bytes())
    }

    /// A `W x H` mask with these `(x, y)` pixels set.
    fn mask(pixels: &[(u32, u32)]) -> Rle {
        let mut bitmap = vec![0u8; (W * H) as usize];
        for &(x, y) in pixels {
            bitmap[(y * W + x) as usize] = 1;
        }
        Rle::from_bitmap_row_major(H, W, &bitmap).expect("mask")
    }

    #[test]
    fn tracks_round_trip_with_keyframes_and_an_outside_closing() {
        let task = CvatTask::video("clip.mp4", 10, W, H);
        let shapes = (0..5).map(|f| CvatShape { keyframe: f == 0 || f == 4, ..key(f, bbox(1.0 + f as f64, 2.5, 10.0, 8.25)) });
        let car = CvatTrack { source: ShapeSource::Sam, ..track(1, "car", shapes.collect()) };
        let line = Geometry::Polyline(Polyline::new(vec![pt(0.0, 0.0), pt(10.5, 3.25), pt(20.0, 0.125)]).expect("line"));
        let walker = CvatTrack {
            source: ShapeSource::Propagated,
            ..track(2, "person", vec![key(7, line.clone()), CvatShape { occluded: true, ..key(9, line) }])
        };
        let dots = Geometry::Points(vec![pt(1.0, 1.0), pt(2.0, 3.0)]);
        let gone = track(3, "person", vec![key(2, dots.clone()), CvatShape { outside: true, ..key(3, dots) }]);
        let (xml, report) = write(&task, &labels(), &[car.clone(), walker.clone(), gone.clone()]);
        assert_eq!((report.tracks, report.annotations), (3, 9));
        assert!(report.skipped.is_empty() && report.changed.is_empty(), "{report:?}");
        let end = r#"<box frame="5" outside="1" occluded="0" keyframe="1" xtl="5" ytl="2.5" xbr="15" ybr="10.75" z_order="0" />"#;
        assert!(xml.contains(end), "the track is closed after its last shape:\n{xml}");
        assert!(xml.contains(r#"<track id="1" label="car" source="semi-auto">"#), "{xml}");
        assert!(!xml.contains(r#"frame="10""#), "a track on the last frame is not closed");

        let (meta, tracks, report) = read(&xml).expect("read");
        assert_eq!(meta.task, task);
        assert_eq!(meta.labels, labels());
        let mut closed = car.clone();
        closed.shapes.push(closing(&car.shapes[4]));
        assert_eq!(tracks, vec![closed, walker, gone]);
        assert_eq!((report.tracks, report.annotations), (3, 10));
        assert!(report.skipped.is_empty() && report.changed.is_empty(), "{report:?}");
    }

    #[test]
    fn polygon_holes_are_dropped_and_reported() {
        let square = |x: f64, s: f64| vec![pt(x, x), pt(x + s, x), pt(x + s, x + s), pt(x, x + s)];
        let holed = Geometry::Polygon(Polygon::new(square(0.0, 20.0), vec![square(5.0, 10.0)]).expect("polygon"));
        let (xml, report) = write(&CvatTask::video("v", 3, W, H), &labels(), &[track(4, "car", vec![key(0, holed)])]);
        assert_eq!(report.changed.len(), 1, "reported once, not again for the closing copy: {report:?}");
        assert_eq!(report.changed[0].at, "track 4, frame 0");
        assert!(report.changed[0].reason.contains("hole"), "{report:?}");
        let (_, tracks, _) = read(&xml).expect("read");
        let outline = Geometry::Polygon(Polygon::new(square(0.0, 20.0), Vec::new()).expect("outline"));
        assert_eq!(tracks[0].shapes, vec![key(0, outline.clone()), closing(&key(0, outline))]);
    }

    #[test]
    fn masks_round_trip_pixel_exact() {
        let blob: Vec<_> = (10..30).flat_map(|y| (5..25).map(move |x| (x, y))).filter(|&(x, y)| (x + 2 * y) % 7 != 0).collect();
        let ring: Vec<_> = (20..40)
            .flat_map(|y| (30..50).map(move |x| (x, y)))
            .filter(|&(x, y)| !(35..45).contains(&x) || !(25..35).contains(&y))
            .collect();
        let bottom_right: Vec<_> = (40..H).flat_map(|y| (50..W).map(move |x| (x, y))).collect();
        let masks = [
            mask(&blob),
            mask(&ring),
            mask(&bottom_right),
            mask(&[(0, 0)]),
            mask(&[(W - 1, H - 1)]),
            mask(&[(W - 1, 0), (0, H - 1)]),
            Rle::full(H, W).expect("full"),
            Rle::empty(H, W).expect("empty"),
        ];
        let tracks: Vec<_> =
            masks.iter().enumerate().map(|(i, m)| track(i as u32, "person", vec![key(0, Geometry::Mask(m.clone()))])).collect();
        let (xml, report) = write(&CvatTask::video("v", 2, W, H), &labels(), &tracks);
        assert!(report.skipped.is_empty() && report.changed.is_empty(), "{report:?}");
        assert!(xml.contains(r#"rle="1" left="0" top="0" width="1" height="1""#), "an empty mask is one unset pixel");
        assert!(xml.contains(r#"rle="0, 3072" left="0" top="0" width="64" height="48""#), "the full mask");
        let (_, back, report) = read(&xml).expect("read");
        assert!(report.skipped.is_empty() && report.changed.is_empty(), "{report:?}");
        assert_eq!(back.len(), masks.len());
        for (m, t) in masks.iter().zip(&back) {
            assert_eq!(t.shapes[0].geometry, Geometry::Mask(m.clone()));
            assert_eq!(t.shapes[1].geometry, Geometry::Mask(m.clone()), "the closing copy");
        }
    }

    #[test]
    fn cvat_mask_runs_are_row_major_over_the_box() {
        // The 4x2 box at (5, 6) holds row 0 `0001` and row 1 `1011`; COCO's
        // column-major runs over it would be 1, 1, 1, 1, 0... instead.
        let m = mask(&[(8, 6), (5, 7), (7, 7), (8, 7)]);
        let cvat = mask_to_cvat(&m).expect("cvat");
        assert_eq!(cvat, CvatMask { counts: vec![3, 2, 1, 2], left: 5, top: 6, width: 4, height: 2 });
        assert_eq!(mask_from_cvat("3, 2, 1, 2", (5, 6, 4, 2), (W, H)), Ok((m, false)));
        // A box whose first pixel is set starts with an empty run of zeros.
        let cvat = mask_to_cvat(&mask(&[(5, 6), (6, 6)])).expect("cvat");
        assert_eq!(cvat, CvatMask { counts: vec![0, 2], left: 5, top: 6, width: 2, height: 1 });
        // Runs past the frame are clipped, and said to be.
        let (clipped, was) = mask_from_cvat("0,4", (W - 1, H - 1, 2, 2), (W, H)).expect("clipped");
        assert!(was);
        assert_eq!(clipped, mask(&[(W - 1, H - 1)]));
        // A box wholly outside the frame is empty after clipping.
        assert_eq!(mask_from_cvat("0,1", (W + 5, 2, 1, 1), (W, H)), Ok((Rle::empty(H, W).expect("empty"), true)));
        assert!(mask_from_cvat("0,3", (0, 0, 2, 2), (W, H)).is_err_and(|e| e.contains("sum to 3")));
        assert!(mask_from_cvat("", (0, 0, 2, 2), (W, H)).is_err());
        assert!(mask_from_cvat("0,4", (0, 0, 0, 2), (W, H)).is_err());
        assert!(mask_from_cvat("-1,5", (0, 0, 2, 2), (W, H)).is_err());
    }

    #[test]
    fn a_striped_mask_converts_both_ways() {
        // Horizontal stripes are the worst case for column-major runs: one
        // run per pixel down every column.
        let (w, h) = (640u32, 360u32);
        let bits: Vec<u8> = (0..h).flat_map(|y| (0..w).map(move |x| u8::from(y % 2 == 0 && x > 3))).collect();
        let rle = Rle::from_bitmap_row_major(h, w, &bits).expect("mask");
        let cvat = mask_to_cvat(&rle).expect("cvat");
        assert_eq!((cvat.left, cvat.top, cvat.width, cvat.height), (4, 0, w - 4, h - 1));
        assert_eq!(cvat.counts.len(), h as usize, "one run per row");
        let text: Vec<String> = cvat.counts.iter().map(u32::to_string).collect();
        assert_eq!(mask_from_cvat(&text.join(","), (4, 0, w - 4, h - 1), (w, h)), Ok((rle, false)));
    }

    #[test]
    fn attributes_keep_their_types_and_scopes() {
        let car = category(
            1,
            "car",
            vec![
                spec("parked", AttributeKind::Bool { default: false }, false),
                spec(
                    "colour",
                    AttributeKind::Enum { options: vec!["red".into(), "dark blue".into()], default: "red".into() },
                    false,
                ),
                spec("speed", AttributeKind::Number { min: 0.0, max: 200.0, step: 0.5, default: 30.0 }, true),
                spec("note", AttributeKind::Text { default: "none".into() }, true),
                spec("lights", AttributeKind::Bool { default: true }, true),
            ],
        );
        let mut t = track(1, "car", vec![key(0, bbox(1.0, 2.0, 3.0, 4.0)), key(3, bbox(2.0, 2.0, 3.0, 4.0))]);
        t.attributes.insert("parked".into(), AttributeValue::Bool(true));
        t.attributes.insert("colour".into(), AttributeValue::Text("dark blue".into()));
        let a = &mut t.shapes[0].attributes;
        a.insert("speed".into(), AttributeValue::Number(12.5));
        a.insert("note".into(), AttributeValue::Text("a < b & \"c\"\n  two lines\t".into()));
        a.insert("lights".into(), AttributeValue::Bool(false));
        let a = &mut t.shapes[1].attributes;
        a.insert("speed".into(), AttributeValue::Number(0.0));
        a.insert("note".into(), AttributeValue::Text(String::new()));
        a.insert("lights".into(), AttributeValue::Bool(true));
        let (xml, report) = write(&CvatTask::video("v", 10, W, H), std::slice::from_ref(&car), std::slice::from_ref(&t));
        assert!(report.changed.is_empty(), "{report:?}");
        assert!(xml.contains("<mutable>False</mutable>") && xml.contains("<input_type>checkbox</input_type>"), "{xml}");
        assert!(xml.contains("<values>0\n200\n0.5</values>") && xml.contains("<values>red\ndark blue</values>"), "{xml}");
        assert!(xml.contains(r#"<attribute name="parked">true</attribute>"#), "track attributes are on every shape");
        let (meta, tracks, report) = read(&xml).expect("read");
        assert!(report.skipped.is_empty(), "{report:?}");
        assert_eq!(meta.labels, vec![car]);
        let mut expected = t.clone();
        expected.shapes.push(closing(&t.shapes[1]));
        assert_eq!(tracks, vec![expected]);
    }

    #[test]
    fn xml_special_characters_round_trip() {
        let odd = "<&\">";
        let attribute = "it's \"quoted\" & <tagged>";
        let labels = vec![
            category(1, odd, vec![spec(attribute, AttributeKind::Text { default: "a&b".into() }, false)]),
            category(2, "x'y", Vec::new()),
        ];
        let task = CvatTask { name: "street <5> & \"more\" ]]>".into(), ..CvatTask::video("", 4, W, H) };
        let mut a = track(7, odd, vec![key(1, bbox(1.0, 1.0, 2.0, 2.0))]);
        a.attributes.insert(attribute.into(), AttributeValue::Text("  <b>&amp;</b>\n\ttab \"q\" 'a' \r ".into()));
        let b = track(8, "x'y", vec![key(3, bbox(1.0, 1.0, 2.0, 2.0))]);
        let (xml, report) = write(&task, &labels, &[a.clone(), b.clone()]);
        assert!(report.changed.is_empty() && report.skipped.is_empty(), "{report:?}");
        assert!(!xml.contains(odd), "{xml}");
        let (meta, tracks, report) = read(&xml).expect("read");
        assert!(report.skipped.is_empty(), "{report:?}");
        assert_eq!(meta.task, task);
        assert_eq!(meta.labels, labels);
        let mut closed = a.clone();
        closed.shapes.push(closing(&a.shapes[0]));
        assert_eq!(tracks, vec![closed, b]);
    }

    #[test]
    fn characters_xml_cannot_hold_are_replaced_and_reported() {
        let labels = vec![category(1, "bad\u{1}name", Vec::new())];
        let mut t = track(1, "bad\u{1}name", vec![key(0, bbox(1.0, 1.0, 2.0, 2.0))]);
        t.shapes[0].attributes.insert("x\u{0}".into(), AttributeValue::Text("\u{FFFF}".into()));
        let (xml, report) = write(&CvatTask::video("v", 1, W, H), &labels, &[t]);
        let at: Vec<&str> = report.changed.iter().map(|c| c.at.as_str()).collect();
        assert_eq!(at, ["meta", "track 1"], "{report:?}");
        let (meta, tracks, report) = read(&xml).expect("read");
        assert_eq!(meta.labels[0].name, "bad\u{FFFD}name");
        assert_eq!(tracks[0].label, "bad\u{FFFD}name");
        assert_eq!(report.skipped.len(), 1, "the attribute is not declared: {report:?}");
    }

    const SAMPLE: &str = r##"<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>42</id>
      <name>street &amp; cars</name>
      <size>20</size>
      <mode>interpolation</mode>
      <overlap>5</overlap>
      <bugtracker></bugtracker>
      <created>2024-03-01 10:00:00.000000+00:00</created>
      <updated>2024-03-01 11:00:00.000000+00:00</updated>
      <subset>default</subset>
      <start_frame>0</start_frame>
      <stop_frame>19</stop_frame>
      <frame_filter></frame_filter>
      <segments>
        <segment>
          <id>7</id>
          <start>0</start>
          <stop>19</stop>
          <url>http://localhost:8080/api/jobs/7</url>
        </segment>
      </segments>
      <owner>
        <username>admin</username>
        <email>admin@example.com</email>
      </owner>
      <assignee></assignee>
      <labels>
        <label>
          <name>car</name>
          <color>#fa3253</color>
          <type>any</type>
          <attributes>
            <attribute>
              <name>parked</name>
              <mutable>False</mutable>
              <input_type>checkbox</input_type>
              <default_value>false</default_value>
              <values>false</values>
            </attribute>
            <attribute>
              <name>speed</name>
              <mutable>True</mutable>
              <input_type>number</input_type>
              <default_value>0</default_value>
              <values>0
200
1</values>
            </attribute>
            <attribute>
              <name>colour</name>
              <mutable>False</mutable>
              <input_type>select</input_type>
              <default_value>red</default_value>
              <values>red
blue</values>
            </attribute>
          </attributes>
        </label>
        <label>
          <name>person</name>
          <color>#33ddff</color>
          <type>mask</type>
          <attributes>
          </attributes>
        </label>
      </labels>
      <original_size>
        <width>64</width>
        <height>48</height>
      </original_size>
    </task>
    <dumped>2024-03-01 11:05:00.000000+00:00</dumped>
  </meta>
  <track id="0" label="car" source="manual">
    <box frame="0" outside="0" occluded="0" keyframe="1" xtl="10.00" ytl="12.50" xbr="30.00" ybr="40.25" z_order="0">
      <attribute name="parked">true</attribute>
      <attribute name="speed">12.5</attribute>
      <attribute name="colour">blue</attribute>
    </box>
    <box frame="1" outside="0" occluded="1" keyframe="0" xtl="11.00" ytl="12.50" xbr="31.00" ybr="40.25" z_order="0">
      <attribute name="parked">true</attribute>
      <attribute name="speed">13</attribute>
      <attribute name="colour">blue</attribute>
    </box>
    <box frame="2" outside="1" occluded="0" keyframe="1" xtl="11.00" ytl="12.50" xbr="31.00" ybr="40.25" z_order="0">
      <attribute name="parked">true</attribute>
      <attribute name="speed">13</attribute>
      <attribute name="colour">blue</attribute>
    </box>
  </track>
  <track id="1" label="person" source="semi-auto">
    <mask frame="3" outside="0" occluded="0" keyframe="1" rle="3, 2, 1, 2" left="5" top="6" width="4" height="2" z_order="0">
    </mask>
  </track>
  <tag frame="4" label="car" source="manual">
  </tag>
  <track id="2" label="person" source="file">
    <polygon frame="5" outside="0" occluded="0" keyframe="1" points="1.00,2.00;11.50,2.00;11.50,9.75" z_order="1">
    </polygon>
  </track>
  <track id="3" label="car" source="manual">
    <ellipse frame="0" outside="0" occluded="0" keyframe="1" cx="5" cy="5" rx="2" ry="3" z_order="0">
    </ellipse>
  </track>
</annotations>
"##;

    #[test]
    fn a_cvat_2_sample_reads_as_expected() {
        let (meta, tracks, report) = read(SAMPLE).expect("read");
        let task = CvatTask {
            name: "street & cars".into(),
            size: 20,
            start_frame: 0,
            stop_frame: 19,
            original_size: Some((64, 48)),
        };
        assert_eq!(meta.task, task);
        let car = Category {
            id: 1,
            name: "car".into(),
            colour: Some(Colour::rgb(0xfa, 0x32, 0x53)),
            attributes: vec![
                spec("parked", AttributeKind::Bool { default: false }, false),
                spec("speed", AttributeKind::Number { min: 0.0, max: 200.0, step: 1.0, default: 0.0 }, true),
                spec("colour", AttributeKind::Enum { options: vec!["red".into(), "blue".into()], default: "red".into() }, false),
            ],
        };
        let person = Category { id: 2, name: "person".into(), colour: Some(Colour::rgb(0x33, 0xdd, 0xff)), attributes: Vec::new() };
        assert_eq!(meta.labels, vec![car, person]);

        let speed = |v: f64| Attributes::from([("speed".to_owned(), AttributeValue::Number(v))]);
        let car_track = CvatTrack {
            id: Some(0),
            label: "car".into(),
            source: ShapeSource::Manual,
            attributes: Attributes::from([
                ("parked".to_owned(), AttributeValue::Bool(true)),
                ("colour".to_owned(), AttributeValue::Text("blue".into())),
            ]),
            shapes: vec![
                CvatShape { attributes: speed(12.5), ..key(0, bbox(10.0, 12.5, 20.0, 27.75)) },
                CvatShape { keyframe: false, occluded: true, attributes: speed(13.0), ..key(1, bbox(11.0, 12.5, 20.0, 27.75)) },
                CvatShape { outside: true, attributes: speed(13.0), ..key(2, bbox(11.0, 12.5, 20.0, 27.75)) },
            ],
        };
        let person_track = CvatTrack {
            source: ShapeSource::Sam,
            ..track(1, "person", vec![key(3, Geometry::Mask(mask(&[(8, 6), (5, 7), (7, 7), (8, 7)])))])
        };
        let triangle = Polygon::new(vec![pt(1.0, 2.0), pt(11.5, 2.0), pt(11.5, 9.75)], Vec::new()).expect("triangle");
        let polygon_track =
            CvatTrack { source: ShapeSource::Imported, ..track(2, "person", vec![key(5, Geometry::Polygon(triangle))]) };
        assert_eq!(tracks, vec![car_track, person_track, polygon_track]);
        assert_eq!((report.tracks, report.annotations), (3, 5));
        let skipped: Vec<(&str, &str)> = report.skipped.iter().map(|s| (s.at.as_str(), s.reason.as_str())).collect();
        assert_eq!(
            skipped,
            [
                ("tag (line 99)", "frame tags are not imported: Argus has no tags"),
                ("track 3 (line 105)", "ellipse shapes are not supported by Argus; they were left out"),
                ("track 3 (line 105)", "it has no usable shape"),
            ]
        );
    }

    #[test]
    fn cvat_for_images_shapes_come_as_tracks_without_numbers() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><name>images</name><size>3</size><mode>annotation</mode>
    <labels><label><name>car</name><color>#ff0000</color><type>any</type><attributes>
      <attribute><name>parked</name><mutable>False</mutable><input_type>checkbox</input_type>
        <default_value>false</default_value><values>false</values></attribute>
    </attributes></label></labels>
  </task></meta>
  <image id="0" name="a.jpg" width="8" height="6">
    <box label="car" source="manual" occluded="1" xtl="1" ytl="1" xbr="3" ybr="4" z_order="0">
      <attribute name="parked">true</attribute>
    </box>
    <mask label="car" source="semi-auto" occluded="0" rle="0, 2" left="6" top="5" width="2" height="1" z_order="0"/>
    <tag label="car" source="manual"/>
  </image>
  <image id="2" name="c.jpg" width="8" height="6">
    <polygon label="bus" source="manual" occluded="0" points="1,1;2,2;1,3" z_order="0"/>
  </image>
  <image id="5" name="f.jpg" width="8" height="6">
    <box label="car" source="manual" occluded="0" xtl="1" ytl="1" xbr="3" ybr="4" z_order="0"/>
  </image>
</annotations>"#;
        let (meta, tracks, report) = read(xml).expect("read");
        assert_eq!(meta.task.original_size, None);
        let mut bitmap = vec![0u8; 48];
        bitmap[5 * 8 + 6] = 1;
        bitmap[5 * 8 + 7] = 1;
        let m = Rle::from_bitmap_row_major(6, 8, &bitmap).expect("mask");
        let expected = vec![
            CvatTrack {
                id: None,
                label: "car".into(),
                source: ShapeSource::Manual,
                attributes: Attributes::from([("parked".to_owned(), AttributeValue::Bool(true))]),
                shapes: vec![CvatShape { occluded: true, ..key(0, bbox(1.0, 1.0, 2.0, 3.0)) }],
            },
            CvatTrack { id: None, source: ShapeSource::Sam, ..track(0, "car", vec![key(0, Geometry::Mask(m))]) },
        ];
        assert_eq!(tracks, expected);
        assert_eq!((report.images, report.tracks, report.annotations), (3, 0, 2));
        let reasons: Vec<&str> = report.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons.len(), 3, "{report:?}");
        assert!(reasons[0].contains("tags") && reasons[1].contains("'bus'") && reasons[2].contains("past"), "{reasons:?}");
    }

    #[test]
    fn truncated_files_are_syntax_errors() {
        let mut t = track(3, "person", vec![key(0, Geometry::Mask(mask(&[(1, 1), (2, 1)])))]);
        t.shapes.push(key(2, bbox(1.0, 2.0, 3.0, 4.0)));
        let (xml, _) = write(&CvatTask::video("v", 5, W, H), &labels(), &[t]);
        let end = xml.find("</annotations>").expect("root end") + "</annotations>".len();
        for len in 0..end {
            match read_bytes(&xml.as_bytes()[..len]) {
                Err(Error::Syntax { .. }) => {}
                other => panic!("a file cut at byte {len} gave {other:?}"),
            }
        }
        read_bytes(&xml.as_bytes()[..end]).expect("the whole document");
    }

    #[test]
    fn mismatched_tags_are_syntax_errors() {
        let xml = SAMPLE.replace("  </track>\n  <track id=\"1\"", "  </trak>\n  <track id=\"1\"");
        let Err(Error::Syntax { at, .. }) = read(&xml) else { panic!("mismatched tags read") };
        assert!(at.starts_with("line 94,"), "{at}");
        let xml = SAMPLE.replace("<stop>19</stop>", "<stop>19</start>");
        assert!(matches!(read(&xml), Err(Error::Syntax { .. })));
        assert!(matches!(read("<annotations><meta></annotations>"), Err(Error::Syntax { .. })));
        assert!(matches!(read(""), Err(Error::Syntax { .. })));
        assert!(matches!(read(&format!("{SAMPLE}<annotations/>")), Err(Error::Syntax { .. })));
    }

    #[test]
    fn entity_declarations_are_refused_unexpanded() {
        let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE annotations [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<annotations><meta><task><name>&lol9;</name><size>1</size></task></meta></annotations>"#;
        let Err(Error::Invalid { at, reason, .. }) = read(bomb) else { panic!("the bomb was read") };
        assert!(at == "line 2" && reason.contains("entities"), "{at}: {reason}");
        let xxe = r#"<?xml version="1.0"?>
<!DOCTYPE annotations [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<annotations><meta><task><name>&xxe;</name><size>1</size></task></meta></annotations>"#;
        assert!(matches!(read(xxe), Err(Error::Invalid { .. })));
        // Without a declaration, a reference to another entity is not XML.
        let undeclared = "<annotations><meta><task><name>&xxe;</name><size>1</size></task></meta></annotations>";
        assert!(matches!(read(undeclared), Err(Error::Syntax { .. })));
        let in_attribute = r#"<annotations><meta><task><size>1</size><labels><label><name>a</name></label></labels></task></meta>
<track id="0" label="&xxe;"/></annotations>"#;
        assert!(matches!(read(in_attribute), Err(Error::Syntax { .. })));
        // A DOCTYPE without entities, and character references, are fine.
        let plain = "<!DOCTYPE annotations><annotations><meta><task><name>&#65;&#x42;&lt;</name><size>1</size></task></meta></annotations>";
        assert_eq!(read(plain).expect("plain").0.task.name, "AB<");
    }

    #[test]
    fn bad_records_are_skipped_with_their_place() {
        let xml = r#"<annotations><meta><task><size>10</size><labels>
<label><name>car</name></label><label><name>person</name></label></labels>
<original_size><width>64</width><height>48</height></original_size></task></meta>
<track id="0" label="car" source="manual">
  <box frame="0" outside="0" occluded="0" keyframe="1" xtl="1" ytl="1" xbr="5" ybr="5"/>
  <box frame="1" outside="0" occluded="0" keyframe="1" xtl="abc" ytl="1" xbr="5" ybr="5"/>
  <box frame="2" outside="0" occluded="0" keyframe="1" xtl="nan" ytl="1" xbr="5" ybr="5"/>
  <box frame="3" outside="0" occluded="0" keyframe="1" xtl="1" ytl="1" xbr="5" ybr="inf"/>
  <box frame="4" outside="0" occluded="0" keyframe="1" xtl="5" ytl="1" xbr="5" ybr="5"/>
  <polygon frame="5" outside="0" occluded="0" keyframe="1" points="1,1;2;3,3"/>
  <box frame="12" outside="0" occluded="0" keyframe="1" xtl="1" ytl="1" xbr="5" ybr="5"/>
  <box outside="0" occluded="0" keyframe="1" xtl="1" ytl="1" xbr="5" ybr="5"/>
</track>
<track id="1" label="bus" source="manual"><box frame="0" xtl="1" ytl="1" xbr="5" ybr="5"/></track>
<track id="2" label="person" source="manual">
  <mask frame="0" outside="0" occluded="0" keyframe="1" rle="3, 2, 1" left="5" top="6" width="4" height="2"/>
  <mask frame="1" outside="0" occluded="0" keyframe="1" rle="3, x" left="5" top="6" width="4" height="2"/>
</track>
<track id="3" label="car" source="manual"><box frame="9" outside="0" occluded="0" keyframe="1" xtl="1" ytl="1" xbr="5" ybr="5"/></track>
</annotations>"#;
        let (_, tracks, report) = read(xml).expect("read");
        let ids: Vec<_> = tracks.iter().map(|t| (t.id, t.shapes.len())).collect();
        assert_eq!(ids, [(Some(0), 1), (Some(3), 1)]);
        let skipped: Vec<String> = report.skipped.iter().map(|s| format!("{}: {}", s.at, s.reason)).collect();
        let expect = [
            "track 0, frame 1 (line 6): xtl=\"abc\" is not a finite number",
            "track 0, frame 2 (line 7): xtl=\"nan\" is not a finite number",
            "track 0, frame 3 (line 8): ybr=\"inf\" is not a finite number",
            "track 0, frame 4 (line 9): box (5, 1)-(5, 5)",
            "track 0, frame 5 (line 10): points holds '2', which is not x,y",
            "track 0, frame 12 (line 11): frame 12 is past the task's 10 frames",
            "track 0, box (line 12): its frame is missing or not a number",
            "track 1 (line 14): its label 'bus' is not among the labels in <meta>",
            "track 2, frame 0 (line 16): the rle counts sum to 6 but the 4x2 mask box needs 8",
            "track 2, frame 1 (line 17): rle holds 'x', which is not a run length",
            "track 2 (line 15): it has no usable shape",
        ];
        assert_eq!(skipped.len(), expect.len(), "{skipped:#?}");
        for (got, want) in skipped.iter().zip(expect) {
            assert!(got.starts_with(want), "{got}\n  should start with\n{want}");
        }
    }

    #[test]
    fn files_that_are_not_one_cvat_task_are_refused() {
        let invalid = |xml: &str| matches!(read(xml), Err(Error::Invalid { .. }));
        assert!(invalid("<coco/>"));
        assert!(invalid("<annotations><meta><project><name>p</name></project></meta></annotations>"));
        assert!(invalid("<annotations><meta><task><name>no size</name></task></meta></annotations>"));
        assert!(invalid("<annotations><meta></meta></annotations>"));
        assert!(invalid("<annotations><version>1.1</version></annotations>"));
        assert!(invalid("<annotations><track id=\"0\" label=\"a\"/><meta/></annotations>"));
        assert!(invalid("<annotations><meta><task><size>ten</size></task></meta></annotations>"));
        let huge = "<annotations><meta><task><size>1</size>\
                    <original_size><width>100000</width><height>1</height></original_size></task></meta></annotations>";
        assert!(invalid(huge));
    }

    #[test]
    fn the_writer_refuses_or_reports_what_cvat_cannot_hold() {
        let task = CvatTask::video("v", 5, W, H);
        let mut out = Vec::new();
        let mut w = CvatWriter::new(&mut out, &task, &labels()).expect("header");
        let unnumbered = CvatTrack { id: None, ..track(0, "car", vec![key(0, bbox(1.0, 1.0, 1.0, 1.0))]) };
        assert!(matches!(w.write_track(&unnumbered), Err(Error::Unsupported { .. })));
        let unordered = track(1, "car", vec![key(2, bbox(1.0, 1.0, 1.0, 1.0)), key(2, bbox(1.0, 1.0, 1.0, 1.0))]);
        assert!(matches!(w.write_track(&unordered), Err(Error::Unsupported { .. })));
        w.write_track(&track(2, "bus", vec![key(0, bbox(1.0, 1.0, 1.0, 1.0))])).expect("reported");
        let small = Geometry::Mask(Rle::full(2, 2).expect("mask"));
        let unit = bbox(1.0, 1.0, 1.0, 1.0);
        let mixed = track(3, "car", vec![key(0, small), key(1, Geometry::Points(Vec::new())), key(3, unit.clone()), key(5, unit)]);
        w.write_track(&mixed).expect("written");
        let report = w.finish().expect("finish");
        let skipped: Vec<&str> = report.skipped.iter().map(|s| s.at.as_str()).collect();
        assert_eq!(skipped, ["track 2", "track 3, frame 0", "track 3, frame 1", "track 3, frame 5"], "{report:?}");
        assert_eq!(report.changed.len(), 1, "mixed kinds: {report:?}");
        assert_eq!((report.tracks, report.annotations), (1, 1));
        let (_, tracks, _) = read_bytes(&out).expect("read");
        let only = key(3, bbox(1.0, 1.0, 1.0, 1.0));
        assert_eq!(tracks[0].shapes, vec![only.clone(), closing(&only)]);
    }

    #[test]
    fn reading_stops_when_cancelled_or_when_the_callback_fails() {
        struct Cancel;
        impl Progress for Cancel {
            fn tick(&mut self, _: u64, _: u64) -> bool {
                false
            }
        }
        let reader = CvatReader::new(SAMPLE.as_bytes()).expect("meta");
        assert!(matches!(reader.read_tracks(&mut Cancel, |_| Ok(())), Err(Error::Cancelled)));
        let reader = CvatReader::new(SAMPLE.as_bytes()).expect("meta");
        let failed = reader.read_tracks(&mut NoProgress, |_| Err(Error::Invalid { format: "t", at: "x".into(), reason: "no".into() }));
        assert!(matches!(failed, Err(Error::Invalid { .. })));
    }

    /// CVAT's runs for a row-major bitmap, computed the plain way: the box
    /// of the set pixels, then runs over its rows.
    fn naive_cvat(bits: &[u8], w: u32, h: u32) -> CvatMask {
        let set: Vec<(u32, u32)> =
            (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).filter(|&(x, y)| bits[(y * w + x) as usize] != 0).collect();
        if set.is_empty() {
            return CvatMask { counts: vec![1], left: 0, top: 0, width: 1, height: 1 };
        }
        let (x0, x1) = (set.iter().map(|p| p.0).min().unwrap_or(0), set.iter().map(|p| p.0).max().unwrap_or(0));
        let (y0, y1) = (set.iter().map(|p| p.1).min().unwrap_or(0), set.iter().map(|p| p.1).max().unwrap_or(0));
        let mut counts = vec![0u32];
        let mut one = false;
        for y in y0..=y1 {
            for x in x0..=x1 {
                let v = bits[(y * w + x) as usize] != 0;
                if v != one {
                    counts.push(0);
                    one = v;
                }
                *counts.last_mut().expect("a run") += 1;
            }
        }
        CvatMask { counts, left: x0, top: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 }
    }

    fn bitmap() -> impl Strategy<Value = (u32, u32, Vec<u8>)> {
        (1u32..=12, 1u32..=12, 0.0f64..=1.0).prop_flat_map(|(w, h, density)| {
            let bits = proptest::collection::vec(proptest::bool::weighted(density).prop_map(u8::from), (w * h) as usize);
            (Just(w), Just(h), bits)
        })
    }

    proptest! {
        #[test]
        fn random_masks_round_trip_through_cvat_runs((w, h, bits) in bitmap()) {
            let rle = Rle::from_bitmap_row_major(h, w, &bits).expect("mask");
            let cvat = mask_to_cvat(&rle).expect("cvat");
            prop_assert_eq!(&cvat, &naive_cvat(&bits, w, h));
            let text: Vec<String> = cvat.counts.iter().map(u32::to_string).collect();
            let back = mask_from_cvat(&text.join(", "), (cvat.left, cvat.top, cvat.width, cvat.height), (w, h));
            prop_assert_eq!(back, Ok((rle, false)));
        }
    }
}
