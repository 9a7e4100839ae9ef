//! Vector geometry in frame pixel coordinates.
//!
//! Coordinates are `f64` pixels with the origin at the top-left corner of the
//! top-left pixel (COCO's convention): pixel `(col, row)` covers
//! `[col, col + 1) x [row, row + 1)` and its centre is `(col + 0.5, row + 0.5)`.
//!
//! Every type validates on construction *and* on deserialisation (serde
//! `try_from`), so a value of these types is always finite and well formed:
//! data read from a file or the network cannot smuggle in a NaN or a
//! two-point polygon.

use serde::{Deserialize, Serialize};

/// Why a piece of geometry was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeometryError {
    #[error("coordinate {value} is not a finite number; use finite pixel coordinates")]
    NonFinite { value: f64 },
    #[error("a polygon ring needs at least 3 points, got {got}")]
    TooFewPoints { got: usize },
    #[error("a polyline needs at least 2 points, got {got}")]
    TooFewPolylinePoints { got: usize },
    #[error("box size {width}x{height} is invalid; width and height must be finite and > 0")]
    InvalidBoxSize { width: f64, height: f64 },
}

/// A point in frame pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "[f64; 2]", into = "[f64; 2]")]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    /// A finite point; NaN or infinite coordinates are refused.
    pub fn new(x: f64, y: f64) -> Result<Self, GeometryError> {
        check_finite(x)?;
        check_finite(y)?;
        Ok(Self { x, y })
    }
}

impl TryFrom<[f64; 2]> for Point {
    type Error = GeometryError;
    fn try_from([x, y]: [f64; 2]) -> Result<Self, Self::Error> {
        Self::new(x, y)
    }
}

impl From<Point> for [f64; 2] {
    fn from(p: Point) -> Self {
        [p.x, p.y]
    }
}

fn check_finite(value: f64) -> Result<(), GeometryError> {
    if value.is_finite() { Ok(()) } else { Err(GeometryError::NonFinite { value }) }
}

/// An axis-aligned box in COCO's `[x, y, width, height]` form.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "[f64; 4]", into = "[f64; 4]")]
pub struct BBox {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl BBox {
    /// A box with finite coordinates and a positive size.
    pub fn new(x: f64, y: f64, width: f64, height: f64) -> Result<Self, GeometryError> {
        check_finite(x)?;
        check_finite(y)?;
        if !(width.is_finite() && height.is_finite() && width > 0.0 && height > 0.0) {
            return Err(GeometryError::InvalidBoxSize { width, height });
        }
        Ok(Self { x, y, width, height })
    }

    /// The box spanned by two opposite corners, in any order.
    pub fn from_corners(a: Point, b: Point) -> Result<Self, GeometryError> {
        Self::new(a.x.min(b.x), a.y.min(b.y), (a.x - b.x).abs(), (a.y - b.y).abs())
    }

    pub fn min(&self) -> Point {
        Point { x: self.x, y: self.y }
    }

    pub fn max(&self) -> Point {
        Point { x: self.x + self.width, y: self.y + self.height }
    }

    pub fn area(&self) -> f64 {
        self.width * self.height
    }

    /// Intersection over union of two boxes (0 when they do not overlap).
    pub fn iou(&self, other: &BBox) -> f64 {
        let ix = (self.x + self.width).min(other.x + other.width) - self.x.max(other.x);
        let iy = (self.y + self.height).min(other.y + other.height) - self.y.max(other.y);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        inter / (self.area() + other.area() - inter)
    }

