//! Pascal VOC, as the VOC devkit lays it out and datumaro (CVAT's VOC
//! export) reads it:
//!
//! ```text
//! Annotations/<stem>.xml              size, one <object> per shape
//! JPEGImages/<stem>.jpg               the frames (the application writes them)
//! SegmentationClass/<stem>.png        class index per pixel (0 background)
//! SegmentationObject/<stem>.png       instance index per pixel (0 background)
//! ImageSets/Main/default.txt          every image's stem
//! ImageSets/Segmentation/default.txt  the stems that have the PNGs
//! labelmap.txt                        datumaro's `label:color_rgb:parts:actions`
//! ```
//!
//! **Boxes.** `bndbox` holds VOC integers in the devkit's convention:
//! 1-based pixel indices, both ends inclusive, so a box over pixel columns
//! `x .. x + w` (edges, 0-based) is `xmin = x + 1`, `xmax = x + w` (edges
//! rounded to whole pixels and clipped to the image). This is what the
//! devkit's evaluation, detectron2 and torchvision's readers expect (they
//! subtract 1 from `xmin`/`ymin`). datumaro, and so CVAT, writes and reads
//! the raw edges instead (`xmin = x`, as floats), so a box from this file
//! reads there one pixel larger on the left and top; that pixel is the price
//! of files every VOC trainer parses (`int(xmin)` fails on datumaro's
//! `10.5`).
//!
//! **Masks.** Every object (mask, polygon or box) is rasterised into both
//! PNGs in the order given, so where objects overlap the later one wins its
//! pixels: pass them back to front. Classes are numbered from 1 in the
//! order of the categories given to [`VocWriter::new`] and coloured with the
//! VOC palette (not the labels' own colours: the palette keeps every index
//! distinct, and `labelmap.txt` says the same colours, so both index readers
//! and datumaro's colour readers agree). Instance `k` is the `k`-th
//! `<object>` of the XML. 255 is VOC's "void" and is never written, so an
//! image holds at most 254 instances in its object PNG (and 254 classes in
//! its class PNG); objects beyond that are in the XML only, listed in
//! [`Report::changed`]. Polylines and points have no area and are skipped.

use std::{
    collections::{HashMap, HashSet},
    fmt,
};

use argus_core::{geometry::BBox, mask::Rle, model::AttributeValue, model::Geometry};

use crate::{Annotation, Category, Error, Image, IndexedImage, Report, Result, Sink, sink::unique_stem};

const FORMAT: &str = "Pascal VOC";

/// The most instances (and classes) an index PNG holds: 1..=254, as 0 is
/// background and 255 void.
const MAX_INDEX: usize = 254;

/// Writes a VOC dataset one image at a time: its XML and PNGs as it is
/// added, the image lists and `labelmap.txt` at [`finish`](Self::finish).
pub struct VocWriter<'a> {
    sink: &'a mut dyn Sink,
    /// Category id -> class index (from 1).
    classes: HashMap<u32, usize>,
    /// Class index - 1 -> the name written.
    names: Vec<String>,
    stems: HashSet<String>,
    /// Image id -> stem.
    placed: HashMap<u64, String>,
    main: Vec<String>,
    segmentation: Vec<String>,
    /// Categories already reported as beyond the class PNG.
    unpainted: HashSet<u32>,
    report: Report,
}

impl fmt::Debug for VocWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VocWriter").field("names", &self.names).field("images", &self.placed.len()).finish_non_exhaustive()
    }
}

impl<'a> VocWriter<'a> {
    /// A writer whose classes are `categories` in this order (class 1 is the
    /// first; 0 is `background`). Names that `labelmap.txt` cannot hold
    /// (`:`, line breaks, `background` itself, duplicates) are changed and
    /// reported.
    pub fn new(sink: &'a mut dyn Sink, categories: &[Category]) -> Result<Self> {
        let mut report = Report::default();
        let mut classes = HashMap::new();
        let mut names: Vec<String> = Vec::new();
        let mut taken: HashSet<String> = HashSet::from(["background".to_owned()]);
        for (i, c) in categories.iter().enumerate() {
            if classes.insert(c.id, i + 1).is_some() {
                return Err(Error::Invalid { format: FORMAT, at: format!("category '{}'", c.name), reason: format!("the category id {} is used twice", c.id) });
            }
            let clean: String = c.name.trim().chars().map(|ch| if ch == ':' || ch.is_control() { '_' } else { ch }).collect();
            let clean = if clean.is_empty() { format!("label_{}", i + 1) } else { clean };
            let mut name = clean.clone();
            let mut n = 2;
            while !taken.insert(name.clone()) {
                name = format!("{clean}_{n}");
                n += 1;
            }
            if name != c.name {
                report.change(format!("label '{}'", c.name), format!("written as '{name}' (labelmap.txt separates fields with ':', and names must be unique and not 'background')"));
            }
            names.push(name);
        }
        Ok(Self {
            sink,
            classes,
            names,
            stems: HashSet::new(),
            placed: HashMap::new(),
            main: Vec::new(),
            segmentation: Vec::new(),
            unpainted: HashSet::new(),
            report,
        })
    }

