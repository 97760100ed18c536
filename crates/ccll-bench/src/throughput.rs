//! Figure 1: training throughput of ccll against the PyTorch reference, same model, same
//! weights, same batch, same threads, after checking that both compute the same function.

use crate::model::{save_batch, BenchModel, ModelSpec};
use crate::reference::Reference;
use crate::report::{Figure, Target};
use crate::timing::{alternate, cpu_seconds, seconds, steps_for, Paired};
use crate::Options;
use std::path::PathBuf;
use tch::Device;

const SECTION: &str = "1. training throughput vs PyTorch";

/// ours/reference loss ratio allowed by the equivalence check, before and after the step.
/// Float32 rounding of different kernels moves a ResNet's loss by ~1e-6 here (measured up to
/// 2e-6 before and 1e-5 after the step); a different function moves it by orders more.
pub const LOSS_TOLERANCE: f64 = 5e-5;
/// Relative difference allowed between gradient norms. Not tighter: CCM normalises a grouped
/// 1x1 conv of globally pooled features with batch norm over the batch, where those features
/// vary little, so rounding differences reach its conv's gradient amplified by 1/sigma (seen
/// up to 1.5e-2 on ResNets); sums that cancel (a BN bias) show it too. A wrong gradient
/// (missing term, wrong factor) is off by far more, and the step check is tight.
pub const GRAD_TOLERANCE: f64 = 5e-2;
/// Norms below this fraction of the largest are compared against that floor instead.
pub const NORM_FLOOR: f64 = 1e-2;
/// Learning rate of the equivalence check's SGD step (see [`check_equivalence_with`]).
pub const CHECK_LR: f64 = 1e-4;
/// Relative difference allowed between a trained tensor's norms after one step.
pub const PARAM_TOLERANCE: f64 = 1e-5;

/// The models of figure 1 and their targets (ours / PyTorch).
pub fn cases(only: Option<&str>) -> Vec<(ModelSpec, f64, &'static str)> {
    let all = vec![
        (ModelSpec::new("resnet18_cifar", 20, 2, 1), 1.0, ""),
        (ModelSpec::new("resnet18_cifar", 20, 2, 2), 1.0, ""),
        (
            ModelSpec::new("resnet18_cifar", 20, 2, 4),
            1.0,
            "alpha 8 does not divide width 20 (20, 40, 80, 160 channels): alpha 4 is the largest that does",
        ),
        (ModelSpec::new("resnet18_cifar", 64, 2, 1), 1.0, ""),
        (ModelSpec::new("resnet18_cifar", 64, 2, 2), 1.0, ""),
        (ModelSpec::new("resnet18_cifar", 64, 2, 8), 1.0, ""),
        (ModelSpec::new("convnet", 32, 1, 1), 1.2, ""),
        (ModelSpec::new("convnet", 32, 2, 1), 1.2, ""),
    ];
    all.into_iter()
        .filter(|(s, _, _)| only.is_none_or(|o| s.label().contains(o)))
        .collect()
}

/// Both sides' loss, gradients and loss after one SGD step on the same weights and batch.
#[derive(Debug, Clone)]
pub struct Equivalence {
    pub ours_loss: f64,
    pub reference_loss: f64,
    pub ours_after: f64,
    pub reference_after: f64,
    /// The loss after the step at inference (eval mode, no gradients: ours through the fused
    /// calibration kernel on CPU).
    pub ours_eval: f64,
    pub reference_eval: f64,
    /// Largest relative difference of a gradient norm, and the tensor it belongs to.
    pub worst_grad: (f64, String),
    /// Largest relative difference of a trained tensor's norm after the step.
    pub worst_param: (f64, String),
    pub grads: usize,
    /// Tensors with a gradient on one side only.
    pub grad_mismatch: Vec<String>,
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-12)
}

impl Equivalence {
    pub fn loss_ratio(&self) -> f64 {
        self.ours_loss / self.reference_loss
    }

    /// Same loss before and after a step, training and inference (relative `LOSS_TOLERANCE`),
    /// same gradient norms (`GRAD_TOLERANCE`), same trained tensors after the step
    /// (`PARAM_TOLERANCE`), same set of trained tensors.
    pub fn holds(&self) -> bool {
        rel(self.ours_loss, self.reference_loss) <= LOSS_TOLERANCE
            && rel(self.ours_after, self.reference_after) <= LOSS_TOLERANCE
            && rel(self.ours_eval, self.reference_eval) <= LOSS_TOLERANCE
            && self.worst_grad.0 <= GRAD_TOLERANCE
            && self.worst_param.0 <= PARAM_TOLERANCE
            && self.grad_mismatch.is_empty()
            && self.grads > 0
    }

