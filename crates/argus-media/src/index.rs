//! The packet/keyframe index: one demux pass over the file (no decoding) that records every video
//! packet's timestamps, position and key flag, sorted into presentation order.
//!
//! Frames are addressed by their position in this list, so the frame count is exact even when the
//! header is missing (webm) or lies (truncated files), and variable frame rate needs no special case.
//! Building it costs one read of the file, so [`IndexCache`] keeps it on disk keyed by the SHA-256
//! of the file's content; a size + mtime record per path skips re-hashing unchanged files.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use ffmpeg_next::codec::packet::Ref as _;
use ffmpeg_next::{Packet, ffi};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::frame::{Rational, seconds};
use crate::probe::{describe_streams, open_input, pick_video_stream};
use crate::{Error, Result};

/// Bumped whenever the index layout or the way it is built changes; older cache entries are rebuilt.
pub const INDEX_FORMAT_VERSION: u32 = 3; // 3: missing pts are generated (AVFMT_FLAG_GENPTS)

/// One video frame's packet, in presentation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedFrame {
    /// Presentation timestamp in the stream time base.
    pub pts: i64,
    /// Decoding timestamp, when the container has one.
    pub dts: Option<i64>,
    /// Byte offset of the packet in the file, when known.
    pub pos: Option<u64>,
    /// Packet size in bytes.
    pub size: u32,
    /// Whether decoding can start at this packet.
    pub keyframe: bool,
}

/// Where the file stopped being readable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Damage {
    /// First frame index (presentation order) that is missing or damaged. Frames before it are intact.
    pub from_frame: u64,
    /// Byte offset where demuxing failed, when known.
    pub byte_offset: Option<u64>,
    /// What FFmpeg reported.
    pub message: String,
}

/// Exact frame list and keyframes of one video stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoIndex {
    pub format_version: u32,
    /// Lower-case hex SHA-256 of the whole file (of its images, for an image-sequence list).
    pub content_sha256: String,
    pub file_size: u64,
    pub stream_index: usize,
    pub time_base: Rational,
    /// All decodable frames in presentation order.
    pub frames: Vec<IndexedFrame>,
    /// Indices into `frames` of the keyframes, ascending.
    pub keyframes: Vec<u64>,
    /// Set when the file is truncated or has corrupt packets.
    pub damage: Option<Damage>,
}

impl VideoIndex {
    /// Demuxes `path` once (no decoding) and hashes it in parallel.
    pub fn build(path: &Path) -> Result<VideoIndex> {
        std::thread::scope(|scope| {
            let hasher = scope.spawn(|| crate::sequence::content_sha256(path));
            let index = build_without_hash(path);
            let hash = hasher.join().unwrap_or_else(|_| {
                Err(Error::Io {
                    source: std::io::Error::other("hashing thread panicked"),
                    path: path.to_path_buf(),
                })
            });
            let mut index = index?;
            index.content_sha256 = hash?;
            Ok(index)
        })
    }

    /// Number of frames (exact).
    pub fn frame_count(&self) -> u64 {
        self.frames.len() as u64
    }

    /// The frame's index entry.
    pub fn frame(&self, index: u64) -> Option<&IndexedFrame> {
        self.frames.get(usize::try_from(index).ok()?)
    }

    /// The frame whose presentation timestamp is exactly `pts`.
    pub fn frame_at_pts(&self, pts: i64) -> Option<u64> {
        self.frames
            .binary_search_by_key(&pts, |f| f.pts)
            .ok()
            .map(|i| i as u64)
    }

    /// The last frame shown at or before `pts` (what a player displays at that time).
    pub fn frame_at_or_before_pts(&self, pts: i64) -> Option<u64> {
        let after = self.frames.partition_point(|f| f.pts <= pts);
        after.checked_sub(1).map(|i| i as u64)
    }

    /// The last keyframe at or before frame `index` in presentation order; `None` when the stream does
    /// not start with a keyframe and `index` precedes the first one (decode from the file's start).
    pub fn keyframe_at_or_before(&self, index: u64) -> Option<u64> {
        let after = self.keyframes.partition_point(|&k| k <= index);
        after
            .checked_sub(1)
            .and_then(|i| self.keyframes.get(i))
            .copied()
    }

