//! Still images as one video: an image dataset (a folder of PNG or JPEG files) becomes an
//! image-sequence video, so stills and videos share the frame view, SAM and exports.
//!
//! The video is an `ffconcat version 1.0` list (FFmpeg's concat demuxer) naming each image by its
//! absolute path with a fixed duration of 1/25 s. Each image is one packet and one keyframe, at
//! pts 0, 1, 2, ... in a 1/25 time base, so the packet index, frame-exact seeking and decoding of
//! ordinary videos work on it unchanged: frame `n` is image `n`, decoded exactly as
//! `ffmpeg -i image -pix_fmt rgba` decodes that image alone.
//!
//! A list's content hash ([`crate::VideoIndex::content_sha256`]) is the hash of its images' bytes
//! in order ([`images_sha256`]), not of the list text: the same images give the same hash wherever
//! they and the list lie, and a changed image is a changed video.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Error, Result, probe};

/// The extension of image-sequence list files; only files named so are opened with the concat
/// demuxer's absolute paths allowed (`safe=0`, `file:` protocol only).
pub const IMAGE_SEQUENCE_EXTENSION: &str = "ffconcat";

/// Frames per second of an image-sequence video (one image per frame).
pub const IMAGE_SEQUENCE_FPS: u32 = 25;

const HEADER: &str = "ffconcat version 1.0";

/// What [`write_image_sequence`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSequence {
    /// The list file written.
    pub list: PathBuf,
    pub width: u32,
    pub height: u32,
    /// FFmpeg's codec name of the images (`png`, `mjpeg`, ...).
    pub codec: String,
    pub frame_count: u64,
    /// [`images_sha256`] of the images.
    pub content_sha256: String,
}

/// Checks that every image is a still picture FFmpeg reads, all of one size and format; returns
/// the size and codec. The first image that differs is named in a typed error.
pub fn check_images(images: &[PathBuf]) -> Result<(u32, u32, String)> {
    let mut first: Option<(PathBuf, u32, u32, String)> = None;
    for path in images {
        let info = probe(path)?;
        let demuxer = info.container.clone();
        if !(demuxer == "image2" || demuxer.ends_with("_pipe")) {
            return Err(Error::NotAStillImage {
                demuxer,
                path: path.clone(),
            });
        }
        let Some(v) = info.video else {
            return Err(Error::NotAStillImage {
                demuxer,
                path: path.clone(),
            });
        };
        match &first {
            None => first = Some((path.clone(), v.width, v.height, v.codec)),
            Some((first_path, w, h, codec)) => {
                if (v.width, v.height) != (*w, *h) {
                    return Err(Error::ImageSizeMismatch {
                        width: v.width,
                        height: v.height,
                        expected_width: *w,
                        expected_height: *h,
                        first: first_path.clone(),
                        path: path.clone(),
                    });
                }
                if v.codec != *codec {
                    return Err(Error::ImageFormatMismatch {
                        codec: v.codec,
                        expected: codec.clone(),
                        first: first_path.clone(),
                        path: path.clone(),
                    });
                }
            }
        }
    }
    first
        .map(|(_, w, h, codec)| (w, h, codec))
        .ok_or(Error::EmptyImageSequence)
}

/// The `ffconcat` list naming `images` (made absolute) in order, one frame each.
pub fn image_sequence_list(images: &[PathBuf]) -> Result<String> {
    if images.is_empty() {
        return Err(Error::EmptyImageSequence);
    }
    let mut out = String::from(HEADER);
    out.push('\n');
    let duration = 1.0 / f64::from(IMAGE_SEQUENCE_FPS);
    for image in images {
        let abs = std::path::absolute(image).map_err(|e| Error::from_io(e, image))?;
        let text = abs
            .to_str()
            .filter(|t| !t.contains(['\n', '\r', '\0']))
            .ok_or_else(|| Error::UnlistableImagePath { path: image.clone() })?;
        out.push_str("file ");
        out.push_str(&quote(text));
        out.push('\n');
        out.push_str(&format!("duration {duration}\n"));
    }
    Ok(out)
}

/// Checks `images` ([`check_images`]) and writes their list to `list` (atomically).
pub fn write_image_sequence(list: &Path, images: &[PathBuf]) -> Result<ImageSequence> {
    let (width, height, codec) = check_images(images)?;
    let text = image_sequence_list(images)?;
    let content_sha256 = images_sha256(images)?;
    if let Some(dir) = list.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::from_io(e, dir))?;
    }
    let tmp = list.with_extension("ffconcat.tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::from_io(e, &tmp))?;
    std::fs::rename(&tmp, list).map_err(|e| Error::from_io(e, list))?;
    Ok(ImageSequence {
        list: list.to_path_buf(),
        width,
        height,
        codec,
        frame_count: images.len() as u64,
        content_sha256,
    })
}

/// SHA-256 over the images in order: for each, its length (8 bytes, little-endian) then its bytes.
pub fn images_sha256(images: &[PathBuf]) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for path in images {
        let mut file = std::fs::File::open(path).map_err(|e| Error::from_io(e, path))?;
        let len = file.metadata().map_err(|e| Error::from_io(e, path))?.len();
        hasher.update(len.to_le_bytes());
        let mut read = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(|e| Error::from_io(e, path))?;
            if n == 0 {
                break;
            }
            read += n as u64;
            hasher.update(buf.get(..n).unwrap_or_default());
        }
        if read != len {
            return Err(Error::Io {
                source: std::io::Error::other("the file changed while it was read"),
                path: path.clone(),
            });
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Whether `path` is named as an image-sequence list.
pub(crate) fn is_list(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(IMAGE_SEQUENCE_EXTENSION))
}

/// The images an image-sequence list names, in order (the `file` lines of lists this module
/// writes; other directives are ignored).
pub fn listed_images(list: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(list).map_err(|e| Error::from_io(e, list))?;
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(HEADER) {
        return Err(Error::UnrecognizedFormat {
            demuxer: "concat".into(),
            detail: format!("an image-sequence list starts with `{HEADER}`"),
            path: list.to_path_buf(),
        });
    }
    Ok(lines
        .filter_map(|l| l.trim_start().strip_prefix("file "))
        .map(|rest| PathBuf::from(unquote(rest.trim())))
        .collect())
}

/// The content hash the index and the store key a file by: the file's SHA-256, or for an
/// image-sequence list, [`images_sha256`] of its images.
pub(crate) fn content_sha256(path: &Path) -> Result<String> {
    if is_list(path) {
        images_sha256(&listed_images(path)?)
    } else {
        crate::hash_file(path)
    }
}

/// Quotes a token for FFmpeg's `av_get_token`: inside `'...'` everything is literal, and a quote
/// is written as `'\''` (close, escaped quote, reopen).
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The inverse of [`quote`] (and of `av_get_token`'s rules in general: quotes group, a backslash
/// outside quotes escapes the next character).
fn unquote(token: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '\\' if !quoted => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips() {
        for s in ["/a/b.png", "/it's here/x y.jpg", "/q''/\\b.png", "/é/ü.png"] {
            assert_eq!(unquote(&quote(s)), s);
        }
        assert_eq!(quote("/it's"), "'/it'\\''s'");
    }

    #[test]
    fn lists_refuse_line_breaks() {
        let r = image_sequence_list(&[PathBuf::from("/a\nb.png")]);
        assert!(matches!(r, Err(Error::UnlistableImagePath { .. })));
        assert!(matches!(image_sequence_list(&[]), Err(Error::EmptyImageSequence)));
    }
}
