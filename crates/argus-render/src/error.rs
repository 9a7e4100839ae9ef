//! The crate's one error type.

use crate::scene::ObjectId;

/// Everything that can go wrong while setting up or using the renderer.
///
/// GPU failures (`NoAdapter`, `DeviceLost`, `OutOfMemory`) are meant to be shown
/// to the user; input errors (`FrameSize`, `MaskSize`, ...) are caller bugs or
/// bad data and say which value was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error(
        "no GPU adapter available (tried: {tried}); install a Vulkan/GL driver \
         (for CPU rendering: Mesa lavapipe, Debian package mesa-vulkan-drivers)"
    )]
    NoAdapter { tried: String },
    #[error("the GPU adapter {adapter} refused to create a device: {reason}; update the graphics driver or pick another adapter")]
    RequestDevice { adapter: String, reason: String },
    #[error("the GPU device was lost ({reason}); create a new renderer (the driver may have reset)")]
    DeviceLost { reason: String },
    #[error("the GPU ran out of memory while {what}; close other GPU programs or render a smaller view")]
    OutOfMemory { what: String },
    #[error("GPU error while {what}: {message}; this is a renderer or driver bug, please report it with the adapter name")]
    Gpu { what: String, message: String },
    #[error("{what} size {width}x{height} is invalid; both sides must be between 1 and {max}")]
    InvalidSize { what: &'static str, width: u32, height: u32, max: u32 },
    #[error("{what} has {actual} bytes but needs at least {expected} (stride {stride}, {rows} rows)")]
    PlaneTooSmall { what: &'static str, expected: usize, actual: usize, stride: usize, rows: usize },
    #[error("{what} stride {stride} is smaller than one row ({row_bytes} bytes)")]
    StrideTooSmall { what: &'static str, stride: usize, row_bytes: usize },
    #[error("mask of object {id} is {mask_width}x{mask_height} but the scene is {width}x{height}; masks must be at frame resolution")]
    MaskSize { id: ObjectId, mask_width: u32, mask_height: u32, width: u32, height: u32 },
    #[error("object {id} is not in the scene")]
    UnknownObject { id: ObjectId },
    #[error("too many objects in one scene ({count}); at most {max} are supported")]
    TooManyObjects { count: usize, max: usize },
    #[error("invalid view transform: {reason}")]
    InvalidView { reason: String },
    #[error("the object order lists {listed} ids but the scene has {actual} objects, or lists one twice; pass every object exactly once")]
    InvalidOrder { listed: usize, actual: usize },
    #[error("the mask scene is {scene_width}x{scene_height} but the frame is {frame_width}x{frame_height}; resize the scene when the video changes")]
    SceneFrameMismatch { scene_width: u32, scene_height: u32, frame_width: u32, frame_height: u32 },
    #[error("no frame uploaded yet (or its size does not match); call upload_frame before rendering")]
    NoFrame,
    #[error("surface texture unavailable ({reason}); reconfigure the surface and try again")]
    Surface { reason: String },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
