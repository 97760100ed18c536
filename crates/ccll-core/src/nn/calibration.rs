//! The calibration modules of CCLL: SCM (spatial) and CCM (channel-wise), one pair after every
//! conv + BN of the base, one set per task.

use super::fused_inference::{self, FrozenBn};
use super::{sub_path, After, CalibrationPoint};
use crate::error::KeyError;
use tch::{nn, nn::ModuleT, Tensor};

/// Spatial calibration: `X + GConv3x3(X)` with `alpha` channels per group.
/// Weight `[C, alpha, 3, 3]`, zero-initialised so a fresh module is exactly the identity.
#[derive(Debug)]
pub struct Scm {
    weight: Tensor,
    /// The residual as a kernel: 1 at the centre tap of each output channel's own input
    /// channel (a constant, not a variable). `conv(X, W + I) = X + conv(X, W)`, values and
    /// gradients alike, in one convolution instead of a convolution and a full-size add.
    identity: Tensor,
    groups: i64,
}

/// How SCM's grouped convolution is computed where autograd may record it (training), and at
/// inference where the fused kernel does not apply (off the CPU, NCHW): a fixed function of
/// the device and alpha, never of a timing, so that a seeded run computes the same values on
/// every machine load (the formulations differ in their low-order bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScmFormulation {
    /// One grouped convolution with `alpha` channels per group.
    Grouped,
    /// `2 alpha - 1` depthwise convolutions, each over a view of one zero-padded NHWC copy of
    /// the input shifted by `d` channels, summed. In NHWC a pixel's channels are adjacent, so
    /// the shift is a view (no copy); the taps that would read outside the channel's group
    /// (or the pixel) have weight 0.
    ChannelOffsets,
}

impl ScmFormulation {
    /// The formulation for an input on `device` in NHWC (`channels_last`) at `alpha`. On CPU,
    /// oneDNN's grouped 3x3 kernel with 2 channels per group takes 2-3x the time of three
    /// depthwise convolutions on every layer shape of the shipped backbones, and at alpha >= 4
    /// the grouped kernel wins (`crates/ccll-bench/reference/scm_formulations.py`).
    /// Unmeasured devices (CUDA) keep the grouped convolution.
    pub fn select(device: tch::Device, channels_last: bool, alpha: i64) -> Self {
        if device == tch::Device::Cpu && channels_last && alpha == 2 {
            Self::ChannelOffsets
        } else {
            Self::Grouped
        }
    }

    /// How reports name it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Grouped => "grouped conv",
            Self::ChannelOffsets => "channel offsets (2 alpha - 1 depthwise convs)",
        }
    }
}

impl Scm {
    fn new(p: nn::Path, channels: i64, alpha: i64) -> Self {
        let weight = p.zeros("weight", &[channels, alpha, 3, 3]);
        // Same layout as the base's convs (NHWC on CPU), so that the grouped conv's output
        // matches its input layout.
        super::conv_bn::channels_last_on_cpu(&weight);
        let mut identity = weight.zeros_like().detach();
        let c = Tensor::arange(channels, (tch::Kind::Int64, weight.device()));
        let within = c.remainder(alpha);
        let _ = identity.index_put_(
            &[
                Some(c),
                Some(within),
                Some(Tensor::from(1i64).to_device(weight.device())),
                Some(Tensor::from(1i64).to_device(weight.device())),
            ],
            &Tensor::from(1f32).to_device(weight.device()),
            false,
        );
        Self {
            weight,
            identity,
            groups: channels / alpha,
        }
    }

    /// The kernel of `X + GConv(X)`: the weight with the identity folded in.
    fn kernel(&self) -> Tensor {
        &self.weight + &self.identity
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_as(x, self.formulation(x))
    }

    /// The formulation [`Self::forward`] uses for `x`.
    fn formulation(&self, x: &Tensor) -> ScmFormulation {
        let alpha = self.weight.size()[1];
        ScmFormulation::select(x.device(), super::conv_bn::is_channels_last(x), alpha)
    }

