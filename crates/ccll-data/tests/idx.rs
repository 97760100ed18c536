//! MNIST / Fashion-MNIST idx files: round trip (plain and gzip) and the errors for missing,
//! corrupt and truncated files.

mod common;

use ccll_data::idx::{load_idx_dataset, read_idx_images, read_idx_labels};
use ccll_data::DatasetId;
use common::*;

#[test]
fn plain_and_gzipped_idx_round_trip() {
    for gzip in [false, true] {
        let root = tmp();
        write_mnist_like(&root.path().join("mnist"), 3, 2, gzip);
        let d = load_idx_dataset(DatasetId::Mnist, root.path(), None).unwrap();
        assert_eq!(d.train.images.size(), vec![30, 1, 28, 28]);
        assert_eq!(d.test.images.size(), vec![20, 1, 28, 28]);
        assert_eq!(d.train.labels[..12], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
        let img7 = Vec::<u8>::try_from(d.train.images.get(7).flatten(0, -1)).unwrap();
        assert_eq!(img7, (0..784).map(|j| pixel(7, j)).collect::<Vec<_>>());
        assert_eq!(d.class_names[3], "3");
    }
}

#[test]
fn fashion_has_its_class_names_and_alternate_folder_names_work() {
    let root = tmp();
    write_mnist_like(&root.path().join("fashion_mnist"), 1, 1, true);
    let d = load_idx_dataset(DatasetId::FashionMnist, root.path(), None).unwrap();
    assert_eq!(d.class_names[0], "T-shirt/top");
    assert_eq!(d.class_names[9], "Ankle boot");
    assert!(d.source.contains("fashion_mnist"));
}

#[test]
fn missing_mnist_says_where_it_looked_and_how_to_fetch() {
    let root = tmp();
    let err = load_idx_dataset(DatasetId::Mnist, root.path(), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("MNIST not found: looked for train-images-idx3-ubyte"),
        "{err}"
    );
    assert!(
        err.contains(&root.path().join("mnist").display().to_string()),
        "{err}"
    );
    assert!(err.contains("ccll data fetch mnist"), "{err}");
}

#[test]
fn bad_magic_is_named_with_the_expected_value() {
    let root = tmp();
    let p = root.path().join("train-images-idx3-ubyte");
    let mut bytes = idx_images(2, 28, 28);
    bytes[2] = 0;
    bytes[3] = 0;
    std::fs::write(&p, &bytes).unwrap();
    let err = read_idx_images(&p).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: bad magic number 0x00000000, expected 0x00000803 (idx3 ubyte)",
            p.display()
        )
    );
    // A label file given where images are expected is also a magic mismatch.
    std::fs::write(&p, idx_labels(&[1, 2])).unwrap();
    let err = read_idx_images(&p).unwrap_err().to_string();
    assert!(err.contains("bad magic number 0x00000801"), "{err}");
}

#[test]
fn truncated_files_report_sizes() {
    let root = tmp();
    let p = root.path().join("imgs");
    let bytes = idx_images(3, 28, 28);
    std::fs::write(&p, &bytes[..bytes.len() - 100]).unwrap();
    let err = read_idx_images(&p).unwrap_err().to_string();
    assert!(
        err.contains("size mismatch: the header says [3 x 28 x 28] (2,368 bytes with the 16-byte header) but the file has 2,268 bytes"),
        "{err}"
    );
    std::fs::write(&p, &bytes[..10]).unwrap();
    let err = read_idx_images(&p).unwrap_err().to_string();
    assert!(
        err.contains("truncated: 10 bytes, an idx3 ubyte header needs 16"),
        "{err}"
    );
    // Absurd dimensions are a size mismatch, not an overflow.
    let mut huge = vec![0, 0, 8, 3];
    huge.extend_from_slice(&[0xff; 12]);
    std::fs::write(&p, &huge).unwrap();
    let err = read_idx_images(&p).unwrap_err().to_string();
    assert!(
        err.contains("size mismatch: the header says [4,294,967,295 x"),
        "{err}"
    );
    // Truncated inside the gzip stream.
    let z = gz(&bytes);
    std::fs::write(&p, &z[..z.len() / 2]).unwrap();
    let err = read_idx_images(&p).unwrap_err().to_string();
    assert!(err.contains("corrupt or truncated gzip stream"), "{err}");
}

#[test]
fn out_of_range_label_names_the_record() {
    let root = tmp();
    let p = root.path().join("labels");
    std::fs::write(&p, idx_labels(&[0, 3, 9, 12, 1])).unwrap();
    let err = read_idx_labels(&p, 10).unwrap_err().to_string();
    assert!(
        err.ends_with("label 12 out of range 0..9 at record 3"),
        "{err}"
    );
}

#[test]
fn image_and_label_counts_must_agree() {
    let root = tmp();
    let dir = root.path().join("mnist");
    write_mnist_like(&dir, 2, 1, false);
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx_labels(&[1; 19])).unwrap();
    let err = load_idx_dataset(DatasetId::Mnist, root.path(), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("19 labels but"), "{err}");
    assert!(err.contains("has 20 images"), "{err}");
}
