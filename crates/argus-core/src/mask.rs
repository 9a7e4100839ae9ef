//! Binary masks as COCO-compatible run-length encoding.
//!
//! A mask of `height x width` pixels is stored as run lengths over the pixels
//! in **column-major** order (down the first column, then the next), starting
//! with a run of zeros (which may be empty), alternating zeros and ones, and
//! summing to exactly `height * width`. This is pycocotools' uncompressed RLE,
//! so masks go to COCO files and back without conversion.
//!
//! Why runs and not bitmaps: a 1080p mask is 2 million pixels but usually a
//! few thousand runs, and every operation the app needs (area, bounding box,
//! IoU, union, intersection, crop, paste, serialisation) runs directly on the
//! runs in `O(runs)` without ever materialising a bitmap. Bitmaps are only
//! produced at the edges (rendering, SAM output) and those conversions are
//! word-at-a-time rather than per pixel.
//!
//! Invariants every [`Rle`] upholds (constructors and serde enforce them):
//! - `height > 0`, `width > 0` and `height * width <= u32::MAX` (a run is a
//!   `u32`, as in pycocotools, so a larger mask could not be represented);
//! - the runs sum to `height * width`;
//! - the runs are *canonical*: only the first run may be 0. Zero-length runs
//!   elsewhere are merged away on construction, so two masks are equal
//!   (`==`, `Hash`) exactly when they cover the same pixels.
//!
//! Submodules add the rest of the capability as methods on [`Rle`]:
//! bitmap codecs (`codec`), pycocotools' compressed string form (`compress`),
//! set operations, IoU, crop and paste (`ops`), and polygon rasterisation and
//! contour tracing (`polygon`).

mod brush;
mod codec;
mod compress;
mod ops;
mod polygon;
mod resample;
pub(crate) mod sdf;

use serde::{Deserialize, Serialize};

use crate::geometry::BBox;

/// Why a mask or a mask operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    #[error("mask size {height}x{width} is invalid; height and width must be > 0")]
    InvalidSize { height: u64, width: u64 },
    #[error("RLE counts sum to {actual} but a {height}x{width} mask needs exactly {expected}")]
    CountMismatch {
        height: u32,
        width: u32,
        expected: u64,
        actual: u64,
    },
    #[error("bitmap has {actual} pixels but a {height}x{width} mask needs {expected}")]
    BitmapSize {
        height: u32,
        width: u32,
        expected: u64,
        actual: u64,
    },
    #[error(
        "mask size {height}x{width} has more than 4294967295 pixels, the most COCO RLE can hold; \
         split the mask into tiles"
    )]
    TooLarge { height: u32, width: u32 },
    #[error("compressed RLE string is malformed at byte {position}: {reason}")]
    MalformedString {
        position: usize,
        reason: &'static str,
    },
    #[error(
        "masks have different sizes ({a_height}x{a_width} and {b_height}x{b_width}); \
         only masks of the same frame can be combined"
    )]
    SizeMismatch {
        a_height: u32,
        a_width: u32,
        b_height: u32,
        b_width: u32,
    },
    #[error("cannot merge an empty list of masks; pass at least one mask")]
    NothingToMerge,
    #[error("invalid brush stroke: {reason}")]
    InvalidBrush { reason: String },
    #[error(
        "region {width}x{height} at ({x}, {y}) is empty or not inside the {mask_height}x{mask_width} mask"
    )]
    InvalidRegion {
        x: u32,
        y: u32,
        width: u32,
        height: u32,
        mask_height: u32,
        mask_width: u32,
    },
    #[error("simplification tolerance {tolerance} is invalid; use a finite number of pixels >= 0")]
    InvalidTolerance {
        /// The refused value, as text so that the error stays `Eq`.
        tolerance: String,
    },
}

/// A binary mask as column-major run lengths (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "RleRepr")]
pub struct Rle {
    height: u32,
    width: u32,
    counts: Vec<u32>,
}

impl Rle {
    /// Validates that the size is non-zero and the runs cover it exactly.
    ///
    /// Zero-length runs after the first are merged away (see the module
    /// docs), so [`counts`](Self::counts) may be shorter than `counts`.
    pub fn new(height: u32, width: u32, counts: Vec<u32>) -> Result<Self, MaskError> {
        let expected = check_size(height, width)?;
        let actual: u64 = counts.iter().map(|&c| u64::from(c)).sum();
        if actual != expected {
            return Err(MaskError::CountMismatch {
                height,
                width,
                expected,
                actual,
            });
        }
        Ok(Self {
            height,
            width,
            counts: canonicalize(counts),
        })
    }

