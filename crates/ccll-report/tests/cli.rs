//! The `ccll-report` binary end to end on a temporary database.

mod common;

use ccll_report::Store;
use common::{fill_sweep, new_run};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ccll-report");

struct Db {
    dir: tempfile::TempDir,
    path: PathBuf,
}

/// A database with sweep "grid" (2 methods x 2 alphas x 2 seeds) and one failed single run.
fn database() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results/ccll.sqlite");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(&path).await.unwrap();
        fill_sweep(&store, "grid", &["ccll", "pnn"], &[1, 4], &[1, 2]).await;
        let failed = store
            .register_run(&new_run(None, "ccll", 8, 9))
            .await
            .unwrap();
        store.mark_running(failed, "cuda:0", "node7").await.unwrap();
        store
            .record_failed(failed, "CUDA out of memory", "epoch 3\nCUDA out of memory")
            .await
            .unwrap();
        store.close().await;
    });
    Db { dir, path }
}

fn run(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("CCLL_DB")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn query_prints_json_csv_and_tables() {
    let db = database();
    let o = run(
        &db.path,
        &[
            "query",
            "SELECT count(*) AS n FROM runs",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v, serde_json::json!([{"n": 9}]));

    let sql = "SELECT method, count(*) AS runs, round(avg(acc), 2) AS acc FROM runs \
               WHERE status = 'finished' GROUP BY method ORDER BY method";
    let o = run(&db.path, &["query", sql, "--format", "csv"]);
    let csv = stdout(&o);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "method,runs,acc");
    assert!(
        lines[1].starts_with("ccll,4,") && lines[2].starts_with("pnn,4,"),
        "{csv}"
    );

    let o = run(
        &db.path,
        &["query", "SELECT id, status FROM runs WHERE id = 9"],
    );
    assert!(stdout(&o).contains("9  failed"), "{}", stdout(&o));
    assert!(stdout(&o).contains("(1 row)"));
}

#[test]
fn query_refuses_writes_with_sqlites_message() {
    let db = database();
    for sql in [
        "INSERT INTO sweeps (name, spec, created_at, updated_at) VALUES ('x','{}','t','t')",
        "UPDATE runs SET acc = 0",
        "DELETE FROM runs",
        "DROP TABLE runs",
    ] {
        let o = run(&db.path, &["query", sql]);
        assert_eq!(o.status.code(), Some(2), "{sql}");
        assert!(
            stderr(&o).contains("attempt to write a readonly database"),
            "{}",
            stderr(&o)
        );
    }
    let o = run(
        &db.path,
        &[
            "query",
            "SELECT count(*) AS n, total(acc) AS s FROM runs",
            "--format",
            "csv",
        ],
    );
    let unchanged = stdout(&o);
    assert!(unchanged.starts_with("n,s\n9,"), "{unchanged}");

    let o = run(&db.path, &["query", "SELECT * FROM nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).trim(), "error: no such table: nope");
}

#[test]
fn table_in_three_formats() {
    let db = database();
    let o = run(&db.path, &["table", "--sweep", "grid"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = stdout(&o);
    let lines: Vec<&str> = md.lines().collect();
    assert!(
        lines[0].starts_with("| method | alpha | runs | ACC (%)"),
        "{md}"
    );
    // Header, rule, 4 groups, then the TAg note (the fixture's runs recorded TAg results).
    assert_eq!(lines.len(), 2 + 4 + 2, "{md}");
    assert!(lines[0].contains("| TAg ACC (%) | task-id (%) |"), "{md}");
    assert!(
        lines[7].starts_with("TAg: without the task id, by each run's primary rule (min_entropy)"),
        "{md}"
    );
    assert!(lines[2].starts_with("| ccll | 1 | 2 | "), "{md}");
    assert!(lines[2].contains(" ± 0.18 "), "{md}"); // seeds 1, 2: std of x, x+0.25

    let o = run(&db.path, &["table", "--sweep", "grid", "--format", "csv"]);
    let csv = stdout(&o);
    assert!(
        csv.starts_with("method.name,method.alpha,runs,acc_mean,acc_std,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 5);

    let out = db.dir.path().join("tables/grid.tex");
    let o = run(
        &db.path,
        &[
            "table",
            "--sweep",
            "grid",
            "--format",
            "latex",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let tex = std::fs::read_to_string(&out).unwrap();
    for needle in [
        "\\begin{tabular}",
        "\\toprule",
        "\\midrule",
        "\\bottomrule",
        "$\\pm$",
    ] {
        assert!(tex.contains(needle), "{needle} missing:\n{tex}");
    }
}

#[test]
fn plot_writes_png_and_svg() {
    let db = database();
    let out = db.dir.path().join("charts");
    let o = run(
        &db.path,
        &[
            "plot",
            "acc-matrix",
            "--run",
            "1",
            "--out",
            out.to_str().unwrap(),
            "--width",
            "640",
            "--height",
            "480",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let png = out.join("acc-matrix-run1.png");
    assert_eq!(stdout(&o).lines().next(), Some(png.to_str().unwrap()));
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (640, 480));
    assert!(out.join("acc-matrix-run1.svg").is_file());

    let o = run(
        &db.path,
        &[
            "plot",
            "ablation",
            "--sweep",
            "grid",
            "--x",
            "alpha",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("ablation-grid-alpha.png").is_file());
}

#[test]
fn unknown_names_get_clear_messages() {
    let db = database();
    let o = run(&db.path, &["plot", "per-task", "--sweep", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("'nope'") && e.contains("ccll-report sweeps"),
        "{e}"
    );

    let o = run(&db.path, &["show", "77"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no run with id 77"), "{}", stderr(&o));

    let o = run(&db.path, &["plot", "acc-matrix", "--run", "9"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("run 9 has no result: its status is failed"),
        "{}",
        stderr(&o)
    );

    let missing = db.dir.path().join("nothing-here.sqlite");
    let o = run(&missing, &["runs"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no results database at"),
        "{}",
        stderr(&o)
    );
    assert!(!missing.exists());
}

#[test]
fn runs_sweeps_show_and_the_env_variable() {
    let db = database();
    let o = Command::new(BIN)
        .args(["runs", "--sweep", "grid"])
        .env("CCLL_DB", &db.path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 2 + 8, "{text}");
    assert!(
        text.lines().nth(2).unwrap().contains("ccll a=1 seed=1"),
        "{text}"
    );

    let o = run(&db.path, &["runs", "--status", "failed"]);
    assert!(stdout(&o).contains("CUDA out of memory"), "{}", stdout(&o));

    let o = run(&db.path, &["sweeps"]);
    assert!(
        stdout(&o).lines().nth(2).unwrap().starts_with(" 1  grid"),
        "{}",
        stdout(&o)
    );

    let o = run(&db.path, &["show", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "run 1: ccll a=1 seed=1",
        "status: finished",
        "accuracy matrix",
        "growth %",
        "artifacts:",
        "config:",
        "alpha: 1",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    let o = run(&db.path, &["show", "9"]);
    let text = stdout(&o);
    assert!(
        text.contains("error: CUDA out of memory") && text.contains("epoch 3"),
        "{text}"
    );

    let o = run(&db.path, &["show", "1", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["run"]["id"], 1);
    assert_eq!(
        v["result"]["acc_matrix"].as_array().unwrap().len(),
        common::TASKS
    );
}

#[test]
fn report_writes_the_sweep_folder() {
    let db = database();
    let out = db.dir.path().join("reports");
    let o = run(
        &db.path,
        &["report", "--sweep", "grid", "--out", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "table.md",
        "table.csv",
        "param-growth.png",
        "per-task.svg",
        "ablation-method.alpha.png",
    ] {
        assert!(out.join("grid").join(f).is_file(), "{f}");
    }
}
