//! Helpers of the runner's end-to-end tests: a sandbox (store, runs and reports in a temp
//! folder), the `ccll` binary, and store reads.
#![allow(dead_code)]

use ccll_report::{RunRow, Store};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn ccll() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ccll"))
}

/// The workspace root (where experiments/ and data/ are).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A study file of the tests.
pub fn test_study(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/studies")
        .join(format!("{name}.yaml"))
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("ccll.sqlite")
    }

    pub fn runs(&self) -> PathBuf {
        self.dir.path().join("runs")
    }

    pub fn reports(&self) -> PathBuf {
        self.dir.path().join("reports")
    }

    /// `ccll sweep STUDY` writing into this sandbox, with plain output.
    pub fn sweep(&self, study: &Path, extra: &[&str]) -> Command {
        let mut c = ccll();
        c.arg("sweep")
            .arg(study)
            .arg("--db")
            .arg(self.db())
            .arg("--runs-dir")
            .arg(self.runs())
            .arg("--reports-dir")
            .arg(self.reports())
            .arg("--plain")
            .args(extra)
            .env_remove("CCLL_DB")
            .env_remove("CCLL_RUNS");
        c
    }

    /// The store's runs of `sweep`.
    pub fn rows(&self, sweep: &str) -> Vec<RunRow> {
        block_on(async {
            let store = Store::open_read_only(&self.db()).await.expect("store");
            let rows = store.runs(Some(sweep)).await.expect("runs");
            store.close().await;
            rows
        })
    }

    /// Tasks done (`finished_tasks`) of the sweep's running run, if one is running.
    pub fn running_tasks_done(&self) -> Option<i64> {
        if !self.db().exists() {
            return None;
        }
        block_on(async {
            let s = Store::open_read_only(&self.db()).await.ok()?;
            let out = ccll_report::run_query(
                &s,
                "SELECT finished_tasks FROM runs WHERE status = 'running'",
            )
            .await
            .ok()?;
            out.rows.first().and_then(|row| match row[0] {
                ccll_report::query::Value::Integer(n) => Some(n),
                _ => None,
            })
        })
    }

    /// A finished run's stored result, as JSON text (for exact comparisons).
    pub fn result_json(&self, run_id: i64) -> String {
        block_on(async {
            let store = Store::open_read_only(&self.db()).await.expect("store");
            let r = store.run_result(run_id).await.expect("result");
            store.close().await;
            serde_json::to_string(&r).expect("json")
        })
    }
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Runs a command and returns its output, printing it (visible with --nocapture or on failure).
pub fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    let cmd = cmd.borrow_mut();
    let out = cmd.output().expect("running ccll");
    eprintln!(
        "--- {:?} -> {}\n{}{}",
        cmd,
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