    pub fn summary(&self) -> String {
        format!(
            "loss {:.6} vs {:.6}; {} gradient norms, worst rel. diff {:.1e} ({}); after one SGD step: trained tensors' norms worst rel. diff {:.1e} ({}), loss {:.6} vs {:.6} (rel. {:.1e}), at inference {:.6} vs {:.6} (rel. {:.1e}){}",
            self.ours_loss,
            self.reference_loss,
            self.grads,
            self.worst_grad.0,
            self.worst_grad.1,
            self.worst_param.0,
            self.worst_param.1,
            self.ours_after,
            self.reference_after,
            rel(self.ours_after, self.reference_after),
            self.ours_eval,
            self.reference_eval,
            rel(self.ours_eval, self.reference_eval),
            if self.grad_mismatch.is_empty() {
                String::new()
            } else {
                format!("; trained on one side only: {:?}", self.grad_mismatch)
            }
        )
    }
}

fn files(reference: &Reference, spec: &ModelSpec, what: &str) -> (PathBuf, PathBuf) {
    let tag: String = spec
        .label()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let dir = reference.scratch();
    (
        dir.join(format!("{what}-{tag}-weights.safetensors")),
        dir.join(format!("{what}-{tag}-batch.safetensors")),
    )
}

/// Largest relative difference between the values both maps hold, and the names only one
/// of them holds.
fn compare(
    ours: &std::collections::BTreeMap<String, f64>,
    theirs: &std::collections::BTreeMap<String, f64>,
) -> ((f64, String), Vec<String>) {
    // Relative to the norm itself, with a floor of NORM_FLOOR x the largest norm: a norm that
    // is tiny next to the others is a sum that cancelled (see GRAD_TOLERANCE), and its rounding
    // error is of the size of the terms, not of the result.
    let largest = theirs.values().fold(0.0f64, |m, b| m.max(b.abs()));
    let floor = (NORM_FLOOR * largest).max(1e-12);
    let mut worst = (0.0, String::new());
    let mut mismatch = Vec::new();
    for (name, a) in ours {
        match theirs.get(name) {
            Some(b) => {
                let d = (a - b).abs() / b.abs().max(floor);
                if std::env::var_os("CCLL_BENCH_DEBUG").is_some() && d > 1e-9 {
                    eprintln!("  {name}: ours {a:.9e} reference {b:.9e} (rel. {d:.1e})");
                }
                if d >= worst.0 {
                    worst = (d, name.clone());
                }
            }
            None => mismatch.push(name.clone()),
        }
    }
    mismatch.extend(theirs.keys().filter(|n| !ours.contains_key(*n)).cloned());
    (worst, mismatch)
}

/// Builds the model, perturbs it (BN statistics, calibration) from `seed`, writes weights and
/// a batch, and compares one training step of ours with the reference's.
pub fn check_equivalence(
    reference: &Reference,
    spec: &ModelSpec,
    device: Device,
    threads: usize,
    seed: i64,
) -> anyhow::Result<Equivalence> {
    check_equivalence_with(reference, spec, device, threads, seed, &|_| {})
}

