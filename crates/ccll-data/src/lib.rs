//! Datasets in their original on-disk formats, cut into the task sequences of lifelong-learning
//! benchmarks, plus the augmentation and normalisation applied on the training device.
//!
//! A [`Benchmark`] is what a run consumes: a list of tasks, each with train and test images as
//! `u8` tensors `[N, C, H, W]` and labels `0..k` local to the task.

mod augment;
mod benchmark;
mod config;
mod error;
mod synthetic;

pub use augment::{Augmentation, Normalization};
pub use benchmark::{load_benchmark, Benchmark, Split, TaskData};
pub use config::{data_root, BenchmarkConfig, ClassOrder};
pub use error::DataError;
