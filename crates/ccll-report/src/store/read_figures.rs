//! The figures a sweep's table needs, read with three SQL queries over the sweep's finished
//! runs (metrics columns, the primary rule's last task-id row, the per-task counts of tasks
//! 2..n), without assembling any run's result: what keeps the table of a 10,000-run sweep
//! fast. The values are the ones [`crate::table::RunFigures::of`] takes from a full result
//! (NULL read back as NaN where the result reader does so).

use super::{Store, StoreError};
use crate::table::RunFigures;
use sqlx::FromRow;
use std::collections::HashMap;

#[derive(FromRow)]
struct Head {
    id: i64,
    acc: Option<f64>,
    bwt: Option<f64>,
    forgetting: Option<f64>,
    task_inference: Option<String>,
    primary_acc: Option<f64>,
    has_primary: bool,
    data_source: Option<String>,
}

impl Store {
    /// Figures of every finished run of the sweep named `name`, by run id.
    pub async fn sweep_figures(&self, name: &str) -> Result<HashMap<i64, RunFigures>, StoreError> {
        let sweep = self.sweep_id(name).await?;
        let mut tx = self.pool.begin().await?;
        let heads: Vec<Head> = sqlx::query_as(
            "SELECT r.id, r.acc, r.bwt, r.forgetting, r.task_inference, ti.acc AS primary_acc,
                    ti.rule IS NOT NULL AS has_primary, r.data_source
             FROM runs r
             LEFT JOIN task_inference ti ON ti.run_id = r.id AND ti.rule = r.task_inference
             WHERE r.sweep_id = ? AND r.status = 'finished' ORDER BY r.id",
        )
        .bind(sweep)
        .fetch_all(&mut *tx)
        .await?;
        // The primary rule's row after the last task, cells inside the matrix only.
        let task_id: Vec<(i64, Option<f64>)> = sqlx::query_as(
            "SELECT ta.run_id, ta.task_id_accuracy
             FROM task_agnostic ta JOIN runs r ON r.id = ta.run_id
             WHERE r.sweep_id = ? AND r.status = 'finished' AND ta.rule = r.task_inference
               AND ta.after_task = r.finished_tasks AND ta.task <= r.tasks
             ORDER BY ta.run_id, ta.task",
        )
        .bind(sweep)
        .fetch_all(&mut *tx)
        .await?;
        let later: Vec<(i64, i64, Option<f64>)> = sqlx::query_as(
            "SELECT p.run_id, p.calibration_params, p.growth_pct
             FROM params p JOIN runs r ON r.id = p.run_id
             WHERE r.sweep_id = ? AND r.status = 'finished' AND p.task > 1
             ORDER BY p.run_id, p.task",
        )
        .bind(sweep)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;

        let mut task_ids: HashMap<i64, Vec<f64>> = HashMap::new();
        for (run, v) in task_id {
            task_ids.entry(run).or_default().push(v.unwrap_or(f64::NAN));
        }
        let mut laters: HashMap<i64, Vec<(f64, f64)>> = HashMap::new();
        for (run, params, growth) in later {
            laters
                .entry(run)
                .or_default()
                .push((params as f64, growth.unwrap_or(f64::NAN)));
        }
        Ok(heads
            .into_iter()
            .map(|h| {
                let has_primary = h.has_primary && h.task_inference.is_some();
                let figures = RunFigures {
                    acc: h.acc.unwrap_or(f64::NAN),
                    bwt: h.bwt.unwrap_or(f64::NAN),
                    forgetting: h.forgetting.unwrap_or(f64::NAN),
                    primary_rule: h.task_inference,
                    tag_acc: has_primary.then(|| h.primary_acc.unwrap_or(f64::NAN)),
                    last_task_id: has_primary.then(|| task_ids.remove(&h.id).unwrap_or_default()),
                    later: laters.remove(&h.id).unwrap_or_default(),
                    data_source: h.data_source.unwrap_or_default(),
                };
                (h.id, figures)
            })
            .collect())
    }
}
