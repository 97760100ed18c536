//! `hnet`: task-conditioned hypernetworks (von Oswald et al., ICLR 2020), in the chunked form
//! of the reference implementation (hypercl / hypnettorch's `ChunkedHMLP`).
//!
//! One hypernetwork h maps a learned task embedding e_t and, chunk by chunk, a learned chunk
//! embedding c_i to the weights of the main network: every conv of the configured backbone,
//! every BN's scale and shift, and one output layer of as many classes as the largest task
//! (task t reads its first K_t outputs). Generation is one batched pass: the rows
//! `[e_t, c_i]` for all chunks i go through the MLP `(te + ce) -> hidden... -> chunk_size`
//! (ReLU between), and the concatenated chunks, cut to length, are the weights. Each task
//! keeps its own BN running statistics (state, not parameters, as in the reference with
//! per-task statistics).
//!
//! Training task t: the main network's cross-entropy with the generated weights, plus the
//! output regulariser `beta / (t-1) * sum_{j<t} ||h(e_j) - h*_j||^2`, where `h*_j` are the
//! hypernetwork's outputs for task j saved when task t began (i.e. after task t-1). The
//! hypernetwork, its chunk embeddings and e_t train; the old embeddings are frozen. The
//! reference's optional look-ahead (regularising with the outputs after a tentative step) is
//! not done.
//!
//! Options, with the reference's defaults where it has one: `regularizer` (the paper's beta,
//! 0.01; named apart from CCLL's `beta`, which every method accepts), `task_embedding`
//! (8, hypnettorch's `cond_in_size`), `chunk_embedding` (8, `chunk_emb_size`), `hidden`
//! ([100, 100], `layers`), `chunk_size` (4000: the reference has no default; our choice).
//! Departures, and why: the hypernetwork is optimised with the run's calibration optimiser
//! (`train.calibration_optimizer`, Adam, at `train.calibration_lr`; the reference uses Adam at
//! 0.001, which is `train.calibration_lr: 0.001`), so one optimiser setting covers every
//! method that trains small task-conditioned parts; BN scales are generated as offsets from 1
//! (`1 + h`), so that a fresh hypernetwork starts from BN's usual identity scale; the
//! embeddings start as N(0, 1) draws and the MLP layers as PyTorch's `nn.Linear`.
//!
//! Counts: the hypernetwork with its chunk embeddings is the shared part (`backbone`); a task
//! adds its embedding (`task_embedding` parameters; the head is generated). FLOPs at test time
//! are the main network's (the weights of a task are generated once). Checkpoints:
//! `hnet_after_task{t}.safetensors` (the hypernetwork after task t) and
//! `task{t}.safetensors` (e_t and task t's BN statistics). After every task the distance of
//! each old task's generated weights from its regularisation target is written to
//! `hnet_drift_after_task{t}.json` (absolute and relative to the target's norm).

use super::setup::Setup;
use super::trunk::Network;
use super::{
    Method, MethodEntry, MethodInfo, MethodOptions, Model, ParamCounts, StepOutput, StrategyContext,
};
use crate::checkpoint::{artifact, load_store, save_store};
use crate::data::DeviceTask;
use crate::error::KeyError;
use crate::nn::{count_trainable, Fwd, Generated};
use crate::optim::{LrGroup, ParamGroup};
use ccll_results::{Artifact, Flops};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{nn, Kind, Tensor};

pub static ENTRY: MethodEntry<HnetOptions> = MethodEntry {
    info: MethodInfo {
        name: "hnet",
        shares_base: false,
        about: "baseline: a task-conditioned hypernetwork generates the network's weights (von Oswald et al.)",
    },
    build: |o, ctx| Ok(Box::new(Hnet::new(o, ctx)?)),
};

/// Options of `hnet` as written; the accessors give the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HnetOptions {
    /// The paper's beta (named apart from CCLL's `beta`, which every method accepts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regularizer: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_embedding: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_embedding: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<i64>,
    /// The rule that picks the task without the task id (`task_inference`); unset: the
    /// method's default (see `crate::task_inference::primary_rule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_inference: Option<crate::task_inference::Rule>,
}

