//! Keyframe interpolation: the shape a track has on a frame between two of its
//! keyframes, as pure geometry.
//!
//! `t` runs from 0 (keyframe `a`) to 1 (keyframe `b`); a NaN `t` counts as 0 and
//! any other `t` is clamped to `[0, 1]`. At `t = 0` and `t = 1` every function
//! returns an exact copy of `a` or `b` (no resampling, no rounding), so a
//! keyframe never moves because the frames around it were interpolated.
//!
//! - Boxes and keypoints move linearly (points only when both have as many).
//! - Polylines with the same number of points blend vertex by vertex (the
//!   annotator's vertices correspond); otherwise both are resampled by arc
//!   length to a common count and blended.
//! - Polygon rings have no natural first vertex or direction, so both rings are
//!   resampled by arc length to the same count, turned the same way, and `b`'s
//!   ring is rotated to the start that lies nearest `a`'s before blending.
//! - Masks are morphed through signed distance fields ([`MaskMorph`]), after
//!   lining up their centroids so that a moving object does not shrink through
//!   the frames where its two keyframes do not overlap.
//!
//! Nothing here panics, whatever the input: geometry built with its public
//! fields (so not validated) gives garbage out for garbage in, never a panic.

use std::fmt;

use crate::geometry::{BBox, Point, Polygon, Polyline};
use crate::id::ShapeId;
use crate::mask::sdf::{Window, signed_distance};
use crate::mask::{MaskError, Rle};
use crate::model::{Geometry, Shape, ShapeSource};

/// Resampled polygon rings have at least this many points, enough to follow
/// a shape whose two keyframes have very few vertices.
const MIN_RING_POINTS: usize = 32;

/// Outside pixels kept around the morph window. One suffices for the distance
/// fields to be those of the infinite plane (every inside pixel's nearest
/// outside pixel is then in the window); the second is a cheap guard.
const MARGIN: i64 = 2;

/// `t` as the functions here read it: NaN is 0, the rest clamped to `[0, 1]`.
fn clamp_t(t: f64) -> f64 {
    if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) }
}

/// `(1 - t) a + t b`, kept between `a` and `b` despite rounding (and without
/// overflowing where `b - a` would).
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let v = (1.0 - t) * a + t * b;
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    // Not f64::clamp: it panics on NaN bounds.
    if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        v
    }
}

fn lerp_point(a: Point, b: Point, t: f64) -> Point {
    Point { x: lerp(a.x, b.x, t), y: lerp(a.y, b.y, t) }
}

fn squared_distance(a: Point, b: Point) -> f64 {
    (a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y)
}

fn distance(a: Point, b: Point) -> f64 {
    (a.x - b.x).hypot(a.y - b.y)
}

/// Geometry between keyframe `a` (t = 0) and `b` (t = 1). None when the kinds differ or cannot correspond
/// (points with different counts, masks of different frame sizes); exact copies of a / b at t = 0 / 1.
///
/// A mask pair costs a [`MaskMorph::new`] on every call; to step through many frames between the same two
/// keyframes, build one [`MaskMorph`] and call [`MaskMorph::at`] per frame.
pub fn interpolate(a: &Geometry, b: &Geometry, t: f64) -> Option<Geometry> {
    Some(match (a, b) {
        (Geometry::BBox(a), Geometry::BBox(b)) => Geometry::BBox(interpolate_bbox(a, b, t)),
        (Geometry::Points(a), Geometry::Points(b)) => Geometry::Points(interpolate_points(a, b, t)?),
        (Geometry::Polyline(a), Geometry::Polyline(b)) => Geometry::Polyline(interpolate_polyline(a, b, t)),
        (Geometry::Polygon(a), Geometry::Polygon(b)) => Geometry::Polygon(interpolate_polygon(a, b, t)),
        (Geometry::Mask(a), Geometry::Mask(b)) => Geometry::Mask(interpolate_mask(a, b, t).ok()?),
        _ => return None,
    })
}

/// Each of `x`, `y`, `width` and `height` linearly.
pub fn interpolate_bbox(a: &BBox, b: &BBox, t: f64) -> BBox {
    let t = clamp_t(t);
    if t == 0.0 {
        return *a;
    }
    if t == 1.0 {
        return *b;
    }
    BBox {
        x: lerp(a.x, b.x, t),
        y: lerp(a.y, b.y, t),
        width: lerp(a.width, b.width, t),
        height: lerp(a.height, b.height, t),
    }
}

