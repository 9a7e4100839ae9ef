//! The records writers take and readers give: a dataset's view of Argus's
//! projects. Categories are labels, images are frames, annotations are
//! shapes (with their track's number and attributes).

use argus_core::model::{AttributeSpec, Attributes, Colour, Geometry, ShapeSource};
use serde::Serialize;

/// A label as a dataset numbers it. Writers number categories in schema
/// order (from 1 in COCO and CVAT, from 0 in YOLO); readers give the file's
/// ids back.
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    pub id: u32,
    pub name: String,
    pub colour: Option<Colour>,
    /// The label's attributes (CVAT's meta carries them; others ignore them).
    pub attributes: Vec<AttributeSpec>,
}

/// Which frame of which video an image is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct VideoFrame {
    /// The video's name in the project (its file name).
    pub video: String,
    /// The frame index, from 0.
    pub frame: u64,
}

/// One image of a dataset: a frame, either extracted to `file_name` or
/// referenced by `video` and frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Unique in the dataset; COCO's `image_id`.
    pub id: u64,
    /// The image's path relative to the dataset's image folder
    /// (`<video>/000123.jpg`), or a reference when frames are not extracted.
    pub file_name: String,
    pub width: u32,
    pub height: u32,
    pub video: Option<VideoFrame>,
}

/// One annotation: a shape of a track on one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// Unique in the dataset (COCO's annotation id); readers give the file's.
    pub id: u64,
    pub image_id: u64,
    pub category_id: u32,
    /// The track's number in its video (CVAT's and MOT's track id); `None`
    /// for a dataset without tracks.
    pub track: Option<u32>,
    pub geometry: Geometry,
    /// COCO's `iscrowd`: the region holds many objects and is ignored by
    /// evaluation. Argus keeps it as the label's `iscrowd` (or CVAT's
    /// `is_crowd`) attribute.
    pub crowd: bool,
    pub occluded: bool,
    /// CVAT's `outside`: the track has left the frame here.
    pub outside: bool,
    pub keyframe: bool,
    pub source: ShapeSource,
    pub score: Option<f32>,
    /// Track and shape attributes together.
    pub attributes: Attributes,
}

/// Something an export changed or an import left out, with where it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    /// Where: `annotations[17] (id 123)`, `line 4`, `track 3, frame 12`.
    pub at: String,
    /// Why, in words that say what to do.
    pub reason: String,
}

/// What an export wrote or an import read, and what it changed or skipped.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub images: u64,
    pub annotations: u64,
    pub tracks: u64,
    /// Records left out, each with its reason.
    pub skipped: Vec<Skipped>,
    /// Annotations written with a loss the format forced (a mask as a
    /// polygon), each with what changed.
    pub changed: Vec<Skipped>,
}

impl Report {
    pub(crate) fn skip(&mut self, at: impl Into<String>, reason: impl Into<String>) {
        self.skipped.push(Skipped { at: at.into(), reason: reason.into() });
    }

    pub(crate) fn change(&mut self, at: impl Into<String>, reason: impl Into<String>) {
        self.changed.push(Skipped { at: at.into(), reason: reason.into() });
    }
}
