//! `ccll data fetch cifar10 --from FILE`: archives of both accepted formats, generated here,
//! round-trip pixels and labels into the original binary layout; wrong hashes, truncated
//! archives and foreign folders are refused with the file named and nothing installed. The
//! shared JPEG copy, once imported (`.ci/run` does it), is checked in full.

mod common;

use ccll_data::cifar::load_cifar10;
use ccll_data::cifar_import::{import_cifar10, read_provenance, ArchiveKind, INSTALL_DIR};
use ccll_data::fetch::sha256_file;
use ccll_data::{load_benchmark, BenchmarkConfig, CIFAR10_CLASSES};
use common::*;
use std::path::{Path, PathBuf};

fn tar_gz(path: &Path, files: &[(String, Vec<u8>)]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut b = tar::Builder::new(gz);
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        b.append_data(&mut header, name, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

/// A distinct 32 x 32 RGB picture for (class, index): HWC bytes.
fn picture(class: usize, index: usize) -> Vec<u8> {
    (0..32 * 32 * 3)
        .map(|j| ((j * 7 + class * 31 + index * 13) % 251) as u8)
        .collect()
}

fn png(hwc: &[u8]) -> Vec<u8> {
    let img = image::RgbImage::from_raw(32, 32, hwc.to_vec()).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// An image-folder archive (lossless PNG, so pixels compare exactly) with `train` and `test`
/// images per class, under a top folder as the shared archive has.
fn folder_archive(dir: &Path, train: usize, test: usize) -> PathBuf {
    let mut files = Vec::new();
    for (split, n) in [("train", train), ("test", test)] {
        for (c, class) in CIFAR10_CLASSES.iter().enumerate() {
            for i in 0..n {
                let offset = if split == "test" { 100 } else { 0 };
                files.push((
                    format!("cifar10/{split}/{class}/{i:04}.png"),
                    png(&picture(c, i + offset)),
                ));
            }
        }
    }
    let path = dir.join("cifar10-folders.tar.gz");
    tar_gz(&path, &files);
    path
}

/// An archive in the official binary layout, records made by the shared test helper.
fn binary_archive(dir: &Path) -> PathBuf {
    let staging = dir.join("staging");
    write_cifar10(&staging, 3, 4);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&staging).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        files.push((format!("{INSTALL_DIR}/{name}"), std::fs::read(&p).unwrap()));
    }
    files.push((
        format!("{INSTALL_DIR}/batches.meta.txt"),
        CIFAR10_CLASSES.join("\n").into_bytes(),
    ));
    let path = dir.join("cifar-10-binary.tar.gz");
    tar_gz(&path, &files);
    path
}

/// CHW bytes of `picture` (CIFAR's planar layout).
fn planar(hwc: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; hwc.len()];
    for i in 0..1024 {
        for c in 0..3 {
            out[c * 1024 + i] = hwc[i * 3 + c];
        }
    }
    out
}

#[test]
fn an_image_folder_archive_becomes_binary_batches_with_pixels_labels_and_provenance() {
    let tmp = tmp();
    let archive = folder_archive(tmp.path(), 3, 2);
    let root = tmp.path().join("data");
    let sha = sha256_file(&archive).unwrap();
    let report = import_cifar10(&archive, &root, Some(&sha)).unwrap();
    assert!(!report.already_present);
    assert_eq!((report.train_images, report.test_images), (30, 20));
    let d = load_cifar10(&root, None).unwrap();
    assert_eq!(d.train.images.size(), vec![30, 3, 32, 32]);
    // Classes interleaved: record k is image k / 10 of class k % 10, in CIFAR-10's order.
    assert_eq!(d.train.labels[..12], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    for k in [0usize, 13, 29] {
        let got = Vec::<u8>::try_from(d.train.images.get(k as i64).flatten(0, -1)).unwrap();
        assert_eq!(got, planar(&picture(k % 10, k / 10)), "train record {k}");
    }
    let got = Vec::<u8>::try_from(d.test.images.get(7).flatten(0, -1)).unwrap();
    assert_eq!(got, planar(&picture(7, 100)));
    // The provenance says the pixels are not the original ones, and the loader says so too.
    let p = read_provenance(&root.join(INSTALL_DIR)).unwrap();
    assert_eq!(p.kind, ArchiveKind::JpegFolders);
    assert!(!p.original_pixels);
    assert_eq!(p.archive_sha256, sha);
    assert!(
        d.source.contains("derived from the JPEG copy"),
        "{}",
        d.source
    );
    let bench = load_benchmark(&BenchmarkConfig::named("split_cifar10"), &root).unwrap();
    assert_eq!(bench.tasks.len(), 5);
    assert!(bench.source.contains("pixels differ from the original"));
    // A second import of the same archive changes nothing.
    let again = import_cifar10(&archive, &root, Some(&sha)).unwrap();
    assert!(again.already_present, "{}", again.summary());
}

#[test]
fn the_official_binary_archive_is_installed_as_it_is() {
    let tmp = tmp();
    let archive = binary_archive(tmp.path());
    let root = tmp.path().join("data");
    let sha = sha256_file(&archive).unwrap();
    import_cifar10(&archive, &root, Some(&sha)).unwrap();
    for f in ["data_batch_1.bin", "data_batch_5.bin", "test_batch.bin"] {
        assert_eq!(
            std::fs::read(root.join(INSTALL_DIR).join(f)).unwrap(),
            std::fs::read(tmp.path().join("staging").join(f)).unwrap(),
            "{f}"
        );
    }
    let d = load_cifar10(&root, None).unwrap();
    assert_eq!(d.train.len(), 15);
    let p = read_provenance(&root.join(INSTALL_DIR)).unwrap();
    assert!(p.original_pixels);
    assert_eq!(p.kind, ArchiveKind::OfficialBinary);
}

#[test]
fn an_unknown_or_wrong_checksum_is_refused_naming_the_file_and_installs_nothing() {
    let tmp = tmp();
    let archive = folder_archive(tmp.path(), 1, 1);
    let root = tmp.path().join("data");
    let unknown = import_cifar10(&archive, &root, None)
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("cifar10-folders.tar.gz"), "{unknown}");
    assert!(
        unknown.contains("not a known CIFAR-10 archive"),
        "{unknown}"
    );
    assert!(unknown.contains("d34c68f61cca57aa"), "{unknown}");
    assert!(unknown.contains("--sha256"), "{unknown}");
    let wrong = import_cifar10(&archive, &root, Some(&"0".repeat(64)))
        .unwrap_err()
        .to_string();
    assert!(
        wrong.contains("cifar10-folders.tar.gz") && wrong.contains("expected 0000"),
        "{wrong}"
    );
    assert!(!root.join(INSTALL_DIR).exists());
}

