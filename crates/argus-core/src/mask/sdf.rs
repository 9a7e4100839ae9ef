//! Centroids and exact signed distance fields of masks, the building blocks of
//! mask morphing (`crate::interpolate::MaskMorph`).
//!
//! A morph works on a small window around the objects, not the frame, so this
//! module moves between the two: a mask's pixels are drawn into a column-major
//! window bitmap ([`Rle::rasterize_into`]), the window gets a signed distance
//! field ([`signed_distance`]), and set pixels found in the window go back to
//! frame runs ([`Rle::from_column_segments`]).
//!
//! The distance transform is Felzenszwalb and Huttenlocher's exact Euclidean
//! one ("Distance Transforms of Sampled Functions", Theory of Computing 8,
//! 2012): a 1-D pass down each column (for a binary image, the distance to
//! the nearest feature in the column) and then, along each row, the lower
//! envelope of the parabolas `(x - q)^2 + f(q)`. Both passes are linear, so a
//! field costs `O(width * height)` with no per-pixel allocation.

use super::codec::for_each_column_segment;
use super::{Rle, RunBuilder};
use crate::geometry::Point;

/// Where a mask's set pixels are: how many, their tight extent and the sums of
/// their centres, kept in integers so the centroid is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extent {
    pub(crate) area: u64,
    /// The set pixels lie in columns `x0..x1` and rows `y0..y1`.
    pub(crate) x0: u64,
    pub(crate) x1: u64,
    pub(crate) y0: u64,
    pub(crate) y1: u64,
    /// Sums of `2x + 1` and `2y + 1` over the set pixels: twice the sums of
    /// their centres. At most `u32::MAX` pixels times `2^17`, so a `u64` holds them.
    sum_x2: u64,
    sum_y2: u64,
}

impl Extent {
    /// The mean of the set pixels' centres (`x + 0.5`, `y + 0.5`).
    pub(crate) fn centroid(&self) -> Point {
        let n = 2.0 * self.area as f64;
        Point { x: self.sum_x2 as f64 / n, y: self.sum_y2 as f64 / n }
    }
}

impl Rle {
    /// The mean of the set pixels' centres (pixel `(x, y)` counts as the point
    /// `(x + 0.5, y + 0.5)`), or `None` for an empty mask. `O(runs + columns spanned)`.
    pub fn centroid(&self) -> Option<Point> {
        self.extent().map(|e| e.centroid())
    }

    /// The count, tight extent and centre sums of the set pixels; `None` when empty.
    pub(crate) fn extent(&self) -> Option<Extent> {
        let mut e = Extent { area: 0, x0: u64::MAX, x1: 0, y0: u64::MAX, y1: 0, sum_x2: 0, sum_y2: 0 };
        for_each_column_segment(self.height as usize, &self.counts, |x, y0, y1| {
            let (x, y0, y1) = (x as u64, y0 as u64, y1 as u64);
            let n = y1 - y0;
            e.area += n;
            e.x0 = e.x0.min(x);
            e.x1 = e.x1.max(x + 1);
            e.y0 = e.y0.min(y0);
            e.y1 = e.y1.max(y1);
            e.sum_x2 += n * (2 * x + 1);
            // Sum of 2y + 1 over y0..y1.
            e.sum_y2 += y1 * y1 - y0 * y0;
        });
        (e.area > 0).then_some(e)
    }

    /// Sets to 1 the bytes of `out`, a column-major bitmap of `window`, under
    /// this mask's pixels moved by `(dx, dy)`; pixels that land outside the
    /// window are dropped. `out` must hold `window.len()` bytes (a shorter one
    /// is filled as far as it goes).
    pub(crate) fn rasterize_into(&self, dx: i64, dy: i64, window: &Window, out: &mut [u8]) {
        let (w, h) = (window.width as i64, window.height as i64);
        for_each_column_segment(self.height as usize, &self.counts, |x, y0, y1| {
            let cx = x as i64 + dx - window.x0;
            if cx < 0 || cx >= w {
                return;
            }
            let r0 = (y0 as i64 + dy - window.y0).clamp(0, h);
            let r1 = (y1 as i64 + dy - window.y0).clamp(0, h);
            let base = cx * h;
            if let Some(run) = out.get_mut((base + r0) as usize..(base + r1) as usize) {
                run.fill(1);
            }
        });
    }

