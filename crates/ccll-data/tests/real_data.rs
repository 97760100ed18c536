//! The real MNIST and Fashion-MNIST, once fetched (`ccll data fetch all`; CI runs setup.sh,
//! which fetches them). Skipped, with the reason printed, when the files are absent; a
//! present but corrupt file fails.

use ccll_data::fetch::{self, Dataset, FetchAction};
use ccll_data::idx::load_idx_dataset;
use ccll_data::splits::class_counts;
use ccll_data::{load_benchmark, BenchmarkConfig, DataError, DatasetId, RawDataset};
use std::path::PathBuf;

/// `$CCLL_DATA`, else the workspace's `data/`.
fn data_root() -> PathBuf {
    match std::env::var_os("CCLL_DATA") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data")),
    }
}

fn load(id: DatasetId, fetch_name: &str) -> Option<RawDataset> {
    match load_idx_dataset(id, &data_root(), None) {
        Ok(d) => Some(d),
        Err(DataError::NotFound { .. }) => {
            eprintln!(
                "skipping: {} is not in {} (run `ccll data fetch {fetch_name}`)",
                id.display_name(),
                data_root().display()
            );
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn real_mnist_has_60000_train_and_10000_test_images_of_10_digits() {
    let start = std::time::Instant::now();
    let Some(d) = load(DatasetId::Mnist, "mnist") else {
        return;
    };
    eprintln!("MNIST loaded in {:.2?}", start.elapsed());
    assert_eq!(d.train.images.size(), vec![60_000, 1, 28, 28]);
    assert_eq!(d.test.images.size(), vec![10_000, 1, 28, 28]);
    assert_eq!(
        class_counts(&d.train, 10),
        vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        class_counts(&d.test, 10),
        vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert_eq!(d.train.labels[..8], [5, 0, 4, 1, 9, 2, 1, 3]);
    // The mean pixel matches the normalisation constant.
    let mean = d
        .train
        .images
        .to_kind(tch::Kind::Double)
        .mean(tch::Kind::Double)
        .double_value(&[])
        / 255.0;
    assert!((mean - 0.1307).abs() < 1e-3, "{mean}");
}

#[test]
fn real_fashion_mnist_has_6000_train_and_1000_test_images_per_class() {
    let Some(d) = load(DatasetId::FashionMnist, "fashion-mnist") else {
        return;
    };
    assert_eq!(d.train.images.size(), vec![60_000, 1, 28, 28]);
    assert_eq!(d.test.images.size(), vec![10_000, 1, 28, 28]);
    assert_eq!(class_counts(&d.train, 10), vec![6000; 10]);
    assert_eq!(class_counts(&d.test, 10), vec![1000; 10]);
    assert_eq!(d.train.labels[..4], [9, 0, 0, 3]);
}

#[test]
fn real_split_benchmarks_have_the_right_classes_and_counts() {
    let root = data_root();
    if load(DatasetId::Mnist, "mnist").is_none()
        || load(DatasetId::FashionMnist, "fashion-mnist").is_none()
    {
        return;
    }
    let b = load_benchmark(&BenchmarkConfig::named("split_mnist"), &root).unwrap();
    let counts: Vec<(usize, usize)> = b
        .tasks
        .iter()
        .map(|t| (t.train.len(), t.test.len()))
        .collect();
    assert_eq!(
        counts,
        vec![
            (12665, 2115),
            (12089, 2042),
            (11263, 1874),
            (12183, 1986),
            (11800, 1983)
        ]
    );
    assert_eq!(b.tasks[4].classes, vec!["8", "9"]);

    let f = load_benchmark(&BenchmarkConfig::named("split_fashion_mnist"), &root).unwrap();
    assert_eq!(f.tasks.len(), 5);
    assert_eq!(f.tasks[0].classes, vec!["T-shirt/top", "Trouser"]);
    assert!(f
        .tasks
        .iter()
        .all(|t| t.train.len() == 12_000 && t.test.len() == 2_000));

    let mut cfg = BenchmarkConfig::named("fashion_mnist_to_mnist");
    cfg.validation_fraction = 0.1;
    let fm = load_benchmark(&cfg, &root).unwrap();
    assert_eq!(fm.tasks.len(), 6);
    assert_eq!(
        (fm.tasks[0].train.len(), fm.tasks[0].test.len()),
        (54_000, 10_000)
    );
    assert_eq!(fm.tasks[0].val.as_ref().map(|v| v.len()), Some(6_000));
    assert_eq!(fm.tasks[1].classes, vec!["0", "1"]);
    assert_eq!(
        fm.tasks[1].train.len() + fm.tasks[1].val.as_ref().unwrap().len(),
        12_665
    );
}

#[test]
fn fetching_what_is_present_does_nothing() {
    let root = data_root();
    for d in Dataset::ALL {
        if fetch::verify_installed(d, &root).is_none() {
            eprintln!(
                "skipping: {} is not fetched in {} (run `ccll data fetch {}`)",
                d.name(),
                root.display(),
                d.name()
            );
            continue;
        }
        let report = fetch::fetch(d, &root).unwrap();
        assert_eq!(report.action, FetchAction::AlreadyPresent);
        assert_eq!(report.files.len(), 4);
    }
}