    /// Writes `Annotations/<stem>.xml` and, when the image has objects, its
    /// two PNGs. The stem is the image's `file_name` flattened
    /// (`clip.mp4/000012.jpg` -> `clip.mp4_000012`), made unique. Shapes that
    /// are `outside` are left out silently.
    pub fn add_image(&mut self, image: &Image, annotations: &[Annotation]) -> Result<()> {
        let place = format!("image {} ({})", image.id, image.file_name);
        if image.width == 0 || image.height == 0 {
            return Err(Error::Invalid { format: FORMAT, at: place, reason: "has no size".into() });
        }
        if u64::from(image.width) * u64::from(image.height) > u64::from(u32::MAX) {
            return Err(Error::Unsupported { format: FORMAT, reason: format!("{place} is {}x{}, too large for a mask", image.width, image.height) });
        }
        if self.placed.contains_key(&image.id) {
            return Err(Error::Invalid { format: FORMAT, at: place, reason: "was added twice".into() });
        }
        let stem = unique_stem(&mut self.stems, &image.file_name, image.id);
        let (w, h) = (image.width, image.height);
        let pixels = w as usize * h as usize;
        let mut class_px: Vec<u8> = Vec::new();
        let mut object_px: Vec<u8> = Vec::new();
        let mut objects = String::new();
        let mut count = 0usize;
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
            let raster = match &ann.geometry {
                Geometry::Polyline(_) | Geometry::Points(_) => {
                    self.report.skip(at, format!("VOC holds boxes and masks; a {} has no area", ann.geometry.kind().name()));
                    continue;
                }
                Geometry::Mask(m) if (m.width(), m.height()) != (w, h) => {
                    self.report.change(&at, format!("the {}x{} mask was resampled to the {w}x{h} image", m.width(), m.height()));
                    m.resample(h, w)
                }
                Geometry::Mask(m) => Ok(m.clone()),
                Geometry::Polygon(p) => Rle::from_polygon(h, w, p),
                Geometry::BBox(b) => Rle::from_bbox(h, w, b),
            };
            let raster = match raster {
                Ok(r) => r,
                Err(e) => {
                    self.report.skip(at, format!("could not be rasterised: {e}"));
                    continue;
                }
            };
            let Some(b) = ann.geometry.bbox().and_then(|b| voc_box(&b, w, h)) else {
                self.report.skip(at, "lies outside the image (or is empty)");
                continue;
            };
            count += 1;
            if class_px.is_empty() {
                class_px = vec![0; pixels];
                object_px = vec![0; pixels];
            }
            if class <= MAX_INDEX {
                paint(&raster, &mut class_px, w, class as u8);
            } else if self.unpainted.insert(ann.category_id) {
                self.report.change(
                    format!("label '{}'", self.names[class - 1]),
                    format!("class {class} is beyond the {MAX_INDEX} a VOC PNG holds; its objects are in Annotations/ but not in the PNGs"),
                );
            }
            if count <= MAX_INDEX {
                paint(&raster, &mut object_px, w, count as u8);
            } else {
                self.report.change(&at, format!("object {count} of its image is beyond the {MAX_INDEX} instances SegmentationObject/ holds; it is in the XML and the class PNG only"));
            }
            objects.push_str(&object_xml(&self.names[class - 1], ann, b, w, h));
            self.report.annotations += 1;
        }
        let segmented = count > 0;
        let xml = format!(
            "<annotation>\n  <folder>JPEGImages</folder>\n  <filename>{}.jpg</filename>\n  <source>\n    <database>Argus</database>\n  </source>\n  <size>\n    <width>{w}</width>\n    <height>{h}</height>\n    <depth>3</depth>\n  </size>\n  <segmented>{}</segmented>\n{objects}</annotation>\n",
            xml_text(&stem),
            u8::from(segmented)
        );
        self.sink.put(&format!("Annotations/{stem}.xml"), xml.as_bytes())?;
        if segmented {
            let palette: Vec<[u8; 3]> = (0..256).map(voc_colour).collect();
            let class_png = IndexedImage { width: w, height: h, pixels: class_px, palette: palette.clone() }.to_png()?;
            self.sink.put(&format!("SegmentationClass/{stem}.png"), &class_png)?;
            let object_png = IndexedImage { width: w, height: h, pixels: object_px, palette }.to_png()?;
            self.sink.put(&format!("SegmentationObject/{stem}.png"), &object_png)?;
            self.segmentation.push(stem.clone());
        }
        self.main.push(stem.clone());
        self.placed.insert(image.id, stem);
        self.report.images += 1;
        Ok(())
    }

    /// Where the application writes the added image as JPEG:
    /// `JPEGImages/<stem>.jpg`.
    pub fn image_path(&self, image: &Image) -> Result<String> {
        self.placed.get(&image.id).map(|s| format!("JPEGImages/{s}.jpg")).ok_or_else(|| Error::Invalid {
            format: FORMAT,
            at: format!("image {} ({})", image.id, image.file_name),
            reason: "has not been added; add it before writing its pixels".into(),
        })
    }

    /// Writes the added image's JPEG bytes at [`image_path`](Self::image_path).
    pub fn put_image(&mut self, image: &Image, jpeg: &[u8]) -> Result<()> {
        let path = self.image_path(image)?;
        self.sink.put(&path, jpeg)
    }

    /// Writes the image lists and `labelmap.txt`.
    pub fn finish(self) -> Result<Report> {
        let list = |stems: &[String]| stems.iter().map(|s| format!("{s}\n")).collect::<String>();
        self.sink.put("ImageSets/Main/default.txt", list(&self.main).as_bytes())?;
        self.sink.put("ImageSets/Segmentation/default.txt", list(&self.segmentation).as_bytes())?;
        let mut map = String::from("# label:color_rgb:parts:actions\nbackground:0,0,0::\n");
        for (i, name) in self.names.iter().enumerate() {
            let [r, g, b] = voc_colour(i as u32 + 1);
            map.push_str(&format!("{name}:{r},{g},{b}::\n"));
        }
        self.sink.put("labelmap.txt", map.as_bytes())?;
        Ok(self.report)
    }
}

