//! A finished run's whole result read back: for one run, or for every finished run of a sweep
//! at once. Either way it is six queries in one read transaction (one consistent snapshot),
//! not six per run: the table of a 10,000-run sweep does not pay 60,000 round trips.

use super::{RunStatus, Store, StoreError};
use ccll_results::{
    Artifact, EpochRecord, Flops, Metrics, ParamReport, RuleResult, RunResult, TaskAgnostic,
    TaskInfo, TaskMatrix, TaskParams,
};
use sqlx::FromRow;
use std::collections::HashMap;

/// Which runs to read.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// One run, whatever its status (the caller checks it).
    Run(i64),
    /// The finished runs of the sweep with this id.
    FinishedOfSweep(i64),
}

impl Scope {
    /// The run ids, as a subquery with one `?` parameter ([`Scope::param`]).
    fn run_ids(self) -> &'static str {
        match self {
            Scope::Run(_) => "SELECT id FROM runs WHERE id = ?",
            Scope::FinishedOfSweep(_) => {
                "SELECT id FROM runs WHERE sweep_id = ? AND status = 'finished'"
            }
        }
    }

    fn param(self) -> i64 {
        match self {
            Scope::Run(id) | Scope::FinishedOfSweep(id) => id,
        }
    }
}

#[derive(FromRow)]
struct ResultHead {
    id: i64,
    method: String,
    benchmark: String,
    seed: i64,
    status: String,
    tasks: Option<i64>,
    finished_tasks: Option<i64>,
    loss_rows: Option<i64>,
    acc: Option<f64>,
    bwt: Option<f64>,
    forgetting: Option<f64>,
    backbone_params: Option<i64>,
    base_params: Option<i64>,
    flops_base: Option<i64>,
    flops_calibration: Option<i64>,
    wall_seconds: Option<f64>,
    device: Option<String>,
    data_source: Option<String>,
    task_inference: Option<String>,
    taw_seconds_per_image: Option<f64>,
}

#[derive(FromRow)]
struct RuleRow {
    run_id: i64,
    rule: String,
    acc: Option<f64>,
    bwt: Option<f64>,
    forgetting: Option<f64>,
    seconds_per_image: Option<f64>,
}

#[derive(FromRow)]
struct TagCellRow {
    run_id: i64,
    rule: String,
    after_task: i64,
    task: i64,
    accuracy: Option<f64>,
    task_id_accuracy: Option<f64>,
}

#[derive(FromRow)]
struct TaskRow {
    run_id: i64,
    name: String,
    classes: String,
    train_samples: i64,
    test_samples: i64,
}

#[derive(FromRow)]
struct CellRow {
    run_id: i64,
    after_task: i64,
    task: i64,
    accuracy: Option<f64>,
    loss: Option<f64>,
}

#[derive(FromRow)]
struct ParamRow {
    run_id: i64,
    task: i64,
    calibration_params: i64,
    head_params: i64,
    growth_pct: Option<f64>,
    cumulative_params: i64,
}

#[derive(FromRow)]
struct CurveRow {
    run_id: i64,
    task: i64,
    epoch: i64,
    train_loss: Option<f64>,
    train_acc: Option<f64>,
    lr: Option<f64>,
    seconds: Option<f64>,
}

#[derive(FromRow)]
struct ArtifactRow {
    run_id: i64,
    kind: String,
    path: String,
    sha256: String,
    bytes: i64,
}

/// The rows of the result tables for the runs of a scope, grouped by run id.
struct Rows {
    heads: Vec<ResultHead>,
    tasks: HashMap<i64, Vec<TaskRow>>,
    cells: HashMap<i64, Vec<CellRow>>,
    params: HashMap<i64, Vec<ParamRow>>,
    curves: HashMap<i64, Vec<CurveRow>>,
    artifacts: HashMap<i64, Vec<ArtifactRow>>,
    rules: HashMap<i64, Vec<RuleRow>>,
    tag_cells: HashMap<i64, Vec<TagCellRow>>,
}

fn by_run<T>(rows: Vec<T>, run_id: impl Fn(&T) -> i64) -> HashMap<i64, Vec<T>> {
    let mut map: HashMap<i64, Vec<T>> = HashMap::new();
    for row in rows {
        map.entry(run_id(&row)).or_default().push(row);
    }
    map
}

