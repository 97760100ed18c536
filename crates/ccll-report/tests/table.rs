//! `ccll-report table` reads the table's figures with SQL (`sweep_table`) instead of decoding
//! every result (`summarize` over `SweepData::load`): the output is the same, to the last
//! digit, in every format, with task-agnostic columns, failed and unfinished runs.

mod common;

use ccll_report::{summarize, sweep_table, Store, SweepData, TableFormat};
use common::{fill_sweep, new_run};

#[tokio::test]
async fn the_sql_table_equals_the_table_of_the_decoded_results() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    fill_sweep(
        &store,
        "grid",
        &["ccll", "pnn", "separate"],
        &[1, 4],
        &[1, 2, 3],
    )
    .await;
    let failed = store
        .register_run(&new_run(Some(1), "ccll", 8, 1))
        .await
        .unwrap();
    store.mark_running(failed, "cpu", "h").await.unwrap();
    store.record_failed(failed, "boom", "log").await.unwrap();
    store
        .register_run(&new_run(Some(1), "ccll", 8, 2))
        .await
        .unwrap();

    let decoded = summarize(&SweepData::load(&store, "grid").await.unwrap());
    let sql = sweep_table(&store, "grid").await.unwrap();
    assert_eq!(sql, decoded);
    assert!(sql.has_tag(), "the fixture has task-agnostic results");
    for format in [
        TableFormat::Md,
        TableFormat::Csv,
        TableFormat::Latex,
        TableFormat::Html,
    ] {
        assert_eq!(sql.render(format), decoded.render(format), "{format:?}");
    }
    assert!(sweep_table(&store, "nope").await.is_err());
}
