//! Decoded frames as the UI receives them, and what a caller may ask for.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Frame rates and time bases are argus-core's exact rationals, so the
/// numbers a caller gets from a probe are the ones the domain model stores.
pub use argus_core::time::Rational;

/// FFmpeg's rational as ours; `None` for FFmpeg's "unknown" (x/0).
pub(crate) fn rational_from_ff(r: ffmpeg_next::Rational) -> Option<Rational> {
    Rational::new(i64::from(r.numerator()), i64::from(r.denominator())).ok()
}

/// `ts` ticks of `time_base` in seconds, for display and logging.
pub(crate) fn seconds(time_base: Rational, ts: i64) -> f64 {
    ts as f64 * time_base.to_f64()
}

/// The pixel layout of a returned [`Frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PixelFormat {
    /// One plane, 4 bytes per pixel, R G B A, alpha always 255.
    Rgba,
    /// Three 8-bit planes Y, U, V; U and V at half width and height (rounded up). Limited or full range
    /// as the source says ([`Frame::full_range`]); meant for conversion to RGB on the GPU.
    Yuv420p,
}

/// The size a frame should be delivered at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OutputSize {
    /// The stream's declared picture size, `VideoInfo::width` x `height` (rotation metadata is not
    /// applied; see `VideoInfo::rotation`). Pictures coded at another size part-way through the
    /// stream are scaled to it, so every frame of a video has the same size.
    #[default]
    Native,
    /// Exactly this size (aspect ratio is not preserved).
    Exact { width: u32, height: u32 },
    /// The largest size that fits in the box while keeping the aspect ratio (never upscales).
    Fit { max_width: u32, max_height: u32 },
}

const MAX_SIDE: u32 = 16_384;

impl OutputSize {
    /// Resolves the request against a source size.
    pub(crate) fn resolve(self, src_w: u32, src_h: u32) -> Result<(u32, u32)> {
        let (w, h) = match self {
            OutputSize::Native => (src_w, src_h),
            OutputSize::Exact { width, height } => (width, height),
            OutputSize::Fit {
                max_width,
                max_height,
            } => {
                if max_width == 0 || max_height == 0 {
                    return Err(Error::InvalidSize {
                        width: max_width,
                        height: max_height,
                    });
                }
                if src_w <= max_width && src_h <= max_height {
                    (src_w, src_h)
                } else {
                    // Scale by the tighter side; computed in u64 so it cannot overflow.
                    let by_w = u64::from(max_width) * u64::from(src_h)
                        <= u64::from(max_height) * u64::from(src_w);
                    if by_w {
                        let h = (u64::from(src_h) * u64::from(max_width) + u64::from(src_w) / 2)
                            / u64::from(src_w.max(1));
                        (max_width, u32::try_from(h.max(1)).unwrap_or(max_height))
                    } else {
                        let w = (u64::from(src_w) * u64::from(max_height) + u64::from(src_h) / 2)
                            / u64::from(src_h.max(1));
                        (u32::try_from(w.max(1)).unwrap_or(max_width), max_height)
                    }
                }
            }
        };
        if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
            return Err(Error::InvalidSize {
                width: w,
                height: h,
            });
        }
        Ok((w, h))
    }
}

/// What to deliver for a frame: pixel layout and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameRequest {
    pub format: PixelFormat,
    pub size: OutputSize,
}

impl FrameRequest {
    /// Native-size RGBA, the common case.
    pub const RGBA: FrameRequest = FrameRequest {
        format: PixelFormat::Rgba,
        size: OutputSize::Native,
    };
    /// Native-size YUV 4:2:0 planes, for conversion on the GPU.
    pub const YUV: FrameRequest = FrameRequest {
        format: PixelFormat::Yuv420p,
        size: OutputSize::Native,
    };

    /// RGBA at the given size.
    pub fn rgba(size: OutputSize) -> Self {
        FrameRequest {
            format: PixelFormat::Rgba,
            size,
        }
    }
}

