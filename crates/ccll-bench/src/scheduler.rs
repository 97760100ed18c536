//! Figure 4: the sweep runner's scheduling. A study of 8 seeds x 7 epoch counts of CCLL (56
//! runs on 8 shared bases: 64 jobs with a shared-base dependency graph) goes through the
//! runner's own machinery: study expansion, plan, a results store (in a temporary folder, like
//! the run directories), the scheduler, and the local executor with 4 CPU slots spawning real
//! `ccll worker` processes. Only the workers do not train: each sleeps for a known, uneven
//! duration (deterministic, from a fixed seed; `ccll_runner::worker::SLEEP_JOBS_ENV`).
//!
//! Figures: the makespan against the ideal lower bound, max(critical path, total work /
//! slots); the runner's overhead per job, (makespan x slots - total work) / jobs, which counts
//! writing the job file, spawning, noticing the exit, reading the result and the store writes
//! (and the slots left idle at the end of the sweep); and the start-up of a worker process
//! (loading libtorch), which counts as part of each job's duration as it does for a training
//! job.

use crate::report::{Figure, Target};
use crate::timing::median;
use crate::Options;
use anyhow::Context;
use ccll_report::{NewSweep, Store};
use ccll_runner::executor::local::{make_slots, LocalExecutor, SlotDevice};
use ccll_runner::executor::Executor;
use ccll_runner::grid::expand;
use ccll_runner::layout::Layout;
use ccll_runner::plan::Plan;
use ccll_runner::progress::SweepProgress;
use ccll_runner::resume::Resume;
use ccll_runner::rows::new_run_row;
use ccll_runner::scheduler::Scheduler;
use ccll_runner::study::Study;
use ccll_runner::worker::{SLEEP_JOBS_ENV, SLEEP_REPORT_FILE};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

const SECTION: &str = "4. sweep scheduler";
pub const SLOTS: usize = 4;
pub const TARGET: f64 = 1.05;
/// Seed of the job durations.
const SEED: u64 = 4;
const SWEEP: &str = "bench_scheduler";

/// 8 seeds (8 bases) x 7 epoch counts (runs per base; `train.epochs` does not touch the base
/// since `train.base_epochs` is fixed). Nothing is trained or loaded: the workers sleep.
const STUDY: &str = "name: bench_scheduler
defaults:
  benchmark: {name: split_mnist}
  model: {arch: convnet, width: 16}
  method: {name: ccll, alpha: 1, beta: 1}
  train: {epochs: 1, base_epochs: 1, batch_size: 32, seed: 0}
grid:
  train.seed: [0, 1, 2, 3, 4, 5, 6, 7]
  train.epochs: [1, 2, 3, 4, 5, 6, 7]
";

/// The ideal makespan of a job graph, bases and runs that depend on at most one base.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// The longest chain: a base and its longest run, or a lone job.
    pub critical_path: f64,
    /// Total work of all jobs.
    pub total: f64,
    /// max(critical path, total / slots).
    pub lower_bound: f64,
}

/// `bases[b]`: seconds of base job b; `runs`: (base it needs, seconds).
pub fn lower_bound(bases: &[f64], runs: &[(Option<usize>, f64)], slots: usize) -> Bound {
    let chain = |&(base, d): &(Option<usize>, f64)| base.map_or(0.0, |b| bases[b]) + d;
    let critical_path = runs
        .iter()
        .map(chain)
        .chain(bases.iter().copied())
        .fold(0.0, f64::max);
    let total = bases.iter().sum::<f64>() + runs.iter().map(|r| r.1).sum::<f64>();
    Bound {
        critical_path,
        total,
        lower_bound: critical_path.max(total / slots.max(1) as f64),
    }
}

