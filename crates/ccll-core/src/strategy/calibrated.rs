//! CCLL and its ablation variants: a base network trained on task 1 and then frozen for good
//! (weights, BN affine parameters and BN statistics), and for every later task a set of
//! calibration modules after every conv plus a head, trained with cross-entropy only.

use super::setup::Setup;
use super::{
    Method, MethodConfig, MethodEntry, MethodInfo, MethodOptions, Model, NoOptions, ParamCounts,
    StrategyContext,
};
use crate::accounting;
use crate::checkpoint::{artifact, load_store, save_store};
use crate::error::KeyError;
use crate::nn::{count_trainable, Backbone, CalibrationSpec, Fwd, MultiTask, TaskModules};
use crate::optim::{LrGroup, ParamGroup};
use ccll_results::{Artifact, Flops};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{nn, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// CM_t starts from CM_{t-1}.
    Ccll,
    /// CM_t starts fresh for every task.
    CcllSc,
    /// The base is never trained (random, frozen); every task learns fresh CM + head.
    CcllSfSc,
    /// Only the spatial module, continued from the previous task.
    ScmOnly,
    /// Only the channel-wise module, continued from the previous task.
    CcmOnly,
    /// No calibration: a frozen base and a new head per task.
    HeadOnly,
}

/// Channels per group of both calibration modules when a config leaves them out (the paper's
/// default, alpha = beta = 1).
pub const DEFAULT_GROUP_SIZE: i64 = 1;

fn default_group_size() -> i64 {
    DEFAULT_GROUP_SIZE
}

fn check_group_size(key: &str, v: i64) -> Result<(), KeyError> {
    if v < 1 {
        return Err(KeyError::new(
            format!("method.{key}"),
            format!("must be at least 1, got {v}"),
        ));
    }
    Ok(())
}

/// Options of the methods with both modules: channels per group of the spatial module's 3x3
/// convolution (`alpha`) and of the channel-wise module's 1x1 convolution (`beta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationSizes {
    #[serde(default = "default_group_size")]
    pub alpha: i64,
    #[serde(default = "default_group_size")]
    pub beta: i64,
    /// The rule that picks the task without the task id (`task_inference`); unset: the
    /// method's default (see `crate::task_inference::primary_rule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_inference: Option<crate::task_inference::Rule>,
}

impl Default for CalibrationSizes {
    fn default() -> Self {
        Self {
            alpha: DEFAULT_GROUP_SIZE,
            beta: DEFAULT_GROUP_SIZE,
            task_inference: None,
        }
    }
}

impl MethodOptions for CalibrationSizes {
    fn task_inference(&self) -> Option<crate::task_inference::Rule> {
        self.task_inference
    }
    fn check(&self) -> Result<(), KeyError> {
        check_group_size("alpha", self.alpha)?;
        check_group_size("beta", self.beta)
    }
    fn alpha(&self) -> Option<i64> {
        Some(self.alpha)
    }
    fn beta(&self) -> Option<i64> {
        Some(self.beta)
    }
}

/// Options of `scm_only`: `alpha` (its `beta` would size a module it does not have).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScmSize {
    #[serde(default = "default_group_size")]
    pub alpha: i64,
    /// The rule that picks the task without the task id (`task_inference`); unset: the
    /// method's default (see `crate::task_inference::primary_rule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_inference: Option<crate::task_inference::Rule>,
}

impl Default for ScmSize {
    fn default() -> Self {
        Self {
            alpha: DEFAULT_GROUP_SIZE,
            task_inference: None,
        }
    }
}

impl MethodOptions for ScmSize {
    fn task_inference(&self) -> Option<crate::task_inference::Rule> {
        self.task_inference
    }
    fn check(&self) -> Result<(), KeyError> {
        check_group_size("alpha", self.alpha)
    }
    fn alpha(&self) -> Option<i64> {
        Some(self.alpha)
    }
}

/// Options of `ccm_only`: `beta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CcmSize {
    #[serde(default = "default_group_size")]
    pub beta: i64,
    /// The rule that picks the task without the task id (`task_inference`); unset: the
    /// method's default (see `crate::task_inference::primary_rule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_inference: Option<crate::task_inference::Rule>,
}

impl Default for CcmSize {
    fn default() -> Self {
        Self {
            beta: DEFAULT_GROUP_SIZE,
            task_inference: None,
        }
    }
}

