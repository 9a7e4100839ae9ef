//! `/auth/v1`: the Supabase Auth (GoTrue) HTTP contract, so that supabase-js,
//! supabase-py and the desktop client sign in against Argus unchanged.
//!
//! Shapes and codes follow supabase/auth (`openapi.yaml`, `internal/api`);
//! ../shared/docs/protocols.md records what the official clients send.

pub mod admin;
pub mod jwt;
pub mod mailer;
pub mod oauth;
pub mod ratelimit;
pub mod session;
pub mod users;

use axum::{
    Json, Router,
    extract::{Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha224};
use uuid::Uuid;

use self::{
    mailer::Mail,
    ratelimit::Bucket,
    users::{NewUser, User},
};
use crate::{
    error::{API_VERSION, API_VERSION_HEADER, AuthError, AuthErrorBody},
    state::{AppState, Bearer, ClientIp},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signup", post(signup))
        .route("/token", post(token))
        .route("/user", get(get_user).put(update_user))
        .route("/logout", post(logout))
        .route("/settings", get(settings))
        .route("/health", get(health))
        .route("/recover", post(recover))
        .route("/otp", post(otp))
        .route("/magiclink", post(magiclink))
        .route("/verify", get(verify_link).post(verify))
        .route("/resend", post(resend))
        .route("/.well-known/jwks.json", get(jwks))
        .merge(admin::router())
        .merge(oauth::router())
        .layer(middleware::from_fn(api_version))
}

/// Re-shapes error bodies for clients that send `X-Supabase-Api-Version`
/// (both official clients do), as GoTrue does.
async fn api_version(req: Request, next: Next) -> Response {
    let versioned = req
        .headers()
        .get(API_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v >= API_VERSION);
    let mut resp = next.run(req).await;
    if versioned {
        resp.headers_mut().insert(API_VERSION_HEADER, HeaderValue::from_static(API_VERSION));
        if let Some(AuthErrorBody(e)) = resp.extensions_mut().remove::<AuthErrorBody>() {
            let headers = resp.headers().clone();
            let mut new = (e.status, Json(e.body(true))).into_response();
            for (k, v) in headers.iter() {
                if k != header::CONTENT_LENGTH {
                    new.headers_mut().insert(k.clone(), v.clone());
                }
            }
            return new;
        }
    }
    resp
}

type AuthResult<T = Response> = Result<T, AuthError>;

/// A JSON body that tolerates an empty body and reports bad JSON in GoTrue's way.
#[derive(Debug, Default)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Default> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = AuthError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| AuthError::bad_request("bad_json", "Could not read the request body"))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| AuthError::bad_request("bad_json", format!("Could not parse request body as JSON: {e}")))
    }
}

/// Writes one auth event to `argus_auth.audit_log_entries` (never in
/// maintenance; a failure is logged, not returned).
pub async fn audit(state: &AppState, actor: Option<Uuid>, action: &str, payload: Value, ip: Option<&str>) {
    if state.maintenance() {
        return;
    }
    if let Err(e) = sqlx::query("insert into argus_auth.audit_log_entries (actor_id, action, payload, ip) values ($1, $2, $3, $4)")
        .bind(actor)
        .bind(action)
        .bind(&payload)
        .bind(ip)
        .execute(&state.pool)
        .await
    {
        tracing::warn!(error = %e, action, "could not write an audit entry");
    }
}

/// The answer to a sign-in or refresh: the session with the user object.
async fn session_answer(state: &AppState, issued: session::Issued, user: &User) -> AuthResult {
    Ok(Json(issued.to_json(users::json_of(&state.pool, user).await?)).into_response())
}

fn refuse_in_maintenance(state: &AppState) -> AuthResult<()> {
    if state.maintenance() { Err(AuthError::maintenance()) } else { Ok(()) }
}

fn user_agent(h: &HeaderMap) -> Option<&str> {
    h.get(header::USER_AGENT).and_then(|v| v.to_str().ok())
}

async fn limit(state: &AppState, bucket: Bucket, subjects: &[&str]) -> AuthResult<()> {
    if state.maintenance() {
        return Ok(());
    }
    ratelimit::hit(&state.pool, bucket, subjects).await
}

fn rl(state: &AppState) -> crate::config::RateLimits {
    state.config.rate_limits
}

// ------------------------------------------------------------------ sign-up

