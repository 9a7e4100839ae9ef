//! Rate limits with GoTrue's defaults, counted in PostgreSQL so that every
//! server instance enforces one limit. Fixed windows: one row per bucket,
//! subject (an IP address or an e-mail address) and window.

use std::time::Duration;

use sqlx::PgPool;

use crate::error::AuthError;

#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    pub name: &'static str,
    pub limit: u32,
    pub window: Duration,
    pub code: &'static str,
}

impl Bucket {
    pub fn five_minutes(name: &'static str, limit: u32) -> Self {
        Self { name, limit, window: Duration::from_secs(300), code: "over_request_rate_limit" }
    }
    pub fn hourly(name: &'static str, limit: u32, code: &'static str) -> Self {
        Self { name, limit, window: Duration::from_secs(3600), code }
    }
}

/// Counts one request against each subject; refuses with 429 when any is
/// over the limit.
pub async fn hit(pool: &PgPool, bucket: Bucket, subjects: &[&str]) -> Result<(), AuthError> {
    let window = bucket.window.as_secs().max(1) as f64;
    let subjects: Vec<String> = subjects.iter().filter(|s| !s.is_empty()).map(|s| s.to_lowercase()).collect();
    if subjects.is_empty() {
        return Ok(());
    }
    let rows: Vec<(i32, f64)> = sqlx::query_as(
        "insert into argus_auth.rate_limits (bucket, subject, window_start, hits)
         select $1, s, to_timestamp(floor(extract(epoch from now())::float8 / $3::float8) * $3::float8), 1 from unnest($2::text[]) s
         on conflict (bucket, subject, window_start) do update set hits = rate_limits.hits + 1
         returning hits, $3::float8 - (extract(epoch from now()) - extract(epoch from window_start))::float8",
    )
    .bind(bucket.name)
    .bind(&subjects)
    .bind(window)
    .fetch_all(pool)
    .await?;
    if let Some((_, left)) = rows.iter().find(|(hits, _)| *hits as i64 > bucket.limit as i64) {
        return Err(AuthError::rate_limited(bucket.code, left.ceil().max(1.0) as u64));
    }
    // Now and then, forget windows older than a day.
    if rand::random::<u8>() == 0 {
        let _ = sqlx::query("delete from argus_auth.rate_limits where window_start < now() - interval '1 day'")
            .execute(pool)
            .await;
    }
    Ok(())
}
