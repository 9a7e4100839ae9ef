//! Sync (protocol 1): desktops push their outbox of argus-core `Change`s and
//! pull everyone else's, per project.
//!
//! - **Push** applies a batch in one transaction under row-level security,
//!   as the caller. Each change is answered on its own: `applied` (with its
//!   sequence number), `duplicate` (its id was applied before: a replay is a
//!   no-op), `stale` (the server holds a newer version of the record; the
//!   client will pull it) or `refused` with the reason (the caller's role
//!   may not make it, it is malformed, it belongs elsewhere). A refused
//!   change never blocks the ones after it.
//! - **Pull** answers the changes after a cursor in commit order, paginated.
//!   The cursor is the per-project sequence, taken from `sync_heads` under a
//!   row lock inside the push transaction, so numbers follow commit order.
//! - **The server's own changes**, stamped by its clock after what it
//!   received: a pushed track whose display number another track of the
//!   video holds is renumbered (numbers are not identities), and an edit by
//!   someone who may not review, on an object whose review is approved,
//!   puts that review back in review (annotators cannot change review state,
//!   so the client never sends that).
//! - What is local to a machine does not sync: a video's local path and its
//!   upload state are dropped from pushed videos.

use std::collections::HashSet;

use argus_core::{
    hlc::Hlc,
    id::ChangeId,
    model::{Change, ChangeOp, Entity, EntityKind, Permission, Review, ReviewScope, ReviewState, Timestamp},
};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::{
    api::{JsonBody, uuid},
    db::begin_as,
    error::ApiError,
    state::{AppState, Caller},
};

type R<T> = Result<T, ApiError>;

/// The sync protocol this server speaks.
pub const PROTOCOL: u32 = 1;
/// Most changes in one push.
pub const MAX_PUSH: usize = 5000;
/// Most changes in one pull page.
pub const MAX_PULL: i64 = 5000;

