//! Sync bookkeeping: the outbox of local changes and the pull cursors.
//!
//! Each command writes its [`Change`]s here in the same transaction as the
//! edit itself, so a change is either both applied and queued or neither.
//! A sync client reads pending changes in order, sends them (their ids make
//! resending harmless), and marks them sent.

use argus_core::{
    id::{ChangeId, ProjectId},
    model::{Change, Member},
};

use crate::{Error, Result, Store, store::now_ms};

/// One queued change and its position in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub seq: i64,
    pub change: Change,
}

impl Store {
    /// Up to `limit` unsent changes of `project`, oldest first.
    pub async fn pending_changes(&self, project: ProjectId, limit: u32) -> Result<Vec<Pending>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, change FROM outbox WHERE project_id = ? AND sent_at IS NULL ORDER BY seq LIMIT ?",
        )
        .bind(project.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter().map(|(seq, json)| Ok(Pending { seq, change: serde_json::from_str(&json)? })).collect()
    }

    /// How many changes of `project` wait to be sent.
    pub async fn pending_count(&self, project: ProjectId) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE project_id = ? AND sent_at IS NULL")
            .bind(project.to_string())
            .fetch_one(&self.readers)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// Marks changes the server acknowledged.
    pub async fn mark_sent(&self, ids: &[ChangeId]) -> Result<()> {
        let mut w = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin(&mut w.conn).await?;
        let now = now_ms() as i64;
        for id in ids {
            sqlx::query("UPDATE outbox SET sent_at = ? WHERE change_id = ? AND sent_at IS NULL")
                .bind(now)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Where the last pull of `project` stopped (opaque to the store).
    pub async fn pull_cursor(&self, project: ProjectId) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT cursor FROM sync_cursors WHERE project_id = ?")
            .bind(project.to_string())
            .fetch_optional(&self.readers)
            .await?)
    }

    pub async fn set_pull_cursor(&self, project: ProjectId, cursor: &str) -> Result<()> {
        let mut w = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO sync_cursors (project_id, cursor, updated_at) VALUES (?, ?, ?)
             ON CONFLICT(project_id) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
        )
        .bind(project.to_string())
        .bind(cursor)
        .bind(now_ms() as i64)
        .execute(&mut w.conn)
        .await?;
        Ok(())
    }

    /// Replaces the cached members (and their roles) of `project` with what
    /// the server reported. A cache: not undoable, not queued for sync.
    pub async fn replace_members(&self, project: ProjectId, members: &[Member]) -> Result<()> {
        if let Some(m) = members.iter().find(|m| m.project_id != project) {
            return Err(Error::Conflict(format!("member {} belongs to project {}, not {project}", m.user_id, m.project_id)));
        }
        let mut w = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin(&mut w.conn).await?;
        sqlx::query("DELETE FROM members WHERE project_id = ?").bind(project.to_string()).execute(&mut *tx).await?;
        let now = now_ms() as i64;
        for m in members {
            crate::rows::upsert(&mut tx, &argus_core::model::Entity::Member(m.clone())).await?;
            sqlx::query(
                "INSERT INTO users (id, display_name, updated_at) VALUES (?, ?, ?)
                 ON CONFLICT(id) DO UPDATE SET display_name = excluded.display_name, updated_at = excluded.updated_at",
            )
            .bind(m.user_id.to_string())
            .bind(&m.display_name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
