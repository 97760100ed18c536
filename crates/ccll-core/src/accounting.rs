//! FLOP accounting from the real modules (never from formulas alone); the parameter report of
//! a built strategy is in [`crate::run`].

use crate::nn::{Backbone, CalibrationSpec, ConvTrace, Fwd};
use std::cell::RefCell;
use tch::{Device, Kind, Tensor};

/// Runs one image through the backbone (inference mode, no calibration) and records every conv.
pub fn trace_convs(backbone: &Backbone, shape: [i64; 3], device: Device) -> Vec<ConvTrace> {
    let trace = RefCell::new(Vec::new());
    let x = Tensor::zeros([1, shape[0], shape[1], shape[2]], (Kind::Float, device));
    let fwd = Fwd {
        trace: Some(&trace),
        ..Fwd::eval(None)
    };
    let _ = tch::no_grad(|| backbone.features(&x, &fwd));
    trace.into_inner()
}

/// Convolutions plus one head (2 FLOPs per multiply-accumulate).
pub fn base_flops(traces: &[ConvTrace], feature_dim: i64, classes: i64) -> u64 {
    traces.iter().map(|t| t.flops).sum::<u64>() + 2 * (feature_dim * classes) as u64
}

/// What one task's calibration adds per image: per conv with C channels on an H x W map,
/// SCM: 2 * 9 alpha C H W (grouped conv) + C H W (residual add);
/// CCM: C H W (pooling) + 2 beta C (grouped 1x1 conv) + 4 C (BN) + 4 C (sigmoid, x2)
/// + C H W (gating multiply).
pub fn calibration_flops(traces: &[ConvTrace], spec: CalibrationSpec) -> u64 {
    traces
        .iter()
        .map(|t| {
            let (c, hw) = (t.out_channels as u64, (t.out_h * t.out_w) as u64);
            let scm = if spec.scm {
                2 * 9 * spec.alpha as u64 * c * hw + c * hw
            } else {
                0
            };
            let ccm = if spec.ccm {
                c * hw + 2 * spec.beta as u64 * c + 8 * c + c * hw
            } else {
                0
            };
            scm + ccm
        })
        .sum()
}