impl HnetOptions {
    /// The paper's beta.
    pub fn regularizer(&self) -> f64 {
        self.regularizer.unwrap_or(0.01)
    }
    pub fn task_embedding(&self) -> i64 {
        self.task_embedding.unwrap_or(8)
    }
    pub fn chunk_embedding(&self) -> i64 {
        self.chunk_embedding.unwrap_or(8)
    }
    pub fn hidden(&self) -> Vec<i64> {
        self.hidden.clone().unwrap_or_else(|| vec![100, 100])
    }
    pub fn chunk_size(&self) -> i64 {
        self.chunk_size.unwrap_or(4000)
    }
}

impl MethodOptions for HnetOptions {
    fn task_inference(&self) -> Option<crate::task_inference::Rule> {
        self.task_inference
    }
    fn check(&self) -> Result<(), KeyError> {
        let b = self.regularizer();
        if !(b.is_finite() && b >= 0.0) {
            return Err(KeyError::new(
                "method.regularizer",
                format!("must be a number >= 0, got {b}"),
            ));
        }
        for (key, v) in [
            ("task_embedding", self.task_embedding()),
            ("chunk_embedding", self.chunk_embedding()),
            ("chunk_size", self.chunk_size()),
        ] {
            if !(1..=1_000_000).contains(&v) {
                return Err(KeyError::new(
                    format!("method.{key}"),
                    format!("must be 1..=1000000, got {v}"),
                ));
            }
        }
        let hidden = self.hidden();
        if hidden.len() > 16 || hidden.iter().any(|h| !(1..=100_000).contains(h)) {
            return Err(KeyError::new(
                "method.hidden",
                format!("must be at most 16 layer widths of 1..=100000, got {hidden:?}"),
            ));
        }
        Ok(())
    }
}

/// The hypernetwork: chunk embeddings and the MLP.
struct HyperNet {
    vs: nn::VarStore,
    chunk_embs: Tensor,
    layers: Vec<nn::Linear>,
    /// Length of the generated weight vector.
    total: i64,
}

impl HyperNet {
    fn new(device: tch::Device, opts: &HnetOptions, total: i64) -> Self {
        let vs = nn::VarStore::new(device);
        let p = vs.root();
        let chunks = (total + opts.chunk_size() - 1) / opts.chunk_size();
        let chunk_embs = p.var(
            "chunk_embeddings",
            &[chunks, opts.chunk_embedding()],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        );
        let mut widths = vec![opts.task_embedding() + opts.chunk_embedding()];
        widths.extend(opts.hidden());
        widths.push(opts.chunk_size());
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| nn::linear(&p / format!("layer{i}"), w[0], w[1], Default::default()))
            .collect();
        Self {
            vs,
            chunk_embs,
            layers,
            total,
        }
    }

    /// The weight vectors `[n, total]` for task embeddings `[n, te]`, every chunk in one pass.
    fn generate(&self, embs: &Tensor) -> Tensor {
        let (n, te) = (embs.size()[0], embs.size()[1]);
        let (c, ce) = (self.chunk_embs.size()[0], self.chunk_embs.size()[1]);
        let rows = Tensor::cat(
            &[
                embs.unsqueeze(1).expand([n, c, te], false),
                self.chunk_embs.unsqueeze(0).expand([n, c, ce], false),
            ],
            2,
        )
        .view([n * c, te + ce]);
        let last = self.layers.len() - 1;
        let out = self.layers.iter().enumerate().fold(rows, |h, (i, l)| {
            let y = h.apply(l);
            if i < last {
                y.relu()
            } else {
                y
            }
        });
        out.view([n, -1]).narrow(1, 0, self.total)
    }
}

/// How far an old task's generated weights moved from their target while a later task trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Drift {
    /// The old task, 1-based.
    pub task: usize,
    /// `||h(e_j) - h*_j||`.
    pub distance: f64,
    /// The distance over `||h*_j||`.
    pub relative: f64,
}

/// What a task owns: its embedding and its BN running statistics (one pair per conv).
struct TaskState {
    vs: nn::VarStore,
    embedding: Tensor,
    running_mean: Vec<Tensor>,
    running_var: Vec<Tensor>,
}

