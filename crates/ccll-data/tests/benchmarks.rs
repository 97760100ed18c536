//! Task sequences built from generated MNIST-layout files: class assignment, counts, local
//! labels, class-order shuffling, caps, validation holdout, shape conversion, config checks.

mod common;

use ccll_data::{
    benchmark_image_shape, check_compatible, check_compatible_configs, load_benchmark,
    BenchmarkConfig, ClassOrder,
};
use common::*;

/// A data root with MNIST (20 train / 5 test per class) and Fashion-MNIST (4 / 2 per class).
fn root() -> tempfile::TempDir {
    let root = tmp();
    write_mnist_like(&root.path().join("mnist"), 20, 5, false);
    write_mnist_like(&root.path().join("fashion-mnist"), 4, 2, true);
    root
}

fn labels(t: &tch::Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t).unwrap()
}

/// The file index of each image of a split, recovered from its first pixel.
fn image_ids(s: &ccll_data::Split) -> Vec<usize> {
    let first = Vec::<u8>::try_from(s.images.flatten(1, -1).select(1, 0)).unwrap();
    first
        .iter()
        .map(|&p| (0..251).find(|&i| pixel(i, 0) == p).unwrap())
        .collect()
}

#[test]
fn split_mnist_deals_digit_pairs_with_local_labels() {
    let root = root();
    let b = load_benchmark(&BenchmarkConfig::named("split_mnist"), root.path()).unwrap();
    assert_eq!(b.name, "split_mnist");
    assert_eq!(b.tasks.len(), 5);
    assert_eq!(b.image_shape, [1, 28, 28]);
    for (t, task) in b.tasks.iter().enumerate() {
        assert_eq!(task.name, format!("task{}", t + 1));
        assert_eq!(
            task.classes,
            vec![(2 * t).to_string(), (2 * t + 1).to_string()]
        );
        assert_eq!(task.train.len(), 40);
        assert_eq!(task.test.len(), 10);
        assert_eq!(task.train.images.size(), vec![40, 1, 28, 28]);
        let l = labels(&task.train.labels);
        assert_eq!(l.iter().filter(|&&x| x == 0).count(), 20);
        assert_eq!(l.iter().filter(|&&x| x == 1).count(), 20);
        assert!(task.val.is_none());
    }
    // Task 2 holds file images 2, 3, 12, 13, ... (labels cycle 0..9) in file order.
    let ids = image_ids(&b.tasks[1].train);
    assert_eq!(ids[..4], [2, 3, 12, 13]);
    assert_eq!(labels(&b.tasks[1].train.labels)[..4], [0, 1, 0, 1]);
    assert!(b.augmentation.is_none());
    assert_eq!(b.normalization.mean, vec![0.1307]);
}

#[test]
fn shuffled_class_order_is_a_seeded_permutation() {
    let root = root();
    let order = |seed: u64| {
        let mut cfg = BenchmarkConfig::named("split_mnist");
        cfg.class_order = ClassOrder::Shuffled;
        cfg.class_order_seed = seed;
        load_benchmark(&cfg, root.path())
            .unwrap()
            .tasks
            .iter()
            .flat_map(|t| t.classes.clone())
            .collect::<Vec<_>>()
    };
    let a = order(1);
    assert_eq!(a, order(1));
    assert_ne!(a, order(2));
    let natural: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    assert_ne!(a, natural);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, natural);
}

#[test]
fn validation_holdout_is_stratified_sized_and_disjoint() {
    let root = root();
    let mut cfg = BenchmarkConfig::named("split_mnist");
    cfg.validation_fraction = 0.25;
    let b = load_benchmark(&cfg, root.path()).unwrap();
    for task in &b.tasks {
        let val = task.val.as_ref().unwrap();
        assert_eq!(val.len(), 10);
        assert_eq!(task.train.len(), 30);
        let vl = labels(&val.labels);
        assert_eq!(vl.iter().filter(|&&x| x == 0).count(), 5);
        let train_ids = image_ids(&task.train);
        assert!(image_ids(val).iter().all(|i| !train_ids.contains(i)));
    }
    // Same seed, same holdout.
    let again = load_benchmark(&cfg, root.path()).unwrap();
    assert!(b.tasks[2]
        .val
        .as_ref()
        .unwrap()
        .images
        .equal(&again.tasks[2].val.as_ref().unwrap().images));
    cfg.class_order_seed = 9;
    let other = load_benchmark(&cfg, root.path()).unwrap();
    assert_ne!(
        image_ids(b.tasks[2].val.as_ref().unwrap()),
        image_ids(other.tasks[2].val.as_ref().unwrap())
    );
}

