//! `synthetic`: generated, deterministic, learnable images for tests and demos. Each class has
//! a smooth random prototype; samples are the prototype plus pixel noise and a small shift.

use crate::rng::SplitMix;
use crate::splits::{make_task, Drawing};
use crate::{Augmentation, Benchmark, BenchmarkConfig, DataError, Normalization, Split, TaskData};
use crate::{DatasetId, RawDataset, RawSplit};
use tch::{Kind, Tensor};

const DEFAULTS: (usize, usize, i64, i64, usize, usize) =
    (3, 2, DEFAULT_SIZE, DEFAULT_CHANNELS, 64, 32);
pub(crate) const DEFAULT_SIZE: i64 = 16;
pub(crate) const DEFAULT_CHANNELS: i64 = 1;

/// Most tasks, classes per task and images per class of a synthetic benchmark.
const MAX_TASKS: usize = 1000;
const MAX_CLASSES: usize = 1000;
const MAX_PER_CLASS: usize = 100_000;
/// Largest synthetic benchmark in memory (float32 pixels, train and test).
const MAX_BYTES: f64 = 8.0 * (1u64 << 30) as f64;

/// The sizes a config asks for, defaults filled in.
struct Sizes {
    tasks: usize,
    classes: usize,
    size: i64,
    channels: i64,
    train_n: usize,
    test_n: usize,
}

impl Sizes {
    fn of(cfg: &BenchmarkConfig) -> Self {
        Self {
            tasks: cfg.tasks.unwrap_or(DEFAULTS.0),
            classes: cfg.classes_per_task.unwrap_or(DEFAULTS.1),
            size: cfg.image_size.unwrap_or(DEFAULTS.2),
            channels: cfg.channels.unwrap_or(DEFAULTS.3),
            train_n: cfg.train_per_class.unwrap_or(DEFAULTS.4),
            test_n: cfg.test_per_class.unwrap_or(DEFAULTS.5),
        }
    }
}

/// The synthetic benchmark's sizes, checked: what `build` generates and what a dry run checks
/// without generating anything.
pub(crate) fn validate(cfg: &BenchmarkConfig) -> Result<(), DataError> {
    checked_sizes(cfg).map(|_| ())
}

fn checked_sizes(cfg: &BenchmarkConfig) -> Result<Sizes, DataError> {
    let sizes = Sizes::of(cfg);
    let Sizes {
        tasks,
        classes,
        size,
        channels,
        train_n,
        test_n,
    } = sizes;
    let bad = |message: String| {
        Err(DataError::Config {
            benchmark: "synthetic".into(),
            message,
        })
    };
    if tasks == 0 || classes < 2 {
        return bad(format!(
            "needs tasks >= 1 and classes_per_task >= 2 (got tasks: {tasks}, classes_per_task: {classes})"
        ));
    }
    if tasks > MAX_TASKS || classes > MAX_CLASSES {
        return bad(format!(
            "tasks must be at most {MAX_TASKS} and classes_per_task at most {MAX_CLASSES} (got {tasks} and {classes})"
        ));
    }
    if !(4..=512).contains(&size) || !(1..=4).contains(&channels) {
        return bad(format!(
            "image_size must be 4..=512 and channels 1..=4 (got {size} and {channels})"
        ));
    }
    if !(0.0..1.0).contains(&cfg.validation_fraction) {
        return bad(format!(
            "validation_fraction must be in [0, 1), got {}",
            cfg.validation_fraction
        ));
    }
    if train_n == 0 || test_n == 0 {
        return bad("train_per_class and test_per_class must be >= 1".into());
    }
    if train_n > MAX_PER_CLASS || test_n > MAX_PER_CLASS {
        return bad(format!(
            "train_per_class and test_per_class must be at most {MAX_PER_CLASS} (got {train_n} and {test_n})"
        ));
    }
    let bytes =
        (tasks * classes * (train_n + test_n)) as f64 * (channels * size * size) as f64 * 4.0;
    if bytes > MAX_BYTES {
        return bad(format!(
            "would need {:.1} GiB of images (at most {:.0} GiB); use fewer tasks, classes, images or a smaller image_size",
            bytes / (1u64 << 30) as f64,
            MAX_BYTES / (1u64 << 30) as f64
        ));
    }
    Ok(sizes)
}

