//! Polygons <-> masks: rasterisation by pixel-centre sampling and contour
//! tracing along pixel edges.
//!
//! # Rasterisation convention
//!
//! Pixel `(c, r)` is inside a [`Polygon`] when its centre
//! `(xc, yc) = (c + 0.5, r + 0.5)` is inside by the **even-odd rule** over
//! all the polygon's rings (the exterior and every hole, each implicitly
//! closed). Exactly: orient each edge so that `xa <= xb`; an edge counts when
//! `xa <= xc < xb` (so vertical edges never count) and
//! `ya + (xc - xa) * (yb - ya) / (xb - xa) <= yc` (evaluated in `f64` in that
//! order), i.e. it crosses the upward vertical ray from the centre; the pixel
//! is inside when the count is odd. The half-open rule decides centres that
//! lie exactly on an edge or vertex, so two polygons that share an edge never
//! both claim a pixel, and a polygon whose vertices are at integer
//! coordinates (pixel corners) covers exactly the pixels it encloses.
//!
//! This differs from pycocotools' `frPyObjects`, which snaps vertices to a
//! 1/5-pixel grid and walks the outline, so it includes a few pixels whose
//! centre is just outside the outline. Ours is exact and matches the trace
//! below, which is what an editor needs; several polygons are combined by
//! union ([`Rle::from_polygons`]).
//!
//! # Tracing convention
//!
//! [`Rle::to_polygons`] follows the pixel edges between set and unset pixels,
//! so with tolerance 0 every vertex is a pixel corner and rasterising the
//! result gives back exactly the same mask. Set pixels are grouped by
//! **4-connectivity** (pixels touching only at a corner are separate
//! polygons, and the background is 8-connected), one [`Polygon`] per
//! component, exterior clockwise in image coordinates (positive
//! [`Polygon::ring_signed_area`]) and holes counter-clockwise. Where two
//! pixels of the same component touch only at a corner, a ring passes that
//! corner twice (it touches itself but never crosses).

use std::collections::HashMap;

use super::codec::for_each_column_segment;
use super::{MaskError, Rle, RunBuilder};
use crate::geometry::{BBox, Point, Polygon, segment_distance};

impl Rle {
    /// Rasterises one polygon with holes (see the module docs for the exact
    /// rule). Parts outside the frame are clipped.
    pub fn from_polygon(height: u32, width: u32, polygon: &Polygon) -> Result<Rle, MaskError> {
        let n = super::check_size(height, width)?;
        let rings = std::iter::once(&polygon.exterior).chain(&polygon.holes);
        let mut edges: Vec<Edge> = Vec::new();
        for ring in rings {
            let next = ring.iter().cycle().skip(1);
            for (a, b) in ring.iter().zip(next) {
                if let Some(e) = Edge::new(*a, *b, i64::from(width)) {
                    edges.push(e);
                }
            }
        }
        edges.sort_by_key(|e| e.c_lo);
        let h = i64::from(height);
        let mut b = RunBuilder::default();
        let mut active: Vec<Edge> = Vec::new();
        let mut ys: Vec<f64> = Vec::new();
        let mut next = 0usize;
        let mut c = edges.first().map_or(i64::from(width), |e| e.c_lo);
        while c < i64::from(width) {
            while let Some(e) = edges.get(next).filter(|e| e.c_lo == c) {
                active.push(*e);
                next += 1;
            }
            active.retain(|e| e.c_hi > c);
            if active.is_empty() {
                match edges.get(next) {
                    Some(e) => {
                        c = e.c_lo;
                        continue;
                    }
                    None => break,
                }
            }
            let xc = c as f64 + 0.5;
            ys.clear();
            ys.extend(active.iter().map(|e| e.y_at(xc)));
            ys.sort_unstable_by(f64::total_cmp);
            let base = c * h;
            for pair in ys.chunks_exact(2) {
                let (r0, r1) = (
                    first_centre_at_or_after(pair[0], h),
                    first_centre_at_or_after(pair[1], h),
                );
                if r0 < r1 {
                    b.push_ones((base + r0) as u64, (base + r1) as u64);
                }
            }
            c += 1;
        }
        Ok(Rle::from_parts(height, width, b.finish_to(n)))
    }

