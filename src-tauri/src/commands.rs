//! The IPC commands. Each body is a few calls into the library crates; the
//! payload types are in [`crate::dto`] and errors are [`CommandError`].

use std::path::PathBuf;

use argus_core::id::{LabelId, ProjectId, TrackId, VideoId};
use argus_core::model::{Colour, Geometry, Label, ShapeSource};
use argus_store::Command;
use tauri::{AppHandle, Emitter, Manager, Runtime, State};

use crate::dto::{
    AcceptTarget, Accepted, AppInfo, BrushStroke, DrawnShape, Edited, FrameDensity, HistoryState,
    IMPORT_PROGRESS_EVENT, ImportProgress, MODEL_PROGRESS_EVENT, PointPx, ProjectDetail,
    ProjectSummary, SamCache, SamCandidate, SamModelChoice, SamModelInfo, SamPreview, SamPrompt,
    ShapeInfo, Timeline, VideoSummary,
};
use crate::edit::{self, Target};
use crate::error::{CommandError, CommandResult};
use crate::frame_server::FrameServerCell;
use crate::state::AppState;
use crate::{import, sam};

use edit::parse_id;

#[tauri::command]
pub async fn app_info<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> CommandResult<AppInfo> {
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        renderer: state.compositor_description(),
        sam_model: state.sam.lock().model_info().map(|m| m.id),
        database: state.store().path().display().to_string(),
        sam_manifest_hint: std::env::var("ARGUS_SAM_MANIFEST")
            .ok()
            .filter(|s| !s.trim().is_empty()),
        frame_base: app
            .try_state::<FrameServerCell>()
            .and_then(|cell| cell.base(&state)),
    })
}

#[tauri::command]
pub async fn list_projects(state: State<'_, AppState>) -> CommandResult<Vec<ProjectSummary>> {
    let store = state.store();
    let mut out = Vec::new();
    for p in store.projects().await? {
        out.push(ProjectSummary::new(&p, &store.schema(p.id).await?));
    }
    Ok(out)
}

/// Creates a project with one label per name, coloured from the palette.
#[tauri::command]
pub async fn create_project(
    state: State<'_, AppState>,
    name: String,
    labels: Vec<String>,
) -> CommandResult<ProjectSummary> {
    let labels = labels
        .iter()
        .enumerate()
        .map(|(i, n)| Label::new(n, Colour::palette(i)))
        .collect();
    let (project, schema) = state.store().create_project(&name, labels).await?;
    Ok(ProjectSummary::new(&project, &schema))
}

#[tauri::command]
pub async fn open_project(
    state: State<'_, AppState>,
    project_id: String,
) -> CommandResult<ProjectDetail> {
    let id: ProjectId = parse_id("project", &project_id)?;
    let store = state.store();
    let project = store.project(id).await?;
    let schema = store.schema(id).await?;
    let videos = store
        .videos(id)
        .await?
        .iter()
        .map(VideoSummary::from)
        .collect();
    Ok(ProjectDetail {
        project: ProjectSummary::new(&project, &schema),
        videos,
    })
}

/// Probes, indexes and adds a video file; progress goes out as `import-progress` events.
#[tauri::command]
pub async fn import_video<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    project_id: String,
    path: String,
) -> CommandResult<VideoSummary> {
    let project: ProjectId = parse_id("project", &project_id)?;
    let report = |p: ImportProgress| {
        if let Err(e) = app.emit(IMPORT_PROGRESS_EVENT, p) {
            tracing::warn!("could not send import progress: {e}");
        }
    };
    report(ImportProgress::Indexing { path: path.clone() });
    let result = import::import(&state, project, PathBuf::from(&path), || {
        report(ImportProgress::Storing { path: path.clone() })
    })
    .await;
    match &result {
        Ok(video) => report(ImportProgress::Done {
            video: video.clone(),
        }),
        Err(e) => report(ImportProgress::Failed {
            path: path.clone(),
            message: e.message.clone(),
        }),
    }
    result
}

/// The shapes on one frame with their track and label (the object list).
#[tauri::command]
pub async fn frame_shapes(
    state: State<'_, AppState>,
    video_id: String,
    frame: u64,
) -> CommandResult<Vec<ShapeInfo>> {
    let id: VideoId = parse_id("video", &video_id)?;
    let store = state.store();
    let video = store.video(id).await?;
    video.check_frame(frame)?;
    let schema = store.schema(video.project_id).await?;
    let tracks = store.tracks(id).await?;
    let shapes = store.frame_shapes(id, frame).await?;
    Ok(shapes
        .iter()
        .map(|s| {
            let track = tracks.iter().find(|t| t.id == s.track_id);
            let label = track.and_then(|t| schema.label(t.label_id).ok());
            ShapeInfo::new(s, track, label)
        })
        .collect())
}

