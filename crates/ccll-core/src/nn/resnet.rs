//! ResNet-18 with torchvision's layer names, an ImageNet stem (7x7/2 conv + max-pool) or a
//! CIFAR stem (3x3/1 conv, no max-pool), and a configurable width.

use super::{After, CalibrationPoint, ConvBn, ConvShape, Fwd};
use tch::{nn, Tensor};

#[derive(Debug)]
struct BasicBlock {
    conv1: ConvBn,
    conv2: ConvBn,
    downsample: Option<ConvBn>,
}

impl BasicBlock {
    fn new(
        root: &nn::Path,
        name: &str,
        cin: i64,
        cout: i64,
        stride: i64,
        points: &mut Vec<CalibrationPoint>,
    ) -> Self {
        let n = |s: &str| format!("{name}.{s}");
        let shape = |in_channels, kernel, stride| ConvShape {
            in_channels,
            out_channels: cout,
            kernel,
            stride,
        };
        let conv1 = ConvBn::new(
            root,
            (&n("conv1"), &n("bn1")),
            shape(cin, 3, stride),
            points,
        );
        let conv2 = ConvBn::new(root, (&n("conv2"), &n("bn2")), shape(cout, 3, 1), points);
        let downsample = (stride != 1 || cin != cout).then(|| {
            let names = (n("downsample.0"), n("downsample.1"));
            ConvBn::new(root, (&names.0, &names.1), shape(cin, 1, stride), points)
        });
        Self {
            conv1,
            conv2,
            downsample,
        }
    }

    /// conv1 -> BN -> CM -> ReLU -> conv2 -> BN -> CM, plus the (calibrated) shortcut, ReLU.
    fn forward(&self, x: &Tensor, fwd: &Fwd) -> Tensor {
        let y = self.conv1.forward(x, fwd, After::Relu);
        let shortcut = match &self.downsample {
            Some(d) => d.forward(x, fwd, After::Nothing),
            None => x.shallow_clone(),
        };
        self.conv2.forward(&y, fwd, After::AddRelu(&shortcut))
    }
}

/// Stages: 0 = stem, 1..=4 = layer1..layer4 (two basic blocks each).
#[derive(Debug)]
pub(super) struct ResNet18 {
    stem: ConvBn,
    max_pool: bool,
    layers: Vec<Vec<BasicBlock>>,
    widths: [i64; 4],
}

impl ResNet18 {
    pub(super) fn new(
        root: &nn::Path,
        in_channels: i64,
        width: i64,
        imagenet_stem: bool,
        points: &mut Vec<CalibrationPoint>,
    ) -> Self {
        let (k, s) = if imagenet_stem { (7, 2) } else { (3, 1) };
        let stem_shape = ConvShape {
            in_channels,
            out_channels: width,
            kernel: k,
            stride: s,
        };
        let stem = ConvBn::new(root, ("conv1", "bn1"), stem_shape, points);
        let widths = [width, 2 * width, 4 * width, 8 * width];
        let mut cin = width;
        let layers = widths
            .iter()
            .enumerate()
            .map(|(i, &cout)| {
                let stride = if i == 0 { 1 } else { 2 };
                let name = format!("layer{}", i + 1);
                let b0 = BasicBlock::new(root, &format!("{name}.0"), cin, cout, stride, points);
                let b1 = BasicBlock::new(root, &format!("{name}.1"), cout, cout, 1, points);
                cin = cout;
                vec![b0, b1]
            })
            .collect();
        Self {
            stem,
            max_pool: imagenet_stem,
            layers,
            widths,
        }
    }

    pub(super) fn num_stages(&self) -> usize {
        5
    }

    pub(super) fn stage(&self, i: usize, x: &Tensor, fwd: &Fwd) -> Tensor {
        if i == 0 {
            let y = self.stem.forward(x, fwd, After::Relu);
            return if self.max_pool {
                y.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false)
            } else {
                y
            };
        }
        self.layers[i - 1]
            .iter()
            .fold(x.shallow_clone(), |y, b| b.forward(&y, fwd))
    }

    pub(super) fn stage_out_channels(&self, i: usize) -> i64 {
        if i == 0 {
            self.stem.out_channels()
        } else {
            self.widths[i - 1]
        }
    }
}
