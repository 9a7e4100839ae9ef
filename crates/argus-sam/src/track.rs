//! One step of mask propagation: the prompt for the next frame of a video from
//! the mask on the previous one, and its decoding.
//!
//! Propagation itself (decoding frames, the embedding cache, when to stop,
//! the store) belongs to the application layer; this module is the part that
//! knows SAM. For each next frame the image model is prompted from the
//! previous mask as SAM-based trackers do: its box, a few positive points
//! deep inside it, and its low-res logits as `mask_input`, so the decoder is
//! guided towards the same object where it has moved to. The low-res logits
//! are in model-input coordinates; the frames of one video share one
//! [`Transform`], so a frame's logits can be passed to the next as they are.

use argus_core::{BBox, Point, Rle};

use crate::image::Transform;
use crate::model::{Embedding, Prediction, SamModel};
use crate::prompt::{Click, LOW_RES, LowResMask, Prompt};
use crate::{Error, Result};

/// The logit magnitude of a low-res mask built from a binary mask
/// ([`LowResMask::from_mask`]): `+10` inside, `-10` outside. It is the scale
/// SAM 2 gives a user's mask when it turns one into mask logits
/// (`* 20 - 10`), well past the `0` threshold and inside the range real
/// decoders produce.
pub const MASK_LOGIT: f32 = 10.0;

/// Points are sampled on the mask's box brought down to at most this many
/// pixels a side (a finer grid only when that loses the mask).
const SAMPLE_SIDE: u32 = 256;

/// Predicted IoUs this close are a tie.
const IOU_TIE: f32 = 1e-6;

/// What propagation carries from one frame to the next.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackState {
    /// The mask at frame resolution.
    pub mask: Rle,
    /// The decoder's low-res logits for `mask` (model-input coordinates),
    /// when the model gives them; `None` for a user's mask.
    pub low_res: Option<LowResMask>,
    /// The decoder's predicted IoU for `mask` (1 for a user's mask).
    pub score: f32,
}

impl TrackState {
    /// The state a propagation starts from: a user's mask, with no low-res
    /// logits (the first step builds them from the mask) and a score of 1.
    pub fn from_mask(mask: Rle) -> Self {
        Self {
            mask,
            low_res: None,
            score: 1.0,
        }
    }
}

/// How [`prompt_from_mask`] and [`SamModel::track_step`] prompt the next frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackStepOptions {
    /// Positive points sampled deep inside the previous mask (default 3).
    pub points: usize,
    /// Give the previous mask's box (default true).
    pub use_box: bool,
    /// Give the previous low-res mask as `mask_input` (default true; only for
    /// decoders that expose low-res masks, see [`SamModel::low_res_output`]).
    pub use_previous_mask: bool,
}

impl Default for TrackStepOptions {
    fn default() -> Self {
        Self {
            points: 3,
            use_box: true,
            use_previous_mask: true,
        }
    }
}

/// The prompt for the next frame from the previous mask: its box (when
/// `use_box`), up to `points` positive points deep inside it, and its low-res
/// mask when the state has one (when `use_previous_mask`; [`SamModel::track_step`]
/// builds one from the mask when it has none).
///
/// The points are the deepest pixel (the largest distance to the mask's
/// boundary) and then, among the pixels at least half as deep, each time the
/// one farthest from the points already chosen (ties: the larger sum of
/// squared distances to them, then the deeper, then the first in row-major
/// order), at the centre of their pixel. The same mask always gives the same
/// prompt. Fewer points come out when the mask has fewer deep pixels.
///
/// `None` when the previous mask is empty, or when the options ask for
/// neither points nor a box (a prompt needs one of them).
pub fn prompt_from_mask(previous: &TrackState, options: &TrackStepOptions) -> Option<Prompt> {
    let bbox = previous.mask.bbox()?;
    if options.points == 0 && !options.use_box {
        return None;
    }
    let clicks = interior_points(&previous.mask, &bbox, options.points)
        .into_iter()
        .map(|point| Click {
            point,
            positive: true,
        })
        .collect::<Vec<_>>();
    if clicks.is_empty() && !options.use_box {
        return None;
    }
    Some(Prompt {
        clicks,
        bbox: options.use_box.then_some(bbox),
        previous: if options.use_previous_mask {
            previous.low_res.clone()
        } else {
            None
        },
    })
}

