//! Frame pre-processing: fitting a frame into the model input and mapping
//! coordinates between frame space and model space.
//!
//! The resize is bilinear with half-pixel centres and no anti-aliasing, which
//! is what OpenCV's `INTER_LINEAR` (used by the Python reference pipelines)
//! does. Resizing and normalising are fused into one pass that writes the
//! planar tensor directly: no intermediate image is allocated.

use crate::manifest::{InputLayout, ResizeMode};
use crate::{Error, Result};

/// Pixel layout of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// 3 bytes per pixel, R G B.
    Rgb8,
    /// 4 bytes per pixel, R G B A (alpha ignored), as argus-media decodes.
    Rgba8,
}

impl PixelFormat {
    /// Bytes per pixel.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            Self::Rgb8 => 3,
            Self::Rgba8 => 4,
        }
    }
}

/// A borrowed frame.
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: usize,
    format: PixelFormat,
}

impl<'a> ImageView<'a> {
    /// Wraps `data` (rows of `stride` bytes). Fails if the buffer is too small.
    pub fn new(
        data: &'a [u8],
        width: u32,
        height: u32,
        stride: usize,
        format: PixelFormat,
    ) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::InvalidInput(format!(
                "frame size {width}x{height} must be non-zero"
            )));
        }
        let row = width as usize * format.bytes_per_pixel();
        if stride < row {
            return Err(Error::InvalidInput(format!(
                "stride {stride} is smaller than a row ({row} bytes)"
            )));
        }
        let needed = stride * (height as usize - 1) + row;
        if data.len() < needed {
            return Err(Error::InvalidInput(format!(
                "frame buffer has {} bytes but {width}x{height} with stride {stride} needs {needed}",
                data.len()
            )));
        }
        Ok(Self {
            data,
            width,
            height,
            stride,
            format,
        })
    }

    /// A tightly packed frame.
    pub fn packed(data: &'a [u8], width: u32, height: u32, format: PixelFormat) -> Result<Self> {
        Self::new(
            data,
            width,
            height,
            width as usize * format.bytes_per_pixel(),
            format,
        )
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }
}

/// Geometry of fitting a `frame_w x frame_h` frame into the model input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    /// Frame size.
    pub frame_w: u32,
    pub frame_h: u32,
    /// Size of the resized frame inside the model input (before padding).
    pub resized_w: u32,
    pub resized_h: u32,
    /// Side of the square model input.
    pub input_size: u32,
}

/// The largest frame side Argus segments (FFmpeg's own limit is 16384 for
/// most codecs; twice that leaves room and still bounds a mask's size).
pub const MAX_FRAME_SIDE: u32 = 32_768;

impl Transform {
    /// segment-anything's `ResizeLongestSide.get_preprocess_shape` for
    /// [`ResizeMode::LongestSide`]; a square for [`ResizeMode::Stretch`].
    pub fn new(frame_w: u32, frame_h: u32, input_size: u32, mode: ResizeMode) -> Result<Self> {
        if frame_w == 0 || frame_h == 0 {
            return Err(Error::InvalidInput(format!(
                "frame size {frame_w}x{frame_h} must be non-zero"
            )));
        }
        let (resized_w, resized_h) = match mode {
            ResizeMode::Stretch => (input_size, input_size),
            ResizeMode::LongestSide => {
                let scale = f64::from(input_size) / f64::from(frame_w.max(frame_h));
                let w = (f64::from(frame_w) * scale + 0.5).floor() as u32;
                let h = (f64::from(frame_h) * scale + 0.5).floor() as u32;
                (w.clamp(1, input_size), h.clamp(1, input_size))
            }
        };
        Ok(Self {
            frame_w,
            frame_h,
            resized_w,
            resized_h,
            input_size,
        })
    }

    /// A transform read back from somewhere else (the embedding cache on
    /// disk), checked to be one [`Transform::new`] makes: non-zero frame
    /// sides up to [`MAX_FRAME_SIDE`], an input size in `1..=4096`, and the
    /// resized size of one of the resize modes. Anything else would make the
    /// decoder's masks absurdly large or slice past the model's output.
    pub fn checked(
        frame_w: u32,
        frame_h: u32,
        resized_w: u32,
        resized_h: u32,
        input_size: u32,
    ) -> std::result::Result<Self, String> {
        if !(1..=MAX_FRAME_SIDE).contains(&frame_w) || !(1..=MAX_FRAME_SIDE).contains(&frame_h) {
            return Err(format!("frame size {frame_w}x{frame_h} is outside 1..={MAX_FRAME_SIDE}"));
        }
        if !(1..=4096).contains(&input_size) {
            return Err(format!("model input size {input_size} is outside 1..=4096"));
        }
        let fits = [ResizeMode::LongestSide, ResizeMode::Stretch].into_iter().any(|mode| {
            Self::new(frame_w, frame_h, input_size, mode)
                .is_ok_and(|t| (t.resized_w, t.resized_h) == (resized_w, resized_h))
        });
        if !fits {
            return Err(format!(
                "resized size {resized_w}x{resized_h} does not belong to a {frame_w}x{frame_h} frame in a {input_size} input"
            ));
        }
        Ok(Self {
            frame_w,
            frame_h,
            resized_w,
            resized_h,
            input_size,
        })
    }

