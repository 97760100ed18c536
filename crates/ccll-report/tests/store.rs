//! The results store end to end through its public API: migrations, round trips,
//! status changes, idempotent registration, transactions and concurrent writers.

mod common;

use ccll_report::{NewBase, RunStatus, Store, StoreError};
use common::{fill_sweep, new_run, result, TASKS};
use sqlx::{Connection, SqliteConnection};
use std::path::Path;

fn latest_version() -> i64 {
    Store::migrator()
        .iter()
        .map(|m| m.version)
        .max()
        .expect("at least one migration")
}

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .expect(sql)
}

#[tokio::test]
async fn migrations_apply_to_an_empty_file_and_parent_dirs_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/ccll.sqlite");
    let store = Store::open(&path).await.unwrap();
    assert!(path.is_file());
    assert_eq!(
        store.schema_version().await.unwrap(),
        Some(latest_version())
    );
    assert_eq!(store.pending_migrations().await.unwrap(), 0);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(busy >= 30_000, "busy_timeout {busy} ms");
    // Opening again is a no-op.
    store.close().await;
    let again = Store::open(&path).await.unwrap();
    assert_eq!(
        again.schema_version().await.unwrap(),
        Some(latest_version())
    );
}

/// Loads the version-1 fixture into a database that has only migration 0001.
async fn version_one_database(path: &Path) {
    Store::create_at_version(path, 1).await.unwrap();
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql(include_str!("fixtures/v1_data.sql"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_version_one_database_is_upgraded_in_place_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    version_one_database(&path).await;

    let old = Store::open_read_only(&path).await.unwrap();
    assert_eq!(old.schema_version().await.unwrap(), Some(1));
    assert_eq!(
        old.pending_migrations().await.unwrap(),
        Store::migrator().iter().count() - 1
    );
    old.close().await;

    let store = Store::open(&path).await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        Some(latest_version())
    );

    let runs = store.runs(Some("old-sweep")).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].status, RunStatus::Finished);
    assert_eq!(runs[0].acc, Some(85.0));
    assert_eq!(runs[0].swept["method.alpha"], 2);
    assert_eq!(runs[1].status, RunStatus::Queued);
    assert!(runs[1].git_dirty);

    let r = store.run_result(1).await.unwrap();
    assert_eq!(
        r.acc_matrix.0,
        vec![vec![Some(95.0), None], vec![Some(90.0), Some(80.0)]]
    );
    assert_eq!(r.loss_matrix.get(1, 1), Some(0.75));
    assert_eq!(r.params.per_task[1].calibration_params, 51);
    assert_eq!(r.params.per_task[1].cumulative_params, 1071);
    assert_eq!(r.params.base_params, 1020);
    assert_eq!(r.curves.len(), 2);
    assert_eq!(r.curves[1].train_loss, 1.25);
    assert_eq!(r.tasks[1].classes, vec!["2", "3"]);
    assert_eq!(r.artifacts[0].bytes, 4096);
    assert_eq!(r.wall_seconds, 598.5);
    assert_eq!(
        store.base("base-hash").await.unwrap().map(|b| b.path),
        Some("bases/base.safetensors".to_string())
    );
    // The old data is visible through what later migrations added.
    let in_summary = count(
        &store,
        "SELECT count(*) FROM run_summary WHERE sweep = 'old-sweep'",
    )
    .await;
    assert_eq!(in_summary, 2);

    // And the upgraded file takes new runs.
    let id = store
        .register_run(&new_run(Some(1), "ccll", 8, 1))
        .await
        .unwrap();
    assert_eq!(id, 3);
}

