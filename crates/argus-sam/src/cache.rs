//! Embedding caches and background pre-encoding.
//!
//! - [`MemoryCache`]: least-recently-used, bounded in bytes (an SAM embedding is
//!   4 MiB, a SAM 2 one 16 MiB, so a count bound would be meaningless).
//! - [`DiskCache`]: one file per (model, video hash, frame index), written
//!   atomically, checked on read; a corrupt entry is reported and recomputed.
//! - [`EmbeddingCache`]: memory in front of disk, encoding each frame once: a
//!   second request for a frame being encoded (a click on the frame the
//!   pre-encoder is working on) waits for that encoding instead of running the
//!   encoder again beside it.
//! - [`Prefetcher`]: a worker thread that encodes the frames around the current
//!   one, nearest first; a new request or [`Prefetcher::cancel`] abandons the
//!   previous one between frames (the user jumped elsewhere), and
//!   [`Prefetcher::hold_off`] keeps it from starting another frame while the
//!   user is clicking. It only uses the encoder session, so clicks on encoded
//!   frames are never blocked by it.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::image::{ImageView, PixelFormat, Transform};
use crate::model::{Embedding, EmbeddingTensor, SamModel};
use crate::{Error, Result};

/// Identifies one frame's embedding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmbeddingKey {
    /// Content hash of the video (any stable string).
    pub video_hash: String,
    /// Frame index.
    pub frame: u64,
    /// Model id.
    pub model_id: String,
}

#[derive(Debug, Default)]
struct Lru {
    map: HashMap<EmbeddingKey, (Arc<Embedding>, u64)>,
    bytes: usize,
    tick: u64,
}

/// In-memory LRU of embeddings, bounded in bytes.
#[derive(Debug)]
pub struct MemoryCache {
    max_bytes: usize,
    inner: Mutex<Lru>,
}

impl MemoryCache {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            inner: Mutex::new(Lru::default()),
        }
    }

    pub fn get(&self, key: &EmbeddingKey) -> Option<Arc<Embedding>> {
        let mut lru = self.inner.lock();
        lru.tick += 1;
        let tick = lru.tick;
        lru.map.get_mut(key).map(|(e, t)| {
            *t = tick;
            Arc::clone(e)
        })
    }

    pub fn contains(&self, key: &EmbeddingKey) -> bool {
        self.inner.lock().map.contains_key(key)
    }

    /// Inserts, evicting the least recently used entries beyond the budget.
    /// An embedding larger than the whole budget is not kept.
    pub fn insert(&self, key: EmbeddingKey, embedding: Arc<Embedding>) {
        let size = embedding.byte_size();
        if size > self.max_bytes {
            return;
        }
        let mut lru = self.inner.lock();
        lru.tick += 1;
        let tick = lru.tick;
        if let Some((old, _)) = lru.map.insert(key, (embedding, tick)) {
            lru.bytes -= old.byte_size();
        }
        lru.bytes += size;
        while lru.bytes > self.max_bytes {
            let Some(oldest) = lru
                .map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((e, _)) = lru.map.remove(&oldest) {
                lru.bytes -= e.byte_size();
            }
        }
    }

    /// Bytes currently held.
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

const MAGIC: &[u8; 8] = b"ARGUSEMB";
const VERSION: u32 = 1;

/// On-disk embeddings, keyed by model id, video hash and frame index.
#[derive(Debug, Clone)]
pub struct DiskCache {
    root: PathBuf,
}

impl DiskCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The file of an entry. Key parts are sanitised so they cannot escape the root.
    pub fn path(&self, key: &EmbeddingKey) -> PathBuf {
        let clean = |s: &str| -> String {
            let c: String = s
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if c.is_empty() || c.starts_with('.') {
                format!("_{c}")
            } else {
                c
            }
        };
        self.root
            .join(clean(&key.model_id))
            .join(clean(&key.video_hash))
            .join(format!("{}.emb", key.frame))
    }

    /// Writes an entry atomically (temp file + rename).
    pub fn store(&self, key: &EmbeddingKey, e: &Embedding) -> Result<()> {
        let path = self.path(key);
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir)
            .map_err(|err| Error::io("creating the embedding cache directory", dir, err))?;
        let buf = encode_entry(e);
        // unique per write: two threads may store the same key at once
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let tmp = path.with_extension(format!(
            "tmp{}-{}",
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&buf)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|err| {
            let _ = fs::remove_file(&tmp);
            Error::io("writing the embedding cache entry", &path, err)
        })
    }

    /// Reads an entry; `Ok(None)` when absent; a damaged entry is deleted and reported.
    pub fn load(&self, key: &EmbeddingKey) -> Result<Option<Embedding>> {
        let path = self.path(key);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading the embedding cache entry", &path, e)),
        };
        match decode_entry(&bytes) {
            Ok(e) if e.model_id() == key.model_id => Ok(Some(e)),
            Ok(e) => Err(corrupt(
                &path,
                format!("entry belongs to model {}", e.model_id()),
            )),
            Err(reason) => {
                let _ = fs::remove_file(&path);
                Err(corrupt(&path, reason))
            }
        }
    }
}

