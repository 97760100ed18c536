//! Failure isolation: a run that diverges (NaN) and runs whose base job fails (unreadable
//! data: the files are there, so the sweep's data check passes, but empty) are
//! recorded as failed with their error and log tail, and the other runs finish; the exit
//! status is non-zero and the summary lists the failures.

mod common;

use ccll_report::RunStatus;
use common::{run, test_study, Sandbox};

#[test]
fn failing_runs_do_not_stop_the_others() {
    let sb = Sandbox::new();
    let empty_data = sb.dir.path().join("no-data");
    let mnist = empty_data.join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    for f in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        std::fs::write(mnist.join(f), b"").unwrap();
    }
    let out = run(sb
        .sweep(
            &test_study("failing"),
            &["--retries", "1", "--jobs-per-device", "2", "--no-report"],
        )
        .arg("--data-root")
        .arg(&empty_data));
    assert_eq!(
        out.status.code(),
        Some(1),
        "failures make the exit status 1"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 finished now"), "{stdout}");
    assert!(stdout.contains("2 failed"), "{stdout}");
    assert!(stdout.contains("failures:"), "{stdout}");

    let rows = sb.rows("failing");
    assert_eq!(rows.len(), 4);
    let by = |name: &str| {
        rows.iter()
            .find(|r| r.name.starts_with(name))
            .unwrap_or_else(|| panic!("no run {name}"))
    };
    for good in ["ccll", "head_only"] {
        let r = rows.iter().find(|r| r.name == good).unwrap();
        assert_eq!(r.status, RunStatus::Finished, "{good}: {:?}", r.error);
    }
    // Diverged: the worker's own error, its log, and a retry (--retries 1).
    let nan = by("ccll_sf_sc");
    assert_eq!(nan.status, RunStatus::Failed);
    let err = nan.error.as_deref().unwrap_or("");
    assert!(
        err.contains("NaN") && err.contains("exit status 1"),
        "{err}"
    );
    assert!(
        nan.log_tail.as_deref().unwrap_or("").contains("diverged"),
        "{:?}",
        nan.log_tail
    );
    assert_eq!(nan.attempts, 2);
    // Its base job failed (twice, with the retry): the run fails without starting.
    let orphan = by("ccll source=mnist");
    assert_eq!(orphan.status, RunStatus::Failed);
    let err = orphan.error.as_deref().unwrap_or("");
    assert!(err.starts_with("base job failed:"), "{err}");
    assert!(err.to_lowercase().contains("mnist"), "{err}");
    assert!(!orphan.log_tail.as_deref().unwrap_or("").is_empty());
    assert_eq!(orphan.attempts, 0);
}