pub fn router() -> Router<AppState> {
    // Bodies are gzip both ways when the client says so (masks as RLE
    // compress well): Content-Encoding on pushes, Accept-Encoding on pulls.
    Router::new()
        .route("/projects/{project}/sync/push", post(push))
        .route("/projects/{project}/sync/pull", get(pull))
        .route("/projects/{project}/sync/records/{kind}/{id}", get(record))
        .layer(tower_http::compression::CompressionLayer::new().gzip(true))
        .layer(tower_http::decompression::RequestDecompressionLayer::new().gzip(true))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PushBody {
    pub protocol: u32,
    /// argus_core::model::Change values, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ChangeResult {
    pub id: Option<Uuid>,
    /// applied, duplicate, stale or refused.
    pub status: String,
    pub seq: Option<i64>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PushAnswer {
    pub protocol: u32,
    pub results: Vec<ChangeResult>,
    /// The project's newest sequence number after this push.
    pub last_seq: i64,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PullQuery {
    pub protocol: Option<u32>,
    /// Changes after this sequence number (0: from the start).
    #[serde(default)]
    pub since: i64,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Pulled {
    pub seq: i64,
    #[schema(value_type = Object)]
    pub change: Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PullAnswer {
    pub protocol: u32,
    pub changes: Vec<Pulled>,
    /// Where the next pull starts.
    pub cursor: i64,
    /// More changes wait after `cursor`.
    pub more: bool,
}

fn check_protocol(v: u32) -> R<()> {
    if v != PROTOCOL {
        return Err(ApiError::BadRequest(format!("sync protocol {v} is not supported; this server speaks {PROTOCOL}: update Argus")));
    }
    Ok(())
}


fn refused(id: Option<Uuid>, reason: impl Into<String>) -> ChangeResult {
    ChangeResult { id, status: "refused".into(), seq: None, reason: Some(reason.into()) }
}

/// The permissions the caller holds in `project` (empty: not a member).
async fn permissions(tx: &mut Transaction<'static, Postgres>, project: Uuid) -> R<HashSet<String>> {
    let names: Vec<String> = Permission::ALL.iter().map(|p| p.as_str().to_owned()).collect();
    let held: Vec<String> = sqlx::query_scalar("select p from unnest($2::text[]) p where argus.has_permission($1, p)")
        .bind(project)
        .bind(&names)
        .fetch_all(&mut **tx)
        .await?;
    Ok(held.into_iter().collect())
}

/// Appends `change` to the log as number `seq` and makes it the record's
/// version.
async fn append(tx: &mut Transaction<'static, Postgres>, project: Uuid, seq: i64, change: &Change, author: Uuid) -> R<()> {
    let (kind, id) = change.op.target();
    let kind = kind.as_str();
    let body = serde_json::to_value(change).map_err(|e| ApiError::Internal(e.to_string()))?;
    sqlx::query("insert into argus.changes (project_id, seq, change_id, hlc, kind, record_id, body, author) values ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(project)
        .bind(seq)
        .bind(change.id.as_uuid())
        .bind(change.hlc.to_string())
        .bind(kind)
        .bind(id)
        .bind(&body)
        .bind(author)
        .execute(&mut **tx)
        .await?;
    let (deleted, record) = match &change.op {
        ChangeOp::Upsert { entity } => (false, Some(serde_json::to_value(entity).map_err(|e| ApiError::Internal(e.to_string()))?)),
        ChangeOp::Delete { .. } => (true, None),
    };
    sqlx::query(
        "insert into argus.records (project_id, kind, record_id, hlc, deleted, seq, body) values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (project_id, kind, record_id) do update set hlc = excluded.hlc, deleted = excluded.deleted, seq = excluded.seq, body = excluded.body",
    )
    .bind(project)
    .bind(kind)
    .bind(id)
    .bind(change.hlc.to_string())
    .bind(deleted)
    .bind(seq)
    .bind(record)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The entity a record holds now (`None`: absent or deleted).
async fn current(tx: &mut Transaction<'static, Postgres>, project: Uuid, kind: EntityKind, id: Uuid) -> R<Option<Entity>> {
    let body: Option<Option<Value>> = sqlx::query_scalar("select body from argus.records where project_id = $1 and kind = $2 and record_id = $3 and not deleted")
        .bind(project)
        .bind(kind.as_str())
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(body.flatten().and_then(|b| serde_json::from_value(b).ok()))
}

/// A free display number for `t` when another track of its video holds its
/// number.
async fn free_number(tx: &mut Transaction<'static, Postgres>, project: Uuid, t: &argus_core::model::Track) -> R<Option<u32>> {
    let taken: Option<Uuid> = sqlx::query_scalar(
        "select record_id from argus.records where project_id = $1 and kind = 'track' and not deleted
         and body->'record'->>'video_id' = $2 and (body->'record'->>'number')::bigint = $3 and record_id <> $4",
    )
    .bind(project)
    .bind(t.video_id.to_string())
    .bind(i64::from(t.number))
    .bind(t.id.as_uuid())
    .fetch_optional(&mut **tx)
    .await?;
    if taken.is_none() {
        return Ok(None);
    }
    let max: Option<i64> = sqlx::query_scalar(
        "select max((body->'record'->>'number')::bigint) from argus.records where project_id = $1 and kind = 'track' and not deleted and body->'record'->>'video_id' = $2",
    )
    .bind(project)
    .bind(t.video_id.to_string())
    .fetch_one(&mut **tx)
    .await?;
    Ok(Some(u32::try_from(max.unwrap_or(0) + 1).unwrap_or(u32::MAX)))
}

/// A change made by the server, after `base`.
fn server_change(state: &AppState, project: Uuid, base: Hlc, op: ChangeOp) -> R<Change> {
    let now = argus_core_now_ms();
    let hlc = {
        let mut clock = state.sync_clock.lock();
        let _ = clock.receive(base, now);
        clock.tick(now).map_err(|e| ApiError::Internal(e.to_string()))?
    };
    Ok(Change { id: ChangeId::new(), hlc, base: Some(base), project_id: project.into(), op })
}

fn argus_core_now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Follow-up changes the server makes for `change` (renumbering, review
/// state), already adjusted to the records as they are.
async fn consequences(state: &AppState, tx: &mut Transaction<'static, Postgres>, project: Uuid, change: &Change, may_review: bool) -> R<Vec<Change>> {
    let mut out = Vec::new();
    let ChangeOp::Upsert { entity } = &change.op else { return Ok(out) };
    if may_review {
        return Ok(out);
    }
    // The video and (for a shape) the track and frame the edit touches.
    let (video, track, frame) = match entity {
        Entity::Track(t) => (t.video_id, Some(t.id), None),
        Entity::Shape(s) => match current(tx, project, EntityKind::Track, *s.track_id.as_uuid()).await? {
            Some(Entity::Track(t)) => (t.video_id, Some(t.id), Some(s.frame)),
            _ => return Ok(out),
        },
        _ => return Ok(out),
    };
    let approved: Vec<Value> = sqlx::query_scalar(
        "select body from argus.records where project_id = $1 and kind = 'review' and not deleted
         and body->'record'->>'video_id' = $2 and body->'record'->>'state' = 'approved'",
    )
    .bind(project)
    .bind(video.to_string())
    .fetch_all(&mut **tx)
    .await?;
    for body in approved {
        let Ok(Entity::Review(r)) = serde_json::from_value::<Entity>(body) else { continue };
        let covers = match &r.scope {
            ReviewScope::Video => true,
            ReviewScope::Track { track_id } => Some(*track_id) == track,
            ReviewScope::Frames { start, end } => frame.is_none_or(|f| (*start..=*end).contains(&f)),
        };
        if covers {
            let mut back = Review { state: ReviewState::Pending, updated_at: Timestamp(argus_core_now_ms() as i64), ..r };
            back.reviewer = None;
            out.push(server_change(state, project, change.hlc, ChangeOp::Upsert { entity: Entity::Review(back) })?);
        }
    }
    Ok(out)
}

#[utoipa::path(post, path = "/api/v1/projects/{project}/sync/push", tag = "sync", summary = "Push outbox changes; each is answered applied, duplicate, stale or refused",
    security(("bearer" = [])), params(("project" = String, Path)), request_body = PushBody,
    responses((status = 200, body = PushAnswer), (status = 400, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub(crate) async fn push(State(state): State<AppState>, caller: Caller, Path(project): Path<String>, JsonBody(b): JsonBody<PushBody>) -> R<Json<PushAnswer>> {
    let project = uuid(&project, "project id")?;
    check_protocol(b.protocol)?;
    if b.changes.len() > MAX_PUSH {
        return Err(ApiError::TooLarge(format!("{} changes in one push; send at most {MAX_PUSH} at a time", b.changes.len())));
    }
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let held = permissions(&mut tx, project).await?;
    if !held.contains(Permission::ViewProject.as_str()) {
        return Err(ApiError::NotFound(format!("project {project} not found, or you are not a member")));
    }
    sqlx::query("insert into argus.sync_heads (project_id) values ($1) on conflict do nothing").bind(project).execute(&mut *tx).await?;
    let mut seq: i64 = sqlx::query_scalar("select last_seq from argus.sync_heads where project_id = $1 for update").bind(project).fetch_one(&mut *tx).await?;
    let may_review = held.contains(Permission::Review.as_str());
    let mut results = Vec::with_capacity(b.changes.len());
    for raw in b.changes {
        let id = raw.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok());
        let mut change: Change = match serde_json::from_value(raw) {
            Ok(c) => c,
            Err(e) => {
                results.push(refused(id, format!("not a valid change: {e}")));
                continue;
            }
        };
        if *change.project_id.as_uuid() != project {
            results.push(refused(id, format!("the change belongs to project {}, not {project}", change.project_id)));
            continue;
        }
        let need = change.op.permission();
        if !held.contains(need.as_str()) {
            results.push(refused(id, format!("your role in this project may not {}; ask a lead", need.as_str().replace('_', " "))));
            continue;
        }
        if let ChangeOp::Upsert { entity: Entity::Video(v) } = &mut change.op {
            v.local_path = None;
            v.remote = Default::default();
        }
        sqlx::query("savepoint change").execute(&mut *tx).await?;
        let outcome = apply(&state, &mut tx, project, &change, caller.user_id, &mut seq, may_review).await;
        match outcome {
            Ok(r) => {
                sqlx::query("release savepoint change").execute(&mut *tx).await?;
                results.push(r);
            }
            Err(e) => {
                sqlx::query("rollback to savepoint change").execute(&mut *tx).await?;
                results.push(refused(id, e.to_string()));
            }
        }
    }
    sqlx::query("update argus.sync_heads set last_seq = $2 where project_id = $1").bind(project).bind(seq).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Json(PushAnswer { protocol: PROTOCOL, results, last_seq: seq }))
}

async fn apply(state: &AppState, tx: &mut Transaction<'static, Postgres>, project: Uuid, change: &Change, author: Uuid, seq: &mut i64, may_review: bool) -> R<ChangeResult> {
    let id = Some(*change.id.as_uuid());
    let dup: Option<i64> = sqlx::query_scalar("select seq from argus.changes where change_id = $1").bind(change.id.as_uuid()).fetch_optional(&mut **tx).await?;
    if let Some(s) = dup {
        return Ok(ChangeResult { id, status: "duplicate".into(), seq: Some(s), reason: None });
    }
    let (kind, record) = change.op.target();
    let held: Option<String> = sqlx::query_scalar("select hlc from argus.records where project_id = $1 and kind = $2 and record_id = $3 for update")
        .bind(project)
        .bind(kind.as_str())
        .bind(record)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(h) = held.and_then(|h| h.parse::<Hlc>().ok())
        && h >= change.hlc
    {
        return Ok(ChangeResult { id, status: "stale".into(), seq: None, reason: Some(format!("the server holds a newer version ({h})")) });
    }
    {
        let mut clock = state.sync_clock.lock();
        if let Err(e) = clock.receive(change.hlc, argus_core_now_ms()) {
            tracing::warn!(change = %change.id, error = %e, "a client clock is far ahead");
        }
    }
    // A track number another track of the video holds: the logged change
    // carries a free one (so no prefix of the log has two tracks on one
    // number), and a change of the server's tells the author.
    let mut change = change.clone();
    let mut follow = Vec::new();
    if let ChangeOp::Upsert { entity: Entity::Track(t) } = &mut change.op
        && let Some(free) = free_number(tx, project, t).await?
    {
        t.number = free;
        follow.push(server_change(state, project, change.hlc, change.op.clone())?);
    }
    follow.extend(consequences(state, tx, project, &change, may_review).await?);
    *seq += 1;
    let mine = *seq;
    append(tx, project, mine, &change, author).await?;
    if !follow.is_empty() {
        // The server's own changes: the caller may not make them (an
        // annotator reopening a review), so they are written as service_role.
        let role: String = sqlx::query_scalar("select current_setting('role')").fetch_one(&mut **tx).await?;
        sqlx::query("select set_config('role', 'service_role', true)").execute(&mut **tx).await?;
        for f in follow {
            *seq += 1;
            append(tx, project, *seq, &f, author).await?;
        }
        sqlx::query("select set_config('role', $1, true)").bind(role).execute(&mut **tx).await?;
    }
    Ok(ChangeResult { id, status: "applied".into(), seq: Some(mine), reason: None })
}

#[utoipa::path(get, path = "/api/v1/projects/{project}/sync/pull", tag = "sync", summary = "Changes after a cursor, in commit order",
    security(("bearer" = [])), params(("project" = String, Path), PullQuery), responses((status = 200, body = PullAnswer), (status = 404, body = crate::api::ErrorBody)))]
pub(crate) async fn pull(State(state): State<AppState>, caller: Caller, Path(project): Path<String>, Query(q): Query<PullQuery>) -> R<Json<PullAnswer>> {
    let project = uuid(&project, "project id")?;
    check_protocol(q.protocol.unwrap_or(PROTOCOL))?;
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_PULL);
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let member: Option<bool> = sqlx::query_scalar("select argus.has_permission(id, 'view_project') from argus.projects where id = $1")
        .bind(project)
        .fetch_optional(&mut *tx)
        .await?;
    if member != Some(true) {
        return Err(ApiError::NotFound(format!("project {project} not found, or you are not a member")));
    }
    let rows: Vec<(i64, Value)> = sqlx::query_as("select seq, body from argus.changes where project_id = $1 and seq > $2 order by seq limit $3")
        .bind(project)
        .bind(q.since.max(0))
        .bind(limit + 1)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let more = rows.len() as i64 > limit;
    let changes: Vec<Pulled> = rows.into_iter().take(limit as usize).map(|(seq, change)| Pulled { seq, change }).collect();
    let cursor = changes.last().map_or(q.since.max(0), |c| c.seq);
    Ok(Json(PullAnswer { protocol: PROTOCOL, changes, cursor, more }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordAnswer {
    pub hlc: String,
    pub deleted: bool,
    pub seq: i64,
    /// The record (argus_core::model::Entity); null for a tombstone.
    #[schema(value_type = Option<Object>)]
    pub record: Option<Value>,
}

#[utoipa::path(get, path = "/api/v1/projects/{project}/sync/records/{kind}/{id}", tag = "sync", summary = "One record's current version (to put back a refused local edit)",
    security(("bearer" = [])), params(("project" = String, Path), ("kind" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = RecordAnswer), (status = 404, body = crate::api::ErrorBody)))]
pub(crate) async fn record(State(state): State<AppState>, caller: Caller, Path((project, kind, id)): Path<(String, String, String)>) -> R<Json<RecordAnswer>> {
    let project = uuid(&project, "project id")?;
    let id = uuid(&id, "record id")?;
    let kind: EntityKind = serde_json::from_value(Value::String(kind.clone())).map_err(|_| ApiError::BadRequest(format!("{kind:?} is not a kind of record")))?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let row: Option<(String, bool, i64, Option<Value>)> =
        sqlx::query_as("select hlc, deleted, seq, body from argus.records where project_id = $1 and kind = $2 and record_id = $3")
            .bind(project)
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    let (hlc, deleted, seq, record) = row.ok_or_else(|| ApiError::NotFound(format!("no {} {id} in project {project}, or you are not a member", kind.as_str())))?;
    Ok(Json(RecordAnswer { hlc, deleted, seq, record }))
}
