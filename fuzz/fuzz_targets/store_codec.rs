#![no_main]
//! `cargo fuzz run store_codec`: the body is `argus_fuzz::store_codec` (see crates/argus-fuzz).

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: argus_fuzz::alloc::Tracking = argus_fuzz::alloc::Tracking;

fuzz_target!(|data: &[u8]| argus_fuzz::store_codec(data));
