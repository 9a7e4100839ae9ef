//! `/admin/*`: user administration with a service-role token, as GoTrue's
//! admin API (supabase-js `auth.admin.*`).

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Body, audit, make_link, require_admin,
    users::{self, NewUser, User},
};
use crate::{
    error::AuthError,
    state::{AppState, Bearer},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(list).post(create))
        .route("/admin/users/{id}", get(get_one).put(update).delete(delete))
        .route("/admin/generate_link", post(generate_link))
        .route("/admin/maintenance", get(get_maintenance).put(set_maintenance))
}

type R = Result<Response, AuthError>;

#[derive(Debug, Default, Deserialize)]
struct Page {
    page: Option<i64>,
    per_page: Option<i64>,
}

async fn list(State(state): State<AppState>, Bearer(t): Bearer, Query(p): Query<Page>) -> R {
    require_admin(&state, t)?;
    let per_page = p.per_page.unwrap_or(50).clamp(1, 1000);
    let page = p.page.unwrap_or(1).max(1);
    let total: i64 = sqlx::query_scalar("select count(*) from argus_auth.users").fetch_one(&state.pool).await?;
    let rows: Vec<User> = sqlx::query_as(&format!(
        "select {} from argus_auth.users order by created_at, id limit $1 offset $2",
        users::USER_COLUMNS
    ))
    .bind(per_page)
    .bind((page - 1) * per_page)
    .fetch_all(&state.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for u in &rows {
        out.push(users::json_of(&state.pool, u).await?);
    }
    let mut r = Json(json!({"users": out, "aud": state.config.auth.jwt_aud})).into_response();
    r.headers_mut().insert("x-total-count", HeaderValue::from(total));
    let last = ((total + per_page - 1) / per_page).max(1);
    let base = format!("{}/auth/v1/admin/users", state.config.external_url);
    let mut links = Vec::new();
    if page < last {
        links.push(format!("<{base}?page={}&per_page={per_page}>; rel=\"next\"", page + 1));
    }
    links.push(format!("<{base}?page={last}&per_page={per_page}>; rel=\"last\""));
    if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
        r.headers_mut().insert("link", v);
    }
    Ok(r)
}

#[derive(Debug, Default, Deserialize)]
struct UserBody {
    email: Option<String>,
    password: Option<String>,
    email_confirm: Option<bool>,
    user_metadata: Option<Value>,
    app_metadata: Option<Value>,
    /// `"none"` lifts a ban; otherwise a duration like `24h` or `30m`.
    ban_duration: Option<String>,
    role: Option<String>,
}

fn parse_duration(s: &str) -> Result<chrono::Duration, AuthError> {
    let bad = || AuthError::validation(format!("invalid format for ban duration {s:?}: use e.g. 24h, 30m or none"));
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(bad)?);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    Ok(chrono::Duration::seconds(secs as i64))
}

async fn create(State(state): State<AppState>, Bearer(t): Bearer, Body(b): Body<UserBody>) -> R {
    let admin = require_admin(&state, t)?;
    super::refuse_in_maintenance(&state)?;
    let email = b.email.as_deref().map(users::check_email).transpose()?;
    if email.is_none() {
        return Err(AuthError::validation("Unable to validate email address: invalid format"));
    }
    let hash = users::hash_if_given(&state, b.password.as_deref()).await?;
    let mut tx = state.pool.begin().await?;
    let user = users::create(
        &mut tx,
        NewUser {
            email,
            password_hash: hash,
            confirmed: b.email_confirm.unwrap_or(false),
            user_metadata: b.user_metadata.unwrap_or(json!({})),
            app_metadata: b.app_metadata.unwrap_or(json!({})),
            provider: "email".into(),
            ..NewUser::default()
        },
    )
    .await
    .map_err(|e| if e.code == "user_already_exists" { email_exists() } else { e })?;
    tx.commit().await?;
    audit(&state, admin_id(&admin), "user_invited", json!({"user_id": user.id, "via": "admin"}), None).await;
    Ok(Json(users::json_of(&state.pool, &user).await?).into_response())
}

