//! The results store: one SQLite file (WAL, busy timeout) that every run's numbers land in.
//! Only the runner writes it, through [`Store`]; everything else reads.

mod error;
mod read;
mod read_figures;
mod read_result;
mod types;
mod write;

pub use error::StoreError;
pub use types::{BaseCheckpoint, NewBase, NewRun, NewSweep, RunRow, RunStatus, SweepRow};

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The migrations in the workspace's `migrations/` folder, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Writers wait this long for the write lock: a sweep's workers finish at the same moment.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// The default database path when neither `--db` nor `CCLL_DB` says otherwise.
pub const DEFAULT_DB: &str = "results/ccll.sqlite";

/// The environment variable that overrides [`DEFAULT_DB`].
pub const DB_ENV: &str = "CCLL_DB";

/// The `runs_wide` / `accuracy_long` column that holds a config key (migration 0005): a
/// section's `name` is the section (`method.name` -> `method`), `base.X` is `base_X`, any other
/// key is its last segment (`method.alpha` -> `alpha`, `train.seed` -> `seed`).
pub fn analysis_column(key: &str) -> String {
    match key.split_once('.') {
        Some((section, "name")) => section.to_string(),
        Some(("base", rest)) => format!("base_{}", rest.replace('.', "_")),
        _ => key.rsplit('.').next().unwrap_or(key).to_string(),
    }
}

/// A handle on the results database. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: SqlitePool,
    path: PathBuf,
    read_only: bool,
}

impl Store {
    /// Opens the database (creating the file and its parent folders) and applies any pending
    /// migration; WAL journal, a busy timeout of 60 s, foreign keys on.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let options = write_options(path);
        prepare(path, options.clone().create_if_missing(true), &MIGRATOR).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|source| open_error(path, source))?;
        Ok(Store {
            pool,
            path: path.to_path_buf(),
            read_only: false,
        })
    }

    /// Opens an existing database read-only (SQLITE_OPEN_READONLY plus `query_only`): no
    /// statement on this handle can change the file. Applies no migration.
    pub async fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("query_only", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .map_err(|source| open_error(path, source))?;
        Ok(Store {
            pool,
            path: path.to_path_buf(),
            read_only: true,
        })
    }

    /// Opens an existing database for reading, upgrading its schema first if this build knows
    /// newer migrations (the only write it may do). Fails if the file does not exist, and
    /// refuses a database that a newer build migrated further than this one knows.
    pub async fn open_existing(path: &Path) -> Result<Store, StoreError> {
        let store = Store::open_read_only(path).await?;
        let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        if let Some(version) = store.schema_version().await?.filter(|&v| v > latest) {
            store.close().await;
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                version,
            });
        }
        if store.pending_migrations().await? == 0 {
            return Ok(store);
        }
        store.close().await;
        Store::open(path).await?.close().await;
        Store::open_read_only(path).await
    }

    /// `explicit` if given, else `$CCLL_DB`, else `results/ccll.sqlite`.
    pub fn resolve_path(explicit: Option<&Path>) -> PathBuf {
        match explicit {
            Some(p) => p.to_path_buf(),
            None => Store::default_path(),
        }
    }

    /// `$CCLL_DB` if set and not empty, else `results/ccll.sqlite`.
    pub fn default_path() -> PathBuf {
        std::env::var_os(DB_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DB))
    }

    /// The file this store reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this handle was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The connection pool, for ad-hoc reads (see [`crate::query`]).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The embedded migrations, oldest first.
    pub fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// The highest migration version applied to this database (`None` for an empty file).
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        let has_table: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.pool)
        .await?;
        if has_table.is_none() {
            return Ok(None);
        }
        Ok(
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// How many embedded migrations this database still lacks.
    pub async fn pending_migrations(&self) -> Result<usize, StoreError> {
        let version = self.schema_version().await?.unwrap_or(i64::MIN);
        Ok(MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration() && m.version > version)
            .count())
    }

    /// Closes the pool, waiting for connections to finish (checkpoints the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Creates a database with only the migrations up to `version` applied: what an older
    /// ccll-report would have made. For upgrade tests.
    #[doc(hidden)]
    pub async fn create_at_version(path: &Path, version: i64) -> Result<(), StoreError> {
        let older = Migrator {
            migrations: Cow::Owned(
                MIGRATOR
                    .iter()
                    .filter(|m| m.version <= version)
                    .cloned()
                    .collect(),
            ),
            ..Migrator::DEFAULT
        };
        prepare(path, write_options(path).create_if_missing(true), &older).await
    }
}

