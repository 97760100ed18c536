//! The writes: sweeps, run registration and status changes, finished results, shared bases.
//! Each change that touches several rows is one `BEGIN IMMEDIATE` transaction, so a run's
//! results appear whole or not at all and concurrent writers queue on the busy timeout
//! instead of failing on a lock upgrade.

use super::{now, NewBase, NewRun, NewSweep, Store, StoreError};
use ccll_results::{RunResult, TaskMatrix};
use sqlx::{Sqlite, Transaction};

impl Store {
    /// Creates or updates the sweep row by name (study file, expanded spec, profile) and
    /// returns its id.
    pub async fn upsert_sweep(&self, sweep: &NewSweep) -> Result<i64, StoreError> {
        let t = now();
        let id = sqlx::query_scalar(
            "INSERT INTO sweeps (name, study_file, profile, spec, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET
                 study_file = excluded.study_file, profile = excluded.profile,
                 spec = excluded.spec, updated_at = excluded.updated_at
             RETURNING id",
        )
        .bind(&sweep.name)
        .bind(&sweep.study_file)
        .bind(&sweep.profile)
        .bind(sweep.spec.to_string())
        .bind(&t)
        .bind(&t)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    /// Registers a run as `queued`, unless a run with the same (sweep, config hash) exists:
    /// then returns that run's id and changes nothing but a missing run folder or base hash,
    /// so a resumed sweep can re-register all of its runs.
    pub async fn register_run(&self, run: &NewRun) -> Result<i64, StoreError> {
        if let Some(sweep_id) = run.sweep_id {
            let known: Option<i64> = sqlx::query_scalar("SELECT id FROM sweeps WHERE id = ?")
                .bind(sweep_id)
                .fetch_optional(&self.pool)
                .await?;
            if known.is_none() {
                return Err(StoreError::UnknownSweepId(sweep_id));
            }
        }
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO runs (sweep_id, name, config, config_hash, group_key, swept, method,
                               benchmark, arch, alpha, beta, seed, base_source, git_commit,
                               git_dirty, run_dir, base_hash, status, queued_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)
             ON CONFLICT DO NOTHING
             RETURNING id",
        )
        .bind(run.sweep_id)
        .bind(&run.name)
        .bind(run.config.to_string())
        .bind(&run.config_hash)
        .bind(&run.group_key)
        .bind(run.swept.to_string())
        .bind(&run.method)
        .bind(&run.benchmark)
        .bind(&run.arch)
        .bind(run.alpha)
        .bind(run.beta)
        .bind(run.seed)
        .bind(&run.base_source)
        .bind(&run.git_commit)
        .bind(run.git_dirty)
        .bind(&run.run_dir)
        .bind(&run.base_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        if let Some(id) = inserted {
            return Ok(id);
        }
        let existing = sqlx::query_scalar(
            "SELECT id FROM runs WHERE ifnull(sweep_id, -1) = ifnull(?, -1) AND config_hash = ?",
        )
        .bind(run.sweep_id)
        .bind(&run.config_hash)
        .fetch_one(&self.pool)
        .await?;
        // Stores from before version 5 learn where their runs live on the next registration.
        sqlx::query(
            "UPDATE runs SET run_dir = coalesce(run_dir, ?), base_hash = coalesce(base_hash, ?)
             WHERE id = ?",
        )
        .bind(&run.run_dir)
        .bind(&run.base_hash)
        .bind(existing)
        .execute(&self.pool)
        .await?;
        Ok(existing)
    }

    /// Marks a run as running on `device` of `host`: sets the start time, counts the
    /// attempt, clears the error of an earlier attempt.
    pub async fn mark_running(
        &self,
        run_id: i64,
        device: &str,
        host: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE runs SET status = 'running', started_at = ?, finished_at = NULL,
                 attempts = attempts + 1, error = NULL, log_tail = NULL, device = ?, host = ?
             WHERE id = ?",
        )
        .bind(now())
        .bind(device)
        .bind(host)
        .bind(run_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownRun(run_id));
        }
        Ok(())
    }

    /// Records how many tasks a running run has trained and evaluated so far (its
    /// `finished_tasks`, until the run's result replaces it).
    pub async fn mark_progress(&self, run_id: i64, tasks_done: usize) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET finished_tasks = ? WHERE id = ? AND status = 'running'")
            .bind(int(run_id, "finished_tasks", tasks_done)?)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A running run stopped to be requeued (`reason`): back to `queued`, one more requeue
    /// counted; its results so far stay on disk for the next attempt.
    pub async fn mark_requeued(&self, run_id: i64, reason: &str) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE runs SET status = 'queued', requeues = requeues + 1, requeue_reason = ?
             WHERE id = ?",
        )
        .bind(reason)
        .bind(run_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownRun(run_id));
        }
        Ok(())
    }

    /// Records a finished run in one transaction: drops any earlier result rows of the run,
    /// inserts its tasks, accuracy matrix (accuracy and loss per cell), parameters, curves
    /// and artifacts, fills the metric columns and sets the status to `finished`.
    ///
    /// The result must belong to the run (same method, benchmark and seed) and its matrices
    /// must be well formed; otherwise nothing is written.
    pub async fn record_finished(&self, run_id: i64, result: &RunResult) -> Result<(), StoreError> {
        let tasks = task_count(run_id, result)?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        check_identity(&mut tx, run_id, result).await?;
        delete_results(&mut tx, run_id).await?;

        for (i, t) in result.tasks.iter().enumerate() {
            sqlx::query(
                "INSERT INTO tasks (run_id, task, name, classes, train_samples, test_samples)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(run_id)
            .bind(int(run_id, "tasks.task", i + 1)?)
            .bind(&t.name)
            .bind(serde_json::Value::from(t.classes.clone()).to_string())
            .bind(int(run_id, "tasks.train_samples", t.train_samples)?)
            .bind(int(run_id, "tasks.test_samples", t.test_samples)?)
            .execute(&mut *tx)
            .await?;
        }

        // One row per cell of either matrix; their row counts go to the runs table so that
        // a NaN (stored as NULL) reads back as NaN, not as a missing cell.
        let rows = result.acc_matrix.rows().max(result.loss_matrix.rows());
        for i in 0..rows {
            for j in 0..=i {
                let (acc, loss) = (result.acc_matrix.get(i, j), result.loss_matrix.get(i, j));
                sqlx::query(
                    "INSERT INTO accuracy (run_id, after_task, task, accuracy, loss)
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(run_id)
                .bind(int(run_id, "accuracy.after_task", i + 1)?)
                .bind(int(run_id, "accuracy.task", j + 1)?)
                .bind(acc)
                .bind(loss)
                .execute(&mut *tx)
                .await?;
            }
        }

        if let Some(tag) = &result.task_agnostic {
            insert_task_agnostic(&mut tx, run_id, tag).await?;
        }

        let p = &result.params;
        let base_params = int(run_id, "base_params", p.base_params)?;
        for t in &p.per_task {
            sqlx::query(
                "INSERT INTO params (run_id, task, calibration_params, head_params, base_params,
                                     growth_pct, cumulative_params)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(run_id)
            .bind(int(run_id, "params.task", t.task)?)
            .bind(int(
                run_id,
                "params.calibration_params",
                t.calibration_params,
            )?)
            .bind(int(run_id, "params.head_params", t.head_params)?)
            .bind(base_params)
            .bind(t.growth_pct)
            .bind(int(
                run_id,
                "params.cumulative_params",
                t.cumulative_params,
            )?)
            .execute(&mut *tx)
            .await?;
        }

        for (seq, e) in result.curves.iter().enumerate() {
            sqlx::query(
                "INSERT INTO curves (run_id, seq, task, epoch, train_loss, train_acc, lr, seconds)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(run_id)
            .bind(int(run_id, "curves.seq", seq)?)
            .bind(int(run_id, "curves.task", e.task)?)
            .bind(int(run_id, "curves.epoch", e.epoch)?)
            .bind(e.train_loss)
            .bind(e.train_acc)
            .bind(e.lr)
            .bind(e.seconds)
            .execute(&mut *tx)
            .await?;
        }

        for (seq, a) in result.artifacts.iter().enumerate() {
            sqlx::query(
                "INSERT INTO artifacts (run_id, seq, kind, path, sha256, bytes)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(run_id)
            .bind(int(run_id, "artifacts.seq", seq)?)
            .bind(&a.kind)
            .bind(&a.path)
            .bind(&a.sha256)
            .bind(int(run_id, "artifacts.bytes", a.bytes)?)
            .execute(&mut *tx)
            .await?;
        }

        let primary = result
            .task_agnostic
            .as_ref()
            .and_then(|t| t.primary_result());
        sqlx::query(
            "UPDATE runs SET status = 'finished', finished_at = ?, error = NULL, log_tail = NULL,
                 tasks = ?, finished_tasks = ?, loss_rows = ?, acc = ?, bwt = ?, forgetting = ?, backbone_params = ?,
                 base_params = ?, flops_base = ?, flops_calibration = ?, wall_seconds = ?,
                 device = ?, data_source = ?, task_inference = ?, tag_acc = ?, tag_bwt = ?,
                 tag_forgetting = ?, taw_seconds_per_image = ?
             WHERE id = ?",
        )
        .bind(now())
        .bind(int(run_id, "tasks", tasks)?)
        .bind(int(run_id, "finished_tasks", result.acc_matrix.rows())?)
        .bind(int(run_id, "loss_rows", result.loss_matrix.rows())?)
        .bind(result.metrics.acc)
        .bind(result.metrics.bwt)
        .bind(result.metrics.forgetting)
        .bind(int(run_id, "backbone_params", p.backbone_params)?)
        .bind(base_params)
        .bind(int(run_id, "flops_base", p.flops.base)?)
        .bind(int(run_id, "flops_calibration", p.flops.calibration)?)
        .bind(result.wall_seconds)
        .bind(&result.device)
        .bind(&result.data_source)
        .bind(result.task_agnostic.as_ref().map(|t| t.primary.clone()))
        .bind(primary.map(|r| r.metrics.acc))
        .bind(primary.map(|r| r.metrics.bwt))
        .bind(primary.map(|r| r.metrics.forgetting))
        .bind(
            result
                .task_agnostic
                .as_ref()
                .map(|t| t.task_aware_seconds_per_image),
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a run as failed with its error and the tail of its log; drops any result rows
    /// an earlier attempt left, so a failed run shows no numbers.
    pub async fn record_failed(
        &self,
        run_id: i64,
        error: &str,
        log_tail: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE runs SET status = 'failed', finished_at = ?, error = ?, log_tail = ?,
                 tasks = NULL, finished_tasks = NULL, loss_rows = NULL, acc = NULL, bwt = NULL, forgetting = NULL,
                 backbone_params = NULL, base_params = NULL, flops_base = NULL,
                 flops_calibration = NULL, wall_seconds = NULL
             WHERE id = ?",
        )
        .bind(now())
        .bind(error)
        .bind(log_tail)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownRun(run_id));
        }
        delete_results(&mut tx, run_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks queued or running runs as `interrupted` (the runner was stopped). Finished and
    /// failed runs keep their status.
    pub async fn mark_interrupted(&self, run_ids: &[i64]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let t = now();
        for &id in run_ids {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::UnknownRun(id));
            }
            sqlx::query(
                "UPDATE runs SET status = 'interrupted', finished_at = ?
                 WHERE id = ? AND status IN ('queued', 'running')",
            )
            .bind(&t)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records (or replaces) a pretrained shared base under its content hash.
    pub async fn record_base(&self, base: &NewBase) -> Result<(), StoreError> {
        let bytes =
            base.bytes
                .map(i64::try_from)
                .transpose()
                .map_err(|_| StoreError::InvalidBase {
                    hash: base.hash.clone(),
                    reason: "more bytes than SQLite can count".into(),
                })?;
        sqlx::query(
            "INSERT INTO base_checkpoints (hash, path, sha256, bytes, source, created_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (hash) DO UPDATE SET path = excluded.path, sha256 = excluded.sha256,
                 bytes = excluded.bytes, source = excluded.source,
                 created_at = excluded.created_at",
        )
        .bind(&base.hash)
        .bind(&base.path)
        .bind(&base.sha256)
        .bind(bytes)
        .bind(&base.source)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// The width of the run's matrices (its task count), after checking that both matrices and
/// the parameter list are well formed.
fn task_count(run_id: i64, r: &RunResult) -> Result<usize, StoreError> {
    let invalid = |reason: String| StoreError::InvalidResult { run_id, reason };
    let tasks = if r.tasks.is_empty() {
        r.acc_matrix.0.first().map_or(0, Vec::len)
    } else {
        r.tasks.len()
    };
    let check = |m: &TaskMatrix, what: &str| {
        m.validate(tasks)
            .map_err(|e| invalid(format!("{what}: {e}")))
    };
    check(&r.acc_matrix, "accuracy matrix")?;
    check(&r.loss_matrix, "loss matrix")?;
    let mut seen = std::collections::HashSet::new();
    for t in &r.params.per_task {
        if !seen.insert(t.task) {
            return Err(invalid(format!("parameters list task {} twice", t.task)));
        }
    }
    Ok(tasks)
}

/// The result must be the run's own: same method, benchmark and seed as registered.
async fn check_identity(
    tx: &mut Transaction<'static, Sqlite>,
    run_id: i64,
    r: &RunResult,
) -> Result<(), StoreError> {
    let row: Option<(String, String, i64)> =
        sqlx::query_as("SELECT method, benchmark, seed FROM runs WHERE id = ?")
            .bind(run_id)
            .fetch_optional(&mut **tx)
            .await?;
    let (method, benchmark, seed) = row.ok_or(StoreError::UnknownRun(run_id))?;
    let mismatch = |what: &str, registered: String, got: String| StoreError::InvalidResult {
        run_id,
        reason: format!(
            "the run was registered with {what} '{registered}' but the result says '{got}'"
        ),
    };
    if method != r.method {
        return Err(mismatch("method", method, r.method.clone()));
    }
    if benchmark != r.benchmark {
        return Err(mismatch("benchmark", benchmark, r.benchmark.clone()));
    }
    if i64::try_from(r.seed).ok() != Some(seed) {
        return Err(mismatch("seed", seed.to_string(), r.seed.to_string()));
    }
    Ok(())
}

/// The rules' summaries and TAg matrices of a run.
async fn insert_task_agnostic(
    tx: &mut Transaction<'static, Sqlite>,
    run_id: i64,
    tag: &ccll_results::TaskAgnostic,
) -> Result<(), StoreError> {
    for r in &tag.rules {
        sqlx::query(
            "INSERT INTO task_inference (run_id, rule, is_primary, acc, bwt, forgetting,
                                         seconds_per_image)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(run_id)
        .bind(&r.rule)
        .bind(r.rule == tag.primary)
        .bind(r.metrics.acc)
        .bind(r.metrics.bwt)
        .bind(r.metrics.forgetting)
        .bind(r.seconds_per_image)
        .execute(&mut **tx)
        .await?;
        for i in 0..r.acc_matrix.rows() {
            for j in 0..=i {
                sqlx::query(
                    "INSERT INTO task_agnostic (run_id, rule, after_task, task, accuracy,
                                                task_id_accuracy)
                     VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(run_id)
                .bind(&r.rule)
                .bind(int(run_id, "task_agnostic.after_task", i + 1)?)
                .bind(int(run_id, "task_agnostic.task", j + 1)?)
                .bind(r.acc_matrix.get(i, j))
                .bind(r.task_id_matrix.get(i, j))
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    Ok(())
}

async fn delete_results(
    tx: &mut Transaction<'static, Sqlite>,
    run_id: i64,
) -> Result<(), StoreError> {
    for table in [
        "tasks",
        "accuracy",
        "params",
        "curves",
        "artifacts",
        "task_inference",
        "task_agnostic",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE run_id = ?"))
            .bind(run_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// SQLite integers are i64; counts beyond that cannot be stored faithfully.
fn int<T: TryInto<i64> + Copy + std::fmt::Display>(
    run_id: i64,
    what: &str,
    v: T,
) -> Result<i64, StoreError> {
    v.try_into().map_err(|_| StoreError::InvalidResult {
        run_id,
        reason: format!("{what} = {v} does not fit a 64-bit signed integer"),
    })
}
