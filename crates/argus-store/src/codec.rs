//! Compact binary storage of shapes and their mask run lengths.
//!
//! The frame query (every shape of a frame, masks included) is the hottest
//! read in the app, and its cost is dominated by per-column overhead, so a
//! shape is stored as one BLOB holding the whole record ([`encode_shape`]);
//! the table keeps only the columns that are indexed or filtered on.
//!
//! A mask is stored as its COCO counts, each run delta-coded against the run
//! two places earlier (runs alternate background/foreground, so same-parity
//! runs are similar from column to column), zigzag-mapped to unsigned and
//! written as order-0 Exp-Golomb bit codes. COCO's compressed string uses
//! the same deltas but spends at least one 6-bit character per run; here a
//! zero delta costs one bit, so smooth masks take well under half the bytes
//! (see docs/benchmarks/store.md).

use argus_core::{
    id::{ShapeId, TrackId, UserId},
    mask::Rle,
    model::{Attributes, Geometry, Shape, ShapeSource, Timestamp},
};
use uuid::Uuid;

use crate::{Error, Result};

fn put_uvarint(out: &mut Vec<u8>, mut z: u64) {
    loop {
        let byte = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Writes bits most-significant first.
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// Appends the low `bits` (at most 56) bits of `value`.
    fn put(&mut self, value: u64, bits: u32) {
        debug_assert!(bits <= 56);
        if bits == 0 {
            return;
        }
        // Fewer than 8 bits wait in `acc`, so 56 more fit.
        self.acc = (self.acc << bits) | (value & ((1u64 << bits) - 1));
        self.n += bits;
        while self.n >= 8 {
            self.n -= 8;
            self.out.push((self.acc >> self.n) as u8);
        }
        self.acc &= (1u64 << self.n) - 1;
    }

    /// Appends `z` as an order-0 Exp-Golomb code: `z + 1` in binary,
    /// preceded by one zero per bit after its first. Up to 28 significant
    /// bits (every mask run) that is `z + 1` in `2 * bits - 1` bits, its
    /// leading zeros being the prefix: one write.
    fn exp_golomb(&mut self, z: u64) {
        let x = z + 1;
        let bits = 64 - x.leading_zeros();
        if bits <= 28 {
            self.put(x, 2 * bits - 1);
            return;
        }
        let mut zeros = bits - 1;
        while zeros > 0 {
            let k = zeros.min(32);
            self.put(0, k);
            zeros -= k;
        }
        if bits > 32 {
            self.put(x >> 32, bits - 32);
            self.put(x & 0xffff_ffff, 32);
        } else {
            self.put(x, bits);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
        self.out
    }
}

/// Reads what [`BitWriter`] wrote; malformed input is an error.
struct BitReader<'a> {
    bytes: &'a [u8],
    /// Valid bits, left-aligned.
    acc: u64,
    avail: u32,
}

impl BitReader<'_> {
    fn refill(&mut self) {
        while self.avail <= 56 {
            let Some((&b, rest)) = self.bytes.split_first() else { break };
            self.acc |= u64::from(b) << (56 - self.avail);
            self.avail += 8;
            self.bytes = rest;
        }
    }

    fn exp_golomb(&mut self) -> Result<u64> {
        self.refill();
        let zeros = self.acc.leading_zeros();
        if zeros >= self.avail || zeros > 40 {
            return Err(Error::decode("mask data is truncated or overlong"));
        }
        self.acc <<= zeros;
        self.avail -= zeros;
        self.refill();
        let bits = zeros + 1;
        if bits > self.avail {
            return Err(Error::decode("mask data is truncated"));
        }
        let x = self.acc >> (64 - bits);
        self.acc = if bits == 64 { 0 } else { self.acc << bits };
        self.avail -= bits;
        Ok(x - 1)
    }
}

/// Encodes `counts`: their number as a varint, then each run minus the run
/// two places earlier, zigzag-mapped and written as an order-0 Exp-Golomb
/// code. Neighbouring columns of a mask have similar runs, so most deltas
/// are tiny and cost 1 to 5 bits (a COCO compressed string spends at least
/// 6 bits, a byte-aligned varint 8).
pub fn encode_counts(counts: &[u32]) -> Vec<u8> {
    let mut head = Vec::with_capacity(counts.len() / 2 + 4);
    put_uvarint(&mut head, counts.len() as u64);
    let mut w = BitWriter { out: head, acc: 0, n: 0 };
    for (i, &c) in counts.iter().enumerate() {
        let prev = if i >= 2 { counts.get(i - 2).copied().unwrap_or(0) } else { 0 };
        w.exp_golomb(zigzag(i64::from(c) - i64::from(prev)));
    }
    w.finish()
}

