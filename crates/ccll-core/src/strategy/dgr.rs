//! `dgr`: Deep Generative Replay (Shin et al., NeurIPS 2017), task-incremental, with a
//! variational autoencoder as the generator, as in van de Ven's continual-learning reference
//! code (van de Ven & Tolias 2019, "Three scenarios for continual learning").
//!
//! The solver is `finetune`'s model (one trunk, a head per task). While task t >= 2 is trained,
//! every batch of new data is paired with a batch of the same size drawn from the generator as
//! it was after task t-1, and both go through the trunk in one batch-mode pass (the mixed
//! mini-batch of the references; `replay_batch: separate` sends the replayed images through BN
//! in inference mode instead); the solver as it was after task t-1 labels each replayed image for
//! every old task j < t with its head j, and the current heads j are trained on those labels:
//!
//! `loss = (1/t) CE(head_t(x), y) + (1 - 1/t) mean_{j<t} L(head_j(x_r), prev_head_j(x_r))`
//!
//! with L the cross-entropy against the old solver's arg-max (`targets: hard`, DGR's rule) or
//! `T^2 KL` against its softened outputs (`targets: soft`, van de Ven's "DGR+distill"). After
//! the solver, the generator learns task t for `generator_epochs` epochs: a VAE loss on the
//! new images mixed, with the same weights, with one on images replayed by the previous
//! generator, so that one generator keeps all tasks. With `replay: false` the generator is
//! neither built nor trained, and the method is `finetune`, draw for draw.
//!
//! The VAE (van de Ven's fully connected one for MNIST): encoder `C*H*W -> fc_units -> fc_units
//! -> (mu, log var)` of `z_dim`, decoder `z_dim -> fc_units -> fc_units -> C*H*W`, ReLU between.
//! It models the solver's normalised inputs, so its reconstruction loss is the squared error
//! (a Gaussian likelihood; the reference uses binary cross-entropy on [0, 1] pixels), summed
//! per image and, with the KL term, divided by the pixel count (as the reference averages per
//! pixel). Adam at `generator_lr` (0.001, betas 0.9/0.999 as the reference), fresh for every
//! task, so that a run resumed after a task needs no optimiser state.
//!
//! Memory: the generator is counted in the shared parameters (`backbone` = trunk +
//! generator), as the memory DGR keeps instead of data. It is not used at test time (FLOPs are
//! finetune's). Checkpoints: `finetune`'s plus `heads_after_task{t}` (replay trains the old
//! heads) and `generator_after_task{t}.safetensors`; after every task an 8 x 8 grid of samples
//! is written as `generator_samples_after_task{t}.png`, so that a user sees what is replayed.
//! The old solver and generator are rebuilt from the loaded state, not saved.

use super::trunk::{kl_at_temperature, FrozenModel, Trunk};
use super::{Method, MethodEntry, MethodInfo, MethodOptions, Model, StepOutput, StrategyContext};
use crate::checkpoint::{artifact, load_store, save_store};
use crate::data::DeviceTask;
use crate::error::KeyError;
use crate::nn::count_trainable;
use ccll_results::Artifact;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

pub static ENTRY: MethodEntry<DgrOptions> = MethodEntry {
    info: MethodInfo {
        name: "dgr",
        // Task 1 also trains the generator, which a shared base job does not.
        shares_base: false,
        about: "baseline: finetune with replay from a VAE generator (Shin et al., deep generative replay)",
    },
    build: |o, ctx| Ok(Box::new(Dgr::new(o, ctx)?)),
};

/// How replayed images are labelled by the previous solver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Targets {
    /// The previous head's arg-max (DGR).
    Hard,
    /// The previous head's softened outputs, `T^2 KL` (DGR+distill).
    Soft,
}

/// How replayed images go through the trunk's batch norm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayBatch {
    /// New and replayed images in one batch-mode forward pass.
    Joint,
    /// Replayed images in a pass of their own with BN in inference mode.
    Separate,
}

/// Options of `dgr` as written; the accessors give the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DgrOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Targets>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_batch: Option<ReplayBatch>,
    /// Temperature of `targets: soft`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z_dim: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fc_units: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_lr: Option<f64>,
    /// Epochs of generator training per task; unset: `train.epochs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_epochs: Option<usize>,
    /// The rule that picks the task without the task id (`task_inference`); unset: the
    /// method's default (see `crate::task_inference::primary_rule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_inference: Option<crate::task_inference::Rule>,
}

