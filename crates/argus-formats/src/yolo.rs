//! YOLO detection and segmentation in the Ultralytics layout:
//!
//! ```text
//! data.yaml                      train/val(/test) image folders, nc, names
//! images/<subset>/<stem>.<ext>   the frames (the application writes them)
//! labels/<subset>/<stem>.txt     one line per object, coordinates in [0, 1]
//! ```
//!
//! A detection line is `class cx cy w h` (box centre and size over the image
//! size); a segmentation line is `class x1 y1 x2 y2 ...` (one ring). Classes
//! are numbered from 0 in the order of the categories given to
//! [`YoloWriter::new`].
//!
//! **What the format cannot hold, and what the writer does about it.** A YOLO
//! segment is one ring per object, so a mask with several parts or with
//! holes is joined into one ring by zero-width bridges, as Ultralytics' own
//! `merge_multi_segment` does: each further ring is attached at the pair of
//! vertices closest to what is already joined, and the ring walks out along
//! the bridge, around the part and back. By the even-odd rule (Argus's
//! rasteriser, and OpenCV's `fillPoly` that Ultralytics trains with) a
//! bridge walked both ways encloses nothing, so no area is lost to the
//! joining itself (but OpenCV draws a bridge's own pixels, see below).
//!
//! **Pixel conventions.** Argus's outlines run along pixel edges (pixel `c`
//! spans `[c, c+1]`, a pixel is inside when its centre is). Ultralytics and
//! supervision scale a segment by the image size and fill it with OpenCV's
//! `fillPoly`, where a vertex *is* a pixel (its centre) and the outline's own
//! pixels are filled too: an edge-traced ring would load one pixel too big
//! at the right and bottom. So the writer moves every ring half a pixel
//! inward, onto its boundary pixels' centres, in OpenCV's coordinates
//! (vertex on the pixel plus a quarter, so that both rounding and
//! truncation land on it), then fills what it wrote as OpenCV does
//! ([`opencv_fill`]) and compares with the shape's pixels in Argus. An
//! untolerated traced mask comes back pixel for pixel; every annotation
//! whose written ring does not (simplification, fractional polygon
//! vertices, the six decimals, bridges drawn as lines), or that needed
//! bridges, is listed in [`Report::changed`] with the IoU OpenCV's fill
//! has with its pixels, areas, parts and holes. Boxes in a segmentation
//! dataset are written as the ring of their pixels (exact). Detection boxes
//! (`cx cy w h`) are in continuous pixel-edge coordinates on both sides and
//! are written as they are. The reader imports a segment as what OpenCV
//! fills from it ([`Geometry::Mask`]).
//!
//! `data.yaml` leaves `path` out on purpose: Ultralytics resolves a relative
//! `path` against the working directory (and then its datasets folder), but
//! without one it uses the folder that holds `data.yaml`, which is what a
//! self-contained export wants.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt,
    path::Path,
};

use argus_core::{
    geometry::{BBox, Point, Polygon},
    mask::{MaskError, Rle},
    model::{Attributes, Geometry, ShapeSource},
};

use crate::{Annotation, Category, Error, Image, Progress, Report, Result, Sink, sink::unique_stem};

const FORMAT: &str = "YOLO";

/// How far outside [0, 1] a read coordinate may be and still count as on
/// the border (rounding in other tools' writers).
const EPSILON: f64 = 1e-3;

/// What the labels describe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum YoloTask {
    /// `class cx cy w h`: every shape's bounding box.
    Detect,
    /// `class x1 y1 ...`: one ring per shape. `tolerance` (pixels) simplifies
    /// mask outlines (Douglas-Peucker); 0 keeps every pixel corner.
    Segment { tolerance: f64 },
}

/// The splits Ultralytics knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subset {
    Train,
    Val,
    Test,
}

impl Subset {
    pub const ALL: [Subset; 3] = [Subset::Train, Subset::Val, Subset::Test];

    /// The folder and `data.yaml` key: `train`, `val`, `test`.
    pub fn name(self) -> &'static str {
        match self {
            Subset::Train => "train",
            Subset::Val => "val",
            Subset::Test => "test",
        }
    }

    fn index(self) -> usize {
        match self {
            Subset::Train => 0,
            Subset::Val => 1,
            Subset::Test => 2,
        }
    }
}

/// Writes a YOLO dataset one image at a time: each image's label file is
/// written as it is added, `data.yaml` at [`finish`](Self::finish). The
/// writer keeps only each image's path (to keep stems unique and answer
/// [`image_path`](Self::image_path)).
pub struct YoloWriter<'a> {
    sink: &'a mut dyn Sink,
    task: YoloTask,
    /// Category id -> YOLO class number.
    classes: HashMap<u32, u32>,
    names: Vec<String>,
    /// Image id -> `images/<subset>/<stem>.<ext>`.
    placed: HashMap<u64, String>,
    /// Stems taken, lower-cased (case-insensitive file systems).
    stems: HashSet<String>,
    used: [bool; 3],
    report: Report,
}

impl fmt::Debug for YoloWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("YoloWriter")
            .field("task", &self.task)
            .field("names", &self.names)
            .field("images", &self.placed.len())
            .finish_non_exhaustive()
    }
}

impl<'a> YoloWriter<'a> {
    /// A writer whose classes are `categories` in this order (class 0 is the
    /// first).
    pub fn new(sink: &'a mut dyn Sink, categories: &[Category], task: YoloTask) -> Result<Self> {
        if let YoloTask::Segment { tolerance } = task
            && !(tolerance.is_finite() && tolerance >= 0.0)
        {
            return Err(Error::Invalid {
                format: FORMAT,
                at: "options".into(),
                reason: format!("the simplification tolerance must be a number of pixels >= 0, not {tolerance}"),
            });
        }
        let mut classes = HashMap::new();
        for (i, c) in categories.iter().enumerate() {
            if classes.insert(c.id, i as u32).is_some() {
                return Err(Error::Invalid { format: FORMAT, at: format!("category '{}'", c.name), reason: format!("the category id {} is used twice", c.id) });
            }
        }
        Ok(Self {
            sink,
            task,
            classes,
            names: categories.iter().map(|c| c.name.clone()).collect(),
            placed: HashMap::new(),
            stems: HashSet::new(),
            used: [false; 3],
            report: Report::default(),
        })
    }

    /// Adds an image to the training split; see [`add_image_to`](Self::add_image_to).
    pub fn add_image(&mut self, image: &Image, annotations: &[Annotation]) -> Result<()> {
        self.add_image_to(Subset::Train, image, annotations)
    }

    /// Writes `labels/<subset>/<stem>.txt` for `image` (an empty file when
    /// nothing can be written: a background image for Ultralytics). The
    /// stem is the image's `file_name` flattened (`clip.mp4/000012.jpg` ->
    /// `clip.mp4_000012`), made unique. Shapes that are `outside` are left
    /// out silently; polylines, points and unknown labels are
    /// [skipped](Report::skipped).
    pub fn add_image_to(&mut self, subset: Subset, image: &Image, annotations: &[Annotation]) -> Result<()> {
        if image.width == 0 || image.height == 0 {
            return Err(Error::Invalid {
                format: FORMAT,
                at: format!("image {} ({})", image.id, image.file_name),
                reason: "has no size; YOLO coordinates are fractions of the image size".into(),
            });
        }
        if self.placed.contains_key(&image.id) {
            return Err(Error::Invalid { format: FORMAT, at: format!("image {} ({})", image.id, image.file_name), reason: "was added twice".into() });
        }
        let stem = unique_stem(&mut self.stems, &image.file_name, image.id);
        let ext = image_ext(&image.file_name);
        let mut text = String::new();
        for ann in annotations {
            if let Some(line) = self.line(image, ann) {
                text.push_str(&line);
                text.push('\n');
                self.report.annotations += 1;
            }
        }
        self.sink.put(&format!("labels/{}/{stem}.txt", subset.name()), text.as_bytes())?;
        self.placed.insert(image.id, format!("images/{}/{stem}.{ext}", subset.name()));
        self.used[subset.index()] = true;
        self.report.images += 1;
        Ok(())
    }

    /// Where the application writes the added image's bytes
    /// (`images/<subset>/<stem>.<ext>`, the extension of its `file_name`).
    pub fn image_path(&self, image: &Image) -> Result<String> {
        self.placed.get(&image.id).cloned().ok_or_else(|| Error::Invalid {
            format: FORMAT,
            at: format!("image {} ({})", image.id, image.file_name),
            reason: "has not been added; add it before writing its pixels".into(),
        })
    }

    /// Writes the added image's encoded bytes at [`image_path`](Self::image_path).
    pub fn put_image(&mut self, image: &Image, bytes: &[u8]) -> Result<()> {
        let path = self.image_path(image)?;
        self.sink.put(&path, bytes)
    }

    /// Writes `data.yaml` and returns what was written, skipped and changed.
    /// A split with no images points at one that has some (Ultralytics
    /// needs both `train` and `val`).
    pub fn finish(self) -> Result<Report> {
        let dir = |s: Subset| format!("images/{}", s.name());
        let fallback = Subset::ALL.into_iter().find(|s| self.used[s.index()]);
        let split = |s: Subset| if self.used[s.index()] { dir(s) } else { dir(fallback.unwrap_or(s)) };
        let mut y = String::new();
        y.push_str(match self.task {
            YoloTask::Detect => "# Ultralytics YOLO detection dataset written by Argus: labels/*/*.txt hold `class cx cy w h`, normalised.\n",
            YoloTask::Segment { .. } => "# Ultralytics YOLO segmentation dataset written by Argus: labels/*/*.txt hold `class x1 y1 x2 y2 ...`, normalised.\n",
        });
        y.push_str("# No `path`: Ultralytics then resolves the splits against this file's folder.\n");
        y.push_str(&format!("train: {}\nval: {}\n", split(Subset::Train), split(Subset::Val)));
        if self.used[Subset::Test.index()] {
            y.push_str(&format!("test: {}\n", dir(Subset::Test)));
        }
        y.push_str(&format!("nc: {}\nnames:\n", self.names.len()));
        for (i, name) in self.names.iter().enumerate() {
            y.push_str(&format!("  {i}: {}\n", yaml_scalar(name)));
        }
        self.sink.put("data.yaml", y.as_bytes())?;
        Ok(self.report)
    }

