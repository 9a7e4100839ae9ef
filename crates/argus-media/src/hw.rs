//! Hardware decoding (VAAPI, VideoToolbox, D3D11VA, CUDA/NVDEC) with automatic fallback.
//!
//! A device is tried only if the codec advertises a device-context configuration for it; when
//! creating the device, opening the decoder or transferring a picture fails, decoding continues in
//! software. Decoded hardware pictures are copied to system memory right away, so the frame cache
//! never pins the (small) pool of GPU surfaces. Frames are still identified by pts, so frame
//! exactness does not depend on the decoder.

use std::ffi::c_void;
use std::ptr;

use ffmpeg_next::ffi;
use ffmpeg_next::frame::Video as AvFrame;

use crate::{Error, Result, pixfmt};

/// A hardware decoding API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HwDevice {
    /// Linux (Intel, AMD, some NVIDIA via wrappers).
    Vaapi,
    /// macOS.
    VideoToolbox,
    /// Windows.
    D3d11va,
    /// NVIDIA NVDEC through CUDA.
    Cuda,
}

impl HwDevice {
    fn ffi_type(self) -> ffi::AVHWDeviceType {
        match self {
            HwDevice::Vaapi => ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_VAAPI,
            HwDevice::VideoToolbox => ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_VIDEOTOOLBOX,
            HwDevice::D3d11va => ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_D3D11VA,
            HwDevice::Cuda => ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA,
        }
    }

    /// The devices worth trying on this operating system, best first.
    pub fn platform_candidates() -> &'static [HwDevice] {
        if cfg!(target_os = "macos") {
            &[HwDevice::VideoToolbox]
        } else if cfg!(windows) {
            &[HwDevice::D3d11va, HwDevice::Cuda]
        } else {
            &[HwDevice::Vaapi, HwDevice::Cuda]
        }
    }
}

/// Whether to decode on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HwAccel {
    /// Use the first working device of [`HwDevice::platform_candidates`], else software.
    #[default]
    Auto,
    /// Software only.
    Off,
    /// This device or an [`Error::HardwareUnavailable`] error (for diagnostics and tests).
    Require(HwDevice),
}

/// The outcome of [`attach`]: the device in use, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HwChoice {
    pub device: Option<HwDevice>,
    /// Why software decoding was chosen, or which devices were passed over first; empty when the
    /// first candidate worked.
    pub reasons: Vec<String>,
}

impl HwChoice {
    pub(crate) fn software(reason: impl Into<String>) -> Self {
        HwChoice {
            device: None,
            reasons: vec![reason.into()],
        }
    }

    /// One line for the log: "hardware (Vaapi)" or "software (Vaapi: ...; Cuda: ...)".
    pub(crate) fn describe(&self) -> String {
        let reasons = self.reasons.join("; ");
        match (self.device, reasons.is_empty()) {
            (Some(d), true) => format!("hardware ({d:?})"),
            (Some(d), false) => format!("hardware ({d:?}; passed over: {reasons})"),
            (None, true) => "software".to_owned(),
            (None, false) => format!("software ({reasons})"),
        }
    }
}

