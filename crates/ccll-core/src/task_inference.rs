//! Task-agnostic inference: the task of a test image picked by the model itself, without the
//! task id, and the task-agnostic (TAg) evaluation built on it.
//!
//! Every rule scores the tasks `0..=upto` per image and picks the best:
//! - `min_entropy`: the task whose head is most certain (lowest entropy of its softmax), as
//!   HNET+ENT does with its task embeddings;
//! - `min_normalized_entropy`: the same with each head's entropy divided by its maximum,
//!   `ln C` for a C-way head, so that heads of different sizes compare on one scale (a 2-way
//!   head's entropy is at most 0.69, a 10-way head's 2.30);
//! - `max_confidence`: the task with the highest top softmax probability;
//! - `max_logit`: FACIL's task-agnostic rule, the arg-max over the concatenation of all heads'
//!   logits (the task whose block holds it);
//! - `one_shot`: SupSup's one-shot rule (Wortsman et al. 2020): the tasks superposed with
//!   weights 1/T in one pass, the task whose weight's entropy gradient is most negative. For
//!   calibrated models the modules are mixed inside the network (one forward, one backward
//!   instead of T forwards); for models whose tasks differ only in heads or in whole networks
//!   the mixture is taken over the logits. The entropy is that of the mixed logits when every
//!   task has the same number of classes, else the mixture of the heads' entropies;
//! - `min_mahalanobis`: the task whose own classes lie nearest the image in that task's
//!   feature space (squared Mahalanobis distance to the nearest class mean, Lee et al. 2018),
//!   with the class means and covariance measured on each task's training images
//!   ([`TaskReference`]);
//! - `min_mahalanobis_base`: the same distances, all in task 1's feature space (ccll's frozen
//!   base, the first network of separate and pnn, the shared trunk), so that one pass serves
//!   every task and no task's modules pull other tasks' images towards its classes.
//!
//! A TAg prediction is the inferred task's head's arg-max: it is right when the task is
//! inferred right and the task-aware prediction is right, so TAg accuracy never exceeds TAw
//! accuracy and equals it after task 1.

use crate::data::DeviceTask;
use crate::strategy::{MethodConfig, Strategy};
use ccll_results::{Metrics, RuleResult, TaskAgnostic, TaskMatrix};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::{Device, Kind, Reduction, Tensor};

/// A rule that picks the task of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    MinEntropy,
    MinNormalizedEntropy,
    MaxConfidence,
    MaxLogit,
    OneShot,
    MinMahalanobis,
    MinMahalanobisBase,
}

/// Every rule, in the order results list them.
pub const RULES: [Rule; 7] = [
    Rule::MinEntropy,
    Rule::MinNormalizedEntropy,
    Rule::MaxConfidence,
    Rule::MaxLogit,
    Rule::OneShot,
    Rule::MinMahalanobis,
    Rule::MinMahalanobisBase,
];

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Self::MinEntropy => "min_entropy",
            Self::MinNormalizedEntropy => "min_normalized_entropy",
            Self::MaxConfidence => "max_confidence",
            Self::MaxLogit => "max_logit",
            Self::OneShot => "one_shot",
            Self::MinMahalanobis => "min_mahalanobis",
            Self::MinMahalanobisBase => "min_mahalanobis_base",
        }
    }

    /// The rule of this name.
    pub fn named(name: &str) -> Option<Self> {
        RULES.into_iter().find(|r| r.name() == name)
    }

    /// Whether the rule reads the tasks' features and their [`TaskReference`] rather than
    /// their logits.
    pub fn reads_features(self) -> bool {
        matches!(self, Self::MinMahalanobis | Self::MinMahalanobisBase)
    }

    /// Per-image scores `[B, T]` (higher = more likely) from every task's logits (features
    /// for `min_mahalanobis`, with the tasks' `reference`); `None` for `one_shot`, which needs
    /// the model.
    fn scores(self, logits: &[Tensor], reference: Option<&TaskReference>) -> Option<Tensor> {
        let reference =
            || reference.expect("the Mahalanobis rules are given the tasks' TaskReference");
        let per_task: Vec<Tensor> = match self {
            Self::MinEntropy => logits.iter().map(|l| -entropy(l)).collect(),
            Self::MinNormalizedEntropy => logits
                .iter()
                .map(|l| {
                    let classes = *l.size().last().unwrap_or(&1);
                    // A 1-way head is always certain: entropy 0 either way.
                    -entropy(l) / (classes.max(2) as f64).ln()
                })
                .collect(),
            Self::MaxConfidence => logits
                .iter()
                .map(|l| l.softmax(-1, Kind::Float).amax([-1i64].as_slice(), false))
                .collect(),
            Self::MaxLogit => logits
                .iter()
                .map(|l| l.amax([-1i64].as_slice(), false))
                .collect(),
            // `logits` are the tasks' features here (see `reads_features`).
            Self::MinMahalanobis => logits
                .iter()
                .enumerate()
                .map(|(t, f)| -reference().own[t].nearest(f))
                .collect(),
            // ... and task 1's features, the same for every task.
            Self::MinMahalanobisBase => logits
                .iter()
                .enumerate()
                .map(|(t, f)| -reference().base[t].nearest(f))
                .collect(),
            Self::OneShot => return None,
        };
        Some(Tensor::stack(&per_task, 1))
    }
}

