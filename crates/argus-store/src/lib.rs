//! The Argus local store: every annotation, review, undo step and pending
//! sync change of the desktop app, in one SQLite file.
//!
//! Annotators work offline for hours, so an edit must be on disk the moment
//! the UI shows it. The store is shaped around that promise:
//!
//! - **Commands, not row writes.** The UI sends a [`Command`] (create track,
//!   set mask, delete shape, change label, approve ...). [`Store::apply`]
//!   validates it with argus-core's rules and applies it in *one*
//!   transaction that also writes its inverse to the undo log and its
//!   [`argus_core::model::Change`]s (with hybrid-logical-clock stamps) to the
//!   sync outbox. A command is all there or not there; there is no "unsaved"
//!   state to lose. Undo and redo are commands too, so they survive restarts
//!   and sync like any edit.
//! - **Durable commits.** WAL journal with `synchronous=FULL` by default
//!   ([`Durability`]): when `apply` returns, the commit is on disk even
//!   across a power cut. `NORMAL` is available for bulk work where losing
//!   the last commits on power loss is acceptable.
//! - **One writer, many readers.** Writes are serialised through a single
//!   connection (an async mutex, so no two commands race for SQLite's write
//!   lock); queries use a read-only pool that, in WAL mode, reads a snapshot
//!   and never waits for a writer. "Database is locked" never reaches the UI.
//! - **Compact masks.** Masks are stored as raw COCO run lengths packed as
//!   delta-coded varints ([`codec`]), smaller than COCO's own compressed
//!   string, and decoded straight into [`argus_core::mask::Rle`].
//! - **Safe to open.** Numbered migrations run on open; a file from a newer
//!   Argus is refused ([`Error::NewerSchema`]); a damaged file is reported
//!   with the newest rolling backup ([`Error::Corrupt`], [`backup`]).
//!
//! The store depends only on argus-core and sqlx's SQLite driver: decoding
//! videos and running models happen elsewhere and hand the store plain data.

pub mod backup;
mod cache;
pub mod codec;
mod command;
mod error;
mod query;
mod remote;
mod rows;
mod store;
mod sync;
mod uploads;

pub use cache::CacheEntry;
pub use command::{Actor, Command};
pub use error::{Error, Result};
pub use query::{FrameCount, ReviewFilter};
pub use remote::{Conflict, Pulled};
pub use store::{Applied, Batch, Durability, Store, StoreOptions, UndoGroup};
pub use sync::Pending;
pub use uploads::{UploadRecord, UploadedPart};
