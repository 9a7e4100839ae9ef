//! Bitmap <-> runs, a word (8 pixels) at a time.
//!
//! Row-major bitmaps are what images, SAM outputs and textures use, but the
//! runs are column-major, so a naive encoder walks the bitmap down columns
//! (a cache miss per pixel) with a branch per pixel. Instead:
//!
//! - encoding scans rows in memory order, compares each row with the one
//!   above 8 bytes at a time and records only the pixels where a column
//!   changes value ("toggles"); most words of a real mask are equal to the
//!   word above, so they cost a load, a few ALU ops and a compare. The toggles
//!   are then bucketed by column (a counting sort) and turned into runs;
//! - decoding does the reverse: runs -> per-column toggles -> bucketed by row,
//!   and each output row is the row above (a `memcpy`) with its few toggled
//!   bytes flipped.
//!
//! Both are `O(pixels / 8 + toggles)` with sequential memory access.

use super::RunBuilder;

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte is set iff that byte is non-zero.
#[inline(always)]
fn nonzero_bytes(v: u64) -> u64 {
    (((v & LOW7) + LOW7) | v) & HIGH
}

/// Runs from a row-major bitmap whose size the caller has validated
/// (`pixels.len() == h * w <= u32::MAX`, both > 0).
pub(super) fn encode_row_major(h: usize, w: usize, pixels: &[u8]) -> Vec<u32> {
    // Toggles (x, y) in row-major order: pixel (x, y) differs from (x, y-1),
    // where row -1 is all zeros.
    let mut tx: Vec<u32> = Vec::new();
    let mut ty: Vec<u32> = Vec::new();
    let words = w / 8;
    let mut prev = vec![0u64; words];
    let mut prev_tail = vec![false; w % 8];
    for (y, row) in pixels.chunks_exact(w).enumerate() {
        let (chunks, tail) = row.as_chunks::<8>();
        for ((k, chunk), p) in chunks.iter().enumerate().zip(prev.iter_mut()) {
            let n = nonzero_bytes(u64::from_le_bytes(*chunk));
            let mut d = n ^ *p;
            if d != 0 {
                *p = n;
                while d != 0 {
                    let byte = (d.trailing_zeros() / 8) as usize;
                    tx.push((k * 8 + byte) as u32);
                    ty.push(y as u32);
                    d &= d - 1;
                }
            }
        }
        for (i, (&v, p)) in tail.iter().zip(prev_tail.iter_mut()).enumerate() {
            let v = v != 0;
            if v != *p {
                *p = v;
                tx.push((words * 8 + i) as u32);
                ty.push(y as u32);
            }
        }
    }

    // Counting sort by column; rows stay ascending within a column.
    let mut start = vec![0u32; w + 1];
    for &x in &tx {
        start[x as usize + 1] += 1;
    }
    for i in 0..w {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut rows = vec![0u32; tx.len()];
    for (&x, &y) in tx.iter().zip(&ty) {
        let slot = &mut fill[x as usize];
        rows[*slot as usize] = y;
        *slot += 1;
    }

    // Column-major change positions -> runs. Each column's toggles assume
    // the pixel above row 0 is 0; the stream's previous pixel is instead the
    // bottom of the previous column, so fix up row 0.
    let mut counts = Vec::with_capacity(tx.len() + 2);
    let mut last = 0usize; // position of the last change
    let mut state = false; // value of the previous pixel in column-major order
    let mut emit = |p: usize, counts: &mut Vec<u32>| {
        counts.push((p - last) as u32);
        last = p;
    };
    for x in 0..w {
        let col = &rows[start[x] as usize..start[x + 1] as usize];
        let base = x * h;
        let mut toggles = col;
        if state {
            match col.first() {
                Some(0) => toggles = &col[1..],
                _ => emit(base, &mut counts),
            }
        }
        for &y in toggles {
            emit(base + y as usize, &mut counts);
        }
        state = col.len() % 2 == 1;
    }
    counts.push((h * w - last) as u32);
    counts
}

/// Runs from a column-major bitmap (size validated by the caller).
///
/// Pixels are consumed 32 at a time; a block that is entirely the current
/// run's value (the common case) costs four loads and a compare, and only
/// blocks containing a change are looked at byte by byte.
pub(super) fn encode_col_major(pixels: &[u8]) -> Vec<u32> {
    let mut b = RunBuilder::default();
    let mut value = false;
    let mut run_start = 0usize;
    let mut scan = |bytes: &[u8], base: usize, value: &mut bool, b: &mut RunBuilder| {
        for (i, &v) in bytes.iter().enumerate() {
            if (v != 0) != *value {
                b.push(*value, (base + i - run_start) as u32);
                run_start = base + i;
                *value = !*value;
            }
        }
    };
    let (blocks, tail) = pixels.as_chunks::<32>();
    for (k, block) in blocks.iter().enumerate() {
        let (words, _) = block.as_chunks::<8>();
        let uniform = if value {
            words
                .iter()
                .all(|w| nonzero_bytes(u64::from_le_bytes(*w)) == HIGH)
        } else {
            words
                .iter()
                .fold(0u64, |acc, w| acc | u64::from_le_bytes(*w))
                == 0
        };
        if !uniform {
            scan(block, k * 32, &mut value, &mut b);
        }
    }
    scan(tail, blocks.len() * 32, &mut value, &mut b);
    b.push(value, (pixels.len() - run_start) as u32);
    b.finish()
}

/// Row-major 0/1 bitmap from runs that are valid for `h x w`.
pub(super) fn decode_row_major(h: usize, w: usize, counts: &[u32]) -> Vec<u8> {
    // Per-column toggles: each maximal vertical segment of ones [y0, y1) in
    // column x starts a toggle at (x, y0) and, unless it reaches the bottom,
    // ends one at (x, y1).
    let mut tx: Vec<u32> = Vec::new();
    let mut ty: Vec<u32> = Vec::new();
    for_each_column_segment(h, counts, |x, y0, y1| {
        tx.push(x as u32);
        ty.push(y0 as u32);
        if y1 < h {
            tx.push(x as u32);
            ty.push(y1 as u32);
        }
    });
    // Counting sort by row.
    let mut start = vec![0u32; h + 1];
    for &y in &ty {
        start[y as usize + 1] += 1;
    }
    for i in 0..h {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut cols = vec![0u32; tx.len()];
    for (&x, &y) in tx.iter().zip(&ty) {
        let slot = &mut fill[y as usize];
        cols[*slot as usize] = x;
        *slot += 1;
    }
    let mut out = vec![0u8; h * w];
    for y in 0..h {
        if y > 0 {
            out.copy_within((y - 1) * w..y * w, y * w);
        }
        let row = &mut out[y * w..(y + 1) * w];
        for &x in &cols[start[y] as usize..start[y + 1] as usize] {
            row[x as usize] ^= 1;
        }
    }
    out
}

/// Column-major 0/1 bitmap from valid runs.
pub(super) fn decode_col_major(n: usize, counts: &[u32]) -> Vec<u8> {
    let mut out = vec![0u8; n];
    let mut pos = 0usize;
    for (i, &c) in counts.iter().enumerate() {
        let end = pos + c as usize;
        if i % 2 == 1 {
            out[pos..end].fill(1);
        }
        pos = end;
    }
    out
}

/// Calls `f(x, y0, y1)` for every maximal vertical segment of set pixels
/// `[y0, y1)` in column `x`, in column-major order.
pub(super) fn for_each_column_segment(
    h: usize,
    counts: &[u32],
    mut f: impl FnMut(usize, usize, usize),
) {
    let mut pos = 0usize;
    for (i, &c) in counts.iter().enumerate() {
        let (s, e) = (pos, pos + c as usize);
        pos = e;
        if i % 2 == 0 || c == 0 {
            continue;
        }
        let (xs, ys) = (s / h, s % h);
        let (xe, ye) = ((e - 1) / h, (e - 1) % h + 1);
        if xs == xe {
            f(xs, ys, ye);
        } else {
            f(xs, ys, h);
            for x in xs + 1..xe {
                f(x, 0, h);
            }
            f(xe, 0, ye);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonzero_bytes_flags_every_non_zero_value() {
        for v in 0..=255u8 {
            let word = u64::from_le_bytes([0, v, 0, 0, 0, 0, v, 0]);
            let expect = if v == 0 { 0 } else { 0x0080_0000_0000_8000 };
            assert_eq!(nonzero_bytes(word), expect, "byte {v}");
        }
    }

    #[test]
    fn column_segments_split_runs_that_wrap_columns() {
        // 3x3, ones at column-major 2..8: (0,2) | (1,0..3) | (2,0..2)
        let mut segs = Vec::new();
        for_each_column_segment(3, &[2, 6, 1], |x, a, b| segs.push((x, a, b)));
        assert_eq!(segs, [(0, 2, 3), (1, 0, 3), (2, 0, 2)]);
    }

    #[test]
    fn widths_with_and_without_a_partial_word() {
        for w in [1usize, 7, 8, 9, 16, 17, 33, 70] {
            let h = 5usize;
            let px: Vec<u8> = (0..h * w)
                .map(|i| u8::from((i * 7 + i / 3) % 5 < 2) * 3)
                .collect();
            let counts = encode_row_major(h, w, &px);
            let back = decode_row_major(h, w, &counts);
            let norm: Vec<u8> = px.iter().map(|&v| u8::from(v != 0)).collect();
            assert_eq!(back, norm, "width {w}");
            // Same runs as the obvious column walk.
            let col: Vec<u8> = (0..h * w).map(|i| norm[(i % h) * w + i / h]).collect();
            assert_eq!(encode_col_major(&col), counts, "width {w}");
        }
    }
}
