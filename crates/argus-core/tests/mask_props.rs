//! Property tests for `argus_core::mask`: every run-based operation is
//! checked against an obvious per-pixel implementation written here, on
//! small random masks and polygons.

use argus_core::geometry::{Point, Polygon};
use argus_core::mask::{MaskError, Rle};
use proptest::prelude::*;

/// A small bitmap, row-major, 0/1 bytes.
#[derive(Debug, Clone)]
struct Bitmap {
    h: usize,
    w: usize,
    px: Vec<u8>,
}

impl Bitmap {
    fn get(&self, x: usize, y: usize) -> bool {
        self.px[y * self.w + x] != 0
    }

    fn rle(&self) -> Rle {
        Rle::from_bitmap_row_major(self.h as u32, self.w as u32, &self.px).expect("valid size")
    }

    fn map2(&self, other: &Bitmap, f: impl Fn(bool, bool) -> bool) -> Bitmap {
        let px = self
            .px
            .iter()
            .zip(&other.px)
            .map(|(&a, &b)| u8::from(f(a != 0, b != 0)))
            .collect();
        Bitmap {
            h: self.h,
            w: self.w,
            px,
        }
    }
}

/// Run lengths by walking the columns pixel by pixel.
fn naive_counts(b: &Bitmap) -> Vec<u32> {
    let mut counts = vec![0u32];
    let mut value = false;
    for x in 0..b.w {
        for y in 0..b.h {
            if b.get(x, y) != value {
                counts.push(0);
                value = !value;
            }
            *counts.last_mut().expect("non-empty") += 1;
        }
    }
    counts
}

/// Masks with structure (runs of random length along rows, so blobs,
/// stripes and single pixels all occur) and arbitrary non-zero byte values.
fn bitmap(max: usize) -> impl Strategy<Value = Bitmap> {
    (1..=max, 1..=max).prop_flat_map(|(h, w)| {
        prop::collection::vec((1usize..6, 1u8..=255), 1..=h * w).prop_map(move |runs| {
            let mut px = Vec::with_capacity(h * w);
            let mut on = false;
            for (len, v) in runs.into_iter().cycle() {
                if px.len() >= h * w {
                    break;
                }
                px.extend(std::iter::repeat_n(
                    if on { v } else { 0 },
                    len.min(h * w - px.len()),
                ));
                on = !on;
            }
            Bitmap { h, w, px }
        })
    })
}

fn two_bitmaps(max: usize) -> impl Strategy<Value = (Bitmap, Bitmap)> {
    (bitmap(max), any::<u64>()).prop_map(|(a, seed)| {
        // A second mask of the same size: a shifted, partly flipped copy, so
        // the two overlap in interesting ways.
        let n = a.px.len();
        let px = (0..n)
            .map(|i| {
                let src = a.px[(i + (seed as usize % n)) % n] != 0;
                let flip = (seed >> (i % 64)) & 1 == 1 && i % 3 == 0;
                u8::from(src ^ flip)
            })
            .collect();
        let b = Bitmap { h: a.h, w: a.w, px };
        (a, b)
    })
}

fn normalised(px: &[u8]) -> Vec<u8> {
    px.iter().map(|&v| u8::from(v != 0)).collect()
}

fn naive_inside(poly: &Polygon, xc: f64, yc: f64) -> bool {
    // The documented rule, pixel by pixel: count edges crossing the upward
    // vertical ray from the centre, half-open in x.
    let mut inside = false;
    for ring in std::iter::once(&poly.exterior).chain(&poly.holes) {
        for i in 0..ring.len() {
            let (a, b) = (ring[i], ring[(i + 1) % ring.len()]);
            let (a, b) = if a.x <= b.x { (a, b) } else { (b, a) };
            if a.x <= xc && xc < b.x && a.y + (xc - a.x) * (b.y - a.y) / (b.x - a.x) <= yc {
                inside = !inside;
            }
        }
    }
    inside
}

fn coordinate(limit: f64) -> impl Strategy<Value = f64> {
    prop_oneof![
        // On pixel corners and centres, where the tie rules matter.
        (-4i32..=(limit as i32 + 4) * 2).prop_map(|v| f64::from(v) / 2.0),
        -3.0..limit + 3.0,
    ]
}

fn ring(limit: f64) -> impl Strategy<Value = Vec<Point>> {
    prop::collection::vec((coordinate(limit), coordinate(limit)), 3..9).prop_map(|v| {
        v.into_iter()
            .map(|(x, y)| Point::new(x, y).expect("finite"))
            .collect()
    })
}

fn polygon(limit: f64) -> impl Strategy<Value = Polygon> {
    (ring(limit), prop::collection::vec(ring(limit), 0..3))
        .prop_map(|(exterior, holes)| Polygon::new(exterior, holes).expect("rings have 3+ points"))
}

