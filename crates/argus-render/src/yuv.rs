//! 8-bit YUV frames (I420 and NV12, limited range, BT.601 or BT.709) and
//! their conversion to RGB.
//!
//! The GPU converts with the same coefficients ([`YuvMatrix::coefficients`])
//! and the same chroma siting (each chroma sample covers a 2x2 block,
//! nearest, no interpolation), so [`to_rgba`] is its reference.

use crate::frame::{RgbaImage, check_plane, check_size};
use crate::Result;
#[cfg(test)]
use crate::Error;

/// Which YUV -> RGB matrix; both limited ("TV") range, Y in 16..=235.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YuvMatrix {
    /// SD video.
    Bt601,
    /// HD video.
    Bt709,
}

impl YuvMatrix {
    /// Rows of `rgb = M * (y, u, v, 1)` on byte values, giving `0..=1`.
    pub fn coefficients(self) -> [[f32; 4]; 3] {
        let (kr, kb) = match self {
            Self::Bt601 => (0.299f64, 0.114f64),
            Self::Bt709 => (0.2126, 0.0722),
        };
        let kg = 1.0 - kr - kb;
        let ys = 1.0 / 219.0;
        let cs = 1.0 / 224.0;
        let rv = 2.0 * (1.0 - kr) * cs;
        let gu = -2.0 * kb * (1.0 - kb) / kg * cs;
        let gv = -2.0 * kr * (1.0 - kr) / kg * cs;
        let bu = 2.0 * (1.0 - kb) * cs;
        let row = |u: f64, v: f64| [ys as f32, u as f32, v as f32, (-16.0 * ys - 128.0 * (u + v)) as f32];
        [row(0.0, rv), row(gu, gv), row(bu, 0.0)]
    }
}

/// One plane: `stride` bytes per row.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
}

/// Plane layouts, chroma subsampled 2x2 (odd sizes round up).
#[derive(Debug, Clone, Copy)]
pub enum YuvPlanes<'a> {
    /// Three planes: Y, U (Cb), V (Cr).
    I420 { y: Plane<'a>, u: Plane<'a>, v: Plane<'a> },
    /// Y plus one interleaved UV plane.
    Nv12 { y: Plane<'a>, uv: Plane<'a> },
}

/// A borrowed 8-bit YUV frame.
#[derive(Debug, Clone, Copy)]
pub struct YuvFrame<'a> {
    pub width: u32,
    pub height: u32,
    pub planes: YuvPlanes<'a>,
    pub matrix: YuvMatrix,
}

impl YuvFrame<'_> {
    pub fn chroma_size(&self) -> (u32, u32) {
        (self.width.div_ceil(2), self.height.div_ceil(2))
    }

    pub(crate) fn validate(&self) -> Result<()> {
        check_size("frame", self.width, self.height)?;
        let (w, h) = (self.width as usize, self.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        match self.planes {
            YuvPlanes::I420 { y, u, v } => {
                check_plane("Y plane", y.data, y.stride, w, h)?;
                check_plane("U plane", u.data, u.stride, cw, ch)?;
                check_plane("V plane", v.data, v.stride, cw, ch)
            }
            YuvPlanes::Nv12 { y, uv } => {
                check_plane("Y plane", y.data, y.stride, w, h)?;
                check_plane("UV plane", uv.data, uv.stride, cw * 2, ch)
            }
        }
    }

    /// `(y, u, v)` bytes at pixel `(x, y)`; call after `validate`.
    fn sample(&self, x: usize, y: usize) -> (u8, u8, u8) {
        let at = |p: &Plane<'_>, x: usize, y: usize| p.data.get(y * p.stride + x).copied().unwrap_or(0);
        match &self.planes {
            YuvPlanes::I420 { y: yp, u, v } => (at(yp, x, y), at(u, x / 2, y / 2), at(v, x / 2, y / 2)),
            YuvPlanes::Nv12 { y: yp, uv } => (at(yp, x, y), at(uv, x / 2 * 2, y / 2), at(uv, x / 2 * 2 + 1, y / 2)),
        }
    }
}

