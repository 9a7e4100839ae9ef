//! Frames going in (RGBA or YUV planes) and images coming out.

use crate::yuv::YuvFrame;
use crate::{Error, Result};

/// Largest frame or output side accepted (the smallest common GPU limit).
pub const MAX_SIDE: u32 = 8192;

/// A borrowed RGBA8 frame; `stride` is bytes per row (>= `width * 4`), as
/// decoders hand it out.
#[derive(Debug, Clone, Copy)]
pub struct RgbaFrame<'a> {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub data: &'a [u8],
}

impl<'a> RgbaFrame<'a> {
    /// A tightly packed frame (`stride = width * 4`).
    pub fn packed(width: u32, height: u32, data: &'a [u8]) -> Self {
        Self { width, height, stride: width as usize * 4, data }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        check_size("frame", self.width, self.height)?;
        check_plane("RGBA plane", self.data, self.stride, self.width as usize * 4, self.height as usize)
    }

    /// Row `y` without the stride padding. Call after `validate`.
    pub(crate) fn row(&self, y: u32) -> &'a [u8] {
        let start = y as usize * self.stride;
        self.data.get(start..start + self.width as usize * 4).unwrap_or(&[])
    }
}

/// A decoded frame in one of the layouts the renderer accepts.
#[derive(Debug, Clone, Copy)]
pub enum FrameInput<'a> {
    Rgba(RgbaFrame<'a>),
    /// Converted to RGB on the GPU.
    Yuv(YuvFrame<'a>),
}

impl FrameInput<'_> {
    pub fn width(&self) -> u32 {
        match self {
            Self::Rgba(f) => f.width,
            Self::Yuv(f) => f.width,
        }
    }

    pub fn height(&self) -> u32 {
        match self {
            Self::Rgba(f) => f.height,
            Self::Yuv(f) => f.height,
        }
    }
}

/// An owned, tightly packed RGBA8 image (row-major).
#[derive(Clone, PartialEq, Eq)]
pub struct RgbaImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl std::fmt::Debug for RgbaImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbaImage({}x{})", self.width, self.height)
    }
}

impl RgbaImage {
    /// An image filled with one colour.
    pub fn filled(width: u32, height: u32, rgba: [u8; 4]) -> Result<Self> {
        check_size("image", width, height)?;
        Ok(Self { width, height, data: rgba.repeat(width as usize * height as usize) })
    }

    /// Wraps packed pixels; `data.len()` must be `width * height * 4`.
    pub fn from_vec(width: u32, height: u32, data: Vec<u8>) -> Result<Self> {
        check_size("image", width, height)?;
        let expected = width as usize * height as usize * 4;
        if data.len() != expected {
            return Err(Error::PlaneTooSmall {
                what: "RGBA image",
                expected,
                actual: data.len(),
                stride: width as usize * 4,
                rows: height as usize,
            });
        }
        Ok(Self { width, height, data })
    }

    /// Copies a (possibly strided) frame.
    pub fn from_frame(frame: &RgbaFrame<'_>) -> Result<Self> {
        frame.validate()?;
        let mut data = Vec::with_capacity(frame.width as usize * frame.height as usize * 4);
        for y in 0..frame.height {
            data.extend_from_slice(frame.row(y));
        }
        Ok(Self { width: frame.width, height: frame.height, data })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn data(&self) -> &[u8] {
        &self.data
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.data
    }

    pub fn as_frame(&self) -> RgbaFrame<'_> {
        RgbaFrame::packed(self.width, self.height, &self.data)
    }

    /// The pixel at `(x, y)`, `None` outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 4;
        let p = self.data.get(i..i + 4)?;
        Some([p[0], p[1], p[2], p[3]])
    }

    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Largest per-channel difference to `other` and where it is; `None` if
    /// the sizes differ.
    pub fn max_abs_diff(&self, other: &RgbaImage) -> Option<(u8, u32, u32)> {
        if self.width != other.width || self.height != other.height {
            return None;
        }
        let mut best = (0u8, 0u32, 0u32);
        for (i, (a, b)) in self.data.iter().zip(&other.data).enumerate() {
            let d = a.abs_diff(*b);
            if d > best.0 {
                let px = (i / 4) as u32;
                best = (d, px % self.width, px / self.width);
            }
        }
        Some(best)
    }
}

pub(crate) fn check_size(what: &'static str, width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::InvalidSize { what, width, height, max: MAX_SIDE });
    }
    Ok(())
}

pub(crate) fn check_plane(what: &'static str, data: &[u8], stride: usize, row_bytes: usize, rows: usize) -> Result<()> {
    if stride < row_bytes {
        return Err(Error::StrideTooSmall { what, stride, row_bytes });
    }
    let expected = if rows == 0 { 0 } else { stride * (rows - 1) + row_bytes };
    if data.len() < expected {
        return Err(Error::PlaneTooSmall { what, expected, actual: data.len(), stride, rows });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn strided_frames_are_validated_and_unpadded() {
        let data: Vec<u8> = (0..(3 * 12 + 8) as u8).collect();
        let f = RgbaFrame { width: 2, height: 4, stride: 12, data: &data };
        let img = RgbaImage::from_frame(&f).unwrap();
        assert_eq!(&img.data()[0..8], &data[0..8]);
        assert_eq!(&img.data()[8..16], &data[12..20]);
        assert_eq!(img.pixel(1, 3), Some([40, 41, 42, 43]));
        assert_eq!(img.pixel(2, 0), None);
        let short = RgbaFrame { width: 2, height: 4, stride: 12, data: &data[..43] };
        assert!(matches!(RgbaImage::from_frame(&short), Err(Error::PlaneTooSmall { expected: 44, .. })));
        let narrow = RgbaFrame { width: 4, height: 1, stride: 12, data: &data };
        assert!(matches!(RgbaImage::from_frame(&narrow), Err(Error::StrideTooSmall { .. })));
        assert!(RgbaImage::filled(0, 1, [0; 4]).is_err());
    }
}
