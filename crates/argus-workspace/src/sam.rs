//! The interactive SAM session: the loaded model, its embedding cache (memory
//! in front of disk), the background pre-encoder of the frames around the one
//! being annotated, and the pending prediction shown as the live preview until
//! the user accepts it (Enter) or clears it (Escape).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use argus_core::id::VideoId;
use argus_core::model::Video;
use argus_core::{BBox, Rle};
use argus_media::{FrameRequest, VideoSource};
use argus_sam::cache::{
    DiskCache, EmbeddingCache, EmbeddingKey, FrameSource, OwnedFrame, Prefetcher,
};
use argus_sam::download::ModelStore;
use argus_sam::{LoadOptions, Manifest, PixelFormat, Prediction, Prompt, SamModel};
use parking_lot::Mutex;

use crate::dto::{
    BoxPx, ModelProgress, SamCache, SamCandidate, SamModelChoice, SamModelInfo, SamPreview,
    SamPrompt,
};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::hooks::Hooks;
use crate::videos::{DecoderRecipe, Videos};

/// Embeddings kept in memory (a SAM 1 embedding is 4 MiB, SAM 2 about 16).
const MEMORY_CACHE_BYTES: usize = 512 << 20;

/// Frames pre-encoded on each side of the current one.
pub const PREFETCH_RADIUS: u64 = 2;
/// After a SAM click, pre-encoding starts no new frame for this long: the user
/// is still on this frame, and an encoder run beside the prompt decoder slows
/// the next click (with a real model, 45-55 ms decoder runs took 60-95 ms).
pub const CLICK_QUIET: std::time::Duration = std::time::Duration::from_millis(1500);

/// The SAM session: the model, its embedding cache, the pre-encoder and the
/// pending prediction. Its lock is held for bookkeeping only: loading a
/// model, encoding a frame and opening a video happen outside it, and a
/// pre-encoder that is replaced is dropped (which waits for the frame it is
/// encoding) on a thread of its own.
pub struct SamSession {
    models: ModelStore,
    /// Where embeddings are kept on disk; `None`: in memory only.
    embeddings: Option<PathBuf>,
    /// Load models for clicks in a workspace (a background pre-encoder, a
    /// warmed-up decoder) rather than for one prediction.
    interactive: bool,
    state: Mutex<SamState>,
    hooks: Arc<Hooks>,
}

/// SAM's state between clicks.
#[derive(Default)]
struct SamState {
    model: Option<Arc<SamModel>>,
    /// Embeddings by (video hash, frame, model).
    cache: Option<Arc<EmbeddingCache>>,
    /// The pre-encoder, for one video at a time.
    prefetch: Option<(VideoId, Prefetcher)>,
    /// The frame whose neighbours are being pre-encoded.
    prefetch_center: Option<u64>,
    pending: Option<Pending>,
    revision: u32,
}

/// Frames for the pre-encoder, from its own decoder (so it never moves the
/// frame view's decoder around). The decoder is opened on the pre-encoder's
/// thread at its first frame, so its threads share that thread's background
/// priority.
struct PrefetchFrames {
    recipe: DecoderRecipe,
    source: Mutex<Option<VideoSource>>,
    video: Video,
    hooks: Arc<Hooks>,
}

impl FrameSource for PrefetchFrames {
    fn frame(&self, index: u64) -> argus_sam::Result<OwnedFrame> {
        let fail = |e: &dyn std::fmt::Display| {
            argus_sam::Error::InvalidInput(format!(
                "could not decode frame {index} to pre-encode: {e}"
            ))
        };
        self.hooks.encoding(&self.video, index);
        let mut source = self.source.lock();
        let source = match &mut *source {
            Some(s) => s,
            None => source.insert(self.recipe.open().map_err(|e| fail(&e.message))?),
        };
        let (data, width, height) = frame_pixels(source, &self.video, index).map_err(|e| fail(&e))?;
        Ok(OwnedFrame {
            data,
            width,
            height,
            format: PixelFormat::Rgba8,
        })
    }
}

