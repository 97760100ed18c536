//! The run config (`RUN.yaml`): what to train, on what, and how. Parsing rejects unknown keys
//! and bad values with the file, line and key.

use crate::yaml_locate::{locate, Seg};
use ccll_data::BenchmarkConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One lifelong run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub benchmark: BenchmarkConfig,
    pub model: ModelConfig,
    pub method: MethodConfig,
    #[serde(default)]
    pub train: TrainConfig,
    #[serde(default)]
    pub base: BaseConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `resnet18`, `resnet18_cifar` or `convnet`.
    pub arch: String,
    /// Channels of the first stage (64 = standard ResNet-18, 20 = the reduced one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
}

/// The method (strategy) and its options. `alpha`/`beta` belong to the calibrated methods;
/// any further key is an option of the named strategy, which rejects keys it does not know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodConfig {
    pub name: String,
    /// Channels per group of the spatial calibration's 3x3 convolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<i64>,
    /// Channels per group of the channel-wise calibration's 1x1 convolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta: Option<i64>,
    #[serde(flatten)]
    pub options: BTreeMap<String, serde_yaml::Value>,
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
    /// `auto`, `cpu` or `cuda:N`.
    pub device: String,
    /// CPU threads of libtorch; 0 keeps libtorch's default.
    pub threads: usize,
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
            device: "auto".into(),
            threads: 0,
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

/// A problem with one key of a config: the key path (e.g. `method.alpha`) and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct KeyError {
    pub key: String,
    pub message: String,
}

impl KeyError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A config file that could not be used: where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        file: String,
        line: Option<usize>,
        message: String,
    },
}

impl RunConfig {
    /// Reads and validates a run config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and validates YAML text; `file` names it in errors.
    pub fn from_yaml(text: &str, file: &str) -> Result<Self, ConfigError> {
        let cfg: RunConfig = serde_yaml::from_str(text).map_err(|e| ConfigError::Invalid {
            file: file.into(),
            line: e.location().map(|l| l.line()),
            message: strip_location(&e.to_string()),
        })?;
        cfg.validate().map_err(|e| key_error_in(text, file, e))?;
        Ok(cfg)
    }

    /// Checks values that serde cannot (ranges, names, combinations).
    pub fn validate(&self) -> Result<(), KeyError> {
        let t = &self.train;
        let positive = |key: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(KeyError::new(
                    key,
                    format!("must be a positive number, got {v}"),
                ))
            }
        };
        if t.epochs == 0 {
            return Err(KeyError::new("train.epochs", "must be at least 1"));
        }
        if t.base_epochs == Some(0) {
            return Err(KeyError::new("train.base_epochs", "must be at least 1"));
        }
        if t.batch_size < 2 {
            return Err(KeyError::new("train.batch_size", "must be at least 2"));
        }
        if t.eval_batch_size == 0 {
            return Err(KeyError::new("train.eval_batch_size", "must be at least 1"));
        }
        positive("train.lr", t.lr)?;
        if let Some(lr) = t.calibration_lr {
            positive("train.calibration_lr", lr)?;
        }
        if !(0.0..1.0).contains(&t.momentum) {
            return Err(KeyError::new(
                "train.momentum",
                format!("must be in [0, 1), got {}", t.momentum),
            ));
        }
        if !(t.weight_decay >= 0.0 && t.weight_decay.is_finite()) {
            return Err(KeyError::new("train.weight_decay", "must be >= 0"));
        }
        if t.schedule == ScheduleKind::Step {
            if t.step_size == 0 {
                return Err(KeyError::new("train.step_size", "must be at least 1"));
            }
            positive("train.gamma", t.gamma)?;
        }
        crate::device::parse_device(&t.device).map_err(|m| KeyError::new("train.device", m))?;
        crate::nn::Arch::parse(&self.model.arch).map_err(|m| KeyError::new("model.arch", m))?;
        if let Some(w) = self.model.width {
            if !(1..=4096).contains(&w) {
                return Err(KeyError::new(
                    "model.width",
                    format!("must be 1..=4096, got {w}"),
                ));
            }
        }
        for (key, v) in [
            ("method.alpha", self.method.alpha),
            ("method.beta", self.method.beta),
        ] {
            if let Some(v) = v {
                if v < 1 {
                    return Err(KeyError::new(key, format!("must be at least 1, got {v}")));
                }
            }
        }
        if self.base.epochs == Some(0) {
            return Err(KeyError::new("base.epochs", "must be at least 1"));
        }
        if self.base.finetune && self.base.source == BaseSource::Task1 {
            return Err(KeyError::new(
                "base.finetune",
                "fine-tuning on task 1 needs another base.source (e.g. {name: fashion_mnist})",
            ));
        }
        crate::strategy::check_method(self)?;
        Ok(())
    }

    /// Epochs for task 1 (the base).
    pub fn base_epochs(&self) -> usize {
        self.train.base_epochs.unwrap_or(self.train.epochs)
    }

    /// Serialised as YAML, e.g. for `result.json` neighbours and the store.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Turns a key error into a file error, with the line of the key when it can be found.