impl DgrOptions {
    pub fn replay(&self) -> bool {
        self.replay.unwrap_or(true)
    }
    pub fn replay_batch(&self) -> ReplayBatch {
        self.replay_batch.unwrap_or(ReplayBatch::Joint)
    }
    pub fn targets(&self) -> Targets {
        self.targets.unwrap_or(Targets::Hard)
    }
    pub fn temperature(&self) -> f64 {
        self.temperature.unwrap_or(2.0)
    }
    /// van de Ven's z_dim for split MNIST.
    pub fn z_dim(&self) -> i64 {
        self.z_dim.unwrap_or(100)
    }
    /// van de Ven's fc_units for split MNIST.
    pub fn fc_units(&self) -> i64 {
        self.fc_units.unwrap_or(400)
    }
    pub fn generator_lr(&self) -> f64 {
        self.generator_lr.unwrap_or(0.001)
    }
}

impl MethodOptions for DgrOptions {
    fn task_inference(&self) -> Option<crate::task_inference::Rule> {
        self.task_inference
    }
    fn check(&self) -> Result<(), KeyError> {
        let t = self.temperature();
        if !(t.is_finite() && t > 0.0) {
            return Err(KeyError::new(
                "method.temperature",
                format!("must be a positive number, got {t}"),
            ));
        }
        for (key, v) in [("z_dim", self.z_dim()), ("fc_units", self.fc_units())] {
            if !(1..=65_536).contains(&v) {
                return Err(KeyError::new(
                    format!("method.{key}"),
                    format!("must be 1..=65536, got {v}"),
                ));
            }
        }
        let lr = self.generator_lr();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(KeyError::new(
                "method.generator_lr",
                format!("must be a positive number, got {lr}"),
            ));
        }
        if self.generator_epochs.is_some_and(|e| e > 100_000) {
            return Err(KeyError::new(
                "method.generator_epochs",
                "must be at most 100000",
            ));
        }
        Ok(())
    }
}

/// The generator: a fully connected VAE over `[C, H, W]` images.
pub struct Vae {
    pub vs: nn::VarStore,
    encoder: nn::Sequential,
    mu: nn::Linear,
    log_var: nn::Linear,
    decoder: nn::Sequential,
    shape: [i64; 3],
    z_dim: i64,
}

impl Vae {
    fn new(device: Device, shape: [i64; 3], opts: &DgrOptions) -> Self {
        let vs = nn::VarStore::new(device);
        let p = vs.root();
        let pixels = shape.iter().product::<i64>();
        let (h, z) = (opts.fc_units(), opts.z_dim());
        let c = nn::LinearConfig::default();
        let encoder = nn::seq()
            .add(nn::linear(&p / "enc1", pixels, h, c))
            .add_fn(|x| x.relu())
            .add(nn::linear(&p / "enc2", h, h, c))
            .add_fn(|x| x.relu());
        let mu = nn::linear(&p / "mu", h, z, c);
        let log_var = nn::linear(&p / "log_var", h, z, c);
        let decoder = nn::seq()
            .add(nn::linear(&p / "dec1", z, h, c))
            .add_fn(|x| x.relu())
            .add(nn::linear(&p / "dec2", h, h, c))
            .add_fn(|x| x.relu())
            .add(nn::linear(&p / "dec3", h, pixels, c));
        Self {
            vs,
            encoder,
            mu,
            log_var,
            decoder,
            shape,
            z_dim: z,
        }
    }

    /// A frozen copy with the same values.
    fn frozen_copy(&self, opts: &DgrOptions) -> anyhow::Result<Self> {
        let mut copy = Self::new(self.vs.device(), self.shape, opts);
        copy.vs.copy(&self.vs)?;
        copy.vs.freeze();
        Ok(copy)
    }

    /// `n` images decoded from `z ~ N(0, I)`, `[n, C, H, W]`.
    pub fn sample(&self, n: i64) -> Tensor {
        let z = Tensor::randn([n, self.z_dim], (Kind::Float, self.vs.device()));
        let [c, h, w] = self.shape;
        self.decoder.forward(&z).view([n, c, h, w])
    }

