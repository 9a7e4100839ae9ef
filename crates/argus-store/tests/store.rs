//! Integration tests of the store: commands, undo/redo, queries, sync
//! bookkeeping, concurrency, schema versions and corruption.

mod util;

use std::sync::Arc;

use argus_core::{
    geometry::{BBox, Polygon},
    id::{CommentId, ReviewId, TrackId, UserId},
    model::{AttributeValue, Comment, Geometry, ModelError, Review, ReviewScope, ReviewState, Role, Timestamp},
};
use argus_store::{Actor, Applied, Batch, CacheEntry, Command, Error, ReviewFilter, Store, StoreOptions, UndoGroup};
use util::*;

// Commands and queries.

#[tokio::test]
async fn create_track_then_query_frames_keyframes_and_counts() {
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    let shapes = vec![mask_shape(t.id, 0, 1), mask_shape(t.id, 5, 3), mask_shape(t.id, 10, 5)];
    let applied = f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: shapes.clone() }).await.expect("apply");
    assert_eq!(applied.changes, 4);
    assert_eq!(applied.project, f.project);

    let on5 = f.store.frame_shapes(f.video.id, 5).await.expect("frame");
    assert_eq!(on5.len(), 1);
    assert_eq!(on5[0].geometry, shapes[1].geometry, "the mask comes back bit-exact");
    assert_eq!(on5[0].id, shapes[1].id);
    assert!(f.store.frame_shapes(f.video.id, 6).await.expect("frame").is_empty());
    assert_eq!(f.store.keyframes(t.id).await.expect("keyframes"), vec![0, 5, 10]);
    let counts = f.store.frame_counts(f.video.id).await.expect("counts");
    assert_eq!(counts.iter().map(|c| (c.frame, c.shapes)).collect::<Vec<_>>(), vec![(0, 1), (5, 1), (10, 1)]);
    let stored = f.store.track(t.id).await.expect("track");
    assert_eq!(stored.number, 1, "number 0 takes the next free number");

    // Every change is queued for sync with strictly increasing HLCs:
    // project + schema + video + track + 3 shapes.
    let pending = f.store.pending_changes(f.project, 100).await.expect("outbox");
    assert_eq!(pending.len(), 7);
    assert!(pending.windows(2).all(|w| w[0].change.hlc < w[1].change.hlc));
    assert_eq!(pending[0].change.hlc.device, f.store.device());
    f.store.integrity_check().await.expect("sound");
}

#[tokio::test]
async fn set_shape_replaces_the_frame_and_undo_redo_restore_it() {
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    let first = mask_shape(t.id, 5, 1);
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![first.clone()] }).await.expect("create");
    let poly = Polygon::from_flat(&[1.0, 1.0, 20.0, 1.0, 10.0, 15.0]).expect("polygon");
    let second = shape(t.id, 5, Geometry::Polygon(poly));
    f.store.apply(&f.actor, Command::SetShape { shape: second.clone() }).await.expect("set");
    let now = f.store.frame_shapes(f.video.id, 5).await.expect("frame");
    assert_eq!(now.len(), 1, "set replaces the shape on that frame");
    assert_eq!(now[0].id, first.id, "the frame's shape keeps its id");
    assert_eq!(now[0].geometry, second.geometry);

    f.store.undo(f.project).await.expect("undo");
    assert_eq!(f.store.frame_shapes(f.video.id, 5).await.expect("frame")[0].geometry, first.geometry);
    f.store.redo(f.project).await.expect("redo");
    assert_eq!(f.store.frame_shapes(f.video.id, 5).await.expect("frame")[0].geometry, second.geometry);
    f.store.undo(f.project).await.expect("undo set");
    f.store.undo(f.project).await.expect("undo create");
    assert!(f.store.frame_shapes(f.video.id, 5).await.expect("frame").is_empty());
    assert!(matches!(f.store.track(t.id).await, Err(Error::NotFound { .. })));
    assert!(matches!(f.store.undo(f.project).await, Err(Error::NothingTo("undo"))));
    assert_eq!(f.store.history_depth(f.project).await.expect("depth"), (0, 2));
}

#[tokio::test]
async fn undo_and_redo_survive_a_restart_and_a_new_edit_clears_redo() {
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![mask_shape(t.id, 1, 1)] }).await.expect("create");
    f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 2, 2) }).await.expect("set");
    f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 3, 3) }).await.expect("set");
    f.store.undo(f.project).await.expect("undo");
    let path = f.db();
    let Fixture { store, dir: _dir, .. } = f;
    store.close().await;

    let store = Store::open(&path).await.expect("reopen");
    assert_eq!(store.history_depth(f.project).await.expect("depth"), (2, 1));
    store.redo(f.project).await.expect("redo after restart");
    assert_eq!(store.keyframes(t.id).await.expect("keyframes"), vec![1, 2, 3]);
    store.undo(f.project).await.expect("undo");
    store.undo(f.project).await.expect("undo");
    assert_eq!(store.keyframes(t.id).await.expect("keyframes"), vec![1]);
    store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 7, 3) }).await.expect("new edit");
    assert!(matches!(store.redo(f.project).await, Err(Error::NothingTo("redo"))), "a new edit clears redo");
    assert_eq!(store.keyframes(t.id).await.expect("keyframes"), vec![1, 7]);
}

#[tokio::test]
async fn a_bulk_command_is_one_undo_step() {
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![] }).await.expect("create");
    let before = f.store.history_depth(f.project).await.expect("depth");
    let shapes: Vec<_> = (0..FRAMES).map(|frame| mask_shape(t.id, frame, (frame % 50) as u32)).collect();
    let applied = f.store.apply(&f.actor, Command::SetShapes { shapes }).await.expect("bulk");
    assert_eq!(applied.changes, FRAMES as usize);
    assert_eq!(f.store.history_depth(f.project).await.expect("depth").0, before.0 + 1);
    assert_eq!(f.store.track_shapes(t.id).await.expect("shapes").len(), FRAMES as usize);
    f.store.undo(f.project).await.expect("undo");
    assert!(f.store.track_shapes(t.id).await.expect("shapes").is_empty(), "one undo removes all of them");
}

#[tokio::test]
async fn a_batch_is_one_undo_step_and_all_or_nothing() {
    // An import: many tracks with their shapes, numbered in turn.
    let f = fixture().await;
    let before = f.store.history_depth(f.project).await.expect("depth");
    let tracks: Vec<_> = (0..3).map(|_| track(f.video.id, f.car())).collect();
    let commands: Vec<Command> = tracks
        .iter()
        .enumerate()
        .map(|(i, t)| Command::CreateTrack { track: t.clone(), shapes: vec![mask_shape(t.id, i as u64, 1), mask_shape(t.id, 5, 2)] })
        .collect();
    let applied = f.store.apply_batch(f.project, &f.actor, "import coco", commands).await.expect("batch");
    assert_eq!((applied.changes, applied.summary.as_str()), (9, "import coco"));
    let numbers: Vec<u32> = f.store.tracks(f.video.id).await.expect("tracks").iter().map(|t| t.number).collect();
    assert_eq!(numbers, vec![1, 2, 3], "tracks numbered 0 take consecutive numbers");
    let window = f.store.video_shapes(f.video.id, 1, 6).await.expect("window");
    let got: Vec<(u64, u32)> = window.iter().map(|(n, s)| (s.frame, *n)).collect();
    assert_eq!(got, vec![(1, 2), (2, 3), (5, 1), (5, 2), (5, 3)], "by frame, then track number; frame 0 is outside the window");
    assert_eq!(f.store.history_depth(f.project).await.expect("depth").0, before.0 + 1);
    f.store.undo(f.project).await.expect("undo");
    assert!(f.store.tracks(f.video.id).await.expect("tracks").is_empty(), "one undo removes the whole import");

    // A refused item refuses the batch, naming it; nothing is written.
    let t = track(f.video.id, f.car());
    let bad = mask_shape(t.id, FRAMES + 10, 1);
    let commands = vec![
        Command::CreateTrack { track: t.clone(), shapes: vec![mask_shape(t.id, 0, 1)] },
        Command::SetShapes { shapes: vec![bad] },
    ];
    let e = f.store.apply_batch(f.project, &f.actor, "import", commands).await.expect_err("refused");
    assert!(matches!(&e, Error::Batch { index: 1, .. }), "{e:?}");
    assert!(e.to_string().starts_with("item 2 of the batch (set 1 shapes) was refused"), "{e}");
    assert!(f.store.tracks(f.video.id).await.expect("tracks").is_empty());

    // A batch given up (a cancelled import) while its last write still runs
    // on SQLite's thread writes nothing either.
    let (pending, depth) = (f.store.pending_count(f.project).await.expect("outbox"), f.store.history_depth(f.project).await.expect("depth"));
    let t = track(f.video.id, f.car());
    let given_up = f
        .store
        .batch(f.project, &f.actor, "import", async |b: &mut Batch<'_>| {
            b.apply(Command::CreateTrack { track: t.clone(), shapes: vec![mask_shape(t.id, 0, 1)] }).await?;
            b.apply(Command::SetShapes { shapes: (1..20).map(|frame| mask_shape(t.id, frame, 2)).collect() }).await?;
            Err::<(), _>(Error::Conflict("cancelled".into()))
        })
        .await;
    assert!(matches!(&given_up, Err(Error::Conflict(m)) if m == "cancelled"), "{given_up:?}");
    assert!(f.store.tracks(f.video.id).await.expect("tracks").is_empty());
    assert!(f.store.track_shapes(t.id).await.expect("shapes").is_empty());
    assert_eq!(f.store.pending_count(f.project).await.expect("outbox"), pending);
    assert_eq!(f.store.history_depth(f.project).await.expect("depth"), depth);
    // And the store goes on: the same import, not given up, is all there.
    f.store
        .batch(f.project, &f.actor, "import", async |b: &mut Batch<'_>| {
            b.apply(Command::CreateTrack { track: t.clone(), shapes: vec![mask_shape(t.id, 0, 1)] }).await?;
            b.apply(Command::SetShapes { shapes: (1..20).map(|frame| mask_shape(t.id, frame, 2)).collect() }).await
        })
        .await
        .expect("batch");
    assert_eq!(f.store.track_shapes(t.id).await.expect("shapes").len(), 20);
}

