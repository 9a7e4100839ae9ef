//! `/api/v1`: teams, projects, members, invitations and the audit log.
//!
//! Every handler runs its queries in a transaction as `authenticated` with the
//! caller's claims (`db::begin_as`), so PostgreSQL's row-level security decides
//! what exists for the caller: a project of another team is simply not found,
//! even by a query that forgot its WHERE clause. The handlers also check the
//! caller's role against argus-core's matrix first, to answer with a clear 403
//! rather than a silent no-op.

use argus_core::{
    id::{LabelSchemaId, ProjectId},
    model::{Label, LabelSchema, Permission, Role, TeamRole},
};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::{
    auth::mailer::Mail,
    db::begin_as,
    error::ApiError,
    state::{AppState, Caller},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/teams", get(list_teams).post(create_team))
        .route("/teams/{team}", get(get_team).patch(update_team).delete(delete_team))
        .route("/teams/{team}/members", get(team_members))
        .route("/teams/{team}/members/{user}", put(set_team_member).delete(remove_team_member))
        .route("/teams/{team}/projects", get(team_projects).post(create_project))
        .route("/teams/{team}/invitations", get(team_invitations).post(invite_to_team))
        .route("/teams/{team}/audit", get(team_audit))
        .route("/projects", get(list_projects))
        .route("/projects/{project}", get(get_project).patch(update_project).delete(delete_project))
        .route("/projects/{project}/members", get(project_members))
        .route("/projects/{project}/members/{user}", put(set_project_member).delete(remove_project_member))
        .route("/projects/{project}/invitations", get(project_invitations).post(invite_to_project))
        .route("/invitations", get(my_invitations))
        .route("/invitations/{id}", axum::routing::delete(revoke_invitation))
        .route("/invitations/{id}/accept", post(accept_invitation))
}

type R<T = Response> = Result<T, ApiError>;
type Tx = Transaction<'static, Postgres>;

pub(crate) fn uuid(s: &str, what: &str) -> R<Uuid> {
    Uuid::parse_str(s).map_err(|_| ApiError::BadRequest(format!("{what} must be a UUID, got {s:?}")))
}

/// A JSON body whose errors are `ApiError`s.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::BadRequest("could not read the request body".into()))?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| ApiError::Unprocessable(format!("the JSON body is not valid: {e}")))
    }
}

// ------------------------------------------------------------------ rows

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TeamRow {
    pub id: Uuid,
    pub name: String,
    pub max_file_bytes: Option<i64>,
    pub quota_bytes: Option<i64>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The caller's role in the team.
    pub role: Option<String>,
}

const TEAM_COLUMNS: &str = "id, name, max_file_bytes, quota_bytes, created_by, created_at, updated_at, argus.team_role(id) as role";

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ProjectRow {
    pub id: Uuid,
    pub team_id: Uuid,
    pub name: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub label_schema: Value,
    #[schema(value_type = Object)]
    pub settings: Value,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The caller's effective role in the project.
    pub role: Option<String>,
}

/// The project list's columns, over [`PROJECT_FROM`]: the caller's role
/// comes from one join with their ranks, not a function call per row.
pub const PROJECT_COLUMNS: &str = "p.id, p.team_id, p.name, p.description, p.label_schema, p.settings, p.created_by, p.created_at, p.updated_at, \
    case r.rank when 1 then 'annotator' when 2 then 'reviewer' when 3 then 'lead' end as role";
pub const PROJECT_FROM: &str = "argus.projects p left join argus.my_project_ranks() r on r.project_id = p.id";

