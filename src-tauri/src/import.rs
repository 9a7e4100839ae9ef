//! Importing a video file into a project: probe the headers, index every
//! packet (exact frame count and content hash, cached in the app's data
//! folder), then add the video to the store.

use std::path::{Path, PathBuf};

use argus_core::id::{ProjectId, VideoId};
use argus_core::model::{Rotation, Timestamp, Video};
use argus_core::Rational;
use argus_media::IndexCache;

use crate::dto::VideoSummary;
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::state::AppState;

/// Imports `path` into `project`. `storing` is called once the file is
/// indexed, before it is written to the store.
pub async fn import(state: &AppState, project: ProjectId, path: PathBuf, storing: impl FnOnce()) -> CommandResult<VideoSummary> {
    // Fail fast on a wrong project, before the slow indexing.
    state.store().project(project).await?;
    let video = state.blocking(move |s| describe(s, project, &path)).await?;
    storing();
    let video = state.store().add_video(video).await?;
    Ok(VideoSummary::from(&video))
}

fn media_error(message: String) -> CommandError {
    CommandError::new(ErrorKind::Media, message)
}

/// Probes and indexes `path` and describes it as a video of `project`. Blocking.
fn describe(state: &AppState, project: ProjectId, path: &Path) -> CommandResult<Video> {
    let path = std::fs::canonicalize(path)
        .map_err(|e| CommandError::not_found(format!("cannot open the video ({e}): {}", path.display())))?;
    let info = argus_media::probe(&path)?;
    let v = info.video.ok_or_else(|| media_error(format!("there is no video stream in {}", path.display())))?;
    let (index, _) = IndexCache::new(state.data_dir().join("index-cache")).load_or_build(&path)?;
    if let Some(damage) = &index.damage {
        tracing::warn!("{} is damaged after frame {} ({}); importing the frames before it", path.display(), index.frame_count(), damage.message);
    }
    let frame_count = index.frame_count();
    if frame_count == 0 {
        return Err(media_error(format!("no decodable frame in {}", path.display())));
    }
    let rate = v
        .frame_rate
        .or(v.avg_frame_rate)
        .ok_or_else(|| media_error(format!("the frame rate is unknown: {}", path.display())))?;
    let frame_rate = Rational::new(rate.num, rate.den)?;
    let too_long = || CommandError::invalid(format!("the video is too long to describe: {}", path.display()));
    let frames = i64::try_from(frame_count).map_err(|_| too_long())?;
    let duration = Rational::new(frames.checked_mul(rate.den).ok_or_else(too_long)?, rate.num)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "video".into());
    Ok(Video {
        id: VideoId::new(),
        project_id: project,
        name,
        sha256: index.content_sha256.clone(),
        width: v.width,
        height: v.height,
        frame_rate,
        frame_count,
        duration,
        codec: v.codec.clone(),
        rotation: Rotation::from_degrees(v.rotation)?,
        local_path: Some(path.to_string_lossy().into_owned()),
        object_key: None,
        created_at: Timestamp(0),
    })
}
