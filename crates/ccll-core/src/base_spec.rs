//! What a shared base is trained from, and its key.
//!
//! Runs that differ only after task 1 (alpha, beta, the method, later-task settings) share
//! one trained base. [`BaseSpec`] is the part of a run config that training the base reads:
//! [`crate::run::train_base`] trains from [`BaseSpec::run_config`] alone, so the key (the
//! spec's hash) covers every input of the base by construction. [`BaseSpec::of`] destructures
//! `TrainConfig` without `..`, so a new training field does not compile until it is placed on
//! one side or the other.
//!
//! The method is not part of the spec: every method that shares bases trains task 1 the same
//! way (the shared trunk and the first head), tested bit for bit in `tests/engine.rs`.

use crate::config::{BaseConfig, ModelConfig, OptimizerKind, RunConfig, ScheduleKind};
use crate::settings::TrainConfig;
use crate::strategy::MethodConfig;
use ccll_data::BenchmarkConfig;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Bumped when the meaning of the key changes.
const BASE_KEY_VERSION: u32 = 1;

/// Everything that determines a shared base.
#[derive(Debug, Clone, Serialize)]
pub struct BaseSpec {
    version: u32,
    benchmark: BenchmarkConfig,
    model: ModelConfig,
    base: BaseConfig,
    train: BaseTraining,
}

/// The training settings of task 1.
#[derive(Debug, Clone, Serialize)]
struct BaseTraining {
    /// `train.base_epochs`, else `train.epochs`.
    epochs: usize,
    batch_size: usize,
    optimizer: OptimizerKind,
    lr: f64,
    momentum: f64,
    weight_decay: f64,
    schedule: ScheduleKind,
    step_size: usize,
    gamma: f64,
    seed: u64,
}

impl BaseSpec {
    /// The spec of `cfg`'s base, or `None` when its method does not share bases.
    pub fn of(cfg: &RunConfig) -> Option<Self> {
        if !cfg.method.info().shares_base {
            return None;
        }
        let TrainConfig {
            epochs,
            base_epochs,
            batch_size,
            optimizer,
            lr,
            momentum,
            weight_decay,
            schedule,
            step_size,
            gamma,
            seed,
            // Evaluation does not train; calibration modules start at task 2.
            eval_batch_size: _,
            calibration_lr: _,
            calibration_optimizer: _,
            // Base jobs keep no in-task state (see README: Resume).
            checkpoint_every: _,
        } = cfg.train.clone();
        Some(Self {
            version: BASE_KEY_VERSION,
            benchmark: cfg.benchmark.clone(),
            model: cfg.model.clone(),
            base: cfg.base.clone(),
            train: BaseTraining {
                epochs: base_epochs.unwrap_or(epochs),
                batch_size,
                optimizer,
                lr,
                momentum,
                weight_decay,
                schedule,
                step_size,
                gamma,
                seed,
            },
        })
    }

    /// Hex sha256 of the spec's JSON.
    pub fn key(&self) -> String {
        let json = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        hex::encode(Sha256::digest(json.to_string().as_bytes()))
    }

    /// The config the base is trained from: the spec, with `method`'s strategy (for its
    /// checkpoint format) and defaults for everything task 1 does not read.
    pub fn run_config(&self, method: &MethodConfig) -> RunConfig {
        let t = &self.train;
        RunConfig {
            benchmark: self.benchmark.clone(),
            model: self.model.clone(),
            method: method.clone(),
            train: TrainConfig {
                epochs: t.epochs,
                base_epochs: None,
                batch_size: t.batch_size,
                optimizer: t.optimizer,
                lr: t.lr,
                momentum: t.momentum,
                weight_decay: t.weight_decay,
                schedule: t.schedule,
                step_size: t.step_size,
                gamma: t.gamma,
                seed: t.seed,
                ..TrainConfig::default()
            },
            base: self.base.clone(),
        }
    }
}

/// Content hash of everything that determines a run's base ([`BaseSpec`]), or `None` when
/// the method does not share bases. Where it runs is not part of it: a base is reused across
/// devices and thread counts.
pub fn base_key(cfg: &RunConfig) -> Option<String> {
    BaseSpec::of(cfg).map(|s| s.key())
}
