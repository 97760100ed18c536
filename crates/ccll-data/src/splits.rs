//! Cutting a whole dataset into tasks: class orders, per-class caps, the validation holdout,
//! and the `Split` tensors (one `index_select` per split; the loops run over label vectors,
//! never over pixels).

use crate::rng::SplitMix;
use crate::{ClassOrder, DataError, RawDataset, RawSplit, Split, TaskData};
use tch::Tensor;

/// The order in which `n` classes are dealt into tasks.
pub fn class_order(n: usize, order: ClassOrder, seed: u64) -> Vec<usize> {
    let mut classes: Vec<usize> = (0..n).collect();
    if order == ClassOrder::Shuffled {
        SplitMix(seed).shuffle(&mut classes);
    }
    classes
}

/// How a task's splits are drawn from the dataset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Drawing {
    pub train_cap: Option<usize>,
    pub test_cap: Option<usize>,
    pub validation_fraction: f64,
    pub seed: u64,
}

/// Indices (in file order) of the images of each wanted class, at most `cap` per class (the
/// first ones in file order). `lut[label]` is the local label of a wanted class, else -1.
fn bucket(labels: &[i64], lut: &[i64], k: usize, cap: Option<usize>) -> Vec<Vec<i64>> {
    let mut per_class: Vec<Vec<i64>> = vec![Vec::new(); k];
    let cap = cap.unwrap_or(usize::MAX);
    for (i, &l) in labels.iter().enumerate() {
        let local = usize::try_from(l)
            .ok()
            .and_then(|l| lut.get(l))
            .copied()
            .unwrap_or(-1);
        if local >= 0 && per_class[local as usize].len() < cap {
            per_class[local as usize].push(i as i64);
        }
    }
    per_class
}

/// How many of `n` images of a class go to validation: `round(fraction * n)`, at least one
/// when the fraction is positive, and always leaving one for training.
pub fn validation_count(n: usize, fraction: f64) -> usize {
    if fraction <= 0.0 || n < 2 {
        return 0;
    }
    ((fraction * n as f64).round() as usize).clamp(1, n - 1)
}

fn gather(images: &Tensor, picked: &mut [(i64, i64)]) -> Result<Split, DataError> {
    // File order, so a split reads like the original file (the trainer shuffles anyway).
    picked.sort_unstable();
    let index: Vec<i64> = picked.iter().map(|p| p.0).collect();
    let labels: Vec<i64> = picked.iter().map(|p| p.1).collect();
    Ok(Split {
        images: images.f_index_select(0, &Tensor::from_slice(&index))?,
        labels: Tensor::from_slice(&labels),
    })
}

/// Builds one task from the given dataset classes (local label `j` = `classes[j]`).
pub(crate) fn make_task(
    name: String,
    raw: &RawDataset,
    classes: &[usize],
    drawing: &Drawing,
) -> Result<TaskData, DataError> {
    let mut lut = vec![-1i64; raw.class_names.len()];
    for (j, &c) in classes.iter().enumerate() {
        if let Some(slot) = lut.get_mut(c) {
            *slot = j as i64;
        }
    }
    let k = classes.len();
    let train_buckets = bucket(&raw.train.labels, &lut, k, drawing.train_cap);
    let mut train = Vec::new();
    let mut val = Vec::new();
    for (j, mut idx) in train_buckets.into_iter().enumerate() {
        let hold = validation_count(idx.len(), drawing.validation_fraction);
        if hold > 0 {
            // Seeded by the dataset class, so a class keeps its holdout whatever task it is in.
            let class = classes[j] as u64;
            SplitMix(drawing.seed ^ 0x7661_6c5f_686f_6c64 ^ class.wrapping_mul(0x9e37_79b9))
                .shuffle(&mut idx);
            val.extend(idx.drain(..hold).map(|i| (i, j as i64)));
        }
        train.extend(idx.into_iter().map(|i| (i, j as i64)));
    }
    let mut test: Vec<(i64, i64)> = bucket(&raw.test.labels, &lut, k, drawing.test_cap)
        .into_iter()
        .enumerate()
        .flat_map(|(j, idx)| idx.into_iter().map(move |i| (i, j as i64)))
        .collect();
    Ok(TaskData {
        name,
        classes: classes
            .iter()
            .map(|&c| {
                raw.class_names
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| c.to_string())
            })
            .collect(),
        train: gather(&raw.train.images, &mut train)?,
        test: gather(&raw.test.images, &mut test)?,
        val: if drawing.validation_fraction > 0.0 {
            Some(gather(&raw.train.images, &mut val)?)
        } else {
            None
        },
    })
}