    /// A mask with no pixel set.
    pub fn empty(height: u32, width: u32) -> Result<Self, MaskError> {
        let n = check_size(height, width)?;
        Ok(Self {
            height,
            width,
            counts: vec![n as u32],
        })
    }

    /// A mask with every pixel set.
    pub fn full(height: u32, width: u32) -> Result<Self, MaskError> {
        let n = check_size(height, width)?;
        Ok(Self {
            height,
            width,
            counts: vec![0, n as u32],
        })
    }

    /// Builds from runs that are already validated and canonical.
    pub(crate) fn from_parts(height: u32, width: u32, counts: Vec<u32>) -> Self {
        debug_assert!(Self::new(height, width, counts.clone()).is_ok_and(|r| r.counts == counts));
        Self {
            height,
            width,
            counts,
        }
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    /// Number of pixels, `height * width`.
    pub fn pixel_count(&self) -> u64 {
        u64::from(self.height) * u64::from(self.width)
    }

    /// Run lengths, column-major, starting with zeros.
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// Encodes a row-major bitmap (`width * height` bytes, non-zero = set),
    /// the layout images and GPU textures use.
    pub fn from_bitmap_row_major(
        height: u32,
        width: u32,
        pixels: &[u8],
    ) -> Result<Self, MaskError> {
        check_bitmap(height, width, pixels)?;
        let counts = codec::encode_row_major(height as usize, width as usize, pixels);
        Ok(Self::from_parts(height, width, counts))
    }

    /// Encodes a column-major bitmap (non-zero = set): Fortran order, what
    /// pycocotools' `encode(np.asfortranarray(m))` reads.
    pub fn from_bitmap_col_major(
        height: u32,
        width: u32,
        pixels: &[u8],
    ) -> Result<Self, MaskError> {
        check_bitmap(height, width, pixels)?;
        Ok(Self::from_parts(
            height,
            width,
            codec::encode_col_major(pixels),
        ))
    }

    /// Decodes to a row-major bitmap of 0/1 bytes.
    pub fn to_bitmap_row_major(&self) -> Vec<u8> {
        codec::decode_row_major(self.height as usize, self.width as usize, &self.counts)
    }

    /// Decodes to a column-major (Fortran order) bitmap of 0/1 bytes.
    pub fn to_bitmap_col_major(&self) -> Vec<u8> {
        codec::decode_col_major(self.pixel_count() as usize, &self.counts)
    }

    /// Number of set pixels.
    /// Whether pixel `(x, y)` is set; `false` outside the mask.
    pub fn get(&self, x: u32, y: u32) -> bool {
        if x >= self.width || y >= self.height {
            return false;
        }
        let index = u64::from(x) * u64::from(self.height) + u64::from(y);
        let mut end = 0u64;
        for (i, run) in self.counts.iter().enumerate() {
            end += u64::from(*run);
            if index < end {
                return i % 2 == 1;
            }
        }
        false
    }

    pub fn area(&self) -> u64 {
        self.counts
            .iter()
            .skip(1)
            .step_by(2)
            .map(|&c| u64::from(c))
            .sum()
    }

    /// True when no pixel is set.
    pub fn is_empty(&self) -> bool {
        self.counts.len() <= 1
    }

    /// The tight box around the set pixels, in pixel edges (pycocotools
    /// `toBbox`: `[x, y, w, h]` where a single pixel at column 3, row 5 gives
    /// `[3, 5, 1, 1]`), or `None` for an empty mask (where pycocotools says
    /// `[0, 0, 0, 0]`).
    pub fn bbox(&self) -> Option<BBox> {
        let h = u64::from(self.height);
        let (mut xs, mut xe, mut ys, mut ye) = (u64::MAX, 0u64, u64::MAX, 0u64);
        for (start, end) in self.ones() {
            let (x0, y0) = (start / h, start % h);
            let last = end - 1;
            let (x1, y1) = (last / h, last % h);
            xs = xs.min(x0);
            xe = xe.max(x1);
            if x1 > x0 {
                // The run wraps from the bottom of one column to the top of a
                // later one, so both row 0 and row h-1 are set.
                ys = 0;
                ye = h - 1;
            } else {
                ys = ys.min(y0);
                ye = ye.max(y1);
            }
        }
        if xs == u64::MAX {
            return None;
        }
        BBox::new(
            xs as f64,
            ys as f64,
            (xe - xs + 1) as f64,
            (ye - ys + 1) as f64,
        )
        .ok()
    }

    /// The runs of set pixels as half-open `[start, end)` column-major pixel
    /// indices, in order.
    pub(crate) fn ones(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut pos = 0u64;
        self.counts.iter().enumerate().filter_map(move |(i, &c)| {
            let start = pos;
            pos += u64::from(c);
            (i % 2 == 1 && c > 0).then_some((start, pos))
        })
    }
}

/// Checks the size and returns the pixel count, which fits a `u32`.
fn check_size(height: u32, width: u32) -> Result<u64, MaskError> {
    if height == 0 || width == 0 {
        return Err(MaskError::InvalidSize {
            height: height.into(),
            width: width.into(),
        });
    }
    let n = u64::from(height) * u64::from(width);
    if n > u64::from(u32::MAX) {
        return Err(MaskError::TooLarge { height, width });
    }
    Ok(n)
}

fn check_bitmap(height: u32, width: u32, pixels: &[u8]) -> Result<(), MaskError> {
    let expected = check_size(height, width)?;
    if pixels.len() as u64 != expected {
        return Err(MaskError::BitmapSize {
            height,
            width,
            expected,
            actual: pixels.len() as u64,
        });
    }
    Ok(())
}

/// Merges zero-length runs after the first one away. The caller has checked
/// that the runs sum to at most `u32::MAX`, so merged runs cannot overflow.
fn canonicalize(counts: Vec<u32>) -> Vec<u32> {
    if counts.iter().skip(1).all(|&c| c != 0) {
        return counts;
    }
    let mut b = RunBuilder::with_capacity(counts.len());
    for (i, &c) in counts.iter().enumerate() {
        b.push(i % 2 == 1, c);
    }
    b.finish()
}

/// Builds canonical runs from `(value, length)` pieces in pixel order,
/// merging neighbours of the same value and dropping empty pieces.
#[derive(Debug, Default)]
pub(crate) struct RunBuilder {
    counts: Vec<u32>,
    /// Pixels pushed so far.
    len: u64,
}

impl RunBuilder {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            counts: Vec::with_capacity(n),
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, value: bool, len: u32) {
        if len == 0 {
            return;
        }
        self.len += u64::from(len);
        // The last run has value `(counts.len() - 1) % 2 == 1`.
        let last_is_one = self.counts.len().is_multiple_of(2);
        match self.counts.last_mut() {
            Some(last) if last_is_one == value => *last += len,
            Some(_) => self.counts.push(len),
            None if value => self.counts.extend([0, len]),
            None => self.counts.push(len),
        }
    }

