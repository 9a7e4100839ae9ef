//! The open videos: one owner per video, holding its file and index, the
//! decoder shared by everything but the frame view, and the frame view's
//! decode-ahead decoder.
//!
//! Locks here are held for bookkeeping only. The list of open videos is
//! locked just long enough to find or insert an entry; opening a video
//! (reading its index from the cache import wrote, or indexing the file) runs
//! under that video's own lock, so a frame of one video never waits for
//! another video to open, and decoders that are closed are dropped after the
//! locks are released.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use argus_core::id::VideoId;
use argus_core::model::Video;
use argus_media::{
    Frame, FramePrefetcher, FrameRequest, IndexCache, IndexOrigin, OutputSize, SourceOptions,
    VideoIndex, VideoSource,
};
use parking_lot::Mutex;

use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::hooks::Hooks;

/// Videos kept open at once; the least recently used is closed beyond this.
const MAX_OPEN_VIDEOS: usize = 4;

/// Frame-view decoders kept at once (each decodes ahead on its own thread).
const MAX_VIEW_DECODERS: usize = 2;

/// The open videos of a workspace.
pub struct Videos {
    /// Where import cached each video's index; `None` indexes in memory.
    index_cache: Option<IndexCache>,
    /// Most recently used last.
    open: Mutex<Vec<Arc<OpenVideo>>>,
    /// The frame view's decoders, most recently started last.
    views: Mutex<Vec<(VideoId, Arc<FramePrefetcher>)>>,
    hooks: Arc<Hooks>,
}