async fn fetch(store: &Store, scope: Scope) -> Result<Rows, StoreError> {
    let ids = scope.run_ids();
    let p = scope.param();
    let mut tx = store.pool.begin().await?;
    let heads: Vec<ResultHead> = sqlx::query_as(&format!(
        "SELECT id, method, benchmark, seed, status, tasks, finished_tasks, loss_rows, acc, bwt,
                forgetting, backbone_params, base_params, flops_base, flops_calibration,
                wall_seconds, device, data_source, task_inference, taw_seconds_per_image
         FROM runs WHERE id IN ({ids}) ORDER BY id"
    ))
    .bind(p)
    .fetch_all(&mut *tx)
    .await?;
    let tasks: Vec<TaskRow> = sqlx::query_as(&format!(
        "SELECT run_id, name, classes, train_samples, test_samples FROM tasks
         WHERE run_id IN ({ids}) ORDER BY run_id, task"
    ))
    .bind(p)
    .fetch_all(&mut *tx)
    .await?;
    let cells: Vec<CellRow> = sqlx::query_as(&format!(
        "SELECT run_id, after_task, task, accuracy, loss FROM accuracy
         WHERE run_id IN ({ids})"
    ))
    .bind(p)
    .fetch_all(&mut *tx)
    .await?;
    let params: Vec<ParamRow> = sqlx::query_as(&format!(
        "SELECT run_id, task, calibration_params, head_params, growth_pct, cumulative_params
         FROM params WHERE run_id IN ({ids}) ORDER BY run_id, task"
    ))
    .bind(p)
    .fetch_all(&mut *tx)
    .await?;
    let curves: Vec<CurveRow> = sqlx::query_as(&format!(
        "SELECT run_id, task, epoch, train_loss, train_acc, lr, seconds FROM curves
         WHERE run_id IN ({ids}) ORDER BY run_id, seq"
    ))
    .bind(p)
    .fetch_all(&mut *tx)
    .await?;
    let artifacts: Vec<ArtifactRow> = sqlx::query_as(&format!(
        "SELECT run_id, kind, path, sha256, bytes FROM artifacts
         WHERE run_id IN ({ids}) ORDER BY run_id, seq"
    ))
    .bind(p)
    .fetch_all(&mut *tx)
    .await?;
    let rules: Vec<RuleRow> = sqlx::query_as(&format!(
        "SELECT run_id, rule, acc, bwt, forgetting, seconds_per_image FROM task_inference
         WHERE run_id IN ({ids}) ORDER BY run_id, rowid"
    ))
    .bind(p)
    .fetch_all(&mut *tx)
    .await?;
    let tag_cells: Vec<TagCellRow> = sqlx::query_as(&format!(
        "SELECT run_id, rule, after_task, task, accuracy, task_id_accuracy
         FROM task_agnostic WHERE run_id IN ({ids})"
    ))
    .bind(p)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Rows {
        rules: by_run(rules, |r| r.run_id),
        tag_cells: by_run(tag_cells, |r| r.run_id),
        heads,
        tasks: by_run(tasks, |r| r.run_id),
        cells: by_run(cells, |r| r.run_id),
        params: by_run(params, |r| r.run_id),
        curves: by_run(curves, |r| r.run_id),
        artifacts: by_run(artifacts, |r| r.run_id),
    })
}

