//! `ccll sweep STUDY.yaml`: runs a study (see `ccll_runner::sweep` and README.md#sweeps-ccll-sweep).

use ccll_report::Store;
use ccll_runner::executor::slurm::SlurmOptions;
use ccll_runner::layout::{absolute, Layout};
use ccll_runner::sweep::{sweep, ExecutorChoice, SweepOptions};
use clap::ValueEnum;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, ValueEnum)]
pub enum ExecutorKind {
    /// Worker processes on this machine's devices.
    Local,
    /// Slurm array jobs (sbatch/squeue/scancel on PATH).
    Slurm,
}

#[derive(clap::Args)]
pub struct SweepArgs {
    /// The study file, e.g. experiments/ablation_alpha.yaml.
    pub study: PathBuf,
    /// A profile of the study (e.g. `cpu`: the same study at CPU scale on offline data).
    #[arg(long)]
    pub profile: Option<String>,
    /// Override a config key of every run, e.g. `-o train.epochs=1` (value parsed as YAML;
    /// a grid key is pinned to the value). Repeatable.
    #[arg(short = 'o', long = "override", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Print the expanded runs and the base jobs they share, then stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Name of the sweep in the store and under the runs folder (default: the study's name,
    /// plus `-PROFILE` under a profile).
    #[arg(long)]
    pub name: Option<String>,
    /// Where jobs run.
    #[arg(long, value_enum, default_value = "local")]
    pub executor: ExecutorKind,
    /// Local executor: `auto` (every CUDA device, else the CPU), `cpu`, or `cuda:0,cuda:1,...`.
    #[arg(long, default_value = "auto")]
    pub devices: String,
    /// Local executor: jobs at once per device.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs_per_device: u32,
    /// Local executor: CPU threads per job (default: the cores shared equally between slots).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Slurm: partition (sbatch --partition).
    #[arg(long, help_heading = "Slurm")]
    pub partition: Option<String>,
    /// Slurm: account (sbatch --account).
    #[arg(long, help_heading = "Slurm")]
    pub account: Option<String>,
    /// Slurm: time limit per job, e.g. 04:00:00 (sbatch --time).
    #[arg(long, help_heading = "Slurm")]
    pub time: Option<String>,
    /// Slurm: generic resources, e.g. gpu:1 (sbatch --gres); workers then use cuda:0. Not
    /// passed unless given.
    #[arg(long, help_heading = "Slurm")]
    pub gres: Option<String>,
    /// Slurm: CPUs per job, also its thread budget (sbatch --cpus-per-task; default 1).
    #[arg(long, help_heading = "Slurm")]
    pub cpus_per_task: Option<u32>,
    /// Slurm: memory per job, e.g. 16G (sbatch --mem).
    #[arg(long, help_heading = "Slurm")]
    pub mem: Option<String>,
    /// Slurm: ask for SIGUSR2 this many seconds before the time limit or a preemption
    /// (sbatch --signal=B:USR2@N); the worker then stops and the job is requeued. 0: none.
    #[arg(long, default_value_t = 90, help_heading = "Slurm")]
    pub signal_before: u32,
    /// Slurm: seconds between two squeue polls.
    #[arg(long, default_value_t = 2.0, help_heading = "Slurm")]
    pub poll_interval: f64,
    /// Retry a failed job this many times.
    #[arg(long, default_value_t = 0)]
    pub retries: u32,
    /// Requeue a job that was preempted, timed out or lost its node (or stopped on SIGUSR2)
    /// at most this many times; it continues after its last finished task. Requeues do not
    /// count as retries.
    #[arg(long, default_value_t = 3)]
    pub max_requeues: u32,
    /// Run finished runs again.
    #[arg(long)]
    pub force: bool,
    /// Results database (default: $CCLL_DB, else results/ccll.sqlite).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Root of the run directories (default: $CCLL_RUNS, else ./runs).
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// Data root (default: $CCLL_DATA, else ./data).
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Where the sweep's charts and table go (into a folder named after the sweep).
    #[arg(long, default_value = "reports")]
    pub reports_dir: PathBuf,
    /// Do not render the report after the sweep.
    #[arg(long)]
    pub no_report: bool,
    /// Plain log lines instead of progress bars, even on a terminal.
    #[arg(long)]
    pub plain: bool,
    /// Refuse a study that expands to more grid points than this (before any is checked).
    #[arg(long, default_value_t = ccll_runner::grid::DEFAULT_MAX_RUNS)]
    pub max_runs: usize,
}

pub fn run(a: SweepArgs) -> anyhow::Result<u8> {
    anyhow::ensure!(
        a.poll_interval.is_finite() && a.poll_interval > 0.0,
        "--poll-interval must be a positive number of seconds"
    );
    let executor = match a.executor {
        ExecutorKind::Local => ExecutorChoice::Local {
            devices: a.devices,
            jobs_per_device: a.jobs_per_device as usize,
            threads: a.threads.map(|t| t as usize),
        },
        ExecutorKind::Slurm => ExecutorChoice::Slurm(SlurmOptions {
            partition: a.partition,
            account: a.account,
            time: a.time,
            gres: a.gres,
            cpus_per_task: a.cpus_per_task,
            mem: a.mem,
            signal_before: a.signal_before,
            poll: Duration::from_secs_f64(a.poll_interval),
        }),
    };
    let opts = SweepOptions {
        study: a.study,
        profile: a.profile,
        overrides: a.overrides,
        name: a.name,
        dry_run: a.dry_run,
        executor,
        retries: a.retries,
        max_requeues: a.max_requeues,
        force: a.force,
        db: Store::resolve_path(a.db.as_deref()),
        layout: Layout::resolve(a.runs_dir.as_deref()),
        data_root: Some(absolute(&ccll_data::data_root(a.data_root.as_deref()))),
        reports: (!a.no_report).then_some(a.reports_dir),
        plain: a.plain,
        max_runs: a.max_runs,
    };
    super::runtime()?.block_on(sweep(&opts))
}