    /// Rasterises several polygons and returns their union (an empty mask
    /// for an empty list).
    pub fn from_polygons(height: u32, width: u32, polygons: &[Polygon]) -> Result<Rle, MaskError> {
        let masks = polygons
            .iter()
            .map(|p| Rle::from_polygon(height, width, p))
            .collect::<Result<Vec<_>, _>>()?;
        if masks.is_empty() {
            Rle::empty(height, width)
        } else {
            Rle::union_all(&masks)
        }
    }

    /// The pixels whose centre lies inside `bbox` (for a box on pixel
    /// corners, exactly the pixels it covers, as pycocotools' `frBbox`).
    pub fn from_bbox(height: u32, width: u32, bbox: &BBox) -> Result<Rle, MaskError> {
        Rle::from_polygon(height, width, &bbox.to_polygon())
    }

    /// Traces the mask's outlines as polygons with holes (see the module
    /// docs), one per 4-connected component, in column-major order of their
    /// leftmost-topmost pixel.
    ///
    /// `tolerance` (pixels) simplifies each ring with Douglas-Peucker; 0
    /// keeps every corner, and then [`Rle::from_polygons`] reproduces the
    /// mask exactly. Rings that simplify to fewer than 3 points are dropped
    /// (a component with them), and simplified rings may self-intersect.
    pub fn to_polygons(&self, tolerance: f64) -> Result<Vec<Polygon>, MaskError> {
        if !(tolerance.is_finite() && tolerance >= 0.0) {
            return Err(MaskError::InvalidTolerance {
                tolerance: tolerance.to_string(),
            });
        }
        // Trace inside the tight box only: small objects in big frames cost
        // little, and memory is bounded by the object, not the frame.
        let Some(bb) = self.bbox() else {
            return Ok(Vec::new());
        };
        let (x0, y0) = (bb.x as u32, bb.y as u32);
        let (bw, bh) = (bb.width as u32, bb.height as u32);
        let tracer = if (bw, bh) == (self.width, self.height) {
            Tracer::new(self, 0, 0)
        } else {
            Tracer::new(&self.crop(x0, y0, bw, bh)?, x0.into(), y0.into())
        };
        let mut polygons: Vec<Polygon> = Vec::new();
        for (exterior, holes) in tracer.trace() {
            let exterior = simplify_ring(&exterior, tolerance);
            if exterior.len() < 3 {
                continue;
            }
            let holes = holes
                .iter()
                .map(|h| simplify_ring(h, tolerance))
                .filter(|h| h.len() >= 3)
                .collect();
            polygons.push(Polygon { exterior, holes });
        }
        Ok(polygons)
    }
}

/// The smallest `k` in `0..=n` with `k + 0.5 >= v` (`n` when there is none):
/// the first pixel whose centre is at or after `v`.
fn first_centre_at_or_after(v: f64, n: i64) -> i64 {
    if v.is_nan() || v <= 0.5 {
        return 0; // NaN only arises from coordinates that overflow
    }
    if v > n as f64 - 0.5 {
        return n;
    }
    // An estimate, then exact correction with the same comparison the
    // definition uses (`k + 0.5` is exact for every k that fits a u32).
    let mut k = ((v - 0.5).ceil() as i64).clamp(0, n);
    while k > 0 && (k - 1) as f64 + 0.5 >= v {
        k -= 1;
    }
    while k < n && (k as f64 + 0.5) < v {
        k += 1;
    }
    k
}

/// A non-vertical edge oriented left to right, with the columns whose
/// centre it spans (`c_lo..c_hi`, clipped to the frame).
#[derive(Debug, Clone, Copy)]
struct Edge {
    xa: f64,
    ya: f64,
    xb: f64,
    yb: f64,
    c_lo: i64,
    c_hi: i64,
}

