//! Figure 3: does the input pipeline starve training? One epoch of `train_task` on real data
//! (shuffling, gathering `u8` batches on the device, normalisation, augmentation, loss and
//! accuracy bookkeeping, progress events) against the pure compute of the same steps: the same
//! number of `train_step`s on the same batch sizes, already normalised on the device.

use crate::model::{BenchModel, ModelSpec};
use crate::report::{Figure, Target};
use crate::timing::{alternate, median, seconds};
use crate::Options;
use ccll_core::data::DeviceTask;
use ccll_core::strategy::build_strategy;
use ccll_core::train::train_task;
use ccll_data::{data_root, load_benchmark, Benchmark, BenchmarkConfig};
use tch::{Device, Kind, Tensor};

const SECTION: &str = "3. end-to-end epoch vs pure compute";
pub const TARGET: f64 = 0.95;

/// The benchmark of the epoch: split MNIST task 1 (digits 0 and 1), augmentation on.
pub fn benchmark_config() -> BenchmarkConfig {
    BenchmarkConfig {
        augment: Some(true),
        ..BenchmarkConfig::named("split_mnist")
    }
}

/// Real data when it is on disk, else the synthetic benchmark of the same shape (said so).
fn load(device: Device) -> (Benchmark, bool, f64, Vec<DeviceTask>) {
    let root = data_root(None);
    let (secs, real) = seconds(|| load_benchmark(&benchmark_config(), &root));
    let (bench, is_real) = match real {
        Ok(b) => (b, true),
        Err(e) => {
            eprintln!("[epoch] real data unavailable ({e}); using synthetic data");
            let cfg = BenchmarkConfig {
                tasks: Some(1),
                classes_per_task: Some(2),
                image_size: Some(28),
                channels: Some(1),
                train_per_class: Some(6000),
                test_per_class: Some(100),
                augment: Some(true),
                ..BenchmarkConfig::named("synthetic")
            };
            (
                load_benchmark(&cfg, &root).expect("the synthetic benchmark needs no files"),
                false,
            )
        }
    };
    let data = DeviceTask::all_of(&bench, device);
    (bench, is_real, secs, data)
}

/// Sizes of the batches of one epoch, as `DeviceTask::shuffled_batches` cuts them.
pub fn batch_sizes(n: i64, batch: i64) -> Vec<i64> {
    (0..n)
        .step_by(batch as usize)
        .map(|start| batch.min(n - start))
        .filter(|&b| b >= 2)
        .collect()
}

pub fn run(device: Device, opts: &Options) -> Vec<Figure> {
    eprintln!("[epoch] convnet on split_mnist task 1");
    match measure(device, opts) {
        Ok(f) => f,
        Err(e) => vec![Figure::failed(
            SECTION,
            "epoch vs pure compute",
            Target::AtLeast(TARGET),
            format!("{e:#}"),
        )],
    }
}

fn measure(device: Device, opts: &Options) -> anyhow::Result<Vec<Figure>> {
    let (bench, real, load_secs, data) = load(device);
    let task = &data[0];
    let classes = task.classes;
    let [c, h, _] = bench.image_shape;
    let spec = ModelSpec {
        classes,
        ..ModelSpec::new("convnet", 32, 1, 1).with_image(c, h)
    };
    let sizes = batch_sizes(task.train.len(), spec.batch);
    let steps = sizes.len();
    let images: i64 = sizes.iter().sum();

    // Pure compute: one prepared batch (normalised, on the device), sliced to the epoch's
    // batch sizes, through the same training step.
    let idx = Tensor::arange(spec.batch, (Kind::Int64, device));
    let x_full = task.prepare(&task.train.images.index_select(0, &idx), false);
    let y_full = task.train.labels.index_select(0, &idx);
    let prepared: Vec<(Tensor, Tensor)> = sizes
        .iter()
        .map(|&b| (x_full.narrow(0, 0, b), y_full.narrow(0, 0, b)))
        .collect();
    let compute = || -> anyhow::Result<f64> {
        let mut model = BenchModel::new(&spec, device, 3)?;
        let (t, _) = seconds(|| {
            for (x, y) in &prepared {
                let _ = model.step(x, y);
            }
            model.sync();
        });
        Ok(t)
    };
    // The real thing: train_task for one epoch on the task's data.
    let epoch = || -> anyhow::Result<f64> {
        let cfg = spec.run_config();
        tch::manual_seed(3);
        let ctx = cfg.strategy_context(device, bench.image_shape, vec![classes]);
        let mut strategy = build_strategy(&ctx)?;
        let (t, r) = seconds(|| {
            let r = train_task(
                strategy.as_mut(),
                0,
                &data,
                &cfg.train,
                1,
                &mut |_| {},
                None,
            );
            crate::model::sync(device);
            r
        });
        r?;
        Ok(t)
    };
    // Warm-up of both paths (oneDNN primitives for every batch size).
    compute()?;
    epoch()?;
    let rounds = if opts.quick { 2 } else { opts.rounds().min(3) };
    let paired = alternate(rounds, compute, epoch)?;
    let ratio = paired.ratio();
    let per_s = |secs: f64| images as f64 / secs;
    let source = if real {
        format!("real data ({})", bench.source)
    } else {
        "SYNTHETIC data (MNIST not found under the data root; run `just data`)".into()
    };
    let epoch_fig = Figure::compared(
        SECTION,
        format!(
            "convnet w32, split_mnist task 1, {images} images, {steps} steps of ≤{} ({})",
            spec.batch,
            ccll_core::device::device_name(device)
        ),
        "img/s",
        per_s(median(&paired.b)),
        per_s(median(&paired.a)),
        ratio,
        Target::AtLeast(TARGET),
    )
    .note(format!(
        "ours = train_task epoch (shuffle, gather, normalise, augment crop ±{}, bookkeeping), reference = the same steps on a prepared batch; ratio = compute time / epoch time; median of {}; {source}",
        task.augmentation.crop_padding,
        paired.spread()
    ));
    let load_fig = Figure::plain(
        SECTION,
        "one-off: read the dataset from disk and build the tasks",
        "s",
        load_secs,
    )
    .note(format!(
        "once per run, not per epoch; {:.0}% of one epoch's time",
        100.0 * load_secs / median(&paired.b)
    ));
    Ok(vec![epoch_fig, load_fig])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_follow_shuffled_batches() {
        // A last batch of one is dropped (batch norm needs two), as DeviceTask does.
        assert_eq!(batch_sizes(129, 64), vec![64, 64]);
        assert_eq!(batch_sizes(130, 64), vec![64, 64, 2]);
        assert_eq!(batch_sizes(128, 64), vec![64, 64]);
    }
}
