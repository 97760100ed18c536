//! `lwf`: Learning without Forgetting (Li & Hoiem, ECCV 2016 / TPAMI 2017). One trunk and a
//! head per task, as `finetune`; while task t >= 2 is trained, a frozen copy of the model as it
//! was after task t-1 (the teacher) sees the same new-task batches, and the current model's old
//! heads are held to the teacher's outputs by knowledge distillation:
//!
//! `loss = CE(head_t) + weight * sum_{j < t} T^2 KL(softmax(teacher_j / T) || softmax(head_j / T))`
//!
//! (each old head has its own softmax, as in the paper's multi-head setting; the KL is averaged
//! over the batch and scaled by `T^2` so that its gradients keep their size across
//! temperatures, as in Hinton et al.). The paper writes the term as a cross-entropy with the
//! teacher's softened outputs as targets: that differs from the KL by the teacher's entropy, a
//! constant, so the gradients are the same.
//!
//! As in the paper, the old heads are trained together with the trunk and the new head (their
//! parameters are "theta_o", updated jointly). The paper's warm-up stage (training the new head
//! alone first) is not done. No old data is kept: the teacher only sees the new task's images.
//!
//! Batch norm (the paper's networks had none): by default the teacher's BN layers normalise
//! each batch with the batch's own statistics, exactly as the student's do while it trains, so
//! that the student is held to what the old model computes under the same normalisation. With
//! `teacher_batch_stats: false` the teacher uses the running statistics of the old tasks (its
//! test-time behaviour, as FACIL does); on new-task images whose statistics differ from the
//! old tasks' that target does not describe the old function: on a synthetic sequence (three
//! 5-way tasks, 6 epochs each) LwF then forgot 33.1 points on average (finetune 27.8), against
//! 6.9 with batch statistics.
//!
//! Options: `temperature` (default 2, the paper's T), `weight` (default 1, the paper's
//! lambda_o), `teacher_batch_stats` (default true).
//!
//! Checkpoints: as `finetune`, plus `heads_after_task{t}.safetensors` (the old heads after task
//! t). The teacher is rebuilt from the model after a task (also on load), so it is not saved.

use super::trunk::{Network, Trunk};
use super::{
    option_bool, option_f64, MethodInfo, ParamCounts, StepOutput, Strategy, StrategyContext,
};
use crate::config::KeyError;
use crate::nn::TaskModules;
use crate::optim::ParamGroup;
use ccll_results::{Artifact, Flops};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Kind, Tensor};

pub const INFO: MethodInfo = MethodInfo {
    name: "lwf",
    uses_alpha: false,
    uses_beta: false,
    options: &["temperature", "weight", "teacher_batch_stats"],
    shares_base: true,
    about: "baseline: finetune with distillation of the old heads' outputs (Li & Hoiem)",
};

/// Options of `lwf`, with their defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LwfOptions {
    pub temperature: f64,
    pub weight: f64,
    /// The teacher's BN layers normalise each batch with its own statistics, as the student's
    /// do (true), or with the running statistics of the old tasks (false).
    pub teacher_batch_stats: bool,
}

impl Default for LwfOptions {
    fn default() -> Self {
        Self {
            temperature: 2.0,
            weight: 1.0,
            teacher_batch_stats: true,
        }
    }
}

impl LwfOptions {
    pub fn from_config(m: &crate::config::MethodConfig) -> Result<Self, KeyError> {
        let d = Self::default();
        let o = Self {
            temperature: option_f64(m, "temperature", d.temperature)?,
            weight: option_f64(m, "weight", d.weight)?,
            teacher_batch_stats: option_bool(m, "teacher_batch_stats", d.teacher_batch_stats)?,
        };
        if !(o.temperature.is_finite() && o.temperature > 0.0) {
            return Err(KeyError::new(
                "method.temperature",
                format!("must be a positive number, got {}", o.temperature),
            ));
        }
        if !(o.weight.is_finite() && o.weight >= 0.0) {
            return Err(KeyError::new(
                "method.weight",
                format!("must be a number >= 0, got {}", o.weight),
            ));
        }
        Ok(o)
    }
}

/// The frozen model after the previous task.
struct Teacher {
    net: Network,
    heads: Vec<TaskModules>,
}

pub struct Lwf {
    trunk: Trunk,
    opts: LwfOptions,
    teacher: Option<Teacher>,
}

