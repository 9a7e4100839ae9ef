//! Mask post-processing: decoder logits to COCO RLE at frame resolution.
//!
//! The decoder's logits are row-major; COCO RLE is column-major. Instead of
//! materialising a boolean image and transposing it, each output row is
//! thresholded into a bit row (64 pixels per word), XOR-ed with the previous
//! row, and only the set bits of the difference (the vertical edges of the
//! mask) become run boundaries; a counting sort by column puts them in
//! column-major order. The work is one pass over the pixels plus work
//! proportional to the mask's outline.
//!
//! [`upscale_to_rle`] additionally fuses the bilinear upsampling from the
//! model-space mask to the frame (ONNX `Resize` linear / `half_pixel`, i.e.
//! PyTorch `interpolate(bilinear, align_corners=False)`) into the same pass,
//! so the full-resolution float mask never exists.

use argus_core::Rle;

use crate::image::taps;
use crate::{Error, Result};

/// Thresholds row-major `logits` (`height x width`) at `> 0` into an RLE.
pub fn logits_to_rle(logits: &[f32], height: u32, width: u32) -> Result<Rle> {
    let (h, w) = (height as usize, width as usize);
    if logits.len() != h * w || h == 0 || w == 0 {
        return Err(Error::BadOutput {
            stage: "decoder",
            reason: format!(
                "mask has {} values, expected {height}x{width}",
                logits.len()
            ),
        });
    }
    let mut builder = RleBuilder::new(h, w);
    for (y, row) in logits.chunks_exact(w).enumerate() {
        builder.push_row(y, |bits| threshold_into(row, bits));
    }
    builder.finish()
}

/// Bilinearly upsamples row-major `logits` (`src_h x src_w`) to
/// `dst_h x dst_w` and thresholds at `> 0` into an RLE, in one pass.
pub fn upscale_to_rle(
    logits: &[f32],
    src_h: usize,
    src_w: usize,
    dst_h: u32,
    dst_w: u32,
) -> Result<Rle> {
    let (h, w) = (dst_h as usize, dst_w as usize);
    if logits.len() != src_h * src_w || src_h == 0 || src_w == 0 || h == 0 || w == 0 {
        return Err(Error::BadOutput {
            stage: "decoder",
            reason: format!("mask has {} values, expected {src_h}x{src_w}", logits.len()),
        });
    }
    let xt = taps(src_w, w);
    let yt = taps(src_h, h);
    // horizontally interpolated source rows, cached by source row index
    let mut rows: [(usize, Vec<f32>); 2] = [(usize::MAX, vec![0.0; w]), (usize::MAX, vec![0.0; w])];
    let mut line = vec![0.0f32; w];
    let mut builder = RleBuilder::new(h, w);
    for (y, ty) in yt.iter().enumerate() {
        for (slot, src) in [(0usize, ty.i0), (1, ty.i1)] {
            if rows[slot].0 != src {
                let other = 1 - slot;
                if rows[other].0 == src {
                    let (a, b) = rows.split_at_mut(1);
                    let (dst, from) = if slot == 0 {
                        (&mut a[0], &b[0])
                    } else {
                        (&mut b[0], &a[0])
                    };
                    dst.1.copy_from_slice(&from.1);
                } else {
                    let s = &logits[src * src_w..(src + 1) * src_w];
                    for (o, t) in rows[slot].1.iter_mut().zip(&xt) {
                        *o = s[t.i0] + (s[t.i1] - s[t.i0]) * t.w1;
                    }
                }
                rows[slot].0 = src;
            }
        }
        let fy = ty.w1;
        let (r0, r1) = (&rows[0].1, &rows[1].1);
        for ((o, a), b) in line.iter_mut().zip(r0).zip(r1) {
            *o = a + (b - a) * fy;
        }
        builder.push_row(y, |bits| threshold_into(&line, bits));
    }
    builder.finish()
}

/// Bilinearly resizes row-major `src` (`src_h x src_w`) to `full.0 x full.1`
/// but computes only the top-left `region.0 x region.1` of the result (SAM's
/// "upsample to the padded input, then crop the padding" in one step).
pub(crate) fn resize_region(
    src: &[f32],
    src_h: usize,
    src_w: usize,
    full: (usize, usize),
    region: (usize, usize),
) -> Vec<f32> {
    let (rh, rw) = (region.0.min(full.0), region.1.min(full.1));
    let xt = taps(src_w, full.1);
    let yt = taps(src_h, full.0);
    let mut out = vec![0.0f32; rh * rw];
    let mut top = vec![0.0f32; rw];
    let mut bottom = vec![0.0f32; rw];
    for (row, ty) in out.chunks_exact_mut(rw.max(1)).zip(&yt) {
        for (dst, y) in [(&mut top, ty.i0), (&mut bottom, ty.i1)] {
            let s = src.get(y * src_w..(y + 1) * src_w).unwrap_or(&[]);
            for (o, t) in dst.iter_mut().zip(&xt) {
                let (a, b) = (
                    s.get(t.i0).copied().unwrap_or(0.0),
                    s.get(t.i1).copied().unwrap_or(0.0),
                );
                *o = a + (b - a) * t.w1;
            }
        }
        for ((o, a), b) in row.iter_mut().zip(&top).zip(&bottom) {
            *o = a + (b - a) * ty.w1;
        }
    }
    out
}

