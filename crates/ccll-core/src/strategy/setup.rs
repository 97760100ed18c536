//! What every method takes from the run config and the benchmark (architecture, width,
//! device, shapes) and the one builder of checkpoint metadata.

use super::trunk::Network;
use super::StrategyContext;
use crate::accounting;
use crate::error::KeyError;
use crate::nn::{Arch, Backbone, TaskModules};
use crate::settings::ModelConfig;
use std::collections::BTreeMap;
use tch::Device;

/// What every baseline takes from the run config and the benchmark.
#[derive(Debug, Clone)]
pub struct Setup {
    pub arch: Arch,
    pub width: i64,
    pub device: Device,
    pub image_shape: [i64; 3],
    pub task_classes: Vec<i64>,
    /// Written into every checkpoint file.
    pub metadata: BTreeMap<String, String>,
}

impl Setup {
    pub fn new(ctx: &StrategyContext, method: &str) -> Result<Self, KeyError> {
        let mut setup = Self::build(
            ctx.model,
            ctx.device,
            ctx.image_shape,
            ctx.task_classes.clone(),
            method,
        )?;
        for (key, value) in [("alpha", ctx.method.alpha()), ("beta", ctx.method.beta())] {
            if let Some(v) = value {
                setup.metadata.insert(key.to_string(), v.to_string());
            }
        }
        Ok(setup)
    }

    /// The setup of pretraining a base on another benchmark whose tasks have
    /// `task_classes` classes (method `pretrain`, no method options).
    pub fn pretraining(
        model: &ModelConfig,
        device: Device,
        image_shape: [i64; 3],
        task_classes: Vec<i64>,
    ) -> Result<Self, KeyError> {
        Self::build(model, device, image_shape, task_classes, "pretrain")
    }

    fn build(
        model: &ModelConfig,
        device: Device,
        image_shape: [i64; 3],
        task_classes: Vec<i64>,
        method: &str,
    ) -> Result<Self, KeyError> {
        let width = model.width()?;
        let metadata = BTreeMap::from([
            ("format".to_string(), "ccll-checkpoint-v1".to_string()),
            ("method".to_string(), method.to_string()),
            ("arch".to_string(), model.arch.clone()),
            ("width".to_string(), width.to_string()),
            ("image_shape".to_string(), format!("{image_shape:?}")),
        ]);
        Ok(Self {
            arch: model.arch()?,
            width,
            device,
            image_shape,
            task_classes,
            metadata,
        })
    }

    /// A freshly initialised network (draws from libtorch's generator).
    pub fn network(&self) -> Network {
        Network::new(self.device, self.arch, self.image_shape[0], self.width)
    }

    /// A fresh head for `task` on features of width `feature_dim`.
    pub fn head(&self, task: usize, feature_dim: i64) -> anyhow::Result<TaskModules> {
        let classes = *self
            .task_classes
            .get(task)
            .ok_or_else(|| anyhow::anyhow!("task {} does not exist", task + 1))?;
        Ok(TaskModules::new(
            self.device,
            &[],
            None,
            feature_dim,
            classes,
        )?)
    }

    /// The method's name, as in `method.name`.
    pub fn method(&self) -> &str {
        &self.metadata["method"]
    }

    /// Metadata of one checkpoint file: the run's (format, method, arch, width, image
    /// shape, alpha/beta where calibrated), what the file holds, and the task with its classes.
    pub fn meta(&self, content: &str, task: usize) -> BTreeMap<String, String> {
        let mut m = self.metadata.clone();
        m.insert("content".into(), content.into());
        m.insert("task".into(), (task + 1).to_string());
        if let Some(classes) = self.task_classes.get(task) {
            m.insert("classes".into(), classes.to_string());
        }
        m
    }

    /// Metadata of a file that holds no task's modules (the base).
    pub fn meta_of(&self, content: &str) -> BTreeMap<String, String> {
        let mut m = self.metadata.clone();
        m.insert("content".into(), content.into());
        m
    }

    /// FLOPs of one network and the head of task 1 for one image.
    pub fn base_flops(&self, backbone: &Backbone) -> u64 {
        self.base_flops_of(&self.trace(backbone), backbone)
    }

    /// Every conv of `backbone` on one image of this run's shape.
    pub fn trace(&self, backbone: &Backbone) -> Vec<crate::nn::ConvTrace> {
        accounting::trace_convs(backbone, self.image_shape, self.device)
    }

    /// FLOPs of the convs in `traces` and the head of task 1.
    pub fn base_flops_of(&self, traces: &[crate::nn::ConvTrace], backbone: &Backbone) -> u64 {
        let classes = self.task_classes.first().copied().unwrap_or(1);
        accounting::base_flops(traces, backbone.feature_dim(), classes)
    }
}