/// Decodes bytes written by [`encode_counts`]; malformed input is an error,
/// never a panic.
pub fn decode_counts(bytes: &[u8]) -> Result<Vec<u32>> {
    let mut r = Reader { bytes };
    let n = r.uvarint()?;
    // Every run takes at least one bit: a count beyond that is damage.
    if n > (r.bytes.len() as u64).saturating_mul(8) {
        return Err(Error::decode("mask data is shorter than its run count"));
    }
    let mut counts: Vec<u32> = Vec::with_capacity(n as usize);
    let mut bits = BitReader { bytes: r.bytes, acc: 0, avail: 0 };
    for i in 0..n as usize {
        let delta = unzigzag(bits.exp_golomb()?);
        let prev = if i >= 2 { counts.get(i - 2).copied().unwrap_or(0) } else { 0 };
        let value = i64::from(prev) + delta;
        let value = u32::try_from(value).map_err(|_| Error::decode(format!("mask run {value} is out of range")))?;
        counts.push(value);
    }
    Ok(counts)
}

/// Rebuilds a mask from its stored size and bytes, validating it.
pub fn decode_mask(height: u32, width: u32, bytes: &[u8]) -> Result<Rle> {
    Rle::new(height, width, decode_counts(bytes)?).map_err(Error::decode)
}

/// Reads a record written by the `encode_*` functions, never panicking.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(Error::decode("shape record is truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn uvarint(&mut self) -> Result<u64> {
        let mut z = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(z);
            }
        }
        Err(Error::decode("varint in shape record is too long"))
    }

    fn u32(&mut self) -> Result<u32> {
        let v = self.uvarint()?;
        u32::try_from(v).map_err(|_| Error::decode(format!("{v} is out of range in a shape record")))
    }

    fn uuid(&mut self) -> Result<Uuid> {
        let b: [u8; 16] = self.take(16)?.try_into().map_err(|_| Error::decode("bad id in shape record"))?;
        Ok(Uuid::from_bytes(b))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = usize::try_from(self.uvarint()?).map_err(|_| Error::decode("length out of range"))?;
        self.take(n)
    }
}

/// A signed varint (zigzag, LEB128), for other records of the store.
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

/// Reads what [`put_varint`] and raw bytes wrote, never panicking.
pub(crate) struct VarintReader<'a>(Reader<'a>);

impl<'a> VarintReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self(Reader { bytes })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.bytes.is_empty()
    }

    pub(crate) fn uuid(&mut self) -> Result<Uuid> {
        self.0.uuid()
    }

    pub(crate) fn varint(&mut self) -> Result<i64> {
        Ok(unzigzag(self.0.uvarint()?))
    }
}

const SHAPE_FORMAT: u8 = 1;
const KEYFRAME: u8 = 1;
const OCCLUDED: u8 = 2;
const OUTSIDE: u8 = 4;
const HAS_SCORE: u8 = 8;
const HAS_AUTHOR: u8 = 16;

fn source_code(s: ShapeSource) -> u8 {
    match s {
        ShapeSource::Manual => 0,
        ShapeSource::Sam => 1,
        ShapeSource::Interpolated => 2,
        ShapeSource::Propagated => 3,
        ShapeSource::Imported => 4,
    }
}

fn source_of(code: u8) -> Result<ShapeSource> {
    Ok(match code {
        0 => ShapeSource::Manual,
        1 => ShapeSource::Sam,
        2 => ShapeSource::Interpolated,
        3 => ShapeSource::Propagated,
        4 => ShapeSource::Imported,
        other => return Err(Error::decode(format!("unknown shape source code {other}"))),
    })
}