fn threshold_into(row: &[f32], bits: &mut [u64]) {
    for (word, chunk) in bits.iter_mut().zip(row.chunks(64)) {
        let mut v = 0u64;
        for (j, &x) in chunk.iter().enumerate() {
            v |= u64::from(x > 0.0) << j;
        }
        *word = v;
    }
}

/// Collects vertical edges row by row and emits column-major runs.
struct RleBuilder {
    h: usize,
    w: usize,
    first: Vec<u64>,
    prev: Vec<u64>,
    cur: Vec<u64>,
    /// (column, row) of every change between row y-1 and y, y >= 1, in row order.
    edges: Vec<(u32, u32)>,
}

impl RleBuilder {
    fn new(h: usize, w: usize) -> Self {
        let words = w.div_ceil(64);
        Self {
            h,
            w,
            first: vec![0; words],
            prev: vec![0; words],
            cur: vec![0; words],
            edges: Vec::new(),
        }
    }

    fn push_row(&mut self, y: usize, fill: impl FnOnce(&mut [u64])) {
        fill(&mut self.cur);
        if y == 0 {
            self.first.copy_from_slice(&self.cur);
        } else {
            for (k, (c, p)) in self.cur.iter().zip(&self.prev).enumerate() {
                let mut d = c ^ p;
                while d != 0 {
                    let x = k * 64 + d.trailing_zeros() as usize;
                    self.edges.push((x as u32, y as u32));
                    d &= d - 1;
                }
            }
        }
        std::mem::swap(&mut self.prev, &mut self.cur);
    }

    fn finish(self) -> Result<Rle> {
        let (h, w) = (self.h, self.w);
        let bit = |row: &[u64], x: usize| (row[x / 64] >> (x % 64)) & 1 == 1;
        // counting sort of the edges by column (stable, so rows stay in order)
        let mut start = vec![0usize; w + 1];
        for &(x, _) in &self.edges {
            start[x as usize + 1] += 1;
        }
        // one extra slot per column for a change at row 0
        let mut top = vec![false; w];
        let mut above = false; // value of the pixel before (x, 0) in column-major order
        for (x, t) in top.iter_mut().enumerate() {
            let v = bit(&self.first, x);
            *t = v != above;
            above = bit(&self.prev, x); // `prev` now holds the last row
        }
        for x in 0..w {
            start[x + 1] += start[x];
        }
        let mut ys = vec![0u32; self.edges.len()];
        let mut fill = start.clone();
        for &(x, y) in &self.edges {
            ys[fill[x as usize]] = y;
            fill[x as usize] += 1;
        }
        let mut counts = Vec::with_capacity(self.edges.len() + w / 8 + 2);
        let mut last = 0u64;
        let mut push = |p: u64| {
            counts.push((p - last) as u32);
            last = p;
        };
        for x in 0..w {
            let col = (x * h) as u64;
            if top[x] {
                push(col);
            }
            for &y in &ys[start[x]..start[x + 1]] {
                push(col + u64::from(y));
            }
        }
        let total = (h * w) as u64;
        counts.push((total - last) as u32);
        Ok(Rle::new(h as u32, w as u32, counts)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn reference(bits: &[bool], h: usize, w: usize) -> Rle {
        let bytes: Vec<u8> = bits.iter().map(|&b| u8::from(b)).collect();
        Rle::from_bitmap_row_major(h as u32, w as u32, &bytes).unwrap()
    }

    /// Deterministic pseudo-random logits (xorshift), blobby so runs vary.
    fn logits(h: usize, w: usize, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 1000) as f32 / 500.0 - 1.0
        };
        let cx = next() * w as f32;
        (0..h * w)
            .map(|i| {
                let (y, x) = ((i / w) as f32, (i % w) as f32);
                ((x - cx.abs()) * 0.07).sin() + (y * 0.11).cos() + next() * 0.6
            })
            .collect()
    }

