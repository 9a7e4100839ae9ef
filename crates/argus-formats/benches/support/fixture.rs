//! The fixture of the `formats` benchmarks, shared by
//! `crates/argus-formats/benches/formats.rs` and
//! `crates/argus-workspace/benches/formats_import.rs` (included with
//! `#[path]`): 100,000 1080p instance masks, 1,000 frames of 100 tracked
//! objects, generated deterministically as COCO RLE runs (never as bitmaps).
//!
//! Each object is what SAM gives for a person, a car or a bag: a body
//! (an ellipse), for some a smaller part on top (a head, a cabin), for some
//! one or two holes (a gap between an arm and the body, a window), with a
//! boundary that wobbles by a few pixels along the outline and steps by a
//! pixel here and there, as upscaled low-resolution logits do. Objects move
//! and breathe from frame to frame and overlap each other (instance masks
//! do), so consecutive frames' strings differ as a track's do.
//!
//! Both sides of a benchmark read the same masks: [`write_runs`] writes
//! them (with `spec.json`) to a folder the Python anchor reads.

#![allow(dead_code)] // each bench uses its part

use std::{
    fs,
    io::{self, BufWriter, Write},
    path::Path,
};

use argus_core::{
    mask::Rle,
    model::{Attributes, Geometry, ShapeSource},
};
use argus_formats::{
    Annotation, Category, Image, VideoFrame,
    coco::{CocoWriter, Info, MaskEncoding, Video},
};

pub const H: u32 = 1080;
pub const W: u32 = 1920;
pub const FRAMES: u32 = 1000;
pub const OBJECTS: u32 = 100;
pub const MASKS: usize = (FRAMES * OBJECTS) as usize;
pub const VIDEO: &str = "bench.mp4";
pub const CATEGORIES: [&str; 5] = ["person", "car", "bicycle", "dog", "bag"];

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.unit()
    }
}

fn hash(a: u64, b: u64, c: u64) -> u64 {
    Rng(a.wrapping_mul(0x1000_0000_01B3) ^ b.wrapping_mul(0x9E37_79B9) ^ c.rotate_left(17)).next()
}

/// An ellipse relative to its object's centre; `set` paints, else clears.
#[derive(Debug, Clone, Copy)]
struct Part {
    dx: f64,
    dy: f64,
    rx: f64,
    ry: f64,
    set: bool,
}

#[derive(Debug, Clone)]
pub struct Object {
    seed: u64,
    x0: f64,
    y0: f64,
    vx: f64,
    vy: f64,
    /// Half the extent of all parts, for keeping the object in the frame.
    half: (f64, f64),
    parts: Vec<Part>,
    amp: f64,
    freq: f64,
    phase: f64,
    pub category: u32,
    pub score: f32,
}

/// The 100 objects of the scene.
pub fn objects() -> Vec<Object> {
    (0..OBJECTS)
        .map(|k| {
            let mut r = Rng(0xA5A5_0000 + u64::from(k));
            // Sizes spread like a street scene: many small, a few large.
            let rx = 14.0 + 110.0 * r.unit().powi(2);
            let ry = (rx * r.range(0.6, 2.2)).min(240.0);
            let mut parts = vec![Part { dx: 0.0, dy: 0.0, rx, ry, set: true }];
            if r.unit() < 0.4 {
                parts.push(Part { dx: r.range(-0.2, 0.2) * rx, dy: -ry * 0.95, rx: rx * 0.45, ry: ry * 0.3, set: true });
            }
            let holes = (r.next() % 3) as usize;
            for _ in 0..holes {
                parts.push(Part {
                    dx: r.range(-0.4, 0.4) * rx,
                    dy: r.range(-0.4, 0.4) * ry,
                    rx: rx * r.range(0.1, 0.3),
                    ry: ry * r.range(0.1, 0.3),
                    set: false,
                });
            }
            let half_x = parts.iter().filter(|p| p.set).map(|p| p.dx.abs() + p.rx).fold(0.0, f64::max) * 1.15 + 4.0;
            let half_y = parts.iter().filter(|p| p.set).map(|p| p.dy.abs() + p.ry).fold(0.0, f64::max) * 1.15 + 4.0;
            Object {
                seed: u64::from(k),
                x0: r.range(0.0, 1.0),
                y0: r.range(0.0, 1.0),
                vx: r.range(-2.0, 2.0),
                vy: r.range(-1.2, 1.2),
                half: (half_x, half_y),
                parts,
                amp: r.range(0.5, 3.0),
                freq: r.range(0.05, 0.4),
                phase: r.range(0.0, std::f64::consts::TAU),
                category: 1 + k % CATEGORIES.len() as u32,
                // Exactly representable, so both sides print the same digits.
                score: 0.75 + (k % 16) as f32 / 64.0,
            }
        })
        .collect()
}

/// `t` bouncing between `lo` and `hi` (a triangle wave), `start` in 0..1.
fn bounce(start: f64, t: f64, lo: f64, hi: f64) -> f64 {
    let span = (hi - lo).max(1.0);
    let p = (start * span + t).rem_euclid(2.0 * span);
    lo + if p < span { p } else { 2.0 * span - p }
}

