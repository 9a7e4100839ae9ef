//! The CPU reference compositor. It defines what the GPU renderer draws, is
//! what the GPU tests compare against, and is the anchor of the benchmark.
//!
//! For each output pixel `(ox, oy)`:
//! 1. `f = ((ox, oy) + 0.5 - pan) * inv_zoom` (see [`crate::view`]). Outside
//!    the frame the pixel is the background colour.
//! 2. The frame colour: the pixel `floor(f)` when `zoom >= 1`
//!    (nearest-neighbour), otherwise bilinear around `f - 0.5` with edges clamped.
//! 3. The mask: the top-most visible object covering frame pixel `floor(f)`
//!    (objects are drawn bottom to top in the scene's order; hidden ones are
//!    skipped entirely, so what is under them shows).
//! 4. If that object has an outline width `w > 0` and some frame pixel within
//!    Chebyshev distance `w` of `floor(f)` (and inside the frame) shows a
//!    different object or none, the pixel is an outline pixel:
//!    `mix(frame, outline colour, outline alpha)`. Otherwise it is filled:
//!    `mix(frame, colour, opacity)`. See [`MaskStyle::resolve`] for what
//!    selection and hover change. `mix(a, b, t) = a + (b - a) * t` on `0..=1`
//!    values; bytes are rounded to nearest.
//! 5. Overlays are blended on top, one primitive after the other, with
//!    straight alpha times coverage (see [`crate::overlay`]), rounding to bytes
//!    after each, as a blending GPU does.
//!
//! [`composite`] is deliberately a plain per-pixel loop (with the outline
//! search done naively) so it is easy to check by eye; the GPU path is the
//! fast one. [`composite_in_place`] is the fast CPU path for the unscaled
//! view (the frame already at output size): the same pixels, but it touches
//! only the 8x8 tiles the scene says are covered, so its cost follows the
//! masks' area. On a software rasteriser (Mesa lavapipe or llvmpipe) it is
//! many times faster than the GPU path, which shades every output pixel.
//!
//! [`MaskStyle::resolve`]: crate::MaskStyle::resolve

use crate::frame::{RgbaFrame, RgbaImage};
use crate::overlay::{Overlay, tessellate};
use crate::scene::{MaskScene, ResolvedStyle, TILE};
use crate::view::ViewTransform;
use crate::yuv::unit_to_byte;
use crate::{Error, Result};

/// Size and background of the rendered image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSpec {
    pub width: u32,
    pub height: u32,
    /// Colour around the frame (letterbox).
    pub background: [u8; 3],
}

impl OutputSpec {
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height, background: [24, 24, 24] }
    }
}

/// Composites `frame`, the masks of `scene` and `overlays` under `view`.
pub fn composite(
    frame: &RgbaFrame<'_>,
    scene: &MaskScene,
    overlays: &[Overlay],
    view: &ViewTransform,
    out: &OutputSpec,
) -> Result<RgbaImage> {
    frame.validate()?;
    if frame.width != scene.width() || frame.height != scene.height() {
        return Err(Error::SceneFrameMismatch {
            scene_width: scene.width(),
            scene_height: scene.height(),
            frame_width: frame.width,
            frame_height: frame.height,
        });
    }
    let bg = out.background;
    let mut img = RgbaImage::filled(out.width, out.height, [bg[0], bg[1], bg[2], 255])?;
    let (w, h) = (frame.width as usize, frame.height as usize);
    let (labels, styles) = label_map(scene);
    let texel = |x: usize, y: usize| -> [f32; 3] {
        let i = x * 4;
        let row = frame.row(y as u32);
        match row.get(i..i + 3) {
            Some(p) => [f32::from(p[0]) / 255.0, f32::from(p[1]) / 255.0, f32::from(p[2]) / 255.0],
            None => [0.0; 3],
        }
    };
    let ow = out.width as usize;
    for (i, px) in img.data_mut().chunks_exact_mut(4).enumerate() {
        let (ox, oy) = ((i % ow) as u32, (i / ow) as u32);
        let (fx, fy) = view.sample_point(ox, oy);
        if !(fx >= 0.0 && fy >= 0.0 && fx < w as f32 && fy < h as f32) {
            continue;
        }
        let (x, y) = ((fx.floor() as usize).min(w - 1), (fy.floor() as usize).min(h - 1));
        let mut color = if view.is_nearest() { texel(x, y) } else { bilinear(&texel, w, h, fx, fy) };
        let label = labels.get(y * w + x).copied().unwrap_or(0);
        if let Some(style) = label.checked_sub(1).and_then(|l| styles.get(l as usize)) {
            let edge = style.outline_width > 0 && is_edge(&labels, w, h, x, y, label, style.outline_width as usize);
            let (rgb, a) = if edge {
                ([style.outline[0], style.outline[1], style.outline[2]], style.outline[3])
            } else {
                ([style.fill[0], style.fill[1], style.fill[2]], style.fill[3])
            };
            for c in 0..3 {
                color[c] = mix(color[c], rgb[c], a);
            }
        }
        px[0] = unit_to_byte(color[0]);
        px[1] = unit_to_byte(color[1]);
        px[2] = unit_to_byte(color[2]);
    }
    draw_overlays(&mut img, overlays, view);
    Ok(img)
}

