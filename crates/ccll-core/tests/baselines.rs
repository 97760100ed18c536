//! The baselines beside CCLL on the synthetic benchmark: forgetting (finetune forgets, EWC
//! less, CCLL, separate networks and PNN not at all), frozen PNN columns, parameter growth
//! from the real modules, checkpoints that reproduce a run's accuracies and let it go on, and
//! shared bases.

mod common;

use ccll_core::run::param_report_for;
use ccll_core::run::{reevaluate, run, train_base, RunOptions, Session};
use ccll_core::strategy::build_strategy;
use ccll_core::Placement;
use ccll_core::RunConfig;
use ccll_results::RunResult;
use common::{assert_same, exclusive, run_to, snapshot};
use std::collections::BTreeMap;
use tch::{Device, Tensor};

const BASELINES: [&str; 8] = [
    "finetune", "joint", "separate", "ewc", "lwf", "pnn", "dgr", "hnet",
];

/// Three 5-way synthetic tasks of 32 training images per class, 12 epochs each: every method
/// learns every task, and a shared trunk moves far enough from task 1 for finetune to forget.
/// `method` is the YAML of the method section's body.
fn config(method: &str) -> RunConfig {
    let yaml = format!(
        "benchmark: {{name: synthetic, tasks: 3, classes_per_task: 5, image_size: 16, channels: 1,
            train_per_class: 32, test_per_class: 32}}
model: {{arch: convnet, width: 8}}
method: {{name: {method}}}
train: {{epochs: 12, batch_size: 16, lr: 0.05, seed: 0}}
"
    );
    RunConfig::from_yaml(&yaml, "test.yaml").unwrap()
}

fn show(name: &str, r: &RunResult) {
    let rows: Vec<String> = (0..r.acc_matrix.rows())
        .map(|i| format!("{:?}", r.acc_matrix.seen(i)))
        .collect();
    println!(
        "{name:>9}: ACC {:6.2} BWT {:7.2} forgetting {:6.2}  rows {}",
        r.metrics.acc,
        r.metrics.bwt,
        r.metrics.forgetting,
        rows.join(" ")
    );
}

/// A whole run of `method` on the test sequence, printed, with the folder of its files.
fn run_shown(method: &str) -> (RunResult, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let r = run_to(&config(method), dir.path());
    show(method, &r);
    (r, dir)
}

/// Every method once: the comparison the paper makes, and the checkpoints of each run.
#[test]
fn baselines_side_by_side_with_ccll() {
    let _rng = exclusive();
    let mut results = BTreeMap::new();
    // EWC with its default lambda (5000): large next to the Fisher of this small network.
    for method in [
        "ccll", "finetune", "joint", "separate", "ewc", "lwf", "pnn", "dgr",
    ] {
        let name = method.split(',').next().unwrap().to_string();
        let dir = tempfile::tempdir().unwrap();
        let r = run_to(&config(method), dir.path());
        show(&name, &r);
        assert_eq!(r.acc_matrix.rows(), 3, "{name}");
        // The checkpoints reproduce the last row exactly (accuracy and loss).
        let again = reevaluate(dir.path(), None, &Placement::cpu(1)).unwrap();
        assert_eq!(
            again.iter().map(|x| x.0).collect::<Vec<_>>(),
            r.acc_matrix.seen(2),
            "{name}: reloaded accuracies"
        );
        assert_eq!(
            again.iter().map(|x| x.1).collect::<Vec<_>>(),
            r.loss_matrix.seen(2),
            "{name}: reloaded losses"
        );
        results.insert(name, r);
    }
    let m = |n: &str| &results[n].metrics;
    assert!(m("finetune").bwt < 0.0, "finetune forgets");
    assert_eq!(m("ccll").bwt, 0.0, "ccll cannot forget");
    assert!(
        m("ewc").forgetting < m("finetune").forgetting,
        "ewc with a large lambda forgets less than finetune"
    );
    for n in ["separate", "pnn"] {
        let acc = &results[n].acc_matrix;
        for j in 0..3 {
            for i in j + 1..3 {
                assert_eq!(acc.get(i, j), acc.get(j, j), "{n}: acc[{i}][{j}]");
            }
        }
    }
    for (n, r) in &results {
        for j in 0..3 {
            let a = r.acc_matrix.get(j, j).unwrap();
            assert!(a > 70.0, "{n}: task {} learnt to only {a}%", j + 1);
        }
    }
}

