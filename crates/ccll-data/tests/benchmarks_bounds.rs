//! Benchmark sizes that no run could hold are refused by the shape check a dry run uses,
//! before any data is generated or read.

use ccll_data::{benchmark_image_shape, BenchmarkConfig};

fn synthetic() -> BenchmarkConfig {
    BenchmarkConfig::named("synthetic")
}

#[test]
fn oversized_synthetic_benchmarks_are_refused_with_the_bound() {
    let mut cfg = synthetic();
    cfg.image_size = Some(100_000);
    let e = benchmark_image_shape(&cfg).unwrap_err().to_string();
    assert!(e.contains("image_size must be 4..=512"), "{e}");
    let mut cfg = synthetic();
    cfg.tasks = Some(1_000_000_000);
    let e = benchmark_image_shape(&cfg).unwrap_err().to_string();
    assert!(e.contains("tasks must be at most 1000"), "{e}");
    let mut cfg = synthetic();
    cfg.tasks = Some(1000);
    cfg.classes_per_task = Some(1000);
    let e = benchmark_image_shape(&cfg).unwrap_err().to_string();
    assert!(e.contains("GiB of images"), "{e}");
    assert_eq!(benchmark_image_shape(&synthetic()).unwrap(), [1, 16, 16]);
}

#[test]
fn a_split_benchmark_with_absurd_task_counts_is_refused() {
    let mut cfg = BenchmarkConfig::named("split_mnist");
    cfg.tasks = Some(1_000_000_000);
    let e = benchmark_image_shape(&cfg).unwrap_err().to_string();
    assert!(e.contains("must be at most 10000"), "{e}");
}
