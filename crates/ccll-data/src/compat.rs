//! Base pretraining sources: a base network may be trained on another benchmark's data (e.g.
//! CIFAR-10 for an SVHN sequence, Fashion-MNIST for an MNIST one). Both must produce images of
//! one shape; these checks say so before any training, and name the keys that fix it.

use crate::{benchmark_image_shape, Benchmark, BenchmarkConfig, DataError};

fn check(source: &str, a: [i64; 3], target: &str, b: [i64; 3]) -> Result<(), DataError> {
    if a == b {
        return Ok(());
    }
    Err(DataError::Incompatible(format!(
        "base source `{source}` yields images {a:?} [C, H, W] but benchmark `{target}` yields {b:?}; \
         set `image_size: {}` and `channels: {}` on the base source (load-time resize and channel \
         repeat/luma), or the matching values on the benchmark",
        b[1], b[0]
    )))
}

/// Checks that a loaded base source and a loaded benchmark share one image shape.
pub fn check_compatible(source: &Benchmark, target: &Benchmark) -> Result<(), DataError> {
    check(
        &source.name,
        source.image_shape,
        &target.name,
        target.image_shape,
    )
}

/// The same check on configs, without reading any data.
pub fn check_compatible_configs(
    source: &BenchmarkConfig,
    target: &BenchmarkConfig,
) -> Result<(), DataError> {
    check(
        &source.name,
        benchmark_image_shape(source)?,
        &target.name,
        benchmark_image_shape(target)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_cifar_need_resizing_and_say_how() {
        let svhn = BenchmarkConfig::named("split_svhn");
        assert!(check_compatible_configs(&BenchmarkConfig::named("cifar10"), &svhn).is_ok());
        let mut fashion = BenchmarkConfig::named("fashion_mnist");
        let err = check_compatible_configs(&fashion, &svhn)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[1, 28, 28]") && err.contains("image_size: 32"),
            "{err}"
        );
        fashion.image_size = Some(32);
        fashion.channels = Some(3);
        assert!(check_compatible_configs(&fashion, &svhn).is_ok());
    }
}