/// How many of a task's training images its reference is measured on (evenly spaced
/// through the split).
pub const REFERENCE_IMAGES: i64 = 1000;

/// What `min_mahalanobis` knows of each task: the class means and shared precision of the
/// task's features (what its head reads) on its own training images, measured with the model
/// as it stands. A task is judged by how far an image's features lie from its own classes,
/// not by how certain its head is: a head is as certain on images unlike anything it was
/// trained on as on its own (ReLU networks' logits grow away from the data), so confidence
/// cannot tell the tasks apart, distance to the task's data can. Training images, because they
/// are what a run has without holding data back from training (so TAw results stay as they
/// are). For methods whose task features stay fixed once the task is trained (ccll and its
/// variants, separate, pnn) this is what the task's data gave when it was trained; for those
/// whose shared network moves on (finetune, ewc, lwf, joint, dgr, hnet) it re-reads old
/// tasks' training images, which such a method would not keep (see the README).
pub struct TaskReference {
    /// In each task's own feature space (`min_mahalanobis`).
    own: Vec<ClassGaussians>,
    /// In task 1's feature space, for every task (`min_mahalanobis_base`).
    base: Vec<ClassGaussians>,
}

/// Class means `[C, D]` and the precision `[D, D]` of the within-class covariance (shrunk
/// towards its mean variance) of one task's features: Lee et al. (2018)'s Mahalanobis model.
struct ClassGaussians {
    means: Tensor,
    precision: Tensor,
}

/// Shrinkage of the within-class covariance towards a multiple of the identity: features
/// after a ReLU and pooling have dead dimensions, and a few hundred images per task leave
/// the rest noisy.
const SHRINKAGE: f64 = 0.1;

impl ClassGaussians {
    fn fit(features: &Tensor, labels: &Tensor, classes: i64) -> Self {
        let f = features.to_kind(Kind::Double);
        let d = f.size()[1];
        let one_hot = labels.one_hot(classes).to_kind(Kind::Double);
        let counts = one_hot
            .sum_dim_intlist([0i64].as_slice(), false, Kind::Double)
            .clamp_min(1.0);
        let means = one_hot.tr().matmul(&f) / counts.unsqueeze(1);
        let centred = &f - one_hot.matmul(&means);
        let n = f.size()[0].max(1) as f64;
        let cov = centred.tr().matmul(&centred) / n;
        let scale = cov
            .diagonal(0, 0, 1)
            .mean(Kind::Double)
            .double_value(&[])
            .max(1e-12);
        let eye = Tensor::eye(d, (Kind::Double, f.device()));
        let shrunk = cov * (1.0 - SHRINKAGE) + eye * (SHRINKAGE * scale);
        Self {
            means,
            precision: shrunk.inverse(),
        }
    }

    fn shallow_clone(&self) -> Self {
        Self {
            means: self.means.shallow_clone(),
            precision: self.precision.shallow_clone(),
        }
    }

    /// Squared Mahalanobis distance of each row of `features` to its nearest class mean,
    /// `[B]`.
    fn nearest(&self, features: &Tensor) -> Tensor {
        let diff = features.to_kind(Kind::Double).unsqueeze(1) - self.means.unsqueeze(0);
        (diff.matmul(&self.precision) * &diff)
            .sum_dim_intlist([-1i64].as_slice(), false, Kind::Double)
            .amin([-1i64].as_slice(), false)
    }
}

