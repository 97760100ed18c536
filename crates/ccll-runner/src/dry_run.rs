//! `ccll sweep --dry-run`: the expanded runs and base jobs as tables, with what the store
//! already holds.

use crate::grid::{varying_keys, Expanded};
use crate::identity::value_label;
use crate::plan::Plan;
use crate::text::table;
use ccll_report::{RunStatus, Store};
use std::collections::HashMap;
use std::path::Path;

/// The expanded runs and base jobs, with what the store says about them.
pub async fn dry_run_text(x: &Expanded, plan: &Plan, db: &Path) -> String {
    let mut status: HashMap<String, RunStatus> = HashMap::new();
    if let Ok(store) = Store::open_read_only(db).await {
        if let Ok(rows) = store.runs(Some(&plan.sweep)).await {
            for r in rows {
                status.insert(r.config_hash, r.status);
            }
        }
        store.close().await;
    }
    let keys = varying_keys(&x.runs);
    let mut s = format!(
        "sweep `{}`{}: {} runs, {} base jobs{}\n\n",
        plan.sweep,
        x.profile
            .as_ref()
            .map_or(String::new(), |p| format!(" (profile {p})")),
        plan.runs.len(),
        plan.bases.len(),
        x.description
            .as_ref()
            .map_or(String::new(), |d| format!(" — {d}"))
    );
    let mut rows: Vec<Vec<String>> = vec![{
        let mut h = vec!["run".to_string(), "hash".into()];
        h.extend(keys.iter().cloned());
        h.extend(["base job".into(), "status".into()]);
        h
    }];
    for r in &plan.runs {
        let mut row = vec![r.spec.label.clone(), r.spec.identity.short().to_string()];
        for k in &keys {
            row.push(
                r.spec
                    .swept
                    .iter()
                    .find(|(sk, _)| sk == k)
                    .map_or("-".into(), |(_, v)| value_label(v)),
            );
        }
        row.push(match r.base {
            Some(b) => plan.bases[b].key[..8].to_string(),
            None => "-".into(),
        });
        row.push(
            status
                .get(&r.spec.identity.config_hash)
                .map_or("new".into(), |st| st.to_string()),
        );
        rows.push(row);
    }
    s += &table(&rows);
    if !plan.bases.is_empty() {
        s += "\n";
        let mut rows = vec![vec![
            "base job".to_string(),
            "source".into(),
            "seed".into(),
            "runs".into(),
            "state".into(),
        ]];
        for b in &plan.bases {
            rows.push(vec![
                b.key[..8].to_string(),
                b.config.base.label(),
                b.config.train.seed.to_string(),
                b.runs.len().to_string(),
                if b.cached { "cached" } else { "to train" }.into(),
            ]);
        }
        s += &table(&rows);
    }
    s
}
