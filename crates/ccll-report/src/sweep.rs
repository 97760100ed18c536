//! A sweep's runs loaded for reporting, and how they are grouped.
//!
//! A *group* is a configuration without its seed: runs that share the runner's `group_key`.
//! Its label is made of the run's swept values other than the seed, e.g. "ccll alpha=4"
//! (a method name is shown bare, other keys by their last dotted segment).

use crate::{ReportError, RunRow, RunStatus, Store};
use ccll_results::RunResult;
use serde_json::Value;
use std::collections::HashMap;

/// The runs of one sweep, with the full result of each finished one.
#[derive(Debug, Clone)]
pub struct SweepData {
    pub name: String,
    pub runs: Vec<RunRow>,
    /// Finished runs only, by run id.
    pub results: HashMap<i64, RunResult>,
}

/// Runs that differ only by seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub key: String,
    /// The swept values other than the seed, in the sweep's key order.
    pub values: Vec<(String, Value)>,
    pub label: String,
    /// All runs of the group, whatever their status, oldest first.
    pub run_ids: Vec<i64>,
}

impl SweepData {
    /// Loads the sweep named `name`; fails with a message naming it when it does not exist.
    pub async fn load(store: &Store, name: &str) -> Result<SweepData, ReportError> {
        let runs = store.runs(Some(name)).await?;
        let mut results = store.sweep_results(name).await?;
        // A run recorded between the two reads is left for the next report.
        let finished: std::collections::HashSet<i64> = runs
            .iter()
            .filter(|r| r.status == RunStatus::Finished)
            .map(|r| r.id)
            .collect();
        results.retain(|id, _| finished.contains(id));
        Ok(SweepData {
            name: name.to_string(),
            runs,
            results,
        })
    }

    /// The run with id `id`, if it belongs to the sweep (`runs` is in id order, as loaded).
    pub fn run(&self, id: i64) -> Option<&RunRow> {
        match self.runs.binary_search_by_key(&id, |r| r.id) {
            Ok(i) => Some(&self.runs[i]),
            Err(_) => self.runs.iter().find(|r| r.id == id),
        }
    }

    /// Finished runs with their results, oldest first.
    pub fn finished(&self) -> impl Iterator<Item = (&RunRow, &RunResult)> {
        self.runs
            .iter()
            .filter_map(|r| self.results.get(&r.id).map(|res| (r, res)))
    }

    /// Every swept key of the sweep (seed included), in [`key_order`].
    pub fn swept_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for r in &self.runs {
            if let Value::Object(m) = &r.swept {
                for k in m.keys() {
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
            }
        }
        keys.sort_by(|a, b| key_order(a, b));
        keys
    }

    /// Swept keys other than the seed whose values are all numbers and take at least two
    /// values: the axes an ablation chart can be drawn against.
    pub fn numeric_swept_keys(&self) -> Vec<String> {
        self.swept_keys()
            .into_iter()
            .filter(|k| !is_seed_key(k))
            .filter(|k| {
                let values: Vec<&Value> = self.runs.iter().filter_map(|r| r.swept.get(k)).collect();
                let mut distinct: Vec<f64> = values.iter().filter_map(|v| v.as_f64()).collect();
                distinct.sort_by(f64::total_cmp);
                distinct.dedup();
                values.iter().all(|v| v.is_number()) && distinct.len() >= 2
            })
            .collect()
    }

    /// The runs grouped by configuration without seed, in the order groups first appear.
    pub fn groups(&self) -> Vec<Group> {
        group_runs(&self.runs, &[])
    }
}

/// Groups `runs` by their `group_key`, labelling each by its swept values other than the
/// seed and other than the keys in `leave_out`.
pub fn group_runs(runs: &[RunRow], leave_out: &[String]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    for r in runs {
        let values = swept_values(r, leave_out);
        // With keys left out, runs of different group keys may merge: group by values then.
        let key = if leave_out.is_empty() {
            r.group_key.clone()
        } else {
            serde_json::to_string(&values).unwrap_or_default()
        };
        match position.get(&key) {
            Some(&i) => groups[i].run_ids.push(r.id),
            None => {
                position.insert(key.clone(), groups.len());
                groups.push(Group {
                    label: ccll_results::labels::run_label(&values, &r.method),
                    key,
                    values,
                    run_ids: vec![r.id],
                });
            }
        }
    }
    // Two groups with one label (they differ in something not swept): tell them apart.
    let labels: Vec<String> = groups.iter().map(|g| g.label.clone()).collect();
    for g in &mut groups {
        if labels.iter().filter(|l| **l == g.label).count() > 1 {
            let short: String = g.key.chars().take(8).collect();
            g.label = format!("{} [{short}]", g.label);
        }
    }
    groups
}