/// `n` durations uniform in [lo, hi) from `seed` (splitmix64).
pub fn durations(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            lo + (hi - lo) * (z >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// What one simulated sweep measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub jobs: usize,
    pub bound: Bound,
    pub makespan: f64,
    /// Per job, from the worker's `sleep.json`: start-up (process creation to `ccll worker`
    /// main), process creation and end of the sleep (Unix seconds), and its duration.
    pub startups: Vec<f64>,
    pub started: Vec<f64>,
    pub ended: Vec<f64>,
    pub targets: Vec<f64>,
    pub range: (f64, f64),
    /// Unix seconds when the scheduler was started and when it returned.
    pub window: (f64, f64),
}

impl Measured {
    /// The runner's turnaround per freed slot: from the end of a job to the creation of the
    /// next worker process (the worker's exit, noticing it, reading its result, the store
    /// writes, the next job's directory and file, the spawn). The k-th worker after the first
    /// `slots` cannot start before k workers have ended, so the k-th end pairs with it.
    pub fn turnarounds(&self, slots: usize) -> Vec<f64> {
        let mut starts = self.started.clone();
        let mut ends = self.ended.clone();
        starts.sort_by(f64::total_cmp);
        ends.sort_by(f64::total_cmp);
        starts
            .iter()
            .skip(slots)
            .zip(&ends)
            .map(|(s, e)| s - e)
            .collect()
    }

    /// Jobs that lasted longer than their duration (a start-up longer than the job), and
    /// the seconds they added.
    pub fn overruns(&self) -> (usize, f64) {
        let excess: Vec<f64> = (0..self.targets.len())
            .map(|i| self.ended[i] - self.started[i] - self.targets[i])
            .filter(|&x| x > 0.02)
            .collect();
        (excess.len(), excess.iter().fold(0.0, |a, x| a + x))
    }

    /// Slot seconds before the first `slots` workers were created, and after the last
    /// `slots` ended until the scheduler returned.
    pub fn head_and_tail(&self, slots: usize) -> (f64, f64) {
        let mut starts = self.started.clone();
        let mut ends = self.ended.clone();
        starts.sort_by(f64::total_cmp);
        ends.sort_by(f64::total_cmp);
        let head = starts.iter().take(slots).map(|s| s - self.window.0).sum();
        let tail = ends
            .iter()
            .rev()
            .take(slots)
            .map(|e| self.window.1 - e)
            .sum();
        (head, tail)
    }
}

pub fn run(opts: &Options, ccll: Option<&Path>) -> Vec<Figure> {
    let name = format!("makespan vs lower bound, 64 jobs on {SLOTS} slots");
    let candidates = [
        ccll.map(Path::to_path_buf),
        Some(PathBuf::from("target/release/ccll")),
        Some(PathBuf::from("target/debug/ccll")),
    ];
    let Some(exe) = candidates.into_iter().flatten().find(|p| p.is_file()) else {
        return vec![Figure::failed(
            SECTION,
            name,
            Target::AtMost(TARGET),
            "no ccll binary (give --ccll, or `cargo build -p ccll-runner`)".into(),
        )];
    };
    let exe = ccll_runner::layout::absolute(&exe);
    eprintln!(
        "[scheduler] 64 sleeping jobs on {SLOTS} slots, workers: {}",
        exe.display()
    );
    let measured = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(measure(&exe, opts.quick)));
    let m = match measured {
        Ok(m) => m,
        Err(e) => {
            return vec![Figure::failed(
                SECTION,
                name,
                Target::AtMost(TARGET),
                format!("{e:#}"),
            )]
        }
    };
    let b = m.bound;
    let idle_ms = (m.makespan * SLOTS as f64 - b.total) / m.jobs as f64 * 1e3;
    let turnarounds = m.turnarounds(SLOTS);
    let mean_turnaround = turnarounds.iter().sum::<f64>() / turnarounds.len().max(1) as f64;
    let max_startup = m.startups.iter().copied().fold(0.0, f64::max);
    let overrun = m.overruns();
    let (head, tail) = m.head_and_tail(SLOTS);
    vec![
        Figure::compared(
            SECTION,
            name,
            "s",
            m.makespan,
            b.lower_bound,
            m.makespan / b.lower_bound,
            Target::AtMost(TARGET),
        )
        .note(format!(
            "lower bound = max(critical path {:.2} s, total work {:.1} s / {SLOTS}); 8 bases x 7 runs, \
             sleeps {:.1}-{:.1} s (seed {SEED}), real `ccll worker` processes",
            b.critical_path, b.total, m.range.0, m.range.1
        )),
        Figure::plain(
            SECTION,
            "runner overhead per job (exit, poll, record, spawn)",
            "ms",
            median(&turnarounds) * 1e3,
        )
        .note(format!(
            "median over {} freed slots of a job's end to the next worker's creation; mean {:.0} ms",
            turnarounds.len(),
            mean_turnaround * 1e3
        )),
        Figure::plain(
            SECTION,
            "slot time per job outside its duration",
            "ms",
            idle_ms,
        )
        .note(format!(
            "(makespan x {SLOTS} - total work) / {} jobs, in slot seconds: turnarounds {:.2}, \
             start-ups longer than their job {:.2}, first spawns {:.2}, idle at the end {:.2}",
            m.jobs,
            turnarounds.iter().sum::<f64>(),
            overrun.1,
            head,
            tail
        )),
        Figure::plain(
            SECTION,
            "worker start-up (libtorch load), inside each job's time",
            "ms",
            median(&m.startups) * 1e3,
        )
        .note(format!(
            "median of {} `ccll worker` processes, max {:.0} ms; {} job(s) outlasted their duration",
            m.startups.len(),
            max_startup * 1e3,
            overrun.0
        )),
    ]
}

