//! Task-agnostic evaluation end to end on the synthetic benchmark: the batched passes equal
//! the per-task forward, the stored TAg matrices follow from the saved predictions, and TAg
//! never beats TAw.

mod common;

use ccll_core::run::{Session, CONFIG_FILE};
use ccll_core::task_inference::PREDICTIONS_FILE;
use ccll_core::{Placement, RunConfig};
use common::{exclusive, run_to};
use std::collections::HashMap;
use tch::{Kind, Tensor};

fn config(method: &str) -> RunConfig {
    let yaml = format!(
        "benchmark: {{name: synthetic, tasks: 3, classes_per_task: 2, image_size: 16, channels: 1,
            train_per_class: 64, test_per_class: 32}}
model: {{arch: convnet, width: 8}}
method: {{name: {method}}}
train: {{epochs: 3, batch_size: 16, lr: 0.05, seed: 0}}
"
    );
    RunConfig::from_yaml(&yaml, "test.yaml").unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn batched_and_mixed_passes_equal_the_per_task_forward() {
    let _rng = exclusive();
    for method in [
        "ccll",
        "scm_only",
        "ccm_only",
        "head_only",
        "finetune",
        "pnn",
        "separate",
        "hnet",
    ] {
        let dir = tempfile::tempdir().unwrap();
        run_to(&config(method), dir.path());
        let cfg = RunConfig::from_recorded_file(&dir.path().join(CONFIG_FILE)).unwrap();
        let mut s = Session::new(&cfg, None, &Placement::cpu(1)).unwrap();
        s.strategy.load(dir.path(), 3).unwrap();
        let (images, _) = s.data[2].test.ordered_batches(8).remove(0);
        let x = s.data[2].prepare(&images, false);
        tch::no_grad(|| {
            let all = s.strategy.all_task_logits(&x, 2);
            let features = s.strategy.all_task_features(&x, 2).expect("features");
            for (t, logits) in all.iter().enumerate() {
                let own = s.strategy.forward(&x, t, false);
                assert!(max_diff(logits, &own) < 1e-4, "{method}: task {t} stacked");
                let one = s.strategy.task_features(&x, t).expect("features");
                assert!(
                    max_diff(&features[t], &one) < 1e-4,
                    "{method}: task {t} features"
                );
                // A one-hot superposition is that task's network.
                let w = Tensor::zeros([8, 3], (Kind::Float, tch::Device::Cpu));
                let _ = w.narrow(1, t as i64, 1).fill_(1.0);
                if let Some(mixed) = s.strategy.mixed_logits(&x, &w) {
                    assert!(max_diff(&mixed[t], &own) < 1e-4, "{method}: task {t} mixed");
                }
            }
        });
    }
}

#[test]
fn stored_tag_matrices_follow_from_the_saved_predictions_and_never_beat_taw() {
    let _rng = exclusive();
    for method in ["ccll", "finetune", "separate"] {
        let dir = tempfile::tempdir().unwrap();
        let r = run_to(&config(method), dir.path());
        let tag = r.task_agnostic.as_ref().expect("TAg recorded");
        let expected_primary = if method == "finetune" {
            "max_logit"
        } else {
            "min_mahalanobis"
        };
        assert_eq!(tag.primary, expected_primary);
        let rules: Vec<&str> = tag.rules.iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(
            rules,
            [
                "min_entropy",
                "min_normalized_entropy",
                "max_confidence",
                "max_logit",
                "one_shot",
                "min_mahalanobis"
            ]
        );
        let saved: HashMap<String, Tensor> =
            Tensor::read_safetensors(dir.path().join(PREDICTIONS_FILE))
                .unwrap()
                .into_iter()
                .collect();
        let pct = |t: &Tensor| 100.0 * t.to_kind(Kind::Double).mean(Kind::Double).double_value(&[]);
        for rule in &tag.rules {
            for i in 0..3 {
                for j in 0..=i {
                    let taw = r.acc_matrix.get(i, j).unwrap();
                    let tag_acc = rule.acc_matrix.get(i, j).unwrap();
                    let id = rule.task_id_matrix.get(i, j).unwrap();
                    assert!(
                        tag_acc <= taw,
                        "{method} {}: TAg {tag_acc} > TAw {taw}",
                        rule.rule
                    );
                    if i == 0 {
                        assert_eq!(tag_acc, taw, "{method}: after task 1 TAg is TAw");
                        assert_eq!(id, 100.0);
                    }
                    let cell = format!("after{}.task{}", i + 1, j + 1);
                    let labels = &saved[&format!("labels.task{}", j + 1)];
                    let predicted = &saved[&format!("taw.{cell}")];
                    let inferred = &saved[&format!("{}.{cell}", rule.rule)];
                    let right_task = inferred.eq(j as i64);
                    assert_eq!(
                        pct(&predicted.eq_tensor(labels)),
                        taw,
                        "{method} TAw {cell}"
                    );
                    assert_eq!(
                        pct(&right_task),
                        id,
                        "{method} {} task id {cell}",
                        rule.rule
                    );
                    let both = right_task.logical_and(&predicted.eq_tensor(labels));
                    assert_eq!(pct(&both), tag_acc, "{method} {} TAg {cell}", rule.rule);
                }
            }
            assert!(rule.seconds_per_image > 0.0);
        }
        println!(
            "{method}: {}",
            tag.rules
                .iter()
                .map(|r| format!("{} {:?}", r.rule, r.task_id_matrix.0.last().unwrap()))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}