/// Without clipping, a huge lambda makes SGD diverge on the penalty at task 2; with the
/// default clipping the same lambda trains every task and forgets less than finetune.
#[test]
fn ewc_importance_clipping_keeps_a_huge_lambda_stable() {
    let _rng = exclusive();
    let mut s = Session::new(
        &config("ewc, lambda: 1.0e7, clip_importance: false"),
        None,
        &Placement::cpu(1),
    )
    .unwrap();
    s.train(0, &mut |_| {}).unwrap();
    let err = s.train(1, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("diverged") && err.contains("task 2"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let huge = run_to(&config("ewc, lambda: 1.0e7"), dir.path());
    show("ewc 1e7", &huge);
    let dir = tempfile::tempdir().unwrap();
    let finetune = run_to(&config("finetune"), dir.path());
    assert!(huge.metrics.forgetting < finetune.metrics.forgetting);
    for j in 0..3 {
        assert!(huge.acc_matrix.get(j, j).unwrap() > 70.0, "task {}", j + 1);
    }
}

#[test]
fn pnn_and_separate_never_change_a_finished_task() {
    let _rng = exclusive();
    for (method, net) in [("pnn", "column"), ("separate", "network")] {
        let mut s = Session::new(&config(method), None, &Placement::cpu(1)).unwrap();
        s.train(0, &mut |_| {}).unwrap();
        let col1 = snapshot(&s, &format!("{net}1."));
        let head1 = snapshot(&s, "task1.");
        s.train(1, &mut |_| {}).unwrap();
        let col2 = snapshot(&s, &format!("{net}2."));
        let head2 = snapshot(&s, "task2.");
        s.train(2, &mut |_| {}).unwrap();
        assert_same(&col1, &snapshot(&s, &format!("{net}1.")), method);
        assert_same(&head1, &snapshot(&s, "task1."), method);
        assert_same(&col2, &snapshot(&s, &format!("{net}2.")), method);
        assert_same(&head2, &snapshot(&s, "task2."), method);
        if method == "pnn" {
            // Column 3 has adapters from columns 1 and 2 into every stage after the first.
            let lat: Vec<String> = snapshot(&s, "column3.lateral.").into_keys().collect();
            assert_eq!(lat.len(), 2 * 2 * 2, "{lat:?}");
        }
    }
}

#[test]
fn finetune_moves_the_trunk_and_freezes_old_heads() {
    let _rng = exclusive();
    let mut s = Session::new(&config("finetune"), None, &Placement::cpu(1)).unwrap();
    s.train(0, &mut |_| {}).unwrap();
    let trunk = snapshot(&s, "trunk.");
    let head1 = snapshot(&s, "task1.");
    s.train(1, &mut |_| {}).unwrap();
    assert_same(&head1, &snapshot(&s, "task1."), "finetune head 1");
    let after = snapshot(&s, "trunk.");
    assert!(
        trunk.iter().any(|(n, t)| !t.equal(&after[n])),
        "the trunk should move on task 2"
    );
}

/// Builds a method's model for 3 tasks without training and returns its parameter counts.
fn counts(method: &str) -> ccll_core::strategy::ParamCounts {
    let cfg = config(method);
    let ctx = cfg.strategy_context(Device::Cpu, [1, 16, 16], vec![2, 2, 2]);
    let mut s = build_strategy(&ctx).unwrap();
    for t in 0..3 {
        s.begin_task(t).unwrap();
    }
    s.param_counts()
}

#[test]
fn parameter_growth_per_task() {
    let _rng = exclusive();
    // convnet width 8 on 1 channel: convs 1->8, 8->16, 16->32 (3x3, no bias) with BN.
    let backbone = (9 * 8 + 9 * 8 * 16 + 9 * 16 * 32 + 2 * (8 + 16 + 32)) as u64;
    let head = (32 * 2 + 2) as u64;

    let sep = counts("separate");
    assert_eq!(sep.backbone, backbone);
    assert_eq!(
        sep.per_task,
        vec![(0, head), (backbone, head), (backbone, head)]
    );

    // Column t has t-1 adapters into stages 2 and 3 (inputs of 8 and 16 channels):
    // a 1x1 conv C x C and a scale each.
    let pnn = counts("pnn");
    let adapters = (8 * 8 + 1 + 16 * 16 + 1) as u64;
    assert_eq!(pnn.backbone, backbone);
    assert_eq!(
        pnn.per_task,
        vec![
            (0, head),
            (backbone + adapters, head),
            (backbone + 2 * adapters, head)
        ]
    );
    assert!(pnn.per_task[1].0 > sep.per_task[1].0);

    // CCLL with alpha = beta = 1: 12 parameters per calibrated channel.
    let ccll = counts("ccll, alpha: 1, beta: 1");
    let channels = (8 + 16 + 32) as u64;
    assert_eq!(ccll.backbone, backbone);
    assert_eq!(
        ccll.per_task,
        vec![(0, head), (12 * channels, head), (12 * channels, head)]
    );

    for m in ["finetune", "joint", "ewc", "lwf"] {
        let c = counts(m);
        assert_eq!(c.backbone, backbone, "{m}");
        assert_eq!(c.per_task, vec![(0, head); 3], "{m}");
    }

    // DGR's generator (a VAE over 16 x 16 x 1 pixels, 400 hidden units, z of 100) is memory
    // kept beside the trunk; without replay there is none.
    let linear = |i: u64, o: u64| i * o + o;
    let vae = linear(256, 400)
        + linear(400, 400)
        + 2 * linear(400, 100)
        + linear(100, 400)
        + linear(400, 400)
        + linear(400, 256);
    let dgr = counts("dgr");
    assert_eq!(dgr.backbone, backbone + vae);
    assert_eq!(dgr.per_task, vec![(0, head); 3]);
    assert_eq!(counts("dgr, replay: false").backbone, backbone);

    // hnet: the hypernetwork is shared, a task adds its embedding (8); the head is generated.
    let hnet = counts("hnet");
    assert_eq!(hnet.per_task, vec![(8, 0); 3]);
    // Main network: backbone (convs and BN affine) plus one 2-class output layer = 5,944 + 66
    // weights, in chunks of 4000: 2 chunk embeddings of 8, then 16 -> 100 -> 100 -> 4000.
    let chunks = 2 * 8;
    let mlp = linear(16, 100) + linear(100, 100) + linear(100, 4000);
    assert_eq!(hnet.backbone, chunks + mlp);

    // The run's report: growth relative to backbone + all heads.
    let report = param_report_for(&config("separate"), [1, 16, 16], &[2, 2, 2]).unwrap();
    let base = backbone + 3 * head;
    assert_eq!(report.base_params, base);
    let pct = 100.0 * backbone as f64 / base as f64;
    assert!((report.per_task[1].growth_pct - pct).abs() < 1e-9);
    assert_eq!(
        report.per_task[2].cumulative_params,
        3 * backbone + 3 * head
    );
}

/// A run that loads its state after task 2 from the checkpoints and trains task 3 ends where
/// the uninterrupted run ends, bit for bit: the checkpoints hold everything a method carries
/// from task to task (EWC's Fisher and anchors, LwF's teacher, joint's old heads).
#[test]
fn every_baseline_resumes_from_its_checkpoints() {
    let _rng = exclusive();
    for method in BASELINES {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(method);
        let mut a = Session::new(&cfg, None, &Placement::cpu(1)).unwrap();
        for t in 0..3 {
            a.train(t, &mut |_| {}).unwrap();
            a.strategy.save(dir.path(), t).unwrap();
        }
        let mut b = Session::new(&cfg, None, &Placement::cpu(1)).unwrap();
        b.strategy.load(dir.path(), 2).unwrap();
        b.train(2, &mut |_| {}).unwrap();
        assert_same(&snapshot(&a, ""), &snapshot(&b, ""), method);
    }
}

/// Task 1 of finetune, joint, lwf, separate and pnn is exactly task 1 of ccll (a network and
/// head 1, cross-entropy, the same random draws): so a shared base job can train it.
#[test]
fn task_1_of_the_sharing_baselines_is_ccll_task_1() {
    let _rng = exclusive();
    let mut c = Session::new(&config("ccll"), None, &Placement::cpu(1)).unwrap();
    c.train(0, &mut |_| {}).unwrap();
    let strip = |m: BTreeMap<String, Tensor>, p: &str| -> BTreeMap<String, Tensor> {
        m.into_iter()
            .map(|(n, t)| (n.trim_start_matches(p).to_string(), t))
            .collect()
    };
    let base = strip(snapshot(&c, "base."), "base.");
    let head = snapshot(&c, "task1.");
    let row = c.evaluate_seen(0);
    for (method, net) in [
        ("finetune", "trunk."),
        ("joint", "trunk."),
        ("lwf", "trunk."),
        ("separate", "network1."),
        ("pnn", "column1."),
    ] {
        let cfg = config(method);
        assert!(ccll_core::run::base_key(&cfg).is_some(), "{method}");
        let mut s = Session::new(&cfg, None, &Placement::cpu(1)).unwrap();
        s.train(0, &mut |_| {}).unwrap();
        assert_same(&base, &strip(snapshot(&s, net), net), method);
        assert_same(&head, &snapshot(&s, "task1."), method);
        assert_eq!(s.evaluate_seen(0), row, "{method}");
    }
    assert_eq!(ccll_core::run::base_key(&config("ewc")), None);
}

#[test]
fn a_baseline_run_from_a_base_trained_by_ccll_equals_its_own_run() {
    let _rng = exclusive();
    for method in ["finetune", "joint", "lwf", "pnn"] {
        let cfg = config(method);
        let alone = tempfile::tempdir().unwrap();
        let r1 = run_to(&cfg, alone.path());
        let base = tempfile::tempdir().unwrap();
        train_base(
            &config("ccll"),
            None,
            base.path(),
            &Placement::cpu(1),
            &mut |_| {},
        )
        .unwrap();
        let out = tempfile::tempdir().unwrap();
        let opts = RunOptions {
            placement: Placement::cpu(1),
            data_root: None,
            out_dir: out.path().to_path_buf(),
            base_dir: Some(base.path().to_path_buf()),
        };
        let r2 = run(&cfg, &opts, &mut |_| {}).unwrap();
        assert_eq!(r1.acc_matrix, r2.acc_matrix, "{method}");
        assert_eq!(r1.loss_matrix, r2.loss_matrix, "{method}");
        let again = reevaluate(out.path(), None, &Placement::cpu(1)).unwrap();
        assert_eq!(
            again.iter().map(|x| x.0).collect::<Vec<_>>(),
            r2.acc_matrix.seen(2)
        );
    }
}

/// Generative replay keeps old tasks better than finetune on the same sequence; without replay
/// it is finetune, draw for draw; the generator's samples after each task are a PNG grid in
/// the run folder.
#[test]
fn dgr_replays_to_forget_less_and_without_replay_is_finetune() {
    let _rng = exclusive();
    let run = run_shown;
    let (finetune, _) = run("finetune");
    let (off, _) = run("dgr, replay: false");
    assert_eq!(off.acc_matrix, finetune.acc_matrix, "replay off = finetune");
    assert_eq!(off.loss_matrix, finetune.loss_matrix);
    let (dgr, dir) = run("dgr");
    assert!(
        dgr.metrics.forgetting < finetune.metrics.forgetting,
        "dgr forgets {} points, finetune {}",
        dgr.metrics.forgetting,
        finetune.metrics.forgetting
    );
    for t in 1..=3 {
        let png = dir
            .path()
            .join(format!("generator_samples_after_task{t}.png"));
        let img = image::open(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        // 8 x 8 samples of 16 x 16 pixels with 2-pixel borders.
        assert_eq!((img.width(), img.height()), (8 * 18 + 2, 8 * 18 + 2));
        assert!(
            dgr.artifacts
                .iter()
                .any(|a| a.kind == format!("generator_samples_after_task{t}")),
            "the grid after task {t} is an artifact"
        );
    }
}

/// The output regulariser keeps the generated weights of old tasks near their targets and
/// old tasks near their accuracy; without it (regularizer 0) hnet forgets as finetune does.
/// The distances are written after every task.
#[test]
fn hnet_regulariser_keeps_old_tasks_and_without_it_forgets() {
    let _rng = exclusive();
    let run = run_shown;
    let (finetune, _) = run("finetune");
    let (hnet, dir) = run("hnet");
    let (free, free_dir) = run("hnet, regularizer: 0");
    assert!(
        hnet.metrics.forgetting < finetune.metrics.forgetting / 2.0,
        "hnet forgets {}, finetune {}",
        hnet.metrics.forgetting,
        finetune.metrics.forgetting
    );
    assert!(
        free.metrics.forgetting > 2.0 * hnet.metrics.forgetting.max(1.0),
        "without the regulariser hnet forgets only {} (with it {})",
        free.metrics.forgetting,
        hnet.metrics.forgetting
    );
    let drift = |dir: &std::path::Path, after: usize| -> Vec<f64> {
        let path = dir.join(format!("hnet_drift_after_task{after}.json"));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        v["old_tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["relative"].as_f64().unwrap())
            .collect()
    };
    for after in [2, 3] {
        let kept = drift(dir.path(), after);
        let moved = drift(free_dir.path(), after);
        println!("after task {after}: relative drift {kept:?} (regularised) vs {moved:?} (free)");
        assert_eq!(kept.len(), after - 1);
        for (k, m) in kept.iter().zip(&moved) {
            assert!(k < m, "the regulariser should hold old outputs: {k} vs {m}");
            assert!(*k < 0.05, "relative drift {k} after task {after}");
        }
    }
}

#[test]
fn method_options_are_checked() {
    let bad = |method: &str| {
        let yaml = format!(
            "benchmark: {{name: synthetic}}\nmodel: {{arch: convnet}}\nmethod: {{name: {method}}}\n"
        );
        RunConfig::from_yaml(&yaml, "r.yaml")
            .unwrap_err()
            .to_string()
    };
    let e = bad("ewc, lamda: 5");
    assert!(
        e.contains("method.lamda") && e.contains("lambda, online"),
        "{e}"
    );
    let e = bad("ewc, lambda: -1");
    assert!(e.contains("method.lambda: must be a number >= 0"), "{e}");
    let e = bad("ewc, gamma: 0.9");
    assert!(
        e.contains("method.gamma") && e.contains("online: true"),
        "{e}"
    );
    let e = bad("ewc, fisher_samples: 1.5");
    assert!(e.contains("method.fisher_samples"), "{e}");
    let e = bad("lwf, temperature: 0");
    assert!(e.contains("method.temperature"), "{e}");
    let e = bad("dgr, targets: fuzzy");
    assert!(e.contains("method.targets"), "{e}");
    let e = bad("dgr, z_dim: 0");
    assert!(e.contains("method.z_dim: must be 1..=65536"), "{e}");
    let e = bad("hnet, regularizer: -1");
    assert!(
        e.contains("method.regularizer: must be a number >= 0"),
        "{e}"
    );
    let e = bad("hnet, hidden: [0]");
    assert!(e.contains("method.hidden"), "{e}");
    let e = bad("pnn, lambda: 1");
    assert!(e.contains("unknown option for method `pnn`"), "{e}");
    for ok in [
        "ewc, lambda: 10, online: true, gamma: 0.9, fisher_samples: 0, fisher_batch: 8",
        "lwf, temperature: 4, weight: 0.5",
        "hnet, regularizer: 0.05, task_embedding: 16, chunk_embedding: 4, hidden: [50, 50], chunk_size: 500",
        "dgr, replay: true, targets: soft, temperature: 2, z_dim: 32, fc_units: 64, generator_lr: 0.002, generator_epochs: 3",
        "finetune, alpha: 1, beta: 1",
    ] {
        let yaml = format!(
            "benchmark: {{name: synthetic}}\nmodel: {{arch: convnet}}\nmethod: {{name: {ok}}}\n"
        );
        RunConfig::from_yaml(&yaml, "r.yaml").unwrap();
    }
}