impl TaskReference {
    /// The reference of tasks `0..data.len()` from the model as it stands.
    pub fn measure(strategy: &dyn Strategy, data: &[DeviceTask], batch_size: usize) -> Self {
        // Task `t`'s images in the feature space of task `space`.
        let fit = |t: usize, space: usize| {
            let d = &data[t];
            let (images, labels) = reference_images(d);
            let f: Vec<Tensor> = images
                .split(batch_size.max(1) as i64, 0)
                .iter()
                .map(|b| features_of(strategy, &d.prepare(b, false), space))
                .collect();
            ClassGaussians::fit(&Tensor::cat(&f, 0), &labels, d.classes)
        };
        tch::no_grad(|| {
            let own: Vec<ClassGaussians> = (0..data.len()).map(|t| fit(t, t)).collect();
            // Task 1's own space is the base space: its statistics are fitted once.
            let base = (0..data.len())
                .map(|t| match t {
                    0 => own[0].shallow_clone(),
                    _ => fit(t, 0),
                })
                .collect();
            Self { own, base }
        })
    }
}

/// Task `task`'s inference features of `x` (what its head reads).
fn features_of(strategy: &dyn Strategy, x: &Tensor, task: usize) -> Tensor {
    strategy
        .task_features(x, task)
        .expect("the Mahalanobis rules apply to models with per-task features")
}

/// At most [`REFERENCE_IMAGES`] of a task's training images, evenly spaced, with their labels.
fn reference_images(d: &DeviceTask) -> (Tensor, Tensor) {
    let n = d.train.len();
    let step = ((n + REFERENCE_IMAGES - 1) / REFERENCE_IMAGES).max(1);
    let at = Tensor::arange_start_step(0, n, step, (Kind::Int64, d.train.images.device()));
    (
        d.train.images.index_select(0, &at),
        d.train.labels.index_select(0, &at),
    )
}

/// Entropy of the softmax of each row of `logits`, `[B]`.
fn entropy(logits: &Tensor) -> Tensor {
    let logp = logits.log_softmax(-1, Kind::Float);
    -(logp.exp() * &logp).sum_dim_intlist([-1i64].as_slice(), false, Kind::Float)
}

/// One-shot task choice for a batch: the arg-min over tasks of the gradient of the
/// superposition's entropy by the mixing weights (all 1/T). `logits` are the tasks' own
/// logits, used when the model does not mix inside the network.
fn one_shot(strategy: &dyn Strategy, x: &Tensor, logits: Option<&[Tensor]>, tasks: i64) -> Tensor {
    let w = Tensor::full(
        [x.size()[0], tasks],
        1.0 / tasks as f64,
        (Kind::Float, x.device()),
    )
    .set_requires_grad(true);
    let heads = tch::with_grad(|| strategy.mixed_logits(x, &w)).unwrap_or_else(|| {
        logits
            .expect("logits given when the model does not mix")
            .iter()
            .map(Tensor::detach)
            .collect()
    });
    steepest_descent(&heads, &w)
}

/// The entropy the one-shot rule differentiates, summed over the batch: with equal class
/// counts SupSup's, the entropy of the mixed logits `sum_t w_t logits_t`; otherwise (the
/// heads' outputs cannot be added) the mixture of the heads' entropies `sum_t w_t H_t`.
fn superposed_entropy(heads: &[Tensor], w: &Tensor) -> Tensor {
    let weight = |t: usize| w.narrow(1, t as i64, 1);
    let equal = heads.windows(2).all(|p| p[0].size() == p[1].size());
    tch::with_grad(|| {
        let terms = heads.iter().enumerate();
        if equal {
            let mixed = terms.map(|(t, l)| l * weight(t)).reduce(|a, b| a + b);
            entropy(&mixed.expect("at least one task")).sum(Kind::Float)
        } else {
            terms
                .map(|(t, l)| entropy(l).unsqueeze(1) * weight(t))
                .reduce(|a, b| a + b)
                .expect("at least one task")
                .sum(Kind::Float)
        }
    })
}

