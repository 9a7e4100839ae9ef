//! Edit commands: what the UI (and the CLI) asks the store to do.
//!
//! A command is validated against the current state with argus-core's rules
//! (`Shape::validate`, `Track::validate`, `Review::transition`,
//! `Role::require`) and then reduced to a list of whole-record
//! [`ChangeOp`]s. The store applies that list in one transaction, records the
//! inverse list in the undo log and every op in the sync outbox. Because
//! everything is reduced to the same ops, undo, redo and sync share one code
//! path, and a bulk command (500 propagated masks) is one undo step.

use std::collections::{BTreeSet, HashMap, HashSet};

use argus_core::{
    id::{LabelId, ProjectId, ReviewId, ShapeId, TrackId, UserId, VideoId},
    model::{
        Attributes, ChangeOp, Comment, Entity, EntityKind, Label, LabelSchema, ModelError, Permission, Review,
        ReviewScope, ReviewState, Role, Shape, Timestamp, Track, Video,
    },
};
use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;

use crate::{Error, Result, rows};

/// Who is editing, and with which role in the project (from the members
/// cache, or `Lead` for a local-only project the user created).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user: UserId,
    pub role: Role,
}

/// One user-level edit. Serialised as JSON with a `command` tag, so scripts
/// can feed them to `argus-cli apply` one per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Creates a track with its first shapes. A `number` of 0 takes the next
    /// free number in the video.
    CreateTrack {
        track: Track,
        #[serde(default)]
        shapes: Vec<Shape>,
    },
    /// Deletes a track and all its shapes.
    DeleteTrack { track_id: TrackId },
    /// Sets the shape of a track on a frame (set a mask, edit a polygon, move
    /// a box): replaces the shape already on that frame, if any.
    SetShape { shape: Shape },
    /// Sets many shapes at once (e.g. propagated masks): one undo step.
    SetShapes { shapes: Vec<Shape> },
    DeleteShape { shape_id: ShapeId },
    /// Moves a track to another label. Shape attributes the new label does
    /// not define are dropped; track attributes become `attributes` or the
    /// new label's defaults.
    ChangeLabel {
        track_id: TrackId,
        label_id: LabelId,
        #[serde(default)]
        attributes: Option<Attributes>,
    },
    SetTrackAttributes { track_id: TrackId, attributes: Attributes },
    SetShapeAttributes { shape_id: ShapeId, attributes: Attributes },
    /// Opens a review (it starts pending).
    CreateReview { review: Review },
    Approve {
        review_id: ReviewId,
        #[serde(default)]
        comment: Option<String>,
    },
    /// Sends work back; the comment says what to fix.
    Reject { review_id: ReviewId, comment: String },
    /// Puts a decided review back to pending (resubmit or reopen).
    Reopen { review_id: ReviewId },
    AddComment { comment: Comment },
}

impl Command {
    /// The permission this command needs.
    pub fn permission(&self) -> Permission {
        match self {
            Command::Approve { .. } | Command::Reject { .. } | Command::Reopen { .. } | Command::CreateReview { .. } => {
                Permission::Review
            }
            Command::AddComment { .. } => Permission::Comment,
            _ => Permission::EditAnnotations,
        }
    }

    /// A short description for the undo history ("Undo set 500 shapes").
    pub fn summary(&self) -> String {
        match self {
            Command::CreateTrack { shapes, .. } => format!("create track with {} shape(s)", shapes.len()),
            Command::DeleteTrack { .. } => "delete track".into(),
            Command::SetShape { shape } => format!("set {} on frame {}", kind_name(shape), shape.frame),
            Command::SetShapes { shapes } => format!("set {} shapes", shapes.len()),
            Command::DeleteShape { .. } => "delete shape".into(),
            Command::ChangeLabel { .. } => "change label".into(),
            Command::SetTrackAttributes { .. } => "set track attributes".into(),
            Command::SetShapeAttributes { .. } => "set shape attributes".into(),
            Command::CreateReview { .. } => "open review".into(),
            Command::Approve { .. } => "approve".into(),
            Command::Reject { .. } => "reject".into(),
            Command::Reopen { .. } => "reopen review".into(),
            Command::AddComment { .. } => "comment".into(),
        }
    }
}

fn kind_name(shape: &Shape) -> &'static str {
    shape.kind().name()
}

/// The ops a validated command turns into, and the project they belong to.
pub(crate) struct Plan {
    pub project: ProjectId,
    pub ops: Vec<ChangeOp>,
}

struct Ctx {
    video: Video,
    schema: LabelSchema,
}