    /// One annotation's label line, or `None` (with the reason in the report).
    fn line(&mut self, image: &Image, ann: &Annotation) -> Option<String> {
        if ann.outside {
            return None;
        }
        let at = format!("annotation {} on {}", ann.id, image.file_name);
        let Some(&class) = self.classes.get(&ann.category_id) else {
            self.report.skip(at, format!("its label (category {}) is not among the exported labels", ann.category_id));
            return None;
        };
        if ann.image_id != image.id {
            self.report.skip(at, format!("belongs to image {}, not {}", ann.image_id, image.id));
            return None;
        }
        match &ann.geometry {
            Geometry::Polyline(_) => {
                self.report.skip(at, "YOLO holds boxes and polygons; a polyline has no area");
                return None;
            }
            Geometry::Points(_) => {
                self.report.skip(at, "YOLO holds boxes and polygons; points have no area (use a pose dataset for keypoints)");
                return None;
            }
            _ => {}
        }
        let (w, h) = (f64::from(image.width), f64::from(image.height));
        let coords = match (self.task, &ann.geometry) {
            (YoloTask::Detect, g) => {
                let Some(b) = g.bbox() else {
                    self.report.skip(at, "the shape is empty (no bounding box)");
                    return None;
                };
                let Some(c) = clip_box(&b, w, h) else {
                    self.report.skip(at, "the box lies outside the image");
                    return None;
                };
                if c != b {
                    self.report.change(&at, format!("box clipped to the {}x{} image", image.width, image.height));
                }
                [(c.x + c.width / 2.0) / w, (c.y + c.height / 2.0) / h, c.width / w, c.height / h].map(num).join(" ")
            }
            (YoloTask::Segment { tolerance }, Geometry::Mask(rle)) => self.mask_coords(image, rle, tolerance, &at)?,
            (YoloTask::Segment { .. }, Geometry::Polygon(p)) => {
                if p.exterior.len() < 3 {
                    self.report.skip(at, "the polygon has fewer than 3 points");
                    return None;
                }
                let clipped = std::iter::once(&p.exterior).chain(&p.holes).flatten().any(|q| q.x < 0.0 || q.y < 0.0 || q.x > w || q.y > h);
                if clipped {
                    self.report.change(&at, format!("polygon points outside the {}x{} image moved onto its border", image.width, image.height));
                }
                let target = match Rle::from_polygon(image.height, image.width, p) {
                    Ok(t) if !t.is_empty() => t,
                    Ok(_) => {
                        self.report.skip(at, "the polygon covers no pixel centre of the image");
                        return None;
                    }
                    Err(e) => {
                        self.report.skip(at, format!("the polygon could not be rasterised: {e}"));
                        return None;
                    }
                };
                let what = "polygon written in OpenCV's pixel-centre convention (what Ultralytics and supervision fill): IoU {iou} with its pixels in Argus, area {before} -> {after} px";
                self.measured_ring(image, &target, opencv_rings(p), 1, p.holes.len(), what, &at)?
            }
            (YoloTask::Segment { .. }, Geometry::BBox(b)) => {
                let Some(c) = clip_box(b, w, h) else {
                    self.report.skip(at, "the box lies outside the image");
                    return None;
                };
                if c != *b {
                    self.report.change(&at, format!("box clipped to the {}x{} image", image.width, image.height));
                }
                // The box's pixels (centres inside), as a ring on their edges:
                // exact in OpenCV's convention whatever the box's fractions.
                let target = Rle::from_bbox(image.height, image.width, &c).ok().filter(|t| !t.is_empty());
                let Some((target, pixels)) = target.and_then(|t| t.bbox().map(|px| (t, px))) else {
                    self.report.skip(at, "the box covers no pixel centre of the image");
                    return None;
                };
                let what = "box written in OpenCV's pixel-centre convention (what Ultralytics and supervision fill): IoU {iou} with its pixels in Argus, area {before} -> {after} px";
                self.measured_ring(image, &target, opencv_rings(&pixels.to_polygon()), 1, 0, what, &at)?
            }
            (YoloTask::Segment { .. }, Geometry::Polyline(_) | Geometry::Points(_)) => return None,
        };
        Some(format!("{class} {coords}"))
    }

    /// A mask as one ring's normalised coordinates, with what that changed
    /// measured on the written numbers.
    fn mask_coords(&mut self, image: &Image, rle: &Rle, tolerance: f64, at: &str) -> Option<String> {
        let mask_err = |r: &mut Report, e: MaskError| r.skip(at, format!("the mask could not be converted: {e}"));
        let resized;
        let rle = if (rle.width(), rle.height()) == (image.width, image.height) {
            rle
        } else {
            match rle.resample(image.height, image.width) {
                Ok(r) => {
                    self.report.change(at, format!("the {}x{} mask was resampled to the {}x{} image", rle.width(), rle.height(), image.width, image.height));
                    resized = r;
                    &resized
                }
                Err(e) => {
                    mask_err(&mut self.report, e);
                    return None;
                }
            }
        };
        if rle.is_empty() {
            self.report.skip(at, "the mask is empty");
            return None;
        }
        let mut polygons = match rle.to_polygons(tolerance) {
            Ok(p) => p,
            Err(e) => {
                mask_err(&mut self.report, e);
                return None;
            }
        };
        if polygons.is_empty() {
            // Every part simplified away: a tiny mask keeps its pixel outline.
            polygons = rle.to_polygons(0.0).unwrap_or_default();
        }
        let parts = polygons.len();
        let holes: usize = polygons.iter().map(|p| p.holes.len()).sum();
        let rings = polygons.iter().flat_map(opencv_rings).collect();
        let what = "mask written as one polygon in OpenCV's pixel-centre convention (what Ultralytics and supervision fill): IoU {iou} with the mask, area {before} -> {after} px";
        self.measured_ring(image, rle, rings, parts, holes, what, at)
    }

    /// Joins `rings` (OpenCV's convention, see [`opencv_rings`]) into one,
    /// writes it, fills what was written as OpenCV does and compares that
    /// with `target`; reports the annotation (`what` with `{iou}`,
    /// `{before}` and `{after}` filled in) when they differ or bridges were
    /// needed.
    #[allow(clippy::too_many_arguments)]
    fn measured_ring(&mut self, image: &Image, target: &Rle, rings: Vec<Vec<Point>>, parts: usize, holes: usize, what: &str, at: &str) -> Option<String> {
        let (w, h) = (f64::from(image.width), f64::from(image.height));
        // OpenCV's pixels are 0 ..= size - 1: a vertex past the border goes onto it.
        let onto = |v: f64, size: f64| v.clamp(NUDGE, size - 1.0 + NUDGE);
        let ring: Vec<Point> = join_rings(rings).into_iter().map(|p| Point { x: onto(p.x, w), y: onto(p.y, h) }).collect();
        if ring.len() < 3 {
            self.report.skip(at, "the outline has fewer than 3 points");
            return None;
        }
        let coords = ring_coords(&ring, w, h);
        // Measure what a reader gets: the written numbers, back in pixels,
        // filled as OpenCV fills them.
        let back: Vec<Point> = coords
            .split(' ')
            .filter_map(|s| s.parse::<f64>().ok())
            .collect::<Vec<_>>()
            .chunks_exact(2)
            .map(|c| Point { x: c[0] * w, y: c[1] * h })
            .collect();
        let written = opencv_fill(image.height, image.width, &back);
        let (before, after, inter) = match written.and_then(|b| Ok((b.area(), b.intersection_area(target)?))) {
            Ok((after, inter)) => (target.area(), after, inter),
            Err(e) => {
                self.report.skip(at, format!("the outline could not be measured: {e}"));
                return None;
            }
        };
        let exact = inter == before && inter == after;
        if !exact || parts > 1 || holes > 0 {
            let union = before + after - inter;
            let iou = if union == 0 { 0.0 } else { inter as f64 / union as f64 };
            let mut reason = what.replace("{iou}", &format!("{iou:.4}")).replace("{before}", &before.to_string()).replace("{after}", &after.to_string());
            if parts > 1 || holes > 0 {
                let mut what = vec![plural(parts, "part")];
                if holes > 0 {
                    what.push(plural(holes, "hole"));
                }
                reason.push_str(&format!("; {} joined by {} (OpenCV draws them as 1-px lines, counted in the IoU)", what.join(" and "), plural(parts + holes - 1, "zero-width bridge")));
            }
            self.report.change(at, reason);
        }
        Some(coords)
    }
}

/// Where a written vertex sits inside its pixel (OpenCV coordinates): a
/// quarter pixel past the pixel's centre, so that rounding (supervision,
/// `cvRound`) and truncation (Ultralytics' `np.int32` cast) both give that
/// pixel, whatever the float error of the six decimals.
const NUDGE: f64 = 0.25;

/// A polygon's rings (pixel-edge convention: pixel `c` spans `[c, c+1]`,
/// Argus's rasteriser takes the pixels whose centre is inside) in OpenCV's
/// convention, where a vertex is a pixel (`c` is pixel `c`'s centre) and
/// `fillPoly` fills the outline's own pixels too: each ring is moved inward
/// (towards the polygon's inside; away from a hole's) by half a pixel, onto
/// the centres of its boundary pixels, then shifted by -0.5 to OpenCV's
/// coordinates and snapped to the pixel (plus [`NUDGE`]). Each vertex moves
/// along the miter of its two edges' normals (for a traced, rectilinear
/// ring: 0.5 along both), clamped to one pixel at sharp turns.
fn opencv_rings(p: &Polygon) -> Vec<Vec<Point>> {
    let side = |r: &[Point]| if Polygon::ring_signed_area(r) < 0.0 { -1.0 } else { 1.0 };
    let outer = side(&p.exterior);
    let mut out = vec![opencv_ring(&p.exterior, outer)];
    // A hole's inside is the polygon's outside: move away from it.
    out.extend(p.holes.iter().map(|r| opencv_ring(r, -side(r))));
    out
}

/// One ring moved by half a pixel towards `inside` (+1: the side of
/// `(-dy, dx)` for each edge `(dx, dy)`, the inside of a ring of positive
/// signed area in image coordinates), in OpenCV's coordinates; see
/// [`opencv_rings`].
fn opencv_ring(ring: &[Point], inside: f64) -> Vec<Point> {
    let n = ring.len();
    let normal = |a: Point, b: Point| -> Option<(f64, f64)> {
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        let len = dx.hypot(dy);
        (len > 1e-12).then(|| (-dy * inside / len, dx * inside / len))
    };
    (0..n)
        .map(|i| {
            let p = ring[i];
            let prev = (1..n).map(|k| ring[(i + n - k) % n]).find(|q| *q != p);
            let next = (1..n).map(|k| ring[(i + k) % n]).find(|q| *q != p);
            let (ox, oy) = match (prev.and_then(|q| normal(q, p)), next.and_then(|q| normal(p, q))) {
                (Some(a), Some(b)) => miter(a, b, 0.5),
                (Some(a), None) | (None, Some(a)) => (a.0 * 0.5, a.1 * 0.5),
                (None, None) => (0.0, 0.0),
            };
            Point { x: (p.x + ox - 0.5).round() + NUDGE, y: (p.y + oy - 0.5).round() + NUDGE }
        })
        .collect()
}

