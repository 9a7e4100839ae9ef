//! One error type for everything the client does, each variant saying what
//! the user can do about it.

use std::path::PathBuf;

/// What went wrong talking to the server, the object store or a local file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No answer: the connection failed, was cut or timed out. Retried
    /// with backoff where that is safe; what was sent is kept.
    #[error("could not reach {url}: {reason}; check the connection, the work done so far is kept and resumes")]
    Network { url: String, reason: String },
    /// The server (or object store) answered with an error.
    #[error("{method} {path} answered {status}: {message}")]
    Http { method: String, path: String, status: u16, code: Option<String>, message: String },
    /// The access token was refused: sign in again.
    #[error("the server refused the session ({message}); sign in again")]
    Unauthorized { message: String },
    /// The answer was not what this client understands (another version?).
    #[error("unexpected answer from {url}: {reason}; is the server an argus-server of a matching version?")]
    Protocol { url: String, reason: String },
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
    /// Bad input from the caller.
    #[error("{0}")]
    Invalid(String),
    #[error("local store: {0}")]
    Store(#[from] argus_store::Error),
    /// The session cannot be renewed (signed out elsewhere, revoked,
    /// expired): the user signs in again. Nothing pending is lost.
    #[error("your session has ended ({reason}); sign in again, your pending changes are kept")]
    SignInRequired { reason: String },
    /// No usable OS keyring on this machine.
    #[error("no usable system keyring ({0}); keep the session in a passphrase-encrypted file instead, or sign in each time")]
    KeyringUnavailable(String),
    #[error("system keyring: {0}")]
    Keyring(String),
    #[error("the session file {} cannot be read: {reason}; sign in again to replace it", path.display())]
    SessionFile { path: PathBuf, reason: String },
    #[error("wrong passphrase for the session file; try again, or sign in again to replace it")]
    WrongPassphrase,
    /// Stopped on request.
    #[error("cancelled; the work done so far is kept and resumes")]
    Cancelled,
}

impl Error {
    pub(crate) fn file(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::File { path: path.into(), source }
    }

    /// The HTTP status, when the server answered one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            Error::Unauthorized { .. } => Some(401),
            _ => None,
        }
    }

    /// Worth trying again later: no answer, or an answer that says so.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Network { .. } => true,
            Error::Http { status, .. } => matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
