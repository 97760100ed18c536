//! `ewc`: Elastic Weight Consolidation (Kirkpatrick et al., PNAS 2017). The `finetune` model
//! (one trunk, a head per task, old heads frozen) with a quadratic penalty that holds the trunk
//! parameters near their values after earlier tasks, weighted by a diagonal Fisher matrix:
//!
//! `loss = CE + lambda/2 * sum_k sum_i F_k,i (theta_i - theta*_k,i)^2`
//!
//! over the trunk parameters (conv weights, BN affine parameters; not the heads, not the BN
//! running statistics, which keep moving as in `finetune`).
//!
//! The Fisher of task k is the diagonal empirical Fisher: the mean over `fisher_samples`
//! training samples of the task (drawn at random, without augmentation, BN in eval mode as at
//! test time) of the squared gradient of the log-likelihood of the true label. With
//! `fisher_batch: 1` (default) every sample gets its own backward pass: the exact per-sample
//! Fisher (after each task only, never in the training loop; 1024 passes of one image). With
//! `fisher_batch: B > 1` the squared gradient of each batch's mean loss, times B, stands in for
//! the sum of the B per-sample squares (FACIL's approximation: cheaper, but equal in
//! expectation only where the mean gradient is 0, and estimated from B times fewer squared
//! gradients, so noisier).
//!
//! The sum over earlier tasks is kept in closed form in two tensors per parameter, whatever
//! the number of tasks: `sum_k F_k (theta - theta*_k)^2 = A (theta - mu)^2 + c` with
//! `A = sum_k F_k`, `mu = sum_k F_k theta*_k / A` and a constant `c` (which only changes the
//! reported loss, kept so that the loss is the one written above). Adding task k:
//! `A' = A + F`, `mu' = (A mu + F theta*) / A'`, `c' = c + sum A F / A' (mu - theta*)^2`.
//!
//! Online EWC (`online: true`, Schwarz et al., ICML 2018): one penalty around the latest
//! parameters with the decayed running Fisher, `A' = gamma A + F`, `mu' = theta*`, `c = 0`.
//!
//! Importance clipping (`clip_importance`, on by default, SGD only): the penalty is a quadratic
//! of curvature `lambda A_i` in parameter i, and SGD with learning rate `lr` and momentum `m`
//! diverges on a quadratic whose curvature exceeds `2 (1 + m) / lr`. The per-sample Fisher of
//! a small network is large (up to 0.6 for the first conv of the CPU study's network after
//! 4 epochs on MNIST), so lambda = 100 already diverges there at lr 0.05. Each `A_i` is
//! therefore clipped at `1 / (lr lambda)`: a parameter whose importance reaches it is held as
//! firmly as a gradient step can hold it, and a larger lambda never makes training diverge.
//! Parameters below the clip get exactly the penalty above. `clip_importance: false` gives
//! the unclipped penalty (and Adam, which normalises its steps, is never clipped).
//!
//! Options: `lambda` (default 5000, FACIL's default for split CIFAR-100), `online` (default
//! false), `gamma` (online only, default 1), `fisher_samples` (default 1024; 0 = every
//! training sample of the task), `fisher_batch` (default 1 = exact per-sample Fisher),
//! `clip_importance` (default true).
//!
//! Checkpoints: as `finetune`, plus `ewc_after_task{t}.safetensors` with `A`, `mu` and `c`
//! after task t (unclipped), so a reloaded run can go on with the next task.

use super::trunk::Trunk;
use super::{Method, MethodEntry, MethodInfo, MethodOptions, Model, StepOutput, StrategyContext};
use crate::checkpoint::{artifact, read_tensors, save_tensors};
use crate::data::DeviceTask;
use crate::error::KeyError;
use crate::settings::OptimizerKind;
use ccll_results::Artifact;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

pub static ENTRY: MethodEntry<EwcOptions> = MethodEntry {
    info: MethodInfo {
        name: "ewc",
        shares_base: false,
        about: "baseline: finetune with a diagonal-Fisher penalty on the trunk (Kirkpatrick et al.)",
    },
    build: |o, ctx| Ok(Box::new(Ewc::new(o, ctx)?)),
};

/// Options of `ewc` as written; the accessors give the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EwcOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// 0 = all training samples of the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fisher_samples: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fisher_batch: Option<u64>,
    /// With SGD, clip every importance at `1 / (lr lambda)` so that the penalty's curvature
    /// stays within what a gradient step can follow (see the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_importance: Option<bool>,
    /// The rule that picks the task without the task id (`task_inference`); unset: the
    /// method's default (see `crate::task_inference::primary_rule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_inference: Option<crate::task_inference::Rule>,
}