    #[test]
    fn logits_to_rle_matches_the_bitmap_encoder() {
        for (h, w, seed) in [
            (1, 1, 1),
            (7, 3, 2),
            (64, 64, 3),
            (37, 130, 4),
            (100, 257, 5),
            (3, 200, 6),
        ] {
            let l = logits(h, w, seed);
            let bits: Vec<bool> = l.iter().map(|&v| v > 0.0).collect();
            assert_eq!(
                logits_to_rle(&l, h as u32, w as u32).unwrap(),
                reference(&bits, h, w),
                "{h}x{w}"
            );
        }
        // all set / all clear: a leading empty zero run for "all set"
        let ones = logits_to_rle(&[1.0; 12], 3, 4).unwrap();
        assert_eq!(ones.counts(), &[0, 12]);
        assert_eq!(logits_to_rle(&[-1.0; 12], 3, 4).unwrap().counts(), &[12]);
        assert!(logits_to_rle(&[1.0; 11], 3, 4).is_err());
    }

    #[test]
    fn column_boundaries_are_runs_too() {
        // column 0 ends set, column 1 starts set: the run continues across the boundary
        let l = [-1.0, 1.0, 1.0, -1.0f32]; // 2x2 row-major: (0,0)=-,(0,1)=+,(1,0)=+,(1,1)=-
        let r = logits_to_rle(&l, 2, 2).unwrap();
        assert_eq!(r.counts(), &[1, 2, 1]);
    }

    fn naive_upscale(l: &[f32], sh: usize, sw: usize, h: usize, w: usize) -> Vec<bool> {
        let xt = taps(sw, w);
        let yt = taps(sh, h);
        let mut out = Vec::with_capacity(h * w);
        for ty in &yt {
            for tx in &xt {
                let at = |y: usize, x: usize| l[y * sw + x];
                let top = at(ty.i0, tx.i0) + (at(ty.i0, tx.i1) - at(ty.i0, tx.i0)) * tx.w1;
                let bot = at(ty.i1, tx.i0) + (at(ty.i1, tx.i1) - at(ty.i1, tx.i0)) * tx.w1;
                out.push(top + (bot - top) * ty.w1 > 0.0);
            }
        }
        out
    }

    #[test]
    fn resize_region_is_a_crop_of_the_full_resize() {
        let l = logits(8, 8, 11);
        let full = resize_region(&l, 8, 8, (32, 32), (32, 32));
        let part = resize_region(&l, 8, 8, (32, 32), (18, 32));
        assert_eq!(part.len(), 18 * 32);
        assert_eq!(&full[..18 * 32], &part[..]);
        let narrow = resize_region(&l, 8, 8, (32, 32), (32, 7));
        assert!((0..32).all(|y| narrow[y * 7..(y + 1) * 7] == full[y * 32..y * 32 + 7]));
        // it is the same bilinear maths as the fused upscale
        let bits: Vec<u8> = full.iter().map(|v| u8::from(*v > 0.0)).collect();
        assert_eq!(
            Rle::from_bitmap_row_major(32, 32, &bits).unwrap(),
            upscale_to_rle(&l, 8, 8, 32, 32).unwrap()
        );
    }

    #[test]
    fn upscale_matches_a_naive_bilinear_resize() {
        for (sh, sw, h, w, seed) in [
            (4, 4, 9, 13, 1),
            (16, 32, 35, 70, 2),
            (20, 10, 20, 10, 3),
            (5, 7, 3, 4, 4),
            (1, 1, 3, 3, 5),
        ] {
            let l = logits(sh, sw, seed);
            let got = upscale_to_rle(&l, sh, sw, h as u32, w as u32).unwrap();
            assert_eq!(
                got,
                reference(&naive_upscale(&l, sh, sw, h, w), h, w),
                "{sh}x{sw} -> {h}x{w}"
            );
        }
        // smooth masks (long runs), sizes with partial words, and NaN logits
        let disk: Vec<f32> = (0..64 * 64)
            .map(|i| {
                20.0 - (((i % 64) as f32 - 30.0).powi(2) + ((i / 64) as f32 - 25.0).powi(2)).sqrt()
            })
            .collect();
        for (h, w) in [(1080, 1920), (333, 250), (64, 130), (7, 65)] {
            let got = upscale_to_rle(&disk, 64, 64, h as u32, w as u32).unwrap();
            assert_eq!(
                got,
                reference(&naive_upscale(&disk, 64, 64, h, w), h, w),
                "disk -> {h}x{w}"
            );
        }
        let mut holes = disk.clone();
        for v in holes.iter_mut().skip(64 * 20).take(200) {
            *v = f32::NAN;
        }
        let got = upscale_to_rle(&holes, 64, 64, 200, 170).unwrap();
        assert_eq!(
            got,
            reference(&naive_upscale(&holes, 64, 64, 200, 170), 200, 170),
            "NaN"
        );
        // identity size equals plain thresholding
        let l = logits(30, 40, 9);
        assert_eq!(
            upscale_to_rle(&l, 30, 40, 30, 40).unwrap(),
            logits_to_rle(&l, 30, 40).unwrap()
        );
    }
}
