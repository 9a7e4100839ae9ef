//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong in `argus-sam`. Each message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No ONNX Runtime library was found in any of the places searched.
    #[error(
        "ONNX Runtime library not found; install it with the project bootstrap (scripts/bootstrap), \
         place {file} next to the application, or set ORT_DYLIB_PATH; searched: {searched}"
    )]
    RuntimeMissing { file: String, searched: String },
    /// The library was found but could not be loaded or is older than the API we need.
    #[error(
        "ONNX Runtime could not be loaded ({reason}); Argus needs ONNX Runtime >= 1.{min_minor}: \
         install onnxruntime 1.31.1 with the project bootstrap or point ORT_DYLIB_PATH at it: {path}"
    )]
    RuntimeUnusable {
        reason: String,
        min_minor: u32,
        path: PathBuf,
    },
    /// A model manifest could not be parsed or is inconsistent.
    #[error("model manifest {name} is invalid: {reason}")]
    Manifest { name: String, reason: String },
    /// No manifest with this id is known.
    #[error("unknown SAM model id {0:?}; known ids: {1}")]
    UnknownModel(String, String),
    /// A model file is missing and could not be downloaded.
    #[error(
        "model file {file} is missing and could not be downloaded ({reason}); download it by hand from {url} \
         and place it at: {path}"
    )]
    ModelMissing {
        file: String,
        url: String,
        reason: String,
        path: PathBuf,
    },
    /// A file's checksum does not match its manifest.
    #[error(
        "sha256 mismatch for {file}: expected {expected}, got {actual}; the file was removed, download it again: {path}"
    )]
    Checksum {
        file: String,
        expected: String,
        actual: String,
        path: PathBuf,
    },
    /// An unsupported or malformed download URL.
    #[error("unsupported download URL (only file://, http:// and https:// are supported): {0}")]
    BadUrl(String),
    /// HTTP failure while downloading.
    #[error("download failed ({reason}); check the network or download the file by hand: {url}")]
    Http { reason: String, url: String },
    /// Filesystem failure.
    #[error("{action} failed: {source}: {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The model's inputs/outputs do not match the declared contract.
    #[error("model {model} does not follow the {contract} contract:\n  - {}", .mismatches.join("\n  - "))]
    ContractMismatch {
        model: String,
        contract: &'static str,
        mismatches: Vec<String>,
    },
    /// ONNX Runtime refused to load a model file (corrupt or unsupported).
    #[error(
        "ONNX Runtime could not load the model ({reason}); the file may be corrupt: delete it and download it again: {path}"
    )]
    ModelLoad { reason: String, path: PathBuf },
    /// The accelerator ran out of memory.
    #[error(
        "the {provider} device ran out of memory ({reason}); close other GPU applications or switch to the CPU provider"
    )]
    OutOfMemory { provider: String, reason: String },
    /// ONNX Runtime failed while running a model.
    #[error("running the {stage} failed: {reason}")]
    Inference { stage: &'static str, reason: String },
    /// The model produced tensors of an unexpected shape.
    #[error("the {stage} produced an unexpected output: {reason}")]
    BadOutput { stage: &'static str, reason: String },
    /// The caller passed an invalid image or prompt.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The embedding does not belong to this model.
    #[error(
        "the embedding was made by model {found:?}, not {expected:?}; encode the frame with this model"
    )]
    EmbeddingMismatch { expected: String, found: String },
    /// An on-disk embedding cache entry is unreadable.
    #[error("embedding cache entry is corrupt ({reason}); it will be recomputed: {path}")]
    CacheCorrupt { reason: String, path: PathBuf },
    /// No cache directory could be determined for this user.
    #[error(
        "no user cache directory could be determined; set ARGUS_MODEL_DIR to a writable directory"
    )]
    NoCacheDir,
    /// The mask could not be built.
    #[error("mask construction failed: {0}")]
    Mask(#[from] argus_core::MaskError),
    /// A background operation was cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
