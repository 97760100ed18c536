//! The reads: runs and sweeps as listed, shared bases (results: `read_result`).

use super::{BaseCheckpoint, RunRow, Store, StoreError, SweepRow};
use sqlx::FromRow;

const RUN_COLUMNS: &str = "r.id, s.name AS sweep, r.name, r.config_hash, r.group_key, r.status,
    r.method, r.benchmark, r.arch, r.alpha, r.beta, r.seed, r.base_source, r.config, r.swept,
    r.acc, r.bwt, r.forgetting, r.error, r.log_tail, r.attempts, r.queued_at, r.started_at,
    r.finished_at, r.device, r.host, r.git_commit, r.git_dirty, r.wall_seconds, r.run_dir,
    r.base_hash, r.requeues, r.requeue_reason
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
    run_dir: Option<String>,
    base_hash: Option<String>,
    requeues: i64,
    requeue_reason: Option<String>,
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
            run_dir: self.run_dir,
            base_hash: self.base_hash,
            requeues: self.requeues,
            requeue_reason: self.requeue_reason,
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

    pub(super) async fn sweep_id(&self, name: &str) -> Result<i64, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM sweeps WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        id.ok_or_else(|| StoreError::UnknownSweep(name.to_string()))
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
