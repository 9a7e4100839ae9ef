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

use crate::{Error, Result};

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

/// Tries to attach a hardware device to a not-yet-opened codec context. Returns the device used.
///
/// # Safety
/// `ctx` must be a valid, unopened decoder context for `codec`.
pub(crate) unsafe fn attach(
    ctx: *mut ffi::AVCodecContext,
    codec: *const ffi::AVCodec,
    accel: HwAccel,
) -> Result<Option<HwDevice>> {
    let candidates: &[HwDevice] = match accel {
        HwAccel::Off => return Ok(None),
        HwAccel::Auto => HwDevice::platform_candidates(),
        HwAccel::Require(ref d) => std::slice::from_ref(d),
    };
    for &device in candidates {
        // SAFETY: forwarded from the caller.
        let Some(pix_fmt) = (unsafe { hw_pix_fmt(codec, device) }) else {
            continue;
        };
        let mut device_ref: *mut ffi::AVBufferRef = ptr::null_mut();
        // SAFETY: creating a device with default options; on failure nothing is allocated.
        let ret = unsafe {
            ffi::av_hwdevice_ctx_create(
                &mut device_ref,
                device.ffi_type(),
                ptr::null(),
                ptr::null_mut(),
                0,
            )
        };
        if ret < 0 || device_ref.is_null() {
            tracing::debug!(?device, "hardware device unavailable");
            continue;
        }
        // SAFETY: the context takes ownership of the device reference (freed with the context); the
        // wanted pixel format travels in `opaque`, which this crate does not otherwise use.
        unsafe {
            (*ctx).hw_device_ctx = device_ref;
            (*ctx).opaque = pix_fmt as i32 as isize as *mut c_void;
            (*ctx).get_format = Some(choose_format);
        }
        tracing::info!(?device, "hardware decoding enabled");
        return Ok(Some(device));
    }
    match accel {
        HwAccel::Require(device) => Err(Error::HardwareUnavailable {
            device: format!("{device:?}"),
        }),
        _ => Ok(None),
    }
}

unsafe fn hw_pix_fmt(codec: *const ffi::AVCodec, device: HwDevice) -> Option<ffi::AVPixelFormat> {
    for i in 0..64 {
        // SAFETY: avcodec_get_hw_config returns null past the last configuration.
        let config = unsafe { ffi::avcodec_get_hw_config(codec, i) };
        if config.is_null() {
            return None;
        }
        // SAFETY: non-null configurations are static.
        let config = unsafe { &*config };
        if config.methods & ffi::AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX as i32 != 0
            && config.device_type == device.ffi_type()
        {
            return Some(config.pix_fmt);
        }
    }
    None
}

/// FFmpeg's `get_format` callback: the hardware format if offered, else FFmpeg's software choice.
unsafe extern "C" fn choose_format(
    ctx: *mut ffi::AVCodecContext,
    formats: *const ffi::AVPixelFormat,
) -> ffi::AVPixelFormat {
    // SAFETY: FFmpeg passes its context and a list terminated by AV_PIX_FMT_NONE.
    unsafe {
        let wanted = (*ctx).opaque as isize as i32;
        let mut p = formats;
        while *p != ffi::AVPixelFormat::AV_PIX_FMT_NONE {
            if *p as i32 == wanted {
                return *p;
            }
            p = p.add(1);
        }
        tracing::debug!("the decoder did not offer the hardware format; decoding in software");
        ffi::avcodec_default_get_format(ctx, formats)
    }
}

/// Whether a decoded picture lives in GPU memory.
pub(crate) fn is_hw_frame(frame: &AvFrame) -> bool {
    // SAFETY: reading the format of a decoded frame and its static descriptor.
    unsafe {
        let fmt: ffi::AVPixelFormat =
            std::mem::transmute::<i32, ffi::AVPixelFormat>((*frame.as_ptr()).format);
        let desc = ffi::av_pix_fmt_desc_get(fmt);
        !desc.is_null() && ((*desc).flags & ffi::AV_PIX_FMT_FLAG_HWACCEL as u64) != 0
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
