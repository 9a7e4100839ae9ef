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

use std::collections::{HashMap, HashSet};

use argus_core::{
    hlc::Hlc,
    id::{ChangeId, VideoId},
    model::{Change, ChangeOp, Entity, EntityKind, Permission, Review, ReviewScope, ReviewState, Timestamp, Track},
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

/// What a push knows of the project while it applies a batch: read once
/// for the whole batch, then kept up to date in memory change by change, so
/// a batch costs a handful of statements instead of several per change.
/// Pushes to one project are serialised by the `sync_heads` row lock, so
/// nothing else writes these records meanwhile.
#[derive(Default)]
struct Known {
    /// Change ids already in the log, with their sequence numbers.
    logged: HashMap<Uuid, i64>,
    /// Each record's current version (tombstones included).
    versions: HashMap<(EntityKind, Uuid), Hlc>,
    /// Live tracks the batch touches or its shapes belong to.
    tracks: HashMap<Uuid, Track>,
    /// Live tracks' display numbers, for the videos whose tracks the batch
    /// upserts: (video, number) -> track, and each video's highest number.
    numbers: HashMap<(VideoId, u32), Uuid>,
    highest: HashMap<VideoId, u32>,
    /// Approved reviews (only read when the caller may not review).
    approved: HashMap<Uuid, Review>,
}

/// A row to write to the log (and, for the last version of each record, to
/// `records`); `server`: a change of the server's own, written as
/// service_role.
struct Logged {
    seq: i64,
    change: Change,
    server: bool,
}

impl Known {
    async fn load(tx: &mut Transaction<'static, Postgres>, project: Uuid, changes: &[Change], may_review: bool) -> R<Self> {
        let mut k = Known::default();
        let ids: Vec<Uuid> = changes.iter().map(|c| *c.id.as_uuid()).collect();
        let logged: Vec<(Uuid, i64)> =
            sqlx::query_as("select change_id, seq from argus.changes where change_id = any($1)").bind(&ids).fetch_all(&mut **tx).await?;
        k.logged.extend(logged);
        let (kinds, records): (Vec<&str>, Vec<Uuid>) = changes.iter().map(|c| c.op.target()).map(|(kind, id)| (kind.as_str(), id)).unzip();
        let held: Vec<(String, Uuid, String)> = sqlx::query_as(
            "select r.kind, r.record_id, r.hlc from argus.records r join unnest($2::text[], $3::uuid[]) t(kind, id)
             on r.kind = t.kind and r.record_id = t.id where r.project_id = $1",
        )
        .bind(project)
        .bind(&kinds)
        .bind(&records)
        .fetch_all(&mut **tx)
        .await?;
        for (kind, id, hlc) in held {
            if let (Ok(kind), Ok(hlc)) = (kind.parse::<EntityKind>(), hlc.parse::<Hlc>()) {
                k.versions.insert((kind, id), hlc);
            }
        }
        // Tracks: those the batch writes, and those its shapes belong to.
        let mut track_ids = HashSet::new();
        let mut videos = HashSet::new();
        let mut edits = false;
        for c in changes {
            match &c.op {
                ChangeOp::Upsert { entity: Entity::Track(t) } => {
                    track_ids.insert(*t.id.as_uuid());
                    videos.insert(t.video_id.to_string());
                    edits = true;
                }
                ChangeOp::Upsert { entity: Entity::Shape(s) } => {
                    track_ids.insert(*s.track_id.as_uuid());
                    edits = true;
                }
                ChangeOp::Delete { kind: EntityKind::Track, id } => {
                    track_ids.insert(*id);
                }
                _ => {}
            }
        }
        let track_ids: Vec<Uuid> = track_ids.into_iter().collect();
        let bodies: Vec<Value> =
            sqlx::query_scalar("select body from argus.records where project_id = $1 and kind = 'track' and not deleted and record_id = any($2)")
                .bind(project)
                .bind(&track_ids)
                .fetch_all(&mut **tx)
                .await?;
        for b in bodies {
            if let Ok(Entity::Track(t)) = serde_json::from_value::<Entity>(b) {
                k.tracks.insert(*t.id.as_uuid(), t);
            }
        }
        if !videos.is_empty() {
            let videos: Vec<String> = videos.into_iter().collect();
            let numbers: Vec<(Uuid, String, i64)> = sqlx::query_as(
                "select record_id, body->'record'->>'video_id', (body->'record'->>'number')::bigint from argus.records
                 where project_id = $1 and kind = 'track' and not deleted and body->'record'->>'video_id' = any($2)",
            )
            .bind(project)
            .bind(&videos)
            .fetch_all(&mut **tx)
            .await?;
            for (id, video, number) in numbers {
                if let (Ok(video), Ok(number)) = (video.parse::<VideoId>(), u32::try_from(number)) {
                    k.take_number(video, number, id);
                }
            }
        }
        if edits && !may_review {
            let approved: Vec<Value> = sqlx::query_scalar(
                "select body from argus.records where project_id = $1 and kind = 'review' and not deleted and body->'record'->>'state' = 'approved'",
            )
            .bind(project)
            .fetch_all(&mut **tx)
            .await?;
            for b in approved {
                if let Ok(Entity::Review(r)) = serde_json::from_value::<Entity>(b) {
                    k.approved.insert(*r.id.as_uuid(), r);
                }
            }
        }
        Ok(k)
    }

    fn take_number(&mut self, video: VideoId, number: u32, track: Uuid) {
        self.numbers.insert((video, number), track);
        let top = self.highest.entry(video).or_default();
        *top = (*top).max(number);
    }

    /// Keeps what is known up to date after `change` is logged.
    fn note(&mut self, seq: i64, change: &Change) {
        let (kind, id) = change.op.target();
        self.logged.insert(*change.id.as_uuid(), seq);
        self.versions.insert((kind, id), change.hlc);
        match &change.op {
            ChangeOp::Upsert { entity: Entity::Track(t) } => {
                if let Some(old) = self.tracks.insert(id, t.clone())
                    && self.numbers.get(&(old.video_id, old.number)) == Some(&id)
                {
                    self.numbers.remove(&(old.video_id, old.number));
                }
                self.take_number(t.video_id, t.number, id);
            }
            ChangeOp::Delete { kind: EntityKind::Track, .. } => {
                if let Some(old) = self.tracks.remove(&id)
                    && self.numbers.get(&(old.video_id, old.number)) == Some(&id)
                {
                    self.numbers.remove(&(old.video_id, old.number));
                }
            }
            ChangeOp::Upsert { entity: Entity::Review(r) } => {
                if r.state == ReviewState::Approved {
                    self.approved.insert(id, r.clone());
                } else {
                    self.approved.remove(&id);
                }
            }
            ChangeOp::Delete { kind: EntityKind::Review, .. } => {
                self.approved.remove(&id);
            }
            _ => {}
        }
    }

    /// A free display number for `t` when another live track of its video
    /// holds its number.
    fn free_number(&self, t: &Track) -> Option<u32> {
        let holder = self.numbers.get(&(t.video_id, t.number))?;
        (*holder != *t.id.as_uuid()).then(|| self.highest.get(&t.video_id).copied().unwrap_or(0).saturating_add(1))
    }

    /// Approved reviews an edit by someone who may not review puts back in
    /// review: those covering the edited track, or the shape's frame.
    fn reopened(&self, change: &Change) -> Vec<Review> {
        let ChangeOp::Upsert { entity } = &change.op else {
            return Vec::new();
        };
        let (video, track, frame) = match entity {
            Entity::Track(t) => (t.video_id, t.id, None),
            Entity::Shape(s) => match self.tracks.get(s.track_id.as_uuid()) {
                Some(t) => (t.video_id, t.id, Some(s.frame)),
                None => return Vec::new(),
            },
            _ => return Vec::new(),
        };
        let mut out: Vec<Review> = self
            .approved
            .values()
            .filter(|r| r.video_id == video)
            .filter(|r| match &r.scope {
                ReviewScope::Video => true,
                ReviewScope::Track { track_id } => *track_id == track,
                ReviewScope::Frames { start, end } => frame.is_none_or(|f| (*start..=*end).contains(&f)),
            })
            .cloned()
            .collect();
        out.sort_by_key(|r| *r.id.as_uuid());
        out
    }
}

/// Applies `changes` (valid, of `project`, each allowed to the caller) in
/// order: each is answered duplicate, stale or applied, and the log and the
/// records are written in one statement each (and once more for the
/// server's own changes, as service_role).
async fn apply_batch(
    state: &AppState,
    tx: &mut Transaction<'static, Postgres>,
    project: Uuid,
    changes: &[Change],
    author: Uuid,
    seq: &mut i64,
    may_review: bool,
) -> R<Vec<ChangeResult>> {
    let mut known = Known::load(tx, project, changes, may_review).await?;
    let mut results = Vec::with_capacity(changes.len());
    let mut log: Vec<Logged> = Vec::new();
    for change in changes {
        let id = Some(*change.id.as_uuid());
        if let Some(s) = known.logged.get(change.id.as_uuid()) {
            results.push(ChangeResult { id, status: "duplicate".into(), seq: Some(*s), reason: None });
            continue;
        }
        if let Some(h) = known.versions.get(&change.op.target())
            && *h >= change.hlc
        {
            results.push(ChangeResult { id, status: "stale".into(), seq: None, reason: Some(format!("the server holds a newer version ({h})")) });
            continue;
        }
        {
            let mut clock = state.sync_clock.lock();
            if let Err(e) = clock.receive(change.hlc, now_ms()) {
                tracing::warn!(change = %change.id, error = %e, "a client clock is far ahead");
            }
        }
        // A track number another track of the video holds: the logged change
        // carries a free one (so no prefix of the log has two tracks on one
        // number), and a change of the server's tells the author.
        let mut change = change.clone();
        let mut follow = Vec::new();
        if let ChangeOp::Upsert { entity: Entity::Track(t) } = &mut change.op
            && let Some(free) = known.free_number(t)
        {
            t.number = free;
            follow.push(server_change(state, project, change.hlc, change.op.clone())?);
        }
        if !may_review {
            for r in known.reopened(&change) {
                let back = Review { state: ReviewState::Pending, reviewer: None, updated_at: Timestamp(now_ms() as i64), ..r };
                follow.push(server_change(state, project, change.hlc, ChangeOp::Upsert { entity: Entity::Review(back) })?);
            }
        }
        *seq += 1;
        results.push(ChangeResult { id, status: "applied".into(), seq: Some(*seq), reason: None });
        known.note(*seq, &change);
        log.push(Logged { seq: *seq, change, server: false });
        for f in follow {
            *seq += 1;
            known.note(*seq, &f);
            log.push(Logged { seq: *seq, change: f, server: true });
        }
    }
    write(tx, project, &log, author).await?;
    Ok(results)
}

/// Writes the log rows and each record's last version: the caller's as the
/// caller (its policies checked row by row), the server's as service_role.
async fn write(tx: &mut Transaction<'static, Postgres>, project: Uuid, log: &[Logged], author: Uuid) -> R<()> {
    // The last version of each record, and who wrote it.
    let mut last: HashMap<(EntityKind, Uuid), &Logged> = HashMap::new();
    for l in log {
        last.insert(l.change.op.target(), l);
    }
    for server in [false, true] {
        let rows: Vec<&Logged> = log.iter().filter(|l| l.server == server).collect();
        if rows.is_empty() {
            continue;
        }
        let mut latest: Vec<&Logged> = last.values().copied().filter(|l| l.server == server).collect();
        latest.sort_by_key(|l| l.seq);
        let role = if server {
            let role: String = sqlx::query_scalar("select current_setting('role')").fetch_one(&mut **tx).await?;
            sqlx::query("select set_config('role', 'service_role', true)").execute(&mut **tx).await?;
            Some(role)
        } else {
            None
        };
        let (mut seqs, mut ids, mut hlcs, mut kinds, mut records, mut bodies) = (vec![], vec![], vec![], vec![], vec![], vec![]);
        for l in &rows {
            let (kind, record) = l.change.op.target();
            seqs.push(l.seq);
            ids.push(*l.change.id.as_uuid());
            hlcs.push(l.change.hlc.to_string());
            kinds.push(kind.as_str());
            records.push(record);
            bodies.push(json(&l.change)?);
        }
        sqlx::query(
            "insert into argus.changes (project_id, seq, change_id, hlc, kind, record_id, body, author)
             select $1, seq, id, hlc, kind, record, body::jsonb, $8 from unnest($2::bigint[], $3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::text[])
             as t(seq, id, hlc, kind, record, body)",
        )
        .bind(project)
        .bind(&seqs)
        .bind(&ids)
        .bind(&hlcs)
        .bind(&kinds)
        .bind(&records)
        .bind(&bodies)
        .bind(author)
        .execute(&mut **tx)
        .await?;
        let (mut kinds, mut records, mut hlcs, mut deleted, mut seqs, mut bodies) = (vec![], vec![], vec![], vec![], vec![], vec![]);
        for l in &latest {
            let (kind, record) = l.change.op.target();
            kinds.push(kind.as_str());
            records.push(record);
            hlcs.push(l.change.hlc.to_string());
            seqs.push(l.seq);
            match &l.change.op {
                ChangeOp::Upsert { entity } => {
                    deleted.push(false);
                    bodies.push(Some(json(entity)?));
                }
                ChangeOp::Delete { .. } => {
                    deleted.push(true);
                    bodies.push(None);
                }
            }
        }
        sqlx::query(
            "insert into argus.records (project_id, kind, record_id, hlc, deleted, seq, body)
             select $1, kind, record, hlc, deleted, seq, body::jsonb from unnest($2::text[], $3::uuid[], $4::text[], $5::bool[], $6::bigint[], $7::text[])
             as t(kind, record, hlc, deleted, seq, body)
             on conflict (project_id, kind, record_id) do update set hlc = excluded.hlc, deleted = excluded.deleted, seq = excluded.seq, body = excluded.body",
        )
        .bind(project)
        .bind(&kinds)
        .bind(&records)
        .bind(&hlcs)
        .bind(&deleted)
        .bind(&seqs)
        .bind(&bodies)
        .execute(&mut **tx)
        .await?;
        if let Some(role) = role {
            sqlx::query("select set_config('role', $1, true)").bind(role).execute(&mut **tx).await?;
        }
    }
    Ok(())
}

fn json<T: Serialize>(v: &T) -> R<String> {
    serde_json::to_string(v).map_err(|e| ApiError::Internal(e.to_string()))
}

/// A change made by the server, after `base`.
fn server_change(state: &AppState, project: Uuid, base: Hlc, op: ChangeOp) -> R<Change> {
    let now = now_ms();
    let hlc = {
        let mut clock = state.sync_clock.lock();
        let _ = clock.receive(base, now);
        clock.tick(now).map_err(|e| ApiError::Internal(e.to_string()))?
    };
    Ok(Change { id: ChangeId::new(), hlc, base: Some(base), project_id: project.into(), op })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
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
    // Each change is checked on its own first; the valid ones are applied
    // together, in their order.
    let mut results: Vec<Option<ChangeResult>> = Vec::with_capacity(b.changes.len());
    let mut valid: Vec<(usize, Change)> = Vec::new();
    for raw in b.changes {
        let id = raw.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok());
        let refusal = match serde_json::from_value::<Change>(raw) {
            Err(e) => Some(format!("not a valid change: {e}")),
            Ok(c) if *c.project_id.as_uuid() != project => Some(format!("the change belongs to project {}, not {project}", c.project_id)),
            Ok(c) if !held.contains(c.op.permission().as_str()) => {
                Some(format!("your role in this project may not {}; ask a lead", c.op.permission().as_str().replace('_', " ")))
            }
            Ok(mut c) => {
                if let ChangeOp::Upsert { entity: Entity::Video(v) } = &mut c.op {
                    v.local_path = None;
                    v.remote = Default::default();
                }
                valid.push((results.len(), c));
                None
            }
        };
        results.push(refusal.map(|r| refused(id, r)));
    }
    let changes: Vec<Change> = valid.iter().map(|(_, c)| c.clone()).collect();
    sqlx::query("savepoint batch").execute(&mut *tx).await?;
    let start = seq;
    match apply_batch(&state, &mut tx, project, &changes, caller.user_id, &mut seq, may_review).await {
        Ok(applied) => {
            sqlx::query("release savepoint batch").execute(&mut *tx).await?;
            for ((i, _), r) in valid.iter().zip(applied) {
                results[*i] = Some(r);
            }
        }
        Err(e) => {
            // One of them fails in the database: apply them one at a time,
            // to refuse just that one.
            tracing::info!(error = %e, "a push batch failed; applying its changes one by one");
            sqlx::query("rollback to savepoint batch").execute(&mut *tx).await?;
            seq = start;
            for (i, c) in &valid {
                sqlx::query("savepoint change").execute(&mut *tx).await?;
                let before = seq;
                match apply_batch(&state, &mut tx, project, std::slice::from_ref(c), caller.user_id, &mut seq, may_review).await {
                    Ok(mut r) => {
                        sqlx::query("release savepoint change").execute(&mut *tx).await?;
                        results[*i] = r.pop();
                    }
                    Err(e) => {
                        sqlx::query("rollback to savepoint change").execute(&mut *tx).await?;
                        seq = before;
                        results[*i] = Some(refused(Some(*c.id.as_uuid()), e.to_string()));
                    }
                }
            }
        }
    }
    sqlx::query("update argus.sync_heads set last_seq = $2 where project_id = $1").bind(project).bind(seq).execute(&mut *tx).await?;
    tx.commit().await?;
    let results = results.into_iter().map(|r| r.ok_or_else(|| ApiError::Internal("a change was left unanswered".into()))).collect::<R<Vec<_>>>()?;
    Ok(Json(PushAnswer { protocol: PROTOCOL, results, last_seq: seq }))
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
    let kind: EntityKind = kind.parse().map_err(ApiError::BadRequest)?;
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
