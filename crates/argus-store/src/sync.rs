//! Sync bookkeeping: the outbox of local changes and the pull cursors.
//!
//! Each command writes its [`Change`]s here in the same transaction as the
//! edit itself, so a change is either both applied and queued or neither.
//! A sync client reads pending changes in order, sends them (their ids make
//! resending harmless), and marks them sent.
//!
//! Most rows hold one change whole. A bulk write of new shapes (an import,
//! a propagation run) queues one row per track instead ([`BULK_KIND`]): it
//! names the track and the HLCs its shapes were written at, and the changes
//! are made from the shapes as they are when they are sent. A shape written
//! again later has a newer version, so the bulk row leaves it to the later
//! change; one deleted since is gone from both. What is sent is what
//! queueing each change whole would have sent for every shape still at the
//! version the bulk wrote, without storing each mask twice.

use std::collections::HashMap;

use argus_core::{
    hlc::Hlc,
    id::{ChangeId, ProjectId, TrackId},
    model::{Change, ChangeOp, Entity, Member},
};
use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;

use crate::{Error, Result, Store, rows, store::now_ms};

/// The outbox's `entity_kind` of a bulk row (its `entity_id` is the track).
pub(crate) const BULK_KIND: &str = "shapes";

/// What a bulk row's `change` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BulkShapes {
    /// The row's own change id; each shape's change id is made from it and
    /// the shape's id (UUID v5), the same every time it is sent.
    pub id: ChangeId,
    pub track: TrackId,
    /// The first and last HLC the bulk wrote (all of this device).
    pub from: Hlc,
    pub to: Hlc,
    /// The newest of its changes the server acknowledged (or refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<Hlc>,
}

/// A change made from a bulk row and handed out by `pending_changes`, so
/// `mark_sent` and `reject_changes` can find its row.
#[derive(Debug, Clone)]
pub(crate) struct BulkPart {
    pub seq: i64,
    pub change: Change,
}

/// Which shapes a bulk row still names: its track's, at a version this
/// device wrote in the row's range, after the row's cursor (binds `?1` to
/// `?4`: [`bulk_bounds`]).
macro_rules! bulk_shapes_where {
    () => {
        "track_id = ?1 AND hlc > ?2 AND hlc <= ?3 AND substr(hlc, 27) = ?4"
    };
}

/// The values of [`bulk_shapes_where`]'s binds.
fn bulk_bounds(bulk: &BulkShapes) -> [String; 4] {
    [bulk.track.to_string(), bulk.sent.as_ref().map(Hlc::to_string).unwrap_or_default(), bulk.to.to_string(), bulk.to.device.to_string()]
}

/// The shapes of `bulk` still at a version it wrote and not yet sent, in
/// HLC order: at most `limit`, after the row's cursor.
async fn bulk_shapes(conn: &mut SqliteConnection, bulk: &BulkShapes, limit: u32) -> Result<Vec<(Hlc, Vec<u8>)>> {
    let mut q = sqlx::query_as(concat!("SELECT hlc, data FROM shapes WHERE ", bulk_shapes_where!(), " ORDER BY hlc LIMIT ?5"));
    for b in bulk_bounds(bulk) {
        q = q.bind(b);
    }
    let rows: Vec<(String, Vec<u8>)> = q.bind(i64::from(limit)).fetch_all(&mut *conn).await?;
    rows.into_iter().map(|(h, data)| Ok((rows::parse::<Hlc>(&h, "version hlc")?, data))).collect()
}

/// The change of one shape of a bulk row.
fn bulk_change(project: ProjectId, bulk: &BulkShapes, hlc: Hlc, data: &[u8]) -> Result<Change> {
    let shape = crate::codec::decode_shape(data)?;
    let id = ChangeId::from_uuid(uuid::Uuid::new_v5(bulk.id.as_uuid(), shape.id.as_uuid().as_bytes()));
    Ok(Change { id, hlc, base: None, project_id: project, op: ChangeOp::Upsert { entity: Entity::Shape(shape) } })
}