#[tokio::test]
async fn a_batchs_later_shapes_on_its_own_new_tracks_keep_every_rule() {
    use argus_core::model::{ChangeOp, EntityKind};
    let f = fixture().await;
    let geometry = |frames: &[argus_core::model::Shape]| frames.iter().map(|s| (s.frame, s.geometry.clone())).collect::<Vec<_>>();
    // An import's shape: a new track's first shapes, more frames later, then
    // frames it already has (replaced, keeping their ids and creation).
    let t = track(f.video.id, f.car());
    let first: Vec<_> = (0..5).map(|frame| mask_shape(t.id, frame, 1)).collect();
    let more: Vec<_> = (5..15).map(|frame| mask_shape(t.id, frame, 2)).collect();
    let again: Vec<_> = (3..7).map(|frame| mask_shape(t.id, frame, 9)).collect();
    let commands = vec![
        Command::CreateTrack { track: t.clone(), shapes: first.clone() },
        Command::SetShapes { shapes: more.clone() },
        Command::SetShapes { shapes: again.clone() },
    ];
    f.store.apply_batch(f.project, &f.actor, "import", commands).await.expect("batch");
    let mut stored = f.store.track_shapes(t.id).await.expect("shapes");
    stored.sort_by_key(|s| s.frame);
    let mut want = first.clone();
    want.extend(more.iter().cloned());
    for s in &again {
        want[s.frame as usize] = s.clone();
    }
    assert_eq!(geometry(&stored), geometry(&want), "the later command replaced what the earlier ones wrote");
    for s in &stored {
        assert_eq!(s.id, argus_core::id::ShapeId::for_track_frame(t.id, s.frame));
        let v = f.store.record_version(f.project, EntityKind::Shape, *s.id.as_uuid()).await.expect("version");
        assert!(v.is_some_and(|(_, deleted)| !deleted), "frame {} has its version", s.frame);
    }
    let pending = f.store.pending_changes(f.project, 1000).await.expect("outbox");
    let replaced = pending.iter().filter(|p| p.change.op.target().0 == EntityKind::Shape && p.change.base.is_some()).count();
    assert_eq!(replaced, 4, "the replacements name the versions they replaced");
    f.store.undo(f.project).await.expect("undo");
    assert!(f.store.tracks(f.video.id).await.expect("tracks").is_empty());

    // A track deleted and made again with the same id in one batch: its
    // shapes' tombstones are the new shapes' bases.
    let u = track(f.video.id, f.car());
    f.store.apply(&f.actor, Command::CreateTrack { track: u.clone(), shapes: (0..3).map(|frame| mask_shape(u.id, frame, 1)).collect() }).await.expect("create");
    let commands = vec![
        Command::DeleteTrack { track_id: u.id },
        Command::CreateTrack { track: u.clone(), shapes: vec![mask_shape(u.id, 0, 4)] },
        Command::SetShapes { shapes: (1..3).map(|frame| mask_shape(u.id, frame, 4)).collect() },
    ];
    f.store.apply_batch(f.project, &f.actor, "redo by hand", commands).await.expect("batch");
    let pending = f.store.pending_changes(f.project, 1000).await.expect("outbox");
    for frame in 0..3 {
        let id = *argus_core::id::ShapeId::for_track_frame(u.id, frame).as_uuid();
        let last = pending.iter().rev().find(|p| p.change.op.target().1 == id).expect("its change");
        assert!(matches!(last.change.op, ChangeOp::Upsert { .. }) && last.change.base.is_some(), "frame {frame}: based on its tombstone: {:?}", last.change.base);
    }
    assert_eq!(f.store.track_shapes(u.id).await.expect("shapes").len(), 3);

    // A new track relabelled in the same batch: its later shapes are checked
    // against the label it has now (a person has no polygons), not the one
    // it was created with.
    let v = track(f.video.id, f.car());
    let poly = Polygon::from_flat(&[1.0, 1.0, 20.0, 1.0, 10.0, 15.0]).expect("polygon");
    let commands = vec![
        Command::CreateTrack { track: v.clone(), shapes: vec![mask_shape(v.id, 0, 1)] },
        Command::ChangeLabel { track_id: v.id, label_id: f.person().id, attributes: None },
        Command::SetShapes { shapes: vec![shape(v.id, 1, Geometry::Polygon(poly))] },
    ];
    let refused = f.store.apply_batch(f.project, &f.actor, "relabel", commands).await;
    assert!(matches!(&refused, Err(Error::Batch { index: 2, .. })), "the polygon is refused: {refused:?}");
    assert!(f.store.track_shapes(v.id).await.expect("shapes").is_empty(), "and the batch wrote nothing");
}

#[tokio::test]
async fn a_large_batch_is_durable_at_its_commit_and_checkpointed_after_it() {
    use sqlx::{ConnectOptions, Connection};
    let f = fixture_with(StoreOptions { durability: argus_store::Durability::Normal, ..StoreOptions::default() }).await;
    // 25 tracks of 100 boxes: 2,525 records in one batch.
    let tracks: Vec<_> = (0..25).map(|_| track(f.video.id, f.car())).collect();
    let commands = tracks
        .iter()
        .map(|t| {
            let shapes = (0..FRAMES).map(|frame| shape(t.id, frame, Geometry::BBox(BBox::new(1.0, 1.0, 5.0 + (frame % 7) as f64, 5.0).expect("box")))).collect();
            Command::CreateTrack { track: t.clone(), shapes }
        })
        .collect();
    f.store.apply_batch(f.project, &f.actor, "import", commands).await.expect("batch");
    let n = 25 * FRAMES;
    let (in_store, _, _) = counts(&f.store, f.project).await;
    assert_eq!(in_store as u64, n, "readers see the batch at once");
    f.store.settled().await;
    // The database file alone (without its WAL) now holds the batch.
    let alone = f.dir.path().join("alone.db");
    std::fs::copy(f.db(), &alone).expect("copy");
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&alone).connect().await.expect("open the copy");
    // (Before any checkpoint the file lacks even the tables: none there.)
    let in_file: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM shapes").fetch_one(&mut conn).await.unwrap_or(0);
    conn.close().await.expect("close");
    assert_eq!(in_file as u64, n, "the checkpoint copied the batch into the database file");

    // Small edits after it checkpoint as SQLite always does: the WAL does
    // not grow past its usual 1,000 pages.
    for i in 0..400u64 {
        let t = &tracks[(i / FRAMES) as usize];
        f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, i % FRAMES, (i % 30) as u32) }).await.expect("edit");
    }
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(f.db()).connect().await.expect("open");
    let (_, log, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut conn).await.expect("checkpoint");
    conn.close().await.expect("close");
    assert!((0..1_200).contains(&log), "the writer's automatic checkpoint is back on: {log} pages in the WAL");
}

#[tokio::test]
async fn deleting_a_track_deletes_its_shapes_and_undo_brings_them_back() {
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    let shapes = vec![mask_shape(t.id, 0, 1), mask_shape(t.id, 1, 2)];
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: shapes.clone() }).await.expect("create");
    f.store.apply(&f.actor, Command::DeleteTrack { track_id: t.id }).await.expect("delete");
    assert!(f.store.tracks(f.video.id).await.expect("tracks").is_empty());
    assert!(f.store.frame_counts(f.video.id).await.expect("counts").is_empty());
    f.store.undo(f.project).await.expect("undo");
    let back = f.store.track_shapes(t.id).await.expect("shapes");
    assert_eq!(back.iter().map(|s| s.id).collect::<Vec<_>>(), shapes.iter().map(|s| s.id).collect::<Vec<_>>());
    f.store.apply(&f.actor, Command::DeleteShape { shape_id: shapes[0].id }).await.expect("delete shape");
    assert_eq!(f.store.keyframes(t.id).await.expect("keyframes"), vec![1]);
}

#[tokio::test]
async fn changing_the_label_checks_shapes_and_drops_foreign_attributes() {
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    let mut s = mask_shape(t.id, 0, 1);
    s.attributes.insert("parked".into(), AttributeValue::Bool(true));
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![s.clone()] }).await.expect("create");
    let mut attrs = argus_core::model::Attributes::new();
    attrs.insert("make".into(), AttributeValue::Text("vw".into()));
    f.store.apply(&f.actor, Command::SetTrackAttributes { track_id: t.id, attributes: attrs }).await.expect("attrs");
    f.store.apply(&f.actor, Command::ChangeLabel { track_id: t.id, label_id: f.person().id, attributes: None }).await.expect("relabel");
    let tr = f.store.track(t.id).await.expect("track");
    assert_eq!(tr.label_id, f.person().id);
    assert!(tr.attributes.is_empty(), "person has no track attributes");
    assert!(f.store.frame_shapes(f.video.id, 0).await.expect("frame")[0].attributes.is_empty());
    f.store.undo(f.project).await.expect("undo relabel");
    assert_eq!(f.store.frame_shapes(f.video.id, 0).await.expect("frame")[0].attributes, s.attributes);

    // A polygon cannot move to `person`, which allows only masks and boxes.
    let poly = BBox::new(1.0, 1.0, 5.0, 5.0).expect("box").to_polygon();
    f.store.apply(&f.actor, Command::SetShape { shape: shape(t.id, 3, Geometry::Polygon(poly)) }).await.expect("polygon");
    let err = f.store.apply(&f.actor, Command::ChangeLabel { track_id: t.id, label_id: f.person().id, attributes: None }).await;
    assert!(matches!(err, Err(Error::Invalid(ModelError::ShapeKindNotAllowed { .. }))), "{err:?}");
    assert_eq!(f.store.track(t.id).await.expect("track").label_id, f.car().id, "refused relabel changed nothing");
}

