#![no_main]
//! `cargo fuzz run mot_gt`: the body is `argus_fuzz::formats::mot_gt` (see crates/argus-fuzz).

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: argus_fuzz::alloc::Tracking = argus_fuzz::alloc::Tracking;

fuzz_target!(|data: &[u8]| argus_fuzz::formats::mot_gt(data));
