//! `ccll sweep`, start to end: study -> runs -> plan -> (dry run: print) -> lock -> store
//! registration -> resume -> execution -> summary -> report.

use crate::dry_run::dry_run_text;
use crate::executor::local::{make_slots, parse_devices, LocalExecutor};
use crate::executor::slurm::{cancel_leftovers, SlurmExecutor, SlurmOptions};
use crate::executor::Executor;
use crate::grid::{expand_limited, Expanded};
use crate::layout::Layout;
use crate::lock::{holder, FileLock};
use crate::plan::Plan;
use crate::preflight::{missing_data, missing_text, runnable_profiles};
use crate::progress::SweepProgress;
use crate::resume::{reconcile, Resume};
use crate::rows::new_run;
use crate::scheduler::{Scheduler, SweepOutcome};
use crate::study::{Problems, Study};
use ccll_report::{NewSweep, Store};
use std::path::PathBuf;

/// Exit status when some run failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status of an invalid study or command line.
pub const EXIT_INVALID: u8 = 2;
/// Exit status when the store could not be written during the sweep.
pub const EXIT_STORE_UNWRITABLE: u8 = 3;
/// Exit status after Ctrl-C / SIGTERM.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Clone)]
pub enum ExecutorChoice {
    Local {
        /// `auto`, `cpu`, `cuda:0,cuda:1`.
        devices: String,
        jobs_per_device: usize,
        threads: Option<usize>,
    },
    Slurm(SlurmOptions),
}

#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub study: PathBuf,
    pub profile: Option<String>,
    pub overrides: Vec<String>,
    /// The sweep's name in the store and under the runs folder; default: the study's name,
    /// with `-PROFILE` appended under a profile.
    pub name: Option<String>,
    pub dry_run: bool,
    pub executor: ExecutorChoice,
    pub retries: u32,
    /// Times a job may be requeued (preempted, timed out, node lost) and continue.
    pub max_requeues: u32,
    pub force: bool,
    pub db: PathBuf,
    pub layout: Layout,
    pub data_root: Option<PathBuf>,
    /// Where to render the report; `None` = no report.
    pub reports: Option<PathBuf>,
    /// Plain lines even on a terminal.
    pub plain: bool,
    /// Refuse a study that expands to more grid points than this.
    pub max_runs: usize,
}

/// Runs a sweep and returns the process exit status.
///
/// Kept whole (about 100 lines): the sweep's phases in order (data located before anything
/// starts, the lock before the store, the store before resume, the report only when not
/// interrupted), each one a call.
pub async fn sweep(opts: &SweepOptions) -> anyhow::Result<u8> {
    let study = match Study::load(&opts.study) {
        Ok(s) => s,
        Err(p) => return Ok(invalid(&p)),
    };
    let expanded = match expand_limited(
        &study,
        opts.profile.as_deref(),
        &opts.overrides,
        opts.max_runs,
    ) {
        Ok(x) => x,
        Err(p) => return Ok(invalid(&p)),
    };
    let name = match sweep_name(opts, &expanded) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    for note in &expanded.notes {
        eprintln!("note: {note}");
    }
    let plan = Plan::build(&expanded, &name, &opts.layout);
    let data_root = ccll_data::data_root(opts.data_root.as_deref());
    let missing = missing_data(&expanded, &data_root);
    if opts.dry_run {
        print!("{}", dry_run_text(&expanded, &plan, &opts.db).await);
        for m in &missing {
            eprintln!(
                "warning: {} run(s) would fail now: {}",
                m.runs.len(),
                m.error
            );
        }
        return Ok(0);
    }
    if !missing.is_empty() {
        let runnable = runnable_profiles(&study, &data_root);
        eprint!(
            "{}",
            missing_text(&missing, &runnable, &opts.study.display().to_string())
        );
        return Ok(EXIT_INVALID);
    }

    // One runner per sweep.
    let lock_path = opts.layout.sweep_lock(&name);
    let Some(_lock) = FileLock::try_acquire(&lock_path)? else {
        anyhow::bail!(
            "another `ccll sweep` (pid {}) is running sweep `{name}` (lock {}); wait for it or stop it first",
            holder(&lock_path).map_or("?".into(), |p| p.to_string()),
            lock_path.display()
        );
    };
    // ...and one per sweep in a store, whichever runs folder each runner was given.
    let store_lock_path = crate::layout::store_sweep_lock(&opts.db, &name);
    let Some(_store_lock) = FileLock::try_acquire(&store_lock_path)? else {
        anyhow::bail!(
            "another `ccll sweep` (pid {}) is running sweep `{name}` in the store {} (lock {}), \
             with another runs folder; wait for it or stop it first",
            holder(&store_lock_path).map_or("?".into(), |p| p.to_string()),
            opts.db.display(),
            store_lock_path.display()
        );
    };
    let leftovers = cancel_leftovers(&opts.layout.slurm_dir(&name)).await;
    if leftovers > 0 {
        eprintln!("cancelled {leftovers} Slurm array(s) left by an earlier runner of `{name}`");
    }

    let mut executor = make_executor(opts, &name)?;
    let store = Store::open(&opts.db).await?;
    let run_ids = register(opts, &store, &expanded, &plan, &name).await?;
    let rows = store.runs(Some(&name)).await?;
    let resume = reconcile(&plan, &run_ids, &rows, &store, opts.force).await?;
    let counts = ResumeCounts::of(&resume);
    let pending_runs: Vec<usize> = (0..plan.runs.len())
        .filter(|&i| resume[i] == Resume::Pending)
        .collect();
    eprintln!(
        "sweep `{name}`: {} runs ({} finished before, {} recovered from disk, {} to run), {} base job(s); {}",
        plan.runs.len(),
        counts.cached,
        counts.recovered,
        counts.pending,
        plan.base_jobs_for(&pending_runs).len(),
        executor.describe()
    );
    eprintln!(
        "store {}, runs in {}",
        opts.db.display(),
        opts.layout.sweep_dir(&name).display()
    );

    let mut progress = SweepProgress::new(counts.pending, opts.plain);
    let scheduler = Scheduler {
        plan: &plan,
        run_ids: &run_ids,
        store: &store,
        data_root: opts.data_root.clone(),
        host: crate::git::hostname(),
        retries: opts.retries,
        max_requeues: opts.max_requeues,
        layout: &opts.layout,
    };
    let outcome = scheduler
        .execute(&resume, &mut executor, &mut progress)
        .await;
    progress.finish();
    let outcome = outcome?;
    print!(
        "{}",
        summary_text(&plan, &outcome, counts.cached, counts.recovered, &name)
    );

    let mut code = if outcome.stopped_by.is_some() {
        EXIT_INTERRUPTED
    } else if outcome.store_error.is_some() {
        EXIT_STORE_UNWRITABLE
    } else if outcome.failed.is_empty() {
        0
    } else {
        EXIT_FAILED
    };
    // A store that cannot be written has not got every result: no report of it now.
    if outcome.stopped_by.is_none() && outcome.store_error.is_none() {
        code = code.max(report(opts, &store, &name).await);
        print_claim_checks(&store, &name).await;
    }
    store.close().await;
    Ok(code)
}

