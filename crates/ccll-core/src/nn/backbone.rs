//! The shared feature extractor: one of the supported architectures, with the list of places
//! where calibration modules go.

use super::{convnet::ConvNet, resnet::ResNet18, CalibrationPoint, Fwd};
use tch::{nn, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// ResNet-18 with the ImageNet stem (7x7/2 conv + max-pool).
    ResNet18,
    /// ResNet-18 with a 3x3/1 stem and no max-pool, for 32x32 inputs.
    ResNet18Cifar,
    /// Three conv blocks, for 28x28 inputs.
    ConvNet,
}

impl Arch {
    pub const NAMES: [&'static str; 3] = ["resnet18", "resnet18_cifar", "convnet"];

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "resnet18" => Ok(Self::ResNet18),
            "resnet18_cifar" => Ok(Self::ResNet18Cifar),
            "convnet" => Ok(Self::ConvNet),
            _ => Err(format!(
                "unknown architecture `{s}`; known: {}",
                Self::NAMES.join(", ")
            )),
        }
    }

    pub fn default_width(self) -> i64 {
        match self {
            Self::ResNet18 | Self::ResNet18Cifar => 64,
            Self::ConvNet => 32,
        }
    }
}

#[derive(Debug)]
enum Body {
    // Boxed: a ResNet is large next to a convnet, and a backbone is built once per run.
    ResNet(Box<ResNet18>),
    ConvNet(ConvNet),
}

/// Backbone without a classifier: image batch `[N, C, H, W]` to features `[N, D]`.
#[derive(Debug)]
pub struct Backbone {
    body: Body,
    points: Vec<CalibrationPoint>,
}

impl Backbone {
    pub fn new(root: &nn::Path, arch: Arch, in_channels: i64, width: i64) -> Self {
        let mut points = Vec::new();
        let body = match arch {
            Arch::ResNet18 => Body::ResNet(Box::new(ResNet18::new(
                root,
                in_channels,
                width,
                true,
                &mut points,
            ))),
            Arch::ResNet18Cifar => Body::ResNet(Box::new(ResNet18::new(
                root,
                in_channels,
                width,
                false,
                &mut points,
            ))),
            Arch::ConvNet => Body::ConvNet(ConvNet::new(root, in_channels, width, &mut points)),
        };
        Self { body, points }
    }

    /// Where calibration modules go, in forward order.
    pub fn calibration_points(&self) -> &[CalibrationPoint] {
        &self.points
    }

    /// Number of stages (stem/blocks); `stage` runs one of them.
    pub fn num_stages(&self) -> usize {
        match &self.body {
            Body::ResNet(r) => r.num_stages(),
            Body::ConvNet(c) => c.num_stages(),
        }
    }

    /// Runs stage `i` on the previous stage's output (or the images, for stage 0).
    pub fn stage(&self, i: usize, x: &Tensor, fwd: &Fwd) -> Tensor {
        match &self.body {
            Body::ResNet(r) => r.stage(i, x, fwd),
            Body::ConvNet(c) => c.stage(i, x, fwd),
        }
    }

    /// Channels that stage `i` outputs.
    pub fn stage_out_channels(&self, i: usize) -> i64 {
        match &self.body {
            Body::ResNet(r) => r.stage_out_channels(i),
            Body::ConvNet(c) => c.stage_out_channels(i),
        }
    }

    /// Width of the feature vector.
    pub fn feature_dim(&self) -> i64 {
        self.stage_out_channels(self.num_stages() - 1)
    }

    /// Global average pooling of the last stage's map.
    pub fn pool(x: &Tensor) -> Tensor {
        x.mean_dim([2i64, 3].as_slice(), false, None)
    }

    pub fn features(&self, x: &Tensor, fwd: &Fwd) -> Tensor {
        let y = (0..self.num_stages()).fold(x.shallow_clone(), |y, i| self.stage(i, &y, fwd));
        Self::pool(&y)
    }
}
