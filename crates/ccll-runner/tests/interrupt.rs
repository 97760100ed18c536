//! Ctrl-C (SIGINT) stops a sweep cleanly: workers are stopped, unfinished runs are marked
//! interrupted, the exit status is 130; the same command then finishes what is missing.

mod common;

use ccll_report::RunStatus;
use common::{run, test_study, Sandbox};
use std::time::{Duration, Instant};

#[test]
fn sigint_marks_unfinished_runs_interrupted_and_a_rerun_finishes_them() {
    let sb = Sandbox::new();
    let study = test_study("synthetic");
    let args = [
        "--no-report",
        "--name",
        "interrupt",
        "--jobs-per-device",
        "2",
    ];
    let mut child = sb
        .sweep(&study, &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        assert!(Instant::now() < deadline, "no run ever started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended too early"
        );
        if sb.db().exists() {
            let rows = std::panic::catch_unwind(|| sb.rows("interrupt")).unwrap_or_default();
            if rows.iter().any(|r| r.status == RunStatus::Running) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let rows = sb.rows("interrupt");
    assert!(rows.iter().any(|r| r.status == RunStatus::Interrupted));
    assert!(rows
        .iter()
        .all(|r| matches!(r.status, RunStatus::Interrupted | RunStatus::Finished)));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("stopped by SIGINT"), "{text}");

    let out = run(&mut sb.sweep(&study, &args));
    assert!(out.status.success());
    assert!(sb
        .rows("interrupt")
        .iter()
        .all(|r| r.status == RunStatus::Finished));
}
