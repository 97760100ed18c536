//! `separate`: an independent network and head per task, each trained only on its own task
//! and frozen afterwards; task j is always predicted by network j. No forgetting and no
//! transfer; the parameters grow by a whole network per task. No options.
//!
//! Accounting: the backbone is network 1; every later task adds a whole network (its
//! "task-specific parameters") and a head. Inference of a task runs one network, so the extra
//! FLOPs per task are 0.
//!
//! Checkpoints: network 1 is `base.safetensors` (the calibrated methods' base format, so a
//! shared base job can train task 1), network t >= 2 is `network{t}.safetensors`, head t is
//! `task{t}.safetensors`.

use super::setup::Setup;
use super::trunk::{head_file, prefixed, save_network_and_head, Network};
use super::{base_file, Method, MethodEntry, MethodInfo, Model, NoOptions, ParamCounts, StrategyContext};
use crate::checkpoint::load_store;
use crate::error::KeyError;
use crate::nn::TaskModules;
use crate::optim::{LrGroup, ParamGroup};
use ccll_results::{Artifact, Flops};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

pub static ENTRY: MethodEntry<NoOptions> = MethodEntry {
    info: MethodInfo {
        name: "separate",
        shares_base: true,
        about: "baseline: an independent network and head per task",
    },
    build: |_, ctx| Ok(Box::new(Separate::new(ctx)?)),
};

pub struct Separate {
    setup: Setup,
    /// Network of task 1 is built with the strategy (as the calibrated methods' base is);
    /// network t when task t begins.
    nets: Vec<Network>,
    heads: Vec<TaskModules>,
}

impl Separate {
    pub fn new(ctx: &StrategyContext) -> Result<Self, KeyError> {
        let setup = Setup::new(ctx, ENTRY.info.name)?;
        let nets = vec![setup.network()];
        Ok(Self {
            setup,
            nets,
            heads: Vec::new(),
        })
    }

    fn add_task(&mut self, task: usize) -> anyhow::Result<()> {
        anyhow::ensure!(
            task == self.heads.len(),
            "task {} started after {} tasks",
            task + 1,
            self.heads.len()
        );
        if task > 0 {
            self.nets.push(self.setup.network());
        }
        let head = self
            .setup
            .head(task, self.nets[task].backbone.feature_dim())?;
        self.heads.push(head);
        Ok(())
    }

    fn network_file(dir: &Path, task: usize) -> PathBuf {
        if task == 0 {
            base_file(dir)
        } else {
            dir.join(format!("network{}.safetensors", task + 1))
        }
    }
}

impl Method for Separate {
    type Model = Self;

    fn name(&self) -> &str {
        ENTRY.info.name
    }

    fn model(&self) -> &Self {
        self
    }

    fn model_mut(&mut self) -> &mut Self {
        self
    }
}

impl Model for Separate {
    fn begin_task(&mut self, task: usize) -> anyhow::Result<()> {
        self.add_task(task)
    }

    fn trainable(&self) -> Vec<ParamGroup> {
        let Some(task) = self.heads.len().checked_sub(1) else {
            return Vec::new();
        };
        let mut tensors = self.nets[task].vs.trainable_variables();
        tensors.extend(self.heads[task].head_tensors());
        vec![ParamGroup::new(tensors, LrGroup::Base)]
    }

    fn forward(&self, x: &Tensor, task: usize, train: bool) -> Tensor {
        let current = task + 1 == self.heads.len();
        self.heads[task].logits(&self.nets[task].features(x, train && current))
    }

    fn all_task_features(&self, x: &Tensor, upto: usize) -> Option<Vec<Tensor>> {
        Some(self.nets[..=upto].iter().map(|n| n.features(x, false)).collect())
    }

    fn task_features(&self, x: &Tensor, task: usize) -> Option<Tensor> {
        Some(self.nets[task].features(x, false))
    }

    fn end_task(&mut self, task: usize) -> anyhow::Result<()> {
        self.nets[task].vs.freeze();
        self.heads[task].vs.freeze();
        Ok(())
    }

    fn param_counts(&self) -> ParamCounts {
        ParamCounts {
            backbone: self.nets[0].params(),
            per_task: self
                .heads
                .iter()
                .enumerate()
                .map(|(t, h)| {
                    let own = if t == 0 { 0 } else { self.nets[t].params() };
                    (own, h.head_params())
                })
                .collect(),
        }
    }

    /// `network{t}.NAME` and `task{t}.head.*`.
    fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for (i, n) in self.nets.iter().enumerate() {
            out.extend(prefixed(&n.vs, &format!("network{}", i + 1)));
        }
        for (i, h) in self.heads.iter().enumerate() {
            out.extend(prefixed(&h.vs, &format!("task{}", i + 1)));
        }
        out
    }

    fn flops(&self) -> Flops {
        Flops {
            base: self.setup.base_flops(&self.nets[0].backbone),
            calibration: 0,
        }
    }

    fn save(&self, dir: &Path, task: usize) -> anyhow::Result<Vec<Artifact>> {
        anyhow::ensure!(task < self.heads.len(), "task {} was not trained", task + 1);
        save_network_and_head(
            &self.setup,
            dir,
            task,
            "network",
            (&self.nets[task].vs, &Self::network_file(dir, task)),
            &self.heads[task].vs,
        )
    }

    fn load(&mut self, dir: &Path, tasks: usize) -> anyhow::Result<()> {
        self.nets.truncate(1);
        self.heads.clear();
        for t in 0..tasks {
            self.add_task(t)?;
            load_store(&self.nets[t].vs, &Self::network_file(dir, t))?;
            load_store(&self.heads[t].vs, &head_file(dir, t))?;
            self.nets[t].vs.freeze();
            self.heads[t].vs.freeze();
        }
        Ok(())
    }
}
