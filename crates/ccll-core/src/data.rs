//! Task data on the training device, and batches drawn from it with tensor indexing (no
//! per-sample loops): images stay `u8` on the device and are normalised batch by batch.

use ccll_data::{Augmentation, Benchmark, Normalization, Split};
use tch::{Device, Kind, Tensor};

/// One split on the device: `u8` images `[N, C, H, W]` and `i64` labels `[N]`.
pub struct DeviceSplit {
    pub images: Tensor,
    pub labels: Tensor,
}

impl DeviceSplit {
    pub fn new(split: &Split, device: Device) -> Self {
        Self {
            images: split.images.to_device(device),
            labels: split.labels.to_device(device),
        }
    }

    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Batches in order, for evaluation: `(u8 images, labels)`.
    pub fn ordered_batches(&self, batch_size: usize) -> Vec<(Tensor, Tensor)> {
        self.images
            .split(batch_size as i64, 0)
            .into_iter()
            .zip(self.labels.split(batch_size as i64, 0))
            .collect()
    }
}

/// A task's training and test data on the device, with how to prepare a batch.
pub struct DeviceTask {
    pub train: DeviceSplit,
    pub test: DeviceSplit,
    pub classes: i64,
    pub augmentation: Augmentation,
    /// Per-channel `[1, C, 1, 1]` constants on the device, made once rather than per batch.
    mean: Tensor,
    std: Tensor,
}

impl DeviceTask {
    pub fn new(
        train: DeviceSplit,
        test: DeviceSplit,
        classes: i64,
        normalization: &Normalization,
        augmentation: Augmentation,
    ) -> Self {
        let device = train.images.device();
        let c = normalization.mean.len() as i64;
        let constant = |v: &[f64]| {
            Tensor::from_slice(v)
                .to_kind(Kind::Float)
                .view([1, c, 1, 1])
                .to_device(device)
        };
        Self {
            mean: constant(&normalization.mean),
            std: constant(&normalization.std),
            train,
            test,
            classes,
            augmentation,
        }
    }

    /// Every task of `bench`, its images and labels copied to `device` once.
    pub fn all_of(bench: &Benchmark, device: Device) -> Vec<DeviceTask> {
        bench
            .tasks
            .iter()
            .map(|t| {
                DeviceTask::new(
                    DeviceSplit::new(&t.train, device),
                    DeviceSplit::new(&t.test, device),
                    t.num_classes() as i64,
                    &bench.normalization,
                    bench.augmentation,
                )
            })
            .collect()
    }

    /// Normalised float images of a batch, augmented when `augment`.
    pub fn prepare(&self, images_u8: &Tensor, augment: bool) -> Tensor {
        // Same arithmetic as `Normalization::apply`: (x / 255 - mean) / std.
        let x = (images_u8.to_kind(Kind::Float) / 255.0 - &self.mean) / &self.std;
        if augment && !self.augmentation.is_none() {
            self.augmentation.apply(&x)
        } else {
            x
        }
    }

    /// Shuffled training batches as index tensors; a last batch of one sample is dropped
    /// (batch norm cannot train on it).
    /// Normalised images back to `u8` pixels (the inverse of [`DeviceTask::prepare`] without
    /// augmentation), clamped to 0..=255: what a generator's samples look like.
    pub fn to_u8(&self, x: &Tensor) -> Tensor {
        ((x * &self.std + &self.mean) * 255.0)
            .round()
            .clamp(0.0, 255.0)
            .to_kind(Kind::Uint8)
    }

    pub fn shuffled_batches(&self, batch_size: usize) -> Vec<Tensor> {
        let n = self.train.len();
        let perm = Tensor::randperm(n, (Kind::Int64, self.train.labels.device()));
        perm.split(batch_size as i64, 0)
            .into_iter()
            .filter(|b| b.size()[0] >= 2)
            .collect()
    }
}
