//! Keyframe interpolation (`argus_core::interpolate`): exact copies at the
//! keyframes, linear boxes and points, polygons that follow the true shape
//! whatever their start vertex and direction, masks that morph into the true
//! intermediate shape (IoU against rasterised ground truth), the derived
//! shape's fields, and property tests that nothing panics or leaves the
//! space between the two keyframes.

use argus_core::geometry::{BBox, Point, Polygon, Polyline, segment_distance};
use argus_core::id::{ShapeId, TrackId, UserId};
use argus_core::interpolate::{
    MaskMorph, interpolate, interpolate_bbox, interpolate_mask, interpolate_points, interpolate_polygon,
    interpolate_polyline, interpolated_shape,
};
use argus_core::mask::{MaskError, Rle};
use argus_core::model::{AttributeValue, Geometry, Shape, ShapeSource, Timestamp};

fn pt(x: f64, y: f64) -> Point {
    Point::new(x, y).expect("finite")
}

fn bbox(x: f64, y: f64, w: f64, h: f64) -> BBox {
    BBox::new(x, y, w, h).expect("valid box")
}

/// The axis-aligned square ring with top-left `(x, y)`, clockwise in image coordinates.
fn square(x: f64, y: f64, side: f64) -> Vec<Point> {
    vec![pt(x, y), pt(x + side, y), pt(x + side, y + side), pt(x, y + side)]
}

/// A `height x width` mask of the pixels whose centre passes `inside`.
fn raster(height: u32, width: u32, inside: impl Fn(f64, f64) -> bool) -> Rle {
    let mut px = vec![0u8; (height * width) as usize];
    for y in 0..height {
        for x in 0..width {
            px[(y * width + x) as usize] = u8::from(inside(f64::from(x) + 0.5, f64::from(y) + 0.5));
        }
    }
    Rle::from_bitmap_row_major(height, width, &px).expect("valid size")
}

fn circle(height: u32, width: u32, cx: f64, cy: f64, r: f64) -> Rle {
    raster(height, width, |x, y| (x - cx).hypot(y - cy) <= r)
}

fn rect(height: u32, width: u32, x0: f64, y0: f64, w: f64, h: f64) -> Rle {
    raster(height, width, |x, y| x >= x0 && x < x0 + w && y >= y0 && y < y0 + h)
}

/// One of each kind: `(a, b)` pairs that can be interpolated.
fn pairs() -> Vec<(Geometry, Geometry)> {
    vec![
        (Geometry::BBox(bbox(1.0, 2.0, 3.0, 4.0)), Geometry::BBox(bbox(11.0, 12.0, 30.0, 40.0))),
        (Geometry::Points(vec![pt(1.0, 2.0), pt(3.0, 4.0)]), Geometry::Points(vec![pt(5.0, 6.0), pt(7.0, 9.0)])),
        (
            Geometry::Polyline(Polyline::new(vec![pt(0.0, 0.0), pt(10.0, 3.0)]).expect("line")),
            Geometry::Polyline(Polyline::new(vec![pt(1.0, 1.0), pt(5.0, 5.0), pt(20.0, 3.0)]).expect("line")),
        ),
        (
            Geometry::Polygon(Polygon::new(square(0.0, 0.0, 10.0), vec![square(2.0, 2.0, 3.0)]).expect("polygon")),
            Geometry::Polygon(Polygon::new(vec![pt(50.0, 50.0), pt(60.0, 70.0), pt(40.0, 65.0)], vec![]).expect("tri")),
        ),
        (Geometry::Mask(circle(60, 80, 20.0, 20.0, 8.0)), Geometry::Mask(rect(60, 80, 40.0, 30.0, 25.0, 12.0))),
    ]
}

/// Keyframes come back exactly, for every kind, and `t` outside `[0, 1]` or NaN is clamped.
mod keyframes {
    use super::*;

