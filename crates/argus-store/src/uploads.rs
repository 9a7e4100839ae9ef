//! Bookkeeping for resumable uploads of video files to a server.
//!
//! The uploader (argus-client) records an upload before it sends a byte and
//! each part as soon as the store acknowledges it, so an upload survives a
//! crash, a restart of the app or of the machine. None of this syncs: it
//! describes a file on this machine.

use crate::{Error, Result, Store, store::now_ms};

/// One upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// The server's base URL: ids are only unique per server.
    pub server: String,
    pub video_id: String,
    pub project_id: String,
    pub path: String,
    pub file_len: u64,
    /// The file's modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Lowercase hex SHA-256 of the whole file.
    pub sha256: String,
    /// Bytes per part; 0 for a single PUT.
    pub part_size: u64,
}

/// A part the object store acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    pub number: u32,
    pub etag: String,
    pub size: u64,
}

fn i64_of(v: u64, what: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Conflict(format!("{what} {v} is out of range")))
}

fn u64_of(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::decode(format!("negative {what} in the uploads table")))
}

type Row = (String, String, String, String, i64, i64, String, i64);

fn record((server, video_id, project_id, path, file_len, mtime_ns, sha256, part_size): Row) -> Result<UploadRecord> {
    Ok(UploadRecord {
        server,
        video_id,
        project_id,
        path,
        file_len: u64_of(file_len, "file length")?,
        mtime_ns,
        sha256,
        part_size: u64_of(part_size, "part size")?,
    })
}

const COLUMNS: &str = "server, video_id, project_id, path, file_len, mtime_ns, sha256, part_size";

impl Store {
    /// Records a new upload (replacing one with the same server and video).
    pub async fn upload_begin(&self, r: &UploadRecord) -> Result<()> {
        let mut w = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin(&mut w.conn).await?;
        sqlx::query("DELETE FROM uploads WHERE server = ? AND video_id = ?")
            .bind(&r.server)
            .bind(&r.video_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("INSERT INTO uploads ({COLUMNS}, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"))
            .bind(&r.server)
            .bind(&r.video_id)
            .bind(&r.project_id)
            .bind(&r.path)
            .bind(i64_of(r.file_len, "file length")?)
            .bind(r.mtime_ns)
            .bind(&r.sha256)
            .bind(i64_of(r.part_size, "part size")?)
            .bind(now_ms() as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The unfinished upload of `path` to `project` on `server`, if any.
    pub async fn upload_for_path(&self, server: &str, project: &str, path: &str) -> Result<Option<UploadRecord>> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM uploads WHERE server = ? AND project_id = ? AND path = ? ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(server)
        .bind(project)
        .bind(path)
        .fetch_optional(&self.readers)
        .await?;
        row.map(record).transpose()
    }

    /// Every unfinished upload to `server`, oldest first.
    pub async fn uploads(&self, server: &str) -> Result<Vec<UploadRecord>> {
        let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE server = ? ORDER BY created_at"))
            .bind(server)
            .fetch_all(&self.readers)
            .await?;
        rows.into_iter().map(record).collect()
    }

    /// Records a part the object store acknowledged.
    pub async fn upload_part_done(&self, server: &str, video_id: &str, part: &UploadedPart) -> Result<()> {
        self.upload_parts_done(server, video_id, std::slice::from_ref(part)).await
    }

    /// Records several stored parts in one transaction (one fsync).
    pub async fn upload_parts_done(&self, server: &str, video_id: &str, parts: &[UploadedPart]) -> Result<()> {
        let mut w = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin(&mut w.conn).await?;
        for part in parts {
            sqlx::query(
                "INSERT INTO upload_parts (server, video_id, part_number, etag, size) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT(server, video_id, part_number) DO UPDATE SET etag = excluded.etag, size = excluded.size",
            )
            .bind(server)
            .bind(video_id)
            .bind(i64::from(part.number))
            .bind(&part.etag)
            .bind(i64_of(part.size, "part size")?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Forgets parts (the store does not hold them after all).
    pub async fn upload_parts_forget(&self, server: &str, video_id: &str, numbers: &[u32]) -> Result<()> {
        let mut w = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin(&mut w.conn).await?;
        for n in numbers {
            sqlx::query("DELETE FROM upload_parts WHERE server = ? AND video_id = ? AND part_number = ?")
                .bind(server)
                .bind(video_id)
                .bind(i64::from(*n))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The parts recorded for an upload, by number.
    pub async fn upload_parts(&self, server: &str, video_id: &str) -> Result<Vec<UploadedPart>> {
        let rows: Vec<(i64, String, i64)> =
            sqlx::query_as("SELECT part_number, etag, size FROM upload_parts WHERE server = ? AND video_id = ? ORDER BY part_number")
                .bind(server)
                .bind(video_id)
                .fetch_all(&self.readers)
                .await?;
        rows.into_iter()
            .map(|(n, etag, size)| {
                Ok(UploadedPart {
                    number: u32::try_from(n).map_err(|_| Error::decode("bad part number in the uploads table"))?,
                    etag,
                    size: u64_of(size, "part size")?,
                })
            })
            .collect()
    }

    /// Records where a video's file stands on the server (a cache of the
    /// server's state: not undoable, not synced).
    pub async fn set_video_remote(&self, video: argus_core::id::VideoId, state: &argus_core::model::RemoteState) -> Result<()> {
        let mut w = self.writer.lock().await;
        let done = sqlx::query("UPDATE videos SET remote_status = ?, remote_failure = ? WHERE id = ?")
            .bind(state.status())
            .bind(state.failure())
            .bind(video.to_string())
            .execute(&mut w.conn)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("video", video));
        }
        Ok(())
    }

    /// Where this machine keeps `video`'s file (`None`: not here). Local to
    /// the machine: it never syncs, and pulled changes keep it.
    pub async fn set_video_local_path(&self, video: argus_core::id::VideoId, path: Option<&str>) -> Result<()> {
        let mut w = self.writer.lock().await;
        let done = sqlx::query("UPDATE videos SET local_path = ? WHERE id = ?").bind(path).bind(video.to_string()).execute(&mut w.conn).await?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("video", video));
        }
        Ok(())
    }

    /// Forgets an upload and its parts (finished, abandoned or restarted).
    pub async fn upload_end(&self, server: &str, video_id: &str) -> Result<()> {
        let mut w = self.writer.lock().await;
        sqlx::query("DELETE FROM uploads WHERE server = ? AND video_id = ?")
            .bind(server)
            .bind(video_id)
            .execute(&mut w.conn)
            .await?;
        Ok(())
    }
}
