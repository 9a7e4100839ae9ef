//! The embedded S3-compatible store for `argus-server --dev` and the tests: a
//! real S3 server (s3s, backed by the local filesystem through s3s-fs) on a
//! loopback port, speaking SigV4 and checking signatures and expiry, so the
//! same presigned URLs work as against AWS.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use std::{collections::BTreeMap, sync::Arc};

use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto::Builder as ConnBuilder, graceful::GracefulShutdown},
};
use s3s::{auth::SimpleAuth, service::S3ServiceBuilder};
use tokio::sync::oneshot;

use super::StorageConfig;
use crate::error::ConfigError;

/// A running embedded store; stopped when dropped.
#[derive(Debug)]
pub struct EmbeddedStore {
    pub addr: SocketAddr,
    pub config: StorageConfig,
    stats: Arc<Stats>,
    stop: Option<oneshot::Sender<()>>,
}

/// What the embedded store has done, for operators and tests: how many
/// times each part of each multipart upload was stored.
#[derive(Debug, Default)]
pub struct Stats {
    part_writes: parking_lot::Mutex<BTreeMap<(String, i32), u32>>,
    /// Each multipart upload's object as it is put together (see `Assembly`).
    assemblies: parking_lot::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<Assembly>>>>,
}

/// A multipart upload's object put together while its parts arrive: each
/// part is appended (in the kernel) once every part before it is there,
/// while it is still in the page cache, so completing the upload is a
/// rename instead of reading back every part, the way S3 completes one
/// without copying. The ETags of the parts it holds are kept beside it, so
/// it outlives a restart; a part sent again with other bytes drops it, and
/// a completion that does not list exactly its parts joins them the slow
/// way.
#[derive(Debug, Default)]
struct Assembly {
    /// The ETags of parts 1..=n, in order, that the file holds.
    etags: Vec<String>,
    /// The file's length: the sum of those parts' sizes.
    len: u64,
    loaded: bool,
    /// Completed or aborted: late appends do nothing.
    closed: bool,
}