#[test]
fn caps_keep_the_first_images_of_each_class() {
    let root = root();
    let mut cfg = BenchmarkConfig::named("split_mnist");
    cfg.per_class_cap = Some(3);
    cfg.test_per_class_cap = Some(1);
    let b = load_benchmark(&cfg, root.path()).unwrap();
    assert_eq!(b.tasks[0].train.len(), 6);
    assert_eq!(b.tasks[0].test.len(), 2);
    assert_eq!(image_ids(&b.tasks[0].train), vec![0, 1, 10, 11, 20, 21]);
}

#[test]
fn fashion_then_mnist_pairs() {
    let root = root();
    let b = load_benchmark(
        &BenchmarkConfig::named("fashion_mnist_to_mnist"),
        root.path(),
    )
    .unwrap();
    assert_eq!(b.tasks.len(), 6);
    assert_eq!(b.tasks[0].classes.len(), 10);
    assert_eq!(b.tasks[0].classes[9], "Ankle boot");
    assert_eq!(b.tasks[0].train.len(), 40);
    assert_eq!(b.tasks[0].test.len(), 20);
    let pairs: Vec<Vec<String>> = b.tasks[1..].iter().map(|t| t.classes.clone()).collect();
    assert_eq!(pairs[0], vec!["0", "1"]);
    assert_eq!(pairs[4], vec!["8", "9"]);
    assert_eq!(b.tasks[3].train.len(), 40);
    // Pooled statistics lie between the two datasets'.
    assert!(b.normalization.mean[0] > 0.1307 && b.normalization.mean[0] < 0.2860);
}