/// `--name`, else the study's name with the profile's.
fn sweep_name(opts: &SweepOptions, expanded: &Expanded) -> anyhow::Result<String> {
    Ok(match (&opts.name, &opts.profile) {
        (Some(n), _) => {
            anyhow::ensure!(
                crate::study::valid_name(n),
                "--name `{n}`: use letters, digits, `_`, `-` or `.`"
            );
            n.clone()
        }
        (None, Some(p)) => format!("{}-{p}", expanded.study),
        (None, None) => expanded.study.clone(),
    })
}

/// Registers the sweep and its runs in the store; returns the run ids in plan order. Runs of
/// the sweep from another expansion stay, with a note.
async fn register(
    opts: &SweepOptions,
    store: &Store,
    expanded: &Expanded,
    plan: &Plan,
    name: &str,
) -> anyhow::Result<Vec<i64>> {
    let sweep_id = store
        .upsert_sweep(&NewSweep {
            name: name.to_string(),
            study_file: Some(opts.study.display().to_string()),
            profile: opts.profile.clone(),
            spec: expanded.spec_json(),
        })
        .await?;
    let (git_commit, git_dirty) = crate::git::describe();
    let mut run_ids = Vec::with_capacity(plan.runs.len());
    for run in &plan.runs {
        run_ids.push(
            store
                .register_run(&new_run(
                    run,
                    run.base.map(|b| plan.bases[b].key.as_str()),
                    sweep_id,
                    &git_commit,
                    git_dirty,
                ))
                .await?,
        );
    }
    let rows = store.runs(Some(name)).await?;
    let stale = rows.iter().filter(|r| !run_ids.contains(&r.id)).count();
    if stale > 0 {
        eprintln!(
            "note: the store holds {stale} other run(s) of sweep `{name}` from another expansion \
             (different values or overrides); they stay, and its report includes them. Use --name to keep sweeps apart."
        );
    }
    Ok(run_ids)
}

/// How many runs each resume decision got.
struct ResumeCounts {
    cached: usize,
    recovered: usize,
    pending: usize,
}

impl ResumeCounts {
    fn of(resume: &[Resume]) -> Self {
        let count = |k: Resume| resume.iter().filter(|r| **r == k).count();
        Self {
            cached: count(Resume::Cached),
            recovered: count(Resume::Recovered),
            pending: count(Resume::Pending),
        }
    }
}

