//! A sweep whose data is missing starts nothing: it names the dataset, the runs that need it,
//! how to get the files, and the study's profiles whose data is here.

mod common;

use common::Sandbox;

const STUDY: &str = "\
name: needs_data
defaults:
  benchmark: {name: split_mnist, per_class_cap: 20, test_per_class_cap: 20}
  model: {arch: convnet, width: 4}
  method: {name: ccll}
  train: {epochs: 1, batch_size: 16}
grid:
  train.seed: [0, 1]
profiles:
  offline:
    defaults:
      benchmark: {name: synthetic, tasks: 2}
";

#[test]
fn missing_data_stops_the_sweep_before_anything_starts() {
    let sb = Sandbox::new();
    let study = sb.dir.path().join("needs_data.yaml");
    std::fs::write(&study, STUDY).unwrap();
    let empty = sb.dir.path().join("no-data");
    std::fs::create_dir_all(&empty).unwrap();
    let out = sb
        .sweep(&study, &["--data-root", empty.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the data of 2 run(s) is missing; nothing was started"),
        "{err}"
    );
    assert!(
        err.contains("2 run(s) (ccll seed=0, ccll seed=1): MNIST not found"),
        "{err}"
    );
    assert!(err.contains("ccll data fetch mnist"), "{err}");
    assert!(
        err.contains("profiles of this study whose data is here: offline"),
        "{err}"
    );
    // Nothing registered, no run folder made.
    assert!(!sb.db().exists());
    assert!(!sb.runs().join("needs_data").exists());
    // A dry run still prints the plan, with a warning.
    let out = sb
        .sweep(
            &study,
            &["--data-root", empty.to_str().unwrap(), "--dry-run"],
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: 2 run(s) would fail now: MNIST not found"),
        "{err}"
    );
}
