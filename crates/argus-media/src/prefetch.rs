//! [`FramePrefetcher`]: a [`VideoSource`] on a background thread that decodes ahead of the user.
//!
//! The UI thread never decodes. It sends requests; the worker answers them in order and, whenever it
//! has nothing to answer, decodes in the direction the user is moving (the next frames when stepping
//! or playing forward, the previous GOP when stepping back) into the source's frame cache.
//!
//! Cancellation is by generation: every request bumps a shared counter, and decoding work started for
//! an older generation (a request the user has already moved past, or prefetching) stops between two
//! decoded pictures. Superseded requests are answered with [`Error::Cancelled`]: latest wins.
//! Plain std threads and channels; no async runtime is needed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;

use crate::cache::{self, SharedCache};
use crate::convert::Converter;
use crate::frame::{Frame, FrameRequest};
use crate::index::VideoIndex;
use crate::source::VideoSource;
use crate::{Error, Result};

/// How many frames ahead (or behind) the worker decodes after a request.
const DEFAULT_AHEAD: u64 = 8;

enum Command {
    Frame {
        index: u64,
        request: FrameRequest,
        generation: u64,
        reply: Sender<Result<Frame>>,
    },
    WhenIdle {
        reply: Sender<Vec<u64>>,
    },
    /// The caller served frame `index` from the cache itself; keep prefetching in its direction.
    Viewed {
        index: u64,
    },
    Shutdown,
}

/// The answer to one [`FramePrefetcher::request`].
#[derive(Debug)]
pub struct FrameTicket {
    rx: Receiver<Result<Frame>>,
}

impl FrameTicket {
    /// Blocks until the frame is ready, the request is cancelled, or the worker is gone.
    pub fn wait(self) -> Result<Frame> {
        self.rx.recv().unwrap_or(Err(Error::WorkerGone))
    }

    /// The result if it is ready, without blocking.
    pub fn try_take(&self) -> Option<Result<Frame>> {
        match self.rx.try_recv() {
            Ok(r) => Some(r),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err(Error::WorkerGone)),
        }
    }
}

/// A background decoding thread owning one [`VideoSource`].
///
/// [`frame`](Self::frame) answers frames that are already decoded on the caller's thread (only a
/// colour conversion), so a step never waits for look-ahead decoding in progress on the worker.
pub struct FramePrefetcher {
    tx: Sender<Command>,
    cache: SharedCache,
    index: Arc<VideoIndex>,
    size: (u32, u32),
    converter: parking_lot::Mutex<Converter>,
    generation: Arc<AtomicU64>,
    worker: Option<JoinHandle<()>>,
    frame_count: u64,
}

impl FramePrefetcher {
    /// Moves the source onto a new worker thread.
    pub fn spawn(source: VideoSource) -> Self {
        let (tx, rx) = mpsc::channel();
        let generation = Arc::new(AtomicU64::new(0));
        let frame_count = source.frame_count();
        let cache = source.shared_cache();
        let index = Arc::clone(source.index());
        let size = (source.info().width, source.info().height);
        let gen2 = Arc::clone(&generation);
        let worker = std::thread::Builder::new()
            .name("argus-media-prefetch".into())
            .spawn(move || {
                Worker {
                    source,
                    rx,
                    generation: gen2,
                    last: None,
                    forward: true,
                    ahead: DEFAULT_AHEAD,
                    attempted: Vec::new(),
                    idle_waiters: Vec::new(),
                }
                .run()
            })
            .ok();
        if worker.is_none() {
            tracing::error!(
                "could not start the prefetch thread; requests will fail with WorkerGone"
            );
        }
        FramePrefetcher {
            tx,
            cache,
            index,
            size,
            converter: parking_lot::Mutex::new(Converter::new()),
            generation,
            worker,
            frame_count,
        }
    }

    /// Exact number of frames of the video.
    pub fn frame_count(&self) -> u64 {
        self.frame_count
    }

    /// Asks for frame `index`; cancels any older request still being decoded.
    pub fn request(&self, index: u64, request: FrameRequest) -> FrameTicket {
        let (reply, rx) = mpsc::channel();
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        if self
            .tx
            .send(Command::Frame {
                index,
                request,
                generation,
                reply,
            })
            .is_err()
        {
            // The ticket's sender is dropped with the command, so `wait` reports WorkerGone.
        }
        FrameTicket { rx }
    }

