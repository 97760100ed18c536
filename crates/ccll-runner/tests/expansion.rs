//! Study expansion without training: grid, exclude/include rules, profiles, overrides,
//! validation problems with their lines, the shared-base job graph, and every shipped study.

mod common;

use ccll_runner::grid::{expand, get_path, Expanded};
use ccll_runner::layout::Layout;
use ccll_runner::plan::Plan;
use ccll_runner::study::Study;
use serde_yaml::Value;
use std::collections::HashSet;

const STUDY: &str = "\
name: demo
defaults:
  benchmark: {name: synthetic, tasks: 2, image_size: 16, channels: 1}
  model: {arch: convnet, width: 8}
  method: {name: ccll, alpha: 1, beta: 1}
  train: {epochs: 1, seed: 0}
grid:
  method.alpha: [1, 2, 4]
  train.seed: [0, 1]
exclude:
  - {method.alpha: 4, train.seed: 1}
include:
  - {method.name: head_only}
  - {method.name: ccll, method.alpha: 8, train.lr: 0.01}
profiles:
  small:
    defaults: {train: {epochs: 2}, model: {width: 16}}
    grid: {method.alpha: [1, 4]}
";

fn study(text: &str) -> Study {
    Study::parse(text, "demo.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn labels(x: &Expanded) -> Vec<String> {
    x.runs.iter().map(|r| r.label.clone()).collect()
}

fn shipped(name: &str) -> Study {
    Study::load(&common::repo_root().join(format!("experiments/{name}.yaml")))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn plan(x: &Expanded) -> Plan {
    let dir = tempfile::tempdir().unwrap();
    Plan::build(x, "t", &Layout::resolve(Some(dir.path())))
}

#[test]
fn grid_exclude_and_include_give_the_expected_runs() {
    let x = expand(&study(STUDY), None, &[]).unwrap();
    assert_eq!(
        labels(&x),
        [
            "ccll alpha=1 seed=0",
            "ccll alpha=1 seed=1",
            "ccll alpha=2 seed=0",
            "ccll alpha=2 seed=1",
            "ccll alpha=4 seed=0",
            "head_only",
            "ccll alpha=8 lr=0.01",
        ]
    );
    let alpha8 = &x.runs[6].config;
    assert_eq!(alpha8.method.alpha(), Some(8));
    assert_eq!(alpha8.train.lr, 0.01);
    assert_eq!(
        alpha8.train.seed, 0,
        "include points start from the defaults"
    );
    // Config hashes are distinct, group keys ignore the seed only.
    let hashes: HashSet<&str> = x
        .runs
        .iter()
        .map(|r| r.identity.config_hash.as_str())
        .collect();
    assert_eq!(hashes.len(), 7);
    assert_eq!(x.runs[0].identity.group_key, x.runs[1].identity.group_key);
    assert_ne!(x.runs[0].identity.group_key, x.runs[2].identity.group_key);
    assert_eq!(
        x.runs[2].swept_json(),
        serde_json::json!({"method.alpha": 2, "train.seed": 0})
    );
}

#[test]
fn a_profile_merges_defaults_and_replaces_grid_keys() {
    let x = expand(&study(STUDY), Some("small"), &[]).unwrap();
    // alpha [1, 4] x seed [0, 1], minus (4, 1), plus two includes.
    assert_eq!(
        labels(&x),
        [
            "ccll alpha=1 seed=0",
            "ccll alpha=1 seed=1",
            "ccll alpha=4 seed=0",
            "head_only",
            "ccll alpha=8 lr=0.01",
        ]
    );
    let c = &x.runs[0].config;
    assert_eq!(c.train.epochs, 2);
    assert_eq!(c.model.width, Some(16));
    assert_eq!(c.model.arch, "convnet", "deep merge keeps the other keys");
    let e = expand(&study(STUDY), Some("big"), &[]).unwrap_err();
    assert!(e.to_string().contains("its profiles: small"), "{e}");
}

#[test]
fn overrides_set_defaults_and_pin_grid_keys() {
    let s = study(STUDY);
    let x = expand(
        &s,
        None,
        &[
            "train.epochs=3".into(),
            "train.seed=1".into(),
            "benchmark.tasks=3".into(),
        ],
    )
    .unwrap();
    // Seed pinned to 1: alpha 1, 2 (4 with seed 1 is excluded) and the two includes, whose
    // seed comes from the defaults, not from the pinned axis.
    assert_eq!(
        labels(&x),
        [
            "ccll alpha=1 seed=1",
            "ccll alpha=2 seed=1",
            "head_only",
            "ccll alpha=8 lr=0.01"
        ]
    );
    assert!(x.runs.iter().all(|r| r.config.train.epochs == 3));
    assert!(x.runs.iter().all(|r| r.config.benchmark.tasks == Some(3)));
    // A key below a grid key reaches the mapping values of that axis.
    let b = shipped("base_dependence");
    let x = expand(&b, Some("cpu"), &["base.source.per_class_cap=50".into()]).unwrap();
    let caps: Vec<Option<usize>> = x
        .runs
        .iter()
        .map(|r| match &r.config.base.source {
            ccll_core::BaseSource::Benchmark(src) => src.per_class_cap,
            ccll_core::BaseSource::Task1 => None,
        })
        .collect();
    assert_eq!(caps, [None, Some(50), Some(50)]);
}

#[test]
fn identical_runs_are_run_once() {
    let text = STUDY.replace(
        "method.alpha: [1, 2, 4]",
        "method.alpha: [1, 2, 4]\n  method.name: [ccll, head_only]",
    );
    let x = expand(&study(&text), None, &[]).unwrap();
    // head_only ignores alpha: one head_only run per seed, plus the include (seed 0 again).
    let head: Vec<&str> = x
        .runs
        .iter()
        .filter(|r| r.config.method.name() == "head_only")
        .map(|r| r.label.as_str())
        .collect();
    assert_eq!(head.len(), 2, "{head:?}");
    assert!(x.notes.iter().any(|n| n.contains("is the same run as")));
}

#[test]
fn every_problem_is_reported_with_file_and_line() {
    let text = "\
name: broken
defaults:
  benchmark: {name: synthetic, tasks: 2}
  model: {arch: resnet18_cifar, width: 20}
  method: {name: ccll}
  train: {epochs: 1}
grid:
  method.alpha: [1, 2, 8]
  train.seed: [0, 1]
include:
  - {method.name: nosuch}
  - {method.name: ccll, train.batch_size: 1}
";
    let e = expand(&study(text), None, &[]).unwrap_err();
    let got: Vec<(Option<usize>, String)> =
        e.0.iter().map(|p| (p.line, p.message.clone())).collect();
    assert_eq!(got.len(), 3, "{e}");
    // alpha 8 does not divide width 20: the grid key's line, once for both seeds.
    assert_eq!(got[0].0, Some(8), "{e}");
    assert!(
        got[0].1.contains("8 does not divide the 20 channels"),
        "{e}"
    );
    assert!(got[0].1.ends_with("(2 runs)"), "{e}");
    assert_eq!(got[1].0, Some(11), "{e}");
    assert!(got[1].1.contains("unknown method `nosuch`"), "{e}");
    assert_eq!(got[2].0, Some(12), "{e}");
    assert!(got[2].1.contains("train.batch_size"), "{e}");
    assert!(e.0[0].place.starts_with("demo.yaml:8"), "{e}");

    // Unknown keys in the defaults point at their line; overrides at the argument.
    let text2 = text
        .replace("train: {epochs: 1}", "train: {epochs: 1, sead: 2}")
        .replace("[1, 2, 8]", "[1, 2]");
    let e = expand(&study(&text2), None, &[]).unwrap_err();
    assert_eq!(e.0[0].line, Some(6), "{e}");
    assert!(e.0[0].message.contains("unknown field `sead`"), "{e}");
    let e = expand(
        &study(&text.replace("[1, 2, 8]", "[1]")),
        None,
        &["train.lr=-1".into()],
    )
    .unwrap_err();
    assert!(e.0.iter().any(|p| p.place == "-o train.lr=-1"), "{e}");
}

#[test]
fn the_alpha_sweep_trains_one_base_per_seed() {
    let x = expand(&shipped("ablation_alpha"), None, &[]).unwrap();
    assert_eq!(x.runs.len(), 15);
    let p = plan(&x);
    assert_eq!(p.bases.len(), 3, "5 alphas x 3 seeds share 3 bases");
    for b in &p.bases {
        assert_eq!(b.runs.len(), 5);
        let seeds: HashSet<u64> = b
            .runs
            .iter()
            .map(|&r| p.runs[r].spec.config.train.seed)
            .collect();
        assert_eq!(seeds.len(), 1, "a base serves one seed");
    }
    // Five groups of three seeds.
    let groups: HashSet<&str> = x
        .runs
        .iter()
        .map(|r| r.identity.group_key.as_str())
        .collect();
    assert_eq!(groups.len(), 5);
    // The cpu profile: 5 alphas, one seed, one base.
    let x = expand(&shipped("ablation_alpha"), Some("cpu"), &[]).unwrap();
    assert_eq!((x.runs.len(), plan(&x).bases.len()), (5, 1));
    // Methods that do not share a base get no base job.
    let x = expand(&shipped("variants"), None, &[]).unwrap();
    let p = plan(&x);
    assert_eq!(p.bases.len(), 3);
    assert!(p
        .runs
        .iter()
        .all(|r| r.base.is_some() == (r.spec.config.method.name() != "ccll_sf_sc")));
}

#[test]
fn every_shipped_study_and_profile_expands() {
    let dir = common::repo_root().join("experiments");
    let wide_columns = runs_wide_columns();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let s = Study::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut profiles: Vec<Option<String>> = vec![None];
        profiles.extend(s.profiles.iter().map(|p| Some(p.name.clone())));
        for p in profiles {
            let x = expand(&s, p.as_deref(), &[])
                .unwrap_or_else(|e| panic!("{} {p:?}: {e}", path.display()));
            assert!(!x.runs.is_empty());
            for r in &x.runs {
                for key in r.swept_json().as_object().unwrap().keys() {
                    let column = ccll_report::store::analysis_column(key);
                    assert!(
                        wide_columns.contains(&column),
                        "{} {p:?}: swept key {key} has no runs_wide column {column}",
                        path.display()
                    );
                }
            }
            if p.as_deref() == Some("cpu") || s.name == "quickstart" {
                // CPU-sized studies run on the offline data.
                for r in &x.runs {
                    let b = get_path(&serde_yaml::to_value(&r.config).unwrap(), "benchmark.name")
                        .and_then(Value::as_str)
                        .unwrap()
                        .to_string();
                    assert!(
                        b.contains("mnist"),
                        "{} {p:?}: {b} is not offline data",
                        path.display()
                    );
                }
            }
        }
        seen += 1;
    }
    assert!(seen >= 9, "only {seen} studies in {}", dir.display());
    let q = shipped("quickstart");
    let x = expand(&q, None, &[]).unwrap();
    let methods: Vec<&str> = x.runs.iter().map(|r| r.config.method.name()).collect();
    assert_eq!(methods, ["ccll", "head_only", "finetune"]);
    assert_eq!(plan(&x).bases.len(), 1);
}

/// The columns of the store's `runs_wide` view, from a new store.
fn runs_wide_columns() -> HashSet<String> {
    let dir = tempfile::tempdir().unwrap();
    common::block_on(async {
        let store = ccll_report::Store::open(&dir.path().join("s.sqlite"))
            .await
            .unwrap();
        let out = ccll_report::run_query(&store, "SELECT name FROM pragma_table_info('runs_wide')")
            .await
            .unwrap();
        out.rows
            .iter()
            .map(|r| match &r[0] {
                ccll_report::query::Value::Text(name) => name.clone(),
                other => panic!("a column name that is not text: {other:?}"),
            })
            .collect()
    })
}

const CLAIMS: &str = "\
claims:
  - {name: ccll beats head_only, better: {method.name: ccll}, than: {method.name: head_only}}
  - {name: rises, increasing: method.alpha}
";

#[test]
fn claims_are_stored_with_the_sweep_spec() {
    let x = expand(&study(&format!("{STUDY}{CLAIMS}")), None, &[]).unwrap();
    assert_eq!(x.claims.len(), 2);
    let spec = x.spec_json();
    assert_eq!(spec["claims"][1]["increasing"], "method.alpha");
    let back = ccll_report::claims::from_spec(&spec).unwrap();
    assert_eq!(back, x.claims);
}

#[test]
fn a_claim_naming_an_unknown_key_is_an_error_with_the_file_and_line() {
    let text = format!(
        "{STUDY}claims:\n  - {{name: ok, increasing: method.alpha}}\n  - {{name: typo, increasing: method.alfa}}\n"
    );
    let err = expand(&study(&text), None, &[]).unwrap_err().to_string();
    let line = STUDY.lines().count() + 3;
    assert!(err.contains(&format!("demo.yaml:{line}")), "{err}");
    assert!(
        err.contains("claim `typo`") && err.contains("method.alfa"),
        "{err}"
    );
}

#[test]
fn a_claim_selecting_no_run_is_a_note_and_a_malformed_one_an_error() {
    let none = format!(
        "{STUDY}claims:\n  - {{name: x, better: {{method.name: pnn}}, than: {{method.name: ccll}}}}\n"
    );
    let x = expand(&study(&none), None, &[]).unwrap();
    assert!(
        x.notes.iter().any(|n| n.contains("`better` matches none")),
        "{:?}",
        x.notes
    );
    let malformed = format!("{STUDY}claims:\n  - {{name: y, better: {{method.name: ccll}}}}\n");
    let err = Study::parse(&malformed, "demo.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("demo.yaml:") && err.contains("`than:`"),
        "{err}"
    );
    let unknown_field =
        format!("{STUDY}claims:\n  - {{name: z, increasing: method.alpha, metrik: acc}}\n");
    let err = Study::parse(&unknown_field, "demo.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("metrik"), "{err}");
}

#[test]
fn a_huge_grid_is_refused_before_any_point_is_checked() {
    let text = "\
name: huge
defaults:
  benchmark: {name: synthetic}
  model: {arch: convnet, width: 8}
  method: {name: ccll}
grid:
  train.seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
  train.lr: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
  train.epochs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  train.batch_size: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
  train.momentum: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85]
  model.width: [4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
";
    let started = std::time::Instant::now();
    let e = expand(&study(text), None, &[]).unwrap_err().to_string();
    assert!(
        e.contains("1000000 grid points, more than the limit of 10000") && e.contains("--max-runs"),
        "{e}"
    );
    // Refused from the axes' sizes alone (a million checked points took 79 s).
    assert!(started.elapsed().as_secs() < 10);
    let ok = ccll_runner::grid::expand_limited(
        &study(text),
        None,
        &[
            "train.seed=0".into(),
            "train.lr=0.1".into(),
            "train.epochs=1".into(),
            "model.width=8".into(),
        ],
        100,
    )
    .unwrap();
    assert_eq!(ok.runs.len(), 100);
}

#[test]
fn every_problem_of_a_run_is_reported_at_once() {
    let text = "\
name: bad
defaults:
  benchmark: {name: synthetic}
  model: {arch: convnet, width: 8}
  method: {name: ccll}
  train: {seed: 18446744073709551615, batch_size: 1, epochs: 0}
";
    let e = expand(&study(text), None, &[]).unwrap_err();
    let messages: Vec<&str> = e.0.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(messages.len(), 3, "{e}");
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("train.epochs: must be at least 1")),
        "{e}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("train.batch_size: must be at least 2")),
        "{e}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("train.seed: must be at most 9223372036854775807")),
        "{e}"
    );
    assert!(e.0.iter().all(|p| p.line == Some(6)), "{e}");
}
