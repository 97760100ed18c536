//! The job graph of a sweep: one job per run, plus one base-pretraining job per distinct
//! shared base (`ccll_core::run::base_key`: same data, architecture, task-1 training settings,
//! base source and seed). A run that shares a base depends on that base job unless the base is
//! already cached in `<runs>/bases/<key>/` (its `base.json` exists), from this sweep or any
//! earlier one. An alpha sweep of 5 values x 3 seeds thus trains 3 bases, not 15.

use crate::grid::{base_groups, Expanded, RunSpec};
use crate::layout::Layout;
use ccll_core::run::BASE_MANIFEST;
use ccll_core::RunConfig;
use std::path::PathBuf;

/// A job of the graph, by index into [`Plan::runs`] or [`Plan::bases`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobRef {
    Base(usize),
    Run(usize),
}

#[derive(Debug, Clone)]
pub struct PlannedRun {
    pub spec: RunSpec,
    pub dir: PathBuf,
    /// Index into [`Plan::bases`] of the base it starts from.
    pub base: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct PlannedBase {
    pub key: String,
    pub dir: PathBuf,
    /// The config the base is trained from (that of its first run; every run sharing the key
    /// agrees on everything that matters to the base).
    pub config: RunConfig,
    /// Indexes into [`Plan::runs`] of the runs that share it.
    pub runs: Vec<usize>,
    /// Whether `base.json` exists already (trained by an earlier job or sweep).
    pub cached: bool,
    /// Label for display: `base <key8> (<source>, seed N)`.
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub sweep: String,
    pub runs: Vec<PlannedRun>,
    pub bases: Vec<PlannedBase>,
}

impl Plan {
    /// The graph of `expanded` under the sweep name `sweep`, with run and base directories in
    /// `layout`.
    pub fn build(expanded: &Expanded, sweep: &str, layout: &Layout) -> Plan {
        let groups = base_groups(&expanded.runs);
        let mut bases = Vec::new();
        let mut runs: Vec<PlannedRun> = expanded
            .runs
            .iter()
            .map(|spec| PlannedRun {
                dir: layout.run_dir(sweep, &spec.dir_name),
                spec: spec.clone(),
                base: None,
            })
            .collect();
        for (key, members) in groups {
            let dir = layout.base_dir(&key);
            let cfg = expanded.runs[members[0]].config.clone();
            let label = format!(
                "base {} ({}, seed {})",
                &key[..8],
                cfg.base.label(),
                cfg.train.seed
            );
            for &m in &members {
                runs[m].base = Some(bases.len());
            }
            bases.push(PlannedBase {
                cached: dir.join(BASE_MANIFEST).is_file(),
                key,
                dir,
                config: cfg,
                runs: members,
                label,
            });
        }
        Plan {
            sweep: sweep.to_string(),
            runs,
            bases,
        }
    }

    /// Base jobs that have to run for the given runs to run (not cached).
    pub fn base_jobs_for(&self, runs: &[usize]) -> Vec<usize> {
        let mut out: Vec<usize> = runs
            .iter()
            .filter_map(|&r| self.runs[r].base)
            .filter(|&b| !self.bases[b].cached)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}