/// Number of 4-connected components by flood fill.
fn naive_components(b: &Bitmap) -> usize {
    let mut seen = vec![false; b.px.len()];
    let mut n = 0;
    for start in 0..b.px.len() {
        if b.px[start] == 0 || seen[start] {
            continue;
        }
        n += 1;
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(i) = stack.pop() {
            let (x, y) = (i % b.w, i / b.w);
            let mut visit = |nx: usize, ny: usize| {
                let j = ny * b.w + nx;
                if b.px[j] != 0 && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(x - 1, y);
            }
            if x + 1 < b.w {
                visit(x + 1, y);
            }
            if y > 0 {
                visit(x, y - 1);
            }
            if y + 1 < b.h {
                visit(x, y + 1);
            }
        }
    }
    n
}

proptest! {
    #[test]
    fn bitmap_round_trips_and_matches_naive_runs(b in bitmap(24)) {
        let r = b.rle();
        let naive = naive_counts(&b);
        prop_assert_eq!(r.counts(), naive.as_slice());
        prop_assert_eq!(r.to_bitmap_row_major(), normalised(&b.px));
        let col: Vec<u8> = (0..b.h * b.w).map(|i| b.px[(i % b.h) * b.w + i / b.h]).collect();
        prop_assert_eq!(r.to_bitmap_col_major(), normalised(&col));
        prop_assert_eq!(Rle::from_bitmap_col_major(b.h as u32, b.w as u32, &col).expect("valid"), r);
    }

    #[test]
    fn string_and_json_round_trip(b in bitmap(24)) {
        let r = b.rle();
        let s = r.to_compressed_string();
        prop_assert!(s.bytes().all(|c| (b'0'..=b'o').contains(&c)));
        prop_assert_eq!(Rle::from_compressed_string(r.height(), r.width(), &s).expect("own output parses"), r.clone());
        let json = serde_json::to_string(&r).expect("serialise");
        prop_assert_eq!(serde_json::from_str::<Rle>(&json).expect("own output parses"), r.clone());
        let plain = serde_json::json!({"size": [r.height(), r.width()], "counts": r.counts()});
        prop_assert_eq!(serde_json::from_value::<Rle>(plain).expect("runs form parses"), r);
    }

    #[test]
    fn arbitrary_strings_and_counts_never_panic(
        s in "[0-~ ]{0,40}",
        h in 0u32..50,
        w in 0u32..50,
        counts in prop::collection::vec(any::<u32>(), 0..8),
    ) {
        if let Ok(r) = Rle::from_compressed_string(h, w, &s) {
            prop_assert_eq!(r.pixel_count(), u64::from(h) * u64::from(w));
            let again = Rle::from_compressed_string(h, w, &r.to_compressed_string()).expect("own output parses");
            prop_assert_eq!(again, r);
        }
        if let Ok(r) = Rle::new(h, w, counts.clone()) {
            prop_assert_eq!(counts.iter().map(|&c| u64::from(c)).sum::<u64>(), r.pixel_count());
            prop_assert!(r.counts().iter().skip(1).all(|&c| c > 0));
        }
    }

    #[test]
    fn set_operations_match_naive((a, b) in two_bitmaps(20)) {
        let (ra, rb) = (a.rle(), b.rle());
        prop_assert_eq!(ra.union(&rb).expect("same size"), a.map2(&b, |x, y| x | y).rle());
        prop_assert_eq!(ra.intersection(&rb).expect("same size"), a.map2(&b, |x, y| x & y).rle());
        prop_assert_eq!(ra.difference(&rb).expect("same size"), a.map2(&b, |x, y| x & !y).rle());
        prop_assert_eq!(ra.xor(&rb).expect("same size"), a.map2(&b, |x, y| x ^ y).rle());
        prop_assert_eq!(ra.complement(), a.map2(&a, |x, _| !x).rle());
        let inter = a.map2(&b, |x, y| x & y).px.iter().filter(|&&v| v != 0).count() as u64;
        let union = a.map2(&b, |x, y| x | y).px.iter().filter(|&&v| v != 0).count() as u64;
        let expected = if inter == 0 { 0.0 } else { inter as f64 / union as f64 };
        prop_assert_eq!(ra.iou(&rb).expect("same size"), expected);
        prop_assert_eq!(ra.intersection_area(&rb).expect("same size"), inter);
        let merged = Rle::union_all(&[ra.clone(), rb.clone(), ra.complement()]).expect("non-empty");
        prop_assert_eq!(merged, Rle::full(ra.height(), ra.width()).expect("valid"));
    }

    #[test]
    fn area_and_bbox_match_naive(b in bitmap(24)) {
        let r = b.rle();
        let set: Vec<(usize, usize)> =
            (0..b.h).flat_map(|y| (0..b.w).map(move |x| (x, y))).filter(|&(x, y)| b.get(x, y)).collect();
        prop_assert_eq!(r.area(), set.len() as u64);
        prop_assert_eq!(r.is_empty(), set.is_empty());
        match r.bbox() {
            None => prop_assert!(set.is_empty()),
            Some(bb) => {
                let x0 = set.iter().map(|p| p.0).min().expect("non-empty");
                let x1 = set.iter().map(|p| p.0).max().expect("non-empty");
                let y0 = set.iter().map(|p| p.1).min().expect("non-empty");
                let y1 = set.iter().map(|p| p.1).max().expect("non-empty");
                prop_assert_eq!(
                    [bb.x, bb.y, bb.width, bb.height],
                    [x0 as f64, y0 as f64, (x1 - x0 + 1) as f64, (y1 - y0 + 1) as f64]
                );
            }
        }
    }

    #[test]
    fn crop_and_paste_match_naive(b in bitmap(20), fx in 0.0..1.0f64, fy in 0.0..1.0f64, dx in -25i64..25, dy in -25i64..25) {
        let r = b.rle();
        let (x0, y0) = ((fx * b.w as f64) as usize, (fy * b.h as f64) as usize);
        let (cw, ch) = (b.w - x0, b.h - y0);
        let crop = r.crop(x0 as u32, y0 as u32, cw as u32, ch as u32).expect("inside");
        let expected: Vec<u8> =
            (0..ch).flat_map(|y| (0..cw).map(move |x| (x, y))).map(|(x, y)| u8::from(b.get(x0 + x, y0 + y))).collect();
        prop_assert_eq!(crop.to_bitmap_row_major(), expected);
        let (ph, pw) = (b.h + 3, b.w + 1);
        let pasted = r.paste(ph as u32, pw as u32, dx, dy).expect("valid");
        let expected: Vec<u8> = (0..ph)
            .flat_map(|y| (0..pw).map(move |x| (x as i64 - dx, y as i64 - dy)))
            .map(|(sx, sy)| {
                let inside = sx >= 0 && sy >= 0 && (sx as usize) < b.w && (sy as usize) < b.h;
                u8::from(inside && b.get(sx as usize, sy as usize))
            })
            .collect();
        prop_assert_eq!(pasted.to_bitmap_row_major(), expected);
    }

    #[test]
    fn rasterisation_matches_point_in_polygon_at_centres(
        h in 1u32..20,
        w in 1u32..20,
        polys in prop::collection::vec(polygon(20.0), 1..3),
    ) {
        let r = Rle::from_polygons(h, w, &polys).expect("valid size");
        let expected: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| {
                let (xc, yc) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
                u8::from(polys.iter().any(|p| naive_inside(p, xc, yc)))
            })
            .collect();
        prop_assert_eq!(r.to_bitmap_row_major(), expected);
    }

    #[test]
    fn trace_then_rasterise_is_identity(b in bitmap(24)) {
        let r = b.rle();
        let polys = r.to_polygons(0.0).expect("valid tolerance");
        prop_assert_eq!(polys.len(), naive_components(&b));
        for p in &polys {
            prop_assert!(Polygon::ring_signed_area(&p.exterior) > 0.0);
            prop_assert!(p.holes.iter().all(|h| Polygon::ring_signed_area(h) < 0.0));
        }
        let area: f64 = polys.iter().map(Polygon::area).sum();
        prop_assert_eq!(area, r.area() as f64);
        prop_assert_eq!(Rle::from_polygons(r.height(), r.width(), &polys).expect("valid"), r.clone());
        // Simplified outlines never have more points and stay close in area.
        let simple = r.to_polygons(0.75).expect("valid tolerance");
        let points = |ps: &[Polygon]| ps.iter().map(|p| p.exterior.len() + p.holes.iter().map(Vec::len).sum::<usize>()).sum::<usize>();
        prop_assert!(points(&simple) <= points(&polys));
    }
}

#[test]
fn mismatched_sizes_are_errors_not_panics() {
    let a = Rle::empty(4, 4).expect("valid");
    let b = Rle::empty(4, 5).expect("valid");
    for result in [
        a.union(&b),
        a.intersection(&b),
        a.difference(&b),
        a.xor(&b),
        Rle::union_all(&[a.clone(), b.clone()]),
    ] {
        assert!(matches!(result, Err(MaskError::SizeMismatch { .. })));
    }
    assert!(matches!(
        Rle::from_bitmap_row_major(u32::MAX, u32::MAX, &[]),
        Err(MaskError::TooLarge { .. })
    ));
}