#[tokio::test]
async fn every_older_version_upgrades_to_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    for m in Store::migrator().iter() {
        let path = dir.path().join(format!("v{}.sqlite", m.version));
        Store::create_at_version(&path, m.version).await.unwrap();
        let store = Store::open(&path).await.unwrap();
        assert_eq!(
            store.schema_version().await.unwrap(),
            Some(latest_version()),
            "from version {}",
            m.version
        );
        store.close().await;
    }
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.sqlite");
    Store::open(&path).await.unwrap().close().await;
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let err = Store::open(&path).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { version: 9999, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer ccll-report"), "{err}");
    // The reading commands (open_existing) refuse it too, rather than read it unchecked.
    let err = Store::open_existing(&path).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { version: 9999, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn a_recorded_run_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let id = store
        .register_run(&new_run(None, "ccll", 4, 3))
        .await
        .unwrap();
    store.mark_running(id, "cuda:0", "gpu-node").await.unwrap();
    let original = result("ccll", 4, 3);
    store.record_finished(id, &original).await.unwrap();
    assert_eq!(store.run_result(id).await.unwrap(), original);

    let row = store.run(id).await.unwrap();
    assert_eq!(row.status, RunStatus::Finished);
    assert_eq!(row.acc, Some(original.metrics.acc));
    assert_eq!(row.attempts, 1);
    assert_eq!(row.host.as_deref(), Some("gpu-node"));
    assert!(row.started_at.is_some() && row.finished_at.is_some());
    assert_eq!(
        count(&store, "SELECT count(*) FROM accuracy").await,
        (TASKS * (TASKS + 1) / 2) as i64
    );
}

#[tokio::test]
async fn a_sweeps_results_read_at_once_equal_each_runs_result() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let ids = fill_sweep(&store, "alpha", &["ccll", "finetune"], &[1, 2], &[0, 1]).await;
    // Another sweep's runs and an unfinished run stay out.
    fill_sweep(&store, "other", &["ccll"], &[4], &[0]).await;
    let sweep = store.sweep("alpha").await.unwrap().id;
    let pending = store
        .register_run(&new_run(Some(sweep), "joint", 1, 9))
        .await
        .unwrap();
    let all = store.sweep_results("alpha").await.unwrap();
    let finished: Vec<i64> = {
        let mut v = Vec::new();
        for id in &ids {
            if store.run(*id).await.unwrap().status == RunStatus::Finished {
                v.push(*id);
            }
        }
        v
    };
    assert!(!finished.is_empty());
    assert!(!all.contains_key(&pending));
    let mut keys: Vec<i64> = all.keys().copied().collect();
    keys.sort();
    assert_eq!(keys, finished);
    for id in finished {
        assert_eq!(all[&id], store.run_result(id).await.unwrap(), "run {id}");
    }
    assert!(matches!(
        store.sweep_results("nope").await,
        Err(StoreError::UnknownSweep(_))
    ));
}

#[tokio::test]
async fn partial_runs_and_nan_values_read_back_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let id = store
        .register_run(&new_run(None, "ccll", 1, 1))
        .await
        .unwrap();
    let mut r = result("ccll", 1, 1);
    // Stopped after two of four tasks, with a diverged loss on the last cell.
    r.acc_matrix.0.truncate(2);
    r.loss_matrix.0.truncate(2);
    r.loss_matrix.0[1][1] = Some(f64::NAN);
    r.curves[0].train_loss = f64::NAN;
    store.record_finished(id, &r).await.unwrap();
    let back = store.run_result(id).await.unwrap();
    assert_eq!(back.acc_matrix, r.acc_matrix);
    assert_eq!(back.loss_matrix.rows(), 2);
    assert!(back.loss_matrix.get(1, 1).unwrap().is_nan());
    assert_eq!(back.loss_matrix.get(1, 0), r.loss_matrix.get(1, 0));
    assert!(back.curves[0].train_loss.is_nan());
    assert_eq!(back.curves[1..], r.curves[1..]);
}

