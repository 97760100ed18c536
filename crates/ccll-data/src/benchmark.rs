//! The benchmark a run consumes, and the dispatch from a config name to its builder.

use crate::catalog;
use crate::image_folder::{self, FolderOptions};
use crate::layout::{locate, wanted};
use crate::splits::{class_order, make_task, Drawing};
use crate::transform::{conform, convert_normalization, pooled_normalization};
use crate::{cifar, idx, svhn, synthetic};
use crate::{
    Augmentation, BenchmarkConfig, DataError, DatasetId, EvaluateOn, Normalization, RawDataset,
};
use std::path::{Path, PathBuf};
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

/// Builds the benchmark a config names, reading files under `data_root` (or under
/// `cfg.data_root` when the config sets it, which wins). With `evaluate_on: validation` each
/// task's validation split takes the place of its test split.
pub fn load_benchmark(cfg: &BenchmarkConfig, data_root: &Path) -> Result<Benchmark, DataError> {
    if cfg.evaluate_on == EvaluateOn::Validation && cfg.validation_fraction <= 0.0 {
        return Err(DataError::config(
            &cfg.name,
            "evaluate_on: validation needs validation_fraction > 0 (e.g. 0.1)",
        ));
    }
    let mut bench = build_benchmark(cfg, data_root)?;
    if cfg.evaluate_on == EvaluateOn::Validation {
        for task in &mut bench.tasks {
            if let Some(val) = task.val.take() {
                task.test = val;
            }
        }
        bench.source.push_str(&format!(
            "; evaluated on validation splits ({} % of each task's training images held out; test images unused)",
            cfg.validation_fraction * 100.0
        ));
    }
    Ok(bench)
}

fn build_benchmark(cfg: &BenchmarkConfig, data_root: &Path) -> Result<Benchmark, DataError> {
    if cfg.name == "synthetic" {
        return synthetic::build(cfg);
    }
    let spec = catalog::find(&cfg.name)?;
    spec.validate(cfg)?;
    let root = cfg.data_root.as_deref().unwrap_or(data_root);
    let [channels, size, _] = spec.image_shape(cfg);
    let drawing = Drawing {
        train_cap: cfg.per_class_cap,
        test_cap: cfg.test_per_class_cap,
        validation_fraction: cfg.validation_fraction,
        seed: cfg.class_order_seed,
    };
    let mut tasks = Vec::new();
    let mut sources = Vec::new();
    let mut norms = Vec::new();
    for part in spec.parts {
        let ds = part.dataset;
        let folder = if ds.is_image_folder() {
            Some(locate_folder(ds, root, cfg.dataset_dir.as_deref())?)
        } else {
            None
        };
        let available = match &folder {
            Some(dir) => image_folder::list_classes(dir)?.len(),
            None => known_class_count(ds, cfg.coarse_labels),
        };
        let pool = part.pool.unwrap_or(available).min(available);
        let overridden = cfg.tasks.is_some() || cfg.classes_per_task.is_some();
        let (n_tasks, per_task) = if ds == DatasetId::ImageFolder {
            user_folder_tasks(cfg, available)?
        } else if part.per_task == 0 {
            (1, pool)
        } else if spec.resizable {
            (
                cfg.tasks.unwrap_or(part.tasks),
                cfg.classes_per_task.unwrap_or(part.per_task),
            )
        } else {
            (part.tasks, part.per_task)
        };
        let needed = n_tasks * per_task;
        if let (Some(dir), false) = (&folder, overridden) {
            if available != needed {
                return Err(DataError::config(
                    spec.name,
                    format!(
                        "needs exactly {needed} class folders ({n_tasks} tasks x {per_task}), found {available} in {}; set benchmark.tasks and benchmark.classes_per_task to use a subset",
                        dir.join("train").display()
                    ),
                ));
            }
        }
        if needed > pool {
            return Err(DataError::config(
                spec.name,
                format!(
                    "needs {needed} classes ({n_tasks} tasks x {per_task}) but {} has {}",
                    ds.display_name(),
                    pool
                ),
            ));
        }
        let order = if part.shuffle {
            class_order(pool, cfg.class_order, cfg.class_order_seed)
        } else {
            (0..pool).collect()
        };
        let chosen = &order[..needed];
        let raw = match &folder {
            Some(dir) => {
                let options = FolderOptions {
                    size,
                    channels,
                    skip_bad_images: cfg.skip_bad_images,
                    cache_dir: Some(root.join(".cache")),
                    train_cap: cfg.per_class_cap,
                    test_cap: cfg.test_per_class_cap,
                };
                image_folder::load_image_folder(ds, dir, &options, Some(chosen))?
            }
            None => load_file_dataset(ds, root, cfg)?,
        };
        let (mean, std) = ds.normalization_constants();
        norms.push((
            convert_normalization(mean, std, channels as usize),
            raw.train.len() as f64,
        ));
        sources.push(raw.source.clone());
        for classes in chosen.chunks(per_task) {
            let name = format!("task{}", tasks.len() + 1);
            let mut task = make_task(name, &raw, classes, &drawing)?;
            for split in [
                Some(&mut task.train),
                Some(&mut task.test),
                task.val.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                split.images = conform(&split.images, channels, size)?;
            }
            tasks.push(task);
        }
    }
    Ok(Benchmark {
        name: spec.name.to_string(),
        tasks,
        image_shape: [channels, size, size],
        normalization: pooled_normalization(&norms),
        augmentation: {
            // A flip is applied to every task: only where no part's images forbid it (digits).
            let mut a = spec.parts[0].dataset.augmentation(size, cfg.augment);
            a.horizontal_flip &= spec
                .parts
                .iter()
                .all(|p| p.dataset.augmentation(size, Some(true)).horizontal_flip);
            a
        },
        source: sources.join("; "),
    })
}