fn corrupt(path: &Path, reason: String) -> Error {
    Error::CacheCorrupt {
        reason,
        path: path.to_path_buf(),
    }
}

/// The bytes of a cache entry: magic, format version, model id, transform,
/// then each tensor's shape and little-endian values. [`decode_entry`] reads
/// them back.
pub fn encode_entry(e: &Embedding) -> Vec<u8> {
    let mut buf = Vec::with_capacity(e.byte_size() + 256);
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&VERSION.to_le_bytes());
    let id = e.model_id().as_bytes();
    buf.extend_from_slice(&(id.len() as u32).to_le_bytes());
    buf.extend_from_slice(id);
    let t = e.transform();
    for v in [t.frame_w, t.frame_h, t.resized_w, t.resized_h, t.input_size] {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    buf.extend_from_slice(&(e.tensors().len() as u32).to_le_bytes());
    for tensor in e.tensors() {
        for d in tensor.shape {
            buf.extend_from_slice(&(d as u32).to_le_bytes());
        }
        for v in &tensor.data {
            buf.extend_from_slice(&v.to_le_bytes());
        }
    }
    buf
}

/// Reads a cache entry written by [`encode_entry`]. Damage is an error with
/// the reason, never a panic, and nothing is allocated beyond what the bytes
/// hold (a declared tensor larger than the file is refused first).
pub fn decode_entry(bytes: &[u8]) -> std::result::Result<Embedding, String> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(8)? != MAGIC {
        return Err("not an Argus embedding file".to_owned());
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(format!("format version {version}, expected {VERSION}"));
    }
    let id_len = r.u32()? as usize;
    let id = String::from_utf8(r.take(id_len)?.to_vec())
        .map_err(|_| "model id is not UTF-8".to_owned())?;
    let [frame_w, frame_h, resized_w, resized_h, input_size] =
        [r.u32()?, r.u32()?, r.u32()?, r.u32()?, r.u32()?];
    let transform = Transform::checked(frame_w, frame_h, resized_w, resized_h, input_size)?;
    let n = r.u32()? as usize;
    if n > 16 {
        return Err(format!("{n} tensors"));
    }
    let mut tensors = Vec::with_capacity(n);
    for _ in 0..n {
        let shape = [
            r.u32()? as usize,
            r.u32()? as usize,
            r.u32()? as usize,
            r.u32()? as usize,
        ];
        let count = shape
            .iter()
            .try_fold(1usize, |a, d| a.checked_mul(*d))
            .ok_or("shape overflows")?;
        let raw = r.take(count.checked_mul(4).ok_or("shape overflows")?)?;
        let data = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.push(EmbeddingTensor { shape, data });
    }
    if r.pos != bytes.len() {
        return Err("trailing bytes".to_owned());
    }
    Ok(Embedding::from_parts(id, transform, tensors))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or("file is truncated")?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// An encoding in progress; `None` once finished means it failed.
#[derive(Debug, Default)]
struct Flight {
    result: Mutex<Option<Option<Arc<Embedding>>>>,
    done: Condvar,
}

impl Flight {
    fn finish(&self, result: Option<Arc<Embedding>>) {
        *self.result.lock() = Some(result);
        self.done.notify_all();
    }

    fn wait(&self) -> Option<Arc<Embedding>> {
        let mut r = self.result.lock();
        loop {
            if let Some(result) = r.as_ref() {
                return result.clone();
            }
            self.done.wait(&mut r);
        }
    }
}

