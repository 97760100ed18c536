//! The sweep loop: starts every job as soon as its dependencies are done and the executor has
//! a free slot, follows the workers' events, records each outcome in the store, retries failed
//! jobs (`--retries`), fails the runs of a base job that failed (once, no retry storm), and on
//! Ctrl-C / SIGTERM stops the workers and marks the unfinished runs as interrupted.
//!
//! Store writes happen here and nowhere else during a sweep: `mark_running` when a run starts,
//! `record_finished` (one transaction) or `record_failed` when it ends, `record_base` when a
//! shared base is trained, `mark_interrupted` when the sweep is stopped. A write that fails
//! because of the database itself (full disk, read-only file, I/O error) does not end the
//! sweep at once: no new job starts, the running ones finish and leave their results on disk
//! (the next invocation records them: `recovered from disk`), and the outcome says so.

use crate::executor::{Executor, Exit, LaunchError, Started};
use crate::job::{Job, JobKind};
use crate::layout::{fresh_dir, Layout};
use crate::lock::FileLock;
use crate::outcome::{base_outcome, run_outcome, Failure};
use crate::plan::{JobRef, Plan};
use crate::progress::{EventTail, SweepProgress};
use crate::resume::Resume;
use ccll_core::run::BASE_MANIFEST;
use ccll_report::{NewBase, Store, StoreError};
use ccll_results::WorkerEvent;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

/// How often the loop looks at running jobs (new events, Slurm states) when nothing wakes it
/// earlier; a local worker's exit (SIGCHLD) wakes it at once.
const TICK: Duration = Duration::from_millis(250);

#[derive(Debug)]
enum RunState {
    /// Finished before this invocation, or recovered from disk.
    Done,
    /// Waiting for its base or a slot.
    Waiting,
    Running,
    Finished,
    Failed,
}

enum BaseState {
    /// Cached, or no pending run needs it.
    Ready,
    /// Needed, not started (or waiting for another runner that holds its lock).
    Pending,
    Running(#[allow(dead_code)] FileLock),
    Failed(Failure),
}

/// How the sweep ended.
#[derive(Debug, Default)]
pub struct SweepOutcome {
    /// Runs finished by this invocation.
    pub finished: Vec<usize>,
    /// Runs that failed, with their error.
    pub failed: Vec<(usize, String)>,
    /// Runs left unfinished by an interruption.
    pub interrupted: Vec<usize>,
    pub bases_trained: usize,
    pub bases_failed: usize,
    /// Finished bases found damaged (sha256 changed) and not reused.
    pub bases_damaged: usize,
    /// Stopped by SIGINT / SIGTERM.
    pub stopped_by: Option<&'static str>,
    /// The store could not be written: the first such error.
    pub store_error: Option<String>,
    /// Runs that finished but could not be recorded (store error); their result is on disk.
    pub unrecorded: Vec<usize>,
    /// Runs not started because the store could not be written.
    pub not_started: Vec<usize>,
}

pub struct Scheduler<'a> {
    pub plan: &'a Plan,
    pub run_ids: &'a [i64],
    pub store: &'a Store,
    pub data_root: Option<PathBuf>,
    pub host: String,
    pub retries: u32,
    /// Times a job may stop to be requeued (preempted, timed out, node lost) and continue.
    pub max_requeues: u32,
    pub layout: &'a Layout,
}

/// Runs ready to launch, and runs whose folder could not be prepared (with why).
type ReadyRuns = (Vec<(JobRef, Job)>, Vec<(JobRef, String)>);

struct State {
    runs: Vec<RunState>,
    bases: Vec<BaseState>,
    attempts: HashMap<JobRef, u32>,
    requeues: HashMap<JobRef, u32>,
    tails: HashMap<JobRef, EventTail>,
    outcome: SweepOutcome,
    /// Set by the first store write that failed because of the database: nothing new starts.
    store_down: bool,
}

