//! The `benchmark:` section of a run config.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Order in which a dataset's classes are dealt into tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClassOrder {
    /// Classes 0, 1, 2, ... in the dataset's own numbering.
    #[default]
    Natural,
    /// A permutation drawn from `class_order_seed`.
    Shuffled,
}

/// Which split the accuracy matrix is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EvaluateOn {
    /// The dataset's test images (results).
    #[default]
    Test,
    /// The validation split held out of the training images (`validation_fraction`), which
    /// replaces the test split: for choosing options without ever looking at test accuracy.
    Validation,
}

impl EvaluateOn {
    fn is_test(&self) -> bool {
        *self == Self::Test
    }
}

/// Which benchmark to build and how. Keys that only some benchmarks understand are rejected by
/// the others (see [`crate::load_benchmark`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkConfig {
    pub name: String,
    /// Where the dataset files live; default: `--data-root`, `$CCLL_DATA`, `./data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_root: Option<PathBuf>,
    /// The folder holding this dataset's files, overriding the usual folder under the data
    /// root (e.g. `/datasets/imagenet100` with `train/` and `val/` inside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_dir: Option<PathBuf>,
    /// Number of tasks: synthetic, and the single-dataset split benchmarks (`split_*`,
    /// `imagenet100`, `msceleb10k`) to use a subset of the classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<usize>,
    /// Classes in each task (same benchmarks as `tasks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes_per_task: Option<usize>,
    /// Synthetic: side of the square images. Image folders: the size images are resized to.
    /// Other datasets: resize (bilinear) to this side at load time, e.g. 32 to put MNIST next
    /// to CIFAR-style data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<i64>,
    /// Synthetic: image channels. Real data: 3 repeats a grey channel, 1 converts RGB to
    /// luma, at load time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<i64>,
    /// Synthetic only: training images per class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_per_class: Option<usize>,
    /// Synthetic only: test images per class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_per_class: Option<usize>,
    #[serde(default)]
    pub class_order: ClassOrder,
    /// Seed of the permutation when `class_order: shuffled`.
    #[serde(default)]
    pub class_order_seed: u64,
    /// Keep at most this many training images per class (quick runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_class_cap: Option<usize>,
    /// Keep at most this many test images per class (quick runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_per_class_cap: Option<usize>,
    /// Fraction of each task's training images held out as a validation split.
    #[serde(default)]
    pub validation_fraction: f64,
    /// `test` (default) or `validation`: measure every accuracy on the validation split
    /// instead of the test images (needs `validation_fraction > 0`).
    #[serde(default, skip_serializing_if = "EvaluateOn::is_test")]
    pub evaluate_on: EvaluateOn,
    /// Train-time augmentation; default: the dataset's usual one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<bool>,
    /// Image folders only: warn about and skip undecodable images instead of failing.
    #[serde(default, skip_serializing_if = "is_false")]
    pub skip_bad_images: bool,
    /// `cifar100` only: label by the 20 coarse classes (superclasses) instead of the 100 fine.
    #[serde(default, skip_serializing_if = "is_false")]
    pub coarse_labels: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl BenchmarkConfig {
    /// A config naming a benchmark with every option at its default.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_string(),
            data_root: None,
            dataset_dir: None,
            tasks: None,
            classes_per_task: None,
            image_size: None,
            channels: None,
            train_per_class: None,
            test_per_class: None,
            class_order: ClassOrder::Natural,
            class_order_seed: 0,
            per_class_cap: None,
            test_per_class_cap: None,
            validation_fraction: 0.0,
            evaluate_on: EvaluateOn::Test,
            augment: None,
            skip_bad_images: false,
            coarse_labels: false,
        }
    }
}

/// The data root: the explicit one, else `$CCLL_DATA`, else `./data`.
pub fn data_root(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    match std::env::var_os("CCLL_DATA") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("data"),
    }
}
