//! The view transform: where the frame lands in the output, and back.
//!
//! A frame pixel `(x, y)` covers the square `[x, x+1) x [y, y+1)` in frame
//! coordinates. The transform maps frame coordinates to output (screen)
//! coordinates as `screen = frame * zoom + pan`. Output pixel `(ox, oy)` shows
//! whatever lies under its centre `(ox + 0.5, oy + 0.5)`, mapped back through
//! [`ViewTransform::screen_to_frame`]. The GPU and the CPU reference both use
//! `(s - pan) * inv_zoom` with `inv_zoom` computed once in `f32`, so they pick
//! the same frame pixel even on pixel boundaries.

use argus_core::geometry::Point;

use crate::{Error, Result};

/// Zoom and pan of the frame inside the output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewTransform {
    zoom: f32,
    pan_x: f32,
    pan_y: f32,
}

/// Zooms below this or above [`MAX_ZOOM`] are refused: they only come from bugs.
pub const MIN_ZOOM: f32 = 1.0 / 1024.0;
/// See [`MIN_ZOOM`].
pub const MAX_ZOOM: f32 = 1024.0;

impl ViewTransform {
    /// Frame pixel `(x, y)` at output pixel `(x, y)`.
    pub const IDENTITY: Self = Self { zoom: 1.0, pan_x: 0.0, pan_y: 0.0 };

    /// `screen = frame * zoom + (pan_x, pan_y)`; zoom must be finite and in
    /// [`MIN_ZOOM`, `MAX_ZOOM`], pans finite.
    pub fn new(zoom: f32, pan_x: f32, pan_y: f32) -> Result<Self> {
        if !zoom.is_finite() || !(MIN_ZOOM..=MAX_ZOOM).contains(&zoom) {
            return Err(Error::InvalidView { reason: format!("zoom {zoom} is outside {MIN_ZOOM}..={MAX_ZOOM}") });
        }
        if !pan_x.is_finite() || !pan_y.is_finite() {
            return Err(Error::InvalidView { reason: format!("pan ({pan_x}, {pan_y}) is not finite") });
        }
        Ok(Self { zoom, pan_x, pan_y })
    }

    /// The whole frame, as large as fits, centred (letterboxed).
    pub fn fit(frame_width: u32, frame_height: u32, out_width: u32, out_height: u32) -> Self {
        let (fw, fh) = (frame_width.max(1) as f32, frame_height.max(1) as f32);
        let (ow, oh) = (out_width.max(1) as f32, out_height.max(1) as f32);
        let zoom = (ow / fw).min(oh / fh).clamp(MIN_ZOOM, MAX_ZOOM);
        Self { zoom, pan_x: (ow - fw * zoom) / 2.0, pan_y: (oh - fh * zoom) / 2.0 }
    }

    /// One frame pixel per output pixel, centred, on whole-pixel offsets so
    /// nothing is resampled.
    pub fn one_to_one(frame_width: u32, frame_height: u32, out_width: u32, out_height: u32) -> Self {
        let pan_x = ((i64::from(out_width) - i64::from(frame_width)) / 2) as f32;
        let pan_y = ((i64::from(out_height) - i64::from(frame_height)) / 2) as f32;
        Self { zoom: 1.0, pan_x, pan_y }
    }

    pub fn zoom(&self) -> f32 {
        self.zoom
    }

    pub fn pan(&self) -> (f32, f32) {
        (self.pan_x, self.pan_y)
    }

    /// The reciprocal the shaders multiply by; shared so CPU and GPU agree.
    pub fn inv_zoom(&self) -> f32 {
        1.0 / self.zoom
    }

    /// Whether the frame is sampled nearest-neighbour (zoom >= 1, so pixels
    /// show as crisp squares) rather than bilinearly (zoomed out).
    pub fn is_nearest(&self) -> bool {
        self.zoom >= 1.0
    }

    /// Frame coordinates to output coordinates.
    pub fn frame_to_screen(&self, p: Point) -> Point {
        Point { x: p.x * f64::from(self.zoom) + f64::from(self.pan_x), y: p.y * f64::from(self.zoom) + f64::from(self.pan_y) }
    }

    /// Output coordinates (e.g. a click) to frame coordinates. The frame
    /// pixel under the click is `(floor(x), floor(y))` when that lies inside
    /// the frame.
    pub fn screen_to_frame(&self, p: Point) -> Point {
        Point { x: (p.x - f64::from(self.pan_x)) / f64::from(self.zoom), y: (p.y - f64::from(self.pan_y)) / f64::from(self.zoom) }
    }

    /// The frame pixel shown at the centre of output pixel `(ox, oy)`, exactly
    /// as the renderer picks it (may lie outside the frame).
    pub fn frame_pixel_at(&self, ox: u32, oy: u32) -> (i64, i64) {
        let (fx, fy) = self.sample_point(ox, oy);
        (fx.floor() as i64, fy.floor() as i64)
    }