fn swept_values(r: &RunRow, leave_out: &[String]) -> Vec<(String, Value)> {
    let mut values: Vec<(String, Value)> = match &r.swept {
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| !is_seed_key(k) && !leave_out.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => Vec::new(),
    };
    values.sort_by(|a, b| key_order(&a.0, &b.0));
    values
}

/// The method first, the seed last, the rest by name: labels read "ccll alpha=4".
/// (The swept values are stored as a JSON object, whose key order is not kept.)
pub fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    let rank = |k: &str| match (short_key(k), is_seed_key(k)) {
        ("method", _) => 0,
        (_, true) => 2,
        _ => 1,
    };
    (rank(a), a).cmp(&(rank(b), b))
}

pub use ccll_results::labels::short_key;

/// Whether a swept key is the seed (`seed`, `train.seed`, ...).
pub fn is_seed_key(key: &str) -> bool {
    key.rsplit('.').next() == Some("seed")
}

/// A JSON value as plain text: strings without quotes.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// The value of `key` for a run: a column (`alpha`, `beta`, `seed`, `method`, `benchmark`,
/// `arch`, `base_source`), else a swept key, else a dotted path into the config, else a swept
/// key that ends with it (`alpha` finds `method.alpha`).
pub fn run_value(r: &RunRow, key: &str) -> Option<Value> {
    let column = match key {
        "alpha" => r.alpha.map(Value::from),
        "beta" => r.beta.map(Value::from),
        "seed" => Some(Value::from(r.seed)),
        "method" => Some(Value::from(r.method.clone())),
        "benchmark" => Some(Value::from(r.benchmark.clone())),
        "arch" => Some(Value::from(r.arch.clone())),
        "base_source" => Some(Value::from(r.base_source.clone())),
        _ => None,
    };
    column
        .or_else(|| r.swept.get(key).cloned())
        .or_else(|| {
            key.split('.')
                .try_fold(&r.config, |v, part| v.get(part))
                .cloned()
        })
        .or_else(|| {
            let k = swept_key_for(r.swept.as_object()?.keys(), key)?;
            r.swept.get(&k).cloned()
        })
        .filter(|v| !v.is_null())
}

/// The swept key that `key` names: itself, or the swept key whose underscored form ends with
/// it (`alpha` -> `method.alpha`, `base_source` -> `base.source`) or whose short form it is
/// (`method` -> `method.name`).
pub fn swept_key_for<'a>(keys: impl IntoIterator<Item = &'a String>, key: &str) -> Option<String> {
    let want = key.replace('.', "_");
    let mut fallback = None;
    for k in keys {
        if k == key {
            return Some(k.clone());
        }
        let norm = k.replace('.', "_");
        let ends = norm == want || norm.ends_with(&format!("_{want}"));
        if fallback.is_none() && (ends || short_key(k) == key) {
            fallback = Some(k.clone());
        }
    }
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_and_seeds() {
        assert_eq!(short_key("method.name"), "method");
        assert_eq!(short_key("method.alpha"), "alpha");
        assert_eq!(short_key("seed"), "seed");
        assert!(is_seed_key("train.seed") && is_seed_key("seed"));
        assert!(!is_seed_key("seeds.count.x"));
    }

    #[test]
    fn swept_keys_are_found_by_their_end() {
        let keys = vec!["method.alpha".to_string(), "base.source".to_string()];
        assert_eq!(
            swept_key_for(&keys, "alpha").as_deref(),
            Some("method.alpha")
        );
        assert_eq!(
            swept_key_for(&keys, "base_source").as_deref(),
            Some("base.source")
        );
        assert_eq!(
            swept_key_for(&keys, "method.alpha").as_deref(),
            Some("method.alpha")
        );
        assert_eq!(swept_key_for(&keys, "beta"), None);
        let keys = vec!["method.name".to_string()];
        assert_eq!(
            swept_key_for(&keys, "method").as_deref(),
            Some("method.name")
        );
    }
}
