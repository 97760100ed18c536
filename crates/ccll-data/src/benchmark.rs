//! The benchmark a run consumes, and the dispatch from a config name to its builder.

use crate::{synthetic, Augmentation, BenchmarkConfig, DataError, Normalization};
use std::path::Path;
use tch::Tensor;

/// Images and labels of one split of one task: `images` is `u8 [N, C, H, W]` on the CPU,
/// `labels` is `i64 [N]` with values `0..k` local to the task.
#[derive(Debug)]
pub struct Split {
    pub images: Tensor,
    pub labels: Tensor,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.size().first().copied().unwrap_or(0) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy that shares nothing with `self` (tch tensors are reference counted).
    pub fn deep_clone(&self) -> Self {
        Self {
            images: self.images.copy(),
            labels: self.labels.copy(),
        }
    }
}

/// One classification task of the sequence.
#[derive(Debug)]
pub struct TaskData {
    pub name: String,
    /// Original class names (or numbers) of local labels 0..k.
    pub classes: Vec<String>,
    pub train: Split,
    pub test: Split,
    /// Held out from train when `validation_fraction > 0`.
    pub val: Option<Split>,
}

impl TaskData {
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }
}

/// A task sequence ready for training.
#[derive(Debug)]
pub struct Benchmark {
    pub name: String,
    pub tasks: Vec<TaskData>,
    /// `[C, H, W]` of every image.
    pub image_shape: [i64; 3],
    pub normalization: Normalization,
    /// Train-time augmentation (already resolved against the config's `augment`).
    pub augmentation: Augmentation,
    /// Where the data came from (files found, or "generated").
    pub source: String,
}

/// Builds the benchmark a config names, reading files under `data_root`.
pub fn load_benchmark(cfg: &BenchmarkConfig, data_root: &Path) -> Result<Benchmark, DataError> {
    let _ = data_root;
    match cfg.name.as_str() {
        "synthetic" => synthetic::build(cfg),
        other => Err(DataError::UnknownBenchmark(
            other.to_string(),
            ["synthetic"].join(", "),
        )),
    }
}