/// Frame `index` of `video` as packed RGBA, turned upright: what SAM encodes.
pub(crate) fn frame_pixels(source: &mut VideoSource, video: &Video, index: u64) -> Result<(Vec<u8>, u32, u32), String> {
    let decoded = source.frame(index, FrameRequest::RGBA).map_err(|e| e.to_string())?;
    let rgba = decoded.to_rgba_packed().ok_or_else(|| "no RGBA pixels".to_owned())?;
    Ok(argus_media::rotate_rgba(rgba, decoded.width, decoded.height, video.rotation))
}

fn embedding_key(model: &SamModel, video: &Video, frame: u64) -> EmbeddingKey {
    EmbeddingKey {
        video_hash: video.sha256.clone(),
        frame,
        model_id: model.manifest().id.clone(),
    }
}

/// A prediction on one frame, waiting to be accepted.
struct Pending {
    video: VideoId,
    frame: u64,
    prediction: Prediction,
    /// Full-resolution masks by rank (best predicted IoU first), built when
    /// first shown or accepted: a click builds only the best one.
    masks: Vec<Option<Rle>>,
}

impl Pending {
    /// Candidate `rank`'s frame-resolution mask, built on first use.
    fn mask(&mut self, rank: usize) -> CommandResult<&Rle> {
        let count = self.masks.len();
        let slot = self.masks.get_mut(rank).ok_or_else(|| {
            CommandError::invalid(format!(
                "SAM offered {count} candidate(s), not {}",
                rank + 1
            ))
        })?;
        if slot.is_none() {
            *slot = Some(self.prediction.mask(rank)?);
        }
        slot.as_ref()
            .ok_or_else(|| CommandError::internal("a SAM candidate mask went missing"))
    }

    /// What the candidate panel shows of candidate `rank` (area and box only
    /// once its mask is built).
    fn describe(&self, rank: usize) -> Option<SamCandidate> {
        let c = self.prediction.candidates().get(rank)?;
        let mask = self.masks.get(rank).and_then(Option::as_ref);
        Some(SamCandidate {
            rank: rank as u32,
            iou: c.iou,
            area: mask.map(Rle::area),
            bbox: mask.and_then(|m| m.bbox().map(BoxPx::from)),
        })
    }
}

impl std::fmt::Debug for SamSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamState")
            .field(
                "model",
                &self.state.lock().model.as_ref().map(|m| m.manifest().id.clone()),
            )
            .field(
                "pending",
                &self
                    .state
                    .lock()
                    .pending
                    .as_ref()
                    .map(|p| (p.video, p.frame, p.masks.len())),
            )
            .finish_non_exhaustive()
    }
}

impl SamState {
    fn pending_on(&mut self, video: VideoId, frame: u64) -> CommandResult<&mut Pending> {
        self.pending
            .as_mut()
            .filter(|p| p.video == video && p.frame == frame)
            .ok_or_else(|| {
                sam_error("there is no SAM preview on this frame; click on the object first")
            })
    }
}

/// Drops `old` on a thread of its own: a pre-encoder's drop waits for the
/// frame it is encoding, which nobody should wait for.
fn retire<T: Send + 'static>(old: Option<T>) {
    let Some(old) = old else { return };
    let spawned = std::thread::Builder::new()
        .name("argus-sam-retire".into())
        .spawn(move || drop(old));
    if let Err(e) = spawned {
        tracing::warn!("could not retire the pre-encoder on a thread of its own ({e}); it was dropped here");
    }
}

impl SamSession {
    /// A session that keeps models in `models` and, with `embeddings`,
    /// frame embeddings on disk there (else in memory only). `interactive`:
    /// for clicks in a workspace (pre-encoding in the background, a
    /// warmed-up decoder), else for one-off predictions (the CLI).
    pub fn new(models: ModelStore, embeddings: Option<PathBuf>, interactive: bool) -> Self {
        Self::with_hooks(models, embeddings, interactive, Arc::new(Hooks::default()))
    }

