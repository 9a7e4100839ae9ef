//! Videos: uploads straight to object storage through presigned URLs, and
//! the durable queue of processing jobs that workers (`argus-worker`) take
//! through the worker endpoints.
//!
//! The upload flow: the client asks for an upload (name, size, sha256,
//! content type); quotas are checked before anything is presigned; the video
//! is recorded `uploading` with its object key
//! (`teams/{team}/projects/{project}/videos/{video}/original`); small files
//! get one presigned PUT, large ones an S3 multipart upload whose part URLs
//! are presigned in batches. After a crash the client asks which parts the
//! store holds (ListParts) and sends only the rest. On completion the server
//! checks the object's size with HEAD (never reading it) and enqueues
//! processing; the worker verifies the sha256 while it reads the object.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use argus_core::model::Permission;

use crate::{
    api::{JsonBody, uuid},
    db::{begin_as, begin_as_service},
    error::ApiError,
    state::{AppState, Bearer, Caller},
    storage::{self, Part, Presigned, Storage},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{project}/videos", get(list).post(create))
        .route("/videos/{video}", get(get_one).delete(delete))
        .route("/videos/{video}/upload", get(upload_state).delete(abort))
        .route("/videos/{video}/upload/parts", post(part_urls))
        .route("/videos/{video}/upload/complete", post(complete))
        .route("/videos/{video}/download", get(download))
        .route("/videos/{video}/jobs", get(jobs))
        .route("/projects/{project}/events", get(events))
        .route("/worker/jobs/claim", post(claim))
        .route("/worker/jobs/{job}/complete", post(job_complete))
        .route("/worker/jobs/{job}/fail", post(job_fail))
        .route("/worker/jobs/{job}/heartbeat", post(job_heartbeat))
}

type R<T = Response> = Result<T, ApiError>;

fn storage(state: &AppState) -> R<&Storage> {
    state
        .storage
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("object storage is not configured on this server (set ARGUS_S3_ENDPOINT, or run with --dev)".into()))
}

