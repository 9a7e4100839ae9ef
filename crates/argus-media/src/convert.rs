//! Conversion of decoded pictures to the caller's format and size with swscale.
//!
//! To be pixel-identical to the `ffmpeg` CLI (`-pix_fmt rgba`, `-vf scale=W:H`), this mirrors what the
//! CLI's scale filter does in FFmpeg 5.x: `SWS_BICUBIC`, the YCbCr matrix taken from the frame's
//! colour space (BT.601 when unspecified) and the input range from the frame's colour range.
//! Output rows are padded to 64 bytes: swscale's SIMD converters process 8 or 16 pixels at a time
//! and silently skip the tail of a row whose stride is too small for that.

use std::ptr;

use ffmpeg_next::ffi;
use ffmpeg_next::frame::Video as AvFrame;

use crate::frame::{Frame, PixelFormat, Plane, Rational};
use crate::{Error, Result};

#[allow(clippy::unnecessary_cast)] // the constant's integer type differs between FFmpeg bindings
const SWS_FLAGS: i32 = ffi::SWS_BICUBIC as i32;
const ROW_ALIGN: usize = 64;

fn align(n: usize) -> usize {
    n.div_ceil(ROW_ALIGN) * ROW_ALIGN
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    src_fmt: i32,
    src_w: i32,
    src_h: i32,
    dst_fmt: i32,
    dst_w: i32,
    dst_h: i32,
    colorspace: i32,
    range: i32,
}

/// A cached swscale context.
#[derive(Debug)]
pub(crate) struct Converter {
    sws: *mut ffi::SwsContext,
    key: Option<Key>,
}

// SAFETY: the SwsContext is owned exclusively by this value and only used through `&mut self`.
unsafe impl Send for Converter {}

impl Drop for Converter {
    fn drop(&mut self) {
        // SAFETY: `sws` is null or a context we created and nobody else holds.
        unsafe { ffi::sws_freeContext(self.sws) };
    }
}

impl Converter {
    pub fn new() -> Self {
        Converter {
            sws: ptr::null_mut(),
            key: None,
        }
    }

