//! Sessions, refresh tokens and access tokens.
//!
//! Refresh tokens follow GoTrue's v1 scheme: 12 random characters, stored
//! with their parent and session; each refresh revokes the token and issues a
//! child. A revoked token that comes back is answered with the session's
//! active token when it is that token's parent (a client that failed to save),
//! is accepted within the reuse interval, and otherwise ends the whole session
//! (`refresh_token_already_used`). Row locks make two server instances agree.
//!
//! In maintenance mode nothing is written: a refresh answers a new access
//! token and the same refresh token, and a password sign-in gets a *stateless*
//! refresh token (`m1.<payload>.<mac>`) that the server turns into a stored
//! session on the first refresh after maintenance. Nobody is signed out.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chrono::Utc;
use hmac::{Hmac, Mac};
use rand::{Rng, distributions::Alphanumeric};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use super::users::{self, User};
use crate::{error::AuthError, state::AppState};

/// A session as the clients expect it.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub expires_at: i64,
}

impl Issued {
    pub fn to_json(&self, user: Value) -> Value {
        json!({
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "user": user,
        })
    }
}

pub fn random_token(n: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(n).map(char::from).collect()
}

/// Signs an access token for `user` in `session`.
pub fn access_token(state: &AppState, user: &User, session_id: Uuid, aal: &str, amr: &Value) -> (String, i64) {
    let now = Utc::now().timestamp();
    let exp = now + state.config.auth.jwt_exp.as_secs() as i64;
    let claims = json!({
        "iss": state.config.issuer(),
        "sub": user.id,
        "aud": state.config.auth.jwt_aud,
        "exp": exp,
        "iat": now,
        "email": user.email.clone().unwrap_or_default(),
        "phone": user.phone.clone().unwrap_or_default(),
        "app_metadata": user.raw_app_meta_data,
        "user_metadata": user.raw_user_meta_data,
        "role": user.role,
        "aal": aal,
        "amr": amr,
        "session_id": session_id,
        "is_anonymous": user.is_anonymous,
    });
    (state.keys.sign(&claims), exp)
}

fn amr_entry(method: &str) -> Value {
    json!([{ "method": method, "timestamp": Utc::now().timestamp() }])
}

fn issued(state: &AppState, user: &User, session: Uuid, amr: &Value, refresh: String) -> Issued {
    let (access_token, expires_at) = access_token(state, user, session, "aal1", amr);
    Issued { access_token, refresh_token: refresh, expires_in: state.config.auth.jwt_exp.as_secs(), expires_at }
}

/// Starts a session for `user` (sign-in by `method`: password, otp, oauth,
/// anonymous, recovery, ...) and records the sign-in. Returns the session and
/// the user as stored after the sign-in.
pub async fn start(
    state: &AppState,
    user: &User,
    method: &str,
    ip: &str,
    user_agent: Option<&str>,
) -> Result<(Issued, User), AuthError> {
    let amr = amr_entry(method);
    if state.maintenance() {
        let session = Uuid::now_v7();
        let token = stateless_token(state, user.id, session, method);
        return Ok((issued(state, user, session, &amr, token), user.clone()));
    }
    let session = Uuid::now_v7();
    let token = random_token(12);
    let mut tx = state.pool.begin().await?;
    sqlx::query("insert into argus_auth.sessions (id, user_id, amr, user_agent, ip) values ($1, $2, $3, $4, $5)")
        .bind(session)
        .bind(user.id)
        .bind(&amr)
        .bind(user_agent)
        .bind(ip)
        .execute(&mut *tx)
        .await?;
    sqlx::query("insert into argus_auth.refresh_tokens (token, user_id, session_id) values ($1, $2, $3)")
        .bind(&token)
        .bind(user.id)
        .bind(session)
        .execute(&mut *tx)
        .await?;
    sqlx::query("update argus_auth.users set last_sign_in_at = now() where id = $1").bind(user.id).execute(&mut *tx).await?;
    tx.commit().await?;
    let user = users::by_id(&state.pool, user.id).await?.ok_or_else(AuthError::user_not_found)?;
    Ok((issued(state, &user, session, &amr, token), user))
}