/// Shape and keyframe counts per frame, for the timeline.
#[tauri::command]
pub async fn timeline(state: State<'_, AppState>, video_id: String) -> CommandResult<Timeline> {
    let id: VideoId = parse_id("video", &video_id)?;
    let store = state.store();
    let video = store.video(id).await?;
    let frames = store
        .frame_counts(id)
        .await?
        .into_iter()
        .map(|c| FrameDensity {
            frame: c.frame,
            shapes: c.shapes,
            keyframes: c.keyframes,
        })
        .collect();
    Ok(Timeline {
        frame_count: video.frame_count,
        frames,
    })
}

/// Loads a SAM model: `manifest_path` is a manifest (TOML) file or the id of
/// a shipped model. Missing files are downloaded first; progress goes out as
/// `model-progress` events.
#[tauri::command]
pub async fn load_sam_model<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    manifest_path: String,
) -> CommandResult<SamModelInfo> {
    state
        .blocking(move |s| {
            sam::load_model(s, &manifest_path, &mut |p| {
                if let Err(e) = app.emit(MODEL_PROGRESS_EVENT, p) {
                    tracing::warn!("could not send model progress: {e}");
                }
            })
        })
        .await
}

/// The shipped SAM models, and which are downloaded already.
#[tauri::command]
pub async fn list_sam_models(state: State<'_, AppState>) -> CommandResult<Vec<SamModelChoice>> {
    state.blocking(|s| Ok(sam::choices(s))).await
}

/// The system's file dialog for picking videos to import; empty when cancelled.
#[tauri::command]
pub async fn choose_video_files<R: Runtime>(app: AppHandle<R>) -> CommandResult<Vec<String>> {
    use tauri_plugin_dialog::DialogExt;
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Import videos")
        .add_filter(
            "Videos",
            &[
                "mp4", "mov", "mkv", "webm", "avi", "m4v", "mpg", "mpeg", "ts", "mts", "wmv", "flv",
            ],
        )
        .add_filter("All files", &["*"])
        .pick_files(move |files| {
            let _ = tx.send(files);
        });
    let files = rx
        .await
        .map_err(|_| CommandError::internal("the file dialog closed without an answer"))?;
    Ok(files
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| f.into_path().ok())
        .map(|p| p.display().to_string())
        .collect())
}

/// Runs SAM on the clicks and box so far; the candidates become the live preview.
#[tauri::command]
pub async fn sam_predict(
    state: State<'_, AppState>,
    video_id: String,
    frame: u64,
    prompt: SamPrompt,
) -> CommandResult<SamPreview> {
    let id: VideoId = parse_id("video", &video_id)?;
    let video = state.store().video(id).await?;
    state
        .blocking(move |s| sam::predict(s, &video, frame, &prompt))
        .await
}

/// Candidate `rank` of the pending SAM prediction with its area and box
/// (the click itself builds only the best candidate's mask).
#[tauri::command]
pub async fn sam_candidate(
    state: State<'_, AppState>,
    video_id: String,
    frame: u64,
    rank: u32,
) -> CommandResult<SamCandidate> {
    let id: VideoId = parse_id("video", &video_id)?;
    state
        .blocking(move |s| s.sam.lock().candidate(id, frame, rank as usize))
        .await
}

/// Pre-encodes the frames around `frame` in the background (when a model is
/// loaded) and says which of them are ready, for the SAM indicator.
#[tauri::command]
pub async fn sam_prefetch(
    state: State<'_, AppState>,
    video_id: String,
    frame: u64,
    start: bool,
) -> CommandResult<SamCache> {
    let id: VideoId = parse_id("video", &video_id)?;
    let video = state.store().video(id).await?;
    video.check_frame(frame)?;
    state
        .blocking(move |s| {
            if start && s.sam.lock().model_info().is_some() {
                sam::prefetch(s, &video, frame)?;
            }
            Ok(sam::cache_state(s, &video, frame))
        })
        .await
}

/// Drops the pending preview.
#[tauri::command]
pub async fn sam_clear(state: State<'_, AppState>) -> CommandResult<()> {
    state.sam.lock().clear();
    Ok(())
}

