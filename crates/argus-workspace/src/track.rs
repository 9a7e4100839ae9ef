//! Video object tracking: shapes interpolated between keyframes (derived on
//! read, never stored) and masks propagated by a tracker from one frame to
//! the next (stored, as `propagated` shapes a reviewer can tell apart).
//!
//! **Interpolation.** Between two stored keyframes of a track (same kind, the
//! first not `outside`), every frame without a stored shape of its own shows
//! the shape argus-core interpolates ([`argus_core::interpolate`]): linear
//! for boxes and points, resampled point correspondence for polygons and
//! polylines, signed-distance blending for masks. Nothing is written, so a
//! keyframe edit changes every frame after it at once, and sync carries only
//! the keyframes; an interpolated shape that the user edits becomes a
//! keyframe ([`crate::edit`] stores it). Readers that need what is on a frame
//! (the frame view, the object list, edits, exports) go through
//! [`derived_shapes`] / [`Workspace::frame_shapes_derived`]; the frames they
//! cover are [`interpolated_spans`] (the timeline, an export's plan).
//!
//! **Propagation.** [`Workspace::propagate`] follows one object from a frame
//! where it has a shape, forward or backward, until the next keyframe, the
//! end of the video, a frame limit, a doubt (predicted IoU too low, the area
//! or the centre jumping) or a cancel. The tracker is a [`VideoTracker`]; the
//! one built here, [`SamImageTracker`], prompts an image SAM model on each
//! frame with the previous mask (its box, points inside it and its low-res
//! logits: argus-sam's `track_step`). A video model with a memory (SAM 2's
//! memory encoder and attention) would be another `VideoTracker` and the
//! callers would not change. Frames are decoded by the run's own decoder and
//! encoded ahead of the tracker on a thread of their own, a few frames ahead
//! at most; an embedding the session's cache already holds (memory or disk:
//! the frames pre-encoded around the one being annotated) is taken from it,
//! and the run's own are used once and dropped (a long run neither fills the
//! disk cache nor evicts the user's frames from memory), so a 10,000-frame
//! video costs no more memory than a short one. Results are written every
//! [`PROPAGATE_BATCH`] frames in one store batch each, all of them in one
//! undo group: the whole run, or its cancelled part, undoes in one step.
//! Re-running from a corrected frame first deletes the propagated shapes of
//! the track that follow it (up to the next keyframe), in the run's group.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc;

use argus_core::id::{ShapeId, TrackId, VideoId};
use argus_core::interpolate::{MaskMorph, interpolated_shape, interpolated_shape_with, interpolates};
use argus_core::model::{Geometry, Shape, ShapeSource, Timestamp, Video};
use argus_core::{Point, Rle};
use argus_sam::cache::{EmbeddingCache, EmbeddingKey};
use argus_sam::track::{TrackState, TrackStepOptions};
use argus_sam::{Embedding, SamModel};
use argus_store::{Command, Store, UndoGroup};
use parking_lot::Mutex;

use crate::Workspace;
use crate::dto::{
    PropagateDirection, PropagateOptions, PropagateSummary, PropagatedFlag, TrackProgress,
};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::export::Cancel;

/// Frames written per store batch during a propagation run.
pub const PROPAGATE_BATCH: usize = 16;

/// Frames the pre-encoder may run ahead of the tracker.
const ENCODE_AHEAD: usize = 2;

/// Keyframe pairs whose mask morph (two distance fields) is kept, so
/// stepping through interpolated frames costs a blend per frame.
const MORPH_CACHE: usize = 16;

// ---------------------------------------------------------------------------
// Interpolation, derived on read

/// Recently used mask morphs, by the two keyframes (and their versions).
#[derive(Default)]
pub struct MorphCache {
    entries: Mutex<Vec<(MorphKey, Arc<MaskMorph>)>>,
}

impl std::fmt::Debug for MorphCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MorphCache").field("entries", &self.entries.lock().len()).finish()
    }
}

