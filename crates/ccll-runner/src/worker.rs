//! The worker process (`ccll worker`): runs one job and reports through files in the job's
//! directory, never through the store:
//! - `events.jsonl`: `WorkerEvent`s as JSON lines (batch progress at most twice a second),
//!   ending with a `failed` event when the job fails or panics;
//! - `worker.log`: a human log (stderr; the runner redirects it there for local jobs, the
//!   worker itself does for Slurm jobs);
//! - `result.json` (run) or `base.json` (base), written atomically by `ccll_core::run`.
//!
//! Exit status: 0 done, 1 failed, 75 stopped for requeue (SIGUSR2), 101 panicked.

use crate::job::{Job, JobKind};
use ccll_core::run::{run, train_base, RunOptions};
use ccll_core::Placement;
use ccll_results::WorkerEvent;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Exit status of a job that failed with an error.
pub const EXIT_FAILED: i32 = 1;
/// Exit status of a job that panicked.
pub const EXIT_PANICKED: i32 = 101;
/// Exit status of a job that stopped on SIGUSR2 to be requeued (EX_TEMPFAIL).
pub const EXIT_REQUEUE: i32 = 75;
/// Written into the job's directory by a worker that stopped to be requeued: the reason.
pub const REQUEUE_FILE: &str = "requeue.txt";

const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Benchmarks only (`ccll-bench scheduler`, figure 4): when this variable names a JSON file
/// mapping job names to seconds, a job of that map does not train. It sleeps until that many
/// seconds after its process started (so the process start-up, loading libtorch, is part of
/// the job's time, as in a training job) and leaves a minimal `base.json` or `config.yaml` +
/// `result.json` and a `sleep.json` with its start-up time. This lets the benchmark measure the
/// runner's scheduling, executor and store writes on a job graph with known durations, through
/// the real `ccll worker` processes. A job missing from the map fails.
pub const SLEEP_JOBS_ENV: &str = "CCLL_SLEEP_JOBS";
/// What a sleep job reports beside its outcome (see [`SLEEP_JOBS_ENV`]).
pub const SLEEP_REPORT_FILE: &str = "sleep.json";

/// Runs `job` in this process and returns the exit status to end it with.
pub fn run_worker(job: &Job, redirect_log: bool) -> i32 {
    let mut events = match open_outputs(job, redirect_log) {
        Ok(w) => w,
        Err(code) => return code,
    };
    stop_on_usr2(job.out_dir.clone());
    let cfg = &job.config;
    let placement = Placement {
        device: job.placement.device.clone(),
        threads: thread_budget(job),
    };
    announce(job, &placement);
    if let Some(map) = std::env::var_os(SLEEP_JOBS_ENV) {
        return match sleep_job(job, cfg, &placement, Path::new(&map)) {
            Ok(()) => 0,
            Err(e) => {
                let error = ccll_results::error_text(e.as_ref());
                eprintln!("ccll worker: sleep job failed: {error}");
                events.write(&WorkerEvent::Failed { error });
                EXIT_FAILED
            }
        };
    }
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        execute(job, cfg, &placement, &mut |e: WorkerEvent| {
            log_event(&e);
            events.write(&e);
        })
    }));
    match outcome {
        Ok(Ok(summary)) => {
            eprintln!("ccll worker: {summary}");
            0
        }
        Ok(Err(e)) => {
            let error = ccll_results::error_text(e.as_ref());
            eprintln!(
                "ccll worker: failed after {:.1} s: {error}",
                started.elapsed().as_secs_f64()
            );
            events.write(&WorkerEvent::Failed { error });
            EXIT_FAILED
        }
        Err(payload) => {
            let msg = panic_message(payload.as_ref());
            let error = format!("panicked: {msg}");
            eprintln!("ccll worker: {error}");
            events.write(&WorkerEvent::Failed { error });
            EXIT_PANICKED
        }
    }
}