#[test]
fn a_truncated_archive_is_refused_naming_the_file() {
    let tmp = tmp();
    let archive = binary_archive(tmp.path());
    let bytes = std::fs::read(&archive).unwrap();
    let cut = tmp.path().join("cut.tar.gz");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let root = tmp.path().join("data");
    // Against the pinned hashes the truncated file simply is not a known archive ...
    let err = import_cifar10(&cut, &root, None).unwrap_err().to_string();
    assert!(
        err.contains("cut.tar.gz") && err.contains("truncated"),
        "{err}"
    );
    // ... and even with its own hash given, reading it fails with the file named.
    let sha = sha256_file(&cut).unwrap();
    let err = import_cifar10(&cut, &root, Some(&sha))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cut.tar.gz"), "{err}");
    assert!(err.contains("truncated"), "{err}");
    assert!(!root.join(INSTALL_DIR).exists());
}

#[test]
fn a_folder_that_is_not_a_cifar10_class_is_named() {
    let tmp = tmp();
    let archive = tmp.path().join("odd.tar.gz");
    tar_gz(
        &archive,
        &[
            ("x/train/airplane/0.png".into(), png(&picture(0, 0))),
            ("x/train/zebra/0.png".into(), png(&picture(1, 0))),
        ],
    );
    let sha = sha256_file(&archive).unwrap();
    let err = import_cifar10(&archive, &tmp.path().join("data"), Some(&sha))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("odd.tar.gz") && err.contains("train/zebra"),
        "{err}"
    );
}

#[test]
fn an_image_of_the_wrong_size_is_named_by_its_path_in_the_archive() {
    let tmp = tmp();
    let archive = tmp.path().join("big.tar.gz");
    let mut files = Vec::new();
    for split in ["train", "test"] {
        for class in CIFAR10_CLASSES {
            files.push((format!("{split}/{class}/0.png"), png(&picture(0, 0))));
        }
    }
    let big = image::RgbImage::new(40, 40);
    let mut out = std::io::Cursor::new(Vec::new());
    big.write_to(&mut out, image::ImageFormat::Png).unwrap();
    files.push(("train/cat/1.png".into(), out.into_inner()));
    tar_gz(&archive, &files);
    let sha = sha256_file(&archive).unwrap();
    let err = import_cifar10(&archive, &tmp.path().join("data"), Some(&sha))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("train/cat/1.png") && err.contains("40x40"),
        "{err}"
    );
}

/// The shared JPEG copy as `.ci/run` imports it: all 60,000 images, CIFAR-10's counts.
#[test]
fn the_imported_shared_copy_has_all_of_cifar10_and_says_it_is_derived() {
    let root = match std::env::var_os("CCLL_DATA") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data")),
    };
    let Some(p) = read_provenance(&root.join(INSTALL_DIR)) else {
        eprintln!(
            "SKIPPED: no imported CIFAR-10 in {} (run `ccll data fetch cifar10 --from ../shared/data/cifar10-jpeg-q75.tar.gz`; .ci/run does when ../shared/data has it)",
            root.display()
        );
        return;
    };
    let d = load_cifar10(&root, None).unwrap();
    assert_eq!(d.train.images.size(), vec![50_000, 3, 32, 32]);
    assert_eq!(d.test.len(), 10_000);
    assert_eq!(
        ccll_data::splits::class_counts(&d.train, 10),
        vec![5000; 10]
    );
    if !p.original_pixels {
        assert!(d.source.contains("JPEG"), "{}", d.source);
    }
    // The mean pixel is CIFAR-10's (the normalisation constants), JPEG or not.
    let mean = d
        .train
        .images
        .to_kind(tch::Kind::Double)
        .mean(tch::Kind::Double)
        .double_value(&[])
        / 255.0;
    assert!((mean - 0.4734).abs() < 0.01, "{mean}");
}