impl std::fmt::Debug for Videos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Videos")
            .field("index_cache", &self.index_cache.as_ref().map(IndexCache::dir))
            .field("open", &self.open.lock().iter().map(|v| v.id).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One open video.
struct OpenVideo {
    id: VideoId,
    /// The file and its index, set once by the first request that opens it.
    recipe: OnceLock<DecoderRecipe>,
    /// Held while the file is being opened, so it is opened once.
    opening: Mutex<()>,
    /// The shared decoder (SAM's frames, posters), opened on first use.
    shared: Mutex<Option<VideoSource>>,
}

impl Videos {
    /// Open videos whose indexes are read from (and written to) `index_cache`.
    pub fn new(index_cache: Option<IndexCache>) -> Self {
        Self::with_hooks(index_cache, Arc::new(Hooks::default()))
    }

    pub(crate) fn with_hooks(index_cache: Option<IndexCache>, hooks: Arc<Hooks>) -> Self {
        Self {
            index_cache,
            open: Mutex::new(Vec::new()),
            views: Mutex::new(Vec::new()),
            hooks,
        }
    }

    /// The cache the decoders read indexes from.
    pub fn index_cache(&self) -> Option<&IndexCache> {
        self.index_cache.as_ref()
    }

    /// The entry of `video`, created (not yet opened) on first use.
    fn entry(&self, video: &Video) -> Arc<OpenVideo> {
        let (entry, closed) = {
            let mut open = self.open.lock();
            if let Some(pos) = open.iter().position(|v| v.id == video.id) {
                let entry = open.remove(pos);
                open.push(entry.clone());
                return entry;
            }
            let entry = Arc::new(OpenVideo {
                id: video.id,
                recipe: OnceLock::new(),
                opening: Mutex::new(()),
                shared: Mutex::new(None),
            });
            let closed = (open.len() >= MAX_OPEN_VIDEOS).then(|| open.remove(0));
            open.push(entry.clone());
            (entry, closed)
        };
        // Closing a decoder happens here, with no lock held.
        drop(closed);
        entry
    }

    /// The file and index of `video`, opening it on first use (under that
    /// video's own lock only). Blocking.
    pub fn recipe(&self, video: &Video) -> CommandResult<DecoderRecipe> {
        self.recipe_of(&self.entry(video), video)
    }

    /// [`Videos::recipe`] for the entry the caller already holds.
    fn recipe_of(&self, entry: &OpenVideo, video: &Video) -> CommandResult<DecoderRecipe> {
        if let Some(r) = entry.recipe.get() {
            return Ok(r.clone());
        }
        let _opening = entry.opening.lock();
        if let Some(r) = entry.recipe.get() {
            return Ok(r.clone());
        }
        self.hooks.opening(video);
        let recipe = self.open_file(video)?;
        Ok(entry.recipe.get_or_init(|| recipe).clone())
    }

    fn open_file(&self, video: &Video) -> CommandResult<DecoderRecipe> {
        let path = video.local_path.as_deref().ok_or_else(|| {
            CommandError::not_found(format!(
                "video '{}' has no local file on this machine; import it again",
                video.name
            ))
        })?;
        let path = Path::new(path);
        let (index, origin) = match &self.index_cache {
            Some(cache) => cache.load_or_build(path)?,
            None => (VideoIndex::build(path)?, IndexOrigin::Built),
        };
        if !video.sha256.is_empty() && index.content_sha256 != video.sha256 {
            return Err(CommandError::new(
                ErrorKind::Conflict,
                format!(
                    "the file {} is no longer the video '{}' that was imported (its content changed), so its frames would not match the annotations; put the original file back, or import the new one as another video",
                    path.display(),
                    video.name
                ),
            ));
        }
        Ok(DecoderRecipe {
            path: path.to_path_buf(),
            index: Arc::new(index),
            origin,
        })
    }

    /// Frame `n` of `video` as packed RGBA in display orientation, at full
    /// size, from the frame view's decoder (which has usually just decoded
    /// it to show it). Blocking.
    pub fn frame_rgba(&self, video: &Video, n: u64) -> CommandResult<DisplayFrame> {
        self.frame_for(video, n, video.display_size(), true)
    }

    /// Frame `n` scaled by the decoder to `size` display pixels. Blocking.
    ///
    /// With `ahead` (the frame view stepping through the video) it comes from
    /// the view's decode-ahead decoder, which usually has the next frame
    /// decoded already. When another view request took that decoder over
    /// mid-decode (requests are latest-wins there), or without `ahead`, the
    /// shared decoder decodes it, so every request is answered.
    pub fn frame_for(
        &self,
        video: &Video,
        n: u64,
        size: (u32, u32),
        ahead: bool,
    ) -> CommandResult<DisplayFrame> {
        video.check_frame(n)?;
        let request = sized_request(video, size);
        if ahead {
            match self.view_decoder(video)?.frame(n, request) {
                Ok(frame) => return display(video, frame),
                Err(argus_media::Error::Cancelled) => {
                    tracing::debug!(
                        frame = n,
                        "view decoder busy with a newer frame; decoding here"
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
        let entry = self.entry(video);
        let recipe = self.recipe_of(&entry, video)?;
        let mut shared = entry.shared.lock();
        let source = match &mut *shared {
            Some(s) => s,
            None => shared.insert(recipe.open()?),
        };
        let decoded = source.frame(n, request)?;
        drop(shared);
        display(video, decoded)
    }

    /// The frame view's decoder of `video`, started on first use.
    fn view_decoder(&self, video: &Video) -> CommandResult<Arc<FramePrefetcher>> {
        if let Some((_, d)) = self.views.lock().iter().find(|(id, _)| *id == video.id) {
            return Ok(d.clone());
        }
        let decoder = Arc::new(FramePrefetcher::spawn(self.recipe(video)?.open()?));
        let closed = {
            let mut views = self.views.lock();
            // Another request may have started one meanwhile: keep the first.
            if let Some((_, d)) = views.iter().find(|(id, _)| *id == video.id) {
                return Ok(d.clone());
            }
            let closed = (views.len() >= MAX_VIEW_DECODERS).then(|| views.remove(0));
            views.push((video.id, decoder.clone()));
            closed
        };
        drop(closed);
        Ok(decoder)
    }
}

/// A decoder request for `size` display pixels (the decoder works in coded
/// orientation).
fn sized_request(video: &Video, (width, height): (u32, u32)) -> FrameRequest {
    if (width, height) == video.display_size() {
        return FrameRequest::RGBA;
    }
    let (width, height) = if video.rotation.swaps_axes() {
        (height, width)
    } else {
        (width, height)
    };
    FrameRequest::rgba(OutputSize::Exact { width, height })
}

/// A decoded frame as packed RGBA in display orientation.
pub(crate) fn display(video: &Video, decoded: Frame) -> CommandResult<DisplayFrame> {
    let rgba = decoded
        .to_rgba_packed()
        .ok_or_else(|| CommandError::internal("the decoder returned no RGBA pixels"))?;
    let (rgba, width, height) =
        argus_media::rotate_rgba(rgba, decoded.width, decoded.height, video.rotation);
    Ok(DisplayFrame {
        rgba,
        width,
        height,
    })
}

/// Packed RGBA pixels of one frame, as shown.
#[derive(Debug, Clone)]
pub struct DisplayFrame {
    pub rgba: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// A video file and its index, to open a decoder of its own from (for work
/// that must not move the shared decoder around, on the thread that does it,
/// whose priority the decoder's threads then inherit).
#[derive(Debug, Clone)]
pub struct DecoderRecipe {
    path: PathBuf,
    index: Arc<VideoIndex>,
    origin: IndexOrigin,
}

impl DecoderRecipe {
    /// Where the index came from: the cache import wrote, or the file.
    pub fn origin(&self) -> IndexOrigin {
        self.origin
    }

    pub fn open(&self) -> CommandResult<VideoSource> {
        self.open_with_cache(SourceOptions::default().cache_bytes)
    }

    /// [`DecoderRecipe::open`] with a decoded-frame cache of `cache_bytes`
    /// (a reader that visits each frame once, in order, needs little).
    pub fn open_with_cache(&self, cache_bytes: usize) -> CommandResult<VideoSource> {
        Ok(VideoSource::open_with_index(
            &self.path,
            self.index.clone(),
            SourceOptions {
                // The index is given: no cache is read.
                index_cache: None,
                cache_bytes,
                ..SourceOptions::default()
            },
        )?)
    }
}
