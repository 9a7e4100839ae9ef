//! The interactive SAM session: the loaded model, the embedding of the frame
//! being annotated, and the pending prediction shown as the live preview
//! until the user accepts it (Enter) or clears it (Escape).

use std::path::Path;
use std::sync::Arc;

use argus_core::id::VideoId;
use argus_core::model::Video;
use argus_core::{BBox, Rle};
use argus_sam::download::ModelStore;
use argus_sam::{Embedding, LoadOptions, Manifest, Prompt, SamModel};

use crate::dto::{BoxPx, SamCandidate, SamModelInfo, SamPreview, SamPrompt};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::state::AppState;

/// SAM's state between clicks.
#[derive(Default)]
pub struct SamState {
    model: Option<Arc<SamModel>>,
    /// The embedding of the last encoded frame.
    embedding: Option<(VideoId, u64, Arc<Embedding>)>,
    pending: Option<Pending>,
    revision: u32,
}

/// A prediction on one frame, waiting to be accepted.
struct Pending {
    video: VideoId,
    frame: u64,
    /// Candidate masks, best predicted IoU first.
    masks: Vec<(Rle, f32)>,
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
    /// Candidate `rank` of the pending prediction, if it is on this frame.
    pub fn preview_mask(&self, video: VideoId, frame: u64, rank: usize) -> Option<Rle> {
        let p = self
            .pending
            .as_ref()
            .filter(|p| p.video == video && p.frame == frame)?;
        p.masks.get(rank).map(|(m, _)| m.clone())
    }

    /// Takes candidate `rank` of the pending prediction on this frame (accepting it).
    pub fn take(&mut self, video: VideoId, frame: u64, rank: usize) -> CommandResult<(Rle, f32)> {
        let pending = self
            .pending
            .as_ref()
            .filter(|p| p.video == video && p.frame == frame)
            .ok_or_else(|| {
                sam_error("there is no SAM preview on this frame; click on the object first")
            })?;
        let chosen = pending.masks.get(rank).cloned().ok_or_else(|| {
            CommandError::invalid(format!(
                "SAM offered {} candidate(s), not {}",
                pending.masks.len(),
                rank + 1
            ))
        })?;
        self.pending = None;
        Ok(chosen)
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

/// Loads the model a manifest describes: its files are fetched (or checked)
/// into the app's model folder first. Blocking.
pub fn load_model(state: &AppState, manifest_path: &Path) -> CommandResult<SamModelInfo> {
    let manifest = Manifest::from_path(manifest_path)?;
    let models = ModelStore::new(state.data_dir().join("models"));
    let paths = models.ensure(&manifest, &mut |_| true)?;
    let model = SamModel::load(
        &manifest,
        &paths.encoder,
        &paths.decoder,
        LoadOptions::default(),
    )?;
    let mut sam = state.sam.lock();
    *sam = SamState {
        model: Some(Arc::new(model)),
        revision: sam.revision,
        ..SamState::default()
    };
    sam.model_info()
        .ok_or_else(|| CommandError::internal("the SAM model vanished after loading"))
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
    let (model, cached) = {
        let sam = state.sam.lock();
        let model = sam
            .model
            .clone()
            .ok_or_else(|| sam_error("no SAM model is loaded; load one from the SAM menu"))?;
        let cached = sam
            .embedding
            .as_ref()
            .filter(|(v, f, _)| *v == video.id && *f == frame)
            .map(|(_, _, e)| e.clone());
        (model, cached)
    };
    let embedding = match cached {
        Some(e) => e,
        None => {
            let pixels = state.frame_rgba(video, frame)?;
            let image = argus_sam::ImageView::packed(
                &pixels.rgba,
                pixels.width,
                pixels.height,
                argus_sam::PixelFormat::Rgba8,
            )?;
            let e = Arc::new(model.encode(&image)?);
            state.sam.lock().embedding = Some((video.id, frame, e.clone()));
            e
        }
    };
    let mut p = Prompt::default();
    for click in &prompt.points {
        p = p.with_click(click.x, click.y, click.positive);
    }
    if let Some(b) = prompt.bbox {
        p = p.with_box(BBox::new(b.x, b.y, b.width, b.height)?);
    }
    let prediction = model.predict(&embedding, &p)?;
    let mut masks = Vec::new();
    for (rank, c) in prediction.candidates().iter().enumerate() {
        masks.push((prediction.mask(rank)?, c.iou));
    }
    let candidates = masks
        .iter()
        .enumerate()
        .map(|(rank, (m, iou))| SamCandidate {
            rank: rank as u32,
            iou: *iou,
            area: m.area(),
            bbox: m.bbox().map(BoxPx::from),
        })
        .collect();
    let mut sam = state.sam.lock();
    sam.revision = sam.revision.wrapping_add(1);
    sam.pending = Some(Pending {
        video: video.id,
        frame,
        masks,
    });
    Ok(SamPreview {
        video_id: video.id.to_string(),
        frame,
        candidates,
        revision: sam.revision,
    })
}