    /// `X + GConv3x3(X)` computed as `formulation` says (`ChannelOffsets` needs NHWC).
    pub fn forward_as(&self, x: &Tensor, formulation: ScmFormulation) -> Tensor {
        let kernel = self.kernel();
        match formulation {
            ScmFormulation::Grouped => {
                x.conv2d(&kernel, None::<Tensor>, [1, 1], [1, 1], [1, 1], self.groups)
            }
            ScmFormulation::ChannelOffsets => self.channel_offsets(x, &kernel),
        }
    }

    fn channel_offsets(&self, x: &Tensor, kernel: &Tensor) -> Tensor {
        let (n, c, h, w) = x.size4().expect("an [N, C, H, W] activation");
        let alpha = c / self.groups;
        let reach = alpha - 1;
        // The NHWC memory as one flat view, `reach` zeros either side so that every shifted
        // view stays inside it.
        let padded = x
            .permute([0, 2, 3, 1])
            .reshape([-1])
            .constant_pad_nd([reach, reach]);
        // [G, k, j, 3, 3]: output k of a group reads input j of the same group.
        let by_group = kernel.view([self.groups, alpha, alpha, 3, 3]);
        let mut sum: Option<Tensor> = None;
        for d in -reach..=reach {
            let shifted = padded
                .narrow(0, d + reach, n * c * h * w)
                .view([n, h, w, c])
                .permute([0, 3, 1, 2]);
            // Output k reads input k + d: the kernel's d-th diagonal, zeros where k + d
            // leaves the group (`[G, 3, 3, alpha - |d|]` padded to alpha, then `[C, 1, 3, 3]`).
            let (before, after) = if d < 0 { (-d, 0) } else { (0, d) };
            let taps = by_group
                .diagonal(d, 1, 2)
                .constant_pad_nd([before, after])
                .permute([0, 3, 1, 2])
                .reshape([c, 1, 3, 3]);
            let y = shifted.conv2d(&taps, None::<Tensor>, [1, 1], [1, 1], [1, 1], c);
            sum = Some(match sum {
                // Inference: accumulate in place (no full-size temporary per offset).
                Some(mut s) if !s.requires_grad() && !y.requires_grad() => {
                    let _ = s.g_add_(&y);
                    s
                }
                Some(s) => s + y,
                None => y,
            });
        }
        sum.expect("at least the offset 0")
    }
}

/// Channel-wise calibration: `Y * 2 sigmoid(BN(GConv1x1(GAP(Y))))` with `beta` channels per
/// group. The BN scale starts at 0, so a fresh gate is exactly 1 (the identity); the factor 2
/// lets the gate both damp and amplify a channel.
#[derive(Debug)]
pub struct Ccm {
    weight: Tensor,
    groups: i64,
    bn: nn::BatchNorm,
}

impl Ccm {
    fn new(p: nn::Path, channels: i64, beta: i64) -> Self {
        let weight = p.sub("conv").var(
            "weight",
            &[channels, beta, 1, 1],
            nn::Init::Kaiming {
                dist: nn::init::NormalOrUniform::Uniform,
                fan: nn::init::FanInOut::FanIn,
                non_linearity: nn::init::NonLinearity::Linear,
            },
        );
        let bn_cfg = nn::BatchNormConfig {
            ws_init: nn::Init::Const(0.0),
            eps: Self::BN_EPS,
            ..Default::default()
        };
        Self {
            weight,
            groups: channels / beta,
            bn: nn::batch_norm2d(p.sub("bn"), channels, bn_cfg),
        }
    }

    /// The gate's BN epsilon (tch's default, named so that the fused kernel's folded BN uses
    /// the same).
    const BN_EPS: f64 = 1e-5;

    pub fn forward(&self, y: &Tensor, train: bool) -> Tensor {
        y * self.gate(y, train)
    }

    /// The module in eval mode as the fused kernel takes it: BN on its running statistics
    /// folded into a scale and shift per channel.
    fn eval_form(&self) -> fused_inference::EvalCcm {
        let channels = self.weight.size()[0];
        let beta = self.weight.size()[1];
        let affine = "CCM's BN is affine (built with the default config)";
        let gamma = self.bn.ws.as_ref().expect(affine).detach();
        let bias = self.bn.bs.as_ref().expect(affine).detach();
        let scale = gamma / (&self.bn.running_var + Self::BN_EPS).sqrt();
        let shift = bias - &self.bn.running_mean * &scale;
        fused_inference::EvalCcm {
            weight: self.weight.detach().contiguous().view([channels, beta]),
            beta,
            scale: scale.contiguous(),
            shift: shift.contiguous(),
        }
    }