    /// Appends zeros up to pixel `start`, then ones up to `end`. Intervals
    /// must come in increasing, non-overlapping order.
    #[inline]
    pub(crate) fn push_ones(&mut self, start: u64, end: u64) {
        debug_assert!(start >= self.len && end >= start);
        self.push(false, (start - self.len) as u32);
        self.push(true, (end - start) as u32);
    }

    /// Pads with zeros to `total` pixels and returns the runs.
    pub(crate) fn finish_to(mut self, total: u64) -> Vec<u32> {
        self.push(false, (total - self.len) as u32);
        self.finish()
    }

    pub(crate) fn finish(self) -> Vec<u32> {
        if self.counts.is_empty() {
            vec![0]
        } else {
            self.counts
        }
    }
}

/// The serialised forms: COCO's `{"size": [h, w], "counts": ...}` where
/// `counts` is either the compressed string or the list of runs.
#[derive(Deserialize)]
struct RleRepr {
    size: [u32; 2],
    counts: CountsRepr,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CountsRepr {
    Compressed(String),
    Runs(Vec<u32>),
}

impl TryFrom<RleRepr> for Rle {
    type Error = MaskError;
    fn try_from(r: RleRepr) -> Result<Self, Self::Error> {
        let [height, width] = r.size;
        match r.counts {
            CountsRepr::Compressed(s) => Self::from_compressed_string(height, width, &s),
            CountsRepr::Runs(counts) => Self::new(height, width, counts),
        }
    }
}

/// Serialises as COCO's compressed form `{"size": [h, w], "counts": "..."}`.
impl Serialize for Rle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Rle", 2)?;
        s.serialize_field("size", &[self.height, self.width])?;
        s.serialize_field("counts", &self.to_compressed_string())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rle(h: u32, w: u32, counts: &[u32]) -> Rle {
        Rle::new(h, w, counts.to_vec()).expect("valid test mask")
    }

    #[test]
    fn new_validates_size_and_sum() {
        assert_eq!(
            Rle::new(0, 3, vec![]),
            Err(MaskError::InvalidSize {
                height: 0,
                width: 3
            })
        );
        assert!(matches!(
            Rle::new(2, 2, vec![1, 2]),
            Err(MaskError::CountMismatch { actual: 3, .. })
        ));
        assert_eq!(
            Rle::new(70_000, 70_000, vec![]),
            Err(MaskError::TooLarge {
                height: 70_000,
                width: 70_000
            })
        );
        // Sums that would overflow a u32 are caught, not wrapped.
        assert!(matches!(
            Rle::new(2, 2, vec![u32::MAX, 5]),
            Err(MaskError::CountMismatch { .. })
        ));
    }

