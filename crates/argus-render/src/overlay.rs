//! Vector overlays (polygons, boxes, points, polylines, the brush cursor)
//! drawn anti-aliased over the composited frame.
//!
//! Every overlay is lowered to a list of [`Primitive`]s in output pixels:
//! a capsule (a segment with round ends and a half width; a point is a
//! capsule of length zero), a ring (a circle outline) or a filled polygon
//! (even-odd rule over a list of edges, so holes work). Each primitive is one
//! GPU instance whose fragment shader evaluates the primitive's signed
//! distance `d` at the pixel centre and covers the pixel by
//! `clamp(0.5 - d, 0, 1)`; the CPU reference does the same per pixel. Shapes
//! are given in frame coordinates and line widths in output pixels, so
//! outlines stay thin when zoomed in.

use argus_core::geometry::{BBox, Point, Polygon, Polyline};

use crate::view::ViewTransform;

/// Line colour (straight, not premultiplied, alpha) and width in output pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stroke {
    pub color: [u8; 4],
    pub width: f32,
}

/// Something drawn on top of the frame and masks, in frame coordinates.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    /// Outline of the exterior and every hole.
    Polygon { polygon: Polygon, stroke: Stroke },
    /// Translucent fill (even-odd, holes left open), e.g. while drawing.
    FilledPolygon { polygon: Polygon, fill: [u8; 4] },
    Box { bbox: BBox, stroke: Stroke },
    /// Filled dots of `radius` output pixels (keypoints, polygon vertices).
    Points { points: Vec<Point>, radius: f32, color: [u8; 4] },
    Polyline { polyline: Polyline, stroke: Stroke },
    /// Circle outline of `radius` frame pixels around `center`.
    BrushCursor { center: Point, radius: f64, stroke: Stroke },
}

/// One GPU instance, all in output pixels: a capsule `a`-`b`
/// (`ring_radius == 0`), a ring of `ring_radius` around `a`, both
/// `half_width` thick on each side, or (`edges[1] > 0`) a filled polygon made
/// of `edges[1]` edges starting at index `edges[0]` of the edge list, with
/// `a`-`b` its bounding box.
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Primitive {
    pub a: [f32; 2],
    pub b: [f32; 2],
    pub half_width: f32,
    pub ring_radius: f32,
    /// `[first edge, edge count]` for fills (as floats, exact below 2^24).
    pub edges: [f32; 2],
    /// Straight RGBA in `0..=1`.
    pub color: [f32; 4],
}

/// Primitives plus the polygon edges (`[x0, y0, x1, y1]`) fills refer to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tessellation {
    pub primitives: Vec<Primitive>,
    pub edges: Vec<[f32; 4]>,
}

/// Signed distance to a polygon given by its edges, negative inside
/// (even-odd rule).
pub fn fill_distance(edges: &[[f32; 4]], p: [f32; 2]) -> f32 {
    let mut inside = false;
    let mut best = f32::INFINITY;
    for e in edges {
        let (a, b) = ([e[0], e[1]], [e[2], e[3]]);
        best = best.min(segment_distance(a, b, p));
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if p[0] < x {
                inside = !inside;
            }
        }
    }
    if inside { -best } else { best }
}

fn segment_distance(a: [f32; 2], b: [f32; 2], p: [f32; 2]) -> f32 {
    let (pa, ba) = ([p[0] - a[0], p[1] - a[1]], [b[0] - a[0], b[1] - a[1]]);
    let bb = ba[0] * ba[0] + ba[1] * ba[1];
    let t = if bb > 0.0 { ((pa[0] * ba[0] + pa[1] * ba[1]) / bb).clamp(0.0, 1.0) } else { 0.0 };
    let (dx, dy) = (pa[0] - ba[0] * t, pa[1] - ba[1] * t);
    (dx * dx + dy * dy).sqrt()
}

impl Primitive {
    /// Signed distance from `p` to the primitive's edge (negative inside);
    /// `edges` is the tessellation's edge list (used by fills only).
    pub fn distance(&self, edges: &[[f32; 4]], p: [f32; 2]) -> f32 {
        if self.edges[1] > 0.0 {
            let (first, count) = (self.edges[0] as usize, self.edges[1] as usize);
            return fill_distance(edges.get(first..first + count).unwrap_or(&[]), p);
        }
        if self.ring_radius > 0.0 {
            let (dx, dy) = (p[0] - self.a[0], p[1] - self.a[1]);
            ((dx * dx + dy * dy).sqrt() - self.ring_radius).abs() - self.half_width
        } else {
            segment_distance(self.a, self.b, p) - self.half_width
        }
    }

