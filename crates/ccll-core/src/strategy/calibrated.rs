//! CCLL and its ablation variants: a base network trained on task 1 and then frozen for good
//! (weights, BN affine parameters and BN statistics), and for every later task a set of
//! calibration modules after every conv plus a head, trained with cross-entropy only.

use super::{MethodInfo, ParamCounts, StrategyContext};
use crate::accounting;
use crate::checkpoint::{artifact, load_store, save_store};
use crate::config::KeyError;
use crate::nn::{count_trainable, Arch, Backbone, CalibrationSpec, Fwd, TaskModules};
use crate::optim::{LrGroup, ParamGroup};
use ccll_results::{Artifact, Flops};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{nn, Device, Tensor};

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

pub(super) const METHODS: [MethodInfo; 6] = [
    info(
        "ccll",
        true,
        true,
        true,
        "calibration after every conv, each task continuing from the previous task's modules",
    ),
    info(
        "ccll_sc",
        true,
        true,
        true,
        "as ccll, calibration modules initialised afresh for every task",
    ),
    info(
        "ccll_sf_sc",
        true,
        true,
        false,
        "the base is never trained: random, frozen; every task learns fresh calibration and head",
    ),
    info(
        "scm_only",
        true,
        false,
        true,
        "only the spatial calibration module",
    ),
    info(
        "ccm_only",
        false,
        true,
        true,
        "only the channel-wise calibration module",
    ),
    info(
        "head_only",
        false,
        false,
        true,
        "frozen base, a new head per task, no calibration (feature extraction)",
    ),
];

const fn info(
    name: &'static str,
    uses_alpha: bool,
    uses_beta: bool,
    shares_base: bool,
    about: &'static str,
) -> MethodInfo {
    MethodInfo {
        name,
        uses_alpha,
        uses_beta,
        options: &[],
        shares_base,
        about,
    }
}

impl Variant {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "ccll" => Self::Ccll,
            "ccll_sc" => Self::CcllSc,
            "ccll_sf_sc" => Self::CcllSfSc,
            "scm_only" => Self::ScmOnly,
            "ccm_only" => Self::CcmOnly,
            "head_only" => Self::HeadOnly,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
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
    device: Device,
    image_shape: [i64; 3],
    task_classes: Vec<i64>,
    base_vs: nn::VarStore,
    backbone: Backbone,
    tasks: Vec<TaskModules>,
    /// The base came from pretraining on another dataset.
    base_pretrained: bool,
    /// ... and task 1 fine-tunes it.
    finetune: bool,
    metadata: BTreeMap<String, String>,
}

impl Calibrated {
    pub fn new(ctx: &StrategyContext, variant: Variant) -> Result<Self, KeyError> {
        let cfg = ctx.config;
        let arch = Arch::parse(&cfg.model.arch).map_err(|m| KeyError::new("model.arch", m))?;
        let width = cfg.model.width.unwrap_or(arch.default_width());
        let base_vs = nn::VarStore::new(ctx.device);
        let backbone = Backbone::new(&base_vs.root(), arch, ctx.image_shape[0], width);
        let spec = variant.spec(cfg.method.alpha.unwrap_or(1), cfg.method.beta.unwrap_or(1));
        if let Some(spec) = spec {
            spec.check(backbone.calibration_points())?;
        }
        let mut metadata = BTreeMap::from([
            ("format".to_string(), "ccll-checkpoint-v1".to_string()),
            ("method".to_string(), variant.name().to_string()),
            ("arch".to_string(), cfg.model.arch.clone()),
            ("width".to_string(), width.to_string()),
            ("image_shape".to_string(), format!("{:?}", ctx.image_shape)),
        ]);
        if let Some(s) = spec {
            metadata.insert("alpha".into(), s.alpha.to_string());
            metadata.insert("beta".into(), s.beta.to_string());
        }
        let mut me = Self {
            variant,
            spec,
            device: ctx.device,
            image_shape: ctx.image_shape,
            task_classes: ctx.task_classes.clone(),
            base_vs,
            backbone,
            tasks: Vec::new(),
            base_pretrained: false,
            finetune: false,
            metadata,
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
            .task_classes
            .get(task)
            .ok_or_else(|| anyhow::anyhow!("task {} does not exist", task + 1))?;
        let spec = if self.calibrates(task) {
            self.spec
        } else {
            None
        };
        let modules = TaskModules::new(
            self.device,
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
}

/// The base's checkpoint file in a run or base directory.
pub fn base_file(dir: &Path) -> std::path::PathBuf {
    dir.join("base.safetensors")
}

impl super::Strategy for Calibrated {
    fn name(&self) -> &str {
        self.variant.name()
    }

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
        };
        m.logits(&self.backbone.features(x, &fwd))
    }

    fn end_task(&mut self, task: usize, _data: &crate::data::DeviceTask) -> anyhow::Result<()> {
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
        let classes = self.task_classes.first().copied().unwrap_or(1);
        let traces = accounting::trace_convs(&self.backbone, self.image_shape, self.device);
        Flops {
            base: accounting::base_flops(&traces, self.backbone.feature_dim(), classes),
            calibration: self
                .spec
                .map(|s| accounting::calibration_flops(&traces, s))
                .unwrap_or(0),
        }
    }

    fn save(&self, dir: &Path, task: usize) -> anyhow::Result<Vec<Artifact>> {
        let mut out = Vec::new();
        let mut meta = self.metadata.clone();
        if task == 0 {
            meta.insert("content".into(), "base".into());
            let path = base_file(dir);
            save_store(&self.base_vs, &path, &meta)?;
            out.push(artifact("base", &path)?);
        }
        meta.insert("content".into(), "task".into());
        meta.insert("task".into(), (task + 1).to_string());
        meta.insert("classes".into(), self.task_classes[task].to_string());
        let path = Self::task_file(dir, task);
        save_store(&self.tasks[task].vs, &path, &meta)?;
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

    fn shares_base(&self) -> bool {
        self.variant != Variant::CcllSfSc
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
