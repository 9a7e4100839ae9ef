#![no_main]
//! `cargo fuzz run voc_xml`: the body is `argus_fuzz::formats::voc_xml` (see crates/argus-fuzz).

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: argus_fuzz::alloc::Tracking = argus_fuzz::alloc::Tracking;

fuzz_target!(|data: &[u8]| argus_fuzz::formats::voc_xml(data));
