//! The application layer of Argus: what the desktop app does, without the
//! desktop. The Tauri shell (`src-tauri`) turns each IPC command into one
//! call here, and the CLI uses the same pieces; neither owns the logic.
//!
//! A [`Workspace`] is one data folder (`argus.db` and its caches) and holds:
//!
//! - the store ([`argus_store::Store`]): projects, videos, tracks, undo;
//! - the open videos ([`Videos`]): one owner per video with its file and
//!   index (read from the cache import wrote), its shared decoder and the
//!   frame view's decode-ahead decoder;
//! - the SAM session ([`SamSession`]): model, embedding cache, pre-encoder
//!   and the pending prediction shown as the live preview;
//! - the compositor ([`frames::Compositor`]) that draws masks and shapes
//!   over frames.
//!
//! Edits ([`edit`]) and review steps ([`review`]: open, approve, reject,
//! reopen, comment) become one store command each, so one undo step.
//! Payloads are the display-ready types of [`dto`]; errors are one typed
//! [`CommandError`].
//!
//! Nothing long runs under a lock another request waits on: opening a video
//! runs under that video's own lock, SAM encodes and model loads outside the
//! session's lock, and a replaced pre-encoder is dropped on its own thread.
//! [`Hooks`] let the tests hold that work on a barrier to show it.

pub mod account;
pub mod conflicts;
pub mod dto;
pub mod edit;
pub mod error;
pub mod export;
pub mod frames;
pub mod hooks;
pub mod import;
pub mod labels;
pub mod members;
pub mod projects;
pub mod review;
pub mod sam;
pub mod sample;
pub mod track;
pub mod videos;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use argus_media::IndexCache;
use argus_render::{MaskScene, Overlay, RgbaImage};
use argus_sam::download::ModelStore;
use argus_store::Store;
use parking_lot::Mutex;

pub use error::{CommandError, CommandResult, ErrorKind};
pub use frames::{Compositor, FrameQuery};
pub use hooks::Hooks;
pub use sam::SamSession;
pub use videos::{DecoderRecipe, DisplayFrame, Videos};

/// What [`Workspace::runtime_report`] finds (see [`dto::Diagnostics`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeReport {
    pub ffmpeg: String,
    pub onnx_runtime: String,
    pub sam: String,
    pub adapter: String,
    pub renderer: String,
    pub database: String,
}

/// One data folder's application state. Cloning is cheap (shared handles),
/// so blocking work takes its own copy onto a worker thread.
#[derive(Clone)]
pub struct Workspace {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    data_dir: PathBuf,
    videos: Videos,
    sam: SamSession,
    compositor: Mutex<Option<Compositor>>,
    hooks: Arc<Hooks>,
    /// The SAM model the page loads at start when none is asked for (the
    /// packaged sample's, once it is seeded).
    startup_manifest: Mutex<Option<String>>,
    /// Mask morphs of recently shown keyframe pairs (interpolation).
    morphs: track::MorphCache,
    /// The signed-in server session and the open project's background sync.
    account: account::AccountState,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("database", &self.inner.store.path())
            .finish_non_exhaustive()
    }
}

impl Workspace {
    /// Opens (creating if needed) the database `argus.db` in `data_dir`, with
    /// its caches beside it: `index-cache/` (video indexes), `models/` (SAM
    /// models), `embeddings/` (SAM frame embeddings).
    pub async fn open(data_dir: &Path) -> CommandResult<Self> {
        Self::open_database(&data_dir.join("argus.db")).await
    }

    /// Opens the database at `db` (the CLI's `--db`), with the caches in
    /// its folder.
    pub async fn open_database(db: &Path) -> CommandResult<Self> {
        Self::open_with(db, None, true).await
    }