impl EwcOptions {
    /// FACIL's default for split CIFAR-100.
    pub fn lambda(&self) -> f64 {
        self.lambda.unwrap_or(5000.0)
    }

    pub fn online(&self) -> bool {
        self.online.unwrap_or(false)
    }

    pub fn gamma(&self) -> f64 {
        self.gamma.unwrap_or(1.0)
    }

    pub fn fisher_samples(&self) -> u64 {
        self.fisher_samples.unwrap_or(1024)
    }

    /// 1 = the exact per-sample Fisher.
    pub fn fisher_batch(&self) -> u64 {
        self.fisher_batch.unwrap_or(1)
    }

    pub fn clip_importance(&self) -> bool {
        self.clip_importance.unwrap_or(true)
    }
}

impl MethodOptions for EwcOptions {
    fn task_inference(&self) -> Option<crate::task_inference::Rule> {
        self.task_inference
    }
    fn check(&self) -> Result<(), KeyError> {
        let (lambda, gamma) = (self.lambda(), self.gamma());
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(KeyError::new(
                "method.lambda",
                format!("must be a number >= 0, got {lambda}"),
            ));
        }
        if !(gamma.is_finite() && (0.0..=1.0).contains(&gamma)) {
            return Err(KeyError::new(
                "method.gamma",
                format!("must be in [0, 1], got {gamma}"),
            ));
        }
        if !self.online() && gamma != 1.0 {
            return Err(KeyError::new(
                "method.gamma",
                "decays the Fisher of online EWC only; set online: true or drop gamma",
            ));
        }
        if self.fisher_batch() == 0 {
            return Err(KeyError::new("method.fisher_batch", "must be at least 1"));
        }
        Ok(())
    }
}

/// Adds `F (theta - star)^2` to `A (theta - mu)^2`: returns `A'`, `mu'` and the increase of
/// the constant (a double scalar) such that the sum is `A' (theta - mu')^2 + c` for every theta.
fn fold_offline(a: &Tensor, mu: &Tensor, f: &Tensor, star: &Tensor) -> (Tensor, Tensor, Tensor) {
    let a2 = a + f;
    let safe = a2.clamp_min(f32::MIN_POSITIVE as f64);
    let mu2 = ((a * mu + f * star) / &safe).where_self(&a2.gt(0.0), star);
    let c = (a * f / &safe * (mu - star).square()).sum(Kind::Double);
    (a2, mu2, c)
}

/// The consolidated penalty: `A (theta - mu)^2 + c` per trunk parameter.
struct Consolidated {
    /// Per parameter name: (A, mu).
    terms: BTreeMap<String, (Tensor, Tensor)>,
    constant: f64,
    /// Per parameter name: the importance the penalty uses, `A` or `A` clipped (see
    /// `EwcOptions::clip_importance`).
    effective: BTreeMap<String, Tensor>,
}

pub struct Ewc {
    trunk: Trunk,
    opts: EwcOptions,
    /// Trunk parameters by name (BN statistics excluded).
    params: Vec<(String, Tensor)>,
    penalty: Option<Consolidated>,
    /// `1 / (lr lambda)` when importances are clipped.
    max_importance: Option<f64>,
}

impl Ewc {
    pub fn new(opts: &EwcOptions, ctx: &StrategyContext) -> Result<Self, KeyError> {
        let trunk = Trunk::new(ctx, ENTRY.info.name, false)?;
        let params = trunk.net.named_parameters();
        let t = ctx.train;
        let lambda = opts.lambda();
        let max_importance =
            (opts.clip_importance() && lambda > 0.0 && t.optimizer == OptimizerKind::Sgd)
                .then(|| 1.0 / (t.lr * lambda));
        Ok(Self {
            trunk,
            opts: *opts,
            params,
            penalty: None,
            max_importance,
        })
    }

    /// `sum A (theta - mu)^2 + c` (without lambda/2), a scalar on the device.
    fn penalty(&self) -> Option<Tensor> {
        let p = self.penalty.as_ref()?;
        let mut sum: Option<Tensor> = None;
        for (name, theta) in &self.params {
            if let (Some(a), Some((_, mu))) = (p.effective.get(name), p.terms.get(name)) {
                let term = (a * (theta - mu).square()).sum(Kind::Float);
                sum = Some(match sum {
                    Some(s) => s + term,
                    None => term,
                });
            }
        }
        sum.map(|s| s + p.constant)
    }

