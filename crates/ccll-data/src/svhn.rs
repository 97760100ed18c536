//! SVHN, cropped digits (format 2): `train_32x32.mat` and `test_32x32.mat`, MATLAB v5 files
//! holding `X` (`uint8 [32, 32, 3, N]`, column-major) and `y` (`[N, 1]`, labels 1..10, where
//! 10 stands for the digit 0).

use crate::error::thousands;
use crate::layout::{locate, wanted};
use crate::matfile::parse_mat;
use crate::{DataError, DatasetId, RawDataset, RawSplit};
use std::path::Path;
use tch::Tensor;

/// Reads one SVHN `.mat` file: images `u8 [N, 3, 32, 32]` and digit labels 0..9.
pub fn read_svhn_mat(path: &Path) -> Result<RawSplit, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let arrays = parse_mat(&bytes).map_err(|m| DataError::file(path, m))?;
    drop(bytes);
    let mut x = None;
    let mut y = None;
    for a in arrays {
        match a.name.as_str() {
            "X" => x = Some(a),
            "y" => y = Some(a),
            _ => {}
        }
    }
    let (x, y) = match (x, y) {
        (Some(x), Some(y)) => (x, y),
        (x, _) => {
            let missing = if x.is_none() { "X" } else { "y" };
            return Err(DataError::file(
                path,
                format!("no variable `{missing}`; an SVHN file holds X (images) and y (labels)"),
            ));
        }
    };
    let n = match x.dims.as_slice() {
        [32, 32, 3, n] => *n,
        [32, 32, 3] => 1,
        dims => {
            return Err(DataError::file(
                path,
                format!("variable `X` is {dims:?}, expected [32, 32, 3, N]"),
            ))
        }
    };
    if y.numel() != n {
        return Err(DataError::file(
            path,
            format!(
                "variable `y` has {} labels but `X` has {} images",
                thousands(y.numel() as u64),
                thousands(n as u64)
            ),
        ));
    }
    let raw_labels = y.to_f64().map_err(|m| DataError::file(path, m))?;
    let mut labels = Vec::with_capacity(n);
    for (i, &v) in raw_labels.iter().enumerate() {
        if v.fract() != 0.0 || !(1.0..=10.0).contains(&v) {
            return Err(DataError::file(
                path,
                format!("label {v} out of range 1..10 at record {i}"),
            ));
        }
        // SVHN writes the digit 0 as label 10.
        labels.push(v as i64 % 10);
    }
    let pixels = x.into_u8().map_err(|m| DataError::file(path, m))?;
    // Column-major [H, W, C, N] is row-major [N, C, W, H]: one transpose gives [N, C, H, W].
    let images = Tensor::from_slice(&pixels)
        .view([n as i64, 3, 32, 32])
        .transpose(2, 3)
        .contiguous();
    Ok(RawSplit { images, labels })
}

/// Loads SVHN's train and test files (the `extra` set is not used).
pub fn load_svhn(root: &Path, explicit: Option<&Path>) -> Result<RawDataset, DataError> {
    let found = locate(DatasetId::Svhn, root, explicit, &wanted(DatasetId::Svhn))?;
    Ok(RawDataset {
        id: DatasetId::Svhn,
        class_names: (0..10).map(|d| d.to_string()).collect(),
        train: read_svhn_mat(&found.files[0])?,
        test: read_svhn_mat(&found.files[1])?,
        source: format!("SVHN .mat files in {}", found.dir.display()),
    })
}