/// Column-major set rows `[y0, y1)` of one ellipse at column centre `fx`.
fn rows(cx: f64, cy: f64, rx: f64, ry: f64, fx: f64, top: f64, bottom: f64) -> Option<(u32, u32)> {
    let t = (fx - cx) / rx;
    if t.abs() >= 1.0 {
        return None;
    }
    let half = ry * (1.0 - t * t).sqrt();
    let y0 = (cy - half + top - 0.5).ceil().max(0.0);
    let y1 = ((cy + half + bottom - 0.5).floor() + 1.0).min(f64::from(H));
    (y1 > y0).then_some((y0 as u32, y1 as u32))
}

/// The mask of object `o` on `frame`, built from per-column intervals.
pub fn mask(o: &Object, frame: u32) -> Rle {
    let f = f64::from(frame);
    let breathe = 1.0 + 0.06 * (f * 0.05 + o.phase).sin();
    let cx = bounce(o.x0, o.vx * f, o.half.0, f64::from(W) - o.half.0);
    let cy = bounce(o.y0, o.vy * f, o.half.1, f64::from(H) - o.half.1);
    let parts: Vec<Part> = o.parts.iter().map(|p| Part { dx: p.dx * breathe, dy: p.dy * breathe, rx: p.rx * breathe, ry: p.ry * breathe, ..*p }).collect();
    let xs = parts.iter().filter(|p| p.set).map(|p| cx + p.dx - p.rx).fold(f64::MAX, f64::min).floor().max(0.0) as u32;
    let xe = (parts.iter().filter(|p| p.set).map(|p| cx + p.dx + p.rx).fold(0.0, f64::max).ceil() as u32).min(W);
    let h = u64::from(H);
    let mut runs: Vec<u32> = Vec::new();
    let mut pos = 0u64;
    let mut set: Vec<(u32, u32)> = Vec::with_capacity(4);
    for x in xs..xe {
        let fx = f64::from(x) + 0.5;
        // The outline wobbles smoothly and steps by a pixel now and then.
        let wob = o.amp * (fx * o.freq + o.phase + f * 0.07).sin();
        let j = hash(o.seed, u64::from(x), u64::from(frame));
        let step = |bits: u64| -> f64 {
            match bits % 8 {
                0 => -1.0,
                1 => 1.0,
                _ => 0.0,
            }
        };
        let (top, bottom) = (-wob + step(j), wob * 0.7 + step(j >> 8));
        set.clear();
        for p in parts.iter().filter(|p| p.set) {
            if let Some(r) = rows(cx + p.dx, cy + p.dy, p.rx, p.ry, fx, top, bottom) {
                set.push(r);
            }
        }
        set.sort_unstable();
        // Union (touching intervals merge).
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(set.len() + 2);
        for &(a, b) in &set {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        // Holes.
        for p in parts.iter().filter(|p| !p.set) {
            let Some((ha, hb)) = rows(cx + p.dx, cy + p.dy, p.rx, p.ry, fx, 0.0, 0.0) else { continue };
            let mut out = Vec::with_capacity(merged.len() + 1);
            for &(a, b) in &merged {
                if hb <= a || ha >= b {
                    out.push((a, b));
                    continue;
                }
                if a < ha {
                    out.push((a, ha));
                }
                if hb < b {
                    out.push((hb, b));
                }
            }
            merged = out;
        }
        for (a, b) in merged {
            let start = u64::from(x) * h + u64::from(a);
            let end = u64::from(x) * h + u64::from(b);
            if start == pos && !runs.is_empty() {
                *runs.last_mut().expect("a run") += (end - start) as u32;
            } else {
                runs.push((start - pos) as u32);
                runs.push((end - start) as u32);
            }
            pos = end;
        }
    }
    let total = h * u64::from(W);
    if pos < total {
        runs.push((total - pos) as u32);
    }
    Rle::new(H, W, runs).expect("runs cover the frame")
}

/// All masks, frame by frame, object by object: `(frame, object, mask)`.
pub fn masks() -> Vec<(u32, u32, Rle)> {
    let objects = objects();
    let mut out = Vec::with_capacity(MASKS);
    for frame in 0..FRAMES {
        for (k, o) in objects.iter().enumerate() {
            out.push((frame, k as u32, mask(o, frame)));
        }
    }
    out
}

/// All masks as the annotations an export writes, in the same order.
pub fn annotations() -> Vec<Annotation> {
    let objects = objects();
    masks().into_iter().enumerate().map(|(i, (frame, k, rle))| {
        let o = &objects[k as usize];
        annotation(i, frame, k, o.category, o.score, rle)
    }).collect()
}

pub fn categories() -> Vec<Category> {
    CATEGORIES.iter().enumerate().map(|(i, n)| Category { id: i as u32 + 1, name: (*n).to_owned(), colour: None, attributes: Vec::new() }).collect()
}

pub fn info() -> Info {
    Info { description: "Argus formats benchmark".into(), version: "1".into(), contributor: "argus".into(), date_created: "2026-12-07".into() }
}

pub fn videos() -> Vec<Video> {
    vec![Video { id: 1, name: VIDEO.into(), width: W, height: H, frame_count: u64::from(FRAMES) }]
}

pub fn images() -> Vec<Image> {
    (0..FRAMES)
        .map(|f| Image {
            id: u64::from(f) + 1,
            file_name: format!("{VIDEO}/{f:06}.jpg"),
            width: W,
            height: H,
            video: Some(VideoFrame { video: VIDEO.into(), frame: u64::from(f) }),
        })
        .collect()
}

/// The annotation of the `i`-th mask, as an export builds it.
pub fn annotation(i: usize, frame: u32, object: u32, category: u32, score: f32, rle: Rle) -> Annotation {
    Annotation {
        id: i as u64 + 1,
        image_id: u64::from(frame) + 1,
        category_id: category,
        track: Some(object + 1),
        geometry: Geometry::Mask(rle),
        crowd: false,
        occluded: false,
        outside: false,
        keyframe: true,
        source: ShapeSource::Sam,
        score: Some(score),
        attributes: Attributes::new(),
    }
}

/// Writes `masks.bin` (little-endian u32 words: the mask count, then per
/// mask frame, object, category, score as f32 bits, run count, runs) and
/// `spec.json` (sizes, names, ids) into `dir`.
pub fn write_runs(dir: &Path, masks: &[(u32, u32, Rle)]) -> io::Result<()> {
    let objects = objects();
    let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(dir.join("masks.bin"))?);
    out.write_all(&(masks.len() as u32).to_le_bytes())?;
    for (frame, object, rle) in masks {
        let o = &objects[*object as usize];
        for w in [*frame, *object, o.category, o.score.to_bits(), rle.counts().len() as u32] {
            out.write_all(&w.to_le_bytes())?;
        }
        for c in rle.counts() {
            out.write_all(&c.to_le_bytes())?;
        }
    }
    out.flush()?;
    let info = info();
    let spec = serde_json::json!({
        "height": H, "width": W, "frames": FRAMES, "video": VIDEO,
        "categories": CATEGORIES,
        "info": {"description": info.description, "version": info.version, "contributor": info.contributor, "date_created": info.date_created},
    });
    fs::write(dir.join("spec.json"), spec.to_string())
}

