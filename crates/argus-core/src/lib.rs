//! The Argus domain core.
//!
//! Everything the other crates agree on lives here: typed ids, the project /
//! label schema / video / track / shape / review model, masks as COCO RLE,
//! vector geometry, keyframe interpolation, frame-time arithmetic with exact
//! rationals, and hybrid logical clocks for sync.
//!
//! It does no I/O and takes no heavy dependency (no FFmpeg, ONNX Runtime,
//! wgpu, SQL or HTTP; `scripts/check-deps` enforces this), so it compiles in
//! seconds, runs anywhere, and every rule about the data can be tested as pure
//! functions. Every constructor that takes outside data validates it and
//! returns a typed error instead of panicking, and serde deserialisation goes
//! through the same checks.

pub mod error;
pub mod geometry;
pub mod hlc;
pub mod id;
pub mod interpolate;
pub mod mask;
pub mod model;
pub mod time;

pub use error::{Error, Result};
pub use geometry::{BBox, GeometryError, Point, Polygon, Polyline};
pub use hlc::{Hlc, HlcClock};
pub use mask::{MaskError, Rle};
pub use time::{FrameTime, Rational, TimeError};
