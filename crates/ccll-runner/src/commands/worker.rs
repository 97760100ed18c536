//! `ccll worker`: runs one job of a sweep (started by `ccll sweep`, not by hand).

use ccll_runner::job::Job;
use ccll_runner::worker::run_worker;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct WorkerArgs {
    /// A job file written by the runner (JOB.json).
    #[arg(long, conflicts_with_all = ["job_list", "index"], required_unless_present = "job_list")]
    pub job: Option<PathBuf>,
    /// A list of jobs (a Slurm array's); with --index.
    #[arg(long, requires = "index")]
    pub job_list: Option<PathBuf>,
    /// Which job of --job-list (0-based; $SLURM_ARRAY_TASK_ID).
    #[arg(long, requires = "job_list")]
    pub index: Option<usize>,
    /// Append stdout and stderr to worker.log in the job's directory.
    #[arg(long)]
    pub redirect_log: bool,
}

pub fn run(a: WorkerArgs) -> anyhow::Result<u8> {
    let job = match (&a.job, &a.job_list, a.index) {
        (Some(p), _, _) => Job::read(p)?,
        (None, Some(list), Some(i)) => Job::read_from_list(list, i)?,
        _ => anyhow::bail!("give --job FILE, or --job-list FILE --index N"),
    };
    let code = run_worker(&job, a.redirect_log);
    // Everything the job leaves is written and closed (events are flushed line by line), so
    // end here without the C++ static destructors of libtorch and the CUDA libraries, which
    // take about 0.1 s of a slot per job for nothing.
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit ends the process at once; no Rust state is used after it.
    unsafe { libc::_exit(code) }
}