    /// The VAE loss of a batch: (squared reconstruction error + KL) per image, over pixels.
    fn loss(&self, x: &Tensor) -> Tensor {
        let n = x.size()[0];
        let flat = x.view([n, -1]);
        let hidden = self.encoder.forward(&flat);
        let (mu, log_var) = (self.mu.forward(&hidden), self.log_var.forward(&hidden));
        let z = &mu + (&log_var * 0.5).exp() * mu.randn_like();
        let recon = (self.decoder.forward(&z) - &flat)
            .square()
            .sum_dim_intlist(-1, false, Kind::Float);
        let kl = ((&log_var + 1.0 - mu.square() - log_var.exp())
            .sum_dim_intlist(-1, false, Kind::Float))
            * -0.5;
        (recon + kl).mean(Kind::Float) / flat.size()[1] as f64
    }
}

/// The solver and generator as they were after the previous task.
struct Previous {
    solver: FrozenModel,
    generator: Vae,
}

pub struct Dgr {
    trunk: Trunk,
    opts: DgrOptions,
    /// `None` with `replay: false`.
    generator: Option<Vae>,
    previous: Option<Previous>,
    batch_size: usize,
    generator_epochs: usize,
    /// Samples of the generator after the last trained task, `[64, C, H, W]` normalised.
    samples: Option<(usize, Tensor)>,
}

impl Dgr {
    pub fn new(opts: &DgrOptions, ctx: &StrategyContext) -> Result<Self, KeyError> {
        // The trunk first: its initial draws are finetune's. Replay trains the old heads;
        // without it they stay frozen, as finetune's.
        let trunk = Trunk::new(ctx, ENTRY.info.name, opts.replay())?;
        let generator = opts
            .replay()
            .then(|| Vae::new(ctx.device, ctx.image_shape, opts));
        Ok(Self {
            trunk,
            opts: *opts,
            generator,
            previous: None,
            batch_size: ctx.train.batch_size,
            generator_epochs: opts.generator_epochs.unwrap_or(ctx.train.epochs),
            samples: None,
        })
    }

    pub fn generator_file(dir: &Path, task: usize) -> PathBuf {
        dir.join(format!("generator_after_task{}.safetensors", task + 1))
    }

    pub fn samples_file(dir: &Path, task: usize) -> PathBuf {
        dir.join(format!("generator_samples_after_task{}.png", task + 1))
    }

    /// The generator, if the method replays.
    pub fn generator(&self) -> Option<&Vae> {
        self.generator.as_ref()
    }

    /// Trains the generator on `task`'s images, mixed with replay from the previous one.
    fn train_generator(&mut self, task: usize, data: &DeviceTask) -> anyhow::Result<()> {
        let Some(generator) = &self.generator else {
            return Ok(());
        };
        let mut opt = nn::Adam::default().build(&generator.vs, self.opts.generator_lr())?;
        let new_weight = 1.0 / (task + 1) as f64;
        for _ in 0..self.generator_epochs {
            for idx in data.shuffled_batches(self.batch_size) {
                let x = data.prepare(&data.train.images.index_select(0, &idx), false);
                let mut loss = generator.loss(&x);
                if let Some(prev) = &self.previous {
                    let replayed = tch::no_grad(|| prev.generator.sample(x.size()[0]));
                    loss = loss * new_weight + generator.loss(&replayed) * (1.0 - new_weight);
                }
                opt.backward_step(&loss);
            }
        }
        Ok(())
    }

    /// Freezes copies of the solver and generator as they are now (after a task, and on load;
    /// before the next task seeds libtorch's generator, so the draws of building them do not
    /// change the next task's).
    fn remember(&mut self) -> anyhow::Result<()> {
        let Some(generator) = &self.generator else {
            return Ok(());
        };
        self.previous = Some(Previous {
            solver: self.trunk.frozen_copy()?,
            generator: generator.frozen_copy(&self.opts)?,
        });
        Ok(())
    }

    /// Replayed images for `task`'s step: `n` samples of the previous generator, if there
    /// are old tasks to replay.
    fn replayed(&self, n: i64, task: usize) -> Option<Tensor> {
        let prev = self.previous.as_ref()?;
        (task.min(prev.solver.heads.len()) > 0).then(|| tch::no_grad(|| prev.generator.sample(n)))
    }