/// Tries to attach a hardware device to a not-yet-opened codec context and says which device (if
/// any) it attached and why the others were not used. FFmpeg's messages from the attempts are
/// logged at debug level: on a machine without, say, CUDA, its failure is the expected outcome.
///
/// # Safety
/// `ctx` must be a valid, unopened decoder context for `codec`.
pub(crate) unsafe fn attach(
    ctx: *mut ffi::AVCodecContext,
    codec: *const ffi::AVCodec,
    accel: HwAccel,
) -> Result<HwChoice> {
    let candidates: &[HwDevice] = match accel {
        HwAccel::Off => return Ok(HwChoice::software("hardware decoding is off")),
        HwAccel::Auto => HwDevice::platform_candidates(),
        HwAccel::Require(ref d) => std::slice::from_ref(d),
    };
    let mut reasons = Vec::new();
    for &device in candidates {
        // SAFETY: forwarded from the caller.
        let Some(pix_fmt) = (unsafe { hw_pix_fmt(codec, device) }) else {
            reasons.push(format!("{device:?}: the codec has no decoder for it in this FFmpeg"));
            continue;
        };
        let mut device_ref: *mut ffi::AVBufferRef = ptr::null_mut();
        // SAFETY: creating a device with default options; on failure nothing is allocated.
        let (ret, messages) = crate::log::expected_failures(|| unsafe {
            ffi::av_hwdevice_ctx_create(
                &mut device_ref,
                device.ffi_type(),
                ptr::null(),
                ptr::null_mut(),
                0,
            )
        });
        if ret < 0 || device_ref.is_null() {
            let why = messages
                .last()
                .cloned()
                .unwrap_or_else(|| ffmpeg_next::Error::from(ret).to_string());
            tracing::debug!(?device, %why, "hardware device unavailable");
            reasons.push(format!("{device:?}: no usable device ({why})"));
            continue;
        }
        // SAFETY: the context takes ownership of the device reference (freed with the context); the
        // wanted pixel format travels in `opaque`, which this crate does not otherwise use.
        unsafe {
            (*ctx).hw_device_ctx = device_ref;
            (*ctx).opaque = pix_fmt as i32 as isize as *mut c_void;
            (*ctx).get_format = Some(choose_format);
        }
        tracing::debug!(?device, "hardware device attached");
        return Ok(HwChoice {
            device: Some(device),
            reasons,
        });
    }
    match accel {
        HwAccel::Require(device) => Err(Error::HardwareUnavailable {
            device: format!("{device:?}"),
        }),
        _ => {
            if reasons.is_empty() {
                reasons.push("no hardware decoder is known on this platform".to_owned());
            }
            Ok(HwChoice {
                device: None,
                reasons,
            })
        }
    }
}

/// The hardware pixel format `codec` decodes to on `device`, if it has such a configuration and
/// the bindings know the format.
unsafe fn hw_pix_fmt(codec: *const ffi::AVCodec, device: HwDevice) -> Option<ffi::AVPixelFormat> {
    for i in 0..64 {
        // SAFETY: avcodec_get_hw_config returns null past the last configuration.
        let config = unsafe { ffi::avcodec_get_hw_config(codec, i) };
        if config.is_null() {
            return None;
        }
        // SAFETY: non-null configurations are static; the enum fields are read as integers, since a
        // newer FFmpeg may store values the bindings have no variant for.
        let (methods, device_type, pix_fmt) = unsafe {
            (
                (*config).methods,
                pixfmt::read_enum(ptr::addr_of!((*config).device_type)),
                pixfmt::read_enum(ptr::addr_of!((*config).pix_fmt)),
            )
        };
        #[allow(clippy::unnecessary_cast)] // the constant's integer type differs between bindings
        let by_device = methods & ffi::AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX as i32 != 0;
        if by_device && device_type == device.ffi_type() as i32 {
            let known = pixfmt::pixel_format_from_raw(pix_fmt);
            if known.is_none() {
                tracing::debug!(?device, pix_fmt, "hardware pixel format unknown to this build");
            }
            return known.filter(|f| *f != ffi::AVPixelFormat::AV_PIX_FMT_NONE);
        }
    }
    None
}

/// FFmpeg's `get_format` callback: the hardware format if offered, else the software format FFmpeg
/// lists last. The list is read as integers: a newer FFmpeg may offer formats the bindings do not
/// know, and only a known value is ever returned.
unsafe extern "C" fn choose_format(
    ctx: *mut ffi::AVCodecContext,
    formats: *const ffi::AVPixelFormat,
) -> ffi::AVPixelFormat {
    const NONE: i32 = ffi::AVPixelFormat::AV_PIX_FMT_NONE as i32;
    // SAFETY: FFmpeg passes its context and a list terminated by AV_PIX_FMT_NONE; every element is
    // read as an integer.
    let (wanted, offered) = unsafe {
        let wanted = (*ctx).opaque as isize as i32;
        let mut offered = Vec::new();
        let mut p = formats;
        while !p.is_null() && offered.len() < 1024 {
            let raw = pixfmt::read_enum(p);
            if raw == NONE {
                break;
            }
            offered.push(raw);
            p = p.add(1);
        }
        (wanted, offered)
    };
    let (format, hardware) = choose_from(wanted, &offered);
    if !hardware {
        tracing::debug!(
            ?offered,
            "the decoder did not offer the hardware format; decoding in software"
        );
    }
    format
}

