//! The store's codec: shape records and mask runs as SQLite holds them (a
//! damaged database, a backup from elsewhere, a newer Argus).
//!
//! Input bytes: a mode byte, then
//! - 0: bytes for `decode_counts`;
//! - 1: a height and a width (`u32`), then bytes for `decode_mask`;
//! - 2: bytes for `decode_shape`;
//! - 3: a shape made from the bytes (ids, flags, times, attributes and a
//!   mask, polygon, box or points), for `encode_shape`.

use argus_core::geometry::{BBox, Point, Polygon};
use argus_core::id::{ShapeId, TrackId, UserId};
use argus_core::mask::Rle;
use argus_core::model::{AttributeValue, Attributes, Geometry, Shape, ShapeSource, Timestamp};
use argus_store::codec::{decode_counts, decode_mask, decode_shape, encode_counts, encode_shape};
use uuid::Uuid;

use crate::alloc::bounded;
use crate::bytes::{Reader, Writer};

const COUNTS: u8 = 0;
const MASK: u8 = 1;
const SHAPE: u8 = 2;
const MADE: u8 = 3;

/// The fuzz body.
pub fn store_codec(data: &[u8]) {
    let mut r = Reader::new(data);
    match r.u8() % 4 {
        COUNTS => counts(r.rest()),
        MASK => {
            let (h, w) = (r.u32(), r.u32());
            mask(h, w, r.rest());
        }
        SHAPE => shape_record(r.rest()),
        _ => made_shape(&mut r),
    }
}

fn counts(bytes: &[u8]) {
    let Ok(c) = bounded("decode_counts", bytes.len(), || decode_counts(bytes)) else {
        return;
    };
    let canonical = encode_counts(&c);
    assert!(canonical.len() <= bytes.len(), "the encoder writes no more than it accepts");
    assert_eq!(decode_counts(&canonical).ok().as_ref(), Some(&c), "counts round trip");
}

fn mask(h: u32, w: u32, bytes: &[u8]) {
    let Ok(m) = bounded("decode_mask", bytes.len(), || decode_mask(h, w, bytes)) else {
        return;
    };
    assert_eq!((m.height(), m.width()), (h, w));
    let again = decode_mask(h, w, &encode_counts(m.counts()));
    assert_eq!(again.ok().as_ref(), Some(&m), "mask round trip");
}

/// Two shapes are the same record (a NaN score equals itself).
fn same(a: &Shape, b: &Shape) -> bool {
    let bits = |s: &Shape| s.score.map(f32::to_bits);
    bits(a) == bits(b) && Shape { score: None, ..a.clone() } == Shape { score: None, ..b.clone() }
}

fn round_trip(s: &Shape) {
    let bytes = match encode_shape(s) {
        Ok(b) => b,
        Err(e) => panic!("a valid shape does not encode: {e}"),
    };
    match decode_shape(&bytes) {
        Ok(back) => assert!(same(&back, s), "shape round trip:\n{s:?}\n{back:?}"),
        Err(e) => panic!("an encoded shape does not decode: {e}\n{s:?}"),
    }
}

fn shape_record(bytes: &[u8]) {
    let Ok(s) = bounded("decode_shape", bytes.len(), || decode_shape(bytes)) else {
        return;
    };
    round_trip(&s);
}

fn uuid(r: &mut Reader<'_>) -> Uuid {
    Uuid::from_bytes(r.array())
}

/// A finite `f64`: raw bits when finite, else a small number from them.
fn finite(r: &mut Reader<'_>) -> f64 {
    let v = f64::from_bits(r.u64());
    if v.is_finite() { v } else { f64::from(v.to_bits() as u16) }
}