/// As [`check_equivalence`], with the reference's settings (`--spec` JSON) edited by `edit`
/// first: how a test shows that the check notices a difference.
pub fn check_equivalence_with(
    reference: &Reference,
    spec: &ModelSpec,
    device: Device,
    threads: usize,
    seed: i64,
    edit: &dyn Fn(&mut serde_json::Value),
) -> anyhow::Result<Equivalence> {
    // A small step: on randomised weights the loss is large and a step at a training lr (0.05)
    // lands somewhere chaotic (loss 12 -> 344 for a ResNet), where float32 rounding of two
    // different summation orders is amplified past any fair tolerance. A step 500x smaller still
    // exercises the whole update rule (momentum, weight decay, both learning rates).
    let spec = &spec.clone().with_lr(CHECK_LR);
    let mut model = BenchModel::new(spec, device, seed)?;
    model.randomize(seed + 1);
    let (x, y) = model.random_batch(seed + 2);
    let (weights, batch) = files(reference, spec, "check");
    model.save_weights(&weights)?;
    save_batch(&x, &y, &batch)?;
    let mut settings: serde_json::Value =
        serde_json::from_str(&spec.reference_spec(&model.config.train, threads, device))?;
    edit(&mut settings);
    let theirs = reference.check(&settings.to_string(), &weights, &batch)?;
    let out = model.step(&x, &y);
    let ours_loss = out.loss.double_value(&[]);
    let grads = model.grad_norms();
    let params = model.trained_norms();
    let ours_after = model.loss(&x, &y);
    let ours_eval = model
        .infer(&x, model.task_index())
        .cross_entropy_for_logits(&y)
        .double_value(&[]);
    let (worst_grad, mut mismatch) = compare(&grads, &theirs.grad_norms);
    let (worst_param, more) = compare(&params, &theirs.param_norms_after_step);
    mismatch.extend(more);
    mismatch.dedup();
    Ok(Equivalence {
        ours_loss,
        reference_loss: theirs.loss,
        ours_after,
        reference_after: theirs.loss_after_step,
        ours_eval,
        reference_eval: theirs.eval_loss_after_step,
        worst_grad,
        worst_param,
        grads: grads.len(),
        grad_mismatch: mismatch,
    })
}

/// What [`measure`] found: wall-clock images/s of both sides per round (paired), and the
/// same from CPU time (process CPU seconds, all threads), which a busy machine disturbs less;
/// with `Options::compile`, ours against the reference under torch.compile too (or why that
/// could not be measured).
#[derive(Debug, Clone)]
pub struct Speed {
    pub wall: Paired,
    pub cpu: Paired,
    pub steps: usize,
    pub compiled: Option<Result<Paired, String>>,
}

/// Training images per second of ours and of the reference (eager, then compiled when asked),
/// alternating timed blocks.
pub fn measure(
    reference: &Reference,
    spec: &ModelSpec,
    device: Device,
    opts: &Options,
) -> anyhow::Result<Speed> {
    let threads = opts.threads;
    let mut model = BenchModel::new(spec, device, 7)?;
    model.randomize(8);
    let (x, y) = model.random_batch(9);
    let (weights, batch) = files(reference, spec, "speed");
    model.save_weights(&weights)?;
    save_batch(&x, &y, &batch)?;
    let train = model.config.train.clone();
    let start = |spec_json: String| -> anyhow::Result<crate::reference::Server> {
        let server = reference.serve(&spec_json, &weights, &batch)?;
        anyhow::ensure!(
            server.threads == threads,
            "the reference runs {} threads, ours {threads}",
            server.threads
        );
        Ok(server)
    };
    let mut eager = start(spec.reference_spec(&train, threads, device))?;
    // Warm-up: allocator, oneDNN primitives, autograd graph caches, on both sides.
    let mut step_time = f64::INFINITY;
    for _ in 0..opts.warmup_steps() {
        let (t, _) = seconds(|| {
            let _ = model.step(&x, &y);
            model.sync();
        });
        step_time = step_time.min(t);
    }
    eager.run(opts.warmup_steps())?;
    let steps = steps_for(step_time, opts.block_seconds(), 500);
    let rounds = opts.rounds_for(2.0 * steps as f64 * step_time);
    let block = Block {
        steps,
        rounds,
        images: (steps as i64 * spec.batch) as f64,
    };
    let (wall, cpu) = block.against(&mut model, &x, &y, &mut eager)?;
    drop(eager);
    let compiled = opts.compile.then(|| {
        let mut server = start(spec.compiled_reference_spec(&train, threads, device))?;
        // The first steps compile (about a minute on 2 cores); later ones run the kernels.
        server.run(opts.warmup_steps())?;
        Ok(block.against(&mut model, &x, &y, &mut server)?.0)
    });
    Ok(Speed {
        wall,
        cpu,
        steps,
        compiled: compiled.map(|r: anyhow::Result<Paired>| r.map_err(|e| format!("{e:#}"))),
    })
}

/// One comparison's timed blocks: `steps` training steps per block, `rounds` rounds.
struct Block {
    steps: usize,
    rounds: usize,
    images: f64,
}

