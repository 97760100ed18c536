//! Reconciling a sweep with what earlier invocations left: the store's run rows and the run
//! directories. Decides per run whether it is done (finished in the store), can be recorded
//! from its files without running (a `result.json` that matches its config exists but was
//! never recorded, e.g. the runner was killed between the worker's exit and the record), or
//! has to run (again). Runs that were `running` when a runner died have no worker any more
//! (local workers die with the runner; Slurm leftovers are cancelled first), so they run
//! again: from their last finished task when their folder holds a `progress.json`, from a
//! clean folder otherwise (see the scheduler).

use crate::outcome::result_on_disk;
use crate::plan::Plan;
use ccll_report::{RunRow, RunStatus, Store};
use std::collections::HashMap;

/// What to do with one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Finished before: nothing to do.
    Cached,
    /// Its result was on disk and has just been recorded.
    Recovered,
    /// It has to run.
    Pending,
}

/// Decides for each run of `plan` (with store ids `run_ids`) and records the results found on
/// disk. `force` runs finished runs again.
pub async fn reconcile(
    plan: &Plan,
    run_ids: &[i64],
    rows: &[RunRow],
    store: &Store,
    force: bool,
) -> anyhow::Result<Vec<Resume>> {
    let by_id: HashMap<i64, &RunRow> = rows.iter().map(|r| (r.id, r)).collect();
    let mut out = Vec::with_capacity(plan.runs.len());
    for (run, &id) in plan.runs.iter().zip(run_ids) {
        let status = by_id.get(&id).map(|r| r.status);
        let decision = match status {
            Some(RunStatus::Finished) if !force => Resume::Cached,
            _ if force => Resume::Pending,
            _ => match result_on_disk(&run.dir, &run.spec.identity.config_hash) {
                Some(result) => match store.record_finished(id, &result).await {
                    Ok(()) => Resume::Recovered,
                    // Training it again would not help: its result could not be recorded either.
                    Err(e) if e.is_database_failure() => anyhow::bail!(
                        "the store {} cannot be written ({e}): the result in {} cannot be \
                         recorded; nothing was started",
                        store.path().display(),
                        run.dir.display()
                    ),
                    Err(e) => {
                        tracing::warn!(
                            "{}: result on disk could not be recorded ({e}); running it again",
                            run.dir.display()
                        );
                        Resume::Pending
                    }
                },
                None => Resume::Pending,
            },
        };
        out.push(decision);
    }
    Ok(out)
}
