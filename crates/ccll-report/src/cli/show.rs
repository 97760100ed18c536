//! `show RUN`: one run in full.

use super::text::{aligned, opt};
use ccll_report::stats::human_count;
use ccll_report::{Store, StoreError};
use std::fmt::Write as _;

pub async fn show_json(store: &Store, run_id: i64) -> anyhow::Result<String> {
    let run = store.run(run_id).await?;
    let result = match store.run_result(run_id).await {
        Ok(r) => Some(r),
        Err(StoreError::NotFinished { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let mut s = serde_json::to_string_pretty(&serde_json::json!({ "run": run, "result": result }))?;
    s.push('\n');
    Ok(s)
}

pub async fn show_text(store: &Store, run_id: i64) -> anyhow::Result<String> {
    let r = store.run(run_id).await?;
    let mut o = String::new();
    writeln!(o, "run {}: {}", r.id, r.name)?;
    writeln!(
        o,
        "sweep: {}   status: {}   attempts: {}",
        opt(r.sweep.as_deref()),
        r.status,
        r.attempts
    )?;
    writeln!(
        o,
        "method: {}   benchmark: {}   arch: {}   alpha: {}   beta: {}   seed: {}   base: {}",
        r.method,
        r.benchmark,
        r.arch,
        opt(r.alpha),
        opt(r.beta),
        r.seed,
        r.base_source
    )?;
    writeln!(
        o,
        "device: {}   host: {}   queued: {}   started: {}   finished: {}",
        opt(r.device.as_deref()),
        opt(r.host.as_deref()),
        r.queued_at,
        opt(r.started_at.as_deref()),
        opt(r.finished_at.as_deref())
    )?;
    writeln!(
        o,
        "git: {}{}   config hash: {}",
        opt(r.git_commit.as_deref()),
        if r.git_dirty { " (dirty)" } else { "" },
        r.config_hash
    )?;
    if let Some(e) = &r.error {
        writeln!(o, "\nerror: {e}")?;
    }
    if let Some(t) = r.log_tail.as_deref().filter(|t| !t.is_empty()) {
        writeln!(o, "log tail:\n{t}")?;
    }

    match store.run_result(run_id).await {
        Ok(res) => {
            let m = res.metrics;
            writeln!(
                o,
                "\nACC {:.2}%   BWT {:.2} pp   forgetting {:.2} pp   wall time {:.1} s",
                m.acc, m.bwt, m.forgetting, res.wall_seconds
            )?;
            writeln!(
                o,
                "\naccuracy matrix (%): row = after training task, column = task evaluated"
            )?;
            let n = res.acc_matrix.0.first().map_or(0, Vec::len);
            let headers: Vec<String> = std::iter::once("after".to_string())
                .chain((1..=n).map(|j| j.to_string()))
                .collect();
            let rows: Vec<Vec<String>> = res
                .acc_matrix
                .0
                .iter()
                .enumerate()
                .map(|(i, row)| {
                    std::iter::once((i + 1).to_string())
                        .chain(
                            row.iter()
                                .map(|v| v.map_or(String::new(), |v| format!("{v:.2}"))),
                        )
                        .collect()
                })
                .collect();
            let h: Vec<&str> = headers.iter().map(String::as_str).collect();
            o.push_str(&aligned(&h, &rows));

            let p = &res.params;
            let flops_pct = if p.flops.base > 0 {
                100.0 * p.flops.calibration as f64 / p.flops.base as f64
            } else {
                0.0
            };
            writeln!(
                o,
                "\nparameters: backbone {}, base (backbone + all heads) {}; FLOPs per image: base {}, calibration +{} ({:.2}%)",
                human_count(p.backbone_params as f64),
                human_count(p.base_params as f64),
                human_count(p.flops.base as f64),
                human_count(p.flops.calibration as f64),
                flops_pct
            )?;
            let rows: Vec<Vec<String>> = p
                .per_task
                .iter()
                .map(|t| {
                    vec![
                        t.task.to_string(),
                        t.calibration_params.to_string(),
                        t.head_params.to_string(),
                        format!("{:.3}", t.growth_pct),
                        t.cumulative_params.to_string(),
                    ]
                })
                .collect();
            o.push_str(&aligned(
                &["task", "calibration", "head", "growth %", "cumulative"],
                &rows,
            ));
            if !res.artifacts.is_empty() {
                writeln!(o, "\nartifacts:")?;
                let rows: Vec<Vec<String>> = res
                    .artifacts
                    .iter()
                    .map(|a| {
                        vec![
                            a.kind.clone(),
                            a.path.clone(),
                            a.sha256.clone(),
                            a.bytes.to_string(),
                        ]
                    })
                    .collect();
                o.push_str(&aligned(&["kind", "path", "sha256", "bytes"], &rows));
            }
        }
        Err(StoreError::NotFinished { .. }) => {
            writeln!(o, "\n(no results: the run has not finished)")?
        }
        Err(e) => return Err(e.into()),
    }

    writeln!(o, "\nconfig:")?;
    o.push_str(&serde_yaml::to_string(&r.config)?);
    Ok(o)
}