    /// Fraction of the pixel centred at `p` that is covered.
    pub fn coverage(&self, edges: &[[f32; 4]], p: [f32; 2]) -> f32 {
        (0.5 - self.distance(edges, p)).clamp(0.0, 1.0)
    }

    /// Screen-space bounds `(min, max)` outside which coverage is zero.
    pub fn bounds(&self) -> ([f32; 2], [f32; 2]) {
        let r = self.half_width + self.ring_radius + 1.0;
        (
            [self.a[0].min(self.b[0]) - r, self.a[1].min(self.b[1]) - r],
            [self.a[0].max(self.b[0]) + r, self.a[1].max(self.b[1]) + r],
        )
    }
}

fn rgba(c: [u8; 4]) -> [f32; 4] {
    c.map(|v| f32::from(v) / 255.0)
}

fn to_screen(view: &ViewTransform, p: Point) -> [f32; 2] {
    let s = view.frame_to_screen(p);
    [s.x as f32, s.y as f32]
}

fn segment(a: [f32; 2], b: [f32; 2], stroke: &Stroke) -> Option<Primitive> {
    let half = stroke.width / 2.0;
    let ok = a.iter().chain(&b).all(|v| v.is_finite()) && half.is_finite() && half > 0.0 && stroke.color[3] > 0;
    ok.then(|| Primitive { a, b, half_width: half, ring_radius: 0.0, edges: [0.0; 2], color: rgba(stroke.color) })
}

fn ring(out: &mut Vec<Primitive>, view: &ViewTransform, pts: &[Point], closed: bool, stroke: &Stroke) {
    let screen: Vec<[f32; 2]> = pts.iter().map(|&p| to_screen(view, p)).collect();
    out.extend(screen.windows(2).filter_map(|w| segment(w[0], w[1], stroke)));
    if closed
        && screen.len() > 2
        && let (Some(&last), Some(&first)) = (screen.last(), screen.first())
    {
        out.extend(segment(last, first, stroke));
    }
}

fn fill(t: &mut Tessellation, view: &ViewTransform, polygon: &Polygon, color: [u8; 4]) {
    if color[3] == 0 {
        return;
    }
    let first = t.edges.len();
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for ring in std::iter::once(&polygon.exterior).chain(&polygon.holes) {
        let screen: Vec<[f32; 2]> = ring.iter().map(|&p| to_screen(view, p)).collect();
        for (i, &a) in screen.iter().enumerate() {
            let b = screen.get(i + 1).or(screen.first()).copied().unwrap_or(a);
            if a.iter().chain(&b).all(|v| v.is_finite()) {
                t.edges.push([a[0], a[1], b[0], b[1]]);
                lo = [lo[0].min(a[0]), lo[1].min(a[1])];
                hi = [hi[0].max(a[0]), hi[1].max(a[1])];
            }
        }
    }
    let count = t.edges.len() - first;
    if count >= 3 && (first + count) < (1 << 24) {
        t.primitives.push(Primitive {
            a: lo,
            b: hi,
            half_width: 0.0,
            ring_radius: 0.0,
            edges: [first as f32, count as f32],
            color: rgba(color),
        });
    } else {
        t.edges.truncate(first);
    }
}

