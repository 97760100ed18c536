//! Pieces the baselines share: how a baseline reads the model section of the config, a whole
//! network in a variable store of its own, and the shared trunk with one head per task that
//! `finetune`, `joint`, `ewc` and `lwf` train.
//!
//! A [`Network`] is built exactly as the calibrated methods build their base (same variable
//! names, same draws from libtorch's generator), and heads are [`TaskModules`] without
//! calibration, so task 1 of a baseline whose task 1 is "a network and head 1 with plain
//! cross-entropy" is the same computation as task 1 of `ccll` and can come from a shared base
//! job (`base.safetensors` + `task1.safetensors`).

use super::setup::Setup;
use super::{base_file, Model, ParamCounts, StrategyContext};
use crate::checkpoint::{artifact, load_store, read_tensors, save_store, save_tensors};
use crate::error::KeyError;
use crate::nn::{count_trainable, is_buffer, Arch, Backbone, Fwd, TaskModules};
use crate::optim::{LrGroup, ParamGroup};
use ccll_results::{Artifact, Flops};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{nn, Device, Tensor};

/// A whole backbone in a variable store of its own, with the variable names of the calibrated
/// methods' base.
pub struct Network {
    pub vs: nn::VarStore,
    pub backbone: Backbone,
}

impl Network {
    pub fn new(device: Device, arch: Arch, in_channels: i64, width: i64) -> Self {
        let vs = nn::VarStore::new(device);
        let backbone = Backbone::new(&vs.root(), arch, in_channels, width);
        Self { vs, backbone }
    }

    /// Pooled features; `train` puts the BN layers in batch-statistics mode.
    pub fn features(&self, x: &Tensor, train: bool) -> Tensor {
        let fwd = Fwd {
            base_train: train,
            ..Fwd::eval(None)
        };
        self.backbone.features(x, &fwd)
    }

    /// Trainable parameters (BN running statistics excluded).
    pub fn params(&self) -> u64 {
        count_trainable(&self.vs)
    }

    /// The parameters (not the BN statistics) by name, in name order.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .filter(|(n, _)| !is_buffer(n))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// A frozen copy (values and BN statistics), e.g. LwF's teacher.
    pub fn frozen_copy(&self, setup: &Setup) -> anyhow::Result<Self> {
        let mut copy = setup.network();
        copy.vs.copy(&self.vs)?;
        copy.vs.freeze();
        Ok(copy)
    }
}

/// A frozen copy of a trunk and its heads as they were after a task: LwF's teacher, DGR's
/// previous solver.
pub struct FrozenModel {
    pub net: Network,
    pub heads: Vec<TaskModules>,
}

/// `KL(softmax(teacher / t) || softmax(student / t))`, the mean over the batch: the
/// distillation term of LwF and of DGR's soft targets (`teacher` carries no gradient).
pub(super) fn kl_at_temperature(teacher: &Tensor, student: &Tensor, t: f64) -> Tensor {
    let target = (teacher / t).log_softmax(-1, tch::Kind::Float);
    let student = (student / t).log_softmax(-1, tch::Kind::Float);
    (target.exp() * (&target - student))
        .sum_dim_intlist(-1, false, tch::Kind::Float)
        .mean(tch::Kind::Float)
}

/// Every variable of `vs` under `prefix.`.
pub(super) fn prefixed(vs: &nn::VarStore, prefix: &str) -> BTreeMap<String, Tensor> {
    vs.variables()
        .into_iter()
        .map(|(n, t)| (format!("{prefix}.{n}"), t))
        .collect()
}

/// Saves the network of its own that `task` has (separate networks, PNN columns) to `net_path`
/// (artifact `base` for task 1, else `CONTENT{t}`) and its head to [`head_file`].
pub(super) fn save_network_and_head(
    setup: &Setup,
    dir: &Path,
    task: usize,
    content: &str,
    net: (&nn::VarStore, &Path),
    head: &nn::VarStore,
) -> anyhow::Result<Vec<Artifact>> {
    let (net, net_path) = net;
    save_store(net, net_path, &setup.meta(content, task))?;
    let kind = if task == 0 {
        "base".to_string()
    } else {
        format!("{content}{}", task + 1)
    };
    let mut out = vec![artifact(&kind, net_path)?];
    let path = head_file(dir, task);
    save_store(head, &path, &setup.meta("task", task))?;
    out.push(artifact(&format!("task{}", task + 1), &path)?);
    Ok(out)
}

/// `task{t}.safetensors`: the head of task `task` (0-based) as it was after that task, in the
/// calibrated methods' format (`head.weight`, `head.bias`).
pub(super) fn head_file(dir: &Path, task: usize) -> PathBuf {
    dir.join(format!("task{}.safetensors", task + 1))
}

