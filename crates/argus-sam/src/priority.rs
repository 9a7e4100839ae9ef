//! Background work yields the CPU to the user's: the pre-encoder's thread (and
//! whatever it opens, such as a video decoder's threads, which inherit it) and
//! optionally the encoder's ONNX Runtime threads run at a lower scheduling
//! priority, so pre-encoding the neighbours of a frame never makes a click on
//! an already-encoded frame wait for the CPU.

/// The nice value background threads take (Linux; 0 is normal, 19 the lowest).
pub const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority for background work.
/// Threads it starts from now on inherit the priority. Returns whether the
/// priority was changed (`false` where the platform offers no per-thread
/// priority here, or the OS refused).
pub fn lower_current_thread() -> bool {
    imp::lower_current_thread()
}

/// The calling thread's nice value, where the platform has one.
pub fn current_nice() -> Option<i32> {
    imp::current_nice()
}

#[cfg(target_os = "linux")]
mod imp {
    use super::BACKGROUND_NICE;

    pub fn lower_current_thread() -> bool {
        // Already as low (say, the whole process runs under `nice`): keep it;
        // raising the priority back would need privileges anyway.
        if current_nice().is_some_and(|n| n >= BACKGROUND_NICE) {
            return true;
        }
        // On Linux the nice value is per thread: PRIO_PROCESS with who = 0
        // (the calling thread's id) changes only this thread.
        // SAFETY: plain system call on the calling thread; no pointers involved.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
        // SAFETY: as above.
        let ok = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, BACKGROUND_NICE) } == 0;
        if !ok {
            tracing::debug!(
                "background priority not set: {}",
                std::io::Error::last_os_error()
            );
        }
        ok
    }

    pub fn current_nice() -> Option<i32> {
        // SAFETY: plain system calls on the calling thread.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
        // getpriority can return -1 as a valid value: errno tells the difference.
        // SAFETY: errno is thread-local; reset it before the call.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: plain system call.
        let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) };
        // SAFETY: reads this thread's errno.
        (nice != -1 || unsafe { *libc::__errno_location() } == 0).then_some(nice)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub fn lower_current_thread() -> bool {
        false
    }

    pub fn current_nice() -> Option<i32> {
        None
    }
}

/// ONNX Runtime thread manager whose threads run at background priority.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BackgroundThreads;

impl ort::environment::ThreadManager for BackgroundThreads {
    type Thread = std::thread::JoinHandle<()>;

    fn create(&self, work: impl FnOnce() + Send + 'static) -> ort::Result<Self::Thread> {
        std::thread::Builder::new()
            .name("argus-sam-encoder".to_owned())
            .spawn(move || {
                lower_current_thread();
                work();
            })
            .map_err(|e| ort::Error::new(format!("could not start an encoder thread: {e}")))
    }

    fn join(thread: Self::Thread) -> ort::Result<()> {
        thread
            .join()
            .map_err(|_| ort::Error::new("an encoder thread panicked"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn lowers_only_the_calling_thread() {
        let before = current_nice();
        let (lowered, nice, child) = std::thread::spawn(|| {
            let lowered = lower_current_thread();
            let nice = current_nice();
            // threads started from a lowered thread inherit its priority
            let child = std::thread::spawn(current_nice).join().ok().flatten();
            (lowered, nice, child)
        })
        .join()
        .expect("the test thread ran");
        assert!(lowered, "setpriority refused to raise the nice value");
        assert_eq!(nice, Some(BACKGROUND_NICE.max(before.unwrap_or(0))));
        assert_eq!(child, nice);
        assert_eq!(current_nice(), before, "the other threads keep their priority");
    }
}