    /// Frame `index`: converted right here when it is already decoded (the worker keeps prefetching),
    /// otherwise requested from the worker (cancelling older requests) and waited for.
    pub fn frame(&self, index: u64, request: FrameRequest) -> Result<Frame> {
        let dims = request.size.resolve(self.size.0, self.size.1)?;
        let picture = self.cache.lock().get(index).and_then(cache::share);
        if let Some(picture) = picture {
            // Like `VideoSource::frame`: a picture coded at another size than the stream's (the
            // size changed mid-stream) is scaled to the size resolved against the stream's.
            let pts = self.index.frame(index).map(|f| f.pts).unwrap_or_default();
            let frame = self.converter.lock().convert(
                &picture,
                index,
                pts,
                self.index.time_base,
                request.format,
                dims,
                None,
            )?;
            let _ = self.tx.send(Command::Viewed { index });
            return Ok(frame);
        }
        self.request(index, request).wait()
    }

    /// Stops whatever the worker is decoding (outstanding requests get [`Error::Cancelled`]).
    pub fn cancel(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Waits until the worker has no request and no prefetch work left, then returns the indices of
    /// the frames in its cache. Mostly for tests and diagnostics.
    pub fn wait_idle_and_cached(&self) -> Result<Vec<u64>> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(Command::WhenIdle { reply })
            .map_err(|_| Error::WorkerGone)?;
        rx.recv().map_err(|_| Error::WorkerGone)
    }
}

impl std::fmt::Debug for FramePrefetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramePrefetcher")
            .field("frame_count", &self.frame_count)
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Drop for FramePrefetcher {
    fn drop(&mut self) {
        self.cancel();
        let _ = self.tx.send(Command::Shutdown);
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

struct Worker {
    source: VideoSource,
    rx: Receiver<Command>,
    generation: Arc<AtomicU64>,
    last: Option<u64>,
    forward: bool,
    ahead: u64,
    /// Targets already prefetched since the user last moved: never decoded twice, even when a small
    /// cache evicted them again (that would spin).
    attempted: Vec<u64>,
    idle_waiters: Vec<Sender<Vec<u64>>>,
}

impl Worker {
    fn run(mut self) {
        loop {
            let command = match self.next_prefetch_target() {
                Some(_) => match self.rx.try_recv() {
                    Ok(c) => Some(c),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return,
                },
                None => {
                    for w in self.idle_waiters.drain(..) {
                        let _ = w.send(self.source.cached_frames());
                    }
                    match self.rx.recv() {
                        Ok(c) => Some(c),
                        Err(_) => return,
                    }
                }
            };
            match command {
                Some(Command::Shutdown) => return,
                Some(Command::WhenIdle { reply }) => self.idle_waiters.push(reply),
                Some(Command::Viewed { index }) => self.note(index),
                Some(Command::Frame {
                    index,
                    request,
                    generation,
                    reply,
                }) => self.serve(index, request, generation, reply),
                None => self.prefetch_one(),
            }
        }
    }

    fn serve(
        &mut self,
        index: u64,
        request: FrameRequest,
        generation: u64,
        reply: Sender<Result<Frame>>,
    ) {
        let current = &self.generation;
        if current.load(Ordering::Acquire) != generation {
            let _ = reply.send(Err(Error::Cancelled));
            return;
        }
        let stop = || current.load(Ordering::Acquire) != generation;
        let result = self.source.frame_with_stop(index, request, &stop);
        let _ = reply.send(result);
        self.note(index);
    }

    /// Records where the user is, and which way they are moving.
    fn note(&mut self, index: u64) {
        if let Some(last) = self.last
            && index != last
        {
            self.forward = index > last;
        }
        if self.last != Some(index) {
            self.attempted.clear();
        }
        self.last = Some(index);
    }

    /// The nearest frame in the direction of travel that is not cached yet, within `ahead`.
    fn next_prefetch_target(&self) -> Option<u64> {
        let last = self.last?;
        let count = self.source.frame_count();
        (1..=self.ahead)
            .filter_map(|d| {
                if self.forward {
                    last.checked_add(d).filter(|&n| n < count)
                } else {
                    last.checked_sub(d)
                }
            })
            .find(|&n| !self.source.is_cached(n) && !self.attempted.contains(&n))
    }

    fn prefetch_one(&mut self) {
        let Some(target) = self.next_prefetch_target() else {
            return;
        };
        self.attempted.push(target);
        let generation = self.generation.load(Ordering::Acquire);
        let current = &self.generation;
        let stop = || current.load(Ordering::Acquire) != generation;
        match self.source.decode_into_cache(target, &stop) {
            Ok(()) => {}
            Err(Error::Cancelled) => self.attempted.retain(|&t| t != target),
            Err(e) => {
                // Damaged data ahead: stop prefetching until the next request moves us.
                tracing::debug!(error = %e, target, "prefetch stopped");
                self.last = None;
            }
        }
    }
}
