use std::path::{Path, PathBuf};

/// Everything that can go wrong when finding, reading or splitting data. Messages name the
/// file or setting and say how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("unknown benchmark `{0}`; known: {1}")]
    UnknownBenchmark(String, String),
    #[error("benchmark `{benchmark}`: {message}")]
    Config { benchmark: String, message: String },
    /// A file (or directory) exists but its content is wrong: bad magic number, wrong size,
    /// label out of range, undecodable image, unreadable.
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    /// A dataset's files are not where they should be.
    #[error("{dataset} not found: {looked}. {how}")]
    NotFound {
        dataset: String,
        /// What was expected and every place that was searched.
        looked: String,
        /// How to obtain the files.
        how: String,
    },
    /// An external program (npm, apt-get, dpkg-deb) is missing or failed.
    #[error("{tool}: {message}")]
    Tool { tool: String, message: String },
    /// Two benchmarks that must share an image shape do not.
    #[error("{0}")]
    Incompatible(String),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

impl DataError {
    pub(crate) fn file(path: &Path, message: impl Into<String>) -> Self {
        Self::File {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &Path, err: std::io::Error) -> Self {
        Self::file(path, err.to_string())
    }

    pub(crate) fn config(benchmark: &str, message: impl Into<String>) -> Self {
        Self::Config {
            benchmark: benchmark.to_string(),
            message: message.into(),
        }
    }
}

/// `1234567` as `1,234,567`: sizes in error messages are easier to compare that way.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut groups: Vec<&str> = Vec::new();
    let mut end = digits.len();
    while end > 3 {
        groups.push(&digits[end - 3..end]);
        end -= 3;
    }
    groups.push(&digits[..end]);
    groups.reverse();
    groups.join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_groups_digits() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(3073), "3,073");
        assert_eq!(super::thousands(30_000_000), "30,000,000");
    }
}
