//! The crate's error type.

use std::path::PathBuf;

use argus_core::model::ModelError;

/// Any error the store returns. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The edit was refused by the domain rules (mask size, frame range,
    /// unknown label, review transition, permission ...). Nothing changed.
    #[error("edit refused: {0}")]
    Invalid(#[from] ModelError),
    #[error("{what} {id} does not exist; refresh the view and try again")]
    NotFound { what: &'static str, id: String },
    #[error("user {user} is not a member of project {project}; ask the project lead to add them, then sync")]
    NotAMember { user: String, project: String },
    #[error("{0}")]
    Conflict(String),
    #[error("nothing to {0}")]
    NothingTo(&'static str),
    #[error(
        "this database was written by a newer Argus (schema version {found}, this build knows up to {supported}); \
         update Argus to open it: {}",
        path.display()
    )]
    NewerSchema { found: i64, supported: i64, path: PathBuf },
    #[error(
        "the database is damaged ({detail}); {}: {}",
        match backup { Some(b) => format!("restore the last automatic backup {}", b.display()), None => "no automatic backup exists yet".to_owned() },
        path.display()
    )]
    Corrupt { detail: String, backup: Option<PathBuf>, path: PathBuf },
    #[error("stored data is unreadable ({0}); the database may have been edited by hand or damaged")]
    Decode(String),
    #[error("could not {action}: {source}: {}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("database error: {0}")]
    Sqlite(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("clock error: {0}")]
    Clock(#[from] argus_core::hlc::HlcError),
    /// A command of [`Store::apply_batch`](crate::Store::apply_batch) was
    /// refused; the batch changed nothing.
    #[error("item {} of the batch ({what}) was refused, so nothing was applied: {source}", index + 1)]
    Batch { index: usize, what: String, source: Box<Error> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn decode(what: impl std::fmt::Display) -> Self {
        Error::Decode(what.to_string())
    }

    pub(crate) fn in_batch(self, index: usize, what: &str) -> Self {
        Error::Batch { index, what: what.to_owned(), source: Box::new(self) }
    }

    pub(crate) fn not_found(what: &'static str, id: impl std::fmt::Display) -> Self {
        Error::NotFound { what, id: id.to_string() }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Decode(e.to_string())
    }
}
