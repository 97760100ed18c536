//! Figure 2: what a task's calibration costs at inference, against the base alone: measured
//! time (same model, task 1 = base + head 1, task 2 = base + calibration 2 + head 2, eval mode,
//! no gradients) and counted FLOPs (ccll-core's accounting from the real modules).

use crate::model::{BenchModel, ModelSpec};
use crate::report::{Figure, Target};
use crate::timing::{alternate, seconds, steps_for};
use crate::Options;
use ccll_core::nn::{set_fused_inference, ScmFormulation};
use tch::Device;

const SECTION: &str = "2. calibration overhead (inference)";

pub const ALPHAS: [i64; 4] = [1, 2, 4, 8];
/// FLOPs target at alpha = 1.
pub const FLOPS_TARGET: f64 = 1.02;
/// Time target at every alpha: at most the FLOPs ratio plus this margin (calibration at the
/// cost of its arithmetic), at the paper's widths (64 channels and more) ...
pub const PAPER_WIDTH_MARGIN: f64 = 0.05;
/// ... and for the narrow networks, whose small convolutions leave memory-bound passes more
/// weight.
pub const NARROW_MARGIN: f64 = 0.15;

/// The time target's margin over the FLOPs ratio for a backbone.
pub fn time_margin(spec: &ModelSpec) -> f64 {
    if spec.width >= 64 {
        PAPER_WIDTH_MARGIN
    } else {
        NARROW_MARGIN
    }
}

/// The backbones of figure 2 at their usual input sizes; `batch` images per pass.
pub fn backbones(quick: bool) -> Vec<ModelSpec> {
    vec![
        ModelSpec::new("convnet", 32, 2, 1),
        ModelSpec::new("resnet18_cifar", 20, 2, 1),
        ModelSpec::new("resnet18_cifar", 64, 2, 1),
        ModelSpec::new("resnet18", 64, 2, 1).with_batch(if quick { 4 } else { 8 }),
    ]
}

/// What a missed time target's row points to: the profile of where the time goes.
const WHERE_THE_TIME_GOES: &str = "missed: against a base whose BN, ReLU and residual adds \
     are fused as far (one pass), what remains is calibration's own work: SCM's multiply-adds \
     (at one half, alpha 4, to two thirds, alpha 8, of the base convolution's rate) and the \
     kernel's passes through L1 and L2 (the rows' copies, the gate's pass over the image's \
     output), about 6-9 % of the base's time at alpha 1 and 2 against targets that leave 5 % \
     (README, \"The fused inference kernel\", where the time goes now)";

/// How the calibrated model's inference computes calibration on `device`.
fn calibration_path(device: Device, alpha: i64) -> String {
    if device == Device::Cpu {
        let lanes = ccll_core::nn::fused_kernel_lanes();
        let isa = match lanes {
            16 => "AVX-512",
            8 => "AVX2",
            _ => "SSE",
        };
        format!(
            "calibration by the fused kernel (csrc/calibration_inference.cpp), vectors of \
             {lanes} floats ({isa})"
        )
    } else {
        // The model runs NCHW off the CPU (channels-last weights are for the CPU).
        let scm = ScmFormulation::select(device, false, alpha);
        format!("SCM as {}", scm.label())
    }
}

/// Label of a backbone without task and alpha.
fn backbone_label(s: &ModelSpec) -> String {
    format!("{} w{} {}px b{}", s.arch, s.width, s.image_size, s.batch)
}