/// The offset of a vertex whose edges have unit normals `a` and `b` when
/// both edges move by `d`: `d (a + b) / (1 + a.b)`, at most `2d` long.
fn miter(a: (f64, f64), b: (f64, f64), d: f64) -> (f64, f64) {
    let (sx, sy) = (a.0 + b.0, a.1 + b.1);
    let s = 1.0 + a.0 * b.0 + a.1 * b.1;
    if s >= 0.5 {
        return (d * sx / s, d * sy / s);
    }
    let len = sx.hypot(sy);
    if len < 1e-9 { (0.0, 0.0) } else { (2.0 * d * sx / len, 2.0 * d * sy / len) }
}

/// What OpenCV's `cv2.fillPoly(img, [ring], 1)` (8-connected, `shift` 0)
/// draws from a ring in pixel units (`x` = column, `y` = row, as YOLO's
/// normalised coordinates times the image size): the vertices rounded as
/// `cvRound` does (half to even); the pixels whose centre is inside by the
/// even-odd rule (argus-core's rule, [`Rle::from_polygon`], on the rounded
/// ring moved by +0.5 into Argus's pixel-edge coordinates); and every edge's
/// own pixels, drawn as OpenCV's `Line` does (Bresenham, left to right,
/// ties towards the start), clipped to the image. This is what Ultralytics
/// and supervision load from a YOLO segmentation line.
pub fn opencv_fill(height: u32, width: u32, ring: &[Point]) -> std::result::Result<Rle, MaskError> {
    const FAR: f64 = (1u64 << 40) as f64;
    let pts: Vec<(i64, i64)> = ring.iter().map(|p| (p.x.clamp(-FAR, FAR).round_ties_even() as i64, p.y.clamp(-FAR, FAR).round_ties_even() as i64)).collect();
    let shifted = pts.iter().map(|&(x, y)| Point { x: x as f64 + 0.5, y: y as f64 + 0.5 }).collect();
    let interior = Rle::from_polygon(height, width, &Polygon { exterior: shifted, holes: Vec::new() })?;
    let (h, w) = (i64::from(height), i64::from(width));
    let mut on_edges: Vec<u64> = Vec::new();
    for i in 0..pts.len() {
        cv_line(pts[i], pts[(i + 1) % pts.len()], w, h, &mut |x, y| on_edges.push((x * h + y) as u64));
    }
    on_edges.sort_unstable();
    on_edges.dedup();
    let total = u64::from(height) * u64::from(width);
    let mut counts = Vec::with_capacity(on_edges.len() / 2 + 2);
    let (mut pos, mut i) = (0u64, 0usize);
    while i < on_edges.len() {
        let start = on_edges[i];
        let mut end = start + 1;
        i += 1;
        while on_edges.get(i) == Some(&end) {
            end += 1;
            i += 1;
        }
        counts.extend([(start - pos) as u32, (end - start) as u32]);
        pos = end;
    }
    counts.push((total - pos) as u32);
    interior.union(&Rle::new(height, width, counts)?)
}

/// The pixels of OpenCV's 8-connected line from `a` to `b` inside `w` x
/// `h`: walked from the left end, one pixel per step along the major axis,
/// the minor coordinate `round_half_down(minor * j / major)` (OpenCV's
/// `LineIterator` with `err = dx - 2 dy`). Only the steps inside the image
/// are visited.
fn cv_line(a: (i64, i64), b: (i64, i64), w: i64, h: i64, put: &mut dyn FnMut(i64, i64)) {
    let (p, q) = if b.0 < a.0 { (b, a) } else { (a, b) };
    let (dx, dy) = (q.0 - p.0, q.1 - p.1);
    let (sy, ady) = (dy.signum(), dy.abs());
    let inside = |x: i64, y: i64| (0..w).contains(&x) && (0..h).contains(&y);
    if dx >= ady {
        if dx == 0 {
            if inside(p.0, p.1) {
                put(p.0, p.1);
            }
            return;
        }
        // Only the columns inside the image.
        let (j0, j1) = ((-p.0).max(0), (w - 1 - p.0).min(dx));
        for j in j0..=j1 {
            let k = (2 * ady * j + dx - 1) / (2 * dx);
            let (x, y) = (p.0 + j, p.1 + sy * k);
            if inside(x, y) {
                put(x, y);
            }
        }
    } else {
        // Only the rows inside the image.
        let (j0, j1) = if sy > 0 { ((-p.1).max(0), (h - 1 - p.1).min(ady)) } else { ((p.1 - (h - 1)).max(0), p.1.min(ady)) };
        for j in j0..=j1 {
            let k = (2 * dx * j + ady - 1) / (2 * ady);
            let (x, y) = (p.0 + k, p.1 + sy * j);
            if inside(x, y) {
                put(x, y);
            }
        }
    }
}

/// Joins rings into one by zero-width bridges (Ultralytics'
/// `merge_multi_segment`): starting from the largest ring, the ring closest
/// to what is joined so far is attached at the closest pair of vertices, as
/// `... a, b0 .. bn, b0, a ...`. Each bridge is walked once each way, so by
/// the even-odd (or non-zero) rule it adds and removes nothing; holes keep
/// their opposite winding. `O(V^2)` in the vertex count, as the original.
fn join_rings(mut rings: Vec<Vec<Point>>) -> Vec<Point> {
    rings.retain(|r| !r.is_empty());
    let Some(first) = (0..rings.len()).max_by(|&a, &b| {
        Polygon::ring_signed_area(&rings[a]).abs().total_cmp(&Polygon::ring_signed_area(&rings[b]).abs()).then(b.cmp(&a))
    }) else {
        return Vec::new();
    };
    let mut out = rings.remove(first);
    // For each ring still apart: (squared distance, vertex in `out`, vertex in the ring).
    let mut best: Vec<(f64, usize, usize)> = rings.iter().map(|r| closest(&out, r)).collect();
    while !rings.is_empty() {
        let mut k = 0;
        for (i, b) in best.iter().enumerate() {
            if b.0 < best[k].0 {
                k = i;
            }
        }
        let ring = rings.remove(k);
        let (_, i, j) = best.remove(k);
        let n = ring.len();
        let anchor = out[i];
        let inserted: Vec<Point> = ring[j..].iter().chain(&ring[..=j]).copied().chain(std::iter::once(anchor)).collect();
        let grown = inserted.len();
        out.splice(i + 1..i + 1, inserted);
        for (b, r) in best.iter_mut().zip(&rings) {
            if b.1 > i {
                b.1 += grown;
            }
            let (d, p, q) = closest(&ring, r);
            if d < b.0 {
                *b = (d, i + 1 + (p + n - j) % n, q);
            }
        }
    }
    out
}

/// The closest pair of vertices of `a` and `b`: (squared distance, index in
/// `a`, index in `b`).
fn closest(a: &[Point], b: &[Point]) -> (f64, usize, usize) {
    let mut best = (f64::INFINITY, 0, 0);
    for (i, p) in a.iter().enumerate() {
        for (j, q) in b.iter().enumerate() {
            let d = (p.x - q.x).powi(2) + (p.y - q.y).powi(2);
            if d < best.0 {
                best = (d, i, j);
            }
        }
    }
    best
}

/// The box's part inside the image, `None` when nothing is left.
fn clip_box(b: &BBox, w: f64, h: f64) -> Option<BBox> {
    let (x0, y0) = (b.x.clamp(0.0, w), b.y.clamp(0.0, h));
    let (x1, y1) = ((b.x + b.width).clamp(0.0, w), (b.y + b.height).clamp(0.0, h));
    BBox::new(x0, y0, x1 - x0, y1 - y0).ok()
}

/// `x1 y1 x2 y2 ...` normalised and clamped to [0, 1].
fn ring_coords(ring: &[Point], w: f64, h: f64) -> String {
    ring.iter().flat_map(|p| [num(p.x / w), num(p.y / h)]).collect::<Vec<_>>().join(" ")
}

/// A normalised coordinate with six decimals (0.5 px at 1,000,000 px),
/// trailing zeros dropped; clamped to [0, 1] as Ultralytics requires.
fn num(v: f64) -> String {
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" { "0".into() } else { s.into() }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// The image's own extension, lower-cased, if Ultralytics reads it; `jpg`
/// otherwise.
fn image_ext(file_name: &str) -> String {
    let last = file_name.rsplit('/').next().unwrap_or(file_name);
    match last.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && is_image_ext(ext) => ext.to_ascii_lowercase(),
        _ => "jpg".into(),
    }
}

/// The extensions Ultralytics loads (`IMG_FORMATS`).
fn is_image_ext(ext: &str) -> bool {
    const EXTS: [&str; 11] = ["bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm", "heic"];
    EXTS.iter().any(|e| e.eq_ignore_ascii_case(ext))
}

