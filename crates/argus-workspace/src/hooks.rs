//! Points where a test can hold the workspace's long work, opening a video
//! and encoding a frame for SAM, to show structurally that nothing else
//! waits for it: the test holds both on a barrier, and a frame request for
//! another frame must still be answered before it lets them go.
//!
//! Unset hooks cost one uncontended lock each time a video is opened or a
//! frame encoded, which is nothing next to the work they precede.

use std::sync::Arc;

use argus_core::id::VideoId;
use argus_core::model::Video;
use parking_lot::Mutex;

/// Called with the video (and the frame, for an encode) just before the work starts.
pub type Hook = Arc<dyn Fn(VideoId, Option<u64>) + Send + Sync>;

/// The workspace's hooks; see the module.
#[derive(Default)]
pub struct Hooks {
    opening: Mutex<Option<Hook>>,
    encoding: Mutex<Option<Hook>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("opening", &self.opening.lock().is_some())
            .field("encoding", &self.encoding.lock().is_some())
            .finish()
    }
}

impl Hooks {
    /// Runs `hook` before a video's file is opened and its index read.
    pub fn on_opening(&self, hook: Option<Hook>) {
        *self.opening.lock() = hook;
    }

    /// Runs `hook` before a frame is decoded and encoded for SAM (a click's
    /// own encode, or the pre-encoder's).
    pub fn on_encoding(&self, hook: Option<Hook>) {
        *self.encoding.lock() = hook;
    }

    pub(crate) fn opening(&self, video: &Video) {
        let hook = self.opening.lock().clone();
        if let Some(hook) = hook {
            hook(video.id, None);
        }
    }

    pub(crate) fn encoding(&self, video: &Video, frame: u64) {
        let hook = self.encoding.lock().clone();
        if let Some(hook) = hook {
            hook(video.id, Some(frame));
        }
    }
}