/// `GET /api/v1/projects`'s query (the server benchmark runs it in pgbench).
pub fn list_projects_sql() -> String {
    format!("select {PROJECT_COLUMNS} from {PROJECT_FROM} order by p.updated_at desc, p.id")
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct MemberRow {
    user_id: Uuid,
    role: String,
    display_name: String,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct InvitationRow {
    id: Uuid,
    team_id: Uuid,
    project_id: Option<Uuid>,
    email: String,
    role: String,
    invited_by: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
}

// ------------------------------------------------------------------ role checks

/// The caller's role in a project: `NotFound` when the project is not
/// visible to them (RLS), else their role.
async fn project_role(tx: &mut Tx, project: Uuid) -> R<Role> {
    let rank: Option<i32> = sqlx::query_scalar("select argus.project_rank(id) from argus.projects where id = $1")
        .bind(project)
        .fetch_optional(&mut **tx)
        .await?;
    match rank {
        Some(3) => Ok(Role::Lead),
        Some(2) => Ok(Role::Reviewer),
        Some(1) => Ok(Role::Annotator),
        _ => Err(ApiError::NotFound(format!("project {project} not found, or you are not a member"))),
    }
}

async fn require(tx: &mut Tx, project: Uuid, p: Permission) -> R<Role> {
    let role = project_role(tx, project).await?;
    role.require(p).map_err(|e| ApiError::Forbidden(format!("{e}: ask a lead of this project")))?;
    Ok(role)
}

async fn team_role(tx: &mut Tx, team: Uuid) -> R<TeamRole> {
    let r: Option<String> = sqlx::query_scalar("select argus.team_role($1)").bind(team).fetch_one(&mut **tx).await?;
    r.and_then(|r| r.parse().ok()).ok_or_else(|| ApiError::NotFound(format!("team {team} not found, or you are not a member")))
}

async fn require_owner(tx: &mut Tx, team: Uuid) -> R<()> {
    match team_role(tx, team).await? {
        TeamRole::Owner => Ok(()),
        TeamRole::Member => Err(ApiError::Forbidden("only the team's owners may do that".into())),
    }
}

async fn audit(tx: &mut Tx, team: Option<Uuid>, project: Option<Uuid>, action: &str, subject: Option<Uuid>, details: Value) -> R<()> {
    sqlx::query("insert into argus.audit_log (team_id, project_id, action, subject_id, details) values ($1, $2, $3, $4, $5)")
        .bind(team)
        .bind(project)
        .bind(action)
        .bind(subject)
        .bind(details)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Looks up a user by e-mail address (the auth tables are outside RLS; only
/// called after the caller's right to manage members was checked).
async fn user_by_email(state: &AppState, email: &str) -> R<Option<Uuid>> {
    Ok(sqlx::query_scalar("select id from argus_auth.users where lower(email) = lower($1)").bind(email).fetch_optional(&state.pool).await?)
}

async fn emails_of(state: &AppState, ids: &[Uuid]) -> R<std::collections::HashMap<Uuid, String>> {
    let rows: Vec<(Uuid, Option<String>)> =
        sqlx::query_as("select id, email from argus_auth.users where id = any($1)").bind(ids).fetch_all(&state.pool).await?;
    Ok(rows.into_iter().map(|(id, e)| (id, e.unwrap_or_default())).collect())
}

// ------------------------------------------------------------------ me

#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "api",
    summary = "The signed-in user and their teams",
    security(("bearer" = [])),
    responses((status = 200, description = "ok", body = Object), Errors)
)]
async fn me(State(state): State<AppState>, caller: Caller) -> R<Json<Value>> {
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let teams: Vec<TeamRow> = sqlx::query_as(&format!("select {TEAM_COLUMNS} from argus.teams order by name")).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(Json(json!({"user_id": caller.user_id, "email": caller.claims.get("email"), "teams": teams})))
}

// ------------------------------------------------------------------ teams

#[utoipa::path(
    get,
    path = "/api/v1/teams",
    tag = "api",
    summary = "Teams the caller belongs to",
    security(("bearer" = [])),
    responses((status = 200, description = "ok", body = Vec<TeamRow>), Errors)
)]
async fn list_teams(State(state): State<AppState>, caller: Caller) -> R<Json<Vec<TeamRow>>> {
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let teams = sqlx::query_as(&format!("select {TEAM_COLUMNS} from argus.teams order by name, id")).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(Json(teams))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TeamBody {
    name: Option<String>,
    max_file_bytes: Option<i64>,
    quota_bytes: Option<i64>,
}

#[utoipa::path(
    post,
    path = "/api/v1/teams",
    tag = "api",
    summary = "Create a team; the caller becomes its owner",
    security(("bearer" = [])),
    request_body = TeamBody,
    responses((status = 201, description = "ok", body = TeamRow), Errors)
)]
async fn create_team(State(state): State<AppState>, caller: Caller, JsonBody(b): JsonBody<TeamBody>) -> R {
    let team = argus_core::model::Team::new(b.name.as_deref().unwrap_or(""), argus_core::model::Timestamp(0))
        .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let id: Uuid = team.id.into();
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    sqlx::query("insert into argus.teams (id, name, max_file_bytes, quota_bytes, created_by) values ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(&team.name)
        .bind(b.max_file_bytes)
        .bind(b.quota_bytes)
        .bind(caller.user_id)
        .execute(&mut *tx)
        .await?;
    audit(&mut tx, Some(id), None, "team.created", Some(id), json!({"name": team.name})).await?;
    let row: TeamRow = sqlx::query_as(&format!("select {TEAM_COLUMNS} from argus.teams where id = $1")).bind(id).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/teams/{team}",
    tag = "api",
    summary = "One team",
    security(("bearer" = [])),
    params(("team" = String, Path, description = "team id")),
    responses((status = 200, description = "ok", body = TeamRow), Errors)
)]
async fn get_team(State(state): State<AppState>, caller: Caller, Path(team): Path<String>) -> R<Json<TeamRow>> {
    let team = uuid(&team, "team id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let row: Option<TeamRow> = sqlx::query_as(&format!("select {TEAM_COLUMNS} from argus.teams where id = $1")).bind(team).fetch_optional(&mut *tx).await?;
    tx.commit().await?;
    row.map(Json).ok_or_else(|| ApiError::NotFound(format!("team {team} not found, or you are not a member")))
}

#[utoipa::path(
    patch,
    path = "/api/v1/teams/{team}",
    tag = "api",
    summary = "Rename a team or change its quotas (owners)",
    security(("bearer" = [])),
    params(("team" = String, Path, description = "team id")),
    request_body = TeamBody,
    responses((status = 200, description = "ok", body = TeamRow), Errors)
)]
async fn update_team(State(state): State<AppState>, caller: Caller, Path(team): Path<String>, JsonBody(b): JsonBody<TeamBody>) -> R<Json<TeamRow>> {
    let team = uuid(&team, "team id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    require_owner(&mut tx, team).await?;
    if let Some(n) = &b.name {
        argus_core::model::Team::new(n, argus_core::model::Timestamp(0)).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    }
    sqlx::query(
        "update argus.teams set name = coalesce(btrim($2), name), max_file_bytes = coalesce($3, max_file_bytes),
         quota_bytes = coalesce($4, quota_bytes), updated_at = now() where id = $1",
    )
    .bind(team)
    .bind(&b.name)
    .bind(b.max_file_bytes)
    .bind(b.quota_bytes)
    .execute(&mut *tx)
    .await?;
    audit(&mut tx, Some(team), None, "team.updated", Some(team), json!({"name": b.name, "max_file_bytes": b.max_file_bytes, "quota_bytes": b.quota_bytes})).await?;
    let row: TeamRow = sqlx::query_as(&format!("select {TEAM_COLUMNS} from argus.teams where id = $1")).bind(team).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(Json(row))
}

#[utoipa::path(
    delete,
    path = "/api/v1/teams/{team}",
    tag = "api",
    summary = "Delete a team and its projects (owners)",
    security(("bearer" = [])),
    params(("team" = String, Path, description = "team id")),
    responses((status = 204, description = "done"), Errors)
)]
async fn delete_team(State(state): State<AppState>, caller: Caller, Path(team): Path<String>) -> R {
    let team = uuid(&team, "team id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    require_owner(&mut tx, team).await?;
    audit(&mut tx, None, None, "team.deleted", Some(team), json!({})).await?;
    sqlx::query("delete from argus.teams where id = $1").bind(team).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/teams/{team}/members",
    tag = "api",
    summary = "Members of a team",
    security(("bearer" = [])),
    params(("team" = String, Path, description = "team id")),
    responses((status = 200, description = "ok", body = Object), Errors)
)]
async fn team_members(State(state): State<AppState>, caller: Caller, Path(team): Path<String>) -> R<Json<Vec<Value>>> {
    let team = uuid(&team, "team id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    team_role(&mut tx, team).await?;
    let rows: Vec<(Uuid, String, DateTime<Utc>)> =
        sqlx::query_as("select user_id, role, created_at from argus.team_members where team_id = $1 order by created_at")
            .bind(team)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    let emails = emails_of(&state, &rows.iter().map(|r| r.0).collect::<Vec<_>>()).await?;
    Ok(Json(rows.into_iter().map(|(u, r, c)| json!({"user_id": u, "role": r, "created_at": c, "email": emails.get(&u)})).collect()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RoleBody {
    role: String,
    #[serde(default)]
    display_name: Option<String>,
}

#[utoipa::path(
    put,
    path = "/api/v1/teams/{team}/members/{user}",
    tag = "api",
    summary = "Add a member or change their team role (owners)",
    security(("bearer" = [])),
    params(("team" = String, Path, description = "team id"), ("user" = String, Path, description = "user id")),
    request_body = RoleBody,
    responses((status = 200, description = "ok", body = Object), Errors)
)]
async fn set_team_member(State(state): State<AppState>, caller: Caller, Path((team, user)): Path<(String, String)>, JsonBody(b): JsonBody<RoleBody>) -> R<Json<Value>> {
    let (team, user) = (uuid(&team, "team id")?, uuid(&user, "user id")?);
    let role: TeamRole = b.role.parse().map_err(ApiError::Unprocessable)?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    require_owner(&mut tx, team).await?;
    if user == caller.user_id && role != TeamRole::Owner {
        last_owner_check(&mut tx, team, user).await?;
    }
    sqlx::query(
        "insert into argus.team_members (team_id, user_id, role) values ($1, $2, $3)
         on conflict (team_id, user_id) do update set role = excluded.role",
    )
    .bind(team)
    .bind(user)
    .bind(role.as_str())
    .execute(&mut *tx)
    .await?;
    audit(&mut tx, Some(team), None, "team.member_set", Some(user), json!({"role": role})).await?;
    tx.commit().await?;
    Ok(Json(json!({"team_id": team, "user_id": user, "role": role})))
}

/// A team keeps at least one owner.
async fn last_owner_check(tx: &mut Tx, team: Uuid, leaving: Uuid) -> R<()> {
    let others: i64 = sqlx::query_scalar("select count(*) from argus.team_members where team_id = $1 and role = 'owner' and user_id <> $2")
        .bind(team)
        .bind(leaving)
        .fetch_one(&mut **tx)
        .await?;
    if others == 0 {
        return Err(ApiError::Conflict("a team needs at least one owner: make someone else an owner first".into()));
    }
    Ok(())
}

#[utoipa::path(
    delete,
    path = "/api/v1/teams/{team}/members/{user}",
    tag = "api",
    summary = "Remove a member (owners), or leave",
    security(("bearer" = [])),
    params(("team" = String, Path, description = "team id"), ("user" = String, Path, description = "user id")),
    responses((status = 204, description = "done"), Errors)
)]
async fn remove_team_member(State(state): State<AppState>, caller: Caller, Path((team, user)): Path<(String, String)>) -> R {
    let (team, user) = (uuid(&team, "team id")?, uuid(&user, "user id")?);
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let my = team_role(&mut tx, team).await?;
    if user != caller.user_id && my != TeamRole::Owner {
        return Err(ApiError::Forbidden("only the team's owners may remove other members".into()));
    }
    let their: Option<String> = sqlx::query_scalar("select role from argus.team_members where team_id = $1 and user_id = $2")
        .bind(team)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
    if their.as_deref() == Some("owner") {
        last_owner_check(&mut tx, team, user).await?;
    }
    // Leaving a team also leaves its projects.
    sqlx::query("delete from argus.project_members where user_id = $2 and project_id in (select id from argus.projects where team_id = $1)")
        .bind(team)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    audit(&mut tx, Some(team), None, "team.member_removed", Some(user), json!({})).await?;
    let n = sqlx::query("delete from argus.team_members where team_id = $1 and user_id = $2").bind(team).bind(user).execute(&mut *tx).await?;
    if n.rows_affected() == 0 {
        return Err(ApiError::NotFound("that user is not a member of the team".into()));
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ------------------------------------------------------------------ projects

#[utoipa::path(
    get,
    path = "/api/v1/projects",
    tag = "api",
    summary = "Projects the caller may see, with their role",
    security(("bearer" = [])),
    responses((status = 200, description = "ok", body = Vec<ProjectRow>), Errors)
)]
async fn list_projects(State(state): State<AppState>, caller: Caller) -> R<Json<Vec<ProjectRow>>> {
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let rows = sqlx::query_as(&list_projects_sql()).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(Json(rows))
}