async fn measure(exe: &Path, quick: bool) -> anyhow::Result<Measured> {
    let tmp = tempfile::tempdir()?;
    let layout = Layout {
        root: tmp.path().join("runs"),
    };
    let study = Study::parse(STUDY, "bench_scheduler.yaml")
        .map_err(|p| anyhow::anyhow!("the benchmark's study: {p}"))?;
    let expanded =
        expand(&study, None, &[]).map_err(|p| anyhow::anyhow!("the benchmark's study: {p}"))?;
    let plan = Plan::build(&expanded, SWEEP, &layout);
    anyhow::ensure!(
        plan.bases.len() == 8 && plan.runs.len() == 56,
        "expected 8 bases and 56 runs, the plan has {} and {}",
        plan.bases.len(),
        plan.runs.len()
    );

    // Known durations, by job name (what the worker sees).
    let range = if quick { (1.0, 2.5) } else { (1.5, 3.5) };
    let d = durations(plan.bases.len() + plan.runs.len(), range.0, range.1, SEED);
    let (base_secs, run_secs) = d.split_at(plan.bases.len());
    let mut by_name: HashMap<&str, f64> = HashMap::new();
    for (b, &s) in plan.bases.iter().zip(base_secs) {
        by_name.insert(&b.label, s);
    }
    for (r, &s) in plan.runs.iter().zip(run_secs) {
        by_name.insert(&r.spec.label, s);
    }
    anyhow::ensure!(by_name.len() == d.len(), "job names are not unique");
    let map = tmp.path().join("sleep.json");
    std::fs::write(&map, serde_json::to_vec(&by_name)?)
        .with_context(|| format!("writing {}", map.display()))?;
    let runs: Vec<(Option<usize>, f64)> = plan
        .runs
        .iter()
        .zip(run_secs)
        .map(|(r, &s)| (r.base, s))
        .collect();
    let bound = lower_bound(base_secs, &runs, SLOTS);

    let store = Store::open(&tmp.path().join("store.sqlite")).await?;
    let sweep_id = store
        .upsert_sweep(&NewSweep {
            name: SWEEP.into(),
            study_file: None,
            profile: None,
            spec: expanded.spec_json(),
        })
        .await?;
    let mut run_ids = Vec::new();
    for r in &plan.runs {
        let row = new_run_row(
            &r.spec.config,
            &r.spec.identity,
            &r.spec.label,
            r.spec.swept_json(),
            Some(sweep_id),
            None,
            false,
        );
        run_ids.push(store.register_run(&row).await?);
    }
    let resume = vec![Resume::Pending; plan.runs.len()];
    let mut executor = Executor::Local(
        LocalExecutor::new(
            exe.to_path_buf(),
            make_slots(&[SlotDevice::Cpu], SLOTS, Some(1), 1),
        )
        .with_env(SLEEP_JOBS_ENV, &map),
    );
    let mut progress = SweepProgress::new(plan.runs.len(), true);
    let scheduler = Scheduler {
        plan: &plan,
        run_ids: &run_ids,
        store: &store,
        data_root: None,
        host: "bench".into(),
        retries: 0,
        max_requeues: 0,
        layout: &layout,
    };
    let started = Instant::now();
    let t0 = unix_now();
    let outcome = scheduler
        .execute(&resume, &mut executor, &mut progress)
        .await?;
    let makespan = started.elapsed().as_secs_f64();
    let window = (t0, unix_now());
    progress.finish();
    store.close().await;
    if let Some((i, e)) = outcome.failed.first() {
        anyhow::bail!(
            "{} run(s) failed, e.g. {}: {e}",
            outcome.failed.len(),
            plan.runs[*i].spec.label
        );
    }
    anyhow::ensure!(
        outcome.finished.len() == plan.runs.len() && outcome.bases_trained == plan.bases.len(),
        "{} of {} runs and {} of {} bases finished",
        outcome.finished.len(),
        plan.runs.len(),
        outcome.bases_trained,
        plan.bases.len()
    );
    let dirs = plan
        .bases
        .iter()
        .map(|b| &b.dir)
        .chain(plan.runs.iter().map(|r| &r.dir));
    let mut m = Measured {
        jobs: d.len(),
        bound,
        makespan,
        startups: Vec::new(),
        started: Vec::new(),
        ended: Vec::new(),
        targets: Vec::new(),
        range,
        window,
    };
    for dir in dirs {
        let path = dir.join(SLEEP_REPORT_FILE);
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
        )?;
        let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        m.startups.push(f("startup_seconds"));
        m.started.push(f("started_unix"));
        m.ended.push(f("ended_unix"));
        m.targets.push(f("target_seconds"));
    }
    Ok(m)
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_bound_is_the_longer_of_chain_and_spread_work() {
        // Two bases (1 s, 4 s); runs: 2 s after base 0, 3 s after base 1, a lone 1 s run.
        let runs = [(Some(0), 2.0), (Some(1), 3.0), (None, 1.0)];
        let b = lower_bound(&[1.0, 4.0], &runs, 4);
        assert_eq!(b.critical_path, 7.0);
        assert_eq!(b.total, 11.0);
        assert_eq!(b.lower_bound, 7.0);
        // On one slot the work dominates.
        assert_eq!(lower_bound(&[1.0, 4.0], &runs, 1).lower_bound, 11.0);
        // A base alone can be the longest chain.
        assert_eq!(lower_bound(&[9.0], &[], 4).critical_path, 9.0);
    }

    #[test]
    fn durations_are_fixed_and_in_range() {
        let a = durations(64, 1.0, 3.0, SEED);
        assert_eq!(a, durations(64, 1.0, 3.0, SEED));
        assert!(a.iter().all(|&d| (1.0..3.0).contains(&d)));
        assert!(a.iter().any(|&d| d < 1.5) && a.iter().any(|&d| d > 2.5));
    }
}
