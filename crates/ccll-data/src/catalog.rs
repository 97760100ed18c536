//! The benchmarks a config can name: which datasets, how many tasks of how many classes, and
//! which config keys each one accepts.

use crate::{BenchmarkConfig, DataError, DatasetId};

/// One dataset's share of a benchmark: its first `pool` classes (all when `None`), in the
/// class order, dealt into `tasks` tasks of `per_task` classes (`0` = all classes, one task).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Part {
    pub dataset: DatasetId,
    pub pool: Option<usize>,
    pub tasks: usize,
    pub per_task: usize,
    /// Whether `class_order: shuffled` permutes this part's classes.
    pub shuffle: bool,
}

/// A named benchmark.
#[derive(Debug, Clone, Copy)]
pub struct BenchmarkSpec {
    pub name: &'static str,
    pub summary: &'static str,
    pub(crate) parts: &'static [Part],
    /// `tasks` / `classes_per_task` may shrink it to a subset of the classes.
    pub(crate) resizable: bool,
}

const fn split(dataset: DatasetId, tasks: usize, per_task: usize) -> Part {
    Part {
        dataset,
        pool: None,
        tasks,
        per_task,
        shuffle: true,
    }
}

const fn whole(dataset: DatasetId) -> Part {
    Part {
        dataset,
        pool: None,
        tasks: 1,
        per_task: 0,
        shuffle: true,
    }
}

const fn first_task(dataset: DatasetId) -> Part {
    Part {
        dataset,
        pool: None,
        tasks: 1,
        per_task: 0,
        shuffle: false,
    }
}

use DatasetId::*;

/// Every benchmark except `synthetic` (which is generated, see [`crate::load_benchmark`]).
pub const BENCHMARKS: &[BenchmarkSpec] = &[
    BenchmarkSpec {
        name: "split_mnist",
        summary: "MNIST, 5 tasks x 2 digits",
        parts: &[split(Mnist, 5, 2)],
        resizable: true,
    },
    BenchmarkSpec {
        name: "split_fashion_mnist",
        summary: "Fashion-MNIST, 5 tasks x 2 classes",
        parts: &[split(FashionMnist, 5, 2)],
        resizable: true,
    },
    BenchmarkSpec {
        name: "fashion_mnist_to_mnist",
        summary: "task 1 = Fashion-MNIST 10-way, tasks 2-6 = MNIST 5 x 2 (offline analogue of split CIFAR-10/100)",
        parts: &[first_task(FashionMnist), split(Mnist, 5, 2)],
        resizable: false,
    },
    BenchmarkSpec {
        name: "split_cifar10",
        summary: "CIFAR-10, 5 tasks x 2 classes",
        parts: &[split(Cifar10, 5, 2)],
        resizable: true,
    },
    BenchmarkSpec {
        name: "cifar10_to_mnist",
        summary: "task 1 = CIFAR-10 10-way, tasks 2-6 = MNIST 5 x 2 as 3 x 32 x 32 (split CIFAR-10/100's shape with the data these machines have)",
        parts: &[first_task(Cifar10), split(Mnist, 5, 2)],
        resizable: false,
    },
    BenchmarkSpec {
        name: "split_cifar100",
        summary: "CIFAR-100, 10 tasks x 10 classes",
        parts: &[split(Cifar100, 10, 10)],
        resizable: true,
    },
    BenchmarkSpec {
        name: "split_cifar10_100",
        summary: "task 1 = CIFAR-10 10-way, tasks 2-6 = CIFAR-100 classes 0-49 in 5 x 10",
        parts: &[
            first_task(Cifar10),
            Part {
                dataset: Cifar100,
                pool: Some(50),
                tasks: 5,
                per_task: 10,
                shuffle: true,
            },
        ],
        resizable: false,
    },
    BenchmarkSpec {
        name: "split_svhn",
        summary: "SVHN, 5 tasks x 2 digits",
        parts: &[split(Svhn, 5, 2)],
        resizable: true,
    },
    BenchmarkSpec {
        name: "imagenet100",
        summary: "ImageNet-100 image folders, 10 tasks x 10 classes",
        parts: &[split(ImageNet100, 10, 10)],
        resizable: true,
    },
    BenchmarkSpec {
        name: "msceleb10k",
        summary: "MS-Celeb-10K image folders, 10 tasks x 1000 identities",
        parts: &[split(MsCeleb10k, 10, 1000)],
        resizable: true,
    },
    BenchmarkSpec {
        name: "image_folder",
        summary: "your own class folders (benchmark.dataset_dir: train/CLASS/*, val/CLASS/*) cut into benchmark.tasks x benchmark.classes_per_task",
        parts: &[split(ImageFolder, 0, 0)],
        resizable: true,
    },
    BenchmarkSpec {
        name: "mnist",
        summary: "all of MNIST as one 10-way task (a base pretraining source)",
        parts: &[whole(Mnist)],
        resizable: false,
    },
    BenchmarkSpec {
        name: "fashion_mnist",
        summary: "all of Fashion-MNIST as one 10-way task (a base pretraining source)",
        parts: &[whole(FashionMnist)],
        resizable: false,
    },
    BenchmarkSpec {
        name: "cifar10",
        summary: "all of CIFAR-10 as one 10-way task (a base pretraining source)",
        parts: &[whole(Cifar10)],
        resizable: false,
    },
    BenchmarkSpec {
        name: "cifar100",
        summary: "all of CIFAR-100 as one task, 100 fine (or 20 coarse) classes (a base pretraining source)",
        parts: &[whole(Cifar100)],
        resizable: false,
    },
    BenchmarkSpec {
        name: "svhn",
        summary: "all of SVHN as one 10-way task (a base pretraining source)",
        parts: &[whole(Svhn)],
        resizable: false,
    },
];

