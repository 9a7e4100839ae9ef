//! Projects, their videos and what the workspace shows of them: the project
//! list, importing a video (probe, index with the content hash, cached in the
//! data folder, then store), a frame's objects, the timeline, picking the
//! object under the cursor, and undo/redo.

use std::path::Path;

use argus_core::id::{ProjectId, TrackId, VideoId};
use argus_core::model::{Colour, Label, Timestamp, Video};

use crate::Workspace;
use crate::dto::{
    FrameDensity, FrameSpan, HistoryState, ImportProgress, ProjectDetail, ProjectSummary, ShapeInfo,
    Timeline, TimelineTrack, VideoSummary,
};
use crate::edit::{self, parse_id};
use crate::error::CommandResult;

impl Workspace {
    /// Every project with its labels.
    pub async fn list_projects(&self) -> CommandResult<Vec<ProjectSummary>> {
        let store = self.store();
        let mut out = Vec::new();
        for p in store.projects().await? {
            out.push(ProjectSummary::new(&p, &store.schema(p.id).await?));
        }
        Ok(out)
    }

    /// Creates a project with one label per name, coloured from the palette.
    pub async fn create_project(
        &self,
        name: &str,
        labels: &[String],
    ) -> CommandResult<ProjectSummary> {
        let labels = labels
            .iter()
            .enumerate()
            .map(|(i, n)| Label::new(n, Colour::palette(i)))
            .collect();
        let (project, schema) = self.store().create_project(name, labels).await?;
        Ok(ProjectSummary::new(&project, &schema))
    }

    /// A project with its labels and videos.
    pub async fn open_project(&self, project_id: &str) -> CommandResult<ProjectDetail> {
        let id: ProjectId = parse_id("project", project_id)?;
        let store = self.store();
        let project = store.project(id).await?;
        let schema = store.schema(id).await?;
        let videos = store.videos(id).await?.iter().map(VideoSummary::from).collect();
        Ok(ProjectDetail {
            project: ProjectSummary::new(&project, &schema),
            videos,
        })
    }

    /// Probes, indexes and adds the video file `path` to a project, telling
    /// `report` of each stage (and of the outcome).
    pub async fn import_video(
        &self,
        project_id: &str,
        path: &str,
        report: impl Fn(ImportProgress),
    ) -> CommandResult<VideoSummary> {
        report(ImportProgress::Indexing { path: path.to_owned() });
        let result = self.import_inner(project_id, path, &report).await;
        match &result {
            Ok(video) => report(ImportProgress::Done {
                video: video.clone(),
            }),
            Err(e) => report(ImportProgress::Failed {
                path: path.to_owned(),
                message: e.message.clone(),
            }),
        }
        result
    }

    async fn import_inner(
        &self,
        project_id: &str,
        path: &str,
        report: &impl Fn(ImportProgress),
    ) -> CommandResult<VideoSummary> {
        let project: ProjectId = parse_id("project", project_id)?;
        // Fail fast on a wrong project, before the slow indexing.
        self.store().project(project).await?;
        let file = path.to_owned();
        let video = self
            .blocking(move |ws| describe(ws, project, Path::new(&file)))
            .await?;
        report(ImportProgress::Storing { path: path.to_owned() });
        let video = self.store().add_video(video).await?;
        Ok(VideoSummary::from(&video))
    }

    /// The video `video_id` names, checked to have frame `frame`.
    pub async fn video_at(&self, video_id: &str, frame: u64) -> CommandResult<Video> {
        let video = self.store().video(parse_id("video", video_id)?).await?;
        video.check_frame(frame)?;
        Ok(video)
    }

    /// The shapes on one frame with their track and label (the object list).
    pub async fn frame_shapes(&self, video_id: &str, frame: u64) -> CommandResult<Vec<ShapeInfo>> {
        let video = self.video_at(video_id, frame).await?;
        let store = self.store();
        let schema = store.schema(video.project_id).await?;
        let tracks = store.tracks(video.id).await?;
        let shapes = self.frame_shapes_derived(video.id, frame).await?;
        Ok(shapes
            .iter()
            .map(|s| {
                let track = tracks.iter().find(|t| t.id == s.track_id);
                let label = track.and_then(|t| schema.label(t.label_id).ok());
                ShapeInfo::new(s, track, label)
            })
            .collect())
    }

