//! Frame-exact local video decoding for Argus, on top of the system FFmpeg (through `ffmpeg-next`).
//!
//! Annotators scrub, step and jump through long videos, and a label must land on exactly the frame
//! they saw. So this crate addresses frames by **index in presentation order**, never by a time that
//! a player rounds:
//!
//! - [`probe`] describes a file from its headers ([`MediaInfo`]); nothing is decoded.
//! - [`VideoIndex`] is one demux pass (no decoding) over the video stream: every packet's pts, key
//!   flag and position, sorted into presentation order. Its length is the exact frame count, even
//!   when headers are missing or lie, and it makes variable frame rate a non-issue. [`IndexCache`]
//!   stores it on disk keyed by the content SHA-256.
//! - [`VideoSource`] returns `frame(n)`: it seeks to the keyframe at or before `n`, decodes forward
//!   and identifies each decoded picture by its pts in the index, so the result is exactly frame `n`.
//!   Decoded pictures are kept in a byte-bounded LRU; stepping forward reuses the running decoder,
//!   stepping back is served from the cache or one GOP decode.
//! - [`FramePrefetcher`] runs a source on a background thread, decodes ahead in the direction the
//!   user is moving, and drops work that a newer request made pointless.
//! - [`write_image_sequence`] turns a list of still images (an image dataset) into one video, an
//!   `ffconcat` list whose frame `n` is image `n`; everything above works on it unchanged.
//! - Thumbnails and timeline strips ([`VideoSource::timeline_strip`]) decode only keyframes.
//!
//! Colour conversion uses swscale with the same flags, colour-matrix rules and slice threading as the
//! `ffmpeg` CLI's auto-inserted scaler, writing straight into the caller's buffer, so output is
//! pixel-identical to `ffmpeg -vf select=eq(n\,N) -pix_fmt rgba` at the CLI's speed. Frames are
//! delivered unrotated; [`VideoInfo::rotation`] says how to turn them for display. Every frame of a
//! video comes at one size, resolved against the stream's declared size: where the coded size
//! changes part-way (joined recordings), pictures are scaled to it as the CLI's default
//! `-autoscale` does.
//!
//! FFmpeg's own log is routed into `tracing` (target `ffmpeg`) through `av_log_set_callback`, never
//! to stderr; FFmpeg's explanation of an open failure also ends up in the typed [`Error`].
//!
//! Decoding uses frame threads by default and a hardware decoder when one works ([`HwAccel`]),
//! falling back to software automatically. Looking for a device that is not there is expected, so
//! FFmpeg's messages from that attempt are logged at debug level; one info line per codec and
//! outcome says which decoder is used and why.
//!
//! Pixel formats and other C enums from FFmpeg are read as integers and become the bindings' Rust
//! enums only when the value is one they know (a newer libavutil may return others).

mod cache;
mod convert;
mod error;
mod frame;
mod hw;
mod index;
mod log;
mod pixfmt;
mod prefetch;
mod probe;
mod record;
mod sequence;
mod source;

pub use error::{Error, Result};
pub use frame::{Frame, FrameRequest, OutputSize, PixelFormat, Plane, Rational};
pub use hw::{HwAccel, HwDevice};
pub use index::{
    Damage, INDEX_FORMAT_VERSION, IndexCache, IndexOrigin, IndexedFrame, VideoIndex, hash_file,
};
pub use prefetch::{FramePrefetcher, FrameTicket};
pub use probe::{MediaInfo, StreamInfo, StreamKind, VideoInfo, probe};
pub use record::{Described, describe_video, rotate_rgba};
pub use sequence::{
    IMAGE_SEQUENCE_EXTENSION, IMAGE_SEQUENCE_FPS, ImageSequence, check_images, image_sequence_list,
    images_sha256, listed_images, write_image_sequence,
};
pub use source::{DecodeStats, SourceOptions, StripSpacing, VideoSource};

/// The FFmpeg this process runs on, for the About box and diagnostics: its
/// release (`av_version_info`) and the versions of the libraries Argus uses,
/// e.g. `FFmpeg 5.1.6-0+deb12u1 (libavcodec 59.37.100, libavformat 59.27.100, libavutil 57.28.100, libswscale 6.7.100)`.
pub fn ffmpeg_version() -> String {
    let v = |n: u32| format!("{}.{}.{}", n >> 16, (n >> 8) & 0xff, n & 0xff);
    // SAFETY: av_version_info returns a pointer to a static NUL-terminated
    // string (or null), valid for the life of the process.
    let release = unsafe {
        let p = ffmpeg_next::ffi::av_version_info();
        if p.is_null() {
            "unknown".to_owned()
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    format!(
        "FFmpeg {release} (libavcodec {}, libavformat {}, libavutil {}, libswscale {})",
        v(ffmpeg_next::codec::version()),
        v(ffmpeg_next::format::version()),
        v(ffmpeg_next::util::version()),
        v(ffmpeg_next::software::scaling::version()),
    )
}

/// Initialises FFmpeg and routes its log into `tracing`. Idempotent; every entry point calls it.
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = ffmpeg_next::init() {
            tracing::error!(error = %e, "FFmpeg initialisation failed");
        }
        log::install();
    });
}