/// Every name `benchmark.name` accepts.
pub fn benchmark_names() -> Vec<&'static str> {
    std::iter::once("synthetic")
        .chain(BENCHMARKS.iter().map(|b| b.name))
        .collect()
}

pub(crate) fn find(name: &str) -> Result<&'static BenchmarkSpec, DataError> {
    BENCHMARKS
        .iter()
        .find(|b| b.name == name)
        .ok_or_else(|| DataError::UnknownBenchmark(name.to_string(), benchmark_names().join(", ")))
}

/// Most tasks (and classes per task) of a benchmark cut from a dataset.
const MAX_TASKS: usize = 10_000;

/// Default side of image-folder images: practical on a CPU or one GPU; the paper's 224 is one
/// `image_size: 224` away.
pub const DEFAULT_FOLDER_IMAGE_SIZE: i64 = 64;

impl BenchmarkSpec {
    pub(crate) fn is_folder(&self) -> bool {
        self.parts.iter().any(|p| p.dataset.is_image_folder())
    }

    /// Rejects keys this benchmark does not understand and out-of-range values.
    pub(crate) fn validate(&self, cfg: &BenchmarkConfig) -> Result<(), DataError> {
        let bad = |m: String| Err(DataError::config(self.name, m));
        if cfg.train_per_class.is_some() || cfg.test_per_class.is_some() {
            return bad("train_per_class / test_per_class are for `synthetic` only; use per_class_cap / test_per_class_cap to take fewer images".into());
        }
        if !self.resizable && (cfg.tasks.is_some() || cfg.classes_per_task.is_some()) {
            return bad(format!(
                "tasks / classes_per_task are fixed for this benchmark ({}); they apply to synthetic, split_* benchmarks, imagenet100 and msceleb10k",
                self.summary
            ));
        }
        if matches!(cfg.tasks, Some(0)) || matches!(cfg.classes_per_task, Some(0 | 1)) {
            return bad("tasks must be >= 1 and classes_per_task >= 2".into());
        }
        if cfg.tasks.is_some_and(|t| t > MAX_TASKS)
            || cfg.classes_per_task.is_some_and(|c| c > MAX_TASKS)
        {
            let shown = |v: Option<usize>| v.map_or("unset".to_string(), |n| n.to_string());
            return bad(format!(
                "tasks and classes_per_task must be at most {MAX_TASKS} (got tasks: {}, classes_per_task: {})",
                shown(cfg.tasks),
                shown(cfg.classes_per_task)
            ));
        }
        if cfg.coarse_labels && self.name != "cifar100" {
            return bad("coarse_labels applies to `cifar100` only".into());
        }
        if cfg.skip_bad_images && !self.is_folder() {
            return bad(
                "skip_bad_images applies to image-folder benchmarks (imagenet100, msceleb10k, image_folder) only"
                    .into(),
            );
        }
        if !(0.0..1.0).contains(&cfg.validation_fraction) {
            return bad(format!(
                "validation_fraction must be in [0, 1), got {}",
                cfg.validation_fraction
            ));
        }
        if matches!(cfg.per_class_cap, Some(0)) || matches!(cfg.test_per_class_cap, Some(0)) {
            return bad("per_class_cap and test_per_class_cap must be >= 1".into());
        }
        if let Some(s) = cfg.image_size {
            if !(4..=1024).contains(&s) {
                return bad(format!("image_size must be 4..=1024, got {s}"));
            }
        }
        if let Some(c) = cfg.channels {
            if c != 1 && c != 3 {
                return bad(format!("channels must be 1 or 3, got {c}"));
            }
        }
        Ok(())
    }

    /// `[C, H, W]` of the images this config produces, known without reading any file.
    pub(crate) fn image_shape(&self, cfg: &BenchmarkConfig) -> [i64; 3] {
        let native = self.parts[0].dataset.native_shape().unwrap_or([
            3,
            DEFAULT_FOLDER_IMAGE_SIZE,
            DEFAULT_FOLDER_IMAGE_SIZE,
        ]);
        [
            cfg.channels.unwrap_or(native[0]),
            cfg.image_size.unwrap_or(native[1]),
            cfg.image_size.unwrap_or(native[2]),
        ]
    }
}
