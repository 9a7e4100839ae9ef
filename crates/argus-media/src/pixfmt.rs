//! FFmpeg's C enums read as the integers they are, and converted to the bindings' Rust enums only
//! when the value is one the bindings know.
//!
//! FFmpeg keeps pixel formats in `int` fields (`AVFrame::format`, `AVCodecParameters::format`) and
//! in lists it hands to callbacks, and the bindings declare some struct fields with Rust enum types
//! (`AVCodecHWConfig::pix_fmt`, `AVFrame::colorspace`). A libavutil newer than the headers the
//! bindings were generated from can put values there that the Rust enum has no variant for, and
//! holding such a value as the enum is undefined behaviour. So values from FFmpeg are read as
//! integers, looked up in the running library by integer, and become enums only here.

use std::ffi::{CStr, c_char, c_int};

use ffmpeg_next::ffi;

// The running library's lookups, declared with the C ABI's `int` for the enum parameter (what C
// passes for an enum), so no Rust enum value is ever made from an unknown number.
unsafe extern "C" {
    #[link_name = "av_pix_fmt_desc_get"]
    fn av_pix_fmt_desc_get_raw(pix_fmt: c_int) -> *const ffi::AVPixFmtDescriptor;
    #[link_name = "av_get_pix_fmt_name"]
    fn av_get_pix_fmt_name_raw(pix_fmt: c_int) -> *const c_char;
}

/// Reads a C enum field (or list element) as its integer value, never as the Rust enum.
///
/// # Safety
/// `field` must point to a readable, initialised C enum (an `int`-sized value).
pub(crate) unsafe fn read_enum<T>(field: *const T) -> i32 {
    const { assert!(std::mem::size_of::<T>() == std::mem::size_of::<i32>()) };
    // SAFETY: forwarded from the caller; the size is checked at compile time, and every bit
    // pattern is a valid i32.
    unsafe { field.cast::<i32>().read() }
}

/// The bindings' `AVPixelFormat` for a raw value, or `None` when the bindings have no variant for
/// it (a format added by a newer libavutil, or garbage).
pub(crate) fn pixel_format_from_raw(raw: i32) -> Option<ffi::AVPixelFormat> {
    if raw == ffi::AVPixelFormat::AV_PIX_FMT_NONE as i32 {
        return Some(ffi::AVPixelFormat::AV_PIX_FMT_NONE);
    }
    if !(0..ffi::AVPixelFormat::AV_PIX_FMT_NB as i32).contains(&raw) {
        return None;
    }
    // SAFETY: the C enum has no explicit values after AV_PIX_FMT_NONE = -1, so its members are
    // exactly 0..AV_PIX_FMT_NB, and bindgen made one variant of this #[repr(i32)] enum per member
    // (`every_known_value_converts_and_is_named` checks the range against the library).
    Some(unsafe { std::mem::transmute::<i32, ffi::AVPixelFormat>(raw) })
}

/// The running library's descriptor for a raw pixel format; `None` when it does not know the value.
pub(crate) fn descriptor(raw: i32) -> Option<&'static ffi::AVPixFmtDescriptor> {
    // SAFETY: av_pix_fmt_desc_get range-checks its argument and returns null for unknown values;
    // descriptors are static.
    unsafe { av_pix_fmt_desc_get_raw(raw).as_ref() }
}

/// The running library's name for a raw pixel format (`yuv420p`, ...); `None` when unknown.
pub(crate) fn name(raw: i32) -> Option<String> {
    // SAFETY: av_get_pix_fmt_name returns null for unknown values, else a static C string.
    let name = unsafe { av_get_pix_fmt_name_raw(raw) };
    if name.is_null() {
        return None;
    }
    // SAFETY: non-null names are static NUL-terminated strings.
    Some(unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned())
}

/// Whether a raw pixel format is a hardware surface (the picture lives in GPU memory); `None` when
/// the library does not know the value.
pub(crate) fn is_hardware(raw: i32) -> Option<bool> {
    #[allow(clippy::unnecessary_cast)] // the constant's integer type differs between FFmpeg bindings
    let flag = ffi::AV_PIX_FMT_FLAG_HWACCEL as u64;
    descriptor(raw).map(|d| d.flags & flag != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_are_unknown_not_transmuted() {
        let nb = ffi::AVPixelFormat::AV_PIX_FMT_NB as i32;
        for raw in [nb, nb + 1, nb + 1000, i32::MAX, -2, -1000, i32::MIN] {
            assert_eq!(pixel_format_from_raw(raw), None, "raw value {raw}");
            assert!(descriptor(raw).is_none(), "descriptor for {raw}");
            assert_eq!(name(raw), None, "name for {raw}");
            assert_eq!(is_hardware(raw), None, "hardware flag for {raw}");
        }
        assert_eq!(
            pixel_format_from_raw(-1),
            Some(ffi::AVPixelFormat::AV_PIX_FMT_NONE)
        );
    }

    #[test]
    fn every_known_value_converts_and_is_named() {
        // Every value the bindings have a variant for round-trips and is known to the library
        // (so the bindings and the library agree on the range).
        for raw in 0..ffi::AVPixelFormat::AV_PIX_FMT_NB as i32 {
            let fmt = pixel_format_from_raw(raw).map(|f| f as i32);
            assert_eq!(fmt, Some(raw));
            assert!(name(raw).is_some(), "the library has no name for {raw}");
        }
        assert_eq!(
            pixel_format_from_raw(ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as i32),
            Some(ffi::AVPixelFormat::AV_PIX_FMT_YUV420P)
        );
        assert_eq!(name(ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as i32).as_deref(), Some("yuv420p"));
        assert_eq!(is_hardware(ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as i32), Some(false));
        assert_eq!(is_hardware(ffi::AVPixelFormat::AV_PIX_FMT_VAAPI as i32), Some(true));
        assert_eq!(is_hardware(ffi::AVPixelFormat::AV_PIX_FMT_CUDA as i32), Some(true));
    }
}
