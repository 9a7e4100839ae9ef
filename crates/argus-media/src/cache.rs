//! A least-recently-used cache of decoded frames, bounded in bytes.
//!
//! It holds FFmpeg's decoded pictures (reference-counted, still in the codec's pixel format), not
//! converted RGBA: inserting a frame while decoding through a GOP is free, and stepping back only
//! pays for one colour conversion. Generic over the value so the policy is unit-testable.

use std::collections::{BTreeMap, HashMap};

/// Something whose memory footprint is known.
pub(crate) trait Weighed {
    fn bytes(&self) -> usize;
}

impl Weighed for ffmpeg_next::frame::Video {
    fn bytes(&self) -> usize {
        // SAFETY: reading the buffer references of a frame we own; unused slots are null.
        unsafe {
            let f = &*self.as_ptr();
            f.buf
                .iter()
                .filter(|b| !b.is_null())
                .map(|b| (**b).size)
                .sum::<usize>()
                .max(1)
        }
    }
}

/// A new reference to the same decoded picture (no pixel copy).
pub(crate) fn share(frame: &ffmpeg_next::frame::Video) -> Option<ffmpeg_next::frame::Video> {
    let mut out = ffmpeg_next::frame::Video::empty();
    // SAFETY: both frames are valid; av_frame_ref only adds references to `frame`'s buffers.
    let ret = unsafe { ffmpeg_next::ffi::av_frame_ref(out.as_mut_ptr(), frame.as_ptr()) };
    (ret >= 0).then_some(out)
}

/// The decoded-frame cache shared between a source and its prefetcher's callers.
pub(crate) type SharedCache =
    std::sync::Arc<parking_lot::Mutex<FrameCache<ffmpeg_next::frame::Video>>>;

/// LRU map from frame index to value with a byte budget. Always keeps at least the most recent entry.
#[derive(Debug)]
pub(crate) struct FrameCache<V> {
    budget: usize,
    used: usize,
    tick: u64,
    entries: HashMap<u64, (V, u64, usize)>,
    by_age: BTreeMap<u64, u64>,
}

impl<V: Weighed> FrameCache<V> {
    pub fn new(budget: usize) -> Self {
        FrameCache {
            budget,
            used: 0,
            tick: 0,
            entries: HashMap::new(),
            by_age: BTreeMap::new(),
        }
    }

    pub fn get(&mut self, index: u64) -> Option<&V> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.entries.get_mut(&index)?;
        self.by_age.remove(&entry.1);
        entry.1 = tick;
        self.by_age.insert(tick, index);
        Some(&entry.0)
    }

    pub fn contains(&self, index: u64) -> bool {
        self.entries.contains_key(&index)
    }

    pub fn insert(&mut self, index: u64, value: V) {
        self.tick += 1;
        let bytes = value.bytes();
        if let Some((_, age, old)) = self.entries.remove(&index) {
            self.by_age.remove(&age);
            self.used -= old;
        }
        self.entries.insert(index, (value, self.tick, bytes));
        self.by_age.insert(self.tick, index);
        self.used += bytes;
        while self.used > self.budget && self.entries.len() > 1 {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            if let Some((_, _, b)) = self.entries.remove(&oldest) {
                self.used -= b;
            }
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.by_age.clear();
        self.used = 0;
    }

    pub fn used_bytes(&self) -> usize {
        self.used
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn indices(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.entries.keys().copied().collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Blob(usize);
    impl Weighed for Blob {
        fn bytes(&self) -> usize {
            self.0
        }
    }

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let mut c = FrameCache::new(30);
        c.insert(1, Blob(10));
        c.insert(2, Blob(10));
        c.insert(3, Blob(10));
        assert!(c.get(1).is_some()); // 1 is now the most recent
        c.insert(4, Blob(10)); // evicts 2, the least recently used
        assert_eq!(c.indices(), vec![1, 3, 4]);
        assert_eq!(c.used_bytes(), 30);
    }

    #[test]
    fn replacing_keeps_accounting_and_oversized_entry_survives_alone() {
        let mut c = FrameCache::new(25);
        c.insert(1, Blob(10));
        c.insert(1, Blob(20));
        assert_eq!(c.used_bytes(), 20);
        c.insert(2, Blob(100));
        assert_eq!(c.indices(), vec![2]);
        assert_eq!(c.len(), 1);
        c.clear();
        assert_eq!(c.used_bytes(), 0);
    }
}
