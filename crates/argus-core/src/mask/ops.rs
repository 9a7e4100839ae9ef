//! Set operations, IoU, crop and paste, all computed on the runs.
//!
//! Two masks are combined by walking both run lists at once and cutting at
//! the union of their run boundaries (pycocotools' `rleMerge` / `rleIou`
//! loop), so the cost is `O(runs_a + runs_b)` and no bitmap is built.

use super::codec::for_each_column_segment;
use super::{MaskError, Rle, RunBuilder};

impl Rle {
    /// Pixels set in either mask.
    pub fn union(&self, other: &Rle) -> Result<Rle, MaskError> {
        self.combine(other, |a, b| a | b)
    }

    /// Pixels set in both masks.
    pub fn intersection(&self, other: &Rle) -> Result<Rle, MaskError> {
        self.combine(other, |a, b| a & b)
    }

    /// Pixels set in `self` but not in `other`.
    pub fn difference(&self, other: &Rle) -> Result<Rle, MaskError> {
        self.combine(other, |a, b| a & !b)
    }

    /// Pixels set in exactly one of the masks.
    pub fn xor(&self, other: &Rle) -> Result<Rle, MaskError> {
        self.combine(other, |a, b| a ^ b)
    }

    /// Every pixel flipped.
    pub fn complement(&self) -> Rle {
        let counts = match self.counts.split_first() {
            Some((0, rest)) => rest.to_vec(),
            _ => std::iter::once(0)
                .chain(self.counts.iter().copied())
                .collect(),
        };
        Rle::from_parts(self.height, self.width, counts)
    }

    /// The union of many masks of the same size (pycocotools
    /// `merge(rles, intersect=False)`), combined pairwise as a balanced tree
    /// so the cost is `O(total runs * log(masks))`.
    pub fn union_all(masks: &[Rle]) -> Result<Rle, MaskError> {
        reduce(masks, Rle::union)
    }

    /// The intersection of many masks of the same size (pycocotools
    /// `merge(rles, intersect=True)`).
    pub fn intersection_all(masks: &[Rle]) -> Result<Rle, MaskError> {
        reduce(masks, Rle::intersection)
    }

    /// Number of pixels set in both masks, without building the result.
    pub fn intersection_area(&self, other: &Rle) -> Result<u64, MaskError> {
        Ok(self.overlap(other)?.0)
    }

    /// Intersection over union. Two empty masks give 0, as in pycocotools.
    pub fn iou(&self, other: &Rle) -> Result<f64, MaskError> {
        let (inter, union) = self.overlap(other)?;
        Ok(if inter == 0 {
            0.0
        } else {
            inter as f64 / union as f64
        })
    }

    /// pycocotools' `iou(dt, gt, iscrowd)` for one detection `self` against
    /// one ground truth: when the ground truth is a crowd region the
    /// denominator is the detection's own area instead of the union.
    pub fn coco_iou(&self, ground_truth: &Rle, is_crowd: bool) -> Result<f64, MaskError> {
        let (inter, union) = self.overlap(ground_truth)?;
        if inter == 0 {
            return Ok(0.0);
        }
        let denominator = if is_crowd { self.area() } else { union };
        Ok(inter as f64 / denominator as f64)
    }

    /// The `width x height` region whose top-left pixel is `(x, y)`, as a
    /// mask of that size. The region must lie inside the mask.
    pub fn crop(&self, x: u32, y: u32, width: u32, height: u32) -> Result<Rle, MaskError> {
        let inside = width > 0
            && height > 0
            && u64::from(x) + u64::from(width) <= u64::from(self.width)
            && u64::from(y) + u64::from(height) <= u64::from(self.height);
        if !inside {
            return Err(MaskError::InvalidRegion {
                x,
                y,
                width,
                height,
                mask_height: self.height,
                mask_width: self.width,
            });
        }
        Ok(self.remap(height, width, -i64::from(x), -i64::from(y)))
    }

    /// This mask placed with its top-left pixel at `(x, y)` on an empty
    /// `height x width` canvas; the parts that fall outside are clipped (so
    /// `x` and `y` may be negative). The inverse of [`crop`](Self::crop),
    /// for instance to put a mask predicted on a zoomed-in region back into
    /// the frame.
    pub fn paste(&self, height: u32, width: u32, x: i64, y: i64) -> Result<Rle, MaskError> {
        super::check_size(height, width)?;
        // Beyond +-2^33 nothing can land on a canvas of at most 2^32 columns
        // or rows; clamping keeps the arithmetic far from overflow.
        const FAR: i64 = 1 << 33;
        Ok(self.remap(height, width, x.clamp(-FAR, FAR), y.clamp(-FAR, FAR)))
    }

