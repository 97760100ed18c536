//! The sections of a run config that models, methods and training read (`model`, `train`,
//! `base`), with the defaults that are facts of their own. The whole file (`RunConfig`) is in
//! [`crate::config`], which builds on this module and on the method table.

use crate::error::KeyError;
use crate::nn::Arch;
use ccll_data::BenchmarkConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `resnet18`, `resnet18_cifar` or `convnet`.
    pub arch: String,
    /// Channels of the first stage (64 = standard ResNet-18, 20 = the reduced one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
}

impl ModelConfig {
    /// The architecture, or an error naming `model.arch`.
    pub fn arch(&self) -> Result<Arch, KeyError> {
        Arch::parse(&self.arch).map_err(|m| KeyError::new("model.arch", m))
    }

    /// The width in effect: `width`, else the architecture's default.
    pub fn width(&self) -> Result<i64, KeyError> {
        Ok(match self.width {
            Some(w) => w,
            None => self.arch()?.default_width(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    #[default]
    Sgd,
    Adam,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// Constant learning rate.
    #[default]
    Constant,
    /// Multiply by `gamma` every `step_size` epochs.
    Step,
    /// Cosine decay from `lr` to 0 over the task's epochs.
    Cosine,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Epochs per task.
    pub epochs: usize,
    /// Epochs of task 1 (training the base); default: `epochs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_epochs: Option<usize>,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    /// Learning rate of calibration modules; default: see [`TrainConfig::calibration_lr`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration_lr: Option<f64>,
    /// Optimiser of calibration modules; default: see [`TrainConfig::calibration_optimizer`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration_optimizer: Option<OptimizerKind>,
    pub momentum: f64,
    pub weight_decay: f64,
    pub schedule: ScheduleKind,
    /// Step schedule: epochs between decays.
    pub step_size: usize,
    /// Step schedule: decay factor.
    pub gamma: f64,
    pub seed: u64,
    /// Epochs between in-task resumable states (model, optimiser moments, schedule position,
    /// random generator); off when absent. Not part of the run's identity: it changes when
    /// state is saved, not what is computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<usize>,
}

/// Default optimiser of calibration modules, chosen on validation splits
/// (`experiments/calibration_tuning.yaml`, README.md#choosing-calibrations-optimiser): the
/// modules sit after the frozen BN, where nothing renormalises their output, so SGD steps
/// are badly scaled across layers and under-fit (task 3 at 82 % training accuracy after 3
/// epochs against Adam's 89 %); Adam's per-parameter steps do not depend on that scale.
pub const DEFAULT_CALIBRATION_OPTIMIZER: OptimizerKind = OptimizerKind::Adam;
/// Default Adam learning rate of calibration modules (validation ACC 89.99 ± 0.45 against
/// 87.83 at 0.002 and 88.41 ± 5.41 at 0.05, 3 seeds).
pub const DEFAULT_CALIBRATION_ADAM_LR: f64 = 0.01;
/// Default ratio of the calibration learning rate to `lr` when calibration uses SGD: at the
/// base's rate they diverged on fashion_mnist_to_mnist.
pub const CALIBRATION_LR_FACTOR: f64 = 0.2;

impl TrainConfig {
    /// The calibration optimiser in effect: `calibration_optimizer`, else
    /// [`DEFAULT_CALIBRATION_OPTIMIZER`].
    pub fn calibration_optimizer(&self) -> OptimizerKind {
        self.calibration_optimizer
            .unwrap_or(DEFAULT_CALIBRATION_OPTIMIZER)
    }

    /// The calibration learning rate in effect: `calibration_lr`, else
    /// [`DEFAULT_CALIBRATION_ADAM_LR`] for Adam and `lr` x [`CALIBRATION_LR_FACTOR`] for SGD.
    pub fn calibration_lr(&self) -> f64 {
        self.calibration_lr
            .unwrap_or(match self.calibration_optimizer() {
                OptimizerKind::Adam => DEFAULT_CALIBRATION_ADAM_LR,
                OptimizerKind::Sgd => self.lr * CALIBRATION_LR_FACTOR,
            })
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 1,
            base_epochs: None,
            batch_size: 64,
            eval_batch_size: 256,
            optimizer: OptimizerKind::Sgd,
            lr: 0.05,
            calibration_lr: None,
            calibration_optimizer: None,
            momentum: 0.9,
            weight_decay: 5e-4,
            schedule: ScheduleKind::Constant,
            step_size: 10,
            gamma: 0.1,
            seed: 0,
            checkpoint_every: None,
        }
    }
}

/// Where the base network comes from (the paper's base-dependence study).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BaseConfig {
    /// `task1` (default): the base is trained on the first task. Otherwise a benchmark config
    /// (e.g. `{name: cifar10}`): the base is pretrained on all of its data.
    #[serde(default)]
    pub source: BaseSource,
    /// After pretraining on another source, fine-tune base and head on task 1.
    #[serde(default)]
    pub finetune: bool,
    /// Epochs of pretraining on another source; default: `train.base_epochs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
}

impl BaseConfig {
    /// Short label of where the base comes from: `task1`, `cifar10`, or `cifar10+finetune`.
    pub fn label(&self) -> String {
        let mut s = self.source.label();
        if self.finetune {
            s.push_str("+finetune");
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(untagged)]
pub enum BaseSource {
    #[default]
    #[serde(with = "task1_tag")]
    Task1,
    Benchmark(Box<BenchmarkConfig>),
}

impl BaseSource {
    /// Short label for tables: `task1`, or the source benchmark's name.
    pub fn label(&self) -> String {
        match self {
            BaseSource::Task1 => "task1".into(),
            BaseSource::Benchmark(b) => b.name.clone(),
        }
    }
}

/// (De)serialises the unit variant as the string `task1`.
mod task1_tag {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("task1")
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
        let s = String::deserialize(d)?;
        if s == "task1" {
            Ok(())
        } else {
            Err(D::Error::custom(format!(
                "base.source must be `task1` or a benchmark like {{name: fashion_mnist}}, got `{s}`"
            )))
        }
    }
}
