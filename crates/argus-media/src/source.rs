//! [`VideoSource`]: frame-exact random access to one video.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ffmpeg_next::codec::{self, threading};
use ffmpeg_next::format::context::Input;
use ffmpeg_next::frame::Video as AvFrame;
use ffmpeg_next::{Packet, ffi};

use crate::cache::{self, FrameCache, SharedCache};
use crate::convert::Converter;
use crate::frame::{Frame, FrameRequest, OutputSize, PixelFormat};
use crate::hw::{self, HwAccel, HwChoice, HwDevice, Memory};
use crate::index::{IndexCache, IndexedFrame, VideoIndex};
use crate::probe::{VideoInfo, describe_streams, open_input, pick_video_stream, video_info};
use crate::{Error, Result};

/// How a [`VideoSource`] decodes and caches.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// Budget of the decoded-frame LRU in bytes (decoded pictures in the codec's own format, about
    /// 3 MiB per 1080p 8-bit frame). Default 256 MiB: more than one 60-frame 1080p GOP.
    pub cache_bytes: usize,
    /// Decoder threads; 0 lets FFmpeg pick (one per core). Frame threading is always on.
    pub threads: usize,
    /// Where the packet index is cached; `None` builds it in memory every time.
    pub index_cache: Option<IndexCache>,
    /// Hardware decoding preference; `Auto` falls back to software.
    pub hw_accel: HwAccel,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            cache_bytes: 256 << 20,
            threads: 0,
            index_cache: IndexCache::user_default(),
            hw_accel: HwAccel::Auto,
        }
    }
}

/// Counters for tests, benchmarks and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Demuxer seeks performed.
    pub seeks: u64,
    /// Pictures that came out of a decoder (main and thumbnail decoders).
    pub frames_decoded: u64,
    /// Requests answered from the decoded-frame cache.
    pub cache_hits: u64,
}

/// How [`VideoSource::timeline_strip`] chooses its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripSpacing {
    /// Evenly spaced over the video; each tile is the keyframe nearest to its slot, so nothing but
    /// keyframes is decoded.
    Even,
    /// Evenly chosen among the keyframes themselves.
    Keyframes,
}

/// One open video with frame-exact random access by presentation-order index.
///
/// `frame(n)` seeks to the keyframe at or before `n` (from the [`VideoIndex`]) and decodes forward,
/// identifying every decoded picture by its pts; requests just after the last decoded frame continue
/// the running decoder instead of seeking. Decoded pictures go to a byte-bounded LRU, so stepping
/// back inside a recently decoded GOP costs only a colour conversion.
pub struct VideoSource {
    path: PathBuf,
    info: VideoInfo,
    index: Arc<VideoIndex>,
    input: Input,
    decoder: codec::decoder::Video,
    hardware: Option<HwDevice>,
    threads: usize,
    thumb_decoder: Option<codec::decoder::Video>,
    cache: SharedCache,
    converter: Converter,
    /// Index the decoder will deliver next; `None` when a seek is needed first.
    position: Option<u64>,
    /// Drop packets until the first keyframe after a seek.
    need_key: bool,
    /// After a seek, the index entry of the keyframe to start at: packets before it are dropped
    /// undecoded (the demuxer may land earlier), and a later keyframe, or a packet at its pts that
    /// is not the indexed one, means the demuxer did not land where it should.
    want_key: Option<IndexedFrame>,
    /// Pts of the keyframe the running decode started at. Pictures shown before it (the leading
    /// pictures of an open GOP) reference pictures before the seek point and are dropped.
    floor_pts: Option<i64>,
    /// Seeks on this file need a lead-in of one GOP: a seek straight to a keyframe was seen to
    /// give its packet the wrong timestamps (the MPEG video parser after a program-stream seek).
    seek_lead_in: bool,
    input_eof: bool,
    eof_sent: bool,
    stats: DecodeStats,
}

impl std::fmt::Debug for VideoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoSource")
            .field("path", &self.path)
            .field("frames", &self.index.frame_count())
            .field("position", &self.position)
            .field("cached", &self.cache.lock().len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Where one attempt at decoding a frame starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Keep feeding the running decoder.
    Continue,
    /// Seek the demuxer to keyframe `from` (`key` or one before it), read on without decoding up
    /// to keyframe `key`, and decode from it.
    Seek { key: u64, from: u64 },
    /// Read from the file's start, demuxing only, up to keyframe `k`, and decode from it.
    ScanToKey(u64),
    /// Decode everything from the file's start.
    FromStart,
}