#[derive(Debug, Default, Deserialize)]
struct SignupBody {
    email: Option<String>,
    password: Option<String>,
    phone: Option<String>,
    #[serde(default)]
    data: Option<Value>,
}

async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(q): Query<RedirectQuery>,
    Body(b): Body<SignupBody>,
) -> AuthResult {
    refuse_in_maintenance(&state)?;
    let cfg = &state.config.auth;
    let email = b.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let password = b.password.as_deref().filter(|p| !p.is_empty());
    if email.is_none() && password.is_none() && b.phone.is_none() {
        return anonymous_signup(&state, &ip, &headers, b.data).await;
    }
    if cfg.disable_signup {
        return Err(AuthError::new(StatusCode::UNPROCESSABLE_ENTITY, "signup_disabled", "Signups not allowed for this instance"));
    }
    if b.phone.is_some() && email.is_none() {
        return Err(AuthError::new(StatusCode::UNPROCESSABLE_ENTITY, "phone_provider_disabled", "Phone signups are disabled"));
    }
    let email = users::check_email(email.ok_or_else(|| AuthError::validation("To signup, please provide your email"))?)?;
    let password = password.ok_or_else(|| AuthError::validation("Signup requires a valid password"))?;
    users::check_password(&state, password)?;
    limit(&state, Bucket::five_minutes("sign_in_sign_ups", rl(&state).sign_in_sign_ups), &[&ip, &email]).await?;

    if let Some(existing) = users::by_email(&state.pool, &email).await? {
        if cfg.mailer_autoconfirm || existing.email_confirmed_at.is_some() {
            if cfg.mailer_autoconfirm {
                return Err(AuthError::new(StatusCode::UNPROCESSABLE_ENTITY, "user_already_exists", "User already registered"));
            }
            // GoTrue answers a confirmed address with an obfuscated user, so
            // sign-up cannot be used to find out who has an account.
            return Ok(Json(obfuscated_user(&email, b.data)).into_response());
        }
        send_link(&state, &existing, "confirmation", &email, q.redirect_to.as_deref()).await?;
        return Ok(Json(users::json_of(&state.pool, &existing).await?).into_response());
    }
    let hash = users::hash_password(password, cfg.bcrypt_cost).await?;
    let mut tx = state.pool.begin().await?;
    let user = users::create(
        &mut tx,
        NewUser {
            email: Some(email.clone()),
            password_hash: Some(hash),
            confirmed: cfg.mailer_autoconfirm,
            user_metadata: b.data.unwrap_or(json!({})),
            provider: "email".into(),
            ..NewUser::default()
        },
    )
    .await?;
    tx.commit().await?;
    audit(&state, Some(user.id), "user_signedup", json!({"provider": "email"}), Some(&ip)).await;
    if cfg.mailer_autoconfirm {
        let (issued, user) = session::start(&state, &user, "password", &ip, user_agent(&headers)).await?;
        audit(&state, Some(user.id), "login", json!({"provider": "email"}), Some(&ip)).await;
        return session_answer(&state, issued, &user).await;
    }
    send_link(&state, &user, "confirmation", &email, q.redirect_to.as_deref()).await?;
    Ok(Json(users::json_of(&state.pool, &user).await?).into_response())
}

fn obfuscated_user(email: &str, data: Option<Value>) -> Value {
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    json!({
        "id": Uuid::new_v4(), "aud": "authenticated", "role": "authenticated", "email": email, "phone": "",
        "confirmation_sent_at": now, "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": data.unwrap_or(json!({})), "identities": [], "created_at": now, "updated_at": now,
        "is_anonymous": false,
    })
}

async fn anonymous_signup(state: &AppState, ip: &str, headers: &HeaderMap, data: Option<Value>) -> AuthResult {
    if !state.config.auth.anonymous_users {
        return Err(AuthError::new(StatusCode::UNPROCESSABLE_ENTITY, "anonymous_provider_disabled", "Anonymous sign-ins are disabled"));
    }
    limit(state, Bucket::hourly("anonymous_users", rl(state).anonymous_users, "over_request_rate_limit"), &[ip]).await?;
    let mut tx = state.pool.begin().await?;
    let user = users::create(
        &mut tx,
        NewUser { is_anonymous: true, user_metadata: data.unwrap_or(json!({})), ..NewUser::default() },
    )
    .await?;
    tx.commit().await?;
    audit(state, Some(user.id), "user_signedup", json!({"provider": "anonymous"}), Some(ip)).await;
    let (issued, user) = session::start(state, &user, "anonymous", ip, user_agent(headers)).await?;
    session_answer(state, issued, &user).await
}