impl Scheduler<'_> {
    /// Runs every pending run (`resume[i] == Pending`) and the base jobs they need.
    ///
    /// Kept whole (about 90 lines): the event loop (signals, launches, exits, progress) whose
    /// one `select!` decides what a Ctrl-C or SIGTERM interrupts.
    pub async fn execute(
        &self,
        resume: &[Resume],
        executor: &mut Executor,
        progress: &mut SweepProgress,
    ) -> anyhow::Result<SweepOutcome> {
        let plan = self.plan;
        let pending: Vec<usize> = (0..plan.runs.len())
            .filter(|&i| resume[i] == Resume::Pending)
            .collect();
        let needed = plan.base_jobs_for(&pending);
        let mut st = State {
            runs: resume
                .iter()
                .map(|r| match r {
                    Resume::Pending => RunState::Waiting,
                    _ => RunState::Done,
                })
                .collect(),
            bases: (0..plan.bases.len())
                .map(|b| {
                    if needed.contains(&b) {
                        BaseState::Pending
                    } else {
                        BaseState::Ready
                    }
                })
                .collect(),
            attempts: HashMap::new(),
            requeues: HashMap::new(),
            tails: HashMap::new(),
            outcome: SweepOutcome::default(),
            store_down: false,
        };
        self.check_finished_bases(&mut st, progress).await?;
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        // A worker that ended frees its slot: start the next job now, not at the next tick
        // (at a 250 ms tick, about 125 ms of idle slot per job). Other children (squeue) only
        // cost a loop turn.
        let mut sigchld = signal(SignalKind::child())?;

        loop {
            self.fail_orphans(&mut st, progress).await?;
            let started = self.launch_ready(&mut st, executor, progress).await?;
            let all_done = st.store_down
                || st
                    .runs
                    .iter()
                    .all(|r| !matches!(r, RunState::Waiting | RunState::Running));
            if all_done && executor.running() == 0 {
                break;
            }
            let stop = if started {
                None
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(TICK) => None,
                    _ = sigchld.recv() => None,
                    _ = sigint.recv() => Some("SIGINT"),
                    _ = sigterm.recv() => Some("SIGTERM"),
                }
            };
            if let Some(sig) = stop {
                progress.println(&format!(
                    "{sig}: stopping {} job(s) and marking unfinished runs as interrupted",
                    executor.running()
                ));
                executor.cancel_all().await;
                let unfinished: Vec<usize> = st
                    .runs
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| matches!(r, RunState::Waiting | RunState::Running))
                    .map(|(i, _)| i)
                    .collect();
                let ids: Vec<i64> = unfinished.iter().map(|&i| self.run_ids[i]).collect();
                let marked = self.store.mark_interrupted(&ids).await;
                self.store_write(&mut st, progress, marked)?;
                st.outcome.interrupted = unfinished;
                st.outcome.stopped_by = Some(sig);
                return Ok(st.outcome);
            }
            for exit in executor.poll().await {
                self.follow(&mut st, exit.job, progress).await?;
                self.handle_exit(&mut st, exit, progress).await?;
            }
            let running: Vec<JobRef> = st.tails.keys().copied().collect();
            for job in running {
                self.follow(&mut st, job, progress).await?;
            }
        }
        if st.store_down {
            st.outcome.not_started = (0..st.runs.len())
                .filter(|&i| matches!(st.runs[i], RunState::Waiting))
                .collect();
        }
        Ok(st.outcome)
    }

    /// Passes a store write's result on. An error of the database itself (see
    /// [`StoreError::is_database_failure`]) is kept in the outcome and stops new jobs from
    /// starting (said once); any other error is returned. Whether the write happened.
    fn store_write(
        &self,
        st: &mut State,
        progress: &mut SweepProgress,
        written: Result<(), StoreError>,
    ) -> Result<bool, StoreError> {
        match written {
            Ok(()) => Ok(true),
            Err(e) if e.is_database_failure() => {
                if !st.store_down {
                    st.store_down = true;
                    progress.println(&format!(
                        "error: the store {} cannot be written ({e}); no new job starts, the \
                         running one(s) finish and keep their results on disk",
                        self.store.path().display()
                    ));
                    st.outcome.store_error = Some(format!("{}: {e}", self.store.path().display()));
                }
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn job_dir(&self, job: JobRef) -> PathBuf {
        match job {
            JobRef::Base(b) => self.plan.bases[b].dir.clone(),
            JobRef::Run(r) => self.plan.runs[r].dir.clone(),
        }
    }

    fn label(&self, job: JobRef) -> String {
        match job {
            JobRef::Base(b) => self.plan.bases[b].label.clone(),
            JobRef::Run(r) => self.plan.runs[r].spec.label.clone(),
        }
    }

    /// Passes a running job's new events to the display, and a run's evaluated tasks to the
    /// store (`finished_tasks` of a running run: its progress).
    async fn follow(
        &self,
        st: &mut State,
        job: JobRef,
        progress: &mut SweepProgress,
    ) -> anyhow::Result<()> {
        let path = self.job_dir(job).join(crate::job::EVENTS_FILE);
        let mut tasks_done = None;
        if let Some(tail) = st.tails.get_mut(&job) {
            for e in tail.read_new(&path) {
                progress.job_event(job, &e);
                match e {
                    WorkerEvent::Evaluated { after_task, .. } => tasks_done = Some(after_task),
                    WorkerEvent::Resumed { tasks_done: n, .. } => tasks_done = Some(n),
                    _ => {}
                }
            }
        }
        if let (JobRef::Run(r), Some(n)) = (job, tasks_done) {
            let marked = self.store.mark_progress(self.run_ids[r], n).await;
            self.store_write(st, progress, marked)?;
        }
        Ok(())
    }

    /// Runs whose base failed fail too, with the base's error and log.
    async fn fail_orphans(
        &self,
        st: &mut State,
        progress: &mut SweepProgress,
    ) -> anyhow::Result<()> {
        for (i, run) in self.plan.runs.iter().enumerate() {
            if st.store_down || !matches!(st.runs[i], RunState::Waiting) {
                continue;
            }
            let Some(b) = run.base else { continue };
            if let BaseState::Failed(f) = &st.bases[b] {
                let error = format!("base job failed: {}", f.error);
                let log_tail = f.log_tail.clone();
                let recorded = self
                    .store
                    .record_failed(self.run_ids[i], &error, &log_tail)
                    .await;
                self.store_write(st, progress, recorded)?;
                progress.run_failed_unstarted(&run.spec.label, &error);
                st.outcome.failed.push((i, error.clone()));
                st.runs[i] = RunState::Failed;
            }
        }
        Ok(())
    }

    /// Starts every job that is ready, up to the executor's free slots: bases first (each one
    /// unblocks several runs), then runs whose base is ready. Whether anything started.
    async fn launch_ready(
        &self,
        st: &mut State,
        executor: &mut Executor,
        progress: &mut SweepProgress,
    ) -> anyhow::Result<bool> {
        if st.store_down {
            return Ok(false);
        }
        let mut free = executor.free_slots();
        let mut batch = self.ready_bases(st, &mut free, progress)?;
        let (runs, unprepared) = self.ready_runs(st, &mut free);
        batch.extend(runs);
        let failed_at_once = !unprepared.is_empty();
        for job in batch
            .iter()
            .map(|(r, _)| *r)
            .chain(unprepared.iter().map(|(r, _)| *r))
        {
            *st.attempts.entry(job).or_insert(0) += 1;
        }
        for (job, reason) in unprepared {
            // One run's folder that cannot be written fails that run; the sweep goes on.
            self.not_started(st, job, &reason, progress).await?;
        }
        if batch.is_empty() {
            return Ok(failed_at_once);
        }
        for started in executor.launch(batch).await {
            match started {
                Ok(Started { job, device }) => {
                    if let JobRef::Run(i) = job {
                        let marked = self
                            .store
                            .mark_running(self.run_ids[i], &device, &self.host)
                            .await;
                        self.store_write(st, progress, marked)?;
                    }
                    st.tails.insert(job, EventTail::default());
                    progress.job_started(job, &self.label(job), &device);
                }
                Err(LaunchError { job, reason }) => {
                    self.not_started(st, job, &reason, progress).await?;
                }
            }
        }
        Ok(true)
    }

    /// A job that could not start (its folder, its launch) is handled like one that failed
    /// at once: recorded, retried or failed, with `reason`.
    async fn not_started(
        &self,
        st: &mut State,
        job: JobRef,
        reason: &str,
        progress: &mut SweepProgress,
    ) -> anyhow::Result<()> {
        st.tails.insert(job, EventTail::default());
        progress.job_started(job, &self.label(job), "-");
        let exit = Exit {
            job,
            success: false,
            how: format!("not started: {reason}"),
            extra_log: None,
        };
        self.handle_exit(st, exit, progress).await
    }

    /// Base jobs still needed by a waiting run, locked for this runner and given a fresh
    /// directory (a base another runner trained meanwhile becomes ready instead).
    fn ready_bases(
        &self,
        st: &mut State,
        free: &mut usize,
        progress: &mut SweepProgress,
    ) -> anyhow::Result<Vec<(JobRef, Job)>> {
        let mut batch = Vec::new();
        for (b, base) in self.plan.bases.iter().enumerate() {
            if *free == 0 {
                break;
            }
            if !matches!(st.bases[b], BaseState::Pending) {
                continue;
            }
            let needed = base
                .runs
                .iter()
                .any(|&r| matches!(st.runs[r], RunState::Waiting));
            if !needed {
                st.bases[b] = BaseState::Ready;
                continue;
            }
            let Some(lock) = FileLock::try_acquire(&self.layout.base_lock(&base.key))? else {
                continue; // another runner is training it; look again next tick
            };
            if base.dir.join(BASE_MANIFEST).is_file() {
                progress.println(&format!(
                    "{}: trained meanwhile by another sweep",
                    base.label
                ));
                st.bases[b] = BaseState::Ready;
                continue;
            }
            // A killed attempt's in-task state of task 1 is kept: the job continues from it.
            if !base.dir.join(ccll_core::run::PROGRESS_FILE).is_file() {
                if let Err(e) = fresh_dir(&base.dir) {
                    // Its runs fail with this (fail_orphans); the other bases go on.
                    let error =
                        format!("cannot prepare the base folder {}: {e}", base.dir.display());
                    progress.println(&format!("{}: {error}", base.label));
                    st.outcome.bases_failed += 1;
                    st.bases[b] = BaseState::Failed(Failure {
                        error,
                        log_tail: String::new(),
                    });
                    continue;
                }
            }
            let job = Job {
                kind: JobKind::Base,
                name: base.label.clone(),
                config: base.config.clone(),
                out_dir: base.dir.clone(),
                base_dir: None,
                data_root: self.data_root.clone(),
                placement: Default::default(),
            };
            batch.push((JobRef::Base(b), job));
            st.bases[b] = BaseState::Running(lock);
            *free -= 1;
        }
        Ok(batch)
    }

    /// Waiting runs whose base (if any) is ready, each given a fresh directory; and the runs
    /// whose directory could not be prepared, with the reason (they fail alone).
    fn ready_runs(&self, st: &mut State, free: &mut usize) -> ReadyRuns {
        let mut batch = Vec::new();
        let mut unprepared = Vec::new();
        for (i, run) in self.plan.runs.iter().enumerate() {
            if *free == 0 {
                break;
            }
            let base_ready = run
                .base
                .is_none_or(|b| matches!(st.bases[b], BaseState::Ready));
            if !matches!(st.runs[i], RunState::Waiting) || !base_ready {
                continue;
            }
            // A folder with a resumable state (an interrupted attempt's `progress.json`) is kept:
            // the worker continues after its last finished task.
            if !run.dir.join(ccll_core::run::PROGRESS_FILE).is_file() {
                if let Err(e) = fresh_dir(&run.dir) {
                    let reason =
                        format!("cannot prepare the run folder {}: {e}", run.dir.display());
                    unprepared.push((JobRef::Run(i), reason));
                    st.runs[i] = RunState::Running;
                    continue;
                }
            }
            let job = Job {
                kind: JobKind::Run,
                name: run.spec.label.clone(),
                config: run.spec.config.clone(),
                out_dir: run.dir.clone(),
                base_dir: run.base.map(|b| self.plan.bases[b].dir.clone()),
                data_root: self.data_root.clone(),
                placement: Default::default(),
            };
            batch.push((JobRef::Run(i), job));
            st.runs[i] = RunState::Running;
            *free -= 1;
        }
        (batch, unprepared)
    }

    /// Bases finished before this runner started: one without a store row (its runner died
    /// before recording it) is recorded now; one whose `base.safetensors` no longer has the
    /// sha256 recorded when it was trained (damaged, truncated, replaced) is not reused but
    /// trained again when a waiting run needs it.
    async fn check_finished_bases(
        &self,
        st: &mut State,
        progress: &mut SweepProgress,
    ) -> anyhow::Result<()> {
        for (b, base) in self.plan.bases.iter().enumerate() {
            if !base.dir.join(BASE_MANIFEST).is_file() {
                continue;
            }
            let Some(row) = self.store.base(&base.key).await? else {
                let recorded = self.record_base(b).await;
                self.store_write(st, progress, recorded)?;
                continue;
            };
            let file = base.dir.join("base.safetensors");
            let now = ccll_core::checkpoint::artifact("base", &file).map(|a| a.sha256);
            if row.sha256.is_empty() || now.as_deref().ok() == Some(row.sha256.as_str()) {
                continue;
            }
            progress.println(&format!(
                "{}: {} does not have the sha256 recorded when it was trained ({}); it is not \
                 reused",
                base.label,
                file.display(),
                match &now {
                    Ok(sha) => format!("now {}", &sha[..12.min(sha.len())]),
                    Err(e) => e.to_string(),
                }
            ));
            st.outcome.bases_damaged += 1;
            std::fs::remove_file(base.dir.join(BASE_MANIFEST)).map_err(|e| {
                anyhow::anyhow!("removing {}: {e}", base.dir.join(BASE_MANIFEST).display())
            })?;
            if base
                .runs
                .iter()
                .any(|&r| matches!(st.runs[r], RunState::Waiting))
            {
                st.bases[b] = BaseState::Pending;
            }
        }
        Ok(())
    }

    /// Records (or replaces) the store row of planned base `b` from its finished folder.
    async fn record_base(&self, b: usize) -> Result<(), StoreError> {
        let base = &self.plan.bases[b];
        let ckpt = base.dir.join("base.safetensors");
        let art = ccll_core::checkpoint::artifact("base", &ckpt).ok();
        self.store
            .record_base(&NewBase {
                hash: base.key.clone(),
                path: base.dir.display().to_string(),
                sha256: art.as_ref().map(|a| a.sha256.clone()).unwrap_or_default(),
                bytes: art.map(|a| a.bytes),
                source: base.label.clone(),
            })
            .await
    }

    /// Records a job that ended: a base makes its runs ready or fails them; a run is read
    /// back, recorded, retried or failed.
    ///
    /// Kept whole (about 90 lines): one match over how a job ended, each arm a state change
    /// of the sweep that must be recorded before the next job starts.
    async fn handle_exit(
        &self,
        st: &mut State,
        exit: Exit,
        progress: &mut SweepProgress,
    ) -> anyhow::Result<()> {
        st.tails.remove(&exit.job);
        if let Some(reason) = requeue_reason(&self.job_dir(exit.job), &exit.how) {
            let n = st.requeues.get(&exit.job).copied().unwrap_or(0) + 1;
            if n <= self.max_requeues {
                st.requeues.insert(exit.job, n);
                match exit.job {
                    JobRef::Run(i) => {
                        let marked = self.store.mark_requeued(self.run_ids[i], &reason).await;
                        self.store_write(st, progress, marked)?;
                        st.runs[i] = RunState::Waiting;
                    }
                    JobRef::Base(b) => st.bases[b] = BaseState::Pending,
                }
                progress.requeued(exit.job, &reason, n, self.max_requeues);
                return Ok(());
            }
        }
        // Starts that ended in a requeue are not failed attempts: they use up no retry.
        let requeued = st.requeues.get(&exit.job).copied().unwrap_or(0);
        let attempts = st.attempts.get(&exit.job).copied().unwrap_or(1) - requeued;
        // With the store down a failed job is not tried again: nothing new starts.
        let may_retry = attempts <= self.retries && !st.store_down;
        let extra = exit.extra_log.as_deref();
        match exit.job {
            JobRef::Run(i) => {
                let run = &self.plan.runs[i];
                let id = self.run_ids[i];
                let outcome =
                    run_outcome(&run.dir, &run.spec.identity.config_hash, &exit.how, extra);
                let failure = match outcome {
                    Ok(result) => match self.store.record_finished(id, &result).await {
                        Err(e) if e.is_database_failure() => {
                            self.store_write(st, progress, Err(e))?;
                            progress.job_ended(
                                exit.job,
                                true,
                                &format!(
                                    "ACC {:.2}; not recorded, the result stays in {}",
                                    result.metrics.acc,
                                    run.dir.display()
                                ),
                            );
                            st.outcome.unrecorded.push(i);
                            st.runs[i] = RunState::Finished;
                            return Ok(());
                        }
                        Ok(()) => {
                            progress.job_ended(
                                exit.job,
                                true,
                                &format!(
                                    "ACC {:.2}, BWT {:.2} ({:.0} s)",
                                    result.metrics.acc, result.metrics.bwt, result.wall_seconds
                                ),
                            );
                            st.outcome.finished.push(i);
                            st.runs[i] = RunState::Finished;
                            return Ok(());
                        }
                        Err(e) => Failure {
                            error: format!("the result could not be recorded: {e}"),
                            log_tail: crate::outcome::log_tail(&run.dir, extra),
                        },
                    },
                    Err(f) => f,
                };
                let recorded = self
                    .store
                    .record_failed(id, &failure.error, &failure.log_tail)
                    .await;
                self.store_write(st, progress, recorded)?;
                let may_retry = may_retry && !st.store_down;
                if may_retry {
                    progress.retrying(exit.job, &failure.error, attempts, self.retries + 1);
                    st.runs[i] = RunState::Waiting;
                } else {
                    progress.job_ended(exit.job, false, &failure.error);
                    st.outcome.failed.push((i, failure.error));
                    st.runs[i] = RunState::Failed;
                }
            }
            JobRef::Base(b) => {
                let base = &self.plan.bases[b];
                match base_outcome(&base.dir, &base.key, &exit.how, extra) {
                    Ok(manifest) => {
                        protect_base_files(&base.dir);
                        // Not recorded (store down): the next start records it from base.json.
                        let recorded = self.record_base(b).await;
                        self.store_write(st, progress, recorded)?;
                        progress.job_ended(
                            exit.job,
                            true,
                            &format!(
                                "trained in {:.0} s on {}",
                                manifest.seconds, manifest.device
                            ),
                        );
                        st.outcome.bases_trained += 1;
                        st.bases[b] = BaseState::Ready;
                    }
                    Err(f) if may_retry => {
                        progress.retrying(exit.job, &f.error, attempts, self.retries + 1);
                        st.bases[b] = BaseState::Pending;
                    }
                    Err(f) => {
                        progress.job_ended(exit.job, false, &f.error);
                        st.outcome.bases_failed += 1;
                        st.bases[b] = BaseState::Failed(f);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Why a job that ended should be requeued and continue, if it should: Slurm preempted it,
/// it ran into its time limit or lost its node, or its worker stopped on SIGUSR2 (Slurm's
/// warning signal) and left its reason in the job's folder (taken away here, so that a later
/// ending of the job is judged on its own).
fn requeue_reason(dir: &std::path::Path, how: &str) -> Option<String> {
    const STATES: [&str; 4] = ["PREEMPTED", "TIMEOUT", "NODE_FAIL", "BOOT_FAIL"];
    let marker = dir.join(crate::worker::REQUEUE_FILE);
    let told = std::fs::read_to_string(&marker).ok();
    if told.is_some() {
        let _ = std::fs::remove_file(&marker);
    }
    if let Some(state) = STATES.iter().find(|s| how == format!("Slurm state {s}")) {
        return Some(format!("Slurm state {state}"));
    }
    told.map(|t| t.trim().to_string())
}

/// Makes a finished base's checkpoints read-only: run folders hard-link them, so a write to
/// one would change every run that uses the base (the sha256 check catches what gets through,
/// e.g. a write by root).
fn protect_base_files(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    for name in ["base.safetensors", "task1.safetensors"] {
        let path = dir.join(name);
        if path.is_file() {
            if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444))
            {
                tracing::warn!("{}: cannot make it read-only: {e}", path.display());
            }
        }
    }
}