    /// A `height x width` mask (a valid size: callers take it from an existing
    /// mask) from vertical segments `(x, y0, y1)` of set pixels, rows `y0..y1`
    /// of column `x`, given in column-major order (columns increasing, rows
    /// increasing within a column, not overlapping). What falls outside the
    /// frame is clipped; segments out of order are dropped rather than
    /// corrupting the runs.
    pub(crate) fn from_column_segments(
        height: u32,
        width: u32,
        segments: impl IntoIterator<Item = (i64, i64, i64)>,
    ) -> Rle {
        let (h, w) = (i64::from(height), i64::from(width));
        let mut b = RunBuilder::default();
        let mut end = 0i64;
        for (x, y0, y1) in segments {
            if x < 0 || x >= w {
                continue;
            }
            let (y0, y1) = (y0.clamp(0, h), y1.clamp(0, h));
            let (start, stop) = (x * h + y0, x * h + y1);
            if start >= stop || start < end {
                continue;
            }
            b.push_ones(start as u64, stop as u64);
            end = stop;
        }
        Rle::from_parts(height, width, b.finish_to(u64::from(height) * u64::from(width)))
    }
}

/// A `width x height` grid of pixels whose top-left pixel is `(x0, y0)` in some
/// plane; its bitmaps and fields are column-major (`x * height + y`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) x0: i64,
    pub(crate) y0: i64,
    pub(crate) width: usize,
    pub(crate) height: usize,
}

impl Window {
    /// Number of pixels.
    pub(crate) fn len(&self) -> usize {
        self.width * self.height
    }
}

/// Stands for "no feature": far beyond any squared distance on a grid COCO RLE
/// can hold (`< 2^33`), yet finite, so parabola intersections stay finite.
const FAR: f32 = 1e20;

/// The signed distance field of a column-major `width x height` bitmap
/// (non-zero = inside), in pixels between pixel centres: at an inside pixel
/// `0.5 - d` where `d` is the distance to the nearest outside pixel, at an
/// outside pixel `d - 0.5` where `d` is the distance to the nearest inside one.
/// So the field is negative exactly inside, and its zero level runs half way
/// between neighbouring inside and outside pixels. The plane beyond the grid
/// counts as outside only if the caller leaves a border of outside pixels (a
/// margin of one pixel makes the field exact for the infinite plane). A grid
/// with no inside (or no outside) pixel gets `FAR`-sized values.
///
/// Cost: two exact Euclidean distance transforms, `O(width * height)` each.
pub(crate) fn signed_distance(inside: &[u8], width: usize, height: usize) -> Vec<f32> {
    let n = width * height;
    let inside = &inside[..n.min(inside.len())];
    if inside.len() < n {
        return vec![FAR; n];
    }
    // Squared distance to the nearest inside pixel (what outside pixels need) ...
    let mut to_inside = vec![0f32; n];
    squared_distance(inside, true, width, height, &mut to_inside);
    // ... and to the nearest outside pixel (what inside pixels need).
    let mut to_outside = vec![0f32; n];
    squared_distance(inside, false, width, height, &mut to_outside);
    let dist = |squared: f32| if squared >= FAR { FAR } else { squared.sqrt() };
    for ((d, &o), &is_in) in to_inside.iter_mut().zip(&to_outside).zip(inside) {
        *d = if is_in != 0 { 0.5 - dist(o) } else { dist(*d) - 0.5 };
    }
    to_inside
}

/// Rows transformed together in the row pass, so that each cache line of the
/// column-major grid (16 `f32`s down a column) is read once per block.
const ROW_BLOCK: usize = 16;