/// The contexts of the videos commands were planned on, kept for the next
/// commands of the same transaction (a batch): no command changes a video,
/// a project or a label schema, and no one else writes while it is open.
#[derive(Default)]
pub(crate) struct Contexts {
    videos: HashMap<VideoId, Ctx>,
    /// Tracks this transaction created that never existed here (no version,
    /// not even a tombstone), with the frames given shapes so far: a shape
    /// with its canonical id (`ShapeId::for_track_frame`) on a frame not
    /// among them cannot exist yet, so an import's later commands on its own
    /// new tracks skip the lookups.
    fresh: HashMap<TrackId, HashSet<u64>>,
    /// Those tracks as the transaction created them, until a command that
    /// could change a track comes: what planning their shapes reads.
    created: HashMap<TrackId, Track>,
    /// Each track's video, as planning read or made it (a track never moves
    /// to another video), for writing its shapes.
    track_videos: HashMap<TrackId, VideoId>,
    /// Whether every shape the last planned command writes is such a new
    /// record: no row to replace, no version to name as its base.
    pub(crate) new_shapes: bool,
}

impl Contexts {
    /// Whether `shapes` are all new records of `track`, a track this
    /// transaction created: their canonical ids, on frames not given yet.
    fn all_new(&self, track: TrackId, shapes: &[Shape]) -> bool {
        self.fresh.get(&track).is_some_and(|done| {
            shapes.iter().all(|s| s.track_id == track && s.id == ShapeId::for_track_frame(track, s.frame) && !done.contains(&s.frame))
        })
    }

    /// The video of `track`, where planning saw it.
    pub(crate) fn video_of(&self, track: TrackId) -> Option<VideoId> {
        self.track_videos.get(&track).copied()
    }

    async fn get(&mut self, conn: &mut SqliteConnection, video_id: VideoId) -> Result<&Ctx> {
        Ok(match self.videos.entry(video_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(Ctx::for_video(conn, video_id).await?),
        })
    }
}

impl Ctx {
    async fn for_video(conn: &mut SqliteConnection, video_id: VideoId) -> Result<Self> {
        let video = rows::video(conn, video_id).await?;
        let project = rows::project(conn, video.project_id).await?;
        let schema = rows::schema(conn, project.schema_id).await?;
        Ok(Self { video, schema })
    }

    fn label(&self, id: LabelId) -> Result<&Label> {
        Ok(self.schema.label(id)?)
    }
}

fn upsert(entity: Entity) -> ChangeOp {
    ChangeOp::Upsert { entity }
}

async fn shapes_of(conn: &mut SqliteConnection, track: TrackId) -> Result<Vec<Shape>> {
    let rows = sqlx::query("SELECT data FROM shapes WHERE track_id = ? ORDER BY frame")
        .bind(track.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(rows::shape_from_row).collect()
}

/// Ids per `IN (...)` list: under SQLite's 32,766 variables.
const IDS_PER_QUERY: usize = 500;

/// The shapes among `ids` that exist (one query per 500).
async fn existing_shapes(conn: &mut SqliteConnection, ids: impl Iterator<Item = ShapeId>) -> Result<HashMap<ShapeId, Shape>> {
    let ids: Vec<String> = ids.map(|id| id.to_string()).collect();
    let mut found = HashMap::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT data FROM shapes WHERE id IN (");
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(id.as_str());
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *conn).await? {
            let shape = rows::shape_from_row(&row)?;
            found.insert(shape.id, shape);
        }
    }
    Ok(found)
}

/// The shapes `track` has on `frames` (one query per 500 frames).
async fn shapes_on_frames(conn: &mut SqliteConnection, track: TrackId, frames: impl Iterator<Item = u64>) -> Result<HashMap<u64, Shape>> {
    let frames: Vec<u64> = frames.collect();
    let mut found = HashMap::new();
    if let [frame] = frames[..] {
        // One shape (an edit): the plain lookup.
        if let Some(shape) = rows::shape_at(conn, track, frame).await? {
            found.insert(frame, shape);
        }
        return Ok(found);
    }
    let frames: Vec<i64> = frames.into_iter().map(|f| i64::try_from(f).unwrap_or(i64::MAX)).collect();
    let track = track.to_string();
    for chunk in frames.chunks(IDS_PER_QUERY) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT data FROM shapes WHERE track_id = ");
        q.push_bind(track.as_str()).push(" AND frame IN (");
        let mut list = q.separated(", ");
        for f in chunk {
            list.push_bind(*f);
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *conn).await? {
            let shape = rows::shape_from_row(&row)?;
            found.insert(shape.frame, shape);
        }
    }
    Ok(found)
}