/// One run's result from its head row and its rows of the other tables.
fn assemble(head: ResultHead, rows: &mut Rows) -> Result<RunResult, StoreError> {
    let run_id = head.id;
    let corrupt = |column, reason: String| StoreError::Corrupt {
        run_id,
        column,
        reason,
    };
    let count = |v: Option<i64>, column| -> Result<u64, StoreError> {
        u64::try_from(v.unwrap_or(0)).map_err(|e| corrupt(column, e.to_string()))
    };

    let mut tasks = Vec::new();
    for t in rows.tasks.remove(&run_id).unwrap_or_default() {
        tasks.push(TaskInfo {
            name: t.name,
            classes: serde_json::from_str(&t.classes)
                .map_err(|e| corrupt("tasks.classes", e.to_string()))?,
            train_samples: count(Some(t.train_samples), "tasks.train_samples")? as usize,
            test_samples: count(Some(t.test_samples), "tasks.test_samples")? as usize,
        });
    }

    let width = count(head.tasks, "tasks")? as usize;
    let mut acc_matrix = empty_matrix(
        count(head.finished_tasks, "finished_tasks")? as usize,
        width,
    );
    let mut loss_matrix = empty_matrix(count(head.loss_rows, "loss_rows")? as usize, width);
    for c in rows.cells.remove(&run_id).unwrap_or_default() {
        let (i, j) = (cell_index(c.after_task), cell_index(c.task));
        // NULL is how SQLite keeps a NaN: inside the matrix's rows it reads back as NaN.
        if let Some(slot) = cell(&mut acc_matrix, i, j) {
            *slot = Some(c.accuracy.unwrap_or(f64::NAN));
        }
        if let Some(slot) = cell(&mut loss_matrix, i, j) {
            *slot = Some(c.loss.unwrap_or(f64::NAN));
        }
    }

    let per_task = rows
        .params
        .remove(&run_id)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            Ok(TaskParams {
                task: count(Some(p.task), "params.task")? as usize,
                calibration_params: count(Some(p.calibration_params), "params.calibration_params")?,
                head_params: count(Some(p.head_params), "params.head_params")?,
                growth_pct: p.growth_pct.unwrap_or(f64::NAN),
                cumulative_params: count(Some(p.cumulative_params), "params.cumulative_params")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

    let curves = rows
        .curves
        .remove(&run_id)
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            Ok(EpochRecord {
                task: count(Some(c.task), "curves.task")? as usize,
                epoch: count(Some(c.epoch), "curves.epoch")? as usize,
                train_loss: c.train_loss.unwrap_or(f64::NAN),
                train_acc: c.train_acc.unwrap_or(f64::NAN),
                lr: c.lr.unwrap_or(f64::NAN),
                seconds: c.seconds.unwrap_or(f64::NAN),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

    let artifacts = rows
        .artifacts
        .remove(&run_id)
        .unwrap_or_default()
        .into_iter()
        .map(|a| {
            Ok(Artifact {
                kind: a.kind,
                path: a.path,
                sha256: a.sha256,
                bytes: count(Some(a.bytes), "artifacts.bytes")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

    let task_agnostic = head.task_inference.clone().map(|primary| {
        let cells = rows.tag_cells.remove(&run_id).unwrap_or_default();
        let rules = rows
            .rules
            .remove(&run_id)
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let mut acc_matrix = empty_matrix(acc_matrix.rows(), width);
                let mut task_id_matrix = empty_matrix(acc_matrix.rows(), width);
                for c in cells.iter().filter(|c| c.rule == r.rule) {
                    let (i, j) = (cell_index(c.after_task), cell_index(c.task));
                    if let Some(slot) = cell(&mut acc_matrix, i, j) {
                        *slot = Some(c.accuracy.unwrap_or(f64::NAN));
                    }
                    if let Some(slot) = cell(&mut task_id_matrix, i, j) {
                        *slot = Some(c.task_id_accuracy.unwrap_or(f64::NAN));
                    }
                }
                RuleResult {
                    rule: r.rule,
                    acc_matrix,
                    task_id_matrix,
                    metrics: Metrics {
                        acc: r.acc.unwrap_or(f64::NAN),
                        bwt: r.bwt.unwrap_or(f64::NAN),
                        forgetting: r.forgetting.unwrap_or(f64::NAN),
                    },
                    seconds_per_image: r.seconds_per_image.unwrap_or(f64::NAN),
                }
            })
            .collect();
        TaskAgnostic {
            primary,
            task_aware_seconds_per_image: head.taw_seconds_per_image.unwrap_or(f64::NAN),
            rules,
        }
    });

    Ok(RunResult {
        task_agnostic,
        method: head.method,
        benchmark: head.benchmark,
        seed: count(Some(head.seed), "seed")?,
        tasks,
        acc_matrix,
        loss_matrix,
        metrics: Metrics {
            acc: head.acc.unwrap_or(f64::NAN),
            bwt: head.bwt.unwrap_or(f64::NAN),
            forgetting: head.forgetting.unwrap_or(f64::NAN),
        },
        params: ParamReport {
            backbone_params: count(head.backbone_params, "backbone_params")?,
            base_params: count(head.base_params, "base_params")?,
            per_task,
            flops: Flops {
                base: count(head.flops_base, "flops_base")?,
                calibration: count(head.flops_calibration, "flops_calibration")?,
            },
        },
        curves,
        artifacts,
        device: head.device.unwrap_or_default(),
        data_source: head.data_source.unwrap_or_default(),
        wall_seconds: head.wall_seconds.unwrap_or(f64::NAN),
    })
}

impl Store {
    /// The result [`Store::record_finished`] stored for a run, exactly as it was given.
    /// Fails with [`StoreError::UnknownRun`] for a missing run and [`StoreError::NotFinished`]
    /// for a run that has no result.
    pub async fn run_result(&self, run_id: i64) -> Result<RunResult, StoreError> {
        let mut rows = fetch(self, Scope::Run(run_id)).await?;
        let head = rows.heads.pop().ok_or(StoreError::UnknownRun(run_id))?;
        if head.status != RunStatus::Finished.as_str() {
            return Err(StoreError::NotFinished {
                run_id,
                status: head.status,
            });
        }
        assemble(head, &mut rows)
    }

    /// The results of every finished run of the sweep named `name`, by run id: what
    /// [`Store::run_result`] gives for each, read in one pass.
    pub async fn sweep_results(&self, name: &str) -> Result<HashMap<i64, RunResult>, StoreError> {
        let sweep = self.sweep_id(name).await?;
        let mut rows = fetch(self, Scope::FinishedOfSweep(sweep)).await?;
        let heads = std::mem::take(&mut rows.heads);
        heads
            .into_iter()
            .map(|head| {
                let id = head.id;
                Ok((id, assemble(head, &mut rows)?))
            })
            .collect()
    }
}

fn empty_matrix(rows: usize, width: usize) -> TaskMatrix {
    TaskMatrix(vec![vec![None; width]; rows])
}

/// 1-based task number to 0-based index (usize::MAX for nonsense, which `cell` then drops).
fn cell_index(task: i64) -> usize {
    usize::try_from(task.saturating_sub(1)).unwrap_or(usize::MAX)
}

fn cell(m: &mut TaskMatrix, i: usize, j: usize) -> Option<&mut Option<f64>> {
    m.0.get_mut(i)?.get_mut(j)
}