    /// The gate `2 sigmoid(BN(GConv1x1(GAP(y))))`, `[N, C, 1, 1]`.
    pub fn gate(&self, y: &Tensor, train: bool) -> Tensor {
        self.gate_of_pooled(&Self::pool(y), train)
    }

    /// `GAP(y)`, `[N, C, 1, 1]`: what the gate reads of `y`.
    pub fn pool(y: &Tensor) -> Tensor {
        y.mean_dim([2i64, 3].as_slice(), true, None)
    }

    /// The gate from `GAP(y)` (see [`Self::pool`]).
    pub fn gate_of_pooled(&self, s: &Tensor, train: bool) -> Tensor {
        let z = s.conv2d(
            &self.weight,
            None::<Tensor>,
            [1, 1],
            [0, 0],
            [1, 1],
            self.groups,
        );
        self.bn.forward_t(&z, train).sigmoid() * 2.0
    }
}

/// The modules after one conv: SCM then CCM, either of which a variant may leave out.
#[derive(Debug)]
pub struct CalibrationLayer {
    pub scm: Option<Scm>,
    pub ccm: Option<Ccm>,
}

impl CalibrationLayer {
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        match self.fused_inference(x, train) {
            Some(y) => y,
            None => self.forward_composed(x, train),
        }
    }

    /// Inference through the fused kernel (`fused_inference.rs`) where it applies: SCM
    /// present, eval mode (CCM's BN on running statistics), nothing recorded by autograd, a
    /// float CPU input stored NHWC (what the base's convs give on CPU). Same function as
    /// [`Self::forward_composed`], sums in another order (low-order bits).
    fn fused_inference(&self, x: &Tensor, train: bool) -> Option<Tensor> {
        self.fused(x, None, After::Nothing, train)
    }

    /// `after(self(bn(y)))` through the fused kernel for a conv's output `y`, where it applies
    /// (as [`Self::fused_inference`]; the caller checks `bn` and `after`'s tensors).
    pub(super) fn fused_after_bn(
        &self,
        y: &Tensor,
        bn: &FrozenBn,
        after: After,
        train: bool,
    ) -> Option<Tensor> {
        self.fused(y, Some(bn), after, train)
    }

    fn fused(
        &self,
        x: &Tensor,
        bn: Option<&FrozenBn>,
        after: After,
        train: bool,
    ) -> Option<Tensor> {
        let scm = self.scm.as_ref()?;
        if train || !fused_inference::takes(x) || fused_inference::records(&self.inputs(x)) {
            return None;
        }
        let ccm = self.ccm.as_ref().map(Ccm::eval_form);
        Some(fused_inference::calibrate(
            x,
            &scm.kernel().contiguous(),
            scm.weight.size()[1],
            ccm.as_ref(),
            bn,
            after,
        ))
    }

    /// `x` and this layer's trained tensors: what autograd would record the forward for.
    fn inputs<'t>(&'t self, x: &'t Tensor) -> Vec<&'t Tensor> {
        let mut inputs = vec![x];
        if let Some(scm) = &self.scm {
            inputs.push(&scm.weight);
        }
        if let Some(ccm) = &self.ccm {
            inputs.push(&ccm.weight);
            inputs.extend(ccm.bn.ws.iter().chain(&ccm.bn.bs));
        }
        inputs
    }

    /// SCM then CCM as libtorch operations (training, and inference the fused kernel does not
    /// take).
    pub fn forward_composed(&self, x: &Tensor, train: bool) -> Tensor {
        let (y, fresh) = match &self.scm {
            Some(scm) => (scm.forward(x), true),
            None => (x.shallow_clone(), false),
        };
        match &self.ccm {
            // Inference: the gate multiplies SCM's own output in place, sparing a full-size
            // tensor (allocation and first touch) per layer; same values. Not when autograd
            // records (training needs y for the gate's gradient) or when y is the caller's.
            Some(ccm) if fresh && !y.requires_grad() => {
                let gate = ccm.gate(&y, train);
                let mut y = y;
                let _ = y.g_mul_(&gate);
                y
            }
            Some(ccm) => ccm.forward(&y, train),
            None => y,
        }
    }
}