/// Squared Euclidean distance from every pixel to the nearest pixel whose
/// bitmap value is `(byte != 0) == feature`, into `out` (`FAR` when there is none).
fn squared_distance(bitmap: &[u8], feature: bool, width: usize, height: usize, out: &mut [f32]) {
    // Pass 1, down each column: distance to the nearest feature in the column.
    for (col, dst) in bitmap.chunks_exact(height).zip(out.chunks_exact_mut(height)) {
        let mut last: Option<usize> = None;
        for (y, (&v, d)) in col.iter().zip(dst.iter_mut()).enumerate() {
            if (v != 0) == feature {
                last = Some(y);
            }
            *d = last.map_or(FAR, |l| ((y - l) * (y - l)) as f32);
        }
        let mut next: Option<usize> = None;
        for (y, (&v, d)) in col.iter().zip(dst.iter_mut()).enumerate().rev() {
            if (v != 0) == feature {
                next = Some(y);
            }
            if let Some(nx) = next {
                *d = d.min(((nx - y) * (nx - y)) as f32);
            }
        }
    }
    // Pass 2, along each row: the lower envelope of the column distances.
    let mut rows = vec![0f64; ROW_BLOCK * width];
    let mut env = Envelope::new(width);
    let mut y0 = 0;
    while y0 < height {
        let block = ROW_BLOCK.min(height - y0);
        for (x, col) in out.chunks_exact(height).enumerate() {
            for (j, &v) in col[y0..y0 + block].iter().enumerate() {
                rows[j * width + x] = f64::from(v);
            }
        }
        for row in rows.chunks_exact_mut(width).take(block) {
            env.transform(row);
        }
        for (x, col) in out.chunks_exact_mut(height).enumerate() {
            for (j, v) in col[y0..y0 + block].iter_mut().enumerate() {
                *v = rows[j * width + x] as f32;
            }
        }
        y0 += block;
    }
}

/// Scratch space for the 1-D transform: the parabolas of the lower envelope
/// (`v`, their vertices) and the boundaries between them (`z`).
struct Envelope {
    v: Vec<usize>,
    z: Vec<f64>,
    f: Vec<f64>,
}

impl Envelope {
    fn new(n: usize) -> Self {
        Self { v: vec![0; n], z: vec![0.0; n + 1], f: vec![0.0; n] }
    }

