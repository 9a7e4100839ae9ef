//! Brush strokes as masks: the pixels a round brush of radius `r` covers
//! when dragged along a polyline.
//!
//! # Rasterisation convention
//!
//! Pixel `(c, r)` is covered when its centre `(c + 0.5, r + 0.5)` lies within
//! distance `radius` (inclusive) of some segment of the stroke (a single
//! point is a segment of length zero, so a click paints a disc). The stroke
//! is therefore a union of capsules; each capsule is convex, so its
//! intersection with a pixel column's centre line is one interval, computed
//! exactly, and the mask is built column by column straight into runs without
//! a bitmap. Parts outside the frame are clipped.

use super::{MaskError, Rle, RunBuilder};
use crate::geometry::Point;

impl Rle {
    /// The pixels covered by a round brush of `radius` pixels dragged through
    /// `points` (see the module docs). The radius must be finite and
    /// positive, and the stroke must have at least one point.
    pub fn from_stroke(height: u32, width: u32, points: &[Point], radius: f64) -> Result<Rle, MaskError> {
        let n = super::check_size(height, width)?;
        if !(radius.is_finite() && radius > 0.0) {
            return Err(MaskError::InvalidBrush {
                reason: format!("the brush radius must be a positive number of pixels, not {radius}"),
            });
        }
        let Some(first) = points.first() else {
            return Err(MaskError::InvalidBrush {
                reason: "a stroke needs at least one point".into(),
            });
        };
        let segments: Vec<(Point, Point)> = if points.len() == 1 {
            vec![(*first, *first)]
        } else {
            points.windows(2).map(|w| (w[0], w[1])).collect()
        };
        let h = i64::from(height);
        // Columns each segment can touch.
        let span = |(a, b): &(Point, Point)| -> (i64, i64) {
            let lo = (a.x.min(b.x) - radius - 0.5).ceil() as i64;
            let hi = (a.x.max(b.x) + radius - 0.5).floor() as i64;
            (lo.max(0), hi.min(i64::from(width) - 1))
        };
        let (c_lo, c_hi) = segments
            .iter()
            .map(span)
            .fold((i64::MAX, i64::MIN), |(lo, hi), (a, b)| (lo.min(a), hi.max(b)));
        let mut b = RunBuilder::default();
        let mut rows: Vec<(i64, i64)> = Vec::new();
        for c in c_lo.max(0)..=c_hi {
            let xc = c as f64 + 0.5;
            rows.clear();
            for s in &segments {
                if let Some((y0, y1)) = capsule_column(s.0, s.1, radius, xc) {
                    // Rows whose centre y + 0.5 lies in [y0, y1].
                    let r0 = ((y0 - 0.5).ceil() as i64).max(0);
                    let r1 = ((y1 - 0.5).floor() as i64).min(h - 1);
                    if r0 <= r1 {
                        rows.push((r0, r1 + 1));
                    }
                }
            }
            rows.sort_unstable();
            let base = c * h;
            let mut current: Option<(i64, i64)> = None;
            for &(r0, r1) in &rows {
                current = match current {
                    Some((a, e)) if r0 <= e => Some((a, e.max(r1))),
                    Some((a, e)) => {
                        b.push_ones((base + a) as u64, (base + e) as u64);
                        Some((r0, r1))
                    }
                    None => Some((r0, r1)),
                };
            }
            if let Some((a, e)) = current {
                b.push_ones((base + a) as u64, (base + e) as u64);
            }
        }
        Ok(Rle::from_parts(height, width, b.finish_to(n)))
    }
}