/// Per image, the task whose weight most lowers the superposed entropy when raised.
fn steepest_descent(heads: &[Tensor], w: &Tensor) -> Tensor {
    let h = superposed_entropy(heads, w);
    let grad = Tensor::run_backward(&[h], &[w], false, false);
    grad[0].argmin(1, false)
}

/// What evaluating one task's test set gives: the task-aware (TAw) accuracy and loss exactly
/// as [`crate::train::evaluate`] computes them, the per-image predictions, and per rule the
/// inferred task of every image.
pub struct TaskEvaluation {
    pub accuracy: f64,
    pub loss: f64,
    /// Task-aware predicted class of every test image (CPU, i64).
    pub predicted: Tensor,
    /// The test labels (CPU, i64).
    pub labels: Tensor,
    /// Seconds spent in task-aware inference.
    pub task_aware_seconds: f64,
    pub rules: Vec<RuleEvaluation>,
}

/// One rule on one task's test set.
pub struct RuleEvaluation {
    pub rule: Rule,
    /// The inferred task (0-based) of every image (CPU, i64).
    pub inferred: Tensor,
    /// Seconds spent inferring the task (the rule's own pass; the shared all-task pass counts
    /// for every rule that uses it).
    pub seconds: f64,
}

impl RuleEvaluation {
    /// TAg accuracy (percent): task inferred right and the task's prediction right.
    pub fn accuracy(&self, task: usize, ev: &TaskEvaluation) -> f64 {
        let right = self
            .inferred
            .eq(task as i64)
            .logical_and(&ev.predicted.eq_tensor(&ev.labels));
        percent(&right)
    }

    /// Share (percent) of images whose task was inferred right.
    pub fn task_id_accuracy(&self, task: usize) -> f64 {
        percent(&self.inferred.eq(task as i64))
    }
}

fn percent(flags: &Tensor) -> f64 {
    let n = flags.size()[0].max(1) as f64;
    100.0 * flags.sum(Kind::Int64).int64_value(&[]) as f64 / n
}

/// What task-agnostic evaluation after task `upto` (0-based, the last task trained) infers
/// with: the rules, over tasks `0..=upto`, and the tasks' references when a rule reads
/// features (see [`Inference::new`]).
pub struct Inference<'a> {
    pub upto: usize,
    pub rules: &'a [Rule],
    pub reference: Option<TaskReference>,
}

impl<'a> Inference<'a> {
    /// Measures the references of tasks `0..=upto` (from `data`, every task's data) when one
    /// of `rules` needs them.
    pub fn new(
        strategy: &dyn Strategy,
        upto: usize,
        rules: &'a [Rule],
        data: &[DeviceTask],
        batch_size: usize,
    ) -> Self {
        let reference = rules
            .iter()
            .any(|r| r.reads_features())
            .then(|| TaskReference::measure(strategy, &data[..=upto], batch_size));
        Self {
            upto,
            rules,
            reference,
        }
    }
}

/// Evaluates `task` (0-based) on its test set: task-aware, and, with `inference`,
/// task-agnostic by each of its rules. The stacked pass evaluates at most `batch_size` images
/// (all copies together) at once.
pub fn evaluate_task(
    strategy: &dyn Strategy,
    task: usize,
    inference: Option<&Inference>,
    data: &DeviceTask,
    batch_size: usize,
) -> TaskEvaluation {
    tch::no_grad(|| {
        let device = data.test.images.device();
        let mut loss_sum = Tensor::zeros([], (Kind::Double, device));
        let mut correct = Tensor::zeros([], (Kind::Int64, device));
        let mut predicted = Vec::new();
        let mut taw_seconds = 0.0;
        for (images, labels) in data.test.ordered_batches(batch_size) {
            let started = Instant::now();
            let logits = strategy.forward(&data.prepare(&images, false), task, false);
            loss_sum += logits
                .cross_entropy_loss::<Tensor>(&labels, None, Reduction::Sum, -100, 0.0)
                .to_kind(Kind::Double);
            let pred = logits.argmax(-1, false);
            correct += pred.eq_tensor(&labels).sum(Kind::Int64);
            sync(device);
            taw_seconds += started.elapsed().as_secs_f64();
            predicted.push(pred);
        }
        let n = data.test.len().max(1) as f64;
        let rules = match inference {
            Some(inference) => infer_tasks(strategy, inference, data, batch_size),
            None => Vec::new(),
        };
        TaskEvaluation {
            accuracy: 100.0 * correct.int64_value(&[]) as f64 / n,
            loss: loss_sum.double_value(&[]) / n,
            predicted: cat_cpu(&predicted),
            labels: data.test.labels.to_device(Device::Cpu),
            task_aware_seconds: taw_seconds,
            rules,
        }
    })
}