    /// Diagonal empirical Fisher of `task` over the trunk parameters.
    fn fisher(&self, task: usize, data: &DeviceTask) -> anyhow::Result<Vec<Tensor>> {
        let n = data.train.len();
        anyhow::ensure!(
            n > 0,
            "task {}: no training samples for the Fisher",
            task + 1
        );
        let m = match self.opts.fisher_samples() {
            0 => n,
            k => n.min(k as i64),
        };
        let device = data.train.labels.device();
        let chosen = Tensor::randperm(n, (Kind::Int64, device)).narrow(0, 0, m);
        let inputs: Vec<Tensor> = self.params.iter().map(|(_, t)| t.shallow_clone()).collect();
        let mut fisher: Vec<Tensor> = inputs.iter().map(|t| t.zeros_like()).collect();
        for idx in chosen.split(self.opts.fisher_batch() as i64, 0) {
            let b = idx.size()[0];
            let x = data.prepare(&data.train.images.index_select(0, &idx), false);
            let y = data.train.labels.index_select(0, &idx);
            let loss = self
                .trunk
                .logits(&x, task, false)
                .cross_entropy_for_logits(&y);
            let grads = Tensor::f_run_backward(&[loss], &inputs, false, false)?;
            tch::no_grad(|| {
                for (f, g) in fisher.iter_mut().zip(&grads) {
                    *f += g.square() * b as f64;
                }
            });
        }
        Ok(fisher.into_iter().map(|f| f / m as f64).collect())
    }

    /// Folds the Fisher of the task just trained into the penalty.
    fn consolidate(&mut self, fisher: Vec<Tensor>) -> anyhow::Result<()> {
        let mut penalty = self.penalty.take().unwrap_or(Consolidated {
            terms: BTreeMap::new(),
            constant: 0.0,
            effective: BTreeMap::new(),
        });
        tch::no_grad(|| -> anyhow::Result<()> {
            let mut added = 0.0;
            for ((name, theta), f) in self.params.iter().zip(fisher) {
                let star = theta.detach().copy();
                let (a, mu) = match penalty.terms.remove(name) {
                    None => (f, star),
                    Some((a, _)) if self.opts.online() => (a * self.opts.gamma() + f, star),
                    Some((a, mu)) => {
                        let (a2, mu2, c) = fold_offline(&a, &mu, &f, &star);
                        added += c.f_double_value(&[])?;
                        (a2, mu2)
                    }
                };
                penalty.terms.insert(name.clone(), (a, mu));
            }
            penalty.constant = if self.opts.online() {
                0.0
            } else {
                penalty.constant + added
            };
            Ok(())
        })?;
        self.set_penalty(penalty);
        Ok(())
    }

    /// Installs a consolidated penalty, with its effective (clipped) importances.
    fn set_penalty(&mut self, mut penalty: Consolidated) {
        penalty.effective = penalty
            .terms
            .iter()
            .map(|(n, (a, _))| {
                let e = match self.max_importance {
                    Some(m) => a.clamp_max(m),
                    None => a.shallow_clone(),
                };
                (n.clone(), e)
            })
            .collect();
        self.penalty = Some(penalty);
    }

    fn penalty_file(dir: &Path, task: usize) -> PathBuf {
        dir.join(format!("ewc_after_task{}.safetensors", task + 1))
    }
}

impl Method for Ewc {
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

    /// Cross-entropy plus `lambda/2` times the penalty.
    fn training_step(&mut self, x: &Tensor, labels: &Tensor, task: usize) -> StepOutput {
        let logits = self.trunk.logits(x, task, true);
        let ce = logits.cross_entropy_for_logits(labels);
        let lambda = self.opts.lambda();
        let loss = match self.penalty() {
            Some(p) if lambda > 0.0 => ce + p * (lambda / 2.0),
            _ => ce,
        };
        StepOutput { loss, logits }
    }

    fn after_task(&mut self, task: usize, data: &DeviceTask) -> anyhow::Result<()> {
        self.trunk.end_task(task)?;
        let fisher = self.fisher(task, data)?;
        self.consolidate(fisher)
    }

