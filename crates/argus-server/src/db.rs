//! The database: roles, migrations, grants, the role matrix, and running a
//! request's queries under row-level security.
//!
//! Two connections, as Supabase has them: the *owner* connection runs the
//! set-up step and migrations; the *runtime* connection logs in as a role that
//! owns nothing and inherits nothing (`argus_api`, NOINHERIT). Each API request
//! that touches Argus's tables runs in a transaction that first does what
//! PostgREST does: `set_config('role', 'authenticated', true)` and
//! `set_config('request.jwt.claims', <claims>, true)`. Policies then read the
//! claims through `argus.uid()`.

use std::time::Duration;

use sqlx::{
    PgPool, Postgres, Transaction,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::error::ConfigError;
use argus_core::model::{Permission, Role};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The roles the policies name, as Supabase names them.
pub const API_ROLES: [&str; 3] = ["anon", "authenticated", "service_role"];

/// `argus-server db setup`: creates the database roles idempotently (they
/// are cluster-wide, so this is not a migration: parallel test databases on
/// one cluster and managed databases without CREATEROLE both work).
pub async fn setup_roles(owner: &PgPool, runtime_role: &str, runtime_password: Option<&str>) -> Result<(), ConfigError> {
    let mut last = None;
    // Concurrent set-ups on one cluster race on pg_authid; the loser retries.
    for _ in 0..5 {
        match setup_roles_once(owner, runtime_role, runtime_password).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    Err(ConfigError::Database(format!(
        "creating the database roles failed: {}; the owner connection needs CREATEROLE, or create the roles {} and {runtime_role} yourself",
        last.map(|e| e.to_string()).unwrap_or_default(),
        API_ROLES.join(", ")
    )))
}

async fn setup_roles_once(owner: &PgPool, runtime_role: &str, runtime_password: Option<&str>) -> Result<(), sqlx::Error> {
    for role in API_ROLES {
        create_role_if_missing(owner, role, "nologin noinherit").await?;
    }
    create_role_if_missing(owner, runtime_role, "login noinherit").await?;
    for role in API_ROLES {
        let granted: bool = sqlx::query_scalar("select pg_has_role($1, $2, 'member')")
            .bind(runtime_role)
            .bind(role)
            .fetch_one(owner)
            .await?;
        if !granted {
            sqlx::query(&format!("grant {role} to {runtime_role}")).execute(owner).await?;
        }
    }
    if let Some(pw) = runtime_password {
        // a bound parameter cannot be used in ALTER ROLE: quote it as a literal
        let literal = format!("'{}'", pw.replace('\'', "''"));
        sqlx::query(&format!("alter role {runtime_role} password {literal}")).execute(owner).await?;
    }
    Ok(())
}

async fn create_role_if_missing(owner: &PgPool, role: &str, attrs: &str) -> Result<(), sqlx::Error> {
    let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_roles where rolname = $1)")
        .bind(role)
        .fetch_one(owner)
        .await?;
    if !exists {
        // role names come from the fixed list or a checked config value
        match sqlx::query(&format!("create role {role} {attrs}")).execute(owner).await {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if matches!(db.code().as_deref(), Some("42710") | Some("23505")) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Runs the embedded migrations, then the steps that follow the code rather
/// than a migration: the runtime role's grants on the auth schema and the role
/// matrix from argus-core.
pub async fn migrate(owner: &PgPool, runtime_role: &str) -> Result<(), ConfigError> {
    let missing: Vec<String> = sqlx::query_scalar(
        "select r from unnest($1::text[]) r where not exists (select 1 from pg_roles where rolname = r)",
    )
    .bind(API_ROLES.iter().map(|s| s.to_string()).chain([runtime_role.to_owned()]).collect::<Vec<_>>())
    .fetch_all(owner)
    .await?;
    if !missing.is_empty() {
        return Err(ConfigError::Database(format!(
            "the database roles {} are missing; run `argus-server db setup` once with an owner connection that may create roles",
            missing.join(", ")
        )));
    }
    MIGRATOR.run(owner).await?;
    let mut tx = owner.begin().await?;
    // Serialise concurrent starts against one database.
    sqlx::query("select pg_advisory_xact_lock(7261636775)").execute(&mut *tx).await?;
    for stmt in [
        format!("grant usage on schema argus_auth to {runtime_role}"),
        format!("grant select, insert, update, delete on all tables in schema argus_auth to {runtime_role}"),
        format!("grant usage on all sequences in schema argus_auth to {runtime_role}"),
        format!("grant usage on schema argus to {runtime_role}"),
        format!("grant select on _sqlx_migrations to {runtime_role}"),
    ] {
        sqlx::query(&stmt).execute(&mut *tx).await?;
    }
    sync_role_matrix(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Writes argus-core's role matrix into `argus.role_matrix`, which every
/// policy reads: the matrix is written once, in Rust.
async fn sync_role_matrix(tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
    let names: Vec<String> = Permission::ALL.iter().map(|p| p.as_str().to_owned()).collect();
    let ranks: Vec<i32> = Permission::ALL.iter().map(|p| Role::minimum_for(*p).rank()).collect();
    sqlx::query(
        "insert into argus.role_matrix (permission, min_rank) select * from unnest($1::text[], $2::int[])
         on conflict (permission) do update set min_rank = excluded.min_rank",
    )
    .bind(&names)
    .bind(&ranks)
    .execute(&mut **tx)
    .await?;
    sqlx::query("delete from argus.role_matrix where permission <> all($1::text[])")
        .bind(&names)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn connect(url: &str, max: u32, what: &str) -> Result<PgPool, ConfigError> {
    let opts: PgConnectOptions = url
        .parse()
        .map_err(|e| ConfigError::Invalid(format!("{what} database URL is not valid ({e})")))?;
    PgPoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        // No ping before every use (a round trip per request); a broken
        // connection fails its query and is dropped, and idle ones are
        // closed after five minutes.
        .test_before_acquire(false)
        .idle_timeout(Duration::from_secs(300))
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await
        .map_err(|e| ConfigError::Database(format!("cannot connect to the {what} database: {e}")))
}

/// Whether the migrations this binary carries are all applied (asked on the
/// runtime connection, which may read sqlx's bookkeeping table).
pub async fn migrations_applied(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> =
        sqlx::query_scalar("select max(version) from _sqlx_migrations where success").fetch_one(pool).await?;
    Ok(applied.unwrap_or(0) >= latest)
}

/// Begins a transaction running as `authenticated` with `claims`, in one
/// round trip: `BEGIN` and the two `set_config` calls go as one simple query.
pub async fn begin_as(pool: &PgPool, claims: &serde_json::Value) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let sql = format!(
        "BEGIN; SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', {}, true)",
        sql_literal(&claims.to_string())
    );
    pool.begin_with(sql).await
}

/// `s` as an escape-string literal (`E'...'`): backslashes and quotes are
/// doubled, so the literal means `s` whatever `standard_conforming_strings` is.
/// JSON text holds no NUL (serde writes control characters as `\u0000`).
pub fn sql_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    out.push_str("E'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\0' => {}
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Begins a transaction running as `service_role` (the worker endpoints):
/// the role Supabase gives its service key, which works across projects.
pub async fn begin_as_service(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("select set_config('role', 'service_role', true), set_config('request.jwt.claims', '{\"role\":\"service_role\"}', true)")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::sql_literal;

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(sql_literal(r#"{"a":"it's"}"#), r#"E'{"a":"it''s"}'"#);
        assert_eq!(sql_literal(r#"{"a":"\"x\\"}"#), r#"E'{"a":"\\"x\\\\"}'"#);
        assert_eq!(sql_literal("a\0b"), "E'ab'");
    }
}
