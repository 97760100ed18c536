//! Benchmarks of ccll, printed as figures with targets (`just bench`, `ccll-bench all`).
//!
//! Absolute times on a shared machine are noise, so every figure is a ratio measured in one
//! run, the two sides timed in alternation, back to back, over several rounds (medians):
//!
//! 1. [`throughput`]: training images/s of ccll against a PyTorch eager reference
//!    (`reference/ccll_ref.py`, run with the `torch` that `setup.sh` installs) for the same
//!    model, after checking that both compute the same loss, gradients and SGD step on the
//!    same weights and batch (passed through safetensors files).
//! 2. [`overhead`]: inference time and counted FLOPs of base + a task's calibration against
//!    the base alone, per backbone and alpha.
//! 3. [`epoch`]: a training epoch on real data (batch gathering, normalisation, augmentation,
//!    bookkeeping) against the pure compute of the same steps.
//! 4. [`scheduler`]: the sweep runner's makespan on a simulated job graph against the lower
//!    bound, and its per-job overhead.
//! 5. [`store`]: recording a run, building the table of a 10,000-run sweep, and the peak
//!    memory of a worker.
//!
//! The models are built by ccll-core's own code ([`model::BenchModel`]) so that the figures
//! measure what runs execute. Results go to `reports/bench.json` and `reports/bench.md`
//! ([`report`]).

pub mod epoch;
pub mod model;
pub mod overhead;
pub mod reference;
pub mod report;
pub mod scheduler;
pub mod store;
pub mod task_inference;
pub mod throughput;
pub mod timing;

/// How long and how often to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Intra-op threads of libtorch, the same on both sides.
    pub threads: usize,
    /// Fewer rounds and shorter blocks.
    pub quick: bool,
    /// Rounds of alternating measurement (0: the default for the mode).
    pub rounds: usize,
    /// Only models whose label contains this text (parts 1 and 2).
    pub only: Option<String>,
    /// Also measure against the reference under torch.compile (part 1).
    pub compile: bool,
}

impl Options {
    /// Whether a model with this label is measured.
    pub fn selects(&self, label: &str) -> bool {
        self.only.as_deref().is_none_or(|o| label.contains(o))
    }

    pub fn rounds(&self) -> usize {
        match (self.rounds, self.quick) {
            (0, true) => 5,
            (0, false) => 9,
            (n, _) => n,
        }
    }

    /// Rounds for a comparison whose round (both sides) takes `round_seconds`: the default
    /// number, fewer (at least 3, or 5 outside quick mode) when rounds are long, so that one
    /// comparison stays within about 30 s (quick: 12 s). An explicit `--rounds` wins.
    pub fn rounds_for(&self, round_seconds: f64) -> usize {
        if self.rounds > 0 {
            return self.rounds;
        }
        let budget = if self.quick { 12.0 } else { 30.0 };
        let floor = if self.quick { 3 } else { 5 };
        let fit = (budget / round_seconds.max(1e-3)).floor() as usize;
        fit.clamp(floor, self.rounds())
    }

    /// Seconds a timed block should last (each side, each round).
    pub fn block_seconds(&self) -> f64 {
        if self.quick {
            0.3
        } else {
            0.6
        }
    }

    pub fn warmup_steps(&self) -> usize {
        2
    }
}
