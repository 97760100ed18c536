//! MNIST and Fashion-MNIST: the idx format (big-endian header, then raw `u8`), plain or gzip.
//!
//! idx header: two zero bytes, a type byte (0x08 = unsigned byte), a dimension count, then one
//! big-endian `u32` per dimension. Images are idx3 `[N, H, W]`, labels idx1 `[N]`.

use crate::error::thousands;
use crate::layout::{locate, wanted};
use crate::{DataError, DatasetId, RawDataset, RawSplit, FASHION_MNIST_CLASSES};
use std::io::Read;
use std::path::Path;
use tch::Tensor;

/// Reads a whole file, gunzipping it when it starts with the gzip magic bytes (whatever its
/// name), so `.gz` and plain copies both work.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<(Vec<u8>, bool), DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 2);
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| DataError::file(path, format!("corrupt or truncated gzip stream: {e}")))?;
        Ok((out, true))
    } else {
        Ok((raw, false))
    }
}

/// Parses an idx header with `dims` dimensions of unsigned bytes, checks the file size, and
/// returns the dimensions and the payload.
fn parse_idx<'a>(
    bytes: &'a [u8],
    dims: usize,
    path: &Path,
    gz: bool,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let what = format!("idx{dims} ubyte");
    let after = if gz { " after gzip decompression" } else { "" };
    let header = 4 + 4 * dims;
    if bytes.len() < 4 {
        return Err(DataError::file(
            path,
            format!(
                "truncated: {} bytes{after}, an {what} header needs {header}",
                bytes.len()
            ),
        ));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let expected = 0x0800 | dims as u32;
    if magic != expected {
        return Err(DataError::file(
            path,
            format!("bad magic number 0x{magic:08x}, expected 0x{expected:08x} ({what})"),
        ));
    }
    if bytes.len() < header {
        return Err(DataError::file(
            path,
            format!(
                "truncated: {} bytes{after}, an {what} header needs {header}",
                bytes.len()
            ),
        ));
    }
    let shape: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    // Checked: the dimensions come from the file and may be garbage.
    let payload = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|p| p.checked_add(header))
        .map(|p| p - header);
    if payload != Some(bytes.len() - header) {
        let payload = payload.unwrap_or(usize::MAX - header);
        let dims_text: Vec<String> = shape.iter().map(|d| thousands(*d as u64)).collect();
        return Err(DataError::file(
            path,
            format!(
                "size mismatch: the header says [{}] ({} bytes with the {header}-byte header) but the file has {} bytes{after}",
                dims_text.join(" x "),
                thousands((payload + header) as u64),
                thousands(bytes.len() as u64),
            ),
        ));
    }
    Ok((shape, &bytes[header..]))
}

/// Reads an idx3 image file into `u8 [N, 1, H, W]`.
pub fn read_idx_images(path: &Path) -> Result<Tensor, DataError> {
    let (bytes, gz) = read_maybe_gz(path)?;
    let (shape, pixels) = parse_idx(&bytes, 3, path, gz)?;
    let (n, h, w) = (shape[0] as i64, shape[1] as i64, shape[2] as i64);
    if n == 0 || h == 0 || w == 0 {
        return Err(DataError::file(
            path,
            format!("empty image set: the header says [{n} x {h} x {w}]"),
        ));
    }
    Ok(Tensor::from_slice(pixels).view([n, 1, h, w]))
}

/// Reads an idx1 label file; every label must lie in `0..num_classes`.
pub fn read_idx_labels(path: &Path, num_classes: i64) -> Result<Vec<i64>, DataError> {
    let (bytes, gz) = read_maybe_gz(path)?;
    let (_, labels) = parse_idx(&bytes, 1, path, gz)?;
    if let Some(i) = labels.iter().position(|&l| l as i64 >= num_classes) {
        return Err(DataError::file(
            path,
            format!(
                "label {} out of range 0..{} at record {i}",
                labels[i],
                num_classes - 1
            ),
        ));
    }
    Ok(labels.iter().map(|&l| l as i64).collect())
}

pub(crate) static FILES: [[&str; 4]; 4] = [
    [
        "train-images-idx3-ubyte",
        "train-images-idx3-ubyte.gz",
        "train-images.idx3-ubyte",
        "train-images.idx3-ubyte.gz",
    ],
    [
        "train-labels-idx1-ubyte",
        "train-labels-idx1-ubyte.gz",
        "train-labels.idx1-ubyte",
        "train-labels.idx1-ubyte.gz",
    ],
    [
        "t10k-images-idx3-ubyte",
        "t10k-images-idx3-ubyte.gz",
        "t10k-images.idx3-ubyte",
        "t10k-images.idx3-ubyte.gz",
    ],
    [
        "t10k-labels-idx1-ubyte",
        "t10k-labels-idx1-ubyte.gz",
        "t10k-labels.idx1-ubyte",
        "t10k-labels.idx1-ubyte.gz",
    ],
];

/// Loads MNIST or Fashion-MNIST (the four idx files) from `explicit` or the usual folder
/// under `root`.
pub fn load_idx_dataset(
    id: DatasetId,
    root: &Path,
    explicit: Option<&Path>,
) -> Result<RawDataset, DataError> {
    let class_names: Vec<String> = match id {
        DatasetId::Mnist => (0..10).map(|d| d.to_string()).collect(),
        DatasetId::FashionMnist => FASHION_MNIST_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        other => {
            return Err(DataError::Config {
                benchmark: other.display_name().into(),
                message: "not an idx dataset".into(),
            })
        }
    };
    let found = locate(id, root, explicit, &wanted(id))?;
    let split = |images: &Path, labels: &Path| -> Result<RawSplit, DataError> {
        let images_t = read_idx_images(images)?;
        let labels_v = read_idx_labels(labels, class_names.len() as i64)?;
        let n = images_t.size()[0] as usize;
        if n != labels_v.len() {
            return Err(DataError::file(
                labels,
                format!(
                    "{} labels but {} has {} images",
                    thousands(labels_v.len() as u64),
                    images.display(),
                    thousands(n as u64)
                ),
            ));
        }
        Ok(RawSplit {
            images: images_t,
            labels: labels_v,
        })
    };
    let train = split(&found.files[0], &found.files[1])?;
    let test = split(&found.files[2], &found.files[3])?;
    let shapes = (train.images.size(), test.images.size());
    if shapes.0[1..] != shapes.1[1..] {
        return Err(DataError::file(
            &found.files[2],
            format!(
                "images are {:?} but the training images are {:?}",
                &shapes.1[2..],
                &shapes.0[2..]
            ),
        ));
    }
    Ok(RawDataset {
        id,
        class_names,
        train,
        test,
        source: format!("{} idx files in {}", id.display_name(), found.dir.display()),
    })
}
