//! The one error type of the application layer, which the desktop app's
//! commands return across the IPC boundary as is.
//!
//! Library crates keep their own typed errors; here each is mapped once to a
//! [`ErrorKind`] the UI can branch on and a message a person can act on.

use serde::Serialize;
use ts_rs::TS;

/// What went wrong, coarsely, so the UI can choose how to show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "ErrorKind.ts")]
pub enum ErrorKind {
    /// The thing asked for does not exist (project, video, track, frame).
    NotFound,
    /// The request is malformed or breaks a rule (empty name, frame out of range).
    Invalid,
    /// It clashes with what is there (duplicate name, video already imported).
    Conflict,
    /// Undo or redo with nothing on the stack.
    NothingToDo,
    /// Decoding the video failed.
    Media,
    /// Rendering the frame failed.
    Render,
    /// SAM is not loaded or failed.
    Sam,
    /// The local database failed.
    Store,
    /// The user cancelled it (an export, an import).
    Cancelled,
    /// The server could not be reached (the work is kept; try again).
    Offline,
    /// Signing in is needed or was refused (wrong password, session ended,
    /// no keyring to keep it in).
    SignIn,
    /// The server refused it (a role that may not, a rule it enforces).
    Server,
    /// Anything else (I/O, a crashed worker).
    Internal,
}

/// The error of every command: `{ "kind": "...", "message": "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[error("{message}")]
#[ts(export_to = "CommandError.ts")]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CommandError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}

/// The result of every command.
pub type CommandResult<T> = Result<T, CommandError>;

impl From<argus_store::Error> for CommandError {
    fn from(e: argus_store::Error) -> Self {
        let message = e.to_string();
        Self::from_store_ref(&e, message)
    }
}

impl CommandError {
    fn from_store_ref(e: &argus_store::Error, message: String) -> Self {
        use argus_store::Error as E;
        let kind = match e {
            E::NotFound { .. } => ErrorKind::NotFound,
            E::Conflict(_) => ErrorKind::Conflict,
            E::NothingTo(_) => ErrorKind::NothingToDo,
            E::Invalid(_) => ErrorKind::Invalid,
            E::NotAMember { .. } => ErrorKind::Invalid,
            _ => ErrorKind::Store,
        };
        Self::new(kind, message)
    }
}

impl From<argus_formats::Error> for CommandError {
    fn from(e: argus_formats::Error) -> Self {
        use argus_formats::Error as E;
        let kind = match &e {
            E::Syntax { .. } | E::Invalid { .. } | E::Unsupported { .. } => ErrorKind::Invalid,
            E::Cancelled => ErrorKind::Cancelled,
            E::Io { .. } => ErrorKind::Internal,
        };
        Self::new(kind, e.to_string())
    }
}

impl From<argus_client::Error> for CommandError {
    fn from(e: argus_client::Error) -> Self {
        use argus_client::Error as E;
        let kind = match &e {
            E::Network { .. } => ErrorKind::Offline,
            E::Unauthorized { .. }
            | E::SignInRequired { .. }
            | E::KeyringUnavailable(_)
            | E::Keyring(_)
            | E::SessionFile { .. }
            | E::WrongPassphrase => ErrorKind::SignIn,
            E::Http { status: 400 | 401 | 422, path, .. } if path.starts_with("/auth/") => {
                ErrorKind::SignIn
            }
            E::Http { status: 404, .. } => ErrorKind::NotFound,
            E::Http { status: 409, .. } => ErrorKind::Conflict,
            E::Http { .. } | E::Protocol { .. } => ErrorKind::Server,
            E::Invalid(_) => ErrorKind::Invalid,
            E::Store(s) => return Self::from_store_ref(s, e.to_string()),
            E::File { .. } => ErrorKind::Internal,
            E::Cancelled => ErrorKind::Cancelled,
        };
        Self::new(kind, e.to_string())
    }
}

impl From<argus_media::Error> for CommandError {
    fn from(e: argus_media::Error) -> Self {
        let kind = match &e {
            argus_media::Error::NotFound { .. } => ErrorKind::NotFound,
            argus_media::Error::FrameOutOfRange { .. } => ErrorKind::Invalid,
            _ => ErrorKind::Media,
        };
        Self::new(kind, e.to_string())
    }
}

impl From<argus_render::Error> for CommandError {
    fn from(e: argus_render::Error) -> Self {
        Self::new(ErrorKind::Render, e.to_string())
    }
}

impl From<argus_sam::Error> for CommandError {
    fn from(e: argus_sam::Error) -> Self {
        Self::new(ErrorKind::Sam, e.to_string())
    }
}

impl From<argus_core::model::ModelError> for CommandError {
    fn from(e: argus_core::model::ModelError) -> Self {
        Self::new(ErrorKind::Invalid, e.to_string())
    }
}

impl From<argus_core::TimeError> for CommandError {
    fn from(e: argus_core::TimeError) -> Self {
        Self::new(ErrorKind::Invalid, e.to_string())
    }
}

impl From<argus_core::MaskError> for CommandError {
    fn from(e: argus_core::MaskError) -> Self {
        Self::new(ErrorKind::Invalid, e.to_string())
    }
}

impl From<argus_core::GeometryError> for CommandError {
    fn from(e: argus_core::GeometryError) -> Self {
        Self::new(ErrorKind::Invalid, e.to_string())
    }
}

impl From<tokio::task::JoinError> for CommandError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(format!("a background task failed: {e}"))
    }
}