#[tokio::test]
async fn review_workflow_queue_comments_and_permissions() {
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![mask_shape(t.id, 0, 1)] }).await.expect("create");
    let review = Review::new(f.video.id, ReviewScope::Track { track_id: t.id }, Timestamp(0)).expect("review");
    let annotator = Actor { user: UserId::new(), role: Role::Annotator };
    let reviewer = Actor { user: UserId::new(), role: Role::Reviewer };
    assert!(matches!(
        f.store.apply(&annotator, Command::CreateReview { review: review.clone() }).await,
        Err(Error::Invalid(ModelError::Forbidden { .. }))
    ));
    f.store.apply(&reviewer, Command::CreateReview { review: review.clone() }).await.expect("open review");
    let other = Review::new(f.video.id, ReviewScope::Frames { start: 0, end: 10 }, Timestamp(0)).expect("review");
    f.store.apply(&reviewer, Command::CreateReview { review: other.clone() }).await.expect("open review");
    let bad_range = Review::new(f.video.id, ReviewScope::Frames { start: 0, end: FRAMES }, Timestamp(0)).expect("review");
    assert!(matches!(
        f.store.apply(&reviewer, Command::CreateReview { review: bad_range }).await,
        Err(Error::Invalid(ModelError::FrameOutOfRange { .. }))
    ));

    assert!(matches!(
        f.store.apply(&reviewer, Command::Reject { review_id: review.id, comment: "  ".into() }).await,
        Err(Error::Invalid(ModelError::RejectionNeedsComment))
    ));
    f.store.apply(&reviewer, Command::Reject { review_id: review.id, comment: "mask misses the mirror".into() }).await.expect("reject");
    assert!(matches!(
        f.store.apply(&reviewer, Command::Approve { review_id: review.id, comment: None }).await,
        Err(Error::Invalid(ModelError::InvalidReviewTransition { .. }))
    ));
    let c = Comment::new(review.id, annotator.user, "fixed the mirror", Some(3), Timestamp(0)).expect("comment");
    f.store.apply(&annotator, Command::AddComment { comment: c.clone() }).await.expect("comment");
    f.store.apply(&reviewer, Command::Reopen { review_id: review.id }).await.expect("resubmit");
    f.store.apply(&reviewer, Command::Approve { review_id: review.id, comment: None }).await.expect("approve");

    let approved = f.store.review_queue(f.project, &ReviewFilter { state: Some(ReviewState::Approved), ..Default::default() }).await.expect("queue");
    assert_eq!(approved.iter().map(|r| r.id).collect::<Vec<_>>(), vec![review.id]);
    assert_eq!(approved[0].reviewer, Some(reviewer.user));
    let pending = f.store.review_queue(f.project, &ReviewFilter { state: Some(ReviewState::Pending), ..Default::default() }).await.expect("queue");
    assert_eq!(pending.iter().map(|r| r.id).collect::<Vec<_>>(), vec![other.id]);
    assert_eq!(f.store.review_queue(f.project, &ReviewFilter::default()).await.expect("queue").len(), 2);
    let thread = f.store.comments(review.id).await.expect("comments");
    assert_eq!(thread.len(), 1);
    assert_eq!((thread[0].id, thread[0].author, thread[0].frame), (c.id, annotator.user, Some(3)));
    let missing = Comment { id: CommentId::new(), review_id: ReviewId::new(), ..c };
    assert!(matches!(f.store.apply(&annotator, Command::AddComment { comment: missing }).await, Err(Error::NotFound { .. })));
}

// Undo groups: a propagation run written in many batches undoes as one step.

/// Writes `frames` of track `t` as one batch of `group`.
async fn group_batch(f: &Fixture, group: &UndoGroup, summary: &str, t: TrackId, frames: std::ops::RangeInclusive<u64>) -> Applied {
    let shapes = frames.map(|frame| mask_shape(t, frame, (frame % 50) as u32)).collect();
    let (applied, ()) = f
        .store
        .batch_in(f.project, &f.actor, summary, group, async |b: &mut Batch<'_>| b.apply(Command::SetShapes { shapes }).await)
        .await
        .expect("batch");
    applied
}

#[tokio::test]
async fn batches_of_one_undo_group_undo_and_redo_as_one_step() {
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![mask_shape(t.id, 0, 1)] }).await.expect("create");
    let group = f.store.undo_group();
    for (i, frames) in [1..=10, 11..=20, 21..=30].into_iter().enumerate() {
        let applied = group_batch(&f, &group, &format!("propagate {}", i + 1), t.id, frames).await;
        assert_eq!(applied.changes, 10);
        assert_eq!(f.store.track_shapes(t.id).await.expect("shapes").len(), 11 + 10 * i, "each batch is visible once it commits");
    }
    f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 50, 2) }).await.expect("edit after");
    assert_eq!(f.store.history_depth(f.project).await.expect("depth"), (3, 0), "create, the group, the edit after");

    let undone = f.store.undo(f.project).await.expect("undo the edit after");
    assert_eq!(undone.changes, 1, "the edit after the group is its own step");
    let undone = f.store.undo(f.project).await.expect("undo the group");
    assert_eq!((undone.changes, undone.summary.as_str()), (30, "propagate 1"), "one step, named by the group's first batch");
    assert_eq!(f.store.keyframes(t.id).await.expect("keyframes"), vec![0], "one undo removes all 30");
    assert_eq!(f.store.history_depth(f.project).await.expect("depth"), (1, 2));

    let redone = f.store.redo(f.project).await.expect("redo the group");
    assert_eq!((redone.changes, redone.summary.as_str()), (30, "propagate 1"));
    assert_eq!(f.store.keyframes(t.id).await.expect("keyframes"), (0..=30).collect::<Vec<_>>(), "one redo brings all 30 back");
    assert_eq!(f.store.history_depth(f.project).await.expect("depth"), (2, 1));
    f.store.undo(f.project).await.expect("undo the group again");
    assert_eq!(f.store.keyframes(t.id).await.expect("keyframes"), vec![0]);
    f.store.undo(f.project).await.expect("undo the create");
    assert!(f.store.tracks(f.video.id).await.expect("tracks").is_empty(), "the edit before the group is its own step");
    assert!(matches!(f.store.undo(f.project).await, Err(Error::NothingTo("undo"))));
    for _ in 0..3 {
        f.store.redo(f.project).await.expect("redo");
    }
    assert_eq!(f.store.keyframes(t.id).await.expect("keyframes"), (0..=30).chain([50]).collect::<Vec<_>>());
    f.store.integrity_check().await.expect("sound");
}

#[tokio::test]
async fn a_group_whose_last_batch_failed_undoes_what_committed_in_one_step() {
    // A run cancelled (or failed) in the middle of a batch.
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![] }).await.expect("create");
    let group = f.store.undo_group();
    group_batch(&f, &group, "propagate", t.id, 1..=10).await;
    group_batch(&f, &group, "propagate", t.id, 11..=20).await;
    let shapes: Vec<_> = (21..=30).map(|frame| mask_shape(t.id, frame, 1)).collect();
    let err = f
        .store
        .batch_in(f.project, &f.actor, "propagate", &group, async |b: &mut Batch<'_>| {
            b.apply(Command::SetShapes { shapes }).await?;
            Err::<(), _>(Error::Conflict("cancelled".into()))
        })
        .await
        .expect_err("the batch fails");
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert_eq!(f.store.track_shapes(t.id).await.expect("shapes").len(), 20, "the failed batch rolled back");
    assert_eq!(f.store.history_depth(f.project).await.expect("depth"), (2, 0));
    assert_eq!(f.store.undo(f.project).await.expect("undo").changes, 20);
    assert!(f.store.track_shapes(t.id).await.expect("shapes").is_empty(), "one undo removes what committed");
    assert!(f.store.track(t.id).await.is_ok(), "and nothing before the group");
}

#[tokio::test]
async fn a_group_interrupted_by_a_restart_still_undoes_as_one_step() {
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![] }).await.expect("create");
    let group = f.store.undo_group();
    group_batch(&f, &group, "propagate", t.id, 1..=10).await;
    group_batch(&f, &group, "propagate", t.id, 11..=20).await;
    // The app dies between two batches: no close, no checkpoint.
    let path = f.db();
    let Fixture { store, dir: _dir, project, .. } = f;
    drop(store);

    let store = Store::open(&path).await.expect("reopen");
    assert_eq!(store.history_depth(project).await.expect("depth"), (2, 0), "the group's entries are still one step");
    assert_eq!(store.undo(project).await.expect("undo").changes, 20);
    assert!(store.track_shapes(t.id).await.expect("shapes").is_empty());
    store.redo(project).await.expect("redo");
    assert_eq!(store.track_shapes(t.id).await.expect("shapes").len(), 20);
}

#[tokio::test]
async fn a_group_batch_after_another_edit_starts_a_new_step() {
    // A caller bug (an edit landed between two batches of one run): the
    // later batches do not reach under that edit; they are a step of their own.
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![] }).await.expect("create");
    let group = f.store.undo_group();
    group_batch(&f, &group, "propagate", t.id, 1..=10).await;
    f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 50, 2) }).await.expect("edit between");
    group_batch(&f, &group, "propagate", t.id, 11..=20).await;
    group_batch(&f, &group, "propagate", t.id, 21..=30).await;
    assert_eq!(f.store.history_depth(f.project).await.expect("depth"), (4, 0));
    assert_eq!(f.store.undo(f.project).await.expect("undo").changes, 20, "the batches after the edit");
    assert_eq!(f.store.undo(f.project).await.expect("undo").changes, 1, "the edit");
    assert_eq!(f.store.undo(f.project).await.expect("undo").changes, 10, "the batch before it");
    assert!(f.store.track_shapes(t.id).await.expect("shapes").is_empty());

    // An empty batch of a group leaves the history alone.
    let empty = f.store.undo_group();
    f.store.batch_in(f.project, &f.actor, "nothing", &empty, async |_: &mut Batch<'_>| Ok(())).await.expect("empty batch");
    assert_eq!(f.store.history_depth(f.project).await.expect("depth"), (1, 3), "nothing pushed, redo kept");
}

#[tokio::test]
async fn undo_depth_trimming_never_splits_a_group() {
    let f = fixture_with(StoreOptions { undo_depth: 3, ..Default::default() }).await;
    let t = track(f.video.id, f.car());
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![mask_shape(t.id, 0, 1)] }).await.expect("create");
    let group = f.store.undo_group();
    for frame in 1..=4 {
        group_batch(&f, &group, "propagate", t.id, frame..=frame).await;
    }
    f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 10, 2) }).await.expect("edit");
    f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 11, 2) }).await.expect("edit");
    // Four steps (seven entries): the oldest step goes, the group stays whole.
    assert_eq!(f.store.history_depth(f.project).await.expect("depth"), (3, 0));
    for _ in 0..3 {
        f.store.undo(f.project).await.expect("undo");
    }
    assert_eq!(f.store.keyframes(t.id).await.expect("keyframes"), vec![0], "the whole group was undone");
    assert!(matches!(f.store.undo(f.project).await, Err(Error::NothingTo("undo"))), "the create was trimmed");
    for _ in 0..3 {
        f.store.redo(f.project).await.expect("redo");
    }
    // A second group, then three edits: it becomes the oldest step and goes whole.
    let second = f.store.undo_group();
    for frame in 5..=8 {
        group_batch(&f, &second, "propagate again", t.id, frame..=frame).await;
    }
    for frame in 12..=14 {
        f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, frame, 2) }).await.expect("edit");
    }
    assert_eq!(f.store.history_depth(f.project).await.expect("depth"), (3, 0));
    for _ in 0..3 {
        f.store.undo(f.project).await.expect("undo");
    }
    assert!(matches!(f.store.undo(f.project).await, Err(Error::NothingTo("undo"))), "no half group left behind");
    assert_eq!(f.store.keyframes(t.id).await.expect("keyframes"), vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11]);
}