#[utoipa::path(
    get,
    path = "/api/v1/teams/{team}/projects",
    tag = "api",
    summary = "Projects of one team",
    security(("bearer" = [])),
    params(("team" = String, Path, description = "team id")),
    responses((status = 200, description = "ok", body = Vec<ProjectRow>), Errors)
)]
async fn team_projects(State(state): State<AppState>, caller: Caller, Path(team): Path<String>) -> R<Json<Vec<ProjectRow>>> {
    let team = uuid(&team, "team id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    team_role(&mut tx, team).await?;
    let rows = sqlx::query_as(&format!("select {PROJECT_COLUMNS} from {PROJECT_FROM} where p.team_id = $1 order by p.name, p.id"))
        .bind(team)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ProjectBody {
    /// On create: keep this id (a desktop pushing a project it made
    /// offline); a new one when absent.
    id: Option<Uuid>,
    name: Option<String>,
    description: Option<String>,
    /// `{"labels": [...]}` in argus-core's `Label` shape.
    label_schema: Option<SchemaBody>,
    #[schema(value_type = Option<Object>)]
    settings: Option<Value>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SchemaBody {
    /// argus-core `Label`s: id, name, colour (#rrggbb), kinds, attributes.
    #[schema(value_type = Vec<Object>)]
    labels: Vec<Label>,
}

/// Validates labels through argus-core and returns the stored schema JSON.
fn schema_json(project: Uuid, version: u32, labels: Vec<Label>) -> R<Value> {
    let schema = LabelSchema::new(LabelSchemaId::new(), ProjectId::from(project), version, labels)
        .map_err(|e| ApiError::Unprocessable(format!("label schema: {e}")))?;
    serde_json::to_value(&schema).map_err(|e| ApiError::Internal(e.to_string()))
}

#[utoipa::path(
    post,
    path = "/api/v1/teams/{team}/projects",
    tag = "api",
    summary = "Create a project (team owners)",
    security(("bearer" = [])),
    params(("team" = String, Path, description = "team id")),
    request_body = ProjectBody,
    responses((status = 201, description = "ok", body = ProjectRow), Errors)
)]
async fn create_project(State(state): State<AppState>, caller: Caller, Path(team): Path<String>, JsonBody(b): JsonBody<ProjectBody>) -> R {
    let team = uuid(&team, "team id")?;
    let id = b.id.unwrap_or_else(Uuid::now_v7);
    let name = b.name.as_deref().unwrap_or("").trim().to_owned();
    let project = argus_core::model::Project::new(&name, LabelSchemaId::new(), argus_core::model::Timestamp(0))
        .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let schema = schema_json(id, 1, b.label_schema.map(|s| s.labels).unwrap_or_default())?;
    if b.settings.as_ref().is_some_and(|s| !s.is_object()) {
        return Err(ApiError::Unprocessable("settings must be a JSON object".into()));
    }
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    require_owner(&mut tx, team).await.map_err(|e| match e {
        ApiError::Forbidden(_) => ApiError::Forbidden("only the team's owners may create projects".into()),
        e => e,
    })?;
    sqlx::query(
        "insert into argus.projects (id, team_id, name, description, label_schema, settings, created_by) values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(team)
    .bind(&project.name)
    .bind(b.description.unwrap_or_default())
    .bind(&schema)
    .bind(b.settings.unwrap_or(json!({})))
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await?;
    audit(&mut tx, Some(team), Some(id), "project.created", Some(id), json!({"name": project.name})).await?;
    let row: ProjectRow = sqlx::query_as(&format!("select {PROJECT_COLUMNS} from {PROJECT_FROM} where p.id = $1")).bind(id).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}",
    tag = "api",
    summary = "One project",
    security(("bearer" = [])),
    params(("project" = String, Path, description = "project id")),
    responses((status = 200, description = "ok", body = ProjectRow), Errors)
)]
async fn get_project(State(state): State<AppState>, caller: Caller, Path(project): Path<String>) -> R<Json<ProjectRow>> {
    let project = uuid(&project, "project id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let row: Option<ProjectRow> =
        sqlx::query_as(&format!("select {PROJECT_COLUMNS} from {PROJECT_FROM} where p.id = $1")).bind(project).fetch_optional(&mut *tx).await?;
    tx.commit().await?;
    row.map(Json).ok_or_else(|| ApiError::NotFound(format!("project {project} not found, or you are not a member")))
}

#[utoipa::path(
    patch,
    path = "/api/v1/projects/{project}",
    tag = "api",
    summary = "Change name, description, label schema or settings (edit_schema: leads)",
    security(("bearer" = [])),
    params(("project" = String, Path, description = "project id")),
    request_body = ProjectBody,
    responses((status = 200, description = "ok", body = ProjectRow), Errors)
)]
async fn update_project(State(state): State<AppState>, caller: Caller, Path(project): Path<String>, JsonBody(b): JsonBody<ProjectBody>) -> R<Json<ProjectRow>> {
    let project = uuid(&project, "project id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    require(&mut tx, project, Permission::EditSchema).await?;
    if let Some(n) = &b.name {
        argus_core::model::Project::new(n, LabelSchemaId::new(), argus_core::model::Timestamp(0)).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    }
    if b.settings.as_ref().is_some_and(|s| !s.is_object()) {
        return Err(ApiError::Unprocessable("settings must be a JSON object".into()));
    }
    let schema = match b.label_schema {
        Some(s) => {
            let version: i64 = sqlx::query_scalar("select coalesce((label_schema->>'version')::bigint, 0) from argus.projects where id = $1")
                .bind(project)
                .fetch_one(&mut *tx)
                .await?;
            Some(schema_json(project, u32::try_from(version + 1).unwrap_or(u32::MAX), s.labels)?)
        }
        None => None,
    };
    let (team,): (Uuid,) = sqlx::query_as("select team_id from argus.projects where id = $1").bind(project).fetch_one(&mut *tx).await?;
    sqlx::query(
        "update argus.projects set name = coalesce(btrim($2), name), description = coalesce($3, description),
         label_schema = coalesce($4, label_schema), settings = coalesce(settings || $5, settings), updated_at = now() where id = $1",
    )
    .bind(project)
    .bind(&b.name)
    .bind(&b.description)
    .bind(&schema)
    .bind(&b.settings)
    .execute(&mut *tx)
    .await?;
    audit(&mut tx, Some(team), Some(project), "project.updated", Some(project), json!({"schema_changed": schema.is_some(), "name": b.name})).await?;
    let row: ProjectRow = sqlx::query_as(&format!("select {PROJECT_COLUMNS} from {PROJECT_FROM} where p.id = $1")).bind(project).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(Json(row))
}

#[utoipa::path(
    delete,
    path = "/api/v1/projects/{project}",
    tag = "api",
    summary = "Delete a project (delete_project: leads)",
    security(("bearer" = [])),
    params(("project" = String, Path, description = "project id")),
    responses((status = 204, description = "done"), Errors)
)]
async fn delete_project(State(state): State<AppState>, caller: Caller, Path(project): Path<String>) -> R {
    let project = uuid(&project, "project id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    require(&mut tx, project, Permission::DeleteProject).await?;
    let (team,): (Uuid,) = sqlx::query_as("select team_id from argus.projects where id = $1").bind(project).fetch_one(&mut *tx).await?;
    audit(&mut tx, Some(team), None, "project.deleted", Some(project), json!({})).await?;
    sqlx::query("delete from argus.projects where id = $1").bind(project).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/members",
    tag = "api",
    summary = "Members of a project (view_members)",
    security(("bearer" = [])),
    params(("project" = String, Path, description = "project id")),
    responses((status = 200, description = "ok", body = Object), Errors)
)]
async fn project_members(State(state): State<AppState>, caller: Caller, Path(project): Path<String>) -> R<Json<Vec<Value>>> {
    let project = uuid(&project, "project id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    require(&mut tx, project, Permission::ViewMembers).await?;
    let rows: Vec<MemberRow> =
        sqlx::query_as("select user_id, role, display_name, created_at from argus.project_members where project_id = $1 order by created_at")
            .bind(project)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    let emails = emails_of(&state, &rows.iter().map(|r| r.user_id).collect::<Vec<_>>()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|m| {
                let email = emails.get(&m.user_id).cloned();
                let mut v = serde_json::to_value(m).unwrap_or_default();
                v["email"] = json!(email);
                v
            })
            .collect(),
    ))
}

