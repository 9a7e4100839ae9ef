//! COCO instance segmentation: a streaming writer and a streaming reader.
//!
//! Masks are COCO RLE as pycocotools compresses it (`{"size": [h, w],
//! "counts": "<string>"}`): argus-core's [`Rle`] already is pycocotools' RLE,
//! so a mask is written and read without conversion and every pixel
//! survives. Polygons are written on request ([`MaskEncoding::Polygons`]),
//! and then the [`Report`] says, per annotation, what the approximation
//! changed (IoU, area, holes). `iscrowd` follows COCO: a crowd region is
//! always RLE (pycocotools' evaluation reads crowd regions as RLE), and an
//! ordinary mask may be RLE too (as LVIS and SA-1B write them).
//!
//! Boxes: a box is written as its rectangle polygon
//! `[[x, y, x+w, y, x+w, y+h, x, y+h]]` (with `area` w*h and the box as
//! `bbox`), as CVAT and datumaro write boxes, so that every annotation
//! decodes (pycocotools' `annToMask` fails on an empty segmentation); a crowd
//! box is the RLE of that rectangle, rasterised as crowd polygons are. The
//! reader turns a segmentation that is exactly its `bbox`'s rectangle (one
//! ring of the 4 corners within 1e-6, or for a crowd region an RLE equal to
//! the rasterised rectangle) back into the box, so boxes round-trip as
//! boxes; a record with a `bbox` and no (or an empty) segmentation is a box
//! too.
//!
//! Videos: each image may name its video and frame the way TAO and
//! YouTube-VIS do (`video_id`, `frame_index`, with a top-level `videos`
//! list), so a dataset of frame references needs no extracted images.
//!
//! Layout of what the writer produces, in this order, so that a reader can
//! take it in one pass: `info`, `licenses`, `categories`, `videos`,
//! `images`, `annotations`. The reader accepts any order (files from other
//! tools put `categories` last): when the annotations come before the
//! images or categories, it reads the file a second time for them.

use std::{
    borrow::Cow,
    collections::{HashMap, HashSet},
    fmt,
    io::{self, Read, Write},
    marker::PhantomData,
};

use argus_core::{
    geometry::{BBox, Point, Polygon},
    mask::Rle,
    model::{AttributeValue, Attributes, Geometry, ShapeSource},
};
use serde::{
    Deserialize, Deserializer, Serialize,
    de::{DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor},
};

use crate::{Annotation, Category, Error, Image, Progress, Report, Result, VideoFrame};

const FORMAT: &str = "COCO";

/// How masks are written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaskEncoding {
    /// COCO RLE, pixel-exact.
    Rle,
    /// Polygons traced from the mask and simplified by `tolerance` pixels
    /// (Douglas-Peucker); holes cannot be held and are reported. Crowd
    /// regions stay RLE.
    Polygons { tolerance: f64 },
}

/// What goes in the file's `info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Info {
    pub description: String,
    pub version: String,
    pub contributor: String,
    pub date_created: String,
}

/// A video of the dataset (TAO's `videos` entry).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Video {
    pub id: u64,
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub frame_count: u64,
}

/// Writes one COCO file, streaming: images first (their records only; the
/// application writes the pixels), then annotations, then
/// [`finish`](Self::finish).
pub struct CocoWriter<W: Write> {
    out: W,
    masks: MaskEncoding,
    categories: HashSet<u32>,
    videos: HashMap<String, u64>,
    images: HashMap<u64, (u32, u32)>,
    phase: Phase,
    report: Report,
}

impl<W: Write> fmt::Debug for CocoWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CocoWriter").field("images", &self.images.len()).field("phase", &self.phase).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Images,
    Annotations,
}

#[derive(Serialize)]
struct CategoryJson<'a> {
    id: u32,
    name: &'a str,
    supercategory: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    color: Option<String>,
}

#[derive(Serialize)]
struct ImageJson<'a> {
    id: u64,
    file_name: &'a str,
    width: u32,
    height: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    video_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame_index: Option<u64>,
}

#[derive(Serialize)]
struct RleJson<'a> {
    size: [u32; 2],
    counts: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum SegmentationJson<'a> {
    Rle(RleJson<'a>),
    Polygons(Vec<Vec<f64>>),
}

#[derive(Serialize)]
struct AnnotationJson<'a> {
    id: u64,
    image_id: u64,
    category_id: u32,
    segmentation: SegmentationJson<'a>,
    area: f64,
    bbox: [f64; 4],
    iscrowd: u8,
    attributes: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f32>,
}

fn io_err(e: io::Error) -> Error {
    Error::io("writing the COCO file", e)
}

fn write_json<W: Write, T: Serialize>(out: &mut W, value: &T) -> Result<()> {
    serde_json::to_writer(out, value).map_err(|e| Error::io("writing the COCO file", io::Error::other(e)))
}

impl<W: Write> CocoWriter<W> {
    /// Writes the header: info, categories (ids as given) and videos.
    pub fn new(mut out: W, info: &Info, categories: &[Category], videos: &[Video], masks: MaskEncoding) -> Result<Self> {
        if let MaskEncoding::Polygons { tolerance } = masks
            && !(tolerance.is_finite() && tolerance >= 0.0)
        {
            return Err(Error::Unsupported { format: FORMAT, reason: format!("polygon tolerance {tolerance} must be a number of pixels >= 0") });
        }
        out.write_all(b"{\"info\":").map_err(io_err)?;
        write_json(&mut out, info)?;
        out.write_all(b",\"licenses\":[],\"categories\":").map_err(io_err)?;
        let cats: Vec<CategoryJson<'_>> = categories
            .iter()
            .map(|c| CategoryJson { id: c.id, name: &c.name, supercategory: "", color: c.colour.map(|c| c.to_string()) })
            .collect();
        write_json(&mut out, &cats)?;
        out.write_all(b",\"videos\":").map_err(io_err)?;
        write_json(&mut out, &videos)?;
        out.write_all(b",\"images\":[").map_err(io_err)?;
        Ok(Self {
            out,
            masks,
            categories: categories.iter().map(|c| c.id).collect(),
            videos: videos.iter().map(|v| (v.name.clone(), v.id)).collect(),
            images: HashMap::new(),
            phase: Phase::Images,
            report: Report::default(),
        })
    }

    /// Adds an image record. All images come before the first annotation.
    pub fn add_image(&mut self, image: &Image) -> Result<()> {
        if self.phase != Phase::Images {
            return Err(Error::Unsupported { format: FORMAT, reason: "images must all be added before the first annotation".into() });
        }
        if self.images.insert(image.id, (image.width, image.height)).is_some() {
            return Err(Error::Unsupported { format: FORMAT, reason: format!("image id {} is given twice", image.id) });
        }
        let video_id = match &image.video {
            Some(v) => Some(*self.videos.get(&v.video).ok_or_else(|| Error::Unsupported {
                format: FORMAT,
                reason: format!("image {} names video '{}', which is not in the videos list", image.id, v.video),
            })?),
            None => None,
        };
        if self.images.len() > 1 {
            self.out.write_all(b",").map_err(io_err)?;
        }
        write_json(
            &mut self.out,
            &ImageJson {
                id: image.id,
                file_name: &image.file_name,
                width: image.width,
                height: image.height,
                video_id,
                frame_index: image.video.as_ref().map(|v| v.frame),
            },
        )?;
        self.report.images += 1;
        Ok(())
    }

