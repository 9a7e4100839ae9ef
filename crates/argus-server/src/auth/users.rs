//! Users and identities: rows, their JSON as GoTrue answers it, passwords.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::{error::AuthError, state::AppState};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub aud: String,
    pub role: String,
    pub email: Option<String>,
    pub encrypted_password: Option<String>,
    pub email_confirmed_at: Option<DateTime<Utc>>,
    pub phone: Option<String>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub raw_app_meta_data: Value,
    pub raw_user_meta_data: Value,
    pub is_anonymous: bool,
    pub email_change: Option<String>,
    pub banned_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Identity {
    pub id: Uuid,
    pub user_id: Uuid,
    pub provider: String,
    pub provider_id: String,
    pub identity_data: Value,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const USER_COLUMNS: &str = "id, aud, role, email, encrypted_password, email_confirmed_at, phone, last_sign_in_at, \
    raw_app_meta_data, raw_user_meta_data, is_anonymous, email_change, banned_until, created_at, updated_at";

pub fn ts(t: &Option<DateTime<Utc>>) -> Value {
    t.map(|t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))).unwrap_or(Value::Null)
}

impl User {
    pub fn is_banned(&self) -> bool {
        self.banned_until.is_some_and(|t| t > Utc::now())
    }

    /// The user object the clients expect.
    pub fn to_json(&self, identities: &[Identity]) -> Value {
        let ids: Vec<Value> = identities
            .iter()
            .map(|i| {
                json!({
                    "identity_id": i.id, "id": i.provider_id, "user_id": i.user_id,
                    "identity_data": i.identity_data, "provider": i.provider,
                    "last_sign_in_at": ts(&i.last_sign_in_at), "created_at": ts(&Some(i.created_at)),
                    "updated_at": ts(&Some(i.updated_at)),
                    "email": i.identity_data.get("email").cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        let mut v = json!({
            "id": self.id,
            "aud": self.aud,
            "role": self.role,
            "email": self.email.clone().unwrap_or_default(),
            "email_confirmed_at": ts(&self.email_confirmed_at),
            "phone": self.phone.clone().unwrap_or_default(),
            "confirmed_at": ts(&self.email_confirmed_at),
            "last_sign_in_at": ts(&self.last_sign_in_at),
            "app_metadata": self.raw_app_meta_data,
            "user_metadata": self.raw_user_meta_data,
            "identities": ids,
            "created_at": ts(&Some(self.created_at)),
            "updated_at": ts(&Some(self.updated_at)),
            "is_anonymous": self.is_anonymous,
        });
        if let Some(e) = &self.email_change {
            v["new_email"] = Value::String(e.clone());
        }
        if self.banned_until.is_some() {
            v["banned_until"] = ts(&self.banned_until);
        }
        v
    }
}

pub async fn by_id<'e>(db: impl PgExecutor<'e>, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!("select {USER_COLUMNS} from argus_auth.users where id = $1")).bind(id).fetch_optional(db).await
}

pub async fn by_email<'e>(db: impl PgExecutor<'e>, email: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!("select {USER_COLUMNS} from argus_auth.users where lower(email) = lower($1)"))
        .bind(email)
        .fetch_optional(db)
        .await
}

pub async fn identities<'e>(db: impl PgExecutor<'e>, user: Uuid) -> Result<Vec<Identity>, sqlx::Error> {
    sqlx::query_as("select * from argus_auth.identities where user_id = $1 order by created_at").bind(user).fetch_all(db).await
}

pub async fn json_of(pool: &PgPool, user: &User) -> Result<Value, AuthError> {
    Ok(user.to_json(&identities(pool, user.id).await?))
}

/// A new user's fields.
#[derive(Debug, Default)]
pub struct NewUser {
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub confirmed: bool,
    pub user_metadata: Value,
    pub app_metadata: Value,
    pub is_anonymous: bool,
    /// `email`, or the external provider's name.
    pub provider: String,
    pub provider_id: Option<String>,
    pub identity_data: Value,
}

