//! From a file to the domain: what importing a video into a project needs.
//!
//! The CLI and the desktop app both import videos; both need the same
//! argus-core [`Video`] record (exact frame count and content hash from the
//! packet index, display rotation from the container) and both show frames
//! in display orientation. This module is that one shared piece.

use std::path::Path;

use argus_core::{
    id::{ProjectId, VideoId},
    model::{Rotation, Timestamp, Video},
    time::Rational,
};

use crate::{Damage, Error, IndexCache, Result, VideoIndex, probe};

/// A described video and, for a damaged file, where it breaks (frames
/// before that point are intact and importable).
#[derive(Debug, Clone)]
pub struct Described {
    pub video: Video,
    pub damage: Option<Damage>,
}

/// Probes and indexes `path` (demux only; uses `cache` when given) and
/// describes it as a new video of `project`, with `created_at` = `now`.
pub fn describe_video(project: ProjectId, path: &Path, cache: Option<&IndexCache>, now: Timestamp) -> Result<Described> {
    let path = std::fs::canonicalize(path).map_err(|e| Error::from_io(e, path))?;
    let info = probe(&path)?;
    let v = info.video.ok_or_else(|| Error::NoVideoStream {
        streams: info.streams.iter().map(|s| format!("{:?}", s.kind)).collect::<Vec<_>>().join(", "),
        path: path.clone(),
    })?;
    let index = match cache {
        Some(cache) => cache.load_or_build(&path)?.0,
        None => VideoIndex::build(&path)?,
    };
    let frame_count = index.frame_count();
    let corrupt = |detail: String| Error::Corrupt { detail, path: path.clone() };
    if frame_count == 0 {
        return Err(corrupt("no frame could be read".into()));
    }
    let rate = v
        .frame_rate
        .or(v.avg_frame_rate)
        .filter(Rational::is_positive)
        .ok_or_else(|| Error::NoTimestamps { path: path.clone() })?;
    let duration = Rational::integer(i64::try_from(frame_count).map_err(|_| corrupt("too many frames".into()))?)
        .checked_mul(&rate.recip().map_err(|_| corrupt("zero frame rate".into()))?)
        .map_err(|_| corrupt("the duration overflows".into()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "video".into());
    let video = Video {
        id: VideoId::for_content(project, &index.content_sha256),
        project_id: project,
        name,
        sha256: index.content_sha256.clone(),
        width: v.width,
        height: v.height,
        frame_rate: rate,
        frame_count,
        duration,
        codec: v.codec.clone(),
        // Rotations that are not a multiple of 90 degrees are not applied by
        // players either; show the frames as coded.
        rotation: Rotation::from_degrees(v.rotation).unwrap_or_default(),
        local_path: Some(path.to_string_lossy().into_owned()),
        object_key: None,
        remote: Default::default(),
        created_at: now,
    };
    Ok(Described { video, damage: index.damage.clone() })
}

/// Turns a packed RGBA image (`width * height * 4` bytes, as decoded) into
/// display orientation by rotating it clockwise; masks and clicks are in
/// display pixels. Returns the pixels and the new width and height.
pub fn rotate_rgba(src: Vec<u8>, width: u32, height: u32, rotation: Rotation) -> (Vec<u8>, u32, u32) {
    let (w, h) = (width as usize, height as usize);
    if rotation == Rotation::R0 || src.len() < w * h * 4 {
        return (src, width, height);
    }
    let (ow, oh) = if rotation.swaps_axes() { (h, w) } else { (w, h) };
    let mut out = vec![0u8; ow * oh * 4];
    for (i, px) in out.chunks_exact_mut(4).enumerate() {
        let (x, y) = (i % ow, i / ow);
        let (sx, sy) = match rotation {
            Rotation::R90 => (y, h - 1 - x),
            Rotation::R180 => (w - 1 - x, h - 1 - y),
            Rotation::R270 => (w - 1 - y, x),
            Rotation::R0 => (x, y),
        };
        let s = (sy * w + sx) * 4;
        px.copy_from_slice(&src[s..s + 4]);
    }
    (out, ow as u32, oh as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x2 image whose pixels are numbered 0..6 in their first byte.
    fn numbered() -> Vec<u8> {
        (0u8..6).flat_map(|i| [i, 0, 0, 255]).collect()
    }

    fn firsts(px: &[u8]) -> Vec<u8> {
        px.chunks_exact(4).map(|p| p[0]).collect()
    }

    #[test]
    fn rotates_clockwise() {
        // 0 1 2      R90:  3 0     R180: 5 4 3    R270: 2 5
        // 3 4 5            4 1           2 1 0          1 4
        //                  5 2                          0 3
        let (p, w, h) = rotate_rgba(numbered(), 3, 2, Rotation::R90);
        assert_eq!((w, h, firsts(&p)), (2, 3, vec![3, 0, 4, 1, 5, 2]));
        let (p, w, h) = rotate_rgba(numbered(), 3, 2, Rotation::R180);
        assert_eq!((w, h, firsts(&p)), (3, 2, vec![5, 4, 3, 2, 1, 0]));
        let (p, w, h) = rotate_rgba(numbered(), 3, 2, Rotation::R270);
        assert_eq!((w, h, firsts(&p)), (2, 3, vec![2, 5, 1, 4, 0, 3]));
        let (p, w, h) = rotate_rgba(numbered(), 3, 2, Rotation::R0);
        assert_eq!((w, h, firsts(&p)), (3, 2, vec![0, 1, 2, 3, 4, 5]));
    }

    #[test]
    fn short_buffers_are_returned_unchanged_instead_of_panicking() {
        let (p, w, h) = rotate_rgba(vec![1, 2, 3], 3, 2, Rotation::R90);
        assert_eq!((p, w, h), (vec![1, 2, 3], 3, 2));
    }
}
