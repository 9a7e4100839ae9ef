#![no_main]
//! `cargo fuzz run native_jsonl`: the body is `argus_fuzz::formats::native_jsonl` (see crates/argus-fuzz).

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: argus_fuzz::alloc::Tracking = argus_fuzz::alloc::Tracking;

fuzz_target!(|data: &[u8]| argus_fuzz::formats::native_jsonl(data));
