//! What can go wrong in the results store, said so that the reader knows what to do next.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "no results database at {path}: run a sweep first, or point to one with --db or CCLL_DB"
    )]
    Missing { path: PathBuf },

    #[error("cannot open the results database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },

    #[error("cannot create the folder {path} for the results database: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the results database {path} was written by a newer ccll-report (its migration {version} \
         is unknown here); use a newer ccll-report"
    )]
    NewerSchema { path: PathBuf, version: i64 },

    #[error("cannot bring the results database {path} up to date: {source}")]
    Migrate {
        path: PathBuf,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    #[error("no run with id {0} in the store (list them with `ccll-report runs`)")]
    UnknownRun(i64),

    #[error("no sweep named '{0}' in the store (list them with `ccll-report sweeps`)")]
    UnknownSweep(String),

    #[error("no sweep with id {0} in the store (list them with `ccll-report sweeps`)")]
    UnknownSweepId(i64),

    #[error("run {run_id} has no result: its status is {status}")]
    NotFinished { run_id: i64, status: String },

    #[error("the result of run {run_id} cannot be recorded: {reason}")]
    InvalidResult { run_id: i64, reason: String },

    #[error("the shared base {hash} cannot be recorded: {reason}")]
    InvalidBase { hash: String, reason: String },

    #[error("run {run_id} holds unreadable data in column {column}: {reason}")]
    Corrupt {
        run_id: i64,
        column: &'static str,
        reason: String,
    },

    /// A `query` refused before it ran (several statements, VACUUM).
    #[error("{0}")]
    QueryRefused(String),

    /// A `query` stopped at one of its limits (time, rows).
    #[error("{0}")]
    QueryLimit(String),

    #[error("{0}")]
    Sql(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether the database itself failed (full disk, read-only or vanished file, I/O error,
    /// no connection), as opposed to one record that cannot be stored as it is: after such an
    /// error no later write can be expected to succeed either.
    pub fn is_database_failure(&self) -> bool {
        matches!(
            self,
            StoreError::Sql(_)
                | StoreError::Open { .. }
                | StoreError::Migrate { .. }
                | StoreError::CreateDir { .. }
        )
    }

    /// The message SQLite itself gave, for errors that came from a statement.
    pub fn sqlite_message(&self) -> Option<&str> {
        match self {
            StoreError::Sql(sqlx::Error::Database(e)) => Some(e.message()),
            _ => None,
        }
    }
}
