//! `joint`: the upper bound. While task t is trained, the trunk and the heads of tasks 1..t
//! are trained on the data of all tasks so far (the loop interleaves task-homogeneous batches
//! in a random order; a batch of task j goes through head j), continuing from the model after
//! task t-1. This breaks the lifelong setting on purpose: old data is kept. Row t of the
//! accuracy matrix is the joint model after the data of tasks 1..t, so that its tables line up
//! with the other methods'. Epochs count passes over all the data so far, so task t costs
//! about t times task 1. No options.

use super::trunk::Trunk;
use super::{MethodInfo, ParamCounts, Strategy, StrategyContext};
use crate::config::KeyError;
use crate::optim::ParamGroup;
use ccll_results::{Artifact, Flops};
use std::collections::BTreeMap;
use std::path::Path;
use tch::Tensor;

pub const INFO: MethodInfo = MethodInfo {
    name: "joint",
    uses_alpha: false,
    uses_beta: false,
    options: &[],
    shares_base: true,
    about: "baseline (upper bound): trunk and all heads trained on the data of every task so far",
};

pub struct Joint {
    trunk: Trunk,
}

impl Joint {
    pub fn new(ctx: &StrategyContext) -> Result<Self, KeyError> {
        Ok(Self {
            trunk: Trunk::new(ctx, INFO.name, true)?,
        })
    }
}

impl Strategy for Joint {
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

    fn training_tasks(&self, task: usize) -> Vec<usize> {
        (0..=task).collect()
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
        self.trunk.load(dir, tasks)
    }

    fn shares_base(&self) -> bool {
        INFO.shares_base
    }

    fn load_pretrained_base(&mut self, path: &Path, finetune: bool) -> anyhow::Result<()> {
        self.trunk.load_pretrained(path, finetune, INFO.name)
    }
}