/// Lowers overlays to primitives in output pixels, in drawing order.
pub fn tessellate(overlays: &[Overlay], view: &ViewTransform) -> Tessellation {
    let mut t = Tessellation::default();
    for o in overlays {
        let out = &mut t.primitives;
        match o {
            Overlay::FilledPolygon { polygon, fill: color } => fill(&mut t, view, polygon, *color),
            Overlay::Polygon { polygon, stroke } => {
                ring(out, view, &polygon.exterior, true, stroke);
                for hole in &polygon.holes {
                    ring(out, view, hole, true, stroke);
                }
            }
            Overlay::Box { bbox, stroke } => {
                let corners = [
                    Point { x: bbox.x, y: bbox.y },
                    Point { x: bbox.x + bbox.width, y: bbox.y },
                    Point { x: bbox.x + bbox.width, y: bbox.y + bbox.height },
                    Point { x: bbox.x, y: bbox.y + bbox.height },
                ];
                ring(out, view, &corners, true, stroke);
            }
            Overlay::Points { points, radius, color } => {
                let stroke = Stroke { color: *color, width: radius * 2.0 };
                out.extend(points.iter().filter_map(|&p| {
                    let s = to_screen(view, p);
                    segment(s, s, &stroke)
                }));
            }
            Overlay::Polyline { polyline, stroke } => ring(out, view, &polyline.points, false, stroke),
            Overlay::BrushCursor { center, radius, stroke } => {
                let r = (*radius * f64::from(view.zoom())) as f32;
                if let Some(mut p) = segment(to_screen(view, *center), to_screen(view, *center), stroke)
                    && r.is_finite()
                    && r > 0.0
                {
                    p.ring_radius = r;
                    out.push(p);
                }
            }
        }
    }
    t
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    const RED: Stroke = Stroke { color: [255, 0, 0, 255], width: 2.0 };

    #[test]
    fn capsule_distance_and_coverage() {
        let p = segment([10.0, 10.0], [20.0, 10.0], &RED).unwrap();
        assert_eq!(p.distance(&[], [15.0, 10.0]), -1.0);
        assert_eq!(p.distance(&[], [15.0, 14.0]), 3.0);
        assert_eq!(p.distance(&[], [23.0, 10.0]), 2.0);
        assert_eq!(p.coverage(&[], [15.0, 10.0]), 1.0);
        assert_eq!(p.coverage(&[], [15.0, 11.5]), 0.0);
        assert_eq!(p.coverage(&[], [15.0, 11.25]), 0.25);
    }

    #[test]
    fn ring_distance() {
        let mut p = segment([0.0, 0.0], [0.0, 0.0], &RED).unwrap();
        p.ring_radius = 10.0;
        assert_eq!(p.distance(&[], [10.0, 0.0]), -1.0);
        assert_eq!(p.distance(&[], [0.0, 0.0]), 9.0);
        let (lo, hi) = p.bounds();
        assert_eq!((lo, hi), ([-12.0, -12.0], [12.0, 12.0]));
    }

    #[test]
    fn shapes_lower_to_segments_in_screen_space() {
        let view = ViewTransform::new(2.0, 5.0, 0.0).unwrap();
        let bbox = BBox { x: 1.0, y: 1.0, width: 3.0, height: 2.0 };
        let prims = tessellate(&[Overlay::Box { bbox, stroke: RED }], &view).primitives;
        assert_eq!(prims.len(), 4);
        assert_eq!(prims[0].a, [7.0, 2.0]);
        assert_eq!(prims[0].b, [13.0, 2.0]);
        assert_eq!(prims[3].b, [7.0, 2.0]);
        let line = Polyline { points: vec![Point { x: 0.0, y: 0.0 }, Point { x: 1.0, y: 0.0 }, Point { x: 1.0, y: 1.0 }] };
        assert_eq!(tessellate(&[Overlay::Polyline { polyline: line, stroke: RED }], &view).primitives.len(), 2);
        let cursor = Overlay::BrushCursor { center: Point { x: 3.0, y: 3.0 }, radius: 4.0, stroke: RED };
        let c = tessellate(&[cursor], &view).primitives;
        assert_eq!((c[0].a, c[0].ring_radius), ([11.0, 6.0], 8.0));
        let invisible = Stroke { color: [1, 2, 3, 0], width: 2.0 };
        assert!(tessellate(&[Overlay::Box { bbox, stroke: invisible }], &view).primitives.is_empty());
        let dots = Overlay::Points { points: vec![Point { x: 0.0, y: 0.0 }], radius: 3.0, color: [0, 0, 255, 255] };
        assert_eq!(tessellate(&[dots], &view).primitives[0].half_width, 3.0);
    }

    #[test]
    fn filled_polygons_use_even_odd_with_holes() {
        let square = |x0: f64, y0: f64, s: f64| {
            vec![Point { x: x0, y: y0 }, Point { x: x0 + s, y: y0 }, Point { x: x0 + s, y: y0 + s }, Point { x: x0, y: y0 + s }]
        };
        let polygon = Polygon { exterior: square(0.0, 0.0, 10.0), holes: vec![square(4.0, 4.0, 2.0)] };
        let t = tessellate(&[Overlay::FilledPolygon { polygon, fill: [0, 0, 255, 128] }], &ViewTransform::IDENTITY);
        assert_eq!(t.edges.len(), 8);
        let p = t.primitives[0];
        assert_eq!((p.a, p.b, p.edges), ([0.0, 0.0], [10.0, 10.0], [0.0, 8.0]));
        assert_eq!(p.distance(&t.edges, [2.0, 5.0]), -2.0);
        assert_eq!(p.distance(&t.edges, [5.0, 5.0]), 1.0, "inside the hole");
        assert_eq!(p.distance(&t.edges, [12.0, 5.0]), 2.0);
        assert_eq!(p.coverage(&t.edges, [0.5, 5.0]), 1.0);
        assert_eq!(p.coverage(&t.edges, [-0.25, 5.0]), 0.25);
    }
}