/// Validates `shapes` for `track` and returns the upserts, reusing the id of
/// a shape already on the same frame so "set" replaces it. `new_track`: the
/// track is being created and its shapes were checked to be new, so there
/// is nothing to look up. Otherwise what is on the shapes' frames, and the
/// shapes their ids name, are read once for all of them.
async fn plan_shapes(conn: &mut SqliteConnection, ctx: &Ctx, track: &Track, shapes: Vec<Shape>, now: Timestamp, new_track: bool) -> Result<Vec<ChangeOp>> {
    let (mut on_frames, mut by_id) = (HashMap::new(), HashMap::new());
    if !new_track {
        on_frames = shapes_on_frames(conn, track.id, shapes.iter().map(|s| s.frame)).await?;
        by_id = existing_shapes(conn, shapes.iter().filter(|s| !on_frames.contains_key(&s.frame)).map(|s| s.id)).await?;
    }
    shape_ops(ctx, track, shapes, now, &on_frames, &by_id)
}

/// [`plan_shapes`] once what it reads is known: the shapes on their frames
/// and the ones their ids name.
fn shape_ops(
    ctx: &Ctx,
    track: &Track,
    shapes: Vec<Shape>,
    now: Timestamp,
    on_frames: &HashMap<u64, Shape>,
    by_id: &HashMap<ShapeId, Shape>,
) -> Result<Vec<ChangeOp>> {
    let label = ctx.label(track.label_id)?;
    let mut frames = BTreeSet::new();
    let mut ops = Vec::with_capacity(shapes.len());
    for mut shape in shapes {
        if shape.track_id != track.id {
            return Err(Error::Conflict(format!(
                "shape {} belongs to track {}, not {}; set shapes of one track per command",
                shape.id, shape.track_id, track.id
            )));
        }
        if !frames.insert(shape.frame) {
            return Err(Error::Conflict(format!("frame {} is given twice; give one shape per frame", shape.frame)));
        }
        shape.validate(&ctx.video, label)?;
        shape.created_at = now;
        if let Some(existing) = on_frames.get(&shape.frame) {
            shape.id = existing.id;
            shape.created_at = existing.created_at;
        } else if let Some(existing) = by_id.get(&shape.id) {
            if existing.track_id != track.id {
                return Err(Error::Conflict(format!("shape {} belongs to another track; give it a new id", shape.id)));
            }
            shape.created_at = existing.created_at;
        }
        shape.updated_at = now;
        ops.push(upsert(Entity::Shape(shape)));
    }
    Ok(ops)
}