    /// The keyframe closest to `index` (ties go to the earlier one).
    pub fn nearest_keyframe(&self, index: u64) -> Option<u64> {
        let after = self.keyframes.partition_point(|&k| k <= index);
        let before = after
            .checked_sub(1)
            .and_then(|i| self.keyframes.get(i))
            .copied();
        let next = self.keyframes.get(after).copied();
        match (before, next) {
            (Some(b), Some(n)) => Some(if index - b <= n - index { b } else { n }),
            (b, n) => b.or(n),
        }
    }

    /// Whether frame `index` is a keyframe.
    pub fn is_keyframe(&self, index: u64) -> bool {
        self.keyframes.binary_search(&index).is_ok()
    }

    /// Presentation time of a frame in seconds.
    pub fn seconds(&self, index: u64) -> Option<f64> {
        self.frame(index).map(|f| seconds(self.time_base, f.pts))
    }

    /// Whether the invariants hold: pts strictly increasing, keyframes ascending, in range and
    /// flagged. Indexes read from disk are checked, since the cache directory is just files.
    pub fn is_consistent(&self) -> bool {
        self.frames
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.pts < b.pts))
            && self
                .keyframes
                .windows(2)
                .all(|w| matches!(w, [a, b] if a < b))
            && self
                .keyframes
                .iter()
                .all(|&k| self.frame(k).is_some_and(|f| f.keyframe))
            && self.frames.iter().filter(|f| f.keyframe).count() == self.keyframes.len()
            && self.time_base.den() != 0
    }

    /// Longest distance between consecutive keyframes, in frames (the worst-case seek decode length).
    pub fn max_gop(&self) -> u64 {
        let mut prev = 0;
        let mut max = 0;
        for &k in self
            .keyframes
            .iter()
            .chain(std::iter::once(&self.frame_count()))
        {
            max = max.max(k.saturating_sub(prev));
            prev = k;
        }
        max
    }
}

fn build_without_hash(path: &Path) -> Result<VideoIndex> {
    let mut opened = open_input(path)?;
    let input = &mut opened.input;
    let Some(stream_index) = pick_video_stream(input) else {
        return Err(Error::NoVideoStream {
            streams: describe_streams(input),
            path: path.to_path_buf(),
        });
    };
    let info = crate::probe::video_info(input, stream_index, path)?;
    // Skip reading other streams' data: the demuxer still parses them but drops the payload.
    // SAFETY: the context is open; stream pointers stay valid while it is.
    unsafe {
        let ctx = input.as_mut_ptr();
        for i in 0..(*ctx).nb_streams as usize {
            let st = *(*ctx).streams.add(i);
            if i != stream_index {
                (*st).discard = ffi::AVDiscard::AVDISCARD_ALL;
            }
        }
    }

    let mut raw: Vec<IndexedFrame> = Vec::new();
    let mut missing_ts = 0u64;
    let mut damage: Option<(i64, Option<u64>, String)> = None; // (decode-order position, byte, message)
    let mut packet = Packet::empty();
    loop {
        match packet.read(input) {
            Ok(()) => {}
            Err(ffmpeg_next::Error::Eof) => break,
            Err(e) => {
                let pos = current_byte_offset(input);
                let msg = crate::log::take_last_error()
                    .map_or_else(|| e.to_string(), |m| format!("{e}: {m}"));
                damage = Some((i64::MAX, pos, msg));
                break;
            }
        }
        if packet.stream() != stream_index {
            continue;
        }
        // SAFETY: reading plain fields of a packet we own.
        let flags = unsafe { (*packet.as_ptr()).flags };
        #[allow(clippy::unnecessary_cast)]
        // the constant's integer type differs between FFmpeg bindings
        let discard = flags & ffi::AV_PKT_FLAG_DISCARD as i32 != 0;
        if discard {
            continue; // dropped by an edit list: decoded as a reference but never shown
        }
        let pos = u64::try_from(packet.position()).ok();
        if packet.is_corrupt() {
            if damage.is_none() {
                let ts = packet.pts().or(packet.dts()).unwrap_or(i64::MAX);
                damage = Some((ts, pos, "a packet is corrupt or cut short".into()));
            }
            continue;
        }
        let Some(pts) = packet.pts().or(packet.dts()) else {
            missing_ts += 1;
            continue;
        };
        raw.push(IndexedFrame {
            pts,
            dts: packet.dts(),
            pos,
            size: u32::try_from(packet.size()).unwrap_or(u32::MAX),
            keyframe: packet.is_key(),
        });
    }
    if raw.is_empty() && missing_ts > 0 {
        return Err(Error::NoTimestamps {
            path: path.to_path_buf(),
        });
    }
    raw.sort_by_key(|f| f.pts);
    let before = raw.len();
    raw.dedup_by_key(|f| f.pts);
    if raw.len() != before || missing_ts > 0 {
        tracing::warn!(
            duplicates = before - raw.len(),
            missing_ts,
            path = %path.display(),
            "some video packets have duplicate or missing timestamps and cannot be addressed"
        );
    }
    if raw.is_empty() && damage.is_none() {
        damage = Some((i64::MAX, Some(0), "no video packet could be read".into()));
    }
    let keyframes = raw
        .iter()
        .enumerate()
        .filter(|(_, f)| f.keyframe)
        .map(|(i, _)| i as u64)
        .collect();
    let damage = damage.map(|(ts, byte_offset, message)| Damage {
        from_frame: raw.partition_point(|f| f.pts < ts) as u64,
        byte_offset,
        message,
    });
    Ok(VideoIndex {
        format_version: INDEX_FORMAT_VERSION,
        content_sha256: String::new(),
        file_size: opened.file_size,
        stream_index,
        time_base: info.time_base,
        frames: raw,
        keyframes,
        damage,
    })
}