/// Memory in front of (optional) disk; each key is encoded by one caller at a
/// time (see [`EmbeddingCache::get_or_insert_with`]).
#[derive(Debug)]
pub struct EmbeddingCache {
    memory: MemoryCache,
    disk: Option<DiskCache>,
    flights: Mutex<HashMap<EmbeddingKey, Arc<Flight>>>,
}

impl EmbeddingCache {
    pub fn new(memory_bytes: usize, disk: Option<DiskCache>) -> Self {
        Self {
            memory: MemoryCache::new(memory_bytes),
            disk,
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// Whether some caller is encoding `key` right now.
    pub fn is_encoding(&self, key: &EmbeddingKey) -> bool {
        self.flights.lock().contains_key(key)
    }

    /// The cached embedding; else, when another caller is encoding `key`, the
    /// result of that encoding (waited for); else `encode`'s, which is cached.
    /// If the encoding waited for fails, this caller encodes itself, so each
    /// caller sees its own error. `encode` runs at most once, on this thread.
    pub fn get_or_insert_with<E>(
        &self,
        key: EmbeddingKey,
        encode: impl FnOnce() -> std::result::Result<Embedding, E>,
    ) -> std::result::Result<Arc<Embedding>, E> {
        let flight = loop {
            if let Some(e) = self.get(&key) {
                return Ok(e);
            }
            let (flight, mine) = {
                let mut flights = self.flights.lock();
                match flights.get(&key) {
                    Some(f) => (Arc::clone(f), false),
                    None => {
                        let f = Arc::new(Flight::default());
                        flights.insert(key.clone(), Arc::clone(&f));
                        (f, true)
                    }
                }
            };
            if mine {
                break flight;
            }
            tracing::debug!(frame = key.frame, "waiting for the embedding being encoded");
            if let Some(e) = flight.wait() {
                return Ok(e);
            }
        };
        // Lands the flight even if `encode` panics, so waiters never hang.
        struct Land<'a> {
            cache: &'a EmbeddingCache,
            key: &'a EmbeddingKey,
            flight: &'a Flight,
            result: Option<Arc<Embedding>>,
        }
        impl Drop for Land<'_> {
            fn drop(&mut self) {
                self.cache.flights.lock().remove(self.key);
                self.flight.finish(self.result.take());
            }
        }
        let mut land = Land {
            cache: self,
            key: &key,
            flight: &flight,
            result: None,
        };
        let result = encode().map(Arc::new);
        if let Ok(e) = &result {
            self.memory.insert(key.clone(), Arc::clone(e));
            land.result = Some(Arc::clone(e));
        }
        // Waiters go on now; the disk copy (written and synced) is not theirs to wait for.
        drop(land);
        if let Ok(e) = &result {
            self.store_on_disk(&key, e);
        }
        result
    }

    pub fn memory(&self) -> &MemoryCache {
        &self.memory
    }

    /// Memory first, then disk (promoting the entry into memory).
    pub fn get(&self, key: &EmbeddingKey) -> Option<Arc<Embedding>> {
        if let Some(e) = self.memory.get(key) {
            return Some(e);
        }
        let disk = self.disk.as_ref()?;
        match disk.load(key) {
            Ok(Some(e)) => {
                let e = Arc::new(e);
                self.memory.insert(key.clone(), Arc::clone(&e));
                Some(e)
            }
            Ok(None) => None,
            Err(err) => {
                tracing::warn!("{err}");
                None
            }
        }
    }

    /// Stores in memory and on disk (a disk failure is logged, not fatal).
    pub fn insert(&self, key: EmbeddingKey, embedding: Arc<Embedding>) {
        self.store_on_disk(&key, &embedding);
        self.memory.insert(key, embedding);
    }

    fn store_on_disk(&self, key: &EmbeddingKey, embedding: &Embedding) {
        if let Some(disk) = &self.disk
            && let Err(e) = disk.store(key, embedding)
        {
            tracing::warn!("embedding not cached on disk: {e}");
        }
    }

    /// The cached embedding, or encodes `frame` now and caches it (waiting
    /// instead when another caller is encoding the same key).
    pub fn get_or_encode(
        &self,
        model: &SamModel,
        key: EmbeddingKey,
        frame: &ImageView<'_>,
    ) -> Result<Arc<Embedding>> {
        self.get_or_insert_with(key, || model.encode(frame))
    }
}

/// A decoded frame owned by the caller's frame source.
#[derive(Debug, Clone)]
pub struct OwnedFrame {
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
}