/// Validates `cmd` and turns it into ops. Reads go through `conn`, which is
/// inside the transaction that will apply the ops.
/// `contexts`: what earlier commands of the same transaction read.
pub(crate) async fn plan(conn: &mut SqliteConnection, actor: &Actor, cmd: Command, now: Timestamp, contexts: &mut Contexts) -> Result<Plan> {
    let cmd = match plan_known(actor, cmd, now, contexts) {
        Ok(planned) => return planned,
        Err(cmd) => cmd,
    };
    actor.role.require(cmd.permission())?;
    contexts.new_shapes = false;
    if !matches!(cmd, Command::CreateTrack { .. } | Command::SetShape { .. } | Command::SetShapes { .. }) {
        contexts.created.clear();
    }
    match cmd {
        Command::CreateTrack { mut track, shapes } => {
            let ctx = contexts.get(conn, track.video_id).await?;
            if rows::track(conn, track.id).await.is_ok() {
                return Err(Error::Conflict(format!("track {} already exists; give the new track a new id", track.id)));
            }
            if track.number == 0 {
                let max: Option<i64> = sqlx::query_scalar("SELECT MAX(number) FROM tracks WHERE video_id = ?")
                    .bind(track.video_id.to_string())
                    .fetch_one(&mut *conn)
                    .await?;
                track.number = u32::try_from(max.unwrap_or(0) + 1).map_err(|_| Error::Conflict("too many tracks in this video".into()))?;
            } else {
                let taken: Option<String> = sqlx::query_scalar("SELECT id FROM tracks WHERE video_id = ? AND number = ?")
                    .bind(track.video_id.to_string())
                    .bind(i64::from(track.number))
                    .fetch_optional(&mut *conn)
                    .await?;
                if taken.is_some() {
                    return Err(Error::Conflict(format!("track number {} is taken in this video; use 0 for the next free one", track.number)));
                }
            }
            track.validate(ctx.label(track.label_id)?)?;
            track.created_at = now;
            track.updated_at = now;
            let mut ops = vec![upsert(Entity::Track(track.clone()))];
            let existing = existing_shapes(conn, shapes.iter().map(|s| s.id)).await?;
            if let Some(s) = shapes.iter().find(|s| existing.contains_key(&s.id)) {
                return Err(Error::Conflict(format!("shape {} already exists; give new shapes new ids", s.id)));
            }
            let canonical = shapes.iter().all(|s| s.id == ShapeId::for_track_frame(track.id, s.frame));
            let frames: HashSet<u64> = shapes.iter().map(|s| s.frame).collect();
            ops.extend(plan_shapes(conn, ctx, &track, shapes, now, true).await?);
            let project = ctx.video.project_id;
            contexts.track_videos.insert(track.id, track.video_id);
            if crate::remote::version(conn, project, EntityKind::Track, *track.id.as_uuid()).await?.is_none() {
                contexts.new_shapes = canonical;
                contexts.fresh.insert(track.id, frames);
                contexts.created.insert(track.id, track);
            } else {
                contexts.fresh.remove(&track.id);
                contexts.created.remove(&track.id);
            }
            Ok(Plan { project, ops })
        }
        Command::DeleteTrack { track_id } => {
            contexts.fresh.remove(&track_id);
            let track = rows::track(conn, track_id).await?;
            let video = rows::video(conn, track.video_id).await?;
            let mut ops: Vec<ChangeOp> = shapes_of(conn, track_id)
                .await?
                .into_iter()
                .map(|s| ChangeOp::Delete { kind: EntityKind::Shape, id: *s.id.as_uuid() })
                .collect();
            ops.push(ChangeOp::Delete { kind: EntityKind::Track, id: *track_id.as_uuid() });
            Ok(Plan { project: video.project_id, ops })
        }
        Command::SetShape { shape } => plan_set_shapes(conn, vec![shape], now, contexts).await,
        Command::SetShapes { shapes } => plan_set_shapes(conn, shapes, now, contexts).await,
        Command::DeleteShape { shape_id } => {
            let shape = rows::shape(conn, shape_id).await?;
            let track = rows::track(conn, shape.track_id).await?;
            let video = rows::video(conn, track.video_id).await?;
            Ok(Plan { project: video.project_id, ops: vec![ChangeOp::Delete { kind: EntityKind::Shape, id: *shape_id.as_uuid() }] })
        }
        Command::ChangeLabel { track_id, label_id, attributes } => {
            let mut track = rows::track(conn, track_id).await?;
            let ctx = contexts.get(conn, track.video_id).await?;
            let label = ctx.label(label_id)?;
            track.label_id = label_id;
            track.attributes = attributes.unwrap_or_else(|| label.default_attributes().0);
            track.updated_at = now;
            track.validate(label)?;
            let mut ops = vec![upsert(Entity::Track(track))];
            for mut shape in shapes_of(conn, track_id).await? {
                let before = shape.attributes.len();
                shape
                    .attributes
                    .retain(|name, value| label.attribute(name).is_some_and(|spec| spec.per_frame && spec.check(value).is_ok()));
                shape.validate(&ctx.video, label)?;
                if shape.attributes.len() != before {
                    shape.updated_at = now;
                    ops.push(upsert(Entity::Shape(shape)));
                }
            }
            Ok(Plan { project: ctx.video.project_id, ops })
        }
        Command::SetTrackAttributes { track_id, attributes } => {
            let mut track = rows::track(conn, track_id).await?;
            let ctx = contexts.get(conn, track.video_id).await?;
            track.attributes = attributes;
            track.updated_at = now;
            track.validate(ctx.label(track.label_id)?)?;
            Ok(Plan { project: ctx.video.project_id, ops: vec![upsert(Entity::Track(track))] })
        }
        Command::SetShapeAttributes { shape_id, attributes } => {
            let mut shape = rows::shape(conn, shape_id).await?;
            let track = rows::track(conn, shape.track_id).await?;
            let ctx = contexts.get(conn, track.video_id).await?;
            shape.attributes = attributes;
            shape.updated_at = now;
            shape.validate(&ctx.video, ctx.label(track.label_id)?)?;
            Ok(Plan { project: ctx.video.project_id, ops: vec![upsert(Entity::Shape(shape))] })
        }
        Command::CreateReview { review } => {
            let video = rows::video(conn, review.video_id).await?;
            if rows::review(conn, review.id).await.is_ok() {
                return Err(Error::Conflict(format!("review {} already exists; give it a new id", review.id)));
            }
            match review.scope {
                ReviewScope::Video => {}
                ReviewScope::Track { track_id } => {
                    let track = rows::track(conn, track_id).await?;
                    if track.video_id != video.id {
                        return Err(Error::Conflict(format!("track {track_id} is not in video {}", video.id)));
                    }
                }
                ReviewScope::Frames { start, end } => {
                    if start > end {
                        return Err(ModelError::InvalidFrameRange { start, end }.into());
                    }
                    video.check_frame(end)?;
                }
            }
            let mut fresh = Review::new(review.video_id, review.scope, now)?;
            fresh.id = review.id;
            Ok(Plan { project: video.project_id, ops: vec![upsert(Entity::Review(fresh))] })
        }
        Command::Approve { review_id, comment } => decide(conn, actor, review_id, ReviewState::Approved, comment, now).await,
        Command::Reject { review_id, comment } => decide(conn, actor, review_id, ReviewState::Rejected, Some(comment), now).await,
        Command::Reopen { review_id } => decide(conn, actor, review_id, ReviewState::Pending, None, now).await,
        Command::AddComment { comment } => {
            let review = rows::review(conn, comment.review_id).await?;
            let video = rows::video(conn, review.video_id).await?;
            if let Some(frame) = comment.frame {
                video.check_frame(frame)?;
            }
            let mut fresh = Comment::new(comment.review_id, actor.user, &comment.body, comment.frame, now)?;
            fresh.id = comment.id;
            Ok(Plan { project: video.project_id, ops: vec![upsert(Entity::Comment(fresh))] })
        }
    }
}