/// From now on, Ctrl-C or SIGTERM ends the process at once with status 130. The charts are
/// drawn synchronously on this (single) runtime thread, where the scheduler's signal handling
/// cannot run, so a thread of its own listens. Every result is recorded by then; the report
/// can be drawn again with `ccll-report report`.
fn stop_on_interrupt(name: &str) {
    use tokio::signal::unix::SignalKind;
    let name = name.to_string();
    let kinds = [SignalKind::interrupt(), SignalKind::terminate()];
    crate::signals::on_signal(&kinds, move || {
        eprintln!(
            "interrupted while drawing the report; every result is recorded (draw it again with \
             `ccll-report report --sweep {name}`)"
        );
        std::process::exit(130);
    });
}

/// Draws the sweep's report where `--reports` asks; the exit status it adds (failed to draw).
async fn report(opts: &SweepOptions, store: &Store, name: &str) -> u8 {
    let Some(dir) = &opts.reports else {
        return 0;
    };
    stop_on_interrupt(name);
    match ccll_report::render_sweep_report(store, name, dir).await {
        Ok(files) => {
            println!(
                "report: {} file(s) in {}",
                files.len(),
                dir.join(name).display()
            );
            for f in &files {
                println!("  {}", f.display());
            }
            0
        }
        Err(e) => {
            eprintln!("error: rendering the report of `{name}` failed: {e}");
            EXIT_FAILED
        }
    }
}

/// The study's claims checked over the finished runs. A failing claim is a finding, not a
/// failure of the sweep: the exit status stays the sweep's (`ccll-report check` exits 1).
async fn print_claim_checks(store: &Store, name: &str) {
    match ccll_report::claims::check_sweep(store, name).await {
        Ok(v) if v.is_empty() => {}
        Ok(v) => print!(
            "claims of the study (ccll-report check --sweep {name}):\n{}",
            ccll_report::claims::to_text(&v)
        ),
        Err(e) => eprintln!("error: checking the claims of `{name}` failed: {e}"),
    }
}

fn invalid(p: &Problems) -> u8 {
    eprint!("{p}");
    EXIT_INVALID
}

fn make_executor(opts: &SweepOptions, sweep: &str) -> anyhow::Result<Executor> {
    let exe = std::env::current_exe()?;
    Ok(match &opts.executor {
        ExecutorChoice::Local {
            devices,
            jobs_per_device,
            threads,
        } => {
            let devs = parse_devices(devices, || tch::Cuda::device_count().max(0) as usize)
                .map_err(anyhow::Error::msg)?;
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            Executor::Local(LocalExecutor::new(
                exe,
                make_slots(&devs, *jobs_per_device, *threads, cores),
            ))
        }
        ExecutorChoice::Slurm(o) => {
            o.validate().map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                crate::executor::slurm::which("sbatch"),
                "--executor slurm: sbatch is not on PATH (install slurm-client, or use the local executor)"
            );
            Executor::Slurm(SlurmExecutor::new(
                exe,
                opts.layout.slurm_dir(sweep),
                sweep,
                o.clone(),
            ))
        }
    })
}

fn summary_text(
    plan: &Plan,
    o: &SweepOutcome,
    cached: usize,
    recovered: usize,
    name: &str,
) -> String {
    let mut s = format!(
        "\nsweep `{name}`: {} runs: {} finished now, {} finished before, {} recovered from disk, {} failed{}{}\n",
        plan.runs.len(),
        o.finished.len(),
        cached,
        recovered,
        o.failed.len(),
        if o.interrupted.is_empty() {
            String::new()
        } else {
            format!(", {} interrupted", o.interrupted.len())
        },
        if o.store_error.is_none() {
            String::new()
        } else {
            format!(
                ", {} finished but not recorded, {} not started",
                o.unrecorded.len(),
                o.not_started.len()
            )
        }
    );
    s += &format!(
        "base jobs: {} trained, {} failed, {} cached\n",
        o.bases_trained,
        o.bases_failed,
        plan.bases.iter().filter(|b| b.cached).count() - o.bases_damaged
    );
    if !o.failed.is_empty() {
        s += "failures:\n";
        for (i, e) in &o.failed {
            s += &format!("  {}: {}\n", plan.runs[*i].spec.label, first_line(e));
            s += &format!(
                "    log: {}\n",
                plan.runs[*i].dir.join(crate::job::LOG_FILE).display()
            );
        }
    }
    if let Some(e) = &o.store_error {
        s += &format!(
            "the store could not be written: {}\n  {} run(s) finished but are not recorded (their \
             results are in their folders), {} not started; once the store can be written, run \
             the same command again: it records the finished ones without training them again \
             and runs the rest\n",
            first_line(e),
            o.unrecorded.len(),
            o.not_started.len()
        );
        for &i in &o.unrecorded {
            s += &format!("  kept on disk: {}\n", plan.runs[i].dir.display());
        }
    }
    if let Some(sig) = o.stopped_by {
        s += &format!(
            "stopped by {sig}; run the same command again to finish the {} remaining run(s)\n",
            o.interrupted.len()
        );
    }
    s
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
