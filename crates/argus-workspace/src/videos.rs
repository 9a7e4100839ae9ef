//! What the app holds while it runs: the store, open video decoders, the
//! compositor and the SAM session. Commands borrow it through `State`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use argus_core::id::VideoId;
use argus_core::model::Video;
use argus_media::{Frame, FramePrefetcher, FrameRequest, OutputSize, SourceOptions, VideoSource};
use argus_store::Store;
use parking_lot::Mutex;

use crate::error::{CommandError, CommandResult};
use crate::frames::Compositor;
use crate::sam::SamState;

/// Decoders kept open at once; the oldest is closed beyond this.
const MAX_OPEN_SOURCES: usize = 4;

/// Frame-view decoders kept at once (each decodes ahead on its own thread).
const MAX_VIEW_DECODERS: usize = 2;

/// The frame view's decode-ahead decoder of one video.
type ViewDecoder = Arc<FramePrefetcher>;

/// One open decoder, shared by everything but the frame view (SAM, posters'
/// fallback, exports).
type SharedSource = Arc<Mutex<VideoSource>>;

/// The app's shared state. Cloning is cheap (shared handles), so blocking
/// work can take its own copy onto a worker thread.
#[derive(Clone)]
pub struct AppState {
    store: Arc<Store>,
    data_dir: PathBuf,
    sources: Arc<Mutex<Vec<(VideoId, SharedSource)>>>,
    /// The frame view's decoders: they decode ahead in the direction the
    /// user steps, so the next frame is usually ready before it is asked for.
    views: Arc<Mutex<Vec<(VideoId, ViewDecoder)>>>,
    pub(crate) compositor: Arc<Mutex<Option<Compositor>>>,
    pub(crate) sam: Arc<Mutex<SamState>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("database", &self.store.path())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Opens (creating if needed) the database `argus.db` in `data_dir`.
    pub async fn open(data_dir: &Path) -> CommandResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            CommandError::internal(format!(
                "could not create the data folder ({e}): {}",
                data_dir.display()
            ))
        })?;
        let store = Store::open(data_dir.join("argus.db")).await?;
        Ok(Self {
            store: Arc::new(store),
            data_dir: data_dir.to_path_buf(),
            sources: Arc::new(Mutex::new(Vec::new())),
            views: Arc::new(Mutex::new(Vec::new())),
            compositor: Arc::new(Mutex::new(None)),
            sam: Arc::new(Mutex::new(SamState::default())),
        })
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Which compositor draws frames ("not started yet" before the first frame).
    pub fn compositor_description(&self) -> String {
        self.compositor
            .lock()
            .as_ref()
            .map_or_else(|| "not started yet".into(), |c| c.describe())
    }

    /// Runs blocking work (decoding, rendering, SAM) on the blocking pool with
    /// its own handle on the state.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&AppState) -> CommandResult<T> + Send + 'static,
    ) -> CommandResult<T> {
        let state = self.clone();
        tauri::async_runtime::spawn_blocking(move || work(&state))
            .await
            .map_err(|e| CommandError::internal(format!("a background task failed: {e}")))?
    }

    /// The open decoder of `video`, opening it on first use.
    fn source(&self, video: &Video) -> CommandResult<SharedSource> {
        let mut sources = self.sources.lock();
        if let Some(pos) = sources.iter().position(|(id, _)| *id == video.id) {
            let entry = sources.remove(pos);
            let source = entry.1.clone();
            sources.push(entry);
            return Ok(source);
        }
        let path = video.local_path.as_deref().ok_or_else(|| {
            CommandError::not_found(format!(
                "video '{}' has no local file on this machine; import it again",
                video.name
            ))
        })?;
        let source = Arc::new(Mutex::new(VideoSource::open(
            Path::new(path),
            SourceOptions::default(),
        )?));
        if sources.len() >= MAX_OPEN_SOURCES {
            sources.remove(0);
        }
        sources.push((video.id, source.clone()));
        Ok(source)
    }

    /// Frame `n` of `video` as packed RGBA in display orientation. Blocking:
    /// call from a blocking task.
    ///
    /// It comes from the frame view's decoder, which has usually just decoded
    /// the frame to show it (only the colour conversion is left; the shared
    /// decoder would seek back to the keyframe and decode up to it again).
    pub fn frame_rgba(&self, video: &Video, n: u64) -> CommandResult<DisplayFrame> {
        self.frame_for(video, n, video.display_size(), true)
    }

    /// Frame `n` scaled by the decoder to `size` display pixels. With
    /// `ahead` (the frame view stepping through the video) it comes from the
    /// view's decode-ahead decoder, which usually has the next frame decoded
    /// already (only the colour conversion and scaling are left). When
    /// another view request took that decoder over mid-decode (requests are
    /// latest-wins there), or without `ahead`, the shared decoder decodes it,
    /// so every request is answered.
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
        self.decode(video, n, request)
    }

    /// A decoder of its own for `video` (for work that must not move the
    /// shared decoder around), opened with the shared decoder's index so the
    /// file is not indexed again.
    pub fn extra_decoder(&self, video: &Video) -> CommandResult<VideoSource> {
        self.decoder_recipe(video)?.open()
    }

    /// What [`AppState::extra_decoder`] opens, to open it later on another
    /// thread (whose priority the decoder's threads then inherit).
    pub fn decoder_recipe(&self, video: &Video) -> CommandResult<DecoderRecipe> {
        let shared = self.source(video)?;
        let s = shared.lock();
        Ok(DecoderRecipe {
            path: s.path().to_path_buf(),
            index: s.index().clone(),
        })
    }

    /// The frame view's decoder of `video`, started on first use with the
    /// shared decoder's index.
    fn view_decoder(&self, video: &Video) -> CommandResult<Arc<FramePrefetcher>> {
        if let Some((_, d)) = self.views.lock().iter().find(|(id, _)| *id == video.id) {
            return Ok(d.clone());
        }
        let decoder = Arc::new(FramePrefetcher::spawn(self.extra_decoder(video)?));
        let mut views = self.views.lock();
        // Another request may have opened one meanwhile: keep the first.
        if let Some((_, d)) = views.iter().find(|(id, _)| *id == video.id) {
            return Ok(d.clone());
        }
        if views.len() >= MAX_VIEW_DECODERS {
            views.remove(0);
        }
        views.push((video.id, decoder.clone()));
        Ok(decoder)
    }

    fn decode(&self, video: &Video, n: u64, request: FrameRequest) -> CommandResult<DisplayFrame> {
        video.check_frame(n)?;
        let source = self.source(video)?;
        let decoded = source.lock().frame(n, request)?;
        display(video, decoded)
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
fn display(video: &Video, decoded: Frame) -> CommandResult<DisplayFrame> {
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

/// A video file and its index, to open a decoder of its own from.
#[derive(Debug, Clone)]
pub struct DecoderRecipe {
    path: PathBuf,
    index: Arc<argus_media::VideoIndex>,
}

impl DecoderRecipe {
    pub fn open(&self) -> CommandResult<VideoSource> {
        Ok(VideoSource::open_with_index(
            &self.path,
            self.index.clone(),
            SourceOptions::default(),
        )?)
    }
}
