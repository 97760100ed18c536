//! The CCLL engine end to end on the synthetic benchmark: zero forgetting, frozen base,
//! variant behaviour, determinism, learning, checkpoints and shared bases.

mod common;

use ccll_core::config::MethodConfig;
use ccll_core::run::{base_key, reevaluate, run, train_base, RunOptions, Session};
use ccll_core::Placement;
use ccll_core::RunConfig;
use ccll_results::RunResult;
use common::{assert_same, exclusive, run_to, snapshot};
use std::collections::BTreeMap;
use tch::Tensor;

const VARIANTS: [&str; 6] = [
    "ccll",
    "ccll_sc",
    "ccll_sf_sc",
    "scm_only",
    "ccm_only",
    "head_only",
];

fn config(method: &str) -> RunConfig {
    let yaml = format!(
        "benchmark: {{name: synthetic, tasks: 3, classes_per_task: 2, image_size: 16, channels: 1,
            train_per_class: 64, test_per_class: 32}}
model: {{arch: convnet, width: 8}}
method: {{name: {method}, alpha: 1, beta: 1}}
train: {{epochs: 4, batch_size: 16, lr: 0.05, seed: 0}}
"
    );
    RunConfig::from_yaml(&yaml, "test.yaml").unwrap()
}

#[test]
fn every_variant_has_exactly_zero_forgetting() {
    let _rng = exclusive();
    for method in VARIANTS {
        let dir = tempfile::tempdir().unwrap();
        let r = run_to(&config(method), dir.path());
        let (acc, loss) = (&r.acc_matrix, &r.loss_matrix);
        assert_eq!(acc.rows(), 3);
        for j in 0..3 {
            for i in j + 1..3 {
                // Bit-identical, not merely close.
                assert_eq!(acc.get(i, j), acc.get(j, j), "{method}: acc[{i}][{j}]");
                assert_eq!(loss.get(i, j), loss.get(j, j), "{method}: loss[{i}][{j}]");
            }
        }
        assert_eq!(r.metrics.bwt, 0.0, "{method}");
        assert_eq!(r.metrics.forgetting, 0.0, "{method}");
    }
}

#[test]
fn base_and_finished_tasks_never_change_after_task_1() {
    let _rng = exclusive();
    for method in VARIANTS {
        let mut s = Session::new(&config(method), None, &Placement::cpu(1)).unwrap();
        s.train(0, &mut |_| {}).unwrap();
        let base = snapshot(&s, "base.");
        let task1 = snapshot(&s, "task1.");
        s.train(1, &mut |_| {}).unwrap();
        let task2 = snapshot(&s, "task2.");
        s.train(2, &mut |_| {}).unwrap();
        assert_same(&base, &snapshot(&s, "base."), method);
        assert_same(&task1, &snapshot(&s, "task1."), method);
        assert_same(&task2, &snapshot(&s, "task2."), method);
    }
}

#[test]
fn scratch_freeze_trains_no_base_parameter() {
    let _rng = exclusive();
    let mut s = Session::new(&config("ccll_sf_sc"), None, &Placement::cpu(1)).unwrap();
    let before = snapshot(&s, "base.");
    s.train(0, &mut |_| {}).unwrap();
    assert_same(&before, &snapshot(&s, "base."), "ccll_sf_sc after task 1");
    assert!(
        !snapshot(&s, "task1.calibration").is_empty(),
        "ccll_sf_sc calibrates task 1 too"
    );
}

/// After task 2 is trained, begin task 3 and compare its fresh calibration with task 2's.
fn calibration_at_start_of_task3(
    method: &str,
) -> (BTreeMap<String, Tensor>, BTreeMap<String, Tensor>) {
    let mut s = Session::new(&config(method), None, &Placement::cpu(1)).unwrap();
    s.train(0, &mut |_| {}).unwrap();
    s.train(1, &mut |_| {}).unwrap();
    s.strategy.begin_task(2).unwrap();
    let strip = |m: BTreeMap<String, Tensor>, p: &str| {
        m.into_iter()
            .map(|(n, t)| (n.trim_start_matches(p).to_string(), t))
            .collect::<BTreeMap<_, _>>()
    };
    (
        strip(snapshot(&s, "task2.calibration"), "task2."),
        strip(snapshot(&s, "task3.calibration"), "task3."),
    )
}