// Neighbours of a window of frames, for shapes derived between keyframes.

#[tokio::test]
async fn shapes_around_gives_each_tracks_nearest_stored_shapes_outside_the_window() {
    let f = fixture().await;
    let a = track(f.video.id, f.car());
    let b = track(f.video.id, f.person());
    let bare = track(f.video.id, f.car());
    let a_shapes = vec![mask_shape(a.id, 0, 1), mask_shape(a.id, 10, 2), mask_shape(a.id, 20, 3)];
    f.store.apply(&f.actor, Command::CreateTrack { track: a.clone(), shapes: a_shapes.clone() }).await.expect("a");
    f.store.apply(&f.actor, Command::CreateTrack { track: b.clone(), shapes: vec![mask_shape(b.id, 5, 4)] }).await.expect("b");
    f.store.apply(&f.actor, Command::CreateTrack { track: bare.clone(), shapes: vec![] }).await.expect("bare");
    let frames = |around: Vec<(TrackId, Option<argus_core::model::Shape>, Option<argus_core::model::Shape>)>| {
        around.into_iter().map(|(t, before, after)| (t, before.map(|s| s.frame), after.map(|s| s.frame))).collect::<Vec<_>>()
    };
    let around = |from, to| f.store.shapes_around(f.video.id, from, to);
    assert_eq!(frames(around(11, 15).await.expect("around")), vec![(a.id, Some(10), Some(20)), (b.id, Some(5), None)]);
    assert_eq!(frames(around(0, 1).await.expect("around")), vec![(a.id, None, Some(10)), (b.id, None, Some(5))]);
    assert_eq!(frames(around(25, 30).await.expect("around")), vec![(a.id, Some(20), None), (b.id, Some(5), None)]);
    assert_eq!(frames(around(6, 10).await.expect("around")), vec![(a.id, Some(0), Some(10)), (b.id, Some(5), None)], "`to` is the first frame after");
    let got = around(11, 15).await.expect("around");
    assert_eq!(got[0].1.as_ref().map(|s| &s.geometry), Some(&a_shapes[1].geometry), "whole shapes, masks included");

    assert_eq!(f.store.track_shapes_in(a.id, 0, 20).await.expect("in").iter().map(|s| s.frame).collect::<Vec<_>>(), vec![0, 10]);
    assert_eq!(f.store.track_shapes_in(a.id, 10, 11).await.expect("in").iter().map(|s| s.frame).collect::<Vec<_>>(), vec![10]);
    assert!(f.store.track_shapes_in(a.id, 11, 15).await.expect("in").is_empty());
    assert!(f.store.track_shapes_in(bare.id, 0, u64::MAX).await.expect("in").is_empty());

    let empty = f.store.add_video(video(f.project, 'e')).await.expect("empty video");
    assert!(f.store.shapes_around(empty.id, 0, 10).await.expect("around").is_empty());
}

// Commands with inconsistent input are refused with typed errors and change nothing.

#[tokio::test]
async fn inconsistent_input_is_refused_and_changes_nothing() {
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![mask_shape(t.id, 0, 1)] }).await.expect("create");
    let before = counts(&f.store, f.project).await;

    let wrong_size = shape(t.id, 1, Geometry::Mask(argus_core::mask::Rle::new(10, 10, vec![100]).expect("mask")));
    let err = f.store.apply(&f.actor, Command::SetShape { shape: wrong_size }).await;
    assert!(matches!(err, Err(Error::Invalid(ModelError::MaskSizeMismatch { .. }))), "{err:?}");

    let err = f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, FRAMES, 1) }).await;
    assert!(matches!(err, Err(Error::Invalid(ModelError::FrameOutOfRange { .. }))), "{err:?}");

    // A bulk command with one bad shape at the end applies none of them.
    let mut bulk: Vec<_> = (1..20).map(|i| mask_shape(t.id, i, 1)).collect();
    bulk.push(mask_shape(t.id, FRAMES + 5, 1));
    let err = f.store.apply(&f.actor, Command::SetShapes { shapes: bulk }).await;
    assert!(matches!(err, Err(Error::Invalid(ModelError::FrameOutOfRange { .. }))), "{err:?}");

    let mut unknown = track(f.video.id, f.car());
    unknown.label_id = argus_core::id::LabelId::new();
    let err = f.store.apply(&f.actor, Command::CreateTrack { track: unknown, shapes: vec![] }).await;
    assert!(matches!(err, Err(Error::Invalid(ModelError::UnknownLabel(_)))), "{err:?}");

    let err = f.store.apply(&f.actor, Command::ChangeLabel { track_id: t.id, label_id: argus_core::id::LabelId::new(), attributes: None }).await;
    assert!(matches!(err, Err(Error::Invalid(ModelError::UnknownLabel(_)))), "{err:?}");

    let err = f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(argus_core::id::TrackId::new(), 1, 1) }).await;
    assert!(matches!(err, Err(Error::NotFound { what: "track", .. })), "{err:?}");

    let mut bad_attr = mask_shape(t.id, 2, 1);
    bad_attr.attributes.insert("parked".into(), AttributeValue::Text("yes".into()));
    let err = f.store.apply(&f.actor, Command::SetShape { shape: bad_attr }).await;
    assert!(matches!(err, Err(Error::Invalid(ModelError::AttributeType { .. }))), "{err:?}");

    let mut dup = track(f.video.id, f.car());
    dup.number = 1;
    let err = f.store.apply(&f.actor, Command::CreateTrack { track: dup, shapes: vec![] }).await;
    assert!(matches!(err, Err(Error::Conflict(_))), "{err:?}");

    assert_eq!(counts(&f.store, f.project).await, before, "refused commands changed nothing");
    assert_eq!(f.store.keyframes(t.id).await.expect("keyframes"), vec![0]);
}

// Sync bookkeeping.

#[tokio::test]
async fn outbox_cursor_and_clock_persist() {
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![mask_shape(t.id, 0, 1)] }).await.expect("create");
    let pending = f.store.pending_changes(f.project, 2).await.expect("outbox");
    assert_eq!(pending.len(), 2);
    f.store.mark_sent(&pending.iter().map(|p| p.change.id).collect::<Vec<_>>()).await.expect("sent");
    assert_eq!(f.store.pending_count(f.project).await.expect("count"), 3);
    f.store.set_pull_cursor(f.project, "cursor-42").await.expect("cursor");
    let last = f.store.pending_changes(f.project, 100).await.expect("outbox").last().expect("one").change.hlc;
    let device = f.store.device();

    let path = f.db();
    let Fixture { store, dir: _dir, .. } = f;
    store.close().await;
    let store = Store::open(&path).await.expect("reopen");
    assert_eq!(store.device(), device, "the device id is kept");
    assert_eq!(store.pull_cursor(f.project).await.expect("cursor").as_deref(), Some("cursor-42"));
    store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 1, 1) }).await.expect("edit");
    let next = store.pending_changes(f.project, 100).await.expect("outbox").last().expect("one").change.hlc;
    assert!(next > last, "the clock resumes past the last stamp after a restart");
    // The undo is an edit too: it is queued for sync.
    store.undo(f.project).await.expect("undo");
    let after_undo = store.pending_changes(f.project, 100).await.expect("outbox");
    assert!(matches!(after_undo.last().expect("one").change.op, argus_core::model::ChangeOp::Delete { .. }));
}

/// Rows of the outbox (sent or not), and the undo stack's bytes, read
/// straight from the file.
async fn raw(f: &Fixture) -> (i64, i64) {
    use sqlx::{ConnectOptions, Connection};
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(f.db()).read_only(true).connect().await.expect("open");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(&mut conn).await.expect("outbox");
    let undo: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(length(inverse) + length(COALESCE(expect, ''))), 0) FROM undo_log WHERE stack = 'undo'")
        .fetch_one(&mut conn)
        .await
        .expect("undo");
    conn.close().await.expect("close");
    (rows, undo)
}

#[tokio::test]
async fn new_shapes_written_in_bulk_queue_one_row_and_send_each_shape_as_it_is() {
    use argus_core::model::{ChangeOp, Entity, EntityKind};
    let f = fixture().await;
    let (rows_before, undo_before) = raw(&f).await;
    let t = track(f.video.id, f.car());
    let shapes: Vec<_> = (0..40).map(|frame| mask_shape(t.id, frame, (frame % 30) as u32)).collect();
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: shapes.clone() }).await.expect("create");
    let (rows, undo) = raw(&f).await;
    assert_eq!(rows - rows_before, 2, "the track's change and one bulk row for its 40 shapes");
    assert!(undo - undo_before < 40 * 60, "the undo entry names the shapes compactly: {} bytes", undo - undo_before);
    let queued = f.store.pending_count(f.project).await.expect("count");
    let all = f.store.pending_changes(f.project, 1000).await.expect("outbox");
    assert_eq!(all.len() as u64, queued);
    let of_shapes: Vec<_> = all.iter().filter(|p| p.change.op.target().0 == EntityKind::Shape).collect();
    assert_eq!(of_shapes.len(), 40, "a change for each shape");
    assert!(all.windows(2).all(|w| w[0].change.hlc < w[1].change.hlc), "in HLC order");
    for p in &of_shapes {
        let ChangeOp::Upsert { entity: Entity::Shape(s) } = &p.change.op else { panic!("{:?}", p.change.op) };
        let stored = f.store.frame_shapes(f.video.id, s.frame).await.expect("frame");
        assert_eq!(stored.as_slice(), std::slice::from_ref(s), "the change carries the shape as stored");
        assert_eq!(p.change.base, None, "a create has no base");
        let version = f.store.record_version(f.project, EntityKind::Shape, *s.id.as_uuid()).await.expect("version");
        assert_eq!(version, Some((p.change.hlc, false)), "stamped with the version it wrote");
    }
    let again = f.store.pending_changes(f.project, 1000).await.expect("outbox");
    assert_eq!(again.iter().map(|p| p.change.id).collect::<Vec<_>>(), all.iter().map(|p| p.change.id).collect::<Vec<_>>(), "the same ids every time");

    // Before anything is sent, a shape is edited and another deleted: the
    // bulk row leaves them to the later changes.
    f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 5, 29) }).await.expect("edit");
    let gone = argus_core::id::ShapeId::for_track_frame(t.id, 7);
    f.store.apply(&f.actor, Command::DeleteShape { shape_id: gone }).await.expect("delete");
    let now = f.store.pending_changes(f.project, 1000).await.expect("outbox");
    assert_eq!(now.len(), all.len(), "two shapes left the bulk row; an edit and a delete came");
    let edited = argus_core::id::ShapeId::for_track_frame(t.id, 5);
    let of = |id: argus_core::id::ShapeId| now.iter().filter(move |p| p.change.op.target().1 == *id.as_uuid()).collect::<Vec<_>>();
    let fives = of(edited);
    assert!(
        matches!(fives.as_slice(), [only] if only.change.base.is_some()
            && matches!(&only.change.op, ChangeOp::Upsert { entity: Entity::Shape(s) } if s.geometry == mask_shape(t.id, 5, 29).geometry)),
        "the edited shape goes once, as edited: {fives:?}"
    );
    assert!(matches!(of(gone).as_slice(), [only] if matches!(only.change.op, ChangeOp::Delete { .. })), "the deleted one only as deleted");

    // Sent in small pages: each change once, the last page empties it.
    let mut sent = Vec::new();
    let mut refused = None;
    loop {
        let page = f.store.pending_changes(f.project, 7).await.expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        let mut ok: Vec<_> = page.iter().map(|p| p.change.id).collect();
        // The server refuses one change made from the bulk row.
        if refused.is_none()
            && let Some(i) = page.iter().position(|p| p.change.op.target().0 == EntityKind::Shape && p.change.base.is_none())
        {
            let id = ok.remove(i);
            f.store.reject_changes(&[(id, "not allowed".into())]).await.expect("reject");
            refused = Some(page[i].change.clone());
        }
        f.store.mark_sent(&ok).await.expect("sent");
        sent.extend(page.into_iter().map(|p| p.change.id));
    }
    let mut unique = sent.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((sent.len(), unique.len()), (now.len(), now.len()), "every change once");
    assert_eq!(f.store.pending_count(f.project).await.expect("count"), 0);
    let refused = refused.expect("one refused");
    let rejected = f.store.rejected_changes(f.project).await.expect("rejected");
    assert_eq!(rejected, vec![(refused, "not allowed".to_owned())], "the refused change is kept whole with the reason");

    // One undo takes the 40 shapes; it is queued like any edit.
    f.store.undo(f.project).await.expect("undo delete");
    f.store.undo(f.project).await.expect("undo edit");
    f.store.undo(f.project).await.expect("undo create");
    assert!(f.store.track_shapes(t.id).await.expect("shapes").is_empty());
    f.store.redo(f.project).await.expect("redo create");
    let mut back = f.store.track_shapes(t.id).await.expect("shapes");
    back.sort_by_key(|s| s.frame);
    assert_eq!(back.iter().map(|s| &s.geometry).collect::<Vec<_>>(), shapes.iter().map(|s| &s.geometry).collect::<Vec<_>>(), "redo brings all 40 back");
    assert!(f.store.pending_count(f.project).await.expect("count") >= 80, "the undo's deletes and the redo's creates are queued");
}