/// A YAML scalar: plain when that reads back as the same string, double
/// quoted otherwise.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '/' | '(' | ')'))
        && !s.ends_with(' ')
        && !matches!(s.to_ascii_lowercase().as_str(), "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "nan" | "inf");
    if plain {
        return s.into();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------- reading

/// What `data.yaml` says (the keys Argus uses).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataYaml {
    /// The dataset root, when given (relative to the file's folder).
    pub path: Option<String>,
    /// Image folders, image files or `.txt` image lists, per split.
    pub train: Vec<String>,
    pub val: Vec<String>,
    pub test: Vec<String>,
    /// Class number -> name.
    pub names: BTreeMap<u32, String>,
}

impl DataYaml {
    /// The classes as categories, `id` = class number.
    pub fn categories(&self) -> Vec<Category> {
        self.names.iter().map(|(&id, name)| Category { id, name: name.clone(), colour: None, attributes: Vec::new() }).collect()
    }
}

/// A parsed YAML value of the small subset `data.yaml` needs.
#[derive(Debug, Clone, PartialEq)]
enum Yaml {
    Null,
    Scalar(String),
    List(Vec<String>),
    Map(Vec<(String, String)>),
}

fn syntax(line: usize, reason: impl Into<String>) -> Error {
    Error::Syntax { format: "data.yaml", at: format!("line {line}"), reason: reason.into() }
}

/// Parses the keys of `data.yaml` that matter for import (`path`, `train`,
/// `val`, `test`, `nc`, `names` as a map or a list, flow or block style),
/// skipping every other key with whatever it holds (the `download:` scripts
/// of Ultralytics' own files included). Not a YAML parser: anchors, tags and
/// nested structures under those keys are refused with the line.
pub fn parse_data_yaml(text: &str) -> Result<DataYaml> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = DataYaml::default();
    let mut nc: Option<(usize, u64)> = None;
    let mut names_seen = false;
    let mut i = 0;
    while i < lines.len() {
        let (ln, raw) = (i + 1, lines[i]);
        i += 1;
        let line = strip_comment(raw);
        let t = line.trim();
        if t.is_empty() || t == "---" || t == "..." || t.starts_with('%') || indent(raw) > 0 || t.starts_with('-') {
            // Blank, document markers, or the rest of a key we skipped.
            continue;
        }
        let Some((key, rest)) = split_key(t) else {
            return Err(syntax(ln, format!("expected `key: value`, found '{}'", clip(t))));
        };
        let start = i;
        while i < lines.len() {
            let l = strip_comment(lines[i]);
            let lt = l.trim();
            if lt.is_empty() || indent(lines[i]) > 0 || lt == "-" || lt.starts_with("- ") {
                i += 1;
            } else {
                break;
            }
        }
        let key = unquote(key, ln)?;
        if !matches!(key.as_str(), "path" | "train" | "val" | "test" | "nc" | "names" | "kpt_shape") {
            continue;
        }
        let value = yaml_value(rest, &lines[start..i], start + 1)?;
        let scalar_list = |v: Yaml| -> Result<Vec<String>> {
            match v {
                Yaml::Null => Ok(Vec::new()),
                Yaml::Scalar(s) => Ok(vec![s]),
                Yaml::List(l) => Ok(l),
                Yaml::Map(_) => Err(syntax(ln, format!("'{key}' should be a path or a list of paths"))),
            }
        };
        match key.as_str() {
            "kpt_shape" => {
                return Err(Error::Unsupported { format: FORMAT, reason: "this is a pose (keypoint) dataset (data.yaml has kpt_shape); Argus imports detection and segmentation labels".into() });
            }
            "path" => {
                out.path = match value {
                    Yaml::Null => None,
                    Yaml::Scalar(s) => Some(s),
                    _ => return Err(syntax(ln, "'path' should be a folder")),
                }
            }
            "train" => out.train = scalar_list(value)?,
            "val" => out.val = scalar_list(value)?,
            "test" => out.test = scalar_list(value)?,
            "nc" => match value {
                Yaml::Scalar(s) => nc = Some((ln, s.parse().map_err(|_| syntax(ln, format!("nc should be a whole number, not '{}'", clip(&s))))?)),
                Yaml::Null => {}
                _ => return Err(syntax(ln, "nc should be a whole number")),
            },
            _ => {
                names_seen = true;
                out.names = match value {
                    Yaml::Null => BTreeMap::new(),
                    Yaml::List(l) => l.into_iter().enumerate().map(|(i, n)| (i as u32, n)).collect(),
                    Yaml::Map(m) => {
                        let mut names = BTreeMap::new();
                        for (k, v) in m {
                            let id: u32 = k.trim().parse().map_err(|_| syntax(ln, format!("class numbers in 'names' are whole numbers >= 0, not '{}'", clip(&k))))?;
                            if names.insert(id, v).is_some() {
                                return Err(syntax(ln, format!("class {id} is named twice")));
                            }
                        }
                        names
                    }
                    Yaml::Scalar(_) => return Err(syntax(ln, "'names' should be a list or a map of class number to name")),
                };
            }
        }
    }
    match (nc, names_seen) {
        (Some((ln, n)), true) if n != out.names.len() as u64 => {
            return Err(Error::Invalid { format: "data.yaml", at: format!("line {ln}"), reason: format!("nc is {n} but 'names' has {} classes", out.names.len()) });
        }
        (Some((ln, n)), false) => {
            if n > 100_000 {
                return Err(Error::Invalid { format: "data.yaml", at: format!("line {ln}"), reason: format!("nc {n} is implausibly large") });
            }
            out.names = (0..n as u32).map(|i| (i, format!("class_{i}"))).collect();
        }
        _ => {}
    }
    Ok(out)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

/// The line without its `# comment` (a `#` that starts the line or follows
/// white space, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if (c == '"' || c == '\'') && (prev.is_whitespace() || matches!(prev, '[' | '{' | ',' | ':' | '-')) => quote = Some(c),
            None if c == '#' && prev.is_whitespace() => return &line[..i],
            None => {}
        }
        prev = c;
    }
    line
}

/// `key: rest` at the first `:` followed by a space or the end, outside quotes.
fn split_key(s: &str) -> Option<(&str, &str)> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let bytes = s.as_bytes();
    for (i, c) in s.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if (c == '"' || c == '\'') && i == 0 => quote = Some(c),
            None if c == ':' && bytes.get(i + 1).is_none_or(|b| *b == b' ' || *b == b'\t') => {
                return Some((s[..i].trim(), s[i + 1..].trim()));
            }
            None => {}
        }
    }
    None
}

/// A scalar without its quotes (double-quoted escapes decoded).
fn unquote(s: &str, line: usize) -> Result<String> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('\'') {
        let inner = inner.strip_suffix('\'').ok_or_else(|| syntax(line, format!("unterminated quote in '{}'", clip(s))))?;
        return Ok(inner.replace("''", "'"));
    }
    if let Some(inner) = s.strip_prefix('"') {
        let inner = inner.strip_suffix('"').filter(|i| !i.ends_with('\\') || i.ends_with("\\\\")).ok_or_else(|| syntax(line, format!("unterminated quote in '{}'", clip(s))))?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some(k @ ('x' | 'u' | 'U')) => {
                    let len = match k {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex: String = chars.by_ref().take(len).collect();
                    let c = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).ok_or_else(|| syntax(line, format!("bad escape \\{k}{hex}")))?;
                    out.push(c);
                }
                Some(other) => out.push(other),
                None => return Err(syntax(line, "a string ends with a lone backslash")),
            }
        }
        return Ok(out);
    }
    if s.starts_with('&') || s.starts_with('*') || s.starts_with('!') {
        return Err(syntax(line, format!("anchors, aliases and tags are not supported here: '{}'", clip(s))));
    }
    Ok(s.to_owned())
}

/// A key's value: `rest` on the key's line, or the indented `block` below it.
fn yaml_value(rest: &str, block: &[&str], first_line: usize) -> Result<Yaml> {
    let line = first_line.saturating_sub(1);
    if rest.starts_with('[') || rest.starts_with('{') {
        // A flow collection, possibly over several lines.
        let mut all = rest.to_owned();
        for l in block {
            all.push(' ');
            all.push_str(strip_comment(l).trim());
        }
        let all = all.trim();
        let (open, close) = if rest.starts_with('[') { ('[', ']') } else { ('{', '}') };
        let inner = all.strip_prefix(open).and_then(|s| s.strip_suffix(close)).ok_or_else(|| syntax(line, format!("'{open}' without its closing '{close}'")))?;
        let items = split_flow(inner, line)?;
        return if open == '[' {
            Ok(Yaml::List(items.iter().map(|s| unquote(s, line)).collect::<Result<_>>()?))
        } else {
            let mut map = Vec::new();
            for item in items {
                let (k, v) = split_key(&item).or_else(|| item.split_once(':')).ok_or_else(|| syntax(line, format!("expected `key: value` in '{}'", clip(&item))))?;
                map.push((unquote(k, line)?, unquote(v, line)?));
            }
            Ok(Yaml::Map(map))
        };
    }
    if rest.starts_with('|') || rest.starts_with('>') {
        return Err(syntax(line, "a block scalar (| or >) is not a path or a list"));
    }
    if !rest.is_empty() {
        let v = unquote(rest, line)?;
        return Ok(if v == "~" || v == "null" { Yaml::Null } else { Yaml::Scalar(v) });
    }
    let items: Vec<(usize, &str)> = block.iter().enumerate().map(|(i, l)| (first_line + i, strip_comment(l).trim())).filter(|(_, l)| !l.is_empty()).collect();
    let Some(&(_, first)) = items.first() else {
        return Ok(Yaml::Null);
    };
    if first == "-" || first.starts_with("- ") {
        let mut list = Vec::new();
        for (ln, l) in items {
            let v = l.strip_prefix('-').filter(|v| v.is_empty() || v.starts_with([' ', '\t'])).ok_or_else(|| syntax(ln, format!("expected a `- item`, found '{}'", clip(l))))?;
            let v = v.trim();
            if v.starts_with('[') || v.starts_with('{') || v.starts_with('-') || split_key(v).is_some() {
                return Err(syntax(ln, "nested lists and maps are not supported here"));
            }
            list.push(unquote(v, ln)?);
        }
        return Ok(Yaml::List(list));
    }
    let mut map = Vec::new();
    for (ln, l) in items {
        let (k, v) = split_key(l).ok_or_else(|| syntax(ln, format!("expected `key: value`, found '{}'", clip(l))))?;
        if v.is_empty() || v.starts_with('[') || v.starts_with('{') {
            return Err(syntax(ln, "nested lists and maps are not supported here"));
        }
        map.push((unquote(k, ln)?, unquote(v, ln)?));
    }
    Ok(Yaml::Map(map))
}

/// Splits a flow collection's inside at commas outside quotes and brackets.
fn split_flow(s: &str, line: usize) -> Result<Vec<String>> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in s.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if q == '"' && c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                cur.push(c);
            }
            None if (c == '"' || c == '\'') && (cur.trim().is_empty() || cur.trim_end().ends_with(':')) => {
                quote = Some(c);
                cur.push(c);
            }
            None if c == '[' || c == '{' => return Err(syntax(line, "nested lists and maps are not supported here")),
            None if c == ',' => items.push(std::mem::take(&mut cur).trim().to_owned()),
            None => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err(syntax(line, "unterminated quote"));
    }
    if !cur.trim().is_empty() {
        items.push(cur.trim().to_owned());
    }
    Ok(items.into_iter().filter(|s| !s.is_empty()).collect())
}

/// At most 60 characters of `s`, for messages.
fn clip(s: &str) -> String {
    if s.chars().count() > 60 { format!("{}...", s.chars().take(60).collect::<String>()) } else { s.to_owned() }
}

/// Reads one label file of `image` (its size scales the coordinates).
/// Lines that cannot be used are [skipped](Report::skipped) with
/// `file:line` and the reason; annotations get ids from `next_id` on.
///
/// A line is `class cx cy w h` (a box), `class x1 y1 ... xn yn` with n >= 3
/// (a polygon, imported as the mask OpenCV fills from it, see
/// [`opencv_fill`]), either with a trailing confidence (`save_conf`: 6 values,
/// or an even count from 8) which becomes the score. Values must be finite
/// and within [0, 1] (give or take 0.001, then clamped); class numbers must
/// be in `categories` (their ids).
pub fn read_label_file(text: &str, file: &str, image: &Image, categories: &[Category], next_id: &mut u64, report: &mut Report) -> Vec<Annotation> {
    let known: HashSet<u32> = categories.iter().map(|c| c.id).collect();
    let mut out = Vec::new();
    let (w, h) = (f64::from(image.width), f64::from(image.height));
    for (i, line) in text.lines().enumerate() {
        let at = format!("{file}:{}", i + 1);
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.is_empty() {
            continue;
        }
        match parse_label_line(&tokens, &known, w, h) {
            Ok((class, geometry, score)) => {
                out.push(Annotation {
                    id: *next_id,
                    image_id: image.id,
                    category_id: class,
                    track: None,
                    geometry,
                    crowd: false,
                    occluded: false,
                    outside: false,
                    keyframe: true,
                    source: ShapeSource::Imported,
                    score,
                    attributes: Attributes::new(),
                });
                *next_id += 1;
            }
            Err(reason) => report.skip(at, reason),
        }
    }
    out
}