impl MethodOptions for CcmSize {
    fn task_inference(&self) -> Option<crate::task_inference::Rule> {
        self.task_inference
    }
    fn check(&self) -> Result<(), KeyError> {
        check_group_size("beta", self.beta)
    }
    fn beta(&self) -> Option<i64> {
        Some(self.beta)
    }
}

/// A row of the method table for `variant`.
const fn entry<O>(variant: Variant, shares_base: bool, about: &'static str) -> MethodEntry<O> {
    MethodEntry {
        info: MethodInfo {
            name: variant.name(),
            shares_base,
            about,
        },
        build: |_, ctx| Ok(Box::new(Calibrated::new(ctx, Variant::of(ctx.method))?)),
    }
}

pub static CCLL: MethodEntry<CalibrationSizes> = entry(
    Variant::Ccll,
    true,
    "calibration after every conv, each task continuing from the previous task's modules",
);
pub static CCLL_SC: MethodEntry<CalibrationSizes> = entry(
    Variant::CcllSc,
    true,
    "as ccll, calibration modules initialised afresh for every task",
);
pub static CCLL_SF_SC: MethodEntry<CalibrationSizes> = entry(
    Variant::CcllSfSc,
    false,
    "the base is never trained: random, frozen; every task learns fresh calibration and head",
);
pub static SCM_ONLY: MethodEntry<ScmSize> = entry(
    Variant::ScmOnly,
    true,
    "only the spatial calibration module",
);
pub static CCM_ONLY: MethodEntry<CcmSize> = entry(
    Variant::CcmOnly,
    true,
    "only the channel-wise calibration module",
);
pub static HEAD_ONLY: MethodEntry<NoOptions> = entry(
    Variant::HeadOnly,
    true,
    "frozen base, a new head per task, no calibration (feature extraction)",
);

impl Variant {
    /// The variant a calibrated method's config names (built only for those).
    fn of(method: &MethodConfig) -> Self {
        match method {
            MethodConfig::CcllSc(_) => Self::CcllSc,
            MethodConfig::CcllSfSc(_) => Self::CcllSfSc,
            MethodConfig::ScmOnly(_) => Self::ScmOnly,
            MethodConfig::CcmOnly(_) => Self::CcmOnly,
            MethodConfig::HeadOnly(_) => Self::HeadOnly,
            _ => Self::Ccll,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::Ccll => "ccll",
            Self::CcllSc => "ccll_sc",
            Self::CcllSfSc => "ccll_sf_sc",
            Self::ScmOnly => "scm_only",
            Self::CcmOnly => "ccm_only",
            Self::HeadOnly => "head_only",
        }
    }

    /// Calibration modules of a task start from the previous task's.
    fn continues(self) -> bool {
        matches!(self, Self::Ccll | Self::ScmOnly | Self::CcmOnly)
    }

    fn spec(self, alpha: i64, beta: i64) -> Option<CalibrationSpec> {
        let (scm, ccm) = match self {
            Self::Ccll | Self::CcllSc | Self::CcllSfSc => (true, true),
            Self::ScmOnly => (true, false),
            Self::CcmOnly => (false, true),
            Self::HeadOnly => return None,
        };
        Some(CalibrationSpec {
            alpha,
            beta,
            scm,
            ccm,
        })
    }
}

pub struct Calibrated {
    variant: Variant,
    spec: Option<CalibrationSpec>,
    setup: Setup,
    base_vs: nn::VarStore,
    backbone: Backbone,
    tasks: Vec<TaskModules>,
    /// The base came from pretraining on another dataset.
    base_pretrained: bool,
    /// ... and task 1 fine-tunes it.
    finetune: bool,
}

impl Calibrated {
    pub fn new(ctx: &StrategyContext, variant: Variant) -> Result<Self, KeyError> {
        let setup = Setup::new(ctx, variant.name())?;
        let base_vs = nn::VarStore::new(ctx.device);
        let backbone = Backbone::new(&base_vs.root(), setup.arch, ctx.image_shape[0], setup.width);
        let spec = variant.spec(
            ctx.method.alpha().unwrap_or(DEFAULT_GROUP_SIZE),
            ctx.method.beta().unwrap_or(DEFAULT_GROUP_SIZE),
        );
        if let Some(spec) = spec {
            spec.check(backbone.calibration_points())?;
        }
        let mut me = Self {
            variant,
            spec,
            setup,
            base_vs,
            backbone,
            tasks: Vec::new(),
            base_pretrained: false,
            finetune: false,
        };
        if variant == Variant::CcllSfSc {
            me.base_vs.freeze();
        }
        Ok(me)
    }