fn store_err(e: storage::StorageError) -> ApiError {
    tracing::error!(error = %e, "object storage");
    ApiError::Unavailable(format!("object storage failed: {e}; try again"))
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct VideoRow {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub content_type: String,
    #[serde(skip)]
    pub object_key: String,
    /// uploading, processing, ready or failed
    pub status: String,
    pub failure: Option<String>,
    #[serde(skip)]
    pub upload_id: Option<String>,
    pub part_size: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub probe: Option<Value>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const VIDEO_COLUMNS: &str = "id, project_id, name, size_bytes, sha256, content_type, object_key, status, failure, upload_id, part_size, probe, created_by, created_at, updated_at";

async fn video(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>, id: Uuid) -> R<VideoRow> {
    sqlx::query_as::<_, VideoRow>(&format!("select {VIDEO_COLUMNS} from argus.videos where id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("video {id} not found, or you are not a member of its project")))
}

async fn require(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>, project: Uuid, p: Permission) -> R<()> {
    let ok: Option<bool> = sqlx::query_scalar("select argus.has_permission(id, $2) from argus.projects where id = $1")
        .bind(project)
        .bind(p.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    match ok {
        None => Err(ApiError::NotFound(format!("project {project} not found, or you are not a member"))),
        Some(false) => Err(ApiError::Forbidden(format!("your role in this project may not {}; ask a lead", p.as_str()))),
        Some(true) => Ok(()),
    }
}

/// How the client sends the file.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadPlan {
    /// `single` (one PUT) or `multipart`.
    pub kind: String,
    pub part_size: Option<i64>,
    pub part_count: Option<u32>,
    /// For `single`: the PUT to make.
    pub put: Option<Presigned>,
    /// Parts the store already holds (resuming).
    pub parts_done: Vec<Part>,
    pub expires_in_seconds: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadAnswer {
    pub video: VideoRow,
    pub upload: UploadPlan,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewUpload {
    pub name: String,
    pub size_bytes: i64,
    /// Lowercase hex SHA-256 of the whole file.
    pub sha256: String,
    #[serde(default = "default_content_type")]
    pub content_type: String,
}

fn default_content_type() -> String {
    "application/octet-stream".into()
}

fn part_count(size: i64, part: i64) -> u32 {
    u32::try_from((size + part - 1) / part).unwrap_or(u32::MAX)
}

#[utoipa::path(post, path = "/api/v1/projects/{project}/videos", tag = "videos", summary = "Start uploading a video (upload_videos: leads); quotas are checked first",
    security(("bearer" = [])), params(("project" = String, Path)), request_body = NewUpload,
    responses((status = 201, body = UploadAnswer), (status = 403, body = crate::api::ErrorBody), (status = 413, description = "over the team's quota", body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)))]
pub(crate) async fn create(State(state): State<AppState>, caller: Caller, Path(project): Path<String>, JsonBody(b): JsonBody<NewUpload>) -> R {
    let project = uuid(&project, "project id")?;
    let store = storage(&state)?;
    let name = b.name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.contains(['/', '\\', '\0']) {
        return Err(ApiError::Unprocessable("name must be a file name of 1 to 255 characters, without slashes".into()));
    }
    let sha = b.sha256.to_ascii_lowercase();
    argus_core::model::check_sha256(&sha).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    if b.size_bytes <= 0 {
        return Err(ApiError::Unprocessable("size_bytes must be positive".into()));
    }
    if b.content_type.len() > 200 || !b.content_type.contains('/') {
        return Err(ApiError::Unprocessable("content_type must be a MIME type like video/mp4".into()));
    }
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    require(&mut tx, project, Permission::UploadVideos).await?;
    let (team, max_file, quota): (Uuid, Option<i64>, Option<i64>) = sqlx::query_as(
        "select t.id, t.max_file_bytes, t.quota_bytes from argus.projects p join argus.teams t on t.id = p.team_id where p.id = $1",
    )
    .bind(project)
    .fetch_one(&mut *tx)
    .await?;
    if let Some(max) = max_file
        && b.size_bytes > max
    {
        return Err(ApiError::TooLarge(format!("the file is {} bytes; this team's largest allowed file is {max} bytes", b.size_bytes)));
    }
    if let Some(q) = quota {
        let used: i64 = sqlx::query_scalar("select argus.team_usage($1)").bind(team).fetch_one(&mut *tx).await?;
        if used + b.size_bytes > q {
            return Err(ApiError::TooLarge(format!(
                "the team stores {used} of its {q} bytes; this file ({} bytes) does not fit: delete videos or raise the quota",
                b.size_bytes
            )));
        }
    }
    // One video per project and content, with the id every desktop gives
    // it (argus-core's VideoId::for_content), so the uploaded file and the
    // synced video record are the same video.
    let id = *argus_core::id::VideoId::for_content(project.into(), &sha).as_uuid();
    let held: Option<(String, String)> = sqlx::query_as("select status, object_key from argus.videos where id = $1").bind(id).fetch_optional(&mut *tx).await?;
    match held {
        Some((status, _)) if status != "failed" => {
            return Err(ApiError::Conflict(format!("this file is already in the project as video {id} ({status}); use that video, or delete it first")));
        }
        Some((_, old_key)) => {
            // A failed attempt at the same file: start over in its place.
            store.delete_prefix(old_key.trim_end_matches("original")).await.map_err(store_err)?;
            sqlx::query("delete from argus.videos where id = $1").bind(id).execute(&mut *tx).await?;
        }
        None => {}
    }
    let key = format!("{}original", Storage::video_prefix(team, project, id));
    let size = b.size_bytes as u64;
    let (upload_id, part_size) = if size > storage::SINGLE_PUT_MAX {
        let up = store.create_multipart(&key, &b.content_type).await.map_err(store_err)?;
        (Some(up), Some(storage::part_size(size) as i64))
    } else {
        (None, None)
    };
    sqlx::query(
        "insert into argus.videos (id, project_id, name, size_bytes, sha256, content_type, object_key, upload_id, part_size, created_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id)
    .bind(project)
    .bind(name)
    .bind(b.size_bytes)
    .bind(&sha)
    .bind(&b.content_type)
    .bind(&key)
    .bind(&upload_id)
    .bind(part_size)
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("insert into argus.audit_log (team_id, project_id, action, subject_id, details) values ($1, $2, 'video.upload_started', $3, $4)")
        .bind(team)
        .bind(project)
        .bind(id)
        .bind(json!({"name": name, "size_bytes": b.size_bytes}))
        .execute(&mut *tx)
        .await?;
    let v = video(&mut tx, id).await?;
    tx.commit().await?;
    let upload = plan(store, &v, Vec::new());
    Ok((StatusCode::CREATED, Json(UploadAnswer { video: v, upload })).into_response())
}

fn plan(store: &Storage, v: &VideoRow, parts_done: Vec<Part>) -> UploadPlan {
    match (v.upload_id.as_deref(), v.part_size) {
        (Some(_), Some(ps)) => UploadPlan {
            kind: "multipart".into(),
            part_size: Some(ps),
            part_count: Some(part_count(v.size_bytes, ps)),
            put: None,
            parts_done,
            expires_in_seconds: store.ttl.as_secs(),
        },
        _ => UploadPlan {
            kind: "single".into(),
            part_size: None,
            part_count: None,
            put: Some(store.presign_put(&v.object_key, &v.content_type)),
            parts_done,
            expires_in_seconds: store.ttl.as_secs(),
        },
    }
}

#[utoipa::path(get, path = "/api/v1/videos/{video}/upload", tag = "videos", summary = "Resume: the upload's plan and the parts the store already holds",
    security(("bearer" = [])), params(("video" = String, Path)), responses((status = 200, body = UploadAnswer), (status = 409, body = crate::api::ErrorBody)))]
pub(crate) async fn upload_state(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> R<Json<UploadAnswer>> {
    let id = uuid(&id, "video id")?;
    let store = storage(&state)?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let v = video(&mut tx, id).await?;
    require(&mut tx, v.project_id, Permission::UploadVideos).await?;
    tx.commit().await?;
    if v.status != "uploading" {
        return Err(ApiError::Conflict(format!("video {id} is {} already; nothing to upload", v.status)));
    }
    let done = match &v.upload_id {
        Some(up) => store.list_parts(&v.object_key, up).await.map_err(store_err)?,
        None => Vec::new(),
    };
    Ok(Json(UploadAnswer { upload: plan(store, &v, done), video: v }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PartNumbers {
    /// 1-based part numbers, at most 1000 per call.
    pub numbers: Vec<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartUrl {
    pub number: u32,
    #[serde(flatten)]
    pub request: Presigned,
}

#[utoipa::path(post, path = "/api/v1/videos/{video}/upload/parts", tag = "videos", summary = "Presigned PUT URLs for parts of a multipart upload",
    security(("bearer" = [])), params(("video" = String, Path)), request_body = PartNumbers, responses((status = 200, body = Vec<PartUrl>)))]
pub(crate) async fn part_urls(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, JsonBody(b): JsonBody<PartNumbers>) -> R<Json<Vec<PartUrl>>> {
    let id = uuid(&id, "video id")?;
    let store = storage(&state)?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let v = video(&mut tx, id).await?;
    require(&mut tx, v.project_id, Permission::UploadVideos).await?;
    tx.commit().await?;
    let (Some(up), Some(ps)) = (v.upload_id.as_deref(), v.part_size) else {
        return Err(ApiError::Conflict("this upload is a single PUT, not multipart".into()));
    };
    if v.status != "uploading" {
        return Err(ApiError::Conflict(format!("video {id} is {} already", v.status)));
    }
    let count = part_count(v.size_bytes, ps);
    if b.numbers.len() > 1000 {
        return Err(ApiError::Unprocessable("ask for at most 1000 parts at a time".into()));
    }
    b.numbers
        .iter()
        .map(|&n| {
            if n == 0 || n > count {
                return Err(ApiError::Unprocessable(format!("part {n} does not exist: this upload has parts 1 to {count}")));
            }
            Ok(PartUrl { number: n, request: store.presign_part(&v.object_key, up, n as u16) })
        })
        .collect::<R<Vec<_>>>()
        .map(Json)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CompleteBody {
    /// The ETags the client got for each part (checked against the store's).
    #[serde(default)]
    pub parts: Vec<ClientPart>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ClientPart {
    pub number: u32,
    pub etag: String,
}

#[utoipa::path(post, path = "/api/v1/videos/{video}/upload/complete", tag = "videos", summary = "The file is uploaded: the server checks its size and queues processing",
    security(("bearer" = [])), params(("video" = String, Path)), request_body = CompleteBody, responses((status = 200, body = VideoRow), (status = 409, body = crate::api::ErrorBody)))]
pub(crate) async fn complete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, body: Option<Json<CompleteBody>>) -> R<Json<VideoRow>> {
    let id = uuid(&id, "video id")?;
    let store = storage(&state)?;
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let v = video(&mut tx, id).await?;
    require(&mut tx, v.project_id, Permission::UploadVideos).await?;
    tx.commit().await?;
    if v.status != "uploading" {
        return Err(ApiError::Conflict(format!("video {id} is {} already", v.status)));
    }
    if let (Some(up), Some(ps)) = (v.upload_id.as_deref(), v.part_size) {
        let count = part_count(v.size_bytes, ps);
        let parts = store.list_parts(&v.object_key, up).await.map_err(store_err)?;
        let missing: Vec<u32> = (1..=count).filter(|n| !parts.iter().any(|p| p.number as u32 == *n)).collect();
        if !missing.is_empty() {
            return Err(ApiError::Conflict(format!("parts {missing:?} are not uploaded yet; GET the upload to see what the store holds")));
        }
        for cp in &b.parts {
            let held = parts.iter().find(|p| p.number as u32 == cp.number);
            if held.is_none_or(|p| p.etag != cp.etag.trim_matches('"')) {
                return Err(ApiError::Conflict(format!("part {} in the store is not the one you sent (ETag differs); send it again", cp.number)));
            }
        }
        let etags: Vec<String> = parts.iter().filter(|p| p.number as u32 <= count).map(|p| p.etag.clone()).collect();
        store.complete_multipart(&v.object_key, up, &etags).await.map_err(store_err)?;
    }
    let size = store.head(&v.object_key).await.map_err(store_err)?;
    match size {
        None => {
            return Err(ApiError::Conflict("the store has no file for this upload yet; send it first".into()));
        }
        Some(n) if n as i64 != v.size_bytes => {
            let mut tx = begin_as(&state.pool, &caller.claims).await?;
            sqlx::query("update argus.videos set status = 'failed', failure = $2, updated_at = now() where id = $1")
                .bind(id)
                .bind(format!("the uploaded file is {n} bytes, but {} were announced", v.size_bytes))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Err(ApiError::Conflict(format!("the uploaded file is {n} bytes, but {} were announced; upload it again", v.size_bytes)));
        }
        Some(_) => {}
    }
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    sqlx::query("update argus.videos set status = 'processing', upload_id = null, updated_at = now() where id = $1 and status = 'uploading'")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("insert into argus.jobs (kind, video_id) values ('process_video', $1)").bind(id).execute(&mut *tx).await?;
    let v = video(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(v))
}

async fn remove(state: &AppState, caller: &Caller, id: Uuid, only_uploading: bool) -> R {
    let store = storage(state)?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let v = video(&mut tx, id).await?;
    require(&mut tx, v.project_id, Permission::UploadVideos).await?;
    if only_uploading && v.status != "uploading" {
        return Err(ApiError::Conflict(format!("video {id} is {}; delete the video instead", v.status)));
    }
    if let Some(up) = &v.upload_id {
        store.abort_multipart(&v.object_key, up).await.map_err(store_err)?;
    }
    let prefix = v.object_key.trim_end_matches("original").to_owned();
    store.delete_prefix(&prefix).await.map_err(store_err)?;
    sqlx::query("delete from argus.videos where id = $1").bind(id).execute(&mut *tx).await?;
    sqlx::query("insert into argus.audit_log (project_id, action, subject_id, details) values ($1, 'video.deleted', $2, $3)")
        .bind(v.project_id)
        .bind(id)
        .bind(json!({"name": v.name}))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(delete, path = "/api/v1/videos/{video}/upload", tag = "videos", summary = "Abort an upload: its parts and record are removed",
    security(("bearer" = [])), params(("video" = String, Path)), responses((status = 204, description = "aborted")))]
pub(crate) async fn abort(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> R {
    remove(&state, &caller, uuid(&id, "video id")?, true).await
}

#[utoipa::path(delete, path = "/api/v1/videos/{video}", tag = "videos", summary = "Delete a video and all its objects (upload_videos)",
    security(("bearer" = [])), params(("video" = String, Path)), responses((status = 204, description = "deleted")))]
pub(crate) async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> R {
    remove(&state, &caller, uuid(&id, "video id")?, false).await
}

#[utoipa::path(get, path = "/api/v1/projects/{project}/videos", tag = "videos", summary = "The project's videos with their upload and processing state",
    security(("bearer" = [])), params(("project" = String, Path)), responses((status = 200, body = Vec<VideoRow>)))]
pub(crate) async fn list(State(state): State<AppState>, caller: Caller, Path(project): Path<String>) -> R<Json<Vec<VideoRow>>> {
    let project = uuid(&project, "project id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    require(&mut tx, project, Permission::ViewProject).await?;
    let rows = sqlx::query_as(&format!("select {VIDEO_COLUMNS} from argus.videos where project_id = $1 order by created_at, id"))
        .bind(project)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Json(rows))
}

#[utoipa::path(get, path = "/api/v1/videos/{video}", tag = "videos", summary = "One video",
    security(("bearer" = [])), params(("video" = String, Path)), responses((status = 200, body = VideoRow)))]