#[derive(Debug, sqlx::FromRow)]
struct TokenRow {
    token: String,
    user_id: Uuid,
    session_id: Uuid,
    revoked: bool,
    updated_at: chrono::DateTime<Utc>,
}

fn not_found() -> AuthError {
    AuthError::bad_request("refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
}

/// `POST /token?grant_type=refresh_token`. Returns the session and the user.
pub async fn refresh(state: &AppState, token: &str) -> Result<(Issued, User), AuthError> {
    if token.starts_with("m1.") {
        return refresh_stateless(state, token).await;
    }
    if state.maintenance() {
        return refresh_read_only(state, token).await;
    }
    let mut tx = state.pool.begin().await?;
    let row: Option<TokenRow> = sqlx::query_as(
        "select token, user_id, session_id, revoked, updated_at from argus_auth.refresh_tokens where token = $1 for update",
    )
    .bind(token)
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or_else(not_found)?;
    let session: Option<Value> =
        sqlx::query_scalar("select amr from argus_auth.sessions where id = $1 for update").bind(row.session_id).fetch_optional(&mut *tx).await?;
    let amr = session.ok_or_else(not_found)?;
    let user = users::by_id(&mut *tx, row.user_id).await?.ok_or_else(not_found)?;
    if user.is_banned() {
        return Err(AuthError::bad_request("user_banned", "User is banned"));
    }
    if row.revoked {
        let active: Option<(String, Option<String>)> = sqlx::query_as(
            "select token, parent from argus_auth.refresh_tokens where session_id = $1 and not revoked order by id desc limit 1",
        )
        .bind(row.session_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((active, Some(parent))) = &active
            && *parent == row.token
        {
            // The client lost the answer to its last refresh: give it again.
            let out = issued(state, &user, row.session_id, &amr, active.clone());
            tx.commit().await?;
            return Ok((out, user));
        }
        let reuse_until = row.updated_at + state.config.auth.refresh_token_reuse_interval;
        if Utc::now() > reuse_until {
            if state.config.auth.refresh_token_rotation {
                // A stolen token is being replayed: end the whole family.
                sqlx::query("delete from argus_auth.sessions where id = $1").bind(row.session_id).execute(&mut *tx).await?;
                tx.commit().await?;
                super::audit(state, Some(user.id), "token_revoked", json!({"reason": "refresh token reuse", "session_id": row.session_id}), None).await;
            }
            return Err(AuthError::bad_request("refresh_token_already_used", "Invalid Refresh Token: Already Used"));
        }
    }
    let child = random_token(12);
    sqlx::query("update argus_auth.refresh_tokens set revoked = true, updated_at = now() where token = $1 and not revoked")
        .bind(&row.token)
        .execute(&mut *tx)
        .await?;
    sqlx::query("insert into argus_auth.refresh_tokens (token, user_id, session_id, parent) values ($1, $2, $3, $4)")
        .bind(&child)
        .bind(user.id)
        .bind(row.session_id)
        .bind(&row.token)
        .execute(&mut *tx)
        .await?;
    sqlx::query("update argus_auth.sessions set refreshed_at = now(), updated_at = now() where id = $1")
        .bind(row.session_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((issued(state, &user, row.session_id, &amr, child), user))
}

/// Maintenance: a stored token is checked, nothing is written, and the same
/// refresh token comes back with a new access token.
async fn refresh_read_only(state: &AppState, token: &str) -> Result<(Issued, User), AuthError> {
    let row: Option<TokenRow> = sqlx::query_as(
        "select token, user_id, session_id, revoked, updated_at from argus_auth.refresh_tokens where token = $1",
    )
    .bind(token)
    .fetch_optional(&state.pool)
    .await?;
    let row = row.ok_or_else(not_found)?;
    let amr: Option<Value> =
        sqlx::query_scalar("select amr from argus_auth.sessions where id = $1").bind(row.session_id).fetch_optional(&state.pool).await?;
    let amr = amr.ok_or_else(not_found)?;
    let user = users::by_id(&state.pool, row.user_id).await?.ok_or_else(not_found)?;
    // A revoked token is only good if it is the parent of the active one: answer with the active one.
    let token = if row.revoked {
        let active: Option<String> = sqlx::query_scalar(
            "select token from argus_auth.refresh_tokens where session_id = $1 and not revoked and parent = $2",
        )
        .bind(row.session_id)
        .bind(&row.token)
        .fetch_optional(&state.pool)
        .await?;
        active.ok_or_else(|| AuthError::bad_request("refresh_token_already_used", "Invalid Refresh Token: Already Used"))?
    } else {
        row.token
    };
    Ok((issued(state, &user, row.session_id, &amr, token), user))
}

type HmacSha256 = Hmac<Sha256>;

fn mac(state: &AppState, payload: &str) -> String {
    let mut m = <HmacSha256 as Mac>::new_from_slice(&state.stateless_key).unwrap_or_else(|_| unreachable!("any key length"));
    m.update(payload.as_bytes());
    B64.encode(m.finalize().into_bytes())
}

fn stateless_token(state: &AppState, user: Uuid, session: Uuid, method: &str) -> String {
    let payload = B64.encode(json!({"u": user, "s": session, "m": method, "t": Utc::now().timestamp()}).to_string());
    let sig = mac(state, &payload);
    format!("m1.{payload}.{sig}")
}

/// A refresh token issued during maintenance: while maintenance lasts it is
/// answered as it is; afterwards it becomes a stored session with the same id.
async fn refresh_stateless(state: &AppState, token: &str) -> Result<(Issued, User), AuthError> {
    let mut parts = token.splitn(3, '.');
    let (_, payload, sig) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let expected = mac(state, payload);
    // constant-time comparison
    if expected.len() != sig.len() || expected.bytes().zip(sig.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0 {
        return Err(not_found());
    }
    let data: Value = B64
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(not_found)?;
    let user_id = data["u"].as_str().and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(not_found)?;
    let session = data["s"].as_str().and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(not_found)?;
    let method = data["m"].as_str().unwrap_or("password");
    let issued_at = data["t"].as_i64().unwrap_or(0);
    // Good for a week: longer than any maintenance window.
    if Utc::now().timestamp() - issued_at > 7 * 24 * 3600 {
        return Err(AuthError::bad_request("session_expired", "Session Expired"));
    }
    let user = users::by_id(&state.pool, user_id).await?.ok_or_else(not_found)?;
    let amr = amr_entry(method);
    if state.maintenance() {
        return Ok((issued(state, &user, session, &amr, token.to_owned()), user));
    }
    let mut tx = state.pool.begin().await?;
    let inserted = sqlx::query(
        "insert into argus_auth.sessions (id, user_id, amr) values ($1, $2, $3) on conflict (id) do nothing",
    )
    .bind(session)
    .bind(user_id)
    .bind(&amr)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        // Already converted once: a replay of the stateless token.
        return Err(AuthError::bad_request("refresh_token_already_used", "Invalid Refresh Token: Already Used"));
    }
    let child = random_token(12);
    sqlx::query("insert into argus_auth.refresh_tokens (token, user_id, session_id) values ($1, $2, $3)")
        .bind(&child)
        .bind(user_id)
        .bind(session)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((issued(state, &user, session, &amr, child), user))
}

/// Whether the session an access token names still exists.
pub async fn exists(state: &AppState, session: Uuid) -> Result<bool, AuthError> {
    Ok(sqlx::query_scalar("select exists (select 1 from argus_auth.sessions where id = $1)")
        .bind(session)
        .fetch_one(&state.pool)
        .await?)
}