/// `PUT /projects/{p}/members/{user}`: `{user}` is a user id or an e-mail
/// address of an existing account (invite others).
#[utoipa::path(
    put,
    path = "/api/v1/projects/{project}/members/{user}",
    tag = "api",
    summary = "Add a member or change their role (manage_members: leads); {user} is a user id or an e-mail address",
    security(("bearer" = [])),
    params(("project" = String, Path, description = "project id"), ("user" = String, Path, description = "user id or e-mail address")),
    request_body = RoleBody,
    responses((status = 200, description = "ok", body = Object), Errors)
)]
async fn set_project_member(State(state): State<AppState>, caller: Caller, Path((project, user)): Path<(String, String)>, JsonBody(b): JsonBody<RoleBody>) -> R<Json<Value>> {
    let project = uuid(&project, "project id")?;
    let role: Role = b.role.parse().map_err(ApiError::Unprocessable)?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    require(&mut tx, project, Permission::ManageMembers).await?;
    let user = match Uuid::parse_str(&user) {
        Ok(u) => u,
        Err(_) => user_by_email(&state, &user)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no account for {user}; invite them instead (POST /projects/{project}/invitations)")))?,
    };
    let (team,): (Uuid,) = sqlx::query_as("select team_id from argus.projects where id = $1").bind(project).fetch_one(&mut *tx).await?;
    sqlx::query(
        "insert into argus.project_members (project_id, user_id, role, display_name) values ($1, $2, $3, coalesce($4, ''))
         on conflict (project_id, user_id) do update set role = excluded.role, display_name = coalesce($4, argus.project_members.display_name)",
    )
    .bind(project)
    .bind(user)
    .bind(role.as_str())
    .bind(&b.display_name)
    .execute(&mut *tx)
    .await?;
    audit(&mut tx, Some(team), Some(project), "project.member_set", Some(user), json!({"role": role})).await?;
    tx.commit().await?;
    Ok(Json(json!({"project_id": project, "user_id": user, "role": role})))
}

