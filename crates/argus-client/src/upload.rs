//! Resumable, parallel uploads of video files through argus-server's
//! presigned URLs.
//!
//! aws-cli, s5cmd and rclone cannot resume a multipart upload across runs;
//! the AWS Java SDK can, by persisting it. This uploader does the same and
//! checks more. Before a byte is sent it records, in the local store, the
//! server's video id, the part size, and the file's length, modification
//! time and SHA-256; each part's ETag is recorded the moment the object
//! store acknowledges it. On the next run (after a crash, a restart of the
//! app or of the machine) it:
//!
//! 1. finds the record for the file and checks that the file is the one it
//!    was (length and modification time); a changed file aborts the old
//!    upload on the server and starts over cleanly. With no record, a video
//!    of the same content and size already in the project (a run that died
//!    right after announcing it, or another machine) is adopted, not
//!    stored twice;
//! 2. asks the server which parts the store holds (S3 ListParts) and keeps
//!    those whose size is right and whose ETag matches the one recorded;
//! 3. sends only the rest, `concurrency` parts at a time, each retried with
//!    backoff, with presigned URLs fetched in batches and renewed before
//!    they expire;
//! 4. completes the upload with every part's ETag; the server checks the
//!    object's size, and its worker checks the SHA-256 while probing.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    io::{Read, Seek, SeekFrom},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use argus_core::model::RemoteState;
use argus_store::{Store, UploadRecord, UploadedPart};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{Api, Error, Result, api::network};

/// A video as the server describes it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RemoteVideo {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub size_bytes: u64,
    pub sha256: String,
    #[serde(default)]
    pub content_type: String,
    /// uploading, processing, ready or failed.
    pub status: String,
    #[serde(default)]
    pub failure: Option<String>,
    #[serde(default)]
    pub part_size: Option<u64>,
    #[serde(default)]
    pub probe: Option<Value>,
}

impl RemoteVideo {
    /// The server's status as argus-core's [`RemoteState`].
    pub fn state(&self) -> Result<RemoteState> {
        RemoteState::from_status(&self.status, self.failure.as_deref()).map_err(|e| Error::Protocol { url: format!("/api/v1/videos/{}", self.id), reason: e.to_string() })
    }
}

/// A request the server presigned: send it as it is.
#[derive(Debug, Clone, Deserialize)]
pub struct Presigned {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct ServerPart {
    number: u32,
    etag: String,
    size: u64,
}

#[derive(Debug, Deserialize)]
struct Plan {
    kind: String,
    part_size: Option<u64>,
    part_count: Option<u32>,
    put: Option<Presigned>,
    #[serde(default)]
    parts_done: Vec<ServerPart>,
    expires_in_seconds: u64,
}

#[derive(Debug, Deserialize)]
struct Answer {
    video: RemoteVideo,
    upload: Plan,
}

#[derive(Debug, Deserialize)]
struct PartUrl {
    number: u32,
    #[serde(flatten)]
    request: Presigned,
}

/// How an upload is run.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Parts in flight at once.
    pub concurrency: usize,
    /// Tries per part (and per presign call) before the upload stops; what
    /// was sent is kept for the next run.
    pub attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// The MIME type announced to the server; guessed from the extension
    /// when `None`.
    pub content_type: Option<String>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self { concurrency: 10, attempts: 8, backoff_base: Duration::from_millis(250), backoff_max: Duration::from_secs(30), content_type: None }
    }
}

/// Where an upload stands, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Hashing the file before announcing it.
    Hashing { done: u64, total: u64 },
    /// Sending: bytes the store holds, of the total. Reported once as
    /// sending starts (resumed parts count from there) and after each part.
    Sending { done: u64, total: u64, parts_done: u32, parts_total: u32 },
    /// Every byte is there; the server is checking it.
    Completing,
}

/// What an upload did.
#[derive(Debug, Clone)]
pub struct UploadOutcome {
    pub video: RemoteVideo,
    /// An earlier run's upload was continued.
    pub resumed: bool,
    /// An earlier run's upload was abandoned because the file changed.
    pub restarted: bool,
    /// Parts (or single PUTs) sent by this run, retries excluded.
    pub parts_sent: u32,
    /// Parts the store already held.
    pub parts_reused: u32,
    pub bytes_sent: u64,
}