fn parse_label_line(tokens: &[&str], known: &HashSet<u32>, w: f64, h: f64) -> Result<(u32, Geometry, Option<f32>), String> {
    let n = tokens.len();
    let (coords, conf) = match n {
        5 => (&tokens[1..5], None),
        6 => (&tokens[1..5], Some(tokens[5])),
        n if n >= 7 && n % 2 == 1 => (&tokens[1..], None),
        n if n >= 8 => (&tokens[1..n - 1], Some(tokens[n - 1])),
        _ => return Err(format!("expected `class cx cy w h` or `class x1 y1 x2 y2 x3 y3 ...`, found {n} values")),
    };
    let class_f: f64 = tokens[0].parse().map_err(|_| format!("the class '{}' is not a number", clip(tokens[0])))?;
    if !(class_f.is_finite() && class_f >= 0.0 && class_f.fract() == 0.0 && class_f <= f64::from(u32::MAX)) {
        return Err(format!("the class '{}' is not a whole number >= 0", clip(tokens[0])));
    }
    let class = class_f as u32;
    if !known.contains(&class) {
        return Err(format!("class {class} is not in data.yaml's names"));
    }
    let mut values = Vec::with_capacity(coords.len());
    for (k, t) in coords.iter().enumerate() {
        let v: f64 = t.parse().map_err(|_| format!("value {} ('{}') is not a number", k + 2, clip(t)))?;
        if !v.is_finite() {
            return Err(format!("value {} ('{}') is not finite", k + 2, clip(t)));
        }
        if !(-EPSILON..=1.0 + EPSILON).contains(&v) {
            return Err(format!("value {} ({v}) is outside [0, 1]; YOLO coordinates are fractions of the image size", k + 2));
        }
        values.push(v.clamp(0.0, 1.0));
    }
    let score = match conf {
        None => None,
        Some(t) => {
            let c: f64 = t.parse().map_err(|_| format!("the confidence '{}' is not a number", clip(t)))?;
            if !(c.is_finite() && (0.0..=1.0).contains(&c)) {
                return Err(format!("the confidence {c} is not within [0, 1]"));
            }
            Some(c as f32)
        }
    };
    let geometry = if coords.len() == 4 {
        let (cx, cy, bw, bh) = (values[0], values[1], values[2], values[3]);
        if bw <= 0.0 || bh <= 0.0 {
            return Err(format!("the box has no area (width {bw}, height {bh})"));
        }
        let x0 = ((cx - bw / 2.0) * w).clamp(0.0, w);
        let y0 = ((cy - bh / 2.0) * h).clamp(0.0, h);
        let x1 = ((cx + bw / 2.0) * w).clamp(0.0, w);
        let y1 = ((cy + bh / 2.0) * h).clamp(0.0, h);
        Geometry::BBox(BBox::new(x0, y0, x1 - x0, y1 - y0).map_err(|_| "the box has no area inside the image".to_owned())?)
    } else {
        // OpenCV's convention (vertex = pixel centre, the outline's pixels
        // inside): import what Ultralytics and supervision fill.
        let points: Vec<Point> = values.chunks_exact(2).map(|c| Point { x: c[0] * w, y: c[1] * h }).collect();
        let polygon = Polygon::new(points, Vec::new()).map_err(|e| format!("bad polygon: {e}"))?;
        if polygon.area() <= 0.0 {
            return Err("the polygon has no area".into());
        }
        let mask = opencv_fill(h as u32, w as u32, &polygon.exterior).map_err(|e| format!("the polygon could not be filled: {e}"))?;
        if mask.is_empty() {
            return Err("the polygon covers no pixel of the image".into());
        }
        Geometry::Mask(mask)
    };
    Ok((class, geometry, score))
}

/// One imported image with its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct YoloImage {
    /// `train`, `val` or `test`.
    pub subset: &'static str,
    pub image: Image,
    pub annotations: Vec<Annotation>,
}

/// What an import found besides the images.
#[derive(Debug, Clone, PartialEq)]
pub struct YoloImport {
    pub data: DataYaml,
    pub categories: Vec<Category>,
    pub report: Report,
}

