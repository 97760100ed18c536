//! Errors of the reports (tables, charts), on top of the store's.

use crate::StoreError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("{0}")]
    Font(String),

    #[error("cannot draw {chart}: {reason}")]
    Draw { chart: String, reason: String },

    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Stored data that cannot be read as what it should be (claims of a sweep).
    #[error("{0}")]
    Invalid(String),

    /// Nothing to draw or tabulate (no finished run, no numeric value, ...).
    #[error("{0}")]
    NoData(String),

    #[error("no run of sweep '{sweep}' has a value for '{key}'; try one of: {known}")]
    UnknownKey {
        sweep: String,
        key: String,
        known: String,
    },
}

impl ReportError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.into(),
            source,
        }
    }
}