type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Uploads files to one server, keeping their state in `store`.
#[derive(Clone)]
pub struct Uploader {
    api: Api,
    store: Arc<Store>,
    opts: UploadOptions,
    progress: ProgressFn,
    cancel: Arc<AtomicBool>,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader").field("server", &self.api.base()).field("opts", &self.opts).finish_non_exhaustive()
    }
}

/// The identity of a file on disk that a resume relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    mtime_ns: i64,
}

fn stamp(path: &Path) -> Result<FileStamp> {
    let meta = std::fs::metadata(path).map_err(|e| Error::file(path, e))?;
    if !meta.is_file() {
        return Err(Error::Invalid(format!("{} is not a file", path.display())));
    }
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    Ok(FileStamp { len: meta.len(), mtime_ns })
}

/// The MIME type for a video file name.
pub fn content_type_for(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("mp4" | "m4v") => "video/mp4",
        Some("mov") => "video/quicktime",
        Some("mkv") => "video/x-matroska",
        Some("webm") => "video/webm",
        Some("avi") => "video/x-msvideo",
        Some("ts" | "mts" | "m2ts") => "video/mp2t",
        Some("mpg" | "mpeg") => "video/mpeg",
        _ => "application/octet-stream",
    }
}

/// SHA-256 of a file, reported as it goes.
pub fn sha256_file(path: &Path, progress: &dyn Fn(u64, u64)) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::file(path, e))?;
    let total = f.metadata().map_err(|e| Error::file(path, e))?.len();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::file(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        done += n as u64;
        progress(done, total);
    }
    Ok(hex::encode(h.finalize()))
}

fn part_len(total: u64, part_size: u64, n: u32) -> u64 {
    let start = u64::from(n - 1) * part_size;
    part_size.min(total.saturating_sub(start))
}

impl Uploader {
    pub fn new(api: Api, store: Arc<Store>, opts: UploadOptions) -> Self {
        Self { api, store, opts, progress: Arc::new(|_| {}), cancel: Arc::new(AtomicBool::new(false)) }
    }

