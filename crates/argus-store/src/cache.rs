//! Index of model outputs cached on disk (SAM image embeddings and the
//! like). The files live elsewhere; the store records which frame of which
//! video each file holds, its size and when it was last used, so the cache
//! can be looked up without touching the disk and trimmed oldest-first.

use argus_core::id::VideoId;
use serde::Serialize;

use crate::{Error, Result, Store, store::now_ms};

/// One cached model output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheEntry {
    pub video: VideoId,
    /// Model name and version, e.g. `sam2.1-hiera-tiny`.
    pub model: String,
    pub frame: u64,
    pub path: String,
    pub bytes: u64,
}

fn i64_of(v: u64, what: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Conflict(format!("{what} {v} is out of range")))
}

fn entry((video, model, frame, path, bytes): (String, String, i64, String, i64)) -> Result<CacheEntry> {
    Ok(CacheEntry {
        video: crate::rows::parse(&video, "video_id")?,
        model,
        frame: u64::try_from(frame).map_err(|_| Error::decode("negative cache frame"))?,
        path,
        bytes: u64::try_from(bytes).map_err(|_| Error::decode("negative cache size"))?,
    })
}

impl Store {
    /// Records (or replaces) a cached output.
    pub async fn cache_put(&self, e: &CacheEntry) -> Result<()> {
        let now = now_ms() as i64;
        let mut w = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO model_cache (video_id, model, frame, path, bytes, created_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(video_id, model, frame) DO UPDATE SET path = excluded.path, bytes = excluded.bytes,
             created_at = excluded.created_at, used_at = excluded.used_at",
        )
        .bind(e.video.to_string())
        .bind(&e.model)
        .bind(i64_of(e.frame, "frame")?)
        .bind(&e.path)
        .bind(i64_of(e.bytes, "size")?)
        .bind(now)
        .bind(now)
        .execute(&mut w.conn)
        .await?;
        Ok(())
    }

    /// The cached output for a frame, if recorded.
    pub async fn cache_get(&self, video: VideoId, model: &str, frame: u64) -> Result<Option<CacheEntry>> {
        let row: Option<(String, String, i64, String, i64)> = sqlx::query_as(
            "SELECT video_id, model, frame, path, bytes FROM model_cache WHERE video_id = ? AND model = ? AND frame = ?",
        )
        .bind(video.to_string())
        .bind(model)
        .bind(i64_of(frame, "frame")?)
        .fetch_optional(&self.readers)
        .await?;
        row.map(entry).transpose()
    }

    /// Marks an entry as just used (it is trimmed last).
    pub async fn cache_touch(&self, video: VideoId, model: &str, frame: u64) -> Result<()> {
        let mut w = self.writer.lock().await;
        sqlx::query("UPDATE model_cache SET used_at = ? WHERE video_id = ? AND model = ? AND frame = ?")
            .bind(now_ms() as i64)
            .bind(video.to_string())
            .bind(model)
            .bind(i64_of(frame, "frame")?)
            .execute(&mut w.conn)
            .await?;
        Ok(())
    }

    /// Total bytes the index accounts for.
    pub async fn cache_bytes(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(bytes), 0) FROM model_cache").fetch_one(&self.readers).await?;
        Ok(n.max(0) as u64)
    }

    /// Removes least recently used entries until at most `max_bytes` remain
    /// and returns them, so the caller deletes their files.
    pub async fn cache_trim(&self, max_bytes: u64) -> Result<Vec<CacheEntry>> {
        let mut w = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin(&mut w.conn).await?;
        let all: Vec<(String, String, i64, String, i64)> =
            sqlx::query_as("SELECT video_id, model, frame, path, bytes FROM model_cache ORDER BY used_at DESC, created_at DESC")
                .fetch_all(&mut *tx)
                .await?;
        let mut kept: u64 = 0;
        let mut removed = Vec::new();
        for row in all {
            let e = entry(row)?;
            if kept.saturating_add(e.bytes) <= max_bytes {
                kept += e.bytes;
                continue;
            }
            sqlx::query("DELETE FROM model_cache WHERE video_id = ? AND model = ? AND frame = ?")
                .bind(e.video.to_string())
                .bind(&e.model)
                .bind(i64_of(e.frame, "frame")?)
                .execute(&mut *tx)
                .await?;
            removed.push(e);
        }
        tx.commit().await?;
        Ok(removed)
    }
}