pub(crate) async fn get_one(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> R<Json<VideoRow>> {
    let id = uuid(&id, "video id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let v = video(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(v))
}

#[utoipa::path(get, path = "/api/v1/videos/{video}/download", tag = "videos", summary = "A presigned GET of the file (Range allowed), for any member",
    security(("bearer" = [])), params(("video" = String, Path)), responses((status = 200, body = Presigned)))]
pub(crate) async fn download(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> R<Json<Presigned>> {
    let id = uuid(&id, "video id")?;
    let store = storage(&state)?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let v = video(&mut tx, id).await?;
    tx.commit().await?;
    if v.status == "uploading" {
        return Err(ApiError::Conflict("the video is still uploading".into()));
    }
    Ok(Json(store.presign_get(&v.object_key, Some(&v.name))))
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub video_id: Option<Uuid>,
    /// queued, running, done, failed or dead
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub visible_at: DateTime<Utc>,
    pub last_error: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const JOB_COLUMNS: &str = "id, kind, video_id, state, attempts, max_attempts, visible_at, last_error, result, created_at, updated_at";

#[utoipa::path(get, path = "/api/v1/videos/{video}/jobs", tag = "videos", summary = "The video's processing jobs",
    security(("bearer" = [])), params(("video" = String, Path)), responses((status = 200, body = Vec<JobRow>)))]