/// Encodes a whole shape: format byte, ids, frame, flags, source, score,
/// author, times, attributes (JSON), then the geometry (mask runs as in
/// [`encode_counts`], other kinds as JSON).
pub fn encode_shape(s: &Shape) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    out.push(SHAPE_FORMAT);
    out.extend_from_slice(s.id.as_uuid().as_bytes());
    out.extend_from_slice(s.track_id.as_uuid().as_bytes());
    put_uvarint(&mut out, s.frame);
    let mut flags = 0;
    for (on, bit) in [(s.keyframe, KEYFRAME), (s.occluded, OCCLUDED), (s.outside, OUTSIDE), (s.score.is_some(), HAS_SCORE), (s.author.is_some(), HAS_AUTHOR)] {
        if on {
            flags |= bit;
        }
    }
    out.push(flags);
    out.push(source_code(s.source));
    if let Some(score) = s.score {
        out.extend_from_slice(&score.to_le_bytes());
    }
    if let Some(author) = s.author {
        out.extend_from_slice(author.as_uuid().as_bytes());
    }
    put_uvarint(&mut out, zigzag(s.created_at.0));
    put_uvarint(&mut out, zigzag(s.updated_at.0));
    if s.attributes.is_empty() {
        put_uvarint(&mut out, 0);
    } else {
        let json = serde_json::to_vec(&s.attributes)?;
        put_uvarint(&mut out, json.len() as u64);
        out.extend_from_slice(&json);
    }
    match &s.geometry {
        Geometry::Mask(rle) => {
            out.push(0);
            put_uvarint(&mut out, u64::from(rle.height()));
            put_uvarint(&mut out, u64::from(rle.width()));
            out.extend_from_slice(&encode_counts(rle.counts()));
        }
        other => {
            out.push(1);
            out.extend_from_slice(&serde_json::to_vec(other)?);
        }
    }
    Ok(out)
}