    #[test]
    fn exact_copies_at_t_0_and_1_for_every_kind() {
        for (a, b) in pairs() {
            assert_eq!(interpolate(&a, &b, 0.0).as_ref(), Some(&a), "{:?} at t = 0", a.kind());
            assert_eq!(interpolate(&a, &b, 1.0).as_ref(), Some(&b), "{:?} at t = 1", a.kind());
            assert_eq!(interpolate(&a, &b, -3.0).as_ref(), Some(&a), "{:?} at t < 0", a.kind());
            assert_eq!(interpolate(&a, &b, f64::NAN).as_ref(), Some(&a), "{:?} at NaN", a.kind());
            assert_eq!(interpolate(&a, &b, 7.5).as_ref(), Some(&b), "{:?} at t > 1", a.kind());
            assert_eq!(interpolate(&a, &b, f64::INFINITY).as_ref(), Some(&b), "{:?} at +inf", a.kind());
            let mid = interpolate(&a, &b, 0.5).expect("same kind");
            assert_eq!(mid.kind(), a.kind());
        }
    }

    #[test]
    fn kinds_that_cannot_correspond_give_none() {
        let all = pairs();
        for (i, (a, _)) in all.iter().enumerate() {
            for (j, (_, b)) in all.iter().enumerate() {
                if i != j {
                    assert_eq!(interpolate(a, b, 0.5), None, "{:?} to {:?}", a.kind(), b.kind());
                    assert_eq!(interpolate(a, b, 0.0), None, "{:?} to {:?} even at a keyframe", a.kind(), b.kind());
                }
            }
        }
        let (two, three) = (vec![pt(0.0, 0.0), pt(1.0, 1.0)], vec![pt(0.0, 0.0), pt(1.0, 1.0), pt(2.0, 2.0)]);
        assert_eq!(interpolate_points(&two, &three, 0.5), None);
        assert_eq!(interpolate(&Geometry::Points(two.clone()), &Geometry::Points(three), 0.0), None);
        let (small, large) = (Rle::empty(10, 10).expect("valid"), Rle::empty(10, 12).expect("valid"));
        assert_eq!(interpolate(&Geometry::Mask(small), &Geometry::Mask(large), 0.5), None);
    }
}

/// Boxes and points move linearly.
mod linear {
    use super::*;

    #[test]
    fn box_midpoint_is_exact() {
        let (a, b) = (bbox(10.0, 20.0, 30.0, 40.0), bbox(50.0, 0.0, 10.0, 80.0));
        assert_eq!(interpolate_bbox(&a, &b, 0.5), bbox(30.0, 10.0, 20.0, 60.0));
        assert_eq!(interpolate_bbox(&a, &b, 0.25), bbox(20.0, 15.0, 25.0, 50.0));
        assert_eq!(interpolate_bbox(&a, &b, 0.0), a);
        assert_eq!(interpolate_bbox(&a, &b, 1.0), b);
    }

    #[test]
    fn point_midpoints_are_exact_and_counts_must_match() {
        let a = vec![pt(0.0, 0.0), pt(10.0, -4.0), pt(3.0, 3.0)];
        let b = vec![pt(8.0, 2.0), pt(-10.0, 4.0), pt(3.0, 3.0)];
        assert_eq!(interpolate_points(&a, &b, 0.5), Some(vec![pt(4.0, 1.0), pt(0.0, 0.0), pt(3.0, 3.0)]));
        assert_eq!(interpolate_points(&a, &b, 0.75), Some(vec![pt(6.0, 1.5), pt(-5.0, 2.0), pt(3.0, 3.0)]));
        assert_eq!(interpolate_points(&a, &b[..2], 0.5), None);
        assert_eq!(interpolate_points(&[], &[], 0.5), Some(vec![]));
    }
}

/// Polylines: vertex by vertex with equal counts, by arc length otherwise.
mod polylines {
    use super::*;

    #[test]
    fn equal_counts_blend_vertex_by_vertex() {
        let a = Polyline::new(vec![pt(0.0, 0.0), pt(10.0, 0.0), pt(10.0, 10.0)]).expect("line");
        let b = Polyline::new(vec![pt(20.0, 0.0), pt(30.0, 0.0), pt(30.0, 30.0)]).expect("line");
        let mid = interpolate_polyline(&a, &b, 0.5);
        assert_eq!(mid.points, vec![pt(10.0, 0.0), pt(20.0, 0.0), pt(20.0, 20.0)], "the corner is kept");
    }

