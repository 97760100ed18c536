//! `ccll status [SWEEP]`: runs by state, like `squeue` for sweeps. Without a sweep, one line
//! per sweep (and one for single `ccll train` runs) with counts by state; with one, the counts
//! and a table of its runs.

use crate::text::table;
use ccll_report::{RunRow, RunStatus, Store};

fn counts(rows: &[&RunRow]) -> [usize; 5] {
    let mut c = [0; 5];
    for r in rows {
        let i = RunStatus::ALL
            .iter()
            .position(|s| *s == r.status)
            .unwrap_or(0);
        c[i] += 1;
    }
    c
}

/// The status text of every sweep, or of one.
pub async fn status_text(store: &Store, sweep: Option<&str>) -> anyhow::Result<String> {
    match sweep {
        None => {
            let rows = store.runs(None).await?;
            if rows.is_empty() {
                return Ok("no runs recorded yet\n".into());
            }
            let mut names: Vec<Option<String>> = Vec::new();
            for r in &rows {
                if !names.contains(&r.sweep) {
                    names.push(r.sweep.clone());
                }
            }
            let mut t = vec![header("sweep")];
            for n in names {
                let of: Vec<&RunRow> = rows.iter().filter(|r| r.sweep == n).collect();
                t.push(count_row(n.unwrap_or_else(|| "(single runs)".into()), &of));
            }
            Ok(table(&t))
        }
        Some(name) => {
            let rows = store.runs(Some(name)).await?;
            let all: Vec<&RunRow> = rows.iter().collect();
            let mut s = table(&[header("sweep"), count_row(name.to_string(), &all)]);
            s.push('\n');
            let mut t = vec![vec![
                "id".to_string(),
                "run".into(),
                "state".into(),
                "tries".into(),
                "requeued".into(),
                "ACC".into(),
                "device".into(),
                "time".into(),
                "error".into(),
            ]];
            for r in &rows {
                t.push(vec![
                    r.id.to_string(),
                    r.name.clone(),
                    r.status.to_string(),
                    r.attempts.to_string(),
                    match &r.requeue_reason {
                        Some(why) if r.requeues > 0 => format!("{} ({why})", r.requeues),
                        _ => r.requeues.to_string(),
                    },
                    r.acc.map_or("-".into(), |a| format!("{a:.2}")),
                    r.device.clone().unwrap_or_else(|| "-".into()),
                    r.wall_seconds.map_or("-".into(), |w| format!("{w:.0}s")),
                    r.error
                        .as_deref()
                        .map(|e| {
                            let e = e.lines().next().unwrap_or("");
                            if e.chars().count() > 80 {
                                format!("{}…", e.chars().take(80).collect::<String>())
                            } else {
                                e.to_string()
                            }
                        })
                        .unwrap_or_default(),
                ]);
            }
            s += &table(&t);
            Ok(s)
        }
    }
}

fn header(first: &str) -> Vec<String> {
    let mut h = vec![first.to_string(), "runs".into()];
    h.extend(RunStatus::ALL.iter().map(|s| s.to_string()));
    h
}

fn count_row(name: String, rows: &[&RunRow]) -> Vec<String> {
    let mut r = vec![name, rows.len().to_string()];
    r.extend(counts(rows).iter().map(|c| c.to_string()));
    r
}