/// Stores candidate `rank` of the pending preview as a SAM keyframe, on an
/// existing track or a new one. One undo step.
#[tauri::command]
pub async fn sam_accept(
    state: State<'_, AppState>,
    video_id: String,
    frame: u64,
    rank: u32,
    target: AcceptTarget,
) -> CommandResult<Accepted> {
    let target = Target::resolve(&state, &video_id, &target).await?;
    let (mask, iou) = state
        .sam
        .lock()
        .take(target.video.id, frame, rank as usize)?;
    let edited = target
        .store(
            &state,
            frame,
            Geometry::Mask(mask),
            ShapeSource::Sam,
            Some(iou),
        )
        .await?;
    match (edited.track_id, edited.shape) {
        (Some(track_id), Some(shape)) => Ok(Accepted {
            track_id,
            shape,
            history: edited.history,
        }),
        _ => Err(CommandError::internal("the accepted mask was not stored")),
    }
}

/// Stores a shape drawn with the polygon, box, polyline or points tool as a
/// keyframe of an existing track (replacing its shape on this frame) or of a
/// new one. One undo step.
#[tauri::command]
pub async fn draw_shape(
    state: State<'_, AppState>,
    video_id: String,
    frame: u64,
    target: AcceptTarget,
    shape: DrawnShape,
) -> CommandResult<Edited> {
    let geometry = edit::geometry(&shape)?;
    let target = Target::resolve(&state, &video_id, &target).await?;
    target
        .store(&state, frame, geometry, ShapeSource::Manual, None)
        .await
}

/// Paints (or erases) one brush stroke on the target's mask on this frame. A
/// polygon or box becomes a mask; erasing everything deletes the shape. One
/// undo step.
#[tauri::command]
pub async fn brush_stroke(
    state: State<'_, AppState>,
    video_id: String,
    frame: u64,
    target: AcceptTarget,
    stroke: BrushStroke,
) -> CommandResult<Edited> {
    let target = Target::resolve(&state, &video_id, &target).await?;
    target.video.check_frame(frame)?;
    let (width, height) = target.video.display_size();
    let existing = target.shape_on(&state, frame).await?;
    match edit::brushed(
        existing.as_ref().map(|s| &s.geometry),
        &stroke,
        height,
        width,
    )? {
        Some(mask) => {
            target
                .store(
                    &state,
                    frame,
                    Geometry::Mask(mask),
                    ShapeSource::Manual,
                    None,
                )
                .await
        }
        None => {
            let shape_id = existing
                .map(|s| s.id)
                .ok_or_else(|| CommandError::internal("erased a shape that was not there"))?;
            target
                .apply(&state, Command::DeleteShape { shape_id }, None)
                .await
        }
    }
}

/// Cuts `ring` out of the track's shape on this frame: a hole in a polygon,
/// or pixels removed from a mask. One undo step.
#[tauri::command]
pub async fn cut_hole(
    state: State<'_, AppState>,
    video_id: String,
    frame: u64,
    track_id: String,
    ring: Vec<PointPx>,
) -> CommandResult<Edited> {
    let target = Target::track(&state, &video_id, track_id).await?;
    let existing = target
        .shape_needed(&state, frame, "to cut a hole into")
        .await?;
    let (width, height) = target.video.display_size();
    let geometry = edit::with_hole(&existing.geometry, &ring, height, width)?;
    target
        .store(&state, frame, geometry, existing.source, existing.score)
        .await
}

/// Copies the track's shape on `frame` to `frame + 1` as a keyframe
/// (replacing what is there). One undo step.
#[tauri::command]
pub async fn copy_to_next_frame(
    state: State<'_, AppState>,
    video_id: String,
    frame: u64,
    track_id: String,
) -> CommandResult<Edited> {
    let target = Target::track(&state, &video_id, track_id).await?;
    let next = frame + 1;
    if next >= target.video.frame_count {
        return Err(CommandError::invalid(format!(
            "frame {frame} is the last frame; there is no next frame to copy to"
        )));
    }
    let shape = target.shape_needed(&state, frame, "to copy").await?;
    target
        .store(&state, next, shape.geometry, ShapeSource::Manual, None)
        .await
}

/// Deletes the track's shape on one frame. One undo step.
#[tauri::command]
pub async fn delete_shape(
    state: State<'_, AppState>,
    video_id: String,
    frame: u64,
    track_id: String,
) -> CommandResult<Edited> {
    let target = Target::track(&state, &video_id, track_id).await?;
    let shape = target.shape_needed(&state, frame, "to delete").await?;
    target
        .apply(&state, Command::DeleteShape { shape_id: shape.id }, None)
        .await
}

