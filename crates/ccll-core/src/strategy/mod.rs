//! Lifelong-learning methods behind one small trait, in the manner of FACIL's approaches: the
//! training loop, evaluation, metrics and accounting are shared; a method says which modules
//! a task gets, what is trained, how logits are computed and what it does around a task.
//! Adding a method is one file here plus one line in [`build_strategy`].

mod calibrated;
pub mod ewc;
pub mod finetune;
pub mod joint;
pub mod lwf;
pub mod pnn;
pub mod pretrain;
pub mod separate;
mod trunk;

pub use calibrated::{base_file, Calibrated, Variant};

use crate::config::{KeyError, RunConfig};
use crate::data::DeviceTask;
use crate::optim::ParamGroup;
use ccll_results::{Artifact, Flops};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Device, Tensor};

/// What a strategy is built from.
pub struct StrategyContext<'a> {
    pub config: &'a RunConfig,
    pub device: Device,
    /// `[C, H, W]` of the images.
    pub image_shape: [i64; 3],
    /// Number of classes of every task, in order.
    pub task_classes: Vec<i64>,
}

/// Parameter counts from the real modules: the shared backbone, and per task seen so far the
/// task-specific parameters apart from the head, and the head.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamCounts {
    pub backbone: u64,
    pub per_task: Vec<(u64, u64)>,
}

/// The output of one training step.
pub struct StepOutput {
    pub loss: Tensor,
    pub logits: Tensor,
}

pub trait Strategy {
    /// The method name, as in `method.name`.
    fn name(&self) -> &str;

    /// Prepares the modules of `task` (0-based) before it is trained.
    fn begin_task(&mut self, task: usize) -> anyhow::Result<()>;

    /// What the optimiser updates while training the current task.
    fn trainable(&self) -> Vec<ParamGroup>;

    /// Logits of `task` for a normalised batch; `train` selects training-mode behaviour
    /// (batch statistics) for the modules that are being trained.
    fn forward(&self, x: &Tensor, task: usize, train: bool) -> Tensor;

    /// The loss of one training batch of `task`; plain cross-entropy unless the method adds a
    /// regulariser or distillation.
    fn training_step(&mut self, x: &Tensor, labels: &Tensor, task: usize) -> StepOutput {
        let logits = self.forward(x, task, true);
        StepOutput {
            loss: logits.cross_entropy_for_logits(labels),
            logits,
        }
    }

    /// Called after `task` is trained, with its data on the device (e.g. to estimate a
    /// Fisher matrix); freezes what must not change any more.
    fn end_task(&mut self, task: usize, data: &DeviceTask) -> anyhow::Result<()> {
        let _ = (task, data);
        Ok(())
    }

    /// Tasks whose training data is used while `task` is trained (joint training: all so far).
    fn training_tasks(&self, task: usize) -> Vec<usize> {
        vec![task]
    }

    /// Parameter counts of the modules built so far.
    fn param_counts(&self) -> ParamCounts;

    /// Every tensor of the model (parameters and BN statistics) by a qualified name such as
    /// `base.conv1.weight` or `task2.calibration.conv1.scm.weight`: what tests compare to show
    /// what a task changed.
    fn state(&self) -> BTreeMap<String, Tensor>;

    /// Forward FLOPs per image of the base network and of one task's extra modules.
    fn flops(&self) -> Flops;

    /// Writes what `task` added (and the base once, after the task that trained it) into
    /// `dir`; returns the files written.
    fn save(&self, dir: &Path, task: usize) -> anyhow::Result<Vec<Artifact>>;

    /// Restores the modules of tasks `0..tasks` from a directory written by `save`, so that
    /// evaluation or training of the following tasks can go on.
    fn load(&mut self, dir: &Path, tasks: usize) -> anyhow::Result<()>;

    /// Whether task 1 of this method trains exactly a base network and head 1 with plain
    /// cross-entropy, so that a shared base-training job can stand in for it.
    fn shares_base(&self) -> bool {
        false
    }

