//! Helpers shared by the engine and baseline tests.
#![allow(dead_code)] // each test file uses part of it

use ccll_core::run::{run, RunOptions, Session};
use ccll_core::Placement;
use ccll_core::RunConfig;
use ccll_results::RunResult;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use tch::Tensor;

/// libtorch's random generator is global to the process: tests that train take turns.
static TORCH_RNG: Mutex<()> = Mutex::new(());

pub fn exclusive() -> MutexGuard<'static, ()> {
    TORCH_RNG.lock().unwrap_or_else(|p| p.into_inner())
}

/// A whole run of `cfg` with its checkpoints in `dir`.
pub fn run_to(cfg: &RunConfig, dir: &Path) -> RunResult {
    let opts = RunOptions {
        placement: Placement::cpu(1),
        data_root: None,
        out_dir: dir.to_path_buf(),
        base_dir: None,
    };
    run(cfg, &opts, &mut |_| {}).unwrap()
}

/// Copies of the strategy's tensors whose names start with `prefix`.
pub fn snapshot(s: &Session, prefix: &str) -> BTreeMap<String, Tensor> {
    s.strategy
        .state()
        .into_iter()
        .filter(|(n, _)| n.starts_with(prefix))
        .map(|(n, t)| (n, t.copy()))
        .collect()
}

/// The same, non-empty set of tensors with bit-identical values.
pub fn assert_same(a: &BTreeMap<String, Tensor>, b: &BTreeMap<String, Tensor>, what: &str) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert!(!a.is_empty(), "{what}: nothing to compare");
    for (n, t) in a {
        assert!(t.equal(&b[n]), "{what}: {n} changed");
    }
}
