//! `finetune`: one shared trunk trained on every task in turn with plain cross-entropy, one
//! head per task. The heads of finished tasks are frozen while the trunk (weights, BN affine
//! parameters and BN statistics) keeps moving to the new tasks, so old tasks are forgotten:
//! the lower bound of the comparison. No options.

use super::trunk::Trunk;
use super::{MethodInfo, ParamCounts, Strategy, StrategyContext};
use crate::config::KeyError;
use crate::optim::ParamGroup;
use ccll_results::{Artifact, Flops};
use std::collections::BTreeMap;
use std::path::Path;
use tch::Tensor;

pub const INFO: MethodInfo = MethodInfo {
    name: "finetune",
    uses_alpha: false,
    uses_beta: false,
    options: &[],
    shares_base: true,
    about: "baseline: one trunk trained on each task in turn, a head per task (forgets)",
};

pub struct Finetune {
    trunk: Trunk,
}

impl Finetune {
    pub fn new(ctx: &StrategyContext) -> Result<Self, KeyError> {
        Ok(Self {
            trunk: Trunk::new(ctx, INFO.name, false)?,
        })
    }
}

impl Strategy for Finetune {
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

    fn end_task(&mut self, task: usize, _data: &crate::data::DeviceTask) -> anyhow::Result<()> {
        self.trunk.heads[task].vs.freeze();
        Ok(())
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
        for h in &mut self.trunk.heads {
            h.vs.freeze();
        }
        Ok(())
    }

    fn shares_base(&self) -> bool {
        INFO.shares_base
    }

    fn load_pretrained_base(&mut self, path: &Path, finetune: bool) -> anyhow::Result<()> {
        self.trunk.load_pretrained(path, finetune, INFO.name)
    }
}