impl SamModel {
    /// One propagation step on an already-encoded frame: prompt from
    /// `previous` ([`prompt_from_mask`]; with no low-res mask in `previous`,
    /// one built with [`LowResMask::from_mask`], so the first step from a
    /// user's mask is guided too), decode, choose the candidate (the highest
    /// predicted IoU; ties by IoU with the previous mask, then by rank) and
    /// return the new state: its mask at frame resolution, its low-res logits
    /// when the model gives them, its predicted IoU as the score.
    ///
    /// Errors (never panics) when the previous mask is empty or not of the
    /// embedding's frame size, or when the options ask for neither points nor
    /// a box. The new mask may be empty: what to do then is the caller's call.
    pub fn track_step(
        &self,
        embedding: &Embedding,
        previous: &TrackState,
        options: &TrackStepOptions,
    ) -> Result<TrackState> {
        let t = embedding.transform();
        check_size(&previous.mask, t)?;
        if previous.mask.is_empty() {
            return Err(Error::InvalidInput(
                "the previous mask is empty: there is nothing to track".to_owned(),
            ));
        }
        let mut prompt = prompt_from_mask(previous, options).ok_or_else(|| {
            Error::InvalidInput(
                "tracking needs points or a box: the options ask for neither".to_owned(),
            )
        })?;
        prompt.previous = match (options.use_previous_mask, self.low_res_output()) {
            (true, Some(_)) => match prompt.previous.take() {
                Some(low) => Some(low),
                None => Some(LowResMask::from_mask(&previous.mask, t)?),
            },
            // a decoder without low-res masks cannot be given one back
            _ => None,
        };
        let prediction = self.predict(embedding, &prompt)?;
        let rank = choose(&prediction, &previous.mask)?;
        let chosen = prediction.candidates().get(rank).ok_or_else(|| Error::BadOutput {
            stage: "decoder",
            reason: "no candidate masks".to_owned(),
        })?;
        Ok(TrackState {
            mask: prediction.mask(rank)?,
            low_res: chosen.low_res().cloned(),
            score: chosen.iou,
        })
    }
}

impl LowResMask {
    /// A frame-resolution mask as low-res logits in model-input coordinates,
    /// what a decoder takes as `mask_input`: each cell of the 256x256 grid
    /// over the model input is [`MASK_LOGIT`] where the frame pixel under its
    /// centre is set and `-MASK_LOGIT` where it is not or where the cell lies
    /// in the input's padding (outside the resized frame, `transform`'s
    /// `resized_w x resized_h`). Errors when the mask is not of the
    /// transform's frame size.
    pub fn from_mask(mask: &Rle, transform: &Transform) -> Result<Self> {
        check_size(mask, transform)?;
        let t = transform;
        let cell = f64::from(t.input_size) / LOW_RES as f64;
        // the frame pixel under each cell centre inside the resized frame
        let samples = |resized: u32, frame: u32| -> Vec<u64> {
            (0..LOW_RES)
                .map(|i| (i as f64 + 0.5) * cell)
                .take_while(|&m| m < f64::from(resized))
                .map(|m| {
                    let p = (m * f64::from(frame) / f64::from(resized)).floor() as u64;
                    p.min(u64::from(frame) - 1)
                })
                .collect()
        };
        let xs = samples(t.resized_w, t.frame_w);
        let ys = samples(t.resized_h, t.frame_h);
        let mut logits = vec![-MASK_LOGIT; LOW_RES * LOW_RES];
        // walk the column-major runs once: sample indices only grow, except
        // when a column is sampled twice, which copies the column before
        let counts = mask.counts();
        let h = u64::from(mask.height());
        let (mut run, mut run_end) = (0usize, counts.first().map_or(0, |&c| u64::from(c)));
        let mut last_x = None;
        for (u, &x) in xs.iter().enumerate() {
            if last_x == Some(x) {
                for v in 0..ys.len() {
                    logits[v * LOW_RES + u] = logits[v * LOW_RES + u - 1];
                }
                continue;
            }
            last_x = Some(x);
            for (v, &y) in ys.iter().enumerate() {
                let index = x * h + y;
                while index >= run_end && run + 1 < counts.len() {
                    run += 1;
                    run_end += u64::from(counts[run]);
                }
                if run % 2 == 1 && index < run_end {
                    logits[v * LOW_RES + u] = MASK_LOGIT;
                }
            }
        }
        Ok(Self(logits))
    }
}