/// On SIGUSR2 (Slurm's `--signal=B:USR2@N` before a time limit or a preemption, or
/// `scancel --signal=USR2 --batch`), writes the job's [`REQUEUE_FILE`] (the reason) and ends
/// the process at once with [`EXIT_REQUEUE`]. What the job finished is on disk already (a
/// run's `progress.json` after its last task; checkpoints are written to temporary names and
/// renamed), and a task half done cannot be kept, so there is nothing to save first. A file of
/// its own rather than an event: the training thread may be writing the event file at that
/// moment. The handler is installed before training starts; a signal before that ends the
/// process as SIGUSR2 does by default.
fn stop_on_usr2(dir: std::path::PathBuf) {
    let usr2 = tokio::signal::unix::SignalKind::user_defined2();
    crate::signals::on_signal(&[usr2], move || {
        let path = dir.join(REQUEUE_FILE);
        if let Ok(mut f) = File::create(&path) {
            let _ = writeln!(f, "SIGUSR2: a time limit or a preemption is near");
            let _ = f.sync_all();
        }
        eprintln!("ccll worker: SIGUSR2: stopping so that the job is requeued");
        // SAFETY: _exit ends the process without running exit handlers or destructors that
        // the training thread may be using at this moment.
        unsafe { libc::_exit(EXIT_REQUEUE) };
    });
}

/// The job's directory, its log (when the worker redirects its own output) and its event
/// file; the exit status when the directory or the event file cannot be written.
fn open_outputs(job: &Job, redirect_log: bool) -> Result<EventWriter, i32> {
    if let Err(e) = std::fs::create_dir_all(&job.out_dir) {
        eprintln!("ccll worker: cannot create {}: {e}", job.out_dir.display());
        return Err(EXIT_FAILED);
    }
    if redirect_log {
        if let Err(e) = redirect_output(&job.log_path()) {
            eprintln!(
                "ccll worker: cannot write {}: {e}",
                job.log_path().display()
            );
        }
    }
    EventWriter::create(&job.events_path()).map_err(|e| {
        eprintln!(
            "ccll worker: cannot write {}: {e}",
            job.events_path().display()
        );
        EXIT_FAILED
    })
}

/// The job's thread budget, else Slurm's CPUs per task, else 0 (libtorch's default).
fn thread_budget(job: &Job) -> usize {
    match job.placement.threads {
        0 => std::env::var("SLURM_CPUS_PER_TASK")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        n => n,
    }
}

/// The first line of the log: what runs where.
fn announce(job: &Job, placement: &Placement) {
    let threads = placement.threads;
    eprintln!(
        "ccll worker {}: {} `{}` in {} on {} ({} threads, pid {})",
        env!("CARGO_PKG_VERSION"),
        match job.kind {
            JobKind::Base => "base job",
            JobKind::Run => "run",
        },
        job.name,
        job.out_dir.display(),
        placement.device,
        if threads == 0 {
            "default".to_string()
        } else {
            threads.to_string()
        },
        std::process::id()
    );
}

/// Trains the job (a base or a run); its one-line summary.
fn execute(
    job: &Job,
    cfg: &ccll_core::RunConfig,
    placement: &Placement,
    on_event: &mut dyn FnMut(WorkerEvent),
) -> anyhow::Result<String> {
    match job.kind {
        JobKind::Base => train_base(
            cfg,
            job.data_root.as_deref(),
            &job.out_dir,
            placement,
            on_event,
        )
        .map(|m| format!("base trained in {:.1} s on {}", m.seconds, m.device)),
        JobKind::Run => {
            let opts = RunOptions {
                data_root: job.data_root.clone(),
                out_dir: job.out_dir.clone(),
                base_dir: job.base_dir.clone(),
                placement: placement.clone(),
            };
            run(cfg, &opts, on_event).map(|r| {
                format!(
                    "finished: ACC {:.2}, BWT {:.2}, forgetting {:.2} in {:.1} s on {}",
                    r.metrics.acc, r.metrics.bwt, r.metrics.forgetting, r.wall_seconds, r.device
                )
            })
        }
    }
}