fn current_byte_offset(input: &mut ffmpeg_next::format::context::Input) -> Option<u64> {
    // SAFETY: `pb` is the open input's I/O context (null only for custom demuxers without one).
    unsafe {
        let pb = (*input.as_mut_ptr()).pb;
        if pb.is_null() {
            None
        } else {
            u64::try_from(ffi::avio_skip(pb, 0)).ok()
        }
    }
}

/// Streams the file once through SHA-256.
pub fn hash_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::from_io(e, path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::from_io(e, path))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex::encode(hasher.finalize()))
}

/// How [`IndexCache::load_or_build`] got its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOrigin {
    /// Read from the cache; the path's size and mtime were unchanged.
    Cache,
    /// The file changed on disk (or was copied) but its content hash matched a cached index.
    CacheAfterRehash,
    /// Built by demuxing the file.
    Built,
}

/// On-disk cache of [`VideoIndex`]es, keyed by content SHA-256.
///
/// Layout: `<dir>/v<version>/<sha256>.json` holds an index; `<dir>/v<version>/paths/<sha256 of the
/// path>.json` remembers the size, mtime and content hash last seen at a path. Cache failures are
/// logged and never stop a video from opening.
#[derive(Debug, Clone)]
pub struct IndexCache {
    dir: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct PathRecord {
    path: PathBuf,
    size: u64,
    mtime_ns: u128,
    content_sha256: String,
}

impl IndexCache {
    /// A cache rooted at `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        IndexCache { dir: dir.into() }
    }