fn made_shape(r: &mut Reader<'_>) {
    let id = ShapeId::from_uuid(uuid(r));
    let track_id = TrackId::from_uuid(uuid(r));
    let frame = r.u64();
    let flags = r.u8();
    let source = [
        ShapeSource::Manual,
        ShapeSource::Sam,
        ShapeSource::Interpolated,
        ShapeSource::Propagated,
        ShapeSource::Imported,
    ][usize::from(r.u8() % 5)];
    let score = (flags & 8 != 0).then(|| f32::from_bits(r.u32()));
    let author = (flags & 16 != 0).then(|| UserId::from_uuid(uuid(r)));
    let (created_at, updated_at) = (Timestamp(r.i64()), Timestamp(r.i64()));
    let mut attributes = Attributes::new();
    for _ in 0..r.u8() % 4 {
        let name = r.string();
        let value = match r.u8() % 3 {
            0 => AttributeValue::Bool(r.u8() & 1 != 0),
            1 => AttributeValue::Number(finite(r)),
            _ => AttributeValue::Text(r.string()),
        };
        attributes.insert(name, value);
    }
    let geometry = match r.u8() % 4 {
        0 => {
            // runs from the bytes; the mask is as tall as the byte says
            let runs: Vec<u32> = (0..r.u8() % 64).map(|_| u32::from(r.u16())).collect();
            let total: u64 = runs.iter().map(|&c| u64::from(c)).sum();
            let h = u64::from(r.u8()).max(1);
            let h = if total.is_multiple_of(h) { h } else { 1 };
            let (Ok(h), Ok(w)) = (u32::try_from(h), u32::try_from(total / h)) else {
                return;
            };
            let Ok(m) = Rle::new(h, w, runs) else {
                return;
            };
            Geometry::Mask(m)
        }
        1 => {
            let points: Vec<Point> = (0..r.u8() % 16).filter_map(|_| Point::new(finite(r), finite(r)).ok()).collect();
            let Ok(p) = Polygon::new(points, Vec::new()) else {
                return;
            };
            Geometry::Polygon(p)
        }
        2 => {
            let Ok(b) = BBox::new(finite(r), finite(r), finite(r), finite(r)) else {
                return;
            };
            Geometry::BBox(b)
        }
        _ => Geometry::Points((0..r.u8() % 16).filter_map(|_| Point::new(finite(r), finite(r)).ok()).collect()),
    };
    let shape = Shape {
        id,
        track_id,
        frame,
        geometry,
        keyframe: flags & 1 != 0,
        source,
        occluded: flags & 2 != 0,
        outside: flags & 4 != 0,
        attributes,
        score,
        author,
        created_at,
        updated_at,
    };
    round_trip(&shape);
}

fn record(mode: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![mode];
    v.extend_from_slice(body);
    v
}

/// A shape for the seeds.
pub fn sample_shape(geometry: Geometry) -> Shape {
    let mut attributes = Attributes::new();
    attributes.insert("colour".into(), AttributeValue::Text("red".into()));
    attributes.insert("weight".into(), AttributeValue::Number(0.1));
    Shape {
        id: ShapeId::from_uuid(Uuid::from_u128(1)),
        track_id: TrackId::from_uuid(Uuid::from_u128(2)),
        frame: 1234,
        geometry,
        keyframe: true,
        source: ShapeSource::Sam,
        occluded: false,
        outside: false,
        attributes,
        score: Some(0.93),
        author: Some(UserId::from_uuid(Uuid::from_u128(3))),
        created_at: Timestamp(1_700_000_000_000),
        updated_at: Timestamp(1_700_000_000_500),
    }
}