/// One plane of pixel data. Rows are `stride` bytes apart; only the first `row_bytes` of each row are
/// pixels (the rest is alignment padding that keeps the scaler on its fast path).
#[derive(Clone, PartialEq, Eq)]
pub struct Plane {
    pub data: Vec<u8>,
    pub stride: usize,
    pub row_bytes: usize,
    pub rows: usize,
}

impl std::fmt::Debug for Plane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plane")
            .field("bytes", &self.data.len())
            .field("stride", &self.stride)
            .field("row_bytes", &self.row_bytes)
            .field("rows", &self.rows)
            .finish()
    }
}

impl Plane {
    /// The pixel rows without padding.
    pub fn rows(&self) -> impl Iterator<Item = &[u8]> {
        self.data
            .chunks(self.stride.max(1))
            .take(self.rows)
            .map(|r| r.get(..self.row_bytes).unwrap_or(r))
    }

    /// The plane as one tightly packed buffer (`row_bytes * rows` bytes).
    pub fn to_packed(&self) -> Vec<u8> {
        if self.stride == self.row_bytes {
            return self
                .data
                .get(..self.row_bytes * self.rows)
                .unwrap_or(&self.data)
                .to_vec();
        }
        let mut out = Vec::with_capacity(self.row_bytes * self.rows);
        for row in self.rows() {
            out.extend_from_slice(row);
        }
        out
    }
}

/// A decoded frame, converted as requested. `Frame::default()` is an empty frame, handy as the
/// initial buffer for `VideoSource::frame_into`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Index in presentation order, 0-based.
    pub index: u64,
    /// Presentation timestamp in the stream's time base.
    pub pts: i64,
    /// The stream's time base (`pts * time_base` = seconds).
    pub time_base: Rational,
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    /// One plane for RGBA, three (Y, U, V) for YUV.
    pub planes: Vec<Plane>,
    /// For YUV output: true when the samples use the full 0-255 range (JPEG), false for limited range.
    pub full_range: bool,
}

impl Default for Frame {
    fn default() -> Self {
        Frame {
            index: 0,
            pts: 0,
            time_base: Rational::integer(1),
            width: 0,
            height: 0,
            format: PixelFormat::Rgba,
            planes: Vec::new(),
            full_range: false,
        }
    }
}

impl Frame {
    /// Presentation time in seconds.
    pub fn seconds(&self) -> f64 {
        seconds(self.time_base, self.pts)
    }

    /// RGBA pixels packed as `width * 4` bytes per row (copies only when rows are padded).
    pub fn to_rgba_packed(&self) -> Option<Vec<u8>> {
        match (self.format, self.planes.first()) {
            (PixelFormat::Rgba, Some(p)) => Some(p.to_packed()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_and_never_upscales() {
        assert_eq!(
            OutputSize::Fit {
                max_width: 160,
                max_height: 160
            }
            .resolve(1920, 1080)
            .ok(),
            Some((160, 90))
        );
        assert_eq!(
            OutputSize::Fit {
                max_width: 160,
                max_height: 90
            }
            .resolve(1080, 1920)
            .ok(),
            Some((51, 90))
        );
        assert_eq!(
            OutputSize::Fit {
                max_width: 4000,
                max_height: 4000
            }
            .resolve(320, 240)
            .ok(),
            Some((320, 240))
        );
    }

    #[test]
    fn zero_sizes_are_rejected() {
        assert!(matches!(
            OutputSize::Exact {
                width: 0,
                height: 10
            }
            .resolve(10, 10),
            Err(Error::InvalidSize { .. })
        ));
        assert!(matches!(
            OutputSize::Fit {
                max_width: 0,
                max_height: 10
            }
            .resolve(10, 10),
            Err(Error::InvalidSize { .. })
        ));
        assert!(
            OutputSize::Exact {
                width: 20_000,
                height: 10
            }
            .resolve(10, 10)
            .is_err()
        );
    }

    #[test]
    fn packed_rows_drop_padding() {
        let p = Plane {
            data: vec![1, 2, 0, 0, 3, 4, 0, 0],
            stride: 4,
            row_bytes: 2,
            rows: 2,
        };
        assert_eq!(p.to_packed(), vec![1, 2, 3, 4]);
    }
}
