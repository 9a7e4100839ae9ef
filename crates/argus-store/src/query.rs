//! Read-only queries for the UI. They run on the reader pool, so they never
//! wait for a write in progress (WAL snapshot isolation).

use argus_core::{
    id::{LabelId, ProjectId, ReviewId, ShapeId, TrackId, UserId, VideoId},
    model::{Comment, LabelSchema, Member, Project, Review, ReviewState, Role, Shape, Track, Video},
};
use serde::Serialize;

use crate::{Error, Result, Store, rows};

/// How many shapes a frame has (for the timeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrameCount {
    pub frame: u64,
    pub shapes: u32,
    pub keyframes: u32,
}

/// Which reviews [`Store::review_queue`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewFilter {
    pub video: Option<VideoId>,
    pub state: Option<ReviewState>,
    pub reviewer: Option<UserId>,
}

fn frame_i64(frame: u64) -> Result<i64> {
    i64::try_from(frame).map_err(|_| Error::Conflict(format!("frame {frame} is out of range")))
}

/// A frame bound as SQLite's integer: past every frame when out of its range.
fn frame_clamped(frame: u64) -> i64 {
    i64::try_from(frame).unwrap_or(i64::MAX)
}

/// [`Store::track_shapes_in`]: a range of the (track, frame) index.
const TRACK_SHAPES_IN: &str = "SELECT data FROM shapes WHERE track_id = ? AND frame >= ? AND frame < ? ORDER BY frame";

/// [`Store::shapes_around`]: the video's tracks by number (the (video,
/// number) index), and per track the nearest shape on each side, each one
/// step on the (track, frame) index.
const SHAPES_AROUND: &str = "SELECT t.id,
     (SELECT s.data FROM shapes s WHERE s.track_id = t.id AND s.frame < ?2 ORDER BY s.frame DESC LIMIT 1),
     (SELECT s.data FROM shapes s WHERE s.track_id = t.id AND s.frame >= ?3 ORDER BY s.frame LIMIT 1)
     FROM tracks t WHERE t.video_id = ?1 ORDER BY t.number";

impl Store {
    pub async fn projects(&self) -> Result<Vec<Project>> {
        let rows = sqlx::query("SELECT * FROM projects ORDER BY name").fetch_all(&self.readers).await?;
        rows.iter().map(rows::project_from_row).collect()
    }

    pub async fn project(&self, id: ProjectId) -> Result<Project> {
        let row = sqlx::query("SELECT * FROM projects WHERE id = ?").bind(id.to_string()).fetch_optional(&self.readers).await?;
        row.map(|r| rows::project_from_row(&r)).transpose()?.ok_or_else(|| Error::not_found("project", id))
    }

    /// A project by id or by exact name.
    pub async fn find_project(&self, id_or_name: &str) -> Result<Project> {
        let row = sqlx::query("SELECT * FROM projects WHERE id = ?1 OR name = ?1")
            .bind(id_or_name)
            .fetch_optional(&self.readers)
            .await?;
        row.map(|r| rows::project_from_row(&r)).transpose()?.ok_or_else(|| Error::not_found("project", id_or_name))
    }

    /// The project's current label schema.
    pub async fn schema(&self, project: ProjectId) -> Result<LabelSchema> {
        let p = self.project(project).await?;
        let row = sqlx::query("SELECT * FROM label_schemas WHERE id = ?").bind(p.schema_id.to_string()).fetch_optional(&self.readers).await?;
        row.map(|r| rows::schema_from_row(&r)).transpose()?.ok_or_else(|| Error::not_found("label schema", p.schema_id))
    }