pub async fn create(tx: &mut sqlx::PgConnection, n: NewUser) -> Result<User, AuthError> {
    let id = Uuid::now_v7();
    let provider = if n.is_anonymous { "anonymous".to_owned() } else { n.provider.clone() };
    let mut app_meta = if n.app_metadata.is_object() { n.app_metadata.clone() } else { json!({}) };
    app_meta["provider"] = json!(provider);
    app_meta["providers"] = if n.is_anonymous { json!([]) } else { json!([provider]) };
    let user_meta = if n.user_metadata.is_object() { n.user_metadata.clone() } else { json!({}) };
    let user: User = sqlx::query_as(&format!(
        "insert into argus_auth.users (id, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data, is_anonymous)
         values ($1, $2, $3, case when $4 then now() end, $5, $6, $7) returning {USER_COLUMNS}"
    ))
    .bind(id)
    .bind(&n.email)
    .bind(&n.password_hash)
    .bind(n.confirmed)
    .bind(&app_meta)
    .bind(&user_meta)
    .bind(n.is_anonymous)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("users_email_key") => {
            AuthError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "user_already_exists", "User already registered")
        }
        _ => AuthError::from(e),
    })?;
    if !n.is_anonymous {
        let provider_id = n.provider_id.clone().unwrap_or_else(|| id.to_string());
        let mut data = if n.identity_data.is_object() { n.identity_data.clone() } else { json!({}) };
        data["sub"] = json!(provider_id);
        if let Some(e) = &n.email {
            data["email"] = json!(e);
            data["email_verified"] = json!(n.confirmed);
        }
        data["phone_verified"] = json!(false);
        add_identity(&mut *tx, id, &provider, &provider_id, &data).await?;
    }
    Ok(user)
}

pub async fn add_identity<'e>(
    db: impl PgExecutor<'e>,
    user: Uuid,
    provider: &str,
    provider_id: &str,
    data: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into argus_auth.identities (id, user_id, provider, provider_id, identity_data, last_sign_in_at)
         values ($1, $2, $3, $4, $5, now())
         on conflict (provider, provider_id) do update set identity_data = excluded.identity_data, updated_at = now()",
    )
    .bind(Uuid::now_v7())
    .bind(user)
    .bind(provider)
    .bind(provider_id)
    .bind(data)
    .execute(db)
    .await?;
    Ok(())
}

/// Hashes a password with bcrypt at the configured cost, off the async threads.
pub async fn hash_password(password: &str, cost: u32) -> Result<String, AuthError> {
    let pw = password.to_owned();
    // GoTrue stores `$2a$` hashes; keep that form so users move both ways.
    tokio::task::spawn_blocking(move || bcrypt::hash_with_result(pw, cost).map(|h| h.format_for_version(bcrypt::Version::TwoA)))
        .await
        .map_err(|_| AuthError::internal())?
        .map_err(|_| AuthError::internal())
}

/// Checks and hashes a password, if one is given (the admin endpoints).
pub async fn hash_if_given(state: &AppState, password: Option<&str>) -> Result<Option<String>, AuthError> {
    match password {
        Some(p) => {
            check_password(state, p)?;
            Ok(Some(hash_password(p, state.config.auth.bcrypt_cost).await?))
        }
        None => Ok(None),
    }
}

/// Checks a password against a stored bcrypt hash (`$2a$`, `$2b$`, `$2y$`).
pub async fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let Some(hash) = hash.map(str::to_owned) else {
        // Spend the same time as a real check, so timing does not tell
        // whether the account exists.
        let pw = password.to_owned();
        let _ = tokio::task::spawn_blocking(move || bcrypt::verify(pw, &DUMMY_HASH)).await;
        return false;
    };
    let pw = password.to_owned();
    tokio::task::spawn_blocking(move || bcrypt::verify(pw, &hash).unwrap_or(false)).await.unwrap_or(false)
}

static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| bcrypt::hash("not a password", bcrypt::DEFAULT_COST).unwrap_or_default());