/// Copies the tensors stored under `prefix.NAME` in a file's tensors into the variables `NAME`
/// of `vs`; every variable must be there with its shape.
pub(super) fn copy_prefixed(
    vs: &nn::VarStore,
    tensors: &BTreeMap<String, Tensor>,
    prefix: &str,
    path: &Path,
) -> anyhow::Result<()> {
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            let key = format!("{prefix}.{name}");
            let src = tensors
                .get(&key)
                .ok_or_else(|| anyhow::anyhow!("{}: tensor `{key}` is missing", path.display()))?;
            anyhow::ensure!(
                src.size() == var.size(),
                "{}: tensor `{key}` has shape {:?}, the model {:?}",
                path.display(),
                src.size(),
                var.size()
            );
            var.f_copy_(src)?;
        }
        Ok(())
    })
}

/// A shared trunk (one network) and one head per task: the model of `finetune`, `joint`,
/// `ewc` and `lwf`.
///
/// Checkpoints: the trunk after task 1 is `base.safetensors` (the file a shared base job
/// writes), after task t >= 2 `trunk_after_task{t}.safetensors`; head t as it was after task t
/// is `task{t}.safetensors`; methods that keep training old heads (`joint`, `lwf`) also write
/// `heads_after_task{t}.safetensors` with heads 1..t-1 as they are after task t
/// (`task{j}.head.weight`, ...).
pub struct Trunk {
    pub setup: Setup,
    pub net: Network,
    pub heads: Vec<TaskModules>,
    /// Old heads keep changing after their task (joint, lwf).
    pub retrains_old_heads: bool,
}

impl Trunk {
    /// Builds the trunk (the heads come with `add_head`).
    pub fn new(
        ctx: &StrategyContext,
        method: &str,
        retrains_old_heads: bool,
    ) -> Result<Self, KeyError> {
        let setup = Setup::new(ctx, method)?;
        let net = setup.network();
        Ok(Self {
            setup,
            net,
            heads: Vec::new(),
            retrains_old_heads,
        })
    }

    /// Adds the head of `task`, which must be the next one.
    pub fn add_head(&mut self, task: usize) -> anyhow::Result<()> {
        anyhow::ensure!(
            task == self.heads.len(),
            "task {} started after {} tasks",
            task + 1,
            self.heads.len()
        );
        let head = self.setup.head(task, self.net.backbone.feature_dim())?;
        self.heads.push(head);
        Ok(())
    }

    pub fn features(&self, x: &Tensor, train: bool) -> Tensor {
        self.net.features(x, train)
    }

