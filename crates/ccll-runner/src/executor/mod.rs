//! Executors start worker processes for ready jobs and say when they end. Two kinds:
//! - [`local`]: device slots of this machine (`--devices`, `--jobs-per-device`), one child
//!   process per job, pinned with `CUDA_VISIBLE_DEVICES` and a thread budget, killed if the
//!   runner dies;
//! - [`slurm`]: one `sbatch --array` per batch of ready jobs, states polled from `squeue`.
//!
//! Both hand the worker a [`crate::job::Job`] and learn the outcome from the job's directory
//! (see [`crate::outcome`]); only how a process starts and ends differs.

pub mod local;
pub mod slurm;

use crate::job::Job;
use crate::plan::JobRef;

/// A job that ended, and how its process ended (`exit status 1`, `Slurm state TIMEOUT`).
#[derive(Debug, Clone)]
pub struct Exit {
    pub job: JobRef,
    pub success: bool,
    pub how: String,
    /// Another log worth reading when the worker's own is empty (Slurm's output file).
    pub extra_log: Option<std::path::PathBuf>,
}

/// A job that was started: where it runs, for the store and the display.
#[derive(Debug, Clone)]
pub struct Started {
    pub job: JobRef,
    pub device: String,
}

/// A job that could not be started, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct LaunchError {
    pub job: JobRef,
    pub reason: String,
}

pub enum Executor {
    Local(local::LocalExecutor),
    Slurm(slurm::SlurmExecutor),
}

impl Executor {
    /// How many more jobs it takes now.
    pub fn free_slots(&self) -> usize {
        match self {
            Executor::Local(e) => e.free_slots(),
            Executor::Slurm(e) => e.free_slots(),
        }
    }

    /// Jobs it is running (or has queued on the cluster).
    pub fn running(&self) -> usize {
        match self {
            Executor::Local(e) => e.running(),
            Executor::Slurm(e) => e.running(),
        }
    }

    /// Starts a batch of jobs (at most `free_slots`). Each job gets its device and thread
    /// budget here. Per job: where it started, or why it could not start.
    pub async fn launch(&mut self, jobs: Vec<(JobRef, Job)>) -> Vec<Result<Started, LaunchError>> {
        match self {
            Executor::Local(e) => e.launch(jobs),
            Executor::Slurm(e) => e.launch(jobs).await,
        }
    }

    /// Jobs that ended since the last call.
    pub async fn poll(&mut self) -> Vec<Exit> {
        match self {
            Executor::Local(e) => e.poll(),
            Executor::Slurm(e) => e.poll().await,
        }
    }

    /// Stops every job it started (Ctrl-C): kills local workers, `scancel`s Slurm jobs.
    pub async fn cancel_all(&mut self) {
        match self {
            Executor::Local(e) => e.cancel_all(),
            Executor::Slurm(e) => e.cancel_all().await,
        }
    }

    /// One-line description for the start of a sweep.
    pub fn describe(&self) -> String {
        match self {
            Executor::Local(e) => e.describe(),
            Executor::Slurm(e) => e.describe(),
        }
    }
}