/// Seed inputs: records and runs the store writes, hostile sizes and counts,
/// and made shapes of every geometry.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>| out.push((name.to_owned(), bytes));
    let runs = [3u32, 7, 10, 2, 8, 30];
    add("counts", record(COUNTS, &encode_counts(&runs)));
    add("counts-empty", record(COUNTS, &encode_counts(&[])));
    add("counts-extremes", record(COUNTS, &encode_counts(&[0, u32::MAX, 0, u32::MAX, 1])));
    // a run count of 2^62 in a few bytes
    add("counts-huge-count", record(COUNTS, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x80]));
    let mut m = Writer::default();
    m.u8(MASK).u32(6).u32(10).bytes(&encode_counts(&runs));
    add("mask", m.out);
    // a 65536 x 65535 mask (4 G pixels) in one run: valid, and must cost nothing
    let mut m = Writer::default();
    m.u8(MASK).u32(65_536).u32(65_535).bytes(&encode_counts(&[u32::MAX - 65_535]));
    add("mask-4g-pixels", m.out);
    let mut m = Writer::default();
    m.u8(MASK).u32(u32::MAX).u32(u32::MAX).bytes(&encode_counts(&[u32::MAX, u32::MAX]));
    add("mask-too-large", m.out);
    let mask = Rle::new(6, 10, runs.to_vec()).expect("valid mask");
    let polygon = Polygon::new(
        vec![Point::new(1.0, 2.0).expect("p"), Point::new(10.5, 2.0).expect("p"), Point::new(4.0, 9.25).expect("p")],
        Vec::new(),
    )
    .expect("valid polygon");
    for (name, g) in [
        ("shape-mask", Geometry::Mask(mask)),
        ("shape-polygon", Geometry::Polygon(polygon)),
        ("shape-bbox", Geometry::BBox(BBox::new(1.0, 2.0, 30.0, 40.0).expect("bbox"))),
        ("shape-points", Geometry::Points(vec![Point::new(3.0, 4.0).expect("p")])),
    ] {
        add(name, record(SHAPE, &encode_shape(&sample_shape(g)).expect("encodes")));
    }
    let mut bare = sample_shape(Geometry::Points(Vec::new()));
    bare.attributes.clear();
    bare.score = None;
    bare.author = None;
    add("shape-bare", record(SHAPE, &encode_shape(&bare).expect("encodes")));
    add("shape-future-format", record(SHAPE, &[9, 0, 0]));
    // made shapes: ids, frame, flags (all set), source, score, author, times,
    // one attribute of each kind, then each geometry
    for (name, geometry) in [
        ("made-mask", {
            let mut g = Writer::default();
            g.u8(0).u8(3).u16(4).u16(6).u16(2).u8(3);
            g.out
        }),
        ("made-polygon", {
            let mut g = Writer::default();
            g.u8(1).u8(3);
            for v in [0.0f64, 0.0, 10.0, 0.0, 5.0, 8.5] {
                g.u64(v.to_bits());
            }
            g.out
        }),
        ("made-bbox", {
            let mut g = Writer::default();
            g.u8(2);
            for v in [1.5f64, 2.5, 3.0, 4.0] {
                g.u64(v.to_bits());
            }
            g.out
        }),
        ("made-points", {
            let mut g = Writer::default();
            g.u8(3).u8(2);
            for v in [0.1f64, 0.2, 1e300, 5e-324] {
                g.u64(v.to_bits());
            }
            g.out
        }),
    ] {
        let mut w = Writer::default();
        w.u8(MADE)
            .u128_bytes(1)
            .u128_bytes(2)
            .u64(99)
            .u8(31)
            .u8(1)
            .u32(0.5f32.to_bits())
            .u128_bytes(3)
            .i64(-5)
            .i64(i64::MAX)
            .u8(3)
            .string("done")
            .u8(0)
            .u8(1)
            .string("speed")
            .u8(1)
            .u64(0.3f64.to_bits())
            .string("label")
            .u8(2)
            .string("ünïcode")
            .bytes(&geometry);
        add(name, w.out);
    }
    out
}

trait Uuids {
    fn u128_bytes(&mut self, v: u128) -> &mut Self;
}

impl Uuids for Writer {
    fn u128_bytes(&mut self, v: u128) -> &mut Self {
        self.bytes(Uuid::from_u128(v).as_bytes())
    }
}