// ------------------------------------------------------------------ token

#[derive(Debug, Default, Deserialize)]
struct TokenQuery {
    grant_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct TokenBody {
    email: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    auth_code: Option<String>,
    code_verifier: Option<String>,
}

async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
    Body(b): Body<TokenBody>,
) -> AuthResult {
    match q.grant_type.as_deref() {
        Some("password") => password_grant(&state, &ip, &headers, b).await,
        Some("refresh_token") => {
            let t = b.refresh_token.as_deref().filter(|t| !t.is_empty()).ok_or_else(|| AuthError::validation("refresh_token required"))?;
            limit(&state, Bucket::five_minutes("token_refresh", rl(&state).token_refresh), &[&ip]).await?;
            let (issued, user) = session::refresh(&state, t).await?;
            audit(&state, Some(user.id), "token_refreshed", json!({}), Some(&ip)).await;
            session_answer(&state, issued, &user).await
        }
        Some("pkce") => {
            let code = b.auth_code.ok_or_else(|| AuthError::validation("auth_code required"))?;
            let verifier = b.code_verifier.ok_or_else(|| AuthError::validation("code_verifier required"))?;
            oauth::exchange_code(&state, &code, &verifier, &ip, user_agent(&headers)).await
        }
        Some(other) => Err(AuthError::validation(format!("unsupported_grant_type: {other}"))),
        None => Err(AuthError::validation("grant_type is required (password, refresh_token or pkce)")),
    }
}

async fn password_grant(state: &AppState, ip: &str, headers: &HeaderMap, b: TokenBody) -> AuthResult {
    let email = b.email.as_deref().map(str::trim).unwrap_or("").to_lowercase();
    let password = b.password.unwrap_or_default();
    if email.is_empty() {
        return Err(AuthError::validation("missing email or phone"));
    }
    limit(state, Bucket::five_minutes("sign_in_sign_ups", rl(state).sign_in_sign_ups), &[ip, &email]).await?;
    let user = users::by_email(&state.pool, &email).await?;
    let ok = users::verify_password(&password, user.as_ref().and_then(|u| u.encrypted_password.as_deref())).await;
    let user = match (user, ok) {
        (Some(u), true) => u,
        _ => {
            audit(state, None, "login_failed", json!({"email": email}), Some(ip)).await;
            return Err(AuthError::invalid_credentials());
        }
    };
    if user.is_banned() {
        return Err(AuthError::bad_request("user_banned", "User is banned"));
    }
    if user.email_confirmed_at.is_none() && !state.config.auth.mailer_autoconfirm {
        return Err(AuthError::bad_request("email_not_confirmed", "Email not confirmed"));
    }
    let (issued, user) = session::start(state, &user, "password", ip, user_agent(headers)).await?;
    audit(state, Some(user.id), "login", json!({"provider": "email"}), Some(ip)).await;
    session_answer(state, issued, &user).await
}

// ------------------------------------------------------------------ the signed-in user

/// The verified access token of a signed-in user, with the session check
/// GoTrue makes (`session_not_found` once the session is gone).
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub claims: Value,
    pub session_id: Option<Uuid>,
}

pub async fn signed_in(state: &AppState, bearer: Option<String>) -> AuthResult<SignedIn> {
    let token = bearer.ok_or_else(AuthError::no_authorization)?;
    let (claims, source) = state.keys.verify(&token).map_err(AuthError::bad_jwt)?;
    if claims.get("role").and_then(Value::as_str) != Some("authenticated") && source == jwt::Source::Local {
        let sub = claims.get("sub").and_then(Value::as_str);
        if sub.is_none() {
            return Err(AuthError::bad_jwt("the token is an API key, not a user's access token"));
        }
    }
    let user_id = if source == jwt::Source::External {
        users::map_external_user(state, &claims).await?
    } else {
        claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| AuthError::bad_jwt("the token's sub is not a user id"))?
    };
    let session_id = claims.get("session_id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok());
    if let Some(sid) = session_id
        && source == jwt::Source::Local
        && !state.maintenance()
        && !session::exists(state, sid).await?
    {
        return Err(AuthError::session_not_found());
    }
    let user = users::by_id(&state.pool, user_id).await?.ok_or_else(|| {
        AuthError::new(StatusCode::FORBIDDEN, "user_not_found", "User from sub claim in JWT does not exist")
    })?;
    Ok(SignedIn { user, claims, session_id })
}

