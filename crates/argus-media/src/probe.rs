//! Opening a file with FFmpeg safely, and describing what is in it.
//!
//! Opening does more than `avformat_open_input`: it classifies failures into typed errors (missing
//! file, permission, empty file, unknown data, damaged container) and rejects demuxers that FFmpeg
//! only picked because of the file name (random bytes named `.bin` open as "BINTEXT").

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::ptr;

use ffmpeg_next::ffi;
use ffmpeg_next::format::context::Input;
use ffmpeg_next::media;
use serde::{Deserialize, Serialize};

use crate::frame::{Rational, rational_from_ff, seconds};
use crate::{Error, Result};

/// What a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamKind {
    Video,
    /// A still picture attached to the file (cover art); never treated as the video.
    AttachedPicture,
    Audio,
    Subtitle,
    Data,
    Attachment,
    Unknown,
}

/// One stream of the container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamInfo {
    pub index: usize,
    pub kind: StreamKind,
    /// FFmpeg's short codec name (`h264`, `aac`, ...), `none` when unknown.
    pub codec: String,
    pub time_base: Option<Rational>,
}

/// The video stream Argus decodes, as the container headers describe it. Header values can lie;
/// the exact frame count and keyframes come from [`crate::VideoIndex`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    pub stream_index: usize,
    pub codec: String,
    pub codec_long_name: String,
    /// Coded size in pixels, before rotation.
    pub width: u32,
    pub height: u32,
    /// FFmpeg's pixel format name (`yuv420p`, `yuv420p10le`, ...).
    pub pixel_format: String,
    /// Bits per sample of the first component (8, 10, 12).
    pub bit_depth: u8,
    /// Clockwise rotation in degrees (0, 90, 180, 270 or other) the player must apply for display,
    /// from the display-matrix side data. Frames are always delivered unrotated.
    pub rotation: i32,
    /// The "real" base frame rate FFmpeg guessed (`r_frame_rate`); `None` when unknown.
    pub frame_rate: Option<Rational>,
    /// Average frame rate over the file; differs from `frame_rate` for variable frame rate video.
    pub avg_frame_rate: Option<Rational>,
    pub time_base: Rational,
    /// Sample aspect ratio, `None` when unknown or square.
    pub sample_aspect_ratio: Option<Rational>,
    /// Duration in seconds from the headers, when known.
    pub duration_seconds: Option<f64>,
    /// Frame count the header claims (0 or missing for many containers, wrong for damaged files).
    pub header_frame_count: Option<u64>,
}

/// A probed media file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    pub path: PathBuf,
    /// Demuxer short name(s), e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    pub container: String,
    pub container_long_name: String,
    pub file_size: u64,
    /// Container duration in seconds, when known.
    pub duration_seconds: Option<f64>,
    pub streams: Vec<StreamInfo>,
    /// The best video stream; `None` for audio-only files.
    pub video: Option<VideoInfo>,
}

/// Opens `path` and describes its streams without decoding anything.
pub fn probe(path: &Path) -> Result<MediaInfo> {
    let opened = open_input(path)?;
    let video = match pick_video_stream(&opened.input) {
        Some(index) => Some(video_info(&opened.input, index, path)?),
        None => None,
    };
    let format = opened.input.format();
    // SAFETY: the context is open; `duration` is a plain field.
    let duration = unsafe { (*opened.input.as_ptr()).duration };
    Ok(MediaInfo {
        path: path.to_path_buf(),
        container: format.name().to_owned(),
        container_long_name: format.description().to_owned(),
        file_size: opened.file_size,
        duration_seconds: (duration > 0 && duration != ffi::AV_NOPTS_VALUE)
            .then(|| duration as f64 / f64::from(ffi::AV_TIME_BASE)),
        streams: stream_infos(&opened.input),
        video,
    })
}

pub(crate) struct Opened {
    pub input: Input,
    pub file_size: u64,
}

/// Demuxers that accept any bytes given the right extension; a video is never one of these.
const NONSENSE_DEMUXERS: &[&str] = &[
    "tty",
    "bin",
    "xbin",
    "adf",
    "idf",
    "data",
    "subviewer",
    "txt",
];