/// Per-class image counts of a raw split (for `ccll data info` and checks).
pub fn class_counts(split: &RawSplit, num_classes: usize) -> Vec<usize> {
    let mut counts = vec![0; num_classes];
    for &l in &split.labels {
        if let Some(c) = usize::try_from(l).ok().and_then(|l| counts.get_mut(l)) {
            *c += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DatasetId;

    fn raw() -> RawDataset {
        // 4 classes, 10 train images per class (interleaved), 3 test images per class; each
        // image's pixel value is its index, so selections can be traced.
        let n_train = 40;
        let train_images =
            Tensor::arange(n_train, (tch::Kind::Uint8, tch::Device::Cpu)).view([n_train, 1, 1, 1]);
        let test_images =
            Tensor::arange(12, (tch::Kind::Uint8, tch::Device::Cpu)).view([12, 1, 1, 1]);
        RawDataset {
            id: DatasetId::Mnist,
            class_names: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            train: RawSplit {
                images: train_images,
                labels: (0..n_train).map(|i| i % 4).collect(),
            },
            test: RawSplit {
                images: test_images,
                labels: (0..12).map(|i| i % 4).collect(),
            },
            source: "test".into(),
        }
    }

    #[test]
    fn task_takes_its_classes_with_local_labels_and_caps() {
        let d = Drawing {
            train_cap: Some(4),
            test_cap: None,
            validation_fraction: 0.0,
            seed: 0,
        };
        let t = make_task("task1".into(), &raw(), &[3, 1], &d).unwrap();
        assert_eq!(t.classes, vec!["d", "b"]);
        let pixels = Vec::<u8>::try_from(t.train.images.flatten(0, -1)).unwrap();
        let labels = Vec::<i64>::try_from(&t.train.labels).unwrap();
        assert_eq!(pixels, vec![1, 3, 5, 7, 9, 11, 13, 15]);
        assert_eq!(labels, vec![1, 0, 1, 0, 1, 0, 1, 0]);
        assert_eq!(t.test.len(), 6);
        assert!(t.val.is_none());
    }

    #[test]
    fn validation_is_stratified_disjoint_and_seeded() {
        let d = Drawing {
            train_cap: None,
            test_cap: None,
            validation_fraction: 0.2,
            seed: 5,
        };
        let a = make_task("t".into(), &raw(), &[0, 2], &d).unwrap();
        let b = make_task("t".into(), &raw(), &[2, 0], &d).unwrap();
        let val = a.val.as_ref().unwrap();
        assert_eq!(val.len(), 4);
        assert_eq!(a.train.len(), 16);
        let v = Vec::<u8>::try_from(val.images.flatten(0, -1)).unwrap();
        let tr = Vec::<u8>::try_from(a.train.images.flatten(0, -1)).unwrap();
        assert!(v.iter().all(|x| !tr.contains(x)));
        let vl = Vec::<i64>::try_from(&val.labels).unwrap();
        assert_eq!(vl.iter().filter(|&&l| l == 0).count(), 2);
        // The holdout of a class does not depend on its position in the task.
        let vb = Vec::<u8>::try_from(b.val.as_ref().unwrap().images.flatten(0, -1)).unwrap();
        assert_eq!(v, vb);
    }

    #[test]
    fn validation_count_bounds() {
        assert_eq!(validation_count(10, 0.0), 0);
        assert_eq!(validation_count(10, 0.01), 1);
        assert_eq!(validation_count(10, 0.99), 9);
        assert_eq!(validation_count(1, 0.5), 0);
        assert_eq!(validation_count(6000, 0.1), 600);
    }
}