fn email_exists() -> AuthError {
    AuthError::new(StatusCode::UNPROCESSABLE_ENTITY, "email_exists", "A user with this email address has already been registered")
}

fn admin_id(claims: &Value) -> Option<Uuid> {
    claims.get("sub").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
}

async fn get_one(State(state): State<AppState>, Bearer(t): Bearer, Path(id): Path<String>) -> R {
    require_admin(&state, t)?;
    let id = Uuid::parse_str(&id).map_err(|_| AuthError::validation("user id must be a UUID"))?;
    let user = users::by_id(&state.pool, id).await?.ok_or_else(AuthError::user_not_found)?;
    Ok(Json(users::json_of(&state.pool, &user).await?).into_response())
}

async fn update(State(state): State<AppState>, Bearer(t): Bearer, Path(id): Path<String>, Body(b): Body<UserBody>) -> R {
    let admin = require_admin(&state, t)?;
    super::refuse_in_maintenance(&state)?;
    let id = Uuid::parse_str(&id).map_err(|_| AuthError::validation("user id must be a UUID"))?;
    let user = users::by_id(&state.pool, id).await?.ok_or_else(AuthError::user_not_found)?;
    let mut tx = state.pool.begin().await?;
    if let Some(e) = b.email.as_deref() {
        let e = users::check_email(e)?;
        if users::by_email(&mut *tx, &e).await?.is_some_and(|u| u.id != id) {
            return Err(email_exists());
        }
        sqlx::query("update argus_auth.users set email = $2 where id = $1").bind(id).bind(&e).execute(&mut *tx).await?;
    }
    if let Some(p) = b.password.as_deref() {
        users::check_password(&state, p)?;
        let hash = users::hash_password(p, state.config.auth.bcrypt_cost).await?;
        sqlx::query("update argus_auth.users set encrypted_password = $2 where id = $1").bind(id).bind(hash).execute(&mut *tx).await?;
    }
    if let Some(c) = b.email_confirm {
        sqlx::query("update argus_auth.users set email_confirmed_at = case when $2 then coalesce(email_confirmed_at, now()) end where id = $1")
            .bind(id)
            .bind(c)
            .execute(&mut *tx)
            .await?;
    }
    for (col, patch) in [("raw_user_meta_data", &b.user_metadata), ("raw_app_meta_data", &b.app_metadata)] {
        if let Some(p) = patch {
            if !p.is_object() {
                return Err(AuthError::validation(format!("{col} must be an object")));
            }
            // the column name comes from the fixed list above
            sqlx::query(&format!("update argus_auth.users set {col} = {col} || $2 where id = $1"))
                .bind(id)
                .bind(p)
                .execute(&mut *tx)
                .await?;
        }
    }
    if let Some(r) = b.role.as_deref() {
        sqlx::query("update argus_auth.users set role = $2 where id = $1").bind(id).bind(r).execute(&mut *tx).await?;
    }
    if let Some(d) = b.ban_duration.as_deref() {
        let until = if d == "none" { None } else { Some(chrono::Utc::now() + parse_duration(d)?) };
        sqlx::query("update argus_auth.users set banned_until = $2 where id = $1").bind(id).bind(until).execute(&mut *tx).await?;
        if until.is_some() {
            sqlx::query("delete from argus_auth.sessions where user_id = $1").bind(id).execute(&mut *tx).await?;
        }
    }
    sqlx::query("update argus_auth.users set updated_at = now() where id = $1").bind(id).execute(&mut *tx).await?;
    tx.commit().await?;
    audit(&state, admin_id(&admin), "user_modified", json!({"user_id": user.id, "via": "admin"}), None).await;
    let user = users::by_id(&state.pool, id).await?.ok_or_else(AuthError::user_not_found)?;
    Ok(Json(users::json_of(&state.pool, &user).await?).into_response())
}