#[tokio::test]
async fn projects_have_separate_histories() {
    let f = fixture().await;
    let (other, schema) = f.store.create_project("Harbour", labels()).await.expect("second project");
    assert!(matches!(f.store.create_project("Harbour", labels()).await, Err(Error::Conflict(_))));
    let v = f.store.add_video(video(other.id, 'b')).await.expect("video");
    assert!(matches!(f.store.add_video(video(other.id, 'b')).await, Err(Error::Conflict(_))), "same content twice");
    let car = schema.label_by_name("car").expect("car");
    let t1 = track(f.video.id, f.car());
    let t2 = track(v.id, car);
    f.store.apply(&f.actor, Command::CreateTrack { track: t1.clone(), shapes: vec![] }).await.expect("create");
    f.store.apply(&f.actor, Command::CreateTrack { track: t2.clone(), shapes: vec![] }).await.expect("create");
    f.store.undo(f.project).await.expect("undo first project");
    assert!(f.store.track(t1.id).await.is_err());
    assert!(f.store.track(t2.id).await.is_ok(), "the other project is untouched");
    let names: Vec<_> = f.store.projects().await.expect("projects").into_iter().map(|p| p.name).collect();
    assert_eq!(names, vec!["Harbour", "Street"]);
    assert_eq!(f.store.find_project("Harbour").await.expect("by name").id, other.id);
}

#[tokio::test]
async fn model_cache_index_trims_least_recently_used() {
    let f = fixture().await;
    for frame in 0..4 {
        let e = CacheEntry { video: f.video.id, model: "sam-tiny".into(), frame, path: format!("/cache/{frame}.bin"), bytes: 100 };
        f.store.cache_put(&e).await.expect("put");
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    f.store.cache_touch(f.video.id, "sam-tiny", 0).await.expect("touch");
    assert_eq!(f.store.cache_bytes().await.expect("bytes"), 400);
    let removed = f.store.cache_trim(250).await.expect("trim");
    let mut frames: Vec<_> = removed.iter().map(|e| e.frame).collect();
    frames.sort();
    assert_eq!(frames, vec![1, 2], "frame 0 was used last, 3 is newest");
    assert!(f.store.cache_get(f.video.id, "sam-tiny", 0).await.expect("get").is_some());
    assert!(f.store.cache_get(f.video.id, "sam-tiny", 1).await.expect("get").is_none());
}

// Readers concurrent with writers.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_never_see_database_is_locked() {
    let f = fixture_with(StoreOptions { durability: argus_store::Durability::Normal, ..Default::default() }).await;
    let t = track(f.video.id, f.car());
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![] }).await.expect("create");
    let store = Arc::new(f.store);
    // A second Store on the same file stands in for another process (the
    // CLI, a pre-encoder) writing at the same time.
    let second = Arc::new(Store::open_with(f.dir.path().join("argus.db"), StoreOptions { backups_kept: 0, ..Default::default() }).await.expect("second"));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for i in 0..4u64 {
        let (store, stop, video) = (store.clone(), stop.clone(), f.video.id);
        readers.push(tokio::spawn(async move {
            let mut reads = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store.frame_shapes(video, i).await?;
                store.frame_counts(video).await?;
                reads += 1;
            }
            Ok::<u32, Error>(reads)
        }));
    }
    let writers = [store.clone(), second.clone()].into_iter().enumerate().map(|(w, s)| {
        let (actor, tid) = (f.actor, t.id);
        tokio::spawn(async move {
            for round in 0..40u64 {
                let shapes = (0..5).map(|k| mask_shape(tid, (round * 5 + k) % FRAMES, (w as u32) * 10 + (k as u32))).collect();
                s.apply(&actor, Command::SetShapes { shapes }).await?;
            }
            Ok::<(), Error>(())
        })
    });
    for w in writers.collect::<Vec<_>>() {
        w.await.expect("join").expect("writes succeed");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.await.expect("join").expect("no read fails") > 0);
    }
    assert_eq!(store.history_depth(f.project).await.expect("depth").0, 81);
    store.integrity_check().await.expect("sound");
}

// Opening: schema versions, corruption, backups.

#[tokio::test]
async fn a_database_from_a_newer_argus_is_refused() {
    let f = fixture().await;
    let path = f.db();
    let Fixture { store, dir: _dir, .. } = f;
    store.close().await;
    {
        use sqlx::{ConnectOptions, Connection};
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).connect().await.expect("raw");
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'future', 1, x'00', 0)")
            .execute(&mut conn)
            .await
            .expect("fake a future migration");
        conn.close().await.expect("close");
    }
    let err = Store::open(&path).await.expect_err("refused");
    assert!(matches!(err, Error::NewerSchema { found: 9999, .. }), "{err:?}");
    assert!(err.to_string().contains("update Argus"), "{err}");
}

#[tokio::test]
async fn a_database_of_the_previous_schema_migrates_and_its_history_still_undoes() {
    use argus_core::{
        id::{LabelSchemaId, ProjectId},
        model::{ChangeOp, EntityKind},
    };
    use sqlx::{ConnectOptions, Connection};
    // A database made by schema version 3: its own migrations, run by hand.
    let dir = tempfile::tempdir().expect("dir");
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).expect("mkdir");
    let ours = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut copied = 0;
    for entry in std::fs::read_dir(&ours).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("name").to_owned();
        if name.as_str() < "0004" {
            std::fs::copy(&path, old.join(&name)).expect("copy");
            copied += 1;
        }
    }
    assert_eq!(copied, 3);
    let path = dir.path().join("argus.db");
    let (project, ann, bob) = (ProjectId::new(), UserId::new(), UserId::new());
    {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true).connect().await.expect("raw");
        sqlx::migrate::Migrator::new(old.as_path()).await.expect("old migrations").run(&mut conn).await.expect("schema 3");
        sqlx::query("INSERT INTO projects (id, name, schema_id, created_at, updated_at) VALUES (?, 'Old', ?, 0, 0)")
            .bind(project.to_string())
            .bind(LabelSchemaId::new().to_string())
            .execute(&mut conn)
            .await
            .expect("project");
        // Two edits of that version (adding members), each its own undo entry.
        for (seq, (user, name)) in [(ann, "Ann"), (bob, "Bob")].into_iter().enumerate() {
            sqlx::query("INSERT INTO members (project_id, user_id, role, display_name) VALUES (?, ?, 'annotator', ?)")
                .bind(project.to_string())
                .bind(user.to_string())
                .bind(name)
                .execute(&mut conn)
                .await
                .expect("member");
            let inverse = vec![ChangeOp::Delete { kind: EntityKind::Member, id: *user.as_uuid() }];
            sqlx::query("INSERT INTO undo_log (project_id, stack, summary, inverse, expect, created_at) VALUES (?, 'undo', ?, ?, ?, ?)")
                .bind(project.to_string())
                .bind(format!("add {name}"))
                .bind(serde_json::to_string(&inverse).expect("json"))
                .bind(if seq == 0 { None } else { Some("[]") })
                .bind(seq as i64)
                .execute(&mut conn)
                .await
                .expect("undo entry");
        }
        conn.close().await.expect("close");
    }

    let store = Store::open(&path).await.expect("open migrates");
    assert_eq!(Store::schema_version(), 5);
    {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).read_only(true).connect().await.expect("raw");
        let found: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&mut conn).await.expect("version");
        assert_eq!(found, Store::schema_version());
        conn.close().await.expect("close");
    }
    assert_eq!(store.history_depth(project).await.expect("depth"), (2, 0), "entries without a group are a step each");
    assert_eq!(store.undo(project).await.expect("undo").summary, "add Bob");
    let names = |m: Vec<argus_core::model::Member>| m.into_iter().map(|m| m.display_name).collect::<Vec<_>>();
    assert_eq!(names(store.members(project).await.expect("members")), vec!["Ann"]);
    assert_eq!(store.undo(project).await.expect("undo").summary, "add Ann");
    assert!(store.members(project).await.expect("members").is_empty());
    store.redo(project).await.expect("redo");
    store.redo(project).await.expect("redo");
    assert_eq!(names(store.members(project).await.expect("members")), vec!["Ann", "Bob"]);
    assert_eq!(store.history_depth(project).await.expect("depth"), (2, 0));
}

