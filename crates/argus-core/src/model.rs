//! The annotation domain: projects, label schemas, videos, tracks, shapes,
//! reviews, roles, and the changes that sync exchanges.
//!
//! A *track* is one object followed across frames; it has one *shape* per
//! annotated frame. Keyframes are the shapes a person (or SAM, on a person's
//! click) made; interpolated and propagated shapes fill the frames between
//! and are marked by their [`ShapeSource`]. Reviews attach to a track, a frame
//! range or a whole video.

mod change;
mod project;
mod review;
mod role;
mod schema;
mod shape;
mod team;
mod video;

pub use change::{Change, ChangeOp, Entity, EntityKind};
pub use project::{Member, Project};
pub use review::{Comment, Review, ReviewScope, ReviewState};
pub use role::{Permission, Role};
pub use team::{Team, TeamMember, TeamRole};
pub use schema::{AttributeKind, AttributeSpec, AttributeValue, Attributes, Colour, Label, LabelSchema};
pub use shape::{Geometry, Shape, ShapeKind, ShapeSource, Track};
pub use video::{RemoteState, Rotation, Video, check_sha256};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC. The core reads no clock: callers
/// pass the time in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

/// Why a domain object or an edit was refused. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} is {len} characters long; at most {max} are allowed")]
    TooLong { what: &'static str, len: usize, max: usize },
    #[error("label '{0}' appears twice in the schema; label names must be unique")]
    DuplicateLabel(String),
    #[error("attribute '{attribute}' appears twice on label '{label}'")]
    DuplicateAttribute { label: String, attribute: String },
    #[error("label '{0}' allows no shape kind; allow at least one")]
    NoShapeKinds(String),
    #[error("attribute '{attribute}': {reason}")]
    InvalidAttributeSpec { attribute: String, reason: String },
    #[error("attribute '{attribute}' is not defined for label '{label}'")]
    UnknownAttribute { label: String, attribute: String },
    #[error("attribute '{attribute}' expects {expected}, got {got}")]
    AttributeType { attribute: String, expected: String, got: String },
    #[error("'{0}' is not a colour; use #rrggbb")]
    InvalidColour(String),
    #[error("label {0} is not in the project's schema")]
    UnknownLabel(crate::id::LabelId),
    #[error("label '{label}' does not allow {kind:?} shapes (it allows {allowed:?})")]
    ShapeKindNotAllowed { label: String, kind: ShapeKind, allowed: Vec<ShapeKind> },
    #[error("frame {frame} is past the end of the video ({frame_count} frames)")]
    FrameOutOfRange { frame: u64, frame_count: u64 },
    #[error("mask is {mask_width}x{mask_height} but the video frame is {width}x{height}")]
    MaskSizeMismatch { mask_width: u32, mask_height: u32, width: u32, height: u32 },
    #[error("'{0}' is not a sha256 digest; expected 64 lowercase hex digits")]
    InvalidSha256(String),
    #[error("unknown video status {0:?}; expected local, uploading, processing, ready or failed")]
    InvalidVideoStatus(String),
    #[error("video size {width}x{height} is invalid; both must be > 0")]
    InvalidVideoSize { width: u32, height: u32 },
    #[error("frame rate {0} is invalid; it must be a positive number of frames per second")]
    InvalidFrameRate(crate::time::Rational),
    #[error("rotation {0} is not one of 0, 90, 180, 270")]
    InvalidRotation(i32),
    #[error("frame range {start}..={end} is empty or reversed")]
    InvalidFrameRange { start: u64, end: u64 },
    #[error("a review cannot go from {from:?} to {to:?}")]
    InvalidReviewTransition { from: ReviewState, to: ReviewState },
    #[error("rejecting work needs a comment that says what to fix")]
    RejectionNeedsComment,
    #[error("a {role:?} may not {permission:?}")]
    Forbidden { role: Role, permission: Permission },
}

pub(crate) fn check_name(what: &'static str, name: &str, max: usize) -> Result<(), ModelError> {
    if name.trim().is_empty() {
        return Err(ModelError::Empty { what });
    }
    let len = name.chars().count();
    if len > max {
        return Err(ModelError::TooLong { what, len, max });
    }
    Ok(())
}
