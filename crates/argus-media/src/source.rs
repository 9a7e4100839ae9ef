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
use crate::hw::{self, HwAccel, HwDevice};
use crate::index::{IndexCache, VideoIndex};
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
    /// After a seek to a keyframe, also drop key packets before it (the demuxer may land earlier).
    skip_before_pts: Option<i64>,
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

enum Decoded {
    Frame(u64),
    End,
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
        (decoder, hardware): (codec::decoder::Video, Option<HwDevice>),
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
            hardware,
            threads: options.threads,
            thumb_decoder: None,
            cache: Arc::new(parking_lot::Mutex::new(FrameCache::new(
                options.cache_bytes,
            ))),
            converter: Converter::new(),
            position: Some(0),
            need_key: true,
            skip_before_pts: None,
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
        // Decoded pictures can change size mid-stream; honour the request against the real size.
        let size = if (picture.width(), picture.height()) == (self.info.width, self.info.height) {
            size
        } else {
            (picture.width(), picture.height())
        };
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
        // Plans: continue or seek to the keyframe; if that lands past `n`, fall back to the file start.
        let mut plans: Vec<Option<Option<u64>>> = Vec::with_capacity(3);
        if can_continue {
            plans.push(None);
        } else {
            plans.push(Some(key));
        }
        if key.is_some() {
            plans.push(Some(None));
        }
        let mut last_err = None;
        for plan in plans {
            if let Some(target) = plan {
                self.seek(target)?;
            }
            let fresh = plan.is_some();
            let mut first = true;
            loop {
                if stop() {
                    return Err(Error::Cancelled);
                }
                match self.decode_next()? {
                    Decoded::Frame(i) if i == n => return Ok(()),
                    Decoded::Frame(i) if i > n => {
                        self.position = None;
                        last_err =
                            Some(self.undecodable(
                                n,
                                &format!("decoding went from before it to frame {i}"),
                            ));
                        if !(fresh && first) {
                            return Err(last_err.unwrap_or(Error::Cancelled));
                        }
                        break; // the seek landed too late: try the next plan
                    }
                    Decoded::Frame(_) => first = false,
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
                        self.hardware = None;
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

    fn undecodable(&self, n: u64, detail: &str) -> Error {
        Error::FrameUndecodable {
            index: n,
            damaged_from: self.index.damage.as_ref().map(|d| d.from_frame),
            detail: detail.to_owned(),
            path: self.path.clone(),
        }
    }

    /// Seeks the demuxer to the keyframe (`None`: the start of the file) and resets the decoder.
    fn seek(&mut self, keyframe: Option<u64>) -> Result<()> {
        self.stats.seeks += 1;
        let key_pts = keyframe.and_then(|k| self.index.frame(k)).map(|f| f.pts);
        // "Backward" lands on this keyframe or an earlier one (demuxers index dts or pts); packets
        // before the keyframe are then skipped without decoding.
        let ts = key_pts.unwrap_or(i64::MIN);
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
        self.skip_before_pts = key_pts;
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
                    if hw::is_hw_frame(&picture) {
                        match hw::download(&picture) {
                            Some(sw) => picture = sw,
                            None => return Ok(Decoded::HwFailed),
                        }
                    }
                    let ts = picture.pts().or_else(|| picture.timestamp());
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
                let early = matches!((self.skip_before_pts, packet.pts()), (Some(want), Some(pts)) if pts < want);
                if !packet.is_key() || early {
                    continue;
                }
                self.need_key = false;
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
        let target_pts = self.index.frame(k).map(|f| f.pts).unwrap_or_default();
        self.seek(Some(k))?;
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
            if packet.stream() != self.index.stream_index || !packet.is_key() {
                continue;
            }
            let pts = packet.pts().or(packet.dts());
            if pts.is_some_and(|p| p < target_pts) {
                continue; // the demuxer landed on an earlier keyframe
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

type OpenedDecoder = (codec::decoder::Video, Option<HwDevice>);

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
    Ok((input, info, decoder))
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
    let hardware = unsafe {
        let tb = stream.time_base();
        (*ctx.as_mut_ptr()).pkt_timebase = ffi::AVRational {
            num: tb.numerator(),
            den: tb.denominator(),
        };
        hw::attach(ctx.as_mut_ptr(), codec.as_ptr(), accel)?
    };
    match ctx.decoder().video() {
        Ok(decoder) => Ok((info, (), (decoder, hardware))),
        Err(ffmpeg_next::Error::DecoderNotFound) => Err(Error::UnsupportedCodec {
            codec: id.name().to_owned(),
            path: path.to_path_buf(),
        }),
        Err(e) if hardware.is_some() && !matches!(accel, HwAccel::Require(_)) => {
            tracing::warn!(error = %e, device = ?hardware, "the hardware decoder did not open; using software");
            open_decoder_on(input, path, stream_index, threads, HwAccel::Off)
        }
        Err(source) => Err(Error::Ffmpeg {
            action: "opening the video decoder",
            source,
            path: path.to_path_buf(),
        }),
    }
}