async fn get_user(State(state): State<AppState>, Bearer(t): Bearer) -> AuthResult {
    let s = signed_in(&state, t).await?;
    Ok(Json(users::json_of(&state.pool, &s.user).await?).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct UpdateUserBody {
    email: Option<String>,
    password: Option<String>,
    data: Option<Value>,
}

async fn update_user(
    State(state): State<AppState>,
    Bearer(t): Bearer,
    ClientIp(ip): ClientIp,
    Query(q): Query<RedirectQuery>,
    Body(b): Body<UpdateUserBody>,
) -> AuthResult {
    refuse_in_maintenance(&state)?;
    let s = signed_in(&state, t).await?;
    let user = s.user;
    let mut tx = state.pool.begin().await?;
    if let Some(data) = &b.data {
        let Value::Object(patch) = data else { return Err(AuthError::validation("data must be an object")) };
        // Top-level keys are merged; a null value removes the key (GoTrue's rule).
        let mut meta = user.raw_user_meta_data.as_object().cloned().unwrap_or_default();
        for (k, v) in patch {
            if v.is_null() {
                meta.remove(k);
            } else {
                meta.insert(k.clone(), v.clone());
            }
        }
        sqlx::query("update argus_auth.users set raw_user_meta_data = $2, updated_at = now() where id = $1")
            .bind(user.id)
            .bind(Value::Object(meta))
            .execute(&mut *tx)
            .await?;
    }
    if let Some(pw) = b.password.as_deref() {
        users::check_password(&state, pw)?;
        if user.is_anonymous && user.email.is_none() && b.email.is_none() {
            return Err(AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "email_address_not_provided",
                "Updating password of an anonymous user requires an email address",
            ));
        }
        let hash = users::hash_password(pw, state.config.auth.bcrypt_cost).await?;
        sqlx::query("update argus_auth.users set encrypted_password = $2, updated_at = now() where id = $1")
            .bind(user.id)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
    }
    let mut mail_to: Option<String> = None;
    if let Some(email) = b.email.as_deref() {
        let email = users::check_email(email)?;
        if user.email.as_deref().map(str::to_lowercase) != Some(email.clone()) {
            let taken = users::by_email(&mut *tx, &email).await?;
            if taken.is_some_and(|u| u.id != user.id) {
                return Err(AuthError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "email_exists",
                    "A user with this email address has already been registered",
                ));
            }
            if state.config.auth.mailer_autoconfirm {
                link_or_change_email(&mut tx, &user, &email).await?;
            } else {
                sqlx::query("update argus_auth.users set email_change = $2, updated_at = now() where id = $1")
                    .bind(user.id)
                    .bind(&email)
                    .execute(&mut *tx)
                    .await?;
                mail_to = Some(email);
            }
        }
    }
    tx.commit().await?;
    if let Some(email) = mail_to {
        send_link(&state, &user, "email_change", &email, q.redirect_to.as_deref()).await?;
    }
    audit(&state, Some(user.id), "user_modified", json!({}), Some(&ip)).await;
    let user = users::by_id(&state.pool, user.id).await?.ok_or_else(AuthError::user_not_found)?;
    Ok(Json(users::json_of(&state.pool, &user).await?).into_response())
}