fn check_size(mask: &Rle, t: &Transform) -> Result<()> {
    if (mask.width(), mask.height()) != (t.frame_w, t.frame_h) {
        return Err(Error::InvalidInput(format!(
            "the mask is {}x{} but the frame is {}x{}",
            mask.width(),
            mask.height(),
            t.frame_w,
            t.frame_h
        )));
    }
    Ok(())
}

/// The rank of the candidate to keep: the best predicted IoU; among equal
/// ones, the best IoU with the previous mask, then the best rank.
fn choose(prediction: &Prediction, previous: &Rle) -> Result<usize> {
    let candidates = prediction.candidates();
    let Some(top) = candidates.first().map(|c| c.iou) else {
        return Ok(0);
    };
    let tied = candidates
        .iter()
        .take_while(|c| (top - c.iou).abs() <= IOU_TIE)
        .count();
    if tied <= 1 {
        return Ok(0);
    }
    let mut best = (0usize, f64::NEG_INFINITY);
    for rank in 0..tied {
        let overlap = prediction.mask(rank)?.iou(previous)?;
        if overlap > best.1 {
            best = (rank, overlap);
        }
    }
    Ok(best.0)
}

/// Up to `n` points deep inside `mask`, whose box is `bbox`, and spread apart
/// (see [`prompt_from_mask`]).
fn interior_points(mask: &Rle, bbox: &BBox, n: usize) -> Vec<Point> {
    if n == 0 {
        return Vec::new();
    }
    let (x0, y0) = (bbox.x as u32, bbox.y as u32);
    let (w, h) = (bbox.width as u32, bbox.height as u32);
    let Ok(crop) = mask.crop(x0, y0, w, h) else {
        return Vec::new();
    };
    // the box brought down to SAMPLE_SIDE, finer when that loses the mask
    let mut side = SAMPLE_SIDE;
    let (grid, gw, gh) = loop {
        let scale = (f64::from(side) / f64::from(w.max(h))).min(1.0);
        let gw = ((f64::from(w) * scale).round() as u32).clamp(1, w);
        let gh = ((f64::from(h) * scale).round() as u32).clamp(1, h);
        match crop.resample(gh, gw) {
            Ok(g) if !g.is_empty() || (gw, gh) == (w, h) => break (g, gw, gh),
            Ok(_) => side = side.saturating_mul(2),
            Err(_) => return Vec::new(),
        }
    };
    let (gw_, gh_) = (gw as usize, gh as usize);
    let depth = squared_depth(&grid.to_bitmap_row_major(), gw_, gh_);
    let deepest = depth.iter().copied().max().unwrap_or(0);
    if deepest == 0 {
        return Vec::new();
    }
    // pixels at least half as deep as the deepest: depth^2 >= deepest^2 / 4
    let deep: Vec<(usize, u64)> = depth
        .iter()
        .enumerate()
        .filter(|&(_, &d)| d > 0 && 4 * d >= deepest)
        .map(|(i, &d)| (i, d))
        .collect();
    let at = |i: usize| ((i % gw_) as i64, (i / gw_) as i64);
    let dist2 = |a: usize, b: usize| {
        let ((ax, ay), (bx, by)) = (at(a), at(b));
        ((ax - bx).pow(2) + (ay - by).pow(2)) as u64
    };
    let mut chosen: Vec<usize> = Vec::with_capacity(n);
    // the first deepest pixel in row-major order
    if let Some(&(first, _)) = deep.iter().find(|&&(_, d)| d == deepest) {
        chosen.push(first);
    }
    // per deep pixel: the squared distance to the nearest chosen point, and the sum
    let mut near = vec![u64::MAX; deep.len()];
    let mut sum = vec![0u64; deep.len()];
    while let Some(&last) = chosen.last() {
        if chosen.len() >= n {
            break;
        }
        let mut best: Option<(u64, u64, u64, usize)> = None;
        for (k, &(i, d)) in deep.iter().enumerate() {
            let s = dist2(i, last);
            near[k] = near[k].min(s);
            sum[k] = sum[k].saturating_add(s);
            // larger near, then sum, then depth; the first in row-major order wins ties
            if best.is_none_or(|b| (near[k], sum[k], d) > (b.0, b.1, b.2)) {
                best = Some((near[k], sum[k], d, i));
            }
        }
        match best {
            Some((nearest, _, _, i)) if nearest > 0 => chosen.push(i),
            _ => break,
        }
    }
    // each grid pixel's centre maps to the crop pixel it was sampled from
    // (`Rle::resample`: the source pixel under the centre); give that pixel's centre
    let source = |i: u64, size: u32, grid: u32| (2 * i + 1) * u64::from(size) / (2 * u64::from(grid));
    chosen
        .into_iter()
        .map(|i| {
            let (gx, gy) = at(i);
            Point {
                x: f64::from(x0) + source(gx as u64, w, gw) as f64 + 0.5,
                y: f64::from(y0) + source(gy as u64, h, gh) as f64 + 0.5,
            }
        })
        .collect()
}

