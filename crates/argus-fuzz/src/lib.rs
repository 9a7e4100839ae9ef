//! Fuzz bodies for the code that reads data Argus does not control: a
//! model's declared inputs and outputs, the frame view's requests, embedding
//! cache files and the store's binary records.
//!
//! Each body takes raw bytes, turns them into the input of the real code,
//! calls it and checks properties; a violated property is a panic, which is
//! what the fuzzer (and the replay) reports:
//!
//! - [`model_contract`]: `argus_sam::model::check_contract_io` on a manifest
//!   (a template with fields from the bytes, or TOML text from the bytes) and
//!   hostile input/output lists. Never panics; a model it accepts has every
//!   declared input it will be fed, and an HWC encoder's picture size within
//!   [`argus_sam::image::MAX_FRAME_SIDE`].
//! - [`frame_request`]: `FrameQuery::parse` on any path and query, and
//!   `output_size` on any size and scale: never panics, the scale is in
//!   (0, 1], the output size in `1..=max(input, 1)`, and a parsed query
//!   written back as a URL parses to the same query.
//! - [`embedding_cache`]: `argus_sam::cache::decode_entry` on any bytes:
//!   never panics, allocates no more than the bytes hold, and what decodes
//!   encodes ([`argus_sam::cache::encode_entry`]) to the same bytes.
//! - [`store_codec`]: `argus_store::codec`'s decoders on any bytes and its
//!   encoders on shapes made from the bytes: never panic, allocate in
//!   proportion to the input, round trip.
//! - [`formats`]: every dataset parser an import uses (COCO JSON, CVAT XML,
//!   YOLO labels and `data.yaml`, MOT `gt.txt` and `seqinfo.ini`, VOC XML, native
//!   JSON Lines): never panic, allocate in proportion to the file, and hand
//!   out only well-formed records.
//!
//! Allocation: a binary that installs [`alloc::Tracking`] as its global
//! allocator (the replay test and the fuzz targets do) also fails a body
//! whose decoding makes a single allocation out of proportion to its input
//! ([`alloc::bound`]), and refuses any allocation over [`alloc::HARD_LIMIT`]
//! outright (an abort), so a declared size is never trusted.
//!
//! `fuzz/` (cargo-fuzz, its own workspace) calls these bodies; `tests/replay.rs`
//! replays every file of `fuzz/corpus/<target>/` through them as ordinary
//! tests, with the regression cases the fuzzers found. `make fuzz` runs the
//! fuzzers (scripts/fuzz).

pub mod alloc;
pub mod bytes;
pub mod embedding_cache;
pub mod formats;
pub mod frame_request;
pub mod model_contract;
pub mod store_codec;

pub use embedding_cache::embedding_cache;
pub use frame_request::frame_request;
pub use model_contract::model_contract;
pub use store_codec::store_codec;

/// A fuzz body.
pub type Body = fn(&[u8]);

/// The targets by name: the names of `fuzz/fuzz_targets/*.rs` and of the
/// corpus folders.
pub const TARGETS: &[(&str, Body)] = &[
    ("model_contract", model_contract),
    ("frame_request", frame_request),
    ("embedding_cache", embedding_cache),
    ("store_codec", store_codec),
    ("coco_json", formats::coco_json),
    ("cvat_xml", formats::cvat_xml),
    ("yolo_labels", formats::yolo_labels),
    ("mot_gt", formats::mot_gt),
    ("voc_xml", formats::voc_xml),
    ("native_jsonl", formats::native_jsonl),
];

/// The seed inputs of every target (valid inputs made by the real encoders,
/// and edge cases), as `(target, file name, bytes)`. `fuzz/corpus` holds
/// them (`cargo run -p argus-fuzz --example write-seeds` writes them there);
/// the fuzzers add what they find.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut all = Vec::new();
    for (target, list) in [
        ("model_contract", model_contract::seeds()),
        ("frame_request", frame_request::seeds()),
        ("embedding_cache", embedding_cache::seeds()),
        ("store_codec", store_codec::seeds()),
        ("coco_json", formats::seeds("coco_json")),
        ("cvat_xml", formats::seeds("cvat_xml")),
        ("yolo_labels", formats::seeds("yolo_labels")),
        ("mot_gt", formats::seeds("mot_gt")),
        ("voc_xml", formats::seeds("voc_xml")),
        ("native_jsonl", formats::seeds("native_jsonl")),
    ] {
        for (name, bytes) in list {
            all.push((target, name, bytes));
        }
    }
    all
}
