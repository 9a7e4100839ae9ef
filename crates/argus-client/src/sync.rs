//! The sync engine: pushes a project's outbox and pulls everyone else's
//! changes (argus-server's sync protocol 1).
//!
//! - **Push** sends the outbox oldest first in batches. The server answers
//!   each change: applied, duplicate (sent before: a replay is a no-op) and
//!   stale (the server holds a newer version, which the pull brings) leave
//!   the outbox; refused ones move to the store's list of rejected changes
//!   with the reason, and the record is put back to the server's version.
//!   Nothing stalls behind one change.
//! - **Pull** asks for the changes after the project's cursor, page by page,
//!   and applies each page in one local transaction together with the new
//!   cursor, so a crash between pages repeats at most one page, harmlessly.
//! - A page that fails to arrive is asked for again: the cursor only moves
//!   with what was applied.

use std::sync::Arc;

use argus_core::{
    hlc::Hlc,
    id::{ChangeId, ProjectId},
    model::{Change, ChangeOp, Entity},
};
use argus_store::Store;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Api, Error, Result};

/// The sync protocol this client speaks.
pub const PROTOCOL: u32 = 1;

#[derive(Debug, Deserialize)]
struct PushAnswer {
    results: Vec<ChangeResult>,
}

#[derive(Debug, Deserialize)]
struct ChangeResult {
    id: Option<String>,
    status: String,
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PullAnswer {
    changes: Vec<PulledChange>,
    cursor: i64,
    more: bool,
}

#[derive(Debug, Deserialize)]
struct PulledChange {
    change: Change,
}

#[derive(Debug, Deserialize)]
struct RecordAnswer {
    hlc: String,
    deleted: bool,
    record: Option<Value>,
}

/// What one round of sync did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncReport {
    pub pushed: usize,
    /// Sent before (a retried push): no-ops.
    pub duplicates: usize,
    /// Older than the server's version: the pull brings the newer one.
    pub stale: usize,
    /// Refused by the server, with the reason; out of the outbox.
    pub refused: Vec<(ChangeId, String)>,
    pub pulled: usize,
    pub conflicts: usize,
    /// Pulled changes that could not be applied here, with why.
    pub skipped: Vec<(uuid::Uuid, String)>,
}

/// Syncs projects between a local store and one server.
#[derive(Debug, Clone)]
pub struct Syncer {
    api: Api,
    store: Arc<Store>,
    /// Changes per push request.
    pub batch: u32,
    /// Changes per pull page.
    pub page: u32,
    /// The signed-in user: edits this device made before signing in carry
    /// its local user, which becomes this one as they are pushed.
    pub user: Option<argus_core::id::UserId>,
}

impl Syncer {
    pub fn new(api: Api, store: Arc<Store>) -> Self {
        Self { api, store, batch: 500, page: 1000, user: None }
    }

    /// Pushes as `user` (see [`Syncer::user`]).
    pub fn as_user(mut self, user: argus_core::id::UserId) -> Self {
        self.user = Some(user);
        self
    }

    /// Pushes everything pending, then pulls everything new.
    pub async fn sync(&self, project: ProjectId) -> Result<SyncReport> {
        let mut report = SyncReport::default();
        self.push(project, &mut report).await?;
        self.pull(project, &mut report).await?;
        Ok(report)
    }

    /// Pushes the outbox of `project`, batch by batch.
    pub async fn push(&self, project: ProjectId, report: &mut SyncReport) -> Result<()> {
        if let Some(me) = self.user {
            // What was made here before the first sign-in is the user's.
            self.store.claim_local_work(me).await?;
        }
        loop {
            let pending = self.store.pending_changes(project, self.batch).await?;
            if pending.is_empty() {
                return Ok(());
            }
            let local = self.store.local_user();
            let changes: Vec<Change> = pending
                .iter()
                .map(|p| {
                    let mut c = p.change.clone();
                    if let (Some(me), ChangeOp::Upsert { entity }) = (self.user, &mut c.op) {
                        entity.map_user(local, me);
                    }
                    c
                })
                .collect();
            let body = json!({"protocol": PROTOCOL, "changes": changes});
            // Safe to repeat: every change carries its id.
            let answer: PushAnswer = self.api.post_gzip(&format!("/api/v1/projects/{project}/sync/push"), &body).await?;
            if answer.results.len() != pending.len() {
                return Err(Error::Protocol { url: "sync/push".into(), reason: format!("{} answers for {} changes", answer.results.len(), pending.len()) });
            }
            let mut done = Vec::new();
            let mut refused = Vec::new();
            for (p, r) in pending.iter().zip(&answer.results) {
                if r.id.as_deref().is_some_and(|id| id != p.change.id.to_string()) {
                    return Err(Error::Protocol { url: "sync/push".into(), reason: "answers out of order".into() });
                }
                match r.status.as_str() {
                    "applied" => {
                        report.pushed += 1;
                        done.push(p.change.id);
                    }
                    "duplicate" => {
                        report.duplicates += 1;
                        done.push(p.change.id);
                    }
                    "stale" => {
                        report.stale += 1;
                        done.push(p.change.id);
                    }
                    _ => refused.push((p.change.clone(), r.reason.clone().unwrap_or_else(|| "refused by the server".into()))),
                }
            }
            self.store.mark_sent(&done).await?;
            if !refused.is_empty() {
                let ids: Vec<(ChangeId, String)> = refused.iter().map(|(c, r)| (c.id, r.clone())).collect();
                self.store.reject_changes(&ids).await?;
                for (c, _) in &refused {
                    self.restore(project, c).await?;
                }
                report.refused.extend(ids);
            }
        }
    }