#[tokio::test]
async fn shape_versions_move_onto_their_rows_when_a_schema_4_database_opens() {
    use argus_core::model::EntityKind;
    use sqlx::{ConnectOptions, Connection};
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    let shapes: Vec<_> = (0..3).map(|frame| mask_shape(t.id, frame, 1)).collect();
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: shapes.clone() }).await.expect("create");
    f.store.apply(&f.actor, Command::DeleteShape { shape_id: shapes[2].id }).await.expect("delete");
    let mut before = Vec::new();
    for s in &shapes {
        before.push(f.store.record_version(f.project, EntityKind::Shape, *s.id.as_uuid()).await.expect("version").expect("one"));
    }
    assert!(before[2].1, "a tombstone");
    let path = f.db();
    let Fixture { store, dir: _dir, project, actor, .. } = f;
    store.close().await;
    // Back to schema 4: every version in `versions`, none on the rows.
    {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).connect().await.expect("raw");
        sqlx::query("INSERT INTO versions (project_id, kind, id, hlc, deleted) SELECT ?, 'shape', id, hlc, 0 FROM shapes")
            .bind(project.to_string())
            .execute(&mut conn)
            .await
            .expect("versions back");
        sqlx::query("ALTER TABLE shapes DROP COLUMN hlc").execute(&mut conn).await.expect("drop column");
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 5").execute(&mut conn).await.expect("unapply");
        conn.close().await.expect("close");
    }
    let store = Store::open(&path).await.expect("open migrates");
    for (s, v) in shapes.iter().zip(&before) {
        assert_eq!(store.record_version(project, EntityKind::Shape, *s.id.as_uuid()).await.expect("version").as_ref(), Some(v), "kept across the move");
    }
    {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).read_only(true).connect().await.expect("raw");
        let (live, dead): (i64, i64) = sqlx::query_as("SELECT COALESCE(SUM(deleted = 0), 0), COALESCE(SUM(deleted = 1), 0) FROM versions WHERE kind = 'shape'")
            .fetch_one(&mut conn)
            .await
            .expect("count");
        assert_eq!((live, dead), (0, 1), "live shapes' versions left the table; the tombstone stayed");
        conn.close().await.expect("close");
    }
    // An edit names the version it replaces, as before the move.
    store.apply(&actor, Command::SetShape { shape: mask_shape(t.id, 0, 9) }).await.expect("edit");
    let last = store.pending_changes(project, 1000).await.expect("outbox").pop().expect("the edit");
    assert_eq!(last.change.base, Some(before[0].0));
}

#[tokio::test]
async fn a_corrupt_database_is_reported_with_the_last_backup_which_restores() {
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![mask_shape(t.id, 0, 1)] }).await.expect("create");
    let backup = f.store.backup_now().await.expect("backup");
    let path = f.db();
    let Fixture { store, dir: _dir, .. } = f;
    store.close().await;
    assert_eq!(argus_store::backup::list(&path).len(), 2, "one on first open, one made now");

    let mut bytes = std::fs::read(&path).expect("read");
    for b in bytes.iter_mut().take(100) {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).expect("damage");
    let err = Store::open(&path).await.expect_err("damaged");
    match &err {
        Error::Corrupt { backup: Some(b), .. } => assert_eq!(b, &backup),
        other => panic!("expected Corrupt with a backup, got {other:?}"),
    }
    assert!(err.to_string().contains("restore the last automatic backup"), "{err}");

    argus_store::backup::restore(&path, &backup).expect("restore");
    let store = Store::open(&path).await.expect("reopen restored");
    assert_eq!(store.keyframes(t.id).await.expect("keyframes"), vec![0]);
    store.integrity_check().await.expect("sound");
}

#[tokio::test]
async fn backups_roll() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("argus.db");
    let store = Store::open_with(&path, StoreOptions { backups_kept: 3, ..Default::default() }).await.expect("open");
    for _ in 0..5 {
        store.backup_now().await.expect("backup");
    }
    let list = argus_store::backup::list(&path);
    assert_eq!(list.len(), 3, "only the newest 3 are kept");
    assert_eq!(argus_store::backup::newest(&path).as_ref(), list.last());
    assert_eq!(store.backup_if_due().await.expect("check"), None, "the newest backup is recent");
    store.close().await;
    let store = Store::open_with(&path, StoreOptions { backups_kept: 3, backup_interval: std::time::Duration::ZERO, ..Default::default() })
        .await
        .expect("reopen");
    let newest = argus_store::backup::newest(&path).expect("a backup");
    assert!(!list.contains(&newest), "opening made a new backup once the interval passed");
    assert!(store.backup_if_due().await.expect("check").is_some());
}

#[tokio::test]
async fn roles_come_from_the_members_cache_and_apply_in_guards_the_project() {
    let f = fixture().await;
    let me = f.store.local_user();
    assert_eq!(f.store.actor(f.project, me).await.expect("actor").role, Role::Lead, "a local-only project: the user leads");
    let annotator = UserId::new();
    let members = vec![
        argus_core::model::Member { project_id: f.project, user_id: annotator, role: Role::Annotator, display_name: "Ann".into() },
        argus_core::model::Member { project_id: f.project, user_id: me, role: Role::Reviewer, display_name: "Me".into() },
    ];
    f.store.replace_members(f.project, &members).await.expect("cache members");
    assert_eq!(f.store.members(f.project).await.expect("members").len(), 2);
    let ann = f.store.actor(f.project, annotator).await.expect("actor");
    assert_eq!(ann.role, Role::Annotator);
    assert!(matches!(f.store.actor(f.project, UserId::new()).await, Err(Error::NotAMember { .. })));
    let review = Review::new(f.video.id, ReviewScope::Video, Timestamp(0)).expect("review");
    assert!(matches!(
        f.store.apply(&ann, Command::CreateReview { review: review.clone() }).await,
        Err(Error::Invalid(ModelError::Forbidden { .. }))
    ));

    let (other, _) = f.store.create_project("Harbour", labels()).await.expect("second project");
    let t = track(f.video.id, f.car());
    let before = counts(&f.store, f.project).await;
    let err = f.store.apply_in(other.id, &ann, Command::CreateTrack { track: t.clone(), shapes: vec![mask_shape(t.id, 0, 1)] }).await;
    assert!(matches!(err, Err(Error::Conflict(_))), "{err:?}");
    assert_eq!(counts(&f.store, f.project).await, before, "a command for another project changed nothing");
    f.store.apply_in(f.project, &ann, Command::CreateTrack { track: t.clone(), shapes: vec![] }).await.expect("right project");
}

// Uploads and the videos' state on the server.

#[tokio::test]
async fn upload_bookkeeping_survives_a_restart_and_ends_cleanly() {
    use argus_core::model::RemoteState;
    use argus_store::{UploadRecord, UploadedPart};
    let f = fixture().await;
    let rec = UploadRecord {
        server: "https://argus.example".into(),
        video_id: "v1".into(),
        project_id: "p1".into(),
        path: "/videos/clip.mp4".into(),
        file_len: 40 << 20,
        mtime_ns: 1_700_000_000_123_456_789,
        sha256: "b".repeat(64),
        part_size: 8 << 20,
    };
    f.store.upload_begin(&rec).await.expect("begin");
    for n in [1, 3, 2] {
        f.store.upload_part_done(&rec.server, "v1", &UploadedPart { number: n, etag: format!("etag{n}"), size: 8 << 20 }).await.expect("part");
    }
    // The same part acknowledged again (resent): the newer ETag wins.
    f.store.upload_part_done(&rec.server, "v1", &UploadedPart { number: 2, etag: "etag2b".into(), size: 8 << 20 }).await.expect("part");
    let dir = f.dir;
    let db = dir.path().join("argus.db");
    f.store.close().await;
    let store = Store::open(&db).await.expect("reopen");
    assert_eq!(store.upload_for_path(&rec.server, "p1", "/videos/clip.mp4").await.expect("find"), Some(rec.clone()));
    assert_eq!(store.upload_for_path("https://other.example", "p1", "/videos/clip.mp4").await.expect("find"), None, "uploads are per server");
    let parts = store.upload_parts(&rec.server, "v1").await.expect("parts");
    assert_eq!(parts.iter().map(|p| (p.number, p.etag.as_str())).collect::<Vec<_>>(), vec![(1, "etag1"), (2, "etag2b"), (3, "etag3")]);
    store.upload_parts_forget(&rec.server, "v1", &[3]).await.expect("forget");
    assert_eq!(store.upload_parts(&rec.server, "v1").await.expect("parts").len(), 2);
    store.upload_end(&rec.server, "v1").await.expect("end");
    assert!(store.uploads(&rec.server).await.expect("list").is_empty());
    assert!(store.upload_parts(&rec.server, "v1").await.expect("parts").is_empty(), "parts go with their upload");

    // A video's state on the server round-trips, failure reason included.
    let video = store.videos(f.project).await.expect("videos")[0].clone();
    assert_eq!(video.remote, RemoteState::Local);
    let failed = RemoteState::Failed { reason: "the file is not a video".into() };
    store.set_video_remote(video.id, &failed).await.expect("set");
    assert_eq!(store.video(video.id).await.expect("video").remote, failed);
    assert!(matches!(store.set_video_remote(argus_core::id::VideoId::new(), &RemoteState::Ready).await, Err(Error::NotFound { .. })));
}

// Sync: versions, tombstones, pulled changes and conflicts.

mod pulled {
    use argus_core::{
        hlc::{Hlc, HlcClock},
        id::{ChangeId, DeviceId},
        model::{Change, ChangeOp, Entity, EntityKind},
    };

    use super::*;

    /// Another device, stamping changes with its own clock.
    struct Device(HlcClock);
    impl Device {
        fn new() -> Self {
            Self(HlcClock::new(DeviceId::new()))
        }
        fn change(&mut self, project: argus_core::id::ProjectId, base: Option<Hlc>, op: ChangeOp) -> Change {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
            Change { id: ChangeId::new(), hlc: self.0.tick(now).expect("tick"), base, project_id: project, op }
        }
    }

    async fn version(f: &Fixture, kind: EntityKind, id: uuid::Uuid) -> Option<(Hlc, bool)> {
        f.store.record_version(f.project, kind, id).await.expect("version")
    }