/// Decodes a record written by [`encode_shape`], validating the mask.
pub fn decode_shape(bytes: &[u8]) -> Result<Shape> {
    let mut r = Reader { bytes };
    let format = r.u8()?;
    if format != SHAPE_FORMAT {
        return Err(Error::decode(format!("shape record format {format} is unknown; a newer Argus wrote it")));
    }
    let id = ShapeId::from_uuid(r.uuid()?);
    let track_id = TrackId::from_uuid(r.uuid()?);
    let frame = r.uvarint()?;
    let flags = r.u8()?;
    let source = source_of(r.u8()?)?;
    let score = if flags & HAS_SCORE != 0 {
        let b: [u8; 4] = r.take(4)?.try_into().map_err(|_| Error::decode("bad score"))?;
        Some(f32::from_le_bytes(b))
    } else {
        None
    };
    let author = if flags & HAS_AUTHOR != 0 { Some(UserId::from_uuid(r.uuid()?)) } else { None };
    let created_at = Timestamp(unzigzag(r.uvarint()?));
    let updated_at = Timestamp(unzigzag(r.uvarint()?));
    let attrs = r.bytes()?;
    let attributes: Attributes = if attrs.is_empty() { Attributes::new() } else { serde_json::from_slice(attrs)? };
    let geometry = match r.u8()? {
        0 => {
            let height = r.u32()?;
            let width = r.u32()?;
            Geometry::Mask(decode_mask(height, width, r.bytes)?)
        }
        1 => serde_json::from_slice(r.bytes)?,
        other => return Err(Error::decode(format!("unknown geometry code {other}"))),
    };
    Ok(Shape {
        id,
        track_id,
        frame,
        geometry,
        keyframe: flags & KEYFRAME != 0,
        source,
        occluded: flags & OCCLUDED != 0,
        outside: flags & OUTSIDE != 0,
        attributes,
        score,
        author,
        created_at,
        updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encoding() {
        // 3 runs; then 0 -> zigzag 0 -> "1"; 300 -> zigzag 600 -> nine zeros,
        // "1001011001"; 5 - 0 (two back) -> zigzag 10 -> three zeros, "1011".
        let bytes = vec![3, 0b1000_0000, 0b0010_0101, 0b1001_0001, 0b0110_0000];
        assert_eq!(encode_counts(&[0, 300, 5]), bytes);
        assert_eq!(decode_counts(&bytes).expect("valid"), vec![0, 300, 5]);
        assert_eq!(decode_counts(&encode_counts(&[])).expect("valid"), Vec::<u32>::new());
    }

    #[test]
    fn malformed_bytes_are_errors() {
        assert!(decode_counts(&[0x80]).is_err(), "truncated count");
        assert!(decode_counts(&[2, 0x80]).is_err(), "second run missing");
        assert!(decode_counts(&[1, 0, 0, 0, 0, 0, 0]).is_err(), "overlong code");
        assert!(decode_counts(&[100, 0xff]).is_err(), "more runs than bits");
        assert!(decode_counts(&[1, 0b0100_0000]).is_err(), "negative run (zigzag 1 = -1)");
        assert!(decode_mask(2, 2, &encode_counts(&[1, 2])).is_err(), "runs do not cover the mask");
    }

    #[test]
    fn shapes_round_trip_and_damage_is_an_error() {
        use argus_core::model::AttributeValue;
        let rle = Rle::new(4, 5, vec![3, 7, 10]).expect("mask");
        let mut shape = Shape {
            id: ShapeId::new(),
            track_id: TrackId::new(),
            frame: 123_456,
            geometry: Geometry::Mask(rle),
            keyframe: true,
            source: ShapeSource::Propagated,
            occluded: false,
            outside: true,
            attributes: Attributes::new(),
            score: Some(0.75),
            author: Some(UserId::new()),
            created_at: Timestamp(1_700_000_000_000),
            updated_at: Timestamp(-5),
        };
        let bytes = encode_shape(&shape).expect("encode");
        assert_eq!(decode_shape(&bytes).expect("decode"), shape);
        for cut in 0..bytes.len() - 1 {
            assert!(decode_shape(&bytes[..cut]).is_err(), "a record cut at {cut} must not decode");
        }
        shape.attributes.insert("parked".into(), AttributeValue::Bool(true));
        shape.geometry = Geometry::Points(vec![argus_core::geometry::Point::new(1.0, 2.0).expect("point")]);
        shape.score = None;
        shape.author = None;
        assert_eq!(decode_shape(&encode_shape(&shape).expect("encode")).expect("decode"), shape);
        let mut future = encode_shape(&shape).expect("encode");
        future[0] = 9;
        assert!(decode_shape(&future).is_err());
    }

    /// Geometry and attributes are JSON inside the record: their floats read
    /// back bit for bit (serde_json's `float_roundtrip`; without it about
    /// one coordinate in seven came back an ulp off). Found by argus-fuzz's
    /// store_codec target (fuzz/corpus/store_codec/crash-polygon-float-round-trip).
    #[test]
    fn geometry_and_attribute_floats_round_trip_exactly() {
        use argus_core::geometry::{Point, Polygon};
        use argus_core::model::AttributeValue;
        let xs = [105.93070320942047, 922.7287181750241, 1892.5261336951094, 2.087077359480396e-283];
        let points: Vec<Point> = xs.iter().enumerate().map(|(i, &x)| Point::new(x, i as f64 * 3.3).expect("point")).collect();
        let mut attributes = Attributes::new();
        attributes.insert("speed".into(), AttributeValue::Number(965.1014473331095));
        let shape = Shape {
            id: ShapeId::new(),
            track_id: TrackId::new(),
            frame: 1,
            geometry: Geometry::Polygon(Polygon::new(points, Vec::new()).expect("polygon")),
            keyframe: true,
            source: ShapeSource::Manual,
            occluded: false,
            outside: false,
            attributes,
            score: None,
            author: None,
            created_at: Timestamp(1),
            updated_at: Timestamp(2),
        };
        assert_eq!(decode_shape(&encode_shape(&shape).expect("encode")).expect("decode"), shape);
    }

    /// The Exp-Golomb codes bit by bit, as the format defines them.
    fn reference(counts: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        put_uvarint(&mut out, counts.len() as u64);
        let mut bits: Vec<bool> = Vec::new();
        for (i, &c) in counts.iter().enumerate() {
            let prev = if i >= 2 { counts[i - 2] } else { 0 };
            let x = zigzag(i64::from(c) - i64::from(prev)) + 1;
            let n = 64 - x.leading_zeros();
            bits.extend(std::iter::repeat_n(false, n as usize - 1));
            bits.extend((0..n).rev().map(|b| x >> b & 1 == 1));
        }
        out.extend(bits.chunks(8).map(|c| c.iter().enumerate().fold(0u8, |byte, (i, &b)| byte | (u8::from(b) << (7 - i)))));
        out
    }

    proptest! {
        #[test]
        fn bytes_are_the_formats(counts in prop::collection::vec(prop_oneof![0u32..64, any::<u32>()], 0..300)) {
            prop_assert_eq!(encode_counts(&counts), reference(&counts));
        }

        #[test]
        fn round_trips(counts in prop::collection::vec(any::<u32>(), 0..200)) {
            prop_assert_eq!(decode_counts(&encode_counts(&counts)).expect("round trip"), counts);
        }

        #[test]
        fn small_runs_round_trip(counts in prop::collection::vec(0u32..40, 0..400)) {
            prop_assert_eq!(decode_counts(&encode_counts(&counts)).expect("round trip"), counts);
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_counts(&bytes);
            let _ = decode_shape(&bytes);
        }
    }
}
