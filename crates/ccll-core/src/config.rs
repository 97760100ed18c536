//! The run config (`RUN.yaml`): what to train, on what, and how. Parsing rejects unknown keys
//! and bad values with the file, line and key. Its sections live in [`crate::settings`] and
//! the method section in the method table ([`crate::strategy::MethodConfig`]).

pub use crate::error::KeyError;
pub use crate::settings::{
    BaseConfig, BaseSource, ModelConfig, OptimizerKind, ScheduleKind, TrainConfig,
    CALIBRATION_LR_FACTOR, DEFAULT_CALIBRATION_ADAM_LR, DEFAULT_CALIBRATION_OPTIMIZER,
};
pub use crate::strategy::MethodConfig;

pub use crate::strategy::options::{key_text, strip_location};
use crate::strategy::StrategyContext;
use crate::yaml_locate::{locate, Seg};
use ccll_data::BenchmarkConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::Device;

/// Most epochs per task (and of the base) a config may ask for.
pub const MAX_EPOCHS: usize = 10_000;
/// Largest training or evaluation batch.
pub const MAX_BATCH: usize = 65_536;
/// Largest seed: the store keeps seeds in SQLite's signed 64-bit integers.
pub const MAX_SEED: u64 = i64::MAX as u64;
/// Keys of the `train` section that earlier versions had and that now belong to where a run
/// executes ([`crate::Placement`]): an input config naming one is refused with the way to set
/// it; a recorded config (a run directory's `config.yaml`) has them dropped.
const PLACEMENT_KEYS: [&str; 2] = ["device", "threads"];

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

    /// Reads a config that a run recorded (`config.yaml` in its directory), written by this
    /// or an earlier version: keys that have since left the config are dropped.
    pub fn from_recorded_file(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            file: file.clone(),
            line: None,
            message,
        };
        let mut root: serde_yaml::Value =
            serde_yaml::from_str(&text).map_err(|e| invalid(strip_location(&e.to_string())))?;
        if let Some(train) = root.get_mut("train").and_then(|t| t.as_mapping_mut()) {
            for key in PLACEMENT_KEYS {
                train.remove(key);
            }
        }
        let cfg: RunConfig =
            serde_yaml::from_value(root).map_err(|e| invalid(strip_location(&e.to_string())))?;
        cfg.validate().map_err(|e| invalid(e.to_string()))?;
        Ok(cfg)
    }

    /// Parses and validates YAML text; `file` names it in errors.
    pub fn from_yaml(text: &str, file: &str) -> Result<Self, ConfigError> {
        let whole: serde_yaml::Value = serde_yaml::from_str(text).unwrap_or_default();
        if let Some(e) = placement_key_problem(&whole) {
            return Err(key_error_in(text, file, e));
        }
        let cfg: RunConfig = serde_yaml::from_str(text).map_err(|e| {
            let whole = serde_yaml::from_str(text).unwrap_or(serde_yaml::Value::Null);
            match method_problem(&whole) {
                Some(k) => key_error_in(text, file, k),
                None => ConfigError::Invalid {
                    file: file.into(),
                    line: e.location().map(|l| l.line()),
                    message: strip_location(&e.to_string()),
                },
            }
        })?;
        cfg.validate().map_err(|e| key_error_in(text, file, e))?;
        Ok(cfg)
    }

    /// Checks values that serde cannot (ranges, names, combinations).
    pub fn validate(&self) -> Result<(), KeyError> {
        match self.problems().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every value serde cannot check (ranges, names, combinations), so that all problems of
    /// a config are reported at once. The upper bounds catch what would otherwise fail only
    /// after training (a seed the store cannot hold) or in the worker (a batch or epoch
    /// count no run could finish).
    pub fn problems(&self) -> Vec<KeyError> {
        let t = &self.train;
        let mut out = Vec::new();
        let mut bad = |key: &str, message: String| out.push(KeyError::new(key, message));
        let positive = |v: f64| v.is_finite() && v > 0.0;
        for (key, v) in [
            ("train.epochs", Some(t.epochs)),
            ("train.base_epochs", t.base_epochs),
            ("base.epochs", self.base.epochs),
            ("train.checkpoint_every", t.checkpoint_every),
        ] {
            match v {
                Some(0) => bad(key, "must be at least 1".into()),
                Some(n) if n > MAX_EPOCHS => {
                    bad(key, format!("must be at most {MAX_EPOCHS}, got {n}"))
                }
                _ => {}
            }
        }
        if t.batch_size < 2 {
            bad("train.batch_size", "must be at least 2".into());
        }
        if t.eval_batch_size == 0 {
            bad("train.eval_batch_size", "must be at least 1".into());
        }
        for (key, v) in [
            ("train.batch_size", t.batch_size),
            ("train.eval_batch_size", t.eval_batch_size),
        ] {
            if v > MAX_BATCH {
                bad(key, format!("must be at most {MAX_BATCH}, got {v}"));
            }
        }
        if t.seed > MAX_SEED {
            bad(
                "train.seed",
                format!(
                    "must be at most {MAX_SEED} (the results store keeps seeds as 64-bit \
                     signed integers), got {}",
                    t.seed
                ),
            );
        }
        if !positive(t.lr) {
            bad(
                "train.lr",
                format!("must be a positive number, got {}", t.lr),
            );
        }
        if let Some(lr) = t.calibration_lr.filter(|lr| !positive(*lr)) {
            bad(
                "train.calibration_lr",
                format!("must be a positive number, got {lr}"),
            );
        }
        if !(0.0..1.0).contains(&t.momentum) {
            bad(
                "train.momentum",
                format!("must be in [0, 1), got {}", t.momentum),
            );
        }
        if !(t.weight_decay >= 0.0 && t.weight_decay.is_finite()) {
            bad("train.weight_decay", "must be >= 0".into());
        }
        if t.schedule == ScheduleKind::Step {
            if t.step_size == 0 {
                bad("train.step_size", "must be at least 1".into());
            }
            if !positive(t.gamma) {
                bad(
                    "train.gamma",
                    format!("must be a positive number, got {}", t.gamma),
                );
            }
        }
        if let Err(e) = self.model.arch() {
            out.push(e);
        }
        if let Some(w) = self.model.width.filter(|w| !(1..=4096).contains(w)) {
            out.push(KeyError::new(
                "model.width",
                format!("must be 1..=4096, got {w}"),
            ));
        }
        if self.base.finetune && self.base.source == BaseSource::Task1 {
            out.push(KeyError::new(
                "base.finetune",
                "fine-tuning on task 1 needs another base.source (e.g. {name: fashion_mnist})",
            ));
        }
        out
    }

    /// What the method's strategy is built from, for data of `image_shape` and tasks of
    /// `task_classes` classes.
    pub fn strategy_context(
        &self,
        device: Device,
        image_shape: [i64; 3],
        task_classes: Vec<i64>,
    ) -> StrategyContext<'_> {
        StrategyContext {
            method: &self.method,
            model: &self.model,
            train: &self.train,
            device,
            image_shape,
            task_classes,
        }
    }

    /// The config without what does not change what a run computes (`train.checkpoint_every`):
    /// what the run's identity and its resumable state are keyed on.
    pub fn computation(&self) -> RunConfig {
        let mut cfg = self.clone();
        cfg.train.checkpoint_every = None;
        cfg
    }

    /// Epochs for task 1 (the base).
    pub fn base_epochs(&self) -> usize {
        self.train.base_epochs.unwrap_or(self.train.epochs)
    }

    /// The config as JSON, e.g. for `result.json` and the store.
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