impl EmbeddedStore {
    /// Serves `root` (one directory per bucket) on `127.0.0.1:port` (0: any),
    /// with `bucket` created.
    pub async fn start(root: &Path, port: u16, bucket: &str, access_key: &str, secret_key: &str) -> Result<Self, ConfigError> {
        let io = |e: std::io::Error| ConfigError::Io(format!("embedded object store in {}: {e}", root.display()));
        tokio::fs::create_dir_all(root.join(bucket)).await.map_err(io)?;
        let inner = s3s_fs::FileSystem::new(root).map_err(|e| ConfigError::Io(format!("embedded object store: {e:?}")))?;
        let stats = Arc::new(Stats::default());
        let paths = FsPaths { root: root.to_path_buf() };
        tokio::fs::create_dir_all(paths.etags_dir()).await.map_err(io)?;
        let fs = Store { inner: Arc::new(inner), paths, stats: stats.clone() };
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(access_key, secret_key));
            b.build()
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(io)?;
        let addr = listener.local_addr().map_err(io)?;
        let (tx, mut rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            let graceful = GracefulShutdown::new();
            loop {
                let socket = tokio::select! {
                    r = listener.accept() => match r {
                        Ok((s, _)) => s,
                        Err(e) => {
                            tracing::warn!(error = %e, "embedded object store: accept failed");
                            continue;
                        }
                    },
                    _ = &mut rx => break,
                };
                let conn = http.serve_connection(TokioIo::new(socket), service.clone());
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
        });
        let config = StorageConfig {
            endpoint: format!("http://{addr}").parse().map_err(|_| ConfigError::Invalid("embedded store address".into()))?,
            region: "us-east-1".into(),
            bucket: bucket.to_owned(),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            path_style: true,
            allow_insecure: false,
            sse: false,
            presign_ttl: std::time::Duration::from_secs(15 * 60),
        };
        Ok(Self { addr, config, stats, stop: Some(tx) })
    }

    /// How many times each part of the multipart upload `upload_id` was
    /// stored successfully: part number -> count.
    pub fn part_writes(&self, upload_id: &str) -> BTreeMap<i32, u32> {
        self.stats.part_writes.lock().iter().filter(|((u, _), _)| u == upload_id).map(|((_, n), c)| (*n, *c)).collect()
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// s3s-fs with ListParts answering each part's ETag and the paging fields
/// (s3s-fs leaves them out, and a resuming client needs the ETags to
/// complete the upload). Everything else
/// is s3s-fs's own.
struct Store {
    inner: Arc<s3s_fs::FileSystem>,
    paths: FsPaths,
    stats: Arc<Stats>,
}

use s3s::{S3, S3Request, S3Response, S3Result, dto};

#[async_trait::async_trait]
impl S3 for Store {
    async fn create_bucket(&self, req: S3Request<dto::CreateBucketInput>) -> S3Result<S3Response<dto::CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }

    async fn copy_object(&self, req: S3Request<dto::CopyObjectInput>) -> S3Result<S3Response<dto::CopyObjectOutput>> {
        self.inner.copy_object(req).await
    }

    async fn delete_bucket(&self, req: S3Request<dto::DeleteBucketInput>) -> S3Result<S3Response<dto::DeleteBucketOutput>> {
        self.inner.delete_bucket(req).await
    }

    async fn delete_object(&self, req: S3Request<dto::DeleteObjectInput>) -> S3Result<S3Response<dto::DeleteObjectOutput>> {
        self.inner.delete_object(req).await
    }

    async fn delete_objects(&self, req: S3Request<dto::DeleteObjectsInput>) -> S3Result<S3Response<dto::DeleteObjectsOutput>> {
        self.inner.delete_objects(req).await
    }

    async fn get_bucket_location(&self, req: S3Request<dto::GetBucketLocationInput>) -> S3Result<S3Response<dto::GetBucketLocationOutput>> {
        self.inner.get_bucket_location(req).await
    }

    async fn get_object(&self, req: S3Request<dto::GetObjectInput>) -> S3Result<S3Response<dto::GetObjectOutput>> {
        self.inner.get_object(req).await
    }

    async fn head_bucket(&self, req: S3Request<dto::HeadBucketInput>) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }

    async fn head_object(&self, req: S3Request<dto::HeadObjectInput>) -> S3Result<S3Response<dto::HeadObjectOutput>> {
        self.inner.head_object(req).await
    }

    async fn list_buckets(&self, req: S3Request<dto::ListBucketsInput>) -> S3Result<S3Response<dto::ListBucketsOutput>> {
        let mut resp = self.inner.list_buckets(req).await?;
        if let Some(b) = resp.output.buckets.as_mut() {
            b.retain(|b| !b.name.as_deref().unwrap_or_default().starts_with('.'));
        }
        Ok(resp)
    }

    async fn list_objects(&self, req: S3Request<dto::ListObjectsInput>) -> S3Result<S3Response<dto::ListObjectsOutput>> {
        self.inner.list_objects(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<dto::ListObjectsV2Input>) -> S3Result<S3Response<dto::ListObjectsV2Output>> {
        self.inner.list_objects_v2(req).await
    }

    async fn put_object(&self, req: S3Request<dto::PutObjectInput>) -> S3Result<S3Response<dto::PutObjectOutput>> {
        self.inner.put_object(req).await
    }

    async fn create_multipart_upload(&self, req: S3Request<dto::CreateMultipartUploadInput>) -> S3Result<S3Response<dto::CreateMultipartUploadOutput>> {
        self.inner.create_multipart_upload(req).await
    }

    async fn upload_part(&self, req: S3Request<dto::UploadPartInput>) -> S3Result<S3Response<dto::UploadPartOutput>> {
        let (upload_id, n) = (req.input.upload_id.clone(), req.input.part_number);
        // In a task of its own: when the client goes away after sending the
        // whole part, hyper drops this handler, but a part that arrived is
        // still stored, its ETag kept and its write counted.
        let (inner, stats, etag_path, paths) = (self.inner.clone(), self.stats.clone(), self.paths.etag_path(&upload_id, n), self.paths.clone());
        let task = tokio::spawn(async move {
            let resp = inner.upload_part(req).await?;
            if let Some(dto::ETag::Strong(tag)) = &resp.output.e_tag {
                // Best effort: without it, listing falls back to hashing the part.
                let _ = tokio::fs::write(etag_path, tag).await;
                // In the background: the client's next part does not wait
                // for it, and completion waits for what is under way.
                tokio::spawn(assemble(paths, stats.assembly(&upload_id), upload_id.clone(), n, tag.clone()));
            }
            *stats.part_writes.lock().entry((upload_id, n)).or_default() += 1;
            Ok(resp)
        });
        task.await.map_err(|e| s3s::s3_error!(InternalError, "upload task failed: {e}"))?
    }

    async fn upload_part_copy(&self, req: S3Request<dto::UploadPartCopyInput>) -> S3Result<S3Response<dto::UploadPartCopyOutput>> {
        self.inner.upload_part_copy(req).await
    }

    async fn complete_multipart_upload(&self, req: S3Request<dto::CompleteMultipartUploadInput>) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        let upload_id = req.input.upload_id.clone();
        // s3s-fs completes by reading every part back through 64 KiB async
        // reads and hashing it again; with the parts' ETags kept, the
        // object is put together in the kernel instead (copy_file_range).
        // Conditional completions and parts stored without a kept ETag go
        // the s3s-fs way.
        let resp = match self.plan_completion(&req)? {
            Some(plan) => {
                let store = self.paths.clone();
                let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
                // The parts the assembled file holds, when they are the
                // listed ones (the rest are appended at completion).
                let asm = self.stats.assembly(&upload_id);
                let mut asm = asm.lock().await;
                let held = store.assembled(&upload_id, &plan, &asm.etags);
                asm.closed = true;
                let e_tag = tokio::task::spawn_blocking(move || store.complete(&plan, held).map(|tag| (tag, plan)))
                    .await
                    .map_err(|e| s3s::s3_error!(InternalError, "completing the upload failed: {e}"))??;
                let (e_tag, plan) = e_tag;
                // The parts go after the answer: removing files that are on
                // disk waits for the file system (and its discards), which
                // S3 does not make a completion wait for either.
                tokio::task::spawn_blocking(move || {
                    for (path, _) in &plan.parts {
                        let _ = std::fs::remove_file(path);
                    }
                });
                let output = dto::CompleteMultipartUploadOutput {
                    future: Some(Box::pin(async move {
                        Ok(dto::CompleteMultipartUploadOutput {
                            bucket: Some(bucket),
                            key: Some(key),
                            e_tag: Some(dto::ETag::Strong(e_tag)),
                            ..Default::default()
                        })
                    })),
                    ..Default::default()
                };
                S3Response::new(output)
            }
            None => self.inner.complete_multipart_upload(req).await?,
        };
        self.stats.assemblies.lock().remove(&upload_id);
        // The kept ETags go after the answer too.
        let etags = self.paths.etags_dir();
        tokio::spawn(async move { remove_etags(&etags, &upload_id).await });
        Ok(resp)
    }

    async fn abort_multipart_upload(&self, req: S3Request<dto::AbortMultipartUploadInput>) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        let upload_id = req.input.upload_id.clone();
        let resp = self.inner.abort_multipart_upload(req).await?;
        self.stats.assembly(&upload_id).lock().await.closed = true;
        self.remove_etags(&upload_id).await;
        self.stats.assemblies.lock().remove(&upload_id);
        Ok(resp)
    }

    async fn list_parts(&self, req: S3Request<dto::ListPartsInput>) -> S3Result<S3Response<dto::ListPartsOutput>> {
        let upload_id = req.input.upload_id.clone();
        let mut resp = self.inner.list_parts(req).await?;
        if let Some(parts) = resp.output.parts.as_mut() {
            parts.sort_by_key(|p| p.part_number);
            for p in parts.iter_mut() {
                let Some(n) = p.part_number else { continue };
                if let Ok(tag) = tokio::fs::read_to_string(self.paths.etag_path(&upload_id, n)).await {
                    p.e_tag = Some(dto::ETag::Strong(tag));
                } else if let Ok(bytes) = tokio::fs::read(self.paths.part_path(&upload_id, n)).await {
                    // A part's ETag is its MD5.
                    use md5::Digest;
                    p.e_tag = Some(dto::ETag::Strong(hex::encode(md5::Md5::digest(&bytes))));
                }
            }
        }
        // s3s-fs lists every part at once, and leaves out what clients expect.
        resp.output.max_parts.get_or_insert(10_000);
        resp.output.is_truncated.get_or_insert(false);
        Ok(resp)
    }
}

