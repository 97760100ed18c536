//! CIFAR-10 and CIFAR-100, binary version: fixed-size records of label byte(s) then 3,072
//! pixel bytes (1,024 red, 1,024 green, 1,024 blue, each row-major 32 x 32), i.e. already
//! `[C, H, W]`. CIFAR-10 records have one label byte, CIFAR-100 records two (coarse, fine).

use crate::error::thousands;
use crate::layout::{locate, wanted};
use crate::{
    DataError, DatasetId, RawDataset, RawSplit, CIFAR100_COARSE_CLASSES, CIFAR100_FINE_CLASSES,
    CIFAR10_CLASSES,
};
use std::path::Path;
use tch::Tensor;

const PIXELS: usize = 3 * 32 * 32;

/// Reads a file of records of `label_ranges.len()` label bytes plus 3,072 pixels. Returns the
/// images `u8 [N, 3, 32, 32]` and one label vector per label byte, each checked against its
/// `(kind, classes)` range.
fn read_records(
    path: &Path,
    label_ranges: &[(&str, u8)],
) -> Result<(Tensor, Vec<Vec<i64>>), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let record = label_ranges.len() + PIXELS;
    if bytes.is_empty() {
        return Err(DataError::file(path, "empty file"));
    }
    if bytes.len() % record != 0 {
        return Err(DataError::file(
            path,
            format!(
                "{} bytes is not a multiple of the {}-byte record (truncated or not a CIFAR binary file)",
                thousands(bytes.len() as u64),
                thousands(record as u64)
            ),
        ));
    }
    let n = bytes.len() / record;
    let mut labels = Vec::with_capacity(label_ranges.len());
    for (k, (kind, classes)) in label_ranges.iter().enumerate() {
        let column: Vec<i64> = bytes[k..]
            .iter()
            .step_by(record)
            .map(|&b| b as i64)
            .collect();
        if let Some(i) = column.iter().position(|&l| l >= *classes as i64) {
            return Err(DataError::file(
                path,
                format!(
                    "{kind}label {} out of range 0..{} at record {i}",
                    column[i],
                    classes - 1
                ),
            ));
        }
        labels.push(column);
    }
    // One copy into a tensor, then drop the label columns with a strided narrow.
    let images = Tensor::from_slice(&bytes)
        .view([n as i64, record as i64])
        .narrow(1, label_ranges.len() as i64, PIXELS as i64)
        .contiguous()
        .view([n as i64, 3, 32, 32]);
    Ok((images, labels))
}

/// Reads one CIFAR-10 batch file (`data_batch_k.bin` or `test_batch.bin`).
pub fn read_cifar10_batch(path: &Path) -> Result<RawSplit, DataError> {
    let (images, mut labels) = read_records(path, &[("", 10)])?;
    Ok(RawSplit {
        images,
        labels: labels.pop().unwrap_or_default(),
    })
}

/// Reads a CIFAR-100 file (`train.bin` or `test.bin`): the split labelled with fine labels,
/// and the coarse label of every image.
pub fn read_cifar100_file(path: &Path) -> Result<(RawSplit, Vec<i64>), DataError> {
    let (images, mut labels) = read_records(path, &[("coarse ", 20), ("fine ", 100)])?;
    let fine = labels.pop().unwrap_or_default();
    let coarse = labels.pop().unwrap_or_default();
    Ok((
        RawSplit {
            images,
            labels: fine,
        },
        coarse,
    ))
}

/// The batch files of CIFAR-10, training batches first.
pub(crate) static CIFAR10_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// Loads CIFAR-10 (five training batches, one test batch).
pub fn load_cifar10(root: &Path, explicit: Option<&Path>) -> Result<RawDataset, DataError> {
    let found = locate(
        DatasetId::Cifar10,
        root,
        explicit,
        &wanted(DatasetId::Cifar10),
    )?;
    let mut batches = Vec::with_capacity(5);
    for path in &found.files[..5] {
        batches.push(read_cifar10_batch(path)?);
    }
    let test = read_cifar10_batch(&found.files[5])?;
    let images: Vec<&Tensor> = batches.iter().map(|b| &b.images).collect();
    let train = RawSplit {
        images: Tensor::cat(&images, 0),
        labels: batches
            .iter()
            .flat_map(|b| b.labels.iter().copied())
            .collect(),
    };
    Ok(RawDataset {
        id: DatasetId::Cifar10,
        class_names: CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
        train,
        test,
        source: match crate::cifar_import::read_provenance(&found.dir) {
            Some(p) => format!(
                "CIFAR-10 binary batches in {} ({})",
                found.dir.display(),
                p.label()
            ),
            None => format!(
                "CIFAR-10 binary batches in {} (no {}: origin not recorded)",
                found.dir.display(),
                crate::cifar_import::PROVENANCE_FILE
            ),
        },
    })
}

/// Loads CIFAR-100 labelled by its 100 fine classes, or by its 20 coarse ones.
pub fn load_cifar100(
    root: &Path,
    explicit: Option<&Path>,
    coarse: bool,
) -> Result<RawDataset, DataError> {
    let found = locate(
        DatasetId::Cifar100,
        root,
        explicit,
        &wanted(DatasetId::Cifar100),
    )?;
    let pick = |(split, coarse_labels): (RawSplit, Vec<i64>)| {
        if coarse {
            RawSplit {
                images: split.images,
                labels: coarse_labels,
            }
        } else {
            split
        }
    };
    let train = pick(read_cifar100_file(&found.files[0])?);
    let test = pick(read_cifar100_file(&found.files[1])?);
    let names: &[&str] = if coarse {
        &CIFAR100_COARSE_CLASSES
    } else {
        &CIFAR100_FINE_CLASSES
    };
    Ok(RawDataset {
        id: DatasetId::Cifar100,
        class_names: names.iter().map(|s| s.to_string()).collect(),
        train,
        test,
        source: format!(
            "CIFAR-100 binary ({} labels) in {}",
            if coarse { "coarse" } else { "fine" },
            found.dir.display()
        ),
    })
}