    /// Calls `f` as the upload advances (from the upload's tasks).
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Arc::new(f);
        self
    }

    /// A flag that stops the upload at the next part boundary when set.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    fn server(&self) -> &str {
        self.api.base()
    }

    /// Uploads `path` into `project`, resuming an earlier run's upload of
    /// the same file when there is one.
    pub async fn upload(&self, project: &str, path: &Path) -> Result<UploadOutcome> {
        let path = std::fs::canonicalize(path).map_err(|e| Error::file(path, e))?;
        let key = path.to_string_lossy().into_owned();
        let now = stamp(&path)?;
        if now.len == 0 {
            return Err(Error::Invalid(format!("{} is empty; there is nothing to upload", path.display())));
        }
        let mut restarted = false;
        if let Some(rec) = self.store.upload_for_path(self.server(), project, &key).await? {
            if rec.file_len == now.len && rec.mtime_ns == now.mtime_ns {
                if let Some(out) = self.resume(&rec, &path).await? {
                    return Ok(out);
                }
            } else {
                tracing::info!(video = %rec.video_id, path = %key, "the file changed since its upload began; starting over");
                restarted = true;
                self.abandon(&rec.video_id).await;
            }
            self.store.upload_end(self.server(), &rec.video_id).await?;
        }
        let mut out = self.fresh(project, &path, &key, now).await?;
        out.restarted = restarted;
        Ok(out)
    }

    /// Aborts an upload on the server (best effort: it may be gone).
    async fn abandon(&self, video: &str) {
        if let Err(e) = self.api.delete(&format!("/api/v1/videos/{video}/upload")).await {
            tracing::info!(%video, error = %e, "could not abort the old upload on the server");
        }
    }

    async fn fresh(&self, project: &str, path: &Path, key: &str, st: FileStamp) -> Result<UploadOutcome> {
        let hash = {
            let (p, progress) = (path.to_path_buf(), self.progress.clone());
            tokio::task::spawn_blocking(move || sha256_file(&p, &|done, total| progress(&Progress::Hashing { done, total })))
                .await
                .map_err(|e| Error::Invalid(format!("hashing stopped: {e}")))??
        };
        if stamp(path)? != st {
            return Err(Error::Invalid(format!("{} changed while it was being hashed; try again once it is written", path.display())));
        }
        // The same file already on the server (an earlier run that died
        // between announcing the upload and recording it, or another
        // machine): adopt it instead of storing it twice.
        if let Some(out) = self.adopt(project, path, key, st, &hash).await? {
            return Ok(out);
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "video".into());
        let content_type = self.opts.content_type.clone().unwrap_or_else(|| content_type_for(path).to_owned());
        let answer: Answer = match self
            .api
            .post(&format!("/api/v1/projects/{project}/videos"), &json!({"name": name, "size_bytes": st.len, "sha256": hash, "content_type": content_type}))
            .await
        {
            Ok(a) => a,
            // Announced by someone else since we looked: the server holds one
            // video per project and content.
            Err(e @ Error::Http { status: 409, .. }) => return self.adopt(project, path, key, st, &hash).await?.ok_or(e),
            Err(e) => return Err(e),
        };
        let rec = self.record(project, key, st, &hash, &answer.video);
        self.store.upload_begin(&rec).await?;
        self.send(&rec, path, answer, false).await
    }

    /// Takes over the project's video with this content, if the server has
    /// one: finished, or still uploading (then its missing parts are sent).
    async fn adopt(&self, project: &str, path: &Path, key: &str, st: FileStamp, hash: &str) -> Result<Option<UploadOutcome>> {
        let listed: Vec<RemoteVideo> = self.api.get(&format!("/api/v1/projects/{project}/videos")).await?;
        let Some(v) = listed.into_iter().find(|v| v.sha256 == hash && v.size_bytes == st.len && v.status != "failed") else {
            return Ok(None);
        };
        let rec = self.record(project, key, st, hash, &v);
        if v.status != "uploading" {
            return Ok(Some(UploadOutcome { video: v, resumed: false, restarted: false, parts_sent: 0, parts_reused: 0, bytes_sent: 0 }));
        }
        self.store.upload_begin(&rec).await?;
        let answer: Answer = self.api.get(&format!("/api/v1/videos/{}/upload", v.id)).await?;
        self.send(&rec, path, answer, true).await.map(Some)
    }

    fn record(&self, project: &str, key: &str, st: FileStamp, hash: &str, v: &RemoteVideo) -> UploadRecord {
        UploadRecord {
            server: self.server().to_owned(),
            video_id: v.id.clone(),
            project_id: project.to_owned(),
            path: key.to_owned(),
            file_len: st.len,
            mtime_ns: st.mtime_ns,
            sha256: hash.to_owned(),
            part_size: v.part_size.unwrap_or(0),
        }
    }

    /// Continues `rec`; `None` when the server no longer has the upload
    /// (aborted or deleted there), so a fresh one is needed.
    async fn resume(&self, rec: &UploadRecord, path: &Path) -> Result<Option<UploadOutcome>> {
        match self.api.get::<Answer>(&format!("/api/v1/videos/{}/upload", rec.video_id)).await {
            Ok(answer) => self.send(rec, path, answer, true).await.map(Some),
            Err(Error::Http { status: 404, .. }) => Ok(None),
            Err(Error::Http { status: 409, .. }) => {
                // Completed already (the last run died after completing).
                let video: RemoteVideo = self.api.get(&format!("/api/v1/videos/{}", rec.video_id)).await?;
                self.store.upload_end(self.server(), &rec.video_id).await?;
                if video.status == "uploading" {
                    return Ok(None);
                }
                Ok(Some(UploadOutcome { video, resumed: true, restarted: false, parts_sent: 0, parts_reused: 0, bytes_sent: 0 }))
            }
            Err(e) => Err(e),
        }
    }

    async fn send(&self, rec: &UploadRecord, path: &Path, answer: Answer, resumed: bool) -> Result<UploadOutcome> {
        let total = rec.file_len;
        if answer.video.size_bytes != total || answer.video.sha256 != rec.sha256 {
            return Err(Error::Protocol {
                url: format!("/api/v1/videos/{}", rec.video_id),
                reason: "the server's video is not the file recorded for it".into(),
            });
        }
        let (sent, reused, bytes, parts) = match answer.upload.kind.as_str() {
            "single" => {
                let put = answer.upload.put.ok_or_else(|| Error::Protocol { url: rec.video_id.clone(), reason: "a single upload without its PUT".into() })?;
                let body = read_range(path, 0, total)?;
                self.emit(Progress::Sending { done: 0, total, parts_done: 0, parts_total: 1 });
                put_with_retries(&self.api, &self.opts, &self.cancel, &put, body).await?;
                self.emit(Progress::Sending { done: total, total, parts_done: 1, parts_total: 1 });
                (1, 0, total, Vec::new())
            }
            "multipart" => self.send_parts(rec, path, &answer.upload).await?,
            other => {
                return Err(Error::Protocol { url: rec.video_id.clone(), reason: format!("unknown upload kind {other:?}") });
            }
        };
        self.emit(Progress::Completing);
        let body = json!({"parts": parts.iter().map(|p: &UploadedPart| json!({"number": p.number, "etag": p.etag})).collect::<Vec<_>>()});
        let video: RemoteVideo = match self.api.post_idempotent(&format!("/api/v1/videos/{}/upload/complete", rec.video_id), &body).await {
            Ok(v) => v,
            // A retried completion that had gone through the first time.
            Err(e @ Error::Http { status: 409, .. }) => {
                let v: RemoteVideo = self.api.get(&format!("/api/v1/videos/{}", rec.video_id)).await?;
                if v.status == "uploading" {
                    return Err(e);
                }
                v
            }
            Err(e) => return Err(e),
        };
        self.store.upload_end(self.server(), &rec.video_id).await?;
        Ok(UploadOutcome { video, resumed, restarted: false, parts_sent: sent, parts_reused: reused, bytes_sent: bytes })
    }

    fn emit(&self, p: Progress) {
        (self.progress)(&p)
    }

    /// Sends the parts the store lacks; returns (sent, reused, bytes sent,
    /// every part with its ETag).
    async fn send_parts(&self, rec: &UploadRecord, path: &Path, plan: &Plan) -> Result<(u32, u32, u64, Vec<UploadedPart>)> {
        let total = rec.file_len;
        let part_size = plan.part_size.filter(|&s| s > 0).ok_or_else(|| Error::Protocol { url: rec.video_id.clone(), reason: "multipart without a part size".into() })?;
        let count = plan.part_count.unwrap_or_else(|| u32::try_from(total.div_ceil(part_size)).unwrap_or(u32::MAX));
        if part_size != rec.part_size || u64::from(count) != total.div_ceil(part_size) {
            return Err(Error::Protocol { url: rec.video_id.clone(), reason: "the server's part layout is not the recorded one".into() });
        }
        // Reconcile: the store's view wins; a recorded ETag must match it.
        let local: HashMap<u32, UploadedPart> = self.store.upload_parts(self.server(), &rec.video_id).await?.into_iter().map(|p| (p.number, p)).collect();
        let mut done: BTreeMap<u32, UploadedPart> = BTreeMap::new();
        for sp in &plan.parts_done {
            if sp.number == 0 || sp.number > count || sp.size != part_len(total, part_size, sp.number) {
                continue;
            }
            let etag = sp.etag.trim_matches('"').to_owned();
            if local.get(&sp.number).is_some_and(|l| l.etag != etag) {
                continue; // a different body than the one we recorded: send again
            }
            done.insert(sp.number, UploadedPart { number: sp.number, etag, size: sp.size });
        }
        let stale: Vec<u32> = local.keys().filter(|n| !done.contains_key(n)).copied().collect();
        if !stale.is_empty() {
            self.store.upload_parts_forget(self.server(), &rec.video_id, &stale).await?;
        }
        let adopted: Vec<UploadedPart> = done.values().filter(|p| !local.contains_key(&p.number)).cloned().collect();
        if !adopted.is_empty() {
            self.store.upload_parts_done(self.server(), &rec.video_id, &adopted).await?;
        }
        let reused = done.len() as u32;
        let held: u64 = done.values().map(|p| p.size).sum();
        self.emit(Progress::Sending { done: held, total, parts_done: reused, parts_total: count });
        let todo: VecDeque<u32> = (1..=count).filter(|n| !done.contains_key(n)).collect();
        tracing::info!(video = %rec.video_id, parts = count, reused, to_send = todo.len(), "uploading");
        // Stored parts are recorded by one task, as many per transaction as
        // have arrived, so no part waits for the local store's fsync (a
        // part the local record lacks after a crash is found by ListParts).
        let (record, mut recorded) = tokio::sync::mpsc::unbounded_channel::<UploadedPart>();
        let recorder = {
            let (store, server, video) = (self.store.clone(), self.server().to_owned(), rec.video_id.clone());
            tokio::spawn(async move {
                while let Some(first) = recorded.recv().await {
                    let mut batch = vec![first];
                    while let Ok(p) = recorded.try_recv() {
                        batch.push(p);
                    }
                    store.upload_parts_done(&server, &video, &batch).await?;
                }
                Ok::<(), argus_store::Error>(())
            })
        };
        let shared = Arc::new(Shared {
            record,
            queue: parking_lot::Mutex::new(todo),
            urls: tokio::sync::Mutex::new(HashMap::new()),
            ttl: Duration::from_secs(plan.expires_in_seconds.max(10)),
            bytes_done: AtomicU64::new(held),
            parts_done: AtomicU32::new(reused),
            failed: AtomicBool::new(false),
        });
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..self.opts.concurrency.clamp(1, 64) {
            let (me, shared, rec, path) = (self.clone(), shared.clone(), rec.clone(), path.to_path_buf());
            tasks.spawn(async move { me.part_worker(&shared, &rec, &path, part_size, count).await });
        }
        let mut sent = 0u32;
        let mut bytes = 0u64;
        let mut first_err = None;
        while let Some(r) = tasks.join_next().await {
            match r {
                Ok(Ok(list)) => {
                    for p in list {
                        sent += 1;
                        bytes += p.size;
                        done.insert(p.number, p);
                    }
                }
                Ok(Err(e)) => {
                    shared.failed.store(true, Ordering::Relaxed);
                    first_err.get_or_insert(e);
                }
                Err(e) => {
                    shared.failed.store(true, Ordering::Relaxed);
                    first_err.get_or_insert(Error::Invalid(format!("an upload task stopped: {e}")));
                }
            }
        }
        // Every worker is done: the recorder finishes what it was given.
        drop(shared);
        match recorder.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_err.get_or_insert(e.into());
            }
            Err(e) => {
                first_err.get_or_insert(Error::Invalid(format!("recording the parts stopped: {e}")));
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        if done.len() as u32 != count {
            return Err(Error::Invalid(format!("{} of {count} parts were sent; run the upload again to finish it", done.len())));
        }
        Ok((sent, reused, bytes, done.into_values().collect()))
    }

    /// One of `concurrency` loops: takes parts off the queue until it is
    /// empty, handing each to the recorder as soon as the store has it.
    async fn part_worker(&self, shared: &Shared, rec: &UploadRecord, path: &Path, part_size: u64, count: u32) -> Result<Vec<UploadedPart>> {
        let mut sent = Vec::new();
        let mut file = std::fs::File::open(path).map_err(|e| Error::file(path, e))?;
        let total = rec.file_len;
        loop {
            if shared.failed.load(Ordering::Relaxed) {
                return Ok(sent);
            }
            if self.cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            let Some(n) = shared.queue.lock().pop_front() else {
                return Ok(sent);
            };
            let len = part_len(total, part_size, n);
            let offset = u64::from(n - 1) * part_size;
            let body = read_at(&mut file, path, offset, len)?;
            let mut req = shared.url(&self.api, &rec.video_id, n, count).await?;
            let etag = put_with_retries(&self.api, &self.opts, &self.cancel, &req, body).await;
            let etag = match etag {
                Ok(t) => t,
                Err(Error::Http { status: 403, .. }) => {
                    // Expired or clock-skewed URL: one more go with a new one.
                    shared.forget(n).await;
                    req = shared.url(&self.api, &rec.video_id, n, count).await?;
                    let body = read_at(&mut file, path, offset, len)?;
                    put_with_retries(&self.api, &self.opts, &self.cancel, &req, body).await?
                }
                Err(e) => return Err(e),
            };
            let etag = etag.ok_or_else(|| Error::Protocol { url: "object store".into(), reason: format!("part {n} was stored without an ETag") })?;
            let part = UploadedPart { number: n, etag, size: len };
            let _ = shared.record.send(part.clone());
            shared.forget(n).await;
            let done = shared.bytes_done.fetch_add(len, Ordering::Relaxed) + len;
            let parts_done = shared.parts_done.fetch_add(1, Ordering::Relaxed) + 1;
            self.emit(Progress::Sending { done, total, parts_done, parts_total: count });
            sent.push(part);
        }
    }
}