/// Several tasks' calibrations in one forward pass, for inference without the task id. A task
/// without calibration (task 1 of `ccll`, which trained the base) passes its input through.
pub enum MultiTask<'a> {
    /// Every task on its own copy of the batch: at the first calibration point (the base
    /// before it is the same for all tasks and runs once) the `batch` images become `T x batch`,
    /// task t at rows `t*batch..(t+1)*batch`, and from there the base runs on all copies at once.
    Stacked {
        calibrations: Vec<Option<&'a Calibration>>,
        batch: i64,
    },
    /// SupSup's one-shot superposition: each module's output is the mixture of the tasks'
    /// outputs with per-image weights `weights` `[batch, T]` (SCM: `sum_t w_t SCM_t(x)`; CCM:
    /// `y * sum_t w_t gate_t(y)`), so that the entropy can be differentiated by the weights.
    Mixed {
        calibrations: Vec<Option<&'a Calibration>>,
        weights: Tensor,
    },
}

impl MultiTask<'_> {
    /// The calibration of layer `layer` applied to `y`, the output of its conv + BN.
    pub fn forward(&self, layer: usize, y: &Tensor) -> Tensor {
        match self {
            Self::Stacked {
                calibrations,
                batch,
            } => {
                let n = calibrations.len() as i64;
                let copies = if y.size()[0] == *batch && n > 1 {
                    (0..n).map(|_| y.shallow_clone()).collect()
                } else {
                    y.chunk(n, 0)
                };
                let out: Vec<Tensor> = calibrations
                    .iter()
                    .zip(&copies)
                    .map(|(c, y)| match c {
                        Some(c) => c.layer(layer).forward(y, false),
                        None => y.shallow_clone(),
                    })
                    .collect();
                Tensor::cat(&out, 0)
            }
            Self::Mixed {
                calibrations,
                weights,
            } => {
                let w = |t: usize| weights.select(1, t as i64).view([-1, 1, 1, 1]);
                let layers: Vec<Option<&CalibrationLayer>> = calibrations
                    .iter()
                    .map(|c| c.map(|c| c.layer(layer)))
                    .collect();
                let mut s = y.shallow_clone();
                if let Some(any) = layers.iter().flatten().find_map(|l| l.scm.as_ref()) {
                    s = mixed_scm(&layers, any, y, weights);
                }
                if layers.iter().flatten().any(|l| l.ccm.is_some()) {
                    // Every task's gate reads the same pooled features: one full-size pass
                    // (and one in the backward) instead of T.
                    let pooled = Ccm::pool(&s);
                    let gate = mix(layers.iter().enumerate().map(|(t, l)| {
                        match l.and_then(|l| l.ccm.as_ref()) {
                            Some(ccm) => ccm.gate_of_pooled(&pooled, false) * w(t),
                            None => w(t),
                        }
                    }));
                    s = &s * gate;
                }
                s
            }
        }
    }
}

/// The superposed SCM `sum_t w_t SCM_t(y)` (per-image weights `w` `[B, T]`) in one
/// convolution instead of T: SCM is linear in its kernel, so the mixture is each image's
/// convolution with its own kernel `sum_t w_t (W_t + I)` (a task without SCM contributes the
/// identity kernel). The batch is folded into the channels, `[1, B*C, H, W]` with `B*C/alpha`
/// groups, so one grouped convolution serves every image, forward and backward (the gradient
/// by `w` comes from the per-image kernels' gradient). Every task of a run has the same alpha.
fn mixed_scm(layers: &[Option<&CalibrationLayer>], any: &Scm, y: &Tensor, w: &Tensor) -> Tensor {
    let kernels: Vec<Tensor> = layers
        .iter()
        .map(|l| match l.and_then(|l| l.scm.as_ref()) {
            Some(scm) => scm.kernel().contiguous().view([1, -1]),
            None => any.identity.contiguous().view([1, -1]),
        })
        .collect();
    let (b, c, h, width) = y.size4().expect("an [N, C, H, W] activation");
    let alpha = any.weight.size()[1];
    let mixed = w
        .matmul(&Tensor::cat(&kernels, 0))
        .view([b * c, alpha, 3, 3]);
    let out = y
        .contiguous()
        .view([1, b * c, h, width])
        .conv2d(
            &mixed,
            None::<Tensor>,
            [1, 1],
            [1, 1],
            [1, 1],
            b * c / alpha,
        )
        .view([b, c, h, width]);
    if super::conv_bn::is_channels_last(y) {
        super::conv_bn::to_channels_last(&out)
    } else {
        out
    }
}