    #[test]
    fn different_counts_are_resampled_end_to_end() {
        // The same straight segment drawn with 2 and with 5 points, moved 10 px right.
        let a = Polyline::new(vec![pt(0.0, 0.0), pt(40.0, 0.0)]).expect("line");
        let b = Polyline::new((0..5).map(|i| pt(10.0 + 10.0 * f64::from(i), 0.0)).collect()).expect("line");
        let mid = interpolate_polyline(&a, &b, 0.5);
        assert_eq!(mid.points.len(), 32);
        assert_eq!(mid.points.first(), Some(&pt(5.0, 0.0)));
        assert_eq!(mid.points.last(), Some(&pt(45.0, 0.0)));
        for (i, p) in mid.points.iter().enumerate() {
            let want = 5.0 + 40.0 * i as f64 / 31.0;
            assert!((p.x - want).abs() < 1e-9 && p.y == 0.0, "point {i}: {p:?}, want x = {want}");
        }
    }
}

/// Polygons: resampled, oriented and rotated into correspondence.
mod polygons {
    use super::*;

    /// Distance from `p` to the boundary of the axis-aligned square `(x, y, side)`.
    fn to_square(p: Point, x: f64, y: f64, side: f64) -> f64 {
        let ring = square(x, y, side);
        (0..4).map(|i| segment_distance(p, ring[i], ring[(i + 1) % 4])).fold(f64::INFINITY, f64::min)
    }

    #[test]
    fn a_translated_and_scaled_square_stays_on_the_true_square() {
        let a = Polygon::new(square(100.0, 100.0, 50.0), vec![]).expect("polygon");
        let b = Polygon::new(square(300.0, 200.0, 100.0), vec![]).expect("polygon");
        for i in 1..10 {
            let t = f64::from(i) / 10.0;
            let (x, y, side) = (100.0 + 200.0 * t, 100.0 + 100.0 * t, 50.0 + 50.0 * t);
            let g = interpolate_polygon(&a, &b, t);
            assert_eq!(g.exterior.len(), 32);
            for p in &g.exterior {
                let d = to_square(*p, x, y, side);
                assert!(d <= 0.5, "t = {t}: {p:?} is {d} px off the true square");
            }
            let area = g.area();
            assert!((area - side * side).abs() <= 0.01 * side * side, "t = {t}: area {area}, want {}", side * side);
        }
    }

    #[test]
    fn start_vertex_and_direction_do_not_matter() {
        let a = Polygon::new(square(100.0, 100.0, 50.0), vec![]).expect("polygon");
        let ring = square(300.0, 200.0, 100.0);
        let b = Polygon::new(ring.clone(), vec![]).expect("polygon");
        let reversed = Polygon::new(ring.iter().rev().copied().collect(), vec![]).expect("polygon");
        let rotated = Polygon::new(vec![ring[2], ring[3], ring[0], ring[1]], vec![]).expect("polygon");
        let both = Polygon::new(vec![ring[2], ring[1], ring[0], ring[3]], vec![]).expect("polygon");
        for t in [0.1, 0.5, 0.8] {
            let want = interpolate_polygon(&a, &b, t);
            for (name, other) in [("reversed", &reversed), ("rotated", &rotated), ("rotated and reversed", &both)] {
                let got = interpolate_polygon(&a, other, t);
                assert_eq!(got.exterior.len(), want.exterior.len());
                for (p, q) in got.exterior.iter().zip(&want.exterior) {
                    assert!((p.x - q.x).abs() < 1e-9 && (p.y - q.y).abs() < 1e-9, "{name}, t = {t}: {p:?} vs {q:?}");
                }
            }
        }
    }

    #[test]
    fn rings_with_different_counts_correspond() {
        // A square drawn with 4 vertices and the same square (moved) drawn with 40: still a square between.
        let a = Polygon::new(square(0.0, 0.0, 100.0), vec![]).expect("polygon");
        let dense: Vec<Point> = (0..40)
            .map(|i| {
                let s = f64::from(i) * 10.0;
                let (x, y) = match i / 10 {
                    0 => (s, 0.0),
                    1 => (100.0, s - 100.0),
                    2 => (300.0 - s, 100.0),
                    _ => (0.0, 400.0 - s),
                };
                pt(x + 40.0, y + 20.0)
            })
            .collect();
        let b = Polygon::new(dense, vec![]).expect("polygon");
        let mid = interpolate_polygon(&a, &b, 0.5);
        assert_eq!(mid.exterior.len(), 40);
        for p in &mid.exterior {
            assert!(to_square(*p, 20.0, 10.0, 100.0) <= 0.5, "{p:?} is off the square at (20, 10)");
        }
    }