/// The error for a `train.device` or `train.threads` key in an input config (see
/// [`PLACEMENT_KEYS`]), saying where the value is chosen now.
pub fn placement_key_problem(root: &serde_yaml::Value) -> Option<KeyError> {
    let train = root.get("train")?.as_mapping()?;
    let key = PLACEMENT_KEYS
        .into_iter()
        .find(|k| train.contains_key(*k))?;
    let flag = if key == "device" { "devices" } else { key };
    Some(KeyError::new(
        format!("train.{key}"),
        format!(
            "is no longer part of the run config: it says where a run executes, not what it \
             computes; choose it with `ccll sweep --{flag}` or `ccll train --{key}`, and \
             remove it here"
        ),
    ))
}

/// Why the `method` section of a whole config `root` cannot be read, with its key: serde
/// reports a method's error at the section, this finds the key inside it.
pub fn method_problem(root: &serde_yaml::Value) -> Option<KeyError> {
    let section = root.get("method")?.as_mapping()?;
    MethodConfig::from_section(section).err()
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
train: {epochs: 2, batch_size: 32, lr: 0.05, seed: 0}
";

    #[test]
    fn the_issue_example_parses() {
        let c = RunConfig::from_yaml(EXAMPLE, "run.yaml").unwrap();
        assert_eq!(c.benchmark.tasks, Some(3));
        assert_eq!(c.method.alpha(), Some(1));
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

    #[test]
    fn values_the_store_or_the_worker_would_reject_are_refused_up_front_all_at_once() {
        let text = EXAMPLE.replace(
            "train: {epochs: 2, batch_size: 32, lr: 0.05, seed: 0}",
            "train: {epochs: 1000000000000, batch_size: 18446744073709551615, lr: 0.05, \
             seed: 18446744073709551615}",
        );
        let cfg: RunConfig = serde_yaml::from_str(&text).unwrap();
        let keys: Vec<String> = cfg.problems().into_iter().map(|e| e.to_string()).collect();
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert_eq!(
            keys[0],
            "train.epochs: must be at most 10000, got 1000000000000"
        );
        assert_eq!(
            keys[1],
            "train.batch_size: must be at most 65536, got 18446744073709551615"
        );
        assert!(
            keys[2].starts_with("train.seed: must be at most 9223372036854775807"),
            "{keys:?}"
        );
        let e = RunConfig::from_yaml(&text, "run.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("run.yaml:5: train.epochs: must be at most"),
            "{e}"
        );
    }
}