    /// `mean_{j < task} L(head_j, previous head_j)` on replayed images `x` whose features
    /// under the current trunk are `feats`.
    fn replay_loss(&self, x: &Tensor, feats: &Tensor, task: usize) -> Option<Tensor> {
        let prev = self.previous.as_ref()?;
        let old = task.min(prev.solver.heads.len());
        if old == 0 {
            return None;
        }
        let prev_feats = tch::no_grad(|| prev.solver.net.features(x, false));
        let t = self.opts.temperature();
        let mut sum: Option<Tensor> = None;
        for j in 0..old {
            let target = tch::no_grad(|| prev.solver.heads[j].logits(&prev_feats));
            let student = self.trunk.heads[j].logits(feats);
            let l = match self.opts.targets() {
                Targets::Hard => student.cross_entropy_for_logits(&target.argmax(-1, false)),
                Targets::Soft => kl_at_temperature(&target, &student, t) * (t * t),
            };
            sum = Some(match sum {
                Some(s) => s + l,
                None => l,
            });
        }
        sum.map(|s| s / old as f64)
    }
}

impl Method for Dgr {
    type Model = Trunk;

    fn name(&self) -> &str {
        ENTRY.info.name
    }

    fn model(&self) -> &Trunk {
        &self.trunk
    }

    fn model_mut(&mut self) -> &mut Trunk {
        &mut self.trunk
    }

    /// The new task's cross-entropy, weighted 1/t against the replayed tasks' loss.
    fn training_step(&mut self, x: &Tensor, labels: &Tensor, task: usize) -> StepOutput {
        let n = x.size()[0];
        let Some(replayed) = self.replayed(n, task) else {
            let logits = self.trunk.logits(x, task, true);
            let loss = logits.cross_entropy_for_logits(labels);
            return StepOutput { loss, logits };
        };
        let (new_feats, replay_feats) = match self.opts.replay_batch() {
            // One batch-mode pass over both: the trunk is trained, and its BN statistics
            // kept, on the mixture it is meant to handle.
            ReplayBatch::Joint => {
                let feats = self.trunk.features(&Tensor::cat(&[x, &replayed], 0), true);
                (feats.narrow(0, 0, n), feats.narrow(0, n, n))
            }
            // New images in batch mode; replayed ones through BN in inference mode.
            ReplayBatch::Separate => (
                self.trunk.features(x, true),
                self.trunk.features(&replayed, false),
            ),
        };
        let logits = self.trunk.heads[task].logits(&new_feats);
        let ce = logits.cross_entropy_for_logits(labels);
        let loss = match self.replay_loss(&replayed, &replay_feats, task) {
            Some(r) => {
                let new_weight = 1.0 / (task + 1) as f64;
                ce * new_weight + r * (1.0 - new_weight)
            }
            None => ce,
        };
        StepOutput { loss, logits }
    }

    /// Freezes the finished head's state as finetune does, then trains the generator on the
    /// task and remembers solver and generator for the next task.
    fn after_task(&mut self, task: usize, data: &DeviceTask) -> anyhow::Result<()> {
        self.trunk.end_task(task)?;
        self.train_generator(task, data)?;
        if let Some(g) = &self.generator {
            let grid = tch::no_grad(|| g.sample(64));
            self.samples = Some((task, data.to_u8(&grid)));
        }
        self.remember()
    }

    /// The generator, counted with the shared parameters.
    fn memory_params(&self) -> u64 {
        self.generator.as_ref().map_or(0, |g| count_trainable(&g.vs))
    }

    /// The generator's tensors as `generator.NAME`.
    fn own_state(&self) -> BTreeMap<String, Tensor> {
        self.generator
            .iter()
            .flat_map(|g| g.vs.variables())
            .map(|(n, t)| (format!("generator.{n}"), t))
            .collect()
    }

    fn save_own_state(&self, dir: &Path, task: usize) -> anyhow::Result<Vec<Artifact>> {
        let Some(g) = &self.generator else {
            return Ok(Vec::new());
        };
        let path = Self::generator_file(dir, task);
        save_store(&g.vs, &path, &self.trunk.setup.meta("generator", task))?;
        let mut out = vec![artifact(&format!("generator_after_task{}", task + 1), &path)?];
        if let Some((t, grid)) = self.samples.as_ref().filter(|(t, _)| *t == task) {
            let png = Self::samples_file(dir, *t);
            crate::image_grid::write_png_grid(grid, 8, &png)?;
            out.push(artifact(&format!("generator_samples_after_task{}", t + 1), &png)?);
        }
        Ok(out)
    }

    /// The generator as it was after task `tasks`; solver and generator remembered from it.
    fn load_own_state(&mut self, dir: &Path, tasks: usize) -> anyhow::Result<()> {
        if let Some(g) = &self.generator {
            load_store(&g.vs, &Self::generator_file(dir, tasks - 1))?;
        }
        self.remember()
    }
}