/// State the part loops share.
struct Shared {
    /// To the task that records stored parts in the local store.
    record: tokio::sync::mpsc::UnboundedSender<UploadedPart>,
    queue: parking_lot::Mutex<VecDeque<u32>>,
    /// Presigned part URLs, fetched in batches, with when they were fetched.
    urls: tokio::sync::Mutex<HashMap<u32, (Presigned, Instant)>>,
    ttl: Duration,
    bytes_done: AtomicU64,
    parts_done: AtomicU32,
    failed: AtomicBool,
}

/// Part URLs asked for at once.
const URL_BATCH: usize = 64;

impl Shared {
    /// A fresh URL for part `n`, fetching it with the next parts in line.
    async fn url(&self, api: &Api, video: &str, n: u32, count: u32) -> Result<Presigned> {
        let mut urls = self.urls.lock().await;
        // Renew well before expiry: a part may take a while to send.
        let fresh_for = self.ttl.mul_f64(0.5);
        if let Some((p, at)) = urls.get(&n)
            && at.elapsed() < fresh_for
        {
            return Ok(p.clone());
        }
        let mut numbers = vec![n];
        numbers.extend(self.queue.lock().iter().copied().filter(|m| *m <= count && urls.get(m).is_none_or(|(_, at)| at.elapsed() >= fresh_for)).take(URL_BATCH - 1));
        let path = format!("/api/v1/videos/{video}/upload/parts");
        // The API client retries transient failures with its own backoff.
        let list: Vec<PartUrl> = api.post_idempotent(&path, &json!({ "numbers": numbers })).await?;
        let at = Instant::now();
        for p in list {
            urls.insert(p.number, (p.request, at));
        }
        urls.get(&n).map(|(p, _)| p.clone()).ok_or_else(|| Error::Protocol { url: path, reason: format!("no URL for part {n}") })
    }