impl Edge {
    fn new(a: Point, b: Point, width: i64) -> Option<Edge> {
        let (a, b) = if a.x <= b.x { (a, b) } else { (b, a) };
        let c_lo = first_centre_at_or_after(a.x, width);
        let c_hi = first_centre_at_or_after(b.x, width);
        (c_lo < c_hi).then_some(Edge {
            xa: a.x,
            ya: a.y,
            xb: b.x,
            yb: b.y,
            c_lo,
            c_hi,
        })
    }

    #[inline]
    fn y_at(&self, xc: f64) -> f64 {
        self.ya + (xc - self.xa) * (self.yb - self.ya) / (self.xb - self.xa)
    }
}

/// Directions in clockwise order (in image coordinates), so a right turn is
/// `+1`: east, south, west, north.
const DX: [i64; 4] = [1, 0, -1, 0];
const DY: [i64; 4] = [0, 1, 0, -1];

/// Contour tracer over a padded column-major bitmap.
struct Tracer {
    w: usize,
    h: usize,
    /// `(w + 2) x (h + 2)` column-major, 1 = set, with a border of zeros.
    grid: Vec<u8>,
    /// Vertical segments of set pixels `(x, y0, y1)`, column-major order.
    segs: Vec<(usize, usize, usize)>,
    /// Union-find parents over `segs` (4-connected components).
    parent: Vec<usize>,
    /// Added to every output vertex (the traced mask may be a crop).
    offset: (i64, i64),
}

type Ring = Vec<Point>;