/// Point `i` of `a` to point `i` of `b`, linearly; `None` when the counts differ.
pub fn interpolate_points(a: &[Point], b: &[Point], t: f64) -> Option<Vec<Point>> {
    if a.len() != b.len() {
        return None;
    }
    let t = clamp_t(t);
    Some(if t == 0.0 {
        a.to_vec()
    } else if t == 1.0 {
        b.to_vec()
    } else {
        a.iter().zip(b).map(|(&p, &q)| lerp_point(p, q, t)).collect()
    })
}

/// Vertex by vertex when both have as many points (the annotator's vertices correspond); otherwise both are
/// resampled by arc length to `max(len a, len b, 32)` points, first point to first point, last to last, and
/// blended. The direction is kept: a polyline's order can mean something (a lane's direction, a limb).
pub fn interpolate_polyline(a: &Polyline, b: &Polyline, t: f64) -> Polyline {
    let t = clamp_t(t);
    if t == 0.0 || a.points.len() < 2 || b.points.len() < 2 {
        return if t < 0.5 { a.clone() } else { b.clone() };
    }
    if t == 1.0 {
        return b.clone();
    }
    let points = if a.points.len() == b.points.len() {
        a.points.iter().zip(&b.points).map(|(&p, &q)| lerp_point(p, q, t)).collect()
    } else {
        let n = a.points.len().max(b.points.len()).max(MIN_RING_POINTS);
        let (ra, rb) = (resample_open(&a.points, n), resample_open(&b.points, n));
        ra.iter().zip(&rb).map(|(&p, &q)| lerp_point(p, q, t)).collect()
    };
    Polyline { points }
}

/// Point correspondence by resampling: each exterior ring is resampled by arc length to `max(len a, len b, 32)`
/// points, `b`'s ring is turned the way `a`'s runs (by the sign of its area) and started at the point that
/// minimises the summed squared distance to `a`'s, then the pairs are blended. Holes: with as many holes on both
/// sides they are paired in order and interpolated the same way; otherwise `a`'s holes are kept for `t < 0.5` and
/// `b`'s after.
///
/// Cost: `O(n)` to resample plus the search over the `n` starts, `O(n^2)` at worst but cut short as soon as a start
/// is worse than the best so far (well under a millisecond for the few hundred points of a traced mask).
pub fn interpolate_polygon(a: &Polygon, b: &Polygon, t: f64) -> Polygon {
    let t = clamp_t(t);
    if t == 0.0 {
        return a.clone();
    }
    if t == 1.0 {
        return b.clone();
    }
    let holes = if a.holes.len() == b.holes.len() {
        a.holes.iter().zip(&b.holes).map(|(ha, hb)| interpolate_ring(ha, hb, t)).collect()
    } else if t < 0.5 {
        a.holes.clone()
    } else {
        b.holes.clone()
    };
    Polygon { exterior: interpolate_ring(&a.exterior, &b.exterior, t), holes }
}

/// One closed ring between `a` and `b` (see [`interpolate_polygon`]).
fn interpolate_ring(a: &[Point], b: &[Point], t: f64) -> Vec<Point> {
    if a.is_empty() || b.is_empty() {
        return if t < 0.5 { a.to_vec() } else { b.to_vec() };
    }
    let n = a.len().max(b.len()).max(MIN_RING_POINTS);
    let (area_a, area_b) = (Polygon::ring_signed_area(a), Polygon::ring_signed_area(b));
    let rb = if area_a * area_b < 0.0 {
        let reversed: Vec<Point> = b.iter().rev().copied().collect();
        resample_closed(&reversed, n)
    } else {
        resample_closed(b, n)
    };
    let ra = resample_closed(a, n);
    let offset = best_cyclic_offset(&ra, &rb);
    let (head, tail) = rb.split_at(offset);
    ra.iter().zip(tail.iter().chain(head)).map(|(&p, &q)| lerp_point(p, q, t)).collect()
}

/// The rotation `k` of `b` (point `i` of `a` pairs with point `(i + k) % n` of `b`) with the least summed squared
/// distance. Exact: a candidate is dropped only once its partial sum reaches the best total so far.
fn best_cyclic_offset(a: &[Point], b: &[Point]) -> usize {
    let n = a.len().min(b.len());
    // Start from the rotation that puts b's point nearest a[0] first: usually the answer, so the rest stop early.
    let guess = match a.first() {
        Some(&a0) => (0..n).min_by(|&i, &j| squared_distance(a0, b[i]).total_cmp(&squared_distance(a0, b[j]))),
        None => None,
    }
    .unwrap_or(0);
    let cost = |k: usize, bound: f64| -> f64 {
        let (head, tail) = b[..n].split_at(k);
        let mut sum = 0.0;
        for (&p, &q) in a[..n].iter().zip(tail.iter().chain(head)) {
            sum += squared_distance(p, q);
            if sum >= bound {
                break;
            }
        }
        sum
    };
    let mut best = (guess, cost(guess, f64::INFINITY));
    for k in 0..n {
        if k == guess {
            continue;
        }
        let c = cost(k, best.1);
        if c < best.1 {
            best = (k, c);
        }
    }
    best.0
}

