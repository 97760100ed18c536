//! Pretraining of a base on another dataset (the base-dependence study): the backbone and one
//! head per task of the source benchmark, trained jointly with cross-entropy. Only the
//! backbone is kept. Not a method of its own: the run uses it before task 1.

use super::setup::Setup;
use super::{Method, Model, ParamCounts};
use crate::checkpoint::{artifact, save_store};
use crate::nn::{count_trainable, Backbone, Fwd, TaskModules};
use crate::optim::{LrGroup, ParamGroup};
use ccll_results::{Artifact, Flops};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{nn, Tensor};

pub struct Pretrainer {
    setup: Setup,
    base_vs: nn::VarStore,
    backbone: Backbone,
    heads: Vec<TaskModules>,
    source: String,
}

impl Pretrainer {
    /// A fresh backbone for `setup` (see [`Setup::pretraining`]), pretrained on the benchmark
    /// named `source`.
    pub fn new(setup: Setup, source: &str) -> Self {
        let base_vs = nn::VarStore::new(setup.device);
        let backbone = Backbone::new(
            &base_vs.root(),
            setup.arch,
            setup.image_shape[0],
            setup.width,
        );
        Self {
            setup,
            base_vs,
            backbone,
            heads: Vec::new(),
            source: source.to_string(),
        }
    }
}

impl Method for Pretrainer {
    type Model = Self;

    fn name(&self) -> &str {
        "pretrain"
    }

    fn model(&self) -> &Self {
        self
    }

    fn model_mut(&mut self) -> &mut Self {
        self
    }

    fn training_tasks(&self, _task: usize) -> Vec<usize> {
        (0..self.setup.task_classes.len()).collect()
    }
}

impl Model for Pretrainer {
    fn begin_task(&mut self, _task: usize) -> anyhow::Result<()> {
        let dim = self.backbone.feature_dim();
        self.heads = self
            .setup
            .task_classes
            .iter()
            .map(|&k| TaskModules::new(self.setup.device, &[], None, dim, k))
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    fn end_task(&mut self, _task: usize) -> anyhow::Result<()> {
        Ok(())
    }

    fn trainable(&self) -> Vec<ParamGroup> {
        let mut tensors = self.base_vs.trainable_variables();
        tensors.extend(self.heads.iter().flat_map(|h| h.head_tensors()));
        vec![ParamGroup::new(tensors, LrGroup::Base)]
    }

    fn forward(&self, x: &Tensor, task: usize, train: bool) -> Tensor {
        let fwd = Fwd {
            base_train: train,
            ..Fwd::eval(None)
        };
        self.heads[task].logits(&self.backbone.features(x, &fwd))
    }

    fn param_counts(&self) -> ParamCounts {
        ParamCounts {
            backbone: count_trainable(&self.base_vs),
            per_task: Vec::new(),
        }
    }

    fn state(&self) -> BTreeMap<String, Tensor> {
        self.base_vs.variables().into_iter().collect()
    }

    fn flops(&self) -> Flops {
        Flops {
            base: 0,
            calibration: 0,
        }
    }

    /// Writes the pretrained backbone as `base.safetensors` (heads are dropped).
    fn save(&self, dir: &Path, _task: usize) -> anyhow::Result<Vec<Artifact>> {
        let mut meta = self.setup.meta_of("base");
        meta.insert("pretrained_on".to_string(), self.source.clone());
        let path = dir.join("base.safetensors");
        save_store(&self.base_vs, &path, &meta)?;
        Ok(vec![artifact("base", &path)?])
    }

    fn load(&mut self, _dir: &Path, _tasks: usize) -> anyhow::Result<()> {
        anyhow::bail!("a pretraining job is not resumed")
    }
}
