//! The reads: runs and sweeps as listed, a finished run's whole result, shared bases.

use super::{BaseCheckpoint, RunRow, RunStatus, Store, StoreError, SweepRow};
use ccll_results::{
    Artifact, EpochRecord, Flops, Metrics, ParamReport, RunResult, TaskInfo, TaskMatrix, TaskParams,
};
use sqlx::FromRow;

const RUN_COLUMNS: &str = "r.id, s.name AS sweep, r.name, r.config_hash, r.group_key, r.status,
    r.method, r.benchmark, r.arch, r.alpha, r.beta, r.seed, r.base_source, r.config, r.swept,
    r.acc, r.bwt, r.forgetting, r.error, r.log_tail, r.attempts, r.queued_at, r.started_at,
    r.finished_at, r.device, r.host, r.git_commit, r.git_dirty, r.wall_seconds
    FROM runs r LEFT JOIN sweeps s ON s.id = r.sweep_id";

#[derive(FromRow)]
struct RunRecord {
    id: i64,
    sweep: Option<String>,
    name: String,
    config_hash: String,
    group_key: String,
    status: String,
    method: String,
    benchmark: String,
    arch: String,
    alpha: Option<i64>,
    beta: Option<i64>,
    seed: i64,
    base_source: String,
    config: String,
    swept: String,
    acc: Option<f64>,
    bwt: Option<f64>,
    forgetting: Option<f64>,
    error: Option<String>,
    log_tail: Option<String>,
    attempts: i64,
    queued_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    device: Option<String>,
    host: Option<String>,
    git_commit: Option<String>,
    git_dirty: bool,
    wall_seconds: Option<f64>,
}

impl RunRecord {
    fn into_row(self) -> Result<RunRow, StoreError> {
        let id = self.id;
        let corrupt = |column, reason: String| StoreError::Corrupt {
            run_id: id,
            column,
            reason,
        };
        Ok(RunRow {
            id,
            status: self.status.parse().map_err(|e| corrupt("status", e))?,
            config: serde_json::from_str(&self.config)
                .map_err(|e| corrupt("config", e.to_string()))?,
            swept: serde_json::from_str(&self.swept)
                .map_err(|e| corrupt("swept", e.to_string()))?,
            sweep: self.sweep,
            name: self.name,
            config_hash: self.config_hash,
            group_key: self.group_key,
            method: self.method,
            benchmark: self.benchmark,
            arch: self.arch,
            alpha: self.alpha,
            beta: self.beta,
            seed: self.seed,
            base_source: self.base_source,
            acc: self.acc,
            bwt: self.bwt,
            forgetting: self.forgetting,
            error: self.error,
            log_tail: self.log_tail,
            attempts: self.attempts,
            queued_at: self.queued_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            device: self.device,
            host: self.host,
            git_commit: self.git_commit,
            git_dirty: self.git_dirty,
            wall_seconds: self.wall_seconds,
        })
    }
}

#[derive(FromRow)]
struct SweepRecord {
    id: i64,
    name: String,
    study_file: Option<String>,
    profile: Option<String>,
    spec: String,
    created_at: String,
    updated_at: String,
    runs: i64,
    finished: i64,
    failed: i64,
}

const SWEEP_COLUMNS: &str = "s.id, s.name, s.study_file, s.profile, s.spec, s.created_at,
    s.updated_at,
    (SELECT count(*) FROM runs r WHERE r.sweep_id = s.id) AS runs,
    (SELECT count(*) FROM runs r WHERE r.sweep_id = s.id AND r.status = 'finished') AS finished,
    (SELECT count(*) FROM runs r WHERE r.sweep_id = s.id AND r.status = 'failed') AS failed
    FROM sweeps s";

impl SweepRecord {
    fn into_row(self) -> SweepRow {
        SweepRow {
            // A spec that is not JSON is still shown, as a string.
            spec: serde_json::from_str(&self.spec).unwrap_or(serde_json::Value::String(self.spec)),
            id: self.id,
            name: self.name,
            study_file: self.study_file,
            profile: self.profile,
            created_at: self.created_at,
            updated_at: self.updated_at,
            runs: self.runs,
            finished: self.finished,
            failed: self.failed,
        }
    }
}

#[derive(FromRow)]
struct ResultHead {
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
}

#[derive(FromRow)]
struct CurveRow {
    task: i64,
    epoch: i64,
    train_loss: Option<f64>,
    train_acc: Option<f64>,
    lr: Option<f64>,
    seconds: Option<f64>,
}