/// `n` points spaced evenly by arc length around the closed ring, the first at `ring[0]`; all at `ring[0]` when the
/// ring has no length. `ring` must not be empty.
fn resample_closed(ring: &[Point], n: usize) -> Vec<Point> {
    let m = ring.len();
    let edge = |i: usize| (ring[i], ring[(i + 1) % m]);
    let total: f64 = (0..m).map(|i| distance(edge(i).0, edge(i).1)).sum();
    resample(edge, m, total, total / n as f64, n)
}

/// `n >= 2` points spaced evenly by arc length along the open chain, from its first point to its last.
/// `chain` must hold at least 2 points.
fn resample_open(chain: &[Point], n: usize) -> Vec<Point> {
    let m = chain.len() - 1;
    let edge = |i: usize| (chain[i], chain[i + 1]);
    let total: f64 = chain.windows(2).map(|w| distance(w[0], w[1])).sum();
    let mut out = resample(edge, m, total, total / (n - 1) as f64, n);
    if let (Some(last), Some(&end)) = (out.last_mut(), chain.last()) {
        *last = end;
    }
    out
}

/// `n` points at arc lengths `0, step, 2 step, ...` along `edges` edges (`edge(i)` gives edge `i`'s ends), whose
/// lengths sum to `total`.
fn resample(edge: impl Fn(usize) -> (Point, Point), edges: usize, total: f64, step: f64, n: usize) -> Vec<Point> {
    let start = edge(0).0;
    if !(total > 0.0 && total.is_finite() && step > 0.0) {
        return vec![start; n];
    }
    let mut out = Vec::with_capacity(n);
    // Edge i spans arc lengths [at, at + len).
    let (mut i, mut at) = (0, 0.0);
    let (mut p, mut q) = edge(0);
    let mut len = distance(p, q);
    for k in 0..n {
        let s = k as f64 * step;
        while s > at + len && i + 1 < edges {
            at += len;
            i += 1;
            (p, q) = edge(i);
            len = distance(p, q);
        }
        let f = if len > 0.0 { ((s - at) / len).clamp(0.0, 1.0) } else { 0.0 };
        out.push(lerp_point(p, q, f));
    }
    out
}

/// A morph between two masks of the same frame size, precomputed once per keyframe pair so that stepping through
/// the frames between costs only a blend.
///
/// The method is signed-distance-field blending with alignment: both masks are moved so that their centroids
/// coincide, each gets the exact Euclidean signed distance field (negative inside) over a window around the two
/// (the union of their aligned bounding boxes plus a margin of 2 pixels, never the whole frame: the result lies in
/// the union of the aligned masks), and [`at`](Self::at) thresholds `(1 - t) dA + t dB < 0` and places the result
/// so that its centroid lands on the pixel nearest `(1 - t) cA + t cB`, clipped to the frame. A circle of radius
/// `r1` and one of radius `r2` morph into circles of radius `(1 - t) r1 + t r2`; a shape that only moves keeps its
/// shape exactly. When a mask is empty there is nothing to morph: `at` gives `a` for `t < 0.5` and `b` from 0.5 on.
/// A blend that comes out empty (thin shapes that do not overlap once aligned) gives the nearer keyframe's mask,
/// moved to the interpolated centroid, so the object never vanishes between two keyframes that have it.
///
/// Cost, for a `w x h` window (about the larger object's box): `new` decodes both masks' runs and runs four exact
/// distance transforms, `O(runs + w h)`, and keeps two `f32` fields (`8 w h` bytes); `at` is one pass over the
/// window plus `O(runs)` to encode the result. Measured (release build, one thread on a busy 2-core machine; the
/// ignored test `mask_morph_timing_1080p` in `tests/interpolate.rs`): for two ~300 x 300 px objects in a 1080p frame
/// (a 324 x 304 window) `new` takes about 5 ms and `at` about 0.1 ms; for two full-frame 1080p masks, about 125 ms
/// and 2.3 ms.
#[derive(Clone)]
pub struct MaskMorph {
    a: Rle,
    b: Rle,
    /// `None` when either mask is empty.
    field: Option<Field>,
}