/// Moves bulk row `seq`'s cursor to `hlc` (if later), and marks the row
/// sent when none of its shapes is left after it.
pub(crate) async fn advance_bulk(conn: &mut SqliteConnection, seq: i64, hlc: Hlc, now: i64) -> Result<()> {
    let json: Option<String> = sqlx::query_scalar("SELECT change FROM outbox WHERE seq = ? AND sent_at IS NULL").bind(seq).fetch_optional(&mut *conn).await?;
    let Some(json) = json else { return Ok(()) };
    let mut bulk: BulkShapes = serde_json::from_str(&json)?;
    if bulk.sent.is_some_and(|s| s >= hlc) {
        return Ok(());
    }
    bulk.sent = Some(hlc);
    let left = bulk_shapes(conn, &bulk, 1).await?;
    sqlx::query("UPDATE outbox SET change = ?, sent_at = ? WHERE seq = ?")
        .bind(serde_json::to_string(&bulk)?)
        .bind(left.is_empty().then_some(now))
        .bind(seq)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One queued change and its position in the outbox (the changes made
/// from one bulk row share its position).
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub seq: i64,
    pub change: Change,
}

/// The newest HLC of `parts` per bulk row.
pub(crate) fn newest_per_row(parts: &[BulkPart]) -> HashMap<i64, Hlc> {
    let mut rows: HashMap<i64, Hlc> = HashMap::new();
    for p in parts {
        let e = rows.entry(p.seq).or_insert(p.change.hlc);
        *e = (*e).max(p.change.hlc);
    }
    rows
}

impl Store {
    /// Up to `limit` unsent changes of `project`, oldest first.
    pub async fn pending_changes(&self, project: ProjectId, limit: u32) -> Result<Vec<Pending>> {
        let mut conn = self.readers.acquire().await?;
        let mut out: Vec<Pending> = Vec::new();
        let mut made: Vec<BulkPart> = Vec::new();
        let mut after = -1i64;
        'rows: while (out.len() as u64) < u64::from(limit) {
            let rows: Vec<(i64, String, String)> = sqlx::query_as(
                "SELECT seq, entity_kind, change FROM outbox WHERE project_id = ? AND sent_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
            )
            .bind(project.to_string())
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await?;
            if rows.is_empty() {
                break;
            }
            for (seq, kind, json) in rows {
                after = seq;
                let room = u64::from(limit).saturating_sub(out.len() as u64);
                if room == 0 {
                    break 'rows;
                }
                if kind != BULK_KIND {
                    out.push(Pending { seq, change: serde_json::from_str(&json)? });
                    continue;
                }
                let bulk: BulkShapes = serde_json::from_str(&json)?;
                let room = u32::try_from(room).unwrap_or(u32::MAX);
                for (hlc, data) in bulk_shapes(&mut conn, &bulk, room).await? {
                    let change = bulk_change(project, &bulk, hlc, &data)?;
                    made.push(BulkPart { seq, change: change.clone() });
                    out.push(Pending { seq, change });
                }
            }
        }
        if !made.is_empty() {
            let mut parts = self.bulk_parts()?;
            // Bounded by what is pending: the ids are the same every time.
            for p in made {
                parts.insert(p.change.id, p);
            }
        }
        Ok(out)
    }

    /// How many changes of `project` wait to be sent (a bulk row counts
    /// each of its shapes still to send).
    pub async fn pending_count(&self, project: ProjectId) -> Result<u64> {
        let mut conn = self.readers.acquire().await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE project_id = ? AND sent_at IS NULL AND entity_kind <> ?")
            .bind(project.to_string())
            .bind(BULK_KIND)
            .fetch_one(&mut *conn)
            .await?;
        let bulks: Vec<String> = sqlx::query_scalar("SELECT change FROM outbox WHERE project_id = ? AND sent_at IS NULL AND entity_kind = ?")
            .bind(project.to_string())
            .bind(BULK_KIND)
            .fetch_all(&mut *conn)
            .await?;
        let mut total = n.max(0) as u64;
        for json in bulks {
            let bulk: BulkShapes = serde_json::from_str(&json)?;
            let mut q = sqlx::query_scalar(concat!("SELECT COUNT(*) FROM shapes WHERE ", bulk_shapes_where!()));
            for b in bulk_bounds(&bulk) {
                q = q.bind(b);
            }
            let left: i64 = q.fetch_one(&mut *conn).await?;
            total += left.max(0) as u64;
        }
        Ok(total)
    }

    /// Marks changes the server acknowledged.
    pub async fn mark_sent(&self, ids: &[ChangeId]) -> Result<()> {
        let (bulks, plain) = self.take_bulk_parts(ids.iter().copied())?;
        let mut w = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin(&mut w.conn).await?;
        let now = now_ms() as i64;
        for id in plain {
            sqlx::query("UPDATE outbox SET sent_at = ? WHERE change_id = ? AND sent_at IS NULL")
                .bind(now)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        for (seq, hlc) in newest_per_row(&bulks) {
            advance_bulk(&mut tx, seq, hlc, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The bookkeeping of changes made from bulk rows.
    fn bulk_parts(&self) -> Result<std::sync::MutexGuard<'_, HashMap<ChangeId, BulkPart>>> {
        self.bulk_parts.lock().map_err(|_| Error::Conflict("the outbox's bookkeeping was poisoned by a panic".into()))
    }

    /// The changes among `ids` that were made from bulk rows (taken out of
    /// the bookkeeping), and the rest.
    pub(crate) fn take_bulk_parts(&self, ids: impl Iterator<Item = ChangeId>) -> Result<(Vec<BulkPart>, Vec<ChangeId>)> {
        let mut parts = self.bulk_parts()?;
        let (mut taken, mut plain) = (Vec::new(), Vec::new());
        for id in ids {
            match parts.remove(&id) {
                Some(p) => taken.push(p),
                None => plain.push(id),
            }
        }
        Ok((taken, plain))
    }

    /// Where the last pull of `project` stopped (opaque to the store).
    pub async fn pull_cursor(&self, project: ProjectId) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT cursor FROM sync_cursors WHERE project_id = ?")
            .bind(project.to_string())
            .fetch_optional(&self.readers)
            .await?)
    }

    pub async fn set_pull_cursor(&self, project: ProjectId, cursor: &str) -> Result<()> {
        let mut w = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO sync_cursors (project_id, cursor, updated_at) VALUES (?, ?, ?)
             ON CONFLICT(project_id) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
        )
        .bind(project.to_string())
        .bind(cursor)
        .bind(now_ms() as i64)
        .execute(&mut w.conn)
        .await?;
        Ok(())
    }

    /// Replaces the cached members (and their roles) of `project` with what
    /// the server reported. A cache: not undoable, not queued for sync.
    pub async fn replace_members(&self, project: ProjectId, members: &[Member]) -> Result<()> {
        if let Some(m) = members.iter().find(|m| m.project_id != project) {
            return Err(Error::Conflict(format!("member {} belongs to project {}, not {project}", m.user_id, m.project_id)));
        }
        let mut w = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin(&mut w.conn).await?;
        sqlx::query("DELETE FROM members WHERE project_id = ?").bind(project.to_string()).execute(&mut *tx).await?;
        let now = now_ms() as i64;
        for m in members {
            crate::rows::upsert(&mut tx, &argus_core::model::Entity::Member(m.clone())).await?;
            sqlx::query(
                "INSERT INTO users (id, display_name, updated_at) VALUES (?, ?, ?)
                 ON CONFLICT(id) DO UPDATE SET display_name = excluded.display_name, updated_at = excluded.updated_at",
            )
            .bind(m.user_id.to_string())
            .bind(&m.display_name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
