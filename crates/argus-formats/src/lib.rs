//! Dataset formats: what Argus exports for trainers and imports from other
//! tools.
//!
//! | format | module | export | import |
//! |---|---|---|---|
//! | COCO instance segmentation (RLE or polygons) | [`coco`] | yes | yes |
//! | YOLO detection and segmentation (Ultralytics layout) | [`yolo`] | yes | yes |
//! | CVAT for video 1.1 XML | [`cvat`] | yes | yes |
//! | Pascal VOC (boxes, class and instance PNG masks) | [`voc`] | yes | no |
//! | MOT 1.1 | [`mot`] | yes | yes |
//! | Argus native JSON (lossless, the whole project) | [`native`] | yes | yes |
//!
//! Why it is shaped this way:
//! - **Pure.** The crate knows argus-core's records and bytes, nothing else:
//!   reading the store, decoding frames (argus-media) and encoding images
//!   happen in the application layer (argus-workspace), which feeds these
//!   writers and consumes these readers. So the formats are tested here in
//!   memory, in milliseconds, against hand-written files and independent
//!   readers' expectations.
//! - **Streaming.** A writer takes one image (or one track) at a time and
//!   writes it out; a reader hands out one record at a time through a
//!   callback. A 100,000-frame export holds one frame's annotations, not the
//!   dataset, and a reader holds the small index (categories, images), not
//!   the annotations.
//! - **Lossless where the format allows, and honest where it does not.**
//!   Masks stay COCO RLE (argus-core's [`Rle`](argus_core::mask::Rle) is
//!   pycocotools' RLE); where a format needs polygons, the writer reports
//!   what the approximation changed (area, parts, holes) per annotation in
//!   its [`Report`].
//! - **Bad input is an error with a place.** Readers never panic: a syntax
//!   error says the line and column, a bad record says which one
//!   (`annotations[17] (id 123)`), and records that cannot be used are
//!   [`Skipped`] with the reason, so an import can go on and say what it
//!   left out.

pub mod coco;
pub mod cvat;
mod error;
mod model;
pub mod mot;
pub mod native;
mod sink;
pub mod voc;
pub mod yolo;

pub use error::{Error, Result};
pub use model::{Annotation, Category, Image, Report, Skipped, VideoFrame};
pub use sink::{FolderSink, IndexedImage, MemorySink, Sink};

/// Cancellation and progress for long exports and imports: the application
/// layer passes one; writers and readers call [`Progress::tick`] as they go
/// and stop with [`Error::Cancelled`] when it says so.
pub trait Progress {
    /// `done` of `total` units (images, tracks or bytes, as the caller
    /// chose); returns false to cancel.
    fn tick(&mut self, done: u64, total: u64) -> bool;
}

/// No progress reporting, never cancels.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn tick(&mut self, _done: u64, _total: u64) -> bool {
        true
    }
}
