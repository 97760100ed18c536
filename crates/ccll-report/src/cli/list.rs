//! `runs` and `sweeps`: what is in the store.

use super::text::{aligned, num, opt, short};
use ccll_report::{RunStatus, Store};

pub async fn runs(
    store: &Store,
    sweep: Option<&str>,
    status: Option<RunStatus>,
) -> anyhow::Result<String> {
    let mut runs = store.runs(sweep).await?;
    if let Some(st) = status {
        runs.retain(|r| r.status == st);
    }
    if runs.is_empty() {
        return Ok("no runs\n".to_string());
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                opt(r.sweep.as_deref()),
                r.name.clone(),
                r.status.to_string(),
                num(r.acc),
                num(r.bwt),
                r.attempts.to_string(),
                opt(r.finished_at.as_deref()),
                r.error.as_deref().map_or(String::new(), |e| short(e, 60)),
            ]
        })
        .collect();
    Ok(aligned(
        &[
            "id", "sweep", "name", "status", "ACC", "BWT", "attempts", "finished", "error",
        ],
        &rows,
    ))
}

pub async fn sweeps(store: &Store) -> anyhow::Result<String> {
    let sweeps = store.sweeps().await?;
    if sweeps.is_empty() {
        return Ok("no sweeps\n".to_string());
    }
    let rows: Vec<Vec<String>> = sweeps
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.name.clone(),
                s.runs.to_string(),
                s.finished.to_string(),
                s.failed.to_string(),
                opt(s.profile.as_deref()),
                opt(s.study_file.as_deref()),
                s.updated_at.clone(),
            ]
        })
        .collect();
    Ok(aligned(
        &[
            "id", "name", "runs", "finished", "failed", "profile", "study", "updated",
        ],
        &rows,
    ))
}