    /// Writes one annotation, or reports why it cannot be written (a
    /// polyline, an empty mask) and goes on.
    pub fn add_annotation(&mut self, a: &Annotation) -> Result<()> {
        if self.phase == Phase::Images {
            self.out.write_all(b"],\"annotations\":[").map_err(io_err)?;
            self.phase = Phase::Annotations;
        }
        let at = format!("annotation {} (image {})", a.id, a.image_id);
        let Some(&(width, height)) = self.images.get(&a.image_id) else {
            return Err(Error::Unsupported { format: FORMAT, reason: format!("{at}: image {} was not added", a.image_id) });
        };
        if !self.categories.contains(&a.category_id) {
            return Err(Error::Unsupported { format: FORMAT, reason: format!("{at}: category {} is not in the categories", a.category_id) });
        }
        let mut compressed = String::new();
        let (segmentation, area, bbox) = match &a.geometry {
            Geometry::Mask(rle) => {
                let Some(bbox) = rle.bbox() else {
                    self.report.skip(at, "the mask is empty; an empty mask is not a COCO annotation");
                    return Ok(());
                };
                let area = rle.area() as f64;
                match self.masks {
                    MaskEncoding::Polygons { tolerance } if !a.crowd => {
                        let (polygons, change) = polygons_of(rle, tolerance)?;
                        if let Some(change) = change {
                            self.report.change(at.clone(), change);
                        }
                        if polygons.is_empty() {
                            self.report.skip(at, "the mask has no part large enough for a polygon; export masks as RLE to keep it");
                            return Ok(());
                        }
                        (SegmentationJson::Polygons(polygons), area, bbox)
                    }
                    _ => {
                        compressed = rle.to_compressed_string();
                        (SegmentationJson::Rle(RleJson { size: [rle.height(), rle.width()], counts: &compressed }), area, bbox)
                    }
                }
            }
            Geometry::Polygon(p) => {
                let rings = vec![flat(&p.exterior)];
                if a.crowd {
                    let rle = Rle::from_polygon(height, width, p).map_err(|e| Error::Unsupported { format: FORMAT, reason: format!("{at}: {e}") })?;
                    self.report.change(at.clone(), "a crowd polygon is written as RLE, as COCO's crowd regions are");
                    compressed = rle.to_compressed_string();
                    let bbox = p.bbox().unwrap_or(BBox { x: 0.0, y: 0.0, width: 0.0, height: 0.0 });
                    (SegmentationJson::Rle(RleJson { size: [height, width], counts: &compressed }), rle.area() as f64, bbox)
                } else {
                    if !p.holes.is_empty() {
                        self.report.change(
                            at.clone(),
                            format!("{} hole(s) dropped: COCO polygons cannot hold holes (export masks as RLE to keep them)", p.holes.len()),
                        );
                    }
                    let Some(bbox) = p.bbox() else {
                        self.report.skip(at, "the polygon has no extent");
                        return Ok(());
                    };
                    (SegmentationJson::Polygons(rings), Polygon::ring_signed_area(&p.exterior).abs(), bbox)
                }
            }
            // A box is written as its rectangle, as CVAT and datumaro write
            // boxes, so that every annotation decodes (pycocotools'
            // `annToMask` fails on an empty segmentation); the reader turns
            // the rectangle back into the box (see `box_of`). A crowd box
            // is the RLE of that rectangle, as crowd polygons are.
            Geometry::BBox(b) if a.crowd => {
                let rle = Rle::from_bbox(height, width, b).map_err(|e| Error::Unsupported { format: FORMAT, reason: format!("{at}: {e}") })?;
                if rle.is_empty() {
                    self.report.skip(at, "the crowd box covers no pixel of the image; a crowd region is an RLE of its pixels");
                    return Ok(());
                }
                compressed = rle.to_compressed_string();
                (SegmentationJson::Rle(RleJson { size: [height, width], counts: &compressed }), rle.area() as f64, *b)
            }
            Geometry::BBox(b) => (SegmentationJson::Polygons(vec![flat(&b.to_polygon().exterior)]), b.area(), *b),
            Geometry::Polyline(_) | Geometry::Points(_) => {
                self.report.skip(at, format!("COCO instances hold no {}; export CVAT or native JSON to keep it", a.geometry.kind().name()));
                return Ok(());
            }
        };
        if self.report.annotations > 0 {
            self.out.write_all(b",").map_err(io_err)?;
        }
        write_json(
            &mut self.out,
            &AnnotationJson {
                id: a.id,
                image_id: a.image_id,
                category_id: a.category_id,
                segmentation,
                area,
                bbox: [bbox.x, bbox.y, bbox.width, bbox.height],
                iscrowd: u8::from(a.crowd),
                attributes: attributes_json(a),
                score: a.score,
            },
        )?;
        drop(compressed);
        self.report.annotations += 1;
        if let Some(t) = a.track {
            self.report.tracks = self.report.tracks.max(u64::from(t));
        }
        Ok(())
    }

    /// Closes the file and returns the writer and the report.
    pub fn finish(mut self) -> Result<(W, Report)> {
        if self.phase == Phase::Images {
            self.out.write_all(b"],\"annotations\":[").map_err(io_err)?;
        }
        self.out.write_all(b"]}").map_err(io_err)?;
        self.out.flush().map_err(io_err)?;
        Ok((self.out, self.report))
    }
}

/// CVAT's and datumaro's annotation attributes: `occluded`, `track_id`,
/// `keyframe`, then the label's own.
fn attributes_json(a: &Annotation) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("occluded".into(), a.occluded.into());
    if let Some(t) = a.track {
        m.insert("track_id".into(), t.into());
        m.insert("keyframe".into(), a.keyframe.into());
    }
    if a.source != ShapeSource::Manual {
        m.insert("source".into(), source_name(a.source).into());
    }
    for (k, v) in &a.attributes {
        let v = match v {
            AttributeValue::Bool(b) => (*b).into(),
            AttributeValue::Number(n) => serde_json::Number::from_f64(*n).map_or(serde_json::Value::Null, serde_json::Value::Number),
            AttributeValue::Text(t) => t.clone().into(),
        };
        m.entry(k.clone()).or_insert(v);
    }
    m
}

fn source_name(s: ShapeSource) -> &'static str {
    match s {
        ShapeSource::Manual => "manual",
        ShapeSource::Sam => "sam",
        ShapeSource::Interpolated => "interpolated",
        ShapeSource::Propagated => "propagated",
        ShapeSource::Imported => "imported",
    }
}

fn flat(ring: &[Point]) -> Vec<f64> {
    ring.iter().flat_map(|p| [p.x, p.y]).collect()
}

/// A mask as COCO polygons (exteriors), and what that changed when it is
/// not exact.
fn polygons_of(rle: &Rle, tolerance: f64) -> Result<(Vec<Vec<f64>>, Option<String>)> {
    let bad = |e: argus_core::mask::MaskError| Error::Unsupported { format: FORMAT, reason: e.to_string() };
    let polygons = rle.to_polygons(tolerance).map_err(bad)?;
    let holes: usize = polygons.iter().map(|p| p.holes.len()).sum();
    let exteriors: Vec<Polygon> = polygons.iter().map(|p| Polygon { exterior: p.exterior.clone(), holes: Vec::new() }).collect();
    let rings: Vec<Vec<f64>> = exteriors.iter().map(|p| flat(&p.exterior)).collect();
    if exteriors.is_empty() {
        return Ok((rings, None));
    }
    let drawn = Rle::from_polygons(rle.height(), rle.width(), &exteriors).map_err(bad)?;
    let iou = drawn.iou(rle).map_err(bad)?;
    let change = (drawn != *rle).then(|| {
        let mut s = format!(
            "mask as {} polygon(s): IoU {iou:.4} with the mask, area {} -> {} px",
            exteriors.len(),
            rle.area(),
            drawn.area()
        );
        if holes > 0 {
            s.push_str(&format!(", {holes} hole(s) filled (COCO polygons cannot hold holes)"));
        }
        s
    });
    Ok((rings, change))
}

// ---------------------------------------------------------------------------
// Reading

/// A category, image and video index of a COCO file: what annotations refer
/// to. Small (no annotations), so it is kept whole.
#[derive(Debug, Clone, Default)]
pub struct CocoIndex {
    pub categories: Vec<Category>,
    pub images: Vec<Image>,
    /// `videos` entries: id to name.
    pub videos: HashMap<u64, String>,
    image_at: HashMap<u64, usize>,
    category_ids: HashSet<u32>,
    /// Images' `video_id`s, resolved against `videos` once all are read.
    pending_video: Vec<(usize, u64, u64)>,
}

impl CocoIndex {
    pub fn image(&self, id: u64) -> Option<&Image> {
        self.image_at.get(&id).map(|&i| &self.images[i])
    }

    fn resolve_videos(&mut self) {
        for (i, video_id, frame) in std::mem::take(&mut self.pending_video) {
            if let Some(name) = self.videos.get(&video_id) {
                self.images[i].video = Some(VideoFrame { video: name.clone(), frame });
            }
        }
    }
}

#[derive(Deserialize)]
struct CategoryIn {
    id: u32,
    name: String,
    #[serde(default)]
    color: Option<String>,
}

#[derive(Deserialize)]
struct ImageIn {
    id: u64,
    #[serde(default)]
    file_name: String,
    width: u32,
    height: u32,
    #[serde(default)]
    video_id: Option<u64>,
    #[serde(default, alias = "frame_id")]
    frame_index: Option<u64>,
}

#[derive(Deserialize)]
struct VideoIn {
    id: u64,
    #[serde(default)]
    name: String,
}

/// A mask's `counts`: pycocotools' compressed string (borrowed from the
/// file when it has no escapes) or uncompressed runs.
enum CountsIn<'a> {
    Compressed(Cow<'a, str>),
    Runs(Vec<u32>),
}