type MorphKey = (ShapeId, Timestamp, ShapeId, Timestamp);

impl MorphCache {
    fn morph(&self, a: &Shape, b: &Shape, ma: &Rle, mb: &Rle) -> Option<Arc<MaskMorph>> {
        let key = (a.id, a.updated_at, b.id, b.updated_at);
        {
            let mut entries = self.entries.lock();
            if let Some(i) = entries.iter().position(|(k, _)| *k == key) {
                let hit = entries.remove(i);
                let morph = hit.1.clone();
                entries.push(hit);
                return Some(morph);
            }
        }
        let morph = Arc::new(MaskMorph::new(ma, mb).ok()?);
        let mut entries = self.entries.lock();
        if entries.len() >= MORPH_CACHE {
            entries.remove(0);
        }
        entries.push((key, morph.clone()));
        Some(morph)
    }
}

/// The shape `before`'s track shows on `frame`, strictly between the stored
/// keyframes `before` and `after` (see [`interpolated_shape`]); masks go
/// through `morphs`, so the distance fields of a pair are computed once.
fn derive_one(before: &Shape, after: &Shape, frame: u64, morphs: &MorphCache) -> Option<Shape> {
    match (&before.geometry, &after.geometry) {
        (Geometry::Mask(ma), Geometry::Mask(mb)) => interpolated_shape_with(before, after, frame, |t| {
            Some(Geometry::Mask(morphs.morph(before, after, ma, mb)?.at(t)))
        }),
        _ => interpolated_shape(before, after, frame),
    }
}

/// The frames where each track of `video` shows an interpolated shape, as
/// `(track, first, last)` (inclusive), by track then frame: the gaps
/// between two consecutive keyframes that interpolate.
pub async fn interpolated_spans(store: &Store, video: VideoId) -> CommandResult<Vec<(TrackId, u64, u64)>> {
    let entries = store.shape_frames(video).await?;
    let mut spans = Vec::new();
    for pair in entries.windows(2) {
        let ((ta, fa, ka), (tb, fb, kb)) = (pair[0], pair[1]);
        if ta != tb || !ka || !kb || fb <= fa + 1 {
            continue;
        }
        let a = store.track_shapes_in(ta, fa, fa + 1).await?;
        let b = store.track_shapes_in(tb, fb, fb + 1).await?;
        if let (Some(a), Some(b)) = (a.first(), b.first())
            && interpolates(a, b)
        {
            spans.push((ta, fa + 1, fb - 1));
        }
    }
    Ok(spans)
}

/// Everything on frames `from..to` of `video`: the stored shapes and the
/// shapes interpolated between keyframes, by frame, then track number (as
/// [`Store::video_shapes`] orders them).
pub async fn derived_shapes(
    store: &Store,
    morphs: &MorphCache,
    video: VideoId,
    from: u64,
    to: u64,
) -> CommandResult<Vec<(u32, Shape)>> {
    if to <= from {
        return Ok(Vec::new());
    }
    let stored = store.video_shapes(video, from, to).await?;
    let around = store.shapes_around(video, from, to).await?;
    if around.iter().all(|(_, before, _)| before.is_none()) && !stored.iter().any(|(_, s)| s.keyframe) {
        return Ok(stored);
    }
    let numbers: HashMap<TrackId, u32> = store.tracks(video).await?.into_iter().map(|t| (t.id, t.number)).collect();
    // Each track's stored shapes in the window with its neighbours outside it.
    let mut by_track: HashMap<TrackId, Vec<&Shape>> = HashMap::new();
    for (track, before, _) in &around {
        if let Some(b) = before {
            by_track.entry(*track).or_default().push(b);
        }
    }
    for (_, s) in &stored {
        by_track.entry(s.track_id).or_default().push(s);
    }
    for (track, _, after) in &around {
        if let Some(a) = after {
            by_track.entry(*track).or_default().push(a);
        }
    }
    let mut out: BTreeMap<(u64, u32, u8), Shape> = BTreeMap::new();
    for (n, s) in &stored {
        out.insert((s.frame, *n, 0), s.clone());
    }
    for (track, shapes) in by_track {
        let Some(&number) = numbers.get(&track) else { continue };
        for pair in shapes.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b.frame <= a.frame + 1 || !interpolates(a, b) {
                continue;
            }
            for frame in (a.frame + 1).max(from)..b.frame.min(to) {
                if let Some(shape) = derive_one(a, b, frame, morphs) {
                    out.insert((frame, number, 1), shape);
                }
            }
        }
    }
    Ok(out.into_values().map(|s| (numbers.get(&s.track_id).copied().unwrap_or(0), s)).collect())
}