pub fn key_error_in(text: &str, file: &str, e: KeyError) -> ConfigError {
    let path: Vec<&str> = e.key.split('.').collect();
    ConfigError::Invalid {
        file: file.into(),
        line: locate_key(text, &path),
        message: e.to_string(),
    }
}

/// serde_yaml appends "at line L column C" to messages; we print the line ourselves.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Finds the 1-based line where the value of a dotted key is written, in block or flow style
/// (see [`crate::yaml_locate`]).
pub fn locate_key(text: &str, path: &[&str]) -> Option<usize> {
    let path: Vec<Seg> = path.iter().copied().map(Seg::key).collect();
    locate(text, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "\
benchmark: {name: synthetic, tasks: 3, classes_per_task: 2, image_size: 16, channels: 1,
            train_per_class: 64, test_per_class: 32}
model: {arch: convnet, width: 8}
method: {name: ccll, alpha: 1, beta: 1}
train: {epochs: 2, batch_size: 32, lr: 0.05, seed: 0, device: cpu}
";

    #[test]
    fn the_issue_example_parses() {
        let c = RunConfig::from_yaml(EXAMPLE, "run.yaml").unwrap();
        assert_eq!(c.benchmark.tasks, Some(3));
        assert_eq!(c.method.alpha, Some(1));
        assert_eq!(c.train.batch_size, 32);
        assert_eq!(c.base.source, BaseSource::Task1);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = EXAMPLE.replace("seed: 0", "sead: 0");
        let e = RunConfig::from_yaml(&text, "run.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("run.yaml:5:"), "{e}");
        assert!(e.contains("sead"), "{e}");
    }

    #[test]
    fn bad_value_names_key_and_line() {
        let text = EXAMPLE.replace("lr: 0.05", "lr: -1");
        let e = RunConfig::from_yaml(&text, "run.yaml")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "run.yaml:5: train.lr: must be a positive number, got -1");
        let text = EXAMPLE.replace("arch: convnet", "arch: vgg");
        let e = RunConfig::from_yaml(&text, "run.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("run.yaml:3: model.arch:"), "{e}");
    }

    #[test]
    fn locate_key_in_block_style() {
        let text = "a:\n  b: 1\n  c:\n    d: 2\nd: 3\n";
        assert_eq!(locate_key(text, &["a", "c", "d"]), Some(4));
        assert_eq!(locate_key(text, &["d"]), Some(5));
        assert_eq!(
            locate_key(EXAMPLE, &["benchmark", "test_per_class"]),
            Some(2)
        );
        assert_eq!(locate_key(EXAMPLE, &["train", "lr"]), Some(5));
        assert_eq!(locate_key(text, &["a", "b"]), Some(2));
        assert_eq!(locate_key(text, &["x"]), None);
    }

    #[test]
    fn base_source_is_task1_or_a_benchmark() {
        let text = format!("{EXAMPLE}base: {{source: {{name: fashion_mnist}}, finetune: true}}\n");
        let c = RunConfig::from_yaml(&text, "r").unwrap();
        assert_eq!(c.base.source.label(), "fashion_mnist");
        let text = format!("{EXAMPLE}base: {{source: imagenet}}\n");
        assert!(RunConfig::from_yaml(&text, "r").is_err());
    }
}