    /// Frame pixel coordinates to model-input coordinates
    /// (`ResizeLongestSide.apply_coords`: scale each axis by new/old).
    pub fn to_model(&self, x: f64, y: f64) -> (f32, f32) {
        let sx = f64::from(self.resized_w) / f64::from(self.frame_w);
        let sy = f64::from(self.resized_h) / f64::from(self.frame_h);
        ((x * sx) as f32, (y * sy) as f32)
    }
}

/// Bilinear taps for one output coordinate: two source indices and the weight of the second.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tap {
    pub i0: usize,
    pub i1: usize,
    pub w1: f32,
}

/// Half-pixel bilinear taps for resizing `src` samples to `dst` samples
/// (the convention of OpenCV INTER_LINEAR and ONNX Resize `half_pixel`).
pub(crate) fn taps(src: usize, dst: usize) -> Vec<Tap> {
    let scale = dst as f32 / src as f32;
    let last = src.saturating_sub(1);
    (0..dst)
        .map(|d| {
            let s = ((d as f32 + 0.5) / scale - 0.5).clamp(0.0, last as f32);
            let i0 = (s.floor() as usize).min(last);
            let i1 = (i0 + 1).min(last);
            Tap {
                i0,
                i1,
                w1: s - i0 as f32,
            }
        })
        .collect()
}

/// The encoder input tensor: its shape and data.
#[derive(Debug, Clone)]
pub struct InputTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Resizes, normalises and pads `image` into the model's input tensor.
///
/// `fixed_hw` is the model's declared H/W for [`InputLayout::HwcRaw`] inputs
/// (padded up to it), ignored for NCHW inputs which are always `input_size` square.
pub fn preprocess(
    image: &ImageView<'_>,
    t: &Transform,
    layout: InputLayout,
    mean: [f32; 3],
    std: [f32; 3],
    fixed_hw: Option<(usize, usize)>,
) -> Result<InputTensor> {
    let (rw, rh) = (t.resized_w as usize, t.resized_h as usize);
    let xt = taps(image.width as usize, rw);
    let yt = taps(image.height as usize, rh);
    let bpp = image.format.bytes_per_pixel();
    // byte offsets of the two source pixels of each output column
    let xo: Vec<(usize, usize, f32)> = xt.iter().map(|t| (t.i0 * bpp, t.i1 * bpp, t.w1)).collect();
    match layout {
        InputLayout::Nchw => {
            let s = t.input_size as usize;
            let plane = s * s;
            let mut data = vec![0.0f32; 3 * plane];
            let scale = std.map(|v| 1.0 / v);
            let bias = [0, 1, 2].map(|c| -mean[c] * scale[c]);
            let (p0, rest) = data.split_at_mut(plane);
            let (p1, p2) = rest.split_at_mut(plane);
            let mut line = vec![0.0f32; image.width as usize * bpp];
            for (y, ty) in yt.iter().enumerate() {
                // vertical pass over whole contiguous rows (vectorises), then
                // the horizontal taps from that line
                blend_rows(&mut line, row(image, ty.i0), row(image, ty.i1), ty.w1);
                let base = y * s;
                let (o0, o1, o2) = (
                    &mut p0[base..base + rw],
                    &mut p1[base..base + rw],
                    &mut p2[base..base + rw],
                );
                for (x, &(a, b, fx)) in xo.iter().enumerate() {
                    let px = |c: usize| line[a + c] + (line[b + c] - line[a + c]) * fx;
                    o0[x] = px(0) * scale[0] + bias[0];
                    o1[x] = px(1) * scale[1] + bias[1];
                    o2[x] = px(2) * scale[2] + bias[2];
                }
            }
            Ok(InputTensor {
                shape: vec![1, 3, s, s],
                data,
            })
        }
        InputLayout::HwcRaw => {
            let (h, w) = match fixed_hw {
                Some((h, w)) if h >= rh && w >= rw => (h, w),
                Some((h, w)) => {
                    return Err(Error::InvalidInput(format!(
                        "the encoder takes a fixed {w}x{h} image but the resized frame is {rw}x{rh}"
                    )));
                }
                None => (rh, rw),
            };
            let mut data = vec![0.0f32; h * w * 3];
            let mut line = vec![0.0f32; image.width as usize * bpp];
            for (y, ty) in yt.iter().enumerate() {
                blend_rows(&mut line, row(image, ty.i0), row(image, ty.i1), ty.w1);
                let out = &mut data[y * w * 3..(y * w + rw) * 3];
                for (px, &(a, b, fx)) in out.chunks_exact_mut(3).zip(&xo) {
                    for (c, v) in px.iter_mut().enumerate() {
                        *v = line[a + c] + (line[b + c] - line[a + c]) * fx;
                    }
                }
            }
            Ok(InputTensor {
                shape: vec![h, w, 3],
                data,
            })
        }
    }
}