#[utoipa::path(
    delete,
    path = "/api/v1/projects/{project}/members/{user}",
    tag = "api",
    summary = "Remove a member (manage_members: leads)",
    security(("bearer" = [])),
    params(("project" = String, Path, description = "project id"), ("user" = String, Path, description = "user id")),
    responses((status = 204, description = "done"), Errors)
)]
async fn remove_project_member(State(state): State<AppState>, caller: Caller, Path((project, user)): Path<(String, String)>) -> R {
    let (project, user) = (uuid(&project, "project id")?, uuid(&user, "user id")?);
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    require(&mut tx, project, Permission::ManageMembers).await?;
    let (team,): (Uuid,) = sqlx::query_as("select team_id from argus.projects where id = $1").bind(project).fetch_one(&mut *tx).await?;
    let n = sqlx::query("delete from argus.project_members where project_id = $1 and user_id = $2").bind(project).bind(user).execute(&mut *tx).await?;
    if n.rows_affected() == 0 {
        return Err(ApiError::NotFound("that user is not a member of the project".into()));
    }
    audit(&mut tx, Some(team), Some(project), "project.member_removed", Some(user), json!({})).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ------------------------------------------------------------------ invitations

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InviteBody {
    email: String,
    role: String,
}

const INVITATION_COLUMNS: &str = "id, team_id, project_id, email, role, invited_by, created_at, expires_at, accepted_at";

async fn invite(state: &AppState, caller: &Caller, team: Uuid, project: Option<Uuid>, b: InviteBody) -> R {
    let email = crate::auth::users::check_email(&b.email).map_err(|e| ApiError::Unprocessable(e.message))?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    match project {
        Some(p) => {
            b.role.parse::<Role>().map_err(ApiError::Unprocessable)?;
            require(&mut tx, p, Permission::ManageMembers).await?;
        }
        None => {
            b.role.parse::<TeamRole>().map_err(ApiError::Unprocessable)?;
            require_owner(&mut tx, team).await?;
        }
    }
    let id = Uuid::now_v7();
    sqlx::query("insert into argus.invitations (id, team_id, project_id, email, role, invited_by) values ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(team)
        .bind(project)
        .bind(&email)
        .bind(&b.role)
        .bind(caller.user_id)
        .execute(&mut *tx)
        .await?;
    audit(&mut tx, Some(team), project, "invitation.created", Some(id), json!({"email": email, "role": b.role})).await?;
    let row: InvitationRow = sqlx::query_as(&format!("select {INVITATION_COLUMNS} from argus.invitations where id = $1")).bind(id).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    let link = format!("{}/invite?invitation={id}", state.config.site_url.trim_end_matches('/'));
    let mail = Mail {
        to: email.clone(),
        kind: "team_invitation".into(),
        subject: "You have been invited to an Argus team".into(),
        otp: String::new(),
        token_hash: id.to_string(),
        link,
    };
    if let Err(e) = state.mailer.send(&mail).await {
        tracing::warn!(error = %e, "invitation stored but its e-mail was not sent");
    }
    Ok((StatusCode::CREATED, Json(row)).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/teams/{team}/invitations",
    tag = "api",
    summary = "Invite an e-mail address to the team (owners)",
    security(("bearer" = [])),
    params(("team" = String, Path, description = "team id")),
    request_body = InviteBody,
    responses((status = 201, description = "ok", body = InvitationRow), Errors)
)]
async fn invite_to_team(State(state): State<AppState>, caller: Caller, Path(team): Path<String>, JsonBody(b): JsonBody<InviteBody>) -> R {
    invite(&state, &caller, uuid(&team, "team id")?, None, b).await
}

#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/invitations",
    tag = "api",
    summary = "Invite an e-mail address to the project (manage_members)",
    security(("bearer" = [])),
    params(("project" = String, Path, description = "project id")),
    request_body = InviteBody,
    responses((status = 201, description = "ok", body = InvitationRow), Errors)
)]
async fn invite_to_project(State(state): State<AppState>, caller: Caller, Path(project): Path<String>, JsonBody(b): JsonBody<InviteBody>) -> R {
    let project = uuid(&project, "project id")?;
    let team: Option<Uuid> = {
        let mut tx = begin_as(&state.pool, &caller.claims).await?;
        let t = sqlx::query_scalar("select team_id from argus.projects where id = $1").bind(project).fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        t
    };
    let team = team.ok_or_else(|| ApiError::NotFound(format!("project {project} not found, or you are not a member")))?;
    invite(&state, &caller, team, Some(project), b).await
}