    pub(crate) fn with_hooks(
        models: ModelStore,
        embeddings: Option<PathBuf>,
        interactive: bool,
        hooks: Arc<Hooks>,
    ) -> Self {
        Self {
            models,
            embeddings,
            interactive,
            state: Mutex::new(SamState::default()),
            hooks,
        }
    }

    /// Candidate `rank` of the pending prediction, if it is on this frame
    /// (its mask is built here the first time it is shown).
    pub fn preview_mask(&self, video: VideoId, frame: u64, rank: usize) -> Option<Rle> {
        let mut state = self.state.lock();
        let p = state.pending_on(video, frame).ok()?;
        match p.mask(rank) {
            Ok(m) => Some(m.clone()),
            Err(e) => {
                tracing::warn!("SAM candidate {rank} could not be shown: {}", e.message);
                None
            }
        }
    }

    /// Candidate `rank` of the pending prediction with its area and box
    /// (building its mask if it was not shown yet).
    pub fn candidate(&self, video: VideoId, frame: u64, rank: usize) -> CommandResult<SamCandidate> {
        let mut state = self.state.lock();
        let p = state.pending_on(video, frame)?;
        p.mask(rank)?;
        p.describe(rank)
            .ok_or_else(|| CommandError::internal("a SAM candidate went missing"))
    }

    /// Takes candidate `rank` of the pending prediction on this frame
    /// (accepting it): its mask and predicted IoU.
    pub fn take(&self, video: VideoId, frame: u64, rank: usize) -> CommandResult<(Rle, f32)> {
        let mut state = self.state.lock();
        let pending = state.pending_on(video, frame)?;
        let mask = pending.mask(rank)?.clone();
        let iou = pending.prediction.candidates()[rank].iou;
        state.pending = None;
        Ok((mask, iou))
    }

    /// The frame view moved to `frame` of `video`: pre-encoding around
    /// another frame stops after the frame it is encoding (the page starts it
    /// again around the new frame once the user settles there), so stepping
    /// through the video does not share the CPU with it.
    pub fn view_moved(&self, video: VideoId, frame: u64) {
        let mut state = self.state.lock();
        let center = state.prefetch_center;
        let Some((v, p)) = &state.prefetch else {
            return;
        };
        if *v != video || center.is_some_and(|c| c != frame) {
            p.cancel();
            state.prefetch_center = None;
        }
    }

    /// Drops the pending prediction.
    pub fn clear(&self) {
        self.state.lock().pending = None;
    }

    /// The loaded model, if any.
    pub fn model_info(&self) -> Option<SamModelInfo> {
        self.state.lock().model.as_ref().map(|m| {
            let report = m.provider();
            SamModelInfo {
                id: m.manifest().id.clone(),
                provider_note: report.why_not_gpu(),
                provider: report.active,
            }
        })
    }

    /// The session's model folder.
    pub fn models(&self) -> &ModelStore {
        &self.models
    }

    /// The shipped models and whether each is already downloaded.
    pub fn choices(&self) -> Vec<SamModelChoice> {
        argus_sam::builtin_manifests()
            .into_iter()
            .map(|m| SamModelChoice {
                downloaded: self.models.locate(&m).is_ok(),
                download_bytes: m.files().map(|f| f.size).sum(),
                id: m.id.clone(),
                name: m.name.clone(),
                licence: m.licence.clone(),
            })
            .collect()
    }

    /// Loads the model `manifest` names (see [`resolve_manifest`]): its
    /// files are fetched (or checked) into the model folder first, with
    /// `report` told of every stage and of download progress. Blocking.
    pub fn load(
        &self,
        manifest: &str,
        report: &mut dyn FnMut(ModelProgress),
    ) -> CommandResult<SamModelInfo> {
        let result = self.load_inner(manifest, report);
        if let Err(e) = &result {
            report(ModelProgress::Failed {
                model: manifest.to_owned(),
                message: e.message.clone(),
            });
        }
        result
    }

