//! Load-time shape changes, so that two datasets can share a network (e.g. a base trained on
//! CIFAR-10 used for SVHN, or MNIST next to CIFAR-style data): channel repeat / luma
//! conversion and bilinear resizing, as batched tensor operations on the CPU.

use crate::{DataError, Normalization};
use tch::{Kind, Tensor};

/// ITU-R BT.601 luma weights, as PIL's `convert("L")` uses.
const LUMA: [f64; 3] = [0.299, 0.587, 0.114];

/// Images per resize batch: bounds the temporary `f32` copy.
const CHUNK: i64 = 8192;

/// Returns `u8 [N, channels, size, size]` from `u8 [N, C, H, W]`, converting channels
/// (1 -> 3 repeats, 3 -> 1 takes luma) and resizing bilinearly (antialiased when shrinking).
pub(crate) fn conform(images: &Tensor, channels: i64, size: i64) -> Result<Tensor, DataError> {
    let dims = images.size();
    let (n, c, h, w) = match dims.as_slice() {
        [n, c, h, w] => (*n, *c, *h, *w),
        _ => {
            return Err(DataError::Incompatible(format!(
                "images are {dims:?}, expected [N, C, H, W]"
            )))
        }
    };
    if c == channels && h == size && w == size {
        return Ok(images.shallow_clone());
    }
    if n == 0 {
        return Ok(Tensor::zeros(
            [0, channels, size, size],
            (Kind::Uint8, tch::Device::Cpu),
        ));
    }
    let mut chunks = Vec::new();
    for start in (0..n).step_by(CHUNK as usize) {
        let len = CHUNK.min(n - start);
        let mut x = images.f_narrow(0, start, len)?.f_to_kind(Kind::Float)?;
        x = match (c, channels) {
            (a, b) if a == b => x,
            (1, 3) => x.f_expand([len, 3, h, w], false)?,
            (3, 1) => {
                let weights = Tensor::from_slice(&LUMA)
                    .f_to_kind(Kind::Float)?
                    .f_view([1, 3, 1, 1])?;
                (x * weights).f_sum_dim_intlist(1, true, Kind::Float)?
            }
            (a, b) => {
                return Err(DataError::Incompatible(format!(
                    "cannot convert {a}-channel images to {b} channels (only 1 <-> 3)"
                )))
            }
        };
        if h != size || w != size {
            x = if size < h || size < w {
                x.f_internal_upsample_bilinear2d_aa([size, size], false, None, None)?
            } else {
                x.f_upsample_bilinear2d([size, size], false, None, None)?
            };
        }
        chunks.push(x.f_round()?.f_clamp(0.0, 255.0)?.f_to_kind(Kind::Uint8)?);
    }
    Ok(Tensor::f_cat(&chunks, 0)?)
}

/// The normalisation of images after [`conform`]'s channel conversion: repeated for 1 -> 3;
/// for 3 -> 1 the luma-weighted mean, and the luma-weighted std (exact if the channels are
/// perfectly correlated, a close approximation for natural images).
pub(crate) fn convert_normalization(mean: &[f64], std: &[f64], channels: usize) -> Normalization {
    match (mean.len(), channels) {
        (1, 3) => Normalization {
            mean: vec![mean[0]; 3],
            std: vec![std[0]; 3],
        },
        (3, 1) => Normalization {
            mean: vec![mean.iter().zip(LUMA).map(|(m, w)| m * w).sum()],
            std: vec![std.iter().zip(LUMA).map(|(s, w)| s * w).sum()],
        },
        _ => Normalization {
            mean: mean.to_vec(),
            std: std.to_vec(),
        },
    }
}

/// Mean and std of the union of datasets, from each one's statistics and image count.
pub(crate) fn pooled_normalization(parts: &[(Normalization, f64)]) -> Normalization {
    let total: f64 = parts.iter().map(|(_, n)| n).sum();
    let channels = parts.first().map(|(p, _)| p.mean.len()).unwrap_or(0);
    if parts.len() == 1 || total <= 0.0 {
        return parts
            .first()
            .map(|(p, _)| p.clone())
            .unwrap_or(Normalization {
                mean: vec![],
                std: vec![],
            });
    }
    let mut mean = vec![0.0; channels];
    let mut std = vec![0.0; channels];
    for c in 0..channels {
        let m: f64 = parts.iter().map(|(p, n)| p.mean[c] * n).sum::<f64>() / total;
        // E[x^2] of the union minus the squared mean.
        let ex2: f64 = parts
            .iter()
            .map(|(p, n)| (p.std[c] * p.std[c] + p.mean[c] * p.mean[c]) * n)
            .sum::<f64>()
            / total;
        mean[c] = m;
        std[c] = (ex2 - m * m).max(0.0).sqrt();
    }
    Normalization { mean, std }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conform_repeats_grey_and_resizes() {
        let x = Tensor::from_slice(&[0u8, 100, 200, 255]).view([1, 1, 2, 2]);
        let y = conform(&x, 3, 4).unwrap();
        assert_eq!(y.size(), vec![1, 3, 4, 4]);
        assert_eq!(y.kind(), Kind::Uint8);
        assert!(y.get(0).get(0).equal(&y.get(0).get(2)));
        let back = conform(&y, 1, 2).unwrap();
        assert_eq!(back.size(), vec![1, 1, 2, 2]);
        // A constant image stays constant through luma and resizing.
        let flat = Tensor::full([2, 3, 8, 8], 77, (Kind::Uint8, tch::Device::Cpu));
        let g = conform(&flat, 1, 5).unwrap();
        assert_eq!(g.size(), vec![2, 1, 5, 5]);
        assert_eq!(g.min().int64_value(&[]), 77);
        assert_eq!(g.max().int64_value(&[]), 77);
    }

    #[test]
    fn pooled_statistics_of_two_equal_halves() {
        let a = Normalization {
            mean: vec![0.0],
            std: vec![1.0],
        };
        let b = Normalization {
            mean: vec![2.0],
            std: vec![1.0],
        };
        let p = pooled_normalization(&[(a, 10.0), (b, 10.0)]);
        assert!((p.mean[0] - 1.0).abs() < 1e-12);
        assert!((p.std[0] - 2f64.sqrt()).abs() < 1e-12);
    }
}