    #[tokio::test]
    async fn local_edits_carry_the_version_they_were_made_on() {
        let f = fixture().await;
        let t = track(f.video.id, f.car());
        let s = mask_shape(t.id, 3, 1);
        f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![s.clone()] }).await.expect("create");
        let v1 = version(&f, EntityKind::Shape, *s.id.as_uuid()).await.expect("a version").0;
        f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 3, 7) }).await.expect("set");
        let pending = f.store.pending_changes(f.project, 100).await.expect("outbox");
        let last = pending.last().expect("a change");
        assert_eq!(last.change.op.target(), (EntityKind::Shape, *s.id.as_uuid()));
        assert_eq!(last.change.base, Some(v1), "the edit names the version it replaced");
        assert_eq!(version(&f, EntityKind::Shape, *s.id.as_uuid()).await, Some((last.change.hlc, false)));
        assert!(pending.iter().find(|p| p.change.op.target().1 == *s.id.as_uuid()).is_some_and(|p| p.change.base.is_none()), "a create has no base");
        assert_eq!(s.id, argus_core::id::ShapeId::for_track_frame(t.id, 3), "a shape's id is its track and frame's");
    }

    #[tokio::test]
    async fn pulled_changes_apply_without_outbox_or_undo_and_keep_the_cursor() {
        let f = fixture().await;
        let before = f.store.pending_count(f.project).await.expect("count");
        let depth = f.store.history_depth(f.project).await.expect("depth");
        let mut other = Device::new();
        let t = track(f.video.id, f.car());
        let s = mask_shape(t.id, 9, 2);
        let c1 = other.change(f.project, None, ChangeOp::Upsert { entity: Entity::Track(t.clone()) });
        let c2 = other.change(f.project, None, ChangeOp::Upsert { entity: Entity::Shape(s.clone()) });
        let out = f.store.apply_remote(f.project, &[c1.clone(), c2.clone()], Some("42")).await.expect("apply");
        assert_eq!(out.applied.len(), 2);
        assert_eq!(f.store.frame_shapes(f.video.id, 9).await.expect("frame")[0].geometry, s.geometry);
        assert_eq!(f.store.pending_count(f.project).await.expect("count"), before, "no outbox entries");
        assert_eq!(f.store.history_depth(f.project).await.expect("depth"), depth, "no undo entries");
        assert_eq!(f.store.pull_cursor(f.project).await.expect("cursor").as_deref(), Some("42"));
        // The same page again (a retry after a lost answer): nothing changes.
        let again = f.store.apply_remote(f.project, &[c1, c2], Some("42")).await.expect("replay");
        assert!(again.applied.is_empty() && again.stale == 2, "{again:?}");
        // A local edit after the pull sorts after it.
        f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 9, 5) }).await.expect("set");
        let mine = f.store.pending_changes(f.project, 1000).await.expect("outbox").pop().expect("mine");
        assert!(mine.change.base.is_some_and(|b| b.device != f.store.device()), "based on the other device's version");
    }

    #[tokio::test]
    async fn a_tombstone_stops_older_upserts_and_a_newer_upsert_wins() {
        let f = fixture().await;
        let mut a = Device::new();
        let mut b = Device::new();
        let t = track(f.video.id, f.car());
        let s = mask_shape(t.id, 1, 1);
        let old_edit = b.change(f.project, None, ChangeOp::Upsert { entity: Entity::Shape(mask_shape(t.id, 1, 9)) });
        let create = a.change(f.project, None, ChangeOp::Upsert { entity: Entity::Track(t.clone()) });
        let shape = a.change(f.project, None, ChangeOp::Upsert { entity: Entity::Shape(s.clone()) });
        let delete = a.change(f.project, Some(shape.hlc), ChangeOp::Delete { kind: EntityKind::Shape, id: *s.id.as_uuid() });
        f.store.apply_remote(f.project, &[create, shape, delete.clone()], None).await.expect("apply");
        assert!(f.store.frame_shapes(f.video.id, 1).await.expect("frame").is_empty());
        assert_eq!(version(&f, EntityKind::Shape, *s.id.as_uuid()).await, Some((delete.hlc, true)), "the delete leaves a tombstone");
        // An edit made before the delete arrives late: it must not resurrect.
        assert!(old_edit.hlc < delete.hlc);
        let out = f.store.apply_remote(f.project, &[old_edit], None).await.expect("late");
        assert!(out.applied.is_empty() && out.stale == 1);
        assert!(f.store.frame_shapes(f.video.id, 1).await.expect("frame").is_empty(), "an older upsert brought a deleted shape back");
        // A newer edit (someone redrew it after seeing the delete) wins.
        let redraw = b.change(f.project, Some(delete.hlc), ChangeOp::Upsert { entity: Entity::Shape(mask_shape(t.id, 1, 4)) });
        f.store.apply_remote(f.project, &[redraw], None).await.expect("redraw");
        assert_eq!(f.store.frame_shapes(f.video.id, 1).await.expect("frame").len(), 1);
        // The late edit was made without seeing the delete: the delete is
        // newer and wins, and the edit is kept as a conflict, not lost. The
        // redraw, made after seeing the delete, is none.
        let conflicts = f.store.conflicts(f.project).await.expect("conflicts");
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert!(matches!(conflicts[0].other, ChangeOp::Upsert { .. }) && conflicts[0].current_hlc == delete.hlc);
    }

    #[tokio::test]
    async fn this_devices_own_history_pulled_back_is_no_conflict() {
        // A shape drawn, redrawn, deleted and drawn again here (an undo and a
        // redo reuse its id), pushed, and the server's whole log of it pulled
        // back (the first pull after publishing): every older version is this
        // device's own, seen before the current one was made.
        let f = fixture().await;
        let t = track(f.video.id, f.car());
        let s = mask_shape(t.id, 6, 1);
        f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![s.clone()] }).await.expect("create");
        f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 6, 5) }).await.expect("redraw");
        f.store.apply(&f.actor, Command::DeleteShape { shape_id: s.id }).await.expect("delete");
        f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 6, 9) }).await.expect("again");
        let current = version(&f, EntityKind::Shape, *s.id.as_uuid()).await.expect("v");
        let log: Vec<Change> = f.store.pending_changes(f.project, 1000).await.expect("outbox").into_iter().map(|p| p.change).collect();
        assert!(log.iter().filter(|c| c.op.target().1 == *s.id.as_uuid()).count() >= 4, "four versions of the shape");
        let out = f.store.apply_remote(f.project, &log, Some("1")).await.expect("pull back");
        assert_eq!(out.conflicts, 0, "{out:?}");
        assert!(f.store.conflicts(f.project).await.expect("conflicts").is_empty());
        assert_eq!(version(&f, EntityKind::Shape, *s.id.as_uuid()).await, Some(current), "the current version stays");
        assert_eq!(f.store.frame_shapes(f.video.id, 6).await.expect("frame")[0].geometry, mask_shape(t.id, 6, 9).geometry);
    }

    #[tokio::test]
    async fn a_shape_edited_on_both_sides_keeps_both_versions() {
        let f = fixture().await;
        let t = track(f.video.id, f.car());
        let s = mask_shape(t.id, 2, 1);
        f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![s.clone()] }).await.expect("create");
        let synced = version(&f, EntityKind::Shape, *s.id.as_uuid()).await.expect("v").0;
        // Both sides edit the synced version.
        let mut other = Device::new();
        let theirs = mask_shape(t.id, 2, 30);
        f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 2, 15) }).await.expect("mine");
        let mine = f.store.frame_shapes(f.video.id, 2).await.expect("frame")[0].clone();
        let mine_hlc = version(&f, EntityKind::Shape, *s.id.as_uuid()).await.expect("v").0;
        let c = other.change(f.project, Some(synced), ChangeOp::Upsert { entity: Entity::Shape(theirs.clone()) });
        let out = f.store.apply_remote(f.project, std::slice::from_ref(&c), None).await.expect("apply");
        assert_eq!(out.conflicts, 1, "{out:?}");
        let conflicts = f.store.conflicts(f.project).await.expect("conflicts");
        assert_eq!(conflicts.len(), 1);
        let k = &conflicts[0];
        assert_eq!((k.kind, k.record), (EntityKind::Shape, *s.id.as_uuid()));
        // The later HLC is current; the other version is kept, not lost.
        let current = f.store.frame_shapes(f.video.id, 2).await.expect("frame")[0].clone();
        let (winner, loser) = if c.hlc > mine_hlc { (theirs.clone(), mine.clone()) } else { (mine.clone(), theirs.clone()) };
        assert_eq!(k.current_hlc, c.hlc.max(mine_hlc));
        assert_eq!(current.geometry, winner.geometry);
        assert!(matches!(&k.other, ChangeOp::Upsert { entity: Entity::Shape(x) } if x.geometry == loser.geometry), "{:?}", k.other);
        f.store.resolve_conflict(k.id).await.expect("resolve");
        assert!(f.store.conflicts(f.project).await.expect("conflicts").is_empty());
        // An edit made after seeing mine is no conflict.
        let now = version(&f, EntityKind::Shape, *s.id.as_uuid()).await.expect("v").0;
        let seen = other.change(f.project, Some(now), ChangeOp::Upsert { entity: Entity::Shape(mask_shape(t.id, 2, 40)) });
        let out = f.store.apply_remote(f.project, &[seen], None).await.expect("apply");
        assert_eq!((out.conflicts, out.applied.len()), (0, 1));
    }

    #[tokio::test]
    async fn undo_does_not_overwrite_someone_elses_newer_version() {
        let f = fixture().await;
        let t = track(f.video.id, f.car());
        f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![mask_shape(t.id, 4, 1)] }).await.expect("create");
        f.store.apply(&f.actor, Command::SetShape { shape: mask_shape(t.id, 4, 8) }).await.expect("edit");
        let s = argus_core::id::ShapeId::for_track_frame(t.id, 4);
        let v = version(&f, EntityKind::Shape, *s.as_uuid()).await.expect("v").0;
        let mut other = Device::new();
        let theirs = other.change(f.project, Some(v), ChangeOp::Upsert { entity: Entity::Shape(mask_shape(t.id, 4, 20)) });
        f.store.apply_remote(f.project, &[theirs], None).await.expect("apply");
        let err = f.store.undo(f.project).await.expect_err("an undo over someone else's edit");
        assert!(matches!(&err, Error::Conflict(m) if m.contains("someone else")), "{err}");
        assert_eq!(f.store.history_depth(f.project).await.expect("depth").0, 2, "the undo entry stays");
        assert_eq!(f.store.frame_shapes(f.video.id, 4).await.expect("frame")[0].geometry, mask_shape(t.id, 4, 20).geometry);
    }

    #[tokio::test]
    async fn a_group_undo_is_refused_when_someone_else_changed_one_of_its_shapes() {
        let f = fixture().await;
        let t = track(f.video.id, f.car());
        f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![] }).await.expect("create");
        let group = f.store.undo_group();
        group_batch(&f, &group, "propagate", t.id, 1..=10).await;
        group_batch(&f, &group, "propagate", t.id, 11..=20).await;
        // Another device redraws a shape of the group's first batch.
        let s = argus_core::id::ShapeId::for_track_frame(t.id, 4);
        let v = version(&f, EntityKind::Shape, *s.as_uuid()).await.expect("v").0;
        let mut other = Device::new();
        let theirs = other.change(f.project, Some(v), ChangeOp::Upsert { entity: Entity::Shape(mask_shape(t.id, 4, 30)) });
        f.store.apply_remote(f.project, &[theirs], None).await.expect("apply");
        let err = f.store.undo(f.project).await.expect_err("a group undo over someone else's edit");
        assert!(matches!(&err, Error::Conflict(m) if m.contains("someone else") && m.contains("propagate")), "{err}");
        assert_eq!(f.store.history_depth(f.project).await.expect("depth"), (2, 0), "the group stays on the stack");
        assert_eq!(f.store.track_shapes(t.id).await.expect("shapes").len(), 20, "no batch of the group was undone");
        assert_eq!(f.store.frame_shapes(f.video.id, 4).await.expect("frame")[0].geometry, mask_shape(t.id, 4, 30).geometry);
    }

    #[tokio::test]
    async fn track_numbers_are_renumbered_and_local_video_fields_kept() {
        let f = fixture().await;
        let mine = track(f.video.id, f.car());
        f.store.apply(&f.actor, Command::CreateTrack { track: mine.clone(), shapes: vec![] }).await.expect("create");
        let mine_no = f.store.track(mine.id).await.expect("track").number;
        let mut other = Device::new();
        let mut theirs = track(f.video.id, f.person());
        theirs.number = mine_no;
        let c = other.change(f.project, None, ChangeOp::Upsert { entity: Entity::Track(theirs.clone()) });
        let out = f.store.apply_remote(f.project, &[c], None).await.expect("apply");
        assert!(out.skipped.is_empty(), "{out:?}");
        assert_eq!(f.store.track(theirs.id).await.expect("theirs").number, mine_no);
        assert_ne!(f.store.track(mine.id).await.expect("mine").number, mine_no, "the local track moves to a free number");
        // A pulled video keeps this machine's path to the file.
        let mut v = f.video.clone();
        v.name = "renamed.mp4".into();
        v.local_path = Some("/elsewhere/on/their/machine.mp4".into());
        let c = other.change(f.project, None, ChangeOp::Upsert { entity: Entity::Video(v) });
        f.store.apply_remote(f.project, &[c], None).await.expect("apply");
        let here = f.store.video(f.video.id).await.expect("video");
        assert_eq!((here.name.as_str(), here.local_path.as_deref()), ("renamed.mp4", Some("/videos/clip.mp4")));
        // A shape of a track that is gone here is skipped with its reason; the rest applies.
        let orphan = other.change(f.project, None, ChangeOp::Upsert { entity: Entity::Shape(mask_shape(argus_core::id::TrackId::new(), 1, 1)) });
        let fine = other.change(f.project, None, ChangeOp::Upsert { entity: Entity::Shape(mask_shape(theirs.id, 1, 1)) });
        let out = f.store.apply_remote(f.project, &[orphan, fine], None).await.expect("apply");
        assert_eq!((out.skipped.len(), out.applied.len()), (1, 1), "{out:?}");
    }
}