#[utoipa::path(
    get,
    path = "/api/v1/teams/{team}/invitations",
    tag = "api",
    summary = "Open invitations of a team",
    security(("bearer" = [])),
    params(("team" = String, Path, description = "team id")),
    responses((status = 200, description = "ok", body = Vec<InvitationRow>), Errors)
)]
async fn team_invitations(State(state): State<AppState>, caller: Caller, Path(team): Path<String>) -> R<Json<Vec<InvitationRow>>> {
    let team = uuid(&team, "team id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let rows = sqlx::query_as(&format!("select {INVITATION_COLUMNS} from argus.invitations where team_id = $1 and accepted_at is null order by created_at"))
        .bind(team)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Json(rows))
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/invitations",
    tag = "api",
    summary = "Open invitations of a project",
    security(("bearer" = [])),
    params(("project" = String, Path, description = "project id")),
    responses((status = 200, description = "ok", body = Vec<InvitationRow>), Errors)
)]
async fn project_invitations(State(state): State<AppState>, caller: Caller, Path(project): Path<String>) -> R<Json<Vec<InvitationRow>>> {
    let project = uuid(&project, "project id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    require(&mut tx, project, Permission::ManageMembers).await?;
    let rows = sqlx::query_as(&format!("select {INVITATION_COLUMNS} from argus.invitations where project_id = $1 and accepted_at is null order by created_at"))
        .bind(project)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Json(rows))
}

