//! Before any job of a sweep starts, every dataset its runs read (the benchmark, and a base
//! pretrained on another one) is located, not loaded, on the machine running `ccll sweep`. A
//! missing one stops the sweep with the runs it affects, how to get the files, and the
//! profiles of the study whose data is all here.

use crate::grid::{expand, Expanded};
use crate::study::Study;
use ccll_core::BaseSource;
use ccll_data::{locate_benchmark_data, BenchmarkConfig};
use std::collections::HashMap;
use std::path::Path;

/// A dataset that cannot be found, and the runs that need it.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingData {
    /// The loader's not-found error: where it looked and how to obtain the files.
    pub error: String,
    pub runs: Vec<String>,
}

/// The datasets the runs of `x` need that cannot be found under `data_root`, in order of
/// first need; each distinct benchmark config is located once.
pub fn missing_data(x: &Expanded, data_root: &Path) -> Vec<MissingData> {
    let mut located: HashMap<String, Option<String>> = HashMap::new();
    let mut missing: Vec<MissingData> = Vec::new();
    for run in &x.runs {
        let mut needed: Vec<&BenchmarkConfig> = vec![&run.config.benchmark];
        if let BaseSource::Benchmark(source) = &run.config.base.source {
            needed.push(source);
        }
        for bench in needed {
            let key = serde_json::to_string(bench).unwrap_or_default();
            let error = located
                .entry(key)
                .or_insert_with(|| {
                    locate_benchmark_data(bench, data_root)
                        .err()
                        .map(|e| e.to_string())
                })
                .clone();
            let Some(error) = error else { continue };
            match missing.iter_mut().find(|m| m.error == error) {
                Some(m) if !m.runs.contains(&run.label) => m.runs.push(run.label.clone()),
                Some(_) => {}
                None => missing.push(MissingData {
                    error,
                    runs: vec![run.label.clone()],
                }),
            }
        }
    }
    missing
}

/// The profiles of `study` whose every run finds its data under `data_root`.
pub fn runnable_profiles(study: &Study, data_root: &Path) -> Vec<String> {
    study
        .profiles
        .iter()
        .filter(|p| {
            expand(study, Some(&p.name), &[]).is_ok_and(|x| missing_data(&x, data_root).is_empty())
        })
        .map(|p| p.name.clone())
        .collect()
}

/// What `ccll sweep` prints when data is missing.
pub fn missing_text(missing: &[MissingData], runnable: &[String], study_file: &str) -> String {
    let total: usize = missing.iter().map(|m| m.runs.len()).sum();
    let mut s = format!("error: the data of {total} run(s) is missing; nothing was started\n");
    for m in missing {
        let shown: Vec<&str> = m.runs.iter().take(3).map(String::as_str).collect();
        let more = m.runs.len().saturating_sub(shown.len());
        s += &format!(
            "- {} run(s) ({}{}): {}\n",
            m.runs.len(),
            shown.join(", "),
            if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            },
            m.error
        );
    }
    if runnable.is_empty() {
        s += "no profile of this study has all its data here\n";
    } else {
        s += &format!(
            "profiles of this study whose data is here: {} (e.g. `ccll sweep {study_file} --profile {}`)\n",
            runnable.join(", "),
            runnable[0]
        );
    }
    s
}