#[tokio::test]
async fn registration_is_idempotent_per_sweep_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let sweep = store
        .upsert_sweep(&ccll_report::NewSweep {
            name: "s".into(),
            study_file: None,
            profile: None,
            spec: serde_json::json!({}),
        })
        .await
        .unwrap();
    let again = store
        .upsert_sweep(&ccll_report::NewSweep {
            name: "s".into(),
            study_file: Some("experiments/s.yaml".into()),
            profile: Some("gpu".into()),
            spec: serde_json::json!({"v": 2}),
        })
        .await
        .unwrap();
    assert_eq!(sweep, again);
    assert_eq!(
        store.sweep("s").await.unwrap().profile.as_deref(),
        Some("gpu")
    );

    let a = store
        .register_run(&new_run(Some(sweep), "ccll", 2, 1))
        .await
        .unwrap();
    store.mark_running(a, "cpu", "h").await.unwrap();
    let a2 = store
        .register_run(&new_run(Some(sweep), "ccll", 2, 1))
        .await
        .unwrap();
    assert_eq!(a, a2);
    // Re-registering changed nothing: still running.
    assert_eq!(store.run(a).await.unwrap().status, RunStatus::Running);
    // The same config outside the sweep is another run; single runs are idempotent too.
    let single = store
        .register_run(&new_run(None, "ccll", 2, 1))
        .await
        .unwrap();
    assert_ne!(single, a);
    assert_eq!(
        store
            .register_run(&new_run(None, "ccll", 2, 1))
            .await
            .unwrap(),
        single
    );
    assert_eq!(store.runs(Some("s")).await.unwrap().len(), 1);
    assert_eq!(store.runs(None).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_bad_result_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let id = store
        .register_run(&new_run(None, "ccll", 2, 1))
        .await
        .unwrap();
    store.mark_running(id, "cpu", "h").await.unwrap();

    let mut wrong_method = result("ccll", 2, 1);
    wrong_method.method = "pnn".into();
    let err = store.record_finished(id, &wrong_method).await.unwrap_err();
    assert!(err.to_string().contains("method 'ccll'"), "{err}");

    let mut bad_matrix = result("ccll", 2, 1);
    bad_matrix.acc_matrix.0[0][1] = Some(1.0);
    let err = store.record_finished(id, &bad_matrix).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidResult { .. }), "{err}");

    // A failure in the middle of the transaction (a duplicate task in the params, caught by
    // the primary key if it slipped through) leaves no partial rows either.
    let mut dup = result("ccll", 2, 1);
    dup.params.per_task[1].task = 1;
    assert!(store.record_finished(id, &dup).await.is_err());

    assert_eq!(store.run(id).await.unwrap().status, RunStatus::Running);
    for table in ["accuracy", "params", "curves", "artifacts", "tasks"] {
        assert_eq!(
            count(&store, &format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
    assert!(matches!(
        store.run_result(id).await,
        Err(StoreError::NotFinished { .. })
    ));
    assert!(matches!(
        store.record_finished(999, &result("ccll", 2, 1)).await,
        Err(StoreError::UnknownRun(999))
    ));
    assert!(matches!(
        store.mark_running(999, "cpu", "h").await,
        Err(StoreError::UnknownRun(999))
    ));
}

#[tokio::test]
async fn recording_again_replaces_the_earlier_result() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let id = store
        .register_run(&new_run(None, "ccll", 2, 1))
        .await
        .unwrap();
    store
        .record_finished(id, &result("ccll", 2, 1))
        .await
        .unwrap();
    let mut second = result("ccll", 2, 1);
    second.curves.truncate(1);
    second.acc_matrix.0[0][0] = Some(12.5);
    store.record_finished(id, &second).await.unwrap();
    assert_eq!(store.run_result(id).await.unwrap(), second);
    assert_eq!(count(&store, "SELECT count(*) FROM curves").await, 1);
}

#[tokio::test]
async fn failures_and_interruptions_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let ids = fill_sweep(&store, "s", &["ccll"], &[1], &[1]).await;
    let failing = store
        .register_run(&new_run(None, "pnn", 1, 1))
        .await
        .unwrap();
    let queued = store
        .register_run(&new_run(None, "pnn", 1, 2))
        .await
        .unwrap();
    store.mark_running(failing, "cpu", "h").await.unwrap();
    store
        .record_failed(failing, "out of memory", "line 1\nline 2")
        .await
        .unwrap();
    let row = store.run(failing).await.unwrap();
    assert_eq!(row.status, RunStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("out of memory"));
    assert_eq!(row.log_tail.as_deref(), Some("line 1\nline 2"));

    // A retry clears the error and counts the attempt.
    store.mark_running(failing, "cpu", "h").await.unwrap();
    let row = store.run(failing).await.unwrap();
    assert_eq!(
        (row.status, row.error, row.attempts),
        (RunStatus::Running, None, 2)
    );

    store
        .mark_interrupted(&[ids[0], failing, queued])
        .await
        .unwrap();
    assert_eq!(store.run(ids[0]).await.unwrap().status, RunStatus::Finished);
    assert_eq!(
        store.run(failing).await.unwrap().status,
        RunStatus::Interrupted
    );
    assert_eq!(
        store.run(queued).await.unwrap().status,
        RunStatus::Interrupted
    );
    assert!(matches!(
        store.mark_interrupted(&[12345]).await,
        Err(StoreError::UnknownRun(12345))
    ));
    // The CHECK constraint keeps the status to the five known words.
    let bad = sqlx::query("UPDATE runs SET status = 'done' WHERE id = ?")
        .bind(queued)
        .execute(store.pool())
        .await;
    assert!(bad.is_err());
}