/// Composites the masks of `scene` and `overlays` straight into `frame`
/// under the identity view: the pixels [`composite`] draws for an output of
/// the frame's size, touching only tiles that masks cover (and the overlays'
/// bounds).
pub fn composite_in_place(frame: &mut RgbaImage, scene: &mut MaskScene, overlays: &[Overlay]) -> Result<()> {
    if frame.width() != scene.width() || frame.height() != scene.height() {
        return Err(Error::SceneFrameMismatch {
            scene_width: scene.width(),
            scene_height: scene.height(),
            frame_width: frame.width(),
            frame_height: frame.height(),
        });
    }
    scene.prepare();
    let w = scene.width() as usize;
    let data = frame.data_mut();
    for_each_masked_pixel(scene, |x, y, [r, g, b, a]| {
        let i = (y * w + x) * 4;
        if let Some(px) = data.get_mut(i..i + 3) {
            for (v, c) in px.iter_mut().zip([r, g, b]) {
                *v = unit_to_byte(mix(f32::from(*v) / 255.0, c, a));
            }
        }
    });
    draw_overlays(frame, overlays, &ViewTransform::IDENTITY);
    Ok(())
}

/// The masks of `scene` as a layer of their own: straight-alpha RGBA, each
/// covered pixel the fill or outline colour with its opacity as alpha, the
/// rest transparent, cropped to the 8x8 tiles the masks cover. Drawn over the
/// frame with "source over" blending (a canvas over a canvas), it gives the
/// pixels [`composite_in_place`] blends into the frame, within rounding.
/// The frame view draws the SAM preview this way, so a click moves only the
/// preview's pixels, not the frame under it. `None` when nothing is covered.
pub fn mask_layer(scene: &mut MaskScene) -> Result<Option<MaskLayer>> {
    scene.prepare();
    let (w, h) = (scene.width() as usize, scene.height() as usize);
    let (tw, th) = scene.tile_grid();
    let (th, t) = (th as usize, TILE as usize);
    let tiles = scene.tiles();
    let (mut tx0, mut ty0, mut tx1, mut ty1) = (usize::MAX, usize::MAX, 0, 0);
    for tx in 0..tw as usize {
        for ty in 0..th {
            if tiles.get(tx * th + ty).copied().unwrap_or(0) != 0 {
                (tx0, ty0, tx1, ty1) = (tx0.min(tx), ty0.min(ty), tx1.max(tx + 1), ty1.max(ty + 1));
            }
        }
    }
    if tx0 == usize::MAX {
        return Ok(None);
    }
    let (left, top) = (tx0 * t, ty0 * t);
    let (cw, ch) = ((tx1 * t).min(w) - left, (ty1 * t).min(h) - top);
    let mut data = vec![0u8; cw * ch * 4];
    for_each_masked_pixel(scene, |x, y, colour| {
        let i = ((y - top) * cw + (x - left)) * 4;
        if let Some(px) = data.get_mut(i..i + 4) {
            px.copy_from_slice(&colour.map(unit_to_byte));
        }
    });
    let image = RgbaImage::from_vec(cw as u32, ch as u32, data)?;
    Ok(Some(MaskLayer { left: left as u32, top: top as u32, image }))
}