    #[test]
    fn holes_pair_in_order_or_switch_at_half_way() {
        let a = Polygon::new(square(0.0, 0.0, 100.0), vec![square(20.0, 20.0, 20.0)]).expect("polygon");
        let b = Polygon::new(square(100.0, 0.0, 100.0), vec![square(120.0, 40.0, 20.0)]).expect("polygon");
        let mid = interpolate_polygon(&a, &b, 0.5);
        assert_eq!(mid.holes.len(), 1);
        for p in &mid.holes[0] {
            assert!(to_square(*p, 70.0, 30.0, 20.0) <= 0.5, "hole point {p:?} is off the true hole");
        }
        let holes = vec![square(110.0, 10.0, 5.0), square(150.0, 50.0, 5.0)];
        let two_holes = Polygon::new(square(100.0, 0.0, 100.0), holes).expect("polygon");
        assert_eq!(interpolate_polygon(&a, &two_holes, 0.4).holes, a.holes);
        assert_eq!(interpolate_polygon(&a, &two_holes, 0.6).holes, two_holes.holes);
    }
}

/// Masks: centroid-aligned signed distance fields.
mod masks {
    use super::*;

    const H: u32 = 1080;
    const W: u32 = 1920;

    #[test]
    fn centroid_is_the_mean_of_pixel_centres() {
        let r = rect(20, 30, 4.0, 6.0, 10.0, 4.0);
        assert_eq!(r.centroid(), Some(pt(9.0, 8.0)));
        assert_eq!(Rle::empty(20, 30).expect("valid").centroid(), None);
    }

    /// Tolerance: IoU >= 0.95 against the circle of interpolated centre and radius, rasterised by pixel centres.
    #[test]
    fn a_moving_growing_circle_stays_the_true_circle() {
        let a = circle(H, W, 200.0, 300.0, 40.0);
        let b = circle(H, W, 600.0, 500.0, 80.0);
        let morph = MaskMorph::new(&a, &b).expect("same size");
        for i in 1..10 {
            let t = f64::from(i) / 10.0;
            let got = morph.at(t);
            assert_eq!((got.height(), got.width()), (H, W));
            let want = circle(H, W, 200.0 + 400.0 * t, 300.0 + 200.0 * t, 40.0 + 40.0 * t);
            let iou = got.iou(&want).expect("same size");
            assert!(iou >= 0.95, "t = {t}: IoU {iou} against the true circle");
            assert_eq!(interpolate_mask(&a, &b, t).expect("same size"), got, "one-off and precomputed agree");
        }
    }

    /// Tolerance: IoU >= 0.97 against the true rectangle (a translation keeps the shape; only the placement
    /// rounds to whole pixels).
    #[test]
    fn a_translating_rectangle_keeps_its_shape() {
        let a = rect(H, W, 100.0, 100.0, 120.0, 60.0);
        let b = rect(H, W, 900.0, 700.0, 120.0, 60.0);
        let morph = MaskMorph::new(&a, &b).expect("same size");
        for i in 1..10 {
            let t = f64::from(i) / 10.0;
            let got = morph.at(t);
            let want = rect(H, W, 100.0 + 800.0 * t, 100.0 + 600.0 * t, 120.0, 60.0);
            let iou = got.iou(&want).expect("same size");
            assert!(iou >= 0.97, "t = {t}: IoU {iou} against the true rectangle");
            assert_eq!(got.area(), 120 * 60, "t = {t}: a translation neither grows nor shrinks");
        }
    }