/// The aligned signed distance fields over the morph window.
#[derive(Clone)]
struct Field {
    /// The window, in aligned coordinates: frame pixel `(x, y)` of `a` is aligned pixel `(x, y) - round(ca)`, and
    /// of `b`, `(x, y) - round(cb)`.
    window: Window,
    da: Vec<f32>,
    db: Vec<f32>,
    ca: Point,
    cb: Point,
}

impl fmt::Debug for MaskMorph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaskMorph")
            .field("height", &self.a.height())
            .field("width", &self.a.width())
            .field("window", &self.field.as_ref().map(|field| field.window))
            .finish_non_exhaustive()
    }
}

impl MaskMorph {
    /// Precomputes the morph from `a` to `b`; [`MaskError::SizeMismatch`] when their frame sizes differ.
    pub fn new(a: &Rle, b: &Rle) -> Result<MaskMorph, MaskError> {
        check_same_size(a, b)?;
        let field = match (a.extent(), b.extent()) {
            (Some(ea), Some(eb)) => {
                let (ca, cb) = (ea.centroid(), eb.centroid());
                // Whole-pixel shifts that bring each centroid within half a pixel of the origin.
                let sa = (ca.x.round() as i64, ca.y.round() as i64);
                let sb = (cb.x.round() as i64, cb.y.round() as i64);
                let x0 = (ea.x0 as i64 - sa.0).min(eb.x0 as i64 - sb.0) - MARGIN;
                let x1 = (ea.x1 as i64 - sa.0).max(eb.x1 as i64 - sb.0) + MARGIN;
                let y0 = (ea.y0 as i64 - sa.1).min(eb.y0 as i64 - sb.1) - MARGIN;
                let y1 = (ea.y1 as i64 - sa.1).max(eb.y1 as i64 - sb.1) + MARGIN;
                let window = Window { x0, y0, width: (x1 - x0) as usize, height: (y1 - y0) as usize };
                let mut bits = vec![0u8; window.len()];
                a.rasterize_into(-sa.0, -sa.1, &window, &mut bits);
                let da = signed_distance(&bits, window.width, window.height);
                bits.fill(0);
                b.rasterize_into(-sb.0, -sb.1, &window, &mut bits);
                let db = signed_distance(&bits, window.width, window.height);
                Some(Field { window, da, db, ca, cb })
            }
            _ => None,
        };
        Ok(MaskMorph { a: a.clone(), b: b.clone(), field })
    }

    /// The mask at `t` (see the type's docs): an exact copy of `a` at `t <= 0` (and NaN), of `b` at `t >= 1`.
    pub fn at(&self, t: f64) -> Rle {
        let t = clamp_t(t);
        if t == 0.0 {
            return self.a.clone();
        }
        if t == 1.0 {
            return self.b.clone();
        }
        let near = if t < 0.5 { &self.a } else { &self.b };
        let Some(field) = &self.field else { return near.clone() };
        let window = field.window;
        let h = window.height;
        let (wa, wb) = ((1.0 - t) as f32, t as f32);
        // Set pixels as vertical segments (x, y0, y1) in window coordinates, column-major, and their centre sums.
        let mut segments: Vec<(usize, usize, usize)> = Vec::new();
        let (mut area, mut sum_x2, mut sum_y2) = (0u64, 0u64, 0u64);
        let mut push = |x: usize, y0: usize, y1: usize| {
            let n = (y1 - y0) as u64;
            area += n;
            sum_x2 += n * (2 * x as u64 + 1);
            sum_y2 += (y1 * y1 - y0 * y0) as u64;
            segments.push((x, y0, y1));
        };
        for (x, (col_a, col_b)) in field.da.chunks_exact(h).zip(field.db.chunks_exact(h)).enumerate() {
            let mut start: Option<usize> = None;
            for (y, (&da, &db)) in col_a.iter().zip(col_b).enumerate() {
                let inside = wa * da + wb * db < 0.0;
                match (inside, start) {
                    (true, None) => start = Some(y),
                    (false, Some(y0)) => {
                        push(x, y0, y);
                        start = None;
                    }
                    _ => {}
                }
            }
            if let Some(y0) = start {
                push(x, y0, h);
            }
        }
        let target = lerp_point(field.ca, field.cb, t);
        let (height, width) = (self.a.height(), self.a.width());
        if area == 0 {
            let from = if t < 0.5 { field.ca } else { field.cb };
            let (dx, dy) = ((target.x - from.x).round() as i64, (target.y - from.y).round() as i64);
            return near.paste(height, width, dx, dy).unwrap_or_else(|_| near.clone());
        }
        // The blend's centroid in aligned coordinates, and the whole-pixel move that puts it nearest the target.
        let (cx, cy) = (
            window.x0 as f64 + sum_x2 as f64 / (2 * area) as f64,
            window.y0 as f64 + sum_y2 as f64 / (2 * area) as f64,
        );
        let ox = window.x0 + (target.x - cx).round() as i64;
        let oy = window.y0 + (target.y - cy).round() as i64;
        Rle::from_column_segments(
            height,
            width,
            segments.into_iter().map(|(x, y0, y1)| (x as i64 + ox, y0 as i64 + oy, y1 as i64 + oy)),
        )
    }
}