    /// Takes a base pretrained on another dataset (a `base.safetensors` written by the
    /// pretraining job). `finetune`: task 1 then trains base and head as usual.
    fn load_pretrained_base(&mut self, path: &Path, finetune: bool) -> anyhow::Result<()> {
        let _ = (path, finetune);
        anyhow::bail!(
            "method `{}` does not support base.source other than task1",
            self.name()
        )
    }
}

/// What the config layer needs to know about a method without building it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodInfo {
    pub name: &'static str,
    pub uses_alpha: bool,
    pub uses_beta: bool,
    /// Option keys of `method` besides `name`, `alpha` and `beta`.
    pub options: &'static [&'static str],
    /// Whether a shared base job can train its task 1 (see [`Strategy::shares_base`]).
    pub shares_base: bool,
    pub about: &'static str,
}

/// Every method, in the order `--help` and errors list them.
pub fn methods() -> Vec<MethodInfo> {
    let mut all = calibrated::METHODS.to_vec();
    all.extend([
        finetune::INFO,
        joint::INFO,
        separate::INFO,
        ewc::INFO,
        lwf::INFO,
        pnn::INFO,
    ]);
    all
}

pub fn method_info(name: &str) -> Option<MethodInfo> {
    methods().into_iter().find(|m| m.name == name)
}

/// Builds the strategy a run config names.
pub fn build_strategy(ctx: &StrategyContext) -> Result<Box<dyn Strategy>, KeyError> {
    check_method(ctx.config)?;
    let name = ctx.config.method.name.as_str();
    if let Some(variant) = Variant::parse(name) {
        return Ok(Box::new(Calibrated::new(ctx, variant)?));
    }
    Ok(match name {
        "finetune" => Box::new(finetune::Finetune::new(ctx)?),
        "joint" => Box::new(joint::Joint::new(ctx)?),
        "separate" => Box::new(separate::Separate::new(ctx)?),
        "ewc" => Box::new(ewc::Ewc::new(ctx)?),
        "lwf" => Box::new(lwf::Lwf::new(ctx)?),
        "pnn" => Box::new(pnn::Pnn::new(ctx)?),
        _ => return Err(unknown_method(name)),
    })
}

/// Checks the `method` section without building anything: a known name, and only the option
/// keys that method accepts.
pub fn check_method(cfg: &RunConfig) -> Result<(), KeyError> {
    let m = &cfg.method;
    let info = method_info(&m.name).ok_or_else(|| unknown_method(&m.name))?;
    for key in m.options.keys() {
        if !info.options.contains(&key.as_str()) {
            let hint = if info.options.is_empty() {
                "it takes no options besides alpha and beta".to_string()
            } else {
                format!("its options are: {}", info.options.join(", "))
            };
            return Err(KeyError::new(
                format!("method.{key}"),
                format!("unknown option for method `{}`; {hint}", m.name),
            ));
        }
    }
    match info.name {
        "ewc" => ewc::EwcOptions::from_config(m).map(|_| ())?,
        "lwf" => lwf::LwfOptions::from_config(m).map(|_| ())?,
        _ => {}
    }
    Ok(())
}

fn unknown_method(name: &str) -> KeyError {
    let names: Vec<&str> = methods().iter().map(|m| m.name).collect();
    KeyError::new(
        "method.name",
        format!("unknown method `{name}`; known: {}", names.join(", ")),
    )
}

/// Reads a numeric option of `method`, or its default; a non-number is an error naming the key.
pub fn option_f64(
    method: &crate::config::MethodConfig,
    key: &str,
    default: f64,
) -> Result<f64, KeyError> {
    match method.options.get(key) {
        None => Ok(default),
        Some(v) => v.as_f64().ok_or_else(|| {
            KeyError::new(
                format!("method.{key}"),
                format!("must be a number, got {v:?}"),
            )
        }),
    }
}

/// Reads a boolean option of `method`, or its default.
pub fn option_bool(
    method: &crate::config::MethodConfig,
    key: &str,
    default: bool,
) -> Result<bool, KeyError> {
    match method.options.get(key) {
        None => Ok(default),
        Some(v) => v.as_bool().ok_or_else(|| {
            KeyError::new(
                format!("method.{key}"),
                format!("must be true or false, got {v:?}"),
            )
        }),
    }
}