impl Tracer {
    fn new(mask: &Rle, offset_x: i64, offset_y: i64) -> Tracer {
        let (h, w) = (mask.height as usize, mask.width as usize);
        let ph = h + 2;
        let mut grid = vec![0u8; (w + 2) * ph];
        let mut segs = Vec::new();
        for_each_column_segment(h, &mask.counts, |x, y0, y1| {
            let base = (x + 1) * ph + 1;
            grid[base + y0..base + y1].fill(1);
            segs.push((x, y0, y1));
        });
        let mut t = Tracer {
            w,
            h,
            grid,
            parent: (0..segs.len()).collect(),
            segs,
            offset: (offset_x, offset_y),
        };
        t.label();
        t
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    /// Joins segments of neighbouring columns whose rows overlap.
    fn label(&mut self) {
        let mut prev = 0..0; // segments of column x - 1
        let mut i = 0;
        while i < self.segs.len() {
            let x = self.segs[i].0;
            let mut j = i;
            while j < self.segs.len() && self.segs[j].0 == x {
                j += 1;
            }
            if x > 0 && prev.end > prev.start && self.segs[prev.start].0 == x - 1 {
                let (mut a, mut b) = (prev.start, i);
                while a < prev.end && b < j {
                    let (_, a0, a1) = self.segs[a];
                    let (_, b0, b1) = self.segs[b];
                    if a0.max(b0) < a1.min(b1) {
                        let (ra, rb) = (self.find(a), self.find(b));
                        self.parent[ra.max(rb)] = ra.min(rb);
                    }
                    if a1 <= b1 { a += 1 } else { b += 1 }
                }
            }
            prev = i..j;
            i = j;
        }
    }

    #[inline]
    fn at(&self, x: i64, y: i64) -> bool {
        // Pixel (x, y) with -1 <= x <= w, -1 <= y <= h.
        self.grid[(x + 1) as usize * (self.h + 2) + (y + 1) as usize] != 0
    }

    /// All components as (exterior, holes), unsimplified.
    fn trace(mut self) -> Vec<(Ring, Vec<Ring>)> {
        let mut visited = vec![false; self.w * (self.h + 1)];
        let mut slots: HashMap<usize, usize> = HashMap::new();
        let mut out: Vec<(Ring, Vec<Ring>)> = Vec::new();
        for s in 0..self.segs.len() {
            let (x, y0, y1) = self.segs[s];
            // Top edge runs east from (x, y0); bottom edge west from (x + 1, y1).
            for (j, start, dir) in [(y0, x, 0usize), (y1, x + 1, 2usize)] {
                if visited[x * (self.h + 1) + j] {
                    continue;
                }
                let (ring, doubled_area) = self.follow(start as i64, j as i64, dir, &mut visited);
                let root = self.find(s);
                let slot = *slots.entry(root).or_insert_with(|| {
                    out.push((Vec::new(), Vec::new()));
                    out.len() - 1
                });
                if doubled_area > 0 {
                    out[slot].0 = ring;
                } else {
                    out[slot].1.push(ring);
                }
            }
        }
        out
    }

    /// Follows one closed boundary with the set pixels on the right, marking
    /// its horizontal edges; returns its corners and twice its signed area.
    fn follow(&self, x0: i64, y0: i64, dir0: usize, visited: &mut [bool]) -> (Ring, i128) {
        let (mut x, mut y, mut d) = (x0, y0, dir0);
        let mut corners: Vec<(i64, i64)> = Vec::new();
        // A loop uses each boundary edge once; bound it anyway.
        let limit = 4 * (self.w + 1) * (self.h + 1);
        for _ in 0..limit {
            match d {
                0 => visited[x as usize * (self.h + 1) + y as usize] = true,
                2 => visited[(x - 1) as usize * (self.h + 1) + y as usize] = true,
                _ => {}
            }
            x += DX[d];
            y += DY[d];
            // The pixels ahead-left and ahead-right of vertex (x, y).
            let (nw, ne, sw, se) = (
                self.at(x - 1, y - 1),
                self.at(x, y - 1),
                self.at(x - 1, y),
                self.at(x, y),
            );
            let (al, ar) = match d {
                0 => (ne, se),
                1 => (se, sw),
                2 => (sw, nw),
                _ => (nw, ne),
            };
            let nd = if !ar {
                (d + 1) % 4
            } else if !al {
                d
            } else {
                (d + 3) % 4
            };
            if nd != d {
                corners.push((x, y));
            }
            d = nd;
            if (x, y, d) == (x0, y0, dir0) {
                break;
            }
        }
        let n = corners.len();
        let mut doubled: i128 = 0;
        for (i, &(ax, ay)) in corners.iter().enumerate() {
            let (bx, by) = corners[(i + 1) % n];
            doubled += i128::from(ax) * i128::from(by) - i128::from(bx) * i128::from(ay);
        }
        let ring = corners
            .into_iter()
            .map(|(x, y)| Point {
                x: (x + self.offset.0) as f64,
                y: (y + self.offset.1) as f64,
            })
            .collect();
        (ring, doubled)
    }
}

/// Douglas-Peucker on a closed ring; tolerance 0 returns it unchanged (a
/// traced ring has no redundant points).
fn simplify_ring(ring: &[Point], tolerance: f64) -> Vec<Point> {
    let n = ring.len();
    if tolerance == 0.0 || n < 4 {
        return ring.to_vec();
    }
    let Some(&first) = ring.first() else {
        return Vec::new();
    };
    // Split the ring at its first point and the point farthest from it.
    let far = (1..n)
        .max_by(|&a, &b| dist2(first, ring[a]).total_cmp(&dist2(first, ring[b])))
        .unwrap_or(n / 2);
    let mut keep = vec![false; n];
    keep[0] = true;
    keep[far] = true;
    let mut stack = vec![(0usize, far), (far, n)];
    while let Some((i, j)) = stack.pop() {
        let (a, b) = (ring[i], ring[j % n]);
        let mut best = (0.0, 0usize);
        for (k, &p) in ring.iter().enumerate().take(j).skip(i + 1) {
            let d = segment_distance(p, a, b);
            if d > best.0 {
                best = (d, k);
            }
        }
        if best.0 > tolerance {
            keep[best.1] = true;
            stack.push((i, best.1));
            stack.push((best.1, j));
        }
    }
    ring.iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(p, _)| *p)
        .collect()
}