    async fn forget(&self, n: u32) {
        self.urls.lock().await.remove(&n);
    }
}

pub(crate) fn backoff(opts: &UploadOptions, attempt: u32) -> Duration {
    crate::api::Backoff { base: opts.backoff_base, max: opts.backoff_max, attempts: opts.attempts }.delay(attempt)
}

fn read_range(path: &Path, offset: u64, len: u64) -> Result<Bytes> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::file(path, e))?;
    read_at(&mut f, path, offset, len)
}

fn read_at(f: &mut std::fs::File, path: &Path, offset: u64, len: u64) -> Result<Bytes> {
    let mut buf = vec![0u8; usize::try_from(len).map_err(|_| Error::Invalid("the part is too large for this machine".into()))?];
    f.seek(SeekFrom::Start(offset)).and_then(|_| f.read_exact(&mut buf)).map_err(|e| Error::file(path, e))?;
    Ok(Bytes::from(buf))
}

/// Sends a presigned request with `body`, retrying transient failures with
/// backoff; returns the ETag the store answered.
async fn put_with_retries(
    api: &Api,
    opts: &UploadOptions,
    cancel: &AtomicBool,
    req: &Presigned,
    body: Bytes,
) -> Result<Option<String>> {
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|_| Error::Protocol { url: "presigned request".into(), reason: format!("method {:?}", req.method) })?;
    let mut attempt = 0;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let mut r = api.http().request(method.clone(), &req.url).body(body.clone());
        for (k, v) in &req.headers {
            r = r.header(k, v);
        }
        let outcome = match r.send().await {
            Err(e) => Err(network(&req.url, &e)),
            Ok(resp) if resp.status().is_success() => {
                let etag = resp.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok()).map(|s| s.trim_matches('"').to_owned());
                // Drain the (empty) body so the connection is reused.
                let _ = resp.bytes().await;
                Ok(etag)
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.bytes().await.unwrap_or_default();
                let path = req.url.split('?').next().unwrap_or_default().to_owned();
                Err(crate::api::http_error(&req.method, &path, status, &text))
            }
        };
        match outcome {
            Ok(t) => return Ok(t),
            Err(e) if e.is_transient() && attempt + 1 < opts.attempts => {
                tracing::debug!(error = %e, attempt, "part failed; retrying");
                tokio::time::sleep(backoff(opts, attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
