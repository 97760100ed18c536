use std::path::PathBuf;

/// Everything that can go wrong when finding, reading or splitting data. Messages name the
/// file or setting and say how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("unknown benchmark `{0}`; known: {1}")]
    UnknownBenchmark(String, String),
    #[error("benchmark `{benchmark}`: {message}")]
    Config { benchmark: String, message: String },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}