pub(crate) async fn jobs(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> R<Json<Vec<JobRow>>> {
    let id = uuid(&id, "video id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    video(&mut tx, id).await?;
    let rows = sqlx::query_as(&format!("select {JOB_COLUMNS} from argus.jobs where video_id = $1 order by id")).bind(id).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(Json(rows))
}

// ------------------------------------------------------------------ the worker's side

/// A worker: the request carries a service-role key. Checked before the
/// body is read.
#[derive(Debug)]
pub struct Worker;

impl axum::extract::FromRequestParts<AppState> for Worker {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Bearer(t) = Bearer::from_request_parts(parts, state).await.unwrap_or(Bearer(None));
        let t = t.ok_or(ApiError::Unauthorized)?;
        let (claims, source) = state.keys.verify(&t).map_err(|e| ApiError::InvalidToken(format!("invalid JWT: {e}")))?;
        if source != crate::auth::jwt::Source::Local || claims.get("role").and_then(Value::as_str) != Some("service_role") {
            return Err(ApiError::Forbidden("the worker endpoints need a service_role key".into()));
        }
        Ok(Worker)
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ClaimBody {
    /// A name for the worker (host and pid), recorded on the job.
    pub worker: String,
    /// How long the job stays hidden from other workers without a heartbeat.
    #[serde(default = "default_lease")]
    pub lease_seconds: u32,
}

fn default_lease() -> u32 {
    300
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClaimedJob {
    pub job: JobRow,
    pub video: VideoRow,
    /// A presigned GET of the uploaded file.
    pub source: Presigned,
    /// Presigned PUTs for the results (`poster` JPEG, `strip` JPEG).
    pub outputs: std::collections::BTreeMap<String, Presigned>,
}

#[utoipa::path(post, path = "/api/v1/worker/jobs/claim", tag = "worker", summary = "Take the next job (FOR UPDATE SKIP LOCKED); 204 when none is ready",
    security(("bearer" = [])), request_body = ClaimBody, responses((status = 200, body = ClaimedJob), (status = 204, description = "no job is ready")))]
pub(crate) async fn claim(State(state): State<AppState>, _w: Worker, JsonBody(b): JsonBody<ClaimBody>) -> R {
    let store = storage(&state)?;
    let mut tx = begin_as_service(&state.pool).await?;
    // Jobs whose lease ran out on their last attempt are dead: their video fails.
    let dead: Vec<(Option<Uuid>, Option<String>)> = sqlx::query_as(
        "update argus.jobs set state = 'dead', updated_at = now() where state = 'running' and visible_at <= now() and attempts >= max_attempts
         returning video_id, last_error",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (vid, err) in dead {
        sqlx::query("update argus.videos set status = 'failed', failure = $2, updated_at = now() where id = $1 and status = 'processing'")
            .bind(vid)
            .bind(format!("processing did not finish after every retry: {}", err.unwrap_or_else(|| "the worker stopped answering".into())))
            .execute(&mut *tx)
            .await?;
    }
    let job: Option<JobRow> = sqlx::query_as(&format!(
        "update argus.jobs set state = 'running', attempts = attempts + 1, locked_by = $1,
             visible_at = now() + make_interval(secs => $2), updated_at = now()
         where id = (select id from argus.jobs where state in ('queued', 'running') and visible_at <= now() and attempts < max_attempts
                     order by visible_at, id for update skip locked limit 1)
         returning {JOB_COLUMNS}"
    ))
    .bind(b.worker.chars().take(200).collect::<String>())
    .bind(b.lease_seconds.clamp(10, 3600) as f64)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(job) = job else {
        tx.commit().await?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let vid = job.video_id.ok_or_else(|| ApiError::Internal("a job without a video".into()))?;
    let v = video(&mut tx, vid).await?;
    tx.commit().await?;
    let prefix = v.object_key.trim_end_matches("original").to_owned();
    let outputs = [("poster", "poster.png"), ("strip", "strip.png")]
        .into_iter()
        .map(|(k, f)| (k.to_owned(), store.presign_put(&format!("{prefix}{f}"), "image/png")))
        .collect();
    Ok(Json(ClaimedJob { source: store.presign_get(&v.object_key, None), job, video: v, outputs }).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WorkerBody {
    pub worker: String,
    /// complete: what the probe found.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub probe: Option<Value>,
    /// fail: why.
    #[serde(default)]
    pub reason: Option<String>,
    /// fail: whether another attempt may succeed (false for a corrupt file).
    #[serde(default)]
    pub retry: bool,
}

/// Locks the job if `worker` still holds it.
async fn held(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>, job: i64, worker: &str) -> R<JobRow> {
    let j: Option<JobRow> = sqlx::query_as(&format!("select {JOB_COLUMNS} from argus.jobs where id = $1 and state = 'running' and locked_by = $2 for update"))
        .bind(job)
        .bind(worker)
        .fetch_optional(&mut **tx)
        .await?;
    j.ok_or_else(|| ApiError::Conflict(format!("job {job} is not held by {worker} (its lease ran out and another worker may have it)")))
}

#[utoipa::path(post, path = "/api/v1/worker/jobs/{job}/complete", tag = "worker", summary = "The job succeeded: the video is ready",
    security(("bearer" = [])), params(("job" = i64, Path)), request_body = WorkerBody, responses((status = 200, body = JobRow), (status = 409, body = crate::api::ErrorBody)))]
pub(crate) async fn job_complete(State(state): State<AppState>, _w: Worker, Path(job): Path<i64>, JsonBody(b): JsonBody<WorkerBody>) -> R<Json<JobRow>> {
    let mut tx = begin_as_service(&state.pool).await?;
    let j = held(&mut tx, job, &b.worker).await?;
    let probe = b.probe.unwrap_or(json!({}));
    let row: JobRow = sqlx::query_as(&format!(
        "update argus.jobs set state = 'done', result = $2, locked_by = null, updated_at = now() where id = $1 returning {JOB_COLUMNS}"
    ))
    .bind(job)
    .bind(&probe)
    .fetch_one(&mut *tx)
    .await?;
    if let Some(vid) = j.video_id {
        let prefix: String = sqlx::query_scalar("select replace(object_key, 'original', '') from argus.videos where id = $1").bind(vid).fetch_one(&mut *tx).await?;
        sqlx::query(
            "update argus.videos set status = 'ready', failure = null, probe = $2, poster_key = $3, strip_key = $4, updated_at = now() where id = $1",
        )
        .bind(vid)
        .bind(&probe)
        .bind(format!("{prefix}poster.png"))
        .bind(format!("{prefix}strip.png"))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Json(row))
}

#[utoipa::path(post, path = "/api/v1/worker/jobs/{job}/fail", tag = "worker", summary = "The attempt failed: retried with backoff, or the video fails",
    security(("bearer" = [])), params(("job" = i64, Path)), request_body = WorkerBody, responses((status = 200, body = JobRow)))]
pub(crate) async fn job_fail(State(state): State<AppState>, _w: Worker, Path(job): Path<i64>, JsonBody(b): JsonBody<WorkerBody>) -> R<Json<JobRow>> {
    let reason = b.reason.clone().unwrap_or_else(|| "the worker gave no reason".into()).chars().take(2000).collect::<String>();
    let mut tx = begin_as_service(&state.pool).await?;
    let j = held(&mut tx, job, &b.worker).await?;
    let again = b.retry && j.attempts < j.max_attempts;
    // backoff: 2^attempts seconds, at most 10 minutes
    let backoff = 2f64.powi(j.attempts.min(10)).min(600.0);
    let row: JobRow = sqlx::query_as(&format!(
        "update argus.jobs set state = $2, last_error = $3, locked_by = null, visible_at = now() + make_interval(secs => $4), updated_at = now()
         where id = $1 returning {JOB_COLUMNS}"
    ))
    .bind(job)
    .bind(if again { "queued" } else if b.retry { "dead" } else { "failed" })
    .bind(&reason)
    .bind(backoff)
    .fetch_one(&mut *tx)
    .await?;
    if !again && let Some(vid) = j.video_id {
        sqlx::query("update argus.videos set status = 'failed', failure = $2, updated_at = now() where id = $1")
            .bind(vid)
            .bind(&reason)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Json(row))
}

#[utoipa::path(post, path = "/api/v1/worker/jobs/{job}/heartbeat", tag = "worker", summary = "Extend the job's lease",
    security(("bearer" = [])), params(("job" = i64, Path)), request_body = ClaimBody, responses((status = 200, body = JobRow)))]
