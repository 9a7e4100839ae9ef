//! Interactive SAM segmentation for Argus: click on an object, get its mask,
//! offline, with no Python.
//!
//! Both halves of a Segment Anything model run locally through ONNX Runtime
//! (the `ort` crate, loaded dynamically so the app starts and explains itself
//! when the library is missing):
//!
//! - [`manifest`]: TOML manifests describing a model (contract, files, sha256,
//!   input size, normalisation, licence, URLs); the shipped ones are compiled in.
//! - [`download`]: fetching model files into the user cache with progress,
//!   resume and sha256 checks (`file://`, `http(s)://`, zip members).
//! - [`runtime`]: finding the ONNX Runtime library and choosing execution
//!   providers, falling back to the CPU with the reason reported.
//! - [`model`]: loading an encoder/decoder pair, refusing models that do not
//!   follow their declared contract, encoding frames and decoding prompts.
//! - [`image`], [`prompt`], [`mask`]: the pre- and post-processing of the
//!   reference implementations, in Rust. Masks come out as `argus_core::Rle`
//!   at frame resolution; the final upsampling, thresholding and run-length
//!   encoding are fused into one pass, which is where Argus beats the Python
//!   pipelines (the ONNX Runtime call itself costs the same from both).
//! - [`cache`]: embeddings in memory (LRU bounded in bytes) and on disk, and
//!   background pre-encoding of the frames around the current one.
//! - [`track`]: the per-frame step of mask propagation (the next frame's
//!   prompt from the previous mask: its box, points deep inside it, its
//!   low-res logits); the propagation loop belongs to the application layer.
//!
//! The encoder is the slow part (hundreds of ms to seconds on a CPU) and the
//! decoder the interactive one (milliseconds), so the crate is shaped around
//! keeping the two apart: separate sessions and locks, embeddings cached and
//! computed ahead, and a click on an encoded frame never waits for the encoder.

pub mod cache;
pub mod download;
mod error;
pub mod image;
pub mod manifest;
pub mod mask;
pub mod model;
pub mod priority;
pub mod prompt;
pub mod runtime;
pub mod track;

pub use error::{Error, Result};
pub use image::{ImageView, PixelFormat, Transform};
pub use manifest::{Contract, Manifest, builtin_manifest, builtin_manifests};
pub use model::{Candidate, Embedding, LoadOptions, MaskUpscale, Prediction, SamModel};
pub use prompt::{Click, LowResMask, Prompt};
pub use runtime::{ProviderChoice, ProviderReport};
pub use track::{TrackState, TrackStepOptions, prompt_from_mask};