impl Lwf {
    pub fn new(ctx: &StrategyContext) -> Result<Self, KeyError> {
        Ok(Self {
            trunk: Trunk::new(ctx, INFO.name, true)?,
            opts: LwfOptions::from_config(&ctx.config.method)?,
            teacher: None,
        })
    }

    /// Freezes a copy of the model as it is now. Called after a task (and on load), before
    /// the next task seeds libtorch's generator, so building it does not change the next
    /// task's random draws.
    fn make_teacher(&mut self) -> anyhow::Result<()> {
        let setup = &self.trunk.setup;
        let net = self.trunk.net.frozen_copy(setup)?;
        let dim = net.backbone.feature_dim();
        let heads = self
            .trunk
            .heads
            .iter()
            .enumerate()
            .map(|(j, h)| {
                let mut copy = setup.head(j, dim)?;
                copy.vs.copy(&h.vs)?;
                copy.vs.freeze();
                Ok(copy)
            })
            .collect::<anyhow::Result<_>>()?;
        self.teacher = Some(Teacher { net, heads });
        Ok(())
    }

    /// `sum_j T^2 KL(teacher_j || student_j)` over the old heads, for student features `feats`.
    fn distillation(&self, x: &Tensor, feats: &Tensor, task: usize) -> Option<Tensor> {
        let teacher = self.teacher.as_ref()?;
        let old = task.min(teacher.heads.len());
        if old == 0 {
            return None;
        }
        let t = self.opts.temperature;
        let t_feats = tch::no_grad(|| teacher.net.features(x, self.opts.teacher_batch_stats));
        let mut sum: Option<Tensor> = None;
        for j in 0..old {
            let target = tch::no_grad(|| {
                (teacher.heads[j].logits(&t_feats) / t).log_softmax(-1, Kind::Float)
            });
            let student = (self.trunk.heads[j].logits(feats) / t).log_softmax(-1, Kind::Float);
            let kl = (target.exp() * (&target - student))
                .sum_dim_intlist(-1, false, Kind::Float)
                .mean(Kind::Float);
            sum = Some(match sum {
                Some(s) => s + kl,
                None => kl,
            });
        }
        sum.map(|s| s * (t * t))
    }
}

impl Strategy for Lwf {
    fn name(&self) -> &str {
        INFO.name
    }

    fn begin_task(&mut self, task: usize) -> anyhow::Result<()> {
        self.trunk.begin_task(task)
    }

    fn trainable(&self) -> Vec<ParamGroup> {
        self.trunk.trainable()
    }

    fn forward(&self, x: &Tensor, task: usize, train: bool) -> Tensor {
        self.trunk.logits(x, task, train)
    }

    /// Cross-entropy of the new head plus the weighted distillation of the old heads.
    fn training_step(&mut self, x: &Tensor, labels: &Tensor, task: usize) -> StepOutput {
        let feats = self.trunk.features(x, true);
        let logits = self.trunk.heads[task].logits(&feats);
        let ce = logits.cross_entropy_for_logits(labels);
        let distilled = if self.opts.weight > 0.0 {
            self.distillation(x, &feats, task)
        } else {
            None
        };
        let loss = match distilled {
            Some(d) => ce + d * self.opts.weight,
            None => ce,
        };
        StepOutput { loss, logits }
    }

    fn end_task(&mut self, _task: usize, _data: &crate::data::DeviceTask) -> anyhow::Result<()> {
        self.make_teacher()
    }

    fn param_counts(&self) -> ParamCounts {
        self.trunk.param_counts()
    }

    fn state(&self) -> BTreeMap<String, Tensor> {
        self.trunk.state()
    }

    fn flops(&self) -> Flops {
        self.trunk.flops()
    }

    fn save(&self, dir: &Path, task: usize) -> anyhow::Result<Vec<Artifact>> {
        self.trunk.save(dir, task)
    }

    fn load(&mut self, dir: &Path, tasks: usize) -> anyhow::Result<()> {
        self.trunk.load(dir, tasks)?;
        self.make_teacher()
    }

    fn shares_base(&self) -> bool {
        INFO.shares_base
    }

    fn load_pretrained_base(&mut self, path: &Path, finetune: bool) -> anyhow::Result<()> {
        self.trunk.load_pretrained(path, finetune, INFO.name)
    }
}