/// Every figure of part 2.
pub fn run(device: Device, opts: &Options) -> Vec<Figure> {
    let mut figures = Vec::new();
    let dev = ccll_core::device::device_name(device);
    for base in backbones(opts.quick) {
        for alpha in ALPHAS {
            let spec = ModelSpec {
                alpha,
                ..base.clone()
            };
            let name = format!("{} α{alpha}", backbone_label(&spec));
            if !opts.selects(&name) {
                continue;
            }
            eprintln!("[overhead] {name} on {dev}");
            let flops_target = if alpha == 1 {
                Target::AtMost(FLOPS_TARGET)
            } else {
                Target::None
            };
            let margin = time_margin(&spec);
            match measure(&spec, device, opts) {
                Ok(m) => {
                    let flops_ratio = m.calibrated_flops / m.base_flops;
                    let time_target = Target::AtMost(flops_ratio + margin);
                    let how = calibration_path(device, alpha);
                    let mut time = Figure::compared(
                        SECTION,
                        format!("{name}: time, base + calibration vs base ({dev})"),
                        "ms/batch",
                        m.calibrated_ms,
                        m.base_ms,
                        m.time_ratio,
                        time_target,
                    )
                    .note(m.spread.clone())
                    .note(format!(
                        "target: the FLOPs ratio {flops_ratio:.3} + {margin}"
                    ))
                    .note(how);
                    if time_target.met(m.time_ratio) == Some(false) {
                        time = time.note(WHERE_THE_TIME_GOES);
                    }
                    figures.push(time);
                    let gains = [
                        (
                            &m.base_kernel,
                            format!("{}: base alone", backbone_label(&spec)),
                        ),
                        (&m.kernel, format!("{name}: base + calibration")),
                    ];
                    for (gain, what) in gains {
                        if let Some(k) = gain {
                            figures.push(
                                Figure::compared(
                                    SECTION,
                                    format!("{what}, fused kernels vs libtorch ops ({dev})"),
                                    "ms/batch",
                                    k.fused_ms,
                                    k.composed_ms,
                                    k.ratio,
                                    Target::None,
                                )
                                .note(k.spread.clone()),
                            );
                        }
                    }
                    figures.push(
                        Figure::compared(
                            SECTION,
                            format!("{name}: FLOPs, base + calibration vs base"),
                            "MFLOP/img",
                            m.calibrated_flops / 1e6,
                            m.base_flops / 1e6,
                            flops_ratio,
                            flops_target,
                        )
                        .note(format!(
                            "calibration adds {:.0} FLOP/img",
                            m.calibrated_flops - m.base_flops
                        )),
                    );
                }
                Err(e) if e.to_string().contains("does not divide") => figures.push(
                    Figure::plain(SECTION, format!("{name}: not measured"), "", f64::NAN)
                        .note(format!("{e:#}")),
                ),
                Err(e) => figures.push(Figure::failed(
                    SECTION,
                    format!("{name} ({dev})"),
                    // Unmeasured: counted as missed, against the margin alone.
                    Target::AtMost(1.0 + margin),
                    format!("{e:#}"),
                )),
            }
        }
    }
    figures
}

/// One backbone at one alpha.
#[derive(Debug, Clone)]
pub struct Overhead {
    pub base_ms: f64,
    pub calibrated_ms: f64,
    /// Median over rounds of calibrated / base time.
    pub time_ratio: f64,
    pub spread: String,
    pub base_flops: f64,
    pub calibrated_flops: f64,
    /// The calibrated pass with the fused kernels against the composed libtorch operations
    /// (where the kernels apply: CPU).
    pub kernel: Option<KernelGain>,
    /// The same for the base alone (its BN, ReLU and residual adds fused): on the CPU, at the
    /// first alpha of [`ALPHAS`].
    pub base_kernel: Option<KernelGain>,
}

/// The fused kernels against the operations they replace, same model and batch.
#[derive(Debug, Clone)]
pub struct KernelGain {
    pub fused_ms: f64,
    pub composed_ms: f64,
    /// Median over rounds of fused / composed time.
    pub ratio: f64,
    pub spread: String,
}

pub fn measure(spec: &ModelSpec, device: Device, opts: &Options) -> anyhow::Result<Overhead> {
    let model = BenchModel::new(spec, device, 21)?;
    model.randomize(22);
    let (x, _) = model.random_batch(23);
    let pass = |task: usize, n: usize| {
        seconds(|| {
            for _ in 0..n {
                let _ = model.infer(&x, task);
            }
            model.sync();
        })
        .0
    };
    let mut one = f64::INFINITY;
    for _ in 0..opts.warmup_steps() {
        pass(0, 1);
        one = one.min(pass(1, 1));
    }
    let n = steps_for(one, opts.block_seconds() / 2.0, 500);
    let paired = alternate::<anyhow::Error>(
        opts.rounds(),
        || Ok(pass(1, n) / n as f64),
        || Ok(pass(0, n) / n as f64),
    )?;
    // The fused kernels against libtorch's operations, same model, side by side: for the
    // calibrated model, and (once per backbone: it does not depend on alpha) for the base.
    let fused_gain = |task: usize| -> anyhow::Result<KernelGain> {
        let composed = || {
            set_fused_inference(false);
            let t = pass(task, n) / n as f64;
            set_fused_inference(true);
            Ok(t)
        };
        let paired =
            alternate::<anyhow::Error>(opts.rounds(), || Ok(pass(task, n) / n as f64), composed)?;
        Ok(KernelGain {
            fused_ms: paired.median_a() * 1e3,
            composed_ms: paired.median_b() * 1e3,
            ratio: paired.ratio(),
            spread: format!("median of {}; {n} passes per block", paired.spread()),
        })
    };
    let cpu = device == Device::Cpu;
    let kernel = cpu.then(|| fused_gain(1)).transpose()?;
    let base_kernel = (cpu && spec.alpha == ALPHAS[0])
        .then(|| fused_gain(0))
        .transpose()?;
    let flops = model.strategy.flops();
    Ok(Overhead {
        base_ms: paired.median_b() * 1e3,
        calibrated_ms: paired.median_a() * 1e3,
        time_ratio: paired.ratio(),
        spread: format!("median of {}; {n} passes per block", paired.spread()),
        base_flops: flops.base as f64,
        calibrated_flops: (flops.base + flops.calibration) as f64,
        kernel,
        base_kernel,
    })
}
