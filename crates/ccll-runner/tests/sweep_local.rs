//! A whole sweep on the local executor, on generated data: every run recorded, shared bases
//! trained once and reused, the report written; a rerun does nothing; `ccll train` records
//! its run too.

mod common;

use ccll_report::RunStatus;
use common::{ccll, run, test_study, Sandbox};

#[test]
fn a_local_sweep_records_every_run_and_a_rerun_does_nothing() {
    let sb = Sandbox::new();
    let study = test_study("synthetic");
    let out = run(sb.sweep(&study, &["--jobs-per-device", "2"]));
    assert!(out.status.success());
    let rows = sb.rows("synthetic");
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert_eq!(r.status, RunStatus::Finished, "{}: {:?}", r.name, r.error);
        assert_eq!(r.attempts, 1, "{}", r.name);
        assert!(r.acc.is_some());
        assert_eq!(r.device.as_deref(), Some("cpu"));
    }
    // Two seeds: two shared bases, trained once, in the bases folder.
    let bases: Vec<_> = std::fs::read_dir(sb.runs().join("bases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(bases.len(), 2, "{bases:?}");
    assert!(bases.iter().all(|b| b.join("base.json").is_file()));
    // Run directories hold what the worker wrote.
    let run_dirs: Vec<_> = std::fs::read_dir(sb.runs().join("synthetic"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.ends_with(".slurm"))
        .collect();
    assert_eq!(run_dirs.len(), 5);
    for d in &run_dirs {
        for f in [
            "result.json",
            "config.yaml",
            "events.jsonl",
            "worker.log",
            "job.json",
        ] {
            assert!(d.join(f).is_file(), "{} lacks {f}", d.display());
        }
    }
    // The report: table and charts.
    let report = sb.reports().join("synthetic");
    assert!(report.join("table.md").is_file());
    assert!(report.join("param-growth.png").is_file());
    assert!(report.join("ablation-method.alpha.svg").is_file());

    // A runner killed between a base's base.json and its store row: the next start records
    // the row from the finished folder (here: both rows deleted by hand).
    let base_rows = |sb: &Sandbox| -> i64 {
        common::block_on(async {
            let s = ccll_report::Store::open_read_only(&sb.db()).await.unwrap();
            let out = ccll_report::run_query(&s, "SELECT count(*) FROM base_checkpoints")
                .await
                .unwrap();
            match out.rows[0][0] {
                ccll_report::query::Value::Integer(n) => n,
                _ => -1,
            }
        })
    };
    assert_eq!(base_rows(&sb), 2);
    let deleted = std::process::Command::new("sqlite3")
        .arg(sb.db())
        .arg("DELETE FROM base_checkpoints")
        .status()
        .expect("sqlite3 (setup.sh installs it)");
    assert!(deleted.success());
    assert_eq!(base_rows(&sb), 0);

    // Again: nothing runs, nothing changes (and the base rows are back).
    let before: Vec<_> = run_dirs
        .iter()
        .map(|d| {
            std::fs::metadata(d.join("result.json"))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    let out = run(sb.sweep(&study, &["--no-report"]));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("0 finished now, 5 finished before"), "{text}");
    assert!(text.contains("0 trained, 0 failed, 2 cached"), "{text}");
    let after: Vec<_> = run_dirs
        .iter()
        .map(|d| {
            std::fs::metadata(d.join("result.json"))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    assert_eq!(before, after);
    assert!(sb.rows("synthetic").iter().all(|r| r.attempts == 1));
    assert_eq!(base_rows(&sb), 2, "the finished bases are recorded again");

    // A damaged base (its file changed since it was trained) is not reused: the next sweep
    // that needs it trains it again, and says why.
    let damaged = std::fs::read_dir(sb.runs().join("bases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap()
        .join("base.safetensors");
    let bytes = std::fs::read(&damaged).unwrap();
    std::fs::remove_file(&damaged).unwrap(); // a new inode: the runs' hard links keep theirs
    std::fs::write(&damaged, &bytes[..bytes.len() / 2]).unwrap();
    let out = run(sb.sweep(
        &study,
        &[
            "--name",
            "synthetic-damaged",
            "-o",
            "method.alpha=4",
            "--no-report",
        ],
    ));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("1 trained, 0 failed, 1 cached"), "{text}");
    assert!(
        log.contains("does not have the sha256 recorded")
            || text.contains("does not have the sha256 recorded"),
        "{log}"
    );

    // A second sweep with the same bases reuses them (cached across sweeps).
    let out = run(sb.sweep(
        &study,
        &[
            "--name",
            "synthetic-again",
            "-o",
            "method.alpha=4",
            "--no-report",
        ],
    ));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("0 trained, 0 failed, 2 cached"), "{text}");
    assert_eq!(sb.rows("synthetic-again").len(), 3);

    // ccll status shows the sweeps by state.
    let out = run(ccll().arg("status").arg("--db").arg(sb.db()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.lines()
            .any(|l| l.starts_with("synthetic ") && l.contains(" 5 ")),
        "{text}"
    );
    let out = run(ccll().args(["status", "synthetic", "--db"]).arg(sb.db()));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ccll alpha=2 seed=1"));
}

#[test]
fn train_records_its_run_in_the_store() {
    let sb = Sandbox::new();
    let cfg = sb.dir.path().join("run.yaml");
    std::fs::write(
        &cfg,
        "benchmark: {name: synthetic, tasks: 2, classes_per_task: 2, image_size: 16, channels: 1,\n\
         \x20           train_per_class: 16, test_per_class: 8}\n\
         model: {arch: convnet, width: 4}\n\
         method: {name: ccll}\n\
         train: {epochs: 1, batch_size: 16}\n",
    )
    .unwrap();
    let out = run(ccll()
        .args(["train", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(sb.dir.path().join("one"))
        .arg("--db")
        .arg(sb.db()));
    assert!(out.status.success());
    let rows = common::block_on(async {
        let s = ccll_report::Store::open_read_only(&sb.db()).await.unwrap();
        s.runs(None).await.unwrap()
    });
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].sweep, None);
    assert_eq!(rows[0].name, "one");
    assert_eq!(rows[0].status, RunStatus::Finished);
    assert_eq!(rows[0].attempts, 1);
    let out = run(ccll()
        .args(["train", "--no-store", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(sb.dir.path().join("two"))
        .arg("--db")
        .arg(sb.dir.path().join("other.sqlite")));
    assert!(out.status.success());
    assert!(!sb.dir.path().join("other.sqlite").exists());
}

#[test]
fn a_second_runner_of_a_sweep_in_one_store_is_refused_whatever_its_runs_folder() {
    let sb = Sandbox::new();
    let study = test_study("synthetic");
    // The lock a runner of `synthetic` with another runs folder holds on this store.
    let lock_path = ccll_runner::layout::store_sweep_lock(&sb.db(), "synthetic");
    let held = ccll_runner::lock::FileLock::try_acquire(&lock_path)
        .unwrap()
        .expect("nobody holds it yet");
    let out = run(sb.sweep(&study, &[]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another `ccll sweep`")
            && err.contains(&std::process::id().to_string())
            && err.contains(&lock_path.display().to_string()),
        "{err}"
    );
    assert!(
        !sb.db().exists() || sb.rows("synthetic").is_empty(),
        "nothing recorded"
    );
    assert!(!sb.runs().join("bases").exists(), "nothing trained");
    // Released (as when that runner ends or dies): the sweep runs.
    drop(held);
    assert!(run(sb.sweep(&study, &[])).status.success());
    assert_eq!(sb.rows("synthetic").len(), 5);
}

/// A run folder that cannot be prepared (here: replaced by a file) fails that run with its
/// path and the operation in the error; the other runs finish and the report is written.
#[test]
fn a_run_whose_folder_cannot_be_written_fails_alone() {
    let sb = Sandbox::new();
    let study = test_study("synthetic");
    assert!(run(sb.sweep(&study, &["--no-report"])).status.success());
    let victim = std::fs::read_dir(sb.runs().join("synthetic"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("result.json").is_file())
        .unwrap();
    std::fs::remove_dir_all(&victim).unwrap();
    std::fs::write(&victim, "not a folder").unwrap();

    let out = run(sb.sweep(&study, &["--force"]));
    assert!(
        !out.status.success(),
        "a failed run makes the sweep exit non-zero"
    );
    let rows = sb.rows("synthetic");
    let failed: Vec<_> = rows
        .iter()
        .filter(|r| r.status == RunStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{rows:?}");
    let error = failed[0].error.as_deref().unwrap_or("");
    assert!(
        error.contains(&victim.display().to_string())
            && error.contains("cannot prepare the run folder"),
        "{error}"
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.status == RunStatus::Finished)
            .count(),
        4
    );
    assert!(
        sb.reports().join("synthetic/index.html").is_file(),
        "the report is written"
    );
}

/// A shared base whose folder cannot be prepared (replaced by a file) fails that base job and
/// the runs that need it, with the path in their error; the other base and its runs finish.
#[test]
fn a_base_whose_folder_cannot_be_written_fails_its_runs_alone() {
    let sb = Sandbox::new();
    let study = test_study("synthetic");
    assert!(run(sb.sweep(&study, &["--no-report"])).status.success());
    let victim = std::fs::read_dir(sb.runs().join("bases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("base.json").is_file())
        .unwrap();
    std::fs::remove_dir_all(&victim).unwrap();
    std::fs::write(&victim, "not a folder").unwrap();

    let out = run(sb.sweep(&study, &["--force", "--no-report"]));
    assert_eq!(
        out.status.code(),
        Some(1),
        "failed runs make the exit status 1"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("base jobs: 0 trained, 1 failed"),
        "{stdout}"
    );
    let rows = sb.rows("synthetic");
    let failed: Vec<_> = rows
        .iter()
        .filter(|r| r.status == RunStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 2, "the two ccll runs of that seed: {rows:?}");
    for r in &failed {
        let error = r.error.as_deref().unwrap_or("");
        assert!(
            error.contains("cannot prepare the base folder")
                && error.contains(&victim.display().to_string()),
            "{error}"
        );
    }
    let finished = rows
        .iter()
        .filter(|r| r.status == RunStatus::Finished)
        .count();
    assert_eq!(finished, 3, "{rows:?}");
}