/// The choice `choose_format` makes from raw values: `wanted` if offered, else the last offered
/// format that the bindings know and that is not a hardware surface, else `AV_PIX_FMT_NONE`
/// (the decoder then fails to open or to decode, and the caller falls back to software).
fn choose_from(wanted: i32, offered: &[i32]) -> (ffi::AVPixelFormat, bool) {
    if offered.contains(&wanted)
        && let Some(f) = pixfmt::pixel_format_from_raw(wanted)
    {
        return (f, true);
    }
    let software = offered
        .iter()
        .rev()
        .filter(|&&raw| pixfmt::is_hardware(raw) == Some(false))
        .find_map(|&raw| pixfmt::pixel_format_from_raw(raw));
    (software.unwrap_or(ffi::AVPixelFormat::AV_PIX_FMT_NONE), false)
}

/// Where a decoded picture lives, judged by the running library from the raw format value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Memory {
    /// System memory: convert it directly.
    Software,
    /// A GPU surface: download it first.
    Hardware,
    /// A format number the library does not know (never made into the Rust enum).
    Unknown(i32),
}

/// Where `frame`'s pixels are.
pub(crate) fn memory(frame: &AvFrame) -> Memory {
    // SAFETY: reading the integer format field of a decoded frame we hold.
    let raw = unsafe { (*frame.as_ptr()).format };
    memory_of_raw(raw)
}

fn memory_of_raw(raw: i32) -> Memory {
    match pixfmt::is_hardware(raw) {
        Some(true) => Memory::Hardware,
        Some(false) => Memory::Software,
        None => Memory::Unknown(raw),
    }
}

/// Copies a GPU picture to system memory, keeping its timestamps and colour properties.
pub(crate) fn download(frame: &AvFrame) -> Option<AvFrame> {
    let mut sw = AvFrame::empty();
    // SAFETY: both frames are valid; transfer allocates the destination buffers.
    unsafe {
        if ffi::av_hwframe_transfer_data(sw.as_mut_ptr(), frame.as_ptr(), 0) < 0 {
            return None;
        }
        if ffi::av_frame_copy_props(sw.as_mut_ptr(), frame.as_ptr()) < 0 {
            return None;
        }
    }
    Some(sw)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YUV420P: i32 = ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as i32;
    const NV12: i32 = ffi::AVPixelFormat::AV_PIX_FMT_NV12 as i32;
    const VAAPI: i32 = ffi::AVPixelFormat::AV_PIX_FMT_VAAPI as i32;
    const NB: i32 = ffi::AVPixelFormat::AV_PIX_FMT_NB as i32;

    #[test]
    fn unknown_frame_formats_are_not_taken_for_software_or_hardware() {
        assert_eq!(memory_of_raw(YUV420P), Memory::Software);
        assert_eq!(memory_of_raw(VAAPI), Memory::Hardware);
        assert_eq!(memory_of_raw(NB + 7), Memory::Unknown(NB + 7));
        assert_eq!(memory_of_raw(-5), Memory::Unknown(-5));
    }

    #[test]
    fn get_format_returns_only_known_values() {
        // The hardware format when offered.
        assert_eq!(
            choose_from(VAAPI, &[VAAPI, NV12]),
            (ffi::AVPixelFormat::AV_PIX_FMT_VAAPI, true)
        );
        // Otherwise the software format listed last, skipping values unknown to the bindings.
        assert_eq!(
            choose_from(VAAPI, &[NV12, NB + 3]),
            (ffi::AVPixelFormat::AV_PIX_FMT_NV12, false)
        );
        assert_eq!(
            choose_from(VAAPI, &[YUV420P]),
            (ffi::AVPixelFormat::AV_PIX_FMT_YUV420P, false)
        );
        // A wanted value the bindings do not know is never returned.
        assert_eq!(
            choose_from(NB + 3, &[NB + 3]),
            (ffi::AVPixelFormat::AV_PIX_FMT_NONE, false)
        );
        assert_eq!(choose_from(VAAPI, &[]), (ffi::AVPixelFormat::AV_PIX_FMT_NONE, false));
    }
}