    /// What the project's objects use of each label: `(label, objects,
    /// shapes by kind name)`, for labels with at least one object. What is
    /// used cannot be taken away ([`Store::set_labels`]).
    pub async fn label_usage(&self, project: ProjectId) -> Result<Vec<(LabelId, u64, Vec<(String, u64)>)>> {
        let objects: Vec<(String, i64)> = sqlx::query_as(
            "SELECT t.label_id, COUNT(*) FROM tracks t JOIN videos v ON v.id = t.video_id WHERE v.project_id = ? GROUP BY t.label_id ORDER BY t.label_id",
        )
        .bind(project.to_string())
        .fetch_all(&self.readers)
        .await?;
        let kinds: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT t.label_id, s.kind, COUNT(*) FROM shapes s JOIN tracks t ON t.id = s.track_id JOIN videos v ON v.id = t.video_id
             WHERE v.project_id = ? GROUP BY t.label_id, s.kind ORDER BY t.label_id, s.kind",
        )
        .bind(project.to_string())
        .fetch_all(&self.readers)
        .await?;
        objects
            .into_iter()
            .map(|(label, n)| {
                let used = kinds.iter().filter(|k| k.0 == label).map(|k| (k.1.clone(), k.2.max(0) as u64)).collect();
                Ok((rows::parse(&label, "label id")?, n.max(0) as u64, used))
            })
            .collect()
    }

    pub async fn videos(&self, project: ProjectId) -> Result<Vec<Video>> {
        let rows = sqlx::query("SELECT * FROM videos WHERE project_id = ? ORDER BY created_at, name")
            .bind(project.to_string())
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(rows::video_from_row).collect()
    }

    pub async fn video(&self, id: VideoId) -> Result<Video> {
        let row = sqlx::query("SELECT * FROM videos WHERE id = ?").bind(id.to_string()).fetch_optional(&self.readers).await?;
        row.map(|r| rows::video_from_row(&r)).transpose()?.ok_or_else(|| Error::not_found("video", id))
    }

    pub async fn tracks(&self, video: VideoId) -> Result<Vec<Track>> {
        let rows = sqlx::query("SELECT * FROM tracks WHERE video_id = ? ORDER BY number")
            .bind(video.to_string())
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(rows::track_from_row).collect()
    }

    pub async fn track(&self, id: TrackId) -> Result<Track> {
        let row = sqlx::query("SELECT * FROM tracks WHERE id = ?").bind(id.to_string()).fetch_optional(&self.readers).await?;
        row.map(|r| rows::track_from_row(&r)).transpose()?.ok_or_else(|| Error::not_found("track", id))
    }

    /// A shape by its id (`None`: not here, or deleted).
    pub async fn shape(&self, id: ShapeId) -> Result<Option<Shape>> {
        let row = sqlx::query("SELECT data FROM shapes WHERE id = ?").bind(id.to_string()).fetch_optional(&self.readers).await?;
        row.map(|r| rows::shape_from_row(&r)).transpose()
    }

    /// Every shape on one frame of a video, masks included.
    pub async fn frame_shapes(&self, video: VideoId, frame: u64) -> Result<Vec<Shape>> {
        let rows = sqlx::query("SELECT data FROM shapes WHERE video_id = ? AND frame = ?")
            .bind(video.to_string())
            .bind(frame_i64(frame)?)
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(rows::shape_from_row).collect()
    }

    /// The shapes of a video on frames `from..to`, by frame, then track
    /// number: what an export reads one window at a time, so a long video
    /// is never held whole.
    pub async fn video_shapes(&self, video: VideoId, from: u64, to: u64) -> Result<Vec<(u32, Shape)>> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT t.number, s.data FROM shapes s JOIN tracks t ON t.id = s.track_id
             WHERE s.video_id = ? AND s.frame >= ? AND s.frame < ? ORDER BY s.frame, t.number",
        )
        .bind(video.to_string())
        .bind(frame_i64(from)?)
        .bind(frame_i64(to.min(i64::MAX as u64))?)
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter()
            .map(|(number, data)| {
                let number = u32::try_from(number).map_err(|_| Error::decode(format!("track number {number}")))?;
                Ok((number, crate::codec::decode_shape(&data)?))
            })
            .collect()
    }

    /// All shapes of a track, in frame order.
    pub async fn track_shapes(&self, track: TrackId) -> Result<Vec<Shape>> {
        let rows = sqlx::query("SELECT data FROM shapes WHERE track_id = ? ORDER BY frame")
            .bind(track.to_string())
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(rows::shape_from_row).collect()
    }

    /// The stored shapes of one track on frames `from..to`, in frame order.
    pub async fn track_shapes_in(&self, track: TrackId, from: u64, to: u64) -> Result<Vec<Shape>> {
        let rows = sqlx::query(TRACK_SHAPES_IN)
            .bind(track.to_string())
            .bind(frame_clamped(from))
            .bind(frame_clamped(to))
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(rows::shape_from_row).collect()
    }

    /// For each track of `video` (by track number), its last stored shape on
    /// a frame before `from` and its first stored shape on a frame at or
    /// after `to`; either may be missing, and tracks with neither are left
    /// out. With [`Store::video_shapes`] over `from..to` this is everything
    /// needed to derive the interpolated shapes on frames `from..to`.
    ///
    /// One query: per track, two lookups on the (track, frame) index, so
    /// the cost grows with the video's tracks, not its shapes.
    pub async fn shapes_around(&self, video: VideoId, from: u64, to: u64) -> Result<Vec<(TrackId, Option<Shape>, Option<Shape>)>> {
        // A track's id and its encoded shapes before and after the window.
        type Row = (String, Option<Vec<u8>>, Option<Vec<u8>>);
        let rows: Vec<Row> = sqlx::query_as(SHAPES_AROUND)
            .bind(video.to_string())
            .bind(frame_clamped(from))
            .bind(frame_clamped(to))
            .fetch_all(&self.readers)
            .await?;
        let decode = |data: Option<Vec<u8>>| data.map(|d| crate::codec::decode_shape(&d)).transpose();
        rows.into_iter()
            .filter(|(_, before, after)| before.is_some() || after.is_some())
            .map(|(track, before, after)| {
                let track = track.parse().map_err(|_| Error::Decode(format!("bad track id '{track}' in the tracks table")))?;
                Ok((track, decode(before)?, decode(after)?))
            })
            .collect()
    }

    /// The frames where `track` has a keyframe, ascending.
    pub async fn keyframes(&self, track: TrackId) -> Result<Vec<u64>> {
        let frames: Vec<i64> = sqlx::query_scalar("SELECT frame FROM shapes WHERE track_id = ? AND keyframe = 1 ORDER BY frame")
            .bind(track.to_string())
            .fetch_all(&self.readers)
            .await?;
        Ok(frames.into_iter().filter_map(|f| u64::try_from(f).ok()).collect())
    }

    /// Per-frame shape counts of a video (only frames that have shapes).
    pub async fn frame_counts(&self, video: VideoId) -> Result<Vec<FrameCount>> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT frame, COUNT(*), SUM(keyframe) FROM shapes WHERE video_id = ? GROUP BY frame ORDER BY frame",
        )
        .bind(video.to_string())
        .fetch_all(&self.readers)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(frame, n, k)| {
                Some(FrameCount { frame: u64::try_from(frame).ok()?, shapes: u32::try_from(n).ok()?, keyframes: u32::try_from(k).ok()? })
            })
            .collect())
    }

    /// Where each track of a video has shapes: (track, frame, keyframe),
    /// by track, then frame (the timeline's object lanes).
    pub async fn shape_frames(&self, video: VideoId) -> Result<Vec<(TrackId, u64, bool)>> {
        let rows: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT track_id, frame, keyframe FROM shapes WHERE video_id = ? ORDER BY track_id, frame")
                .bind(video.to_string())
                .fetch_all(&self.readers)
                .await?;
        rows.into_iter()
            .map(|(track, frame, key)| {
                let track = track.parse().map_err(|_| Error::Decode(format!("bad track id '{track}' in the shapes table")))?;
                let frame = u64::try_from(frame).map_err(|_| Error::Decode(format!("negative frame {frame} in the shapes table")))?;
                Ok((track, frame, key != 0))
            })
            .collect()
    }

    /// Reviews of a project, oldest first, filtered.
    pub async fn review_queue(&self, project: ProjectId, filter: &ReviewFilter) -> Result<Vec<Review>> {
        let state = filter.state.and_then(|s| serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_owned)));
        let rows = sqlx::query(
            "SELECT r.* FROM reviews r JOIN videos v ON v.id = r.video_id
             WHERE v.project_id = ?1 AND (?2 IS NULL OR r.video_id = ?2) AND (?3 IS NULL OR r.state = ?3)
             AND (?4 IS NULL OR r.reviewer = ?4)
             ORDER BY r.created_at, r.id",
        )
        .bind(project.to_string())
        .bind(filter.video.map(|v| v.to_string()))
        .bind(state)
        .bind(filter.reviewer.map(|u| u.to_string()))
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(rows::review_from_row).collect()
    }

    pub async fn review(&self, id: ReviewId) -> Result<Review> {
        let row = sqlx::query("SELECT * FROM reviews WHERE id = ?").bind(id.to_string()).fetch_optional(&self.readers).await?;
        row.map(|r| rows::review_from_row(&r)).transpose()?.ok_or_else(|| Error::not_found("review", id))
    }

    /// A review's comment thread, oldest first.
    pub async fn comments(&self, review: ReviewId) -> Result<Vec<Comment>> {
        let rows = sqlx::query("SELECT * FROM comments WHERE review_id = ? ORDER BY created_at, id")
            .bind(review.to_string())
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(rows::comment_from_row).collect()
    }

    /// The cached members of a project.
    pub async fn members(&self, project: ProjectId) -> Result<Vec<Member>> {
        let rows = sqlx::query("SELECT * FROM members WHERE project_id = ? ORDER BY display_name, user_id")
            .bind(project.to_string())
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(rows::member_from_row).collect()
    }

    /// A user's cached role in a project, if known.
    pub async fn role(&self, project: ProjectId, user: UserId) -> Result<Option<Role>> {
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM members WHERE project_id = ? AND user_id = ?")
            .bind(project.to_string())
            .bind(user.to_string())
            .fetch_optional(&self.readers)
            .await?;
        role.map(|r| r.parse::<Role>().map_err(Error::decode)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's plan for `sql` (three parameters), one detail line per step.
    async fn plan(store: &Store, sql: &str) -> Vec<String> {
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
            .bind("id")
            .bind(0i64)
            .bind(10i64)
            .fetch_all(&store.readers)
            .await
            .expect("plan");
        rows.into_iter().map(|(.., detail)| detail).collect()
    }

    /// The window queries of derived shapes search the (track_id, frame)
    /// index and never scan or sort the shapes: their cost must not grow
    /// with a video's shapes.
    #[tokio::test]
    async fn neighbour_queries_search_the_track_frame_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_with(dir.path().join("argus.db"), crate::StoreOptions { backups_kept: 0, ..Default::default() })
            .await
            .expect("open");
        for sql in [SHAPES_AROUND, TRACK_SHAPES_IN] {
            let plan = plan(&store, sql).await;
            assert!(!plan.iter().any(|d| d.starts_with("SCAN") || d.contains("TEMP B-TREE")), "{sql}: {plan:?}");
            let shapes: Vec<_> = plan.iter().filter(|d| d.starts_with("SEARCH s ") || d.starts_with("SEARCH shapes ")).collect();
            assert!(!shapes.is_empty() && shapes.iter().all(|d| d.contains("(track_id=? AND frame")), "{sql}: {plan:?}");
        }
    }
}