    /// Puts the record a refused change touched back to the server's version.
    async fn restore(&self, project: ProjectId, c: &Change) -> Result<()> {
        let (kind, id) = c.op.target();
        let server = match self.api.get::<RecordAnswer>(&format!("/api/v1/projects/{project}/sync/records/{}/{id}", kind.as_str())).await {
            Ok(r) => {
                let hlc: Hlc = r.hlc.parse().map_err(|_| Error::Protocol { url: "sync/records".into(), reason: "a bad HLC".into() })?;
                let op = match (r.deleted, r.record) {
                    (false, Some(v)) => ChangeOp::Upsert {
                        entity: serde_json::from_value::<Entity>(v).map_err(|e| Error::Protocol { url: "sync/records".into(), reason: e.to_string() })?,
                    },
                    _ => ChangeOp::Delete { kind, id },
                };
                Some((op, hlc))
            }
            Err(Error::Http { status: 404, .. }) => None,
            Err(e) => return Err(e),
        };
        self.store.restore_record(project, kind, id, server).await?;
        Ok(())
    }

    /// Pulls and applies everything after the project's cursor.
    pub async fn pull(&self, project: ProjectId, report: &mut SyncReport) -> Result<()> {
        loop {
            let since: i64 = self.store.pull_cursor(project).await?.and_then(|c| c.parse().ok()).unwrap_or(0);
            let page: PullAnswer =
                self.api.get(&format!("/api/v1/projects/{project}/sync/pull?protocol={PROTOCOL}&since={since}&limit={}", self.page)).await?;
            let changes: Vec<Change> = page.changes.into_iter().map(|c| c.change).collect();
            let applied = self.store.apply_remote(project, &changes, Some(&page.cursor.to_string())).await?;
            report.pulled += applied.applied.len();
            report.conflicts += applied.conflicts;
            report.skipped.extend(applied.skipped);
            if !page.more || changes.is_empty() {
                return Ok(());
            }
        }
    }
}

/// Where background sync stands, for the UI.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SyncStatus {
    /// The last round reached the server.
    pub online: bool,
    /// Signed in (false once the session ended: sign in again).
    pub signed_in: bool,
    /// Changes waiting to be sent.
    pub pending: u64,
    /// Unix milliseconds of the last completed round.
    pub last_sync_ms: Option<u64>,
    /// The last round's error, when it failed.
    pub last_error: Option<String>,
    /// Open conflicts (both versions kept) for the user to resolve.
    pub conflicts: usize,
    /// Changes the server refused, kept with their reasons.
    pub rejected: usize,
    /// Rounds done since the start.
    pub rounds: u64,
}

/// Syncs one project in the background: a round every `interval`, at once
/// when asked ([`BackgroundSync::sync_now`], e.g. after an edit), and with
/// growing backoff while the server cannot be reached. Its status is a
/// watch channel the UI follows.
#[derive(Debug)]
pub struct BackgroundSync {
    task: tokio::task::JoinHandle<()>,
    status: tokio::sync::watch::Receiver<SyncStatus>,
    wake: Arc<tokio::sync::Notify>,
}

impl BackgroundSync {
    pub fn spawn(syncer: Syncer, project: ProjectId, interval: std::time::Duration) -> Self {
        let (tx, rx) = tokio::sync::watch::channel(SyncStatus { signed_in: true, ..SyncStatus::default() });
        let wake = Arc::new(tokio::sync::Notify::new());
        let w = wake.clone();
        let task = tokio::spawn(async move {
            let backoff = crate::Backoff { base: std::time::Duration::from_millis(500), max: std::time::Duration::from_secs(60), attempts: u32::MAX };
            let mut failures = 0u32;
            loop {
                let result = syncer.sync(project).await;
                let mut st = tx.borrow().clone();
                st.rounds += 1;
                let wait = match result {
                    Ok(_) => {
                        failures = 0;
                        st.online = true;
                        st.signed_in = true;
                        st.last_error = None;
                        st.last_sync_ms = Some(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64));
                        interval
                    }
                    Err(e @ Error::SignInRequired { .. }) => {
                        st.signed_in = false;
                        st.last_error = Some(e.to_string());
                        // Nothing to do until the user signs in and asks again.
                        std::time::Duration::from_secs(24 * 3600)
                    }
                    Err(e) => {
                        failures += 1;
                        st.online = !e.is_transient();
                        st.last_error = Some(e.to_string());
                        backoff.delay(failures).max(std::time::Duration::from_millis(200)).min(interval.max(std::time::Duration::from_millis(200)) * 4)
                    }
                };
                if let Ok(n) = syncer.store.pending_count(project).await {
                    st.pending = n;
                }
                if let Ok(c) = syncer.store.conflicts(project).await {
                    st.conflicts = c.len();
                }
                if let Ok(r) = syncer.store.rejected_changes(project).await {
                    st.rejected = r.len();
                }
                if tx.send(st).is_err() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = w.notified() => {}
                }
            }
        });
        Self { task, status: rx, wake }
    }

    pub fn status(&self) -> SyncStatus {
        self.status.borrow().clone()
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<SyncStatus> {
        self.status.clone()
    }

    /// Starts a round now (after an edit, or after signing in again).
    pub fn sync_now(&self) {
        self.wake.notify_one();
    }
}

impl Drop for BackgroundSync {
    fn drop(&mut self) {
        self.task.abort();
    }
}