async fn decide(
    conn: &mut SqliteConnection,
    actor: &Actor,
    review_id: ReviewId,
    to: ReviewState,
    comment: Option<String>,
    now: Timestamp,
) -> Result<Plan> {
    let mut review = rows::review(conn, review_id).await?;
    let video = rows::video(conn, review.video_id).await?;
    review.transition(to, actor.user, comment, now)?;
    Ok(Plan { project: video.project_id, ops: vec![upsert(Entity::Review(review))] })
}

/// Plans `cmd` from what the transaction already knows, reading nothing,
/// when it can: new shapes (their canonical ids, on frames not given yet)
/// of a track the transaction created, on a video it has read (an import's
/// later commands). Any other command comes back as it was.
#[allow(clippy::result_large_err)] // the command comes back whole, to be planned the usual way
pub(crate) fn plan_known(actor: &Actor, cmd: Command, now: Timestamp, contexts: &mut Contexts) -> std::result::Result<Result<Plan>, Command> {
    let permission = cmd.permission();
    let Command::SetShapes { shapes } = cmd else { return Err(cmd) };
    let track = shapes.first().and_then(|first| contexts.created.get(&first.track_id)).filter(|track| {
        contexts.videos.contains_key(&track.video_id)
            && contexts.all_new(track.id, &shapes)
    });
    let (Some(track), true) = (track.cloned(), actor.role.require(permission).is_ok()) else {
        return Err(Command::SetShapes { shapes });
    };
    let Some(ctx) = contexts.videos.get(&track.video_id) else { return Err(Command::SetShapes { shapes }) };
    contexts.new_shapes = false;
    let frames: Vec<u64> = shapes.iter().map(|s| s.frame).collect();
    let ops = match shape_ops(ctx, &track, shapes, now, &HashMap::new(), &HashMap::new()) {
        Ok(ops) => ops,
        Err(e) => return Ok(Err(e)),
    };
    let project = ctx.video.project_id;
    if let Some(done) = contexts.fresh.get_mut(&track.id) {
        done.extend(frames);
    }
    contexts.new_shapes = true;
    Ok(Ok(Plan { project, ops }))
}

async fn plan_set_shapes(conn: &mut SqliteConnection, shapes: Vec<Shape>, now: Timestamp, contexts: &mut Contexts) -> Result<Plan> {
    let Some(first) = shapes.first() else {
        return Err(Error::NothingTo("set: the command has no shapes"));
    };
    let track = match contexts.created.get(&first.track_id) {
        Some(t) => t.clone(),
        None => rows::track(conn, first.track_id).await?,
    };
    contexts.track_videos.insert(track.id, track.video_id);
    // New shapes of a track this transaction created: nothing to look up.
    let new = contexts.all_new(track.id, &shapes);
    let frames: Vec<u64> = if new { shapes.iter().map(|s| s.frame).collect() } else { Vec::new() };
    let ctx = contexts.get(conn, track.video_id).await?;
    let ops = plan_shapes(conn, ctx, &track, shapes, now, new).await?;
    let project = ctx.video.project_id;
    if new && let Some(done) = contexts.fresh.get_mut(&track.id) {
        done.extend(frames);
    }
    contexts.new_shapes = new;
    Ok(Plan { project, ops })
}