    /// The per-user cache directory (`~/.cache/argus/video-index` on Linux), if the OS has one.
    pub fn user_default() -> Option<Self> {
        directories::ProjectDirs::from("", "", "argus")
            .map(|d| IndexCache::new(d.cache_dir().join("video-index")))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn versioned(&self) -> PathBuf {
        self.dir.join(format!("v{INDEX_FORMAT_VERSION}"))
    }

    fn index_path(&self, sha: &str) -> PathBuf {
        self.versioned().join(format!("{sha}.json"))
    }

    fn record_path(&self, canonical: &Path) -> PathBuf {
        let key = hex::encode(Sha256::digest(canonical.as_os_str().as_encoded_bytes()));
        self.versioned().join("paths").join(format!("{key}.json"))
    }

    /// Returns the index for `path`, from the cache when it is still valid, otherwise built (and stored).
    pub fn load_or_build(&self, path: &Path) -> Result<(VideoIndex, IndexOrigin)> {
        let canonical = std::fs::canonicalize(path).map_err(|e| Error::from_io(e, path))?;
        let meta = std::fs::metadata(&canonical).map_err(|e| Error::from_io(e, path))?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let record_path = self.record_path(&canonical);

        if let Some(record) = read_json::<PathRecord>(&record_path)
            && record.size == meta.len()
            && record.mtime_ns == mtime_ns
            && let Some(index) = self.load(&record.content_sha256)
            && index.file_size == meta.len()
        {
            return Ok((index, IndexOrigin::Cache));
        }

        // Hash first: a touched or copied file with known content needs no demux pass.
        let sha = crate::sequence::content_sha256(path)?;
        let (index, origin) = match self.load(&sha) {
            Some(index) => (index, IndexOrigin::CacheAfterRehash),
            None => {
                let mut index = build_without_hash(path)?;
                index.content_sha256 = sha.clone();
                if let Err(e) = write_json_atomic(&self.index_path(&sha), &index) {
                    tracing::warn!(error = %e, "could not store the video index; it will be rebuilt next time");
                }
                (index, IndexOrigin::Built)
            }
        };
        let record = PathRecord {
            path: canonical,
            size: meta.len(),
            mtime_ns,
            content_sha256: sha,
        };
        if let Err(e) = write_json_atomic(&record_path, &record) {
            tracing::warn!(error = %e, "could not store the video index path record");
        }
        Ok((index, origin))
    }

    /// The cached index for a content hash, if present and of the current format.
    pub fn load(&self, content_sha256: &str) -> Option<VideoIndex> {
        if content_sha256.len() != 64 || !content_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        read_json::<VideoIndex>(&self.index_path(content_sha256)).filter(|i| {
            i.format_version == INDEX_FORMAT_VERSION
                && i.content_sha256 == content_sha256
                && i.is_consistent()
        })
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "ignoring an unreadable index cache entry");
            None
        }
    }
}

fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let cache_err = |action, source| Error::IndexCache {
        action,
        source,
        path: path.to_path_buf(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| cache_err("creating the cache directory", e))?;
    let bytes = serde_json::to_vec(value)
        .map_err(|e| cache_err("serialising", std::io::Error::other(e)))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| cache_err("writing", e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        cache_err("renaming into place", e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_with_keys(n: u64, keys: &[u64]) -> VideoIndex {
        VideoIndex {
            format_version: INDEX_FORMAT_VERSION,
            content_sha256: String::new(),
            file_size: 0,
            stream_index: 0,
            time_base: Rational::new(1, 30).expect("valid"),
            frames: (0..n)
                .map(|i| IndexedFrame {
                    pts: i as i64 * 2,
                    dts: None,
                    pos: None,
                    size: 1,
                    keyframe: keys.contains(&i),
                })
                .collect(),
            keyframes: keys.to_vec(),
            damage: None,
        }
    }

    #[test]
    fn keyframe_lookup() {
        let idx = index_with_keys(30, &[0, 12, 24]);
        assert_eq!(idx.keyframe_at_or_before(0), Some(0));
        assert_eq!(idx.keyframe_at_or_before(11), Some(0));
        assert_eq!(idx.keyframe_at_or_before(12), Some(12));
        assert_eq!(idx.keyframe_at_or_before(29), Some(24));
        assert_eq!(idx.nearest_keyframe(17), Some(12));
        assert_eq!(idx.nearest_keyframe(19), Some(24));
        assert_eq!(idx.max_gop(), 12);
        let late = index_with_keys(10, &[3]);
        assert_eq!(late.keyframe_at_or_before(2), None);
    }

    #[test]
    fn consistency_check_rejects_tampered_indexes() {
        let good = index_with_keys(30, &[0, 12, 24]);
        assert!(good.is_consistent());
        let mut unsorted = good.clone();
        unsorted.keyframes = vec![12, 0, 24];
        assert!(!unsorted.is_consistent());
        let mut out_of_range = good.clone();
        out_of_range.keyframes.push(99);
        assert!(!out_of_range.is_consistent());
        let mut pts = good;
        pts.frames.swap(3, 4);
        assert!(!pts.is_consistent());
    }

    #[test]
    fn pts_lookup() {
        let idx = index_with_keys(5, &[0]);
        assert_eq!(idx.frame_at_pts(4), Some(2));
        assert_eq!(idx.frame_at_pts(5), None);
        assert_eq!(idx.frame_at_or_before_pts(5), Some(2));
        assert_eq!(idx.frame_at_or_before_pts(-1), None);
    }
}
