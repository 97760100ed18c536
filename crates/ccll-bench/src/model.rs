//! A model built through ccll-core's own code (config, `build_strategy`, the task sequence of
//! the strategy, `Optimizer`, `train_step`), stopped at the task a benchmark needs: task 1
//! (the base trains) or task 2 (the base is frozen with BN in eval mode; calibration and head
//! train). What the benchmarks time is therefore what a run executes.

use anyhow::Context;
use ccll_core::checkpoint::{read_tensors, save_tensors};
use ccll_core::config::{MethodConfig, ModelConfig, TrainConfig};
use ccll_core::data::{DeviceSplit, DeviceTask};
use ccll_core::optim::Optimizer;
use ccll_core::strategy::{build_strategy, StepOutput, Strategy};
use ccll_core::train::train_step;
use ccll_core::RunConfig;
use ccll_data::{Augmentation, BenchmarkConfig, Normalization};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// What to build and how it trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// `resnet18`, `resnet18_cifar` or `convnet`.
    pub arch: String,
    pub width: i64,
    pub in_channels: i64,
    pub image_size: i64,
    pub classes: i64,
    /// 1: the base trains (no calibration); 2: task-2 calibration + head train, base frozen.
    pub task: usize,
    pub alpha: i64,
    pub beta: i64,
    pub batch: i64,
    /// `ccll` (SCM + CCM), or another calibrated variant.
    pub method: String,
    /// Learning rate of the base and head (the calibration's is 0.2 x this, as in runs).
    pub lr: f64,
}

impl ModelSpec {
    pub fn new(arch: &str, width: i64, task: usize, alpha: i64) -> Self {
        let (in_channels, image_size) = match arch {
            "convnet" => (1, 28),
            "resnet18" => (3, 224),
            _ => (3, 32),
        };
        Self {
            arch: arch.into(),
            width,
            in_channels,
            image_size,
            classes: 10,
            task,
            alpha,
            beta: 1,
            batch: 64,
            method: "ccll".into(),
            lr: TrainConfig::default().lr,
        }
    }

    pub fn with_lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }

    pub fn with_batch(mut self, batch: i64) -> Self {
        self.batch = batch;
        self
    }

    pub fn with_image(mut self, in_channels: i64, size: i64) -> Self {
        self.in_channels = in_channels;
        self.image_size = size;
        self
    }

    /// Short label, e.g. `resnet18_cifar w20 task2 a1`.
    pub fn label(&self) -> String {
        let mut s = format!("{} w{} {}px", self.arch, self.width, self.image_size);
        if self.task == 1 {
            s.push_str(" task1 (base)");
        } else {
            s.push_str(&format!(" task2 α{}", self.alpha));
        }
        s
    }

    /// The run config this model is built from: defaults of `train`.
    pub fn run_config(&self) -> RunConfig {
        RunConfig {
            benchmark: BenchmarkConfig::named("synthetic"),
            model: ModelConfig {
                arch: self.arch.clone(),
                width: Some(self.width),
            },
            // The benchmark's specs are fixed in code: a bad one is a bug here.
            method: MethodConfig::named(&self.method, Some(self.alpha), Some(self.beta))
                .unwrap_or_else(|e| panic!("benchmark model {}: {e}", self.label())),
            train: TrainConfig {
                batch_size: self.batch as usize,
                lr: self.lr,
                // The PyTorch reference steps every parameter with SGD.
                calibration_optimizer: Some(ccll_core::config::OptimizerKind::Sgd),
                ..Default::default()
            },
            base: Default::default(),
        }
    }

    /// The description the PyTorch reference takes (`--spec`).
    pub fn reference_spec(&self, cfg: &TrainConfig, threads: usize, device: Device) -> String {
        self.reference_spec_value(cfg, threads, device).to_string()
    }

    /// The same, with the reference's forward under torch.compile.
    pub fn compiled_reference_spec(
        &self,
        cfg: &TrainConfig,
        threads: usize,
        device: Device,
    ) -> String {
        let mut v = self.reference_spec_value(cfg, threads, device);
        v["compile"] = serde_json::Value::Bool(true);
        v.to_string()
    }

    fn reference_spec_value(
        &self,
        cfg: &TrainConfig,
        threads: usize,
        device: Device,
    ) -> serde_json::Value {
        serde_json::json!({
            "arch": self.arch,
            "width": self.width,
            "in_channels": self.in_channels,
            "classes": self.classes,
            "task": self.task,
            "alpha": self.alpha,
            "beta": self.beta,
            "lr": cfg.lr,
            "calibration_lr": cfg.calibration_lr(),
            "momentum": cfg.momentum,
            "weight_decay": cfg.weight_decay,
            "threads": threads,
            "device": ccll_core::device::device_name(device),
        })
    }
}

