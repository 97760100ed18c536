//! Writers for tiny files in exactly the original on-disk formats, so the loaders are tested
//! on the real layouts without the real (large, partly unobtainable) data.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A pixel value that encodes its image, so selections and layouts can be traced.
pub fn pixel(image: usize, offset: usize) -> u8 {
    ((image * 7 + offset * 3) % 251) as u8
}

pub fn idx_images(n: usize, h: usize, w: usize) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, h, w] {
        b.extend_from_slice(&(d as u32).to_be_bytes());
    }
    for i in 0..n {
        for j in 0..h * w {
            b.push(pixel(i, j));
        }
    }
    b
}

pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

/// Writes an MNIST-layout folder (`dir`) with `train_per_class` / `test_per_class` images of
/// each of 10 classes (labels cycle 0..9), 28 x 28, gzipped or plain.
pub fn write_mnist_like(dir: &Path, train_per_class: usize, test_per_class: usize, gzip: bool) {
    std::fs::create_dir_all(dir).unwrap();
    for (prefix, per_class) in [("train", train_per_class), ("t10k", test_per_class)] {
        let n = per_class * 10;
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        for (name, bytes) in [
            (format!("{prefix}-images-idx3-ubyte"), idx_images(n, 28, 28)),
            (format!("{prefix}-labels-idx1-ubyte"), idx_labels(&labels)),
        ] {
            if gzip {
                std::fs::write(dir.join(format!("{name}.gz")), gz(&bytes)).unwrap();
            } else {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }
}

/// CIFAR records: `labels` bytes then 3,072 pixels per image.
pub fn cifar_records(labels: &[Vec<u8>]) -> Vec<u8> {
    let mut b = Vec::new();
    for (i, ls) in labels.iter().enumerate() {
        b.extend_from_slice(ls);
        for j in 0..3072 {
            b.push(pixel(i, j));
        }
    }
    b
}

/// A CIFAR-10 binary folder: 5 training batches of `per_batch` images and a test batch, labels
/// cycling through the 10 classes.
pub fn write_cifar10(dir: &Path, per_batch: usize, test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for k in 1..=5 {
        let labels: Vec<Vec<u8>> = (0..per_batch).map(|i| vec![((i + k) % 10) as u8]).collect();
        std::fs::write(
            dir.join(format!("data_batch_{k}.bin")),
            cifar_records(&labels),
        )
        .unwrap();
    }
    let labels: Vec<Vec<u8>> = (0..test).map(|i| vec![(i % 10) as u8]).collect();
    std::fs::write(dir.join("test_batch.bin"), cifar_records(&labels)).unwrap();
}

/// A CIFAR-100 binary folder: `train_per_class` / `test_per_class` images of each fine class
/// (fine labels cycle 0..99, coarse = fine / 5).
pub fn write_cifar100(dir: &Path, train_per_class: usize, test_per_class: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, per) in [("train.bin", train_per_class), ("test.bin", test_per_class)] {
        let labels: Vec<Vec<u8>> = (0..per * 100)
            .map(|i| vec![((i % 100) / 5) as u8, (i % 100) as u8])
            .collect();
        std::fs::write(dir.join(name), cifar_records(&labels)).unwrap();
    }
}

// ---- MATLAB v5 writer (the SVHN layout) ----

fn tag(t: u32, n: usize) -> Vec<u8> {
    let mut v = t.to_le_bytes().to_vec();
    v.extend_from_slice(&(n as u32).to_le_bytes());
    v
}

fn pad8(mut v: Vec<u8>) -> Vec<u8> {
    v.resize(v.len().div_ceil(8) * 8, 0);
    v
}

pub fn mat_header() -> Vec<u8> {
    let mut h = b"MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: test".to_vec();
    h.resize(116, b' ');
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&0x0100u16.to_le_bytes());
    h.extend_from_slice(b"IM");
    h
}

/// One `miMATRIX` element: class (`mxCLASS`), dims, a name (small-element format), and data
/// stored as `data_type`.
pub fn mat_matrix(name: &str, class: u8, dims: &[usize], data_type: u32, data: &[u8]) -> Vec<u8> {
    let mut body = tag(6, 8);
    body.extend_from_slice(&(class as u32).to_le_bytes());
    body.extend_from_slice(&[0; 4]);
    let mut d = Vec::new();
    for x in dims {
        d.extend_from_slice(&(*x as i32).to_le_bytes());
    }
    body.extend(tag(5, d.len()));
    body.extend(pad8(d));
    assert!(name.len() <= 4);
    body.extend_from_slice(&(((name.len() as u32) << 16) | 1).to_le_bytes());
    let mut n = name.as_bytes().to_vec();
    n.resize(4, 0);
    body.extend(n);
    body.extend(tag(data_type, data.len()));
    body.extend(pad8(data.to_vec()));
    let mut out = tag(14, body.len());
    out.extend(body);
    out
}

/// Wraps an element in `miCOMPRESSED` (zlib), as `save -v7` does.
pub fn mat_compressed(element: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(element).unwrap();
    let z = e.finish().unwrap();
    let mut out = tag(15, z.len());
    out.extend(z);
    out
}

/// SVHN pixel value of row `h`, column `w`, channel `c` of image `n`.
pub fn svhn_pixel(h: usize, w: usize, c: usize, n: usize) -> u8 {
    ((h * 3 + w * 5 + c * 50 + n * 11) % 256) as u8
}

/// An SVHN `.mat`: `X` uint8 [32, 32, 3, N] column-major, `y` double [N, 1] holding `labels`
/// (1..10). `compressed`: each variable in its own `miCOMPRESSED` element.
pub fn svhn_mat(labels: &[f64], compressed: bool) -> Vec<u8> {
    let n = labels.len();
    let mut x = vec![0u8; 32 * 32 * 3 * n];
    for i in 0..n {
        for c in 0..3 {
            for w in 0..32 {
                for h in 0..32 {
                    x[h + 32 * w + 1024 * c + 3072 * i] = svhn_pixel(h, w, c, i);
                }
            }
        }
    }
    let xm = mat_matrix("X", 9, &[32, 32, 3, n], 2, &x);
    let yd: Vec<u8> = labels.iter().flat_map(|v| v.to_le_bytes()).collect();
    let ym = mat_matrix("y", 6, &[n, 1], 9, &yd);
    let mut file = mat_header();
    for el in [xm, ym] {
        if compressed {
            file.extend(mat_compressed(&el));
        } else {
            file.extend(el);
        }
    }
    file
}

// ---- image folders ----

/// `ROOT/{train,val}/CLASS/*.png|jpg`: `classes` folders, `train` and `val` images each, of
/// `side` x `side` pixels, alternating PNG and JPEG; PNG pixels encode (class, image).
pub fn write_image_folder(root: &Path, classes: &[&str], train: usize, val: usize, side: u32) {
    for (split, count) in [("train", train), ("val", val)] {
        for (ci, class) in classes.iter().enumerate() {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for k in 0..count {
                let img = image::RgbImage::from_fn(side, side, |x, y| {
                    image::Rgb([(ci * 40) as u8, (k * 30) as u8, ((x + y) * 4) as u8])
                });
                let ext = if k % 2 == 0 { "png" } else { "JPG" };
                img.save(dir.join(format!("img{k:03}.{ext}"))).unwrap();
            }
        }
    }
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn path_in(dir: &tempfile::TempDir, rel: &str) -> PathBuf {
    dir.path().join(rel)
}
