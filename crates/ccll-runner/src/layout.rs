//! Where a sweep keeps its files.
//!
//! ```text
//! <runs>/<sweep>/<run label>-<hash8>/   config.yaml, result.json, checkpoints, job.json,
//!                                        events.jsonl, worker.log
//! <runs>/<sweep>/.lock                   held by the runner of this sweep (flock)
//! <runs>/<sweep>/.slurm/                 array scripts, job lists, Slurm output, active.json
//! <runs>/bases/<base key>/               shared bases, reused across sweeps; finished when
//!                                        base.json exists
//! <runs>/bases/<base key>.lock           held while a runner trains that base
//! <db>.locks/<sweep>.lock                held by the runner of this sweep in this store,
//!                                        whatever runs folder it writes to
//! ```
//! The root is `--runs-dir`, else `$CCLL_RUNS`, else `runs`.

use std::path::{Path, PathBuf};

pub const RUNS_ENV: &str = "CCLL_RUNS";
pub const DEFAULT_RUNS: &str = "runs";

#[derive(Debug, Clone)]
pub struct Layout {
    /// Absolute root of all run directories.
    pub root: PathBuf,
}

/// The lock of `sweep` in the store `db`: beside the store, so that two runners with one store
/// and different runs folders cannot both work on one sweep.
pub fn store_sweep_lock(db: &Path, sweep: &str) -> PathBuf {
    let mut dir = db.as_os_str().to_owned();
    dir.push(".locks");
    PathBuf::from(dir).join(format!("{sweep}.lock"))
}

impl Layout {
    /// `explicit`, else `$CCLL_RUNS`, else `./runs`; made absolute.
    pub fn resolve(explicit: Option<&Path>) -> Layout {
        let root = match explicit {
            Some(p) => p.to_path_buf(),
            None => std::env::var_os(RUNS_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_RUNS)),
        };
        Layout {
            root: absolute(&root),
        }
    }

    pub fn sweep_dir(&self, sweep: &str) -> PathBuf {
        self.root.join(sweep)
    }

    pub fn run_dir(&self, sweep: &str, dir_name: &str) -> PathBuf {
        self.sweep_dir(sweep).join(dir_name)
    }

    pub fn bases_dir(&self) -> PathBuf {
        self.root.join("bases")
    }

    pub fn base_dir(&self, key: &str) -> PathBuf {
        self.bases_dir().join(key)
    }

    pub fn base_lock(&self, key: &str) -> PathBuf {
        self.bases_dir().join(format!("{key}.lock"))
    }

    pub fn sweep_lock(&self, sweep: &str) -> PathBuf {
        self.sweep_dir(sweep).join(".lock")
    }

    pub fn slurm_dir(&self, sweep: &str) -> PathBuf {
        self.sweep_dir(sweep).join(".slurm")
    }
}

/// `p` made absolute against the current directory (without resolving links).
pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Removes a directory's contents and the directory (if present), then creates it empty.
pub fn fresh_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(dir)
}
