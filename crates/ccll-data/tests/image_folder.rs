//! Image folders (ImageNet-100 / MS-Celeb-10K layout): decoding, resizing, class ids from
//! sorted folder names, the cache, bad images, and the benchmarks' class-count rules.

mod common;

use ccll_data::image_folder::{list_classes, load_image_folder, FolderOptions};
use ccll_data::{load_benchmark, BenchmarkConfig, DatasetId};
use common::*;

fn options(cache: Option<std::path::PathBuf>) -> FolderOptions {
    FolderOptions {
        size: 8,
        channels: 3,
        skip_bad_images: false,
        cache_dir: cache,
        train_cap: None,
        test_cap: None,
    }
}

#[test]
fn folders_decode_resize_and_label_by_sorted_class_name() {
    let root = tmp();
    let dir = root.path().join("imagenet100");
    write_image_folder(&dir, &["zebra", "ant", "moose"], 3, 2, 16);
    assert_eq!(list_classes(&dir).unwrap(), vec!["ant", "moose", "zebra"]);
    let d = load_image_folder(DatasetId::ImageNet100, &dir, &options(None), None).unwrap();
    assert_eq!(d.train.images.size(), vec![9, 3, 8, 8]);
    assert_eq!(d.test.len(), 6);
    assert_eq!(d.train.labels, vec![0, 0, 0, 1, 1, 1, 2, 2, 2]);
    // The red channel encodes the class (zebra = written as class 0, red 0; ant = 40).
    let red_of = |i: i64| d.train.images.get(i).get(0).double_value(&[0, 0]);
    assert_eq!(red_of(0), 40.0); // ant, a PNG: lossless
    assert_eq!(red_of(6), 0.0); // zebra
                                // Green encodes the image index within its class (PNG images are 0 and 2).
    assert_eq!(d.train.images.get(2).get(1).double_value(&[4, 4]), 60.0);
}

#[test]
fn the_second_load_comes_from_the_cache() {
    let root = tmp();
    let dir = root.path().join("imagenet100");
    write_image_folder(&dir, &["a", "b"], 2, 1, 12);
    let cache = root.path().join(".cache");
    let first = load_image_folder(
        DatasetId::ImageNet100,
        &dir,
        &options(Some(cache.clone())),
        None,
    )
    .unwrap();
    let files: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files
        .iter()
        .any(|f| f.to_string_lossy().starts_with("imagenet100-train-8-")));
    // Overwrite an image with garbage of the same length and modification time: the cache
    // key is unchanged, so a load that succeeds must have come from the cache.
    let victim = dir.join("train/a/img000.png");
    let meta = std::fs::metadata(&victim).unwrap();
    std::fs::write(&victim, vec![0u8; meta.len() as usize]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_modified(meta.modified().unwrap())
        .unwrap();
    let second = load_image_folder(
        DatasetId::ImageNet100,
        &dir,
        &options(Some(cache.clone())),
        None,
    )
    .unwrap();
    assert!(first.train.images.equal(&second.train.images));
    assert_eq!(first.train.labels, second.train.labels);
    // Without the cache the garbage is found.
    assert!(load_image_folder(DatasetId::ImageNet100, &dir, &options(None), None).is_err());
    std::fs::remove_file(&victim).unwrap();
    image::RgbImage::new(12, 12).save(&victim).unwrap();
    // A changed folder (one more image) gives a new cache entry, not stale data.
    image::RgbImage::new(12, 12)
        .save(dir.join("train/a/new.png"))
        .unwrap();
    let third = load_image_folder(
        DatasetId::ImageNet100,
        &dir,
        &options(Some(cache.clone())),
        None,
    )
    .unwrap();
    assert_eq!(third.train.len(), 5);
    assert_eq!(third.train.labels, vec![0, 0, 0, 1, 1]);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 3);
}

#[test]
fn a_corrupt_image_is_named_unless_skipping_is_asked_for() {
    let root = tmp();
    let dir = root.path().join("imagenet100");
    write_image_folder(&dir, &["a", "b"], 2, 1, 12);
    let bad = dir.join("train/b/broken.jpg");
    std::fs::write(&bad, b"\xff\xd8\xff\xe0 this is not a jpeg").unwrap();
    let err = load_image_folder(DatasetId::ImageNet100, &dir, &options(None), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("{}: undecodable image", bad.display())),
        "{err}"
    );
    assert!(err.contains("skip_bad_images: true"), "{err}");
    let mut skip = options(None);
    skip.skip_bad_images = true;
    let d = load_image_folder(DatasetId::ImageNet100, &dir, &skip, None).unwrap();
    assert_eq!(d.train.len(), 4);
    assert_eq!(d.train.labels, vec![0, 0, 1, 1]);
}