/// Finds every file a benchmark config reads (under its `data_root`, else `data_root`)
/// without reading any: the check a sweep makes before it starts a job.
pub fn locate_benchmark_data(cfg: &BenchmarkConfig, data_root: &Path) -> Result<(), DataError> {
    if cfg.name == "synthetic" {
        return Ok(());
    }
    let spec = catalog::find(&cfg.name)?;
    let root = cfg.data_root.as_deref().unwrap_or(data_root);
    for part in spec.parts {
        locate(
            part.dataset,
            root,
            cfg.dataset_dir.as_deref(),
            &wanted(part.dataset),
        )?;
    }
    Ok(())
}

/// `[C, H, W]` of the images a config yields, without reading any file (for checking a base
/// source against a benchmark before loading either).
pub fn benchmark_image_shape(cfg: &BenchmarkConfig) -> Result<[i64; 3], DataError> {
    if cfg.name == "synthetic" {
        synthetic::validate(cfg)?;
        let size = cfg.image_size.unwrap_or(synthetic::DEFAULT_SIZE);
        return Ok([
            cfg.channels.unwrap_or(synthetic::DEFAULT_CHANNELS),
            size,
            size,
        ]);
    }
    let spec = catalog::find(&cfg.name)?;
    spec.validate(cfg)?;
    Ok(spec.image_shape(cfg))
}

/// Tasks x classes of the generic `image_folder` benchmark: as set, or derived from the
/// class-folder count when only one of `tasks` / `classes_per_task` is set.
fn user_folder_tasks(cfg: &BenchmarkConfig, available: usize) -> Result<(usize, usize), DataError> {
    let derived = match (cfg.tasks, cfg.classes_per_task) {
        (Some(t), Some(k)) => (t, k),
        (Some(t), None) => (t, available / t),
        (None, Some(k)) => (available / k, k),
        (None, None) => {
            return Err(DataError::config(
                "image_folder",
                format!("set benchmark.tasks and/or benchmark.classes_per_task to cut the {available} class folders into tasks"),
            ))
        }
    };
    if derived.0 == 0 || derived.1 < 2 {
        return Err(DataError::config(
            "image_folder",
            format!(
                "{} tasks x {} classes from {available} class folders: every task needs at least 2 classes",
                derived.0, derived.1
            ),
        ));
    }
    Ok(derived)
}

fn known_class_count(ds: DatasetId, coarse: bool) -> usize {
    match ds {
        DatasetId::Cifar100 if coarse => 20,
        DatasetId::Cifar100 => 100,
        _ => 10,
    }
}

fn load_file_dataset(
    ds: DatasetId,
    root: &Path,
    cfg: &BenchmarkConfig,
) -> Result<RawDataset, DataError> {
    let explicit = cfg.dataset_dir.as_deref();
    match ds {
        DatasetId::Mnist | DatasetId::FashionMnist => idx::load_idx_dataset(ds, root, explicit),
        DatasetId::Cifar10 => cifar::load_cifar10(root, explicit),
        DatasetId::Cifar100 => cifar::load_cifar100(root, explicit, cfg.coarse_labels),
        DatasetId::Svhn => svhn::load_svhn(root, explicit),
        DatasetId::ImageNet100 | DatasetId::MsCeleb10k | DatasetId::ImageFolder => {
            Err(DataError::config(
                ds.display_name(),
                "an image-folder dataset (internal error: routed to the file loaders)",
            ))
        }
    }
}

/// The folder of an image-folder dataset: it must hold `train/` and `val/` (or `test/`).
pub(crate) fn locate_folder(
    ds: DatasetId,
    root: &Path,
    explicit: Option<&Path>,
) -> Result<PathBuf, DataError> {
    Ok(locate(ds, root, explicit, &wanted(ds))?.dir)
}
