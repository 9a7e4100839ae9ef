//! What the app holds while it runs: the store, open video decoders, the
//! compositor and the SAM session. Commands borrow it through `State`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use argus_core::id::VideoId;
use argus_core::model::{Rotation, Video};
use argus_media::{FrameRequest, SourceOptions, VideoSource};
use argus_store::Store;
use parking_lot::Mutex;

use crate::error::{CommandError, CommandResult};
use crate::frames::Compositor;
use crate::sam::SamState;

/// Decoders kept open at once; the oldest is closed beyond this.
const MAX_OPEN_SOURCES: usize = 4;

/// The app's shared state. Cloning is cheap (shared handles), so blocking
/// work can take its own copy onto a worker thread.
#[derive(Clone)]
pub struct AppState {
    store: Arc<Store>,
    data_dir: PathBuf,
    sources: Arc<Mutex<Vec<(VideoId, Arc<Mutex<VideoSource>>)>>>,
    pub(crate) compositor: Arc<Mutex<Option<Compositor>>>,
    pub(crate) sam: Arc<Mutex<SamState>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("database", &self.store.path()).finish_non_exhaustive()
    }
}

impl AppState {
    /// Opens (creating if needed) the database `argus.db` in `data_dir`.
    pub async fn open(data_dir: &Path) -> CommandResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            CommandError::internal(format!("could not create the data folder ({e}): {}", data_dir.display()))
        })?;
        let store = Store::open(data_dir.join("argus.db")).await?;
        Ok(Self {
            store: Arc::new(store),
            data_dir: data_dir.to_path_buf(),
            sources: Arc::new(Mutex::new(Vec::new())),
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
        self.compositor.lock().as_ref().map_or_else(|| "not started yet".into(), |c| c.describe())
    }

    /// Runs blocking work (decoding, rendering, SAM) on the blocking pool with
    /// its own handle on the state.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&AppState) -> CommandResult<T> + Send + 'static,
    ) -> CommandResult<T> {
        let state = self.clone();
        tauri::async_runtime::spawn_blocking(move || work(&state)).await.map_err(|e| {
            CommandError::internal(format!("a background task failed: {e}"))
        })?
    }

    /// The open decoder of `video`, opening it on first use.
    fn source(&self, video: &Video) -> CommandResult<Arc<Mutex<VideoSource>>> {
        let mut sources = self.sources.lock();
        if let Some(pos) = sources.iter().position(|(id, _)| *id == video.id) {
            let entry = sources.remove(pos);
            let source = entry.1.clone();
            sources.push(entry);
            return Ok(source);
        }
        let path = video.local_path.as_deref().ok_or_else(|| {
            CommandError::not_found(format!("video '{}' has no local file on this machine; import it again", video.name))
        })?;
        let source = Arc::new(Mutex::new(VideoSource::open(Path::new(path), SourceOptions::default())?));
        if sources.len() >= MAX_OPEN_SOURCES {
            sources.remove(0);
        }
        sources.push((video.id, source.clone()));
        Ok(source)
    }

    /// Frame `n` of `video` as packed RGBA in display orientation. Blocking:
    /// call from a blocking task.
    pub fn frame_rgba(&self, video: &Video, n: u64) -> CommandResult<DisplayFrame> {
        video.check_frame(n)?;
        let source = self.source(video)?;
        let decoded = source.lock().frame(n, FrameRequest::RGBA)?;
        let rgba = decoded
            .to_rgba_packed()
            .ok_or_else(|| CommandError::internal("the decoder returned no RGBA pixels"))?;
        Ok(rotate_rgba(rgba, decoded.width, decoded.height, video.rotation))
    }
}

/// Packed RGBA pixels of one frame, as shown.
#[derive(Debug, Clone)]
pub struct DisplayFrame {
    pub rgba: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Rotates packed RGBA clockwise by the video's display rotation, so the frame
/// lines up with masks, which are in display pixels.
fn rotate_rgba(src: Vec<u8>, w: u32, h: u32, rotation: Rotation) -> DisplayFrame {
    if rotation == Rotation::R0 {
        return DisplayFrame { rgba: src, width: w, height: h };
    }
    let (w, h) = (w as usize, h as usize);
    let px = |x: usize, y: usize| -> [u8; 4] {
        let i = (y * w + x) * 4;
        src.get(i..i + 4).and_then(|s| s.try_into().ok()).unwrap_or([0; 4])
    };
    let (ow, oh) = if rotation.swaps_axes() { (h, w) } else { (w, h) };
    let mut out = vec![0u8; ow * oh * 4];
    for (i, chunk) in out.chunks_exact_mut(4).enumerate() {
        let (x, y) = (i % ow, i / ow);
        let (sx, sy) = match rotation {
            Rotation::R90 => (y, h - 1 - x),
            Rotation::R180 => (w - 1 - x, h - 1 - y),
            Rotation::R270 => (w - 1 - y, x),
            Rotation::R0 => (x, y),
        };
        chunk.copy_from_slice(&px(sx, sy));
    }
    DisplayFrame { rgba: out, width: ow as u32, height: oh as u32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_moves_pixels_clockwise() {
        // 2x1: red, green. Rotated 90 degrees clockwise it is 1x2 with red on top.
        let src = vec![255, 0, 0, 255, 0, 255, 0, 255];
        let r = rotate_rgba(src.clone(), 2, 1, Rotation::R90);
        assert_eq!((r.width, r.height, r.rgba.clone()), (1, 2, src.clone()));
        let r = rotate_rgba(src.clone(), 2, 1, Rotation::R270);
        assert_eq!((r.width, r.height), (1, 2));
        assert_eq!(r.rgba, vec![0, 255, 0, 255, 255, 0, 0, 255]);
        let r = rotate_rgba(src, 2, 1, Rotation::R180);
        assert_eq!(r.rgba, vec![0, 255, 0, 255, 255, 0, 0, 255]);
    }
}
