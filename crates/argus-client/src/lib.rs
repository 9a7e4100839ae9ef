//! argus-client: the desktop's link to argus-server.
//!
//! - [`Api`]: JSON calls to the server's API with a bearer token from a
//!   [`TokenSource`], typed [`Error`]s that say what to do, and retries with
//!   jittered exponential backoff for calls that are safe to repeat.
//! - [`Uploader`]: resumable, parallel multipart uploads of video files
//!   through the server's presigned URLs, with their state (upload, part
//!   size, file identity, each part's ETag) in the local store, so an upload
//!   survives a crash or a restart and never re-sends a part the object
//!   store already holds.
//!
//! - [`Auth`]: sign-in against the Supabase Auth (GoTrue) contract, with
//!   the session kept in the OS keyring ([`KeyringStore`]) or, where there is
//!   none and the user chooses it, a passphrase-encrypted file
//!   ([`EncryptedFileStore`]); proactive refresh and sign-out.
//!
//! - [`Projects`]: whole projects for team leads and new machines: push a
//!   local project with its video files, clone one with its annotations and
//!   only the video files asked for, fetch a video's file on demand with a
//!   resumable download.
//!
//! HTTPS is rustls with the ring provider; nothing links OpenSSL or aws-lc.

pub mod api;
pub mod auth;
mod error;
pub mod project;
pub mod session_store;
pub mod sync;
pub mod upload;

pub use api::{Api, Backoff, StaticToken, TokenSource};
pub use auth::{Auth, Scope, Session, SignUp, User};
pub use error::{Error, Result};
pub use project::{ClonedProject, Projects, PushedProject, UploadProgress, VideoPushed, Videos};
pub use session_store::{EncryptedFileStore, KeyringStore, NoStore, SessionStore};
pub use sync::{BackgroundSync, SyncReport, SyncStatus, Syncer};
pub use upload::{Progress, RemoteVideo, UploadOptions, UploadOutcome, Uploader};