enum Decoded {
    Frame(u64),
    End,
    /// The seek did not bring the wanted keyframe: it landed after it, or the file ended first.
    KeyframeMissed,
    /// A hardware picture could not be copied to memory: switch to software and retry.
    HwFailed,
}

impl VideoSource {
    /// Opens a video: checks that it has a decodable video stream, then loads its index from
    /// `options.index_cache` (or builds it by demuxing).
    pub fn open(path: &Path, options: SourceOptions) -> Result<Self> {
        let (input, info, decoder) = open_decoder(path, options.threads, options.hw_accel)?;
        let index = match &options.index_cache {
            Some(cache) => cache.load_or_build(path)?.0,
            None => VideoIndex::build(path)?,
        };
        Self::assemble(path, input, info, decoder, Arc::new(index), options)
    }

    /// Opens a video with an index the caller already has (e.g. shared between several sources).
    pub fn open_with_index(
        path: &Path,
        index: Arc<VideoIndex>,
        options: SourceOptions,
    ) -> Result<Self> {
        let (input, info, decoder) = open_decoder(path, options.threads, options.hw_accel)?;
        Self::assemble(path, input, info, decoder, index, options)
    }

    fn assemble(
        path: &Path,
        input: Input,
        info: VideoInfo,
        (decoder, choice): OpenedDecoder,
        index: Arc<VideoIndex>,
        options: SourceOptions,
    ) -> Result<Self> {
        if index.stream_index != info.stream_index {
            return Err(Error::Corrupt {
                detail: "the cached index describes a different stream; delete the index cache"
                    .into(),
                path: path.to_path_buf(),
            });
        }
        if index.frames.is_empty() {
            let detail = index.damage.as_ref().map_or_else(
                || "the video stream has no frames".to_owned(),
                |d| d.message.clone(),
            );
            return Err(Error::Corrupt {
                detail,
                path: path.to_path_buf(),
            });
        }
        Ok(VideoSource {
            path: path.to_path_buf(),
            info,
            index,
            input,
            decoder,
            hardware: choice.device,
            threads: options.threads,
            thumb_decoder: None,
            cache: Arc::new(parking_lot::Mutex::new(FrameCache::new(
                options.cache_bytes,
            ))),
            converter: Converter::new(),
            position: Some(0),
            need_key: true,
            want_key: None,
            floor_pts: None,
            seek_lead_in: false,
            input_eof: false,
            eof_sent: false,
            stats: DecodeStats::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The hardware decoder in use, `None` for software decoding.
    pub fn hardware(&self) -> Option<HwDevice> {
        self.hardware
    }

    /// Header information about the decoded stream (size, codec, rotation, rates).
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// The exact frame list and keyframes.
    pub fn index(&self) -> &Arc<VideoIndex> {
        &self.index
    }

    /// Exact number of frames.
    pub fn frame_count(&self) -> u64 {
        self.index.frame_count()
    }

    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Indices of the frames currently in the decoded-frame cache, ascending.
    pub fn cached_frames(&self) -> Vec<u64> {
        self.cache.lock().indices()
    }

    /// Bytes held by the decoded-frame cache.
    pub fn cache_bytes_used(&self) -> usize {
        self.cache.lock().used_bytes()
    }

    /// Drops every cached frame (e.g. when the window is minimised).
    pub fn clear_cache(&mut self) {
        self.cache.lock().clear();
    }

    /// Exactly the `n`-th frame in presentation order, converted as requested.
    pub fn frame(&mut self, n: u64, request: FrameRequest) -> Result<Frame> {
        self.frame_with_stop(n, request, &|| false)
    }

    /// Like [`frame`](Self::frame), but reuses `out`'s pixel buffers (no allocation when the size and
    /// format match): the way to play or scrub without churning memory. On error `out` is untouched
    /// or emptied.
    pub fn frame_into(&mut self, n: u64, request: FrameRequest, out: &mut Frame) -> Result<()> {
        let recycle = std::mem::take(out);
        *out = self.frame_inner(n, request, &|| false, Some(recycle))?;
        Ok(())
    }

    pub(crate) fn frame_with_stop(
        &mut self,
        n: u64,
        request: FrameRequest,
        stop: &dyn Fn() -> bool,
    ) -> Result<Frame> {
        self.frame_inner(n, request, stop, None)
    }

    fn frame_inner(
        &mut self,
        n: u64,
        request: FrameRequest,
        stop: &dyn Fn() -> bool,
        recycle: Option<Frame>,
    ) -> Result<Frame> {
        let size = request.size.resolve(self.info.width, self.info.height)?;
        if self.cache.lock().contains(n) {
            self.stats.cache_hits += 1;
        } else {
            self.decode_into_cache(n, stop)?;
        }
        self.convert_cached(n, request.format, size, recycle)
    }

    fn convert_cached(
        &mut self,
        n: u64,
        format: PixelFormat,
        size: (u32, u32),
        recycle: Option<Frame>,
    ) -> Result<Frame> {
        let pts = self.index.frame(n).map(|f| f.pts).unwrap_or_default();
        let time_base = self.index.time_base;
        let picture = self.cache.lock().get(n).and_then(cache::share);
        let Some(picture) = picture else {
            return Err(self.undecodable(n, "the decoded frame was evicted before conversion"));
        };
        // The coded size can change mid-stream (joined recordings, adaptive streams). `size` was
        // resolved against the stream's declared size, and every frame is delivered at it: a
        // picture of another size is scaled, as the `ffmpeg` CLI does by default (`-autoscale`),
        // so callers get one size and annotations one coordinate space for the whole video.
        if (picture.width(), picture.height()) != (self.info.width, self.info.height) {
            tracing::trace!(
                frame = n,
                coded = ?(picture.width(), picture.height()),
                declared = ?(self.info.width, self.info.height),
                "scaling a picture whose coded size differs from the stream's"
            );
        }
        self.converter
            .convert(&picture, n, pts, time_base, format, size, recycle)
    }

    /// Whether frame `n` is in the decoded-frame cache.
    pub fn is_cached(&self, n: u64) -> bool {
        self.cache.lock().contains(n)
    }

    pub(crate) fn shared_cache(&self) -> SharedCache {
        Arc::clone(&self.cache)
    }

    /// Index of the frame the running decoder will produce next without seeking, if any.
    pub fn decoder_position(&self) -> Option<u64> {
        self.position
    }

    /// Makes sure frame `n` is in the cache, decoding forward or seeking as needed. `stop` is polled
    /// between decoded pictures; when it returns true the call ends with [`Error::Cancelled`].
    pub(crate) fn decode_into_cache(&mut self, n: u64, stop: &dyn Fn() -> bool) -> Result<()> {
        if n >= self.index.frame_count() {
            return Err(Error::FrameOutOfRange {
                index: n,
                frame_count: self.index.frame_count(),
            });
        }
        let key = self.index.keyframe_at_or_before(n);
        let can_continue = match self.position {
            Some(p) => p <= n && key.is_none_or(|k| k <= p),
            None => false,
        };
        let plans = self.plans(key, can_continue);
        let mut last_err = None;
        for plan in plans {
            let fresh = plan != Plan::Continue;
            if fresh {
                self.start(plan)?;
            }
            let mut first = true;
            loop {
                if stop() {
                    return Err(Error::Cancelled);
                }
                match self.decode_next()? {
                    Decoded::Frame(i) if i == n => return Ok(()),
                    Decoded::Frame(i) if i > n => {
                        self.position = None;
                        let err = self.undecodable(
                            n,
                            &format!("decoding went from an earlier frame straight to frame {i}"),
                        );
                        if !(fresh && first) {
                            return Err(err);
                        }
                        last_err = Some(err);
                        break; // the seek landed too late: try the next plan
                    }
                    Decoded::Frame(_) => first = false,
                    Decoded::KeyframeMissed => {
                        self.position = None;
                        if let Plan::Seek { key, from } = plan
                            && key == from
                        {
                            self.seek_lead_in = true;
                        }
                        tracing::debug!(
                            ?plan,
                            frame = n,
                            "the demuxer did not land on the keyframe; trying the next way"
                        );
                        last_err = Some(self.undecodable(
                            n,
                            "its keyframe could not be found again after seeking",
                        ));
                        break;
                    }
                    Decoded::HwFailed => {
                        tracing::warn!(device = ?self.hardware, "hardware decoding failed; continuing in software");
                        let (_, _, decoder) = open_decoder_on(
                            &self.input,
                            &self.path,
                            self.index.stream_index,
                            self.threads,
                            HwAccel::Off,
                        )?;
                        self.decoder = decoder.0;
                        self.hardware = decoder.1.device;
                        self.position = None;
                        return self.decode_into_cache(n, stop);
                    }
                    Decoded::End => {
                        // Damaged or truncated data: decoding again from the start would end the same way.
                        self.position = None;
                        return Err(self.undecodable(n, "the stream ended before it"));
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| self.undecodable(n, "no decoding plan reached it")))
    }

    /// The error for frame `n`. The damage starts where the index found it, or at `n` itself when
    /// demuxing found nothing wrong (the packets are there but do not decode).
    fn undecodable(&self, n: u64, detail: &str) -> Error {
        Error::FrameUndecodable {
            index: n,
            damaged_from: damaged_from(self.index.damage.as_ref().map(|d| d.from_frame), n),
            detail: detail.to_owned(),
            path: self.path.clone(),
        }
    }

    /// The ways to reach a frame whose keyframe is `key`, cheapest first. Each either reaches the
    /// frame or finds out that it cannot (then the next one is tried):
    /// continue the running decoder; seek to the keyframe; seek to the keyframe before it and
    /// read one GOP without decoding (some demuxers and parsers land late or get the first
    /// packet's timestamps wrong after a seek); read from the file's start without decoding up
    /// to the keyframe; decode everything from the start.
    fn plans(&self, key: Option<u64>, can_continue: bool) -> Vec<Plan> {
        let mut plans: Vec<Plan> = Vec::with_capacity(5);
        if can_continue {
            plans.push(Plan::Continue);
        }
        if let Some(k) = key {
            let before = k
                .checked_sub(1)
                .and_then(|b| self.index.keyframe_at_or_before(b));
            if !self.seek_lead_in || before.is_none() {
                plans.push(Plan::Seek { key: k, from: k });
            }
            if let Some(from) = before {
                plans.push(Plan::Seek { key: k, from });
            }
            plans.push(Plan::ScanToKey(k));
        }
        plans.push(Plan::FromStart);
        plans
    }

    /// Positions the demuxer for `plan` and resets the decoder.
    fn start(&mut self, plan: Plan) -> Result<()> {
        match plan {
            Plan::Continue => Ok(()),
            Plan::Seek { key, from } => {
                // Demuxers index dts (MPEG-TS, mp4) or pts (mkv); the smaller of the two lands on
                // this keyframe or an earlier one, never after it when the index is exact (with a
                // pts-indexed demuxer and B-frames, one GOP earlier: read, but not decoded).
                let ts = self
                    .index
                    .frame(from)
                    .map(|f| f.dts.map_or(f.pts, |d| d.min(f.pts)));
                self.seek(ts, self.index.frame(key).copied())
            }
            Plan::ScanToKey(key) => self.seek(None, self.index.frame(key).copied()),
            Plan::FromStart => self.seek(None, None),
        }
    }

    /// Seeks the demuxer to `ts` (`None`: the start of the file) and resets the decoder. With
    /// `want_key`, packets are then skipped, without decoding, up to that keyframe.
    fn seek(&mut self, ts: Option<i64>, want_key: Option<IndexedFrame>) -> Result<()> {
        self.stats.seeks += 1;
        // "Backward" lands on a keyframe at or before `ts`; packets before the wanted keyframe are
        // then skipped without decoding.
        let ts = ts.unwrap_or(i64::MIN);
        let stream = i32::try_from(self.index.stream_index).unwrap_or(0);
        // SAFETY: the input context is open; the stream index exists (checked at open).
        let ret = unsafe {
            ffi::avformat_seek_file(
                self.input.as_mut_ptr(),
                stream,
                i64::MIN,
                ts,
                ts,
                ffi::AVSEEK_FLAG_BACKWARD,
            )
        };
        if ret < 0 {
            // Some demuxers cannot seek; reopening reads from the start, which is always correct.
            tracing::debug!(ts, "seek failed, reopening the input");
            self.input = open_input(&self.path)?.input;
            discard_other_streams(&mut self.input, self.index.stream_index);
        }
        self.decoder.flush();
        self.need_key = true;
        self.want_key = want_key;
        self.floor_pts = want_key.map(|k| k.pts);
        self.input_eof = false;
        self.eof_sent = false;
        self.position = None;
        Ok(())
    }

    /// Decodes the next picture into the cache and returns its index.
    fn decode_next(&mut self) -> Result<Decoded> {
        let mut errors = 0u32;
        loop {
            let mut picture = AvFrame::empty();
            match self.decoder.receive_frame(&mut picture) {
                Ok(()) => {
                    self.stats.frames_decoded += 1;
                    match hw::memory(&picture) {
                        Memory::Software => {}
                        Memory::Hardware => match hw::download(&picture) {
                            Some(sw) if hw::memory(&sw) == Memory::Software => picture = sw,
                            _ => return Ok(Decoded::HwFailed),
                        },
                        // A hardware decoder may hand out surfaces of a kind this build does not
                        // know: software decoding gives plain pictures.
                        Memory::Unknown(_) if self.hardware.is_some() => {
                            return Ok(Decoded::HwFailed);
                        }
                        Memory::Unknown(format) => {
                            return Err(Error::UnsupportedPixelFormat {
                                format,
                                path: self.path.clone(),
                            });
                        }
                    }
                    let ts = picture.pts().or_else(|| picture.timestamp());
                    if let (Some(ts), Some(floor)) = (ts, self.floor_pts)
                        && ts < floor
                    {
                        tracing::debug!(
                            ts,
                            floor,
                            "dropped a picture shown before the keyframe decoding started at \
                             (it references pictures before the seek point)"
                        );
                        continue;
                    }
                    match ts.and_then(|ts| self.index.frame_at_pts(ts)) {
                        Some(i) => {
                            self.position = Some(i + 1);
                            self.cache.lock().insert(i, picture);
                            return Ok(Decoded::Frame(i));
                        }
                        None => {
                            tracing::debug!(
                                ?ts,
                                "decoded a picture that is not in the index; skipped"
                            );
                            continue;
                        }
                    }
                }
                Err(ffmpeg_next::Error::Eof) => return Ok(Decoded::End),
                Err(ffmpeg_next::Error::Other { errno }) if errno == ffi::EAGAIN => {}
                Err(e) => {
                    errors += 1;
                    tracing::warn!(error = %e, "the decoder reported an error; continuing with the next packet");
                    if errors > 64 {
                        return Ok(Decoded::End);
                    }
                }
            }
            // The decoder wants input.
            if self.input_eof {
                if self.need_key && self.want_key.is_some() {
                    return Ok(Decoded::KeyframeMissed);
                }
                if self.eof_sent {
                    return Ok(Decoded::End);
                }
                self.eof_sent = true;
                if let Err(e) = self.decoder.send_eof() {
                    tracing::debug!(error = %e, "send_eof failed");
                    return Ok(Decoded::End);
                }
                continue;
            }
            let mut packet = Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {}
                Err(ffmpeg_next::Error::Eof) => {
                    self.input_eof = true;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, path = %self.path.display(), "reading the video stopped early; the file is damaged");
                    self.input_eof = true;
                    continue;
                }
            }
            if packet.stream() != self.index.stream_index {
                continue;
            }
            if self.need_key {
                match key_search(self.want_key.as_ref(), &packet) {
                    KeySearch::Skip => continue,
                    KeySearch::Missed => return Ok(Decoded::KeyframeMissed),
                    KeySearch::Start => self.need_key = false,
                }
            }
            if let Err(e) = self.decoder.send_packet(&packet) {
                errors += 1;
                tracing::warn!(error = %e, "the decoder rejected a packet; skipping it");
                if errors > 64 {
                    return Ok(Decoded::End);
                }
            }
        }
    }

    /// A small picture of frame `near`'s nearest keyframe; only that keyframe is decoded.
    pub fn thumbnail(&mut self, near: u64, size: OutputSize) -> Result<Frame> {
        let count = self.index.frame_count();
        if near >= count {
            return Err(Error::FrameOutOfRange {
                index: near,
                frame_count: count,
            });
        }
        let key = self.index.nearest_keyframe(near).unwrap_or(near);
        self.keyframe_picture(key, size)
    }

    /// The poster frame: the keyframe nearest to 10% into the video (past black intros, still early).
    pub fn poster(&mut self, size: OutputSize) -> Result<Frame> {
        self.thumbnail(self.index.frame_count() / 10, size)
    }

    /// Up to `count` small frames for a timeline (never more than the video has frames), decoding
    /// only keyframes, each at most once.
    pub fn timeline_strip(
        &mut self,
        count: usize,
        spacing: StripSpacing,
        size: OutputSize,
    ) -> Result<Vec<Frame>> {
        let total = self.index.frame_count();
        let count_u = u64::try_from(count).unwrap_or(u64::MAX).min(total);
        let targets: Vec<u64> = match spacing {
            StripSpacing::Even => (0..count_u)
                .map(|i| {
                    let slot = (2 * i + 1) * total / (2 * count_u.max(1));
                    self.index
                        .nearest_keyframe(slot.min(total.saturating_sub(1)))
                        .unwrap_or(slot)
                })
                .collect(),
            StripSpacing::Keyframes => {
                let keys = &self.index.keyframes;
                let k = keys.len() as u64;
                if k <= count_u {
                    keys.clone()
                } else {
                    (0..count_u)
                        .filter_map(|i| keys.get(usize::try_from(i * k / count_u).ok()?).copied())
                        .collect()
                }
            }
        };
        let mut out: Vec<Frame> = Vec::with_capacity(targets.len());
        for t in targets {
            match out.iter().find(|f| f.index == t) {
                Some(done) => out.push(done.clone()),
                None => out.push(self.keyframe_picture(t, size)?),
            }
        }
        Ok(out)
    }

    /// Decodes just keyframe `k` with a separate single-picture decoder (send it, then drain).
    fn keyframe_picture(&mut self, k: u64, size: OutputSize) -> Result<Frame> {
        let dims = size.resolve(self.info.width, self.info.height)?;
        if self.cache.lock().contains(k) {
            self.stats.cache_hits += 1;
            return self.convert_cached(k, PixelFormat::Rgba, dims, None);
        }
        if !self.index.is_keyframe(k) {
            return self.frame(k, FrameRequest::rgba(size));
        }
        let want = self.index.frame(k).copied();
        let target_pts = want.map(|f| f.pts).unwrap_or_default();
        let plan = self
            .plans(Some(k), false)
            .into_iter()
            .next()
            .unwrap_or(Plan::Seek { key: k, from: k });
        self.start(plan)?;
        if self.thumb_decoder.is_none() {
            let (_, _, (dec, _)) = open_decoder_on(
                &self.input,
                &self.path,
                self.index.stream_index,
                1,
                HwAccel::Off,
            )?;
            self.thumb_decoder = Some(dec);
        }
        let mut found: Option<AvFrame> = None;
        let mut packet = Packet::empty();
        while found.is_none() {
            match packet.read(&mut self.input) {
                Ok(()) => {}
                Err(_) => break,
            }
            if packet.stream() != self.index.stream_index {
                continue;
            }
            match key_search(want.as_ref(), &packet) {
                KeySearch::Skip => continue,
                KeySearch::Missed => break, // decoded by `frame()` below
                KeySearch::Start => {}
            }
            let Some(dec) = self.thumb_decoder.as_mut() else {
                break;
            };
            let _ = dec.send_packet(&packet);
            let _ = dec.send_eof();
            let mut picture = AvFrame::empty();
            while dec.receive_frame(&mut picture).is_ok() {
                self.stats.frames_decoded += 1;
                if picture.pts().or_else(|| picture.timestamp()) == Some(target_pts) {
                    found = Some(std::mem::replace(&mut picture, AvFrame::empty()));
                }
            }
            dec.flush();
            break;
        }
        // The main decoder was reset by the seek; the next frame() seeks again.
        self.position = None;
        match found {
            Some(picture) => {
                self.cache.lock().insert(k, picture);
                self.convert_cached(k, PixelFormat::Rgba, dims, None)
            }
            None => self.frame(k, FrameRequest::rgba(size)),
        }
    }
}

/// The first frame known to be unusable when frame `n` does not decode: where demuxing found damage
/// (`index_damage`), or `n` itself when that is earlier or demuxing found nothing wrong.
fn damaged_from(index_damage: Option<u64>, n: u64) -> u64 {
    index_damage.map_or(n, |d| d.min(n))
}

/// What to do with a packet while looking for the keyframe a seek aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeySearch {
    /// Not there yet (or not a place decoding can start): drop the packet undecoded.
    Skip,
    /// Start decoding at this packet.
    Start,
    /// A later keyframe came first: the seek landed after the wanted one.
    Missed,
}

/// Decides, after a seek, whether `packet` is the keyframe `want` (`None`: any keyframe).
///
/// The packet at the wanted pts is taken whatever its key flag (the index already knows it is a
/// keyframe, and after a seek the MPEG video parser flags the picture after the I-picture), but
/// only if its size is the indexed one: right after a program-stream seek that parser emits the
/// sequence header alone with the I-picture's timestamps and gives the picture itself the next
/// picture's, which would put every decoded picture under the wrong frame number.
fn key_search(want: Option<&IndexedFrame>, packet: &Packet) -> KeySearch {
    let size = u32::try_from(packet.size()).unwrap_or(u32::MAX);
    key_search_raw(want, packet.pts(), size, packet.is_key())
}

fn key_search_raw(
    want: Option<&IndexedFrame>,
    pts: Option<i64>,
    size: u32,
    is_key: bool,
) -> KeySearch {
    match (want, pts) {
        (Some(want), Some(pts)) if pts == want.pts && size == want.size => KeySearch::Start,
        (Some(want), Some(pts)) if pts == want.pts => KeySearch::Missed,
        (Some(want), Some(pts)) if pts > want.pts && is_key => KeySearch::Missed,
        (Some(_), Some(_)) => KeySearch::Skip,
        _ if is_key => KeySearch::Start,
        _ => KeySearch::Skip,
    }
}

fn discard_other_streams(input: &mut Input, keep: usize) {
    // SAFETY: the context is open; stream pointers are valid while it is.
    unsafe {
        let ctx = input.as_mut_ptr();
        for i in 0..(*ctx).nb_streams as usize {
            let st = *(*ctx).streams.add(i);
            (*st).discard = if i == keep {
                ffi::AVDiscard::AVDISCARD_DEFAULT
            } else {
                ffi::AVDiscard::AVDISCARD_ALL
            };
        }
    }
}

type OpenedDecoder = (codec::decoder::Video, HwChoice);

/// Opens the input and a frame-threaded decoder for its best video stream.
fn open_decoder(
    path: &Path,
    threads: usize,
    accel: HwAccel,
) -> Result<(Input, VideoInfo, OpenedDecoder)> {
    let opened = open_input(path)?;
    let mut input = opened.input;
    let Some(stream_index) = pick_video_stream(&input) else {
        return Err(Error::NoVideoStream {
            streams: describe_streams(&input),
            path: path.to_path_buf(),
        });
    };
    discard_other_streams(&mut input, stream_index);
    let (info, _, decoder) = open_decoder_on(&input, path, stream_index, threads, accel)?;
    announce_decoder(&info.codec, &decoder.1);
    Ok((input, info, decoder))
}

/// Says at info level which decoder is used and why, once per codec and outcome in this process
/// (every later open with the same outcome says it at debug level).
fn announce_decoder(codec: &str, choice: &HwChoice) {
    static SAID: parking_lot::Mutex<Vec<String>> = parking_lot::Mutex::new(Vec::new());
    let what = choice.describe();
    let key = format!("{codec}: {what}");
    let first = {
        let mut said = SAID.lock();
        let first = !said.contains(&key);
        if first && said.len() < 256 {
            said.push(key);
        }
        first
    };
    if first {
        tracing::info!(codec, "video decoding: {what}");
    } else {
        tracing::debug!(codec, "video decoding: {what}");
    }
}

/// `threads == 1` gives a single-threaded decoder (no frame delay), used for one-picture decodes.
/// A hardware decoder that fails to open is replaced by a software one (unless it was required).
fn open_decoder_on(
    input: &Input,
    path: &Path,
    stream_index: usize,
    threads: usize,
    accel: HwAccel,
) -> Result<(VideoInfo, (), OpenedDecoder)> {
    let info = video_info(input, stream_index, path)?;
    let stream = input
        .stream(stream_index)
        .ok_or_else(|| Error::NoVideoStream {
            streams: describe_streams(input),
            path: path.to_path_buf(),
        })?;
    let par = stream.parameters();
    let id = par.id();
    let Some(codec) = codec::decoder::find(id) else {
        return Err(Error::UnsupportedCodec {
            codec: id.name().to_owned(),
            path: path.to_path_buf(),
        });
    };
    let mut ctx = codec::Context::from_parameters(par.clone()).map_err(|source| Error::Ffmpeg {
        action: "reading the codec parameters",
        source,
        path: path.to_path_buf(),
    })?;
    if threads != 1 {
        ctx.set_threading(threading::Config {
            kind: threading::Type::Frame,
            count: threads,
            ..Default::default()
        });
    }
    // SAFETY: setting fields of a not-yet-opened codec context we own.
    let choice = unsafe {
        let tb = stream.time_base();
        (*ctx.as_mut_ptr()).pkt_timebase = ffi::AVRational {
            num: tb.numerator(),
            den: tb.denominator(),
        };
        hw::attach(ctx.as_mut_ptr(), codec.as_ptr(), accel)?
    };
    let hardware = choice.device;
    match ctx.decoder().video() {
        Ok(decoder) => Ok((info, (), (decoder, choice))),
        Err(ffmpeg_next::Error::DecoderNotFound) => Err(Error::UnsupportedCodec {
            codec: id.name().to_owned(),
            path: path.to_path_buf(),
        }),
        Err(e) if hardware.is_some() && !matches!(accel, HwAccel::Require(_)) => {
            tracing::warn!(error = %e, device = ?hardware, "the hardware decoder did not open; using software");
            let (info, (), (decoder, _)) =
                open_decoder_on(input, path, stream_index, threads, HwAccel::Off)?;
            let mut reasons = choice.reasons;
            reasons.push(format!("{hardware:?}: the hardware decoder did not open ({e})"));
            Ok((info, (), (decoder, HwChoice { device: None, reasons })))
        }
        Err(source) => Err(Error::Ffmpeg {
            action: "opening the video decoder",
            source,
            path: path.to_path_buf(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::{IndexedFrame, KeySearch, damaged_from, key_search_raw};

    #[test]
    fn an_undecodable_frame_always_names_where_the_damage_starts() {
        // Demuxing found nothing wrong: the damage starts at the frame itself.
        assert_eq!(damaged_from(None, 46), 46);
        // Demuxing found damage earlier: that is where it starts.
        assert_eq!(damaged_from(Some(30), 46), 30);
        // Damage found later by demuxing, but this frame already fails.
        assert_eq!(damaged_from(Some(50), 46), 46);
        let e = crate::Error::FrameUndecodable {
            index: 46,
            damaged_from: damaged_from(None, 46),
            detail: "the stream ended before it".into(),
            path: "/v.ts".into(),
        };
        let text = e.to_string();
        assert!(text.contains("damaged from frame 46 on"), "{text}");
        assert!(!text.contains('?'), "{text}");
    }

    #[test]
    fn the_wanted_keyframe_is_found_by_pts_and_size_not_by_flag() {
        let want = IndexedFrame {
            pts: 100,
            dts: Some(94),
            pos: Some(4096),
            size: 2405,
            keyframe: true,
        };
        let w = Some(&want);
        // Earlier packets, keyframes or not, are skipped.
        assert_eq!(key_search_raw(w, Some(90), 700, true), KeySearch::Skip);
        assert_eq!(key_search_raw(w, Some(90), 700, false), KeySearch::Skip);
        // The wanted packet starts decoding even when the demuxer did not flag it after the seek.
        assert_eq!(key_search_raw(w, Some(100), 2405, false), KeySearch::Start);
        assert_eq!(key_search_raw(w, Some(100), 2405, true), KeySearch::Start);
        // Another packet carrying its timestamps (a header split off by the parser) is a miss.
        assert_eq!(key_search_raw(w, Some(100), 96, false), KeySearch::Missed);
        // A later non-key packet (e.g. an open-GOP leading picture) is skipped, a later keyframe
        // means the seek overshot.
        assert_eq!(key_search_raw(w, Some(95), 700, false), KeySearch::Skip);
        assert_eq!(key_search_raw(w, Some(110), 700, false), KeySearch::Skip);
        assert_eq!(key_search_raw(w, Some(110), 700, true), KeySearch::Missed);
        // No target: the first keyframe.
        assert_eq!(key_search_raw(None, Some(5), 1, false), KeySearch::Skip);
        assert_eq!(key_search_raw(None, Some(5), 1, true), KeySearch::Start);
        assert_eq!(key_search_raw(None, None, 1, true), KeySearch::Start);
    }
}