    /// Shape and keyframe counts per frame, and where each object has
    /// shapes and keyframes, for the timeline.
    pub async fn timeline(&self, video_id: &str) -> CommandResult<Timeline> {
        let id: VideoId = parse_id("video", video_id)?;
        let store = self.store();
        let video = store.video(id).await?;
        let schema = store.schema(video.project_id).await?;
        let mut tracks: Vec<TimelineTrack> = store
            .tracks(id)
            .await?
            .iter()
            .map(|t| {
                let label = schema.label(t.label_id).ok();
                TimelineTrack {
                    track_id: t.id.to_string(),
                    track_number: t.number,
                    label_name: label.map_or_else(String::new, |l| l.name.clone()),
                    colour: label.map_or_else(|| "#ff4040".into(), |l| l.colour.to_string()),
                    spans: Vec::new(),
                    keyframes: Vec::new(),
                }
            })
            .collect();
        // Stored shapes and the frames interpolated between keyframes, as
        // spans of consecutive frames.
        let mut covered: Vec<(TrackId, u64, u64, bool)> =
            store.shape_frames(id).await?.into_iter().map(|(t, f, k)| (t, f, f, k)).collect();
        covered.extend(crate::track::interpolated_spans(store, id).await?.into_iter().map(|(t, a, b)| (t, a, b, false)));
        covered.sort_by_key(|&(t, first, _, _)| (t, first));
        for (track, first, last, keyframe) in covered {
            let track = track.to_string();
            let Some(lane) = tracks.iter_mut().find(|l| l.track_id == track) else {
                continue;
            };
            match lane.spans.last_mut() {
                Some(span) if span.last + 1 >= first => span.last = span.last.max(last),
                _ => lane.spans.push(FrameSpan { first, last }),
            }
            if keyframe {
                lane.keyframes.push(first);
            }
        }
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
            tracks,
        })
    }

    /// The object under `(x, y)` on this frame (frame pixels): the topmost,
    /// i.e. the most recently created track whose shape covers the point,
    /// skipping `hidden` tracks.
    pub async fn pick_object(
        &self,
        video_id: &str,
        frame: u64,
        x: f64,
        y: f64,
        hidden: &[String],
    ) -> CommandResult<Option<String>> {
        let id: VideoId = parse_id("video", video_id)?;
        let store = self.store();
        let tracks = store.tracks(id).await?;
        let shapes = self.frame_shapes_derived(id, frame).await?;
        let mut hit: Option<(usize, TrackId)> = None;
        for s in &shapes {
            if hidden.iter().any(|h| *h == s.track_id.to_string()) || !edit::hits(&s.geometry, x, y)
            {
                continue;
            }
            let order = tracks.iter().position(|t| t.id == s.track_id).unwrap_or(0);
            if hit.is_none_or(|(o, _)| order >= o) {
                hit = Some((order, s.track_id));
            }
        }
        Ok(hit.map(|(_, t)| t.to_string()))
    }

    /// Undoes the project's last edit.
    pub async fn undo(&self, project_id: &str) -> CommandResult<HistoryState> {
        let id: ProjectId = parse_id("project", project_id)?;
        let applied = self.store().undo(id).await?;
        self.history_after(id, applied.summary).await
    }

    /// Redoes the project's last undone edit.
    pub async fn redo(&self, project_id: &str) -> CommandResult<HistoryState> {
        let id: ProjectId = parse_id("project", project_id)?;
        let applied = self.store().redo(id).await?;
        self.history_after(id, applied.summary).await
    }

    /// How many steps can be undone and redone.
    pub async fn history(&self, project_id: &str) -> CommandResult<HistoryState> {
        let id: ProjectId = parse_id("project", project_id)?;
        self.history_after(id, String::new()).await
    }

    async fn history_after(&self, project: ProjectId, summary: String) -> CommandResult<HistoryState> {
        let (undo, redo) = self.store().history_depth(project).await?;
        Ok(HistoryState {
            summary,
            undo,
            redo,
        })
    }
}

/// Probes and indexes `path` (argus-media's shared import path, with the
/// workspace's index cache, which its decoders read later) and describes it
/// as a video of `project`. Blocking.
fn describe(ws: &Workspace, project: ProjectId, path: &Path) -> CommandResult<Video> {
    let described =
        argus_media::describe_video(project, path, ws.videos().index_cache(), Timestamp(0))?;
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