    /// The corners as a closed ring, clockwise in image coordinates.
    pub fn to_polygon(&self) -> Polygon {
        let (x0, y0, x1, y1) = (self.x, self.y, self.x + self.width, self.y + self.height);
        Polygon {
            exterior: vec![
                Point { x: x0, y: y0 },
                Point { x: x1, y: y0 },
                Point { x: x1, y: y1 },
                Point { x: x0, y: y1 },
            ],
            holes: Vec::new(),
        }
    }
}

impl TryFrom<[f64; 4]> for BBox {
    type Error = GeometryError;
    fn try_from([x, y, w, h]: [f64; 4]) -> Result<Self, Self::Error> {
        Self::new(x, y, w, h)
    }
}

impl From<BBox> for [f64; 4] {
    fn from(b: BBox) -> Self {
        [b.x, b.y, b.width, b.height]
    }
}

/// A simple polygon with optional holes. Rings are implicitly closed (the
/// last point connects back to the first) and use the even-odd rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PolygonRepr", into = "PolygonRepr")]
pub struct Polygon {
    pub exterior: Vec<Point>,
    pub holes: Vec<Vec<Point>>,
}

#[derive(Serialize, Deserialize)]
struct PolygonRepr {
    exterior: Vec<Point>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    holes: Vec<Vec<Point>>,
}

impl Polygon {
    /// Whether `p` is inside by the even-odd rule over all rings (so a point
    /// in a hole is outside). Points exactly on an edge may go either way.
    pub fn contains(&self, p: Point) -> bool {
        let mut inside = false;
        for ring in std::iter::once(&self.exterior).chain(&self.holes) {
            let n = ring.len();
            for i in 0..n {
                let (a, b) = (ring[i], ring[(i + 1) % n]);
                if (a.y > p.y) != (b.y > p.y) && p.x < a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y) {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// A polygon whose every ring has at least 3 (finite) points.
    pub fn new(exterior: Vec<Point>, holes: Vec<Vec<Point>>) -> Result<Self, GeometryError> {
        check_ring(&exterior)?;
        for hole in &holes {
            check_ring(hole)?;
        }
        Ok(Self { exterior, holes })
    }

    /// From a flat `[x0, y0, x1, y1, ...]` list, COCO's polygon form.
    pub fn from_flat(exterior: &[f64]) -> Result<Self, GeometryError> {
        Self::new(points_from_flat(exterior)?, Vec::new())
    }

    /// Signed area of a ring by the shoelace formula (positive when the ring
    /// runs clockwise in image coordinates, where y grows downwards).
    pub fn ring_signed_area(ring: &[Point]) -> f64 {
        let n = ring.len();
        if n < 3 {
            return 0.0;
        }
        let mut sum = 0.0;
        for i in 0..n {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            sum += a.x * b.y - b.x * a.y;
        }
        sum / 2.0
    }

    /// Area enclosed by the exterior minus the holes.
    pub fn area(&self) -> f64 {
        Self::ring_signed_area(&self.exterior).abs()
            - self.holes.iter().map(|h| Self::ring_signed_area(h).abs()).sum::<f64>()
    }

    /// The tight bounding box of the exterior, or `None` for a degenerate ring.
    pub fn bbox(&self) -> Option<BBox> {
        bbox_of(&self.exterior)
    }
}

impl TryFrom<PolygonRepr> for Polygon {
    type Error = GeometryError;
    fn try_from(r: PolygonRepr) -> Result<Self, Self::Error> {
        Self::new(r.exterior, r.holes)
    }
}

impl From<Polygon> for PolygonRepr {
    fn from(p: Polygon) -> Self {
        PolygonRepr { exterior: p.exterior, holes: p.holes }
    }
}

fn check_ring(ring: &[Point]) -> Result<(), GeometryError> {
    if ring.len() < 3 {
        return Err(GeometryError::TooFewPoints { got: ring.len() });
    }
    for p in ring {
        check_finite(p.x)?;
        check_finite(p.y)?;
    }
    Ok(())
}

/// Points from a flat `[x0, y0, x1, y1, ...]` list; an odd trailing value is
/// ignored, as pycocotools does.
pub fn points_from_flat(flat: &[f64]) -> Result<Vec<Point>, GeometryError> {
    flat.chunks_exact(2).map(|c| Point::new(c[0], c[1])).collect()
}

/// The tight bounding box of a set of points, `None` when it has no area.
/// Distance from `p` to the segment `a..b` (to `a` when the segment is a point).
pub fn segment_distance(p: Point, a: Point, b: Point) -> f64 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 { (((p.x - a.x) * dx + (p.y - a.y) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
    (p.x - a.x - t * dx).hypot(p.y - a.y - t * dy)
}

pub fn bbox_of(points: &[Point]) -> Option<BBox> {
    let first = points.first()?;
    let (mut x0, mut y0, mut x1, mut y1) = (first.x, first.y, first.x, first.y);
    for p in points {
        x0 = x0.min(p.x);
        y0 = y0.min(p.y);
        x1 = x1.max(p.x);
        y1 = y1.max(p.y);
    }
    BBox::new(x0, y0, x1 - x0, y1 - y0).ok()
}

/// An open chain of at least 2 points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Point>", into = "Vec<Point>")]
pub struct Polyline {
    pub points: Vec<Point>,
}

impl Polyline {
    pub fn new(points: Vec<Point>) -> Result<Self, GeometryError> {
        if points.len() < 2 {
            return Err(GeometryError::TooFewPolylinePoints { got: points.len() });
        }
        for p in &points {
            check_finite(p.x)?;
            check_finite(p.y)?;
        }
        Ok(Self { points })
    }

    /// Total length along the chain.
    pub fn length(&self) -> f64 {
        self.points.windows(2).map(|w| (w[1].x - w[0].x).hypot(w[1].y - w[0].y)).sum()
    }
}

impl TryFrom<Vec<Point>> for Polyline {
    type Error = GeometryError;
    fn try_from(points: Vec<Point>) -> Result<Self, Self::Error> {
        Self::new(points)
    }
}

impl From<Polyline> for Vec<Point> {
    fn from(p: Polyline) -> Self {
        p.points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(x: f64, y: f64) -> Point {
        Point::new(x, y).expect("finite")
    }

    #[test]
    fn refuses_non_finite_and_short_rings() {
        assert!(matches!(Point::new(f64::NAN, 0.0), Err(GeometryError::NonFinite { .. })));
        assert!(matches!(Point::new(0.0, f64::INFINITY), Err(GeometryError::NonFinite { .. })));
        assert_eq!(
            Polygon::new(vec![pt(0.0, 0.0), pt(1.0, 0.0)], vec![]),
            Err(GeometryError::TooFewPoints { got: 2 })
        );
        assert!(Polygon::new(vec![pt(0.0, 0.0), pt(1.0, 0.0), pt(1.0, 1.0)], vec![vec![pt(0.0, 0.0)]]).is_err());
        assert!(BBox::new(0.0, 0.0, 0.0, 1.0).is_err());
        assert!(BBox::new(0.0, 0.0, -1.0, 1.0).is_err());
        assert!(BBox::new(0.0, 0.0, f64::NAN, 1.0).is_err());
        assert!(Polyline::new(vec![pt(0.0, 0.0)]).is_err());
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<BBox>("[0, 0, -3, 4]").is_err());
        assert!(serde_json::from_str::<Polygon>(r#"{"exterior": [[0,0],[1,1]]}"#).is_err());
        let p: Polygon = serde_json::from_str(r#"{"exterior": [[0,0],[4,0],[4,4],[0,4]]}"#).expect("valid");
        assert_eq!(p.area(), 16.0);
        let back = serde_json::to_string(&p).expect("serialise");
        assert_eq!(serde_json::from_str::<Polygon>(&back).expect("round trip"), p);
    }

    #[test]
    fn polygon_area_subtracts_holes_and_bbox_is_tight() {
        let outer = vec![pt(0.0, 0.0), pt(10.0, 0.0), pt(10.0, 10.0), pt(0.0, 10.0)];
        let hole = vec![pt(2.0, 2.0), pt(2.0, 4.0), pt(4.0, 4.0), pt(4.0, 2.0)];
        let p = Polygon::new(outer, vec![hole]).expect("valid");
        assert_eq!(p.area(), 96.0);
        assert_eq!(p.bbox(), Some(BBox::new(0.0, 0.0, 10.0, 10.0).expect("valid")));
    }

    #[test]
    fn box_iou() {
        let a = BBox::new(0.0, 0.0, 2.0, 2.0).expect("valid");
        let b = BBox::new(1.0, 1.0, 2.0, 2.0).expect("valid");
        assert!((a.iou(&b) - 1.0 / 7.0).abs() < 1e-12);
        assert_eq!(a.iou(&BBox::new(5.0, 5.0, 1.0, 1.0).expect("valid")), 0.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.to_polygon().area(), 4.0);
    }
}
