//! Claims checked over hand-built sweeps whose numbers are known: a claim that holds, one
//! that fails, trends, flatness, too few seeds, and the statistics underneath.

mod common;

use ccll_report::claims::{check_sweep, difference, spearman, t95, trend_test, Status};
use ccll_report::{NewSweep, Store};
use common::fill_sweep;
use serde_json::{json, Value};

/// A sweep of `methods x alphas x seeds` (see `common::result`: ACC = 88.5 + alpha / 2 +
/// seed / 4 for ccll, 18 points less for finetune) with `claims` in its spec.
async fn sweep_with(
    claims: Value,
    methods: &[&str],
    alphas: &[i64],
    seeds: &[i64],
) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.sqlite")).await.unwrap();
    fill_sweep(&store, "s", methods, alphas, seeds).await;
    store
        .upsert_sweep(&NewSweep {
            name: "s".into(),
            study_file: Some("experiments/s.yaml".into()),
            profile: None,
            spec: json!({ "claims": claims }),
        })
        .await
        .unwrap();
    (dir, store)
}

#[tokio::test]
async fn a_claim_that_holds_and_one_that_fails_paired_by_seed() {
    let claims = json!([
        {"name": "ccll beats finetune", "better": {"method.name": "ccll"}, "than": {"method.name": "finetune"}},
        {"name": "finetune beats ccll", "better": {"method.name": "finetune"}, "than": {"method.name": "ccll"}},
        {"name": "finetune within 1 of ccll", "not_worse": {"method.name": "finetune"}, "than": {"method.name": "ccll"}, "by": 1.0},
        {"name": "finetune within 30 of ccll", "not_worse": {"method.name": "finetune"}, "than": {"method.name": "ccll"}, "by": 30.0},
    ]);
    let (_d, store) = sweep_with(claims, &["ccll", "finetune"], &[1], &[0, 1, 2]).await;
    let v = check_sweep(&store, "s").await.unwrap();
    let status: Vec<Status> = v.iter().map(|v| v.status).collect();
    assert_eq!(
        status,
        [Status::Holds, Status::Fails, Status::Fails, Status::Holds]
    );
    assert!(v[0].detail.contains("+18.00"), "{}", v[0].detail);
    assert!(
        v[0].detail.contains("paired over 3 seeds"),
        "{}",
        v[0].detail
    );
}

#[tokio::test]
async fn per_task_compares_every_task_and_the_weakest_decides() {
    // finetune forgets 12 points per later task: task 4 (never forgotten) is equal.
    let claims = json!([
        {"name": "no task of finetune more than 1 below ccll", "not_worse": {"method.name": "finetune"},
         "than": {"method.name": "ccll"}, "by": 1.0, "per_task": true},
        {"name": "no task of ccll below finetune", "not_worse": {"method.name": "ccll"},
         "than": {"method.name": "finetune"}, "by": 0.5, "per_task": true},
    ]);
    let (_d, store) = sweep_with(claims, &["ccll", "finetune"], &[1], &[0, 1]).await;
    let v = check_sweep(&store, "s").await.unwrap();
    assert_eq!(v[0].status, Status::Fails, "{}", v[0].detail);
    assert!(v[0].detail.contains("weakest task 1"), "{}", v[0].detail);
    assert_eq!(v[1].status, Status::Holds, "{}", v[1].detail);
    assert!(v[1].detail.contains("4 of 4 hold"), "{}", v[1].detail);
}