impl<'de: 'a, 'a> Deserialize<'de> for CountsIn<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = CountsIn<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("RLE counts: a compressed string or a list of run lengths")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(CountsIn::Compressed(Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<Self::Value, E> {
                Ok(CountsIn::Compressed(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> std::result::Result<Self::Value, E> {
                Ok(CountsIn::Compressed(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
                let mut runs = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(c) = seq.next_element::<u32>()? {
                    runs.push(c);
                }
                Ok(CountsIn::Runs(runs))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A segmentation: polygons (a list of flat coordinate lists) or an RLE
/// object (`size` and `counts`).
enum SegmentationIn<'a> {
    Polygons(Vec<Vec<f64>>),
    Rle { size: [u32; 2], counts: CountsIn<'a> },
}

impl<'de: 'a, 'a> Deserialize<'de> for SegmentationIn<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = SegmentationIn<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a segmentation: a list of polygons or an RLE object with size and counts")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
                let mut rings = Vec::new();
                while let Some(ring) = seq.next_element::<Vec<f64>>()? {
                    rings.push(ring);
                }
                Ok(SegmentationIn::Polygons(rings))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
                use serde::de::Error as _;
                let (mut size, mut counts) = (None, None);
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match &*key {
                        "size" => size = Some(map.next_value::<[u32; 2]>()?),
                        "counts" => counts = Some(map.next_value::<CountsIn<'a>>()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let size = size.ok_or_else(|| A::Error::missing_field("size"))?;
                let counts = counts.ok_or_else(|| A::Error::missing_field("counts"))?;
                Ok(SegmentationIn::Rle { size, counts })
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[derive(Deserialize)]
struct AnnotationIn<'a> {
    #[serde(default)]
    id: u64,
    image_id: u64,
    category_id: u32,
    #[serde(default, borrow)]
    segmentation: Option<SegmentationIn<'a>>,
    #[serde(default)]
    bbox: Option<Vec<f64>>,
    #[serde(default, deserialize_with = "crowd_flag")]
    iscrowd: bool,
    #[serde(default)]
    attributes: AttributesIn,
    #[serde(default)]
    score: Option<f32>,
}

/// `iscrowd` is 0/1 in COCO, sometimes a boolean elsewhere.
fn crowd_flag<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("0, 1 or a boolean")
        }
        fn visit_bool<E: serde::de::Error>(self, b: bool) -> std::result::Result<bool, E> {
            Ok(b)
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> std::result::Result<bool, E> {
            u8::try_from(n).map(|n| n != 0).map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(n), &self))
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> std::result::Result<bool, E> {
            u8::try_from(n).map(|n| n != 0).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
        }
    }
    d.deserialize_any(V)
}

/// An annotation's `attributes`: CVAT's and datumaro's `occluded`,
/// `keyframe`, `track_id`, Argus's `source`, and the rest as the label's
/// own (booleans, numbers and strings; other values are left out).
struct AttributesIn {
    occluded: bool,
    keyframe: bool,
    track: Option<u32>,
    source: ShapeSource,
    rest: Attributes,
}

impl Default for AttributesIn {
    fn default() -> Self {
        Self { occluded: false, keyframe: true, track: None, source: ShapeSource::Imported, rest: Attributes::new() }
    }
}

/// One attribute value, borrowed where it can be.
enum AttributeIn<'a> {
    Bool(bool),
    Unsigned(u64),
    Number(f64),
    Text(Cow<'a, str>),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for AttributeIn<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = AttributeIn<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an attribute value")
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> std::result::Result<Self::Value, E> {
                Ok(AttributeIn::Bool(b))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> std::result::Result<Self::Value, E> {
                Ok(AttributeIn::Unsigned(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> std::result::Result<Self::Value, E> {
                Ok(AttributeIn::Number(n as f64))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> std::result::Result<Self::Value, E> {
                Ok(AttributeIn::Number(n))
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(AttributeIn::Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<Self::Value, E> {
                Ok(AttributeIn::Text(Cow::Owned(s.to_owned())))
            }
            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(AttributeIn::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(AttributeIn::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AttributeIn::Other)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<'de> Deserialize<'de> for AttributesIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AttributesIn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of attributes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<AttributesIn, A::Error> {
                let mut out = AttributesIn::default();
                // Later entries of a key replace earlier ones, as in a JSON
                // object read into a map.
                let mut seen: Vec<(Cow<'de, str>, AttributeIn<'de>)> = Vec::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value = map.next_value::<AttributeIn<'de>>()?;
                    match seen.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = value,
                        None => seen.push((key, value)),
                    }
                }
                for (key, value) in seen {
                    match (&*key, value) {
                        ("occluded", AttributeIn::Bool(b)) => out.occluded = b,
                        ("keyframe", AttributeIn::Bool(b)) => out.keyframe = b,
                        ("track_id", AttributeIn::Unsigned(n)) => out.track = u32::try_from(n).ok(),
                        ("track_id", AttributeIn::Number(_)) => out.track = None,
                        ("source", AttributeIn::Text(s)) => out.source = source_from(&s).unwrap_or(ShapeSource::Imported),
                        (_, AttributeIn::Bool(b)) => {
                            out.rest.insert(key.into_owned(), AttributeValue::Bool(b));
                        }
                        (_, AttributeIn::Unsigned(n)) => {
                            out.rest.insert(key.into_owned(), AttributeValue::Number(n as f64));
                        }
                        (_, AttributeIn::Number(n)) => {
                            out.rest.insert(key.into_owned(), AttributeValue::Number(n));
                        }
                        (_, AttributeIn::Text(s)) => {
                            out.rest.insert(key.into_owned(), AttributeValue::Text(s.into_owned()));
                        }
                        (_, AttributeIn::Other) => {}
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// Reads a COCO file: the index first, then each usable annotation through
/// `f` (in file order); annotations that cannot be used are in the report
/// with their place and reason. `open` opens the file; it is called a second
/// time only when the annotations come before the images or categories.
///
/// The file is read in large chunks, not whole: each annotation (and each
/// of the small top-level lists) is cut out of the buffer and parsed from
/// that slice, so memory holds one chunk and one annotation, and strings
/// without escapes are borrowed rather than copied.
pub fn read<R: Read>(
    mut open: impl FnMut() -> io::Result<R>,
    progress: &mut dyn Progress,
    mut f: impl FnMut(&CocoIndex, Annotation) -> Result<()>,
) -> Result<(CocoIndex, Report)> {
    let mut state = ReadState { index: CocoIndex::default(), seen: Seen::default(), report: Report::default(), pass: 1, position: 0 };
    let reader = open().map_err(|e| Error::io("opening the COCO file", e))?;
    run_pass(reader, &mut state, progress, &mut f)?;
    if !state.seen.images || !state.seen.categories {
        let missing = if state.seen.images { "categories" } else { "images" };
        return Err(Error::Invalid { format: FORMAT, at: "the top-level object".into(), reason: format!("it has no \"{missing}\" list") });
    }
    if state.seen.deferred {
        state.pass = 2;
        state.position = 0;
        let reader = open().map_err(|e| Error::io("opening the COCO file again", e))?;
        run_pass(reader, &mut state, progress, &mut f)?;
    }
    state.index.resolve_videos();
    state.report.images = state.index.images.len() as u64;
    Ok((state.index, state.report))
}

#[derive(Default)]
struct Seen {
    images: bool,
    categories: bool,
    /// Annotations came before the index was complete: read them in a
    /// second pass.
    deferred: bool,
}

struct ReadState {
    index: CocoIndex,
    seen: Seen,
    report: Report,
    pass: u8,
    position: u64,
}

/// Bytes read at a time, at most (the first read asks for 8 KiB).
const CHUNK: usize = 1 << 18;

/// A JSON text read in chunks. The top-level object's punctuation is read
/// here; its values are parsed by serde_json straight from the buffer
/// (refilled and parsed again when a value does not end in it), except
/// values that are skipped, which are scanned (strings, escapes, nesting)
/// and dropped as they go. Keeps the line and column of where it is, for
/// error messages.
struct Scanner<R> {
    r: R,
    buf: Vec<u8>,
    /// The next byte not consumed, and the end of what was read.
    pos: usize,
    end: usize,
    eof: bool,
    /// Line (from 1) and column (bytes from 0) of `buf[pos]`.
    line: usize,
    col: usize,
    /// The next read's size.
    chunk: usize,
}

/// Where a value ends: how far the scan got, and its state there.
#[derive(Default)]
struct Scan {
    off: usize,
    depth: usize,
    in_str: bool,
    escaped: bool,
}

impl<R: Read> Scanner<R> {
    fn new(r: R) -> Self {
        Self { r, buf: Vec::new(), pos: 0, end: 0, eof: false, line: 1, col: 0, chunk: 8 << 10 }
    }

    /// Reads more; false at the end of the input. Consumed bytes are
    /// dropped first; the buffer grows only when what is kept fills it.
    fn fill(&mut self) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.buf.len() < self.end + self.chunk {
            self.buf.resize(self.end + self.chunk, 0);
        }
        loop {
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    // Small inputs take a small buffer; large ones are read
                    // in chunks that grow to CHUNK.
                    if self.end + n == self.buf.len() {
                        self.chunk = (self.chunk * 2).min(CHUNK);
                    }
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("reading the COCO file", e)),
            }
        }
    }

    /// Consumes `n` bytes, keeping count of lines.
    fn advance(&mut self, n: usize) {
        let bytes = &self.buf[self.pos..self.pos + n];
        // Counting is vectorised; looking for the last one only pays where
        // there is one.
        let lines = newlines(bytes);
        if lines == 0 {
            self.col += n;
        } else {
            self.line += lines;
            self.col = n - 1 - bytes.iter().rposition(|&b| b == b'\n').unwrap_or(0);
        }
        self.pos += n;
    }

    /// The next byte that is not whitespace (not consumed), or `None` at
    /// the end.
    fn peek(&mut self) -> Result<Option<u8>> {
        loop {
            while self.pos < self.end {
                match self.buf[self.pos] {
                    b' ' | b'\t' | b'\r' => {
                        self.pos += 1;
                        self.col += 1;
                    }
                    b'\n' => {
                        self.pos += 1;
                        self.line += 1;
                        self.col = 0;
                    }
                    b => return Ok(Some(b)),
                }
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    fn syntax(&self, reason: impl Into<String>) -> Error {
        Error::Syntax { format: FORMAT, at: format!("line {}, column {}", self.line, self.col + 1), reason: reason.into() }
    }

    /// Consumes `c` (after whitespace), or says what was found instead.
    fn expect(&mut self, c: u8, what: &str) -> Result<()> {
        match self.peek()? {
            Some(b) if b == c => {
                self.advance(1);
                Ok(())
            }
            Some(_) => Err(self.syntax(format!("expected {what}"))),
            None => Err(self.syntax(format!("EOF while expecting {what} (the file is truncated)"))),
        }
    }

    /// Scans the value at `pos` (after whitespace). With `keep`, the whole
    /// value stays in the buffer and its length is returned; without, it is
    /// consumed as it is scanned (for values that are skipped). At the end
    /// of the input, returns what there is, for serde_json to say what is
    /// missing.
    fn scan_value(&mut self, keep: bool) -> Result<usize> {
        if self.peek()?.is_none() {
            return Ok(0);
        }
        let mut s = Scan::default();
        let first = self.buf[self.pos];
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        loop {
            let bytes = &self.buf[self.pos + s.off..self.end];
            let mut done = None;
            for (i, &b) in bytes.iter().enumerate() {
                if s.in_str {
                    if s.escaped {
                        s.escaped = false;
                    } else if b == b'\\' {
                        s.escaped = true;
                    } else if b == b'"' {
                        s.in_str = false;
                        if s.depth == 0 {
                            done = Some(i + 1);
                            break;
                        }
                    }
                } else if scalar {
                    if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n' | b':') {
                        if s.off + i == 0 {
                            return Err(self.syntax("expected a value"));
                        }
                        done = Some(i);
                        break;
                    }
                } else {
                    match b {
                        b'"' => s.in_str = true,
                        b'{' | b'[' => s.depth += 1,
                        b'}' | b']' => {
                            s.depth = s.depth.saturating_sub(1);
                            if s.depth == 0 {
                                done = Some(i + 1);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            if let Some(i) = done {
                return Ok(s.off + i);
            }
            s.off += bytes.len();
            if !keep {
                self.advance(s.off);
                s.off = 0;
            }
            if !self.fill()? {
                return Ok(s.off);
            }
        }
    }

    /// Consumes the value at `pos` unchecked.
    fn skip(&mut self) -> Result<()> {
        let n = self.scan_value(false)?;
        self.advance(n);
        Ok(())
    }

    /// Reads until the buffer holds twice what it holds from `pos` (or the
    /// input ends): for a value that did not end in it.
    fn more(&mut self) -> Result<bool> {
        let want = 2 * (self.end - self.pos).max(self.chunk / 2);
        let mut any = false;
        while self.end - self.pos < want && self.fill()? {
            any = true;
        }
        Ok(any)
    }

    /// Parses the value at `pos` (after whitespace) as `T` and consumes it;
    /// errors are placed in the file. Objects, lists and strings are parsed
    /// straight from the buffer, which is refilled (and the parse retried)
    /// when the value does not end in it; other values are scanned first,
    /// as their end is only known from what follows.
    fn parse<T: DeserializeOwned>(&mut self) -> Result<T> {
        match self.peek()? {
            Some(b'{' | b'[' | b'"') => {}
            _ => {
                let n = self.scan_value(true)?;
                let v = serde_json::from_slice(&self.buf[self.pos..self.pos + n]).map_err(|e| self.json_error(&e));
                self.advance(n);
                return v;
            }
        }
        loop {
            let parsed = {
                let mut values = serde_json::Deserializer::from_slice(&self.buf[self.pos..self.end]).into_iter::<T>();
                values.next().map(|r| r.map(|v| (v, values.byte_offset())))
            };
            match parsed {
                Some(Ok((v, n))) => {
                    self.advance(n);
                    return Ok(v);
                }
                Some(Err(e)) if e.is_eof() && self.more()? => {}
                Some(Err(e)) => return Err(self.json_error(&e)),
                None => return Err(self.syntax("EOF while parsing a value (the file is truncated)")),
            }
        }
    }

    /// A serde_json error in the value at `pos`, placed in the file.
    fn json_error(&self, e: &serde_json::Error) -> Error {
        let (line, column) = if e.line() <= 1 { (self.line, self.col + e.column()) } else { (self.line + e.line() - 1, e.column()) };
        let reason = e.to_string();
        let reason = reason.rsplit_once(" at line ").map_or(reason.as_str(), |(r, _)| r).to_owned();
        let reason = if e.is_eof() { format!("{reason} (the file is truncated)") } else { reason };
        Error::Syntax { format: FORMAT, at: format!("line {line}, column {column}"), reason }
    }

    /// After a list item or an object member: true for another one, false
    /// at the `close` bracket (consumed).
    fn next_item(&mut self, close: u8, what: &str) -> Result<bool> {
        match self.peek()? {
            Some(b',') => {
                self.advance(1);
                Ok(true)
            }
            Some(b) if b == close => {
                self.advance(1);
                Ok(false)
            }
            Some(_) => Err(self.syntax(format!("expected `,` or `{}` in {what}", close as char))),
            None => Err(self.syntax(format!("EOF while parsing {what} (the file is truncated)"))),
        }
    }
}

/// How many `\n` `bytes` holds, eight bytes at a time (files of one long
/// line are the common case, and every byte of them is counted).
fn newlines(bytes: &[u8]) -> usize {
    const LOW: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut words = bytes.chunks_exact(8);
    let mut n = 0usize;
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ 0x0a0a_0a0a_0a0a_0a0a;
        // The high bit of each byte that is zero (i.e. was `\n`), exactly.
        let zero = !(((x & LOW) + LOW) | x | LOW);
        n += zero.count_ones() as usize;
    }
    n + words.remainder().iter().filter(|&&b| b == b'\n').count()
}

fn run_pass<R: Read>(
    reader: R,
    state: &mut ReadState,
    progress: &mut dyn Progress,
    f: &mut dyn FnMut(&CocoIndex, Annotation) -> Result<()>,
) -> Result<()> {
    let mut s = Scanner::new(reader);
    let first = state.pass == 1;
    match s.peek()? {
        Some(b'{') => s.advance(1),
        Some(_) => return Err(s.syntax("a COCO file is one JSON object with images, annotations and categories")),
        None => return Err(s.syntax("EOF while parsing a value (the file is empty or truncated)")),
    }
    let mut more = s.peek()? != Some(b'}');
    if !more {
        s.advance(1);
    }
    while more {
        if s.peek()? != Some(b'"') {
            return Err(s.syntax("expected a key (a string)"));
        }
        let key: String = s.parse()?;
        s.expect(b':', "`:`")?;
        match key.as_str() {
            "categories" if first => {
                let cats: Vec<CategoryIn> = s.parse()?;
                let index = &mut state.index;
                for (i, c) in cats.into_iter().enumerate() {
                    if !index.category_ids.insert(c.id) {
                        state.report.skip(format!("categories[{i}] (id {})", c.id), "the category id appears twice; the first is used");
                        continue;
                    }
                    let colour = c.color.as_deref().and_then(|s| s.parse().ok());
                    index.categories.push(Category { id: c.id, name: c.name, colour, attributes: Vec::new() });
                }
                state.seen.categories = true;
            }
            "images" if first => {
                let images: Vec<ImageIn> = s.parse()?;
                let index = &mut state.index;
                for (i, im) in images.into_iter().enumerate() {
                    if im.width == 0 || im.height == 0 {
                        state.report.skip(format!("images[{i}] (id {})", im.id), format!("size {}x{} is invalid", im.width, im.height));
                        continue;
                    }
                    if index.image_at.contains_key(&im.id) {
                        state.report.skip(format!("images[{i}] (id {})", im.id), "the image id appears twice; the first is used");
                        continue;
                    }
                    let pos = index.images.len();
                    if let (Some(v), Some(frame)) = (im.video_id, im.frame_index) {
                        index.pending_video.push((pos, v, frame));
                    }
                    index.image_at.insert(im.id, pos);
                    index.images.push(Image { id: im.id, file_name: im.file_name, width: im.width, height: im.height, video: None });
                }
                state.seen.images = true;
            }
            "videos" if first => {
                let videos: Vec<VideoIn> = s.parse()?;
                state.index.videos.extend(videos.into_iter().map(|v| (v.id, v.name)));
            }
            "annotations" if (first && state.seen.images && state.seen.categories) || (!first && state.seen.deferred) => {
                state.index.resolve_videos();
                annotations(&mut s, state, progress, f)?;
            }
            "annotations" if first => {
                state.seen.deferred = true;
                s.skip()?;
            }
            _ if first => {
                // Checked, not kept.
                s.parse::<IgnoredAny>()?;
            }
            _ => {
                // Read and checked in the first pass.
                s.skip()?;
            }
        }
        more = s.next_item(b'}', "the top-level object")?;
    }
    if s.peek()?.is_some() {
        return Err(s.syntax("trailing characters after the top-level object"));
    }
    Ok(())
}

/// The `annotations` list, one annotation at a time.
fn annotations<R: Read>(
    s: &mut Scanner<R>,
    state: &mut ReadState,
    progress: &mut dyn Progress,
    f: &mut dyn FnMut(&CocoIndex, Annotation) -> Result<()>,
) -> Result<()> {
    s.expect(b'[', "the list of annotations (`[`)")?;
    if s.peek()? == Some(b']') {
        s.advance(1);
        return Ok(());
    }
    let mut i = 0u64;
    loop {
        // Parsed straight from the buffer (strings without escapes are
        // borrowed from it); when the annotation does not end in it, more
        // is read and the parse retried.
        s.peek()?;
        loop {
            let mut values = serde_json::Deserializer::from_slice(&s.buf[s.pos..s.end]).into_iter::<AnnotationIn<'_>>();
            let a = match values.next() {
                Some(Ok(a)) => a,
                Some(Err(e)) if e.is_eof() && !s.eof => {
                    drop(values);
                    s.more()?;
                    continue;
                }
                Some(Err(e)) => return Err(s.json_error(&e)),
                None if !s.eof => {
                    drop(values);
                    s.more()?;
                    continue;
                }
                None => return Err(s.syntax("EOF while parsing the list of annotations (the file is truncated)")),
            };
            let n = values.byte_offset();
            let id = a.id;
            match convert(&state.index, a) {
                Ok(ann) => {
                    f(&state.index, ann)?;
                    state.report.annotations += 1;
                }
                Err(reason) => state.report.skip(format!("annotations[{i}] (id {id})"), reason),
            }
            s.advance(n);
            break;
        }
        i += 1;
        state.position += 1;
        if state.position.is_multiple_of(1024) && !progress.tick(state.position, 0) {
            return Err(Error::Cancelled);
        }
        if !s.next_item(b']', "the list of annotations")? {
            return Ok(());
        }
    }
}

/// How far outside the image a polygon point may be (pixels): exporters
/// round and some write the far edge as `width`.
const OUTSIDE_TOLERANCE: f64 = 1.0;

/// How far a rectangle's corner may be from its bbox's and still be read as
/// the box (pixels).
const BOX_CORNER_TOLERANCE: f64 = 1e-6;

/// The `bbox` field as a box, when it is 4 numbers that make one.
fn bbox_in(bbox: Option<&[f64]>) -> Option<BBox> {
    let [x, y, w, h] = bbox? else { return None };
    BBox::new(*x, *y, *w, *h).ok()
}

/// The box a polygon segmentation stands for, when it is exactly its bbox's
/// rectangle: one ring of 4 points, each a different corner of the bbox
/// (within [`BOX_CORNER_TOLERANCE`]), every edge axis-aligned (so not a
/// bow-tie), in either direction from any corner. That is how the writer,
/// CVAT and datumaro write a box, so a box comes back as the box it was, with
/// the bbox's exact numbers. A polygon drawn as such a rectangle reads as a
/// box too: it covers the same area.
fn box_of(rings: &[Vec<f64>], bbox: Option<&[f64]>) -> Option<BBox> {
    let [ring] = rings else { return None };
    let b = bbox_in(bbox)?;
    if ring.len() != 8 {
        return None;
    }
    let near = |u: f64, v: f64| (u - v).abs() <= BOX_CORNER_TOLERANCE;
    let (x0, y0, x1, y1) = (b.x, b.y, b.x + b.width, b.y + b.height);
    let mut corners = [false; 4];
    for xy in ring.chunks_exact(2) {
        let (left, top) = match (near(xy[0], x0), near(xy[0], x1), near(xy[1], y0), near(xy[1], y1)) {
            (true, false, true, false) => (true, true),
            (false, true, true, false) => (false, true),
            (false, true, false, true) => (false, false),
            (true, false, false, true) => (true, false),
            _ => return None,
        };
        let corner = usize::from(left) * 2 + usize::from(top);
        if corners[corner] {
            return None;
        }
        corners[corner] = true;
    }
    // Four different corners; consecutive ones must share a side.
    let axis_aligned = (0..4).all(|i| {
        let (p, q) = (&ring[2 * i..2 * i + 2], &ring[(2 * i + 2) % 8..(2 * i + 2) % 8 + 2]);
        near(p[0], q[0]) || near(p[1], q[1])
    });
    axis_aligned.then_some(b)
}

/// One file annotation as a record, or why it cannot be used.
fn convert(index: &CocoIndex, a: AnnotationIn<'_>) -> std::result::Result<Annotation, String> {
    let image = index.image(a.image_id).ok_or_else(|| format!("image {} is not in the images list", a.image_id))?;
    if !index.category_ids.contains(&a.category_id) {
        return Err(format!("category {} is not in the categories list", a.category_id));
    }
    let (w, h) = (image.width, image.height);
    let geometry = match a.segmentation {
        Some(SegmentationIn::Rle { size: [rh, rw], counts }) => {
            if (rw, rh) != (w, h) {
                return Err(format!("the RLE is {rw}x{rh} but image {} is {w}x{h}", a.image_id));
            }
            let rle = match counts {
                CountsIn::Compressed(s) => Rle::from_compressed_string(rh, rw, &s),
                CountsIn::Runs(runs) => Rle::new(rh, rw, runs),
            }
            .map_err(|e| e.to_string())?;
            // A crowd box is written as the RLE of its rectangle.
            match bbox_in(a.bbox.as_deref()) {
                Some(b) if a.iscrowd && Rle::from_bbox(rh, rw, &b).is_ok_and(|r| r == rle) => Geometry::BBox(b),
                _ => Geometry::Mask(rle),
            }
        }
        Some(SegmentationIn::Polygons(rings)) if let Some(b) = box_of(&rings, a.bbox.as_deref()) => Geometry::BBox(b),
        Some(SegmentationIn::Polygons(rings)) if !rings.is_empty() => {
            let mut polygons = Vec::with_capacity(rings.len());
            for ring in &rings {
                if ring.len() < 6 || ring.len() % 2 != 0 {
                    return Err(format!("a polygon has {} coordinates; it needs an even number, at least 6", ring.len()));
                }
                for xy in ring.chunks_exact(2) {
                    let (x, y) = (xy[0], xy[1]);
                    let inside = |v: f64, max: u32| v >= -OUTSIDE_TOLERANCE && v <= f64::from(max) + OUTSIDE_TOLERANCE;
                    if !(inside(x, w) && inside(y, h)) {
                        return Err(format!("polygon point ({x}, {y}) is outside the {w}x{h} image"));
                    }
                }
                polygons.push(Polygon::from_flat(ring).map_err(|e| e.to_string())?);
            }
            if polygons.len() == 1 {
                Geometry::Polygon(polygons.remove(0))
            } else {
                // Several parts are one instance: keep them together, as the
                // mask they draw.
                Geometry::Mask(Rle::from_polygons(h, w, &polygons).map_err(|e| e.to_string())?)
            }
        }
        _ => {
            let b = a.bbox.as_deref().unwrap_or_default();
            let [x, y, bw, bh] = b else {
                return Err("it has neither a segmentation nor a 4-number bbox".into());
            };
            Geometry::BBox(BBox::new(*x, *y, *bw, *bh).map_err(|e| e.to_string())?)
        }
    };
    if let Geometry::Mask(m) = &geometry
        && m.is_empty()
    {
        return Err("the mask is empty".into());
    }
    let AttributesIn { occluded, keyframe, track, source, rest: attributes } = a.attributes;
    Ok(Annotation {
        id: a.id,
        image_id: a.image_id,
        category_id: a.category_id,
        track,
        geometry,
        crowd: a.iscrowd,
        occluded,
        outside: false,
        keyframe,
        source,
        score: a.score.filter(|s| s.is_finite()),
        attributes,
    })
}

fn source_from(s: &str) -> Option<ShapeSource> {
    Some(match s {
        "manual" => ShapeSource::Manual,
        "sam" => ShapeSource::Sam,
        "interpolated" => ShapeSource::Interpolated,
        "propagated" => ShapeSource::Propagated,
        "imported" => ShapeSource::Imported,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use argus_core::model::Colour;

    use super::*;
    use crate::NoProgress;

    fn cats() -> Vec<Category> {
        vec![
            Category { id: 1, name: "car".into(), colour: Some(Colour::rgb(255, 0, 0)), attributes: Vec::new() },
            Category { id: 2, name: "person".into(), colour: None, attributes: Vec::new() },
        ]
    }

    fn image(id: u64, frame: u64) -> Image {
        Image { id, file_name: format!("clip.mp4/{frame:06}.jpg"), width: 40, height: 30, video: Some(VideoFrame { video: "clip.mp4".into(), frame }) }
    }

    fn ann(id: u64, image_id: u64, geometry: Geometry) -> Annotation {
        Annotation {
            id,
            image_id,
            category_id: 1,
            track: Some(3),
            geometry,
            crowd: false,
            occluded: false,
            outside: false,
            keyframe: true,
            source: ShapeSource::Sam,
            score: None,
            attributes: Attributes::new(),
        }
    }

    fn ring_mask() -> Rle {
        let (w, h) = (40usize, 30usize);
        let mut bits = vec![0u8; w * h];
        for y in 5..25 {
            for x in 5..35 {
                let hole = (12..18).contains(&y) && (15..25).contains(&x);
                bits[y * w + x] = u8::from(!hole);
            }
        }
        Rle::from_bitmap_row_major(h as u32, w as u32, &bits).expect("mask")
    }

    fn video() -> Vec<Video> {
        vec![Video { id: 1, name: "clip.mp4".into(), width: 40, height: 30, frame_count: 10 }]
    }

    fn write(anns: &[Annotation], masks: MaskEncoding) -> (Vec<u8>, Report) {
        let mut w = CocoWriter::new(Vec::new(), &Info::default(), &cats(), &video(), masks).expect("header");
        w.add_image(&image(1, 0)).expect("image");
        w.add_image(&image(2, 5)).expect("image");
        for a in anns {
            w.add_annotation(a).expect("annotation");
        }
        w.finish().expect("finish")
    }

    fn read_all(bytes: &[u8]) -> Result<(CocoIndex, Report, Vec<Annotation>)> {
        let mut out = Vec::new();
        let (index, report) = read(|| Ok(bytes), &mut NoProgress, |_, a| {
            out.push(a);
            Ok(())
        })?;
        Ok((index, report, out))
    }

    #[test]
    fn masks_round_trip_pixel_exact_with_their_tracks() {
        let mask = ring_mask();
        let mut crowd = ann(11, 2, Geometry::Mask(mask.clone()));
        crowd.crowd = true;
        crowd.track = None;
        crowd.attributes.insert("make".into(), AttributeValue::Text("vw \"golf\"".into()));
        let b = BBox::new(1.0, 2.0, 3.0, 4.0).expect("box");
        let (bytes, report) = write(&[ann(10, 1, Geometry::Mask(mask.clone())), crowd.clone(), ann(12, 2, Geometry::BBox(b))], MaskEncoding::Rle);
        assert_eq!((report.images, report.annotations), (2, 3));
        assert!(report.changed.is_empty() && report.skipped.is_empty());
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
        let a0 = &json["annotations"][0];
        assert_eq!(a0["segmentation"]["size"], serde_json::json!([30, 40]));
        assert_eq!(a0["area"], serde_json::json!(mask.area() as f64));
        assert_eq!(a0["bbox"], serde_json::json!([5.0, 5.0, 30.0, 20.0]));
        assert_eq!(a0["attributes"]["track_id"], serde_json::json!(3));
        assert_eq!(json["annotations"][1]["iscrowd"], serde_json::json!(1));
        assert_eq!(json["images"][1]["frame_index"], serde_json::json!(5));
        assert_eq!(json["videos"][0]["name"], serde_json::json!("clip.mp4"));
        let (index, report, anns) = read_all(&bytes).expect("read");
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        assert_eq!(index.image(2).and_then(|i| i.video.clone()), Some(VideoFrame { video: "clip.mp4".into(), frame: 5 }));
        assert_eq!(anns.len(), 3);
        assert_eq!(anns[0].geometry, Geometry::Mask(mask.clone()));
        assert_eq!((anns[0].track, anns[0].keyframe, anns[0].source), (Some(3), true, ShapeSource::Sam));
        assert!(anns[1].crowd && anns[1].track.is_none());
        assert_eq!(anns[1].attributes, crowd.attributes);
        assert_eq!(anns[2].geometry, Geometry::BBox(b));
    }

    #[test]
    fn polygons_on_request_report_what_changed() {
        let mask = ring_mask();
        let mut crowd = ann(2, 1, Geometry::Mask(mask.clone()));
        crowd.crowd = true;
        let (bytes, report) = write(&[ann(1, 1, Geometry::Mask(mask.clone())), crowd], MaskEncoding::Polygons { tolerance: 0.0 });
        assert_eq!(report.changed.len(), 1, "{:?}", report.changed);
        assert!(report.changed[0].reason.contains("1 hole(s) filled"), "{}", report.changed[0].reason);
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert!(json["annotations"][0]["segmentation"].is_array());
        assert!(json["annotations"][1]["segmentation"]["counts"].is_string(), "crowd regions stay RLE");
        // A mask without holes is exact at tolerance 0.
        let solid = Rle::from_bbox(30, 40, &BBox::new(3.0, 4.0, 10.0, 8.0).expect("box")).expect("mask");
        let (bytes, report) = write(&[ann(1, 1, Geometry::Mask(solid.clone()))], MaskEncoding::Polygons { tolerance: 0.0 });
        assert!(report.changed.is_empty(), "{:?}", report.changed);
        let (_, _, anns) = read_all(&bytes).expect("read");
        // Its outline is its bbox's rectangle, which reads as a box (as a
        // polygon is what a one-part mask reads as): the same pixels.
        let Geometry::BBox(b) = &anns[0].geometry else { panic!("{:?}", anns[0].geometry) };
        assert_eq!(Rle::from_bbox(30, 40, b).expect("raster"), solid);
        // A mask that is not a rectangle reads as its polygon.
        let mut notched = solid.to_bitmap_row_major();
        notched[4 * 40 + 3] = 0;
        let notched = Rle::from_bitmap_row_major(30, 40, &notched).expect("mask");
        let (bytes, report) = write(&[ann(1, 1, Geometry::Mask(notched.clone()))], MaskEncoding::Polygons { tolerance: 0.0 });
        assert!(report.changed.is_empty(), "{:?}", report.changed);
        let (_, _, anns) = read_all(&bytes).expect("read");
        let Geometry::Polygon(p) = &anns[0].geometry else { panic!("{:?}", anns[0].geometry) };
        assert_eq!(Rle::from_polygon(30, 40, p).expect("raster"), notched);
    }

    #[test]
    fn what_coco_cannot_hold_is_reported_not_dropped_silently() {
        let line = argus_core::geometry::Polyline::new(vec![Point { x: 0.0, y: 0.0 }, Point { x: 5.0, y: 5.0 }]).expect("line");
        let empty = Rle::empty(30, 40).expect("empty");
        let (_, report) = write(&[ann(1, 1, Geometry::Polyline(line)), ann(2, 1, Geometry::Mask(empty))], MaskEncoding::Rle);
        assert_eq!(report.annotations, 0);
        assert_eq!(report.skipped.len(), 2);
        assert!(report.skipped[0].reason.contains("polyline") && report.skipped[1].reason.contains("empty"));
    }

    #[test]
    fn writer_refuses_misuse() {
        let mut w = CocoWriter::new(Vec::new(), &Info::default(), &cats(), &video(), MaskEncoding::Rle).expect("header");
        w.add_image(&image(1, 0)).expect("image");
        assert!(w.add_image(&image(1, 0)).is_err(), "duplicate image id");
        let mut a = ann(1, 9, Geometry::BBox(BBox::new(0.0, 0.0, 1.0, 1.0).expect("box")));
        assert!(w.add_annotation(&a).is_err(), "unknown image");
        a.image_id = 1;
        a.category_id = 7;
        assert!(w.add_annotation(&a).is_err(), "unknown category");
        assert!(w.add_image(&image(2, 0)).is_err(), "images after annotations");
        assert!(CocoWriter::new(Vec::new(), &Info::default(), &cats(), &video(), MaskEncoding::Polygons { tolerance: f64::NAN }).is_err());
    }

    #[test]
    fn files_from_other_tools_read_in_any_order() {
        // pycocotools' own files put categories last; uncompressed counts
        // for crowd regions; a two-part polygon.
        let doc = r#"{"annotations": [
            {"id": 7, "image_id": 1, "category_id": 3, "iscrowd": 1, "segmentation": {"size": [2, 3], "counts": [1, 2, 3]}, "area": 2, "bbox": [0,0,1,2]},
            {"id": 8, "image_id": 1, "category_id": 3, "iscrowd": 0, "segmentation": [[0,0, 1,0, 1,1], [2,0, 3,0, 3,2]], "bbox": [0,0,3,2]}
          ],
          "images": [{"id": 1, "file_name": "a.jpg", "width": 3, "height": 2}],
          "categories": [{"id": 3, "name": "dog", "supercategory": "animal"}]}"#;
        let (index, report, anns) = read_all(doc.as_bytes()).expect("read");
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        assert_eq!(index.categories[0].name, "dog");
        assert_eq!(anns.len(), 2);
        assert_eq!(anns[0].geometry, Geometry::Mask(Rle::new(2, 3, vec![1, 2, 3]).expect("rle")));
        assert!(anns[0].crowd);
        assert!(matches!(anns[1].geometry, Geometry::Mask(_)), "two parts become one mask");
    }

    #[test]
    fn bad_records_are_skipped_with_their_place() {
        let doc = r#"{"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 4}],
          "categories": [{"id": 1, "name": "a"}],
          "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": {"size": [4, 4], "counts": [1, 2]}},
            {"id": 2, "image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1]},
            {"id": 3, "image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1]},
            {"id": 4, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 50, 0, 50, 3]]},
            {"id": 5, "image_id": 1, "category_id": 1, "segmentation": {"size": [4, 4], "counts": "!!"}},
            {"id": 6, "image_id": 1, "category_id": 1, "segmentation": {"size": [8, 8], "counts": [64]}},
            {"id": 7, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 1]]},
            {"id": 8, "image_id": 1, "category_id": 1, "bbox": [0, 0, -1, 1]},
            {"id": 9, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]}
          ]}"#;
        let (_, report, anns) = read_all(doc.as_bytes()).expect("read");
        assert_eq!(anns.len(), 1);
        let reasons: Vec<String> = report.skipped.iter().map(|s| format!("{}: {}", s.at, s.reason)).collect();
        assert_eq!(reasons.len(), 8, "{reasons:#?}");
        assert!(reasons[0].starts_with("annotations[0] (id 1)") && reasons[0].contains("sum to 3"), "{}", reasons[0]);
        assert!(reasons[1].contains("category 9"));
        assert!(reasons[2].contains("image 5"));
        assert!(reasons[3].contains("outside the 4x4 image"));
        assert!(reasons[4].contains("malformed"));
        assert!(reasons[5].contains("8x8"));
        assert!(reasons[6].contains("3 coordinates"));
        assert!(reasons[7].contains("invalid"));
    }

    #[test]
    fn malformed_files_are_errors_with_a_line_and_column() {
        let truncated = br#"{"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 4}], "categories": [{"id": 1, "na"#;
        let e = read_all(truncated).expect_err("truncated");
        let msg = e.to_string();
        assert!(msg.contains("line 1, column") && msg.contains("truncated"), "{msg}");
        let wrong_type = b"{\"images\": [],\n \"categories\": [], \"annotations\": [{\"id\": 1, \"image_id\": \"x\", \"category_id\": 1}]}";
        let msg = read_all(wrong_type).expect_err("type").to_string();
        assert!(msg.contains("line 2"), "{msg}");
        let msg = read_all(b"{\"annotations\": []}").expect_err("no images").to_string();
        assert!(msg.contains("no \"images\""), "{msg}");
        assert!(read_all(b"[1, 2]").is_err());
        assert!(read_all(b"{} trailing").is_err());
    }

    #[test]
    fn the_callback_can_stop_the_read() {
        let (bytes, _) = write(&[ann(1, 1, Geometry::Mask(ring_mask()))], MaskEncoding::Rle);
        let e = read(|| Ok(&bytes[..]), &mut NoProgress, |_, _| Err(Error::Cancelled)).expect_err("stopped");
        assert!(matches!(e, Error::Cancelled));
    }

    /// A reader that gives at most `step` bytes a call, so values end
    /// across every possible chunk boundary.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn read_trickled(bytes: &[u8], step: usize) -> Result<(CocoIndex, Report, Vec<Annotation>)> {
        let mut out = Vec::new();
        let (index, report) = read(|| Ok(Trickle { data: bytes, step }), &mut NoProgress, |_, a| {
            out.push(a);
            Ok(())
        })?;
        Ok((index, report, out))
    }

    #[test]
    fn chunk_boundaries_and_pretty_printing_change_nothing() {
        // Many masks (strings with escapes: '\\' is one of the alphabet's
        // characters), attributes, a crowd region; compact and indented.
        let mut anns = Vec::new();
        for i in 0..40u64 {
            let mut a = ann(i + 1, 1 + i % 2, Geometry::Mask(ring_mask()));
            a.attributes.insert("note".into(), AttributeValue::Text(format!("n\"{i}\\")));
            a.crowd = i % 7 == 0;
            anns.push(a);
        }
        let (compact, _) = write(&anns, MaskEncoding::Rle);
        let value: serde_json::Value = serde_json::from_slice(&compact).expect("json");
        let pretty = serde_json::to_vec_pretty(&value).expect("pretty");
        let (_, _, whole) = read_all(&compact).expect("read");
        assert_eq!(whole.len(), 40);
        for (bytes, what) in [(&compact, "compact"), (&pretty, "pretty")] {
            for step in [1, 7, 300, CHUNK + 3] {
                let (index, report, got) = read_trickled(bytes, step).unwrap_or_else(|e| panic!("{what}, {step}: {e}"));
                assert!(report.skipped.is_empty(), "{what}, {step}: {:?}", report.skipped);
                assert_eq!(index.images.len(), 2);
                assert_eq!(got, whole, "{what}, step {step}");
            }
        }
    }

    #[test]
    fn errors_are_placed_where_they_are_in_the_file() {
        // The bad value is on line 4, after two annotations and a newline
        // inside the list.
        let doc = "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 4, \"height\": 4}],\n\"categories\": [{\"id\": 1, \"name\": \"a\"}],\n\"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 1, 1]},\n  {\"id\": 2, \"image_id\": 1, \"category_id\": true}]}";
        for step in [1, 5, 1 << 20] {
            let msg = read_trickled(doc.as_bytes(), step).expect_err("bad type").to_string();
            assert!(msg.contains("line 4, column 46"), "step {step}: {msg}");
        }
        // Against serde_json's own placing of the same error in the whole text.
        let whole = serde_json::from_str::<serde_json::Value>(&doc.replace("true", "tru")).expect_err("bad literal");
        let msg = read_all(doc.replace("true", "tru").as_bytes()).expect_err("bad literal").to_string();
        assert!(msg.contains(&format!("line {}, column {}", whole.line(), whole.column())), "{msg} vs {whole}");
        for bad in ["{\"images\": [], \"categories\": [],}", "{\"images\" [], \"categories\": []}", "{\"images\": [1,]", "", "   ", "{\"a\": }", "{\"a\": 1 \"b\": 2}"] {
            assert!(read_all(bad.as_bytes()).is_err(), "{bad:?}");
        }
        // Unknown keys of any kind are skipped, checked.
        let ok = r#"{"info": {"a": [1, {"b": "]}"}]}, "year": 2017, "images": [], "categories": [], "x": null, "annotations": [], "z": "}"}"#;
        assert!(read_all(ok.as_bytes()).is_ok());
        assert!(read_all(r#"{"info": {"a": tru}, "images": [], "categories": []}"#.as_bytes()).is_err());
    }

    #[test]
    fn cut_or_damaged_files_are_errors_or_skips_never_panics() {
        let mut anns = vec![ann(1, 1, Geometry::Mask(ring_mask())), ann(2, 2, Geometry::BBox(BBox::new(1.0, 2.0, 3.0, 4.0).expect("box")))];
        anns[1].attributes.insert("note".into(), AttributeValue::Text("a \"b\" \\ c".into()));
        let (bytes, _) = write(&anns, MaskEncoding::Rle);
        for cut in 0..bytes.len() {
            for step in [1, 1 << 20] {
                assert!(read_trickled(&bytes[..cut], step).is_err(), "a file cut at {cut} of {} was read", bytes.len());
            }
        }
        // Every byte replaced by each of the characters that structure JSON.
        for at in 0..bytes.len() {
            for b in *b"{}[]\",:\\0" {
                let mut damaged = bytes.clone();
                damaged[at] = b;
                let _ = read_trickled(&damaged, 7);
            }
        }
    }

    #[test]
    fn annotations_before_the_index_are_read_in_a_second_pass_in_chunks() {
        let mask = ring_mask();
        let counts = mask.to_compressed_string();
        let mut doc = String::from("{\"annotations\": [");
        for i in 0..200 {
            if i > 0 {
                doc.push(',');
            }
            doc.push_str(&format!(
                r#"{{"id": {i}, "image_id": 1, "category_id": 1, "segmentation": {{"size": [30, 40], "counts": {}}}, "attributes": {{"track_id": {i}, "occluded": true}}}}"#,
                serde_json::to_string(&counts).expect("json")
            ));
        }
        doc.push_str(r#"], "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}], "categories": [{"id": 1, "name": "a"}]}"#);
        for step in [3, 64, 1 << 20] {
            let (_, report, anns) = read_trickled(doc.as_bytes(), step).expect("read");
            assert!(report.skipped.is_empty(), "{:?}", report.skipped);
            assert_eq!(anns.len(), 200);
            assert_eq!(anns[7].geometry, Geometry::Mask(mask.clone()));
            assert_eq!((anns[7].track, anns[7].occluded, anns[7].keyframe), (Some(7), true, true));
        }
    }

    use argus_core::model::ShapeKind;

    // Issue #20: a box-only annotation used to be written with
    // `"segmentation": []`, which pycocotools' `annToMask` cannot decode.
    #[test]
    fn a_box_is_written_as_its_rectangle_and_read_back_as_the_box() {
        let b = BBox::new(10.5, 4.25, 20.0, 12.5).expect("box");
        let mut crowd = ann(2, 1, Geometry::BBox(BBox::new(3.0, 2.0, 5.0, 4.0).expect("box")));
        crowd.crowd = true;
        for masks in [MaskEncoding::Rle, MaskEncoding::Polygons { tolerance: 0.0 }] {
            let (bytes, report) = write(&[ann(1, 1, Geometry::BBox(b)), crowd.clone()], masks);
            assert_eq!(report.annotations, 2);
            assert!(report.changed.is_empty() && report.skipped.is_empty(), "{report:?}");
            let json: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
            let a0 = &json["annotations"][0];
            assert_eq!(a0["segmentation"], serde_json::json!([[10.5, 4.25, 30.5, 4.25, 30.5, 16.75, 10.5, 16.75]]), "{masks:?}");
            assert_eq!(a0["bbox"], serde_json::json!([10.5, 4.25, 20.0, 12.5]));
            assert_eq!(a0["area"], serde_json::json!(250.0));
            assert_eq!(a0["iscrowd"], serde_json::json!(0));
            // A crowd region is RLE: the rectangle's pixels.
            let a1 = &json["annotations"][1];
            assert_eq!(a1["iscrowd"], serde_json::json!(1));
            let pixels = Rle::from_bbox(30, 40, &BBox::new(3.0, 2.0, 5.0, 4.0).expect("box")).expect("mask");
            assert_eq!(a1["segmentation"]["counts"], serde_json::json!(pixels.to_compressed_string()), "{masks:?}");
            assert_eq!(a1["area"], serde_json::json!(20.0));
            assert_eq!(a1["bbox"], serde_json::json!([3.0, 2.0, 5.0, 4.0]));
            let (_, report, anns) = read_all(&bytes).expect("read");
            assert!(report.skipped.is_empty(), "{:?}", report.skipped);
            assert_eq!(anns[0].geometry, Geometry::BBox(b), "{masks:?}");
            assert_eq!(anns[1].geometry, crowd.geometry, "{masks:?}");
            assert!(anns[1].crowd);
        }
    }

    #[test]
    fn only_a_segmentation_that_is_its_bbox_rectangle_reads_as_a_box() {
        let doc = r#"{"images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}],
          "categories": [{"id": 1, "name": "a"}],
          "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2,3, 2,9, 12,9, 12,3]], "bbox": [2,3,10,6]},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [[12.0000001,9, 2,9, 2,3, 12,3]], "bbox": [2,3,10,6]},
            {"id": 3, "image_id": 1, "category_id": 1, "segmentation": [[2,3, 12,3, 10,9, 2,9]], "bbox": [2,3,10,6]},
            {"id": 4, "image_id": 1, "category_id": 1, "segmentation": [[2,3, 12,9, 12,3, 2,9]], "bbox": [2,3,10,6]},
            {"id": 5, "image_id": 1, "category_id": 1, "segmentation": [[2,3, 12,3, 12,9, 2,9]], "bbox": [2,3,10,7]},
            {"id": 6, "image_id": 1, "category_id": 1, "segmentation": [[2,3, 12,3, 12,9, 2,9]]},
            {"id": 7, "image_id": 1, "category_id": 1, "segmentation": [[2,3, 12,3, 12,9, 2,9], [20,3, 22,3, 22,5]], "bbox": [2,3,20,6]},
            {"id": 8, "image_id": 1, "category_id": 1, "segmentation": [[7,3, 12,6, 7,9, 2,6]], "bbox": [2,3,10,6]},
            {"id": 9, "image_id": 1, "category_id": 1, "segmentation": [[2,3, 12,3, 12,3, 2,9]], "bbox": [2,3,10,6]},
            {"id": 10, "image_id": 1, "category_id": 1, "iscrowd": 1, "segmentation": {"size": [30, 40], "counts": [62, 2, 28, 2, 1106]}, "bbox": [2,2,2,2]},
            {"id": 11, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": {"size": [30, 40], "counts": [62, 2, 28, 2, 1106]}, "bbox": [2,2,2,2]}
          ]}"#;
        let (_, report, anns) = read_all(doc.as_bytes()).expect("read");
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        let kinds: Vec<ShapeKind> = anns.iter().map(|a| a.geometry.kind()).collect();
        let (bx, poly, mask) = (ShapeKind::BBox, ShapeKind::Polygon, ShapeKind::Mask);
        assert_eq!(
            kinds,
            [
                bx,   // the rectangle, from another corner and the other way round
                bx,   // within 1e-6 of the corners
                poly, // a 4-point polygon that is not a rectangle
                poly, // the 4 corners as a bow-tie
                poly, // a rectangle, but not the bbox's
                poly, // no bbox to compare with
                mask, // two parts
                poly, // a diamond inside the bbox
                poly, // a repeated corner
                bx,   // a crowd RLE that is exactly the bbox's pixels
                mask, // the same pixels, not crowd: a mask stays a mask
            ]
        );
        assert_eq!(anns[0].geometry, Geometry::BBox(BBox::new(2.0, 3.0, 10.0, 6.0).expect("box")));
        assert_eq!(anns[1].geometry, Geometry::BBox(BBox::new(2.0, 3.0, 10.0, 6.0).expect("box")), "the bbox's own numbers");
        assert_eq!(anns[2].geometry, Geometry::Polygon(Polygon::from_flat(&[2.0, 3.0, 12.0, 3.0, 10.0, 9.0, 2.0, 9.0]).expect("polygon")));
    }
}
