//! Conv + BN of the base network, followed by the task's calibration modules when present.

use super::{sub_path, CalibrationPoint, Fwd};
use tch::{nn, nn::ModuleT, Tensor};

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

impl ConvBn {
    /// Adds the conv `name` and the batch norm `bn_name` under `root`, and registers the
    /// calibration point in `points`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        root: &nn::Path,
        name: &str,
        bn_name: &str,
        in_channels: i64,
        out_channels: i64,
        kernel: i64,
        stride: i64,
        points: &mut Vec<CalibrationPoint>,
    ) -> Self {
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
        }
    }

    /// conv -> BN (frozen or not, as `fwd` says) -> calibration of this layer, if any.
    pub fn forward(&self, x: &Tensor, fwd: &Fwd) -> Tensor {
        let y = self.bn.forward_t(&x.apply(&self.conv), fwd.base_train);
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
        match fwd.calibration {
            Some(cal) => cal.layer(self.index).forward(&y, fwd.calibration_train),
            None => y,
        }
    }

    pub fn out_channels(&self) -> i64 {
        self.out_channels
    }

    pub fn stride(&self) -> i64 {
        self.stride
    }
}