    #[test]
    fn keyframes_are_exact_and_sizes_must_match() {
        let a = circle(120, 160, 30.0, 40.0, 12.0);
        let b = rect(120, 160, 100.0, 60.0, 30.0, 20.0);
        let morph = MaskMorph::new(&a, &b).expect("same size");
        assert_eq!(morph.at(0.0), a);
        assert_eq!(morph.at(f64::NAN), a);
        assert_eq!(morph.at(1.0), b);
        assert_eq!(morph.at(2.0), b);
        let other = Rle::empty(120, 161).expect("valid");
        assert!(matches!(MaskMorph::new(&a, &other), Err(MaskError::SizeMismatch { .. })));
        assert!(matches!(interpolate_mask(&a, &other, 0.5), Err(MaskError::SizeMismatch { .. })));
        assert!(matches!(interpolate_mask(&a, &other, 0.0), Err(MaskError::SizeMismatch { .. })));
    }

    #[test]
    fn an_empty_keyframe_switches_at_half_way() {
        let a = circle(100, 100, 50.0, 50.0, 20.0);
        let empty = Rle::empty(100, 100).expect("valid");
        let morph = MaskMorph::new(&a, &empty).expect("same size");
        assert_eq!(morph.at(0.3), a);
        assert_eq!(morph.at(0.5), empty);
        let back = MaskMorph::new(&empty, &a).expect("same size");
        assert_eq!(back.at(0.49), empty);
        assert_eq!(back.at(0.7), a);
    }

    #[test]
    fn a_shape_that_leaves_the_frame_is_clipped() {
        // A square moving from inside the frame to half out of its right edge.
        let a = rect(100, 200, 20.0, 40.0, 20.0, 20.0);
        let b = rect(100, 200, 190.0, 40.0, 20.0, 20.0);
        let got = MaskMorph::new(&a, &b).expect("same size").at(0.9);
        assert_eq!((got.height(), got.width()), (100, 200));
        let bb = got.bbox().expect("not empty");
        assert!(bb.x + bb.width <= 200.0 && bb.area() > 0.0, "{bb:?}");
    }

    #[test]
    fn a_blend_that_vanishes_falls_back_to_the_nearer_keyframe() {
        // Two thin rings of different radii share a centroid, but no pixel once aligned: the blend is empty.
        let ring = |r: f64| raster(200, 200, move |x, y| ((x - 100.0).hypot(y - 100.0) - r).abs() <= 0.6);
        let (a, b) = (ring(30.0), ring(80.0));
        let morph = MaskMorph::new(&a, &b).expect("same size");
        for t in [0.2, 0.5, 0.8] {
            let got = morph.at(t);
            assert!(!got.is_empty(), "t = {t}: the object vanished");
        }
        // Both rings are centred on (100, 100), so the nearer keyframe comes back unmoved.
        assert_eq!(morph.at(0.2), a);
        assert_eq!(morph.at(0.8), b);
    }

