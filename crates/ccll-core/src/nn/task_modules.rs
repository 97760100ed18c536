//! What one task owns: its calibration modules (if the method has any) and its classifier
//! head, in a variable store of their own so they are saved, loaded and frozen apart.

use super::{Calibration, CalibrationPoint, CalibrationSpec};
use crate::error::KeyError;
use tch::{nn, nn::Module, Device, Tensor};

/// Prefix of calibration variables in a task's store and checkpoint.
pub const CALIBRATION_PREFIX: &str = "calibration";
/// Prefix of head variables.
pub const HEAD_PREFIX: &str = "head";

pub struct TaskModules {
    pub vs: nn::VarStore,
    pub calibration: Option<Calibration>,
    pub head: nn::Linear,
    head_params: u64,
}

impl TaskModules {
    pub fn new(
        device: Device,
        points: &[CalibrationPoint],
        spec: Option<CalibrationSpec>,
        feature_dim: i64,
        classes: i64,
    ) -> Result<Self, KeyError> {
        let vs = nn::VarStore::new(device);
        let calibration = match spec {
            Some(spec) => Some(Calibration::new(
                &(vs.root() / CALIBRATION_PREFIX),
                points,
                spec,
            )?),
            None => None,
        };
        let head = nn::linear(
            vs.root() / HEAD_PREFIX,
            feature_dim,
            classes,
            Default::default(),
        );
        let head_params = (feature_dim * classes + classes) as u64;
        Ok(Self {
            vs,
            calibration,
            head,
            head_params,
        })
    }

    pub fn logits(&self, features: &Tensor) -> Tensor {
        self.head.forward(features)
    }

    /// Trainable parameters of the calibration modules (0 without calibration).
    pub fn calibration_params(&self) -> u64 {
        count_trainable(&self.vs) - self.head_params
    }

    pub fn head_params(&self) -> u64 {
        self.head_params
    }

    /// The calibration's trainable tensors.
    pub fn calibration_tensors(&self) -> Vec<Tensor> {
        named_trainable(&self.vs, CALIBRATION_PREFIX)
    }

    /// The head's tensors.
    pub fn head_tensors(&self) -> Vec<Tensor> {
        named_trainable(&self.vs, HEAD_PREFIX)
    }

    /// Copies calibration values (weights and BN statistics) from another task's modules.
    pub fn copy_calibration_from(&self, other: &TaskModules) -> Result<(), tch::TchError> {
        let src = other.vs.variables();
        tch::no_grad(|| {
            for (name, mut dst) in self.vs.variables() {
                if name.starts_with(CALIBRATION_PREFIX) {
                    let s = src.get(&name).ok_or_else(|| {
                        tch::TchError::TensorNameNotFound(name.clone(), "previous task".into())
                    })?;
                    dst.f_copy_(s)?;
                }
            }
            Ok(())
        })
    }
}

/// Sum of element counts of a store's trainable variables (BN running statistics excluded).
pub fn count_trainable(vs: &nn::VarStore) -> u64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as u64)
        .sum()
}

/// Trainable tensors whose names start with `prefix`, in a stable (name) order.
fn named_trainable(vs: &nn::VarStore, prefix: &str) -> Vec<Tensor> {
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(n, _)| n.starts_with(prefix) && !is_buffer(n))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.into_iter().map(|(_, t)| t).collect()
}

/// BN running statistics are state, not parameters.
pub fn is_buffer(name: &str) -> bool {
    name.ends_with("running_mean") || name.ends_with("running_var")
}