pub struct Hnet {
    setup: Setup,
    opts: HnetOptions,
    /// The main network: its structure (and FLOP trace) only; its own variables are unused.
    main: Network,
    hyper: HyperNet,
    /// Sizes of the generated tensors, in order: per conv its weight, BN scale, BN shift;
    /// then the output layer's weight and bias.
    shapes: Vec<Vec<i64>>,
    classes_max: i64,
    tasks: Vec<TaskState>,
    /// `h*_j` for the tasks before the one being trained, `[j, total]`.
    targets: Option<Tensor>,
    /// After each later task (0-based), every older task's drift.
    drift: Vec<(usize, Vec<Drift>)>,
}

impl Hnet {
    pub fn new(opts: &HnetOptions, ctx: &StrategyContext) -> Result<Self, KeyError> {
        let setup = Setup::new(ctx, ENTRY.info.name)?;
        let main = setup.network();
        let named: BTreeMap<String, Tensor> = main.vs.variables().into_iter().collect();
        let mut shapes = Vec::new();
        for p in main.backbone.calibration_points() {
            let w = &named[&format!("{}.weight", p.name)];
            shapes.push(w.size());
            shapes.push(vec![p.channels]);
            shapes.push(vec![p.channels]);
        }
        let classes_max = ctx.task_classes.iter().copied().max().unwrap_or(1);
        let dim = main.backbone.feature_dim();
        shapes.push(vec![classes_max, dim]);
        shapes.push(vec![classes_max]);
        let total = shapes.iter().map(|s| s.iter().product::<i64>()).sum();
        let hyper = HyperNet::new(ctx.device, opts, total);
        Ok(Self {
            setup,
            opts: opts.clone(),
            main,
            hyper,
            shapes,
            classes_max,
            tasks: Vec::new(),
            targets: None,
            drift: Vec::new(),
        })
    }

    pub fn hnet_file(dir: &Path, task: usize) -> PathBuf {
        dir.join(format!("hnet_after_task{}.safetensors", task + 1))
    }

    pub fn task_file(dir: &Path, task: usize) -> PathBuf {
        dir.join(format!("task{}.safetensors", task + 1))
    }

    pub fn drift_file(dir: &Path, task: usize) -> PathBuf {
        dir.join(format!("hnet_drift_after_task{}.json", task + 1))
    }

    /// The distances measured after each task so far.
    pub fn drift(&self) -> &[(usize, Vec<Drift>)] {
        &self.drift
    }

    fn add_task(&mut self, task: usize) -> anyhow::Result<()> {
        anyhow::ensure!(
            task == self.tasks.len(),
            "task {} started after {} tasks",
            task + 1,
            self.tasks.len()
        );
        let vs = nn::VarStore::new(self.setup.device);
        let p = vs.root();
        let embedding = p.var(
            "embedding",
            &[self.opts.task_embedding()],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        );
        let points = self.main.backbone.calibration_points();
        let running_mean = points
            .iter()
            .enumerate()
            .map(|(i, c)| (&p / format!("bn{i}")).zeros_no_train("running_mean", &[c.channels]))
            .collect();
        let running_var = points
            .iter()
            .enumerate()
            .map(|(i, c)| (&p / format!("bn{i}")).ones_no_train("running_var", &[c.channels]))
            .collect();
        self.tasks.push(TaskState {
            vs,
            embedding,
            running_mean,
            running_var,
        });
        Ok(())
    }

    /// Task `task`'s main-network weights from a generated vector.
    fn unpack(&self, flat: &Tensor, task: usize) -> (Generated, Tensor, Tensor) {
        let sizes: Vec<i64> = self.shapes.iter().map(|s| s.iter().product()).collect();
        let parts = flat.split_with_sizes(&sizes, 0);
        let view = |i: usize| parts[i].view(self.shapes[i].as_slice());
        let convs = (self.shapes.len() - 2) / 3;
        let st = &self.tasks[task];
        let generated = Generated {
            conv: (0..convs).map(|c| view(3 * c)).collect(),
            bn_weight: (0..convs).map(|c| view(3 * c + 1) + 1.0).collect(),
            bn_bias: (0..convs).map(|c| view(3 * c + 2)).collect(),
            running_mean: st.running_mean.iter().map(Tensor::shallow_clone).collect(),
            running_var: st.running_var.iter().map(Tensor::shallow_clone).collect(),
        };
        let classes = self.setup.task_classes[task].min(self.classes_max);
        let head_w = view(3 * convs).narrow(0, 0, classes);
        let head_b = view(3 * convs + 1).narrow(0, 0, classes);
        (generated, head_w, head_b)
    }

