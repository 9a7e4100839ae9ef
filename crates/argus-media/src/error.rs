//! The crate's error type. Every variant says what the user can do about it, and user-supplied paths
//! come last in the message.

use std::path::PathBuf;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while probing, indexing or decoding a video.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file does not exist.
    #[error("video file not found; check the path: {}", path.display())]
    NotFound { path: PathBuf },

    /// The file exists but may not be read.
    #[error("permission denied while reading the video; check the file's permissions: {}", path.display())]
    PermissionDenied { path: PathBuf },

    /// Any other I/O failure on the video file itself.
    #[error("could not read the video ({source}); check the disk and the path: {}", path.display())]
    Io {
        source: std::io::Error,
        path: PathBuf,
    },

    /// The file is zero bytes long.
    #[error("the video file is empty (0 bytes); copy or export it again: {}", path.display())]
    EmptyFile { path: PathBuf },

    /// FFmpeg could not identify a container, or guessed one from the file name that makes no sense
    /// for a video (for example a text-art demuxer for random bytes named `.bin`).
    #[error(
        "this is not a video FFmpeg can read ({detail}, container guessed: {demuxer}); \
         check that the file is a video and not damaged: {}", path.display()
    )]
    UnrecognizedFormat {
        demuxer: String,
        detail: String,
        path: PathBuf,
    },

    /// The container has no (decodable-looking) video stream, e.g. an audio-only file.
    #[error("the file has no video stream (it contains: {streams}); choose a video file: {}", path.display())]
    NoVideoStream { streams: String, path: PathBuf },

    /// The system FFmpeg has no decoder for the video codec.
    #[error(
        "the system FFmpeg has no decoder for the `{codec}` codec; install an FFmpeg build with it \
         or transcode the video: {}", path.display()
    )]
    UnsupportedCodec { codec: String, path: PathBuf },

    /// The container or its index is damaged so badly that it cannot be opened at all
    /// (e.g. an mp4 truncated before its `moov` atom).
    #[error(
        "the video is truncated or corrupt and cannot be opened ({detail}); re-export or \
         re-download it: {}", path.display()
    )]
    Corrupt { detail: String, path: PathBuf },

    /// A frame index beyond the end of the video.
    #[error("frame {index} does not exist; the video has {frame_count} frames (0..{frame_count})")]
    FrameOutOfRange { index: u64, frame_count: u64 },

    /// The frame exists in the index but its data could not be decoded (damaged or truncated file).
    /// `damaged_from` is the first frame known to be unusable: where demuxing found the damage, or
    /// `index` itself when the packets are all there but do not decode. Frames before it are
    /// decodable.
    #[error(
        "frame {index} could not be decoded ({detail}); the file is damaged from frame \
         {damaged_from} on, earlier frames are still usable; re-export or re-download it: {}",
        path.display()
    )]
    FrameUndecodable {
        index: u64,
        damaged_from: u64,
        detail: String,
        path: PathBuf,
    },

    /// The container's timestamps cannot address frames (e.g. a raw elementary stream).
    #[error(
        "the video's packets carry no timestamps, so frames cannot be addressed exactly; remux it \
         into mp4 or mkv (`ffmpeg -i IN -c copy OUT.mkv`): {}", path.display()
    )]
    NoTimestamps { path: PathBuf },

    /// The decoder produced pictures in a pixel format this build does not know (e.g. one added by
    /// an FFmpeg newer than the one Argus was built against). `format` is FFmpeg's number for it.
    #[error(
        "the decoder produced pictures in a pixel format this build of Argus does not know (FFmpeg \
         pixel format number {format}); transcode the video (`ffmpeg -i IN -pix_fmt yuv420p OUT.mp4`) \
         or use an Argus built for this FFmpeg: {}", path.display()
    )]
    UnsupportedPixelFormat { format: i32, path: PathBuf },

    /// [`crate::HwAccel::Require`] named a device that cannot be used here.
    #[error(
        "hardware decoding with {device} is not available on this machine; use HwAccel::Auto to fall back to software"
    )]
    HardwareUnavailable { device: String },

    /// A requested output size of zero or absurd dimensions.
    #[error("invalid output size {width}x{height}; both sides must be between 1 and 16384 pixels")]
    InvalidSize { width: u32, height: u32 },

    /// A request replaced by a newer one (the user jumped elsewhere) before it finished.
    #[error("the frame request was cancelled because a newer request replaced it")]
    Cancelled,

    /// The background decoding thread is gone (it panicked or was shut down).
    #[error("the background decoder has stopped; open the video again")]
    WorkerGone,

    /// An FFmpeg call failed in a way not covered by a more specific variant.
    #[error("FFmpeg failed while {action} ({source}); the file may be damaged: {}", path.display())]
    Ffmpeg {
        action: &'static str,
        source: ffmpeg_next::Error,
        path: PathBuf,
    },

    /// An image sequence was asked for with no images.
    #[error("the image sequence has no images; choose a folder with at least one image")]
    EmptyImageSequence,

    /// One image of a sequence is not the size of the first: a video has one frame size.
    #[error(
        "the images differ in size: {}x{} here but {}x{} in the first image ({}); resize the \
         images to one size or import them as separate datasets: {}",
        width, height, expected_width, expected_height, first.display(), path.display()
    )]
    ImageSizeMismatch {
        width: u32,
        height: u32,
        expected_width: u32,
        expected_height: u32,
        first: PathBuf,
        path: PathBuf,
    },

    /// One image of a sequence is coded differently from the first (e.g. PNG among JPEGs).
    #[error(
        "the images differ in format: `{codec}` here but `{expected}` in the first image ({}); \
         convert the images to one format: {}", first.display(), path.display()
    )]
    ImageFormatMismatch {
        codec: String,
        expected: String,
        first: PathBuf,
        path: PathBuf,
    },

    /// A file of an image sequence is not a still image (e.g. an animated GIF or a video).
    #[error(
        "the file is not a still image FFmpeg reads as one picture (container: {demuxer}); \
         remove it from the dataset or convert it to PNG or JPEG: {}", path.display()
    )]
    NotAStillImage { demuxer: String, path: PathBuf },

    /// An image path that an FFmpeg list file cannot name (a line break in it, or not UTF-8).
    #[error("the image's file name cannot be listed for FFmpeg (it contains a line break or is not UTF-8); rename the file: {}", path.display())]
    UnlistableImagePath { path: PathBuf },

    /// Reading or writing the on-disk index cache failed. Decoding can go on without it.
    #[error("the video index cache could not be used ({action}: {source}); check free space and permissions: {}", path.display())]
    IndexCache {
        action: &'static str,
        source: std::io::Error,
        path: PathBuf,
    },
}

impl Error {
    /// Classifies an I/O error on the video file itself.
    pub(crate) fn from_io(source: std::io::Error, path: &std::path::Path) -> Self {
        let path = path.to_path_buf();
        match source.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound { path },
            std::io::ErrorKind::PermissionDenied => Error::PermissionDenied { path },
            _ => Error::Io { source, path },
        }
    }
}
