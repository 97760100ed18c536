//! Conv + BN of the base network, followed by the task's calibration modules when present.

use super::fused_inference::{self, FrozenBn};
use super::{sub_path, CalibrationPoint, Fwd};
use tch::{nn, nn::ModuleT, Device, Tensor};

/// What follows a conv's BN and calibration in the network.
#[derive(Debug, Clone, Copy)]
pub enum After<'a> {
    Nothing,
    Relu,
    /// A residual added (a block's shortcut), then a ReLU.
    AddRelu(&'a Tensor),
}

impl After<'_> {
    /// Applied as libtorch operations (training, and inference the fused kernels do not take).
    pub(super) fn composed(self, y: Tensor) -> Tensor {
        match self {
            After::Nothing => y,
            After::Relu => y.relu(),
            After::AddRelu(residual) => (y + residual).relu(),
        }
    }
}

/// A convolution without bias and its batch norm, as every conv of the backbones is.
/// Variables: `NAME.weight` for the conv and `BN_NAME.{weight,bias,running_mean,running_var}`.
#[derive(Debug)]
pub struct ConvBn {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
    /// Position in the backbone's list of calibration points.
    index: usize,
    name: String,
    kernel: i64,
    stride: i64,
    in_channels: i64,
    out_channels: i64,
    /// The output needs one copy into NHWC (see [`to_channels_last`]): decided once here,
    /// not per forward pass.
    relayout_output: bool,
}

/// What one conv did in a traced forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvTrace {
    pub name: String,
    pub out_channels: i64,
    pub out_h: i64,
    pub out_w: i64,
    /// 2 x multiply-accumulates of the conv for one image.
    pub flops: u64,
}

/// BatchNorm's defaults (tch's and PyTorch's), for the generated weights' functional BN.
const BN_MOMENTUM: f64 = 0.1;
const BN_EPS: f64 = 1e-5;

/// The geometry of one conv: channels in and out, square kernel, stride (padding is
/// `kernel / 2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub in_channels: i64,
    pub out_channels: i64,
    pub kernel: i64,
    pub stride: i64,
}

impl ConvBn {
    /// Adds the conv `names.0` and the batch norm `names.1` under `root`, and registers the
    /// calibration point in `points`.
    pub fn new(
        root: &nn::Path,
        names: (&str, &str),
        shape: ConvShape,
        points: &mut Vec<CalibrationPoint>,
    ) -> Self {
        let (name, bn_name) = names;
        let ConvShape {
            in_channels,
            out_channels,
            kernel,
            stride,
        } = shape;
        let cfg = nn::ConvConfig {
            stride,
            padding: kernel / 2,
            bias: false,
            ws_init: nn::Init::Kaiming {
                dist: nn::init::NormalOrUniform::Normal,
                fan: nn::init::FanInOut::FanOut,
                non_linearity: nn::init::NonLinearity::ReLU,
            },
            ..Default::default()
        };
        let conv = nn::conv2d(sub_path(root, name), in_channels, out_channels, kernel, cfg);
        channels_last_on_cpu(&conv.ws);
        let relayout_output = in_channels == 1 && conv.ws.device() == Device::Cpu;
        let bn = nn::batch_norm2d(sub_path(root, bn_name), out_channels, Default::default());
        points.push(CalibrationPoint {
            name: name.to_string(),
            channels: out_channels,
        });
        Self {
            conv,
            bn,
            index: points.len() - 1,
            name: name.to_string(),
            kernel,
            stride,
            in_channels,
            out_channels,
            relayout_output,
        }
    }

