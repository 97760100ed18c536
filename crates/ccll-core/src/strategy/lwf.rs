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

use super::trunk::{kl_at_temperature, FrozenModel, Trunk};
use super::{Method, MethodEntry, MethodInfo, MethodOptions, Model, StepOutput, StrategyContext};
use crate::data::DeviceTask;
use crate::error::KeyError;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::Tensor;

pub static ENTRY: MethodEntry<LwfOptions> = MethodEntry {
    info: MethodInfo {
        name: "lwf",
        shares_base: true,
        about: "baseline: finetune with distillation of the old heads' outputs (Li & Hoiem)",
    },
    build: |o, ctx| Ok(Box::new(Lwf::new(o, ctx)?)),
};

/// Options of `lwf` as written; the accessors give the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LwfOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// The teacher's BN layers normalise each batch with its own statistics, as the student's
    /// do (true), or with the running statistics of the old tasks (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_batch_stats: Option<bool>,
    /// The rule that picks the task without the task id (`task_inference`); unset: the
    /// method's default (see `crate::task_inference::primary_rule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_inference: Option<crate::task_inference::Rule>,
}

impl LwfOptions {
    /// The paper's T.
    pub fn temperature(&self) -> f64 {
        self.temperature.unwrap_or(2.0)
    }

    /// The paper's lambda_o.
    pub fn weight(&self) -> f64 {
        self.weight.unwrap_or(1.0)
    }

    pub fn teacher_batch_stats(&self) -> bool {
        self.teacher_batch_stats.unwrap_or(true)
    }
}

impl MethodOptions for LwfOptions {
    fn task_inference(&self) -> Option<crate::task_inference::Rule> {
        self.task_inference
    }
    fn check(&self) -> Result<(), KeyError> {
        let t = self.temperature();
        if !(t.is_finite() && t > 0.0) {
            return Err(KeyError::new(
                "method.temperature",
                format!("must be a positive number, got {t}"),
            ));
        }
        let w = self.weight();
        if !(w.is_finite() && w >= 0.0) {
            return Err(KeyError::new(
                "method.weight",
                format!("must be a number >= 0, got {w}"),
            ));
        }
        Ok(())
    }
}


pub struct Lwf {
    trunk: Trunk,
    opts: LwfOptions,
    /// The model after the previous task, frozen.
    teacher: Option<FrozenModel>,
}

impl Lwf {
    pub fn new(opts: &LwfOptions, ctx: &StrategyContext) -> Result<Self, KeyError> {
        Ok(Self {
            trunk: Trunk::new(ctx, ENTRY.info.name, true)?,
            opts: *opts,
            teacher: None,
        })
    }

    /// Freezes a copy of the model as it is now. Called after a task (and on load), before
    /// the next task seeds libtorch's generator, so building it does not change the next
    /// task's random draws.
    fn make_teacher(&mut self) -> anyhow::Result<()> {
        self.teacher = Some(self.trunk.frozen_copy()?);
        Ok(())
    }

    /// `sum_j T^2 KL(teacher_j || student_j)` over the old heads, for student features `feats`.
    fn distillation(&self, x: &Tensor, feats: &Tensor, task: usize) -> Option<Tensor> {
        let teacher = self.teacher.as_ref()?;
        let old = task.min(teacher.heads.len());
        if old == 0 {
            return None;
        }
        let t = self.opts.temperature();
        let t_feats = tch::no_grad(|| teacher.net.features(x, self.opts.teacher_batch_stats()));
        let mut sum: Option<Tensor> = None;
        for j in 0..old {
            let target = tch::no_grad(|| teacher.heads[j].logits(&t_feats));
            let kl = kl_at_temperature(&target, &self.trunk.heads[j].logits(feats), t);
            sum = Some(match sum {
                Some(s) => s + kl,
                None => kl,
            });
        }
        sum.map(|s| s * (t * t))
    }
}

impl Method for Lwf {
    type Model = Trunk;

    fn name(&self) -> &str {
        ENTRY.info.name
    }

    fn model(&self) -> &Trunk {
        &self.trunk
    }

    fn model_mut(&mut self) -> &mut Trunk {
        &mut self.trunk
    }

    /// Cross-entropy of the new head plus the weighted distillation of the old heads.
    fn training_step(&mut self, x: &Tensor, labels: &Tensor, task: usize) -> StepOutput {
        let feats = self.trunk.features(x, true);
        let logits = self.trunk.heads[task].logits(&feats);
        let ce = logits.cross_entropy_for_logits(labels);
        let weight = self.opts.weight();
        let distilled = if weight > 0.0 {
            self.distillation(x, &feats, task)
        } else {
            None
        };
        let loss = match distilled {
            Some(d) => ce + d * weight,
            None => ce,
        };
        StepOutput { loss, logits }
    }

    fn after_task(&mut self, task: usize, _data: &DeviceTask) -> anyhow::Result<()> {
        self.trunk.end_task(task)?;
        self.make_teacher()
    }

    /// The teacher is rebuilt from the loaded model, not saved.
    fn load_own_state(&mut self, _dir: &Path, _tasks: usize) -> anyhow::Result<()> {
        self.make_teacher()
    }
}