/// Squared Euclidean distance of each set pixel of a row-major `w x h` 0/1
/// bitmap to the nearest unset pixel, where everything outside the bitmap is
/// unset (0 for unset pixels). Felzenszwalb and Huttenlocher's two passes of
/// lower envelopes of parabolas, on a grid with a one-pixel unset border.
fn squared_depth(bits: &[u8], w: usize, h: usize) -> Vec<u64> {
    let (pw, ph) = (w + 2, h + 2);
    const INF: i64 = i64::MAX / 4;
    let mut grid = vec![0i64; pw * ph];
    for y in 0..h {
        for x in 0..w {
            if bits.get(y * w + x).is_some_and(|&b| b != 0) {
                grid[(y + 1) * pw + x + 1] = INF;
            }
        }
    }
    let mut line = Vec::new();
    let mut out = Vec::new();
    // columns, then rows
    for x in 0..pw {
        line.clear();
        line.extend((0..ph).map(|y| grid[y * pw + x]));
        distance_1d(&line, &mut out);
        for (y, &d) in out.iter().enumerate() {
            grid[y * pw + x] = d;
        }
    }
    for y in 0..ph {
        line.clear();
        line.extend_from_slice(&grid[y * pw..(y + 1) * pw]);
        distance_1d(&line, &mut out);
        grid[y * pw..(y + 1) * pw].copy_from_slice(&out);
    }
    let mut depth = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            depth.push(grid[(y + 1) * pw + x + 1].max(0) as u64);
        }
    }
    depth
}