    /// Whether `task` trains the base: task 1, unless the base is random (sf_sc) or was
    /// pretrained elsewhere without fine-tuning.
    fn trains_base(&self, task: usize) -> bool {
        task == 0 && self.variant != Variant::CcllSfSc && (!self.base_pretrained || self.finetune)
    }

    /// Whether `task` gets calibration modules: every task that does not train the base.
    fn calibrates(&self, task: usize) -> bool {
        self.spec.is_some() && !self.trains_base(task)
    }

    fn add_task_modules(&mut self, task: usize, continue_previous: bool) -> anyhow::Result<()> {
        anyhow::ensure!(
            task == self.tasks.len(),
            "task {} started after {} tasks",
            task + 1,
            self.tasks.len()
        );
        let classes = *self
            .setup
            .task_classes
            .get(task)
            .ok_or_else(|| anyhow::anyhow!("task {} does not exist", task + 1))?;
        let spec = if self.calibrates(task) {
            self.spec
        } else {
            None
        };
        let modules = TaskModules::new(
            self.setup.device,
            self.backbone.calibration_points(),
            spec,
            self.backbone.feature_dim(),
            classes,
        )?;
        if continue_previous && spec.is_some() && self.variant.continues() {
            if let Some(prev) = self.tasks.iter().rev().find(|m| m.calibration.is_some()) {
                modules.copy_calibration_from(prev)?;
            }
        }
        self.tasks.push(modules);
        Ok(())
    }

    fn task_file(dir: &Path, task: usize) -> std::path::PathBuf {
        dir.join(format!("task{}.safetensors", task + 1))
    }

    /// Every task's features in one pass: the base before the first calibration point once,
    /// then every task's copy of the batch through the rest of the base together (see
    /// [`MultiTask::Stacked`]).
    fn stacked_features(&self, x: &Tensor, upto: usize) -> Vec<Tensor> {
        let tasks = &self.tasks[..=upto];
        if self.spec.is_none() {
            let features = self.backbone.features(x, &Fwd::eval(None));
            return tasks.iter().map(|_| features.shallow_clone()).collect();
        }
        let multi = MultiTask::Stacked {
            calibrations: tasks.iter().map(|m| m.calibration.as_ref()).collect(),
            batch: x.size()[0],
        };
        let fwd = Fwd {
            multi: Some(&multi),
            ..Fwd::eval(None)
        };
        let features = self.backbone.features(x, &fwd);
        if features.size()[0] == x.size()[0] {
            // Nothing was stacked: no task of `0..=upto` calibrates (task 1 of ccll alone).
            (0..tasks.len()).map(|_| features.shallow_clone()).collect()
        } else {
            features.chunk(tasks.len() as i64, 0)
        }
    }
}

/// The base's checkpoint file in a run or base directory.
pub fn base_file(dir: &Path) -> std::path::PathBuf {
    dir.join("base.safetensors")
}

impl Method for Calibrated {
    type Model = Self;

    fn name(&self) -> &str {
        self.variant.name()
    }

    fn model(&self) -> &Self {
        self
    }

    fn model_mut(&mut self) -> &mut Self {
        self
    }
}

impl Model for Calibrated {
    fn begin_task(&mut self, task: usize) -> anyhow::Result<()> {
        self.add_task_modules(task, true)?;
        if self.trains_base(task) {
            self.base_vs.unfreeze();
        } else {
            self.base_vs.freeze();
        }
        Ok(())
    }

    fn trainable(&self) -> Vec<ParamGroup> {
        let Some(task) = self.tasks.len().checked_sub(1) else {
            return Vec::new();
        };
        let m = &self.tasks[task];
        let mut groups = Vec::new();
        if self.trains_base(task) {
            groups.push(ParamGroup::new(
                self.base_vs.trainable_variables(),
                LrGroup::Base,
            ));
        }
        groups.push(ParamGroup::new(
            m.calibration_tensors(),
            LrGroup::Calibration,
        ));
        groups.push(ParamGroup::new(m.head_tensors(), LrGroup::Base));
        groups
    }