    fn load_inner(
        &self,
        manifest: &str,
        report: &mut dyn FnMut(ModelProgress),
    ) -> CommandResult<SamModelInfo> {
        let manifest = resolve_manifest(manifest)?;
        let id = manifest.id.clone();
        // At most ~20 progress events a second, plus the last byte of each file.
        let mut last = std::time::Instant::now() - std::time::Duration::from_secs(1);
        let paths = self.models.ensure(&manifest, &mut |p| {
            let done = p.total.is_some_and(|t| p.downloaded >= t);
            if done || last.elapsed() >= std::time::Duration::from_millis(50) {
                last = std::time::Instant::now();
                report(ModelProgress::Downloading {
                    model: id.clone(),
                    file: p.file.clone(),
                    downloaded: p.downloaded,
                    total: p.total,
                });
            }
            true
        })?;
        report(ModelProgress::Loading { model: id.clone() });
        let model = SamModel::load(
            &manifest,
            &paths.encoder,
            &paths.decoder,
            LoadOptions {
                // the encoder mostly pre-encodes neighbours in the background
                background_encoder: self.interactive,
                ..LoadOptions::default()
            },
        )?;
        if self.interactive {
            // The first clicks should not pay for ONNX Runtime's first runs.
            let t0 = std::time::Instant::now();
            match model.warm_up(1920, 1080) {
                Ok(()) => tracing::debug!(
                    ms = t0.elapsed().as_secs_f64() * 1e3,
                    "SAM decoder warmed up"
                ),
                Err(e) => {
                    tracing::warn!("SAM decoder warm-up failed (the first click will be slower): {e}")
                }
            }
        }
        let cache = EmbeddingCache::new(
            MEMORY_CACHE_BYTES,
            self.embeddings.clone().map(DiskCache::new),
        );
        let old = {
            let mut state = self.state.lock();
            let fresh = SamState {
                model: Some(Arc::new(model)),
                cache: Some(Arc::new(cache)),
                revision: state.revision,
                ..SamState::default()
            };
            std::mem::replace(&mut *state, fresh)
        };
        retire(Some(old));
        let info = self
            .model_info()
            .ok_or_else(|| CommandError::internal("the SAM model vanished after loading"))?;
        report(ModelProgress::Ready {
            model: info.clone(),
        });
        Ok(info)
    }

    /// Runs the clicks and box of `prompt` on frame `frame` of `video`; see
    /// [`SamSession::predict_prompt`].
    pub fn predict(
        &self,
        videos: &Videos,
        video: &Video,
        frame: u64,
        prompt: &SamPrompt,
    ) -> CommandResult<SamPreview> {
        if prompt.points.is_empty() && prompt.bbox.is_none() {
            return Err(CommandError::invalid(
                "give SAM at least one click or a box",
            ));
        }
        let mut p = Prompt::default();
        for click in &prompt.points {
            p = p.with_click(click.x, click.y, click.positive);
        }
        if let Some(b) = prompt.bbox {
            p = p.with_box(BBox::new(b.x, b.y, b.width, b.height)?);
        }
        self.predict_prompt(videos, video, frame, &p)
    }

