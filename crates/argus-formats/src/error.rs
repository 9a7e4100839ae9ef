//! The crate's one error type. Every variant that comes from data says
//! where in the input it is, so the user can find and fix it.

/// Why an export or an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The input is not well-formed (truncated JSON, bad XML, a line that
    /// does not parse); `at` is a line and column or a line number.
    #[error("{format} is malformed at {at}: {reason}")]
    Syntax { format: &'static str, at: String, reason: String },
    /// The input is well-formed but cannot be used as a whole (a required
    /// part is missing, a dataset-wide value is wrong). Records that are bad
    /// on their own are [`Skipped`](crate::Skipped) instead.
    #[error("{format}: {at}: {reason}")]
    Invalid { format: &'static str, at: String, reason: String },
    /// The data cannot be written in this format (a mask too large for it,
    /// a name it cannot hold).
    #[error("cannot write {format}: {reason}")]
    Unsupported { format: &'static str, reason: String },
    /// The caller cancelled through [`Progress`](crate::Progress).
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// An I/O error with what was being done (the path goes last).
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// A JSON syntax or type error from serde_json, placed by line and
    /// column.
    pub(crate) fn json(format: &'static str, e: &serde_json::Error) -> Self {
        if e.is_io() {
            return Error::Io { context: format!("reading {format}"), source: std::io::Error::other(e.to_string()) };
        }
        let reason = e.to_string();
        // serde_json appends " at line L column C"; keep the reason without it.
        let reason = reason.rsplit_once(" at line ").map_or(reason.as_str(), |(r, _)| r).to_owned();
        let reason = if e.is_eof() { format!("{reason} (the file is truncated)") } else { reason };
        Error::Syntax { format, at: format!("line {}, column {}", e.line(), e.column()), reason }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