#[test]
fn ccll_continues_from_the_previous_task_and_ccll_sc_starts_fresh() {
    let _rng = exclusive();
    let (prev, start) = calibration_at_start_of_task3("ccll");
    assert_same(&prev, &start, "ccll task 3 starts from task 2");

    let (prev, start) = calibration_at_start_of_task3("ccll_sc");
    let scm: Vec<_> = start.keys().filter(|n| n.ends_with("scm.weight")).collect();
    assert!(!scm.is_empty());
    for n in scm {
        // A fresh SCM is the identity (zero weights); task 2's trained one is not.
        assert_eq!(
            start[n].abs().sum(tch::Kind::Float).double_value(&[]),
            0.0,
            "{n}"
        );
        assert!(
            prev[n].abs().sum(tch::Kind::Float).double_value(&[]) > 0.0,
            "{n}"
        );
    }
}

#[test]
fn a_fixed_seed_on_cpu_gives_the_same_matrix_twice() {
    let _rng = exclusive();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ra = run_to(&config("ccll"), a.path());
    let rb = run_to(&config("ccll"), b.path());
    assert_eq!(ra.acc_matrix, rb.acc_matrix);
    assert_eq!(ra.loss_matrix, rb.loss_matrix);
    let mut other = config("ccll");
    other.train.seed = 1;
    let c = tempfile::tempdir().unwrap();
    assert_ne!(run_to(&other, c.path()).loss_matrix, ra.loss_matrix);
}

#[test]
fn ccll_learns_every_synthetic_task() {
    let _rng = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let r = run_to(&config("ccll"), dir.path());
    for j in 0..3 {
        let a = r.acc_matrix.get(2, j).unwrap();
        assert!(
            a >= 80.0,
            "task {} accuracy {a} is not clearly above chance (50)",
            j + 1
        );
    }
}

#[test]
fn checkpoints_reproduce_the_stored_accuracies_exactly() {
    let _rng = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let r = run_to(&config("ccll"), dir.path());
    let again = reevaluate(dir.path(), None, &Placement::cpu(1)).unwrap();
    let last: Vec<f64> = r.acc_matrix.seen(2);
    assert_eq!(again.iter().map(|x| x.0).collect::<Vec<_>>(), last);
    assert_eq!(
        again.iter().map(|x| x.1).collect::<Vec<_>>(),
        r.loss_matrix.seen(2)
    );
    // The base once, and small per-task files.
    let base = std::fs::metadata(dir.path().join("base.safetensors"))
        .unwrap()
        .len();
    let task2 = std::fs::metadata(dir.path().join("task2.safetensors"))
        .unwrap()
        .len();
    assert!(
        task2 < base,
        "task file {task2} B should be smaller than the base {base} B"
    );
    assert_eq!(r.artifacts.len(), 4, "{:?}", r.artifacts);
}