/// A job of a benchmark that sleeps instead of training (see [`SLEEP_JOBS_ENV`]).
fn sleep_job(
    job: &Job,
    cfg: &ccll_core::RunConfig,
    placement: &Placement,
    map: &Path,
) -> anyhow::Result<()> {
    use ccll_core::run::{base_key, write_json_atomic, BaseManifest, BASE_MANIFEST, CONFIG_FILE};
    use ccll_results::{Flops, Metrics, ParamReport, RunResult, TaskMatrix};
    let text = std::fs::read_to_string(map)
        .map_err(|e| anyhow::anyhow!("${SLEEP_JOBS_ENV}: {}: {e}", map.display()))?;
    let seconds: std::collections::HashMap<String, f64> = serde_json::from_str(&text)?;
    let Some(&target) = seconds.get(&job.name) else {
        anyhow::bail!("job `{}` is not in {}", job.name, map.display());
    };
    let unix = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let startup = process_age().unwrap_or(0.0);
    let started_unix = unix() - startup;
    std::thread::sleep(Duration::from_secs_f64((target - startup).max(0.0)));
    let lifetime = process_age().unwrap_or(target);
    write_json_atomic(
        &job.out_dir.join(SLEEP_REPORT_FILE),
        &serde_json::json!({
            "target_seconds": target,
            "startup_seconds": startup,
            "started_unix": started_unix,
            "ended_unix": unix(),
        }),
    )?;
    match job.kind {
        JobKind::Base => write_json_atomic(
            &job.out_dir.join(BASE_MANIFEST),
            &BaseManifest {
                key: base_key(cfg).unwrap_or_default(),
                includes_task1: false,
                curves: Vec::new(),
                device: placement.device.clone(),
                seconds: lifetime,
            },
        ),
        JobKind::Run => {
            let config = job.out_dir.join(CONFIG_FILE);
            std::fs::write(&config, serde_yaml::to_string(cfg)?)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", config.display()))?;
            let mut acc = TaskMatrix::new();
            acc.push_row(&[0.0], 1);
            let result = RunResult {
                method: cfg.method.name().to_string(),
                benchmark: cfg.benchmark.name.clone(),
                seed: cfg.train.seed,
                tasks: Vec::new(),
                metrics: Metrics::from_matrix(&acc).expect("one row"),
                loss_matrix: acc.clone(),
                acc_matrix: acc,
                params: ParamReport::from_counts(
                    0,
                    &[],
                    Flops {
                        base: 0,
                        calibration: 0,
                    },
                ),
                curves: Vec::new(),
                artifacts: Vec::new(),
                device: placement.device.clone(),
                data_source: String::new(),
                wall_seconds: lifetime,
                task_agnostic: None,
            };
            write_json_atomic(&job.out_dir.join(ccll_core::run::RESULT_FILE), &result)
        }
    }
}

/// Seconds since this process was created (from `/proc/self/stat`, 10 ms resolution).
fn process_age() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, starttime 22.
    let after = &stat[stat.rfind(')')? + 1..];
    let ticks: f64 = after.split_whitespace().nth(19)?.parse().ok()?;
    // SAFETY: sysconf and clock_gettime only read or write the values given.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    if hz <= 0 || unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) } != 0 {
        return None;
    }
    let now = now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9;
    Some((now - ticks / hz as f64).max(0.0))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Points stdout and stderr at `path` (appending).
fn redirect_output(path: &Path) -> std::io::Result<()> {
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: dup2 of a file descriptor we own onto the standard ones.
        if unsafe { libc::dup2(f.as_raw_fd(), fd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn log_event(e: &WorkerEvent) {
    match e {
        WorkerEvent::TaskStarted { task, tasks } => eprintln!("task {task}/{tasks}: training"),
        WorkerEvent::Resumed {
            tasks_done,
            tasks,
            epochs_done,
        } => eprintln!(
            "resuming after task {tasks_done}/{tasks}: tasks 1-{tasks_done} come from this run's \
             checkpoints (evaluated again, not retrained){}",
            if *epochs_done > 0 {
                format!(
                    "; task {} continues after epoch {epochs_done} from its in-task state",
                    tasks_done + 1
                )
            } else {
                String::new()
            }
        ),
        WorkerEvent::Epoch(r) => eprintln!(
            "task {} epoch {}: loss {:.4}, train acc {:.2}%, lr {}, {:.1} s",
            r.task, r.epoch, r.train_loss, r.train_acc, r.lr, r.seconds
        ),
        WorkerEvent::Evaluated {
            after_task,
            accuracy,
            ..
        } => eprintln!(
            "after task {after_task}: test accuracy {}",
            accuracy
                .iter()
                .map(|a| format!("{a:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        _ => {}
    }
}

/// Appends events as JSON lines, flushed at once so that the runner sees them.
struct EventWriter {
    file: File,
    last_progress: Option<Instant>,
}

impl EventWriter {
    fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            file: File::create(path)?,
            last_progress: None,
        })
    }

    fn write(&mut self, e: &WorkerEvent) {
        if let WorkerEvent::Progress { batch, batches, .. } = e {
            let last_batch = batch == batches;
            if !last_batch
                && self
                    .last_progress
                    .is_some_and(|t| t.elapsed() < PROGRESS_EVERY)
            {
                return;
            }
            self.last_progress = Some(Instant::now());
        }
        if let Ok(mut line) = serde_json::to_vec(e) {
            line.push(b'\n');
            // A full disk should not kill the run; the result file is what counts.
            let _ = self.file.write_all(&line);
            let _ = self.file.flush();
        }
    }
}
