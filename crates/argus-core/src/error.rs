//! The crate's error type: one enum that wraps each module's own error, so
//! callers can match on the precise cause or just bubble `argus_core::Error`.

use crate::{geometry::GeometryError, mask::MaskError, model::ModelError, time::TimeError};

/// Any error argus-core can return.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    #[error(transparent)]
    Mask(#[from] MaskError),
    #[error(transparent)]
    Time(#[from] TimeError),
    #[error(transparent)]
    Model(#[from] ModelError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