fn dist2(a: Point, b: Point) -> f64 {
    (a.x - b.x).powi(2) + (a.y - b.y).powi(2)
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::ops::tests::from_rows;

    fn pts(xy: &[(f64, f64)]) -> Vec<Point> {
        xy.iter()
            .map(|&(x, y)| Point::new(x, y).expect("finite"))
            .collect()
    }

    #[test]
    fn centre_rounding_is_exact() {
        assert_eq!(first_centre_at_or_after(0.5, 10), 0);
        assert_eq!(first_centre_at_or_after(0.5000001, 10), 1);
        assert_eq!(first_centre_at_or_after(1.5, 10), 1);
        assert_eq!(first_centre_at_or_after(-1e300, 10), 0);
        assert_eq!(first_centre_at_or_after(1e300, 10), 10);
        assert_eq!(first_centre_at_or_after(f64::NAN, 10), 0);
        assert_eq!(first_centre_at_or_after(9.5, 10), 9);
        assert_eq!(first_centre_at_or_after(9.50001, 10), 10);
    }

    #[test]
    fn rasterises_by_pixel_centres_with_holes() {
        // A square from pixel corner (1, 1) to (5, 5) with a hole (2, 2)-(3, 4).
        let p = Polygon::new(
            pts(&[(1.0, 1.0), (5.0, 1.0), (5.0, 5.0), (1.0, 5.0)]),
            vec![pts(&[(2.0, 2.0), (2.0, 4.0), (3.0, 4.0), (3.0, 2.0)])],
        )
        .expect("valid");
        let expected = from_rows(&["......", ".####.", ".#.##.", ".#.##.", ".####.", "......"]);
        assert_eq!(Rle::from_polygon(6, 6, &p), Ok(expected));
        // A triangle above the diagonal: centres exactly on the diagonal are
        // on its lower side of the tie rule (an edge at or above the centre
        // counts), so they are outside here, and inside for the triangle
        // below the diagonal; the two triangles tile the square exactly.
        let t = Polygon::new(pts(&[(0.0, 0.0), (4.0, 0.0), (4.0, 4.0)]), vec![]).expect("valid");
        let upper = from_rows(&[".###", "..##", "...#", "...."]);
        assert_eq!(Rle::from_polygon(4, 4, &t), Ok(upper.clone()));
        let t = Polygon::new(pts(&[(0.0, 0.0), (4.0, 4.0), (0.0, 4.0)]), vec![]).expect("valid");
        assert_eq!(Rle::from_polygon(4, 4, &t), Ok(upper.complement()));
        // Far outside the frame, or huge coordinates: clipped, no panic.
        let far = Polygon::new(
            pts(&[(-1e300, -1e300), (1e300, -1e300), (1e300, 1e300)]),
            vec![],
        )
        .expect("valid");
        assert!(Rle::from_polygon(3, 3, &far).is_ok());
        let away =
            Polygon::new(pts(&[(10.0, 10.0), (20.0, 10.0), (20.0, 20.0)]), vec![]).expect("valid");
        assert_eq!(Rle::from_polygon(3, 3, &away), Rle::empty(3, 3));
        assert_eq!(Rle::from_polygons(3, 3, &[]), Rle::empty(3, 3));
        // pycocotools: frPyObjects([[1,1, 5,1, 5,5, 1,5]], 6, 6) -> area 16, toBbox [1, 1, 4, 4].
        let b = Rle::from_bbox(6, 6, &BBox::new(1.0, 1.0, 4.0, 4.0).expect("valid"))
            .expect("valid size");
        assert_eq!(b.area(), 16);
        assert_eq!(
            b.bbox(),
            Some(BBox::new(1.0, 1.0, 4.0, 4.0).expect("valid"))
        );
        assert!(matches!(
            Rle::from_polygon(0, 3, &away),
            Err(MaskError::InvalidSize { .. })
        ));
    }

    #[test]
    fn traces_exteriors_holes_and_diagonal_components() {
        let m = from_rows(&["#####..", "#...#..", "#.#.#.#", "#...#..", "#####.."]);
        let polys = m.to_polygons(0.0).expect("valid tolerance");
        assert_eq!(polys.len(), 3);
        let ring_with_hole = &polys[0];
        assert_eq!(
            ring_with_hole.exterior,
            pts(&[(5.0, 0.0), (5.0, 5.0), (0.0, 5.0), (0.0, 0.0)])
        );
        assert_eq!(
            ring_with_hole.holes,
            vec![pts(&[(1.0, 1.0), (1.0, 4.0), (4.0, 4.0), (4.0, 1.0)])]
        );
        assert!(Polygon::ring_signed_area(&ring_with_hole.exterior) > 0.0);
        assert!(Polygon::ring_signed_area(&ring_with_hole.holes[0]) < 0.0);
        assert_eq!(polys[1].area(), 1.0); // the island inside the hole
        assert_eq!(polys[2].area(), 1.0);
        assert_eq!(Rle::from_polygons(5, 7, &polys), Ok(m));

        // Diagonal neighbours are separate components.
        let d = from_rows(&["#.", ".#"]);
        let polys = d.to_polygons(0.0).expect("valid tolerance");
        assert_eq!(polys.len(), 2);
        assert_eq!(Rle::from_polygons(2, 2, &polys), Ok(d));

        // One component whose exterior touches itself at corner (2, 2): the
        // unset centre pixel joins the background diagonally, so no hole.
        let s = from_rows(&["###", "#.#", "##."]);
        let polys = s.to_polygons(0.0).expect("valid tolerance");
        assert_eq!(polys.len(), 1);
        assert!(polys[0].holes.is_empty());
        assert_eq!(
            polys[0]
                .exterior
                .iter()
                .filter(|p| (p.x, p.y) == (2.0, 2.0))
                .count(),
            2
        );
        assert_eq!(Rle::from_polygons(3, 3, &polys), Ok(s));
        let s = from_rows(&["###.", "#.#.", "####", "..##"]);
        let polys = s.to_polygons(0.0).expect("valid tolerance");
        assert_eq!(polys.len(), 1);
        assert_eq!(polys[0].holes.len(), 1);
        assert_eq!(Rle::from_polygons(4, 4, &polys), Ok(s));
    }

    #[test]
    fn tolerance_simplifies_and_is_validated() {
        // A staircase edge: exact trace has many corners, a 1-pixel
        // tolerance collapses it to a triangle-ish outline.
        let rows: Vec<String> = (0..8)
            .map(|r| "#".repeat(r + 1) + &".".repeat(7 - r))
            .collect();
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let m = from_rows(&rows);
        let exact = m.to_polygons(0.0).expect("valid");
        let simple = m.to_polygons(1.0).expect("valid");
        assert_eq!(exact[0].exterior.len(), 18);
        assert!(simple[0].exterior.len() <= 4, "{:?}", simple[0].exterior);
        assert!((simple[0].area() - m.area() as f64).abs() < 8.0);
        // A single pixel vanishes under a 1-pixel tolerance.
        assert_eq!(from_rows(&["#"]).to_polygons(1.0), Ok(vec![]));
        assert!(matches!(
            m.to_polygons(-1.0),
            Err(MaskError::InvalidTolerance { .. })
        ));
        assert!(matches!(
            m.to_polygons(f64::NAN),
            Err(MaskError::InvalidTolerance { .. })
        ));
        assert_eq!(
            Rle::empty(3, 3).expect("valid").to_polygons(0.0),
            Ok(vec![])
        );
    }
}