/// Opens the file, reads stream info and rejects non-videos with typed errors.
pub(crate) fn open_input(path: &Path) -> Result<Opened> {
    crate::init();
    let meta = std::fs::metadata(path).map_err(|e| Error::from_io(e, path))?;
    if meta.is_dir() {
        return Err(Error::UnrecognizedFormat {
            demuxer: "none".into(),
            detail: "the path is a directory".into(),
            path: path.to_path_buf(),
        });
    }
    // Opening ourselves first gives exact NotFound / PermissionDenied errors instead of FFmpeg's.
    drop(std::fs::File::open(path).map_err(|e| Error::from_io(e, path))?);
    if meta.len() == 0 {
        return Err(Error::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let url = file_url(path)?;
    crate::log::take_last_error();
    let mut ps: *mut ffi::AVFormatContext = ptr::null_mut();
    // Image-sequence lists (ours, named `.ffconcat`) name their images by absolute path, which the
    // concat demuxer allows only with `safe=0`; they may open local files only.
    let mut options: *mut ffi::AVDictionary = ptr::null_mut();
    if crate::sequence::is_list(path) {
        // SAFETY: `options` starts null; av_dict_set allocates it, av_dict_free below frees it.
        unsafe {
            ffi::av_dict_set(&mut options, c"safe".as_ptr(), c"0".as_ptr(), 0);
            ffi::av_dict_set(&mut options, c"protocol_whitelist".as_ptr(), c"file".as_ptr(), 0);
        }
    }
    // SAFETY: `ps` is null as required, `url` is a valid C string, `options` is null or a
    // dictionary we own; on failure FFmpeg frees the context.
    let ret = unsafe {
        let ret = ffi::avformat_open_input(&mut ps, url.as_ptr(), ptr::null(), &mut options);
        ffi::av_dict_free(&mut options);
        ret
    };
    if ret < 0 {
        return Err(classify_open_failure(ret, path));
    }
    // Containers such as MPEG program streams carry no pts on some packets (a PES packet without a
    // PTS). Frames are addressed by pts, so have libavformat fill those in the way MPEG defines them
    // (a reference picture is shown when the next one is decoded: its pts is that picture's dts).
    // The index and the decoder read the same generated values, so both agree on every frame's pts.
    // Packets that already have a pts are untouched.
    // SAFETY: `ps` is a freshly opened input context; `flags` is read by av_read_frame.
    unsafe { (*ps).flags |= ffi::AVFMT_FLAG_GENPTS };
    // SAFETY: `ps` is a freshly opened input context that we now own.
    let mut input = unsafe { Input::wrap(ps) };
    // SAFETY: the context is open.
    let ret = unsafe { ffi::avformat_find_stream_info(input.as_mut_ptr(), ptr::null_mut()) };
    if ret < 0 {
        return Err(classify_open_failure(ret, path));
    }
    let demuxer = input.format().name().to_owned();
    if NONSENSE_DEMUXERS
        .iter()
        .any(|d| demuxer.split(',').any(|n| n == *d))
        || input.probe_score() <= 25
    {
        return Err(Error::UnrecognizedFormat {
            demuxer,
            detail: format!(
                "FFmpeg only guessed the container from the file name (score {})",
                input.probe_score()
            ),
            path: path.to_path_buf(),
        });
    }
    if input.streams().count() == 0 {
        return Err(Error::UnrecognizedFormat {
            demuxer,
            detail: "no streams were found in the data".into(),
            path: path.to_path_buf(),
        });
    }
    Ok(Opened {
        input,
        file_size: meta.len(),
    })
}

/// `file:` + path, so names containing `:` are never taken for other protocols.
fn file_url(path: &Path) -> Result<CString> {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = path.to_string_lossy().as_bytes().to_vec();
    let mut url = b"file:".to_vec();
    url.extend_from_slice(&bytes);
    CString::new(url).map_err(|_| Error::NotFound {
        path: path.to_path_buf(),
    })
}

fn classify_open_failure(code: i32, path: &Path) -> Error {
    let ff = ffmpeg_next::Error::from(code);
    let logged = crate::log::take_last_error();
    let detail = match logged {
        Some(msg) => format!("{ff}: {msg}"),
        None => ff.to_string(),
    };
    match ff {
        ffmpeg_next::Error::InvalidData | ffmpeg_next::Error::Eof => match content_format(path) {
            Some(name) => Error::Corrupt {
                detail: format!("{name} data: {detail}"),
                path: path.to_path_buf(),
            },
            None => Error::UnrecognizedFormat {
                demuxer: "none".into(),
                detail,
                path: path.to_path_buf(),
            },
        },
        ffmpeg_next::Error::Other { errno } if errno == libc_enoent() => Error::NotFound {
            path: path.to_path_buf(),
        },
        ffmpeg_next::Error::Other { errno } if errno == libc_eacces() => Error::PermissionDenied {
            path: path.to_path_buf(),
        },
        source => Error::Ffmpeg {
            action: "opening the file",
            source,
            path: path.to_path_buf(),
        },
    }
}

const fn libc_enoent() -> i32 {
    2
}
const fn libc_eacces() -> i32 {
    13
}

/// Which container the first bytes look like, judged from content only (not the name). Used to tell a
/// damaged mp4 ("Corrupt") from random bytes ("UnrecognizedFormat").
fn content_format(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = vec![0u8; 4096];
    let mut file = std::fs::File::open(path).ok()?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(head.get_mut(filled..)?) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(_) => return None,
        }
    }
    head.truncate(filled);
    head.extend_from_slice(&[0u8; ffi::AVPROBE_PADDING_SIZE as usize]);
    let pd = ffi::AVProbeData {
        filename: c"".as_ptr(),
        buf: head.as_mut_ptr(),
        buf_size: i32::try_from(filled).ok()?,
        mime_type: ptr::null(),
    };
    let mut score = 0;
    // SAFETY: `pd.buf` holds `buf_size` bytes plus the zeroed padding FFmpeg requires.
    let fmt = unsafe { ffi::av_probe_input_format3(&pd, 1, &mut score) };
    #[allow(clippy::unnecessary_cast)]
    // the constant's integer type differs between FFmpeg bindings
    let by_extension_only = score <= ffi::AVPROBE_SCORE_EXTENSION as i32;
    if fmt.is_null() || by_extension_only {
        return None;
    }
    // SAFETY: a non-null AVInputFormat has a static, NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr((*fmt).name) };
    Some(name.to_string_lossy().into_owned())
}