/// The interval of `y` on the vertical line `x = xc` within `radius` of the
/// segment `a`-`b`, or `None` when the line misses the capsule.
fn capsule_column(a: Point, b: Point, radius: f64, xc: f64) -> Option<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    // The discs at both ends.
    for p in [a, b] {
        let dx = xc - p.x;
        let d2 = radius * radius - dx * dx;
        if d2 >= 0.0 {
            let d = d2.sqrt();
            lo = lo.min(p.y - d);
            hi = hi.max(p.y + d);
        }
    }
    // The band between them: a rectangle with corners a ± n·r, b ± n·r.
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len = dx.hypot(dy);
    if len > 0.0 {
        let (nx, ny) = (-dy / len * radius, dx / len * radius);
        let corners = [
            (a.x + nx, a.y + ny),
            (b.x + nx, b.y + ny),
            (b.x - nx, b.y - ny),
            (a.x - nx, a.y - ny),
        ];
        for i in 0..4 {
            let (p, q) = (corners[i], corners[(i + 1) % 4]);
            let (x0, x1) = (p.0.min(q.0), p.0.max(q.0));
            if xc < x0 || xc > x1 {
                continue;
            }
            if (q.0 - p.0).abs() < f64::EPSILON {
                lo = lo.min(p.1.min(q.1));
                hi = hi.max(p.1.max(q.1));
            } else {
                let y = p.1 + (xc - p.0) * (q.1 - p.1) / (q.0 - p.0);
                lo = lo.min(y);
                hi = hi.max(y);
            }
        }
    }
    (lo <= hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference: every pixel centre tested against every segment.
    fn naive(h: u32, w: u32, points: &[Point], radius: f64) -> Vec<u8> {
        let segs: Vec<(Point, Point)> = if points.len() == 1 {
            vec![(points[0], points[0])]
        } else {
            points.windows(2).map(|s| (s[0], s[1])).collect()
        };
        let mut out = vec![0u8; (h * w) as usize];
        for y in 0..h {
            for x in 0..w {
                let (px, py) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
                let hit = segs.iter().any(|(a, b)| {
                    let (dx, dy) = (b.x - a.x, b.y - a.y);
                    let l2 = dx * dx + dy * dy;
                    let t = if l2 > 0.0 { (((px - a.x) * dx + (py - a.y) * dy) / l2).clamp(0.0, 1.0) } else { 0.0 };
                    let (cx, cy) = (a.x + t * dx, a.y + t * dy);
                    (px - cx).hypot(py - cy) <= radius
                });
                out[(y * w + x) as usize] = u8::from(hit);
            }
        }
        out
    }

    fn pt(x: f64, y: f64) -> Point {
        Point::new(x, y).expect("finite")
    }

    #[test]
    fn a_click_paints_a_disc() {
        let m = Rle::from_stroke(20, 20, &[pt(10.0, 10.0)], 3.0).expect("stroke");
        // Centres within 3 of (10, 10): the disc of radius 3 around the corner point.
        assert_eq!(m.to_bitmap_row_major(), naive(20, 20, &[pt(10.0, 10.0)], 3.0));
        assert_eq!(m.area(), 32);
        assert_eq!(m.bbox().map(|b| (b.x, b.y, b.width, b.height)), Some((7.0, 7.0, 6.0, 6.0)));
    }

    #[test]
    fn strokes_are_clipped_to_the_frame() {
        let pts = [pt(-5.0, 2.0), pt(30.0, 2.0)];
        let m = Rle::from_stroke(10, 12, &pts, 2.0).expect("stroke");
        assert_eq!(m.to_bitmap_row_major(), naive(10, 12, &pts, 2.0));
        assert_eq!(m.area(), 12 * 4);
        let outside = Rle::from_stroke(10, 12, &[pt(-50.0, -50.0)], 2.0).expect("stroke");
        assert!(outside.is_empty());
    }

    #[test]
    fn bad_brushes_are_typed_errors() {
        for r in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(Rle::from_stroke(4, 4, &[pt(1.0, 1.0)], r), Err(MaskError::InvalidBrush { .. })), "{r}");
        }
        assert!(matches!(Rle::from_stroke(4, 4, &[], 1.0), Err(MaskError::InvalidBrush { .. })));
    }

    proptest! {
        #[test]
        fn matches_the_naive_rasteriser(
            h in 1u32..40, w in 1u32..40,
            pts in proptest::collection::vec((-10.0f64..50.0, -10.0f64..50.0), 1..6),
            radius in 0.3f64..8.0,
        ) {
            let points: Vec<Point> = pts.iter().map(|&(x, y)| pt(x, y)).collect();
            let m = Rle::from_stroke(h, w, &points, radius).expect("stroke");
            let want = naive(h, w, &points, radius);
            let got = m.to_bitmap_row_major();
            let diff: Vec<usize> = (0..want.len()).filter(|&i| want[i] != got[i]).collect();
            prop_assert!(diff.is_empty(), "{} pixels differ: {:?}", diff.len(), diff);
        }
    }
}
