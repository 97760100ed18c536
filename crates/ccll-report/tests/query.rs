//! `query` runs on a read-only connection: writes are refused with SQLite's own message and
//! change nothing; every storage class comes back typed.

mod common;

use ccll_report::query::Value;
use ccll_report::{run_query, Store, StoreError};
use common::fill_sweep;

/// A fingerprint of everything stored: row counts of each table and a sum of the numbers.
async fn fingerprint(store: &Store) -> Vec<String> {
    let sql = "SELECT (SELECT count(*) FROM sweeps), (SELECT count(*) FROM runs),
                      (SELECT count(*) FROM accuracy), (SELECT count(*) FROM params),
                      (SELECT count(*) FROM curves), (SELECT count(*) FROM artifacts),
                      (SELECT total(acc) FROM runs), (SELECT total(accuracy) FROM accuracy),
                      (SELECT group_concat(name || status) FROM runs),
                      (SELECT count(*) FROM sqlite_master)";
    let out = run_query(store, sql).await.unwrap();
    out.rows[0].iter().map(|v| format!("{v:?}")).collect()
}

#[tokio::test]
async fn writes_are_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let writer = Store::open(&path).await.unwrap();
    fill_sweep(&writer, "s", &["ccll", "pnn"], &[2], &[1, 2]).await;
    writer.close().await;

    let store = Store::open_read_only(&path).await.unwrap();
    assert!(store.is_read_only());
    let before = fingerprint(&store).await;
    for sql in [
        "INSERT INTO sweeps (name, spec, created_at, updated_at) VALUES ('x', '{}', 'now', 'now')",
        "UPDATE runs SET acc = 0",
        "DELETE FROM accuracy",
        "DROP TABLE runs",
        "DROP VIEW run_summary",
        "CREATE TABLE evil (x)",
        "ALTER TABLE runs ADD COLUMN evil",
        "CREATE INDEX evil ON runs (acc)",
        "REPLACE INTO params SELECT * FROM params",
        "PRAGMA user_version = 7",
    ] {
        let err = run_query(&store, sql).await.unwrap_err();
        let msg = err
            .sqlite_message()
            .unwrap_or_else(|| panic!("{sql}: {err}"));
        assert!(msg.contains("readonly"), "{sql}: {msg}");
        assert_eq!(fingerprint(&store).await, before, "{sql}");
    }
    // A write hidden behind a read in one string is refused or ignored, never applied.
    let _ = run_query(&store, "SELECT 1; DELETE FROM runs").await;
    assert_eq!(fingerprint(&store).await, before);
    store.close().await;

    // A read-write handle afterwards still sees every row.
    let again = Store::open(&path).await.unwrap();
    assert_eq!(again.runs(Some("s")).await.unwrap().len(), 4);
    assert_eq!(fingerprint(&again).await, before);
}

#[tokio::test]
async fn sql_errors_carry_sqlites_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    Store::open(&path).await.unwrap().close().await;
    let store = Store::open_read_only(&path).await.unwrap();
    let err = run_query(&store, "SELECT * FROM nope").await.unwrap_err();
    assert_eq!(err.sqlite_message(), Some("no such table: nope"));
    let err = run_query(&store, "SELEC 1").await.unwrap_err();
    assert!(
        err.sqlite_message().unwrap().contains("syntax error"),
        "{err}"
    );
}

#[tokio::test]
async fn every_storage_class_comes_back_typed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    Store::open(&path).await.unwrap().close().await;
    let store = Store::open_read_only(&path).await.unwrap();
    let out = run_query(
        &store,
        "SELECT NULL AS n, 42 AS i, 2.5 AS r, 'té' AS t, x'00ff' AS b",
    )
    .await
    .unwrap();
    assert_eq!(out.columns, ["n", "i", "r", "t", "b"]);
    assert_eq!(
        out.rows,
        vec![vec![
            Value::Null,
            Value::Integer(42),
            Value::Real(2.5),
            Value::Text("té".into()),
            Value::Blob(vec![0, 255]),
        ]]
    );
    // Column names are known even without rows.
    let empty = run_query(&store, "SELECT id, name FROM runs")
        .await
        .unwrap();
    assert_eq!(empty.columns, ["id", "name"]);
    assert!(empty.rows.is_empty());
    assert_eq!(empty.to_csv(), "id,name\n");
    assert_eq!(empty.to_json().trim(), "[]");
}

#[tokio::test]
async fn a_missing_file_is_not_created_by_a_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.sqlite");
    let err = Store::open_read_only(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("--db"), "{err}");
    assert!(matches!(
        Store::open_existing(&path).await,
        Err(StoreError::Missing { .. })
    ));
    assert!(!path.exists());
}

#[tokio::test]
async fn readers_upgrade_an_old_file_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    Store::create_at_version(&path, 1).await.unwrap();
    let store = Store::open_existing(&path).await.unwrap();
    assert!(store.is_read_only());
    assert_eq!(store.pending_migrations().await.unwrap(), 0);
    // The view from migration 2 is there.
    run_query(&store, "SELECT * FROM run_summary")
        .await
        .unwrap();
}

#[tokio::test]
async fn one_statement_only_and_vacuum_is_refused_before_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    Store::open(&path).await.unwrap().close().await;
    let store = Store::open_read_only(&path).await.unwrap();
    let err = run_query(&store, "SELECT 1 AS a;\n  SELECT 2, 3")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::QueryRefused(_)), "{err}");
    assert!(err.to_string().contains("line 2, column 3"), "{err}");
    // Semicolons in strings, quoted names and comments, and trailing ones, are one statement.
    for sql in [
        "SELECT ';' AS \"a;b\";",
        "SELECT 1 -- one; two\n;  /* end; */ ;",
        "SELECT [x;y] FROM (SELECT 1 AS [x;y])",
    ] {
        let out = run_query(&store, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(out.rows.len(), 1, "{sql}");
    }
    let copy = dir.path().join("copy.sqlite");
    let err = run_query(&store, &format!("VACUUM INTO '{}'", copy.display()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sqlite3"), "{err}");
    assert!(
        !copy.exists(),
        "a refused VACUUM INTO left {}",
        copy.display()
    );
}

#[tokio::test]
async fn a_runaway_query_stops_at_its_time_and_row_limits() {
    use ccll_report::{run_query_within, QueryLimits};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    Store::open(&path).await.unwrap().close().await;
    let store = Store::open_read_only(&path).await.unwrap();
    let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                   SELECT count(*) FROM c";
    let limits = QueryLimits {
        timeout: Duration::from_millis(300),
        max_rows: 10,
    };
    let started = Instant::now();
    let err = run_query_within(&store, endless, limits).await.unwrap_err();
    assert!(matches!(err, StoreError::QueryLimit(_)), "{err}");
    assert!(err.to_string().contains("0.3 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let many = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 11) \
                SELECT x FROM c";
    let err = run_query_within(&store, many, limits).await.unwrap_err();
    assert!(err.to_string().contains("more than 10 rows"), "{err}");
    let ten = many.replace("LIMIT 11", "LIMIT 10");
    assert_eq!(
        run_query_within(&store, &ten, limits)
            .await
            .unwrap()
            .rows
            .len(),
        10
    );
    // The connection goes back to the pool without the handler: the next query runs freely.
    let out = run_query(&store, "SELECT 1").await.unwrap();
    assert_eq!(out.rows.len(), 1);
}