/// Sets a confirmed e-mail address; an anonymous user becomes a permanent
/// one with an `email` identity.
async fn link_or_change_email(tx: &mut sqlx::PgConnection, user: &User, email: &str) -> AuthResult<()> {
    let mut app_meta = user.raw_app_meta_data.clone();
    if user.is_anonymous {
        app_meta["provider"] = json!("email");
        app_meta["providers"] = json!(["email"]);
    }
    sqlx::query(
        "update argus_auth.users set email = $2, email_change = null, email_confirmed_at = now(), is_anonymous = false,
         raw_app_meta_data = $3, updated_at = now() where id = $1",
    )
    .bind(user.id)
    .bind(email)
    .bind(&app_meta)
    .execute(&mut *tx)
    .await?;
    users::add_identity(
        &mut *tx,
        user.id,
        "email",
        &user.id.to_string(),
        &json!({"sub": user.id, "email": email, "email_verified": true, "phone_verified": false}),
    )
    .await?;
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
struct LogoutQuery {
    scope: Option<String>,
}

async fn logout(
    State(state): State<AppState>,
    Bearer(t): Bearer,
    ClientIp(ip): ClientIp,
    Query(q): Query<LogoutQuery>,
) -> AuthResult {
    let s = signed_in(&state, t).await?;
    refuse_in_maintenance(&state)?;
    let scope = q.scope.as_deref().unwrap_or("global");
    let sid = s.session_id;
    let n = match scope {
        "global" => sqlx::query("delete from argus_auth.sessions where user_id = $1").bind(s.user.id).execute(&state.pool).await?,
        "local" => sqlx::query("delete from argus_auth.sessions where id = $1").bind(sid).execute(&state.pool).await?,
        "others" => {
            sqlx::query("delete from argus_auth.sessions where user_id = $1 and id is distinct from $2")
                .bind(s.user.id)
                .bind(sid)
                .execute(&state.pool)
                .await?
        }
        other => return Err(AuthError::validation(format!("Unsupported logout scope {other:?}; use global, local or others"))),
    };
    audit(&state, Some(s.user.id), "logout", json!({"scope": scope, "sessions": n.rows_affected()}), Some(&ip)).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ------------------------------------------------------------------ settings, health, keys

async fn settings(State(state): State<AppState>) -> Json<Value> {
    let a = &state.config.auth;
    let mut external = json!({"email": true, "phone": false, "anonymous_users": a.anonymous_users});
    for p in ["apple", "azure", "bitbucket", "discord", "facebook", "figma", "github", "gitlab", "google", "keycloak",
        "linkedin", "notion", "slack", "spotify", "twitch", "twitter", "workos", "zoom"] {
        external[p] = json!(a.providers.get(p).is_some_and(|c| c.enabled));
    }
    for (name, c) in &a.providers {
        external[name.as_str()] = json!(c.enabled);
    }
    Json(json!({
        "external": external,
        "disable_signup": a.disable_signup,
        "mailer_autoconfirm": a.mailer_autoconfirm,
        "phone_autoconfirm": false,
        "sms_provider": "",
        "saml_enabled": false,
    }))
}

async fn health() -> Json<Value> {
    Json(json!({"version": env!("CARGO_PKG_VERSION"), "name": "GoTrue", "description": "Argus implements the GoTrue API"}))
}

async fn jwks(State(state): State<AppState>) -> Response {
    let mut r = Json(state.keys.jwks()).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=600"));
    r
}

// ------------------------------------------------------------------ e-mailed tokens

#[derive(Debug, Default, Deserialize)]
pub struct RedirectQuery {
    pub redirect_to: Option<String>,
}

/// GoTrue's token hash: hex sha224 of the address and the code.
pub fn token_hash(email: &str, otp: &str) -> String {
    hex::encode(Sha224::digest(format!("{}{otp}", email.to_lowercase()).as_bytes()))
}

fn verification_type(kind: &str) -> &'static str {
    match kind {
        "confirmation" => "signup",
        "recovery" => "recovery",
        "magiclink" => "magiclink",
        "email_change" => "email_change",
        "invite" => "invite",
        _ => "signup",
    }
}

/// Creates a one-time token of `kind` for `user` (replacing earlier ones of
/// that kind) and returns `(otp, token_hash, link)` without sending anything.
pub async fn make_link(
    state: &AppState,
    user: &User,
    kind: &str,
    email: &str,
    redirect_to: Option<&str>,
) -> AuthResult<(String, String, String, String)> {
    let otp = format!("{:06}", rand::random::<u32>() % 1_000_000);
    let hash = token_hash(email, &otp);
    let mut tx = state.pool.begin().await?;
    sqlx::query("delete from argus_auth.one_time_tokens where user_id = $1 and token_type = $2")
        .bind(user.id)
        .bind(kind)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into argus_auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to, expires_at)
         values ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
    )
    .bind(Uuid::now_v7())
    .bind(user.id)
    .bind(kind)
    .bind(&hash)
    .bind(email.to_lowercase())
    .bind(state.config.auth.otp_exp.as_secs() as f64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let redirect = redirect_to.filter(|r| state.config.redirect_allowed(r)).unwrap_or(&state.config.site_url).to_owned();
    let mut link = url::Url::parse(&format!("{}/auth/v1/verify", state.config.external_url))
        .map_err(|_| AuthError::internal())?;
    link.query_pairs_mut()
        .append_pair("token", &hash)
        .append_pair("type", verification_type(kind))
        .append_pair("redirect_to", &redirect);
    Ok((otp, hash, link.to_string(), redirect))
}