    /// Converts `src` (a decoded picture) into a [`Frame`], reusing `recycle`'s buffers when possible.
    #[allow(clippy::too_many_arguments)] // internal; the arguments are the Frame fields it fills
    pub fn convert(
        &mut self,
        src: &AvFrame,
        index: u64,
        pts: i64,
        time_base: Rational,
        format: PixelFormat,
        (dst_w, dst_h): (u32, u32),
        recycle: Option<Frame>,
    ) -> Result<Frame> {
        // SAFETY: reading plain fields of a decoded frame we hold a reference to; the enum fields
        // as integers (a newer FFmpeg may store values the bindings have no variant for).
        let (src_fmt, src_w, src_h, colorspace, range) = unsafe {
            let f = src.as_ptr();
            (
                (*f).format,
                (*f).width,
                (*f).height,
                crate::pixfmt::read_enum(ptr::addr_of!((*f).colorspace)),
                crate::pixfmt::read_enum(ptr::addr_of!((*f).color_range)),
            )
        };
        let (Ok(w), Ok(h)) = (i32::try_from(dst_w), i32::try_from(dst_h)) else {
            return Err(Error::InvalidSize {
                width: dst_w,
                height: dst_h,
            });
        };
        let yuv420 = [
            ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as i32,
            ffi::AVPixelFormat::AV_PIX_FMT_YUVJ420P as i32,
        ];
        let full_range_src = range == ffi::AVColorRange::AVCOL_RANGE_JPEG as i32
            || src_fmt == ffi::AVPixelFormat::AV_PIX_FMT_YUVJ420P as i32;

        if format == PixelFormat::Yuv420p && yuv420.contains(&src_fmt) && (w, h) == (src_w, src_h) {
            let planes = copy_yuv420(src, dst_w, dst_h);
            return Ok(Frame {
                index,
                pts,
                time_base,
                width: dst_w,
                height: dst_h,
                format,
                planes,
                full_range: full_range_src,
            });
        }

        let dst_fmt = match format {
            PixelFormat::Rgba => ffi::AVPixelFormat::AV_PIX_FMT_RGBA,
            PixelFormat::Yuv420p => ffi::AVPixelFormat::AV_PIX_FMT_YUV420P,
        };
        let key = Key {
            src_fmt,
            src_w,
            src_h,
            dst_fmt: dst_fmt as i32,
            dst_w: w,
            dst_h: h,
            colorspace,
            range,
        };
        self.prepare(key, dst_fmt)?;

        let (w_us, h_us) = (dst_w as usize, dst_h as usize);
        let shapes: Vec<(usize, usize)> = match format {
            PixelFormat::Rgba => vec![(w_us * 4, h_us)],
            PixelFormat::Yuv420p => {
                let (cw, ch) = (w_us.div_ceil(2), h_us.div_ceil(2));
                vec![(w_us, h_us), (cw, ch), (cw, ch)]
            }
        };
        // Buffers of a recycled frame are reused when large enough: no allocation, no zeroing.
        let mut old: Vec<Vec<u8>> = recycle
            .map(|f| f.planes.into_iter().map(|p| p.data).collect())
            .unwrap_or_default();
        old.reverse();
        let mut planes: Vec<Plane> = shapes
            .iter()
            .map(|&(row_bytes, rows)| {
                let stride = align(row_bytes);
                // Extra slack after the last row: some SIMD writers overrun by a few bytes.
                let len = stride * rows + ROW_ALIGN;
                let data = match old.pop() {
                    Some(mut d) if d.capacity() >= len => {
                        d.resize(len, 0);
                        d
                    }
                    _ => vec![0u8; len],
                };
                Plane {
                    data,
                    stride,
                    row_bytes,
                    rows,
                }
            })
            .collect();
        let mut dst_ptrs = [ptr::null_mut::<u8>(); 4];
        let mut dst_strides = [0i32; 4];
        for (i, p) in planes.iter_mut().enumerate() {
            if let (Some(d), Some(s)) = (dst_ptrs.get_mut(i), dst_strides.get_mut(i)) {
                *d = p.data.as_mut_ptr();
                *s = i32::try_from(p.stride).map_err(|_| Error::InvalidSize {
                    width: dst_w,
                    height: dst_h,
                })?;
            }
        }
        // SAFETY: the destination frame borrows our plane buffers through a reference with a no-op
        // free, so swscale writes into them directly; the frame is freed before the buffers are
        // touched again. The source is a valid decoded frame of the configured size and format.
        let ret = unsafe {
            let mut dst = ffi::av_frame_alloc();
            if dst.is_null() {
                return Err(Error::InvalidSize {
                    width: dst_w,
                    height: dst_h,
                });
            }
            (*dst).width = w;
            (*dst).height = h;
            (*dst).format = dst_fmt as i32;
            let frame = &mut *dst;
            frame.data[..4].copy_from_slice(&dst_ptrs);
            frame.linesize[..4].copy_from_slice(&dst_strides);
            let first = planes.first_mut().map_or((ptr::null_mut(), 0), |p| {
                (p.data.as_mut_ptr(), p.data.len())
            });
            (*dst).buf[0] = ffi::av_buffer_create(
                first.0,
                first.1,
                Some(borrowed_buffer_free),
                ptr::null_mut(),
                0,
            );
            let ret = if (*dst).buf[0].is_null() {
                -1
            } else {
                ffi::sws_scale_frame(self.sws, dst, src.as_ptr())
            };
            ffi::av_frame_free(&mut dst);
            ret
        };
        if ret < 0 {
            return Err(Error::InvalidSize {
                width: dst_w,
                height: dst_h,
            });
        }
        for p in &mut planes {
            p.data.truncate(p.stride * p.rows);
        }
        Ok(Frame {
            index,
            pts,
            time_base,
            width: dst_w,
            height: dst_h,
            format,
            planes,
            full_range: false,
        })
    }