    /// conv -> BN (frozen or not, as `fwd` says) -> calibration of this layer, if any ->
    /// `after`. At inference on the CPU (frozen BN, nothing recorded by autograd, NHWC float)
    /// the BN, the calibration and `after` run fused (`fused_inference.rs`): the BN and
    /// `after` in the calibration kernel's passes, or in one pass of their own without
    /// calibration, so that neither the base nor the calibrated network pays libtorch's
    /// separate passes for them. Same function, other rounding (low-order bits).
    pub fn forward(&self, x: &Tensor, fwd: &Fwd, after: After) -> Tensor {
        let mut y = match fwd.generated {
            Some(g) => x.conv2d(
                &g.conv[self.index],
                None::<Tensor>,
                [self.stride, self.stride],
                [self.kernel / 2, self.kernel / 2],
                [1, 1],
                1,
            ),
            None => x.apply(&self.conv),
        };
        if self.relayout_output {
            y = to_channels_last(&y);
        }
        if let Some(trace) = fwd.trace {
            let (_, _, h, w) = y.size4().unwrap_or_default();
            let macs = self.kernel * self.kernel * self.in_channels * self.out_channels * h * w;
            trace.borrow_mut().push(ConvTrace {
                name: self.name.clone(),
                out_channels: self.out_channels,
                out_h: h,
                out_w: w,
                flops: 2 * macs as u64,
            });
        }
        if let Some(fused) = self.fused_inference(&y, fwd, after) {
            return fused;
        }
        let y = match fwd.generated {
            Some(g) => {
                let i = self.index;
                y.batch_norm(
                    Some(&g.bn_weight[i]),
                    Some(&g.bn_bias[i]),
                    Some(&g.running_mean[i]),
                    Some(&g.running_var[i]),
                    fwd.base_train,
                    BN_MOMENTUM,
                    BN_EPS,
                    true,
                )
            }
            None => self.bn.forward_t(&y, fwd.base_train),
        };
        let y = match (fwd.multi, fwd.calibration) {
            (Some(multi), _) => multi.forward(self.index, &y),
            (None, Some(cal)) => cal.layer(self.index).forward(&y, fwd.calibration_train),
            (None, None) => y,
        };
        after.composed(y)
    }

    /// BN, calibration and `after` on the conv's output `y` through the fused kernels, where
    /// they apply (see [`Self::forward`]; the hypernetwork's generated weights and inference
    /// without the task id keep libtorch's operations).
    fn fused_inference(&self, y: &Tensor, fwd: &Fwd, after: After) -> Option<Tensor> {
        // Training (the base's or calibration's) leaves before any check: this runs in every
        // training step.
        let calibration_trains = fwd.calibration.is_some() && fwd.calibration_train;
        if fwd.base_train || calibration_trains || fwd.generated.is_some() || fwd.multi.is_some() {
            return None;
        }
        let bn = FrozenBn {
            weight: self.bn.ws.as_ref()?,
            bias: self.bn.bs.as_ref()?,
            running_mean: &self.bn.running_mean,
            running_var: &self.bn.running_var,
            eps: BN_EPS,
        };
        let mut inputs = vec![y, bn.weight, bn.bias];
        if let After::AddRelu(residual) = after {
            if residual.size() != y.size() || !fused_inference::takes(residual) {
                return None;
            }
            inputs.push(residual);
        }
        if !fused_inference::takes(y) || fused_inference::records(&inputs) {
            return None;
        }
        match fwd.calibration {
            Some(cal) => cal
                .layer(self.index)
                .fused_after_bn(y, &bn, after, fwd.calibration_train),
            None => Some(fused_inference::batch_norm_then(y, &bn, after)),
        }
    }

    pub fn out_channels(&self) -> i64 {
        self.out_channels
    }

    pub fn stride(&self) -> i64 {
        self.stride
    }
}

/// Whether a `[N, C, H, W]` tensor is laid out channels-last (NHWC): strides growing in the
/// order C, W, H, N. Dimensions of size 1 have no say (a single-channel tensor is both NCHW
/// and NHWC).
pub fn is_channels_last(t: &Tensor) -> bool {
    let (size, stride) = (t.size(), t.stride());
    if size.len() != 4 {
        return false;
    }
    let mut expected = 1;
    for d in [1, 3, 2, 0] {
        if size[d] != 1 && stride[d] != expected {
            return false;
        }
        expected *= size[d];
    }
    true
}