/// Calls `f(x, y, colour)` for each pixel a visible mask of the prepared
/// `scene` covers, with the colour and opacity (`0..=1`) it is drawn in: the
/// outline's within its width of an edge, else the fill's. Only the 8x8
/// tiles the scene says are covered are visited.
fn for_each_masked_pixel(scene: &MaskScene, mut f: impl FnMut(usize, usize, [f32; 4])) {
    let (w, h) = (scene.width() as usize, scene.height() as usize);
    let styles = scene.slot_styles();
    let ids = scene.ids();
    let tiles = scene.tiles();
    let (tw, th) = scene.tile_grid();
    let (tw, th, t) = (tw as usize, th as usize, TILE as usize);
    for tx in 0..tw {
        for ty in 0..th {
            if tiles.get(tx * th + ty).copied().unwrap_or(0) == 0 {
                continue;
            }
            for x in tx * t..((tx + 1) * t).min(w) {
                for y in ty * t..((ty + 1) * t).min(h) {
                    // The scene's id map is column-major: slot + 1, 0 for none.
                    let id = ids.get(x * h + y).copied().unwrap_or(0);
                    let Some(style) = id.checked_sub(1).and_then(|s| styles.get(s as usize)) else {
                        continue;
                    };
                    let r = style.outline_width as usize;
                    let edge = r > 0 && tiled_edge(ids, tiles, (w, h, th), x, y, id, r);
                    f(x, y, if edge { style.outline } else { style.fill });
                }
            }
        }
    }
}

/// What [`mask_layer`] draws: `image` belongs at (`left`, `top`) of the scene.
#[derive(Debug, Clone)]
pub struct MaskLayer {
    pub left: u32,
    pub top: u32,
    pub image: RgbaImage,
}

/// [`is_edge`] on the scene's column-major id map, answering "no" at once
/// when every tile the square overlaps holds only `id` (as the GPU shader does).
fn tiled_edge(ids: &[u32], tiles: &[u32], (w, h, th): (usize, usize, usize), x: usize, y: usize, id: u32, r: usize) -> bool {
    let (x0, x1) = (x.saturating_sub(r), (x + r).min(w - 1));
    let (y0, y1) = (y.saturating_sub(r), (y + r).min(h - 1));
    let t = TILE as usize;
    let uniform = (x0 / t..=x1 / t).all(|tx| (y0 / t..=y1 / t).all(|ty| tiles.get(tx * th + ty).copied() == Some(id)));
    if uniform {
        return false;
    }
    (x0..=x1).any(|qx| {
        ids.get(qx * h + y0..=qx * h + y1)
            .is_none_or(|col| col.iter().any(|&v| v != id))
    })
}