#[tokio::test]
async fn trends_and_flatness_over_a_swept_key() {
    let claims = json!([
        {"name": "acc rises with alpha", "increasing": "method.alpha", "where": {"method.name": "ccll"}},
        {"name": "alpha barely matters (0.1)", "flat": "method.alpha", "within": 0.1},
        {"name": "alpha barely matters (5)", "flat": "method.alpha", "within": 5.0},
    ]);
    let (_d, store) = sweep_with(claims, &["ccll"], &[1, 2, 4], &[0, 1, 2]).await;
    let v = check_sweep(&store, "s").await.unwrap();
    assert_eq!(v[0].status, Status::Holds, "{}", v[0].detail);
    assert!(v[0].detail.contains("rho +"), "{}", v[0].detail);
    assert_eq!(v[1].status, Status::Fails, "{}", v[1].detail);
    assert_eq!(v[2].status, Status::Holds, "{}", v[2].detail);
}

#[tokio::test]
async fn one_seed_is_inconclusive_for_every_kind() {
    let claims = json!([
        {"name": "ccll beats finetune", "better": {"method.name": "ccll"}, "than": {"method.name": "finetune"},
         "where": {"method.alpha": 1}},
        {"name": "acc rises with alpha", "increasing": "method.alpha", "where": {"method.name": "ccll"}},
        {"name": "flat", "flat": "method.alpha", "within": 5.0, "where": {"method.name": "ccll"}},
    ]);
    let (_d, store) = sweep_with(claims, &["ccll", "finetune"], &[1, 4], &[0]).await;
    for v in check_sweep(&store, "s").await.unwrap() {
        assert_eq!(v.status, Status::Inconclusive, "{}: {}", v.name, v.detail);
        assert!(v.detail.contains("too few"), "{}", v.detail);
    }
}

#[tokio::test]
async fn a_sweep_without_claims_has_no_verdicts() {
    let (_d, store) = sweep_with(Value::Null, &["ccll"], &[1], &[0]).await;
    assert!(check_sweep(&store, "s").await.unwrap().is_empty());
}

#[test]
fn intervals_pair_by_seed_and_fall_back_to_welch() {
    // Paired: constant differences have a zero-width interval even with noisy levels.
    let a = [(0, 70.0), (1, 80.0), (2, 90.0)];
    let b = [(0, 69.0), (1, 79.0), (2, 89.0)];
    let iv = difference(&a, &b).unwrap();
    assert_eq!(
        (iv.mean, iv.low, iv.high, iv.paired),
        (1.0, 1.0, 1.0, Some(3))
    );
    // Unpaired (different seeds): the level noise widens the interval past zero.
    let c = [(5, 69.0), (6, 79.0), (7, 89.0)];
    let iv = difference(&a, &c).unwrap();
    assert!(
        iv.paired.is_none() && iv.low < 0.0 && iv.high > 2.0,
        "{iv:?}"
    );
    // Paired with spread: mean 2, sd 1, n 3 -> half-width 4.303 / sqrt(3).
    let d = [(0, 71.0), (1, 82.0), (2, 93.0)];
    let e = [(0, 70.0), (1, 80.0), (2, 90.0)];
    let iv = difference(&d, &e).unwrap();
    assert!(
        (iv.high - iv.low - 2.0 * 4.303 / 3f64.sqrt()).abs() < 1e-9,
        "{iv:?}"
    );
    assert!(difference(&a[..1], &b).is_none());
    assert_eq!(t95(2), 4.303);
}

#[test]
fn rank_correlation_and_its_permutation_test() {
    assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-12);
    assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
    // Ties get averaged ranks.
    assert!((spearman(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]) - 0.866).abs() < 1e-3);
    // No relation: neither direction is significant.
    let x = [1.0, 2.0, 4.0, 1.0, 2.0, 4.0, 1.0, 2.0, 4.0];
    let y = [5.0, 3.0, 4.0, 3.0, 5.0, 4.0, 4.0, 3.0, 5.0];
    let blocks = [0, 0, 0, 1, 1, 1, 2, 2, 2];
    let (_, up, down) = trend_test(&x, &y, &blocks);
    assert!(up > 0.05 && down > 0.05, "{up} {down}");
    // Deterministic: the same p-value twice.
    assert_eq!(trend_test(&x, &y, &blocks), trend_test(&x, &y, &blocks));
}