    /// [`Workspace::open_database`] with SAM models kept in `models` (else
    /// `models/` beside the database), for clicks in a window
    /// (`interactive`: a background pre-encoder, a warmed-up decoder) or for
    /// one-off work (the CLI).
    pub async fn open_with(db: &Path, models: Option<ModelStore>, interactive: bool) -> CommandResult<Self> {
        let data_dir = db.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(data_dir).map_err(|e| {
            CommandError::internal(format!(
                "could not create the data folder ({e}): {}",
                data_dir.display()
            ))
        })?;
        let store = Store::open(db).await?;
        let hooks = Arc::new(Hooks::default());
        Ok(Self {
            inner: Arc::new(Inner {
                store: Arc::new(store),
                data_dir: data_dir.to_path_buf(),
                videos: Videos::with_hooks(Some(index_cache(data_dir)), hooks.clone()),
                sam: SamSession::with_hooks(
                    models.unwrap_or_else(|| ModelStore::new(data_dir.join("models"))),
                    Some(data_dir.join("embeddings")),
                    interactive,
                    hooks.clone(),
                ),
                compositor: Mutex::new(None),
                startup_manifest: Mutex::new(None),
                morphs: track::MorphCache::default(),
                account: account::AccountState::default(),
                hooks,
            }),
        })
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The store as a shared handle (for the sync engine).
    pub fn shared_store(&self) -> Arc<Store> {
        self.inner.store.clone()
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    pub fn videos(&self) -> &Videos {
        &self.inner.videos
    }

    pub fn sam(&self) -> &SamSession {
        &self.inner.sam
    }

    /// Where tests hold long work; see [`Hooks`].
    pub fn hooks(&self) -> &Hooks {
        &self.inner.hooks
    }

    /// What this process runs on, for the About box and diagnostics: FFmpeg,
    /// ONNX Runtime (once a SAM model loaded it), the SAM model and its
    /// execution provider, the GPU adapter and the compositor. The shell
    /// adds its own version, the webview and the log.
    pub fn runtime_report(&self) -> RuntimeReport {
        argus_media::init();
        let onnx_runtime = match argus_sam::runtime::loaded_runtime() {
            Some((path, version)) => format!("{version}, from {}", path.display()),
            None => match argus_sam::runtime::find_library() {
                Ok(p) => format!("not loaded yet (loads with the first SAM model): {}", p.display()),
                Err(e) => format!("not found: {e}"),
            },
        };
        let sam = match self.sam().model_info() {
            Some(m) => match &m.provider_note {
                Some(note) => format!("{} on {} ({note})", m.id, m.provider),
                None => format!("{} on {}", m.id, m.provider),
            },
            None => "no model loaded".into(),
        };
        let adapter = match frames::adapter_probe() {
            Ok(a) => format!("{} ({}, {}{})", a.name, a.backend, a.device_type, if a.is_cpu { ", software" } else { "" }),
            Err(e) => format!("none: {e}"),
        };
        RuntimeReport {
            ffmpeg: argus_media::ffmpeg_version(),
            onnx_runtime,
            sam,
            adapter,
            renderer: self.compositor_description(),
            database: self.store().path().display().to_string(),
        }
    }

    /// The SAM manifest the page loads at start when the user asked for none
    /// (`app_info`'s hint): the packaged sample model's, once seeded.
    pub fn startup_sam_manifest(&self) -> Option<String> {
        self.inner.startup_manifest.lock().clone()
    }

    pub fn set_startup_sam_manifest(&self, manifest: String) {
        *self.inner.startup_manifest.lock() = Some(manifest);
    }

    /// Which compositor draws frames ("not started yet" before the first
    /// frame with something drawn over it).
    pub fn compositor_description(&self) -> String {
        self.inner
            .compositor
            .lock()
            .as_ref()
            .map_or_else(|| "not started yet".into(), Compositor::describe)
    }

    /// Draws `scene` and `overlays` over `frame`. The compositor is created
    /// on first use outside the lock (creating a GPU device takes a while).
    pub(crate) fn composite(
        &self,
        frame: DisplayFrame,
        scene: &mut MaskScene,
        overlays: &[Overlay],
    ) -> CommandResult<RgbaImage> {
        if self.inner.compositor.lock().is_none() {
            let fresh = Compositor::new();
            self.inner.compositor.lock().get_or_insert(fresh);
        }
        match self.inner.compositor.lock().as_mut() {
            Some(compositor) => compositor.composite(frame, scene, overlays),
            None => Err(CommandError::internal("the compositor vanished after it was created")),
        }
    }

    /// Runs blocking work (decoding, rendering, SAM) on the async runtime's
    /// blocking pool with its own handle on the workspace.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Workspace) -> CommandResult<T> + Send + 'static,
    ) -> CommandResult<T> {
        let ws = self.clone();
        tokio::task::spawn_blocking(move || work(&ws)).await?
    }
}

/// The video index cache of the data folder `data_dir`: import writes it,
/// the decoders read it.
pub fn index_cache(data_dir: &Path) -> IndexCache {
    IndexCache::new(data_dir.join("index-cache"))
}