/// A box as VOC integers `(xmin, ymin, xmax, ymax)`: edges rounded to whole
/// pixels and clipped to the image, then 1-based inclusive (see the module
/// docs). `None` when nothing of it is inside the image.
fn voc_box(b: &BBox, w: u32, h: u32) -> Option<(u32, u32, u32, u32)> {
    let (wf, hf) = (f64::from(w), f64::from(h));
    let (x0, y0, x1, y1) = (b.x, b.y, b.x + b.width, b.y + b.height);
    if x1 <= 0.0 || y1 <= 0.0 || x0 >= wf || y0 >= hf {
        return None;
    }
    let x0 = x0.round().clamp(0.0, wf - 1.0);
    let y0 = y0.round().clamp(0.0, hf - 1.0);
    let x1 = x1.round().clamp(x0 + 1.0, wf);
    let y1 = y1.round().clamp(y0 + 1.0, hf);
    Some((x0 as u32 + 1, y0 as u32 + 1, x1 as u32, y1 as u32))
}

fn object_xml(name: &str, ann: &Annotation, (xmin, ymin, xmax, ymax): (u32, u32, u32, u32), w: u32, h: u32) -> String {
    let truncated = xmin == 1 || ymin == 1 || xmax == w || ymax == h;
    let mut s = format!(
        "  <object>\n    <name>{}</name>\n    <pose>Unspecified</pose>\n    <truncated>{}</truncated>\n    <occluded>{}</occluded>\n    <difficult>0</difficult>\n    <bndbox>\n      <xmin>{xmin}</xmin>\n      <ymin>{ymin}</ymin>\n      <xmax>{xmax}</xmax>\n      <ymax>{ymax}</ymax>\n    </bndbox>\n",
        xml_text(name),
        u8::from(truncated),
        u8::from(ann.occluded),
    );
    // Other attributes as datumaro writes them (CVAT reads them back).
    let attributes: Vec<(&String, &AttributeValue)> = ann.attributes.iter().filter(|(k, _)| !matches!(k.as_str(), "pose" | "truncated" | "occluded" | "difficult")).collect();
    if !attributes.is_empty() {
        s.push_str("    <attributes>\n");
        for (k, v) in attributes {
            let v = match v {
                AttributeValue::Bool(b) => b.to_string(),
                AttributeValue::Number(n) => n.to_string(),
                AttributeValue::Text(t) => t.clone(),
            };
            s.push_str(&format!("      <attribute>\n        <name>{}</name>\n        <value>{}</value>\n      </attribute>\n", xml_text(k), xml_text(&v)));
        }
        s.push_str("    </attributes>\n");
    }
    s.push_str("  </object>\n");
    s
}

/// Text escaped for XML 1.0; characters it cannot hold become U+FFFD.
fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Sets `value` at every pixel of `mask` in a row-major buffer of width `w`.
fn paint(mask: &Rle, buf: &mut [u8], w: u32, value: u8) {
    let h = u64::from(mask.height());
    if u64::from(mask.width()) * h != buf.len() as u64 || mask.width() != w {
        return;
    }
    let mut pos = 0u64;
    for (i, &run) in mask.counts().iter().enumerate() {
        let end = pos + u64::from(run);
        if i % 2 == 1 {
            for idx in pos..end {
                let (x, y) = (idx / h, idx % h);
                if let Some(p) = buf.get_mut((y * u64::from(w) + x) as usize) {
                    *p = value;
                }
            }
        }
        pos = end;
    }
}