    /// Every task's generated weight vector, `[tasks, total]`.
    fn all_outputs(&self, tasks: usize) -> Tensor {
        let embs: Vec<&Tensor> = self.tasks[..tasks].iter().map(|t| &t.embedding).collect();
        self.hyper.generate(&Tensor::stack(&embs, 0))
    }

    /// `beta / (t-1) * sum_{j<t} ||h(e_j) - h*_j||^2` while task t trains.
    fn regulariser(&self, task: usize) -> Option<Tensor> {
        let targets = self.targets.as_ref()?;
        let beta = self.opts.regularizer();
        if task == 0 || beta == 0.0 {
            return None;
        }
        let now = self.all_outputs(task);
        Some((now - targets).square().sum(Kind::Float) * (beta / task as f64))
    }

    /// Saves `h*_j` for the tasks so far (no gradient), and how far the old tasks' outputs
    /// moved from the previous targets while `task` trained.
    fn remember_targets(&mut self, task: usize) {
        let now = tch::no_grad(|| self.all_outputs(task + 1));
        if let Some(old) = &self.targets {
            let rows = old.size()[0];
            let moved = (now.narrow(0, 0, rows) - old)
                .square()
                .sum_dim_intlist(1, false, Kind::Double)
                .sqrt();
            let norm = old
                .square()
                .sum_dim_intlist(1, false, Kind::Double)
                .sqrt();
            let d = Vec::<f64>::try_from(&moved).unwrap_or_default();
            let n = Vec::<f64>::try_from(&norm).unwrap_or_default();
            let entries = d
                .iter()
                .zip(&n)
                .enumerate()
                .map(|(j, (d, n))| Drift {
                    task: j + 1,
                    distance: *d,
                    relative: d / n.max(f64::MIN_POSITIVE),
                })
                .collect();
            self.drift.retain(|(t, _)| *t != task);
            self.drift.push((task, entries));
        }
        self.targets = Some(now);
    }

    /// Task `task`'s features from its generated network, and its generated head (weight,
    /// bias).
    fn generated_features(&self, x: &Tensor, task: usize, train: bool) -> (Tensor, Tensor, Tensor) {
        let flat = self
            .hyper
            .generate(&self.tasks[task].embedding.unsqueeze(0))
            .squeeze_dim(0);
        let (generated, head_w, head_b) = self.unpack(&flat, task);
        let fwd = Fwd {
            base_train: train,
            generated: Some(&generated),
            ..Fwd::eval(None)
        };
        (self.main.backbone.features(x, &fwd), head_w, head_b)
    }
}

impl Model for Hnet {
    /// Adds the task's embedding and statistics; the hypernetwork trains again.
    fn begin_task(&mut self, task: usize) -> anyhow::Result<()> {
        self.add_task(task)?;
        self.hyper.vs.unfreeze();
        Ok(())
    }

    /// The hypernetwork (chunk embeddings included) and the current task's embedding.
    fn trainable(&self) -> Vec<ParamGroup> {
        let Some(current) = self.tasks.last() else {
            return Vec::new();
        };
        let mut tensors = self.hyper.vs.trainable_variables();
        tensors.push(current.embedding.shallow_clone());
        vec![ParamGroup::new(tensors, LrGroup::Calibration)]
    }

    fn forward(&self, x: &Tensor, task: usize, train: bool) -> Tensor {
        let (features, head_w, head_b) = self.generated_features(x, task, train);
        features.linear(&head_w, Some(&head_b))
    }

    fn all_task_features(&self, x: &Tensor, upto: usize) -> Option<Vec<Tensor>> {
        Some(
            (0..=upto)
                .map(|t| self.generated_features(x, t, false).0)
                .collect(),
        )
    }