/// The inferred task of every test image of `data` by each rule, in the order of `rules`.
/// The rules that read every task's logits share one stacked pass, whose `T` copies of a
/// sub-batch make at most `batch_size` images; `one_shot` mixed inside the network sends each
/// image through once, so it takes `batch_size` images at a time on its own pass.
fn infer_tasks(
    strategy: &dyn Strategy,
    inference: &Inference,
    data: &DeviceTask,
    batch_size: usize,
) -> Vec<RuleEvaluation> {
    let (upto, rules) = (inference.upto, inference.rules);
    let tasks = upto + 1;
    let inside = rules.contains(&Rule::OneShot) && mixes_inside(strategy, data, upto);
    let (mixed, from_logits): (Vec<Rule>, Vec<Rule>) =
        rules.iter().partition(|r| **r == Rule::OneShot && inside);
    let sub_batch = batch_size.div_ceil(tasks).max(1);
    let reference = inference.reference.as_ref();
    let mut found = from_all_logits(strategy, upto, &from_logits, reference, data, sub_batch);
    if !mixed.is_empty() {
        found.push(mixed_one_shot(strategy, tasks, data, batch_size));
    }
    rules
        .iter()
        .map(|rule| {
            let at = found
                .iter()
                .position(|r| r.rule == *rule)
                .expect("every rule evaluated");
            found.swap_remove(at)
        })
        .collect()
}

/// The rules `rules` from every task's logits (`one_shot` over the logits' mixture), all
/// tasks' copies of `sub_batch` images in one pass.
fn from_all_logits(
    strategy: &dyn Strategy,
    upto: usize,
    rules: &[Rule],
    reference: Option<&TaskReference>,
    data: &DeviceTask,
    sub_batch: usize,
) -> Vec<RuleEvaluation> {
    if rules.is_empty() {
        return Vec::new();
    }
    let device = data.test.images.device();
    let mut inferred: Vec<Vec<Tensor>> = rules.iter().map(|_| Vec::new()).collect();
    let mut seconds = vec![0.0; rules.len()];
    for (images, _) in data.test.ordered_batches(sub_batch) {
        let x = data.prepare(&images, false);
        let started = Instant::now();
        let logits = strategy.all_task_logits(&x, upto);
        sync(device);
        let pass = started.elapsed().as_secs_f64();
        for (i, rule) in rules.iter().enumerate() {
            let started = Instant::now();
            let features;
            let read = match rule {
                Rule::MinMahalanobis => {
                    features = strategy
                        .all_task_features(&x, upto)
                        .expect("the Mahalanobis rules apply to models with per-task features");
                    &features
                }
                Rule::MinMahalanobisBase => {
                    let first = features_of(strategy, &x, 0);
                    features = (0..=upto).map(|_| first.shallow_clone()).collect();
                    &features
                }
                _ => &logits,
            };
            let choice = match rule.scores(read, reference) {
                Some(scores) => scores.argmax(1, false),
                None => one_shot(strategy, &x, Some(&logits), upto as i64 + 1),
            };
            sync(device);
            // A rule that reads features pays for its own pass, not the logits'.
            let shared = if rule.reads_features() { 0.0 } else { pass };
            seconds[i] += started.elapsed().as_secs_f64() + shared;
            inferred[i].push(choice);
        }
    }
    rules
        .iter()
        .zip(inferred)
        .zip(seconds)
        .map(|((rule, parts), seconds)| RuleEvaluation {
            rule: *rule,
            inferred: cat_cpu(&parts),
            seconds,
        })
        .collect()
}