    fn prepare(&mut self, key: Key, dst_fmt: ffi::AVPixelFormat) -> Result<()> {
        if self.key == Some(key) && !self.sws.is_null() {
            return Ok(());
        }
        // SAFETY: a fresh context configured through its AVOptions, as vf_scale does; freed on failure.
        // Slice threads ("threads" = 0: one per core) match the CLI's scale filter.
        unsafe {
            ffi::sws_freeContext(self.sws);
            self.sws = ffi::sws_alloc_context();
            if !self.sws.is_null() {
                let obj = self.sws.cast::<std::ffi::c_void>();
                let opts: [(&std::ffi::CStr, i64); 8] = [
                    (c"srcw", i64::from(key.src_w)),
                    (c"srch", i64::from(key.src_h)),
                    (c"src_format", i64::from(key.src_fmt)),
                    (c"dstw", i64::from(key.dst_w)),
                    (c"dsth", i64::from(key.dst_h)),
                    (c"dst_format", dst_fmt as i64),
                    (c"sws_flags", i64::from(SWS_FLAGS)),
                    (c"threads", 0),
                ];
                let mut ok = true;
                for (name, value) in opts {
                    ok &= ffi::av_opt_set_int(obj, name.as_ptr(), value, 0) >= 0;
                }
                if !ok || ffi::sws_init_context(self.sws, ptr::null_mut(), ptr::null_mut()) < 0 {
                    ffi::sws_freeContext(self.sws);
                    self.sws = ptr::null_mut();
                }
            }
        }
        self.key = None;
        if self.sws.is_null() {
            return Err(Error::InvalidSize {
                width: key.dst_w as u32,
                height: key.dst_h as u32,
            });
        }
        // Same colour handling as FFmpeg 5.x's vf_scale with its default `in_color_matrix=auto`.
        // SAFETY: `sws` is a valid context; the tables returned by sws_getCoefficients are static.
        unsafe {
            let mut inv_table: *mut i32 = ptr::null_mut();
            let mut table: *mut i32 = ptr::null_mut();
            let (mut in_full, mut out_full, mut bright, mut contrast, mut sat) = (0, 0, 0, 0, 0);
            let ret = ffi::sws_getColorspaceDetails(
                self.sws,
                &mut inv_table,
                &mut in_full,
                &mut table,
                &mut out_full,
                &mut bright,
                &mut contrast,
                &mut sat,
            );
            if ret >= 0 {
                let mut cs = key.colorspace;
                if !(1..=10).contains(&cs) || cs == 8 {
                    cs = ffi::AVColorSpace::AVCOL_SPC_BT470BG as i32;
                }
                let coeffs = ffi::sws_getCoefficients(cs);
                if key.range != ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED as i32 {
                    in_full = i32::from(key.range == ffi::AVColorRange::AVCOL_RANGE_JPEG as i32);
                }
                ffi::sws_setColorspaceDetails(
                    self.sws, coeffs, in_full, coeffs, out_full, bright, contrast, sat,
                );
            }
        }
        self.key = Some(key);
        Ok(())
    }
}

/// Free callback for buffers swscale borrows from our `Vec`s: the `Vec` owns the memory.
unsafe extern "C" fn borrowed_buffer_free(_opaque: *mut std::ffi::c_void, _data: *mut u8) {}

fn copy_yuv420(src: &AvFrame, w: u32, h: u32) -> Vec<Plane> {
    let (w, h) = (w as usize, h as usize);
    let shapes = [
        (w, h),
        (w.div_ceil(2), h.div_ceil(2)),
        (w.div_ceil(2), h.div_ceil(2)),
    ];
    shapes
        .iter()
        .enumerate()
        .map(|(i, &(row_bytes, rows))| {
            let stride = align(row_bytes);
            let mut data = vec![0u8; stride * rows];
            // SAFETY: a yuv420p frame of this size has three planes with at least `row_bytes` per row
            // and `rows` rows; linesize may be negative (bottom-up), which pointer offsets handle.
            unsafe {
                let f = &*src.as_ptr();
                let (Some(&base), Some(&ls)) = (f.data.get(i), f.linesize.get(i)) else {
                    return Plane {
                        data,
                        stride,
                        row_bytes,
                        rows,
                    };
                };
                for (r, dst) in data.chunks_mut(stride).take(rows).enumerate() {
                    let row = base.offset(ls as isize * r as isize);
                    if let Some(d) = dst.get_mut(..row_bytes) {
                        ptr::copy_nonoverlapping(row, d.as_mut_ptr(), row_bytes);
                    }
                }
            }
            Plane {
                data,
                stride,
                row_bytes,
                rows,
            }
        })
        .collect()
}