async fn delete(State(state): State<AppState>, Bearer(t): Bearer, Path(id): Path<String>) -> R {
    let admin = require_admin(&state, t)?;
    super::refuse_in_maintenance(&state)?;
    let id = Uuid::parse_str(&id).map_err(|_| AuthError::validation("user id must be a UUID"))?;
    let n = sqlx::query("delete from argus_auth.users where id = $1").bind(id).execute(&state.pool).await?.rows_affected();
    if n == 0 {
        return Err(AuthError::user_not_found());
    }
    audit(&state, admin_id(&admin), "user_deleted", json!({"user_id": id}), None).await;
    Ok(Json(json!({})).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct LinkBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    email: Option<String>,
    password: Option<String>,
    data: Option<Value>,
    redirect_to: Option<String>,
    new_email: Option<String>,
}

/// Makes a link without sending it (for invitations sent by other means).
async fn generate_link(State(state): State<AppState>, Bearer(t): Bearer, Body(b): Body<LinkBody>) -> R {
    require_admin(&state, t)?;
    super::refuse_in_maintenance(&state)?;
    let email = users::check_email(b.email.as_deref().unwrap_or(""))?;
    let kind = b.kind.as_deref().unwrap_or("");
    let existing = users::by_email(&state.pool, &email).await?;
    let (user, token_kind, link_email) = match kind {
        "signup" | "invite" | "magiclink" => {
            let user = match existing {
                Some(u) => u,
                None => {
                    let hash = users::hash_if_given(&state, b.password.as_deref()).await?;
                    let mut tx = state.pool.begin().await?;
                    let u = users::create(
                        &mut tx,
                        NewUser {
                            email: Some(email.clone()),
                            password_hash: hash,
                            user_metadata: b.data.clone().unwrap_or(json!({})),
                            provider: "email".into(),
                            ..NewUser::default()
                        },
                    )
                    .await?;
                    tx.commit().await?;
                    u
                }
            };
            let tk = match kind {
                "signup" => "confirmation",
                "invite" => "invite",
                _ if user.email_confirmed_at.is_none() => "confirmation",
                _ => "magiclink",
            };
            (user, tk, email.clone())
        }
        "recovery" => (existing.ok_or_else(AuthError::user_not_found)?, "recovery", email.clone()),
        "email_change_current" | "email_change_new" => {
            let user = existing.ok_or_else(AuthError::user_not_found)?;
            let new = users::check_email(b.new_email.as_deref().unwrap_or(""))?;
            sqlx::query("update argus_auth.users set email_change = $2 where id = $1").bind(user.id).bind(&new).execute(&state.pool).await?;
            (user, "email_change", new)
        }
        other => {
            return Err(AuthError::validation(format!(
                "Invalid link type {other:?}: use signup, invite, magiclink, recovery, email_change_current or email_change_new"
            )));
        }
    };
    let (otp, hash, link, redirect) = make_link(&state, &user, token_kind, &link_email, b.redirect_to.as_deref()).await?;
    let user = users::by_id(&state.pool, user.id).await?.ok_or_else(AuthError::user_not_found)?;
    let mut v = users::json_of(&state.pool, &user).await?;
    v["action_link"] = json!(link);
    v["email_otp"] = json!(otp);
    v["hashed_token"] = json!(hash);
    v["redirect_to"] = json!(redirect);
    v["verification_type"] = json!(match token_kind {
        "confirmation" => "signup",
        "email_change" => "email_change",
        k => k,
    });
    Ok(Json(v).into_response())
}

#[derive(Debug, Deserialize)]
struct MaintenanceBody {
    enabled: bool,
}

async fn get_maintenance(State(state): State<AppState>, Bearer(t): Bearer) -> R {
    require_admin(&state, t)?;
    Ok(Json(json!({"enabled": state.maintenance()})).into_response())
}

/// Turns maintenance (read-only) mode on or off for this instance.
async fn set_maintenance(State(state): State<AppState>, Bearer(t): Bearer, Json(b): Json<MaintenanceBody>) -> R {
    let admin = require_admin(&state, t)?;
    if !b.enabled {
        state.set_maintenance(false);
    }
    audit(&state, admin_id(&admin), "maintenance", json!({"enabled": b.enabled}), None).await;
    state.set_maintenance(b.enabled);
    Ok(Json(json!({"enabled": state.maintenance()})).into_response())
}