/// `one_shot` with the tasks mixed inside the network, `batch_size` images per pass.
fn mixed_one_shot(
    strategy: &dyn Strategy,
    tasks: usize,
    data: &DeviceTask,
    batch_size: usize,
) -> RuleEvaluation {
    let device = data.test.images.device();
    let mut parts = Vec::new();
    let mut seconds = 0.0;
    for (images, _) in data.test.ordered_batches(batch_size.max(1)) {
        let x = data.prepare(&images, false);
        let started = Instant::now();
        parts.push(one_shot(strategy, &x, None, tasks as i64));
        sync(device);
        seconds += started.elapsed().as_secs_f64();
    }
    RuleEvaluation {
        rule: Rule::OneShot,
        inferred: cat_cpu(&parts),
        seconds,
    }
}

/// Whether the strategy mixes its tasks inside the network for `one_shot` (tried on one
/// image).
fn mixes_inside(strategy: &dyn Strategy, data: &DeviceTask, upto: usize) -> bool {
    let Some((images, _)) = data.test.ordered_batches(1).into_iter().next() else {
        return false;
    };
    let x = data.prepare(&images, false);
    let w = Tensor::ones([1, upto as i64 + 1], (Kind::Float, x.device()));
    strategy.mixed_logits(&x, &w).is_some()
}

fn cat_cpu(parts: &[Tensor]) -> Tensor {
    if parts.is_empty() {
        return Tensor::zeros([0], (Kind::Int64, Device::Cpu));
    }
    Tensor::cat(parts, 0).to_device(Device::Cpu)
}

/// Waits for the device so that wall-clock times cover the work (CUDA runs asynchronously).
fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// The rules that apply to a run whose tasks have `task_classes` classes: all of them.
pub fn applicable_rules(task_classes: &[i64]) -> Vec<Rule> {
    let _ = task_classes;
    RULES.to_vec()
}

/// The rule a run reports as its TAg result: `method.task_inference`, else FACIL's
/// concatenated heads (`max_logit`) for the methods that share one trunk, HNET+ENT's
/// `min_entropy` for hnet (its published rule; its shared hypernetwork moves on, so fitting
/// its tasks' feature statistics would need old tasks' data), else `min_mahalanobis_base`
/// (the best rule for every such method on the validation splits of `task_agnostic`'s
/// `cpu-validation` profile; see the README).
pub fn primary_rule(method: &MethodConfig) -> Rule {
    method.task_inference().unwrap_or(match method {
        MethodConfig::Finetune(_)
        | MethodConfig::Joint(_)
        | MethodConfig::Ewc(_)
        | MethodConfig::Lwf(_)
        | MethodConfig::Dgr(_) => Rule::MaxLogit,
        MethodConfig::Hnet(_) => Rule::MinEntropy,
        _ => Rule::MinMahalanobisBase,
    })
}

/// Collects a run's task-agnostic results row by row (after each task) and its per-image
/// predictions (`predictions.safetensors`, from which the matrices can be recomputed).
pub struct TagRecorder {
    primary: Rule,
    rules: Vec<Rule>,
    tasks: usize,
    acc: Vec<TaskMatrix>,
    task_id: Vec<TaskMatrix>,
    seconds: Vec<f64>,
    images: f64,
    task_aware_seconds: f64,
    predictions: Vec<(String, Tensor)>,
}

/// The file of a run's per-image predictions: `labels.taskJ`, `taw.afterI.taskJ` (the
/// task-aware predicted class) and `RULE.afterI.taskJ` (the inferred task, 1-based I, J; the
/// inferred task 0-based), all i64.
pub const PREDICTIONS_FILE: &str = "predictions.safetensors";