/// A strategy at the start of task `spec.task`, with its optimiser.
pub struct BenchModel {
    pub spec: ModelSpec,
    pub config: RunConfig,
    pub strategy: Box<dyn Strategy>,
    pub opt: Optimizer,
    pub device: Device,
}

/// A `DeviceTask` without data, for the strategy hooks that take one (`end_task`).
fn empty_task(device: Device, classes: i64, channels: i64, size: i64) -> DeviceTask {
    let split = || DeviceSplit {
        images: Tensor::zeros([0, channels, size, size], (Kind::Uint8, device)),
        labels: Tensor::zeros([0], (Kind::Int64, device)),
    };
    let normalization = Normalization {
        mean: vec![0.5; channels as usize],
        std: vec![0.25; channels as usize],
    };
    DeviceTask::new(
        split(),
        split(),
        classes,
        &normalization,
        Augmentation::NONE,
    )
}

impl BenchModel {
    /// Builds the model with libtorch's generator seeded by `seed`, and runs the strategy's
    /// task sequence up to the beginning of `spec.task` (ending task 1 freezes the base).
    pub fn new(spec: &ModelSpec, device: Device, seed: i64) -> anyhow::Result<Self> {
        anyhow::ensure!(
            spec.task == 1 || spec.task == 2,
            "task must be 1 or 2, got {}",
            spec.task
        );
        let config = spec.run_config();
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("benchmark model {}: {e}", spec.label()))?;
        tch::manual_seed(seed);
        let shape = [spec.in_channels, spec.image_size, spec.image_size];
        let ctx = config.strategy_context(device, shape, vec![spec.classes; 2]);
        let mut strategy = build_strategy(&ctx)?;
        strategy.begin_task(0)?;
        if spec.task == 2 {
            let empty = empty_task(device, spec.classes, spec.in_channels, spec.image_size);
            strategy.end_task(0, &empty)?;
            strategy.begin_task(1)?;
        }
        let opt = Optimizer::new(&config.train, strategy.trainable());
        anyhow::ensure!(!opt.is_empty(), "{}: nothing to train", spec.label());
        Ok(Self {
            spec: spec.clone(),
            config,
            strategy,
            opt,
            device,
        })
    }

    pub fn task_index(&self) -> usize {
        self.spec.task - 1
    }

    /// Moves BN statistics and the (identity-initialised) calibration away from their initial
    /// values, deterministically, so that an equivalence check exercises every term.
    pub fn randomize(&self, seed: i64) {
        tch::manual_seed(seed);
        tch::no_grad(|| {
            for (name, mut t) in self.strategy.state() {
                let noise = |scale: f64| t.randn_like() * scale;
                let v = if name.ends_with("running_var") {
                    Some(t.rand_like() * 0.5 + 0.75)
                } else if name.ends_with("running_mean") {
                    Some(noise(0.1))
                } else if name.ends_with("scm.weight") {
                    Some(noise(0.05))
                } else if name.contains("bn") && name.ends_with(".weight") {
                    Some(t.ones_like() + noise(0.1))
                } else if name.contains("bn") && name.ends_with(".bias") {
                    Some(noise(0.1))
                } else {
                    None
                };
                if let Some(v) = v {
                    t.copy_(&v);
                }
            }
        });
    }

    /// The tensors the current task uses: `base.*` and `task<t>.*`.
    pub fn weights(&self) -> BTreeMap<String, Tensor> {
        let task = format!("task{}.", self.spec.task);
        self.strategy
            .state()
            .into_iter()
            .filter(|(n, _)| n.starts_with("base.") || n.starts_with(&task))
            .collect()
    }

    pub fn save_weights(&self, path: &Path) -> anyhow::Result<()> {
        Ok(save_tensors(&self.weights(), path, &BTreeMap::new())?)
    }

    /// Copies the tensors of a file written by [`Self::save_weights`] into the model.
    pub fn load_weights(&self, path: &Path) -> anyhow::Result<()> {
        let (file, _) = read_tensors(path)?;
        let own = self.weights();
        anyhow::ensure!(
            file.len() == own.len(),
            "{}: {} tensors, the model has {}",
            path.display(),
            file.len(),
            own.len()
        );
        tch::no_grad(|| -> anyhow::Result<()> {
            for (name, mut t) in own {
                let src = file
                    .get(&name)
                    .with_context(|| format!("{}: no tensor {name}", path.display()))?;
                t.f_copy_(src)?;
            }
            Ok(())
        })
    }

    /// A random normalised batch and its labels, on the model's device.
    pub fn random_batch(&self, seed: i64) -> (Tensor, Tensor) {
        tch::manual_seed(seed);
        let s = &self.spec;
        let x = Tensor::randn(
            [s.batch, s.in_channels, s.image_size, s.image_size],
            (Kind::Float, self.device),
        );
        let y = Tensor::randint(s.classes, [s.batch], (Kind::Int64, self.device));
        (x, y)
    }

    /// One training step, exactly as `train_task` does it.
    pub fn step(&mut self, x: &Tensor, y: &Tensor) -> StepOutput {
        let task = self.task_index();
        train_step(self.strategy.as_mut(), &mut self.opt, x, y, task)
    }

    /// Loss of a forward pass in training mode, without gradients.
    pub fn loss(&self, x: &Tensor, y: &Tensor) -> f64 {
        tch::no_grad(|| {
            self.strategy
                .forward(x, self.task_index(), true)
                .cross_entropy_for_logits(y)
                .double_value(&[])
        })
    }

    /// Inference logits of `task` (0-based), eval mode, no gradients.
    pub fn infer(&self, x: &Tensor, task: usize) -> Tensor {
        tch::no_grad(|| self.strategy.forward(x, task, false))
    }

    /// L2 norm of the gradient of every tensor that has one.
    pub fn grad_norms(&self) -> BTreeMap<String, f64> {
        self.weights()
            .into_iter()
            .filter_map(|(n, t)| {
                let g = t.grad();
                g.defined()
                    .then(|| (n, g.to_kind(Kind::Double).norm().double_value(&[])))
            })
            .collect()
    }

    /// L2 norm of the value of every tensor that has a gradient (the trained ones).
    pub fn trained_norms(&self) -> BTreeMap<String, f64> {
        self.weights()
            .into_iter()
            .filter(|(_, t)| t.grad().defined())
            .map(|(n, t)| (n, t.detach().to_kind(Kind::Double).norm().double_value(&[])))
            .collect()
    }

    /// Waits for the device (CUDA) to finish queued work.
    pub fn sync(&self) {
        sync(self.device);
    }
}

pub fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Writes a batch in the layout the reference reads: `x` (float) and `y` (int64).
pub fn save_batch(x: &Tensor, y: &Tensor, path: &Path) -> anyhow::Result<()> {
    let map = BTreeMap::from([
        ("x".to_string(), x.shallow_clone()),
        ("y".to_string(), y.shallow_clone()),
    ]);
    Ok(save_tensors(&map, path, &BTreeMap::new())?)
}