    /// A frozen copy of the trunk and every head as they are now. Building it draws from
    /// libtorch's generator: call it between tasks, before the next task seeds it.
    pub fn frozen_copy(&self) -> anyhow::Result<FrozenModel> {
        let net = self.net.frozen_copy(&self.setup)?;
        let dim = net.backbone.feature_dim();
        let heads = self
            .heads
            .iter()
            .enumerate()
            .map(|(j, h)| {
                let mut copy = self.setup.head(j, dim)?;
                copy.vs.copy(&h.vs)?;
                copy.vs.freeze();
                Ok(copy)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(FrozenModel { net, heads })
    }

    pub fn logits(&self, x: &Tensor, task: usize, train: bool) -> Tensor {
        self.heads[task].logits(&self.features(x, train))
    }

    /// Trunk parameters, then the heads' of `tasks`.
    pub fn tensors(&self, tasks: impl IntoIterator<Item = usize>) -> Vec<Tensor> {
        let mut out = self.net.vs.trainable_variables();
        for t in tasks {
            out.extend(self.heads[t].head_tensors());
        }
        out
    }

    pub fn trunk_file(dir: &Path, task: usize) -> PathBuf {
        if task == 0 {
            base_file(dir)
        } else {
            dir.join(format!("trunk_after_task{}.safetensors", task + 1))
        }
    }

    fn old_heads_file(dir: &Path, task: usize) -> PathBuf {
        dir.join(format!("heads_after_task{}.safetensors", task + 1))
    }

    fn freeze_finished_heads(&mut self) {
        if !self.retrains_old_heads {
            for h in &mut self.heads {
                h.vs.freeze();
            }
        }
    }
}

impl Model for Trunk {
    /// Starts `task`: its head added, the trunk trainable, and the old heads too for methods
    /// that retrain them.
    fn begin_task(&mut self, task: usize) -> anyhow::Result<()> {
        self.add_head(task)?;
        self.net.vs.unfreeze();
        if self.retrains_old_heads {
            for h in &mut self.heads {
                h.vs.unfreeze();
            }
        }
        Ok(())
    }

    /// What trains: the trunk with the current head, or with every head so far for methods
    /// that retrain old heads.
    fn trainable(&self) -> Vec<ParamGroup> {
        let n = self.heads.len();
        if n == 0 && !self.retrains_old_heads {
            return Vec::new();
        }
        let first = if self.retrains_old_heads { 0 } else { n - 1 };
        vec![ParamGroup::new(self.tensors(first..n), LrGroup::Base)]
    }

    fn forward(&self, x: &Tensor, task: usize, train: bool) -> Tensor {
        self.logits(x, task, train)
    }

    /// The trunk once, every head on its features.
    fn all_task_logits(&self, x: &Tensor, upto: usize) -> Vec<Tensor> {
        let features = self.features(x, false);
        self.heads[..=upto]
            .iter()
            .map(|h| h.logits(&features))
            .collect()
    }

    /// The trunk's features, shared by every head.
    fn all_task_features(&self, x: &Tensor, upto: usize) -> Option<Vec<Tensor>> {
        let features = self.features(x, false);
        Some((0..=upto).map(|_| features.shallow_clone()).collect())
    }

    /// A finished head is frozen unless the method retrains old heads.
    fn end_task(&mut self, _task: usize) -> anyhow::Result<()> {
        self.freeze_finished_heads();
        Ok(())
    }

    /// Backbone = the trunk; per task only its head.
    fn param_counts(&self) -> ParamCounts {
        ParamCounts {
            backbone: self.net.params(),
            per_task: self.heads.iter().map(|h| (0, h.head_params())).collect(),
        }
    }

    /// `trunk.NAME` and `task{t}.head.*`.
    fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out = prefixed(&self.net.vs, "trunk");
        for (i, h) in self.heads.iter().enumerate() {
            out.extend(prefixed(&h.vs, &format!("task{}", i + 1)));
        }
        out
    }

    /// One network and a head; nothing task-specific besides the head.
    fn flops(&self) -> Flops {
        Flops {
            base: self.setup.base_flops(&self.net.backbone),
            calibration: 0,
        }
    }

    /// Writes the trunk and head after `task` (and the old heads, for methods that train them).
    fn save(&self, dir: &Path, task: usize) -> anyhow::Result<Vec<Artifact>> {
        anyhow::ensure!(task < self.heads.len(), "task {} was not trained", task + 1);
        let mut out = Vec::new();
        let path = Self::trunk_file(dir, task);
        save_store(&self.net.vs, &path, &self.setup.meta("trunk", task))?;
        let kind = if task == 0 {
            "base".to_string()
        } else {
            format!("trunk_after_task{}", task + 1)
        };
        out.push(artifact(&kind, &path)?);
        let path = head_file(dir, task);
        save_store(&self.heads[task].vs, &path, &self.setup.meta("task", task))?;
        out.push(artifact(&format!("task{}", task + 1), &path)?);
        if self.retrains_old_heads && task > 0 {
            let mut tensors = BTreeMap::new();
            for (j, h) in self.heads[..task].iter().enumerate() {
                tensors.extend(prefixed(&h.vs, &format!("task{}", j + 1)));
            }
            let path = Self::old_heads_file(dir, task);
            save_tensors(&tensors, &path, &self.setup.meta("old_heads", task))?;
            out.push(artifact(&format!("heads_after_task{}", task + 1), &path)?);
        }
        Ok(out)
    }

    /// Restores trunk and heads as they were after task `tasks` (1-based count).
    fn load(&mut self, dir: &Path, tasks: usize) -> anyhow::Result<()> {
        anyhow::ensure!(tasks > 0, "nothing to load: 0 tasks");
        self.heads.clear();
        load_store(&self.net.vs, &Self::trunk_file(dir, tasks - 1))?;
        for t in 0..tasks {
            self.add_head(t)?;
            load_store(&self.heads[t].vs, &head_file(dir, t))?;
        }
        if self.retrains_old_heads && tasks > 1 {
            let path = Self::old_heads_file(dir, tasks - 1);
            let (tensors, _) = read_tensors(&path)?;
            for (j, h) in self.heads[..tasks - 1].iter().enumerate() {
                copy_prefixed(&h.vs, &tensors, &format!("task{}", j + 1), &path)?;
            }
        }
        self.freeze_finished_heads();
        Ok(())
    }

    /// Loads a trunk pretrained elsewhere; only with `finetune` (task 1 trains it further):
    /// these baselines have no frozen-base mode.
    fn load_pretrained_base(&mut self, path: &Path, finetune: bool) -> anyhow::Result<()> {
        anyhow::ensure!(
            finetune,
            "method `{}` trains its trunk on task 1, so a pretrained base needs \
             base.finetune: true",
            self.setup.method()
        );
        load_store(&self.net.vs, path)?;
        Ok(())
    }
}