#[test]
fn a_run_from_a_shared_base_equals_a_run_that_trains_it() {
    let _rng = exclusive();
    let cfg = config("ccll");
    let alone = tempfile::tempdir().unwrap();
    let r1 = run_to(&cfg, alone.path());

    let base = tempfile::tempdir().unwrap();
    let manifest = train_base(&cfg, None, base.path(), &Placement::cpu(1), &mut |_| {}).unwrap();
    assert!(manifest.includes_task1);
    let out = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        placement: Placement::cpu(1),
        data_root: None,
        out_dir: out.path().to_path_buf(),
        base_dir: Some(base.path().to_path_buf()),
    };
    let r2 = run(&cfg, &opts, &mut |_| {}).unwrap();
    assert_eq!(r1.acc_matrix, r2.acc_matrix);
    assert_eq!(r1.loss_matrix, r2.loss_matrix);
    let no_time = |r: &RunResult| {
        r.curves
            .iter()
            .map(|c| (c.task, c.epoch, c.train_loss, c.train_acc, c.lr))
            .collect::<Vec<_>>()
    };
    assert_eq!(no_time(&r1), no_time(&r2));

    // The same base serves other alphas and head_only, not another seed or sf_sc.
    let mut a4 = config("ccll");
    a4.method = MethodConfig::named("ccll", Some(4), None).unwrap();
    assert_eq!(base_key(&a4), base_key(&cfg));
    assert_eq!(base_key(&config("head_only")), base_key(&cfg));
    let mut s1 = config("ccll");
    s1.train.seed = 1;
    assert_ne!(base_key(&s1), base_key(&cfg));
    assert_eq!(base_key(&config("ccll_sf_sc")), None);
}

#[test]
fn alpha_that_does_not_divide_a_layer_is_rejected_with_the_layer_named() {
    let _rng = exclusive();
    let mut cfg = config("ccll");
    cfg.method = MethodConfig::named("ccll", Some(3), None).unwrap();
    let err = Session::new(&cfg, None, &Placement::cpu(1))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "method.alpha: 3 does not divide the 8 channels of layer `conv1`"
    );
}

#[test]
fn a_diverging_loss_stops_the_run_with_a_clear_error() {
    let _rng = exclusive();
    let mut cfg = config("ccll");
    cfg.train.lr = 1e30;
    cfg.train.momentum = 0.0;
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        placement: Placement::cpu(1),
        data_root: None,
        out_dir: dir.path().to_path_buf(),
        base_dir: None,
    };
    let err = run(&cfg, &opts, &mut |_| {}).unwrap_err().to_string();
    assert!(
        err.starts_with("training diverged: the loss became"),
        "{err}"
    );
    assert!(err.contains("lower train.lr"), "{err}");
    assert!(!dir.path().join("result.json").exists());
}

#[test]
fn unknown_method_and_option_are_rejected_with_their_line() {
    let yaml =
        "benchmark: {name: synthetic}\nmodel: {arch: convnet}\nmethod:\n  name: ccll\n  lamda: 3\n";
    let e = RunConfig::from_yaml(yaml, "r.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("r.yaml:5: method.lamda: unknown option for method `ccll`"),
        "{e}"
    );
    let yaml = "benchmark: {name: synthetic}\nmodel: {arch: convnet}\nmethod: {name: cclll}\n";
    let e = RunConfig::from_yaml(yaml, "r.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("r.yaml:3: method.name: unknown method `cclll`; known: ccll,"),
        "{e}"
    );
}

/// The base key leaves the method out (`ccll_core::base_spec`): this is what makes that right.
#[test]
fn every_method_that_shares_bases_trains_the_same_base() {
    let _rng = exclusive();
    let tensors = |method: &str| {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config("ccll");
        cfg.method = MethodConfig::named(method, Some(2), None).unwrap();
        train_base(&cfg, None, dir.path(), &Placement::cpu(1), &mut |_| {}).unwrap();
        ["base.safetensors", "task1.safetensors"].map(|f| {
            let mut t = Tensor::read_safetensors(dir.path().join(f)).unwrap();
            t.sort_by(|a, b| a.0.cmp(&b.0));
            t
        })
    };
    let reference = tensors("ccll");
    for method in ccll_core::strategy::methods()
        .into_iter()
        .filter(|m| m.shares_base && m.name != "ccll")
    {
        for (ours, theirs) in tensors(method.name).iter().zip(&reference) {
            assert_eq!(ours.len(), theirs.len(), "{}", method.name);
            for ((n1, a), (n2, b)) in ours.iter().zip(theirs) {
                assert_eq!(n1, n2, "{}", method.name);
                assert!(a.equal(b), "{}: {n1} differs from ccll's", method.name);
            }
        }
    }
}
