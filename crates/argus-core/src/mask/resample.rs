//! Resampling a mask to another size (nearest neighbour), straight on the
//! runs: what a view at a fraction of the frame's resolution shows.
//!
//! Output pixel `(x, y)` of a `height x width` result takes source pixel
//! `(floor((x + 0.5) * W / width), floor((y + 0.5) * H / height))`, i.e. the
//! source pixel under its centre, computed in exact integer arithmetic.

use super::codec::for_each_column_segment;
use super::{MaskError, Rle, RunBuilder};

impl Rle {
    /// This mask at `height x width` pixels, nearest neighbour (see the module docs).
    pub fn resample(&self, height: u32, width: u32) -> Result<Rle, MaskError> {
        let n = super::check_size(height, width)?;
        if (height, width) == (self.height, self.width) {
            return Ok(self.clone());
        }
        let (sh, sw) = (i64::from(self.height), i64::from(self.width));
        let (oh, ow) = (i64::from(height), i64::from(width));
        let mut columns: Vec<Vec<(i64, i64)>> = vec![Vec::new(); self.width as usize];
        for_each_column_segment(self.height as usize, &self.counts, |x, y0, y1| {
            if let Some(c) = columns.get_mut(x) {
                c.push((y0 as i64, y1 as i64));
            }
        });
        // The first output row whose centre falls on source row >= r:
        // the least y with (2y + 1) * sh >= 2 * oh * r.
        let first_row = |r: i64| -> i64 { (2 * oh * r - sh).div_euclid(2 * sh) + i64::from((2 * oh * r - sh).rem_euclid(2 * sh) != 0) };
        let mut b = RunBuilder::default();
        for x in 0..ow {
            let sx = ((2 * x + 1) * sw / (2 * ow)) as usize;
            let Some(segments) = columns.get(sx) else { continue };
            let base = x * oh;
            for &(r0, r1) in segments {
                let (y0, y1) = (first_row(r0).clamp(0, oh), first_row(r1).clamp(0, oh));
                if y0 < y1 {
                    b.push_ones((base + y0) as u64, (base + y1) as u64);
                }
            }
        }
        Ok(Rle::from_parts(height, width, b.finish_to(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(m: &Rle, h: u32, w: u32) -> Vec<u8> {
        let src = m.to_bitmap_row_major();
        let (sh, sw) = (u64::from(m.height()), u64::from(m.width()));
        let mut out = vec![0u8; (h * w) as usize];
        for y in 0..u64::from(h) {
            for x in 0..u64::from(w) {
                let sx = (2 * x + 1) * sw / (2 * u64::from(w));
                let sy = (2 * y + 1) * sh / (2 * u64::from(h));
                out[(y * u64::from(w) + x) as usize] = src[(sy * sw + sx) as usize];
            }
        }
        out
    }

    #[test]
    fn halving_a_box_halves_it() {
        let m = Rle::from_bbox(100, 200, &crate::geometry::BBox::new(20.0, 10.0, 60.0, 40.0).expect("box")).expect("mask");
        let half = m.resample(50, 100).expect("resample");
        assert_eq!(half.bbox().map(|b| (b.x, b.y, b.width, b.height)), Some((10.0, 5.0, 30.0, 20.0)));
        assert_eq!(m.resample(100, 200).expect("same"), m);
        assert!(m.resample(0, 10).is_err());
    }

    proptest! {
        #[test]
        fn matches_nearest_neighbour(
            sh in 1u32..30, sw in 1u32..30, h in 1u32..40, w in 1u32..40,
            bits in proptest::collection::vec(any::<bool>(), 900),
        ) {
            let bitmap: Vec<u8> = (0..(sh * sw) as usize).map(|i| u8::from(bits[i % bits.len()])).collect();
            let m = Rle::from_bitmap_row_major(sh, sw, &bitmap).expect("mask");
            let r = m.resample(h, w).expect("resample");
            prop_assert_eq!(r.to_bitmap_row_major(), naive(&m, h, w));
        }
    }
}
