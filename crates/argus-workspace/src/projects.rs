//! Importing a video file into a project: probe the headers, index every
//! packet (exact frame count and content hash, cached in the app's data
//! folder), then add the video to the store.

use std::path::{Path, PathBuf};

use argus_core::id::ProjectId;
use argus_core::model::{Timestamp, Video};
use argus_media::IndexCache;

use crate::dto::VideoSummary;
use crate::error::CommandResult;
use crate::state::AppState;

/// Imports `path` into `project`. `storing` is called once the file is
/// indexed, before it is written to the store.
pub async fn import(
    state: &AppState,
    project: ProjectId,
    path: PathBuf,
    storing: impl FnOnce(),
) -> CommandResult<VideoSummary> {
    // Fail fast on a wrong project, before the slow indexing.
    state.store().project(project).await?;
    let video = state.blocking(move |s| describe(s, project, &path)).await?;
    storing();
    let video = state.store().add_video(video).await?;
    Ok(VideoSummary::from(&video))
}

/// Probes and indexes `path` (argus-media's shared import path, with the
/// app's index cache) and describes it as a video of `project`. Blocking.
fn describe(state: &AppState, project: ProjectId, path: &Path) -> CommandResult<Video> {
    let cache = IndexCache::new(state.data_dir().join("index-cache"));
    let described = argus_media::describe_video(project, path, Some(&cache), Timestamp(0))?;
    if let Some(damage) = &described.damage {
        tracing::warn!(
            "the video is damaged after frame {} ({}); importing the frames before it: {}",
            described.video.frame_count,
            damage.message,
            path.display()
        );
    }
    Ok(described.video)
}
