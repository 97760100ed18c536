//! CIFAR-10/100 binary batches: round trip, the CIFAR benchmarks, and corrupt files.

mod common;

use ccll_data::cifar::{load_cifar10, load_cifar100, read_cifar100_file, read_cifar10_batch};
use ccll_data::{load_benchmark, BenchmarkConfig};
use common::*;

#[test]
fn cifar10_round_trips_pixels_and_labels_across_batches() {
    let root = tmp();
    write_cifar10(&root.path().join("cifar-10-batches-bin"), 4, 6);
    let d = load_cifar10(root.path(), None).unwrap();
    assert_eq!(d.train.images.size(), vec![20, 3, 32, 32]);
    assert_eq!(d.test.len(), 6);
    // Batch 2's first record has label (0 + 2) % 10 and is image 0 of its file.
    assert_eq!(d.train.labels[4], 2);
    let img = Vec::<u8>::try_from(d.train.images.get(5).flatten(0, -1)).unwrap();
    assert_eq!(img, (0..3072).map(|j| pixel(1, j)).collect::<Vec<_>>());
    // Red plane first: element [c=1, h=0, w=0] is byte 1024 of the record's pixels.
    assert_eq!(
        d.train.images.get(5).get(1).get(0).get(0).int64_value(&[]),
        pixel(1, 1024) as i64
    );
    assert_eq!(d.class_names[9], "truck");
}

#[test]
fn cifar100_has_fine_and_coarse_labels() {
    let root = tmp();
    write_cifar100(&root.path().join("cifar-100-binary"), 1, 1);
    let (split, coarse) =
        read_cifar100_file(&root.path().join("cifar-100-binary/train.bin")).unwrap();
    assert_eq!(split.labels[57], 57);
    assert_eq!(coarse[57], 11);
    let fine = load_cifar100(root.path(), None, false).unwrap();
    assert_eq!(fine.class_names.len(), 100);
    assert_eq!(fine.class_names[0], "apple");
    let coarse = load_cifar100(root.path(), None, true).unwrap();
    assert_eq!(coarse.class_names.len(), 20);
    assert_eq!(coarse.train.labels[99], 19);
    let img = Vec::<u8>::try_from(fine.test.images.get(42).flatten(0, -1)).unwrap();
    assert_eq!(img, (0..3072).map(|j| pixel(42, j)).collect::<Vec<_>>());
}

#[test]
fn split_cifar100_deals_ten_tasks_of_ten_classes() {
    let root = tmp();
    write_cifar100(&root.path().join("cifar-100-binary"), 3, 2);
    let b = load_benchmark(&BenchmarkConfig::named("split_cifar100"), root.path()).unwrap();
    assert_eq!(b.tasks.len(), 10);
    assert_eq!(b.image_shape, [3, 32, 32]);
    for (t, task) in b.tasks.iter().enumerate() {
        assert_eq!(task.classes.len(), 10);
        assert_eq!(task.classes[0], ccll_data::CIFAR100_FINE_CLASSES[t * 10]);
        assert_eq!(task.train.len(), 30);
        assert_eq!(task.test.len(), 20);
    }
    assert_eq!(b.augmentation.crop_padding, 4);
    assert!(b.augmentation.horizontal_flip);
}

#[test]
fn split_cifar10_100_is_cifar10_then_cifar100_classes_0_to_49() {
    let root = tmp();
    write_cifar10(&root.path().join("cifar-10-batches-bin"), 10, 10);
    write_cifar100(&root.path().join("cifar-100-binary"), 1, 1);
    let mut cfg = BenchmarkConfig::named("split_cifar10_100");
    cfg.class_order = ccll_data::ClassOrder::Shuffled;
    cfg.class_order_seed = 3;
    let b = load_benchmark(&cfg, root.path()).unwrap();
    assert_eq!(b.tasks.len(), 6);
    assert_eq!(b.tasks[0].classes[0], "airplane");
    assert_eq!(b.tasks[0].train.len(), 50);
    let mut later: Vec<&str> = b.tasks[1..]
        .iter()
        .flat_map(|t| t.classes.iter().map(String::as_str))
        .collect();
    assert_eq!(later.len(), 50);
    later.sort();
    let mut first50 = ccll_data::CIFAR100_FINE_CLASSES[..50].to_vec();
    first50.sort();
    assert_eq!(later, first50);
    assert!(b.source.contains("CIFAR-10") && b.source.contains("CIFAR-100"));
}

#[test]
fn a_record_size_mismatch_is_reported_in_bytes() {
    let root = tmp();
    let p = root.path().join("data_batch_3.bin");
    let labels: Vec<Vec<u8>> = (0..3).map(|_| vec![1]).collect();
    let bytes = cifar_records(&labels);
    std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
    let err = read_cifar10_batch(&p).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: 9,218 bytes is not a multiple of the 3,073-byte record (truncated or not a CIFAR binary file)",
            p.display()
        )
    );
    // A CIFAR-100 file read as CIFAR-10 is caught the same way.
    let p100 = root.path().join("train.bin");
    std::fs::write(&p100, cifar_records(&[vec![1, 2], vec![3, 4], vec![5, 6]])).unwrap();
    assert!(read_cifar10_batch(&p100)
        .unwrap_err()
        .to_string()
        .contains("not a multiple of the 3,073-byte record"));
    std::fs::write(&p, b"").unwrap();
    assert!(read_cifar10_batch(&p)
        .unwrap_err()
        .to_string()
        .ends_with("empty file"));
}

#[test]
fn out_of_range_labels_name_the_record() {
    let root = tmp();
    let p = root.path().join("test_batch.bin");
    std::fs::write(&p, cifar_records(&[vec![1], vec![12], vec![3]])).unwrap();
    let err = read_cifar10_batch(&p).unwrap_err().to_string();
    assert!(
        err.ends_with("label 12 out of range 0..9 at record 1"),
        "{err}"
    );
    let p = root.path().join("test.bin");
    std::fs::write(&p, cifar_records(&[vec![1, 2], vec![3, 100]])).unwrap();
    let err = read_cifar100_file(&p).unwrap_err().to_string();
    assert!(
        err.ends_with("fine label 100 out of range 0..99 at record 1"),
        "{err}"
    );
    std::fs::write(&p, cifar_records(&[vec![20, 2]])).unwrap();
    let err = read_cifar100_file(&p).unwrap_err().to_string();
    assert!(
        err.ends_with("coarse label 20 out of range 0..19 at record 0"),
        "{err}"
    );
}

#[test]
fn missing_cifar_names_the_files_the_folders_and_the_download() {
    let root = tmp();
    let err = load_cifar10(root.path(), None).unwrap_err().to_string();
    assert!(
        err.starts_with("CIFAR-10 not found: looked for data_batch_1.bin .. test_batch.bin in"),
        "{err}"
    );
    assert!(err.contains("cifar-10-batches-bin (and"), "{err}");
    assert!(
        err.contains("ccll data fetch cifar10 --from FILE")
            && err.contains("cifar-10-binary.tar.gz"),
        "{err}"
    );
    // One batch missing from an otherwise complete folder.
    let dir = root.path().join("cifar-10-batches-bin");
    write_cifar10(&dir, 1, 1);
    std::fs::remove_file(dir.join("data_batch_3.bin")).unwrap();
    let err = load_cifar10(root.path(), None).unwrap_err().to_string();
    assert!(err.contains("exists but lacks data_batch_3.bin"), "{err}");
    let err = load_cifar100(root.path(), None, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cifar-100-binary.tar.gz"), "{err}");
}