pub(crate) fn mix(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

fn bilinear(texel: &impl Fn(usize, usize) -> [f32; 3], w: usize, h: usize, fx: f32, fy: f32) -> [f32; 3] {
    let (sx, sy) = (fx - 0.5, fy - 0.5);
    let (x0, y0) = (sx.floor(), sy.floor());
    let (tx, ty) = (sx - x0, sy - y0);
    let clamp = |v: f32, n: usize| (v.max(0.0) as usize).min(n - 1);
    let (xa, xb) = (clamp(x0, w), clamp(x0 + 1.0, w));
    let (ya, yb) = (clamp(y0, h), clamp(y0 + 1.0, h));
    let (p00, p10, p01, p11) = (texel(xa, ya), texel(xb, ya), texel(xa, yb), texel(xb, yb));
    let mut out = [0.0; 3];
    for c in 0..3 {
        out[c] = mix(mix(p00[c], p10[c], tx), mix(p01[c], p11[c], tx), ty);
    }
    out
}

/// Row-major map of `z index + 1` of the top-most visible object, painted
/// straight from the runs, independently of the scene's incremental map.
fn label_map(scene: &MaskScene) -> (Vec<u32>, Vec<ResolvedStyle>) {
    let (w, h) = (scene.width() as usize, scene.height() as usize);
    let mut labels = vec![0u32; w * h];
    let mut styles = Vec::new();
    for (_, rle, style) in scene.objects() {
        styles.push(style.resolve());
        if style.hidden {
            continue;
        }
        let label = styles.len() as u32;
        let mut pos = 0usize;
        for (i, &count) in rle.counts().iter().enumerate() {
            let end = pos + count as usize;
            if i % 2 == 1 {
                for p in pos..end {
                    if let Some(l) = labels.get_mut((p % h) * w + p / h) {
                        *l = label;
                    }
                }
            }
            pos = end;
        }
    }
    (labels, styles)
}

fn is_edge(labels: &[u32], w: usize, h: usize, x: usize, y: usize, label: u32, r: usize) -> bool {
    for qy in y.saturating_sub(r)..=(y + r).min(h - 1) {
        for qx in x.saturating_sub(r)..=(x + r).min(w - 1) {
            if labels.get(qy * w + qx).copied() != Some(label) {
                return true;
            }
        }
    }
    false
}

fn draw_overlays(img: &mut RgbaImage, overlays: &[Overlay], view: &ViewTransform) {
    let (ow, oh) = (img.width(), img.height());
    let t = tessellate(overlays, view);
    for prim in &t.primitives {
        let (lo, hi) = prim.bounds();
        let x0 = lo[0].floor().max(0.0) as u32;
        let y0 = lo[1].floor().max(0.0) as u32;
        let x1 = (hi[0].ceil().max(0.0) as u32).min(ow);
        let y1 = (hi[1].ceil().max(0.0) as u32).min(oh);
        for y in y0..y1 {
            for x in x0..x1 {
                let a = prim.color[3] * prim.coverage(&t.edges, [x as f32 + 0.5, y as f32 + 0.5]);
                if a <= 0.0 {
                    continue;
                }
                let i = (y as usize * ow as usize + x as usize) * 4;
                if let Some(px) = img.data_mut().get_mut(i..i + 3) {
                    for (c, v) in px.iter_mut().enumerate() {
                        *v = unit_to_byte(prim.color[c] * a + f32::from(*v) / 255.0 * (1.0 - a));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::overlay::Stroke;
    use crate::scene::tests::rect;
    use crate::scene::{MaskStyle, ObjectId};
    use argus_core::geometry::BBox;

    fn grey(w: u32, h: u32) -> RgbaImage {
        RgbaImage::filled(w, h, [100, 100, 100, 255]).unwrap()
    }

    #[test]
    fn tint_outline_and_outside() {
        let frame = grey(20, 20);
        let mut scene = MaskScene::new(20, 20).unwrap();
        let style = MaskStyle { color: [200, 0, 0], opacity: 0.5, outline_width: 1, ..MaskStyle::default() };
        scene.insert(ObjectId(1), rect(20, 20, 5, 5, 15, 15), style).unwrap();
        let out = composite(&frame.as_frame(), &scene, &[], &ViewTransform::IDENTITY, &OutputSpec::new(20, 20)).unwrap();
        assert_eq!(out.pixel(0, 0), Some([100, 100, 100, 255]));
        // Inside: 100/255 mixed halfway to 200/255 = 150.
        assert_eq!(out.pixel(10, 10), Some([150, 50, 50, 255]));
        // Edge pixel: outline alpha 0.75 -> 100 + 100*0.75 = 175, 25.
        assert_eq!(out.pixel(5, 10), Some([175, 25, 25, 255]));
        assert_eq!(out.pixel(14, 14), Some([175, 25, 25, 255]));
        assert_eq!(out.pixel(6, 10), Some([150, 50, 50, 255]));
    }

    #[test]
    fn overlaps_follow_z_order_and_hidden_is_skipped() {
        let frame = grey(10, 10);
        let mut scene = MaskScene::new(10, 10).unwrap();
        let red = MaskStyle { color: [255, 0, 0], opacity: 1.0, outline_width: 0, ..MaskStyle::default() };
        let blue = MaskStyle { color: [0, 0, 255], ..red };
        scene.insert(ObjectId(1), rect(10, 10, 0, 0, 6, 6), red).unwrap();
        scene.insert(ObjectId(2), rect(10, 10, 4, 4, 10, 10), blue).unwrap();
        let view = ViewTransform::IDENTITY;
        let out = composite(&frame.as_frame(), &scene, &[], &view, &OutputSpec::new(10, 10)).unwrap();
        assert_eq!(out.pixel(5, 5), Some([0, 0, 255, 255]));
        assert_eq!(out.pixel(1, 1), Some([255, 0, 0, 255]));
        scene.set_style(ObjectId(2), MaskStyle { hidden: true, ..blue }).unwrap();
        let out = composite(&frame.as_frame(), &scene, &[], &view, &OutputSpec::new(10, 10)).unwrap();
        assert_eq!(out.pixel(5, 5), Some([255, 0, 0, 255]));
        assert_eq!(out.pixel(8, 8), Some([100, 100, 100, 255]));
    }

    #[test]
    fn zoom_maps_pixels_and_bilinear_when_zoomed_out() {
        let mut frame = grey(4, 4);
        frame.data_mut()[(4 + 1) * 4] = 255; // pixel (1, 1) red channel
        let scene = MaskScene::new(4, 4).unwrap();
        let spec = OutputSpec::new(12, 12);
        let view = ViewTransform::new(2.0, 2.0, 2.0).unwrap();
        let out = composite(&frame.as_frame(), &scene, &[], &view, &spec).unwrap();
        assert_eq!(out.pixel(1, 1), Some([24, 24, 24, 255]));
        assert_eq!(out.pixel(4, 4), Some([255, 100, 100, 255]));
        assert_eq!(out.pixel(5, 5), Some([255, 100, 100, 255]));
        assert_eq!(out.pixel(6, 5), Some([100, 100, 100, 255]));
        let half = ViewTransform::new(0.5, 0.0, 0.0).unwrap();
        let out = composite(&frame.as_frame(), &scene, &[], &half, &spec).unwrap();
        // Output (0,0) samples frame point (1,1): halfway between pixel centres 0 and 1, so
        // a quarter of pixel (1,1)'s 255: 100 + 155 / 4 = 138.75.
        let r = out.pixel(0, 0).unwrap()[0];
        assert!((138..=139).contains(&r), "{r}");
    }

    /// A small deterministic generator (xorshift) for scenes.
    struct Gen(u64);
    impl Gen {
        fn next(&mut self, n: u32) -> u32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % u64::from(n)) as u32
        }
    }

    /// A frame of varied pixels and up to 5 random rectangles in random styles.
    fn random_case(g: &mut Gen) -> (RgbaImage, MaskScene) {
        let (w, h) = (9 + g.next(60), 7 + g.next(50));
        let mut frame = RgbaImage::filled(w, h, [0, 0, 0, 255]).unwrap();
        for (i, v) in frame.data_mut().iter_mut().enumerate() {
            if i % 4 != 3 {
                *v = (i * 37 % 251) as u8;
            }
        }
        let mut scene = MaskScene::new(w, h).unwrap();
        for id in 0..g.next(6) {
            let (x0, y0) = (g.next(w), g.next(h));
            let (x1, y1) = ((x0 + 1 + g.next(w)).min(w), (y0 + 1 + g.next(h)).min(h));
            let style = MaskStyle {
                color: [g.next(256) as u8, g.next(256) as u8, g.next(256) as u8],
                opacity: g.next(101) as f32 / 100.0,
                outline_width: g.next(4),
                selected: g.next(3) == 0,
                hovered: g.next(4) == 0,
                hidden: g.next(5) == 0,
            };
            scene.insert(ObjectId(u64::from(id)), rect(w, h, x0, y0, x1, y1), style).unwrap();
        }
        (frame, scene)
    }

    #[test]
    fn in_place_matches_the_reference() {
        for seed in 1..=40u64 {
            let mut g = Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let (mut frame, mut scene) = random_case(&mut g);
            let (w, h) = (frame.width(), frame.height());
            let overlays = if g.next(2) == 0 {
                let bbox = BBox { x: g.next(w) as f64, y: g.next(h) as f64, width: 1.0 + g.next(w) as f64, height: 1.0 + g.next(h) as f64 };
                vec![Overlay::Box { bbox, stroke: Stroke { color: [0, 255, 0, 200], width: 1.5 } }]
            } else {
                Vec::new()
            };
            let reference =
                composite(&frame.as_frame(), &scene, &overlays, &ViewTransform::IDENTITY, &OutputSpec::new(w, h)).unwrap();
            composite_in_place(&mut frame, &mut scene, &overlays).unwrap();
            assert!(frame.data() == reference.data(), "seed {seed}: {w}x{h}, {} objects", scene.len());
        }
        let mut wrong = RgbaImage::filled(4, 4, [0, 0, 0, 255]).unwrap();
        assert!(composite_in_place(&mut wrong, &mut MaskScene::new(5, 4).unwrap(), &[]).is_err());
    }

    #[test]
    fn mask_layer_over_the_frame_gives_the_composite() {
        for seed in 1..=40u64 {
            let mut g = Gen(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
            let (frame, mut scene) = random_case(&mut g);
            let w = frame.width();
            let Some(layer) = mask_layer(&mut scene).unwrap() else {
                // Nothing visible covers the frame: compositing leaves it as it is.
                let mut same = frame.clone();
                composite_in_place(&mut same, &mut scene, &[]).unwrap();
                assert!(same.data() == frame.data(), "seed {seed}: no layer, yet the composite differs");
                continue;
            };
            let mut expected = frame.clone();
            composite_in_place(&mut expected, &mut scene, &[]).unwrap();
            // Source-over of the layer on the frame, as the page's canvases do.
            let mut blended = frame.clone();
            let (lw, lh) = (layer.image.width(), layer.image.height());
            assert!(layer.left + lw <= w && layer.top + lh <= frame.height(), "seed {seed}: the layer lies outside the frame");
            for y in 0..lh {
                for x in 0..lw {
                    let [r, gg, b, a] = layer.image.pixel(x, y).unwrap();
                    let i = (((layer.top + y) * w + layer.left + x) * 4) as usize;
                    let px = &mut blended.data_mut()[i..i + 3];
                    for (c, v) in px.iter_mut().zip([r, gg, b]) {
                        *c = unit_to_byte(mix(f32::from(*c) / 255.0, f32::from(v) / 255.0, f32::from(a) / 255.0));
                    }
                }
            }
            // Colour and alpha are each rounded to bytes in the layer: at most
            // one unit off before the blend's own rounding.
            let (diff, x, y) = blended.max_abs_diff(&expected).unwrap();
            assert!(diff <= 2, "seed {seed}: {diff} apart at ({x}, {y})");
        }
        // Nothing covered: no layer.
        let mut empty = MaskScene::new(16, 16).unwrap();
        assert!(mask_layer(&mut empty).unwrap().is_none());
        // The crop follows the covered tiles: a mask in the bottom-right tile only.
        let mut corner = MaskScene::new(32, 24).unwrap();
        corner.insert(ObjectId(1), rect(32, 24, 26, 18, 30, 22), MaskStyle::default()).unwrap();
        let layer = mask_layer(&mut corner).unwrap().unwrap();
        assert_eq!((layer.left, layer.top, layer.image.width(), layer.image.height()), (24, 16, 8, 8));
        assert_eq!(layer.image.pixel(0, 0), Some([0, 0, 0, 0]));
        assert_eq!(layer.image.pixel(2, 2), Some([255, 64, 64, 179]), "the outline at alpha 0.5 + 0.5 * 0.4");
        assert_eq!(layer.image.pixel(3, 3), Some([255, 64, 64, 102]), "the fill at alpha 0.4");
    }

    #[test]
    fn overlays_blend_on_top() {
        let frame = grey(20, 20);
        let scene = MaskScene::new(20, 20).unwrap();
        let bbox = BBox { x: 4.0, y: 4.0, width: 10.0, height: 10.0 };
        let ov = [Overlay::Box { bbox, stroke: Stroke { color: [0, 255, 0, 255], width: 2.0 } }];
        let out = composite(&frame.as_frame(), &scene, &ov, &ViewTransform::IDENTITY, &OutputSpec::new(20, 20)).unwrap();
        assert_eq!(out.pixel(8, 4), Some([0, 255, 0, 255]));
        assert_eq!(out.pixel(8, 3), Some([0, 255, 0, 255]));
        assert_eq!(out.pixel(8, 9), Some([100, 100, 100, 255]));
        assert!(composite(&grey(5, 5).as_frame(), &scene, &[], &ViewTransform::IDENTITY, &OutputSpec::new(5, 5)).is_err());
    }
}