    #[test]
    fn new_canonicalizes_zero_runs() {
        assert_eq!(rle(2, 2, &[1, 0, 1, 2]).counts(), &[2, 2]);
        assert_eq!(rle(2, 2, &[0, 0, 4]).counts(), &[4]);
        assert_eq!(rle(2, 2, &[0, 4, 0]).counts(), &[0, 4]);
        assert_eq!(rle(2, 2, &[1, 2, 1, 0]).counts(), &[1, 2, 1]);
        assert_eq!(rle(2, 2, &[1, 0, 1, 2]), rle(2, 2, &[2, 2]));
    }

    #[test]
    fn bitmap_round_trips_in_both_orders() {
        // 3 rows x 4 columns, row-major.
        let row_major = [0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1, 7];
        let r = Rle::from_bitmap_row_major(3, 4, &row_major).expect("valid");
        // Columns: [0,0,1], [1,1,1], [1,0,1], [0,0,1] -> runs 2,4,1,1,2,1... as column-major stream
        // 0 0 1 | 1 1 1 | 1 0 1 | 0 0 1
        assert_eq!(r.counts(), &[2, 5, 1, 1, 2, 1]);
        let normalised: Vec<u8> = row_major.iter().map(|&v| u8::from(v != 0)).collect();
        assert_eq!(r.to_bitmap_row_major(), normalised);
        let col_major = r.to_bitmap_col_major();
        assert_eq!(col_major, [0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 0, 1]);
        assert_eq!(
            Rle::from_bitmap_col_major(3, 4, &col_major).expect("valid"),
            r
        );
        assert!(matches!(
            Rle::from_bitmap_row_major(3, 4, &[0; 11]),
            Err(MaskError::BitmapSize { .. })
        ));
        assert!(matches!(
            Rle::from_bitmap_col_major(0, 4, &[]),
            Err(MaskError::InvalidSize { .. })
        ));
    }

    #[test]
    fn area_bbox_and_emptiness() {
        let empty = Rle::empty(4, 5).expect("valid");
        assert!(empty.is_empty());
        assert_eq!(empty.area(), 0);
        assert_eq!(empty.bbox(), None);
        let full = Rle::full(4, 5).expect("valid");
        assert_eq!(full.area(), 20);
        assert_eq!(
            full.bbox(),
            Some(BBox::new(0.0, 0.0, 5.0, 4.0).expect("valid"))
        );
        // pycocotools: m = zeros((4, 5)); m[1:3, 2:4] = 1 -> toBbox [2, 1, 2, 2], area 4.
        let r = rle(4, 5, &[9, 2, 2, 2, 5]);
        assert_eq!(r.area(), 4);
        assert_eq!(
            r.bbox(),
            Some(BBox::new(2.0, 1.0, 2.0, 2.0).expect("valid"))
        );
        // pycocotools: m[3, 1] = 1; m[0, 2] = 1 -> one run wrapping a column, toBbox [1, 0, 2, 4].
        let wrap = rle(4, 5, &[7, 2, 11]);
        assert_eq!(
            wrap.bbox(),
            Some(BBox::new(1.0, 0.0, 2.0, 4.0).expect("valid"))
        );
    }

    #[test]
    fn serde_uses_coco_json_and_validates() {
        let r = rle(4, 5, &[9, 2, 2, 2, 5]);
        let json = serde_json::to_string(&r).expect("serialise");
        // Expected string from pycocotools (see compress.rs for how it was produced).
        assert_eq!(json, r#"{"size":[4,5],"counts":"92203"}"#);
        assert_eq!(
            serde_json::from_str::<Rle>(&json).expect("compressed form"),
            r
        );
        let plain: Rle =
            serde_json::from_str(r#"{"size":[4,5],"counts":[9,2,2,2,5]}"#).expect("runs form");
        assert_eq!(plain, r);
        for bad in [
            r#"{"size":[4,5],"counts":[9,2,2,2,4]}"#,
            r#"{"size":[0,5],"counts":[]}"#,
            r#"{"size":[4,5],"counts":"9220"}"#,
            r#"{"size":[4,5],"counts":"92\u007f03"}"#,
            r#"{"size":[4,5],"counts":[-1,21]}"#,
            r#"{"size":[4],"counts":[20]}"#,
        ] {
            assert!(
                serde_json::from_str::<Rle>(bad).is_err(),
                "{bad} must be refused"
            );
        }
    }
}