    /// Runs `prompt` on frame `frame` of `video` (encoding the frame first
    /// unless its embedding is cached) and keeps the candidates as the
    /// pending preview. Blocking.
    pub fn predict_prompt(
        &self,
        videos: &Videos,
        video: &Video,
        frame: u64,
        prompt: &Prompt,
    ) -> CommandResult<SamPreview> {
        video.check_frame(frame)?;
        let t0 = std::time::Instant::now();
        let (model, cache) = self.loaded()?;
        if let Some((_, p)) = &self.state.lock().prefetch {
            p.hold_off(CLICK_QUIET);
        }
        let key = embedding_key(&model, video, frame);
        let encode = || -> CommandResult<_> {
            self.hooks.encoding(video, frame);
            let pixels = videos.frame_rgba(video, frame)?;
            let image = argus_sam::ImageView::packed(
                &pixels.rgba,
                pixels.width,
                pixels.height,
                argus_sam::PixelFormat::Rgba8,
            )?;
            Ok(model.encode(&image)?)
        };
        // When the pre-encoder is encoding this frame right now, its embedding is
        // waited for rather than computed a second time beside it.
        let mut embedding = cache.get_or_insert_with(key.clone(), encode)?;
        // An embedding is for a picture of the video's size: one from the disk
        // cache that is not (a damaged or foreign entry under this key) would
        // give masks of another size. It is replaced, not used.
        let t = embedding.transform();
        if (t.frame_w, t.frame_h) != (video.width, video.height) {
            tracing::warn!(
                frame,
                "the cached SAM embedding is for a {}x{} picture, the video is {}x{}: encoding the frame again",
                t.frame_w,
                t.frame_h,
                video.width,
                video.height
            );
            let fresh = std::sync::Arc::new(encode()?);
            cache.insert(key, fresh.clone());
            embedding = fresh;
        }
        if self.interactive {
            // Get the neighbours ready for the next clicks, once the clicks
            // pause: an encode started now would share the cores with the
            // next click (on two cores it made the clicks right after the
            // first one twice as slow), and cannot be stopped half-way.
            if let Err(e) = self.prefetch(videos, video, frame) {
                tracing::warn!("pre-encoding not started: {}", e.message);
            }
            if let Some((_, p)) = &self.state.lock().prefetch {
                p.hold_off(CLICK_QUIET);
            }
        }
        let t_embed = t0.elapsed();
        let prediction = model.predict(&embedding, prompt)?;
        let t_predict = t0.elapsed();
        // Only the best candidate's full-resolution mask now (the preview shows
        // it); the others are built if the user switches to them.
        let mut pending = Pending {
            video: video.id,
            frame,
            masks: vec![None; prediction.candidates().len()],
            prediction,
        };
        if !pending.masks.is_empty() {
            pending.mask(0)?;
        }
        tracing::debug!(
            frame,
            embedding_ms = t_embed.as_secs_f64() * 1e3,
            decoder_ms = (t_predict - t_embed).as_secs_f64() * 1e3,
            mask_ms = (t0.elapsed() - t_predict).as_secs_f64() * 1e3,
            candidates = pending.masks.len(),
            "SAM prediction"
        );
        let candidates = (0..pending.masks.len())
            .filter_map(|rank| pending.describe(rank))
            .collect();
        let mut state = self.state.lock();
        state.revision = state.revision.wrapping_add(1);
        state.pending = Some(pending);
        Ok(SamPreview {
            video_id: video.id.to_string(),
            frame,
            candidates,
            revision: state.revision,
        })
    }

    /// The loaded model and its cache, or the error saying to load one.
    pub(crate) fn loaded(&self) -> CommandResult<(Arc<SamModel>, Arc<EmbeddingCache>)> {
        let state = self.state.lock();
        match (&state.model, &state.cache) {
            (Some(m), Some(c)) => Ok((m.clone(), c.clone())),
            _ => Err(sam_error(
                "no SAM model is loaded; pick one under SAM model on the left",
            )),
        }
    }

    /// Starts (or moves) pre-encoding around `frame` of `video`. Blocking
    /// only for opening the video the first time; a pre-encoder for another
    /// video is replaced without waiting for it.
    pub fn prefetch(&self, videos: &Videos, video: &Video, frame: u64) -> CommandResult<()> {
        let (model, cache) = self.loaded()?;
        let other_video = |state: &SamState| state.prefetch.as_ref().is_none_or(|(v, _)| *v != video.id);
        let fresh = if other_video(&self.state.lock()) {
            let frames = Arc::new(PrefetchFrames {
                recipe: videos.recipe(video)?,
                source: Mutex::new(None),
                video: video.clone(),
                hooks: self.hooks.clone(),
            });
            Some(Prefetcher::new(model, cache, frames)?)
        } else {
            None
        };
        let old = {
            let mut state = self.state.lock();
            let old = match fresh {
                Some(p) if other_video(&state) => state.prefetch.replace((video.id, p)),
                // Another request started one for this video meanwhile.
                Some(p) => Some((video.id, p)),
                None => None,
            };
            if let Some((_, p)) = &state.prefetch {
                p.request(&video.sha256, frame, PREFETCH_RADIUS, video.frame_count);
            }
            state.prefetch_center = Some(frame);
            old
        };
        retire(old);
        Ok(())
    }