    /// `cargo test --release -p argus-core --test interpolate -- --ignored --nocapture`: prints what a 1080p
    /// morph costs. Not a benchmark run by `make test`, only the figures quoted in `MaskMorph`'s docs.
    #[test]
    #[ignore = "timing, run by hand in release"]
    fn mask_morph_timing_1080p() {
        use std::time::Instant;
        fn median_ms(mut f: impl FnMut()) -> f64 {
            let mut samples: Vec<f64> = (0..15)
                .map(|_| {
                    let start = Instant::now();
                    f();
                    start.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            samples.sort_by(f64::total_cmp);
            samples[samples.len() / 2]
        }
        let cases = [
            (
                "two ~300x300 px objects",
                circle(H, W, 400.0, 400.0, 150.0),
                raster(H, W, |x, y| ((x - 1300.0) / 160.0).powi(2) + ((y - 600.0) / 140.0).powi(2) <= 1.0),
            ),
            ("two full-frame masks", rect(H, W, 0.0, 0.0, 1920.0, 1000.0), circle(H, W, 960.0, 540.0, 1000.0)),
        ];
        for (name, a, b) in cases {
            let new = median_ms(|| {
                std::hint::black_box(MaskMorph::new(&a, &b).expect("same size"));
            });
            let morph = MaskMorph::new(&a, &b).expect("same size");
            let mut t = 0.0;
            let at = median_ms(|| {
                t = (t + 0.37) % 1.0;
                std::hint::black_box(morph.at(t));
            });
            println!("{name}: MaskMorph::new {new:.2} ms, MaskMorph::at {at:.3} ms ({morph:?})");
        }
    }
}

/// The derived shape between two keyframes.
mod shapes {
    use super::*;

    fn keyframes() -> (Shape, Shape) {
        let track = TrackId::new();
        let geometry = Geometry::BBox(bbox(0.0, 0.0, 10.0, 10.0));
        let mut before = Shape::keyframe(track, 10, geometry, ShapeSource::Sam, Timestamp(5));
        before.occluded = true;
        before.score = Some(0.9);
        before.author = Some(UserId::new());
        before.updated_at = Timestamp(7);
        before.attributes.insert("parked".into(), AttributeValue::Bool(true));
        let geometry = Geometry::BBox(bbox(100.0, 50.0, 20.0, 30.0));
        let after = Shape::keyframe(track, 20, geometry, ShapeSource::Manual, Timestamp(9));
        (before, after)
    }

    #[test]
    fn fields_of_the_derived_shape() {
        let (before, after) = keyframes();
        let s = interpolated_shape(&before, &after, 15).expect("strictly between");
        assert_eq!(s.id, ShapeId::for_track_frame(before.track_id, 15));
        assert_eq!((s.track_id, s.frame), (before.track_id, 15));
        assert_eq!(s.geometry, Geometry::BBox(bbox(50.0, 25.0, 15.0, 20.0)));
        assert!(!s.keyframe);
        assert_eq!(s.source, ShapeSource::Interpolated);
        assert!(s.occluded, "held from before");
        assert!(!s.outside);
        assert_eq!(s.attributes, before.attributes);
        assert_eq!((s.score, s.author), (None, None));
        assert_eq!((s.created_at, s.updated_at), (Timestamp(5), Timestamp(7)));
        let s = interpolated_shape(&before, &after, 12).expect("strictly between");
        assert_eq!(s.geometry, Geometry::BBox(bbox(20.0, 10.0, 12.0, 14.0)));
    }

    #[test]
    fn none_unless_strictly_between_two_keyframes_of_one_visible_track() {
        let (before, after) = keyframes();
        for frame in [0, 9, 10, 20, 21, u64::MAX] {
            assert_eq!(interpolated_shape(&before, &after, frame), None, "frame {frame}");
        }
        assert_eq!(interpolated_shape(&after, &before, 15), None, "keyframes in the wrong order");
        let other_track = Shape { track_id: TrackId::new(), ..after.clone() };
        assert_eq!(interpolated_shape(&before, &other_track, 15), None, "tracks differ");
        let not_key = Shape { keyframe: false, ..before.clone() };
        assert_eq!(interpolated_shape(&not_key, &after, 15), None, "before is not a keyframe");
        let not_key = Shape { keyframe: false, ..after.clone() };
        assert_eq!(interpolated_shape(&before, &not_key, 15), None, "after is not a keyframe");
        let outside = Shape { outside: true, ..before.clone() };
        assert_eq!(interpolated_shape(&outside, &after, 15), None, "the object is outside from before on");
        let points = Shape { geometry: Geometry::Points(vec![pt(1.0, 1.0)]), ..after.clone() };
        assert_eq!(interpolated_shape(&before, &points, 15), None, "kinds differ");
        let adjacent = Shape { frame: 11, id: ShapeId::for_track_frame(after.track_id, 11), ..after.clone() };
        assert_eq!(interpolated_shape(&before, &adjacent, 10), None, "no frame strictly between 10 and 11");
        assert_eq!(interpolated_shape(&before, &adjacent, 11), None);
    }
}

/// Properties over random shapes: no panic, and every point stays within the union of the two keyframes' boxes.
mod props {
    use super::*;
    use proptest::prelude::*;

    fn any_t() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => 0.0f64..=1.0,
            1 => -5.0f64..6.0,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
        ]
    }

    fn any_box() -> impl Strategy<Value = BBox> {
        (-1e4f64..1e4, -1e4f64..1e4, 1e-3f64..1e4, 1e-3f64..1e4).prop_map(|(x, y, w, h)| bbox(x, y, w, h))
    }