impl Workspace {
    /// The shapes on one frame: stored ones and those interpolated between
    /// keyframes around it.
    pub async fn frame_shapes_derived(&self, video: VideoId, frame: u64) -> CommandResult<Vec<Shape>> {
        Ok(derived_shapes(self.store(), &self.inner.morphs, video, frame, frame.saturating_add(1))
            .await?
            .into_iter()
            .map(|(_, s)| s)
            .collect())
    }

    /// The shapes of frames `from..to`, interpolated ones included, by
    /// frame then track number.
    pub async fn video_shapes_derived(&self, video: VideoId, from: u64, to: u64) -> CommandResult<Vec<(u32, Shape)>> {
        derived_shapes(self.store(), &self.inner.morphs, video, from, to).await
    }
}

// ---------------------------------------------------------------------------
// Propagation

/// One frame's result of a tracker.
#[derive(Debug, Clone)]
pub struct TrackStep {
    pub mask: Rle,
    /// The tracker's confidence (SAM: the chosen candidate's predicted IoU).
    pub score: f32,
}

/// A model that follows an object from frame to frame. Given the mask on the
/// starting frame, it is asked for the next frame in the run's direction,
/// one frame at a time; it keeps whatever memory it needs between steps.
pub trait VideoTracker: Send {
    /// The model's id, for messages.
    fn model_id(&self) -> &str;
    /// Starts on `frame` from `mask` (a person's or a previous run's).
    fn start(&mut self, frame: u64, mask: &Rle) -> CommandResult<()>;
    /// The object on `frame`, the next one in the run's direction.
    fn step(&mut self, frame: u64) -> CommandResult<TrackStep>;
}