    /// Moves pixel `(c, r)` to `(c + dx, r + dy)` on a `height x width`
    /// canvas (size already validated), dropping what falls outside.
    fn remap(&self, height: u32, width: u32, dx: i64, dy: i64) -> Rle {
        let (oh, ow) = (i64::from(height), i64::from(width));
        let h = self.height as usize;
        let mut b = RunBuilder::with_capacity(self.counts.len());
        // Columns that land inside the canvas, in source coordinates.
        let (col_lo, col_hi) = (-dx, ow - dx);
        let (row_lo, row_hi) = (-dy, oh - dy);
        for_each_column_segment(h, &self.counts, |c, r0, r1| {
            let c = c as i64;
            if c < col_lo || c >= col_hi {
                return;
            }
            let (r0, r1) = ((r0 as i64).max(row_lo), (r1 as i64).min(row_hi));
            if r0 >= r1 {
                return;
            }
            let base = (c + dx) * oh + dy;
            b.push_ones((base + r0) as u64, (base + r1) as u64);
        });
        Rle::from_parts(
            height,
            width,
            b.finish_to(u64::from(height) * u64::from(width)),
        )
    }

    fn check_same_size(&self, other: &Rle) -> Result<(), MaskError> {
        if (self.height, self.width) == (other.height, other.width) {
            Ok(())
        } else {
            Err(MaskError::SizeMismatch {
                a_height: self.height,
                a_width: self.width,
                b_height: other.height,
                b_width: other.width,
            })
        }
    }

    fn combine(&self, other: &Rle, op: impl Fn(bool, bool) -> bool) -> Result<Rle, MaskError> {
        self.check_same_size(other)?;
        let mut b = RunBuilder::with_capacity(self.counts.len() + other.counts.len());
        walk(&self.counts, &other.counts, |va, vb, len| {
            b.push(op(va, vb), len)
        });
        Ok(Rle::from_parts(self.height, self.width, b.finish()))
    }

    /// `(intersection area, union area)`.
    fn overlap(&self, other: &Rle) -> Result<(u64, u64), MaskError> {
        self.check_same_size(other)?;
        let (mut inter, mut union) = (0u64, 0u64);
        walk(&self.counts, &other.counts, |va, vb, len| {
            let len = u64::from(len);
            if va & vb {
                inter += len;
            }
            if va | vb {
                union += len;
            }
        });
        Ok((inter, union))
    }
}

/// Calls `f(value_a, value_b, len)` for each maximal stretch where neither
/// mask changes value. Both run lists must sum to the same total.
fn walk(a: &[u32], b: &[u32], mut f: impl FnMut(bool, bool, u32)) {
    let (mut ia, mut ib) = (0usize, 0usize);
    let (mut ra, mut rb) = (
        a.first().copied().unwrap_or(0),
        b.first().copied().unwrap_or(0),
    );
    loop {
        // Skip exhausted (or empty leading) runs; run i has value i % 2 == 1.
        while ra == 0 {
            ia += 1;
            match a.get(ia) {
                Some(&c) => ra = c,
                None => return,
            }
        }
        while rb == 0 {
            ib += 1;
            match b.get(ib) {
                Some(&c) => rb = c,
                None => return,
            }
        }
        let step = ra.min(rb);
        f(ia % 2 == 1, ib % 2 == 1, step);
        ra -= step;
        rb -= step;
    }
}

