//! The store rows of runs about to be registered.

use crate::identity::Identity;
use crate::layout::absolute;
use crate::plan::PlannedRun;
use ccll_report::NewRun;

/// The row of a planned run of sweep `sweep_id`, in its folder, starting from the shared
/// base `base_key` if it has one.
pub fn new_run(
    run: &PlannedRun,
    base_key: Option<&str>,
    sweep_id: i64,
    git_commit: &Option<String>,
    git_dirty: bool,
) -> NewRun {
    NewRun {
        run_dir: Some(absolute(&run.dir).display().to_string()),
        base_hash: base_key.map(str::to_string),
        ..new_run_row(
            &run.spec.config,
            &run.spec.identity,
            &run.spec.label,
            run.spec.swept_json(),
            Some(sweep_id),
            git_commit.clone(),
            git_dirty,
        )
    }
}

/// The store row of a run about to be registered (`sweep_id` `None` for `ccll train`).
pub fn new_run_row(
    cfg: &ccll_core::RunConfig,
    id: &Identity,
    label: &str,
    swept: serde_json::Value,
    sweep_id: Option<i64>,
    git_commit: Option<String>,
    git_dirty: bool,
) -> NewRun {
    NewRun {
        sweep_id,
        name: label.to_string(),
        config: cfg.to_json(),
        config_hash: id.config_hash.clone(),
        group_key: id.group_key.clone(),
        swept,
        method: cfg.method.name().to_string(),
        benchmark: cfg.benchmark.name.clone(),
        arch: cfg.model.arch.clone(),
        alpha: cfg.method.alpha(),
        beta: cfg.method.beta(),
        seed: i64::try_from(cfg.train.seed).unwrap_or(i64::MAX),
        base_source: cfg.base.label(),
        git_commit,
        git_dirty,
        run_dir: None,
        base_hash: None,
    }
}