#[tokio::test]
async fn unknown_sweeps_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let err = store.runs(Some("nope")).await.unwrap_err();
    assert!(err.to_string().contains("'nope'") && err.to_string().contains("ccll-report sweeps"));
    let err = store
        .register_run(&new_run(Some(77), "ccll", 1, 1))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no sweep with id 77 in the store (list them with `ccll-report sweeps`)"
    );
}

#[tokio::test]
async fn shared_bases_are_found_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    assert_eq!(store.base("h1").await.unwrap(), None);
    let base = NewBase {
        hash: "h1".into(),
        path: "bases/h1.safetensors".into(),
        sha256: "cd".repeat(32),
        bytes: Some(1 << 20),
        source: "cifar10, 20 epochs".into(),
    };
    store.record_base(&base).await.unwrap();
    let got = store.base("h1").await.unwrap().unwrap();
    assert_eq!(
        (got.path.as_str(), got.bytes),
        ("bases/h1.safetensors", Some(1 << 20))
    );
    store
        .record_base(&NewBase {
            path: "elsewhere.safetensors".into(),
            ..base
        })
        .await
        .unwrap();
    assert_eq!(
        store.base("h1").await.unwrap().unwrap().path,
        "elsewhere.safetensors"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_lose_nothing() {
    const WRITERS: i64 = 8;
    const RUNS_EACH: i64 = 5;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sqlite");
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let path = path.clone();
        // Each writer opens its own handle, as separate processes would, on a file that
        // does not exist yet: creation and migration race too.
        handles.push(tokio::spawn(async move {
            let store = Store::open(&path).await?;
            for k in 0..RUNS_EACH {
                let seed = w * 100 + k;
                let id = store.register_run(&new_run(None, "ccll", 2, seed)).await?;
                store.mark_running(id, "cpu", &format!("writer{w}")).await?;
                store
                    .record_finished(id, &result("ccll", 2, seed as u64))
                    .await?;
            }
            store.close().await;
            Ok::<_, StoreError>(())
        }));
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    let store = Store::open(&path).await.unwrap();
    let runs = store.runs(None).await.unwrap();
    assert_eq!(runs.len() as i64, WRITERS * RUNS_EACH);
    assert!(runs.iter().all(|r| r.status == RunStatus::Finished));
    let cells = (TASKS * (TASKS + 1) / 2) as i64;
    assert_eq!(
        count(&store, "SELECT count(*) FROM accuracy").await,
        WRITERS * RUNS_EACH * cells
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM params").await,
        WRITERS * RUNS_EACH * TASKS as i64
    );
    for r in &runs {
        assert_eq!(
            store.run_result(r.id).await.unwrap(),
            result("ccll", 2, r.seed as u64)
        );
    }
}

type Cell = (i64, i64, i64, Option<f64>, Option<f64>);
/// run id, sweep, acc, alpha, final params, mean growth, seed, run folder.
type SummaryLine = (
    i64,
    String,
    Option<f64>,
    Option<i64>,
    Option<i64>,
    Option<f64>,
    i64,
    Option<String>,
);

async fn cells(store: &Store, sql: &str) -> Vec<Cell> {
    sqlx::query_as(sql)
        .fetch_all(store.pool())
        .await
        .expect(sql)
}

#[tokio::test]
async fn an_upgraded_store_reads_the_same_numbers_through_the_analysis_views() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    version_one_database(&path).await;
    let store = Store::open(&path).await.unwrap();

    // accuracy_long is the accuracy table cell for cell, under the one name `task`.
    let table = cells(
        &store,
        "SELECT run_id, after_task, task, accuracy, loss FROM accuracy ORDER BY 1, 2, 3",
    )
    .await;
    let long = cells(
        &store,
        "SELECT run_id, after_task, task, accuracy, loss FROM accuracy_long
         WHERE sweep = 'old-sweep' ORDER BY 1, 2, 3",
    )
    .await;
    assert_eq!(table.len(), 3);
    assert_eq!(long, table);
    let finals = cells(
        &store,
        "SELECT run_id, 0, task, accuracy, loss FROM final_accuracy ORDER BY 1, 3",
    )
    .await;
    assert_eq!(
        finals,
        vec![
            (1, 0, 1, Some(90.0), Some(0.5)),
            (1, 0, 2, Some(80.0), Some(0.75))
        ]
    );

    // runs_wide agrees with runs and run_summary; config keys come out of the JSON.
    let wide: Vec<SummaryLine> = sqlx::query_as(
        "SELECT w.run_id, w.sweep, w.acc, w.alpha, w.final_params, w.mean_growth_pct, w.seed,
                    w.run_dir
             FROM runs_wide w ORDER BY w.run_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let summary: Vec<SummaryLine> = sqlx::query_as(
        "SELECT id, sweep, acc, alpha, final_params, mean_growth_pct, seed, NULL
             FROM run_summary ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(wide, summary);
    assert_eq!(wide[0].2, Some(85.0));
    assert_eq!(wide[0].4, Some(1071));
    let (options, epochs): (String, Option<i64>) =
        sqlx::query_as("SELECT method_options, epochs FROM runs_wide WHERE run_id = 1")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(options, r#"{"name":"ccll","alpha":2}"#);
    assert_eq!(epochs, None, "a key the config does not set is NULL");

    // Registering an old run again records where it lives; what it was is unchanged.
    let mut again = new_run(Some(1), "ccll", 2, 1);
    again.config_hash = "hash-a2-s1".into();
    again.run_dir = Some("/runs/old-sweep/a2".into());
    again.base_hash = Some("base-hash".into());
    assert_eq!(store.register_run(&again).await.unwrap(), 1);
    let (dir_now, base_path): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT run_dir, base_path FROM runs_wide WHERE run_id = 1")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(dir_now.as_deref(), Some("/runs/old-sweep/a2"));
    assert_eq!(base_path.as_deref(), Some("bases/base.safetensors"));
    assert_eq!(store.run(1).await.unwrap().status, RunStatus::Finished);
}

#[tokio::test]
async fn the_analysis_views_hold_every_stored_number_of_a_current_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite")).await.unwrap();
    let ids = fill_sweep(&store, "grid", &["ccll", "pnn"], &[1, 4], &[1, 2]).await;
    for id in ids {
        let r = store.run_result(id).await.unwrap();
        let long = cells(
            &store,
            &format!(
                "SELECT run_id, after_task, task, accuracy, loss FROM accuracy_long
                 WHERE run_id = {id} ORDER BY 2, 3"
            ),
        )
        .await;
        let mut want = Vec::new();
        for i in 0..r.acc_matrix.rows() {
            for j in 0..=i {
                want.push((
                    id,
                    i as i64 + 1,
                    j as i64 + 1,
                    r.acc_matrix.get(i, j),
                    r.loss_matrix.get(i, j),
                ));
            }
        }
        assert_eq!(long, want, "run {id}");
        let (method, acc, sweep): (String, Option<f64>, String) =
            sqlx::query_as("SELECT method, acc, sweep FROM runs_wide WHERE run_id = ?")
                .bind(id)
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(method, r.method);
        assert_eq!(acc.map(f64::to_bits), Some(r.metrics.acc.to_bits()));
        assert_eq!(sweep, "grid");
    }
}
