//! Normalisation and train-time augmentation, as batched tensor operations on the device that
//! holds the batch (no per-sample loops).

use tch::{Kind, Tensor};

/// Per-channel mean and standard deviation of pixel values scaled to [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Normalization {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Normalization {
    /// `u8` images `[B, C, H, W]` to normalised `f32` on the same device.
    pub fn apply(&self, images_u8: &Tensor) -> Tensor {
        let device = images_u8.device();
        let c = self.mean.len() as i64;
        let mean = Tensor::from_slice(&self.mean)
            .to_kind(Kind::Float)
            .view([1, c, 1, 1])
            .to_device(device);
        let std = Tensor::from_slice(&self.std)
            .to_kind(Kind::Float)
            .view([1, c, 1, 1])
            .to_device(device);
        (images_u8.to_kind(Kind::Float) / 255.0 - mean) / std
    }
}

/// Random crop after zero padding, and random horizontal flip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Augmentation {
    /// Pad each side by this many pixels, then crop back to the original size at a random
    /// offset; 0 disables the crop.
    pub crop_padding: i64,
    pub horizontal_flip: bool,
}

impl Augmentation {
    pub const NONE: Self = Self {
        crop_padding: 0,
        horizontal_flip: false,
    };

    pub fn is_none(&self) -> bool {
        self.crop_padding == 0 && !self.horizontal_flip
    }

    /// Augments a float batch `[B, C, H, W]`, drawing from libtorch's generator (seeded by the
    /// trainer, so runs stay deterministic).
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let mut x = x.shallow_clone();
        if self.crop_padding > 0 {
            x = random_crop(&x, self.crop_padding);
        }
        if self.horizontal_flip {
            let (b, ..) = x.size4().unwrap_or((0, 0, 0, 0));
            let flip = Tensor::rand([b, 1, 1, 1], (Kind::Float, x.device())).lt(0.5);
            x = x.flip([3]).where_self(&flip, &x);
        }
        x
    }
}

/// Pads by `p` and crops every image at its own random offset with two gathers.
fn random_crop(x: &Tensor, p: i64) -> Tensor {
    let (b, c, h, w) = x
        .size4()
        .expect("augmentation expects [B, C, H, W] batches");
    let device = x.device();
    let padded = x.constant_pad_nd([p, p, p, p]);
    let offsets = |n: i64| {
        Tensor::randint(2 * p + 1, [b, 1], (Kind::Int64, device))
            + Tensor::arange(n, (Kind::Int64, device)).view([1, n])
    };
    let rows = offsets(h)
        .view([b, 1, h, 1])
        .expand([b, c, h, w + 2 * p], false);
    let x = padded.gather(2, &rows, false);
    let cols = offsets(w).view([b, 1, 1, w]).expand([b, c, h, w], false);
    x.gather(3, &cols, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_keeps_shape_and_takes_pixels_from_the_padded_image() {
        tch::manual_seed(0);
        let x =
            Tensor::arange(2 * 3 * 5 * 5, (Kind::Float, tch::Device::Cpu)).view([2, 3, 5, 5]) + 1.0;
        let aug = Augmentation {
            crop_padding: 2,
            horizontal_flip: true,
        };
        let y = aug.apply(&x);
        assert_eq!(y.size(), vec![2, 3, 5, 5]);
        // Every output pixel is either padding (0) or a pixel of the same image and channel.
        for bi in 0..2 {
            for ci in 0..3 {
                let src = x.get(bi).get(ci);
                let out = y.get(bi).get(ci).flatten(0, -1);
                for v in Vec::<f32>::try_from(&out).unwrap() {
                    assert!(v == 0.0 || src.eq(v as f64).any().int64_value(&[]) == 1);
                }
            }
        }
    }

    #[test]
    fn normalization_maps_u8_to_standardised_float() {
        let x = Tensor::from_slice(&[0u8, 255]).view([1, 1, 1, 2]);
        let n = Normalization {
            mean: vec![0.5],
            std: vec![0.5],
        };
        let y = Vec::<f32>::try_from(n.apply(&x).flatten(0, -1)).unwrap();
        assert_eq!(y, vec![-1.0, 1.0]);
    }
}
