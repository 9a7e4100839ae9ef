//! The interactive SAM session: the loaded model, its embedding cache (memory
//! in front of disk), the background pre-encoder of the frames around the one
//! being annotated, and the pending prediction shown as the live preview until
//! the user accepts it (Enter) or clears it (Escape).

use std::path::Path;
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
use crate::state::{AppState, DecoderRecipe};

/// Embeddings kept in memory (a SAM 1 embedding is 4 MiB, SAM 2 about 16).
const MEMORY_CACHE_BYTES: usize = 512 << 20;

/// Frames pre-encoded on each side of the current one.
pub const PREFETCH_RADIUS: u64 = 2;
/// After a SAM click, pre-encoding starts no new frame for this long: the user
/// is still on this frame, and an encoder run beside the prompt decoder slows
/// the next click (with a real model, 45-55 ms decoder runs took 60-95 ms).
pub const CLICK_QUIET: std::time::Duration = std::time::Duration::from_millis(1500);

/// SAM's state between clicks.
#[derive(Default)]
pub struct SamState {
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
}

impl FrameSource for PrefetchFrames {
    fn frame(&self, index: u64) -> argus_sam::Result<OwnedFrame> {
        let fail = |e: &dyn std::fmt::Display| {
            argus_sam::Error::InvalidInput(format!(
                "could not decode frame {index} to pre-encode: {e}"
            ))
        };
        let mut source = self.source.lock();
        let source = match &mut *source {
            Some(s) => s,
            None => source.insert(self.recipe.open().map_err(|e| fail(&e.message))?),
        };
        let decoded = source
            .frame(index, FrameRequest::RGBA)
            .map_err(|e| fail(&e))?;
        let rgba = decoded
            .to_rgba_packed()
            .ok_or_else(|| fail(&"no RGBA pixels"))?;
        let (data, width, height) =
            argus_media::rotate_rgba(rgba, decoded.width, decoded.height, self.video.rotation);
        Ok(OwnedFrame {
            data,
            width,
            height,
            format: PixelFormat::Rgba8,
        })
    }
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

impl std::fmt::Debug for SamState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamState")
            .field(
                "model",
                &self.model.as_ref().map(|m| m.manifest().id.clone()),
            )
            .field(
                "pending",
                &self
                    .pending
                    .as_ref()
                    .map(|p| (p.video, p.frame, p.masks.len())),
            )
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

impl SamState {
    /// Candidate `rank` of the pending prediction, if it is on this frame
    /// (its mask is built here the first time it is shown).
    pub fn preview_mask(&mut self, video: VideoId, frame: u64, rank: usize) -> Option<Rle> {
        let p = self.pending_on(video, frame).ok()?;
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
    pub fn candidate(
        &mut self,
        video: VideoId,
        frame: u64,
        rank: usize,
    ) -> CommandResult<SamCandidate> {
        let p = self.pending_on(video, frame)?;
        p.mask(rank)?;
        p.describe(rank)
            .ok_or_else(|| CommandError::internal("a SAM candidate went missing"))
    }

    /// Takes candidate `rank` of the pending prediction on this frame (accepting it).
    pub fn take(&mut self, video: VideoId, frame: u64, rank: usize) -> CommandResult<(Rle, f32)> {
        let pending = self.pending_on(video, frame)?;
        let mask = pending.mask(rank)?.clone();
        let iou = pending.prediction.candidates()[rank].iou;
        self.pending = None;
        Ok((mask, iou))
    }

    fn pending_on(&mut self, video: VideoId, frame: u64) -> CommandResult<&mut Pending> {
        self.pending
            .as_mut()
            .filter(|p| p.video == video && p.frame == frame)
            .ok_or_else(|| {
                sam_error("there is no SAM preview on this frame; click on the object first")
            })
    }

    /// The frame view moved to `frame` of `video`: pre-encoding around
    /// another frame stops after the frame it is encoding (the page starts it
    /// again around the new frame once the user settles there), so stepping
    /// through the video does not share the CPU with it.
    pub fn view_moved(&mut self, video: VideoId, frame: u64) {
        let Some((v, p)) = &self.prefetch else {
            return;
        };
        if *v != video || self.prefetch_center.is_some_and(|c| c != frame) {
            p.cancel();
            self.prefetch_center = None;
        }
    }

    pub fn clear(&mut self) {
        self.pending = None;
    }

    pub fn model_info(&self) -> Option<SamModelInfo> {
        self.model.as_ref().map(|m| SamModelInfo {
            id: m.manifest().id.clone(),
            provider: m.provider().active,
        })
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

/// The app's model folder.
pub fn model_store(state: &AppState) -> ModelStore {
    ModelStore::new(state.data_dir().join("models"))
}

/// The shipped models and whether each is already downloaded.
pub fn choices(state: &AppState) -> Vec<SamModelChoice> {
    let models = model_store(state);
    argus_sam::builtin_manifests()
        .into_iter()
        .map(|m| SamModelChoice {
            downloaded: models.locate(&m).is_ok(),
            download_bytes: m.files().map(|f| f.size).sum(),
            id: m.id.clone(),
            name: m.name.clone(),
            licence: m.licence.clone(),
        })
        .collect()
}

/// Loads the model `manifest` names (see [`resolve_manifest`]): its files are
/// fetched (or checked) into the app's model folder first, with `report`
/// told of every stage and of download progress. Blocking.
pub fn load_model(
    state: &AppState,
    manifest: &str,
    report: &mut dyn FnMut(ModelProgress),
) -> CommandResult<SamModelInfo> {
    let result = load_inner(state, manifest, report);
    if let Err(e) = &result {
        report(ModelProgress::Failed {
            model: manifest.to_owned(),
            message: e.message.clone(),
        });
    }
    result
}

fn load_inner(
    state: &AppState,
    manifest: &str,
    report: &mut dyn FnMut(ModelProgress),
) -> CommandResult<SamModelInfo> {
    let manifest = resolve_manifest(manifest)?;
    let id = manifest.id.clone();
    // At most ~20 progress events a second, plus the last byte of each file.
    let mut last = std::time::Instant::now() - std::time::Duration::from_secs(1);
    let paths = model_store(state).ensure(&manifest, &mut |p| {
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
            background_encoder: true,
            ..LoadOptions::default()
        },
    )?;
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
    let info = {
        let mut sam = state.sam.lock();
        *sam = SamState {
            model: Some(Arc::new(model)),
            cache: Some(Arc::new(EmbeddingCache::new(
                MEMORY_CACHE_BYTES,
                Some(DiskCache::new(state.data_dir().join("embeddings"))),
            ))),
            revision: sam.revision,
            ..SamState::default()
        };
        sam.model_info()
            .ok_or_else(|| CommandError::internal("the SAM model vanished after loading"))?
    };
    report(ModelProgress::Ready {
        model: info.clone(),
    });
    Ok(info)
}

/// Runs the prompt on frame `frame` of `video` (encoding the frame first if it
/// is not the one already encoded) and keeps the candidates as the pending
/// preview. Blocking.
pub fn predict(
    state: &AppState,
    video: &Video,
    frame: u64,
    prompt: &SamPrompt,
) -> CommandResult<SamPreview> {
    if prompt.points.is_empty() && prompt.bbox.is_none() {
        return Err(CommandError::invalid(
            "give SAM at least one click or a box",
        ));
    }
    let t0 = std::time::Instant::now();
    let (model, cache) = loaded(state)?;
    if let Some((_, p)) = &state.sam.lock().prefetch {
        p.hold_off(CLICK_QUIET);
    }
    let key = embedding_key(&model, video, frame);
    // When the pre-encoder is encoding this frame right now, its embedding is
    // waited for rather than computed a second time beside it.
    let embedding = cache.get_or_insert_with(key, || -> CommandResult<_> {
        let pixels = state.frame_rgba(video, frame)?;
        let image = argus_sam::ImageView::packed(
            &pixels.rgba,
            pixels.width,
            pixels.height,
            argus_sam::PixelFormat::Rgba8,
        )?;
        Ok(model.encode(&image)?)
    })?;
    // Get the neighbours ready for the next clicks.
    if let Err(e) = prefetch(state, video, frame) {
        tracing::warn!("pre-encoding not started: {}", e.message);
    }
    let mut p = Prompt::default();
    for click in &prompt.points {
        p = p.with_click(click.x, click.y, click.positive);
    }
    if let Some(b) = prompt.bbox {
        p = p.with_box(BBox::new(b.x, b.y, b.width, b.height)?);
    }
    let t_embed = t0.elapsed();
    let prediction = model.predict(&embedding, &p)?;
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
    let mut sam = state.sam.lock();
    sam.revision = sam.revision.wrapping_add(1);
    sam.pending = Some(pending);
    Ok(SamPreview {
        video_id: video.id.to_string(),
        frame,
        candidates,
        revision: sam.revision,
    })
}

/// The loaded model and its cache, or the error saying to load one.
fn loaded(state: &AppState) -> CommandResult<(Arc<SamModel>, Arc<EmbeddingCache>)> {
    let sam = state.sam.lock();
    match (&sam.model, &sam.cache) {
        (Some(m), Some(c)) => Ok((m.clone(), c.clone())),
        _ => Err(sam_error(
            "no SAM model is loaded; pick one under SAM model on the left",
        )),
    }
}

/// Starts (or moves) pre-encoding around `frame` of `video`. Blocking only
/// for opening the decoder the first time for a video.
pub fn prefetch(state: &AppState, video: &Video, frame: u64) -> CommandResult<()> {
    let (model, cache) = loaded(state)?;
    let mut sam = state.sam.lock();
    if sam.prefetch.as_ref().is_none_or(|(v, _)| *v != video.id) {
        let frames = Arc::new(PrefetchFrames {
            recipe: state.decoder_recipe(video)?,
            source: Mutex::new(None),
            video: video.clone(),
        });
        // Dropping the old prefetcher cancels it and joins its thread.
        sam.prefetch = Some((video.id, Prefetcher::new(model, cache, frames)?));
    }
    if let Some((_, p)) = &sam.prefetch {
        p.request(&video.sha256, frame, PREFETCH_RADIUS, video.frame_count);
    }
    sam.prefetch_center = Some(frame);
    Ok(())
}

/// Which frames around `frame` have their embedding ready (in memory).
pub fn cache_state(state: &AppState, video: &Video, frame: u64) -> SamCache {
    let sam = state.sam.lock();
    let (Some(model), Some(cache)) = (&sam.model, &sam.cache) else {
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