/// The same tensor laid out channels-last. A CPU convolution with a single input channel
/// returns NCHW even with a channels-last weight (oneDNN cannot tell the weight's layout then),
/// and one copy there puts the rest of the network in NHWC.
pub(super) fn to_channels_last(y: &Tensor) -> Tensor {
    y.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// Stores a CPU convolution weight channels-last (NHWC strides; same shape, values and names).
///
/// A convolution whose weight is channels-last makes oneDNN compute it in NHWC and return an
/// NHWC activation, which batch norm, ReLU, pooling, the calibration modules and the next
/// convolutions keep: the whole network then runs in the layout CPU kernels are fastest in
/// (NCHW max-pooling and batch norm are scalar loops). Measured by `ccll-bench` (issue 7): a
/// training step 1.2-1.4x faster on CPU. Checkpoints are written contiguous, and loading
/// copies into the variable, which keeps its layout. CUDA weights stay NCHW.
pub fn channels_last_on_cpu(weight: &Tensor) {
    if weight.device() != Device::Cpu || weight.dim() != 4 {
        return;
    }
    let nhwc = weight
        .detach()
        .permute([0, 2, 3, 1])
        .contiguous()
        .permute([0, 3, 1, 2]);
    let mut w = weight.shallow_clone();
    tch::no_grad(|| w.set_data(&nhwc));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(in_channels: i64, out_channels: i64, kernel: i64, stride: i64) -> ConvShape {
        ConvShape {
            in_channels,
            out_channels,
            kernel,
            stride,
        }
    }

    #[test]
    fn cpu_conv_weights_are_channels_last_with_unchanged_values() {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut points = Vec::new();
        let c = ConvBn::new(&vs.root(), ("conv1", "bn1"), shape(3, 8, 3, 1), &mut points);
        let w = &c.conv.ws;
        assert_eq!(w.size(), vec![8, 3, 3, 3]);
        assert_eq!(w.stride(), vec![27, 1, 9, 3], "NHWC strides");
        assert!(w.requires_grad());
        // The store hands out the same (channels-last) tensor.
        assert_eq!(vs.variables()["conv1.weight"].stride(), vec![27, 1, 9, 3]);

        // Changing the layout keeps every value where it was (no RNG involved: other tests
        // share libtorch's generator).
        let vs2 = nn::VarStore::new(Device::Cpu);
        let t = vs2.root().var_copy(
            "w",
            &Tensor::arange(8 * 3 * 9, (tch::Kind::Float, Device::Cpu)).view([8, 3, 3, 3]),
        );
        let before = t.detach().copy();
        assert!(!is_channels_last(&t));
        channels_last_on_cpu(&t);
        assert!(is_channels_last(&t) && t.requires_grad());
        assert!(t.equal(&before), "same values as the contiguous weight");
        assert!(vs2.variables()["w"].equal(&before));
    }

    #[test]
    fn activations_stay_channels_last_even_after_a_single_input_channel() {
        for cin in [1, 3] {
            let vs = nn::VarStore::new(Device::Cpu);
            let mut points = Vec::new();
            let c = ConvBn::new(
                &vs.root(),
                ("conv1", "bn1"),
                shape(cin, 8, 3, 1),
                &mut points,
            );
            let x = Tensor::randn([2, cin, 6, 6], (tch::Kind::Float, Device::Cpu));
            let y = c.forward(
                &x,
                &Fwd {
                    base_train: true,
                    ..Fwd::eval(None)
                },
                After::Nothing,
            );
            assert_eq!(y.size(), vec![2, 8, 6, 6]);
            assert!(is_channels_last(&y), "cin {cin}: strides {:?}", y.stride());
        }
    }
}