fn check_same_size(a: &Rle, b: &Rle) -> Result<(), MaskError> {
    if (a.height(), a.width()) == (b.height(), b.width()) {
        return Ok(());
    }
    Err(MaskError::SizeMismatch { a_height: a.height(), a_width: a.width(), b_height: b.height(), b_width: b.width() })
}

/// The mask between `a` (t = 0) and `b` (t = 1) by [`MaskMorph`]; [`MaskError::SizeMismatch`] when their sizes
/// differ. Exact copies at t = 0 / 1 (which skip the morph's set-up).
pub fn interpolate_mask(a: &Rle, b: &Rle, t: f64) -> Result<Rle, MaskError> {
    check_same_size(a, b)?;
    let t = clamp_t(t);
    if t == 0.0 {
        return Ok(a.clone());
    }
    if t == 1.0 {
        return Ok(b.clone());
    }
    Ok(MaskMorph::new(a, b)?.at(t))
}

/// The derived shape of `before`'s track on `frame`, strictly between two stored keyframes of the same track:
/// source ShapeSource::Interpolated, keyframe false, id ShapeId::for_track_frame(track, frame),
/// attributes and occluded held from `before`, outside false, score None, author None, timestamps of `before`.
/// None when: the tracks differ, frame is not strictly between, either is not a keyframe, `before.outside`,
/// or the geometries cannot be interpolated.
///
/// `t` is `(frame - before.frame) / (after.frame - before.frame)`. A mask pair sets up a [`MaskMorph`] per call
/// (see [`interpolated_shape_with`] to bring one of your own).
pub fn interpolated_shape(before: &Shape, after: &Shape, frame: u64) -> Option<Shape> {
    interpolated_shape_with(before, after, frame, |t| interpolate(&before.geometry, &after.geometry, t))
}

/// Whether the frames strictly between `before` and `after`, consecutive stored shapes of one track, show
/// interpolated shapes: both are keyframes, `before` is not `outside`, and their geometries correspond (the
/// same kind; as many points; masks of one frame size), checked without interpolating anything.
pub fn interpolates(before: &Shape, after: &Shape) -> bool {
    let corresponds = match (&before.geometry, &after.geometry) {
        (Geometry::Mask(a), Geometry::Mask(b)) => (a.width(), a.height()) == (b.width(), b.height()),
        (Geometry::Points(a), Geometry::Points(b)) => a.len() == b.len(),
        (Geometry::Polygon(_), Geometry::Polygon(_))
        | (Geometry::BBox(_), Geometry::BBox(_))
        | (Geometry::Polyline(_), Geometry::Polyline(_)) => true,
        _ => false,
    };
    before.track_id == after.track_id && before.keyframe && after.keyframe && !before.outside && corresponds
}

/// [`interpolated_shape`] with the geometry at `t` from `geometry` (a cached [`MaskMorph`], say); the same
/// rules and fields.
pub fn interpolated_shape_with(
    before: &Shape,
    after: &Shape,
    frame: u64,
    geometry: impl FnOnce(f64) -> Option<Geometry>,
) -> Option<Shape> {
    if !(before.frame < frame && frame < after.frame && interpolates(before, after)) {
        return None;
    }
    let t = (frame - before.frame) as f64 / (after.frame - before.frame) as f64;
    let geometry = geometry(t)?;
    Some(Shape {
        id: ShapeId::for_track_frame(before.track_id, frame),
        track_id: before.track_id,
        frame,
        geometry,
        keyframe: false,
        source: ShapeSource::Interpolated,
        occluded: before.occluded,
        outside: false,
        attributes: before.attributes.clone(),
        score: None,
        author: None,
        created_at: before.created_at,
        updated_at: before.updated_at,
    })
}