/// The video stream to decode: the largest non-attached-picture video stream.
pub(crate) fn pick_video_stream(input: &Input) -> Option<usize> {
    input
        .streams()
        .filter(|s| s.parameters().medium() == media::Type::Video && !is_attached_pic(s))
        .max_by_key(|s| {
            // SAFETY: codecpar is always set on an open input's streams.
            let (w, h) = unsafe {
                (
                    (*s.parameters().as_ptr()).width,
                    (*s.parameters().as_ptr()).height,
                )
            };
            (i64::from(w) * i64::from(h), std::cmp::Reverse(s.index()))
        })
        .map(|s| s.index())
}

fn is_attached_pic(s: &ffmpeg_next::format::stream::Stream<'_>) -> bool {
    s.disposition()
        .contains(ffmpeg_next::format::stream::Disposition::ATTACHED_PIC)
}

pub(crate) fn stream_infos(input: &Input) -> Vec<StreamInfo> {
    input
        .streams()
        .map(|s| {
            let par = s.parameters();
            let kind = match par.medium() {
                media::Type::Video if is_attached_pic(&s) => StreamKind::AttachedPicture,
                media::Type::Video => StreamKind::Video,
                media::Type::Audio => StreamKind::Audio,
                media::Type::Subtitle => StreamKind::Subtitle,
                media::Type::Data => StreamKind::Data,
                media::Type::Attachment => StreamKind::Attachment,
                _ => StreamKind::Unknown,
            };
            StreamInfo {
                index: s.index(),
                kind,
                codec: par.id().name().to_owned(),
                time_base: rational_from_ff(s.time_base()),
            }
        })
        .collect()
}

pub(crate) fn describe_streams(input: &Input) -> String {
    let list: Vec<String> = stream_infos(input)
        .iter()
        .map(|s| format!("{:?} {}", s.kind, s.codec).to_lowercase())
        .collect();
    if list.is_empty() {
        "no streams".into()
    } else {
        list.join(", ")
    }
}