/// `out = r0 + (r1 - r0) * f`, element-wise, as f32.
fn blend_rows(out: &mut [f32], r0: &[u8], r1: &[u8], f: f32) {
    for ((o, &a), &b) in out.iter_mut().zip(r0).zip(r1) {
        let a = f32::from(a);
        *o = a + (f32::from(b) - a) * f;
    }
}

fn row<'a>(image: &ImageView<'a>, y: usize) -> &'a [u8] {
    // `ImageView::new` guaranteed every row is in bounds.
    let start = y * image.stride;
    &image.data[start..start + image.width as usize * image.format.bytes_per_pixel()]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn longest_side_matches_segment_anything() {
        let t = Transform::new(1920, 1080, 1024, ResizeMode::LongestSide).unwrap();
        assert_eq!((t.resized_w, t.resized_h), (1024, 576));
        let t = Transform::new(333, 500, 1024, ResizeMode::LongestSide).unwrap();
        // 333 * 1024 / 500 = 681.98 -> 682
        assert_eq!((t.resized_w, t.resized_h), (682, 1024));
        let (x, y) = t.to_model(333.0, 500.0);
        assert!((x - 682.0).abs() < 1e-3 && (y - 1024.0).abs() < 1e-3);
        let s = Transform::new(1920, 1080, 1024, ResizeMode::Stretch).unwrap();
        assert_eq!(s.to_model(960.0, 540.0), (512.0, 512.0));
    }

    #[test]
    fn taps_follow_half_pixel_convention() {
        // 2x upsampling of 2 samples: output centres at 0.25,0.75,1.25,1.75 in source units -> -0.25 clamps to 0
        let t = taps(2, 4);
        assert_eq!((t[0].i0, t[0].i1), (0, 1));
        assert!(t[0].w1.abs() < 1e-6);
        assert!((t[1].w1 - 0.25).abs() < 1e-6);
        assert!((t[2].w1 - 0.75).abs() < 1e-6);
        assert_eq!((t[3].i0, t[3].i1), (1, 1));
        // identity
        assert!(
            taps(5, 5)
                .iter()
                .enumerate()
                .all(|(i, t)| t.i0 == i && t.w1.abs() < 1e-6)
        );
    }

    #[test]
    fn preprocess_normalises_and_pads() {
        // 4x2 frame, left half red, right half blue, RGBA with a padded stride
        let (w, h, stride) = (4usize, 2usize, 20usize);
        let mut data = vec![0u8; stride * h];
        for y in 0..h {
            for x in 0..w {
                let p = y * stride + x * 4;
                data[p..p + 4].copy_from_slice(if x < 2 {
                    &[200, 0, 0, 255]
                } else {
                    &[0, 0, 100, 255]
                });
            }
        }
        let img = ImageView::new(&data, 4, 2, stride, PixelFormat::Rgba8).unwrap();
        let t = Transform::new(4, 2, 8, ResizeMode::LongestSide).unwrap();
        assert_eq!((t.resized_w, t.resized_h), (8, 4));
        let mean = [100.0, 0.0, 50.0];
        let std = [50.0, 1.0, 25.0];
        let out = preprocess(&img, &t, InputLayout::Nchw, mean, std, None).unwrap();
        assert_eq!(out.shape, vec![1, 3, 8, 8]);
        let at = |c: usize, y: usize, x: usize| out.data[c * 64 + y * 8 + x];
        assert!((at(0, 0, 0) - 2.0).abs() < 1e-5); // (200-100)/50
        assert!((at(2, 3, 7) - 2.0).abs() < 1e-5); // (100-50)/25
        assert!((at(0, 3, 7) + 2.0).abs() < 1e-5); // (0-100)/50
        // the middle column blends both halves
        assert!(at(0, 0, 3) < 2.0 && at(0, 0, 3) > -2.0);
        // padding rows are exactly zero
        assert!((4..8).all(|y| (0..8).all(|x| (0..3).all(|c| at(c, y, x) == 0.0))));

        let raw = preprocess(&img, &t, InputLayout::HwcRaw, mean, std, Some((6, 8))).unwrap();
        assert_eq!(raw.shape, vec![6, 8, 3]);
        assert_eq!(&raw.data[0..3], &[200.0, 0.0, 0.0]);
        assert!(raw.data[4 * 24..].iter().all(|v| *v == 0.0));
        assert!(preprocess(&img, &t, InputLayout::HwcRaw, mean, std, Some((2, 8))).is_err());
    }

    #[test]
    fn short_buffers_are_refused() {
        assert!(ImageView::packed(&[0; 11], 2, 2, PixelFormat::Rgb8).is_err());
        assert!(ImageView::new(&[0; 64], 4, 2, 8, PixelFormat::Rgba8).is_err());
        assert!(ImageView::packed(&[], 0, 2, PixelFormat::Rgb8).is_err());
    }
}