impl Block {
    /// Ours and `server` in alternating blocks: wall-clock and CPU-time images/s, paired.
    fn against(
        &self,
        model: &mut BenchModel,
        x: &tch::Tensor,
        y: &tch::Tensor,
        server: &mut crate::reference::Server,
    ) -> anyhow::Result<(Paired, Paired)> {
        let (steps, images) = (self.steps, self.images);
        let debug = std::env::var_os("CCLL_BENCH_DEBUG").is_some();
        let (mut ours_cpu, mut theirs_cpu) = (Vec::new(), Vec::new());
        let wall = alternate(
            self.rounds,
            || -> anyhow::Result<f64> {
                let cpu = cpu_seconds();
                let (t, _) = seconds(|| {
                    for _ in 0..steps {
                        let _ = model.step(x, y);
                    }
                    model.sync();
                });
                let c = cpu_seconds() - cpu;
                ours_cpu.push(images / c);
                if debug {
                    eprintln!(
                        "  ours   {:8.1} img/s  {:8.1} img/cpu-s",
                        images / t,
                        images / c
                    );
                }
                Ok(images / t)
            },
            || -> anyhow::Result<f64> {
                let r = server.run(steps)?;
                theirs_cpu.push(images / r.cpu_seconds);
                if debug {
                    eprintln!(
                        "  torch  {:8.1} img/s  {:8.1} img/cpu-s",
                        r.images_per_s,
                        images / r.cpu_seconds
                    );
                }
                Ok(r.images_per_s)
            },
        )?;
        Ok((wall, Paired::new(ours_cpu, theirs_cpu)))
    }
}

/// Every figure of part 1 on `device`: an equivalence row and a throughput row per model.
pub fn run(reference: &Reference, device: Device, opts: &Options) -> Vec<Figure> {
    let mut figures = Vec::new();
    let dev = ccll_core::device::device_name(device);
    for (spec, target, note) in cases(opts.only.as_deref()) {
        let label = spec.label();
        eprintln!("[throughput] {label} on {dev}");
        let eq = check_equivalence(reference, &spec, device, opts.threads, 1234);
        let equivalent = match &eq {
            Ok(e) => {
                figures.push(
                    Figure::compared(
                        SECTION,
                        format!("same function: {label}, loss ours vs PyTorch ({dev})"),
                        "",
                        e.ours_loss,
                        e.reference_loss,
                        e.loss_ratio(),
                        Target::Within(LOSS_TOLERANCE),
                    )
                    .note(e.summary()),
                );
                if !e.holds() {
                    // A loss within tolerance can still hide different gradients.
                    if let Some(f) = figures.last_mut() {
                        f.met = Some(false);
                    }
                }
                e.holds()
            }
            Err(err) => {
                figures.push(Figure::failed(
                    SECTION,
                    format!("same function: {label} ({dev})"),
                    Target::Within(LOSS_TOLERANCE),
                    format!("check failed: {err:#}"),
                ));
                false
            }
        };
        match measure(reference, &spec, device, opts) {
            Ok(speed) => figures.push(
                Figure::compared(
                    SECTION,
                    format!("{label}, batch {} ({dev})", spec.batch),
                    "img/s",
                    speed.wall.median_a(),
                    speed.wall.median_b(),
                    speed.wall.ratio(),
                    Target::AtLeast(target),
                )
                .note(format!(
                    "wall clock, median of {}; {} steps per block; by CPU time {:.3} ({:.0} vs {:.0} img/cpu-s)",
                    speed.wall.spread(),
                    speed.steps,
                    speed.cpu.ratio(),
                    speed.cpu.median_a(),
                    speed.cpu.median_b(),
                ))
                .note(if equivalent {
                    ""
                } else {
                    "NOT the same function as the reference (see the check above)"
                })
                .note(note)
                .with_compiled(speed.compiled.as_ref()),
            ),
            Err(err) => figures.push(Figure::failed(
                SECTION,
                format!("{label}, batch {} ({dev})", spec.batch),
                Target::AtLeast(target),
                format!("{err:#}"),
            )),
        }
    }
    figures
}

impl Figure {
    /// The torch.compile comparison of a throughput figure: its ratio, or why it is missing.
    fn with_compiled(self, compiled: Option<&Result<Paired, String>>) -> Self {
        match compiled {
            None => self,
            Some(Ok(p)) => self.compiled(p.ratio()).note(format!(
                "torch.compile (inductor): {:.0} img/s, ours / compiled median of {}",
                p.median_b(),
                p.spread()
            )),
            Some(Err(e)) => self.note(format!("torch.compile not measured: {e}")),
        }
    }
}
