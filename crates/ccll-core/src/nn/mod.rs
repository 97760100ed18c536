//! Network building blocks in the style of `tch::nn`: small structs built from a `Path`.
//!
//! The forward pass threads a [`Fwd`] context through every layer: whether the base is in
//! training mode (BN batch statistics), which task's calibration modules to apply after each
//! conv + BN, and an optional trace used to count FLOPs.

mod backbone;
mod calibration;
mod conv_bn;
mod convnet;
mod fused_inference;
mod resnet;
mod task_modules;

pub use backbone::{Arch, Backbone};
pub use calibration::{
    Calibration, CalibrationLayer, CalibrationSpec, Ccm, MultiTask, Scm, ScmFormulation,
};
pub use conv_bn::{channels_last_on_cpu, is_channels_last, After, ConvBn, ConvShape, ConvTrace};
pub use fused_inference::{cap_fused_kernel_lanes, fused_kernel_lanes, set_fused_inference};
pub use task_modules::{count_trainable, is_buffer, TaskModules, CALIBRATION_PREFIX, HEAD_PREFIX};

use std::cell::RefCell;
use tch::{nn, Tensor};

/// A place where calibration modules go: after the conv + BN named `name`, with `channels`
/// output channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalibrationPoint {
    pub name: String,
    pub channels: i64,
}

/// How one forward pass runs.
#[derive(Clone, Copy, Default)]
pub struct Fwd<'a> {
    /// Base BN layers use (and update) batch statistics; false once the base is frozen.
    pub base_train: bool,
    /// Calibration modules applied after every conv + BN, if any.
    pub calibration: Option<&'a Calibration>,
    /// Calibration BN layers use batch statistics.
    pub calibration_train: bool,
    /// Collects one entry per conv for FLOP counting.
    pub trace: Option<&'a RefCell<Vec<ConvTrace>>>,
    /// Several tasks' calibrations at once (inference without the task id); replaces
    /// `calibration` when set.
    pub multi: Option<&'a MultiTask<'a>>,
    /// Weights made by a hypernetwork: they replace every conv's and BN's own (`hnet`).
    pub generated: Option<&'a Generated>,
}

/// The base's weights for one task as a hypernetwork made them, by conv index (the order of
/// [`Backbone::calibration_points`]): each conv's weight, its BN's scale and shift, and the
/// task's own BN running statistics (updated in place when the BN runs in batch mode).
pub struct Generated {
    pub conv: Vec<Tensor>,
    pub bn_weight: Vec<Tensor>,
    pub bn_bias: Vec<Tensor>,
    pub running_mean: Vec<Tensor>,
    pub running_var: Vec<Tensor>,
}

impl<'a> Fwd<'a> {
    /// Inference with the given calibration (or none).
    pub fn eval(calibration: Option<&'a Calibration>) -> Self {
        Self {
            base_train: false,
            calibration,
            calibration_train: false,
            trace: None,
            multi: None,
            generated: None,
        }
    }
}

/// The sub-path for a dotted name such as `layer1.0.conv1` (tch's `Path::sub` takes one
/// component at a time).
pub fn sub_path<'a>(root: &nn::Path<'a>, dotted: &str) -> nn::Path<'a> {
    dotted.split('.').fold(root.clone(), |p, s| p.sub(s))
}