/// Deletes a whole object (the track and its shapes on every frame). One undo step.
#[tauri::command]
pub async fn delete_track(
    state: State<'_, AppState>,
    video_id: String,
    track_id: String,
) -> CommandResult<Edited> {
    let target = Target::track(&state, &video_id, track_id).await?;
    let command = Command::DeleteTrack {
        track_id: target.track.id,
    };
    target.apply(&state, command, None).await
}

/// Moves an object to another label. One undo step.
#[tauri::command]
pub async fn change_label(
    state: State<'_, AppState>,
    video_id: String,
    frame: u64,
    track_id: String,
    label_id: String,
) -> CommandResult<Edited> {
    let target = Target::track(&state, &video_id, track_id).await?;
    let command = Command::ChangeLabel {
        track_id: target.track.id,
        label_id: edit::parse_id::<LabelId>("label", &label_id)?,
        attributes: None,
    };
    target.apply(&state, command, Some(frame)).await
}

/// Sets one attribute of an object: on the object, or on its shape on this
/// frame for a per-frame attribute. The value is checked against the label.
/// One undo step.
#[tauri::command]
pub async fn set_attribute(
    state: State<'_, AppState>,
    video_id: String,
    frame: u64,
    track_id: String,
    name: String,
    value: serde_json::Value,
) -> CommandResult<Edited> {
    let target = Target::track(&state, &video_id, track_id).await?;
    let schema = state.store().schema(target.video.project_id).await?;
    let label = schema.label(target.track.label_id)?;
    let shape = target.shape_on(&state, frame).await?;
    let (attributes, per_frame) = edit::set_attribute(
        label,
        &target.track.attributes,
        shape.as_ref().map(|s| &s.attributes),
        &name,
        value,
    )?;
    let command = match (per_frame, &shape) {
        (true, Some(s)) => Command::SetShapeAttributes {
            shape_id: s.id,
            attributes,
        },
        _ => Command::SetTrackAttributes {
            track_id: target.track.id,
            attributes,
        },
    };
    target.apply(&state, command, Some(frame)).await
}

/// The object under `(x, y)` on this frame (frame pixels): the topmost, i.e.
/// the most recently created track whose shape covers the point, skipping
/// `hidden` tracks.
#[tauri::command]
pub async fn pick_object(
    state: State<'_, AppState>,
    video_id: String,
    frame: u64,
    x: f64,
    y: f64,
    hidden: Option<Vec<String>>,
) -> CommandResult<Option<String>> {
    let id: VideoId = parse_id("video", &video_id)?;
    let store = state.store();
    let tracks = store.tracks(id).await?;
    let shapes = store.frame_shapes(id, frame).await?;
    let hidden = hidden.unwrap_or_default();
    let mut hit: Option<(usize, TrackId)> = None;
    for s in &shapes {
        if hidden.iter().any(|h| *h == s.track_id.to_string()) || !edit::hits(&s.geometry, x, y) {
            continue;
        }
        let order = tracks.iter().position(|t| t.id == s.track_id).unwrap_or(0);
        if hit.is_none_or(|(o, _)| order >= o) {
            hit = Some((order, s.track_id));
        }
    }
    Ok(hit.map(|(_, t)| t.to_string()))
}

#[tauri::command]
pub async fn undo(state: State<'_, AppState>, project_id: String) -> CommandResult<HistoryState> {
    let id: ProjectId = parse_id("project", &project_id)?;
    let applied = state.store().undo(id).await?;
    history_after(&state, id, applied.summary).await
}

#[tauri::command]
pub async fn redo(state: State<'_, AppState>, project_id: String) -> CommandResult<HistoryState> {
    let id: ProjectId = parse_id("project", &project_id)?;
    let applied = state.store().redo(id).await?;
    history_after(&state, id, applied.summary).await
}

#[tauri::command]
pub async fn history(
    state: State<'_, AppState>,
    project_id: String,
) -> CommandResult<HistoryState> {
    let id: ProjectId = parse_id("project", &project_id)?;
    history_after(&state, id, String::new()).await
}

async fn history_after(
    state: &AppState,
    project: ProjectId,
    summary: String,
) -> CommandResult<HistoryState> {
    let (undo, redo) = state.store().history_depth(project).await?;
    Ok(HistoryState {
        summary,
        undo,
        redo,
    })
}
