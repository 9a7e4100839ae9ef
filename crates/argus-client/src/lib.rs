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
//! HTTPS is rustls with the ring provider; nothing links OpenSSL or aws-lc.

pub mod api;
mod error;
pub mod upload;

pub use api::{Api, Backoff, StaticToken, TokenSource};
pub use error::{Error, Result};
pub use upload::{Progress, RemoteVideo, UploadOptions, UploadOutcome, Uploader};