    /// `ewc.importance.NAME` (A) and `ewc.anchor.NAME` (mu) once a task is consolidated.
    fn own_state(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        if let Some(p) = &self.penalty {
            for (name, (a, mu)) in &p.terms {
                out.insert(format!("ewc.importance.{name}"), a.shallow_clone());
                out.insert(format!("ewc.anchor.{name}"), mu.shallow_clone());
            }
        }
        out
    }

    fn save_own_state(&self, dir: &Path, task: usize) -> anyhow::Result<Vec<Artifact>> {
        let mut out = Vec::new();
        if let Some(p) = &self.penalty {
            let mut tensors = BTreeMap::new();
            for (name, (a, mu)) in &p.terms {
                tensors.insert(format!("importance.{name}"), a.shallow_clone());
                tensors.insert(format!("anchor.{name}"), mu.shallow_clone());
            }
            tensors.insert("constant".into(), Tensor::from_slice(&[p.constant]));
            let path = Self::penalty_file(dir, task);
            let mut meta = self.trunk.setup.meta("ewc_penalty", task);
            meta.insert("online".into(), self.opts.online().to_string());
            save_tensors(&tensors, &path, &meta)?;
            out.push(artifact(&format!("ewc_after_task{}", task + 1), &path)?);
        }
        Ok(out)
    }

    fn load_own_state(&mut self, dir: &Path, tasks: usize) -> anyhow::Result<()> {
        let path = Self::penalty_file(dir, tasks - 1);
        let (mut tensors, _) = read_tensors(&path)?;
        let device = self.trunk.setup.device;
        let mut take = |key: String| {
            tensors
                .remove(&key)
                .map(|t| t.to_device(device))
                .ok_or_else(|| anyhow::anyhow!("{}: tensor `{key}` is missing", path.display()))
        };
        let constant = take("constant".into())?.f_double_value(&[0])?;
        let mut terms = BTreeMap::new();
        for (name, theta) in &self.params {
            let a = take(format!("importance.{name}"))?;
            let mu = take(format!("anchor.{name}"))?;
            anyhow::ensure!(
                a.size() == theta.size() && mu.size() == theta.size(),
                "{}: `{name}` has shape {:?} in the file, {:?} in the model",
                path.display(),
                a.size(),
                theta.size()
            );
            // In the parameter's memory layout (channels-last convs on the CPU), as the run
            // that saved them had them: the penalty's sums then run in the same order, and
            // the resumed run gives the same bits (the file's contiguous copies summed in
            // another order on an AVX-512 Intel Xeon, 2026-12-08).
            let laid_out_like_theta = |t: &Tensor| {
                let mut out = theta.empty_like();
                tch::no_grad(|| out.copy_(t));
                out
            };
            terms.insert(
                name.clone(),
                (laid_out_like_theta(&a), laid_out_like_theta(&mu)),
            );
        }
        self.set_penalty(Consolidated {
            terms,
            constant,
            effective: BTreeMap::new(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folded_penalty_equals_the_sum_of_the_task_penalties() {
        tch::manual_seed(3);
        let f1 = Tensor::rand([50], (Kind::Double, tch::Device::Cpu));
        let f2 = Tensor::rand([50], (Kind::Double, tch::Device::Cpu));
        // Some parameters unimportant to one task or both.
        let f1 = f1.where_self(&f1.gt(0.2), &f1.zeros_like());
        let f2 = f2.where_self(&f2.gt(0.5), &f2.zeros_like());
        let s1 = Tensor::randn([50], (Kind::Double, tch::Device::Cpu));
        let s2 = Tensor::randn([50], (Kind::Double, tch::Device::Cpu));
        let (a, mu, c) = fold_offline(&f1.zeros_like(), &s1.zeros_like(), &f1, &s1);
        assert_eq!(c.double_value(&[]), 0.0);
        let (a, mu, c2) = fold_offline(&a, &mu, &f2, &s2);
        for _ in 0..3 {
            let theta = Tensor::randn([50], (Kind::Double, tch::Device::Cpu)) * 3.0;
            let direct = (&f1 * (&theta - &s1).square() + &f2 * (&theta - &s2).square())
                .sum(Kind::Double)
                .double_value(&[]);
            let folded = (&a * (&theta - &mu).square())
                .sum(Kind::Double)
                .double_value(&[])
                + c.double_value(&[])
                + c2.double_value(&[]);
            assert!(
                (direct - folded).abs() < 1e-9 * direct.abs().max(1.0),
                "{direct} vs {folded}"
            );
        }
    }
}