/// A multipart completion checked against what the store holds: the parts
/// in order with their files and MD5s.
struct Completion {
    upload_id: uuid::Uuid,
    bucket: String,
    key: String,
    parts: Vec<(PathBuf, [u8; 16])>,
}

/// Where s3s-fs 0.14 keeps an object, its metadata and its internal info
/// (the ETag); the completion below writes them as s3s-fs does.
#[derive(Clone)]
struct FsPaths {
    root: PathBuf,
}

impl FsPaths {
    fn encode(s: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    fn checked(&self, rel: &Path) -> S3Result<PathBuf> {
        use std::path::Component;
        if rel.components().all(|c| matches!(c, Component::Normal(_))) {
            Ok(self.root.join(rel))
        } else {
            Err(s3s::s3_error!(InvalidArgument, "the object key {} leaves the bucket", rel.display()))
        }
    }

    fn object(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        self.checked(&Path::new(bucket).join(key))
    }

    fn metadata(&self, bucket: &str, key: &str, upload_id: Option<uuid::Uuid>) -> PathBuf {
        let u = upload_id.map(|u| format!(".upload-{u}")).unwrap_or_default();
        self.root.join(format!(".bucket-{}.object-{}{u}.metadata.json", Self::encode(bucket), Self::encode(key)))
    }

    fn internal_info(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(format!(".bucket-{}.object-{}.internal.json", Self::encode(bucket), Self::encode(key)))
    }

    fn upload_info(&self, upload_id: uuid::Uuid) -> PathBuf {
        self.root.join(format!(".upload-{upload_id}.json"))
    }

    /// A temporary file in the root, named so that s3s-fs removes it at
    /// start if the process dies before the rename.
    fn temp(&self) -> PathBuf {
        self.root.join(format!(".tmp.argus-{}.internal.part", uuid::Uuid::new_v4().simple()))
    }

    /// Writes `bytes` to `dest` through a temporary file and a rename.
    fn write_atomically(&self, dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.temp();
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, dest).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// s3s-fs keeps a part as `<root>/.upload_id-<id>.part-<n>`.
    fn part_path(&self, upload_id: &str, n: impl std::fmt::Display) -> PathBuf {
        self.root.join(format!(".upload_id-{upload_id}.part-{n}"))
    }

    /// What this wrapper keeps beside the parts: `<root>/.argus-etags` (s3s-fs
    /// takes every folder in the root for a bucket, so listing buckets leaves
    /// out names starting with a dot, which no S3 bucket name may).
    fn etags_dir(&self) -> PathBuf {
        self.root.join(".argus-etags")
    }

    /// A part's ETag, kept when it was stored, so listing parts never reads them back.
    fn etag_path(&self, upload_id: &str, n: impl std::fmt::Display) -> PathBuf {
        self.etags_dir().join(format!("{upload_id}.{n}"))
    }

    /// The file an upload's parts are assembled in, and the ETags it holds.
    fn assembly(&self, upload_id: &str) -> (PathBuf, PathBuf) {
        let dir = self.etags_dir();
        (dir.join(format!("{upload_id}.assembly")), dir.join(format!("{upload_id}.assembled")))
    }

    /// How many of `plan`'s parts, from the first, the assembled file holds
    /// (0: none, or it holds another part than the one listed).
    fn assembled(&self, upload_id: &str, plan: &Completion, etags: &[String]) -> usize {
        let (file, _) = self.assembly(upload_id);
        let listed = plan.parts.iter().map(|(_, md5)| hex::encode(md5));
        let held = etags.iter().zip(listed).take_while(|(a, b)| **a == *b).count();
        // And it is exactly those parts, byte for byte in length.
        let want: Option<u64> = plan.parts[..held].iter().map(|(p, _)| std::fs::metadata(p).ok().map(|m| m.len())).sum();
        if held == etags.len() && std::fs::metadata(&file).ok().map(|m| m.len()) == want { held } else { 0 }
    }

    /// Puts the object together from its parts (the first `held` of them
    /// already in the assembled file) and records its ETag; returns it.
    fn complete(&self, plan: &Completion, held: usize) -> S3Result<String> {
        let io = |what: &str, e: std::io::Error| s3s::s3_error!(InternalError, "{what}: {e}");
        let dest = self.object(&plan.bucket, &plan.key)?;
        let tmp = if held > 0 { self.assembly(&plan.upload_id.to_string()).0 } else { self.temp() };
        let joined = (|| {
            let mut out = if held > 0 { std::fs::OpenOptions::new().append(true).open(&tmp)? } else { std::fs::File::create(&tmp)? };
            for (path, _) in &plan.parts[held..] {
                // std::io::copy between files is copy_file_range on Linux.
                std::io::copy(&mut std::fs::File::open(path)?, &mut out)?;
            }
            // No fsync, as s3s-fs stores objects and parts: the embedded
            // store is for one machine and the tests, and an fsync here
            // waits for every dirty page of the file system (ext4).
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::rename(&tmp, &dest)
        })();
        if let Err(e) = joined {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("joining the parts", e));
        }
        // The upload is complete from here on: its record and its metadata
        // move to the object, as s3s-fs does (its parts are removed after
        // the answer).
        let _ = std::fs::remove_file(self.upload_info(plan.upload_id));
        let upload_meta = self.metadata(&plan.bucket, &plan.key, Some(plan.upload_id));
        if upload_meta.exists() {
            std::fs::rename(&upload_meta, self.metadata(&plan.bucket, &plan.key, None)).map_err(|e| io("keeping the metadata", e))?;
        }
        use md5::Digest;
        let mut whole = md5::Md5::new();
        for (_, md5) in &plan.parts {
            whole.update(md5);
        }
        let e_tag = format!("{}-{}", hex::encode(whole.finalize()), plan.parts.len());
        let info_path = self.internal_info(&plan.bucket, &plan.key);
        let mut info: serde_json::Map<String, serde_json::Value> =
            std::fs::read(&info_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        info.insert("e_tag".into(), serde_json::Value::String(e_tag.clone()));
        let bytes = serde_json::to_vec(&info).map_err(|e| s3s::s3_error!(InternalError, "{e}"))?;
        self.write_atomically(&info_path, &bytes).map_err(|e| io("recording the ETag", e))?;
        Ok(e_tag)
    }
}

impl Stats {
    fn assembly(&self, upload_id: &str) -> Arc<tokio::sync::Mutex<Assembly>> {
        self.assemblies.lock().entry(upload_id.to_owned()).or_default().clone()
    }
}

/// Appends to `upload_id`'s assembled file every part that now continues it
/// (`n`, just stored with ETag `tag`, and any stored before it that waited
/// for it). Best effort: on any failure the file is dropped and completion
/// joins the parts itself.
async fn assemble(paths: FsPaths, asm: Arc<tokio::sync::Mutex<Assembly>>, upload_id: String, n: i32, tag: String) {
    let (paths, upload_id, tag) = (&paths, upload_id.as_str(), tag.as_str());
    let mut a = asm.lock().await;
    if a.closed {
        return;
    }
    let (file, list) = paths.assembly(upload_id);
    let drop_it = |a: &mut Assembly| {
        a.etags.clear();
        a.len = 0;
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(&list);
    };
    if !a.loaded {
        // After a restart: what an earlier run assembled ("etag size" lines,
        // each written after its part was appended).
        a.loaded = true;
        for line in std::fs::read_to_string(&list).unwrap_or_default().lines() {
            let (tag, size) = line.split_once(' ').unwrap_or((line, ""));
            a.etags.push(tag.to_owned());
            a.len += size.parse::<u64>().unwrap_or(u64::MAX / 4);
        }
        match std::fs::OpenOptions::new().write(true).open(&file) {
            // A part appended before a crash but not listed: cut it off.
            Ok(f) if f.metadata().is_ok_and(|m| m.len() >= a.len) && f.set_len(a.len).is_ok() => {}
            _ => drop_it(&mut a),
        }
    }
    let Ok(n) = usize::try_from(n) else { return };
    if n >= 1 && n <= a.etags.len() && a.etags[n - 1] != tag {
        // A part sent again with other bytes: start over.
        drop_it(&mut a);
    }
    let (root, id, from, len, file2, list2) = (paths.clone(), upload_id.to_owned(), a.etags.clone(), a.len, file.clone(), list.clone());
    let grown = tokio::task::spawn_blocking(move || -> std::io::Result<(Vec<String>, u64)> {
        use std::io::Write;
        let (mut etags, mut len) = (from, len);
        let mut out: Option<std::fs::File> = None;
        let (file, list) = (file2, list2);
        let mut names = std::fs::OpenOptions::new().create(true).append(true).open(&list)?;
        loop {
            let next = etags.len() + 1;
            let part = root.part_path(&id, next);
            let Ok(tag) = std::fs::read_to_string(root.etag_path(&id, next)) else { break };
            let Ok(mut src) = std::fs::File::open(&part) else { break };
            let dst = match &mut out {
                Some(f) => f,
                None => out.insert(std::fs::OpenOptions::new().create(true).append(true).open(&file)?),
            };
            let size = std::io::copy(&mut src, dst)?;
            writeln!(names, "{tag} {size}")?;
            etags.push(tag);
            len += size;
        }
        Ok((etags, len))
    })
    .await;
    match grown {
        Ok(Ok((etags, len))) => (a.etags, a.len) = (etags, len),
        _ => drop_it(&mut a),
    }
}

impl Store {
    /// Checks a completion request the way S3 does (parts listed in
    /// order, each one stored with the ETag the client gives, each but the
    /// last at least 5 MiB) and says which files make the object. `None`:
    /// let s3s-fs do it (a conditional completion, or a part with no kept
    /// ETag).
    fn plan_completion(&self, req: &S3Request<dto::CompleteMultipartUploadInput>) -> S3Result<Option<Completion>> {
        let input = &req.input;
        if input.if_match.is_some() || input.if_none_match.is_some() {
            return Ok(None);
        }
        let listed = input.multipart_upload.as_ref().and_then(|m| m.parts.as_ref()).filter(|p| !p.is_empty());
        let Some(listed) = listed else {
            return Err(s3s::s3_error!(InvalidPart, "You must specify at least one part"));
        };
        let upload_id = uuid::Uuid::parse_str(&input.upload_id).map_err(|_| s3s::s3_error!(NoSuchUpload))?;
        let paths = &self.paths;
        // The upload's record holds the access key that started it.
        let owner: Option<String> = match std::fs::read(paths.upload_info(upload_id)) {
            Ok(b) => serde_json::from_slice(&b).map_err(|_| s3s::s3_error!(InternalError, "the upload's record is unreadable"))?,
            Err(_) => return Err(s3s::s3_error!(NoSuchUpload)),
        };
        if owner.as_deref() != req.credentials.as_ref().map(|c| c.access_key.as_str()) {
            return Err(s3s::s3_error!(AccessDenied));
        }
        paths.object(&input.bucket, &input.key)?;
        let mut parts = Vec::with_capacity(listed.len());
        for (i, part) in listed.iter().enumerate() {
            let n = part.part_number.ok_or_else(|| s3s::s3_error!(InvalidRequest, "missing part number"))?;
            if usize::try_from(n).ok() != Some(i + 1) {
                return Err(s3s::s3_error!(InvalidPartOrder));
            }
            let file = paths.part_path(&input.upload_id, n);
            let len = std::fs::metadata(&file).map_err(|_| s3s::s3_error!(InvalidPart, "part {n} was not uploaded"))?.len();
            if i + 1 < listed.len() && len < 5 * 1024 * 1024 {
                return Err(s3s::s3_error!(EntityTooSmall, "part {n} is smaller than 5 MiB"));
            }
            let Ok(kept) = std::fs::read_to_string(paths.etag_path(&input.upload_id, n)) else {
                return Ok(None);
            };
            let md5: [u8; 16] = match hex::decode(kept.trim()).ok().and_then(|b| b.try_into().ok()) {
                Some(m) => m,
                None => return Ok(None),
            };
            if let Some(given) = &part.e_tag
                && given.value().trim_matches('"') != kept.trim()
            {
                return Err(s3s::s3_error!(InvalidPart, "part {n}'s ETag does not match the stored part"));
            }
            parts.push((file, md5));
        }
        Ok(Some(Completion { upload_id, bucket: input.bucket.clone(), key: input.key.clone(), parts }))
    }

    async fn remove_etags(&self, upload_id: &str) {
        remove_etags(&self.paths.etags_dir(), upload_id).await
    }
}

/// Removes what was kept beside an upload's parts (ETags, the assembly).
async fn remove_etags(etags: &Path, upload_id: &str) {
    let prefix = format!("{upload_id}.");
    let Ok(mut dir) = tokio::fs::read_dir(etags).await else {
        return;
    };
    while let Ok(Some(e)) = dir.next_entry().await {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = tokio::fs::remove_file(e.path()).await;
        }
    }
}