    fn any_ring() -> impl Strategy<Value = Vec<Point>> {
        proptest::collection::vec((-1e3f64..1e3, -1e3f64..1e3).prop_map(|(x, y)| pt(x, y)), 3..24)
    }

    fn any_polygon() -> impl Strategy<Value = Polygon> {
        (any_ring(), proptest::collection::vec(any_ring(), 0..3))
            .prop_map(|(exterior, holes)| Polygon::new(exterior, holes).expect("valid"))
    }

    /// `(x0, y0, x1, y1)` around all the points.
    fn bounds<'a>(points: impl IntoIterator<Item = &'a Point>) -> (f64, f64, f64, f64) {
        points.into_iter().fold((f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY), |b, p| {
            (b.0.min(p.x), b.1.min(p.y), b.2.max(p.x), b.3.max(p.y))
        })
    }

    fn all_points(p: &Polygon) -> impl Iterator<Item = &Point> {
        p.exterior.iter().chain(p.holes.iter().flatten())
    }

    fn within(p: &Point, b: (f64, f64, f64, f64)) -> bool {
        p.x >= b.0 && p.y >= b.1 && p.x <= b.2 && p.y <= b.3
    }

    proptest! {
        #[test]
        fn boxes_stay_between(a in any_box(), b in any_box(), t in any_t()) {
            let g = interpolate_bbox(&a, &b, t);
            prop_assert!(BBox::new(g.x, g.y, g.width, g.height).is_ok(), "{g:?} is not a valid box");
            prop_assert!(g.x >= a.x.min(b.x) && g.y >= a.y.min(b.y), "{g:?} leaves {a:?} and {b:?}");
            // x and width are each kept between a's and b's; their sum may round by an ulp or so.
            let (x1, y1) = ((a.x + a.width).max(b.x + b.width), (a.y + a.height).max(b.y + b.height));
            prop_assert!(g.x + g.width <= x1 + 1e-9 * (1.0 + x1.abs()), "{g:?} leaves {a:?} and {b:?}");
            prop_assert!(g.y + g.height <= y1 + 1e-9 * (1.0 + y1.abs()), "{g:?} leaves {a:?} and {b:?}");
        }

        #[test]
        fn polygons_stay_between(a in any_polygon(), b in any_polygon(), t in any_t()) {
            let g = interpolate_polygon(&a, &b, t);
            prop_assert!(Polygon::new(g.exterior.clone(), g.holes.clone()).is_ok(), "{g:?} is not a valid polygon");
            let (ba, bb) = (bounds(all_points(&a)), bounds(all_points(&b)));
            let union = (ba.0.min(bb.0), ba.1.min(bb.1), ba.2.max(bb.2), ba.3.max(bb.3));
            for p in all_points(&g) {
                prop_assert!(within(p, union), "{p:?} leaves {union:?}");
            }
        }

        #[test]
        fn polylines_stay_between(a in any_ring(), b in any_ring(), t in any_t()) {
            let (a, b) = (Polyline::new(a).expect("valid"), Polyline::new(b).expect("valid"));
            let g = interpolate_polyline(&a, &b, t);
            prop_assert!(Polyline::new(g.points.clone()).is_ok());
            let (ba, bb) = (bounds(&a.points), bounds(&b.points));
            let union = (ba.0.min(bb.0), ba.1.min(bb.1), ba.2.max(bb.2), ba.3.max(bb.3));
            for p in &g.points {
                prop_assert!(within(p, union), "{p:?} leaves {union:?}");
            }
        }

        #[test]
        fn masks_never_panic_and_keep_the_frame(
            bits_a in proptest::collection::vec(0u8..2, 12 * 16),
            bits_b in proptest::collection::vec(0u8..2, 12 * 16),
            t in any_t(),
        ) {
            let a = Rle::from_bitmap_row_major(12, 16, &bits_a).expect("valid");
            let b = Rle::from_bitmap_row_major(12, 16, &bits_b).expect("valid");
            let got = MaskMorph::new(&a, &b).expect("same size").at(t);
            prop_assert_eq!((got.height(), got.width()), (12, 16));
            if !a.is_empty() && !b.is_empty() {
                prop_assert!(!got.is_empty(), "a morph between two objects never loses the object");
            }
        }
    }
}