    /// In place: `row[q] = min over p of (q - p)^2 + row[p]`, over the cells
    /// that are not `FAR` (all `FAR` when none is).
    fn transform(&mut self, row: &mut [f64]) {
        let n = row.len().min(self.f.len());
        let (row, f, v, z) = (&mut row[..n], &mut self.f[..n], &mut self.v, &mut self.z);
        f.copy_from_slice(row);
        let far = f64::from(FAR);
        // Index of the last parabola in the envelope, or none yet.
        let mut k: Option<usize> = None;
        for q in 0..n {
            if f[q] >= far {
                continue;
            }
            let Some(mut top) = k else {
                v[0] = q;
                z[0] = f64::NEG_INFINITY;
                z[1] = f64::INFINITY;
                k = Some(0);
                continue;
            };
            let fq = f[q] + (q * q) as f64;
            loop {
                let p = v[top];
                // Where the parabola from q overtakes the one from p.
                let s = (fq - (f[p] + (p * p) as f64)) / (2 * (q - p)) as f64;
                if s <= z[top] && top > 0 {
                    top -= 1;
                    continue;
                }
                top += 1;
                v[top] = q;
                z[top] = s;
                z[top + 1] = f64::INFINITY;
                break;
            }
            k = Some(top);
        }
        if k.is_none() {
            row.fill(far);
            return;
        }
        let mut j = 0;
        for (q, out) in row.iter_mut().enumerate() {
            while z[j + 1] < q as f64 {
                j += 1;
            }
            let p = v[j];
            let d = q.abs_diff(p);
            *out = (d * d) as f64 + f[p];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::ops::tests::from_rows;
    use proptest::prelude::*;

    /// The signed distance at every pixel by brute force over all pixel pairs.
    fn brute_force(inside: &[u8], w: usize, h: usize) -> Vec<f32> {
        let mut out = vec![0f32; w * h];
        for x in 0..w {
            for y in 0..h {
                let here = inside[x * h + y] != 0;
                let mut best = f64::INFINITY;
                for qx in 0..w {
                    for qy in 0..h {
                        if (inside[qx * h + qy] != 0) != here {
                            best = best.min(((x as f64 - qx as f64).powi(2) + (y as f64 - qy as f64).powi(2)).sqrt());
                        }
                    }
                }
                out[x * h + y] = if here { 0.5 - best as f32 } else { best as f32 - 0.5 };
            }
        }
        out
    }

    #[test]
    fn centroid_is_the_mean_of_pixel_centres() {
        let r = from_rows(&["....", ".##.", ".#..", "...."]);
        let c = r.centroid().expect("not empty");
        assert!((c.x - (1.5 + 2.5 + 1.5) / 3.0).abs() < 1e-12);
        assert!((c.y - (1.5 + 1.5 + 2.5) / 3.0).abs() < 1e-12);
        assert_eq!(Rle::empty(3, 3).expect("valid").centroid(), None);
        let full = Rle::full(4, 6).expect("valid");
        assert_eq!(full.centroid(), Some(Point { x: 3.0, y: 2.0 }));
        // A run that wraps from one column into the next.
        let wrap = from_rows(&["..#", "..#", ".#."]);
        let c = wrap.centroid().expect("not empty");
        assert!((c.x - (1.5 + 2.5 + 2.5) / 3.0).abs() < 1e-12 && (c.y - (2.5 + 0.5 + 1.5) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn extent_is_tight() {
        let r = from_rows(&[".....", "..#..", ".##..", "....."]);
        let e = r.extent().expect("not empty");
        assert_eq!((e.x0, e.x1, e.y0, e.y1, e.area), (1, 3, 1, 3, 3));
    }

    #[test]
    fn rasterize_then_segments_round_trips_with_a_shift() {
        let r = from_rows(&["#...", ".##.", "..##"]);
        let window = Window { x0: -1, y0: -2, width: 7, height: 6 };
        let mut bits = vec![0u8; window.len()];
        r.rasterize_into(0, 0, &window, &mut bits);
        assert_eq!(bits.iter().filter(|&&b| b != 0).count(), 5);
        // Read the window back as segments and put them 1 right, 1 down in a 4x5 frame.
        let mut segments = Vec::new();
        for x in 0..window.width {
            for y in 0..window.height {
                if bits[x * window.height + y] != 0 {
                    let (fx, fy) = (x as i64 + window.x0 + 1, y as i64 + window.y0 + 1);
                    segments.push((fx, fy, fy + 1));
                }
            }
        }
        let moved = Rle::from_column_segments(4, 5, segments);
        assert_eq!(moved, from_rows(&[".....", ".#...", "..##.", "...##"]));
        // Clipped at the frame's edge.
        assert_eq!(Rle::from_column_segments(2, 2, [(-1, 0, 2), (1, -3, 1), (5, 0, 1)]), from_rows(&[".#", ".."]));
    }

    #[test]
    fn signed_distance_of_a_square_matches_brute_force() {
        // 9 x 9 grid, a 5 x 5 square with a border of 2 outside pixels.
        let (w, h) = (9usize, 9usize);
        let mut bits = vec![0u8; w * h];
        for x in 2..7 {
            for y in 2..7 {
                bits[x * h + y] = 1;
            }
        }
        let field = signed_distance(&bits, w, h);
        assert_eq!(field[4 * h + 4], 0.5 - 3.0, "centre: 3 pixels from the nearest outside one");
        assert_eq!(field[2 * h + 4], -0.5, "edge pixel");
        assert_eq!(field[h + 4], 0.5, "just outside");
        assert!((field[0] - (8f32.sqrt() - 0.5)).abs() < 1e-6, "corner of the grid");
        assert_eq!(field, brute_force(&bits, w, h));
    }

    #[test]
    fn signed_distance_without_features_is_far() {
        let field = signed_distance(&[0u8; 12], 3, 4);
        assert!(field.iter().all(|&d| d >= FAR / 2.0));
        let field = signed_distance(&[1u8; 12], 3, 4);
        assert!(field.iter().all(|&d| d <= -FAR / 2.0));
        assert_eq!(signed_distance(&[1u8; 3], 3, 4).len(), 12, "a short bitmap does not panic");
    }

    proptest! {
        #[test]
        fn signed_distance_is_exact(w in 1usize..14, h in 1usize..14, bits in proptest::collection::vec(0u8..2, 196)) {
            let bits = &bits[..w * h];
            let field = signed_distance(bits, w, h);
            let expected = brute_force(bits, w, h);
            for (i, (&got, &want)) in field.iter().zip(&expected).enumerate() {
                if want.is_finite() {
                    prop_assert!((got - want).abs() < 1e-4, "pixel {i}: {got} vs {want}");
                } else {
                    prop_assert!(got.abs() >= FAR / 2.0, "pixel {i}: {got} should be FAR");
                }
            }
        }
    }
}