    /// Continuous frame coordinate sampled for output pixel `(ox, oy)`, in the
    /// same `f32` arithmetic as the shader.
    pub(crate) fn sample_point(&self, ox: u32, oy: u32) -> (f32, f32) {
        let inv = self.inv_zoom();
        ((ox as f32 + 0.5 - self.pan_x) * inv, (oy as f32 + 0.5 - self.pan_y) * inv)
    }

    /// Zooms by `factor` keeping the frame point under `anchor` (output
    /// coordinates, e.g. the mouse) fixed. The zoom is clamped to the allowed range.
    pub fn zoomed_about(&self, anchor: Point, factor: f32) -> Self {
        let factor = if factor.is_finite() && factor > 0.0 { factor } else { 1.0 };
        let zoom = (self.zoom * factor).clamp(MIN_ZOOM, MAX_ZOOM);
        let f = self.screen_to_frame(anchor);
        Self {
            zoom,
            pan_x: (anchor.x - f.x * f64::from(zoom)) as f32,
            pan_y: (anchor.y - f.y * f64::from(zoom)) as f32,
        }
    }

    /// Moves the frame by `(dx, dy)` output pixels.
    pub fn panned(&self, dx: f32, dy: f32) -> Self {
        let (dx, dy) = (if dx.is_finite() { dx } else { 0.0 }, if dy.is_finite() { dy } else { 0.0 });
        Self { zoom: self.zoom, pan_x: self.pan_x + dx, pan_y: self.pan_y + dy }
    }
}

impl Default for ViewTransform {
    fn default() -> Self {
        Self::IDENTITY
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn pt(x: f64, y: f64) -> Point {
        Point { x, y }
    }

    #[test]
    fn screen_to_frame_inverts_frame_to_screen() {
        let v = ViewTransform::new(2.5, -13.0, 7.25).unwrap();
        for &(x, y) in &[(0.0, 0.0), (10.5, 3.25), (-4.0, 1000.0)] {
            let back = v.screen_to_frame(v.frame_to_screen(pt(x, y)));
            assert!((back.x - x).abs() < 1e-9 && (back.y - y).abs() < 1e-9, "{back:?} vs ({x}, {y})");
        }
        let s = v.frame_to_screen(pt(4.0, 2.0));
        assert_eq!((s.x, s.y), (4.0 * 2.5 - 13.0, 2.0 * 2.5 + 7.25));
    }

    #[test]
    fn fit_letterboxes_and_centres() {
        let v = ViewTransform::fit(1920, 1080, 960, 720);
        assert_eq!(v.zoom(), 0.5);
        assert_eq!(v.pan(), (0.0, (720.0 - 540.0) / 2.0));
        let tall = ViewTransform::fit(100, 400, 300, 200);
        assert_eq!(tall.zoom(), 0.5);
        assert_eq!(tall.pan(), ((300.0 - 50.0) / 2.0, 0.0));
    }

    #[test]
    fn one_to_one_uses_whole_pixel_offsets() {
        let v = ViewTransform::one_to_one(101, 50, 200, 100);
        assert_eq!(v.zoom(), 1.0);
        assert_eq!(v.pan(), (49.0, 25.0));
        assert_eq!(v.frame_pixel_at(49, 25), (0, 0));
        assert_eq!(v.frame_pixel_at(48, 25), (-1, 0));
        let bigger = ViewTransform::one_to_one(300, 300, 100, 100);
        assert_eq!(bigger.pan(), (-100.0, -100.0));
    }

    #[test]
    fn frame_pixel_at_follows_zoom_and_pan() {
        let v = ViewTransform::new(4.0, 8.0, 0.0).unwrap();
        assert_eq!(v.frame_pixel_at(8, 0), (0, 0));
        assert_eq!(v.frame_pixel_at(11, 3), (0, 0));
        assert_eq!(v.frame_pixel_at(12, 4), (1, 1));
        assert_eq!(v.frame_pixel_at(7, 0), (-1, 0));
        assert!(v.is_nearest());
        assert!(!ViewTransform::new(0.5, 0.0, 0.0).unwrap().is_nearest());
    }

    #[test]
    fn zoom_about_keeps_anchor_fixed() {
        let v = ViewTransform::new(1.5, 10.0, -20.0).unwrap();
        let anchor = pt(123.0, 77.0);
        let before = v.screen_to_frame(anchor);
        let z = v.zoomed_about(anchor, 3.0);
        assert_eq!(z.zoom(), 4.5);
        let after = z.screen_to_frame(anchor);
        assert!((before.x - after.x).abs() < 1e-3 && (before.y - after.y).abs() < 1e-3);
        assert_eq!(v.zoomed_about(anchor, f32::NAN), v);
        assert_eq!(v.zoomed_about(anchor, 1e9).zoom(), MAX_ZOOM);
    }

    #[test]
    fn invalid_views_are_refused() {
        assert!(ViewTransform::new(0.0, 0.0, 0.0).is_err());
        assert!(ViewTransform::new(f32::INFINITY, 0.0, 0.0).is_err());
        assert!(ViewTransform::new(1.0, f32::NAN, 0.0).is_err());
        assert_eq!(ViewTransform::IDENTITY.panned(3.0, f32::NAN).pan(), (3.0, 0.0));
    }
}