pub(crate) async fn job_heartbeat(State(state): State<AppState>, _w: Worker, Path(job): Path<i64>, JsonBody(b): JsonBody<ClaimBody>) -> R<Json<JobRow>> {
    let mut tx = begin_as_service(&state.pool).await?;
    held(&mut tx, job, &b.worker).await?;
    let row: JobRow = sqlx::query_as(&format!(
        "update argus.jobs set visible_at = now() + make_interval(secs => $2), updated_at = now() where id = $1 returning {JOB_COLUMNS}"
    ))
    .bind(job)
    .bind(b.lease_seconds.clamp(10, 3600) as f64)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(row))
}

// ------------------------------------------------------------------ events

/// How often the event stream looks for changes.
const EVENT_POLL: std::time::Duration = std::time::Duration::from_millis(500);

#[utoipa::path(get, path = "/api/v1/projects/{project}/events", tag = "videos",
    summary = "Server-sent events: a `video` event (the video's row, with its upload and processing state) whenever a video of the project changes, starting with every video as it is",
    security(("bearer" = [])), params(("project" = String, Path)), responses((status = 200, description = "text/event-stream")))]
pub(crate) async fn events(State(state): State<AppState>, caller: Caller, Path(project): Path<String>) -> R {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let project = uuid(&project, "project id")?;
    {
        let mut tx = begin_as(&state.pool, &caller.claims).await?;
        require(&mut tx, project, Permission::ViewProject).await?;
        tx.commit().await?;
    }
    // (video id -> updated_at) already sent
    let seen: std::collections::HashMap<Uuid, DateTime<Utc>> = std::collections::HashMap::new();
    let stream = futures_util::stream::unfold((state, caller, seen, true, false), move |(state, caller, mut seen, first, done)| async move {
        if done {
            return None;
        }
        loop {
            if !first {
                tokio::time::sleep(EVENT_POLL).await;
            }
            if state.closing() {
                return None;
            }
            let rows: Result<Vec<VideoRow>, ApiError> = async {
                let mut tx = begin_as(&state.pool, &caller.claims).await?;
                let rows = sqlx::query_as(&format!("select {VIDEO_COLUMNS} from argus.videos where project_id = $1 order by updated_at, id"))
                    .bind(project)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(rows)
            }
            .await;
            let rows = match rows {
                Ok(r) => r,
                Err(e) => {
                    // The caller lost access, or the database is away: say so and end.
                    let ev = Event::default().event("error").data(e.to_string());
                    return Some((vec![ev], (state, caller, seen, false, true)));
                }
            };
            let mut out = Vec::new();
            let ids: std::collections::HashSet<Uuid> = rows.iter().map(|v| v.id).collect();
            for v in rows {
                if seen.get(&v.id) != Some(&v.updated_at) {
                    seen.insert(v.id, v.updated_at);
                    if let Ok(ev) = Event::default().event("video").id(v.id.to_string()).json_data(&v) {
                        out.push(ev);
                    }
                }
            }
            let gone: Vec<Uuid> = seen.keys().filter(|k| !ids.contains(k)).copied().collect();
            for id in gone {
                seen.remove(&id);
                out.push(Event::default().event("video_deleted").id(id.to_string()).data(id.to_string()));
            }
            if !out.is_empty() || first {
                return Some((out, (state, caller, seen, false, false)));
            }
        }
    });
    use futures_util::StreamExt;
    let flat = stream.flat_map(|evs| futures_util::stream::iter(evs.into_iter().map(Ok::<_, std::convert::Infallible>)));
    Ok(Sse::new(flat).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15))).into_response())
}