fn reduce(masks: &[Rle], op: fn(&Rle, &Rle) -> Result<Rle, MaskError>) -> Result<Rle, MaskError> {
    match masks {
        [] => Err(MaskError::NothingToMerge),
        [one] => Ok(one.clone()),
        [a, b] => op(a, b),
        _ => {
            let (left, right) = masks.split_at(masks.len() / 2);
            op(&reduce(left, op)?, &reduce(right, op)?)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A mask drawn as text, one string per row, `#` set (also used by `polygon`'s tests).
    pub(crate) fn from_rows(rows: &[&str]) -> Rle {
        let h = rows.len() as u32;
        let w = rows.first().map_or(0, |r| r.len()) as u32;
        let px: Vec<u8> = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| u8::from(b == b'#')))
            .collect();
        Rle::from_bitmap_row_major(h, w, &px).expect("valid test mask")
    }

    #[test]
    fn set_operations_on_a_small_example() {
        let a = from_rows(&["##..", "##..", "...."]);
        let b = from_rows(&[".##.", ".##.", ".##."]);
        assert_eq!(
            a.union(&b).expect("same size"),
            from_rows(&["###.", "###.", ".##."])
        );
        assert_eq!(
            a.intersection(&b).expect("same size"),
            from_rows(&[".#..", ".#..", "...."])
        );
        assert_eq!(
            a.difference(&b).expect("same size"),
            from_rows(&["#...", "#...", "...."])
        );
        assert_eq!(
            a.xor(&b).expect("same size"),
            from_rows(&["#.#.", "#.#.", ".##."])
        );
        assert_eq!(a.complement(), from_rows(&["..##", "..##", "####"]));
        assert_eq!(a.complement().complement(), a);
        assert_eq!(a.intersection_area(&b), Ok(2));
        assert!((a.iou(&b).expect("same size") - 2.0 / 8.0).abs() < 1e-12);
        // Crowd: intersection over the detection's area. These three IoUs
        // are what pycocotools' `iou([a], [b], [crowd])` printed for the
        // same two masks (0.25, 0.5, and 0.333 the other way round).
        assert!((a.coco_iou(&b, true).expect("same size") - 2.0 / 4.0).abs() < 1e-12);
        assert!((a.coco_iou(&b, false).expect("same size") - 2.0 / 8.0).abs() < 1e-12);
        assert!((b.coco_iou(&a, true).expect("same size") - 2.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn iou_of_empty_masks_is_zero_and_sizes_must_match() {
        let e = Rle::empty(3, 3).expect("valid");
        assert_eq!(e.iou(&e), Ok(0.0));
        let f = Rle::full(3, 3).expect("valid");
        assert_eq!(f.iou(&f), Ok(1.0));
        let other = Rle::empty(3, 4).expect("valid");
        assert!(matches!(
            e.union(&other),
            Err(MaskError::SizeMismatch { b_width: 4, .. })
        ));
        assert!(matches!(e.iou(&other), Err(MaskError::SizeMismatch { .. })));
    }

    #[test]
    fn merge_many() {
        let a = from_rows(&["#..", "...", "..."]);
        let b = from_rows(&[".#.", "...", "..."]);
        let c = from_rows(&["##.", "..#", "..."]);
        assert_eq!(
            Rle::union_all(&[a.clone(), b.clone(), c.clone()]),
            Ok(from_rows(&["##.", "..#", "..."]))
        );
        assert_eq!(
            Rle::intersection_all(&[a.clone(), c.clone()]),
            Ok(a.clone())
        );
        assert_eq!(
            Rle::intersection_all(&[a.clone(), b, c]),
            Ok(Rle::empty(3, 3).expect("valid"))
        );
        assert_eq!(Rle::union_all(std::slice::from_ref(&a)), Ok(a));
        assert_eq!(Rle::union_all(&[]), Err(MaskError::NothingToMerge));
    }

    #[test]
    fn crop_and_paste() {
        let m = from_rows(&["#...#", ".##..", ".##..", "....#"]);
        let c = m.crop(1, 1, 3, 2).expect("inside");
        assert_eq!(c, from_rows(&["##.", "##."]));
        assert_eq!(
            c.paste(4, 5, 1, 1).expect("valid"),
            from_rows(&[".....", ".##..", ".##..", "....."])
        );
        // Clipped at every side.
        assert_eq!(
            c.paste(2, 2, -1, 1).expect("valid"),
            from_rows(&["..", "#."])
        );
        assert_eq!(
            c.paste(2, 2, 5, 0).expect("valid"),
            Rle::empty(2, 2).expect("valid")
        );
        assert_eq!(m.crop(0, 0, 5, 4), Ok(m.clone()));
        assert!(matches!(
            m.crop(3, 0, 3, 1),
            Err(MaskError::InvalidRegion { .. })
        ));
        assert!(matches!(
            m.crop(0, 0, 0, 1),
            Err(MaskError::InvalidRegion { .. })
        ));
        assert!(matches!(
            m.crop(u32::MAX, 0, 2, 1),
            Err(MaskError::InvalidRegion { .. })
        ));
        assert!(matches!(
            c.paste(0, 5, 0, 0),
            Err(MaskError::InvalidSize { .. })
        ));
        assert_eq!(
            c.paste(2, 2, i64::MIN, i64::MAX),
            Ok(Rle::empty(2, 2).expect("valid"))
        );
        // A run wrapping from one column into the next crops correctly.
        let full = Rle::full(4, 5).expect("valid");
        assert_eq!(full.crop(1, 1, 3, 2), Ok(Rle::full(2, 3).expect("valid")));
    }
}