/// Refuses passwords shorter than the configured minimum, as GoTrue does.
pub fn check_password(state: &AppState, password: &str) -> Result<(), AuthError> {
    let min = state.config.auth.password_min_length;
    if password.chars().count() < min {
        let mut e = AuthError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            format!("Password should be at least {min} characters."),
        );
        e.weak_password = Some(vec!["length".into()]);
        return Err(e);
    }
    if password.len() > 72 {
        return Err(AuthError::validation("Password cannot be longer than 72 characters"));
    }
    Ok(())
}

/// A plausible e-mail address: one `@`, something on both sides, a dot in the
/// domain, no spaces; at most 255 characters.
pub fn check_email(email: &str) -> Result<String, AuthError> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 255
        && !e.chars().any(char::is_whitespace)
        && e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') && !d.contains('@'));
    if ok { Ok(e) } else { Err(AuthError::validation("Unable to validate email address: invalid format")) }
}

/// The local user for a trusted external issuer's token, created on first
/// use and linked by an identity `(provider = "external:<iss>", provider_id = sub)`.
pub async fn map_external_user(state: &AppState, claims: &Value) -> Result<Uuid, AuthError> {
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("external");
    let sub = claims.get("sub").and_then(Value::as_str).ok_or_else(|| AuthError::bad_jwt("no sub claim"))?;
    let provider = format!("external:{iss}");
    if let Some(id) = sqlx::query_scalar::<_, Uuid>(
        "select user_id from argus_auth.identities where provider = $1 and provider_id = $2",
    )
    .bind(&provider)
    .bind(sub)
    .fetch_optional(&state.pool)
    .await?
    {
        return Ok(id);
    }
    if state.maintenance() {
        return Err(AuthError::maintenance());
    }
    let email = claims.get("email").and_then(Value::as_str).filter(|e| !e.is_empty()).map(str::to_lowercase);
    let mut tx = state.pool.begin().await?;
    // Serialise concurrent first uses of one external user.
    sqlx::query("select pg_advisory_xact_lock(hashtext($1 || $2))").bind(&provider).bind(sub).execute(&mut *tx).await?;
    if let Some(id) = sqlx::query_scalar::<_, Uuid>(
        "select user_id from argus_auth.identities where provider = $1 and provider_id = $2",
    )
    .bind(&provider)
    .bind(sub)
    .fetch_optional(&mut *tx)
    .await?
    {
        return Ok(id);
    }
    // The same e-mail address already has a local account: link it.
    let existing = match &email {
        Some(e) => by_email(&mut *tx, e).await?,
        None => None,
    };
    let id = match existing {
        Some(u) => {
            add_identity(&mut *tx, u.id, &provider, sub, &json!({"sub": sub, "email": email, "iss": iss})).await?;
            u.id
        }
        None => {
            let u = create(
                &mut tx,
                NewUser {
                    email: email.clone(),
                    confirmed: email.is_some(),
                    user_metadata: claims.get("user_metadata").cloned().unwrap_or(json!({})),
                    provider: provider.clone(),
                    provider_id: Some(sub.to_owned()),
                    identity_data: json!({"iss": iss}),
                    ..NewUser::default()
                },
            )
            .await?;
            u.id
        }
    };
    tx.commit().await?;
    crate::auth::audit(state, Some(id), "external_user_mapped", json!({"issuer": iss, "sub": sub}), None).await;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(check_email(" Ann@Example.COM ").expect("ok"), "ann@example.com");
        for bad in ["", "ann", "@example.com", "ann@", "ann@example", "a nn@example.com", "ann@@example.com", "ann@.com"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bcrypt_hashes_are_gotrue_compatible() {
        // A hash as GoTrue stores it ($2a$, cost 10), made by another bcrypt.
        let h = bcrypt::hash_with_result("hunter22", 4).expect("hash").format_for_version(bcrypt::Version::TwoA);
        assert!(h.starts_with("$2a$04$"));
        assert!(bcrypt::verify("hunter22", &h).expect("verify"));
        assert!(bcrypt::verify("x", &DUMMY_HASH).is_ok(), "the dummy hash is well-formed");
    }
}