/// Reads `masks.bin` back as the annotations an export writes (a word at a
/// time: the process's peak memory is what it holds, not the file twice).
pub fn read_annotations(dir: &Path) -> io::Result<Vec<Annotation>> {
    let mut input = io::BufReader::with_capacity(1 << 16, fs::File::open(dir.join("masks.bin"))?);
    let mut word = || -> io::Result<u32> {
        let mut b = [0u8; 4];
        io::Read::read_exact(&mut input, &mut b)?;
        Ok(u32::from_le_bytes(b))
    };
    let n = word()? as usize;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let [frame, object, category, score, len] = [word()?, word()?, word()?, word()?, word()?];
        let runs = (0..len).map(|_| word()).collect::<io::Result<Vec<u32>>>()?;
        let rle = Rle::new(H, W, runs).map_err(|e| io::Error::other(e.to_string()))?;
        out.push(annotation(i, frame, object, category, f32::from_bits(score), rle));
    }
    Ok(out)
}

/// Writes the COCO file of `annotations` with Argus's writer (the export's
/// work: images, then annotations, then the end).
pub fn write_coco<W: Write>(out: W, annotations: &[Annotation]) -> Result<W, argus_formats::Error> {
    let mut w = CocoWriter::new(out, &info(), &categories(), &videos(), MaskEncoding::Rle)?;
    for image in images() {
        w.add_image(&image)?;
    }
    for a in annotations {
        w.add_annotation(a)?;
    }
    let (out, report) = w.finish()?;
    assert_eq!(report.annotations as usize, annotations.len(), "every mask is written: {:?}", report.skipped.first());
    Ok(out)
}

/// Peak resident memory of this process so far (`VmHWM`), in MiB.
pub fn peak_mib() -> f64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())))
        .flatten()
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// What one phase (a child process: the bench again with `--phase`, or the
/// Python anchor) reported on stdout.
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    pub seconds: f64,
    pub peak_mib: f64,
    pub annotations: u64,
    /// For a phase that stores: seconds until the database file itself
    /// holds what was written (the WAL checkpointed), where it says.
    pub settled: Option<f64>,
}

fn parse_phase(out: &str) -> Option<Phase> {
    let get = |k: &str| out.lines().find_map(|l| l.strip_prefix(k).and_then(|v| v.trim().parse::<f64>().ok()));
    Some(Phase { seconds: get("seconds ")?, peak_mib: get("peak_mib ")?, annotations: get("annotations ")? as u64, settled: get("settled_seconds ") })
}

/// Runs one phase and reads its figures.
pub fn run(cmd: &mut std::process::Command, what: &str) -> Result<Phase, String> {
    let out = cmd.output().map_err(|e| format!("{what}: could not start: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what}: failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    parse_phase(&text).ok_or_else(|| format!("{what}: no figures in its output: {text}"))
}