pub(crate) fn build(cfg: &BenchmarkConfig) -> Result<Benchmark, DataError> {
    let Sizes {
        tasks,
        classes,
        size,
        channels,
        train_n,
        test_n,
    } = checked_sizes(cfg)?;
    let mut rng = SplitMix(0x5eed_cc11);
    let mut out = Vec::with_capacity(tasks);
    for t in 0..tasks {
        let protos: Vec<Vec<f32>> = (0..classes)
            .map(|_| prototype(&mut rng, channels, size))
            .collect();
        let train = samples(&mut rng, &protos, train_n, channels, size);
        let test = samples(&mut rng, &protos, test_n, channels, size);
        let class_names: Vec<String> = (0..classes).map(|k| format!("t{}c{}", t + 1, k)).collect();
        if cfg.validation_fraction > 0.0
            || cfg.per_class_cap.is_some()
            || cfg.test_per_class_cap.is_some()
        {
            // The same holdout and caps as the real benchmarks.
            let raw = RawDataset {
                id: DatasetId::Mnist,
                class_names,
                train: raw_split(train)?,
                test: raw_split(test)?,
                source: "generated".into(),
            };
            let drawing = Drawing {
                train_cap: cfg.per_class_cap,
                test_cap: cfg.test_per_class_cap,
                validation_fraction: cfg.validation_fraction,
                seed: cfg.class_order_seed ^ t as u64,
            };
            let all: Vec<usize> = (0..classes).collect();
            out.push(make_task(format!("task{}", t + 1), &raw, &all, &drawing)?);
            continue;
        }
        out.push(TaskData {
            name: format!("task{}", t + 1),
            classes: class_names,
            train,
            test,
            val: None,
        });
    }
    Ok(Benchmark {
        name: "synthetic".into(),
        tasks: out,
        image_shape: [channels, size, size],
        normalization: Normalization {
            mean: vec![0.5; channels as usize],
            std: vec![0.25; channels as usize],
        },
        augmentation: if cfg.augment == Some(true) {
            Augmentation {
                crop_padding: 1,
                horizontal_flip: false,
            }
        } else {
            Augmentation::NONE
        },
        source: "generated".into(),
    })
}

fn raw_split(s: Split) -> Result<RawSplit, DataError> {
    Ok(RawSplit {
        labels: Vec::<i64>::try_from(&s.labels)?,
        images: s.images,
    })
}

/// A smooth pattern: a 4x4 grid of random levels, bilinearly upsampled.
fn prototype(rng: &mut SplitMix, channels: i64, size: i64) -> Vec<f32> {
    let grid: Vec<f32> = (0..channels * 16)
        .map(|_| 40.0 + 175.0 * rng.uniform())
        .collect();
    let up = Tensor::from_slice(&grid)
        .view([1, channels, 4, 4])
        .upsample_bilinear2d([size, size], false, None, None);
    Vec::<f32>::try_from(up.flatten(0, -1)).unwrap_or_default()
}

fn samples(rng: &mut SplitMix, protos: &[Vec<f32>], per_class: usize, c: i64, s: i64) -> Split {
    let pixels = (c * s * s) as usize;
    let mut images = Vec::with_capacity(protos.len() * per_class * pixels);
    let mut labels = Vec::with_capacity(protos.len() * per_class);
    for _ in 0..per_class {
        for (k, proto) in protos.iter().enumerate() {
            let shift = (rng.next() % 3) as i64 - 1;
            for i in 0..pixels {
                let x = (i as i64 % s + shift).clamp(0, s - 1);
                let src = (i as i64 - i as i64 % s + x) as usize;
                let v = proto[src] + 30.0 * rng.normal();
                images.push(v.clamp(0.0, 255.0) as u8);
            }
            labels.push(k as i64);
        }
    }
    let n = labels.len() as i64;
    Split {
        images: Tensor::from_slice(&images).view([n, c, s, s]),
        labels: Tensor::from_slice(&labels).to_kind(Kind::Int64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_is_deterministic_and_shaped_as_asked() {
        let mut cfg = BenchmarkConfig::named("synthetic");
        cfg.tasks = Some(2);
        cfg.train_per_class = Some(5);
        cfg.test_per_class = Some(3);
        let a = build(&cfg).unwrap();
        let b = build(&cfg).unwrap();
        assert_eq!(a.tasks.len(), 2);
        assert_eq!(a.tasks[0].train.images.size(), vec![10, 1, 16, 16]);
        assert_eq!(a.tasks[1].test.len(), 6);
        assert!(a.tasks[1].train.images.equal(&b.tasks[1].train.images));
        assert!(!a.tasks[0].train.images.equal(&a.tasks[1].train.images));
        assert!(a.tasks[0].val.is_none());
    }

    #[test]
    fn synthetic_supports_the_validation_holdout_and_caps() {
        let mut cfg = BenchmarkConfig::named("synthetic");
        cfg.train_per_class = Some(10);
        cfg.validation_fraction = 0.2;
        cfg.test_per_class_cap = Some(4);
        let b = build(&cfg).unwrap();
        let t = &b.tasks[0];
        assert_eq!(t.val.as_ref().map(|v| v.len()), Some(4));
        assert_eq!(t.train.len(), 16);
        assert_eq!(t.test.len(), 8);
        assert_eq!(t.classes, vec!["t1c0", "t1c1"]);
    }
}
