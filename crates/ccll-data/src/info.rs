//! `ccll data info`: what a benchmark holds (tasks, classes, counts, shape, where the files
//! were found), as a serialisable value and as text.

use crate::{load_benchmark, Augmentation, Benchmark, BenchmarkConfig, DataError};
use serde::Serialize;
use std::fmt::Write;
use std::path::Path;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskInfo {
    pub name: String,
    pub classes: Vec<String>,
    pub train: usize,
    pub test: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val: Option<usize>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BenchmarkInfo {
    pub name: String,
    /// `[C, H, W]`.
    pub image_shape: [i64; 3],
    pub tasks: Vec<TaskInfo>,
    pub normalization_mean: Vec<f64>,
    pub normalization_std: Vec<f64>,
    pub augmentation: AugmentationInfo,
    /// Where the files were found.
    pub source: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AugmentationInfo {
    pub crop_padding: i64,
    pub horizontal_flip: bool,
}

impl From<Augmentation> for AugmentationInfo {
    fn from(a: Augmentation) -> Self {
        Self {
            crop_padding: a.crop_padding,
            horizontal_flip: a.horizontal_flip,
        }
    }
}

/// Summarises a loaded benchmark.
pub fn summarize(b: &Benchmark) -> BenchmarkInfo {
    BenchmarkInfo {
        name: b.name.clone(),
        image_shape: b.image_shape,
        tasks: b
            .tasks
            .iter()
            .map(|t| TaskInfo {
                name: t.name.clone(),
                classes: t.classes.clone(),
                train: t.train.len(),
                test: t.test.len(),
                val: t.val.as_ref().map(|v| v.len()),
            })
            .collect(),
        normalization_mean: b.normalization.mean.clone(),
        normalization_std: b.normalization.std.clone(),
        augmentation: b.augmentation.into(),
        source: b.source.clone(),
    }
}

/// Loads the benchmark a config names and summarises it.
pub fn describe(cfg: &BenchmarkConfig, data_root: &Path) -> Result<BenchmarkInfo, DataError> {
    Ok(summarize(&load_benchmark(cfg, data_root)?))
}

impl BenchmarkInfo {
    /// A human-readable table.
    pub fn to_text(&self) -> String {
        let [c, h, w] = self.image_shape;
        let mut s = String::new();
        let total = |f: fn(&TaskInfo) -> usize| self.tasks.iter().map(f).sum::<usize>();
        let _ = writeln!(
            s,
            "benchmark {}: {} task(s), images {c} x {h} x {w} (C x H x W), {} train / {} test images",
            self.name,
            self.tasks.len(),
            total(|t| t.train),
            total(|t| t.test)
        );
        let _ = writeln!(s, "source: {}", self.source);
        let fmt = |v: &[f64]| {
            v.iter()
                // Shortest text that reads back as the same f64: the constants exactly.
                .map(|x| format!("{x}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "normalisation: mean [{}], std [{}]",
            fmt(&self.normalization_mean),
            fmt(&self.normalization_std)
        );
        let a = &self.augmentation;
        let _ = writeln!(
            s,
            "augmentation: {}",
            match (a.crop_padding, a.horizontal_flip) {
                (0, false) => "none".to_string(),
                (0, true) => "horizontal flip".to_string(),
                (p, flip) => format!(
                    "random crop, padding {p}{}",
                    if flip { ", horizontal flip" } else { "" }
                ),
            }
        );
        let has_val = self.tasks.iter().any(|t| t.val.is_some());
        let _ = writeln!(
            s,
            "{:<8} {:>8} {:>8}{}  classes",
            "task",
            "train",
            "test",
            if has_val {
                format!(" {:>8}", "val")
            } else {
                String::new()
            }
        );
        for t in &self.tasks {
            let shown: Vec<&str> = t.classes.iter().take(12).map(String::as_str).collect();
            let more = if t.classes.len() > shown.len() {
                format!(", ... ({} classes)", t.classes.len())
            } else {
                String::new()
            };
            let val = match (has_val, t.val) {
                (true, Some(v)) => format!(" {v:>8}"),
                (true, None) => format!(" {:>8}", "-"),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "{:<8} {:>8} {:>8}{val}  {}{more}",
                t.name,
                t.train,
                t.test,
                shown.join(", ")
            );
        }
        s
    }
}
