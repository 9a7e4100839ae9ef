//! FFmpeg's own log output routed into `tracing` instead of stderr.
//!
//! FFmpeg logs through a C-variadic callback. Stable Rust cannot read a `va_list`, but it does not have
//! to: the callback hands the `va_list` straight to FFmpeg's `av_log_format_line2`, which formats the
//! line. The `va_list` type differs per platform, so the callback is generic over it and the type is
//! inferred from the bindings; no platform-specific code is needed.
//!
//! Messages at FFmpeg's `error` level and below are also remembered per thread, so an open failure
//! can carry FFmpeg's explanation (e.g. "moov atom not found") in its typed error.
//!
//! Some FFmpeg calls are attempts whose failure is an expected outcome: probing for a hardware
//! decoder logs "Could not dynamically load CUDA" at error level on every machine without one.
//! [`expected_failures`] runs such a call with this thread's FFmpeg messages demoted to `debug`
//! and collected, so the caller can say once, in its own words, what happened and why.

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use ffmpeg_next::ffi;

thread_local! {
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Set while this thread runs an [`expected_failures`] attempt: its FFmpeg messages.
    static EXPECTED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// At most this many messages are kept from one attempt.
const MAX_EXPECTED: usize = 16;

/// The address of `av_log_format_line2`, stored untyped so the generic callback can call it.
static FORMAT_LINE: AtomicUsize = AtomicUsize::new(0);

type FormatLine<VL> = unsafe extern "C" fn(
    *mut c_void,
    c_int,
    *const c_char,
    VL,
    *mut c_char,
    c_int,
    *mut c_int,
) -> c_int;

/// Installs the tracing bridge. FFmpeg messages more verbose than `info` are not even formatted.
pub(crate) fn install() {
    // SAFETY: plain FFmpeg global setters, called once from `crate::init`.
    unsafe {
        ffi::av_log_set_level(ffi::AV_LOG_INFO);
        install_with(ffi::av_log_set_callback, ffi::av_log_format_line2);
    }
}

unsafe fn install_with<VL>(
    set_callback: unsafe extern "C" fn(
        Option<unsafe extern "C" fn(*mut c_void, c_int, *const c_char, VL)>,
    ),
    format_line: FormatLine<VL>,
) {
    FORMAT_LINE.store(format_line as usize, Ordering::Release);
    // SAFETY: `callback::<VL>` has exactly the signature FFmpeg expects on this platform (VL is inferred
    // from the bindings' own declaration of the callback).
    unsafe { set_callback(Some(callback::<VL>)) };
}

unsafe extern "C" fn callback<VL>(avcl: *mut c_void, level: c_int, fmt: *const c_char, vl: VL) {
    // SAFETY: FFmpeg's global level check happens in av_log before calling us; we filter again so the
    // formatting cost is only paid for messages we emit.
    // SAFETY: reading a plain global.
    if level > unsafe { ffi::av_log_get_level() } {
        return;
    }
    let addr = FORMAT_LINE.load(Ordering::Acquire);
    if addr == 0 || fmt.is_null() {
        return;
    }
    // SAFETY: `addr` was stored from a `FormatLine<VL>` with the same VL in `install_with`.
    let format_line: FormatLine<VL> =
        unsafe { std::mem::transmute_copy::<usize, FormatLine<VL>>(&addr) };
    let mut buf = [0 as c_char; 1024];
    let mut print_prefix: c_int = 1;
    // SAFETY: `buf` is writable for its full length; FFmpeg NUL-terminates (truncating if needed).
    unsafe {
        format_line(
            avcl,
            level,
            fmt,
            vl,
            buf.as_mut_ptr(),
            buf.len() as c_int,
            &mut print_prefix,
        )
    };
    // SAFETY: av_log_format_line2 always NUL-terminates within the buffer.
    let line = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();
    let line = line.trim_end();
    if line.is_empty() {
        return;
    }
    // Never unwind into C.
    let _ = std::panic::catch_unwind(|| emit(level, line));
}

fn emit(level: c_int, line: &str) {
    let expected = EXPECTED.with(|e| match e.borrow_mut().as_mut() {
        Some(lines) => {
            if lines.len() < MAX_EXPECTED {
                lines.push(without_context(line).to_owned());
            }
            true
        }
        None => false,
    });
    if expected {
        tracing::debug!(target: "ffmpeg", "{line}");
        return;
    }
    if level <= ffi::AV_LOG_ERROR {
        tracing::error!(target: "ffmpeg", "{line}");
        LAST_ERROR.with(|e| *e.borrow_mut() = Some(line.to_owned()));
    } else if level <= ffi::AV_LOG_WARNING {
        tracing::warn!(target: "ffmpeg", "{line}");
    } else if level <= ffi::AV_LOG_INFO {
        tracing::info!(target: "ffmpeg", "{line}");
    } else {
        tracing::debug!(target: "ffmpeg", "{line}");
    }
}

/// The last error FFmpeg logged on this thread since the previous call, if any.
pub(crate) fn take_last_error() -> Option<String> {
    LAST_ERROR.with(|e| e.borrow_mut().take())
}

/// `line` without FFmpeg's leading "[AVHWDeviceContext @ 0x55d0c0a0] " context prefixes, whose
/// addresses differ every time.
fn without_context(mut line: &str) -> &str {
    while line.starts_with('[') {
        match line.find("] ") {
            Some(end) => line = line.get(end + 2..).unwrap_or_default(),
            None => break,
        }
    }
    line
}

/// Runs `attempt` with the FFmpeg messages it causes on this thread logged at `debug` instead of
/// their own level (they describe an expected outcome, not a problem) and returns them alongside
/// its result. Messages from FFmpeg's own worker threads are not affected.
pub(crate) fn expected_failures<R>(attempt: impl FnOnce() -> R) -> (R, Vec<String>) {
    struct Restore(Option<Vec<String>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            EXPECTED.with(|e| *e.borrow_mut() = outer);
        }
    }
    let outer = EXPECTED.with(|e| e.borrow_mut().replace(Vec::new()));
    let restore = Restore(outer);
    let result = attempt();
    let lines = EXPECTED
        .with(|e| e.borrow_mut().take())
        .unwrap_or_default();
    drop(restore);
    (result, lines)
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;

    use super::*;

    fn av_log_error(message: &str) {
        let fmt = CString::new("%s").unwrap_or_default();
        let msg = CString::new(message).unwrap_or_default();
        // SAFETY: a printf-style call with one `%s` argument that is a valid C string.
        unsafe { ffi::av_log(std::ptr::null_mut(), ffi::AV_LOG_ERROR, fmt.as_ptr(), msg.as_ptr()) };
    }

    #[test]
    fn expected_failures_are_collected_and_not_errors() {
        crate::init();
        take_last_error();
        let ((), lines) = expected_failures(|| av_log_error("Could not dynamically load CUDA\n"));
        assert_eq!(lines, vec!["Could not dynamically load CUDA".to_owned()]);
        // Not remembered as the thread's last error: an open failure must not blame it.
        assert_eq!(take_last_error(), None);
        // Outside the attempt, errors are errors again.
        av_log_error("moov atom not found\n");
        assert_eq!(take_last_error().as_deref(), Some("moov atom not found"));
        // Nested attempts keep their own messages.
        let ((), outer) = expected_failures(|| {
            let ((), inner) = expected_failures(|| av_log_error("inner\n"));
            assert_eq!(inner, vec!["inner".to_owned()]);
            av_log_error("outer\n");
        });
        assert_eq!(outer, vec!["outer".to_owned()]);
    }

    #[test]
    fn context_prefixes_are_dropped_from_collected_messages() {
        assert_eq!(
            without_context("[AVHWDeviceContext @ 0x55d0c0a0] Could not dynamically load CUDA"),
            "Could not dynamically load CUDA"
        );
        assert_eq!(without_context("[h264 @ 0x1] [x @ 0x2] msg"), "msg");
        assert_eq!(without_context("plain [not a prefix] text"), "plain [not a prefix] text");
        assert_eq!(without_context("[unterminated"), "[unterminated");
    }
}