/// A lead edits the labels: what nothing uses changes freely; what objects
/// use is kept, each refusal saying what stands in the way and changing
/// nothing; a stale version is refused; the new schema syncs.
#[tokio::test]
async fn set_labels_keeps_what_objects_use_and_refuses_a_stale_version() {
    use argus_core::model::{AttributeKind, AttributeSpec, Colour, Label, ShapeKind};
    let f = fixture().await;
    let t = track(f.video.id, f.car());
    f.store.apply(&f.actor, Command::CreateTrack { track: t.clone(), shapes: vec![mask_shape(t.id, 0, 1)] }).await.expect("create");
    let v1 = f.schema.version();
    let pending = f.store.pending_count(f.project).await.expect("outbox");

    // Annotators may not; nothing changes.
    let annotator = Actor { user: UserId::new(), role: Role::Annotator };
    let err = f.store.set_labels(f.project, &annotator, v1, labels()).await;
    assert!(matches!(err, Err(Error::Invalid(ModelError::Forbidden { .. }))), "{err:?}");

    // The same labels again: nothing to save.
    let err = f.store.set_labels(f.project, &f.actor, v1, f.schema.labels().to_vec()).await;
    assert!(matches!(err, Err(Error::NothingTo(_))), "{err:?}");

    let refused = async |labels: Vec<Label>| -> String {
        match f.store.set_labels(f.project, &f.actor, v1, labels).await {
            Err(Error::Conflict(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    };
    let edit = |change: &dyn Fn(&mut Label)| -> Vec<Label> {
        let mut labels = f.schema.labels().to_vec();
        change(labels.iter_mut().find(|l| l.name == "car").expect("car"));
        labels
    };
    // Removing the car, which an object uses.
    let m = refused(vec![f.person().clone()]).await;
    assert!(m.contains("'car' is used by 1 object:") && m.contains("move them to another label"), "{m}");
    // Taking masks away from the car, whose object has a mask.
    let m = refused(edit(&|l| l.kinds = vec![ShapeKind::Polygon, ShapeKind::BBox])).await;
    assert!(m.contains("'car' has 1 mask shape") && m.contains("keep mask allowed"), "{m}");
    // Its attributes: removed, or another type, or another scope.
    let m = refused(edit(&|l| l.attributes.retain(|a| a.name != "make"))).await;
    assert!(m.contains("attribute 'make' of 'car' would be removed") && m.contains("add a new attribute instead"), "{m}");
    let m = refused(edit(&|l| l.attributes[0].kind = AttributeKind::Text { default: String::new() })).await;
    assert!(m.contains("'parked'") && m.contains("would change type from yes/no to text"), "{m}");
    let m = refused(edit(&|l| l.attributes[1].per_frame = true)).await;
    assert!(m.contains("would change from per object to per frame"), "{m}");
    assert_eq!(f.store.schema(f.project).await.expect("schema"), f.schema, "every refusal changed nothing");
    assert_eq!(f.store.pending_count(f.project).await.expect("outbox"), pending);

    // What nothing uses changes freely: the person (no objects) loses bbox,
    // gets an attribute; the car is renamed and recoloured, allows polylines,
    // gains an attribute; a new label comes in.
    let mut labels = edit(&|l| {
        l.name = "vehicle".into();
        l.colour = Colour::rgb(10, 20, 30);
        l.kinds.push(ShapeKind::Polyline);
        l.attributes.push(AttributeSpec {
            name: "lights".into(),
            kind: AttributeKind::Enum { options: vec!["on".into(), "off".into()], default: "off".into() },
            per_frame: true,
        });
    });
    let person = labels.iter_mut().find(|l| l.name == "person").expect("person");
    person.kinds = vec![ShapeKind::Mask];
    person.attributes.push(AttributeSpec { name: "age".into(), kind: AttributeKind::Number { min: 0.0, max: 120.0, step: 1.0, default: 30.0 }, per_frame: false });
    labels.push(Label::new("bicycle", Colour::palette(2)));
    let saved = f.store.set_labels(f.project, &f.actor, v1, labels.clone()).await.expect("saved");
    assert_eq!(saved.version(), v1 + 1);
    assert_eq!(saved.labels(), &labels[..]);
    assert_eq!(f.store.schema(f.project).await.expect("schema"), saved);
    assert_eq!(saved.label(f.car().id).expect("same id").name, "vehicle", "a rename keeps the label's id, so its objects follow");
    assert_eq!(f.store.track(t.id).await.expect("track").label_id, f.car().id);
    let queued = f.store.pending_changes(f.project, 100).await.expect("outbox");
    let last = queued.last().expect("queued");
    assert!(
        matches!(&last.change.op, argus_core::model::ChangeOp::Upsert { entity: argus_core::model::Entity::LabelSchema(s) } if *s == saved),
        "the new schema is queued for sync: {:?}",
        last.change.op
    );

    // Widening is fine once objects carry values: a new option, a wider range.
    let mut wider = saved.labels().to_vec();
    if let AttributeKind::Enum { options, .. } = &mut wider[0].attributes[2].kind {
        options.push("flashing".into());
    }
    let saved = f.store.set_labels(f.project, &f.actor, v1 + 1, wider).await.expect("an option added");
    // ...but losing an option is not.
    let mut narrower = saved.labels().to_vec();
    if let AttributeKind::Enum { options, .. } = &mut narrower[0].attributes[2].kind {
        options.retain(|o| o != "on");
    }
    match f.store.set_labels(f.project, &f.actor, v1 + 2, narrower).await {
        Err(Error::Conflict(m)) => assert!(m.contains("would lose its option 'on'"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // An editor opened at an older version is refused, naming both.
    match f.store.set_labels(f.project, &f.actor, v1, labels).await {
        Err(Error::Conflict(m)) => assert!(m.contains(&format!("version {v1}, now {}", v1 + 2)) && m.contains("open them again"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The car's label without objects can now go: delete the track first.
    f.store.apply(&f.actor, Command::DeleteTrack { track_id: t.id }).await.expect("delete");
    let without = saved.labels().iter().filter(|l| l.id != f.car().id).cloned().collect::<Vec<_>>();
    let saved = f.store.set_labels(f.project, &f.actor, v1 + 2, without).await.expect("an unused label removed");
    assert!(saved.label(f.car().id).is_err());
    // Undoing the delete would bring back an object of the removed label:
    // refused, the step kept for when the label is back.
    let depth = f.store.history_depth(f.project).await.expect("depth");
    match f.store.undo(f.project).await {
        Err(Error::Conflict(m)) => assert!(m.contains("cannot undo") && m.contains("of a label removed since; add that label again first"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(f.store.history_depth(f.project).await.expect("depth"), depth);
    assert!(f.store.track(t.id).await.is_err(), "nothing came back");
    let mut back = saved.labels().to_vec();
    back.push(f.car().clone());
    f.store.set_labels(f.project, &f.actor, v1 + 3, back).await.expect("the label back");
    f.store.undo(f.project).await.expect("now the undo fits");
    assert_eq!(f.store.frame_shapes(f.video.id, 0).await.expect("frame").len(), 1);
    f.store.integrity_check().await.expect("sound");
}