/// Frame embeddings in the order a run needs them, computed on a thread of
/// their own at most [`ENCODE_AHEAD`] frames ahead of the tracker.
struct EncodeAhead {
    /// `None` once dropping: a closed channel ends the thread's next send.
    rx: Option<mpsc::Receiver<(u64, CommandResult<Arc<Embedding>>)>>,
    stop: Cancel,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EncodeAhead {
    fn start(
        ws: &Workspace,
        model: Arc<SamModel>,
        cache: Arc<EmbeddingCache>,
        video: &Video,
        frames: Vec<u64>,
    ) -> CommandResult<Self> {
        let recipe = ws.videos().recipe(video)?;
        let video = video.clone();
        let hooks = ws.inner.hooks.clone();
        let (tx, rx) = mpsc::sync_channel(ENCODE_AHEAD);
        let backward = frames.len() > 1 && frames[1] < frames[0];
        let stop = Cancel::new();
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("argus-track-encode".into())
            .spawn(move || {
                let mut source = None;
                for frame in frames {
                    if stopped.is_cancelled() {
                        return;
                    }
                    let key = EmbeddingKey { video_hash: video.sha256.clone(), frame, model_id: model.manifest().id.clone() };
                    let result = match cache.get(&key) {
                        Some(e) if e.transform().frame_w == video.width && e.transform().frame_h == video.height => Ok(e),
                        // Used once and dropped: a long run neither fills the
                        // disk cache nor pushes the frames the user is working
                        // on out of the memory cache, and holds only the few
                        // embeddings in flight, whatever the video's length.
                        _ => {
                            hooks.encoding(&video, frame);
                            encode_frame(&recipe, &mut source, &model, &video, frame, backward).map(Arc::new)
                        }
                    };
                    let failed = result.is_err();
                    if tx.send((frame, result)).is_err() || failed {
                        return;
                    }
                }
            })
            .map_err(|e| CommandError::internal(format!("could not start the propagation's encoder thread: {e}")))?;
        Ok(Self { rx: Some(rx), stop, thread: Some(thread) })
    }

    /// The embedding of `frame`, the next one of the run.
    fn next(&self, frame: u64) -> CommandResult<Arc<Embedding>> {
        let stopped = || CommandError::internal("the propagation's encoder stopped");
        match self.rx.as_ref().ok_or_else(stopped)?.recv() {
            Ok((f, result)) if f == frame => result,
            Ok((f, _)) => Err(CommandError::internal(format!("the propagation's encoder gave frame {f}, not {frame}"))),
            Err(_) => Err(stopped()),
        }
    }

}

impl Drop for EncodeAhead {
    fn drop(&mut self) {
        self.stop.cancel();
        // Closing the channel fails a send in progress; then wait for the
        // frame being encoded.
        self.rx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The decoded-frame cache of a forward run's decoder: it reads each frame
/// once, in order. A backward run keeps the default (each step back decodes
/// from the keyframe before, and the cache holds that group of pictures).
const FORWARD_DECODER_CACHE: usize = 16 << 20;

fn encode_frame(
    recipe: &crate::videos::DecoderRecipe,
    source: &mut Option<argus_media::VideoSource>,
    model: &SamModel,
    video: &Video,
    frame: u64,
    backward: bool,
) -> CommandResult<Embedding> {
    let source = match source {
        Some(s) => s,
        None if backward => source.insert(recipe.open()?),
        None => source.insert(recipe.open_with_cache(FORWARD_DECODER_CACHE)?),
    };
    let (rgba, width, height) = crate::sam::frame_pixels(source, video, frame)
        .map_err(|e| CommandError::new(ErrorKind::Media, format!("frame {frame} could not be decoded to track on it: {e}")))?;
    let image = argus_sam::ImageView::packed(&rgba, width, height, argus_sam::PixelFormat::Rgba8)?;
    Ok(model.encode(&image)?)
}

/// The image-model tracker: each frame is encoded (ahead, see
/// [`EncodeAhead`]) and prompted with the previous frame's mask.
pub struct SamImageTracker {
    model: Arc<SamModel>,
    frames: EncodeAhead,
    state: Option<TrackState>,
    options: TrackStepOptions,
}

impl std::fmt::Debug for SamImageTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamImageTracker").field("model", &self.model.manifest().id).finish_non_exhaustive()
    }
}

impl SamImageTracker {
    fn new(ws: &Workspace, video: &Video, frames: Vec<u64>) -> CommandResult<Self> {
        let (model, cache) = ws.sam().loaded()?;
        let frames = EncodeAhead::start(ws, model.clone(), cache, video, frames)?;
        Ok(Self { model, frames, state: None, options: TrackStepOptions::default() })
    }
}

impl VideoTracker for SamImageTracker {
    fn model_id(&self) -> &str {
        &self.model.manifest().id
    }

    fn start(&mut self, _frame: u64, mask: &Rle) -> CommandResult<()> {
        self.state = Some(TrackState { mask: mask.clone(), low_res: None, score: 1.0 });
        Ok(())
    }