/// Supplies frames to the prefetcher (argus-media's decoder in the app).
pub trait FrameSource: Send + Sync {
    /// Decodes frame `index`.
    fn frame(&self, index: u64) -> Result<OwnedFrame>;
}

struct Job {
    generation: u64,
    video_hash: String,
    center: u64,
    radius: u64,
    frame_count: u64,
}

/// Until when the worker waits before starting another frame, as an offset
/// from a start instant.
#[derive(Debug)]
struct Quiet {
    start: Instant,
    until_us: AtomicU64,
}

impl Quiet {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            until_us: AtomicU64::new(0),
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn extend(&self, d: Duration) {
        let until = self
            .now_us()
            .saturating_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        self.until_us.fetch_max(until, Ordering::SeqCst);
    }

    /// How long is left to wait, if anything.
    fn left(&self) -> Option<Duration> {
        let (now, until) = (self.now_us(), self.until_us.load(Ordering::SeqCst));
        (until > now).then(|| Duration::from_micros(until - now))
    }
}

/// Background pre-encoding of the frames around the current one.
pub struct Prefetcher {
    tx: Option<mpsc::Sender<Job>>,
    generation: Arc<AtomicU64>,
    encoded: Arc<AtomicU64>,
    quiet: Arc<Quiet>,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Prefetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefetcher")
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Prefetcher {
    /// Starts the worker thread.
    pub fn new(
        model: Arc<SamModel>,
        cache: Arc<EmbeddingCache>,
        source: Arc<dyn FrameSource>,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let generation = Arc::new(AtomicU64::new(0));
        let encoded = Arc::new(AtomicU64::new(0));
        let quiet = Arc::new(Quiet::new());
        let (g, n, q) = (
            Arc::clone(&generation),
            Arc::clone(&encoded),
            Arc::clone(&quiet),
        );
        let worker = std::thread::Builder::new()
            .name("argus-sam-prefetch".to_owned())
            .spawn(move || {
                // Pre-encoding yields the CPU to the user's clicks; what this
                // thread opens (a frame source's decoder threads) inherits it.
                crate::priority::lower_current_thread();
                while let Ok(mut job) = rx.recv() {
                    // only the newest request matters
                    while let Ok(newer) = rx.try_recv() {
                        job = newer;
                    }
                    run_job(&job, &model, &cache, source.as_ref(), &g, &n, &q);
                }
            })
            .map_err(|e| Error::io("starting the pre-encoding thread", "argus-sam-prefetch", e))?;
        Ok(Self {
            tx: Some(tx),
            generation,
            encoded,
            quiet,
            worker: Some(worker),
        })
    }

    /// Pre-encodes frames `center-radius ..= center+radius` (clamped to the
    /// video), nearest first, abandoning any earlier request.
    pub fn request(&self, video_hash: &str, center: u64, radius: u64, frame_count: u64) {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(tx) = &self.tx {
            let _ = tx.send(Job {
                generation,
                video_hash: video_hash.to_owned(),
                center,
                radius,
                frame_count,
            });
        }
    }

    /// Abandons the current request after the frame being encoded.
    pub fn cancel(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Keeps the worker from starting another frame for `d` from now (a frame
    /// it is encoding already is finished). The app calls this on every SAM
    /// click: an encoder run beside the prompt decoder slows the click down
    /// even at low priority (the two share the cores' caches and memory
    /// bandwidth), and while the user clicks on a frame they are not moving on.
    pub fn hold_off(&self, d: Duration) {
        self.quiet.extend(d);
    }

    /// How many frames the worker has encoded so far.
    pub fn encoded_count(&self) -> u64 {
        self.encoded.load(Ordering::SeqCst)
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.cancel();
        self.tx.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// Frame order for a request: center, center+1, center-1, center+2, ...
pub fn prefetch_order(center: u64, radius: u64, frame_count: u64) -> Vec<u64> {
    let mut out = Vec::new();
    if center >= frame_count {
        return out;
    }
    out.push(center);
    for d in 1..=radius {
        if let Some(f) = center.checked_add(d).filter(|f| *f < frame_count) {
            out.push(f);
        }
        if let Some(f) = center.checked_sub(d) {
            out.push(f);
        }
    }
    out
}

fn run_job(
    job: &Job,
    model: &SamModel,
    cache: &EmbeddingCache,
    source: &dyn FrameSource,
    generation: &AtomicU64,
    encoded: &AtomicU64,
    quiet: &Quiet,
) {
    for frame in prefetch_order(job.center, job.radius, job.frame_count) {
        while let Some(left) = quiet.left() {
            if generation.load(Ordering::SeqCst) != job.generation {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
        if generation.load(Ordering::SeqCst) != job.generation {
            return;
        }
        let key = EmbeddingKey {
            video_hash: job.video_hash.clone(),
            frame,
            model_id: model.manifest().id.clone(),
        };
        // a frame a click is encoding now is left to it
        if cache.memory().contains(&key) || cache.is_encoding(&key) || cache.get(&key).is_some() {
            continue;
        }
        let mut ran = false;
        let result = cache.get_or_insert_with(key, || {
            ran = true;
            source.frame(frame).and_then(|f| {
                let view = ImageView::packed(&f.data, f.width, f.height, f.format)?;
                model.encode(&view)
            })
        });
        match result {
            Ok(_) if ran => {
                encoded.fetch_add(1, Ordering::SeqCst);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("pre-encoding frame {frame} failed: {e}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use crate::manifest::ResizeMode;

    fn emb(model: &str, fill: f32, len: usize) -> Embedding {
        let t = Transform::new(64, 32, 1024, ResizeMode::LongestSide).unwrap();
        Embedding::from_parts(
            model.into(),
            t,
            vec![EmbeddingTensor {
                shape: [1, 1, 1, len],
                data: (0..len).map(|i| fill + i as f32).collect(),
            }],
        )
    }

    fn key(frame: u64) -> EmbeddingKey {
        EmbeddingKey {
            video_hash: "abc".into(),
            frame,
            model_id: "m".into(),
        }
    }

    #[test]
    fn a_cache_entry_with_a_hostile_transform_is_refused_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskCache::new(dir.path());
        disk.store(&key(1), &emb("m", 1.0, 8)).unwrap();
        assert!(disk.load(&key(1)).unwrap().is_some(), "a good entry reads back");
        let path = disk.path(&key(1));
        let good = std::fs::read(&path).unwrap();
        // The transform's five u32s follow the magic, version and model id.
        let at = 8 + 4 + 4 + 1;
        for (field, value) in [(0, 0u32), (1, u32::MAX), (2, 5000), (4, 0), (4, 1 << 20), (3, 7)] {
            let mut bytes = good.clone();
            bytes[at + 4 * field..at + 4 * field + 4].copy_from_slice(&value.to_le_bytes());
            std::fs::write(&path, &bytes).unwrap();
            match disk.load(&key(1)) {
                Err(Error::CacheCorrupt { .. }) => {}
                other => panic!("field {field} = {value}: expected a corrupt entry, got {other:?}"),
            }
            assert!(!path.exists(), "the damaged entry is removed");
        }
    }

    #[test]
    fn lru_evicts_least_recently_used_within_the_byte_budget() {
        let one = emb("m", 0.0, 100).byte_size();
        let c = MemoryCache::new(one * 3);
        for f in 0..3 {
            c.insert(key(f), Arc::new(emb("m", f as f32, 100)));
        }
        assert_eq!(c.len(), 3);
        assert!(c.get(&key(0)).is_some()); // 0 is now the most recent
        c.insert(key(3), Arc::new(emb("m", 3.0, 100)));
        assert!(
            c.contains(&key(0))
                && !c.contains(&key(1))
                && c.contains(&key(2))
                && c.contains(&key(3))
        );
        assert!(c.bytes() <= one * 3);
        // too big for the budget: not kept, nothing evicted
        c.insert(key(9), Arc::new(emb("m", 0.0, 1000)));
        assert!(!c.contains(&key(9)) && c.len() == 3);
        // replacing an entry does not double count
        c.insert(key(3), Arc::new(emb("m", 5.0, 100)));
        assert_eq!(c.bytes(), one * 3);
    }

    #[test]
    fn disk_round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let d = DiskCache::new(dir.path());
        let e = emb("m", 1.5, 50);
        assert!(d.load(&key(7)).unwrap().is_none());
        d.store(&key(7), &e).unwrap();
        assert_eq!(d.load(&key(7)).unwrap().unwrap(), e);
        // truncate: reported as corrupt, deleted, then absent
        let p = d.path(&key(7));
        let bytes = fs::read(&p).unwrap();
        fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        assert!(matches!(d.load(&key(7)), Err(Error::CacheCorrupt { .. })));
        assert!(d.load(&key(7)).unwrap().is_none());
        // hostile key parts stay under the root
        let k = EmbeddingKey {
            video_hash: "../../x".into(),
            frame: 1,
            model_id: "..".into(),
        };
        assert!(d.path(&k).starts_with(dir.path()));
        assert!(
            !d.path(&k)
                .components()
                .any(|c| c == std::path::Component::ParentDir)
        );
        // the two-level cache promotes disk hits into memory
        let c = EmbeddingCache::new(1 << 20, Some(d.clone()));
        d.store(&key(8), &e).unwrap();
        assert!(!c.memory().contains(&key(8)));
        assert_eq!(*c.get(&key(8)).unwrap(), e);
        assert!(c.memory().contains(&key(8)));
    }

    #[test]
    fn a_key_being_encoded_is_waited_for_not_encoded_again() {
        use std::sync::Barrier;
        use std::sync::atomic::AtomicUsize;
        let dir = tempfile::tempdir().unwrap();
        let c = Arc::new(EmbeddingCache::new(1 << 20, Some(DiskCache::new(dir.path()))));
        let runs = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(Barrier::new(2));
        let release = Arc::new(Barrier::new(2));
        // the leader encodes slowly; the follower asks while it is at it
        let leader = {
            let (c, runs, started, release) = (c.clone(), runs.clone(), started.clone(), release.clone());
            std::thread::spawn(move || {
                c.get_or_insert_with(key(1), || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    started.wait();
                    release.wait();
                    Ok::<_, Error>(emb("m", 1.0, 64))
                })
            })
        };
        started.wait();
        assert!(c.is_encoding(&key(1)));
        let follower = {
            let (c, runs) = (c.clone(), runs.clone());
            std::thread::spawn(move || {
                c.get_or_insert_with(key(1), || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(emb("m", 2.0, 64))
                })
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        release.wait();
        let (a, b) = (leader.join().unwrap().unwrap(), follower.join().unwrap().unwrap());
        assert_eq!(runs.load(Ordering::SeqCst), 1, "encoded once");
        assert!(Arc::ptr_eq(&a, &b), "the follower got the leader's embedding");
        assert!(!c.is_encoding(&key(1)));
        // stored once on disk, no temp file left behind
        let names: Vec<_> = fs::read_dir(c.disk.as_ref().unwrap().path(&key(1)).parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("1.emb")]);
    }

    #[test]
    fn a_failed_encoding_lets_the_waiter_try_itself() {
        use std::sync::Barrier;
        let c = Arc::new(EmbeddingCache::new(1 << 20, None));
        let started = Arc::new(Barrier::new(2));
        let leader = {
            let (c, started) = (c.clone(), started.clone());
            std::thread::spawn(move || {
                c.get_or_insert_with(key(2), || {
                    started.wait();
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    Err::<Embedding, _>("decoder failed")
                })
            })
        };
        started.wait();
        let mine = c.get_or_insert_with(key(2), || Ok::<_, &str>(emb("m", 3.0, 8)));
        assert!(leader.join().unwrap().is_err());
        assert_eq!(mine.unwrap().tensors()[0].data[0], 3.0);
        assert!(c.memory().contains(&key(2)) && !c.is_encoding(&key(2)));
    }

    #[test]
    fn concurrent_stores_of_one_key_both_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let d = DiskCache::new(dir.path());
        let e = emb("m", 1.0, 20_000);
        std::thread::scope(|s| {
            let a = s.spawn(|| d.store(&key(3), &e));
            let b = s.spawn(|| d.store(&key(3), &e));
            a.join().unwrap().unwrap();
            b.join().unwrap().unwrap();
        });
        assert_eq!(d.load(&key(3)).unwrap().unwrap(), e);
    }

    #[test]
    fn prefetch_order_is_nearest_first_and_clamped() {
        assert_eq!(prefetch_order(5, 2, 100), vec![5, 6, 4, 7, 3]);
        assert_eq!(prefetch_order(0, 2, 100), vec![0, 1, 2]);
        assert_eq!(prefetch_order(9, 2, 10), vec![9, 8, 7]);
        assert!(prefetch_order(10, 2, 10).is_empty());
    }
}