#[utoipa::path(
    get,
    path = "/api/v1/invitations",
    tag = "api",
    summary = "Open invitations for the caller's e-mail address (with team_name, project_name and invited_by_email)",
    security(("bearer" = [])),
    responses((status = 200, description = "ok", body = Vec<InvitationRow>), Errors)
)]
async fn my_invitations(State(state): State<AppState>, caller: Caller) -> R<Json<Vec<Value>>> {
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let rows: Vec<InvitationRow> = sqlx::query_as(&format!(
        "select {INVITATION_COLUMNS} from argus.invitations where email = argus.jwt_email() and accepted_at is null and expires_at > now() order by created_at"
    ))
    .fetch_all(&mut *tx)
    .await?;
    // What the invitee cannot see yet (they are not a member): the team's
    // and project's names (a security-definer function, for invitations to
    // their own address only) and who invited them.
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let names: Vec<(Uuid, String, Option<String>)> =
        sqlx::query_as("select id, team_name, project_name from argus.my_invitation_names($1)").bind(&ids).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    let emails = emails_of(&state, &rows.iter().map(|r| r.invited_by).collect::<Vec<_>>()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| {
                let (team, project) = names.iter().find(|n| n.0 == r.id).map(|n| (n.1.clone(), n.2.clone())).unwrap_or_default();
                let by = emails.get(&r.invited_by).cloned();
                let mut v = serde_json::to_value(r).unwrap_or_default();
                v["team_name"] = json!(team);
                v["project_name"] = json!(project);
                v["invited_by_email"] = json!(by);
                v
            })
            .collect(),
    ))
}

#[utoipa::path(
    delete,
    path = "/api/v1/invitations/{id}",
    tag = "api",
    summary = "Revoke an open invitation",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "invitation id")),
    responses((status = 204, description = "done"), Errors)
)]
async fn revoke_invitation(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> R {
    let id = uuid(&id, "invitation id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let row: Option<(Uuid, Option<Uuid>)> =
        sqlx::query_as("delete from argus.invitations where id = $1 and accepted_at is null returning team_id, project_id").bind(id).fetch_optional(&mut *tx).await?;
    let (team, project) = row.ok_or_else(|| ApiError::NotFound("no open invitation with that id that you may revoke".into()))?;
    audit(&mut tx, Some(team), project, "invitation.revoked", Some(id), json!({})).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/invitations/{id}/accept",
    tag = "api",
    summary = "Accept an invitation sent to the caller's confirmed address",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "invitation id")),
    responses((status = 200, description = "ok", body = InvitationRow), Errors)
)]
async fn accept_invitation(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> R<Json<InvitationRow>> {
    let id = uuid(&id, "invitation id")?;
    // Only a confirmed address may accept.
    let confirmed: Option<bool> = sqlx::query_scalar("select email_confirmed_at is not null from argus_auth.users where id = $1")
        .bind(caller.user_id)
        .fetch_optional(&state.pool)
        .await?;
    if confirmed != Some(true) {
        return Err(ApiError::Forbidden("confirm your e-mail address before accepting an invitation".into()));
    }
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    let row = sqlx::query_as::<_, InvitationRow>(&format!("select {INVITATION_COLUMNS} from argus.accept_invitation($1)"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) => match db.code().as_deref() {
                Some("AR404") => ApiError::NotFound("no invitation with that id for your e-mail address".into()),
                Some("AR409") => ApiError::Conflict("that invitation was already accepted".into()),
                Some("AR410") => ApiError::Conflict("that invitation has expired; ask for a new one".into()),
                _ => ApiError::from(e),
            },
            _ => ApiError::from(e),
        })?;
    tx.commit().await?;
    Ok(Json(row))
}

