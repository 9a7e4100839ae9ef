//! The IPC commands. Each body is a few calls into the library crates; the
//! payload types are in [`crate::dto`] and errors are [`CommandError`].

use std::path::PathBuf;
use std::str::FromStr;

use argus_core::id::{LabelId, ProjectId, TrackId, VideoId};
use argus_core::model::{
    Colour, Geometry, Label, Shape, ShapeSource, Timestamp, Track,
};
use argus_store::Command;
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::dto::{
    AcceptTarget, Accepted, AppInfo, FrameDensity, HistoryState, IMPORT_PROGRESS_EVENT,
    ImportProgress, ProjectDetail, ProjectSummary, SamModelInfo, SamPreview, SamPrompt, ShapeInfo,
    Timeline, VideoSummary,
};
use crate::error::{CommandError, CommandResult};
use crate::state::AppState;
use crate::{import, sam};

fn parse_id<T: FromStr>(what: &str, s: &str) -> CommandResult<T> {
    T::from_str(s).map_err(|_| CommandError::invalid(format!("'{s}' is not a valid {what} id")))
}

#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> CommandResult<AppInfo> {
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        renderer: state.compositor_description(),
        sam_model: state.sam.lock().model_info().map(|m| m.id),
        database: state.store().path().display().to_string(),
        sam_manifest_hint: std::env::var("ARGUS_SAM_MANIFEST").ok().filter(|s| !s.trim().is_empty()),
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

/// Loads a SAM model from its manifest (TOML) file.
#[tauri::command]
pub async fn load_sam_model(
    state: State<'_, AppState>,
    manifest_path: String,
) -> CommandResult<SamModelInfo> {
    state
        .blocking(move |s| sam::load_model(s, std::path::Path::new(&manifest_path)))
        .await
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
    let id: VideoId = parse_id("video", &video_id)?;
    let store = state.store();
    let video = store.video(id).await?;
    let actor = store.actor(video.project_id, store.local_user()).await?;
    let schema = store.schema(video.project_id).await?;
    let (track, is_new) = match &target {
        AcceptTarget::Track { track_id } => (
            store.track(parse_id::<TrackId>("track", track_id)?).await?,
            false,
        ),
        AcceptTarget::NewTrack { label_id } => (
            Track::new(video.id, parse_id::<LabelId>("label", label_id)?, Some(actor.user), Timestamp(0)),
            true,
        ),
    };
    let (mask, iou) = state.sam.lock().take(video.id, frame, rank as usize)?;
    let shape = Shape {
        score: Some(iou),
        author: Some(actor.user),
        ..Shape::keyframe(track.id, frame, Geometry::Mask(mask), ShapeSource::Sam, Timestamp(0))
    };
    let info_shape = shape.clone();
    let command = if is_new {
        Command::CreateTrack {
            track: track.clone(),
            shapes: vec![shape],
        }
    } else {
        Command::SetShape { shape }
    };
    let applied = store.apply_in(video.project_id, &actor, command).await?;
    let stored_track = store.track(track.id).await?;
    let label = schema.label(stored_track.label_id).ok();
    let (undo, redo) = store.history_depth(video.project_id).await?;
    Ok(Accepted {
        track_id: track.id.to_string(),
        shape: ShapeInfo::new(&info_shape, Some(&stored_track), label),
        history: HistoryState {
            summary: applied.summary,
            undo,
            redo,
        },
    })
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
