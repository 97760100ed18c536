//! A small CNN for 28x28 inputs: three conv + BN + ReLU blocks (widths w, 2w, 4w), 2x2
//! max-pooling after the first two.

use super::{After, CalibrationPoint, ConvBn, ConvShape, Fwd};
use tch::{nn, Tensor};

#[derive(Debug)]
pub(super) struct ConvNet {
    blocks: Vec<ConvBn>,
}

impl ConvNet {
    pub(super) fn new(
        root: &nn::Path,
        in_channels: i64,
        width: i64,
        points: &mut Vec<CalibrationPoint>,
    ) -> Self {
        let widths = [width, 2 * width, 4 * width];
        let mut cin = in_channels;
        let blocks = widths
            .iter()
            .enumerate()
            .map(|(i, &cout)| {
                let shape = ConvShape {
                    in_channels: cin,
                    out_channels: cout,
                    kernel: 3,
                    stride: 1,
                };
                let names = (format!("conv{}", i + 1), format!("bn{}", i + 1));
                let b = ConvBn::new(root, (&names.0, &names.1), shape, points);
                cin = cout;
                b
            })
            .collect();
        Self { blocks }
    }

    pub(super) fn num_stages(&self) -> usize {
        self.blocks.len()
    }

    pub(super) fn stage(&self, i: usize, x: &Tensor, fwd: &Fwd) -> Tensor {
        let y = self.blocks[i].forward(x, fwd, After::Relu);
        if i + 1 < self.blocks.len() {
            y.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
        } else {
            y
        }
    }

    pub(super) fn stage_out_channels(&self, i: usize) -> i64 {
        self.blocks[i].out_channels()
    }
}