    fn step(&mut self, frame: u64) -> CommandResult<TrackStep> {
        let previous = self.state.as_ref().ok_or_else(|| CommandError::internal("the tracker was not started"))?;
        let embedding = self.frames.next(frame)?;
        let next = self.model.track_step(&embedding, previous, &self.options)?;
        let step = TrackStep { mask: next.mask.clone(), score: next.score };
        self.state = Some(next);
        Ok(step)
    }
}

/// Why a frame is doubted: `None` when the step looks like the same object.
pub fn doubt(previous: &Rle, next: &TrackStep, options: &PropagateOptions) -> Option<String> {
    if next.mask.is_empty() {
        return Some("the object was lost (empty mask)".into());
    }
    if next.score < options.min_score {
        return Some(format!("low confidence: predicted IoU {:.2} < {:.2}", next.score, options.min_score));
    }
    let (pa, na) = (previous.area() as f64, next.mask.area() as f64);
    if pa > 0.0 {
        let change = (na / pa - 1.0).abs();
        if change > options.max_area_change {
            return Some(format!("the area changed by {:.0}% in one frame", change * 100.0));
        }
        if let (Some(pc), Some(nc)) = (previous.centroid(), next.mask.centroid()) {
            let jump = distance(pc, nc) / pa.sqrt();
            if jump > options.max_jump {
                return Some(format!(
                    "the centre jumped {:.0} px ({:.2} of the object's size)",
                    distance(pc, nc),
                    jump
                ));
            }
        }
    }
    None
}

fn distance(a: Point, b: Point) -> f64 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

/// The frames a run visits after `start`, in order: up to the next stored
/// keyframe of the track (exclusive), the video's end, and `limit` frames.
fn run_frames(start: u64, direction: PropagateDirection, limit: u64, frame_count: u64, keyframes: &[u64]) -> Vec<u64> {
    let limit = limit.max(1);
    match direction {
        PropagateDirection::Forward => {
            let stop = keyframes.iter().copied().find(|&k| k > start).unwrap_or(frame_count).min(frame_count);
            (start + 1..stop).take(limit as usize).collect()
        }
        PropagateDirection::Backward => {
            let stop = keyframes.iter().rev().copied().find(|&k| k < start);
            let first = stop.map_or(0, |k| k + 1);
            (first..start).rev().take(limit as usize).collect()
        }
    }
}

/// The starting mask: the track's shape on the start frame (stored or
/// interpolated), as a mask.
fn start_mask(shape: &Shape, video: &Video) -> CommandResult<Rle> {
    let (h, w) = (video.height, video.width);
    let mask = match &shape.geometry {
        Geometry::Mask(m) => m.clone(),
        Geometry::Polygon(p) => Rle::from_polygon(h, w, p)?,
        Geometry::BBox(b) => Rle::from_bbox(h, w, b)?,
        Geometry::Polyline(_) | Geometry::Points(_) => {
            return Err(CommandError::invalid(format!(
                "propagation follows a mask, polygon or box; this object's shape on frame {} is {}",
                shape.frame,
                shape.geometry.kind().name()
            )));
        }
    };
    if mask.is_empty() {
        return Err(CommandError::invalid(format!("the object's shape on frame {} is empty: nothing to follow", shape.frame)));
    }
    Ok(mask)
}

impl Workspace {
    /// Propagates `track`'s shape on `frame` over the frames that follow (or
    /// precede) it with the loaded SAM model. See the module documentation.
    pub async fn propagate(
        &self,
        video_id: &str,
        track_id: &str,
        frame: u64,
        options: &PropagateOptions,
        progress: &(dyn Fn(TrackProgress) + Send + Sync),
        cancel: &Cancel,
    ) -> CommandResult<PropagateSummary> {
        let store = self.store();
        let video = store.video(crate::edit::parse_id("video", video_id)?).await?;
        let track = store.track(crate::edit::parse_id("track", track_id)?).await?;
        if track.video_id != video.id {
            return Err(CommandError::invalid(format!("object #{} is not in this video", track.number)));
        }
        video.check_frame(frame)?;
        let keyframes = store.keyframes(track.id).await?;
        let frames = run_frames(frame, options.direction, options.max_frames.unwrap_or(u64::MAX), video.frame_count, &keyframes);
        let start = self
            .frame_shapes_derived(video.id, frame)
            .await?
            .into_iter()
            .find(|s| s.track_id == track.id)
            .ok_or_else(|| CommandError::not_found(format!("object #{} has no shape on frame {frame} to propagate", track.number)))?;
        let mask = start_mask(&start, &video)?;
        let (for_thread, v) = (frames.clone(), video.clone());
        let mut tracker: Box<dyn VideoTracker> = self
            .blocking(move |ws| -> CommandResult<Box<dyn VideoTracker>> {
                Ok(Box::new(SamImageTracker::new(ws, &v, for_thread)?))
            })
            .await?;
        tracker.start(frame, &mask)?;
        self.propagate_with(&video, &track, &start, mask, tracker, frames, options, progress, cancel).await
    }