/// Converts on the CPU, exactly as the GPU does (up to rounding).
pub fn to_rgba(frame: &YuvFrame<'_>) -> Result<RgbaImage> {
    frame.validate()?;
    let m = frame.matrix.coefficients();
    let mut out = RgbaImage::filled(frame.width, frame.height, [0, 0, 0, 255])?;
    let w = frame.width as usize;
    for (i, px) in out.data_mut().chunks_exact_mut(4).enumerate() {
        let (y, u, v) = frame.sample(i % w, i / w);
        let (y, u, v) = (f32::from(y), f32::from(u), f32::from(v));
        for (c, row) in px.iter_mut().zip(&m) {
            let value = row[0] * y + row[1] * u + row[2] * v + row[3];
            *c = unit_to_byte(value);
        }
    }
    Ok(out)
}

/// `0..=1` to a byte, rounding to nearest as GPUs store unorm8.
pub(crate) fn unit_to_byte(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn limited_range_black_white_and_primaries() {
        for matrix in [YuvMatrix::Bt601, YuvMatrix::Bt709] {
            let m = matrix.coefficients();
            let rgb = |y: f32, u: f32, v: f32| m.map(|r| unit_to_byte(r[0] * y + r[1] * u + r[2] * v + r[3]));
            assert_eq!(rgb(16.0, 128.0, 128.0), [0, 0, 0]);
            assert_eq!(rgb(235.0, 128.0, 128.0), [255, 255, 255]);
            assert_eq!(rgb(126.0, 128.0, 128.0), [128, 128, 128]);
        }
        // BT.601 pure red is (81, 90, 240); BT.709 pure red is (63, 102, 240).
        let r601 = YuvMatrix::Bt601.coefficients().map(|r| unit_to_byte(r[0] * 81.0 + r[1] * 90.0 + r[2] * 240.0 + r[3]));
        assert!(r601[0] >= 253 && r601[1] <= 2 && r601[2] <= 2, "{r601:?}");
        let r709 = YuvMatrix::Bt709.coefficients().map(|r| unit_to_byte(r[0] * 63.0 + r[1] * 102.0 + r[2] * 240.0 + r[3]));
        assert!(r709[0] >= 253 && r709[1] <= 2 && r709[2] <= 2, "{r709:?}");
    }

    #[test]
    fn i420_and_nv12_agree_and_subsample_2x2() {
        let (w, h) = (5u32, 3u32);
        let y: Vec<u8> = (0..15).map(|i| 16 + i * 10).collect();
        let u = [100u8, 120, 140, 160, 180, 200];
        let v = [90u8, 110, 130, 150, 170, 190];
        let uv: Vec<u8> = u.iter().zip(&v).flat_map(|(&a, &b)| [a, b]).collect();
        let i420 = YuvFrame {
            width: w,
            height: h,
            planes: YuvPlanes::I420 { y: Plane { data: &y, stride: 5 }, u: Plane { data: &u, stride: 3 }, v: Plane { data: &v, stride: 3 } },
            matrix: YuvMatrix::Bt709,
        };
        let nv12 = YuvFrame { planes: YuvPlanes::Nv12 { y: Plane { data: &y, stride: 5 }, uv: Plane { data: &uv, stride: 6 } }, ..i420 };
        let a = to_rgba(&i420).unwrap();
        assert_eq!(a, to_rgba(&nv12).unwrap());
        // Pixel (3, 2) uses chroma sample (1, 1) = u[4], v[4].
        let m = YuvMatrix::Bt709.coefficients();
        let want = m.map(|r| unit_to_byte(r[0] * f32::from(y[13]) + r[1] * 180.0 + r[2] * 170.0 + r[3]));
        assert_eq!(&a.pixel(3, 2).unwrap()[..3], &want);
        let short = YuvFrame { planes: YuvPlanes::Nv12 { y: Plane { data: &y, stride: 5 }, uv: Plane { data: &uv[..10], stride: 6 } }, ..i420 };
        assert!(matches!(to_rgba(&short), Err(Error::PlaneTooSmall { what: "UV plane", .. })));
    }
}