/// The VOC palette colour of index `i` (the devkit's bit-interleaved map:
/// 1 is (128, 0, 0), 255 the void colour (224, 224, 192)).
fn voc_colour(i: u32) -> [u8; 3] {
    let (mut r, mut g, mut b) = (0u32, 0u32, 0u32);
    let mut c = i;
    for j in (0..8).rev() {
        r |= (c & 1) << j;
        g |= ((c >> 1) & 1) << j;
        b |= ((c >> 2) & 1) << j;
        c >>= 3;
    }
    [r as u8, g as u8, b as u8]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemorySink;
    use argus_core::{
        geometry::{Point, Polygon, Polyline},
        model::{Attributes, ShapeSource},
    };

    fn cat(id: u32, name: &str) -> Category {
        Category { id, name: name.into(), colour: None, attributes: Vec::new() }
    }

    fn ann(id: u64, category_id: u32, geometry: Geometry) -> Annotation {
        Annotation {
            id,
            image_id: 1,
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

    fn image(w: u32, h: u32) -> Image {
        Image { id: 1, file_name: "clip.mp4/000003.jpg".into(), width: w, height: h, video: None }
    }

    fn text(sink: &MemorySink, path: &str) -> String {
        String::from_utf8(sink.get(path).unwrap_or_else(|| panic!("{path} was not written"))).expect("utf-8")
    }

    /// Decodes an index PNG to its rows of indices (and checks the palette).
    fn decode(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut dec = png::Decoder::new(std::io::Cursor::new(bytes.to_vec())).read_info().expect("png header");
        assert_eq!(dec.info().color_type, png::ColorType::Indexed);
        let palette = dec.info().palette.as_deref().expect("palette").to_vec();
        assert_eq!(&palette[3..6], &[128, 0, 0]);
        assert_eq!(&palette[255 * 3..], &[224, 224, 192]);
        let (w, h) = (dec.info().width as usize, dec.info().height as usize);
        let mut buf = vec![0; dec.output_buffer_size().expect("size")];
        dec.next_frame(&mut buf).expect("frame");
        buf.chunks(w).take(h).map(<[u8]>::to_vec).collect()
    }

    fn rows(s: &[&str]) -> Vec<Vec<u8>> {
        s.iter().map(|r| r.bytes().map(|b| b - b'0').collect()).collect()
    }

    #[test]
    fn a_small_image_is_written_exactly() {
        let sink = MemorySink::new();
        let mut s = sink.clone();
        let mut w = VocWriter::new(&mut s, &[cat(4, "car"), cat(9, "a<b")]).expect("writer");
        let mask = Rle::from_bitmap_row_major(4, 6, &[0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]).expect("mask");
        let mut attrs = Attributes::new();
        attrs.insert("colour".into(), AttributeValue::Text("red & blue".into()));
        let anns = [
            Annotation { attributes: attrs, ..ann(1, 4, Geometry::BBox(BBox::new(2.0, 1.0, 4.0, 3.0).expect("box"))) },
            Annotation { occluded: true, ..ann(2, 9, Geometry::Mask(mask)) },
            ann(3, 4, Geometry::Polyline(Polyline::new(vec![Point { x: 0.0, y: 0.0 }, Point { x: 1.0, y: 1.0 }]).expect("line"))),
        ];
        let img = image(6, 4);
        w.add_image(&img, &anns).expect("add");
        assert_eq!(w.image_path(&img).expect("path"), "JPEGImages/clip.mp4_000003.jpg");
        w.put_image(&img, b"jpeg").expect("put");
        let report = w.finish().expect("finish");
        assert_eq!(
            text(&sink, "Annotations/clip.mp4_000003.xml"),
            "<annotation>
  <folder>JPEGImages</folder>
  <filename>clip.mp4_000003.jpg</filename>
  <source>
    <database>Argus</database>
  </source>
  <size>
    <width>6</width>
    <height>4</height>
    <depth>3</depth>
  </size>
  <segmented>1</segmented>
  <object>
    <name>car</name>
    <pose>Unspecified</pose>
    <truncated>1</truncated>
    <occluded>0</occluded>
    <difficult>0</difficult>
    <bndbox>
      <xmin>3</xmin>
      <ymin>2</ymin>
      <xmax>6</xmax>
      <ymax>4</ymax>
    </bndbox>
    <attributes>
      <attribute>
        <name>colour</name>
        <value>red &amp; blue</value>
      </attribute>
    </attributes>
  </object>
  <object>
    <name>a&lt;b</name>
    <pose>Unspecified</pose>
    <truncated>0</truncated>
    <occluded>1</occluded>
    <difficult>0</difficult>
    <bndbox>
      <xmin>2</xmin>
      <ymin>2</ymin>
      <xmax>3</xmax>
      <ymax>3</ymax>
    </bndbox>
  </object>
</annotation>
"
        );
        // The mask (class 2, object 2) is drawn over the box (class 1, object 1).
        assert_eq!(decode(&sink.get("SegmentationClass/clip.mp4_000003.png").expect("class png")), rows(&["000000", "022111", "022111", "001111"]));
        assert_eq!(decode(&sink.get("SegmentationObject/clip.mp4_000003.png").expect("object png")), rows(&["000000", "022111", "022111", "001111"]));
        assert_eq!(text(&sink, "ImageSets/Main/default.txt"), "clip.mp4_000003\n");
        assert_eq!(text(&sink, "ImageSets/Segmentation/default.txt"), "clip.mp4_000003\n");
        assert_eq!(text(&sink, "labelmap.txt"), "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncar:128,0,0::\na<b:0,128,0::\n");
        assert_eq!(sink.get("JPEGImages/clip.mp4_000003.jpg").as_deref(), Some(&b"jpeg"[..]));
        assert_eq!((report.images, report.annotations), (1, 2));
        assert_eq!(report.skipped.len(), 1);
        assert!(report.skipped[0].reason.contains("polyline"));
    }

    #[test]
    fn instances_and_classes_are_distinct_indices() {
        let sink = MemorySink::new();
        let mut s = sink.clone();
        let mut w = VocWriter::new(&mut s, &[cat(1, "a"), cat(2, "b")]).expect("writer");
        let tri = Polygon::from_flat(&[0.0, 0.0, 3.5, 0.0, 0.0, 3.5]).expect("polygon");
        let anns = [ann(1, 2, Geometry::Polygon(tri)), ann(2, 2, Geometry::BBox(BBox::new(3.0, 3.0, 1.0, 1.0).expect("box"))), ann(3, 1, Geometry::BBox(BBox::new(0.0, 3.0, 1.0, 1.0).expect("box")))];
        w.add_image(&image(4, 4), &anns).expect("add");
        w.add_image(&Image { id: 2, ..image(4, 4) }, &[]).expect("empty image");
        w.finish().expect("finish");
        assert_eq!(decode(&sink.get("SegmentationClass/clip.mp4_000003.png").expect("png")), rows(&["2220", "2200", "2000", "1002"]));
        assert_eq!(decode(&sink.get("SegmentationObject/clip.mp4_000003.png").expect("png")), rows(&["1110", "1100", "1000", "3002"]));
        // The second image has the same file name: a unique stem, no PNGs, segmented 0.
        assert!(text(&sink, "Annotations/clip.mp4_000003_2.xml").contains("<segmented>0</segmented>\n</annotation>"));
        assert!(sink.get("SegmentationClass/clip.mp4_000003_2.png").is_none());
        assert_eq!(text(&sink, "ImageSets/Main/default.txt"), "clip.mp4_000003\nclip.mp4_000003_2\n");
        assert_eq!(text(&sink, "ImageSets/Segmentation/default.txt"), "clip.mp4_000003\n");
    }

    #[test]
    fn more_than_254_instances_are_reported() {
        let sink = MemorySink::new();
        let mut s = sink.clone();
        let mut w = VocWriter::new(&mut s, &[cat(1, "dot")]).expect("writer");
        let anns: Vec<Annotation> = (0..256u32).map(|i| ann(u64::from(i), 1, Geometry::BBox(BBox::new(f64::from(i % 16), f64::from(i / 16), 1.0, 1.0).expect("box")))).collect();
        w.add_image(&image(16, 16), &anns).expect("add");
        let report = w.finish().expect("finish");
        assert_eq!(report.annotations, 256);
        assert_eq!(report.changed.len(), 2);
        assert!(report.changed[0].at.starts_with("annotation 254 ") && report.changed[0].reason.contains("object 255"));
        let objects = decode(&sink.get("SegmentationObject/clip.mp4_000003.png").expect("png"));
        assert_eq!(objects[15][13], 254);
        assert_eq!((objects[15][14], objects[15][15]), (0, 0), "beyond 254: not drawn, never 255");
        assert_eq!(text(&sink, "Annotations/clip.mp4_000003.xml").matches("<object>").count(), 256);
    }

    #[test]
    fn names_labelmap_cannot_hold_are_changed_and_reported() {
        let sink = MemorySink::new();
        let mut s = sink.clone();
        let w = VocWriter::new(&mut s, &[cat(1, "a:b"), cat(2, "background"), cat(3, "a_b"), cat(4, "")]).expect("writer");
        let report = w.finish().expect("finish");
        assert_eq!(
            text(&sink, "labelmap.txt"),
            "# label:color_rgb:parts:actions\nbackground:0,0,0::\na_b:128,0,0::\nbackground_2:0,128,0::\na_b_2:128,128,0::\nlabel_4:0,0,128::\n"
        );
        assert_eq!(report.changed.len(), 4);
        let mut s2 = MemorySink::new();
        assert!(VocWriter::new(&mut s2, &[cat(1, "a"), cat(1, "b")]).is_err());
    }

    #[test]
    fn boxes_follow_the_devkit_convention_and_bad_input_is_not_a_panic() {
        assert_eq!(voc_box(&BBox::new(0.0, 0.0, 10.0, 5.0).expect("box"), 10, 5), Some((1, 1, 10, 5)));
        assert_eq!(voc_box(&BBox::new(2.4, 3.6, 0.2, 0.2).expect("box"), 10, 10), Some((3, 5, 3, 5)), "at least one pixel");
        assert_eq!(voc_box(&BBox::new(-5.0, -5.0, 100.0, 100.0).expect("box"), 10, 10), Some((1, 1, 10, 10)));
        assert_eq!(voc_box(&BBox::new(10.0, 0.0, 5.0, 5.0).expect("box"), 10, 10), None);
        assert_eq!(voc_colour(0), [0, 0, 0]);
        assert_eq!(voc_colour(15), [192, 128, 128]);

        let mut s = MemorySink::new();
        let mut w = VocWriter::new(&mut s, &[cat(1, "a")]).expect("writer");
        assert!(w.add_image(&image(0, 4), &[]).is_err());
        let odd = [
            ann(1, 1, Geometry::BBox(BBox::new(50.0, 50.0, 1.0, 1.0).expect("box"))),
            ann(2, 7, Geometry::BBox(BBox::new(0.0, 0.0, 1.0, 1.0).expect("box"))),
            Annotation { image_id: 9, ..ann(3, 1, Geometry::BBox(BBox::new(0.0, 0.0, 1.0, 1.0).expect("box"))) },
            ann(4, 1, Geometry::Mask(Rle::from_bitmap_row_major(2, 2, &[1, 0, 0, 1]).expect("mask"))),
            ann(5, 1, Geometry::Points(vec![Point { x: 1.0, y: 1.0 }])),
        ];
        w.add_image(&image(4, 4), &odd).expect("add");
        assert!(w.add_image(&image(4, 4), &[]).is_err(), "twice");
        assert!(w.image_path(&Image { id: 5, ..image(4, 4) }).is_err());
        let report = w.finish().expect("finish");
        assert_eq!(report.skipped.len(), 4, "{:?}", report.skipped);
        assert_eq!(report.changed.len(), 1, "the 2x2 mask is resampled");
        assert_eq!(report.annotations, 1);
    }
}

// ---------------------------------------------------------------------------
// Reading

/// One `Annotations/<stem>.xml`: the image it describes and its objects as
/// boxes (VOC's 1-based inclusive integers back to pixel edges: `x =
/// xmin - 1`, `w = xmax - xmin + 1`).
#[derive(Debug, Clone, PartialEq)]
pub struct VocImage {
    pub file_name: String,
    pub width: u32,
    pub height: u32,
    /// Each object's label name and box annotation (`category_id` 0: the
    /// caller maps names to its labels).
    pub objects: Vec<(String, Annotation)>,
}

/// Reads one VOC annotation file. A file that is not XML, declares entities
/// or lacks its size is an error naming `file`; an object without a name or
/// with a box that is not four whole numbers inside the image is skipped
/// with the reason in `report`.
pub fn read_annotation(xml: &[u8], file: &str, report: &mut Report) -> Result<VocImage> {
    use quick_xml::events::Event;
    let syntax = |at: u64, reason: String| Error::Syntax { format: "Pascal VOC", at: format!("{file}, byte {at}"), reason };
    // Text is kept whole (not trimmed): an entity splits "a &amp; b" into
    // three events, and trimming each would eat the spaces.
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let (mut file_name, mut width, mut height) = (String::new(), None, None);
    let mut objects = Vec::new();
    // The object being read: name, occluded, difficult, box fields.
    let mut object: Option<(String, bool, bool, [Option<String>; 4])> = None;
    // One image a file: a second top-level element or a second <size> would
    // change the size that the boxes read before it were checked against.
    let (mut rooted, mut sized) = (false, false);
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event_into(&mut buf).map_err(|e| syntax(at, e.to_string()))?;
        match event {
            Event::DocType(d) if d.to_ascii_uppercase().contains("<!ENTITY") => {
                return Err(Error::Invalid { format: "Pascal VOC", at: file.into(), reason: "the file declares XML entities, which are refused".into() });
            }
            Event::Start(e) => {
                let name = e.name().as_ref().to_owned();
                let invalid = |reason: &str| Error::Invalid { format: "Pascal VOC", at: format!("{file}, byte {at}"), reason: reason.into() };
                if path.is_empty() {
                    if rooted {
                        return Err(invalid("a second top-level element: a VOC annotation file describes one image, in one <annotation>"));
                    }
                    rooted = true;
                }
                if name == "size" && path.len() == 1 && path[0] == "annotation" {
                    if sized {
                        return Err(invalid("the image's <size> is given twice; keep one"));
                    }
                    sized = true;
                }
                if name == "object" && path.last().is_some_and(|p| p == "annotation") {
                    object = Some((String::new(), false, false, [None, None, None, None]));
                }
                path.push(name);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => match r.resolve_char_ref() {
                Ok(Some(c)) => text.push(c),
                _ => match quick_xml::escape::resolve_predefined_entity(&r) {
                    Some(v) => text.push_str(v),
                    None => return Err(syntax(at, format!("&{}; is not defined: only the predefined XML entities are allowed", &*r))),
                },
            },
            Event::End(_) => {
                let value = std::mem::take(&mut text);
                {
                    let p: Vec<&str> = path.iter().map(String::as_str).collect();
                    match (p.as_slice(), object.as_mut()) {
                        (["annotation", "filename"], _) => file_name = value.trim().to_owned(),
                        (["annotation", "size", "width"], _) => width = value.trim().parse::<u32>().ok().filter(|v| *v > 0),
                        (["annotation", "size", "height"], _) => height = value.trim().parse::<u32>().ok().filter(|v| *v > 0),
                        (["annotation", "object", "name"], Some(o)) => o.0 = value,
                        (["annotation", "object", "occluded"], Some(o)) => o.1 = value.trim() == "1",
                        (["annotation", "object", "difficult"], Some(o)) => o.2 = value.trim() == "1",
                        (["annotation", "object", "bndbox", field], Some(o)) => {
                            let i = match *field {
                                "xmin" => 0,
                                "ymin" => 1,
                                "xmax" => 2,
                                "ymax" => 3,
                                _ => 4,
                            };
                            if let Some(slot) = o.3.get_mut(i) {
                                *slot = Some(value);
                            }
                        }
                        _ => {}
                    }
                }
                if path.pop().as_deref() == Some("object") && path.last().is_some_and(|p| p == "annotation")
                    && let Some(o) = object.take()
                {
                    let at = format!("{file}, object {}", objects.len() + report.skipped.len() + 1);
                    match voc_object(o, width.zip(height)) {
                        Ok(obj) => objects.push(obj),
                        Err(reason) => report.skip(at, reason),
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !path.is_empty() {
        return Err(syntax(xml.len() as u64, format!("the file ends inside <{}>; it is truncated", path.join("><"))));
    }
    let (Some(width), Some(height)) = (width, height) else {
        return Err(Error::Invalid { format: "Pascal VOC", at: file.into(), reason: "no <size> with a width and height".into() });
    };
    for (i, (_, a)) in objects.iter_mut().enumerate() {
        a.id = i as u64 + 1;
    }
    Ok(VocImage { file_name, width, height, objects })
}

/// One `<object>` as a labelled box, or why not.
fn voc_object((name, occluded, difficult, [x0, y0, x1, y1]): (String, bool, bool, [Option<String>; 4]), size: Option<(u32, u32)>) -> std::result::Result<(String, Annotation), String> {
    let Some((w, h)) = size else {
        return Err("the object comes before the image's <size>".into());
    };
    if name.trim().is_empty() {
        return Err("the object has no <name>".into());
    }
    let num = |v: &Option<String>| v.as_deref().and_then(|s| s.trim().parse::<f64>().ok()).filter(|v| v.is_finite());
    let (Some(xmin), Some(ymin), Some(xmax), Some(ymax)) = (num(&x0), num(&y0), num(&x1), num(&y1)) else {
        return Err("its <bndbox> is not four numbers".into());
    };
    if xmin < 1.0 - 1e-9 || ymin < 1.0 - 1e-9 || xmax > f64::from(w) + 1e-9 || ymax > f64::from(h) + 1e-9 || xmax < xmin || ymax < ymin {
        return Err(format!("box ({xmin}, {ymin})-({xmax}, {ymax}) is not inside the {w}x{h} image (VOC counts pixels from 1)"));
    }
    let b = BBox::new(xmin - 1.0, ymin - 1.0, xmax - xmin + 1.0, ymax - ymin + 1.0).map_err(|e| e.to_string())?;
    let mut attributes = argus_core::model::Attributes::new();
    if difficult {
        attributes.insert("difficult".into(), AttributeValue::Bool(true));
    }
    Ok((
        name.trim().to_owned(),
        Annotation {
            id: 0,
            image_id: 0,
            category_id: 0,
            track: None,
            geometry: Geometry::BBox(b),
            crowd: false,
            occluded,
            outside: false,
            keyframe: true,
            source: argus_core::model::ShapeSource::Imported,
            score: None,
            attributes,
        },
    ))
}

/// The label names of `labelmap.txt` (`name:r,g,b:parts:actions` lines,
/// `#` comments; `background` left out), in file order.
pub fn read_labelmap(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(':').next().map(str::trim))
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case("background"))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod read_tests {
    use super::*;
    use crate::MemorySink;

    #[test]
    fn what_the_writer_writes_reads_back() {
        let cats = vec![Category { id: 1, name: "car & co".into(), colour: None, attributes: Vec::new() }];
        let mut sink = MemorySink::new();
        let image = Image { id: 1, file_name: "clip/000003.jpg".into(), width: 40, height: 30, video: None };
        let b = BBox::new(2.0, 3.0, 10.0, 5.0).expect("box");
        let ann = Annotation {
            id: 1,
            image_id: 1,
            category_id: 1,
            track: None,
            geometry: Geometry::BBox(b),
            crowd: false,
            occluded: true,
            outside: false,
            keyframe: true,
            source: argus_core::model::ShapeSource::Manual,
            score: None,
            attributes: Default::default(),
        };
        {
            let mut w = VocWriter::new(&mut sink, &cats).expect("writer");
            w.add_image(&image, &[ann]).expect("image");
            w.finish().expect("finish");
        }
        let files = sink.files();
        let (name, xml) = files.iter().find(|(k, _)| k.starts_with("Annotations/")).expect("an annotation file");
        let mut report = Report::default();
        let img = read_annotation(xml, name, &mut report).expect("read");
        assert_eq!((img.width, img.height), (40, 30));
        assert_eq!(img.objects.len(), 1, "{report:?}");
        assert_eq!(img.objects[0].0, "car & co");
        assert_eq!(img.objects[0].1.geometry, Geometry::BBox(b));
        assert!(img.objects[0].1.occluded);
        let labels = read_labelmap(&String::from_utf8_lossy(&files["labelmap.txt"]));
        assert_eq!(labels, vec!["car & co".to_owned()]);
    }

    #[test]
    fn bad_files_and_objects_are_refused_with_their_place() {
        let mut report = Report::default();
        let ok = b"<annotation><size><width>10</width><height>10</height></size>\
            <object><name>a</name><bndbox><xmin>0</xmin><ymin>1</ymin><xmax>3</xmax><ymax>3</ymax></bndbox></object>\
            <object><name></name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>3</xmax><ymax>3</ymax></bndbox></object>\
            <object><name>a</name><bndbox><xmin>x</xmin><ymin>1</ymin><xmax>3</xmax><ymax>3</ymax></bndbox></object>\
            <object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>10</ymax></bndbox></object></annotation>";
        let img = read_annotation(ok, "a.xml", &mut report).expect("read");
        assert_eq!(img.objects.len(), 1);
        assert_eq!(img.objects[0].1.geometry.bbox(), BBox::new(0.0, 0.0, 10.0, 10.0).ok());
        assert_eq!(report.skipped.len(), 3, "{report:?}");
        assert!(report.skipped[0].reason.contains("not inside") && report.skipped[0].at.starts_with("a.xml, object"));
        let bomb = b"<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"xx\">]><annotation>&x;</annotation>";
        assert!(matches!(read_annotation(bomb, "b.xml", &mut report), Err(Error::Invalid { .. })));
        assert!(matches!(read_annotation(b"<annotation><size>", "c.xml", &mut report), Err(Error::Syntax { .. })));
        assert!(read_annotation(b"<annotation></annotation>", "d.xml", &mut report).is_err(), "no size");
        assert!(read_annotation(b"\xff\xfe", "e.xml", &mut report).is_err());
    }

    /// Found by the voc_xml fuzzer: a second <annotation> (or <size>) after
    /// an object made the file's size smaller than the one its box was
    /// checked against, so the box came back outside the image.
    #[test]
    fn one_image_a_file_so_every_box_is_inside_the_size_returned() {
        let object = "<object><name>car</name><bndbox><xmin>3</xmin><ymin>4</ymin><xmax>12</xmax><ymax>8</ymax></bndbox></object>";
        let first = format!("<annotation><size><width>40</width><height>30</height></size>{object}</annotation>");
        let mut report = Report::default();
        let two_roots = format!("{first}<annotation><size><width>8</width><height>30</height></size></annotation>");
        match read_annotation(two_roots.as_bytes(), "a.xml", &mut report) {
            Err(Error::Invalid { reason, at, .. }) => {
                assert!(reason.contains("one image") && at.starts_with("a.xml, byte"), "{reason} at {at}")
            }
            other => panic!("two <annotation>s: {other:?}"),
        }
        let two_sizes = format!("<annotation><size><width>40</width><height>30</height></size>{object}<size><width>8</width><height>30</height></size></annotation>");
        match read_annotation(two_sizes.as_bytes(), "b.xml", &mut report) {
            Err(Error::Invalid { reason, .. }) => assert!(reason.contains("twice"), "{reason}"),
            other => panic!("two <size>s: {other:?}"),
        }
        let img = read_annotation(first.as_bytes(), "c.xml", &mut report).expect("one image");
        assert_eq!((img.width, img.height, img.objects.len()), (40, 30, 1));
    }
}

/// The instance masks of a `SegmentationObject/<stem>.png`: index `k`
/// (1..=254) is the image's `k`-th `<object>`; 0 is background and 255 the
/// void border, neither an object. Returns `(k, mask)` for each index
/// present, or why the file cannot be used (not a PNG, not 8-bit palette or
/// grey, not `width x height`).
pub fn read_instance_png(bytes: &[u8], width: u32, height: u32) -> std::result::Result<Vec<(u8, Rle)>, String> {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().map_err(|e| format!("not a PNG ({e})"))?;
    let info = reader.info();
    if (info.width, info.height) != (width, height) {
        return Err(format!("the mask is {}x{} but the image is {width}x{height}", info.width, info.height));
    }
    if info.bit_depth != png::BitDepth::Eight || !matches!(info.color_type, png::ColorType::Indexed | png::ColorType::Grayscale) {
        return Err(format!("the mask is {:?} {:?}; VOC masks are 8-bit palette images", info.color_type, info.bit_depth));
    }
    let size = reader.output_buffer_size().ok_or("the mask is too large")?;
    let expected = width as usize * height as usize;
    if size != expected {
        return Err(format!("the mask holds {size} bytes, not {expected}"));
    }
    let mut buf = vec![0u8; size];
    reader.next_frame(&mut buf).map_err(|e| format!("the PNG is damaged ({e})"))?;
    let mut present = [false; 256];
    for &v in &buf {
        present[usize::from(v)] = true;
    }
    let mut out = Vec::new();
    for k in 1u8..=254 {
        if !present[usize::from(k)] {
            continue;
        }
        let bits: Vec<u8> = buf.iter().map(|&v| u8::from(v == k)).collect();
        let mask = Rle::from_bitmap_row_major(height, width, &bits).map_err(|e| e.to_string())?;
        out.push((k, mask));
    }
    Ok(out)
}

#[cfg(test)]
mod instance_tests {
    use super::*;

    #[test]
    fn instance_pngs_give_one_mask_per_index() {
        let img = IndexedImage { width: 4, height: 3, pixels: vec![0, 1, 1, 0, 0, 2, 255, 0, 2, 2, 0, 0], palette: vec![[0, 0, 0]; 256] };
        let png = img.to_png().expect("png");
        let masks = read_instance_png(&png, 4, 3).expect("read");
        assert_eq!(masks.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![1, 2], "background and void are not objects");
        assert_eq!(masks[0].1.area(), 2);
        assert_eq!(masks[1].1.area(), 3);
        assert!(masks[1].1.get(1, 1) && masks[1].1.get(0, 2));
        assert!(read_instance_png(&png, 5, 3).is_err_and(|e| e.contains("4x3")));
        assert!(read_instance_png(b"not a png", 4, 3).is_err());
        assert!(read_instance_png(&png[..png.len() / 2], 4, 3).is_err());
    }
}