fn write_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true)
        .synchronous(SqliteSynchronous::Normal)
}

fn open_error(path: &Path, source: sqlx::Error) -> StoreError {
    StoreError::Open {
        path: path.to_path_buf(),
        source,
    }
}

/// Switches the file to WAL and applies the migrations on one connection before the pool
/// opens. Several processes may do this at once on a fresh file: the journal-mode switch
/// cannot wait on the busy handler and two migrators can race to the same version, so both
/// steps are retried; an applied migration is skipped on the retry.
async fn prepare(
    path: &Path,
    options: SqliteConnectOptions,
    migrator: &Migrator,
) -> Result<(), StoreError> {
    const ATTEMPTS: u32 = 20;
    // A one-connection pool rather than a bare connection: `Migrator::run` on a pool keeps
    // this future `Send`, so the runner can open stores inside spawned tasks.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|source| open_error(path, source))?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match set_wal(&pool).await {
            Ok(()) => break,
            Err(_) if attempt < ATTEMPTS => backoff(attempt).await,
            Err(source) => return Err(open_error(path, source)),
        }
    }
    attempt = 0;
    loop {
        attempt += 1;
        match migrator.run(&pool).await {
            Ok(()) => break,
            Err(MigrateError::VersionMissing(version)) => {
                return Err(StoreError::NewerSchema {
                    path: path.to_path_buf(),
                    version,
                })
            }
            Err(MigrateError::Execute(_) | MigrateError::ExecuteMigration(..))
                if attempt < ATTEMPTS =>
            {
                backoff(attempt).await
            }
            Err(source) => {
                return Err(StoreError::Migrate {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
    pool.close().await;
    Ok(())
}

async fn set_wal(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
        .fetch_one(pool)
        .await?;
    if mode.eq_ignore_ascii_case("wal") {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(format!(
            "journal mode stayed '{mode}' instead of 'wal'"
        )))
    }
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
}

/// Now as ISO-8601 UTC text with milliseconds; sorts as text in time order.
pub(crate) fn now() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_iso_utc() {
        let t = now();
        assert_eq!(t.len(), "2026-01-31T12:00:00.000Z".len(), "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }

    /// The runner records from spawned tasks: every store future must be `Send`. This fails
    /// to compile otherwise (sqlx's generic `Acquire` paths easily break it).
    #[allow(dead_code)]
    fn store_futures_are_send(s: Store, run: NewRun, r: ccll_results::RunResult, sw: NewSweep) {
        fn is_send<T: Send>(_: T) {}
        is_send(async { Store::open(Path::new("x")).await });
        is_send(async { Store::open_existing(Path::new("x")).await });
        is_send(async { s.upsert_sweep(&sw).await });
        is_send(async { s.register_run(&run).await });
        is_send(async { s.mark_running(1, "cpu", "host").await });
        is_send(async { s.record_finished(1, &r).await });
        is_send(async { s.record_failed(1, "e", "log").await });
        is_send(async { s.mark_interrupted(&[1]).await });
        is_send(async { s.runs(None).await });
        is_send(async { s.run_result(1).await });
        is_send(async { s.base("h").await });
    }

    #[test]
    fn explicit_path_wins() {
        assert_eq!(
            Store::resolve_path(Some(Path::new("x.sqlite"))),
            PathBuf::from("x.sqlite")
        );
    }
}
