//! SVHN `.mat` (MATLAB v5) files, written here in the official layout with both uncompressed
//! and zlib-compressed elements: round trip, label mapping, and corrupt files.

mod common;

use ccll_data::svhn::{load_svhn, read_svhn_mat};
use ccll_data::{load_benchmark, BenchmarkConfig};
use common::*;

#[test]
fn mat_files_round_trip_in_both_encodings() {
    let labels = [1.0, 10.0, 5.0, 10.0, 2.0];
    for compressed in [false, true] {
        let root = tmp();
        let p = root.path().join("train_32x32.mat");
        std::fs::write(&p, svhn_mat(&labels, compressed)).unwrap();
        let s = read_svhn_mat(&p).unwrap();
        assert_eq!(s.images.size(), vec![5, 3, 32, 32]);
        assert_eq!(s.labels, vec![1, 0, 5, 0, 2], "10 means the digit 0");
        // Row h, column w, channel c of image n, as MATLAB indexes X(h+1, w+1, c+1, n+1).
        let img = Vec::<u8>::try_from(s.images.get(3).flatten(0, -1)).unwrap();
        let mut expected = Vec::new();
        for c in 0..3 {
            for h in 0..32 {
                for w in 0..32 {
                    expected.push(svhn_pixel(h, w, c, 3));
                }
            }
        }
        assert_eq!(img, expected, "compressed: {compressed}");
    }
}

#[test]
fn labels_stored_as_uint8_are_read_too() {
    // MATLAB may store a double array's values as miUINT8 when they fit.
    let mut file = mat_header();
    file.extend(mat_matrix("X", 9, &[32, 32, 3, 2], 2, &vec![7u8; 6144]));
    file.extend(mat_matrix("y", 6, &[2, 1], 2, &[10, 3]));
    let root = tmp();
    let p = root.path().join("t.mat");
    std::fs::write(&p, file).unwrap();
    assert_eq!(read_svhn_mat(&p).unwrap().labels, vec![0, 3]);
}

#[test]
fn split_svhn_deals_digit_pairs_without_flips() {
    let root = tmp();
    let dir = root.path().join("svhn");
    std::fs::create_dir(&dir).unwrap();
    let train: Vec<f64> = (0..40).map(|i| (i % 10 + 1) as f64).collect();
    let test: Vec<f64> = (0..20).map(|i| (i % 10 + 1) as f64).collect();
    std::fs::write(dir.join("train_32x32.mat"), svhn_mat(&train, true)).unwrap();
    std::fs::write(dir.join("test_32x32.mat"), svhn_mat(&test, false)).unwrap();
    let b = load_benchmark(&BenchmarkConfig::named("split_svhn"), root.path()).unwrap();
    assert_eq!(b.tasks.len(), 5);
    assert_eq!(b.tasks[0].classes, vec!["0", "1"]);
    assert_eq!(b.tasks[0].train.len(), 8);
    assert_eq!(b.tasks[4].test.len(), 4);
    assert!(!b.augmentation.horizontal_flip);
    let whole = load_svhn(root.path(), None).unwrap();
    assert_eq!(whole.train.len(), 40);
}

#[test]
fn corrupt_mat_files_are_reported() {
    let root = tmp();
    let p = root.path().join("train_32x32.mat");
    let good = svhn_mat(&[1.0, 2.0], false);

    std::fs::write(&p, &good[..good.len() - 40]).unwrap();
    let err = read_svhn_mat(&p).unwrap_err().to_string();
    assert!(
        err.contains("truncated: the miMATRIX element at byte"),
        "{err}"
    );
    assert!(err.starts_with(&p.display().to_string()), "{err}");

    std::fs::write(&p, &good[..100]).unwrap();
    let err = read_svhn_mat(&p).unwrap_err().to_string();
    assert!(
        err.ends_with("truncated: 100 bytes, a MAT-file header needs 128"),
        "{err}"
    );

    let mut bad = good.clone();
    bad[..6].copy_from_slice(b"PYTHON");
    std::fs::write(&p, &bad).unwrap();
    let err = read_svhn_mat(&p).unwrap_err().to_string();
    assert!(err.contains("not a MATLAB 5.0 MAT-file"), "{err}");

    let compressed = svhn_mat(&[1.0, 2.0], true);
    let mut broken = compressed.clone();
    for b in &mut broken[140..180] {
        *b ^= 0x5a;
    }
    std::fs::write(&p, &broken).unwrap();
    let err = read_svhn_mat(&p).unwrap_err().to_string();
    assert!(
        err.contains("corrupt compressed element at byte 128"),
        "{err}"
    );

    std::fs::write(&p, svhn_mat(&[1.0, 11.0], false)).unwrap();
    let err = read_svhn_mat(&p).unwrap_err().to_string();
    assert!(
        err.ends_with("label 11 out of range 1..10 at record 1"),
        "{err}"
    );

    let mut only_x = mat_header();
    only_x.extend(mat_matrix("X", 9, &[32, 32, 3, 1], 2, &[0u8; 3072]));
    std::fs::write(&p, &only_x).unwrap();
    let err = read_svhn_mat(&p).unwrap_err().to_string();
    assert!(err.contains("no variable `y`"), "{err}");

    let mut wrong_dims = mat_header();
    wrong_dims.extend(mat_matrix("X", 9, &[28, 28, 1, 2], 2, &[0u8; 1568]));
    wrong_dims.extend(mat_matrix("y", 6, &[2, 1], 2, &[1, 2]));
    std::fs::write(&p, &wrong_dims).unwrap();
    let err = read_svhn_mat(&p).unwrap_err().to_string();
    assert!(
        err.contains("variable `X` is [28, 28, 1, 2], expected [32, 32, 3, N]"),
        "{err}"
    );
}

#[test]
fn missing_svhn_points_to_the_download() {
    let root = tmp();
    let err = load_svhn(root.path(), None).unwrap_err().to_string();
    assert!(
        err.starts_with("SVHN not found: looked for train_32x32.mat, test_32x32.mat in"),
        "{err}"
    );
    assert!(err.contains("ufldl.stanford.edu/housenumbers"), "{err}");
}