    /// Which frames around `frame` have their embedding ready (in memory).
    pub fn cache_state(&self, video: &Video, frame: u64) -> SamCache {
        let state = self.state.lock();
        let (Some(model), Some(cache)) = (&state.model, &state.cache) else {
            return SamCache {
                first: frame,
                ready: Vec::new(),
            };
        };
        let first = frame.saturating_sub(PREFETCH_RADIUS);
        let last = (frame + PREFETCH_RADIUS).min(video.frame_count.saturating_sub(1));
        SamCache {
            first,
            ready: (first..=last)
                .map(|f| cache.memory().contains(&embedding_key(model, video, f)))
                .collect(),
        }
    }
}

fn sam_error(message: impl Into<String>) -> CommandError {
    CommandError::new(ErrorKind::Sam, message)
}

/// The manifest named by `manifest`: a path to a manifest file, or the id of
/// one of the shipped models (`sam-vit-b`, `sam2.1-tiny`, ...).
pub fn resolve_manifest(manifest: &str) -> CommandResult<Manifest> {
    let path = Path::new(manifest);
    if path.exists() || manifest.ends_with(".toml") || manifest.contains(std::path::MAIN_SEPARATOR)
    {
        return Ok(Manifest::from_path(path)?);
    }
    Ok(argus_sam::builtin_manifest(manifest)?)
}

impl crate::Workspace {
    /// Loads a SAM model: `manifest` is a manifest (TOML) file or the id of a
    /// shipped model. Missing files are downloaded first; `report` hears of
    /// each stage and of download progress.
    pub async fn load_sam_model(
        &self,
        manifest: &str,
        mut report: impl FnMut(ModelProgress) + Send + 'static,
    ) -> CommandResult<SamModelInfo> {
        let manifest = manifest.to_owned();
        self.blocking(move |ws| ws.sam().load(&manifest, &mut report))
            .await
    }

    /// The shipped SAM models, and which are downloaded already.
    pub async fn list_sam_models(&self) -> CommandResult<Vec<SamModelChoice>> {
        self.blocking(|ws| Ok(ws.sam().choices())).await
    }

    /// Runs SAM on the clicks and box so far; the candidates become the live preview.
    pub async fn sam_predict(
        &self,
        video_id: &str,
        frame: u64,
        prompt: SamPrompt,
    ) -> CommandResult<SamPreview> {
        let video = self.video_at(video_id, frame).await?;
        self.blocking(move |ws| ws.sam().predict(ws.videos(), &video, frame, &prompt))
            .await
    }

    /// Candidate `rank` of the pending prediction with its area and box (the
    /// click itself builds only the best candidate's mask).
    pub async fn sam_candidate(
        &self,
        video_id: &str,
        frame: u64,
        rank: u32,
    ) -> CommandResult<SamCandidate> {
        let id: VideoId = crate::edit::parse_id("video", video_id)?;
        self.blocking(move |ws| ws.sam().candidate(id, frame, rank as usize))
            .await
    }

    /// Pre-encodes the frames around `frame` in the background (with `start`,
    /// when a model is loaded) and says which of them are ready, for the SAM
    /// indicator.
    pub async fn sam_prefetch(
        &self,
        video_id: &str,
        frame: u64,
        start: bool,
    ) -> CommandResult<SamCache> {
        let video = self.video_at(video_id, frame).await?;
        self.blocking(move |ws| {
            if start && ws.sam().model_info().is_some() {
                ws.sam().prefetch(ws.videos(), &video, frame)?;
            }
            Ok(ws.sam().cache_state(&video, frame))
        })
        .await
    }
}
