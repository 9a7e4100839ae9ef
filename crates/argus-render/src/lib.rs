//! Argus's frame + mask compositor.
//!
//! Annotators look at a video frame with dozens to thousands of masks, tinted
//! by label, outlined, the selected object highlighted and the hovered one
//! emphasised, zoomed and panned. This crate draws that picture with wgpu.
//!
//! Why it is shaped this way:
//! - **One pass for all masks.** A [`MaskScene`] keeps a per-pixel "top-most
//!   object" map built from the masks' COCO runs, and a table of per-object
//!   styles. The GPU samples the frame and that map once per output pixel, so
//!   the cost does not grow with the number of masks. Outlines are searched
//!   only near tiles where the map is not uniform.
//! - **Incremental.** The map is column-major like COCO runs, so changing one
//!   mask repaints and uploads only the columns it spans; styles (selection,
//!   hover, colour) are a small buffer; frame textures are reused.
//! - **A CPU reference defines the semantics.** [`cpu::composite`] is a plain
//!   per-pixel loop; the GPU output matches it within ±2 per channel, and the
//!   tests check exactly that on a CPU adapter (Mesa lavapipe).
//! - **wgpu stays inside.** Apart from [`Renderer::from_device`] and the
//!   surface/texture entry points a window host needs, the API uses plain
//!   types, so other crates need not depend on wgpu.
//! - **Failures are typed.** No adapter, a lost device and out-of-memory are
//!   [`Error`] variants the app can show.

pub mod cpu;
mod error;
pub mod frame;
pub mod gpu;
pub mod overlay;
pub mod scene;
pub mod view;
pub mod yuv;

pub use cpu::{MaskLayer, OutputSpec};
pub use error::{Error, Result};
pub use frame::{FrameInput, RgbaFrame, RgbaImage};
pub use gpu::{AdapterSummary, RenderStats, Renderer};
pub use overlay::{Overlay, Stroke};
pub use scene::{MaskScene, MaskStyle, ObjectId};
pub use view::ViewTransform;
pub use yuv::{Plane, YuvFrame, YuvMatrix, YuvPlanes};