/// The sum of a non-empty sequence of tensors.
fn mix(terms: impl Iterator<Item = Tensor>) -> Tensor {
    terms
        .reduce(|a, b| a + b)
        .expect("at least one task is mixed")
}

/// Which modules and group sizes a task's calibration uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalibrationSpec {
    pub alpha: i64,
    pub beta: i64,
    pub scm: bool,
    pub ccm: bool,
}

impl CalibrationSpec {
    /// Checks that alpha and beta divide every layer's channel count.
    pub fn check(&self, points: &[CalibrationPoint]) -> Result<(), KeyError> {
        for p in points {
            for (on, key, v) in [
                (self.scm, "method.alpha", self.alpha),
                (self.ccm, "method.beta", self.beta),
            ] {
                if on && (v < 1 || p.channels % v != 0) {
                    return Err(KeyError::new(
                        key,
                        format!(
                            "{v} does not divide the {} channels of layer `{}`",
                            p.channels, p.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Trainable parameters this spec adds after a conv with `c` channels:
    /// (9 alpha + beta + 2) c with both modules.
    pub fn params_per_layer(&self, c: i64) -> i64 {
        let scm = if self.scm { 9 * self.alpha * c } else { 0 };
        let ccm = if self.ccm { self.beta * c + 2 * c } else { 0 };
        scm + ccm
    }
}

/// One task's calibration modules, in the order of the backbone's calibration points.
/// Variables: `LAYER.scm.weight`, `LAYER.ccm.conv.weight`, `LAYER.ccm.bn.*` under `root`.
#[derive(Debug)]
pub struct Calibration {
    layers: Vec<CalibrationLayer>,
}

impl Calibration {
    pub fn new(
        root: &nn::Path,
        points: &[CalibrationPoint],
        spec: CalibrationSpec,
    ) -> Result<Self, KeyError> {
        spec.check(points)?;
        let layers = points
            .iter()
            .map(|p| {
                let at = sub_path(root, &p.name);
                CalibrationLayer {
                    scm: spec
                        .scm
                        .then(|| Scm::new(at.sub("scm"), p.channels, spec.alpha)),
                    ccm: spec
                        .ccm
                        .then(|| Ccm::new(at.sub("ccm"), p.channels, spec.beta)),
                }
            })
            .collect();
        Ok(Self { layers })
    }

    pub fn layer(&self, i: usize) -> &CalibrationLayer {
        &self.layers[i]
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Deterministic values without libtorch's generator (shared by concurrent tests).
    fn ramp(shape: &[i64], scale: f64) -> Tensor {
        let n: i64 = shape.iter().product();
        (Tensor::arange(n, (Kind::Float, Device::Cpu)) * 0.37)
            .sin()
            .view(shape)
            * scale
    }

    /// SCM's output and gradients (by its input and its weight) under `formulation`.
    fn scm_values_and_grads(
        scm: &Scm,
        x: &Tensor,
        formulation: ScmFormulation,
    ) -> (Tensor, Tensor, Tensor) {
        let x = x.detach().set_requires_grad(true);
        let y = scm.forward_as(&x, formulation);
        let loss = (&y * &y.sin()).sum(Kind::Float);
        let g = Tensor::run_backward(&[loss], &[&x, &scm.weight], false, false);
        (y.detach(), g[0].shallow_clone(), g[1].shallow_clone())
    }

    #[test]
    fn channel_offsets_compute_the_grouped_conv_and_its_gradients() {
        for (alpha, channels) in [(1, 6), (2, 8), (3, 12), (4, 8)] {
            let vs = nn::VarStore::new(Device::Cpu);
            let scm = Scm::new(vs.root() / "scm", channels, alpha);
            tch::no_grad(|| {
                let mut w = scm.weight.shallow_clone();
                w.copy_(&ramp(&[channels, alpha, 3, 3], 0.2));
            });
            let x = super::super::conv_bn::to_channels_last(&ramp(&[3, channels, 5, 4], 1.0));
            let grouped = scm_values_and_grads(&scm, &x, ScmFormulation::Grouped);
            let offsets = scm_values_and_grads(&scm, &x, ScmFormulation::ChannelOffsets);
            for (what, a, b) in [
                ("output", &grouped.0, &offsets.0),
                ("input gradient", &grouped.1, &offsets.1),
                ("weight gradient", &grouped.2, &offsets.2),
            ] {
                let diff = (a - b).abs().max().double_value(&[]);
                assert!(diff < 1e-4, "alpha {alpha}: {what} differs by {diff}");
            }
        }
        let nhwc = ScmFormulation::select(Device::Cpu, true, 2);
        assert_eq!(nhwc, ScmFormulation::ChannelOffsets);
        assert_eq!(
            ScmFormulation::select(Device::Cpu, false, 2),
            ScmFormulation::Grouped
        );
        assert_eq!(
            ScmFormulation::select(Device::Cpu, true, 4),
            ScmFormulation::Grouped
        );
    }

    /// A layer with every parameter and BN statistic set to non-trivial values.
    fn trained_layer(vs: &nn::VarStore, channels: i64, spec: CalibrationSpec) -> CalibrationLayer {
        let layer = CalibrationLayer {
            scm: spec
                .scm
                .then(|| Scm::new(vs.root() / "scm", channels, spec.alpha)),
            ccm: spec
                .ccm
                .then(|| Ccm::new(vs.root() / "ccm", channels, spec.beta)),
        };
        tch::no_grad(|| {
            for (i, (_, mut t)) in vs.variables().into_iter().enumerate() {
                let values = ramp(&t.size(), 0.3) + 0.05 * (i as f64 + 1.0);
                t.copy_(&values);
            }
            if let Some(ccm) = &layer.ccm {
                let mut mean = ccm.bn.running_mean.shallow_clone();
                mean.copy_(&ramp(&[channels], 0.2));
                let mut var = ccm.bn.running_var.shallow_clone();
                var.copy_(&(ramp(&[channels], 0.5).abs() + 0.1));
            }
        });
        layer
    }

    /// (alpha, beta, channels) covering every form of the fused kernel at both widths: lanes
    /// (alpha 1, 2, 4), channel offsets (3, 5; fewer than 8 channels one at a time), pairs of
    /// groups (8 with C / 16 whole), broadcast (8 otherwise, 16, 32), with channel counts
    /// that leave partial vectors of 8 or 16.
    const KERNEL_FORMS: [(i64, i64, i64); 14] = [
        (1, 1, 20),
        (1, 1, 24),
        (2, 2, 8),
        (2, 4, 20),
        (2, 2, 40),
        (3, 3, 12),
        (3, 3, 48),
        (4, 4, 40),
        (4, 2, 8),
        (8, 4, 64),
        (8, 8, 24),
        (16, 8, 48),
        (32, 8, 64),
        (5, 5, 5),
    ];

    #[test]
    fn the_fused_inference_kernel_computes_the_composed_layer() {
        for (alpha, beta, channels) in KERNEL_FORMS {
            for (scm, ccm) in [(true, true), (true, false)] {
                let spec = CalibrationSpec {
                    alpha,
                    beta,
                    scm,
                    ccm,
                };
                let vs = nn::VarStore::new(Device::Cpu);
                let layer = trained_layer(&vs, channels, spec);
                for (n, h, w) in [(3, 5, 4), (1, 1, 7), (2, 6, 1), (2, 3, 13)] {
                    let x =
                        super::super::conv_bn::to_channels_last(&ramp(&[n, channels, h, w], 1.0));
                    let (fused, composed) = tch::no_grad(|| {
                        (
                            layer.fused_inference(&x, false),
                            layer.forward_composed(&x, false),
                        )
                    });
                    let fused = fused.expect("the fused kernel takes an NHWC input at inference");
                    assert!(super::super::conv_bn::is_channels_last(&fused));
                    assert_eq!(fused.size(), composed.size());
                    let diff = (&fused - &composed).abs().max().double_value(&[]);
                    let scale = composed.abs().max().double_value(&[]);
                    assert!(
                        diff <= 1e-5 * scale.max(1.0),
                        "{spec:?} on [{n}, {channels}, {h}, {w}]: differs by {diff}"
                    );
                }
            }
        }
    }

    /// SCM and CCM at one of [`KERNEL_FORMS`], and its channel count.
    fn both_modules((alpha, beta, channels): (i64, i64, i64)) -> (CalibrationSpec, i64) {
        let spec = CalibrationSpec {
            alpha,
            beta,
            scm: true,
            ccm: true,
        };
        (spec, channels)
    }

    /// A frozen BN's tensors for `channels`, with non-trivial values.
    fn frozen_bn_tensors(channels: i64) -> [Tensor; 4] {
        [
            ramp(&[channels], 0.4) + 1.0,
            ramp(&[channels], 0.3),
            ramp(&[channels], 0.2),
            ramp(&[channels], 0.5).abs() + 0.2,
        ]
    }

    fn frozen_bn(t: &[Tensor; 4]) -> FrozenBn<'_> {
        FrozenBn {
            weight: &t[0],
            bias: &t[1],
            running_mean: &t[2],
            running_var: &t[3],
            eps: 1e-5,
        }
    }

    /// `after(layer(BN(x)))` as libtorch operations.
    fn composed_after_bn(
        layer: &CalibrationLayer,
        x: &Tensor,
        bn: &[Tensor; 4],
        after: After,
    ) -> Tensor {
        let y = x.batch_norm(
            Some(&bn[0]),
            Some(&bn[1]),
            Some(&bn[2]),
            Some(&bn[3]),
            false,
            0.1,
            1e-5,
            true,
        );
        after.composed(layer.forward_composed(&y, false))
    }

    #[test]
    fn the_fused_kernel_applies_the_bn_before_and_the_residual_and_relu_after() {
        for form in KERNEL_FORMS {
            let (spec, channels) = both_modules(form);
            let vs = nn::VarStore::new(Device::Cpu);
            let layer = trained_layer(&vs, channels, spec);
            let bn_tensors = frozen_bn_tensors(channels);
            let bn = frozen_bn(&bn_tensors);
            for (n, h, w) in [(3, 5, 4), (2, 6, 1), (2, 3, 13)] {
                let x = super::super::conv_bn::to_channels_last(&ramp(&[n, channels, h, w], 1.0));
                let residual =
                    super::super::conv_bn::to_channels_last(&ramp(&[n, channels, h, w], 0.7));
                for after in [After::Nothing, After::Relu, After::AddRelu(&residual)] {
                    let (fused, composed) = tch::no_grad(|| {
                        (
                            layer.fused_after_bn(&x, &bn, after, false),
                            composed_after_bn(&layer, &x, &bn_tensors, after),
                        )
                    });
                    let fused = fused.expect("the fused kernel takes an NHWC input at inference");
                    assert!(super::super::conv_bn::is_channels_last(&fused));
                    let diff = (&fused - &composed).abs().max().double_value(&[]);
                    let scale = composed.abs().max().double_value(&[]);
                    assert!(
                        diff <= 1e-5 * scale.max(1.0),
                        "{spec:?} then {after:?} on [{n}, {channels}, {h}, {w}]: differs by {diff}"
                    );
                    if !matches!(after, After::Nothing) {
                        assert!(fused.min().double_value(&[]) >= 0.0, "ReLU applied");
                    }
                }
            }
        }
    }

    /// Every form at 16 lanes (AVX-512) against 8 (AVX2): the same operations per channel in
    /// the same order, so the same bits. Needs a CPU with AVX-512 (the width is capped per
    /// process, and the widths agree, so tests running beside it are not affected).
    #[test]
    fn the_fused_kernel_gives_the_same_bits_at_16_and_8_lanes() {
        if super::super::cap_fused_kernel_lanes(16) != 16 {
            eprintln!("SKIPPED: this CPU has no AVX-512, so the kernel has one width here");
            return;
        }
        let mut differ = Vec::new();
        for form in KERNEL_FORMS {
            let (spec, channels) = both_modules(form);
            let vs = nn::VarStore::new(Device::Cpu);
            let layer = trained_layer(&vs, channels, spec);
            let x = super::super::conv_bn::to_channels_last(&ramp(&[3, channels, 9, 13], 1.0));
            let residual =
                super::super::conv_bn::to_channels_last(&ramp(&[3, channels, 9, 13], 0.7));
            let bn_tensors = frozen_bn_tensors(channels);
            let bn = frozen_bn(&bn_tensors);
            let at = |lanes: i32| {
                assert_eq!(super::super::cap_fused_kernel_lanes(lanes), lanes);
                tch::no_grad(|| {
                    let plain = layer.fused_inference(&x, false).expect("kernel applies");
                    let around = layer
                        .fused_after_bn(&x, &bn, After::AddRelu(&residual), false)
                        .expect("kernel applies");
                    let base = super::super::fused_inference::batch_norm_then(
                        &x,
                        &bn,
                        After::AddRelu(&residual),
                    );
                    [plain, around, base]
                })
            };
            let (wide, narrow) = (at(16), at(8));
            super::super::cap_fused_kernel_lanes(16);
            for (what, (a, b)) in [
                "alone",
                "after BN, then add and ReLU",
                "BN without calibration",
            ]
            .iter()
            .zip(wide.iter().zip(&narrow))
            {
                if !a.equal(b) {
                    differ.push(format!("{spec:?} {what}"));
                }
            }
        }
        assert!(differ.is_empty(), "16 lanes differ from 8: {differ:#?}");
    }

    #[test]
    fn the_fused_kernel_is_used_only_for_inference_on_nhwc_cpu_floats() {
        let spec = CalibrationSpec {
            alpha: 2,
            beta: 2,
            scm: true,
            ccm: true,
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let layer = trained_layer(&vs, 8, spec);
        let nhwc = super::super::conv_bn::to_channels_last(&ramp(&[2, 8, 3, 3], 1.0));
        let nchw = ramp(&[2, 8, 3, 3], 1.0);
        tch::no_grad(|| {
            assert!(layer.fused_inference(&nhwc, false).is_some());
            assert!(
                layer.fused_inference(&nhwc, true).is_none(),
                "BN on batch statistics"
            );
            assert!(layer.fused_inference(&nchw, false).is_none());
            let double = nhwc.to_kind(Kind::Double);
            assert!(layer.fused_inference(&double, false).is_none());
        });
        // Autograd recording the weights (training, SupSup-style inference by gradient).
        assert!(layer.fused_inference(&nhwc, false).is_none());
        let y = layer.forward(&nhwc, false);
        assert!(y.requires_grad(), "the composed path keeps the graph");
        // CCM alone has no fused form.
        let ccm_only = CalibrationLayer {
            scm: None,
            ccm: layer.ccm,
        };
        tch::no_grad(|| assert!(ccm_only.fused_inference(&nhwc, false).is_none()));
        // A fresh layer stays the exact identity through the kernel (zero forgetting).
        let fresh_vs = nn::VarStore::new(Device::Cpu);
        let fresh = CalibrationLayer {
            scm: Some(Scm::new(fresh_vs.root() / "scm", 8, 2)),
            ccm: Some(Ccm::new(fresh_vs.root() / "ccm", 8, 2)),
        };
        let y = tch::no_grad(|| fresh.forward(&nhwc, false));
        assert!(y.equal(&nhwc), "a fresh layer is the identity");
    }

    #[test]
    fn scm_is_x_plus_its_grouped_conv_and_a_fresh_one_is_the_identity() {
        for alpha in [1, 2, 4] {
            let vs = nn::VarStore::new(Device::Cpu);
            let scm = Scm::new(vs.root() / "scm", 8, alpha);
            let x = ramp(&[2, 8, 5, 5], 1.0);
            assert!(
                scm.forward(&x).equal(&x),
                "alpha {alpha}: fresh SCM is exact identity"
            );
            tch::no_grad(|| {
                let mut w = scm.weight.shallow_clone();
                w.copy_(&ramp(&[8, alpha, 3, 3], 0.1));
            });
            let expected = &x
                + x.conv2d(
                    &scm.weight.contiguous(),
                    None::<Tensor>,
                    [1, 1],
                    [1, 1],
                    [1, 1],
                    8 / alpha,
                );
            let diff = (scm.forward(&x) - expected).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "alpha {alpha}: max difference {diff}");
        }
    }
}