    fn forward(&self, x: &Tensor, task: usize, train: bool) -> Tensor {
        let m = &self.tasks[task];
        let current = task + 1 == self.tasks.len();
        let fwd = Fwd {
            base_train: train && current && self.trains_base(task),
            calibration: m.calibration.as_ref(),
            calibration_train: train,
            trace: None,
            multi: None,
            generated: None,
        };
        m.logits(&self.backbone.features(x, &fwd))
    }

    /// Every task's head on its features (see [`Model::all_task_features`]).
    fn all_task_logits(&self, x: &Tensor, upto: usize) -> Vec<Tensor> {
        self.tasks[..=upto]
            .iter()
            .zip(&self.stacked_features(x, upto))
            .map(|(m, f)| m.logits(f))
            .collect()
    }

    fn all_task_features(&self, x: &Tensor, upto: usize) -> Option<Vec<Tensor>> {
        Some(self.stacked_features(x, upto))
    }

    fn task_features(&self, x: &Tensor, task: usize) -> Option<Tensor> {
        let calibration = self.tasks[task].calibration.as_ref();
        Some(self.backbone.features(x, &Fwd::eval(calibration)))
    }

    fn mixed_logits(&self, x: &Tensor, weights: &Tensor) -> Option<Vec<Tensor>> {
        self.spec?;
        let tasks = &self.tasks[..weights.size()[1] as usize];
        let multi = MultiTask::Mixed {
            calibrations: tasks.iter().map(|m| m.calibration.as_ref()).collect(),
            weights: weights.shallow_clone(),
        };
        let fwd = Fwd {
            multi: Some(&multi),
            ..Fwd::eval(None)
        };
        let features = self.backbone.features(x, &fwd);
        Some(tasks.iter().map(|m| m.logits(&features)).collect())
    }

    fn end_task(&mut self, task: usize) -> anyhow::Result<()> {
        self.tasks[task].vs.freeze();
        // From here on nothing the finished tasks use is ever written again.
        self.base_vs.freeze();
        Ok(())
    }

    fn param_counts(&self) -> ParamCounts {
        ParamCounts {
            backbone: count_trainable(&self.base_vs),
            per_task: self
                .tasks
                .iter()
                .map(|m| (m.calibration_params(), m.head_params()))
                .collect(),
        }
    }

    fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out: BTreeMap<String, Tensor> = self
            .base_vs
            .variables()
            .into_iter()
            .map(|(n, t)| (format!("base.{n}"), t))
            .collect();
        for (i, m) in self.tasks.iter().enumerate() {
            out.extend(
                m.vs.variables()
                    .into_iter()
                    .map(|(n, t)| (format!("task{}.{n}", i + 1), t)),
            );
        }
        out
    }

    fn flops(&self) -> Flops {
        let s = &self.setup;
        let traces = s.trace(&self.backbone);
        Flops {
            base: s.base_flops_of(&traces, &self.backbone),
            calibration: self
                .spec
                .map(|s| accounting::calibration_flops(&traces, s))
                .unwrap_or(0),
        }
    }

    fn save(&self, dir: &Path, task: usize) -> anyhow::Result<Vec<Artifact>> {
        let mut out = Vec::new();
        if task == 0 {
            let path = base_file(dir);
            save_store(&self.base_vs, &path, &self.setup.meta_of("base"))?;
            out.push(artifact("base", &path)?);
        }
        let path = Self::task_file(dir, task);
        save_store(&self.tasks[task].vs, &path, &self.setup.meta("task", task))?;
        out.push(artifact(&format!("task{}", task + 1), &path)?);
        Ok(out)
    }

    fn load(&mut self, dir: &Path, tasks: usize) -> anyhow::Result<()> {
        self.tasks.clear();
        load_store(&self.base_vs, &base_file(dir))?;
        self.base_vs.freeze();
        for t in 0..tasks {
            self.add_task_modules(t, false)?;
            load_store(&self.tasks[t].vs, &Self::task_file(dir, t))?;
            self.tasks[t].vs.freeze();
        }
        Ok(())
    }

    fn load_pretrained_base(&mut self, path: &Path, finetune: bool) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.variant != Variant::CcllSfSc,
            "ccll_sf_sc never trains its base, so base.source must be task1"
        );
        load_store(&self.base_vs, path)?;
        self.base_pretrained = true;
        self.finetune = finetune;
        Ok(())
    }
}