pub(crate) fn video_info(input: &Input, index: usize, path: &Path) -> Result<VideoInfo> {
    let stream = input.stream(index).ok_or_else(|| Error::NoVideoStream {
        streams: describe_streams(input),
        path: path.to_path_buf(),
    })?;
    let par = stream.parameters();
    // SAFETY: codecpar is valid for the lifetime of the stream.
    let (width, height, format, sar) = unsafe {
        let p = &*par.as_ptr();
        (p.width, p.height, p.format, p.sample_aspect_ratio)
    };
    let (Ok(width), Ok(height)) = (u32::try_from(width), u32::try_from(height)) else {
        return Err(Error::Corrupt {
            detail: "negative picture size in the header".into(),
            path: path.to_path_buf(),
        });
    };
    if width == 0 || height == 0 {
        return Err(Error::Corrupt {
            detail: "the video stream has no picture size".into(),
            path: path.to_path_buf(),
        });
    }
    let (pixel_format, bit_depth) = pixel_format_name(format);
    let time_base = rational_from_ff(stream.time_base()).ok_or_else(|| Error::Corrupt {
        detail: "the video stream has no time base".into(),
        path: path.to_path_buf(),
    })?;
    let duration = stream.duration();
    let frames = stream.frames();
    let sar = Rational::new(i64::from(sar.num), i64::from(sar.den))
        .ok()
        .filter(|r| r.num() != 0 && r.num() != r.den());
    let codec = par.id();
    let codec_long_name = ffmpeg_next::codec::decoder::find(codec)
        .map(|c| c.description().to_owned())
        .unwrap_or_default();
    Ok(VideoInfo {
        stream_index: index,
        codec: codec.name().to_owned(),
        codec_long_name,
        width,
        height,
        pixel_format,
        bit_depth,
        rotation: rotation_of(&stream),
        frame_rate: rational_from_ff(stream.rate()).filter(Rational::is_positive),
        avg_frame_rate: rational_from_ff(stream.avg_frame_rate()).filter(Rational::is_positive),
        time_base,
        sample_aspect_ratio: sar,
        duration_seconds: (duration > 0 && duration != ffi::AV_NOPTS_VALUE)
            .then(|| seconds(time_base, duration)),
        header_frame_count: u64::try_from(frames).ok().filter(|f| *f > 0),
    })
}

/// The library's name and bit depth for a raw pixel format. A value it does not know (garbage in
/// the header) is reported as `unknown(N)` with depth 0, never taken for some other format.
fn pixel_format_name(format: i32) -> (String, u8) {
    if format == ffi::AVPixelFormat::AV_PIX_FMT_NONE as i32 {
        return ("none".to_owned(), 0);
    }
    let name = crate::pixfmt::name(format).unwrap_or_else(|| format!("unknown({format})"));
    let depth = crate::pixfmt::descriptor(format)
        .and_then(|d| d.comp.first())
        .and_then(|c| u8::try_from(c.depth).ok())
        .unwrap_or(0);
    (name, depth)
}

/// Clockwise display rotation in degrees from the display matrix side data.
fn rotation_of(stream: &ffmpeg_next::format::stream::Stream<'_>) -> i32 {
    for sd in stream.side_data() {
        if sd.kind() == ffmpeg_next::codec::packet::side_data::Type::DisplayMatrix
            && sd.data().len() >= 36
        {
            // SAFETY: the display matrix is 9 i32 values; we checked the length. FFmpeg reads it unaligned-safe.
            let angle = unsafe { ffi::av_display_rotation_get(sd.data().as_ptr().cast::<i32>()) };
            if angle.is_finite() {
                // av_display_rotation_get is counter-clockwise; players rotate clockwise by its negation.
                let cw = (-angle).round() as i64;
                return i32::try_from(cw.rem_euclid(360)).unwrap_or(0);
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_pixel_formats_keep_their_number() {
        let nb = ffi::AVPixelFormat::AV_PIX_FMT_NB as i32;
        assert_eq!(pixel_format_name(nb + 5), (format!("unknown({})", nb + 5), 0));
        assert_eq!(pixel_format_name(i32::MAX), (format!("unknown({})", i32::MAX), 0));
        assert_eq!(pixel_format_name(-1), ("none".to_owned(), 0));
        assert_eq!(
            pixel_format_name(ffi::AVPixelFormat::AV_PIX_FMT_YUV420P10LE as i32),
            ("yuv420p10le".to_owned(), 10)
        );
    }
}