#[test]
fn whole_datasets_are_one_task_for_base_pretraining() {
    let root = root();
    let b = load_benchmark(&BenchmarkConfig::named("fashion_mnist"), root.path()).unwrap();
    assert_eq!(b.tasks.len(), 1);
    assert_eq!(b.tasks[0].classes.len(), 10);
    assert_eq!(b.tasks[0].train.len(), 40);
    let l = labels(&b.tasks[0].train.labels);
    assert_eq!(l[..10], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn image_size_and_channels_convert_at_load_time() {
    let root = root();
    let mut cfg = BenchmarkConfig::named("mnist");
    cfg.image_size = Some(32);
    cfg.channels = Some(3);
    let b = load_benchmark(&cfg, root.path()).unwrap();
    assert_eq!(b.image_shape, [3, 32, 32]);
    assert_eq!(b.tasks[0].train.images.size(), vec![200, 3, 32, 32]);
    assert_eq!(b.tasks[0].train.images.kind(), tch::Kind::Uint8);
    assert_eq!(b.normalization.mean, vec![0.1307; 3]);
    assert_eq!(benchmark_image_shape(&cfg).unwrap(), [3, 32, 32]);
    let svhn = BenchmarkConfig::named("split_svhn");
    assert!(check_compatible_configs(&cfg, &svhn).is_ok());
    let plain = load_benchmark(&BenchmarkConfig::named("split_mnist"), root.path()).unwrap();
    let err = check_compatible(&b, &plain).unwrap_err().to_string();
    assert!(
        err.contains("base source `mnist` yields images [3, 32, 32]"),
        "{err}"
    );
    assert!(err.contains("`split_mnist` yields [1, 28, 28]"), "{err}");
}

#[test]
fn augment_turns_on_a_small_crop_without_flips_for_digits() {
    let root = root();
    let mut cfg = BenchmarkConfig::named("split_fashion_mnist");
    cfg.augment = Some(true);
    let b = load_benchmark(&cfg, root.path()).unwrap();
    assert_eq!(b.augmentation.crop_padding, 2);
    assert!(!b.augmentation.horizontal_flip);
}

#[test]
fn config_data_root_wins_and_keys_are_checked() {
    let root = root();
    let mut cfg = BenchmarkConfig::named("split_mnist");
    cfg.data_root = Some(root.path().to_path_buf());
    assert!(load_benchmark(&cfg, std::path::Path::new("/nonexistent")).is_ok());

    let reject = |cfg: BenchmarkConfig, needle: &str| {
        let err = load_benchmark(&cfg, root.path()).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    };
    let mut c = BenchmarkConfig::named("split_mnist");
    c.train_per_class = Some(5);
    reject(c, "for `synthetic` only");
    let mut c = BenchmarkConfig::named("fashion_mnist_to_mnist");
    c.tasks = Some(2);
    reject(c, "fixed for this benchmark");
    let mut c = BenchmarkConfig::named("split_mnist");
    c.coarse_labels = true;
    reject(c, "coarse_labels applies to `cifar100` only");
    let mut c = BenchmarkConfig::named("split_mnist");
    c.skip_bad_images = true;
    reject(c, "image-folder benchmarks");
    let mut c = BenchmarkConfig::named("split_mnist");
    c.validation_fraction = 1.0;
    reject(c, "validation_fraction must be in [0, 1)");
    let mut c = BenchmarkConfig::named("split_mnist");
    c.tasks = Some(6);
    reject(c, "needs 12 classes (6 tasks x 2) but MNIST has 10");
    let mut c = BenchmarkConfig::named("split_mnist");
    c.channels = Some(2);
    reject(c, "channels must be 1 or 3");
    reject(
        BenchmarkConfig::named("split_cifar"),
        "unknown benchmark `split_cifar`; known: synthetic, split_mnist",
    );

    let mut c = BenchmarkConfig::named("split_mnist");
    c.tasks = Some(2);
    c.classes_per_task = Some(3);
    let b = load_benchmark(&c, root.path()).unwrap();
    assert_eq!(b.tasks[1].classes, vec!["3", "4", "5"]);
}

#[test]
fn config_keys_deserialize_and_unknown_ones_are_rejected() {
    let cfg: BenchmarkConfig = serde_json::from_str(
        r#"{"name": "cifar100", "coarse_labels": true, "dataset_dir": "/x", "class_order": "shuffled"}"#,
    )
    .unwrap();
    assert!(cfg.coarse_labels);
    assert_eq!(cfg.class_order, ClassOrder::Shuffled);
    let err = serde_json::from_str::<BenchmarkConfig>(r#"{"name": "mnist", "skip_bad": true}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `skip_bad`"), "{err}");
    // Defaults are not written back out.
    let json = serde_json::to_string(&BenchmarkConfig::named("mnist")).unwrap();
    assert!(
        !json.contains("skip_bad_images") && !json.contains("coarse_labels"),
        "{json}"
    );
}

#[test]
fn info_describes_tasks_counts_shape_and_source() {
    let root = root();
    let mut cfg = BenchmarkConfig::named("split_mnist");
    cfg.validation_fraction = 0.1;
    let info = ccll_data::info::describe(&cfg, root.path()).unwrap();
    assert_eq!(info.image_shape, [1, 28, 28]);
    assert_eq!(info.tasks.len(), 5);
    assert_eq!(info.tasks[0].classes, vec!["0", "1"]);
    assert_eq!(
        (info.tasks[0].train, info.tasks[0].test, info.tasks[0].val),
        (36, 10, Some(4))
    );
    assert!(info.source.contains("mnist"));
    let text = info.to_text();
    assert!(
        text.starts_with("benchmark split_mnist: 5 task(s), images 1 x 28 x 28"),
        "{text}"
    );
    assert!(
        text.contains("task1          36       10        4  0, 1"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::to_value(&info).unwrap();
    assert_eq!(json["tasks"][4]["classes"][1], "9");
    assert_eq!(json["augmentation"]["crop_padding"], 0);
}