impl Store {
    /// Runs of the sweep named `sweep` (or of every sweep and single run), oldest first.
    pub async fn runs(&self, sweep: Option<&str>) -> Result<Vec<RunRow>, StoreError> {
        let records: Vec<RunRecord> = match sweep {
            Some(name) => {
                let id = self.sweep_id(name).await?;
                sqlx::query_as(&format!(
                    "SELECT {RUN_COLUMNS} WHERE r.sweep_id = ? ORDER BY r.id"
                ))
                .bind(id)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(&format!("SELECT {RUN_COLUMNS} ORDER BY r.id"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        records.into_iter().map(RunRecord::into_row).collect()
    }

    /// One run as listed.
    pub async fn run(&self, run_id: i64) -> Result<RunRow, StoreError> {
        let record: Option<RunRecord> =
            sqlx::query_as(&format!("SELECT {RUN_COLUMNS} WHERE r.id = ?"))
                .bind(run_id)
                .fetch_optional(&self.pool)
                .await?;
        record.ok_or(StoreError::UnknownRun(run_id))?.into_row()
    }

    /// Every sweep with its run counts, oldest first.
    pub async fn sweeps(&self) -> Result<Vec<SweepRow>, StoreError> {
        let records: Vec<SweepRecord> =
            sqlx::query_as(&format!("SELECT {SWEEP_COLUMNS} ORDER BY s.id"))
                .fetch_all(&self.pool)
                .await?;
        Ok(records.into_iter().map(SweepRecord::into_row).collect())
    }

    /// The sweep named `name`.
    pub async fn sweep(&self, name: &str) -> Result<SweepRow, StoreError> {
        let record: Option<SweepRecord> =
            sqlx::query_as(&format!("SELECT {SWEEP_COLUMNS} WHERE s.name = ?"))
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(record
            .ok_or_else(|| StoreError::UnknownSweep(name.to_string()))?
            .into_row())
    }

    async fn sweep_id(&self, name: &str) -> Result<i64, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM sweeps WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        id.ok_or_else(|| StoreError::UnknownSweep(name.to_string()))
    }

    /// The result [`Store::record_finished`] stored for a run, exactly as it was given.
    /// Fails with [`StoreError::UnknownRun`] for a missing run and [`StoreError::NotFinished`]
    /// for a run that has no result.
    pub async fn run_result(&self, run_id: i64) -> Result<RunResult, StoreError> {
        let head: ResultHead = sqlx::query_as(
            "SELECT method, benchmark, seed, status, tasks, finished_tasks, loss_rows, acc, bwt,
                    forgetting, backbone_params, base_params, flops_base, flops_calibration,
                    wall_seconds, device
             FROM runs WHERE id = ?",
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::UnknownRun(run_id))?;
        if head.status != RunStatus::Finished.as_str() {
            return Err(StoreError::NotFinished {
                run_id,
                status: head.status,
            });
        }
        let corrupt = |column, reason: String| StoreError::Corrupt {
            run_id,
            column,
            reason,
        };
        let count = |v: Option<i64>, column| -> Result<u64, StoreError> {
            u64::try_from(v.unwrap_or(0)).map_err(|e| corrupt(column, e.to_string()))
        };

        let task_rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT name, classes, train_samples, test_samples FROM tasks
             WHERE run_id = ? ORDER BY task",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        let mut tasks = Vec::with_capacity(task_rows.len());
        for (name, classes, train, test) in task_rows {
            tasks.push(TaskInfo {
                name,
                classes: serde_json::from_str(&classes)
                    .map_err(|e| corrupt("tasks.classes", e.to_string()))?,
                train_samples: count(Some(train), "tasks.train_samples")? as usize,
                test_samples: count(Some(test), "tasks.test_samples")? as usize,
            });
        }

        let width = count(head.tasks, "tasks")? as usize;
        let mut acc_matrix = empty_matrix(
            count(head.finished_tasks, "finished_tasks")? as usize,
            width,
        );
        let mut loss_matrix = empty_matrix(count(head.loss_rows, "loss_rows")? as usize, width);
        let cells: Vec<(i64, i64, Option<f64>, Option<f64>)> = sqlx::query_as(
            "SELECT after_task, eval_task, accuracy, loss FROM accuracy WHERE run_id = ?",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        for (after, eval, acc, loss) in cells {
            let (i, j) = (cell_index(after), cell_index(eval));
            // NULL is how SQLite keeps a NaN: inside the matrix's rows it reads back as NaN.
            if let Some(c) = cell(&mut acc_matrix, i, j) {
                *c = Some(acc.unwrap_or(f64::NAN));
            }
            if let Some(c) = cell(&mut loss_matrix, i, j) {
                *c = Some(loss.unwrap_or(f64::NAN));
            }
        }

        let per_task: Vec<(i64, i64, i64, Option<f64>, i64)> = sqlx::query_as(
            "SELECT task, calibration_params, head_params, growth_pct, cumulative_params
             FROM params WHERE run_id = ? ORDER BY task",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        let per_task = per_task
            .into_iter()
            .map(|(task, cal, head_p, growth, cum)| {
                Ok(TaskParams {
                    task: count(Some(task), "params.task")? as usize,
                    calibration_params: count(Some(cal), "params.calibration_params")?,
                    head_params: count(Some(head_p), "params.head_params")?,
                    growth_pct: growth.unwrap_or(f64::NAN),
                    cumulative_params: count(Some(cum), "params.cumulative_params")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;

        let curves: Vec<CurveRow> = sqlx::query_as(
            "SELECT task, epoch, train_loss, train_acc, lr, seconds FROM curves
                 WHERE run_id = ? ORDER BY seq",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        let curves = curves
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

        let artifacts: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT kind, path, sha256, bytes FROM artifacts WHERE run_id = ? ORDER BY seq",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        let artifacts = artifacts
            .into_iter()
            .map(|(kind, path, sha256, bytes)| {
                Ok(Artifact {
                    kind,
                    path,
                    sha256,
                    bytes: count(Some(bytes), "artifacts.bytes")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;

        Ok(RunResult {
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
            wall_seconds: head.wall_seconds.unwrap_or(f64::NAN),
        })
    }

    /// The shared base recorded under `hash`, if any.
    pub async fn base(&self, hash: &str) -> Result<Option<BaseCheckpoint>, StoreError> {
        let row: Option<(String, String, String, Option<i64>, String, String)> = sqlx::query_as(
            "SELECT hash, path, sha256, bytes, source, created_at FROM base_checkpoints
             WHERE hash = ?",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(hash, path, sha256, bytes, source, created_at)| BaseCheckpoint {
                hash,
                path,
                sha256,
                bytes: bytes.and_then(|b| u64::try_from(b).ok()),
                source,
                created_at,
            },
        ))
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
