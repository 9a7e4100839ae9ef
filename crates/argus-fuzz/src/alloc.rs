//! Catching unbounded allocation: a global allocator that notes each
//! thread's largest single allocation and refuses absurd ones.
//!
//! A decoder that trusts a declared size (a mask's height x width, a
//! tensor's shape, a run count) allocates what the bytes claim, not what
//! they hold. The bodies measure their decoding with [`bounded`]: one
//! allocation beyond [`bound`] of the input's length fails the body, and an
//! allocation over [`HARD_LIMIT`] is refused (the process aborts with
//! "memory allocation of N bytes failed") before it can take the machine's
//! memory. Only binaries that install [`Tracking`] measure anything:
//!
//! ```text
//! #[global_allocator]
//! static ALLOC: argus_fuzz::alloc::Tracking = argus_fuzz::alloc::Tracking;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// No single allocation may exceed this (1 GiB), whatever the input.
pub const HARD_LIMIT: usize = 1 << 30;

/// The system allocator, noting the largest allocation of each thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tracking;

static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// Notes an allocation of `size` bytes; false when it must be refused.
fn note(size: usize) -> bool {
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
    let _ = LARGEST.try_with(|l| {
        if size > l.get() {
            l.set(size);
        }
    });
    size <= HARD_LIMIT
}

// SAFETY: every call is passed on to the system allocator unchanged, or
// refused with a null pointer (allowed: it reports allocation failure).
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !note(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !note(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !note(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` and returns its result and the largest single allocation it
/// made on this thread; `None` when [`Tracking`] is not the global allocator.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Option<usize>) {
    let outer = LARGEST.with(|l| l.replace(0));
    let r = f();
    let largest = LARGEST.with(|l| {
        let inner = l.get();
        l.set(outer.max(inner));
        inner
    });
    (r, INSTALLED.load(Ordering::Relaxed).then_some(largest))
}

/// The largest single allocation allowed while decoding `len` bytes: 64
/// bytes per input byte (a run of the store's codec takes a bit and becomes
/// a `u32`; JSON growth doubles) plus 1 MiB.
pub fn bound(len: usize) -> usize {
    len.saturating_mul(64).saturating_add(1 << 20)
}

/// Runs `f`, the decoding of `len` bytes, and panics when it made a single
/// allocation larger than [`bound`]`(len)`.
pub fn bounded<R>(what: &str, len: usize, f: impl FnOnce() -> R) -> R {
    let (r, largest) = measure(f);
    if let Some(n) = largest {
        assert!(
            n <= bound(len),
            "{what}: one allocation of {n} bytes for {len} input bytes (at most {} allowed)",
            bound(len)
        );
    }
    r
}