// ------------------------------------------------------------------ audit

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    limit: Option<i64>,
    before: Option<i64>,
}

/// id, project, actor, action, subject, details, time
type AuditRow = (i64, Option<Uuid>, Uuid, String, Option<Uuid>, Value, DateTime<Utc>);

#[utoipa::path(
    get,
    path = "/api/v1/teams/{team}/audit",
    tag = "api",
    summary = "The team's audit log, newest first (owners)",
    security(("bearer" = [])),
    params(("team" = String, Path, description = "team id"), ("limit" = Option<i64>, Query, description = "at most this many (default 100)"), ("before" = Option<i64>, Query, description = "entries older than this id")),
    responses((status = 200, description = "ok", body = Object), Errors)
)]
async fn team_audit(State(state): State<AppState>, caller: Caller, Path(team): Path<String>, Query(q): Query<AuditQuery>) -> R<Json<Vec<Value>>> {
    let team = uuid(&team, "team id")?;
    let mut tx = begin_as(&state.pool, &caller.claims).await?;
    require_owner(&mut tx, team).await?;
    let rows: Vec<AuditRow> = sqlx::query_as(
        "select id, project_id, actor_id, action, subject_id, details, created_at from argus.audit_log
         where team_id = $1 and id < coalesce($2, 9223372036854775807) order by id desc limit $3",
    )
    .bind(team)
    .bind(q.before)
    .bind(q.limit.unwrap_or(100).clamp(1, 1000))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(
        rows.into_iter()
            .map(|(id, p, a, action, s, d, c)| json!({"id": id, "project_id": p, "actor_id": a, "action": action, "subject_id": s, "details": d, "created_at": c}))
            .collect(),
    ))
}

/// The error answers every `/api/v1` operation may give.
#[derive(Debug, utoipa::IntoResponses)]
pub enum Errors {
    #[response(status = 401, description = "no or invalid token")]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "your role does not allow it")]
    Forbidden(ErrorBody),
    #[response(status = 404, description = "not found or not visible to you")]
    NotFound(ErrorBody),
    #[response(status = 422, description = "invalid input")]
    Invalid(ErrorBody),
    #[response(status = 503, description = "maintenance: try again later")]
    Maintenance(ErrorBody),
}

/// The error body of this API.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code: bad_request, no_authorization, bad_jwt, forbidden, not_found, conflict, validation_failed, maintenance, internal.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

/// The OpenAPI document of `/api/v1`, generated from the handlers' annotations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Argus API", description = "Teams, projects, members and invitations. Authentication: a Supabase-compatible access token from /auth/v1 (the GoTrue contract, documented by supabase/auth)."),
    paths(me, list_teams, create_team, get_team, update_team, delete_team, team_members, set_team_member, remove_team_member, list_projects, team_projects, create_project, get_project, update_project, delete_project, project_members, set_project_member, remove_project_member, invite_to_team, invite_to_project, team_invitations, project_invitations, my_invitations, revoke_invitation, accept_invitation, team_audit, crate::videos::create, crate::videos::upload_state, crate::videos::part_urls, crate::videos::complete, crate::videos::abort, crate::videos::delete, crate::videos::list, crate::videos::get_one, crate::videos::download, crate::videos::jobs, crate::videos::claim, crate::videos::job_complete, crate::videos::job_fail, crate::videos::job_heartbeat, crate::videos::events, crate::sync::push, crate::sync::pull, crate::sync::record),
    components(schemas(crate::videos::VideoRow, crate::videos::UploadAnswer, crate::videos::UploadPlan, crate::videos::NewUpload, crate::videos::PartNumbers, crate::videos::PartUrl, crate::videos::CompleteBody, crate::videos::ClientPart, crate::videos::JobRow, crate::videos::ClaimBody, crate::videos::ClaimedJob, crate::videos::WorkerBody, crate::storage::Presigned, crate::storage::Part, crate::sync::PushBody, crate::sync::PushAnswer, crate::sync::ChangeResult, crate::sync::PullAnswer, crate::sync::Pulled, crate::sync::RecordAnswer, TeamRow, ProjectRow, InvitationRow, TeamBody, ProjectBody, SchemaBody, RoleBody, InviteBody, ErrorBody)),
    modifiers(&BearerAuth),
)]
#[derive(Debug)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme("bearer", SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()));
    }
}

/// `GET /openapi.json`.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    Json(doc)
}
