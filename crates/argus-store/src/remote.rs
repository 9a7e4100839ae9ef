//! Versions, tombstones and applying other devices' changes.
//!
//! Every record's current version is the HLC of the change that wrote it
//! (`versions`); a delete leaves its HLC behind as a tombstone. A local edit
//! records the version it was made on as its change's `base`. Pulled
//! changes are applied with the conflict policy of ARCHITECTURE.md:
//!
//! - per record, the later HLC wins; an older change is dropped, so an old
//!   upsert cannot bring back a newer delete, and a delete wins over an edit
//!   only when it is newer;
//! - a shape edited on both sides since the last sync (the incoming
//!   change's base is not the version here) keeps both versions: the later
//!   one is current and the other is kept in `conflicts` for the user;
//! - pulled changes write no outbox entries and no undo history, in one
//!   transaction per page together with the pull cursor;
//! - what is local to this machine survives: a video's local path and its
//!   state on the server;
//! - a track's display number is not an identity: a pulled track that takes
//!   a number used here moves the local track to the next free number;
//! - a change that cannot be applied (its parent is gone) is skipped and
//!   reported, and the rest of the page goes on.

use argus_core::{
    hlc::Hlc,
    id::{ProjectId, UserId},
    model::{Change, ChangeOp, Entity, EntityKind},
};
use std::collections::{HashMap, HashSet};

use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::{Error, Result, Store, rows, store::now_ms};


/// A record's current version and whether it is a tombstone. A live
/// shape's version is on its row (`shapes.hlc`); every other version, and a
/// deleted shape's tombstone, is in `versions`.
pub(crate) async fn version(conn: &mut SqliteConnection, project: ProjectId, kind: EntityKind, id: Uuid) -> Result<Option<(Hlc, bool)>> {
    if kind == EntityKind::Shape {
        let live: Option<Option<String>> = sqlx::query_scalar("SELECT hlc FROM shapes WHERE id = ?").bind(id.to_string()).fetch_optional(&mut *conn).await?;
        if let Some(Some(h)) = live {
            return Ok(Some((rows::parse::<Hlc>(&h, "shape hlc")?, false)));
        }
    }
    let row: Option<(String, i64)> = sqlx::query_as("SELECT hlc, deleted FROM versions WHERE project_id = ? AND kind = ? AND id = ?")
        .bind(project.to_string())
        .bind(kind.as_str())
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|(h, d)| Ok((rows::parse::<Hlc>(&h, "version hlc")?, d != 0))).transpose()
}

pub(crate) async fn set_version(conn: &mut SqliteConnection, project: ProjectId, kind: EntityKind, id: Uuid, hlc: &Hlc, deleted: bool) -> Result<()> {
    set_versions(conn, project, &[(kind, id, *hlc, deleted)]).await
}