/// Imports a YOLO dataset from its file list (`/`-separated paths relative
/// to the dataset's folder), reading files through `read`.
///
/// `data.yaml` is the shallowest file of that name (or the only `.yaml` at
/// the top). Each split's entries are folders (every image under them),
/// image lists (`.txt`, one path per line, `./` relative to the list) or
/// single images, relative to `path` when that lies inside the dataset and
/// to `data.yaml`'s folder otherwise; entries outside the dataset are
/// skipped. An image's labels are at its path with the last `images`
/// folder replaced by `labels` and the extension by `.txt` (Ultralytics'
/// rule); an image without one has no objects. `image_size` gives each
/// image's `(width, height)` (the crate decodes no images); an image
/// without one is skipped. `on_image` gets the images one at a time, in
/// split then path order, ids from 1.
pub fn read_yolo(
    files: &[String],
    read: &mut dyn FnMut(&str) -> Result<Vec<u8>>,
    image_size: &mut dyn FnMut(&str) -> Option<(u32, u32)>,
    progress: &mut dyn Progress,
    on_image: &mut dyn FnMut(YoloImage) -> Result<()>,
) -> Result<YoloImport> {
    let yaml_path = find_data_yaml(files)?;
    let base = yaml_path.rsplit_once('/').map_or(String::new(), |(dir, _)| format!("{dir}/"));
    let bytes = read(&yaml_path)?;
    let text = String::from_utf8(bytes).map_err(|e| Error::Syntax { format: "data.yaml", at: format!("byte {}", e.utf8_error().valid_up_to()), reason: "not UTF-8 text".into() })?;
    let data = parse_data_yaml(&text)?;
    let categories = data.categories();
    let mut report = Report::default();
    let all: HashSet<&str> = files.iter().map(String::as_str).collect();

    let root = match data.path.as_deref().and_then(|p| inside(&base, p)) {
        Some(r) if !r.is_empty() && files.iter().any(|f| f.starts_with(&format!("{r}/"))) => format!("{r}/"),
        _ => base.clone(),
    };

    // Every image of every split, each once (the first split that names it).
    let mut images: Vec<(&'static str, String)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for (subset, entries) in [("train", &data.train), ("val", &data.val), ("test", &data.test)] {
        let mut found: Vec<String> = Vec::new();
        for entry in entries {
            let Some(rel) = inside(root.trim_end_matches('/'), entry) else {
                report.skip(format!("data.yaml: {subset}"), format!("'{entry}' is outside the dataset's folder; its images were not imported"));
                continue;
            };
            if all.contains(rel.as_str()) && rel.to_ascii_lowercase().ends_with(".txt") {
                let list = read(&rel)?;
                let list = String::from_utf8_lossy(&list);
                let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
                for (i, l) in list.lines().enumerate() {
                    let l = l.trim();
                    if l.is_empty() {
                        continue;
                    }
                    let p = match l.strip_prefix("./") {
                        Some(r) => inside(dir, r),
                        None => inside(root.trim_end_matches('/'), l),
                    };
                    match p {
                        Some(p) if all.contains(p.as_str()) => found.push(p),
                        _ => report.skip(format!("{rel}:{}", i + 1), format!("the image '{}' is not in the dataset", clip(l))),
                    }
                }
            } else if all.contains(rel.as_str()) {
                found.push(rel);
            } else {
                let prefix = if rel.is_empty() { String::new() } else { format!("{rel}/") };
                let before = found.len();
                found.extend(files.iter().filter(|f| f.starts_with(&prefix) && is_image_path(f)).cloned());
                if found.len() == before {
                    report.skip(format!("data.yaml: {subset}"), format!("'{entry}' holds no images"));
                }
            }
        }
        found.sort();
        for f in found {
            if seen.insert(f.clone()) {
                images.push((subset, f));
            }
        }
    }

    let mut used_labels: HashSet<String> = HashSet::new();
    let mut next_id = 1u64;
    let total = images.len() as u64;
    for (n, (subset, path)) in images.into_iter().enumerate() {
        if !progress.tick(n as u64, total) {
            return Err(Error::Cancelled);
        }
        let Some((width, height)) = image_size(&path).filter(|(w, h)| *w > 0 && *h > 0) else {
            report.skip(path, "the image's size could not be read; its labels were not imported");
            continue;
        };
        let image = Image { id: n as u64 + 1, file_name: path.clone(), width, height, video: None };
        let label = label_path(&path);
        let annotations = if all.contains(label.as_str()) {
            used_labels.insert(label.clone());
            let bytes = read(&label)?;
            match String::from_utf8(bytes) {
                Ok(text) => read_label_file(&text, &label, &image, &categories, &mut next_id, &mut report),
                Err(_) => {
                    report.skip(label, "not UTF-8 text");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        report.images += 1;
        report.annotations += annotations.len() as u64;
        on_image(YoloImage { subset, image, annotations })?;
    }
    progress.tick(total, total);
    for f in files {
        let under_labels = f.starts_with(&format!("{root}labels/")) || (root.is_empty() && f.starts_with("labels/"));
        if under_labels && f.to_ascii_lowercase().ends_with(".txt") && !used_labels.contains(f) {
            report.skip(f.clone(), "no image of the dataset's splits has this label file");
        }
    }
    Ok(YoloImport { data, categories, report })
}

/// [`read_yolo`] over a folder on disk; `image_size` gets paths relative to
/// `root`. Symbolic links to folders are not followed.
pub fn read_yolo_folder(
    root: &Path,
    image_size: &mut dyn FnMut(&str) -> Option<(u32, u32)>,
    progress: &mut dyn Progress,
    on_image: &mut dyn FnMut(YoloImage) -> Result<()>,
) -> Result<YoloImport> {
    let mut files = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            let kind = entry.file_type().map_err(|e| Error::io(format!("reading {}", entry.path().display()), e))?;
            let path = format!("{rel}{name}");
            if kind.is_dir() {
                stack.push((entry.path(), format!("{path}/")));
            } else if kind.is_file() || kind.is_symlink() {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut read = |p: &str| -> Result<Vec<u8>> { std::fs::read(root.join(p)).map_err(|e| Error::io(format!("reading {}", root.join(p).display()), e)) };
    read_yolo(&files, &mut read, image_size, progress, on_image)
}

fn find_data_yaml(files: &[String]) -> Result<String> {
    let depth = |f: &str| f.matches('/').count();
    if let Some(f) = files.iter().filter(|f| f.rsplit('/').next() == Some("data.yaml")).min_by_key(|f| (depth(f), f.as_str())) {
        return Ok(f.clone());
    }
    let top: Vec<&String> = files.iter().filter(|f| !f.contains('/') && (f.ends_with(".yaml") || f.ends_with(".yml"))).collect();
    match top.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(Error::Invalid { format: FORMAT, at: "data.yaml".into(), reason: "the dataset has no data.yaml (the file that names the classes and splits)".into() }),
    }
}

/// `rel` joined to `base` and normalised, or `None` when it is absolute or
/// leaves the dataset.
fn inside(base: &str, rel: &str) -> Option<String> {
    let rel = rel.trim().replace('\\', "/");
    if rel.starts_with('/') || rel.contains(':') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn is_image_path(f: &str) -> bool {
    f.rsplit('/').next().and_then(|n| n.rsplit_once('.')).is_some_and(|(stem, ext)| !stem.is_empty() && is_image_ext(ext))
}

/// Ultralytics' `img2label_paths`: the last `images` folder becomes
/// `labels`, the extension `.txt`.
fn label_path(image: &str) -> String {
    let swapped = if let Some((a, b)) = image.rsplit_once("/images/") {
        format!("{a}/labels/{b}")
    } else if let Some(b) = image.strip_prefix("images/") {
        format!("labels/{b}")
    } else {
        image.to_owned()
    };
    match swapped.rsplit_once('.') {
        Some((stem, ext)) if !ext.contains('/') => format!("{stem}.txt"),
        _ => format!("{swapped}.txt"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemorySink, NoProgress};

    fn cat(id: u32, name: &str) -> Category {
        Category { id, name: name.into(), colour: None, attributes: Vec::new() }
    }

    fn image(id: u64, file_name: &str, width: u32, height: u32) -> Image {
        Image { id, file_name: file_name.into(), width, height, video: None }
    }

    fn ann(id: u64, image_id: u64, category_id: u32, geometry: Geometry) -> Annotation {
        Annotation {
            id,
            image_id,
            category_id,
            track: None,
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

    /// A row-major bitmap from rows of `#` and `.`.
    fn mask(rows: &[&str]) -> Rle {
        let (h, w) = (rows.len() as u32, rows[0].len() as u32);
        let px: Vec<u8> = rows.iter().flat_map(|r| r.bytes().map(|b| u8::from(b == b'#'))).collect();
        Rle::from_bitmap_row_major(h, w, &px).expect("mask")
    }

    #[test]
    fn detection_files_are_exactly_as_ultralytics_expects() {
        let sink = MemorySink::new();
        let mut s = sink.clone();
        let cats = [cat(7, "car"), cat(3, "person: adult")];
        let mut w = YoloWriter::new(&mut s, &cats, YoloTask::Detect).expect("writer");
        let img = image(1, "clip 1.mp4/000012.jpg", 200, 100);
        let anns = [
            ann(10, 1, 7, bbox(10.0, 20.0, 50.0, 40.0)),
            ann(11, 1, 3, Geometry::Mask(Rle::from_bbox(100, 200, &BBox::new(100.0, 0.0, 100.0, 100.0).expect("box")).expect("mask"))),
            ann(12, 1, 7, bbox(-10.0, 90.0, 30.0, 20.0)),
            ann(13, 1, 99, bbox(1.0, 1.0, 2.0, 2.0)),
            ann(14, 1, 7, Geometry::Points(vec![Point { x: 1.0, y: 1.0 }])),
            Annotation { outside: true, ..ann(15, 1, 7, bbox(1.0, 1.0, 2.0, 2.0)) },
        ];
        w.add_image(&img, &anns).expect("add");
        assert_eq!(w.image_path(&img).expect("path"), "images/train/clip_1.mp4_000012.jpg");
        w.put_image(&img, b"jpeg").expect("put");
        let val = image(2, "clip 1.mp4/000013.png", 200, 100);
        w.add_image_to(Subset::Val, &val, &[]).expect("add");
        let report = w.finish().expect("finish");
        assert_eq!(
            text(&sink, "labels/train/clip_1.mp4_000012.txt"),
            "0 0.175 0.4 0.25 0.4\n1 0.75 0.5 0.5 1\n0 0.05 0.95 0.1 0.1\n"
        );
        assert_eq!(text(&sink, "labels/val/clip_1.mp4_000013.txt"), "");
        assert_eq!(sink.get("images/train/clip_1.mp4_000012.jpg").as_deref(), Some(&b"jpeg"[..]));
        assert_eq!(
            text(&sink, "data.yaml"),
            "# Ultralytics YOLO detection dataset written by Argus: labels/*/*.txt hold `class cx cy w h`, normalised.\n\
             # No `path`: Ultralytics then resolves the splits against this file's folder.\n\
             train: images/train\nval: images/val\nnc: 2\nnames:\n  0: car\n  1: \"person: adult\"\n"
        );
        assert_eq!((report.images, report.annotations), (2, 3));
        assert_eq!(report.skipped.len(), 2, "{:?}", report.skipped);
        assert!(report.skipped[0].reason.contains("category 99"));
        assert!(report.skipped[1].reason.contains("points"));
        assert_eq!(report.changed.len(), 1);
        assert!(report.changed[0].at.starts_with("annotation 12") && report.changed[0].reason.contains("clipped"));
    }

    #[test]
    fn stems_are_safe_and_unique() {
        let mut taken = HashSet::new();
        assert_eq!(unique_stem(&mut taken, "a b/000001.jpg", 1), "a_b_000001");
        assert_eq!(unique_stem(&mut taken, "a_b/000001.jpg", 2), "a_b_000001_2");
        assert_eq!(unique_stem(&mut taken, "A_B/000001.jpg", 3), "A_B_000001_3");
        assert_eq!(unique_stem(&mut taken, "../.hidden/x", 4), "_.._.hidden_x");
        assert_eq!(unique_stem(&mut taken, "", 5), "image");
        assert_eq!(unique_stem(&mut taken, "vidéo/1.jpg", 6), "vidéo_1");
        assert!(unique_stem(&mut taken, &"x".repeat(500), 7).len() <= 120);
        for s in &taken {
            crate::sink::check_relative(&format!("labels/train/{s}.txt")).expect(s);
        }
    }

    #[test]
    fn only_val_images_still_give_a_train_split() {
        let sink = MemorySink::new();
        let mut s = sink.clone();
        let mut w = YoloWriter::new(&mut s, &[cat(1, "a")], YoloTask::Detect).expect("writer");
        w.add_image_to(Subset::Val, &image(1, "v/1.jpg", 4, 4), &[]).expect("add");
        w.finish().expect("finish");
        assert!(text(&sink, "data.yaml").contains("train: images/val\nval: images/val\n"));
    }

    #[test]
    fn bad_writer_input_is_an_error_not_a_panic() {
        let mut s = MemorySink::new();
        assert!(YoloWriter::new(&mut s, &[], YoloTask::Segment { tolerance: f64::NAN }).is_err());
        assert!(YoloWriter::new(&mut s, &[cat(1, "a"), cat(1, "b")], YoloTask::Detect).is_err());
        let mut w = YoloWriter::new(&mut s, &[cat(1, "a")], YoloTask::Detect).expect("writer");
        assert!(w.add_image(&image(1, "a.jpg", 0, 10), &[]).is_err());
        w.add_image(&image(2, "a.jpg", 10, 10), &[]).expect("add");
        assert!(w.add_image(&image(2, "a.jpg", 10, 10), &[]).is_err());
        assert!(w.image_path(&image(3, "b.jpg", 10, 10)).is_err());
    }

    fn segment(m: Rle, tolerance: f64) -> (String, Report) {
        let sink = MemorySink::new();
        let mut s = sink.clone();
        let mut w = YoloWriter::new(&mut s, &[cat(1, "blob")], YoloTask::Segment { tolerance }).expect("writer");
        let img = image(1, "v/000000.jpg", m.width(), m.height());
        w.add_image(&img, &[ann(5, 1, 1, Geometry::Mask(m))]).expect("add");
        let report = w.finish().expect("finish");
        (text(&sink, "labels/train/v_000000.txt"), report)
    }

    /// The label line's ring, back in pixels.
    fn ring_of(line: &str, w: u32, h: u32) -> Vec<Point> {
        let v: Vec<f64> = line.split_whitespace().skip(1).map(|t| t.parse().expect("number")).collect();
        v.chunks_exact(2).map(|c| Point { x: c[0] * f64::from(w), y: c[1] * f64::from(h) }).collect()
    }

    /// The label line's ring filled as OpenCV (Ultralytics, supervision) fills it.
    fn rasterise_line(line: &str, w: u32, h: u32) -> Rle {
        opencv_fill(h, w, &ring_of(line, w, h)).expect("fill")
    }

    /// The pixels of the segments the line's ring walks both ways (its
    /// bridges), as OpenCV draws them.
    fn bridges(line: &str, w: u32, h: u32) -> Rle {
        let pts: Vec<(i64, i64)> = ring_of(line, w, h).iter().map(|p| (p.x.round() as i64, p.y.round() as i64)).collect();
        let segs: Vec<((i64, i64), (i64, i64))> = (0..pts.len()).map(|i| (pts[i], pts[(i + 1) % pts.len()])).collect();
        let mut px = vec![0u8; (w * h) as usize];
        for &(a, b) in &segs {
            if a != b && segs.contains(&(b, a)) {
                cv_line(a, b, i64::from(w), i64::from(h), &mut |x, y| px[(y * i64::from(w) + x) as usize] = 1);
            }
        }
        Rle::from_bitmap_row_major(h, w, &px).expect("bitmap")
    }

    #[test]
    fn a_simple_mask_is_written_exactly_and_not_reported() {
        let m = mask(&["....", ".##.", ".##.", "...."]);
        let (label, report) = segment(m.clone(), 0.0);
        // Pixels 1 and 2 (plus a quarter pixel) in OpenCV's convention.
        assert_eq!(label, "0 0.5625 0.3125 0.5625 0.5625 0.3125 0.5625 0.3125 0.3125\n");
        assert_eq!(rasterise_line(&label, 4, 4), m);
        assert!(report.changed.is_empty(), "{:?}", report.changed);
    }

    #[test]
    fn opencv_fill_is_what_opencv_draws() {
        // cv2.fillPoly(np.zeros((8, 8), np.uint8), [np.array(ring, np.int32)], 1), opencv-python 4.x.
        let tri = [(1.0, 1.0), (5.0, 1.0), (1.0, 5.0)].map(|(x, y)| Point { x, y });
        let want = mask(&["........", ".#####..", ".####...", ".###....", ".##.....", ".#......", "........", "........"]);
        assert_eq!(opencv_fill(8, 8, &tri).expect("fill"), want);
        let skew = [(1.0, 1.0), (6.0, 2.0), (3.0, 6.0)].map(|(x, y)| Point { x, y });
        let want = mask(&["........", ".###....", ".######.", "..####..", "..###...", "...##...", "...#....", "........"]);
        assert_eq!(opencv_fill(8, 8, &skew).expect("fill"), want);
        // Vertices rounded half to even (cvRound), lines clipped to the image.
        let nudged = [(1.4, 0.6), (4.6, 1.0), (1.0, 5.2)].map(|(x, y)| Point { x, y });
        assert_eq!(opencv_fill(8, 8, &nudged).expect("fill"), opencv_fill(8, 8, &tri).expect("fill"));
        let ties = [(2.5, 1.0), (5.0, 1.0), (2.5, 5.0)].map(|(x, y)| Point { x, y });
        let even = [(2.0, 1.0), (5.0, 1.0), (2.0, 5.0)].map(|(x, y)| Point { x, y });
        assert_eq!(opencv_fill(8, 8, &ties).expect("fill"), opencv_fill(8, 8, &even).expect("fill"));
        let big = [(-3.0, -3.0), (12.0, -3.0), (12.0, 12.0), (-3.0, 12.0)].map(|(x, y)| Point { x, y });
        assert_eq!(opencv_fill(8, 8, &big).expect("fill"), Rle::full(8, 8).expect("full"));
        let dot = [Point { x: 7.0, y: 7.0 }; 3];
        assert_eq!(opencv_fill(8, 8, &dot).expect("fill").area(), 1, "a collapsed ring is its pixel");
    }

    #[test]
    fn what_opencv_fills_from_a_traced_mask_is_the_mask() {
        let cases: [(&str, Vec<&str>); 6] = [
            ("box", vec!["......", ".####.", ".####.", ".####.", "......"]),
            ("ring with a hole", vec!["#######.", "#######.", "##...##.", "##....#.", "#######.", "........"]),
            ("L-shape", vec!["##......", "##......", "##......", "#######.", "#######.", "........"]),
            ("one pixel wide, on the border", vec!["#.....", "#.....", "######", "....##", "....##"]),
            ("a single pixel", vec!["....", "..#.", "....", "...."]),
            ("two parts", vec!["##......", "##......", "........", ".....###", ".....###"]),
        ];
        for (what, rows) in cases {
            let m = mask(&rows);
            let (label, report) = segment(m.clone(), 0.0);
            let line = label.lines().next().expect("line");
            let back = rasterise_line(line, m.width(), m.height());
            let bridges = bridges(line, m.width(), m.height());
            if what == "two parts" {
                // The bridge crosses the background: OpenCV draws its line.
                assert_eq!(back, m.union(&bridges).expect("union"), "{what}");
                assert!(back != m && report.changed[0].reason.contains(&format!("IoU {:.4}", back.iou(&m).expect("iou"))), "{what}: {:?}", report.changed);
                continue;
            }
            assert_eq!(back, m, "{what}: {label}");
            assert!(report.changed.iter().all(|c| c.reason.contains("IoU 1.0000")), "{what}: {:?}", report.changed);
            assert_eq!(report.changed.is_empty(), what != "ring with a hole", "{what}: only the hole's bridge is reported");
            // Read back as the trainer sees it: the mask.
            let mut r = Report::default();
            let mut next = 1;
            let anns = read_label_file(&label, "l.txt", &image(1, "a.jpg", m.width(), m.height()), &[cat(0, "a")], &mut next, &mut r);
            if what == "a single pixel" {
                assert!(anns.is_empty() && r.skipped[0].reason.contains("no area"), "{what}: {r:?}");
                continue;
            }
            assert_eq!(anns[0].geometry, Geometry::Mask(m), "{what}");
        }
    }

    #[test]
    fn a_two_part_mask_is_bridged_without_losing_area() {
        let m = mask(&["##......", "##......", "........", ".....###", ".....###"]);
        let (label, report) = segment(m.clone(), 0.0);
        let line = label.lines().next().expect("one line");
        assert_eq!(label.lines().count(), 1);
        let bridge = bridges(line, 8, 5);
        let back = rasterise_line(line, 8, 5);
        assert_eq!(back, m.union(&bridge).expect("union"), "the mask and the bridge's line, nothing else");
        assert_eq!(report.changed.len(), 1, "bridges are reported");
        let reason = &report.changed[0].reason;
        let iou = back.iou(&m).expect("iou");
        assert!(iou < 1.0);
        assert!(reason.contains(&format!("IoU {iou:.4}")) && reason.contains(&format!("area 10 -> {} px", back.area())) && reason.contains("2 parts joined by 1 zero-width bridge"), "{reason}");
        assert_eq!(report.changed[0].at, "annotation 5 on v/000000.jpg");
    }

    #[test]
    fn a_mask_with_a_hole_keeps_its_hole() {
        let m = mask(&["#####", "#...#", "#...#", "#####"]);
        let (label, report) = segment(m.clone(), 0.0);
        let line = label.lines().next().expect("one line");
        assert_eq!(rasterise_line(line, 5, 4), m);
        assert!(report.changed[0].reason.contains("IoU 1.0000") && report.changed[0].reason.contains("1 part and 1 hole joined by 1 zero-width bridge"), "{:?}", report.changed);
    }

    #[test]
    fn simplification_loss_is_measured_with_the_right_iou() {
        // A staircase that tolerance 1.5 flattens: compare with the reported IoU.
        let m = mask(&["#.......", "##......", "###.....", "####....", "#####...", "######..", "#######.", "########"]);
        let (label, report) = segment(m.clone(), 1.5);
        let back = rasterise_line(label.lines().next().expect("line"), 8, 8);
        let iou = back.iou(&m).expect("iou");
        assert!(iou < 1.0 && iou > 0.75, "{iou}");
        let reason = &report.changed[0].reason;
        assert!(reason.contains(&format!("IoU {iou:.4}")), "{reason} vs {iou}");
        assert!(reason.contains(&format!("area {} -> {} px", m.area(), back.area())), "{reason}");
        assert!(!reason.contains("bridge"));
    }

    #[test]
    fn many_parts_and_holes_rasterise_back_exactly() {
        let m = mask(&[
            "#########.....##",
            "#.......#.....##",
            "#.##....#.......",
            "#.##....#...#...",
            "#.......#..###..",
            "#########...#...",
            "................",
            "####.#.#.#.#####",
        ]);
        let (label, report) = segment(m.clone(), 0.0);
        let line = label.lines().next().expect("line");
        let back = rasterise_line(line, 16, 8);
        assert_eq!(back, m.union(&bridges(line, 16, 8)).expect("union"), "the mask and the bridges' lines");
        assert!(report.changed[0].reason.contains(&format!("IoU {:.4}", back.iou(&m).expect("iou"))), "{:?}", report.changed);
    }

    #[test]
    fn polygons_and_boxes_go_straight_in_segmentation() {
        let sink = MemorySink::new();
        let mut s = sink.clone();
        let mut w = YoloWriter::new(&mut s, &[cat(1, "a")], YoloTask::Segment { tolerance: 1.0 }).expect("writer");
        let tri = Polygon::from_flat(&[0.0, 0.0, 10.0, 0.0, 0.0, 5.0]).expect("polygon");
        w.add_image(&image(1, "f.png", 10, 10), &[ann(1, 1, 1, Geometry::Polygon(tri.clone())), ann(2, 1, 1, bbox(2.0, 2.0, 4.0, 6.0))]).expect("add");
        assert_eq!(w.image_path(&image(1, "f.png", 10, 10)).expect("path"), "images/train/f.png");
        let report = w.finish().expect("finish");
        // In OpenCV's convention: the pixels on the outline are the vertices.
        let labels = text(&sink, "labels/train/f.txt");
        assert_eq!(labels, "0 0.025 0.025 0.925 0.025 0.025 0.425\n0 0.225 0.225 0.525 0.225 0.525 0.725 0.225 0.725\n");
        let b = Rle::from_bbox(10, 10, &BBox::new(2.0, 2.0, 4.0, 6.0).expect("box")).expect("box");
        assert_eq!(rasterise_line(labels.lines().nth(1).expect("box"), 10, 10), b, "the box exactly");
        let t = Rle::from_polygon(10, 10, &tri).expect("tri");
        let back = rasterise_line(labels.lines().next().expect("tri"), 10, 10);
        assert!(report.skipped.is_empty());
        if back == t {
            assert!(report.changed.is_empty(), "{:?}", report.changed);
        } else {
            assert_eq!(report.changed.len(), 1, "{:?}", report.changed);
            assert!(report.changed[0].at.starts_with("annotation 1 ") && report.changed[0].reason.contains(&format!("IoU {:.4}", back.iou(&t).expect("iou"))), "{:?}", report.changed);
        }
    }

    #[test]
    fn boxes_read_back_as_written() {
        let sink = MemorySink::new();
        let mut s = sink.clone();
        let cats = [cat(1, "car"), cat(2, "bus")];
        let mut w = YoloWriter::new(&mut s, &cats, YoloTask::Detect).expect("writer");
        let boxes = [(3.3, 4.7, 100.123, 50.5, 1), (0.0, 0.0, 640.0, 480.0, 2), (600.25, 1.0, 39.75, 7.125, 1)];
        let img = image(1, "clip/000001.jpg", 640, 480);
        let anns: Vec<Annotation> = boxes.iter().enumerate().map(|(i, &(x, y, bw, bh, c))| ann(i as u64, 1, c, bbox(x, y, bw, bh))).collect();
        w.add_image(&img, &anns).expect("add");
        w.put_image(&img, b"x").expect("put");
        w.finish().expect("finish");

        let files: Vec<String> = sink.files().into_keys().collect();
        let mut read = |p: &str| sink.get(p).ok_or_else(|| Error::io(p.to_owned(), std::io::Error::from(std::io::ErrorKind::NotFound)));
        let mut got = Vec::new();
        let import = read_yolo(&files, &mut read, &mut |_| Some((640, 480)), &mut NoProgress, &mut |i| {
            got.push(i);
            Ok(())
        })
        .expect("read");
        assert!(import.report.skipped.is_empty(), "{:?}", import.report.skipped);
        assert_eq!(import.categories.iter().map(|c| (c.id, c.name.as_str())).collect::<Vec<_>>(), [(0, "car"), (1, "bus")]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].subset, "train");
        assert_eq!(got[0].image.file_name, "images/train/clip_000001.jpg");
        for (a, &(x, y, bw, bh, c)) in got[0].annotations.iter().zip(&boxes) {
            let Geometry::BBox(b) = a.geometry else { panic!("{a:?}") };
            assert_eq!(a.category_id, c - 1);
            for (p, q, size) in [(b.x, x, 640.0), (b.y, y, 480.0), (b.width, bw, 640.0), (b.height, bh, 480.0)] {
                assert!((p - q).abs() / size <= 1e-6, "{p} vs {q}");
            }
        }
    }

    #[test]
    fn segments_read_back_as_what_opencv_fills() {
        let m = mask(&["##......", "##......", "........", ".....###", ".....###"]);
        let (label, _) = segment(m.clone(), 0.0);
        let mut report = Report::default();
        let mut next = 1;
        let anns = read_label_file(&label, "labels/train/x.txt", &image(9, "x.jpg", 8, 5), &[cat(0, "blob")], &mut next, &mut report);
        let Geometry::Mask(back) = &anns[0].geometry else { panic!() };
        assert_eq!(*back, rasterise_line(&label, 8, 5), "what OpenCV fills");
        assert_eq!(*back, m.union(&bridges(&label, 8, 5)).expect("union"));
        assert_eq!((anns[0].image_id, anns[0].id, next), (9, 1, 2));
    }

    #[test]
    fn malformed_label_lines_are_skipped_with_their_place() {
        let text = "0 0.5 0.5 0.2 0.2\n\
                    1 0.5 0.5 0.2\n\
                    x 0.5 0.5 0.2 0.2\n\
                    0 0.5 nan 0.2 0.2\n\
                    0 0.5 0.5 inf 0.2\n\
                    5 0.5 0.5 0.2 0.2\n\
                    0 0.5 0.5 -0.2 0.2\n\
                    0 1.5 0.5 0.2 0.2\n\
                    0 0.5 0.5 0 0.2\n\
                    -1 0.5 0.5 0.2 0.2\n\
                    0.5 0.5 0.5 0.2 0.2\n\
                    \n\
                    0 0.1 0.1 0.9 0.1 0.5 0.9\n\
                    0 0.1 0.1 0.9 0.1 0.5 0.1\n\
                    0 0.5 0.5 0.2 0.2 0.9\n\
                    0 0.5 0.5 0.2 0.2 7\n\
                    0 1.0005 0.5 0.2 0.2\n";
        let mut report = Report::default();
        let mut next = 1;
        let anns = read_label_file(text, "labels/a.txt", &image(1, "a.jpg", 100, 100), &[cat(0, "a"), cat(1, "b")], &mut next, &mut report);
        let skipped: Vec<&str> = report.skipped.iter().map(|s| s.at.as_str()).collect();
        assert_eq!(skipped, ["labels/a.txt:2", "labels/a.txt:3", "labels/a.txt:4", "labels/a.txt:5", "labels/a.txt:6", "labels/a.txt:7", "labels/a.txt:8", "labels/a.txt:9", "labels/a.txt:10", "labels/a.txt:11", "labels/a.txt:14", "labels/a.txt:16"]);
        assert!(report.skipped[4].reason.contains("class 5 is not in"));
        assert_eq!(anns.len(), 4);
        assert_eq!(anns[2].score, Some(0.9));
        assert!(matches!(anns[1].geometry, Geometry::Mask(_)));
        let Geometry::BBox(b) = anns[3].geometry else { panic!() };
        assert!((b.x + b.width - 100.0).abs() < 1e-9, "clamped to the image: {b:?}");
        assert!(read_label_file("", "e.txt", &image(1, "a.jpg", 1, 1), &[], &mut next, &mut report).is_empty());
    }

    #[test]
    fn data_yaml_in_its_common_shapes() {
        let coco8 = "# Ultralytics\n\
                     path: ../datasets/coco8 # dataset root dir\n\
                     train: images/train # train images\n\
                     val: images/val\n\
                     test: # optional\n\
                     \n\
                     names:\n\
                     \x20 0: person\n\
                     \x20 1: 'traffic light'\n\
                     \x20 2: \"a: \\\"b\\\"\" # quoted\n\
                     \n\
                     download: |\n\
                     \x20 from pathlib import Path\n\
                     \x20 x = {'a': [1, 2]}  # not ours\n\
                     \x20 names: nonsense\n";
        let d = parse_data_yaml(coco8).expect("coco8");
        assert_eq!(d.path.as_deref(), Some("../datasets/coco8"));
        assert_eq!((d.train.clone(), d.val.clone(), d.test.clone()), (vec!["images/train".to_owned()], vec!["images/val".to_owned()], vec![]));
        assert_eq!(d.names.values().cloned().collect::<Vec<_>>(), ["person", "traffic light", "a: \"b\""]);

        let flow = parse_data_yaml("train: [a/images, b/images]\nval: a/images\nnc: 2\nnames: ['x, y', \"z\"]\n").expect("flow");
        assert_eq!(flow.train, ["a/images", "b/images"]);
        assert_eq!(flow.names.values().cloned().collect::<Vec<_>>(), ["x, y", "z"]);
        let block = parse_data_yaml("names:\n- cat\n- dog\ntrain:\n  - t1\n  - t2\n").expect("block");
        assert_eq!(block.names.len(), 2);
        assert_eq!(block.train, ["t1", "t2"]);
        let map = parse_data_yaml("names: {0: cat, 5: dog}\n").expect("flow map");
        assert_eq!(map.names.get(&5).map(String::as_str), Some("dog"));
        let nc_only = parse_data_yaml("nc: 3\n").expect("nc");
        assert_eq!(nc_only.names.get(&2).map(String::as_str), Some("class_2"));
        // What this module writes reads back.
        assert_eq!(parse_data_yaml(&format!("names:\n  0: {}\n", yaml_scalar("q\"uote\\ # x\ny"))).expect("ours").names[&0], "q\"uote\\ # x\ny");

        for bad in ["names: [a, b", "names:\n  x: a\n", "nc: 2\nnames: [a]\n", "nc: many\n", "kpt_shape: [17, 3]\n", "names:\n  0: [a]\n", "just text\n", "names: \"open\n", "names:\n  0: a\n  0: b\n"] {
            let e = parse_data_yaml(bad).expect_err(bad);
            if !bad.starts_with("kpt") && !bad.starts_with("nc: 2") {
                assert!(matches!(e, Error::Syntax { ref at, .. } if at.starts_with("line ")), "{bad}: {e}");
            }
        }
    }

    #[test]
    fn import_follows_the_splits_and_reports_what_it_left_out() {
        let files: BTreeMap<&str, &str> = [
            ("ds/data.yaml", "path: .\ntrain: images/train\nval: val.txt\ntest: ../../etc\nnames: [a]\n"),
            ("ds/images/train/1.jpg", ""),
            ("ds/images/train/2.PNG", ""),
            ("ds/images/train/notes.md", ""),
            ("ds/labels/train/1.txt", "0 0.5 0.5 1 1\n0 2 2 2 2\n"),
            ("ds/val.txt", "./images/val/9.jpg\n./images/val/missing.jpg\n"),
            ("ds/images/val/9.jpg", ""),
            ("ds/labels/val/9.txt", "0 0.5 0.5 0.5 0.5\n"),
            ("ds/labels/train/orphan.txt", "0 0.5 0.5 0.5 0.5\n"),
        ]
        .into_iter()
        .collect();
        let list: Vec<String> = files.keys().map(|k| k.to_string()).collect();
        let mut read = |p: &str| files.get(p).map(|t| t.as_bytes().to_vec()).ok_or_else(|| Error::io(p.to_owned(), std::io::Error::from(std::io::ErrorKind::NotFound)));
        let mut got = Vec::new();
        let mut size = |p: &str| (!p.ends_with("2.PNG")).then_some((10, 20));
        let import = read_yolo(&list, &mut read, &mut size, &mut NoProgress, &mut |i| {
            got.push((i.subset, i.image.file_name, i.image.id, i.annotations.len()));
            Ok(())
        })
        .expect("import");
        assert_eq!(got, [("train", "ds/images/train/1.jpg".to_owned(), 1, 1), ("val", "ds/images/val/9.jpg".to_owned(), 3, 1)]);
        let at: Vec<&str> = import.report.skipped.iter().map(|s| s.at.as_str()).collect();
        assert_eq!(at, ["ds/val.txt:2", "data.yaml: test", "ds/labels/train/1.txt:2", "ds/images/train/2.PNG", "ds/labels/train/orphan.txt"]);
        assert_eq!((import.report.images, import.report.annotations), (2, 2));

        let mut cancel = |_: u64, _: u64| false;
        struct P<'a>(&'a mut dyn FnMut(u64, u64) -> bool);
        impl Progress for P<'_> {
            fn tick(&mut self, d: u64, t: u64) -> bool {
                (self.0)(d, t)
            }
        }
        assert!(matches!(read_yolo(&list, &mut read, &mut size, &mut P(&mut cancel), &mut |_| Ok(())), Err(Error::Cancelled)));
        assert!(read_yolo(&["x/y.txt".into()], &mut read, &mut size, &mut NoProgress, &mut |_| Ok(())).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "[0-9 .\\-eE\n:#'\"\\[\\]{},a-z\\\\|>&*]{0,200}") {
            let _ = parse_data_yaml(&text);
            let mut report = Report::default();
            let mut next = 1;
            let _ = read_label_file(&text, "l.txt", &image(1, "a.jpg", 7, 3), &[cat(0, "a"), cat(1, "b")], &mut next, &mut report);
        }
    }

    #[test]
    fn label_paths_follow_ultralytics() {
        assert_eq!(label_path("images/train/a.b.jpg"), "labels/train/a.b.txt");
        assert_eq!(label_path("x/images/y/images/z.png"), "x/images/y/labels/z.txt");
        assert_eq!(label_path("other/z.png"), "other/z.txt");
        assert_eq!(inside("a/b", "../c/./d"), Some("a/c/d".into()));
        assert_eq!(inside("a", "../../x"), None);
        assert_eq!(inside("a", "/etc"), None);
    }

    #[test]
    fn join_rings_connects_at_the_closest_vertices() {
        let sq = |x: f64, y: f64| vec![Point { x, y }, Point { x: x + 1.0, y }, Point { x: x + 1.0, y: y + 1.0 }, Point { x, y: y + 1.0 }];
        let joined = join_rings(vec![sq(0.0, 0.0), sq(10.0, 0.0), sq(3.0, 0.0)]);
        assert_eq!(joined.len(), 12 + 2 * 2, "4 vertices per square plus 2 per bridge");
        // Each bridge is short: the far square hangs off the middle one.
        let longest = joined.windows(2).map(|w| (w[0].x - w[1].x).hypot(w[0].y - w[1].y)).fold(0.0, f64::max);
        assert!(longest <= 6.0 + 1e-9, "{longest}");
        assert!(join_rings(Vec::new()).is_empty());
    }
}
