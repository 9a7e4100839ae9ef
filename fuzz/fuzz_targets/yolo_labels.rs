#![no_main]
//! `cargo fuzz run yolo_labels`: the body is `argus_fuzz::formats::yolo_labels` (see crates/argus-fuzz).

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: argus_fuzz::alloc::Tracking = argus_fuzz::alloc::Tracking;

fuzz_target!(|data: &[u8]| argus_fuzz::formats::yolo_labels(data));