/// Records versions: a live shape's on its row (the row is written
/// first), with any tombstone it had removed; the rest many rows per
/// statement. Bulk shape writes put the version in the row they insert
/// instead ([`rows::upsert_shapes`], then [`clear_tombstones`]).
pub(crate) async fn set_versions(conn: &mut SqliteConnection, project: ProjectId, versions: &[(EntityKind, Uuid, Hlc, bool)]) -> Result<()> {
    let (live, others): (Vec<_>, Vec<_>) = versions.iter().partition(|(kind, _, _, deleted)| *kind == EntityKind::Shape && !*deleted);
    for (_, id, hlc, _) in &live {
        sqlx::query("UPDATE shapes SET hlc = ? WHERE id = ?").bind(hlc.to_string()).bind(id.to_string()).execute(&mut *conn).await?;
    }
    clear_tombstones(conn, project, live.iter().map(|(_, id, ..)| id.to_string())).await?;
    let project = project.to_string();
    for chunk in others.chunks(500) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO versions (project_id, kind, id, hlc, deleted) ");
        q.push_values(chunk, |mut b, (kind, id, hlc, deleted)| {
            b.push_bind(project.clone()).push_bind(kind.as_str()).push_bind(id.to_string()).push_bind(hlc.to_string()).push_bind(i64::from(*deleted));
        });
        q.push(" ON CONFLICT(project_id, kind, id) DO UPDATE SET hlc = excluded.hlc, deleted = excluded.deleted");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Removes the tombstones of shapes that live again (their version is now
/// on their row).
pub(crate) async fn clear_tombstones(conn: &mut SqliteConnection, project: ProjectId, ids: impl Iterator<Item = String>) -> Result<()> {
    let ids: Vec<String> = ids.collect();
    for chunk in ids.chunks(500) {
        sqlx::query("DELETE FROM versions WHERE project_id = ? AND kind = 'shape' AND id IN (SELECT value FROM json_each(?))")
            .bind(project.to_string())
            .bind(serde_json::to_string(chunk)?)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// What applying a page of pulled changes did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pulled {
    /// Records written or deleted, for the UI to refresh.
    pub applied: Vec<(EntityKind, Uuid)>,
    /// Changes already known, or older than the version here.
    pub stale: usize,
    /// Conflicts recorded (both versions kept).
    pub conflicts: usize,
    /// Changes that could not be applied, with why (the rest went on).
    pub skipped: Vec<(Uuid, String)>,
}

/// An open conflict: a record edited on two devices since they synced.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub id: Uuid,
    pub kind: EntityKind,
    pub record: Uuid,
    /// The version that is not current: an upsert, or a delete.
    pub other: ChangeOp,
    pub other_hlc: Hlc,
    pub current_hlc: Hlc,
}

async fn record_conflict(conn: &mut SqliteConnection, project: ProjectId, kind: EntityKind, id: Uuid, other: &ChangeOp, other_hlc: &Hlc, current: &Hlc) -> Result<()> {
    sqlx::query(
        "INSERT INTO conflicts (id, project_id, kind, record_id, other, other_hlc, current_hlc, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(project.to_string())
    .bind(kind.as_str())
    .bind(id.to_string())
    .bind(serde_json::to_string(other)?)
    .bind(other_hlc.to_string())
    .bind(current.to_string())
    .bind(now_ms() as i64)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Makes `entity` fit here before it is written: keeps what is local to
/// this machine and frees a track number it takes.
async fn prepare(conn: &mut SqliteConnection, project: ProjectId, entity: &mut Entity) -> Result<()> {
    match entity {
        Entity::Video(v) => {
            if let Some(Entity::Video(local)) = rows::load(conn, project, EntityKind::Video, *v.id.as_uuid()).await? {
                v.local_path = local.local_path;
                v.remote = local.remote;
            } else {
                v.local_path = None;
            }
        }
        Entity::Track(t) => {
            let taken: Option<String> = sqlx::query_scalar("SELECT id FROM tracks WHERE video_id = ? AND number = ? AND id <> ?")
                .bind(t.video_id.to_string())
                .bind(i64::from(t.number))
                .bind(t.id.to_string())
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(other) = taken {
                sqlx::query("UPDATE tracks SET number = (SELECT MAX(number) + 1 FROM tracks WHERE video_id = ?) WHERE id = ?")
                    .bind(t.video_id.to_string())
                    .bind(other)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

async fn apply_one(conn: &mut SqliteConnection, project: ProjectId, c: &Change, out: &mut Pulled) -> Result<()> {
    let (kind, id) = c.op.target();
    let current = version(conn, project, kind, id).await?;
    if let Some((h, _)) = &current {
        if *h == c.hlc {
            out.stale += 1;
            return Ok(());
        }
        // Made without seeing the version here: an edit on both sides. One
        // device's versions are in order (its clock saw each of its own
        // changes), so two of the same device's never are: its own history
        // pulled back after a push, or a version it replaced.
        let concurrent = c.base.as_ref() != Some(h) && c.hlc.device != h.device;
        if *h > c.hlc {
            if concurrent && kind == EntityKind::Shape {
                record_conflict(conn, project, kind, id, &c.op, &c.hlc, h).await?;
                out.conflicts += 1;
            }
            out.stale += 1;
            return Ok(());
        }
        if concurrent && kind == EntityKind::Shape {
            let mine = match rows::load(conn, project, kind, id).await? {
                Some(entity) => ChangeOp::Upsert { entity },
                None => ChangeOp::Delete { kind, id },
            };
            record_conflict(conn, project, kind, id, &mine, h, &c.hlc).await?;
            out.conflicts += 1;
        }
    }
    match &c.op {
        ChangeOp::Upsert { entity } => {
            let mut entity = entity.clone();
            prepare(conn, project, &mut entity).await?;
            rows::upsert(conn, &entity).await?;
        }
        ChangeOp::Delete { .. } => {
            rows::apply_op(conn, project, &c.op).await?;
        }
    }
    set_version(conn, project, kind, id, &c.hlc, matches!(c.op, ChangeOp::Delete { .. })).await?;
    out.applied.push((kind, id));
    Ok(())
}

/// Applies a page in order, the common case in bulk: the versions of the
/// records the page touches and the videos of its shapes' tracks are read
/// once, and shape upserts that win outright (no version here, or the one
/// they were made on) are written many rows per statement. Everything else
/// (other kinds, deletes, stale changes, conflicts) goes through
/// `apply_one`, after what is pending is written, so the order holds.
async fn apply_page(conn: &mut SqliteConnection, project: ProjectId, changes: &[Change], out: &mut Pulled) -> Result<()> {
    let ids: Vec<String> = changes.iter().map(|c| c.op.target().1.to_string()).collect();
    let held: Vec<(String, String, String)> =
        sqlx::query_as("SELECT kind, id, hlc FROM versions WHERE project_id = ? AND id IN (SELECT value FROM json_each(?))")
            .bind(project.to_string())
            .bind(serde_json::to_string(&ids)?)
            .fetch_all(&mut *conn)
            .await?;
    let mut versions: HashMap<(EntityKind, Uuid), Hlc> = HashMap::with_capacity(held.len());
    for (kind, id, hlc) in held {
        versions.insert((rows::parse(&kind, "version kind")?, rows::parse(&id, "version id")?), rows::parse(&hlc, "version hlc")?);
    }
    // Live shapes' versions are on their rows.
    let live: Vec<(String, String)> = sqlx::query_as("SELECT id, hlc FROM shapes WHERE hlc IS NOT NULL AND id IN (SELECT value FROM json_each(?))")
        .bind(serde_json::to_string(&ids)?)
        .fetch_all(&mut *conn)
        .await?;
    for (id, hlc) in live {
        versions.insert((EntityKind::Shape, rows::parse(&id, "shape id")?), rows::parse(&hlc, "shape hlc")?);
    }
    let tracks: HashSet<String> = changes
        .iter()
        .filter_map(|c| match &c.op {
            ChangeOp::Upsert { entity: Entity::Shape(s) } => Some(s.track_id.to_string()),
            _ => None,
        })
        .collect();
    let known: Vec<(String, String)> = sqlx::query_as("SELECT id, video_id FROM tracks WHERE id IN (SELECT value FROM json_each(?))")
        .bind(serde_json::to_string(&tracks)?)
        .fetch_all(&mut *conn)
        .await?;
    let mut video_of: HashMap<String, String> = known.into_iter().collect();
    let mut shapes: Vec<(&argus_core::model::Shape, String, Option<Hlc>)> = Vec::new();
    for c in changes {
        let (kind, id) = c.op.target();
        if let ChangeOp::Upsert { entity: Entity::Shape(s) } = &c.op {
            let wins = match versions.get(&(kind, id)) {
                None => true,
                Some(h) => *h < c.hlc && c.base.as_ref() == Some(h),
            };
            if let (true, Some(video)) = (wins, video_of.get(&s.track_id.to_string())) {
                shapes.push((s, video.clone(), Some(c.hlc)));
                versions.insert((kind, id), c.hlc);
                out.applied.push((kind, id));
                continue;
            }
        }
        write_page_shapes(conn, project, &shapes).await?;
        shapes.clear();
        apply_one(conn, project, c, out).await?;
        if let Some((h, _)) = version(conn, project, kind, id).await? {
            versions.insert((kind, id), h);
        }
        match &c.op {
            ChangeOp::Upsert { entity: Entity::Track(t) } => {
                video_of.insert(t.id.to_string(), t.video_id.to_string());
            }
            ChangeOp::Delete { kind: EntityKind::Track, id } => {
                video_of.remove(&id.to_string());
            }
            _ => {}
        }
    }
    write_page_shapes(conn, project, &shapes).await
}

/// Writes pulled shapes that win outright, with their versions.
async fn write_page_shapes(conn: &mut SqliteConnection, project: ProjectId, shapes: &[(&argus_core::model::Shape, String, Option<Hlc>)]) -> Result<()> {
    rows::upsert_shapes(conn, shapes).await?;
    clear_tombstones(conn, project, shapes.iter().map(|(s, ..)| s.id.to_string())).await
}

impl Store {
    /// Applies a page of changes pulled from the server to `project`, with
    /// the conflict policy above, in one transaction that also stores the
    /// page's `cursor`. No outbox entries, no undo history.
    pub async fn apply_remote(&self, project: ProjectId, changes: &[Change], cursor: Option<&str>) -> Result<Pulled> {
        if let Some(c) = changes.iter().find(|c| c.project_id != project) {
            return Err(Error::Conflict(format!("change {} belongs to project {}, not {project}", c.id, c.project_id)));
        }
        let mut w = self.writer.lock().await;
        let crate::store::Writer { conn, clock } = &mut *w;
        let mut next = clock.clone();
        let now = now_ms();
        for c in changes {
            // Later local edits must sort after what this device has seen.
            if let Err(e) = next.receive(c.hlc, now) {
                tracing::warn!(change = %c.id, error = %e, "a remote clock is far ahead; the change is applied, the local clock is not moved");
            }
        }
        // The whole page at once; only when a change fails is the page
        // applied again one savepoint per change, to skip just that one.
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let mut out = Pulled::default();
        let failed = apply_page(&mut tx, project, changes, &mut out).await.is_err();
        if failed {
            tx.rollback().await?;
            tx = sqlx::Connection::begin(&mut *conn).await?;
            out = Pulled::default();
            for c in changes {
                sqlx::query("SAVEPOINT change").execute(&mut *tx).await?;
                match apply_one(&mut tx, project, c, &mut out).await {
                    Ok(()) => {
                        sqlx::query("RELEASE change").execute(&mut *tx).await?;
                    }
                    Err(e) => {
                        sqlx::query("ROLLBACK TO change").execute(&mut *tx).await?;
                        sqlx::query("RELEASE change").execute(&mut *tx).await?;
                        out.skipped.push((*c.id.as_uuid(), e.to_string()));
                    }
                }
            }
        }
        if let Some(cursor) = cursor {
            sqlx::query(
                "INSERT INTO sync_cursors (project_id, cursor, updated_at) VALUES (?, ?, ?)
                 ON CONFLICT(project_id) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            )
            .bind(project.to_string())
            .bind(cursor)
            .bind(now as i64)
            .execute(&mut *tx)
            .await?;
        }
        if !changes.is_empty() {
            sqlx::query("INSERT INTO settings (key, value) VALUES ('last_hlc', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                .bind(next.last().to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        *clock = next;
        Ok(out)
    }

    /// Makes `user` (the one who signed in) the author of what this
    /// machine's local user made before anyone signed in: tracks, shapes,
    /// reviews and comments. Their pending changes are mapped the same way
    /// when they are pushed, so the local records read as the server's do.
    /// Done once per user; answers how many records changed.
    pub async fn claim_local_work(&self, user: UserId) -> Result<u64> {
        let local = self.local_user();
        if local == user {
            return Ok(0);
        }
        let mut w = self.writer.lock().await;
        if crate::store::setting(&mut w.conn, "local_work_claimed_by").await?.as_deref() == Some(&user.to_string()) {
            return Ok(0);
        }
        let mut tx = sqlx::Connection::begin(&mut w.conn).await?;
        let mut changed = 0;
        for sql in [
            "UPDATE tracks SET author = ?1 WHERE author = ?2",
            "UPDATE reviews SET reviewer = ?1 WHERE reviewer = ?2",
            "UPDATE comments SET author = ?1 WHERE author = ?2",
        ] {
            changed += sqlx::query(sql).bind(user.to_string()).bind(local.to_string()).execute(&mut *tx).await?.rows_affected();
        }
        // A shape keeps its author inside its encoded record: only those
        // whose bytes hold the local user's id are decoded.
        let shapes: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT id, data FROM shapes WHERE instr(data, ?) > 0").bind(local.as_uuid().as_bytes().to_vec()).fetch_all(&mut *tx).await?;
        for (id, data) in shapes {
            let mut shape = crate::codec::decode_shape(&data)?;
            if shape.author == Some(local) {
                shape.author = Some(user);
                sqlx::query("UPDATE shapes SET data = ? WHERE id = ?").bind(crate::codec::encode_shape(&shape)?).bind(id).execute(&mut *tx).await?;
                changed += 1;
            }
        }
        crate::store::set_setting(&mut tx, "local_work_claimed_by", &user.to_string()).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// The record's current version (HLC, tombstone?), if it has one.
    pub async fn record_version(&self, project: ProjectId, kind: EntityKind, id: Uuid) -> Result<Option<(Hlc, bool)>> {
        let mut conn = self.readers.acquire().await?;
        version(&mut conn, project, kind, id).await
    }

    /// The open conflicts of `project`, oldest first.
    pub async fn conflicts(&self, project: ProjectId) -> Result<Vec<Conflict>> {
        let rows: Vec<(String, String, String, String, String, String)> = sqlx::query_as(
            "SELECT id, kind, record_id, other, other_hlc, current_hlc FROM conflicts
             WHERE project_id = ? AND resolved_at IS NULL ORDER BY created_at, id",
        )
        .bind(project.to_string())
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter()
            .map(|(id, kind, record, other, other_hlc, current_hlc)| {
                Ok(Conflict {
                    id: rows::parse(&id, "conflict id")?,
                    kind: rows::parse(&kind, "conflict kind")?,
                    record: rows::parse(&record, "conflict record")?,
                    other: serde_json::from_str(&other)?,
                    other_hlc: rows::parse(&other_hlc, "conflict hlc")?,
                    current_hlc: rows::parse(&current_hlc, "conflict hlc")?,
                })
            })
            .collect()
    }

    /// Marks a conflict resolved (the user kept the current version, or
    /// applied the other one as a new edit).
    pub async fn resolve_conflict(&self, id: Uuid) -> Result<()> {
        let mut w = self.writer.lock().await;
        let done = sqlx::query("UPDATE conflicts SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL")
            .bind(now_ms() as i64)
            .bind(id.to_string())
            .execute(&mut w.conn)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("open conflict", id));
        }
        Ok(())
    }

    /// Moves changes the server refused out of the outbox, keeping them
    /// with the reason for the user.
    pub async fn reject_changes(&self, refused: &[(argus_core::id::ChangeId, String)]) -> Result<()> {
        let reasons: HashMap<argus_core::id::ChangeId, &String> = refused.iter().map(|(id, r)| (*id, r)).collect();
        let (bulks, plain) = self.take_bulk_parts(refused.iter().map(|(id, _)| *id))?;
        let mut w = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin(&mut w.conn).await?;
        let now = now_ms() as i64;
        for id in plain {
            sqlx::query(
                "INSERT OR REPLACE INTO rejected (change_id, project_id, change, reason, created_at)
                 SELECT change_id, project_id, change, ?, ? FROM outbox WHERE change_id = ?",
            )
            .bind(reasons.get(&id).map(|r| r.as_str()).unwrap_or_default())
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM outbox WHERE change_id = ?").bind(id.to_string()).execute(&mut *tx).await?;
        }
        // A change made from a bulk row: kept whole in the list; the row's
        // cursor moves past it.
        for p in &bulks {
            sqlx::query("INSERT OR REPLACE INTO rejected (change_id, project_id, change, reason, created_at) VALUES (?, ?, ?, ?, ?)")
                .bind(p.change.id.to_string())
                .bind(p.change.project_id.to_string())
                .bind(serde_json::to_string(&p.change)?)
                .bind(reasons.get(&p.change.id).map(|r| r.as_str()).unwrap_or_default())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        for (seq, hlc) in crate::sync::newest_per_row(&bulks) {
            crate::sync::advance_bulk(&mut tx, seq, hlc, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The changes the server refused, newest first, with the reasons.
    pub async fn rejected_changes(&self, project: ProjectId) -> Result<Vec<(Change, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT change, reason FROM rejected WHERE project_id = ? ORDER BY created_at DESC, change_id")
            .bind(project.to_string())
            .fetch_all(&self.readers)
            .await?;
        rows.into_iter().map(|(c, r)| Ok((serde_json::from_str(&c)?, r))).collect()
    }

    /// Puts a record back to the server's version (after the server refused
    /// the local edit): `None` when the server has no such record. Not
    /// undoable, not queued.
    pub async fn restore_record(&self, project: ProjectId, kind: EntityKind, id: Uuid, server: Option<(ChangeOp, Hlc)>) -> Result<()> {
        let mut w = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin(&mut w.conn).await?;
        match &server {
            Some((ChangeOp::Upsert { entity }, hlc)) => {
                let mut entity = entity.clone();
                prepare(&mut tx, project, &mut entity).await?;
                rows::upsert(&mut tx, &entity).await?;
                set_version(&mut tx, project, kind, id, hlc, false).await?;
            }
            Some((op @ ChangeOp::Delete { .. }, hlc)) => {
                rows::apply_op(&mut tx, project, op).await?;
                set_version(&mut tx, project, kind, id, hlc, true).await?;
            }
            None => {
                rows::apply_op(&mut tx, project, &ChangeOp::Delete { kind, id }).await?;
                sqlx::query("DELETE FROM versions WHERE project_id = ? AND kind = ? AND id = ?")
                    .bind(project.to_string())
                    .bind(kind.as_str())
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
