//! What a worker process is asked to do: one base-pretraining job or one run, with every path
//! absolute so that it works from any directory (a Slurm node's, say). Written by the runner as
//! `job.json` (local) or as one element of a job list (a Slurm array).

use ccll_core::{Placement, RunConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Train the shared base of `config` into `out_dir` (`ccll_core::run::train_base`).
    Base,
    /// Run every task of `config` into `out_dir`, from `base_dir` when given.
    Run,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub kind: JobKind,
    /// Label for logs.
    pub name: String,
    /// The run config.
    pub config: RunConfig,
    pub out_dir: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_dir: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_root: Option<PathBuf>,
    /// The device of the slot it runs on, and its libtorch CPU threads (0 =
    /// `$SLURM_CPUS_PER_TASK` if set, else libtorch's default).
    #[serde(default)]
    pub placement: Placement,
}

/// Files a worker writes into its job's directory.
pub const EVENTS_FILE: &str = "events.jsonl";
pub const LOG_FILE: &str = "worker.log";
pub const JOB_FILE: &str = "job.json";

impl Job {
    pub fn events_path(&self) -> PathBuf {
        self.out_dir.join(EVENTS_FILE)
    }

    pub fn log_path(&self) -> PathBuf {
        self.out_dir.join(LOG_FILE)
    }

    /// Reads a job file.
    pub fn read(path: &Path) -> anyhow::Result<Job> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read the job file: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: not a job file: {e}", path.display()))
    }

    /// Element `index` of a job list (a JSON array of jobs).
    pub fn read_from_list(path: &Path, index: usize) -> anyhow::Result<Job> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read the job list: {e}", path.display()))?;
        let mut jobs: Vec<Job> = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: not a job list: {e}", path.display()))?;
        let n = jobs.len();
        anyhow::ensure!(
            index < n,
            "{}: index {index} but the list has {n} jobs",
            path.display()
        );
        Ok(jobs.swap_remove(index))
    }
}