    /// The run itself, with any tracker (tests and other models).
    #[allow(clippy::too_many_arguments)]
    pub async fn propagate_with(
        &self,
        video: &Video,
        track: &argus_core::model::Track,
        start: &Shape,
        mask: Rle,
        tracker: Box<dyn VideoTracker>,
        frames: Vec<u64>,
        options: &PropagateOptions,
        progress: &(dyn Fn(TrackProgress) + Send + Sync),
        cancel: &Cancel,
    ) -> CommandResult<PropagateSummary> {
        let store = self.store();
        let actor = store.actor(video.project_id, store.local_user()).await?;
        let group = store.undo_group();
        let direction = match options.direction {
            PropagateDirection::Forward => "forward",
            PropagateDirection::Backward => "backward",
        };
        let summary_text = format!("propagate #{} {direction} from frame {}", track.number, start.frame);
        // Propagated shapes this run replaces: the track's non-keyframes on its frames.
        let (lo, hi) = match (frames.iter().min(), frames.iter().max()) {
            (Some(&lo), Some(&hi)) => (lo, hi + 1),
            _ => (0, 0),
        };
        let stale: Vec<Shape> = if hi > lo {
            store.track_shapes_in(track.id, lo, hi).await?.into_iter().filter(|s| !s.keyframe).collect()
        } else {
            Vec::new()
        };
        let mut summary = PropagateSummary {
            video_id: video.id.to_string(),
            track_id: track.id.to_string(),
            start: start.frame,
            written: 0,
            replaced: stale.len() as u64,
            last_frame: None,
            flagged: Vec::new(),
            stopped: None,
            cancelled: false,
            model: tracker.model_id().to_owned(),
        };
        let mut pending: Vec<Shape> = Vec::new();
        let mut deletes: Vec<Command> = stale.iter().map(|s| Command::DeleteShape { shape_id: s.id }).collect();
        let total = frames.len() as u64;
        let mut previous = mask;
        // The tracker runs on a blocking thread, one frame at a time.
        let tracker = Arc::new(Mutex::new(tracker));
        let mut failure = None;
        for (i, &frame) in frames.iter().enumerate() {
            if cancel.is_cancelled() {
                summary.cancelled = true;
                break;
            }
            let t = tracker.clone();
            let step = match tokio::task::spawn_blocking(move || t.lock().step(frame)).await {
                Ok(Ok(step)) => step,
                Ok(Err(e)) => {
                    failure = Some(e);
                    break;
                }
                Err(e) => {
                    failure = Some(CommandError::internal(format!("the tracker failed: {e}")));
                    break;
                }
            };
            if let Some(why) = doubt(&previous, &step, options) {
                let lost = step.mask.is_empty();
                if options.stop_on_doubt || lost {
                    summary.stopped = Some(PropagatedFlag { frame, reason: why });
                    break;
                }
                summary.flagged.push(PropagatedFlag { frame, reason: why });
            }
            let mut shape = Shape::keyframe(track.id, frame, Geometry::Mask(step.mask.clone()), ShapeSource::Propagated, Timestamp(0));
            shape.keyframe = false;
            shape.score = Some(step.score);
            shape.attributes = start.attributes.clone();
            shape.occluded = start.occluded;
            shape.author = Some(actor.user);
            pending.push(shape);
            previous = step.mask;
            summary.last_frame = Some(frame);
            if pending.len() >= PROPAGATE_BATCH {
                summary.written += self.write_run(store, video, &actor, &summary_text, &group, &mut deletes, &mut pending).await?;
            }
            progress(TrackProgress {
                video_id: video.id.to_string(),
                track_id: track.id.to_string(),
                frame,
                done: i as u64 + 1,
                total,
                flagged: summary.flagged.len() as u64,
            });
        }
        summary.written += self.write_run(store, video, &actor, &summary_text, &group, &mut deletes, &mut pending).await?;
        if let Some(e) = failure {
            // What was written stays (one undo step); the error says where it stopped.
            return Err(CommandError::new(
                e.kind,
                format!(
                    "{} (propagation stopped there; {} frame(s) before it were written and undo as one step)",
                    e.message, summary.written
                ),
            ));
        }
        Ok(summary)
    }