impl TagRecorder {
    /// For a run of tasks with `task_classes` classes reporting `primary`.
    pub fn new(primary: Rule, task_classes: &[i64]) -> anyhow::Result<Self> {
        let rules = applicable_rules(task_classes);
        anyhow::ensure!(
            rules.contains(&primary),
            "{} does not apply here",
            primary.name()
        );
        let n = rules.len();
        Ok(Self {
            primary,
            rules,
            tasks: task_classes.len(),
            acc: vec![TaskMatrix::new(); n],
            task_id: vec![TaskMatrix::new(); n],
            seconds: vec![0.0; n],
            images: 0.0,
            task_aware_seconds: 0.0,
            predictions: Vec::new(),
        })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Records the evaluations of tasks `0..=upto` after training task `upto`.
    pub fn record_row(&mut self, upto: usize, evals: &[TaskEvaluation]) {
        for (i, rule) in self.rules.iter().enumerate() {
            let found = |j: usize| evals[j].rules.iter().find(|r| r.rule == *rule);
            let acc: Vec<f64> = (0..evals.len())
                .map(|j| found(j).map_or(f64::NAN, |r| r.accuracy(j, &evals[j])))
                .collect();
            let task_id: Vec<f64> = (0..evals.len())
                .map(|j| found(j).map_or(f64::NAN, |r| r.task_id_accuracy(j)))
                .collect();
            self.acc[i].push_row(&acc, self.tasks);
            self.task_id[i].push_row(&task_id, self.tasks);
            self.seconds[i] += evals
                .iter()
                .filter_map(|e| e.rules.iter().find(|r| r.rule == *rule))
                .map(|r| r.seconds)
                .sum::<f64>();
        }
        for (j, e) in evals.iter().enumerate() {
            self.images += e.labels.size()[0] as f64;
            self.task_aware_seconds += e.task_aware_seconds;
            if j == upto {
                self.predictions
                    .push((format!("labels.task{}", j + 1), e.labels.shallow_clone()));
            }
            let cell = format!("after{}.task{}", upto + 1, j + 1);
            self.predictions
                .push((format!("taw.{cell}"), e.predicted.shallow_clone()));
            for r in &e.rules {
                self.predictions.push((
                    format!("{}.{cell}", r.rule.name()),
                    r.inferred.shallow_clone(),
                ));
            }
        }
    }

    /// Writes the per-image predictions into `dir`.
    pub fn write_predictions(&self, dir: &std::path::Path) -> anyhow::Result<()> {
        let path = dir.join(PREDICTIONS_FILE);
        Tensor::write_safetensors(&self.predictions, &path)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
    }

    /// The run's task-agnostic results.
    pub fn finish(&self) -> TaskAgnostic {
        let per_image = |s: f64| {
            if self.images > 0.0 {
                s / self.images
            } else {
                f64::NAN
            }
        };
        TaskAgnostic {
            primary: self.primary.name().to_string(),
            task_aware_seconds_per_image: per_image(self.task_aware_seconds),
            rules: self
                .rules
                .iter()
                .enumerate()
                .filter_map(|(i, rule)| {
                    Some(RuleResult {
                        rule: rule.name().to_string(),
                        metrics: Metrics::from_matrix(&self.acc[i])?,
                        acc_matrix: self.acc[i].clone(),
                        task_id_matrix: self.task_id[i].clone(),
                        seconds_per_image: per_image(self.seconds[i]),
                    })
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits of 3 tasks x 2 classes for 3 images: image i is task i's (its head is sure).
    fn separable() -> Vec<Tensor> {
        (0..3)
            .map(|t| {
                let rows: Vec<f32> = (0..3)
                    .flat_map(|i| if i == t { [6.0, -6.0] } else { [0.2, -0.1] })
                    .collect();
                Tensor::from_slice(&rows).view([3, 2])
            })
            .collect()
    }

    #[test]
    fn every_rule_picks_the_task_whose_head_is_sure() {
        let logits = separable();
        let expected = Tensor::from_slice(&[0i64, 1, 2]);
        for rule in [
            Rule::MinEntropy,
            Rule::MinNormalizedEntropy,
            Rule::MaxConfidence,
            Rule::MaxLogit,
        ] {
            let picked = rule.scores(&logits, None).unwrap().argmax(1, false);
            assert!(picked.equal(&expected), "{}: {picked:?}", rule.name());
        }
        let w = Tensor::full([3, 3], 1.0 / 3.0, (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let picked = steepest_descent(&logits, &w);
        assert!(picked.equal(&expected), "one_shot: {picked:?}");
    }

    #[test]
    fn one_shot_with_unequal_classes_mixes_the_heads_entropies() {
        // Task 0 has 3 classes and is sure about image 0; task 1 (2 classes) about image 1.
        let logits = vec![
            Tensor::from_slice(&[8.0f32, -4.0, -4.0, 0.1, 0.0, 0.2]).view([2, 3]),
            Tensor::from_slice(&[0.1f32, 0.0, 7.0, -7.0]).view([2, 2]),
        ];
        let w = Tensor::full([2, 2], 0.5, (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let picked = steepest_descent(&logits, &w);
        assert!(picked.equal(&Tensor::from_slice(&[0i64, 1])), "{picked:?}");
        assert_eq!(Rule::named("one_shot"), Some(Rule::OneShot));
    }

    #[test]
    fn mahalanobis_picks_the_task_whose_classes_lie_nearest_where_confidence_cannot() {
        // Task 0's two classes sit at x = +-4 along dimension 0, task 1's at +-4 along
        // dimension 1 (features `[N, 3]`, a little noise, a dead third dimension).
        tch::manual_seed(0);
        let fit = |axis: i64| {
            let labels = Tensor::from_slice(&[0i64, 1]).repeat([50]);
            let sign = labels.to_kind(Kind::Float) * 2.0 - 1.0;
            let centre = Tensor::zeros([100, 3], (Kind::Float, Device::Cpu));
            centre.narrow(1, axis, 1).copy_(&(sign.unsqueeze(1) * 4.0));
            let noise = Tensor::randn([100, 3], (Kind::Float, Device::Cpu)) * 0.3;
            let _ = noise.narrow(1, 2, 1).zero_();
            ClassGaussians::fit(&(centre + noise), &labels, 2)
        };
        let reference = TaskReference {
            own: vec![fit(0), fit(1)],
            base: vec![fit(0), fit(1)],
        };
        // Image 0 is task 0's class 1, image 1 task 1's class 0. Every head is equally sure
        // of every image (the same logits), so entropy cannot choose; distance does. Each
        // task sees the same features here, as a trunk method's tasks do.
        let features = Tensor::from_slice(&[4.1f32, 0.2, 0.0, -0.1, -3.8, 0.0]).view([2, 3]);
        let both = vec![features.shallow_clone(), features];
        let picked = Rule::MinMahalanobis
            .scores(&both, Some(&reference))
            .unwrap()
            .argmax(1, false);
        assert!(picked.equal(&Tensor::from_slice(&[0i64, 1])), "{picked:?}");
        assert!(Rule::MinMahalanobis.reads_features());
        assert_eq!(Rule::named("min_mahalanobis"), Some(Rule::MinMahalanobis));
        // The base rule reads its own statistics: swapped, it picks the other task.
        let swapped = TaskReference {
            own: vec![fit(0), fit(1)],
            base: vec![fit(1), fit(0)],
        };
        let picked = Rule::MinMahalanobisBase
            .scores(&both, Some(&swapped))
            .unwrap()
            .argmax(1, false);
        assert!(picked.equal(&Tensor::from_slice(&[1i64, 0])), "{picked:?}");
        // The nearest class's squared distance is small for its own task's image.
        let d = reference.own[0].nearest(&both[0]);
        assert!(
            d.double_value(&[0]) < 3.0 && d.double_value(&[1]) > 30.0,
            "{d:?}"
        );
    }

    #[test]
    fn normalized_entropy_compares_heads_of_different_sizes() {
        // A 10-way head fairly sure of its image (entropy 1.30 of at most 2.30) against a 2-way
        // head unsure of it (0.60 of at most 0.69): raw entropy picks the 2-way head, the
        // normalised one the 10-way head.
        let mut ten = vec![0.0f32; 10];
        ten[3] = 3.0;
        let logits = vec![
            Tensor::from_slice(&ten).view([1, 10]),
            Tensor::from_slice(&[0.9f32, 0.0]).view([1, 2]),
        ];
        let pick = |rule: Rule| {
            rule.scores(&logits, None)
                .unwrap()
                .argmax(1, false)
                .int64_value(&[0])
        };
        assert_eq!(pick(Rule::MinEntropy), 1);
        assert_eq!(pick(Rule::MinNormalizedEntropy), 0);
        // With equal class counts it picks what min_entropy picks.
        let equal = separable();
        let a = Rule::MinEntropy
            .scores(&equal, None)
            .unwrap()
            .argmax(1, false);
        let b = Rule::MinNormalizedEntropy
            .scores(&equal, None)
            .unwrap()
            .argmax(1, false);
        assert!(a.equal(&b));
        assert_eq!(
            Rule::named("min_normalized_entropy"),
            Some(Rule::MinNormalizedEntropy)
        );
    }
}
