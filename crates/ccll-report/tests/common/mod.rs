//! Test data built by hand through the public types: fabricated runs and sweeps.
#![allow(dead_code)]

use ccll_report::{NewRun, NewSweep, Store};
use ccll_results::{
    Artifact, EpochRecord, Flops, Metrics, ParamReport, RuleResult, RunResult, TaskAgnostic,
    TaskInfo, TaskMatrix,
};
use serde_json::json;

pub const TASKS: usize = 4;

/// A finished run of `method` with plausible, deterministic numbers: accuracy drops with
/// forgetting for the baselines, alpha nudges CCLL's accuracy, the seed adds a small offset.
pub fn result(method: &str, alpha: i64, seed: u64) -> RunResult {
    let forget = match method {
        "ccll" => 0.0,
        "finetune" => 12.0,
        _ => 1.0,
    };
    let base_acc = 90.0 + alpha as f64 * 0.5 + seed as f64 * 0.25;
    let mut acc = TaskMatrix::new();
    let mut loss = TaskMatrix::new();
    for i in 0..TASKS {
        let row: Vec<f64> = (0..=i)
            .map(|j| base_acc - j as f64 - forget * (i - j) as f64)
            .collect();
        acc.push_row(&row, TASKS);
        loss.push_row(
            &row.iter().map(|a| (100.0 - a) / 50.0).collect::<Vec<_>>(),
            TASKS,
        );
    }
    let backbone = 11_000_000u64;
    let per_task: Vec<(u64, u64)> = (0..TASKS)
        .map(|t| {
            let added = match (method, t) {
                (_, 0) => 0,
                ("ccll", _) => 40_000 * alpha.max(1) as u64,
                ("separate", _) => backbone,
                ("pnn", _) => backbone + 2_000_000 * t as u64,
                _ => 0,
            };
            (added, 5_130)
        })
        .collect();
    let params = ParamReport::from_counts(
        backbone,
        &per_task,
        Flops {
            base: 1_100_000_000,
            calibration: 3_000_000,
        },
    );
    let metrics = Metrics::from_matrix(&acc).expect("a full matrix");
    let curves = (1..=TASKS)
        .flat_map(|task| {
            (1..=3).map(move |epoch| EpochRecord {
                task,
                epoch,
                train_loss: 2.0 / (epoch as f64 + task as f64),
                train_acc: 50.0 + 10.0 * epoch as f64,
                lr: 0.1 / epoch as f64,
                seconds: 1.5,
            })
        })
        .collect();
    let task_agnostic = Some(task_agnostic_of(&acc));
    RunResult {
        task_agnostic,
        method: method.to_string(),
        benchmark: "mnist-5x2".to_string(),
        seed,
        tasks: (0..TASKS)
            .map(|t| TaskInfo {
                name: format!("task {}", t + 1),
                classes: vec![format!("{}", 2 * t), format!("{}", 2 * t + 1)],
                train_samples: 1000 + t,
                test_samples: 200 + t,
            })
            .collect(),
        acc_matrix: acc,
        loss_matrix: loss,
        metrics,
        params,
        curves,
        artifacts: vec![Artifact {
            kind: "final".to_string(),
            path: format!("runs/{method}-{alpha}-{seed}/final.safetensors"),
            sha256: "ab".repeat(32),
            bytes: 123_456,
        }],
        device: "cpu".to_string(),
        data_source: String::new(),
        wall_seconds: 42.5,
    }
}

/// TAg results derived from a TAw matrix: task-id accuracy falling with the tasks seen.
pub fn task_agnostic_of(acc: &TaskMatrix) -> TaskAgnostic {
    let rule = |name: &str, drop: f64| {
        let mut tag = TaskMatrix::new();
        let mut task_id = TaskMatrix::new();
        for i in 0..acc.rows() {
            let ids: Vec<f64> = (0..=i).map(|_| 100.0 - drop * i as f64).collect();
            let row: Vec<f64> = (0..=i)
                .map(|j| acc.get(i, j).unwrap() * ids[j] / 100.0)
                .collect();
            tag.push_row(&row, TASKS);
            task_id.push_row(&ids, TASKS);
        }
        RuleResult {
            rule: name.to_string(),
            metrics: Metrics::from_matrix(&tag).unwrap(),
            acc_matrix: tag,
            task_id_matrix: task_id,
            seconds_per_image: 1e-4 * (1.0 + drop),
        }
    };
    TaskAgnostic {
        primary: "min_entropy".to_string(),
        task_aware_seconds_per_image: 5e-5,
        rules: vec![rule("min_entropy", 5.0), rule("one_shot", 7.5)],
    }
}

/// The registration of one point of a methods x alphas x seeds grid.
pub fn new_run(sweep_id: Option<i64>, method: &str, alpha: i64, seed: i64) -> NewRun {
    let config = json!({
        "method": {"name": method, "alpha": alpha, "beta": 1},
        "benchmark": "mnist-5x2",
        "train": {"seed": seed, "epochs": 3},
        "base": {"source": "task1"},
    });
    NewRun {
        sweep_id,
        name: format!("{method} a={alpha} seed={seed}"),
        config_hash: format!("{method}-{alpha}-{seed}"),
        group_key: format!("{method}-{alpha}"),
        swept: json!({"method.name": method, "method.alpha": alpha, "train.seed": seed}),
        config,
        method: method.to_string(),
        benchmark: "mnist-5x2".to_string(),
        arch: "resnet18-w20".to_string(),
        alpha: Some(alpha),
        beta: Some(1),
        seed,
        base_source: "task1".to_string(),
        git_commit: Some("0123abcd".to_string()),
        git_dirty: false,
        run_dir: None,
        base_hash: None,
    }
}

/// Records a whole finished sweep; returns the run ids in grid order.
pub async fn fill_sweep(
    store: &Store,
    name: &str,
    methods: &[&str],
    alphas: &[i64],
    seeds: &[i64],
) -> Vec<i64> {
    let sweep_id = store
        .upsert_sweep(&NewSweep {
            name: name.to_string(),
            study_file: Some(format!("experiments/{name}.yaml")),
            profile: Some("cpu".to_string()),
            spec: json!({"grid": {"method.name": methods, "method.alpha": alphas, "train.seed": seeds}}),
        })
        .await
        .expect("upsert sweep");
    let mut ids = Vec::new();
    for m in methods {
        for &a in alphas {
            for &s in seeds {
                let id = store
                    .register_run(&new_run(Some(sweep_id), m, a, s))
                    .await
                    .expect("register");
                store
                    .mark_running(id, "cpu", "testhost")
                    .await
                    .expect("running");
                store
                    .record_finished(id, &result(m, a, s as u64))
                    .await
                    .expect("record");
                ids.push(id);
            }
        }
    }
    ids
}