/// Makes a one-time token and e-mails it, within the e-mail rate limit.
pub async fn send_link(state: &AppState, user: &User, kind: &str, email: &str, redirect_to: Option<&str>) -> AuthResult<()> {
    limit(state, Bucket::hourly("email_sent", rl(state).email_sent, "over_email_send_rate_limit"), &["all"]).await?;
    let (otp, token_hash, link, _) = make_link(state, user, kind, email, redirect_to).await?;
    let subject = match kind {
        "confirmation" => "Confirm your signup",
        "recovery" => "Reset your password",
        "magiclink" => "Your sign-in link",
        "email_change" => "Confirm your new e-mail address",
        _ => "You have been invited",
    };
    let mail = Mail { to: email.to_owned(), kind: kind.to_owned(), subject: subject.into(), otp, token_hash, link };
    state.mailer.send(&mail).await.map_err(|e| {
        tracing::error!(error = %e, "mail not sent");
        AuthError::new(StatusCode::INTERNAL_SERVER_ERROR, "unexpected_failure", "Error sending the e-mail")
    })?;
    audit(state, Some(user.id), &format!("{kind}_requested"), json!({"email": email}), None).await;
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
struct EmailBody {
    email: Option<String>,
    #[serde(default)]
    create_user: Option<bool>,
    data: Option<Value>,
    options: Option<Value>,
}

async fn recover(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Query(q): Query<RedirectQuery>,
    Body(b): Body<EmailBody>,
) -> AuthResult {
    refuse_in_maintenance(&state)?;
    let email = users::check_email(b.email.as_deref().unwrap_or(""))?;
    limit(&state, Bucket::five_minutes("otp", rl(&state).otp), &[&ip, &email]).await?;
    if let Some(user) = users::by_email(&state.pool, &email).await? {
        send_link(&state, &user, "recovery", &email, q.redirect_to.as_deref()).await?;
    }
    Ok(Json(json!({})).into_response())
}

async fn otp(State(state): State<AppState>, ClientIp(ip): ClientIp, Query(q): Query<RedirectQuery>, Body(b): Body<EmailBody>) -> AuthResult {
    passwordless(&state, &ip, q.redirect_to.as_deref(), b).await
}

async fn magiclink(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Query(q): Query<RedirectQuery>,
    Body(mut b): Body<EmailBody>,
) -> AuthResult {
    b.create_user = Some(true);
    passwordless(&state, &ip, q.redirect_to.as_deref(), b).await
}

/// `/otp` and `/magiclink`: one e-mail carrying both a link and a code.
async fn passwordless(state: &AppState, ip: &str, redirect_to: Option<&str>, b: EmailBody) -> AuthResult {
    refuse_in_maintenance(state)?;
    let email = users::check_email(b.email.as_deref().unwrap_or(""))?;
    limit(state, Bucket::five_minutes("otp", rl(state).otp), &[ip, &email]).await?;
    let redirect = redirect_to.map(str::to_owned).or_else(|| {
        b.options.as_ref().and_then(|o| o.get("email_redirect_to").or(o.get("emailRedirectTo"))).and_then(Value::as_str).map(str::to_owned)
    });
    let user = match users::by_email(&state.pool, &email).await? {
        Some(u) => u,
        None => {
            if !b.create_user.unwrap_or(true) {
                return Err(AuthError::new(StatusCode::UNPROCESSABLE_ENTITY, "otp_disabled", "Signups not allowed for otp"));
            }
            if state.config.auth.disable_signup {
                return Err(AuthError::new(StatusCode::UNPROCESSABLE_ENTITY, "signup_disabled", "Signups not allowed for this instance"));
            }
            let mut tx = state.pool.begin().await?;
            let u = users::create(
                &mut tx,
                NewUser {
                    email: Some(email.clone()),
                    user_metadata: b.data.clone().unwrap_or(json!({})),
                    provider: "email".into(),
                    ..NewUser::default()
                },
            )
            .await?;
            tx.commit().await?;
            audit(state, Some(u.id), "user_signedup", json!({"provider": "email", "via": "otp"}), Some(ip)).await;
            u
        }
    };
    let kind = if user.email_confirmed_at.is_some() { "magiclink" } else { "confirmation" };
    send_link(state, &user, kind, &email, redirect.as_deref()).await?;
    Ok(Json(json!({})).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct ResendBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    email: Option<String>,
}

async fn resend(State(state): State<AppState>, ClientIp(ip): ClientIp, Query(q): Query<RedirectQuery>, Body(b): Body<ResendBody>) -> AuthResult {
    refuse_in_maintenance(&state)?;
    let email = users::check_email(b.email.as_deref().unwrap_or(""))?;
    limit(&state, Bucket::five_minutes("otp", rl(&state).otp), &[&ip, &email]).await?;
    let kind = match b.kind.as_deref() {
        Some("signup") => "confirmation",
        Some("email_change") => "email_change",
        other => return Err(AuthError::validation(format!("Missing one of these types: signup, email_change (got {other:?})"))),
    };
    if let Some(user) = users::by_email(&state.pool, &email).await? {
        if kind == "confirmation" && user.email_confirmed_at.is_none() {
            send_link(&state, &user, kind, &email, q.redirect_to.as_deref()).await?;
        }
    } else if kind == "email_change"
        && let Some(user) = sqlx::query_as::<_, User>(&format!(
            "select {} from argus_auth.users where lower(email_change) = $1",
            users::USER_COLUMNS
        ))
        .bind(&email)
        .fetch_optional(&state.pool)
        .await?
    {
        send_link(&state, &user, kind, &email, q.redirect_to.as_deref()).await?;
    }
    Ok(Json(json!({})).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct VerifyBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    token: Option<String>,
    token_hash: Option<String>,
    email: Option<String>,
}

fn otp_invalid() -> AuthError {
    AuthError::new(StatusCode::FORBIDDEN, "otp_expired", "Token has expired or is invalid")
}

/// Consumes a one-time token and applies it. Returns the user and how they
/// signed in.
async fn consume(state: &AppState, kind: &str, token: Option<&str>, token_hash: Option<&str>, email: Option<&str>) -> AuthResult<(User, &'static str)> {
    refuse_in_maintenance(state)?;
    let hash = match (token_hash, token, email) {
        (Some(h), _, _) if !h.is_empty() => h.to_owned(),
        (_, Some(t), Some(e)) => self::token_hash(e.trim(), t.trim()),
        _ => return Err(AuthError::validation("Verify requires either a token_hash, or a token and an email")),
    };
    let allowed: &[&str] = match kind {
        "signup" => &["confirmation"],
        "recovery" => &["recovery"],
        "magiclink" | "email" => &["magiclink", "confirmation"],
        "invite" => &["invite"],
        "email_change" => &["email_change"],
        other => return Err(AuthError::validation(format!("Verify requires a verification type, not {other:?}"))),
    };
    let mut tx = state.pool.begin().await?;
    let row: Option<(Uuid, String, String)> = sqlx::query_as(
        "delete from argus_auth.one_time_tokens where token_hash = $1 and token_type = any($2) and expires_at > now()
         returning user_id, token_type, relates_to",
    )
    .bind(&hash)
    .bind(allowed.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    .fetch_optional(&mut *tx)
    .await?;
    let (user_id, token_type, relates_to) = row.ok_or_else(otp_invalid)?;
    if let Some(e) = email
        && e.trim().to_lowercase() != relates_to
    {
        return Err(otp_invalid());
    }
    let user = users::by_id(&mut *tx, user_id).await?.ok_or_else(otp_invalid)?;
    let method = match token_type.as_str() {
        "email_change" => {
            link_or_change_email(&mut tx, &user, &relates_to).await?;
            "email_change"
        }
        "recovery" => {
            sqlx::query("update argus_auth.users set email_confirmed_at = coalesce(email_confirmed_at, now()) where id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            "recovery"
        }
        "invite" => {
            sqlx::query("update argus_auth.users set email_confirmed_at = coalesce(email_confirmed_at, now()) where id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            "invite"
        }
        _ => {
            sqlx::query("update argus_auth.users set email_confirmed_at = coalesce(email_confirmed_at, now()) where id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "update argus_auth.identities set identity_data = identity_data || '{\"email_verified\": true}' where user_id = $1 and provider = 'email'",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            "otp"
        }
    };
    tx.commit().await?;
    let user = users::by_id(&state.pool, user_id).await?.ok_or_else(otp_invalid)?;
    audit(state, Some(user_id), "user_confirmation_requested", json!({"type": kind, "token_type": token_type}), None).await;
    Ok((user, method))
}

async fn verify(State(state): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap, Body(b): Body<VerifyBody>) -> AuthResult {
    limit(&state, Bucket::five_minutes("verify", rl(&state).verify), &[&ip]).await?;
    let kind = b.kind.as_deref().unwrap_or("");
    let (user, method) = consume(&state, kind, b.token.as_deref(), b.token_hash.as_deref(), b.email.as_deref()).await?;
    let (issued, user) = session::start(&state, &user, method, &ip, user_agent(&headers)).await?;
    audit(&state, Some(user.id), "login", json!({"provider": "email", "method": method}), Some(&ip)).await;
    session_answer(&state, issued, &user).await
}

#[derive(Debug, Default, Deserialize)]
struct VerifyLinkQuery {
    token: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    redirect_to: Option<String>,
}

/// The e-mailed link: verifies, then redirects with the session in the URL
/// fragment (or the error), as GoTrue's implicit flow does.
async fn verify_link(State(state): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap, Query(q): Query<VerifyLinkQuery>) -> Response {
    let redirect = q
        .redirect_to
        .clone()
        .filter(|r| state.config.redirect_allowed(r))
        .unwrap_or_else(|| state.config.site_url.clone());
    let kind = q.kind.clone().unwrap_or_default();
    let result = async {
        limit(&state, Bucket::five_minutes("verify", rl(&state).verify), &[&ip]).await?;
        let (user, method) = consume(&state, &kind, None, q.token.as_deref(), None).await?;
        let (issued, _) = session::start(&state, &user, method, &ip, user_agent(&headers)).await?;
        audit(&state, Some(user.id), "login", json!({"provider": "email", "method": method}), Some(&ip)).await;
        Ok::<_, AuthError>(issued)
    }
    .await;
    let fragment = match result {
        Ok(i) => url::form_urlencoded::Serializer::new(String::new())
            .append_pair("access_token", &i.access_token)
            .append_pair("expires_at", &i.expires_at.to_string())
            .append_pair("expires_in", &i.expires_in.to_string())
            .append_pair("refresh_token", &i.refresh_token)
            .append_pair("token_type", "bearer")
            .append_pair("type", &kind)
            .finish(),
        Err(e) => url::form_urlencoded::Serializer::new(String::new())
            .append_pair("error", if e.status == StatusCode::FORBIDDEN { "access_denied" } else { "server_error" })
            .append_pair("error_code", e.code)
            .append_pair("error_description", &e.message)
            .finish(),
    };
    Redirect::to(&format!("{redirect}#{fragment}")).into_response()
}

/// Requires a service-role (or `supabase_admin`) token.
pub fn require_admin(state: &AppState, bearer: Option<String>) -> AuthResult<Value> {
    let token = bearer.ok_or_else(AuthError::no_authorization)?;
    let (claims, source) = state.keys.verify(&token).map_err(AuthError::bad_jwt)?;
    let role = claims.get("role").and_then(Value::as_str).unwrap_or("");
    if source != jwt::Source::Local || !matches!(role, "service_role" | "supabase_admin") {
        return Err(AuthError::not_admin());
    }
    Ok(claims)
}

/// A long-lived API key (`anon` or `service_role`), as a Supabase project's.
pub fn api_key(state: &AppState, role: &str, years: i64) -> String {
    let now = Utc::now().timestamp();
    state.keys.sign(&json!({"iss": "argus", "role": role, "iat": now, "exp": now + years * 365 * 24 * 3600}))
}

/// Creates a confirmed user with a password (`argus-server create-user`).
pub async fn admin_create_user(state: &AppState, email: &str, password: &str) -> AuthResult<Uuid> {
    let email = users::check_email(email)?;
    users::check_password(state, password)?;
    let hash = users::hash_password(password, state.config.auth.bcrypt_cost).await?;
    let mut tx = state.pool.begin().await?;
    let user = users::create(
        &mut tx,
        NewUser { email: Some(email), password_hash: Some(hash), confirmed: true, provider: "email".into(), ..NewUser::default() },
    )
    .await?;
    tx.commit().await?;
    audit(state, Some(user.id), "user_signedup", json!({"provider": "email", "via": "cli"}), None).await;
    Ok(user.id)
}