/// One dimension of the squared distance transform: `out[q] = min_p (f[p] + (q - p)^2)`
/// over the finite `f[p]` (the unset border guarantees there is one).
fn distance_1d(f: &[i64], out: &mut Vec<i64>) {
    const INF: i64 = i64::MAX / 4;
    let n = f.len();
    out.clear();
    out.resize(n, INF);
    // the lower envelope: parabola vertices `v` and the boundaries `z` between them
    let mut v: Vec<usize> = Vec::with_capacity(n);
    let mut z: Vec<f64> = Vec::with_capacity(n + 1);
    z.push(f64::NEG_INFINITY);
    for (q, &fq) in f.iter().enumerate() {
        if fq >= INF {
            continue;
        }
        let meet = |p: usize| {
            ((fq + (q * q) as i64) - (f[p] + (p * p) as i64)) as f64 / (2.0 * (q - p) as f64)
        };
        // drop the parabolas the new one hides (z[0] is -inf, so the first stays)
        while let Some(&p) = v.last() {
            let s = meet(p);
            if z.len() > 1 && z.last().is_some_and(|&zk| s <= zk) {
                v.pop();
                z.pop();
            } else {
                break;
            }
        }
        if let Some(&p) = v.last() {
            z.push(meet(p));
        }
        v.push(q);
    }
    if v.is_empty() {
        return;
    }
    let mut k = 0usize;
    for (q, o) in out.iter_mut().enumerate() {
        while k + 1 < v.len() && z[k + 1] < q as f64 {
            k += 1;
        }
        let d = q as i64 - v[k] as i64;
        *o = f[v[k]] + d * d;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use crate::manifest::ResizeMode;

    fn disc(w: u32, h: u32, cx: f64, cy: f64, r: f64) -> Rle {
        let mut bits = vec![0u8; (w * h) as usize];
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (f64::from(x) + 0.5 - cx, f64::from(y) + 0.5 - cy);
                if dx * dx + dy * dy < r * r {
                    bits[(y * w + x) as usize] = 1;
                }
            }
        }
        Rle::from_bitmap_row_major(h, w, &bits).unwrap()
    }

    #[test]
    fn squared_depth_matches_brute_force() {
        let (w, h) = (13usize, 9usize);
        let bits: Vec<u8> = (0..w * h)
            .map(|i| u8::from((i * 7 + i / 5) % 11 != 0 && i % w != 3))
            .collect();
        let depth = squared_depth(&bits, w, h);
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                let set = bits[y as usize * w + x as usize] != 0;
                // nearest unset pixel, the border outside included
                let mut best = i64::MAX;
                for yy in -1..=h as i64 {
                    for xx in -1..=w as i64 {
                        let inside = (0..w as i64).contains(&xx) && (0..h as i64).contains(&yy);
                        if !inside || bits[yy as usize * w + xx as usize] == 0 {
                            best = best.min((xx - x).pow(2) + (yy - y).pow(2));
                        }
                    }
                }
                let want = if set { best as u64 } else { 0 };
                assert_eq!(depth[y as usize * w + x as usize], want, "({x}, {y})");
            }
        }
    }

    #[test]
    fn points_are_deep_inside_and_spread() {
        let m = disc(200, 150, 90.0, 70.0, 40.0);
        let pts = interior_points(&m, &m.bbox().unwrap(), 3);
        assert_eq!(pts.len(), 3);
        assert!((pts[0].x - 90.0).abs() <= 1.0 && (pts[0].y - 70.0).abs() <= 1.0, "{pts:?}");
        for p in &pts {
            let r = ((p.x - 90.0).powi(2) + (p.y - 70.0).powi(2)).sqrt();
            assert!(r <= 21.0, "at least half as deep as the centre: {pts:?}");
        }
        for (i, a) in pts.iter().enumerate() {
            for b in &pts[i + 1..] {
                assert!(((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt() >= 15.0, "{pts:?}");
            }
        }
        // a large mask is sampled on a coarser grid, a thin one on a finer one
        let big = disc(2000, 1500, 900.0, 700.0, 600.0);
        let pts = interior_points(&big, &big.bbox().unwrap(), 2);
        assert!(pts.iter().all(|p| big.get(p.x as u32, p.y as u32)), "{pts:?}");
        let mut bits = vec![0u8; 1000 * 10];
        bits[5 * 1000..6 * 1000].fill(1);
        let line = Rle::from_bitmap_row_major(10, 1000, &bits).unwrap();
        let pts = interior_points(&line, &line.bbox().unwrap(), 3);
        assert!(!pts.is_empty() && pts.iter().all(|p| line.get(p.x as u32, p.y as u32)), "{pts:?}");
    }

    #[test]
    fn low_res_from_mask_follows_the_transform() {
        // 400x200 frame: resized to 1024x512, so the low-res grid's rows 128.. are padding
        let t = Transform::new(400, 200, 1024, ResizeMode::LongestSide).unwrap();
        let m = disc(400, 200, 100.0, 100.0, 50.0);
        let low = LowResMask::from_mask(&m, &t).unwrap();
        let at = |u: usize, v: usize| low.logits()[v * LOW_RES + u];
        // the disc's centre (100, 100) is model (256, 256), cell (64, 64)
        assert_eq!(at(64, 64), MASK_LOGIT);
        assert_eq!(at(64, 64 + 30), MASK_LOGIT, "47 px from the centre");
        assert_eq!(at(64, 64 + 34), -MASK_LOGIT, "53 px from the centre");
        assert_eq!(at(200, 64), -MASK_LOGIT);
        assert!((128..LOW_RES).all(|v| at(64, v) == -MASK_LOGIT), "padding is outside");
        let set = low.logits().iter().filter(|&&l| l > 0.0).count() as f64;
        // the disc covers pi * 50^2 frame pixels; a cell is 400/256 frame pixels a side
        let cells = std::f64::consts::PI * 50.0 * 50.0 / (400.0 / 256.0f64).powi(2);
        assert!((set - cells).abs() / cells < 0.03, "{set} cells, about {cells}");
        // a frame smaller than the grid samples columns twice
        let t = Transform::new(100, 50, 1024, ResizeMode::LongestSide).unwrap();
        let m = disc(100, 50, 50.0, 25.0, 20.0);
        let low = LowResMask::from_mask(&m, &t).unwrap();
        assert_eq!(low.logits()[128 * LOW_RES + 128], -MASK_LOGIT, "padding");
        assert_eq!(low.logits()[64 * LOW_RES + 128], MASK_LOGIT, "the disc's centre");
        // a mask of another size is an error
        assert!(LowResMask::from_mask(&disc(50, 50, 25.0, 25.0, 10.0), &t).is_err());
    }
}