    /// Writes the pending deletions and shapes of a run as one batch of its
    /// undo group; returns how many shapes were written.
    #[allow(clippy::too_many_arguments)]
    async fn write_run(
        &self,
        store: &Store,
        video: &Video,
        actor: &argus_store::Actor,
        summary: &str,
        group: &UndoGroup,
        deletes: &mut Vec<Command>,
        pending: &mut Vec<Shape>,
    ) -> CommandResult<u64> {
        if deletes.is_empty() && pending.is_empty() {
            return Ok(0);
        }
        let written = pending.len() as u64;
        let mut commands = std::mem::take(deletes);
        if !pending.is_empty() {
            commands.push(Command::SetShapes { shapes: std::mem::take(pending) });
        }
        store
            .batch_in(video.project_id, actor, summary, group, async |b: &mut argus_store::Batch<'_>| {
                for cmd in commands {
                    b.apply(cmd).await?;
                }
                Ok(())
            })
            .await?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_stops_before_the_next_keyframe_and_the_video_end() {
        let f = PropagateDirection::Forward;
        let b = PropagateDirection::Backward;
        assert_eq!(run_frames(5, f, 100, 20, &[0, 5, 9]), vec![6, 7, 8]);
        assert_eq!(run_frames(5, f, 100, 8, &[5]), vec![6, 7]);
        assert_eq!(run_frames(5, f, 2, 20, &[5]), vec![6, 7]);
        assert_eq!(run_frames(5, b, 100, 20, &[2, 5]), vec![4, 3]);
        assert_eq!(run_frames(2, b, 100, 20, &[2]), vec![1, 0]);
        assert_eq!(run_frames(0, b, 100, 20, &[0]), Vec::<u64>::new());
        assert_eq!(run_frames(19, f, 100, 20, &[]), Vec::<u64>::new());
    }

    fn square(x: u32, y: u32, side: u32) -> Rle {
        let bbox = argus_core::BBox::new(x as f64, y as f64, side as f64, side as f64).expect("test value");
        Rle::from_bbox(100, 200, &bbox).expect("test value")
    }

    #[test]
    fn doubts_name_what_changed() {
        let options = PropagateOptions::default();
        let prev = square(10, 10, 20);
        let ok = TrackStep { mask: square(12, 10, 20), score: 0.9 };
        assert_eq!(doubt(&prev, &ok, &options), None);
        let low = TrackStep { mask: square(12, 10, 20), score: 0.1 };
        assert!(doubt(&prev, &low, &options).expect("test value").contains("predicted IoU 0.10"));
        let grew = TrackStep { mask: square(10, 10, 40), score: 0.9 };
        assert!(doubt(&prev, &grew, &options).expect("test value").contains("area changed by 300%"));
        let jumped = TrackStep { mask: square(150, 60, 20), score: 0.9 };
        assert!(doubt(&prev, &jumped, &options).expect("test value").contains("centre jumped"));
        let lost = TrackStep { mask: Rle::empty(100, 200).expect("test value"), score: 0.9 };
        assert!(doubt(&prev, &lost, &options).expect("test value").contains("lost"));
    }
}