    fn task_features(&self, x: &Tensor, task: usize) -> Option<Tensor> {
        Some(self.generated_features(x, task, false).0)
    }

    /// The finished task's embedding is frozen for good.
    fn end_task(&mut self, task: usize) -> anyhow::Result<()> {
        self.tasks[task].vs.freeze();
        Ok(())
    }

    /// The hypernetwork is shared; a task adds its embedding (its head is generated).
    fn param_counts(&self) -> ParamCounts {
        ParamCounts {
            backbone: count_trainable(&self.hyper.vs),
            per_task: self
                .tasks
                .iter()
                .map(|t| (count_trainable(&t.vs), 0))
                .collect(),
        }
    }

    /// `hnet.NAME` and `task{t}.NAME` (embedding, BN statistics).
    fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out: BTreeMap<String, Tensor> = self
            .hyper
            .vs
            .variables()
            .into_iter()
            .map(|(n, t)| (format!("hnet.{n}"), t))
            .collect();
        for (i, t) in self.tasks.iter().enumerate() {
            out.extend(
                t.vs.variables()
                    .into_iter()
                    .map(|(n, v)| (format!("task{}.{n}", i + 1), v)),
            );
        }
        out
    }

    /// The main network with generated weights costs what the backbone costs.
    fn flops(&self) -> Flops {
        Flops {
            base: self.setup.base_flops(&self.main.backbone),
            calibration: 0,
        }
    }

    fn save(&self, dir: &Path, task: usize) -> anyhow::Result<Vec<Artifact>> {
        anyhow::ensure!(task < self.tasks.len(), "task {} was not trained", task + 1);
        let hnet = Self::hnet_file(dir, task);
        save_store(&self.hyper.vs, &hnet, &self.setup.meta("hnet", task))?;
        let own = Self::task_file(dir, task);
        save_store(&self.tasks[task].vs, &own, &self.setup.meta("task", task))?;
        let mut out = vec![
            artifact(&format!("hnet_after_task{}", task + 1), &hnet)?,
            artifact(&format!("task{}", task + 1), &own)?,
        ];
        if let Some((_, entries)) = self.drift.iter().find(|(t, _)| *t == task) {
            let path = Self::drift_file(dir, task);
            let text = serde_json::to_string_pretty(&serde_json::json!({
                "after_task": task + 1,
                "old_tasks": entries,
            }))?;
            std::fs::write(&path, text)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
            out.push(artifact(&format!("hnet_drift_after_task{}", task + 1), &path)?);
        }
        Ok(out)
    }

    /// The hypernetwork after task `tasks`, every task's embedding and statistics, and the
    /// regularisation targets recomputed from them (what they were when task `tasks` ended).
    fn load(&mut self, dir: &Path, tasks: usize) -> anyhow::Result<()> {
        anyhow::ensure!(tasks > 0, "nothing to load: 0 tasks");
        self.tasks.clear();
        load_store(&self.hyper.vs, &Self::hnet_file(dir, tasks - 1))?;
        for t in 0..tasks {
            self.add_task(t)?;
            load_store(&self.tasks[t].vs, &Self::task_file(dir, t))?;
            self.tasks[t].vs.freeze();
        }
        self.targets = Some(tch::no_grad(|| self.all_outputs(tasks)));
        Ok(())
    }
}

impl Method for Hnet {
    type Model = Hnet;

    fn name(&self) -> &str {
        ENTRY.info.name
    }

    fn model(&self) -> &Hnet {
        self
    }

    fn model_mut(&mut self) -> &mut Hnet {
        self
    }

    /// Cross-entropy with the generated weights plus the output regulariser.
    fn training_step(&mut self, x: &Tensor, labels: &Tensor, task: usize) -> StepOutput {
        let logits = Model::forward(self, x, task, true);
        let ce = logits.cross_entropy_for_logits(labels);
        let loss = match self.regulariser(task) {
            Some(r) => ce + r,
            None => ce,
        };
        StepOutput { loss, logits }
    }

    fn after_task(&mut self, task: usize, _data: &DeviceTask) -> anyhow::Result<()> {
        Model::end_task(self, task)?;
        self.remember_targets(task);
        Ok(())
    }
}