#[test]
fn caps_apply_before_decoding_and_wanted_classes_keep_their_ids() {
    let root = tmp();
    let dir = root.path().join("imagenet100");
    write_image_folder(&dir, &["a", "b", "c"], 4, 3, 8);
    let mut o = options(None);
    o.train_cap = Some(2);
    o.test_cap = Some(1);
    let d = load_image_folder(DatasetId::ImageNet100, &dir, &o, Some(&[2, 0])).unwrap();
    assert_eq!(d.train.labels, vec![2, 2, 0, 0]);
    assert_eq!(d.test.labels, vec![2, 0]);
    assert_eq!(d.class_names, vec!["a", "b", "c"]);
}

#[test]
fn missing_val_class_and_empty_class_are_errors() {
    let root = tmp();
    let dir = root.path().join("imagenet100");
    write_image_folder(&dir, &["a", "b"], 1, 1, 8);
    std::fs::remove_dir_all(dir.join("val/b")).unwrap();
    let err = load_image_folder(DatasetId::ImageNet100, &dir, &options(None), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no folder for class `b` (present in train/)"),
        "{err}"
    );
    std::fs::create_dir_all(dir.join("val/b")).unwrap();
    let err = load_image_folder(DatasetId::ImageNet100, &dir, &options(None), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("class folder holds no .jpg, .jpeg or .png images"),
        "{err}"
    );
}

#[test]
fn imagenet100_needs_100_classes_unless_a_subset_is_configured() {
    let root = tmp();
    let classes: Vec<String> = (0..6).map(|i| format!("n{i:08}")).collect();
    let names: Vec<&str> = classes.iter().map(String::as_str).collect();
    write_image_folder(&root.path().join("imagenet100"), &names, 2, 1, 8);
    let err = load_benchmark(&BenchmarkConfig::named("imagenet100"), root.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("needs exactly 100 class folders (10 tasks x 10), found 6 in"),
        "{err}"
    );
    assert!(err.contains("benchmark.tasks"), "{err}");
    let mut cfg = BenchmarkConfig::named("imagenet100");
    cfg.tasks = Some(3);
    cfg.classes_per_task = Some(2);
    cfg.image_size = Some(16);
    let b = load_benchmark(&cfg, root.path()).unwrap();
    assert_eq!(b.tasks.len(), 3);
    assert_eq!(b.image_shape, [3, 16, 16]);
    assert_eq!(b.tasks[2].classes, vec!["n00000004", "n00000005"]);
    assert_eq!(b.tasks[0].train.images.size(), vec![4, 3, 16, 16]);
    assert_eq!(b.augmentation.crop_padding, 2);
    assert!(b.augmentation.horizontal_flip);
    // The cache went under DATA/.cache.
    assert!(root.path().join(".cache").is_dir());
    cfg.tasks = Some(4);
    let err = load_benchmark(&cfg, root.path()).unwrap_err().to_string();
    assert!(
        err.contains("needs 8 classes (4 tasks x 2) but ImageNet-100 has 6"),
        "{err}"
    );
}

#[test]
fn msceleb10k_reads_its_own_folder_or_an_explicit_one() {
    let root = tmp();
    let elsewhere = root.path().join("faces");
    write_image_folder(&elsewhere, &["id1", "id2", "id3", "id4"], 1, 1, 8);
    let mut cfg = BenchmarkConfig::named("msceleb10k");
    cfg.tasks = Some(2);
    cfg.classes_per_task = Some(2);
    let err = load_benchmark(&cfg, root.path()).unwrap_err().to_string();
    assert!(
        err.starts_with("MS-Celeb-10K not found: looked for train, val in"),
        "{err}"
    );
    cfg.dataset_dir = Some(elsewhere);
    cfg.channels = Some(1);
    let b = load_benchmark(&cfg, root.path()).unwrap();
    assert_eq!(b.image_shape, [1, 64, 64]);
    assert_eq!(b.tasks[1].classes, vec!["id3", "id4"]);
    assert_eq!(b.normalization.mean.len(), 1);
}
